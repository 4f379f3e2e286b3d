#!/bin/sh
# The HTTP proxy's pool effect (issue 15): clients that open a new
# connection per request, through protocol http_proxy, to a keep-alive
# backend (reuseportd itself, protocol http --return). Reports the
# requests served, the upstream connections the proxy opened for them
# (target: at most 1 % of the requests) and the TIME_WAIT sockets between
# proxy and backend before and after (target: no build-up); then the
# same run with proxy_pool 0, a connection per request, for comparison.
#
#   bench/proxy-pool.sh [-w WORKERS] [-c CONNS] [-d SECONDS] [-P POOL]
#
# POOL is proxy_pool (default 32, the daemon's). A worker's share of the
# clients varies (SO_REUSEPORT spreads connections by hash, not evenly):
# when more exchanges run at once than the pool keeps, the extra upstream
# connections are opened, and closed again (with a reset, so no
# TIME_WAIT) once they have stayed idle beyond the pool's bound for a
# second.
#
# Loopback only. Run from a built tree (src/reuseportd, src/reuseportbench,
# src/reuseportctl). Not part of make check: it measures, it does not test.
set -eu

workers=2 conns=50 secs=10 pool=32
while getopts w:c:d:P: o; do
	case $o in
	w) workers=$OPTARG ;;
	c) conns=$OPTARG ;;
	d) secs=$OPTARG ;;
	P) pool=$OPTARG ;;
	*) echo "usage: $0 [-w WORKERS] [-c CONNS] [-d SECONDS] [-P POOL]" >&2; exit 2 ;;
	esac
done
top=$(cd "$(dirname "$0")/.." && pwd)
rpd=$top/src/reuseportd ctl=$top/src/reuseportctl bench=$top/src/reuseportbench
for b in "$rpd" "$ctl" "$bench"; do
	[ -x "$b" ] || { echo "$0: build first: $b is missing" >&2; exit 1; }
done
work=$(mktemp -d /tmp/proxy-pool.XXXXXX)
pids=
cleanup() {
	for p in $pids; do kill "$p" 2>/dev/null || :; done
	for p in $pids; do wait "$p" 2>/dev/null || :; done
	rm -rf "$work"
}
trap cleanup EXIT INT TERM

jtotal() { "$ctl" -s "$1" --json stats | jq ".totals.$2"; }

# Waits for a daemon's stats socket to answer, then prints its port.
port_of() {
	i=0
	until "$ctl" -s "$1" ping >/dev/null 2>&1; do
		i=$((i + 1))
		[ $i -lt 100 ] || { echo "$0: no daemon on $1" >&2; exit 1; }
		sleep 0.1
	done
	"$ctl" -s "$1" --json stats | jq '.listen[0].port'
}

# TIME_WAIT sockets with the backend's port at either end.
time_wait() {
	ss -Htan state time-wait "( sport = :$1 or dport = :$1 )" | wc -l
}

"$rpd" -f -P http --return "200 hello" -w "$workers" -l 127.0.0.1:0 \
	-s "$work/backend.sock" >"$work/backend.log" 2>&1 &
pids="$pids $!"
bport=$(port_of "$work/backend.sock")

run() { # run NAME POOL
	cat >"$work/$1.conf" <<EOF
protocol http_proxy
listen 127.0.0.1:0
workers $workers
upstream 127.0.0.1:$bport
proxy_pool $2
stats_socket $work/$1.sock
EOF
	"$rpd" -f -c "$work/$1.conf" >"$work/$1.log" 2>&1 &
	ppid=$!
	pids="$pids $ppid"
	pport=$(port_of "$work/$1.sock")
	acc0=$(jtotal "$work/backend.sock" accepted)
	tw0=$(time_wait "$bport")
	"$bench" http --close -c "$conns" -d "$secs" -q -j "127.0.0.1:$pport" \
		>"$work/$1.json"
	reqs=$(jq '.load.requests' "$work/$1.json")
	fwd=$(jtotal "$work/$1.sock" http_proxy_requests)
	opened=$(jtotal "$work/$1.sock" proxy_connects)
	reused=$(jtotal "$work/$1.sock" http_proxy_reuses)
	acc=$(($(jtotal "$work/backend.sock" accepted) - acc0))
	tw=$(time_wait "$bport")
	kill "$ppid"
	wait "$ppid" 2>/dev/null || :
	printf '%-10s %10s %10s %10s %10s %8s %9s %9s\n' "$1" "$reqs" "$fwd" \
		"$opened" "$acc" \
		"$(echo "$opened $fwd" | awk '{printf "%.3f%%", $2 ? 100 * $1 / $2 : 0}')" \
		"$tw0" "$tw"
	: "$reused"
}

echo "reuseportd http_proxy, $workers workers, $conns clients, ${secs}s, a connection per request, proxy_pool $pool"
printf '%-10s %10s %10s %10s %10s %8s %9s %9s\n' run "client req" forwarded \
	"up conns" "bk accepts" "opened" "TW before" "TW after"
run pool "$pool"
run nopool 0
