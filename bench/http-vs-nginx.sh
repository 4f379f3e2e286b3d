#!/bin/sh
# Side-by-side HTTP benchmark: reuseportd against nginx, h2o and lighttpd
# on this machine, the same worker count and the same answers, driven by
# wrk, the servers alternated within each round of each case. Prints the
# medians, each server's CPU per request over the rounds, and a ratio
# table.
#
#   bench/http-vs-nginx.sh [-w WORKERS] [-r ROUNDS] [-d SECONDS] [-c CONNS]
#                          [-s "SERVERS"] [-k "CASES"] [-B BASELINE] [-p]
#
# -p  pinned: every server's processes on the upper half of the CPUs and
#     wrk on the lower half (taskset), WORKERS and wrk's threads one per
#     CPU of their half (1 and 1 on 2 CPUs) unless -w says otherwise.
#     Unpinned, the scheduler places servers and wrk as it likes, and on
#     a small machine the CPU per request follows the placement (h2o and
#     reuseportd each measured 2.7 or 4.5 us per request from round to
#     round on 2 CPUs): pinned, every server gets the same placement, and
#     the rounds agree. Not with rpda, whose affinity would undo it.
#
# CASES (default keepalive static close):
#   keepalive  a fixed "hello world" answer (no file), keep-alive
#   static     a 4 KiB file, keep-alive
#   small      a 12-byte file ("hello world\n"), keep-alive: the static
#              path's cost per request without the 4 KiB copy
#   close      the fixed answer, Connection: close (a connection per
#              request)
#
# SERVERS (default rpd rpdy ngx ngxd, and base with -B):
#   rpd    reuseportd with its defaults
#   rpdy   reuseportd --idle-yield
#   rpdn   reuseportd with defer_accept off (its default for HTTP is on):
#          rpd/rpdn is what TCP_DEFER_ACCEPT saves per connection
#   ngx    nginx, listen ... reuseport
#   ngxd   nginx, listen ... reuseport deferred (TCP_DEFER_ACCEPT, which
#          reuseportd sets by itself for HTTP)
#   ngxc   ngx with its open-file cache: open_file_cache max=1000
#          inactive=20s; open_file_cache_valid 30s
#   h2o    h2o (Debian's 2.2), num-threads WORKERS (one process: its
#          threads share one listening socket; 2.2 has no reuseport);
#          static and small only (it has no fixed answer without mruby)
#   lty    lighttpd (Debian's 1.4.69), server.max-worker = WORKERS (a
#          watcher forks the workers, which share one listening socket;
#          1.4.69 has no reuseport) and server.max-keep-alive-requests
#          = 65535, its maximum (a warning says when a run's requests
#          per connection come near it); static and small only. Its
#          workers accept from one queue, so the connections are not
#          spread evenly (80/20, once 98/2, seen with -c 100)
#   ltyr   lty as WORKERS lighttpd processes (no max-worker), each given
#          its own SO_REUSEPORT listening socket on the same port through
#          lighttpd's socket activation (LISTEN_FDS; a perl one-liner
#          opens the socket): the kernel spreads the connections as it
#          does for reuseportd and nginx
#   rpdl   reuseportd with its access log on (a file, combined):
#          rpdl/rpd is the access log's cost
#   rpdj   the same with access_log_format json
#   rpda   reuseportd with cpu_affinity on (worker i pinned to CPU i)
#   ngxl   nginx with an access log as Debian ships it (a file, combined,
#          a write per request): ngxl/ngx is its cost
#   ngxb   nginx with access_log ... buffer=64k flush=1s (buffered, as
#          reuseportd's is)
#   The logs are written to a file in the work directory, under /tmp.
#   base   another reuseportd binary (-B PATH, e.g. a build of the commit
#          before a change) with its defaults: rpd/base tells whether the
#          change moved the CPU per request beyond the noise
#
# Every peer as an administrator would set it for static files: no
# access log (but ngxl/ngxb), no compression, WORKERS workers, keep-alive
# without a request cap, Content-Type from the file's name. How each
# sends a 4 KiB file: reuseportd reads it into the answer after its head
# (pread, one send); nginx likewise (sendfile off, its default: pread,
# writev); h2o always reads (pread, writev); lighttpd uses its default
# network backend, sendfile (TCP_CORK, writev of the head, sendfile,
# uncork). File metadata: reuseportd opens and stats the file per
# request; ngx too; ngxc keeps it open; h2o keeps it open for one turn
# of its event loop; lighttpd keeps it open and stats it once a second
# (its default stat cache).
#
# Before each timed run the server's answer is fetched with curl: it must
# be a 200 with the expected body, and wrk must count no non-2xx answer,
# or the script fails - a server answering 403 or 404 fast must not win.
# The work directory is made world-readable, since nginx's workers and h2o
# run as nobody when started by root.
#
# us/req is the utime+stime of all the server's processes and threads
# (master, workers, h2o's threads, lighttpd's watcher, ltyr's processes)
# over the run divided by the requests.
#
# Needs: wrk, curl, and the peers asked for (Debian's packages; ltyr
# also perl, which Debian always has):
#   apt-get install -y wrk curl nginx-light h2o lighttpd
# Run from the top of a built tree. Loopback only; every run is bounded.
set -eu
. "$(dirname "$0")/lib.sh"

