/* rb_main.c - reuseportbench: command line, limits, and the hand-off to
 * the process fan-out; the only place that decides the exit status
 * (0 success, 1 the run failed, 2 usage). */
#include "autoconfig.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "reuseportbench/rb_fanout.h"
#include "reuseportbench/rb_hold.h"
#include "reuseportbench/rb_load.h"
#include "reuseportbench/rb_opts.h"
#include "reuseportbench/rb_report.h"

#define EXIT_USAGE 2
/* Descriptors a process keeps for itself beyond its connections: stdio,
 * epoll, pipes, and headroom for the C library. */
#define FD_RESERVE 1000u
#define MAX_PER_PROCESS 1000000u

enum {
	OPT_SIZE = 256,
	OPT_PATH,
	OPT_CLOSE,
	OPT_PER_PROCESS,
	OPT_INFLIGHT,
	OPT_CONNECT_TIMEOUT,
	OPT_TIMEOUT,
	OPT_DRAIN,
	OPT_PRINT_PORTS,
	OPT_ECHO_CHECK,
	OPT_ALLOW_FAILURES,
	OPT_ALLOW_REMOTE,
};

static const struct option long_opts[] = {
	{ "connections", required_argument, NULL, 'c' },
	{ "duration", required_argument, NULL, 'd' },
	{ "requests", required_argument, NULL, 'n' },
	{ "source", required_argument, NULL, 's' },
	{ "rate", required_argument, NULL, 'r' },
	{ "processes", required_argument, NULL, 'p' },
	{ "json", no_argument, NULL, 'j' },
	{ "quiet", no_argument, NULL, 'q' },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ "size", required_argument, NULL, OPT_SIZE },
	{ "path", required_argument, NULL, OPT_PATH },
	{ "close", no_argument, NULL, OPT_CLOSE },
	{ "per-process", required_argument, NULL, OPT_PER_PROCESS },
	{ "inflight", required_argument, NULL, OPT_INFLIGHT },
	{ "connect-timeout", required_argument, NULL, OPT_CONNECT_TIMEOUT },
	{ "timeout", required_argument, NULL, OPT_TIMEOUT },
	{ "drain", required_argument, NULL, OPT_DRAIN },
	{ "print-ports", no_argument, NULL, OPT_PRINT_PORTS },
	{ "echo-check", no_argument, NULL, OPT_ECHO_CHECK },
	{ "allow-failures", no_argument, NULL, OPT_ALLOW_FAILURES },
	{ "allow-remote", no_argument, NULL, OPT_ALLOW_REMOTE },
	{ NULL, 0, NULL, 0 },
};

static void usage(FILE *f)
{
	fputs("Usage: reuseportbench hold|echo|http [OPTION]... HOST:PORT\n"
	      "  hold   open CONNECTIONS and keep them open for the duration\n"
	      "  echo   closed- or open-loop echo load; every echoed byte is checked\n"
	      "  http   keep-alive GET load (--close: one connection per request)\n"
	      "\n"
	      "  -c, --connections N      concurrent connections (default 10)\n"
	      "  -d, --duration SECONDS   hold/load time after the ramp (default 10)\n"
	      "  -n, --requests N         echo/http: stop after N requests in total\n"
	      "  -s, --source A-B         spread connections over source IPv4 addresses\n"
	      "                           A..B, round-robin (e.g. 127.0.0.2-127.0.0.40)\n"
	      "  -r, --rate R             echo/http: open loop, R requests/s in total,\n"
	      "                           latency from the intended send time;\n"
	      "                           hold: connects per second during the ramp\n"
	      "      --size BYTES         echo message size (default 64)\n"
	      "      --path PATH          http request path (default /)\n"
	      "      --close              http: a new connection for every request\n"
	      "  -p, --processes N        at least N processes (more when the open-files\n"
	      "                           limit requires; see --per-process)\n"
	      "      --per-process N      at most N connections per process\n"
	      "                           (default: open-files hard limit - 1000)\n"
	      "      --inflight N         connects in progress at once per process (1000)\n"
	      "      --connect-timeout S  give up a connect after S seconds (10)\n"
	      "      --timeout S          give up a request after S seconds (10)\n"
	      "      --drain S            wait S seconds for answers at the end (2)\n"
	      "      --print-ports        print each connection's local address and port\n"
	      "      --echo-check         hold: at the end, send a byte on every connection\n"
	      "                           still open and count those an echo server\n"
	      "                           returns (the connections a reload kept); also\n"
	      "                           at any time while holding on SIGUSR1, with a\n"
	      "                           line on stderr: \"echo-check: N echoed, M failed\"\n"
	      "      --allow-failures     exit 0 even if connects or requests failed\n"
	      "      --allow-remote       allow a target outside 127.0.0.0/8 and ::1\n"
	      "  -j, --json               print one JSON object instead of the report\n"
	      "  -q, --quiet              no progress line on a terminal\n"
	      "  -h, --help, -V, --version\n"
	      "\n"
	      "Exit status: 0 success, 1 failures (see --allow-failures), 2 usage.\n",
	      f);
}

