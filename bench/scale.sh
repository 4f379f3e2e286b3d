#!/bin/sh
# bench/scale.sh - a million connections (or two) on ONE port of
# reuseportd, and the control side at that size: what establishing them
# costs, how fast `stats` answers, a full and a filtered `connections`
# listing, a reload that must close none of them (each one still echoes
# after it), and a graceful shutdown on time.
#
#   bench/scale.sh [-c CONNECTIONS] [-w WORKERS] [-s STEP] [-t] [-k]
#
#   -c N  connections (default 1000000; -c 2000000 for the 2M run)
#   -w N  workers (default N / 17000, rounded up: a process holds at most
#         ~20000 descriptors, and SO_REUSEPORT's hash is not perfectly even)
#   -s N  connections per step (default 250000); each step is one
#         `reuseportbench hold` from a fresh range of 127.x source
#         addresses, about 4000 connections per address (the ephemeral
#         port search slows down past that)
#   -t    tune: set the sysctls the run needs (fs.file-max,
#         net.core.somaxconn, net.ipv4.tcp_max_syn_backlog,
#         net.core.netdev_max_backlog) and restore them at the end.
#         Without -t nothing is changed: a setting that cannot carry the
#         run stops it, one that only slows it is reported.
#   -k    keep the clients running during the graceful shutdown. By
#         default they are stopped (SIGSTOP) for it: they share the
#         server's two cores and would spend them reacting to a million
#         resets, which on a real network other machines do. Either way
#         the kernel's work for both ends stays in the figure, and the
#         table shows the CPU the shutdown took and the clients' share.
#
# Clients and server share this machine over loopback, so the kernel
# memory per connection covers both ends. Run from the top of a built
# tree, as root (the sysctls) or with enough memory locked for 24 GiB.
# Loopback only; every wait is bounded; stops only what it started.
set -eu

CONNS=1000000 WORKERS="" STEP=250000 TUNE=0 KEEP=0
while getopts c:w:s:tk o; do
	case $o in
	c) CONNS=$OPTARG ;; w) WORKERS=$OPTARG ;; s) STEP=$OPTARG ;; t) TUNE=1 ;;
	k) KEEP=1 ;;
	*) echo "usage: $0 [-c CONNECTIONS] [-w WORKERS] [-s STEP] [-t] [-k]" >&2; exit 2 ;;
	esac
done
[ -n "$WORKERS" ] || WORKERS=$(( (CONNS + 16999) / 17000 ))
PER_SOURCE=4000
top=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d /tmp/rpscale.XXXXXX)
PORT=18091
SOCK=$work/stats.sock
srv="" holders="" saved=""

. "$(dirname "$0")/lib.sh"

cleanup() {
	for p in $holders; do kill -CONT "$p" 2>/dev/null || true; done
	for p in $holders; do kill -INT "$p" 2>/dev/null || true; done
	[ -n "$srv" ] && kill -INT "$srv" 2>/dev/null
	wait 2>/dev/null || true
	restore_sysctls
	# The daemon's log outlives the run, for what the table does not say.
	cp "$work/daemon.log" /tmp/rpscale-daemon.log 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- the machine ---

# Both ends of every connection are on this machine.
need_sysctl fs.file-max $((2 * CONNS + 200000)) stop
need_sysctl net.core.somaxconn 65535 warn "the ramp may be slower"
need_sysctl net.ipv4.tcp_max_syn_backlog 65535 warn "the ramp may be slower"
need_sysctl net.core.netdev_max_backlog 10000 warn "the ramp may be slower"

# --- helpers ---

# One question to the stats socket, the answer on stdout.
query() { printf '%s\n' "$1" | nc -U "$SOCK"; }
# A field of the JSON on stdin, as a Python expression over d.
jfield() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }
active() { query stats | jfield 'd["totals"]["active"]'; }
slab_kb() { awk '/^Slab:/ {print $2}' /proc/meminfo; }
vm_rss_kb() { awk '/^VmRSS:/ {print $2}' /proc/"$1"/status; }
# A process's own memory: its private pages (RSS also counts the pages
# it still shares with the master it was forked from).
private_kb() { awk '/^Private_(Clean|Dirty):/ {t += $2} END {print t}' /proc/"$1"/smaps_rollup; }
used_kb() { awk '/^MemTotal:/ {t=$2} /^MemAvailable:/ {a=$2} END {print t - a}' /proc/meminfo; }
worker_pids() { query workers | jfield '" ".join(str(w["pid"]) for w in d["workers"] if w["pid"])'; }
rss_sum_kb() {
	t=0
	for p in $(worker_pids); do
		r=$(awk '/^Rss:/ {print $2}' /proc/"$p"/smaps_rollup 2>/dev/null || echo 0)
		t=$((t + ${r:-0}))
	done
	echo $t
}
netstat_field() { # TcpExt counter
	awk -v f="$1" '$1 == "TcpExt:" { if (!n) { for (i = 2; i <= NF; i++) k[i] = $i; n = 1 } else for (i = 2; i <= NF; i++) if (k[i] == f) print $i }' /proc/net/netstat
}