WORKERS="" ROUNDS=3 DURATION=10 CONNS=100 SERVERS="rpd rpdy ngx ngxd" BASE=""
PIN=0
cases="keepalive static close"
while getopts w:r:d:c:s:k:B:p o; do
	case $o in
	w) WORKERS=$OPTARG ;; r) ROUNDS=$OPTARG ;;
	d) DURATION=$OPTARG ;; c) CONNS=$OPTARG ;; s) SERVERS=$OPTARG ;;
	k) cases=$OPTARG ;;
	B) BASE=$OPTARG ;;
	p) PIN=1 ;;
	*) echo "usage: $0 [-w WORKERS] [-r ROUNDS] [-d SECONDS] [-c CONNS] [-s SERVERS] [-k CASES] [-B BASELINE] [-p]" >&2; exit 2 ;;
	esac
done
# Pinned (-p): the servers on CPUs half..n-1, wrk on 0..half-1.
SRV_PIN=""
if [ $PIN = 1 ]; then
	ncpu=$(nproc)
	if [ "$ncpu" -lt 2 ]; then
		echo "-p needs two CPUs or more" >&2
		exit 2
	fi
	half=$((ncpu / 2))
	SRV_PIN="taskset -c $half-$((ncpu - 1))"
	LOAD_PIN="taskset -c 0-$((half - 1))"
	WRK_THREADS=$half
	: "${WORKERS:=$((ncpu - half))}"
	case " $SERVERS " in *" rpda "*)
		echo "rpda pins its workers itself: not with -p" >&2; exit 2 ;;
	esac
fi
: "${WORKERS:=2}"
# -B adds base to the servers, once.
if [ -n "$BASE" ]; then
	case " $SERVERS " in *" base "*) ;; *) SERVERS="$SERVERS base" ;; esac
fi
top=$(cd "$(dirname "$0")/.." && pwd)
RPD=$top/src/reuseportd
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
H2O=$(command -v h2o || echo /usr/bin/h2o)
LIGHTTPD=$(command -v lighttpd || echo /usr/sbin/lighttpd)
need="$RPD $(command -v wrk || echo wrk) $(command -v curl || echo curl)"
for s in $SERVERS; do
	case $s in
	rpd | rpdy | rpdn | rpdl | rpdj | rpda) ;;
	ngx | ngxd | ngxc | ngxl | ngxb) need="$need $NGINX" ;;
	h2o) need="$need $H2O" ;;
	lty | ltyr) need="$need $LIGHTTPD" ;;
	base) [ -x "$BASE" ] || { echo "base needs -B PATH" >&2; exit 2; } ;;
	*) echo "unknown server: $s" >&2; exit 2 ;;
	esac
done
for c in $cases; do
	case $c in keepalive | static | small | close) ;;
	*) echo "unknown case: $c" >&2; exit 2 ;; esac
done
for t in $need; do
	[ -x "$t" ] || { echo "missing: $t (see the header of $0)" >&2; exit 1; }
