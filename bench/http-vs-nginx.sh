#!/bin/sh
# Side-by-side HTTP benchmark: reuseportd against nginx on this machine,
# the same worker count and the same answers, driven by wrk, the servers
# alternated within each round of each case. Prints the medians and a
# ratio table.
#
#   bench/http-vs-nginx.sh [-w WORKERS] [-r ROUNDS] [-d SECONDS] [-c CONNS]
#                          [-s "SERVERS"] [-k "CASES"] [-B BASELINE]
#
# CASES (default all three): keepalive, static (a 4 KiB file), close
# (Connection: close, a connection per request).
#
# SERVERS (default all four, and base with -B):
#   rpd    reuseportd with its defaults
#   rpdy   reuseportd --idle-yield
#   rpdn   reuseportd with defer_accept off (its default for HTTP is on):
#          rpd/rpdn is what TCP_DEFER_ACCEPT saves per connection
#   ngx    nginx, listen ... reuseport
#   ngxd   nginx, listen ... reuseport deferred (TCP_DEFER_ACCEPT, which
#          reuseportd sets by itself for HTTP)
#   rpdl   reuseportd with its access log on (a file, combined):
#          rpdl/rpd is the access log's cost
#   rpdj   the same with access_log_format json
#   ngxl   nginx with an access log as Debian ships it (a file, combined,
#          a write per request): ngxl/ngx is its cost
#   ngxb   nginx with access_log ... buffer=64k flush=1s (buffered, as
#          reuseportd's is)
#   The logs are written to a file in the work directory, under /tmp.
#   base   another reuseportd binary (-B PATH, e.g. a build of the commit
#          before a change) with its defaults: rpd/base tells whether the
#          change moved the CPU per request beyond the noise
#
# Needs: nginx (Debian's nginx-light is enough) and wrk:
#   apt-get install -y nginx-light wrk
# Run from the top of a built tree. Loopback only; every run is bounded.
set -eu

WORKERS=2 ROUNDS=3 DURATION=10 CONNS=100 SERVERS="rpd rpdy ngx ngxd" BASE=""
cases="keepalive static close"
while getopts w:r:d:c:s:k:B: o; do
	case $o in
	w) WORKERS=$OPTARG ;; r) ROUNDS=$OPTARG ;;
	d) DURATION=$OPTARG ;; c) CONNS=$OPTARG ;; s) SERVERS=$OPTARG ;;
	k) cases=$OPTARG ;;
	B) BASE=$OPTARG ;;
	*) echo "usage: $0 [-w WORKERS] [-r ROUNDS] [-d SECONDS] [-c CONNS] [-s SERVERS] [-k CASES] [-B BASELINE]" >&2; exit 2 ;;
	esac
done
# -B adds base to the servers, once.
if [ -n "$BASE" ]; then
	case " $SERVERS " in *" base "*) ;; *) SERVERS="$SERVERS base" ;; esac
fi
for s in $SERVERS; do
	case $s in rpd | rpdy | rpdn | rpdl | rpdj | ngx | ngxd | ngxl | ngxb) ;; base) [ -x "$BASE" ] || { echo "base needs -B PATH" >&2; exit 2; } ;;
	*) echo "unknown server: $s" >&2; exit 2 ;; esac
done
top=$(cd "$(dirname "$0")/.." && pwd)
RPD=$top/src/reuseportd
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
for t in "$RPD" "$NGINX" "$(command -v wrk || true)"; do
	[ -x "$t" ] || { echo "missing: $t (see the header of $0)" >&2; exit 1; }
done

