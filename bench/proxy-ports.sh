#!/bin/sh
# bench/proxy-ports.sh - the client port wall of a proxy in front of ONE
# backend IP:port (issue 15), on one machine over loopback.
#
#   bench/proxy-ports.sh [-c CONNECTIONS] [-e CONNECTIONS] [-w WORKERS]
#                        [-p off|auto] [-t]
#
#   -c N  phase 1: connections held through `protocol tcp_proxy` with
#         proxy_source 127.0.0.2-127.0.0.11 (default 150000); every one
#         must reach the backend and echo a byte through the proxy
#   -e N  phase 2: connections tried through the same proxy without
#         proxy_source (default 40000: more than the ~28K ports of one
#         source address, fewer than phase 1 because every connect past
#         the wall costs the kernel a search of the whole port range)
#   -w N  proxy workers (default 20: a worker holds two descriptors per
#         proxied connection under an open-files limit of 20000, and
#         SO_REUSEPORT's hash is not perfectly even)
#   -p M  the proxy's proxy_port_range (default auto: each worker a
#         disjoint slice of ip_local_port_range, so that its port
#         search is short; off: every worker searches the whole range)
#   -t    tune: set fs.file-max, net.core.somaxconn and
#         net.ipv4.tcp_max_syn_backlog for the run and restore them on
#         exit. ip_local_port_range is never changed: the run reports the
#         range in force.
#
# The backend is reuseportd -P echo (a worker per 15,000 connections of
# the larger phase);
# the clients are reuseportbench hold processes, 4000 connections per
# 127.x source address. Phase 2 also shows that the proxy still serves
# after the wall: once a client process's connections are closed, a new
# connection through it echoes. Memory per proxied connection: the proxy
# workers' RSS growth (user space) and the kernel's Slab growth, which
# on one machine covers four sockets (client, the proxy's two, backend).
#
# Run from the top of a built tree, as root for -t. Loopback only; every
# wait is bounded; stops only what it started (by pid).
set -eu

CONNS=150000 CONNS2=40000 PWORKERS=20 PRANGE=auto TUNE=0
while getopts c:e:w:p:t o; do
	case $o in
	c) CONNS=$OPTARG ;; e) CONNS2=$OPTARG ;; w) PWORKERS=$OPTARG ;;
	p) PRANGE=$OPTARG ;; t) TUNE=1 ;;
	*) echo "usage: $0 [-c CONNECTIONS] [-e CONNECTIONS] [-w WORKERS] [-p off|auto] [-t]" >&2; exit 2 ;;
	esac
done
MOST=$CONNS
[ "$CONNS2" -le "$MOST" ] || MOST=$CONNS2
BWORKERS=$(( (MOST + 14999) / 15000 ))
PER_SOURCE=4000
top=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d /tmp/rpports.XXXXXX)
BPORT=18191 PPORT=18192
BSOCK=$work/backend.sock PSOCK=$work/proxy.sock
backend="" proxy="" holders="" saved=""

. "$(dirname "$0")/lib.sh"

