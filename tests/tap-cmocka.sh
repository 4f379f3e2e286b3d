#!/bin/sh
# tests/tap-cmocka.sh PROGRAM [ARG]... - runs a cmocka test program for
# Automake's TAP driver (the LOG_COMPILER of Makefile.am), mending two
# habits of cmocka 1.1.5's TAP output (CMOCKA_MESSAGE_OUTPUT=TAP):
#  - a skipped case is "not ok N # SKIP name", which TAP counts as a
#    failure; it becomes "ok N - name # SKIP" (cmocka 1.1.6 prints "ok");
#  - the exit status is the number of failed cases, which the driver
#    would report once more as an ERROR; when it equals the number of
#    "not ok" lines it becomes 0, as those are reported already.
# Any other exit status (a crash, a sanitizer's report at exit) is kept.
{
	"$@"
	# The status goes last, on a line of its own even if the output
	# did not end with a newline.
	printf '\ntap-cmocka-exit: %d\n' $?
} | ${AWK:-awk} '
/^tap-cmocka-exit: / {
	st = $2
	if (st != 0 && st == failed % 256)
		st = 0
	exit st
}
/^not ok [0-9]+ # SKIP/ {
	n = $3
	sub(/^not ok [0-9]+ # SKIP[ \t]*/, "")
	print "ok " n " - " $0 " # SKIP"
	fflush()
	next
}
/^not ok/ { failed++ }
{ print; fflush() }
'
