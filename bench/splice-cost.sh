#!/bin/sh
# splice-cost.sh - would splice(2) through a per-worker pipe pool make
# tcp_proxy cheaper on loopback? CPU per MB relayed, three rounds of:
#   - bench/splicebench.c's relay, copying through a buffer (read/write,
#     as tcp_proxy does) with 16k and 64k reads, and moving through a
#     pipe (splice socket -> pipe -> socket) with a 16k and a 64k pipe;
#   - the real daemon (protocol tcp_proxy, one worker, proxy_buffer 16k
#     and 64k) between splicebench's source and sink: the worker's CPU
#     (utime + stime from /proc, 10 ms ticks) per MB.
# The relay alone tells what splice would change; the daemon tells how
# close tcp_proxy's own loop is to that relay.
#
#   bench/splice-cost.sh [-m MB] [-r ROUNDS]
#
# Run from a built tree. Loopback only; about a minute on two cores.
set -eu
MB=2048 ROUNDS=3 PORT=18097
while getopts m:r: o; do
	case $o in
	m) MB=$OPTARG ;;
	r) ROUNDS=$OPTARG ;;
	*) echo "usage: $0 [-m MB] [-r ROUNDS]" >&2; exit 2 ;;
	esac
done
top=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d /tmp/rpsplice.XXXXXX)
sink="" master=""
cleanup() {
	[ -z "$master" ] || kill -TERM "$master" 2>/dev/null || true
	[ -z "$sink" ] || kill -TERM "$sink" 2>/dev/null || true
	wait 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT INT TERM
cc -O2 -o "$work/splicebench" "$top/bench/splicebench.c"
sb=$work/splicebench

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

daemon_round() { # proxy_buffer
	cat >"$work/p.conf" <<CONF
protocol tcp_proxy
workers 1
listen 127.0.0.1:$PORT
stats_socket $work/stats.sock
upstream 127.0.0.1:$((PORT + 1))
proxy_buffer $1
CONF
	"$top/src/reuseportd" -f -c "$work/p.conf" 2>"$work/daemon.log" &
	master=$!
	i=0
	until worker=$(pgrep -P "$master") && [ -S "$work/stats.sock" ]; do
		i=$((i + 1)); [ $i -lt 100 ] || { cat "$work/daemon.log"; exit 1; }; sleep 0.1
	done
	c0=$(cpu_ticks "$worker")
	t0=$(date +%s.%N)
	"$sb" source "$PORT" "$MB"
	# The relay ends once the sink has read all: wait for the pair to close.
	i=0
	while [ "$(ls "/proc/$worker/fd" | wc -l)" -gt 8 ] && [ $i -lt 200 ]; do
		i=$((i + 1)); sleep 0.05
	done
	t1=$(date +%s.%N)
	c1=$(cpu_ticks "$worker")
	kill -TERM "$master"; wait "$master" || true; master=""
	awk -v b="$1" -v mb="$MB" -v c="$((c1 - c0))" -v t0="$t0" -v t1="$t1" 'BEGIN {
		printf "daemon chunk %6s  %5d MB  worker cpu %6.3f s  wall %6.3f s  %.3f ms/MB\n",
		       b, mb, c / 100, t1 - t0, c * 10 / mb }'
}

"$sb" sink $((PORT + 1)) &
sink=$!
echo "# $(uname -r), $(nproc) CPUs; $MB MB per run, CPU of the relaying process only"
r=1
while [ $r -le "$ROUNDS" ]; do
	echo "# round $r"
	for c in 16384 65536; do
		nice -n 10 "$sb" relay rw "$MB" $c
		nice -n 10 "$sb" relay splice "$MB" $c
	done
	daemon_round 16k
	daemon_round 64k
	r=$((r + 1))
done
