# bench/lib.sh - what the benchmarks share: a server's process tree and
# its CPU time, a wrk run turned into "req/s p99_us us/req", the tables
# of medians and ratios, and the machine's sysctls checked, raised for a
# run and restored. Sourced (POSIX sh) by the bench scripts; they set
# work (the work directory), srv (the server's pid), CONNS, DURATION,
# ROUNDS and WORKERS, and for the sysctls TUNE and saved.

# The server's process and all its descendants, one pid a line.
tree_pids() {
	gen=$1
	while [ -n "$gen" ]; do
		next=""
		for p in $gen; do
			echo "$p"
			next="$next $(cat /proc/"$p"/task/*/children 2>/dev/null || true)"
		done
		gen=$(echo $next)
	done
}

# Sum of utime+stime (clock ticks) of all the server's processes: the
# master and its workers, threads (a process's stat counts them all).
server_ticks() {
	t=0
	for p in $(tree_pids "$1"); do
		set -- $(cut -d' ' -f14,15 /proc/"$p"/stat 2>/dev/null || echo "0 0")
		t=$((t + $1 + $2))
	done
	echo $t
}

# Stops the server $srv and waits until every process of it has gone
# (some finish their connections first), so that none of it runs during
# the next server's run.
stop_srv() {
	pids=$(tree_pids "$srv")
	kill "$srv"; wait "$srv" 2>/dev/null || true
	i=0
	for p in $pids; do
		while [ -e /proc/"$p" ] && [ "$(cut -d' ' -f3 /proc/"$p"/stat 2>/dev/null)" != Z ]; do
			i=$((i + 1))
			if [ $i -ge 100 ]; then kill -9 "$p" 2>/dev/null || true; break; fi
			sleep 0.1
		done
	done
	srv=""
}

# Where the load runs: LOAD_PIN, a command prefix (taskset -c CPUS) or
# empty; WRK_THREADS, wrk's threads.
LOAD_PIN=${LOAD_PIN:-} WRK_THREADS=${WRK_THREADS:-2}

# wrk_run NAME URL [wrk args...] -> prints "rps p99_us cpu_us_per_req",
# the CPU being that of $srv's tree over the run. wrk counting any answer
# but 2xx/3xx ends the script: a server failing fast must not win.
wrk_run() {
	name=$1 url=$2; shift 2
	t0=$(server_ticks "$srv")
	out=$($LOAD_PIN wrk -t"$WRK_THREADS" -c"$CONNS" -d"${DURATION}s" --latency "$@" "$url")
	t1=$(server_ticks "$srv")
	if echo "$out" | grep -q "Non-2xx"; then
		echo "$name: wrk counted answers other than 2xx/3xx to $url:" >&2
		echo "$out" >&2
		exit 1
	fi
	echo "$out" | sed -n "s/^ *Socket errors/$name: socket errors/p" >&2
	rps=$(echo "$out" | awk '/^Requests\/sec/ {print $2}')
	p99=$(echo "$out" | awk '$1 == "99%" {v=$2; u=v; sub(/[0-9.]+/, "", u); sub(/[a-z]+$/, "", v);
		m = (u == "us") ? 1 : (u == "ms") ? 1000 : 1000000; print v * m}')
	reqs=$(echo "$out" | awk '/requests in/ {print $1}')
	hz=$(getconf CLK_TCK)
	cpu=$(awk -v a="$t0" -v b="$t1" -v r="$reqs" -v hz="$hz" 'BEGIN { printf "%.2f", (b - a) * 1e6 / hz / r }')
	echo "$rps $p99 $cpu"
}

median() { sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }

# report "CASES" "SERVERS" CMP: from $work/CASE.SERVER (a "rps p99 us/req"
# line per round), the medians of each, and the ratios A/B of the pairs
# for which the awk expression CMP (over s[i], A's name, and s[j], B's)
# is true, with the range of the rounds' ratios (the servers ran side by
# side within a round).
report() {
	for c in $1; do
		for s in $2; do
			[ -e "$work/$c.$s" ] || continue
			m=""
			for k in 1 2 3; do
				m="$m $(cut -d' ' -f$k "$work/$c.$s" | median)"
			done
			m="$m $(cut -d' ' -f3 "$work/$c.$s" | sort -g | sed -n '1p;$p' | tr '\n' ' ')"
			echo "$c $s$m"
		done
	done > "$work/medians"
	for c in $1; do
		for s in $2; do
			[ -e "$work/$c.$s" ] || continue
			awk -v c=$c -v s=$s '{ print c, s, NR, $3 }' "$work/$c.$s"
		done
	done > "$work/rounds"

	printf '%-10s %-5s %10s %10s %10s  %s\n' case server "req/s" "p99 us" "us/req" "us/req, lowest-highest round"
	awk '{ printf "%-10s %-5s %10.0f %10.0f %10.2f  %.2f-%.2f\n", $1, $2, $3, $4, $5, $6, $7 }' "$work/medians"
	echo
	printf '%-10s %-11s %8s %8s %8s %9s  %s\n' case "A / B" "req/s" "p99" "us/req" "capacity" "us/req, each round"
	awk 'FNR == NR { u[$1 " " $2 " " $3] = $4; if ($3 > nr) nr = $3; next }
	{ rps[$1 " " $2] = $3; p99[$1 " " $2] = $4; cpu[$1 " " $2] = $5; c[++n] = $1; s[n] = $2 }
	END {
		for (i = 1; i <= n; i++) for (j = 1; j <= n; j++) {
			cmp = ('"$3"')
			if (c[i] != c[j] || !cmp || i == j) continue
			# a failed run has no figures: print no ratio from them
			if (rps[c[j] " " s[j]] <= 0 || p99[c[j] " " s[j]] <= 0 ||
			    cpu[c[j] " " s[j]] <= 0 || cpu[c[i] " " s[i]] <= 0) continue
			a = c[i] " " s[i]; b = c[j] " " s[j]
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
}

# --- the machine: messages, times, sysctls ---

say() { printf '%s\n' "$*"; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

# Puts back what need_sysctl raised ($saved: "name value" lines).
restore_sysctls() {
	[ -n "$saved" ] || return 0
	printf '%s\n' "$saved" | while read -r k v; do
		[ -n "$k" ] && sysctl -q -w "$k=$v" >/dev/null
	done
	saved=""
}

# need_sysctl NAME MIN stop|warn [WHY]: with TUNE=1 (-t) a sysctl below
# MIN is raised for the run (restore_sysctls puts it back); else the run
# stops, or a note says so (and WHY, what it costs).
need_sysctl() {
	have=$(sysctl -n "$1" | awk '{print $1}')
	[ "$have" -ge "$2" ] && return 0
	if [ "$TUNE" = 1 ]; then
		saved="$saved
$1 $(sysctl -n "$1")"
		sysctl -q -w "$1=$2"
		say "sysctl $1: $have -> $2 (restored at the end)"
	elif [ "$3" = stop ]; then
		say "sysctl $1 is $have; this run needs $2 (-t sets it for the run)" >&2
		exit 1
	else
		say "note: sysctl $1 is $have ($2 recommended, -t sets it)${4:+: $4}"
	fi
}