static void __attribute__((format(printf, 1, 2), noreturn))
usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs("reuseportbench: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs(" (try --help)\n", stderr);
	exit(EXIT_USAGE);
}

static uint64_t parse_u64(const char *name, const char *s, uint64_t lo, uint64_t hi)
{
	unsigned long long v;
	char *end;

	errno = 0;
	if (*s < '0' || *s > '9')
		usage_error("%s: '%s' is not a number", name, s);
	v = strtoull(s, &end, 10);
	if (errno || *end || v < lo || v > hi)
		usage_error("%s: '%s' is not in %llu..%llu", name, s,
			    (unsigned long long)lo, (unsigned long long)hi);
	return v;
}

static double parse_double(const char *name, const char *s, double lo,
			   double hi, int lo_open)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || !isfinite(v) || v > hi ||
	    (lo_open ? v <= lo : v < lo))
		usage_error("%s: '%s' is not in %s%g..%g", name, s,
			    lo_open ? "(" : "", lo, hi);
	return v;
}

static void defaults(struct rb_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->connections = 10;
	o->duration_s = 10.0;
	o->size = 64;
	o->path = "/";
	o->processes = 1;
	o->inflight = 1000;
	o->connect_timeout_s = 10.0;
	o->request_timeout_s = 10.0;
	o->drain_timeout_s = 2.0;
}

/* Raises the soft open-files limit to the hard one (an unprivileged
 * process may) and returns the hard limit. */
static uint64_t raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return 1024;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	return rl.rlim_max == RLIM_INFINITY ? MAX_PER_PROCESS + FD_RESERVE :
					      (uint64_t)rl.rlim_max;
}

struct flags {
	int set_size, set_path, set_close, set_requests;
	uint32_t per_process;
	int allow_remote;
};

