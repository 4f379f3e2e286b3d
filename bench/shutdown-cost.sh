#!/bin/sh
# shutdown-cost.sh - what a graceful shutdown of many idle connections
# costs the daemon, against what the kernel alone charges for closing as
# many (bench/closebench.c): how much of bench/scale.sh's shutdown time
# is reuseportd's to win back.
#
#   bench/shutdown-cost.sh [-c CONNECTIONS] [-w WORKERS]
#
# Holds CONNECTIONS (default 200000) idle echo connections on
# 127.0.0.1:18095 with WORKERS (default 12) workers and shutdown_timeout
# 1s, stops the clients (SIGSTOP: the closes are the server's alone),
# sends SIGTERM and reports the wall time and the CPU (utime+stime) of
# the master and its workers during the shutdown, per connection; then
# closebench closes as many loopback connections with SO_LINGER 0.
# Needs python3 (to read the daemon's rusage) and a C compiler; run from
# a built tree, as root or with 2 x CONNECTIONS descriptors allowed.
set -eu
CONNS=200000 WORKERS=12 PORT=18095
while getopts c:w: o; do
	case $o in
	c) CONNS=$OPTARG ;;
	w) WORKERS=$OPTARG ;;
	*) echo "usage: $0 [-c CONNECTIONS] [-w WORKERS]" >&2; exit 2 ;;
	esac
done
top=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d /tmp/rpshutdown.XXXXXX)
holder=""
cleanup() {
	[ -z "$holder" ] || { kill -CONT "$holder" 2>/dev/null; pkill -CONT -P "$holder" 2>/dev/null; kill -INT "$holder" 2>/dev/null; } || true
	[ ! -s "$work/master.pid" ] || kill -TERM "$(cat "$work/master.pid")" 2>/dev/null || true
	wait 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT INT TERM

cat >"$work/rpd.conf" <<CONF
protocol echo
workers $WORKERS
listen 127.0.0.1:$PORT
stats_socket $work/stats.sock
shutdown_timeout 1s
CONF
# The master's children are reaped by it, so its rusage once it is gone
# holds theirs: the wrapper prints it.
python3 - "$top/src/reuseportd" "$work" <<'PY' >"$work/rusage" 2>"$work/daemon.log" &
import os, resource, sys
pid = os.fork()
if pid == 0:
    os.execv(sys.argv[1], [sys.argv[1], "-f", "-c", sys.argv[2] + "/rpd.conf"])
open(sys.argv[2] + "/master.pid", "w").write(str(pid))
os.waitpid(pid, 0)
r = resource.getrusage(resource.RUSAGE_CHILDREN)
print(r.ru_utime + r.ru_stime)
PY
active() {
	python3 -c '
import json, socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.sendall(b"stats\n")
d = b""
while True:
    b = s.recv(65536)
    if not b: break
    d += b
print(json.loads(d)["totals"]["active"])' "$work/stats.sock" 2>/dev/null || echo 0
}
i=0
until [ -S "$work/stats.sock" ] && [ -s "$work/master.pid" ]; do
	i=$((i + 1)); [ $i -lt 100 ] || { cat "$work/daemon.log"; exit 1; }; sleep 0.1
done
master=$(cat "$work/master.pid")
nsrc=$(( (CONNS + 3999) / 4000 ))
"$top/src/reuseportbench" hold -q -c "$CONNS" -d 3600 \
	--source "127.9.0.1-127.9.0.$nsrc" "127.0.0.1:$PORT" >/dev/null 2>"$work/hold.err" &
holder=$!
i=0
until [ "$(active)" = "$CONNS" ]; do
	i=$((i + 1)); [ $i -lt 600 ] || { echo "only $(active) of $CONNS connections" >&2; exit 1; }; sleep 0.5
done
kill -STOP "$holder"; pkill -STOP -P "$holder" || true
cpu0=0
for p in "$master" $(pgrep -P "$master"); do
	c=$(awk '{ print $14 + $15 }' "/proc/$p/stat" 2>/dev/null || echo 0)
	cpu0=$((cpu0 + c))
done
t0=$(date +%s.%N)
kill -TERM "$master"
while kill -0 "$master" 2>/dev/null; do sleep 0.02; done
t1=$(date +%s.%N)
i=0
until [ -s "$work/rusage" ]; do i=$((i + 1)); [ $i -lt 100 ] || exit 1; sleep 0.1; done
awk -v n="$CONNS" -v w="$WORKERS" -v t0="$t0" -v t1="$t1" -v c0="$cpu0" -v tot="$(cat "$work/rusage")" 'BEGIN {
	cpu = tot - c0 / 100
	printf "reuseportd, %d idle echo connections, %d workers, shutdown_timeout 1 s, clients stopped:\n", n, w
	printf "  shutdown %.2f s; the daemon'"'"'s CPU during it %.2f s = %.1f us per connection\n", t1 - t0, cpu, cpu * 1e6 / n }'
kill -CONT "$holder"; pkill -CONT -P "$holder" || true
kill -INT "$holder" 2>/dev/null || true
wait "$holder" 2>/dev/null || true
holder=""
cc -O2 -o "$work/closebench" "$top/bench/closebench.c"
procs=$(( (CONNS + 8999) / 9000 ))
echo "the kernel alone (bench/closebench.c, $procs processes):"
printf '  '; "$work/closebench" rst "$procs" $(( CONNS / procs ))
