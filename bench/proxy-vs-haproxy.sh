#!/bin/sh
# Side-by-side reverse-proxy benchmark: reuseportd's proxies against
# HAProxy and nginx in front of the same backend, the same worker count,
# driven by wrk, the proxies alternated within each round of each case.
# Prints the medians, each proxy's CPU per request over the rounds (the
# proxy's processes only: the backend and wrk are the same for all), and
# a ratio table.
#
#   bench/proxy-vs-haproxy.sh [-w WORKERS] [-r ROUNDS] [-d SECONDS]
#                             [-c CONNS] [-s "PROXIES"] [-k "CASES"]
#
# CASES (default keepalive close):
#   keepalive  clients keep their connections (wrk's default)
#   close      a connection per request (Connection: close): the proxy
#              accepts one per request; an HTTP proxy keeps its upstream
#              connections in its pool, a TCP proxy connects anew
#
# PROXIES (default rpd hap ngx rpdt hapt ngxt):
#   rpd   reuseportd, protocol http_proxy, proxy_pool 128
#   hap   HAProxy (Debian's), mode http, nbthread WORKERS, one backend
#         server, http-reuse always: its default (safe) sends the first
#         request of each client connection on a new server connection,
#         which the close case would turn into a connect per request;
#         always pools them as reuseportd and nginx do
#   ngx   nginx, proxy_pass to an upstream block with keepalive 128,
#         proxy_http_version 1.1 and Connection cleared (what its
#         documentation gives for pooled upstream connections)
#   rpdt  reuseportd, protocol tcp_proxy
#   hapt  HAProxy, mode tcp
#   ngxt  nginx's stream module (Debian's libnginx-mod-stream)
#   Every proxy as an administrator would set it for the job: no access
#   log, WORKERS workers (or threads), keep-alive without a request cap.
#
# The backend is reuseportd -P http --return "200 hello world" with
# WORKERS workers, started once for the whole run. Before each timed run
# the answer through the proxy is fetched with curl and must be a 200
# with the backend's body, and wrk must count no non-2xx answer.
#
# Needs: wrk, curl, haproxy, nginx-light and libnginx-mod-stream:
#   apt-get install -y wrk curl haproxy nginx-light libnginx-mod-stream
# Run from the top of a built tree. Loopback only; every run is bounded.
set -eu
. "$(dirname "$0")/lib.sh"

WORKERS=2 ROUNDS=3 DURATION=8 CONNS=100 SERVERS="rpd hap ngx rpdt hapt ngxt"
cases="keepalive close"
while getopts w:r:d:c:s:k: o; do
	case $o in
	w) WORKERS=$OPTARG ;; r) ROUNDS=$OPTARG ;;
	d) DURATION=$OPTARG ;; c) CONNS=$OPTARG ;; s) SERVERS=$OPTARG ;;
	k) cases=$OPTARG ;;
	*) echo "usage: $0 [-w WORKERS] [-r ROUNDS] [-d SECONDS] [-c CONNS] [-s PROXIES] [-k CASES]" >&2; exit 2 ;;
	esac
done
top=$(cd "$(dirname "$0")/.." && pwd)
RPD=$top/src/reuseportd
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
HAPROXY=$(command -v haproxy || echo /usr/sbin/haproxy)
STREAM_MOD=/usr/lib/nginx/modules/ngx_stream_module.so
need="$RPD $(command -v wrk || echo wrk) $(command -v curl || echo curl)"
for s in $SERVERS; do
	case $s in
	rpd | rpdt) ;;
	hap | hapt) need="$need $HAPROXY" ;;
	ngx) need="$need $NGINX" ;;
	ngxt) need="$need $NGINX" ;;
	*) echo "unknown proxy: $s" >&2; exit 2 ;;
	esac
done
for c in $cases; do
	case $c in keepalive | close) ;;
	*) echo "unknown case: $c" >&2; exit 2 ;; esac
done
for t in $need; do
	[ -x "$t" ] || { echo "missing: $t (see the header of $0)" >&2; exit 1; }
done
case " $SERVERS " in *" ngxt "*)
	[ -e "$STREAM_MOD" ] || { echo "missing: $STREAM_MOD (libnginx-mod-stream)" >&2; exit 1; } ;;
esac

