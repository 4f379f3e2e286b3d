#!/bin/sh
# What TCP_DEFER_ACCEPT costs clients that connect and then wait (a
# browser's preconnect, a pool's spare connection, a load generator's
# hold): reuseportd -P http with defer_accept on and off, alternated,
# while IDLE silent clients connect. With it on, the kernel keeps each
# such connection half-open in the listener's SYN queue until data
# arrives or the deferral ends; thousands of them fill the queue, and the
# kernel answers further SYNs with SYN cookies and re-sends handshakes.
# Prints, per setting: connect latency p50/p99/max, SYN cookies sent,
# listen queue overflows and drops, and SYN-ACKs re-sent, from the
# kernel's own counters (/proc/net/netstat).
#
#   bench/idle-clients.sh [-i IDLE] [-r ROUNDS] [-w WORKERS]
#
# Run from the top of a built tree. Loopback only; every run is bounded.
# The machine's sysctls are left as they are (they are printed).
set -eu

IDLE=50000 ROUNDS=3 WORKERS=2
while getopts i:r:w: o; do
	case $o in
	i) IDLE=$OPTARG ;; r) ROUNDS=$OPTARG ;; w) WORKERS=$OPTARG ;;
	*) echo "usage: $0 [-i IDLE] [-r ROUNDS] [-w WORKERS]" >&2; exit 2 ;;
	esac
done
top=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d /tmp/rpidle.XXXXXX)
PORT=18092
srv=""
cleanup() { [ -z "$srv" ] || kill "$srv" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

netstat_field() {
	awk -v f="$1" '$1 == "TcpExt:" { if (!n) { for (i = 2; i <= NF; i++) k[i] = $i; n = 1 } else for (i = 2; i <= NF; i++) if (k[i] == f) print $i }' /proc/net/netstat
}
counters() {
	for f in SyncookiesSent ListenOverflows ListenDrops TCPSynRetrans; do
		printf '%s ' "$(netstat_field $f)"
	done
}

nsrc=$(( (IDLE + 3999) / 4000 ))
echo "$IDLE silent clients from 127.0.1.1-$nsrc, $WORKERS workers;" \
	"somaxconn $(sysctl -n net.core.somaxconn)," \
	"tcp_max_syn_backlog $(sysctl -n net.ipv4.tcp_max_syn_backlog)," \
	"syncookies $(sysctl -n net.ipv4.tcp_syncookies)"
printf '%-6s %-5s %9s %9s %9s %9s %9s %9s %9s\n' defer round "p50 us" "p99 us" "max us" \
	cookies overflow drops "synack-rt"
r=1
while [ $r -le "$ROUNDS" ]; do
	for d in on off; do
		printf 'defer_accept %s\nworkers %s\nlisten 127.0.0.1:%s\nprotocol http\nstats_socket %s\n' \
			"$d" "$WORKERS" "$PORT" "$work/s.sock" > "$work/$d.conf"
		"$top/src/reuseportd" -f -c "$work/$d.conf" >"$work/d.log" 2>&1 &
		srv=$!
		i=0
		until printf 'ping\n' | nc -U "$work/s.sock" >/dev/null 2>&1; do
			i=$((i + 1)); [ $i -lt 100 ] || { cat "$work/d.log"; exit 1; }
			sleep 0.1
		done
		set -- $(counters)
		c0=$1 o0=$2 d0=$3 s0=$4
		"$top/src/reuseportbench" hold -q -j --allow-failures -c "$IDLE" -d 3 \
			--source "127.0.1.1-127.0.1.$nsrc" "127.0.0.1:$PORT" > "$work/hold.json"
		set -- $(counters)
		lat=$(python3 -c 'import json,sys; l=json.load(sys.stdin)["connect"]["latency_us"]; print(l["p50"], l["p99"], l["max"])' < "$work/hold.json")
		printf '%-6s %-5s %9s %9s %9s %9s %9s %9s %9s\n' "$d" "$r" $lat \
			$(($1 - c0)) $(($2 - o0)) $(($3 - d0)) $(($4 - s0))
		kill "$srv"; wait "$srv" 2>/dev/null || true; srv=""
	done
	r=$((r + 1))
done