done

work=$(mktemp -d /tmp/rpbench.XXXXXX)
# nginx's workers and h2o drop to nobody when started by root: they must
# be able to read the files (a 403 must not be measured).
chmod 755 "$work"
RPORT=18080 NPORT=18081 HPORT=18082 LPORT=18083
srv=""
# One server runs at a time: $srv is it, and only it is stopped here.
cleanup() { [ -z "$srv" ] || kill "$srv" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
# A signal ends the script through exit, so that cleanup runs: also a
# closed pipe (the output piped into head).
trap 'exit 129' HUP
trap 'exit 130' INT TERM
trap 'exit 141' PIPE

# nginx: the same fixed answer and the same files; no logs on the hot
# path but where an access log is asked for.
# $1: the directory, $2: extra listen parameters, $3: access_log's value,
# $4: more http-level directives.
nginx_conf() {
	mkdir -p "$1"
	cat > "$1/nginx.conf" <<NGX
worker_processes $WORKERS;
pid $1/nginx.pid;
error_log $1/error.log;
daemon off;
events { worker_connections 20000; }
http {
    access_log ${3:-off};
    keepalive_requests 1000000;
    types { text/html html; text/plain txt; }
    ${4:-}
    server {
        listen 127.0.0.1:$NPORT reuseport backlog=4096$2;
        location = /hello { default_type text/plain; return 200 "hello world"; }
        location / { root $work/root; }
    }
}
NGX
}
mkdir -p "$work/root"
head -c 4096 /dev/urandom | base64 -w 76 | head -c 4096 > "$work/root/4k.html"
echo "hello world" > "$work/root/hello.txt"
echo "hello world" | head -c 11 > "$work/hello"
nginx_conf "$work/ngx" ""
nginx_conf "$work/ngxd" " deferred"
nginx_conf "$work/ngxc" "" "" "open_file_cache max=1000 inactive=20s; open_file_cache_valid 30s;"
nginx_conf "$work/ngxl" "" "$work/access.log"
nginx_conf "$work/ngxb" "" "$work/access.log combined buffer=64k flush=1s"
echo "defer_accept off" > "$work/rpdn.conf"
printf 'access_log %s\n' "$work/access.log" > "$work/rpdl.conf"
printf 'access_log %s\naccess_log_format json\n' "$work/access.log" > "$work/rpdj.conf"
echo "cpu_affinity on" > "$work/rpda.conf"
# h2o: no access-log line is no access log; compression is off unless
# asked for (compress:, file.send-compressed:).
mkdir -p "$work/h2o"
cat > "$work/h2o/h2o.conf" <<H2O
num-threads: $WORKERS
error-log: $work/h2o/error.log
listen:
  host: 127.0.0.1
  port: $HPORT
hosts:
  default:
    paths:
      /:
        file.dir: $work/root
H2O
# lighttpd: without mod_accesslog no access log, without mod_deflate no
# compression; the types named so that it sends its validators (it leaves
# them out for application/octet-stream).
mkdir -p "$work/lty"
cat > "$work/lty/lighttpd.conf" <<LTY
server.document-root = "$work/root"
server.bind = "127.0.0.1"
server.port = $LPORT
server.errorlog = "$work/lty/error.log"
server.max-worker = $WORKERS
server.max-keep-alive-requests = 65535
server.max-fds = 20000
server.modules = ( "mod_staticfile" )
mimetype.assign = ( ".html" => "text/html", ".txt" => "text/plain" )
LTY
grep -v '^server.max-worker' "$work/lty/lighttpd.conf" > "$work/lty/reuseport.conf"
echo 'server.systemd-socket-activation = "enable"' >> "$work/lty/reuseport.conf"
# perl activate.pl PORT COMMAND...: a listening socket on 127.0.0.1:PORT
# with SO_REUSEPORT, as fd 3 with LISTEN_FDS=1 for COMMAND, exec'd in
# place (LISTEN_PID is this pid).
cat > "$work/lty/activate.pl" <<'PL'
use Socket; use POSIX ();
$^F = 1000; # no close-on-exec
my ($port, @cmd) = @ARGV;
socket(my $s, PF_INET, SOCK_STREAM, 0) or die "socket: $!";
setsockopt($s, SOL_SOCKET, SO_REUSEADDR, 1) or die "SO_REUSEADDR: $!";
setsockopt($s, SOL_SOCKET, SO_REUSEPORT, 1) or die "SO_REUSEPORT: $!";
bind($s, pack_sockaddr_in($port, inet_aton("127.0.0.1"))) or die "bind: $!";
listen($s, 4096) or die "listen: $!";
fileno($s) == 3 or POSIX::dup2(fileno($s), 3) or die "dup2: $!";
@ENV{"LISTEN_FDS", "LISTEN_PID"} = (1, $$);
exec @cmd or die "exec: $!";
PL

start_rpd() { # binary, extra args
	bin=$1; shift
	$SRV_PIN "$bin" -f -P http -w "$WORKERS" -l 127.0.0.1:$RPORT -s "$work/rpd.sock" "$@" \
		>"$work/rpd.log" 2>&1 &
	srv=$!
}
start_nginx() { # conf dir
	$SRV_PIN "$NGINX" -c "$1/nginx.conf" -p "$1" >/dev/null 2>&1 &
	srv=$!
}
start_h2o() {
	$SRV_PIN "$H2O" -c "$work/h2o/h2o.conf" >"$work/h2o/out" 2>&1 &
	srv=$!
}
# lighttpd's watcher passes SIGTERM on to its process group: a session
# of its own keeps this script out of it (setsid execs in place here).
start_lighttpd() {
	setsid $SRV_PIN "$LIGHTTPD" -D -f "$work/lty/lighttpd.conf" >"$work/lty/out" 2>&1 &
	srv=$!
}
# WORKERS single-process lighttpds on one port, a socket each; $srv is a
# subshell that stops them all.
start_lighttpd_reuseport() {
	(
		pids=""
		trap 'kill $pids; wait' TERM
		n=0
		while [ $n -lt "$WORKERS" ]; do
			setsid $SRV_PIN perl "$work/lty/activate.pl" $LPORT \
				"$LIGHTTPD" -D -f "$work/lty/reuseport.conf" >>"$work/lty/out" 2>&1 &
			pids="$pids $!"
			n=$((n + 1))
		done
		wait
	) &
	srv=$!
}
wait_port() { # $1 port
	i=0
	until wrk -t1 -c1 -d1s "http://127.0.0.1:$1/" >/dev/null 2>&1; do
		i=$((i + 1))
		if [ $i -ge 50 ]; then
			echo "server on :$1 did not start; its logs:" >&2
			find "$work" \( -name '*.log' -o -name out \) -exec tail -n 5 {} + >&2
			exit 1
		fi
		sleep 0.1
	done
}
# The library's stop_srv, and the access log some servers wrote gone.
stop_server() { stop_srv; rm -f "$work/access.log"; }

# check SERVER CASE URL EXPECTED: one request with curl before the timed
# run; anything but a 200 with the expected body ends the script. The
# first round keeps the head, for the table of answers.
check() {
	code=$(curl -s -o "$work/body" -D "$work/head" -w '%{http_code}' "$3" || echo 000)
	if [ "$code" != 200 ] || ! cmp -s "$work/body" "$4"; then
		echo "$1 answered $code to $3, not 200 with $(wc -c < "$4") bytes of $(basename "$4"):" >&2
		cat "$work/head" >&2 2>/dev/null || true
		exit 1
	fi
	[ -e "$work/head.$2.$1" ] || cp "$work/head" "$work/head.$2.$1"
}

# run SERVER URL [wrk args...] -> prints "rps p99_us cpu_us_per_req"
# (wrk_run), and warns when lighttpd came near its requests per
# connection.
run() {
	line=$(wrk_run "$@")
	reqs=$(echo "$line" | awk -v d="$DURATION" '{ printf "%d", $1 * d }')
	if [ "${1#lty}" != "$1" ] && [ "$reqs" -gt $((60000 * CONNS)) ]; then
		echo "$1: about $reqs requests over $CONNS connections: near its 65535 per connection, some were closed" >&2
	fi
	echo "$line"
}

# Whether SERVER runs in CASE: h2o and lighttpd have no fixed answer here.
runs_case() {
	case $1/$2 in
	h2o/keepalive | h2o/close | lty*/keepalive | lty*/close) return 1 ;;
	esac
	return 0
}