work=$(mktemp -d /tmp/rpbench.XXXXXX)
RPORT=18080 NPORT=18081
srv=""
# One server runs at a time: $srv is it, and only it is stopped here.
cleanup() { [ -z "$srv" ] || kill "$srv" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

# nginx: the same fixed answer and the same file; no logs on the hot path
# but where an access log is asked for.
# $1: the directory, $2: extra listen parameters, $3: access_log's value.
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
nginx_conf "$work/ngx" ""
nginx_conf "$work/ngxd" " deferred"
nginx_conf "$work/ngxl" "" "$work/access.log"
nginx_conf "$work/ngxb" "" "$work/access.log combined buffer=64k flush=1s"
echo "defer_accept off" > "$work/rpdn.conf"
printf 'access_log %s\n' "$work/access.log" > "$work/rpdl.conf"
printf 'access_log %s\naccess_log_format json\n' "$work/access.log" > "$work/rpdj.conf"

# Sum of utime+stime (clock ticks) of a process's children (the workers).
worker_ticks() {
	t=0
	for c in $(cat /proc/"$1"/task/*/children 2>/dev/null); do
		set -- $(cut -d' ' -f14,15 /proc/"$c"/stat 2>/dev/null || echo "0 0")
		t=$((t + $1 + $2))
	done
	echo $t
}

start_rpd() { # binary, extra args
	bin=$1; shift
	"$bin" -f -P http -w "$WORKERS" -l 127.0.0.1:$RPORT -s "$work/rpd.sock" "$@" \
		>"$work/rpd.log" 2>&1 &
	srv=$!
}
start_nginx() { # conf dir
	"$NGINX" -c "$1/nginx.conf" -p "$1" >/dev/null 2>&1 &
	srv=$!
}
wait_port() { # $1 port
	i=0
	until wrk -t1 -c1 -d1s "http://127.0.0.1:$1/" >/dev/null 2>&1; do
		i=$((i + 1)); [ $i -lt 50 ] || { echo "server on :$1 did not start" >&2; exit 1; }
		sleep 0.1
	done
}
stop_srv() { kill "$srv"; wait "$srv" 2>/dev/null || true; srv=""; rm -f "$work/access.log"; }

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

median() { sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }

for c in $cases; do for s in $SERVERS; do : > "$work/$c.$s"; done; done
# Case by case, the servers alternated within each round. The close case
# comes last: each run leaves up to tcp_max_tw_buckets sockets in
# TIME_WAIT, whose expiry 60 s later is softirq work charged to whatever
# runs then - it would skew the CPU figures of the cases after it.
for c in $cases; do
	path=/hello
	[ $c = static ] && path=/4k.html
	r=1
	while [ $r -le "$ROUNDS" ]; do
		for s in $SERVERS; do
			case $s in
			rpd | rpdy | rpdn | rpdl | rpdj)
				y=""
				case $s in
				rpdy) y=--idle-yield ;;
				rpdn | rpdl | rpdj) y="-c $work/$s.conf" ;;
				esac
				if [ $c = static ]; then
					start_rpd "$RPD" --docroot "$work/root" $y
				else
					start_rpd "$RPD" --return "200 hello world" $y
				fi
				port=$RPORT ;;
			base)
				if [ $c = static ]; then
					start_rpd "$BASE" --docroot "$work/root"
				else
					start_rpd "$BASE" --return "200 hello world"
				fi
				port=$RPORT ;;
			ngx | ngxd | ngxl | ngxb)
				start_nginx "$work/$s"; port=$NPORT ;;
			esac
			wait_port $port
			if [ $c = close ]; then
				run "http://127.0.0.1:$port$path" -H "Connection: close" >> "$work/$c.$s"
			else
				run "http://127.0.0.1:$port$path" >> "$work/$c.$s"
			fi
			stop_srv
		done
		r=$((r + 1))
	done
done

# Medians: "req/s p99_us us/req" per case and server.
for c in $cases; do
	for s in $SERVERS; do
		m=""
		for k in 1 2 3; do
			m="$m $(cut -d' ' -f$k "$work/$c.$s" | median)"
		done
		echo "$c $s$m"
	done
done > "$work/medians"
# Each round's us/req: "case server round us/req", for the ratios' range.
for c in $cases; do
	for s in $SERVERS; do
		awk -v c=$c -v s=$s '{ print c, s, NR, $3 }' "$work/$c.$s"
	done
done > "$work/rounds"

printf '%-10s %-5s %10s %10s %10s\n' case server "req/s" "p99 us" "us/req"
awk '{ printf "%-10s %-5s %10.0f %10.0f %10.2f\n", $1, $2, $3, $4, $5 }' "$work/medians"
echo
printf '%-10s %-11s %8s %8s %8s %9s  %s\n' case "A / B" "req/s" "p99" "us/req" "capacity" "us/req, each round"
awk 'FNR == NR { u[$1 " " $2 " " $3] = $4; if ($3 > nr) nr = $3; next }
{ rps[$1 " " $2] = $3; p99[$1 " " $2] = $4; cpu[$1 " " $2] = $5; c[++n] = $1; s[n] = $2 }
END {
	for (i = 1; i <= n; i++) for (j = 1; j <= n; j++) {
		# reuseportd against the others; a log against the same server
		# without it
		cmp = (s[i] ~ /^rpd/ && s[j] ~ /^(ngx|base|rpdn)$/) ||
		      (s[i] ~ /^rpd[lj]$/ && s[j] == "rpd") ||
		      (s[i] ~ /^ngx[lb]$/ && s[j] == "ngx")
		if (c[i] != c[j] || !cmp || i == j) continue
		# a failed run has no figures: print no ratio from them
		if (rps[c[j] " " s[j]] <= 0 || p99[c[j] " " s[j]] <= 0 ||
		    cpu[c[j] " " s[j]] <= 0 || cpu[c[i] " " s[i]] <= 0) continue
		a = c[i] " " s[i]; b = c[j] " " s[j]
		# the servers ran side by side within a round: its ratio
		lo = hi = ""
		for (r = 1; r <= nr; r++) {
			ua = u[a " " r]; ub = u[b " " r]
			if (ua <= 0 || ub <= 0) continue
			q = ua / ub
			if (lo == "" || q < lo) lo = q
			if (hi == "" || q > hi) hi = q
		}
		printf "%-10s %-11s %7.2fx %7.2fx %7.2fx %8.2fx  %s\n", c[i], s[i] "/" s[j],
			rps[a] / rps[b], p99[a] / p99[b], cpu[a] / cpu[b], cpu[b] / cpu[a],
			lo == "" ? "-" : sprintf("%.2f-%.2fx", lo, hi)
	}
}' "$work/rounds" "$work/medians"
echo "($WORKERS workers, wrk -t2 -c$CONNS -d${DURATION}s, median of $ROUNDS rounds, $(nproc) CPUs;"
echo " capacity = requests per second of server CPU, B's us/req over A's)"