stop_holders() {
	for p in $holders; do kill -INT "$p" 2>/dev/null || true; done
	for p in $holders; do wait "$p" 2>/dev/null || true; done
	holders=""
}
cleanup() {
	stop_holders
	[ -z "$proxy" ] || kill -INT "$proxy" 2>/dev/null || true
	[ -z "$backend" ] || kill -INT "$backend" 2>/dev/null || true
	wait 2>/dev/null || true
	restore_sysctls
	cp "$work/proxy1.log" /tmp/rpports-proxy1.log 2>/dev/null || true
	cp "$work/proxy2.log" /tmp/rpports-proxy2.log 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Four sockets per proxied connection live on this machine.
need_sysctl fs.file-max $((4 * CONNS + 200000)) stop
need_sysctl net.core.somaxconn 65535 warn
need_sysctl net.ipv4.tcp_max_syn_backlog 65535 warn
set -- $(sysctl -n net.ipv4.ip_local_port_range)
PLO=$1 PHI=$2 RANGE=$(($2 - $1 + 1))
say "ip_local_port_range in force: $PLO-$PHI ($RANGE ports per source address and destination)"

# --- helpers ---

query() { printf '%s\n' "$2" | nc -U "$1"; }
jfield() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }
slab_kb() { awk '/^Slab:/ {print $2}' /proc/meminfo; }
worker_pids() { query "$1" workers | jfield '" ".join(str(w["pid"]) for w in d["workers"] if w["pid"])'; }
rss_sum_kb() {
	t=0
	for p in $(worker_pids "$1"); do
		r=$(awk '/^Rss:/ {print $2}' /proc/"$p"/smaps_rollup 2>/dev/null || echo 0)
		t=$((t + ${r:-0}))
	done
	echo $t
}
wait_for() { # seconds, command...: until the command succeeds
	lim=$1; shift
	t0=$(date +%s)
	until "$@"; do
		[ $(( $(date +%s) - t0 )) -lt "$lim" ] || return 1
		sleep 0.5
	done
}
running() { # socket, workers: all running
	[ -S "$1" ] || return 1
	query "$1" workers 2>/dev/null | python3 -c "
import json,sys; w=json.load(sys.stdin)['workers']
sys.exit(0 if len(w) == $2 and all(x['state'] == 'running' for x in w) else 1)" 2>/dev/null
}
# The proxy's first upstream row of `upstreams`, as "field field ...".
up_row() {
	query "$PSOCK" upstreams | python3 -c "
import json,sys; u=json.load(sys.stdin)['upstreams'][0]; s=u['sources'][0]
print(u['active'], u['connects'], u['errors']['no_port'], u['errors']['total'],
      s['source'], s['in_use'], s['available'], s['use_pct'], s['high'],
      '%.0f' % u['connect_us']['p50'], '%.0f' % u['connect_us']['p99'])"
}
# Established upstream (a port held), not merely connecting.
up_held_is() { [ "$(up_row | awk '{print $6}')" -ge "$1" ]; }
# Connections through the proxy settled: held upstream or refused.
settled() { # expected clients
	set -- "$1" $(up_row) $(query "$PSOCK" stats | jfield 'd["totals"]["proxy_no_upstream"]')
	[ $(($2 + ${13})) -ge "$1" ]
}
start_proxy() { # n, extra directives
	cat >"$work/proxy$1.conf" <<EOF
protocol tcp_proxy
workers $PWORKERS
listen 127.0.0.1:$PPORT
stats_socket $PSOCK
upstream 127.0.0.1:$BPORT max_fails=0
proxy_connect_timeout 30s
proxy_idle_timeout 0
proxy_port_range $PRANGE
$2
EOF
	"$top/src/reuseportd" -f -c "$work/proxy$1.conf" >"$work/proxy$1.log" 2>&1 &
	proxy=$!
	wait_for 60 running "$PSOCK" "$PWORKERS" || { cat "$work/proxy$1.log"; exit 1; }
}
stop_proxy() {
	kill -TERM "$proxy"
	wait "$proxy" 2>/dev/null || true
	proxy=""
}
hold() { # step, connections, source block: starts a holder
	n=$2 nsrc=$(( ($2 + PER_SOURCE - 1) / PER_SOURCE ))
	"$top/src/reuseportbench" hold -q -j --echo-check --allow-failures \
		-c "$n" -d 86400 --connect-timeout 60 \
		--source "127.$3.0.1-127.$3.0.$nsrc" "127.0.0.1:$PPORT" \
		>"$work/hold$1.json" 2>"$work/hold$1.err" &
	holders="$holders $!"
}
# An echo check of every held connection (SIGUSR1 to each holder).
echo_check() { # step
	errf="$work/hold$1.err"
	for p in $holders; do kill -USR1 "$p"; done
	wait_for 600 eval '[ "$(grep -c "^echo-check:" "$errf")" -ge 1 ]' ||
		{ say "no echo check from the clients" >&2; exit 1; }
	sed -n 's/^echo-check: \([0-9]*\) echoed, \([0-9]*\) failed.*/\1 \2/p' "$errf" | tail -1
}
# A new client through the proxy: connect, send, the same bytes back.
fresh_echo() {
	python3 - "$PPORT" <<'EOF'
import socket, sys, time
deadline = time.monotonic() + 60
while time.monotonic() < deadline:
    try:
        s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
        s.sendall(b"after-the-wall")
        got = b""
        while len(got) < 14:
            b = s.recv(64)
            if not b:
                break
            got += b
        if got == b"after-the-wall":
            print("ok")
            sys.exit(0)
    except OSError:
        pass
    time.sleep(0.5)
print("failed")
sys.exit(1)
EOF
}

# --- the backend ---

cat >"$work/backend.conf" <<EOF
protocol echo
workers $BWORKERS
listen 127.0.0.1:$BPORT
stats_socket $BSOCK
EOF
"$top/src/reuseportd" -f -c "$work/backend.conf" >"$work/backend.log" 2>&1 &
backend=$!
wait_for 60 running "$BSOCK" "$BWORKERS" || { cat "$work/backend.log"; exit 1; }
say "backend: reuseportd -P echo, $BWORKERS workers on 127.0.0.1:$BPORT"