load_start=$(cut -d' ' -f1-3 /proc/loadavg)
for c in $cases; do
	for s in $SERVERS; do
		if runs_case $s $c; then
			: > "$work/$c.$s"
		else
			echo "$s: no $c case (it has no fixed answer); left out" >&2
		fi
	done
done
# Case by case, the servers alternated within each round. The close case
# comes last: each run leaves up to tcp_max_tw_buckets sockets in
# TIME_WAIT, whose expiry 60 s later is softirq work charged to whatever
# runs then - it would skew the CPU figures of the cases after it.
for c in $cases; do
	case $c in
	static) path=/4k.html expect=$work/root/4k.html ;;
	small) path=/hello.txt expect=$work/root/hello.txt ;;
	*) path=/hello expect=$work/hello ;;
	esac
	r=1
	while [ $r -le "$ROUNDS" ]; do
		for s in $SERVERS; do
			[ -e "$work/$c.$s" ] || continue
			case $s in
			rpd | rpdy | rpdn | rpdl | rpdj | rpda | base)
				bin=$RPD y=""
				case $s in
				rpdy) y=--idle-yield ;;
				rpdn | rpdl | rpdj | rpda) y="-c $work/$s.conf" ;;
				base) bin=$BASE ;;
				esac
				case $c in
				static | small) start_rpd "$bin" --docroot "$work/root" $y ;;
				*) start_rpd "$bin" --return "200 hello world" $y ;;
				esac
				port=$RPORT ;;
			ngx | ngxd | ngxc | ngxl | ngxb)
				start_nginx "$work/$s"; port=$NPORT ;;
			h2o) start_h2o; port=$HPORT ;;
			lty) start_lighttpd; port=$LPORT ;;
			ltyr) start_lighttpd_reuseport; port=$LPORT ;;
			esac
			wait_port $port
			check $s $c "http://127.0.0.1:$port$path" "$expect"
			if [ $c = close ]; then
				run $s "http://127.0.0.1:$port$path" -H "Connection: close" >> "$work/$c.$s"
			else
				run $s "http://127.0.0.1:$port$path" >> "$work/$c.$s"
			fi
			stop_server
		done
		r=$((r + 1))
	done
