#!/bin/sh
# Holds many concurrent connections on ONE port of reuseportd and reports
# the memory they cost: the daemon's user-space memory per idle
# connection (RSS of the workers, before and after) and the kernel's
# (Slab, before and after; that covers both ends of each loopback
# connection, the client's too).
#
#   bench/hold-100k.sh [-c CONNECTIONS] [-w WORKERS] [-d SECONDS]
#
# The clients are spread over 127.0.0.2-127.0.0.40 so that one machine
# goes past the ~28K ephemeral ports of one source address; every worker
# holds at most ~20K (the open-files limit per process), hence 7 workers
# for 100K. Run from the top of a built tree. Loopback only; bounded.
set -eu

CONNS=100000 WORKERS=7 HOLD=20
while getopts c:w:d: o; do
	case $o in
	c) CONNS=$OPTARG ;; w) WORKERS=$OPTARG ;; d) HOLD=$OPTARG ;;
	*) echo "usage: $0 [-c CONNECTIONS] [-w WORKERS] [-d SECONDS]" >&2; exit 2 ;;
	esac
done
top=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d /tmp/rphold.XXXXXX)
PORT=18090
srv="" cli=""
cleanup() {
	[ -n "$cli" ] && kill "$cli" 2>/dev/null
	[ -n "$srv" ] && kill "$srv" 2>/dev/null
	wait 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT INT TERM

query() { printf '%s\n' "$1" | nc -U "$work/stats.sock"; }
jfield() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }
worker_rss_kb() {
	t=0
	for p in $(query workers | jfield '" ".join(str(w["pid"]) for w in d["workers"])'); do
		r=$(awk '/^Rss:/ {print $2}' /proc/"$p"/smaps_rollup)
		t=$((t + r))
	done
	echo $t
}
slab_kb() { awk '/^Slab:/ {print $2}' /proc/meminfo; }

"$top/src/reuseportd" -f -w "$WORKERS" -l 127.0.0.1:$PORT -s "$work/stats.sock" \
	>"$work/daemon.log" 2>&1 &
srv=$!
i=0
until query ping >/dev/null 2>&1; do
	i=$((i + 1)); [ $i -lt 100 ] || { cat "$work/daemon.log"; exit 1; }
	sleep 0.1
done
sleep 1
rss0=$(worker_rss_kb) slab0=$(slab_kb)

"$top/src/reuseportbench" hold -q -c "$CONNS" -d "$HOLD" \
	--source 127.0.0.2-127.0.0.40 -j 127.0.0.1:$PORT >"$work/hold.json" &
cli=$!
i=0
while [ "$(query stats | jfield 'd["totals"]["active"]')" -lt "$CONNS" ]; do
	i=$((i + 1)); [ $i -lt 600 ] || { echo "only $(query stats | jfield 'd["totals"]["active"]') connections after 60 s" >&2; exit 1; }
	sleep 0.1
done
sleep 1
rss1=$(worker_rss_kb) slab1=$(slab_kb)
query stats > "$work/stats.json"
query 'connections 5' > "$work/conns.json"
wait "$cli" || true
cli=""

active=$(jfield 'd["totals"]["active"]' < "$work/stats.json")
echo "connections held on 127.0.0.1:$PORT: $active (by worker: $(jfield '" ".join(str(w["active"]) for w in d["workers"])' < "$work/stats.json"))"
echo "client: $(jfield '"%d established, %d failed, ramp %.2f s, %d distinct local ports" % (d["connect"]["established"], d["connect"]["failed"], d["connect"]["ramp_s"], d["ports"]["distinct"])' < "$work/hold.json" 2>/dev/null || echo 'see reuseportbench output')"
echo "a few of them, as the daemon sees them (one local port, many remotes):"
jfield '"\n".join("  %s <- %s  worker %d" % (c["local"], c["remote"], c["worker"]) for c in d["connections"])' < "$work/conns.json"
awk -v r0="$rss0" -v r1="$rss1" -v s0="$slab0" -v s1="$slab1" -v n="$active" 'BEGIN {
	printf "daemon user-space memory: %.1f MiB for %d connections = %.0f bytes per idle connection\n", (r1 - r0) / 1024, n, (r1 - r0) * 1024 / n
	printf "kernel memory (Slab, both ends): %.0f MiB = %.1f KiB per connection\n", (s1 - s0) / 1024, (s1 - s0) / n }'