work=$(mktemp -d /tmp/rpproxy.XXXXXX)
chmod 755 "$work"
BPORT=27611 PPORT=27612
srv="" backend=""
cleanup() {
	[ -z "$srv" ] || kill "$srv" 2>/dev/null || true
	[ -z "$backend" ] || kill "$backend" 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 129' HUP
trap 'exit 130' INT TERM
trap 'exit 141' PIPE

# --- the proxies' configurations ---
cat > "$work/rpd.conf" <<RPD
protocol http_proxy
workers $WORKERS
listen 127.0.0.1:$PPORT
stats_socket $work/rpd.sock
upstream 127.0.0.1:$BPORT
proxy_pool 128
RPD
cat > "$work/rpdt.conf" <<RPD
protocol tcp_proxy
workers $WORKERS
listen 127.0.0.1:$PPORT
stats_socket $work/rpdt.sock
upstream 127.0.0.1:$BPORT
RPD
# HAProxy: threads rather than processes (2.6 has no nbproc), no log.
hap_conf() { # mode, extra backend lines
	cat <<HAP
global
    nbthread $WORKERS
    maxconn 9000
    pidfile $work/haproxy.pid
defaults
    mode $1
    timeout connect 5s
    timeout client 60s
    timeout server 60s
    maxconn 9000
frontend f
    bind 127.0.0.1:$PPORT
    default_backend b
backend b
    $2
    server s1 127.0.0.1:$BPORT
HAP
}
hap_conf http "http-reuse always" > "$work/hap.cfg"
hap_conf tcp "" > "$work/hapt.cfg"
ngx_conf() { # the http or stream block
	cat <<NGX
$2
worker_processes $WORKERS;
pid $work/$1.pid;
error_log $work/$1.error.log;
daemon off;
events { worker_connections 20000; }
$3
NGX
}
ngx_conf ngx "" "http {
    access_log off;
    keepalive_requests 1000000;
    upstream b { server 127.0.0.1:$BPORT; keepalive 128; keepalive_requests 1000000; }
    server {
        listen 127.0.0.1:$PPORT reuseport backlog=4096;
        location / {
            proxy_pass http://b;
            proxy_http_version 1.1;
            proxy_set_header Connection \"\";
        }
    }
}" > "$work/ngx.conf"
ngx_conf ngxt "load_module $STREAM_MOD;" "stream {
    server {
        listen 127.0.0.1:$PPORT reuseport backlog=4096;
        proxy_pass 127.0.0.1:$BPORT;
    }
}" > "$work/ngxt.conf"
printf 'hello world' > "$work/hello"

start_proxy() { # name
	case $1 in
	rpd | rpdt) "$RPD" -f -c "$work/$1.conf" > "$work/$1.log" 2>&1 & ;;
	hap | hapt) "$HAPROXY" -db -f "$work/$1.cfg" > "$work/$1.log" 2>&1 & ;;
	ngx | ngxt) "$NGINX" -c "$work/$1.conf" -p "$work" > "$work/$1.log" 2>&1 & ;;
	esac
	srv=$!
}
wait_port() { # port
	i=0
	until curl -s -o /dev/null "http://127.0.0.1:$1/"; do
		i=$((i + 1))
		if [ $i -ge 50 ]; then
			echo "nothing answers on :$1; the logs:" >&2
			tail -n 5 "$work"/*.log >&2
			exit 1
		fi
		sleep 0.1
	done
}
# One request through the proxy before the timed run: a 200 with the
# backend's body, or the script stops.
check() { # name
	code=$(curl -s -o "$work/body" -w '%{http_code}' "http://127.0.0.1:$PPORT/" || echo 000)
	if [ "$code" != 200 ] || ! cmp -s "$work/body" "$work/hello"; then
		echo "$1 answered $code, not 200 with the backend's body; its log:" >&2
		tail -n 20 "$work/$1.log" >&2
		exit 1
	fi
}

"$RPD" -f -c none -P http --return "200 hello world" -w "$WORKERS" \
	-l 127.0.0.1:$BPORT -s "$work/backend.sock" > "$work/backend.log" 2>&1 &
backend=$!
wait_port $BPORT

load_start=$(cut -d' ' -f1-3 /proc/loadavg)
for c in $cases; do
	for s in $SERVERS; do : > "$work/$c.$s"; done
done
# The close case comes last: its TIME_WAIT sockets expire 60 s later as
# softirq work charged to whatever runs then.
for c in $cases; do
	r=1
	while [ $r -le "$ROUNDS" ]; do
		for s in $SERVERS; do
			start_proxy $s
			wait_port $PPORT
			check $s
			if [ $c = close ]; then
				wrk_run $s "http://127.0.0.1:$PPORT/" -H "Connection: close" >> "$work/$c.$s"
			else
				wrk_run $s "http://127.0.0.1:$PPORT/" >> "$work/$c.$s"
			fi
			stop_srv
		done
		r=$((r + 1))
	done
done
load_end=$(cut -d' ' -f1-3 /proc/loadavg)

# reuseportd's HTTP proxy against the HTTP peers, its TCP proxy against
# the TCP ones.
report "$cases" "$SERVERS" '(s[i] == "rpd" && s[j] ~ /^(hap|ngx)$/) || (s[i] == "rpdt" && s[j] ~ /^(hapt|ngxt)$/)'
echo
echo "($WORKERS workers each (HAProxy: threads), wrk -t2 -c$CONNS -d${DURATION}s, median of $ROUNDS rounds, $(nproc) CPUs;"
echo " backend: reuseportd --return with $WORKERS workers; us/req: the proxy's CPU only;"
echo " capacity = requests per second of proxy CPU, B's us/req over A's;"
echo " load average (1, 5, 15 min) at the start: $load_start, at the end: $load_end)"
