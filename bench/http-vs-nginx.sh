#!/bin/sh
# Side-by-side HTTP benchmark: reuseportd against nginx on this machine,
# the same worker count and the same answers, driven by wrk, the two
# servers alternated over several rounds. Prints a ratio table.
#
#   bench/http-vs-nginx.sh [-w WORKERS] [-r ROUNDS] [-d SECONDS] [-c CONNS]
#
# Needs: nginx (Debian's nginx-light is enough) and wrk:
#   apt-get install -y nginx-light wrk
# Run from the top of a built tree. Loopback only; every run is bounded.
set -eu

WORKERS=2 ROUNDS=3 DURATION=10 CONNS=100
while getopts w:r:d:c: o; do
	case $o in
	w) WORKERS=$OPTARG ;; r) ROUNDS=$OPTARG ;;
	d) DURATION=$OPTARG ;; c) CONNS=$OPTARG ;;
	*) echo "usage: $0 [-w WORKERS] [-r ROUNDS] [-d SECONDS] [-c CONNS]" >&2; exit 2 ;;
	esac
done
top=$(cd "$(dirname "$0")/.." && pwd)
RPD=$top/src/reuseportd
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
for t in "$RPD" "$NGINX" "$(command -v wrk || true)"; do
	[ -x "$t" ] || { echo "missing: $t (see the header of $0)" >&2; exit 1; }
done

work=$(mktemp -d /tmp/rpbench.XXXXXX)
RPORT=18080 NPORT=18081
pids=""
cleanup() { for p in $pids; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT INT TERM

mkdir -p "$work/root" "$work/nginx"
head -c 4096 /dev/urandom | base64 -w 76 | head -c 4096 > "$work/root/4k.html"

# nginx: the same fixed answer and the same file; no logs on the hot path.
cat > "$work/nginx/nginx.conf" <<NGX
worker_processes $WORKERS;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log;
daemon off;
events { worker_connections 20000; }
http {
    access_log off;
    keepalive_requests 1000000;
    server {
        listen 127.0.0.1:$NPORT reuseport backlog=4096;
        location = /hello { default_type text/plain; return 200 "hello world"; }
        location / { root $work/root; }
    }
}
NGX

# Sum of utime+stime (clock ticks) of a process's children (the workers).
worker_ticks() {
	t=0
	for c in $(cat /proc/"$1"/task/*/children 2>/dev/null); do
		set -- $(cut -d' ' -f14,15 /proc/"$c"/stat 2>/dev/null || echo "0 0")
		t=$((t + $1 + $2))
	done
	echo $t
}

start_rpd() { # extra args
	"$RPD" -f -P http -w "$WORKERS" -l 127.0.0.1:$RPORT -s "$work/rpd.sock" "$@" \
		>"$work/rpd.log" 2>&1 &
	srv=$!
	pids="$pids $srv"
}
start_nginx() {
	"$NGINX" -c "$work/nginx/nginx.conf" -p "$work/nginx" >/dev/null 2>&1 &
	srv=$!
	pids="$pids $srv"
}
wait_port() { # $1 port
	i=0
	until wrk -t1 -c1 -d1s "http://127.0.0.1:$1/" >/dev/null 2>&1; do
		i=$((i + 1)); [ $i -lt 50 ] || { echo "server on :$1 did not start" >&2; exit 1; }
		sleep 0.1
	done
}
stop_srv() { kill "$srv"; wait "$srv" 2>/dev/null || true; }

# run NAME URL [wrk args...] -> prints "rps p99_us cpu_us_per_req"
run() {
	url=$1; shift
	t0=$(worker_ticks "$srv")
	out=$(wrk -t2 -c"$CONNS" -d"${DURATION}s" --latency "$@" "$url")
	t1=$(worker_ticks "$srv")
	rps=$(echo "$out" | awk '/^Requests\/sec/ {print $2}')
	p99=$(echo "$out" | awk '$1 == "99%" {v=$2; u=v; sub(/[0-9.]+/, "", u); sub(/[a-z]+$/, "", v);
		m = (u == "us") ? 1 : (u == "ms") ? 1000 : 1000000; print v * m}')
	reqs=$(echo "$out" | awk '/requests in/ {print $1}')
	hz=$(getconf CLK_TCK)
	cpu=$(awk -v a="$t0" -v b="$t1" -v r="$reqs" -v hz="$hz" 'BEGIN { printf "%.2f", (b - a) * 1e6 / hz / r }')
	echo "$rps $p99 $cpu"
}

median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

cases="keepalive static close"
for c in $cases; do : > "$work/$c.rpd"; : > "$work/$c.ngx"; done
r=1
while [ $r -le "$ROUNDS" ]; do
	for server in rpd ngx; do
		for c in $cases; do
			path=/hello
			[ $c = static ] && path=/4k.html
			if [ $server = rpd ]; then
				if [ $c = static ]; then
					start_rpd --docroot "$work/root"
				else
					start_rpd --return "200 hello world"
				fi
				port=$RPORT
			else
				start_nginx; port=$NPORT
			fi
			wait_port $port
			if [ $c = close ]; then
				run "http://127.0.0.1:$port$path" -H "Connection: close" >> "$work/$c.$server"
			else
				run "http://127.0.0.1:$port$path" >> "$work/$c.$server"
			fi
			stop_srv
		done
	done
	r=$((r + 1))
done

printf '%-10s %12s %12s %7s | %10s %10s %7s | %10s %10s %7s\n' case \
	"rpd req/s" "nginx req/s" ratio "rpd p99us" "ngx p99us" ratio \
	"rpd us/req" "ngx us/req" ratio
for c in $cases; do
	for k in 1 2 3; do
		eval "r$k=\$(cut -d' ' -f$k $work/$c.rpd | median)"
		eval "n$k=\$(cut -d' ' -f$k $work/$c.ngx | median)"
	done
	# shellcheck disable=SC2154
	awk -v c="$c" -v r1="$r1" -v n1="$n1" -v r2="$r2" -v n2="$n2" -v r3="$r3" -v n3="$n3" 'BEGIN {
		printf "%-10s %12.0f %12.0f %6.2fx | %10.0f %10.0f %6.2fx | %10.2f %10.2f %6.2fx\n",
			c, r1, n1, r1 / n1, r2, n2, r2 / n2, r3, n3, r3 / n3 }'
done
echo "($WORKERS workers, wrk -t2 -c$CONNS -d${DURATION}s, median of $ROUNDS rounds, $(nproc) CPUs)"