done
load_end=$(cut -d' ' -f1-3 /proc/loadavg)

# reuseportd against the others; a log against the same server without
# it; nginx with its open-file cache against without.
report "$cases" "$SERVERS" '(s[i] ~ /^rpd/ && s[j] ~ /^(ngx|ngxc|h2o|lty|ltyr|base|rpdn)$/) ||
	(s[i] ~ /^rpd[lj]$/ && s[j] == "rpd") || (s[i] ~ /^ngx[lbc]$/ && s[j] == "ngx")'
echo
# The answers compared: each server's head, its size and header names.
printf '%-10s %-5s %6s  %s\n' case server "head B" "status; header names"
for c in $cases; do
	for s in $SERVERS; do
		h=$work/head.$c.$s
		[ -e "$h" ] || continue
		printf '%-10s %-5s %6d  %s\n' $c $s "$(wc -c < "$h")" \
			"$(tr -d '\r' < "$h" | awk 'NR == 1 { printf "%s;", $2; next }
				/:/ { sub(/:.*/, ""); printf " %s", tolower($0) }')"
	done
done
echo
if [ $PIN = 1 ]; then
	pinned="; pinned: servers $SRV_PIN, wrk $LOAD_PIN"
else
	pinned=""
fi
echo "($WORKERS workers, wrk -t$WRK_THREADS -c$CONNS -d${DURATION}s, median of $ROUNDS rounds, $(nproc) CPUs$pinned;"
echo " capacity = requests per second of server CPU, B's us/req over A's;"
echo " load average (1, 5, 15 min) at the start: $load_start, at the end: $load_end)"