static void parse_option(int c, struct rb_opts *o, struct flags *fl)
{
	char err[160];

	switch (c) {
	case 'c':
		o->connections = (uint32_t)parse_u64("--connections", optarg, 1,
						     RB_MAX_CONNECTIONS);
		break;
	case 'd':
		o->duration_s = parse_double("--duration", optarg, 0,
					     RB_MAX_DURATION, 0);
		break;
	case 'n':
		o->requests = parse_u64("--requests", optarg, 1,
					UINT64_C(1) << 48);
		fl->set_requests = 1;
		break;
	case 's':
		if (rb_src_parse(optarg, &o->sources, err, sizeof(err)) < 0)
			usage_error("--source: %s", err);
		break;
	case 'r':
		o->rate = parse_double("--rate", optarg, 0, 1e9, 1);
		break;
	case 'p':
		o->processes = (uint32_t)parse_u64("--processes", optarg, 1,
						   RB_MAX_PROCESSES);
		break;
	case 'j':
		o->json = 1;
		break;
	case 'q':
		o->progress = -1;
		break;
	case OPT_SIZE:
		o->size = (uint32_t)parse_u64("--size", optarg, 1, RB_MAX_SIZE);
		fl->set_size = 1;
		break;
	case OPT_PATH:
		o->path = optarg;
		fl->set_path = 1;
		break;
	case OPT_CLOSE:
		o->close_each = 1;
		fl->set_close = 1;
		break;
	case OPT_PER_PROCESS:
		fl->per_process = (uint32_t)parse_u64("--per-process", optarg,
						      1, MAX_PER_PROCESS);
		break;
	case OPT_INFLIGHT:
		o->inflight = (uint32_t)parse_u64("--inflight", optarg, 1, 65536);
		break;
	case OPT_CONNECT_TIMEOUT:
		o->connect_timeout_s = parse_double("--connect-timeout", optarg,
						    0, 3600, 1);
		break;
	case OPT_TIMEOUT:
		o->request_timeout_s = parse_double("--timeout", optarg, 0,
						    3600, 1);
		break;
	case OPT_DRAIN:
		o->drain_timeout_s = parse_double("--drain", optarg, 0, 3600, 0);
		break;
	case OPT_PRINT_PORTS:
		o->print_ports = 1;
		break;
	case OPT_ECHO_CHECK:
		o->echo_check = 1;
		break;
	case OPT_ALLOW_FAILURES:
		o->allow_failures = 1;
		break;
	case OPT_ALLOW_REMOTE:
		fl->allow_remote = 1;
		break;
	case 'h':
		usage(stdout);
		exit(0);
	case 'V':
		printf("reuseportbench (%s) %s\n", PACKAGE_NAME, PACKAGE_VERSION);
		exit(0);
	default:
		fputs("(try --help)\n", stderr);
		exit(EXIT_USAGE);
	}
}

static void check_path(const char *p)
{
	size_t n = strlen(p), i;

	if (p[0] != '/' || n > RB_MAX_PATH)
		usage_error("--path must start with '/' and be at most %u bytes",
			    RB_MAX_PATH);
	for (i = 0; i < n; i++)
		if ((unsigned char)p[i] <= ' ' || p[i] == 0x7f)
			usage_error("--path: no spaces or control characters");
}

static void check_mode_flags(const struct rb_opts *o, const struct flags *fl)
{
	if (o->mode != RB_MODE_HTTP && (fl->set_path || fl->set_close))
		usage_error("--path and --close are for http");
	if (o->mode != RB_MODE_ECHO && fl->set_size)
		usage_error("--size is for echo");
	if (o->mode == RB_MODE_HOLD && fl->set_requests)
		usage_error("--requests is for echo and http");
	if (o->mode != RB_MODE_HOLD && o->duration_s <= 0)
		usage_error("--duration must be above 0 for %s",
			    rb_mode_name(o->mode));
	if (o->mode == RB_MODE_HTTP)
		check_path(o->path);
}

static void plan_processes(struct rb_opts *o, const struct flags *fl)
{
	uint64_t hard = raise_nofile();
	uint64_t room = hard > 2 * FD_RESERVE ? hard - FD_RESERVE : hard / 2;

	if (room > MAX_PER_PROCESS)
		room = MAX_PER_PROCESS;
	if (room < 1)
		room = 1;
	if (fl->per_process > room)
		usage_error("--per-process %u is above what the open-files limit "
			    "allows (%llu of a hard limit of %llu)",
			    fl->per_process, (unsigned long long)room,
			    (unsigned long long)hard);
	o->per_process = fl->per_process ? fl->per_process : (uint32_t)room;
	if (((uint64_t)o->connections + o->per_process - 1) / o->per_process >
	    RB_MAX_PROCESSES)
		usage_error("%u connections at %u per process need more than "
			    "%u processes",
			    o->connections, o->per_process, RB_MAX_PROCESSES);
}