# Timings of the stats socket, and the rows of a listing counted as they
# stream (the answer is never held whole).
cat >"$work/probe.py" <<'EOF'
import json, socket, sys, time

def ask(path, cmd, sink=None):
    t0 = time.monotonic()
    s = socket.socket(socket.AF_UNIX)
    s.connect(path)
    s.sendall(cmd.encode() + b"\n")
    rows, tail, data = 0, b"", []
    while True:
        b = s.recv(1 << 20)
        if not b:
            break
        chunk = tail + b
        rows += chunk.count(b'"local":')
        tail = chunk[-12:]
        rows -= tail.count(b'"local":')
        data.append(b if sink is None else b[-4096:])
        if sink is not None:
            data = data[-2:]
    rows += tail.count(b'"local":')
    return time.monotonic() - t0, rows, b"".join(data)

path, what = sys.argv[1], sys.argv[2]
if what == "stats":
    times = sorted(ask(path, "stats")[0] * 1000 for _ in range(int(sys.argv[3])))
    n = len(times)
    print("%.2f %.2f %.2f" % (times[n // 2], times[min(n - 1, int(n * 0.99))], times[-1]))
else:
    secs, rows, end = ask(path, " ".join(sys.argv[3:]), sink=True)
    tail = end.decode(errors="replace")
    def field(k):
        i = tail.rfind('"%s":' % k)
        return tail[i + len(k) + 3:].split(",")[0].split("}")[0] if i >= 0 else "?"
    print("%.2f %d %s %s" % (secs, rows, field("total"), field("partial")))
EOF
probe() { python3 "$work/probe.py" "$SOCK" "$@"; }

wait_for() { # seconds, command...: until the command succeeds
	lim=$1; shift
	t0=$(date +%s)
	until "$@"; do
		[ $(( $(date +%s) - t0 )) -lt "$lim" ] || return 1
		sleep 0.5
	done
}
active_is() { [ "$(active)" -eq "$1" ]; }
# Every worker of generation $1, running, and no other.
only_generation() {
	[ -S "$SOCK" ] || return 1 # not up yet
	query workers 2>/dev/null | python3 -c "
import json,sys; d=json.load(sys.stdin); w=d['workers']
sys.exit(0 if len(w) == $WORKERS and all(x['generation'] == $1 and x['state'] == 'running' for x in w) else 1)" 2>/dev/null
}

# --- the daemon ---

cat >"$work/reuseportd.conf" <<EOF
protocol echo
workers $WORKERS
listen 127.0.0.1:$PORT
stats_socket $SOCK
EOF
"$top/src/reuseportd" -f -c "$work/reuseportd.conf" >"$work/daemon.log" 2>&1 &
srv=$!
wait_for 60 only_generation 1 || { cat "$work/daemon.log"; exit 1; }
say "reuseportd: $WORKERS echo workers on 127.0.0.1:$PORT; establishing $CONNS connections in steps of $STEP"
rss0=$(rss_sum_kb) slab0=$(slab_kb) used0=$(used_kb) master_rss0=$(vm_rss_kb "$srv")
cookies0=$(netstat_field SyncookiesSent) overflows0=$(netstat_field ListenOverflows)

# --- establish, a step at a time ---

t_all=$(now) done_n=0 k=0
while [ "$done_n" -lt "$CONNS" ]; do
	k=$((k + 1))
	n=$STEP
	[ $((done_n + n)) -le "$CONNS" ] || n=$((CONNS - done_n))
	nsrc=$(( (n + PER_SOURCE - 1) / PER_SOURCE ))
	[ "$nsrc" -le 250 ] || { say "step too large for one /24 of sources (-s)" >&2; exit 1; }
	t0=$(now)
	"$top/src/reuseportbench" hold -q -j --echo-check -c "$n" -d 86400 \
		--source "127.$k.0.1-127.$k.0.$nsrc" "127.0.0.1:$PORT" \
		>"$work/hold$k.json" 2>"$work/hold$k.err" &
	holders="$holders $!"
	done_n=$((done_n + n))
	if ! wait_for 900 active_is "$done_n"; then
		say "step $k: only $(active) of $done_n connections after 900 s" >&2
		exit 1
	fi
	say "step $k: $done_n connections ($n from 127.$k.0.1-$nsrc) in $(since "$t0") s"
done
t_establish=$(since "$t_all")
rss1=$(rss_sum_kb) slab1=$(slab_kb) used1=$(used_kb)
cookies=$(( $(netstat_field SyncookiesSent) - cookies0 ))
overflows=$(( $(netstat_field ListenOverflows) - overflows0 ))

# --- the control side, with all of them held ---

set -- $(probe stats 20)
stats_p50=$1 stats_p99=$2 stats_max=$3
set -- $(probe list connections "$CONNS")
list_s=$1 list_rows=$2 list_total=$3 list_partial=$4
master_rss_listing=$(vm_rss_kb "$srv")
set -- $(probe list connections count-by=remote)
count_s=$1 count_total=$3 count_partial=$4
set -- $(probe list connections 1000 remote=127.1.0.1)
filt_s=$1 filt_rows=$2 filt_total=$3 filt_partial=$4

# --- a reload: every connection must stay ---

before=$(query stats)
t0=$(now)
kill -HUP "$srv"
wait_for 600 only_generation 2 || { say "reload: the old generation did not go" >&2; exit 1; }
t_reload=$(since "$t0")
after=$(query stats)
median() { sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }
new_rss=$(for p in $(worker_pids); do awk '/^Rss:/ {print $2}' /proc/"$p"/smaps_rollup; done | median)
new_priv=$(for p in $(worker_pids); do private_kb "$p"; done | median)
set -- $(probe list connections "$CONNS")
rl_rows=$2 rl_total=$3
# An echo check on every connection (a byte each; a client process waits
# while the answers keep coming, up to 100 s), twice: a late answer in
# the first is slow, one missing in both is lost.
echo_check() { # N: the Nth check of every holder; sets echo_ok, echo_failed
	nth=$1
	for p in $holders; do kill -USR1 "$p"; done
	echo_ok=0 echo_failed=0 echo_silent=0
	for i in $(seq 1 "$k"); do
		wait_for 600 eval '[ "$(grep -c "^echo-check:" "$work/hold$i.err")" -ge "$nth" ]' ||
			{ say "no echo check from step $i" >&2; exit 1; }
		set -- $(sed -n 's/^echo-check: \([0-9]*\) echoed, \([0-9]*\) failed, \([0-9]*\) processes silent.*/\1 \2 \3/p' "$work/hold$i.err" | sed -n "${nth}p")
		echo_ok=$((echo_ok + $1)) echo_failed=$((echo_failed + $2))
		echo_silent=$((echo_silent + $3))
	done
	# A client process that did not report in time: its connections
	# are in neither count (a starved machine), and the table says so.
	echo_note=""
	[ "$echo_silent" = 0 ] || echo_note=" ($echo_silent client processes did not report)"
}
echo_check 1
echo_ok1=$echo_ok echo_failed1=$echo_failed echo_note1=$echo_note
echo_check 2
delta() { # field: after - before, from the totals
	python3 -c "import json,sys; a=json.loads(sys.argv[1]); b=json.loads(sys.argv[2]); print(b['totals']['$1'] - a['totals']['$1'])" "$before" "$after"
}
closed_rl=$(delta closed) forced_rl=$(delta forced_closes) handed=$(delta handed_over)

# --- a graceful shutdown with all of them held ---

# CPU seconds: the whole machine's busy time (/proc/stat), the clients'.
cpu_all() { awk '$1 == "cpu" { print ($2 + $3 + $4 + $7 + $8) / 100 }' /proc/stat; }
cpu_clients() {
	for p in $holders; do awk '{ print ($14 + $15) / 100 }' "/proc/$p/stat" 2>/dev/null; done |
		awk '{ n += $1 } END { print n + 0 }'
}
if [ "$KEEP" = 0 ]; then
	for p in $holders; do kill -STOP "$p" 2>/dev/null || true; done
	clients_during="stopped"
else
	clients_during="running"
fi
c_all0=$(cpu_all) c_cl0=$(cpu_clients)
t0=$(now)
kill -TERM "$srv"
wait "$srv" && rc=0 || rc=$?
srv=""
t_stop=$(since "$t0")
c_all=$(awk -v a="$c_all0" -v b="$(cpu_all)" 'BEGIN { printf "%.1f", b - a }')
c_cl=$(awk -v a="$c_cl0" -v b="$(cpu_clients)" 'BEGIN { printf "%.1f", b - a }')
for p in $holders; do kill -CONT "$p" 2>/dev/null || true; done
w_ok=$(grep -c 'worker [0-9]*: pid [0-9]* .*exited (status 0)' "$work/daemon.log" || true)
w_killed=$(grep -c 'did not stop in time\|silent and stuck' "$work/daemon.log" || true)
w_forced=$(grep -o 'drain deadline: closing [0-9]*' "$work/daemon.log" | awk '{n += $4} END {print n + 0}')
for p in $holders; do kill -INT "$p" 2>/dev/null || true; done
wait 2>/dev/null || true
holders=""
failed=0
for i in $(seq 1 "$k"); do
	f=$(jfield 'd["connect"]["failed"]' <"$work/hold$i.json" 2>/dev/null || echo "?")
	failed=$((failed + ${f:-0}))
done

# --- the table ---

awk -v n="$CONNS" -v w="$WORKERS" -v t="$t_establish" -v f="$failed" \
    -v r0="$rss0" -v r1="$rss1" -v s0="$slab0" -v s1="$slab1" -v u0="$used0" -v u1="$used1" \
    -v ck="$cookies" -v ov="$overflows" 'BEGIN {
	printf "\n| %d connections, %d workers | |\n|---|---|\n", n, w
	printf "| time to establish | %s s |\n", t
	printf "| connect failures | %d (SYN cookies sent %d, listen overflows %d) |\n", f, ck, ov
	printf "| user space per connection (workers RSS) | %.0f B |\n", (r1 - r0) * 1024 / n
	printf "| kernel Slab per connection (both ends) | %.1f KB |\n", (s1 - s0) * 1.024 / n
	printf "| memory used in all | %.1f GiB |\n", (u1 - u0) / 1048576 }'
say "| \`stats\` p50 / p99 / max (20 queries) | $stats_p50 / $stats_p99 / $stats_max ms |"
say "| full \`connections $CONNS\` | $list_s s, $list_rows rows, total $list_total, partial $list_partial |"
say "| \`connections count-by=remote\` | $count_s s, total $count_total, partial $count_partial |"
say "| \`connections 1000 remote=127.1.0.1\` | $filt_s s, $filt_rows rows of $filt_total, partial $filt_partial |"
say "| master RSS: at start, after the listings | $master_rss0 KiB, $master_rss_listing KiB |"
say "| reload: until the old generation is gone | $t_reload s |"
say "| reload: closed, forced closes, handed over | $closed_rl, $forced_rl, $handed |"
say "| reload: rows after, echo check | $rl_rows rows (total $rl_total); $echo_ok1 echoed, $echo_failed1 failed$echo_note1; again: $echo_ok echoed, $echo_failed failed$echo_note |"
say "| a new worker after the reload (median): RSS, private | $new_rss KiB, $new_priv KiB |"
say "| graceful shutdown (shutdown_timeout 10 s), clients $clients_during | $t_stop s, master exit $rc, workers exited 0: $w_ok of $((2 * WORKERS)), killed: $w_killed, reset at the deadline: $w_forced |"
say "| CPU during the shutdown: all, the clients' | $c_all s, $c_cl s |"