# --- phase 1: proxy_source 127.0.0.2-127.0.0.11 ---

start_proxy 1 "proxy_source 127.0.0.2-127.0.0.11"
say "proxy: tcp_proxy, $PWORKERS workers on 127.0.0.1:$PPORT, proxy_source 127.0.0.2-127.0.0.11, proxy_port_range $PRANGE"
rss0=$(rss_sum_kb "$PSOCK") slab0=$(slab_kb)
t0=$(now)
hold 1 "$CONNS" 1
if ! wait_for 900 up_held_is "$CONNS"; then
	say "phase 1: only $(up_row | awk '{print $1}') of $CONNS upstream connections after 900 s" >&2
	exit 1
fi
t1=$(since "$t0")
rss1=$(rss_sum_kb "$PSOCK") slab1=$(slab_kb)
set -- $(up_row)
p1_active=$1 p1_src=$5 p1_inuse=$6 p1_avail=$7 p1_pct=$8 p1_c50=${10} p1_c99=${11}
set -- $(echo_check 1)
p1_echoed=$1 p1_failed=$2
bk_active=$(query "$BSOCK" stats | jfield 'd["totals"]["active"]')
say "phase 1: $p1_active upstream connections in $t1 s; echo through the proxy: $p1_echoed echoed, $p1_failed failed"
stop_holders
wait_for 300 eval '[ "$(up_row | awk "{print \$1}")" -eq 0 ]' || say "phase 1: connections still open at the proxy" >&2
stop_proxy

# --- phase 2: no proxy_source (the kernel's one address) ---

start_proxy 2 ""
say "proxy restarted without proxy_source; $CONNS2 clients"
hold 2 "$CONNS2" 2
if ! wait_for 900 settled "$CONNS2"; then
	say "phase 2: the proxy did not settle: $(up_row)" >&2
	exit 1
fi
sleep 2 # the master's once-a-second port watch: the warning in the log
set -- $(up_row)
p2_active=$1 p2_noport=$3 p2_errors=$4 p2_src=$5 p2_inuse=$6 p2_avail=$7 p2_pct=$8 p2_high=$9
p2_exh=$(query "$PSOCK" stats | jfield 'd["totals"]["proxy_port_exhausted"]')
p2_limits=$(query "$PSOCK" limits | jfield 'd["upstream_ports_high"]')
p2_warned=$(grep -c 'local ports in use' "$work/proxy2.log" || true)
set -- $(echo_check 2)
p2_echoed=$1 p2_failed=$2
# Some connections close: a new one must get through.
stop_holders
fresh=$(fresh_echo || true)
say "phase 2: $p2_active held, $p2_noport refused for want of a port; a new connection after closing: $fresh"
stop_proxy

# --- the table ---

awk -v n="$CONNS" -v w="$PWORKERS" -v t="$t1" -v r0="$rss0" -v r1="$rss1" \
    -v s0="$slab0" -v s1="$slab1" 'BEGIN {
	printf "\n| phase 1: %d clients, proxy_source 127.0.0.2-127.0.0.11, %d proxy workers | |\n|---|---|\n", n, w
	printf "| time to establish (client and upstream) | %s s |\n", t
	printf "| user space per proxied connection (proxy workers RSS) | %.0f B |\n", (r1 - r0) * 1024 / n
	printf "| kernel Slab per proxied connection (4 sockets: client, proxy x2, backend) | %.1f KB |\n", (s1 - s0) * 1.024 / n }'
say "| upstream connections established | $p1_active (backend holds $bk_active) |"
say "| echo through the proxy | $p1_echoed echoed, $p1_failed failed |"
say "| ports: source, in use / available, use | $p1_src: $p1_inuse / $p1_avail, $p1_pct % |"
say "| connect time p50 / p99 | $p1_c50 / $p1_c99 us |"
say ""
say "| phase 2: $CONNS2 clients, no proxy_source, ip_local_port_range $PLO-$PHI ($RANGE) | |"
say "|---|---|"
say "| upstream connections held | $p2_active |"
say "| refused for want of a port: no_port, proxy_port_exhausted | $p2_noport, $p2_exh (connect errors in all: $p2_errors) |"
say "| ports: source, in use / available, use, high | $p2_src: $p2_inuse / $p2_avail, $p2_pct %, $p2_high |"
say "| limits: upstream_ports_high; warnings in the log | $p2_limits; $p2_warned |"
say "| echo on the held connections | $p2_echoed echoed, $p2_failed failed |"
say "| a new connection after some closed | $fresh |"