/* A hint, not an error: one destination and one source address can
 * only have as many connections as there are ephemeral ports. */
static void warn_ports(const struct rb_opts *o)
{
	FILE *f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "r");
	unsigned lo, hi;
	uint64_t per_src;

	if (!f)
		return;
	if (fscanf(f, "%u %u", &lo, &hi) == 2 && hi >= lo) {
		per_src = (o->connections +
			   (o->sources.count ? o->sources.count : 1) - 1) /
			  (o->sources.count ? o->sources.count : 1);
		if (per_src > (uint64_t)(hi - lo + 1))
			fprintf(stderr,
				"reuseportbench: warning: %llu connections per "
				"source address but only %u ephemeral ports "
				"(%u-%u); expect EADDRNOTAVAIL - add addresses "
				"with --source\n",
				(unsigned long long)per_src, hi - lo + 1, lo, hi);
	}
	fclose(f);
}

static void parse_args(int argc, char **argv, struct rb_opts *o)
{
	struct flags fl;
	char err[160];
	int c;

	memset(&fl, 0, sizeof(fl));
	defaults(o);
	while ((c = getopt_long(argc, argv, "c:d:n:s:r:p:jqhV", long_opts,
				NULL)) != -1)
		parse_option(c, o, &fl);
	if (argc - optind != 2)
		usage_error("want a mode (hold, echo, http) and HOST:PORT");
	if (!strcmp(argv[optind], "hold"))
		o->mode = RB_MODE_HOLD;
	else if (!strcmp(argv[optind], "echo"))
		o->mode = RB_MODE_ECHO;
	else if (!strcmp(argv[optind], "http"))
		o->mode = RB_MODE_HTTP;
	else
		usage_error("unknown mode '%s' (hold, echo or http)",
			    argv[optind]);
	if (rb_addr_parse_target(argv[optind + 1], &o->target, err, sizeof(err)) <
	    0)
		usage_error("%s", err);
	if (!fl.allow_remote && !rb_addr_is_loopback(&o->target))
		usage_error("%s is not a loopback address; --allow-remote loads "
			    "another machine (only one you are responsible for)",
			    o->target.text);
	if (o->sources.count && o->target.family != AF_INET)
		usage_error("--source takes IPv4 addresses: the target must be "
			    "IPv4 too");
	check_mode_flags(o, &fl);
	plan_processes(o, &fl);
	o->progress = o->progress == 0 && isatty(STDERR_FILENO);
}

int main(int argc, char **argv)
{
	struct rb_result *total;
	struct rb_opts o;
	struct rb_run run;
	json_t *j;
	int failed;

	parse_args(argc, argv, &o);
	signal(SIGPIPE, SIG_IGN); /* a child that died must not kill us */
	warn_ports(&o);
	total = malloc(sizeof(*total));
	if (!total) {
		fprintf(stderr, "reuseportbench: out of memory\n");
		return 1;
	}
	rb_result_init(total);
	if (rb_fanout_run(&o,
			  o.mode == RB_MODE_HOLD ? rb_hold_child : rb_load_child,
			  total, &run) < 0) {
		fprintf(stderr, "reuseportbench: cannot start %u processes: %s\n",
			rb_fanout_plan(&o), strerror(errno));
		free(total);
		return 1;
	}
	failed = rb_report_failed(&o, total, &run);
	if (o.json) {
		j = rb_report_json(&o, total, &run);
		if (!j || json_dumpf(j, stdout,
				     JSON_INDENT(2) | JSON_PRESERVE_ORDER |
					     JSON_REAL_PRECISION(9)) < 0) {
			fprintf(stderr, "reuseportbench: cannot write JSON\n");
			failed = 1;
		}
		putchar('\n');
		json_decref(j);
	} else {
		rb_report_text(stdout, &o, total, &run);
	}
	free(total);
	return failed;
}
