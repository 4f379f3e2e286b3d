/* rc_main.c - reuseportctl: the command line. It asks reuseportd's stats
 * socket one question per command and shows the answer as a table, as the
 * daemon's JSON (--json), or as Prometheus text.
 *
 * Exit status: 0 done, 1 the daemon could not be asked or answered an
 * error, 2 bad usage. */
#include "autoconfig.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rc_client.h"
#include "rc_fmt.h"
#include "rc_render.h"
#include "rc_top.h"
#include "rc_upgrade.h"

#define RC_PROG "reuseportctl"
/* The installed configuration's stats socket (configure --with-rundir;
 * src/tools.am passes it). */
#ifndef RC_DEFAULT_SOCKET
#error "build with -DRC_DEFAULT_SOCKET=\"/run/reuseportd/reuseportd.sock\""
#endif
#define RC_EXIT_FAIL 1
#define RC_EXIT_USAGE 2
/* What one reply of at most RC_CLIENT_MAX_REPLY (256 MiB) holds at about
 * 170 bytes a row; the daemon streams up to 100M (nc -U, socat). */
#define RC_CONN_LIMIT_MAX 1000000
#define RC_TOP_COUNT_MAX 1000000000L
/* A reload is answered once the new workers run (or could not): give it
 * longer than a question, unless -t says otherwise. */
#define RC_RELOAD_TIMEOUT_MS 60000

struct rc_args {
	const char *path;
	const char *command;
	int json;
	int timeout_ms;
	int timeout_set;  /* -t given */
	long n;           /* connections: LIMIT; top: COUNT; 0 = not given */
	char filter[512]; /* connections: " key=value..." for the daemon */
	double interval;  /* top; 0 = not given */
	int batch;        /* top: line mode on a terminal too */
	int keep_old;     /* upgrade: leave the old master running */
};

typedef int (*rc_render_fn)(FILE *out, const json_t *doc, char *err,
			    size_t errlen);

static void rc_usage(FILE *out)
{
	fprintf(out,
		"Usage: " RC_PROG
		" [-s SOCKET] [--json] [-t SECONDS] COMMAND [OPTIONS]\n"
		"Show what a running reuseportd is doing, from its stats socket.\n"
		"\n"
		"Commands:\n"
		"  stats                    summary and the workers table\n"
		"  workers                  a row per worker, totals and balance\n"
		"  connections [-n LIMIT] [--worker N] [--remote IP[/BITS]]\n"
		"              [--local [IP:]PORT] [--state NAME] [--min-age MS]\n"
		"              [--count-by remote|state|worker]\n"
		"                           open connections, netstat style, or\n"
		"                           how many per client address, state or\n"
		"                           worker (filtered in the daemon)\n"
		"  limits                   the system limits the daemon runs under\n"
		"  upstreams                tcp_proxy: each server's state, errors\n"
		"                           by cause, connect and response times,\n"
		"                           and the headroom of its source ports\n"
		"  ping                     check that the daemon answers\n"
		"  top [-i SECONDS] [-n COUNT] [-b]\n"
		"                           live view (q quits)\n"
		"  prometheus               metrics in the Prometheus text format\n"
		"  reload                   reload the configuration and wait for\n"
		"                           the outcome (exit 1 and the reason if\n"
		"                           the daemon refused it or rolled it back)\n"
		"  upgrade [--keep-old]     start the binary installed at the\n"
		"                           daemon's path on its sockets, wait until\n"
		"                           it serves, then stop the old master\n"
		"                           (its workers drain; --keep-old leaves it\n"
		"                           for a rollback: kill -HUP OLD_PID); exit 1\n"
		"                           and the reason if the upgrade failed\n"
		"\n"
		"Options:\n"
		"  -s, --socket PATH        stats socket (default $REUSEPORTD_SOCKET,\n"
		"                           else the installed daemon's\n"
		"                           " RC_DEFAULT_SOCKET ")\n"
		"  -j, --json               print the daemon's JSON document\n"
		"  -t, --timeout SECONDS    deadline for each exchange (default 5)\n"
		"  -n, --limit, --iterations N\n"
		"                           connections: at most N rows; top: N updates\n"
		"  -i, --interval SECONDS   top: time between updates (default 1)\n"
		"  -b, --batch              top: one line per update even on a terminal\n"
		"  -h, --help, -V, --version\n");
}

static int rc_usage_error(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));

/* One line on stderr, exit status 2. */
static int rc_usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, RC_PROG ": ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (try '" RC_PROG " --help')\n");
	return RC_EXIT_USAGE;
}

static int rc_parse_long(const char *s, long lo, long hi, long *v)
{
	char *end;

	errno = 0;
	*v = strtol(s, &end, 10);
	return (end == s || *end || errno || *v < lo || *v > hi) ? -1 : 0;
}

static int rc_parse_seconds(const char *s, double lo, double hi, double *v)
{
	char *end;

	errno = 0;
	*v = strtod(s, &end);
	return (end == s || *end || errno || !isfinite(*v) || *v < lo || *v > hi) ?
		       -1 :
		       0;
}

/* --- commands --- */

static int rc_fail(const char *err)
{
	fprintf(stderr, RC_PROG ": %s\n", err);
	return RC_EXIT_FAIL;
}

static void rc_print_json(const json_t *doc)
{
	char *text = json_dumps(doc, JSON_INDENT(2));

	if (text)
		printf("%s\n", text);
	free(text);
}

/* Asks one question; NULL (already reported) on any failure, including a
 * daemon-side {"error": ...}, which --json still prints as is. */
static json_t *rc_ask(const struct rc_args *a, const char *cmd)
{
	char err[512];
	json_t *doc = rc_client_request(a->path, cmd, a->timeout_ms, err,
					sizeof(err));

	if (!doc) {
		rc_fail(err);
		return NULL;
	}
	if (json_object_get(doc, "error")) {
		if (a->json)
			rc_print_json(doc);
		fprintf(stderr, RC_PROG ": error from reuseportd: %s\n",
			json_is_string(json_object_get(doc, "error")) ?
				json_string_value(json_object_get(doc, "error")) :
				"?");
		json_decref(doc);
		return NULL;
	}
	return doc;
}

static int rc_show(const struct rc_args *a, const char *cmd, rc_render_fn render)
{
	json_t *doc = rc_ask(a, cmd);
	char err[256];
	int rc = 0;

	if (!doc)
		return RC_EXIT_FAIL;
	if (a->json)
		rc_print_json(doc);
	else if (render(stdout, doc, err, sizeof(err)) < 0)
		rc = rc_fail(err);
	json_decref(doc);
	return rc;
}

static int rc_cmd_stats(const struct rc_args *a)
{
	return rc_show(a, "stats", rc_render_stats);
}

static int rc_cmd_workers(const struct rc_args *a)
{
	return rc_show(a, "workers", rc_render_workers);
}

static int rc_cmd_limits(const struct rc_args *a)
{
	return rc_show(a, "limits", rc_render_limits);
}

static int rc_cmd_upstreams(const struct rc_args *a)
{
	return rc_show(a, "upstreams", rc_render_upstreams);
}

static int rc_cmd_ping(const struct rc_args *a)
{
	return rc_show(a, "ping", rc_render_ping);
}

static int rc_cmd_reload(const struct rc_args *a)
{
	struct rc_args ra = *a;

	if (!a->timeout_set)
		ra.timeout_ms = RC_RELOAD_TIMEOUT_MS;
	return rc_show(&ra, "reload", rc_render_reload);
}

/* The daemon answers once the new master serves; the old one is then
 * told to finish, and waited for, within the same deadline. */
static int rc_cmd_upgrade(const struct rc_args *a)
{
	struct rc_args ra = *a;
	char err[512];
	json_t *doc;
	pid_t old;

	if (!a->timeout_set)
		ra.timeout_ms = RC_RELOAD_TIMEOUT_MS;
	doc = rc_ask(&ra, "upgrade");
	if (!doc)
		return RC_EXIT_FAIL;
	if (a->json)
		rc_print_json(doc);
	else if (rc_render_upgrade(stdout, doc, err, sizeof(err)) < 0) {
		json_decref(doc);
		return rc_fail(err);
	}
	old = (pid_t)rc_json_u64(doc, "old_pid");
	json_decref(doc);
	if (a->keep_old) {
		if (!a->json)
			printf("the old master (pid %ld) keeps its workers: kill -QUIT %ld to finish, kill -HUP %ld to roll back\n",
			       (long)old, (long)old, (long)old);
		return 0;
	}
	fflush(stdout);
	if (rc_upgrade_finish(old, ra.timeout_ms, err, sizeof(err)) < 0)
		return rc_fail(err);
	if (!a->json)
		printf("the old master (pid %ld) has drained and exited\n",
		       (long)old);
	return 0;
}

/* Large listings are read as text and shown row by row (see
 * rc_render_connections_text); --json prints the daemon's text as is. */
static int rc_cmd_connections(const struct rc_args *a)
{
	char cmd[640], err[512];
	struct rc_reply r;
	json_t *doc = NULL;
	int rc = 0, small;

	if (a->n > 0)
		snprintf(cmd, sizeof(cmd), "connections %ld%s", a->n, a->filter);
	else
		snprintf(cmd, sizeof(cmd), "connections%s", a->filter);
	if (rc_client_query(a->path, cmd, a->timeout_ms, &r, err, sizeof(err)) < 0)
		return rc_fail(err);
	/* An error, or counts by group: a small document, parsed whole. */
	small = !strncmp(r.text, "{\"error\"", 8) ||
		strstr(a->filter, "count-by=");
	if (small && !(doc = rc_client_parse(a->path, &r, err, sizeof(err))))
		rc = rc_fail(err);
	else if (a->json)
		fwrite(r.text, 1, r.len, stdout);
	if (rc == 0 && doc && json_object_get(doc, "error")) {
		snprintf(err, sizeof(err), "error from reuseportd: %s",
			 rc_json_str(doc, "error", "?"));
		rc = rc_fail(err);
	} else if (rc == 0 && !a->json) {
		if ((doc ? rc_render_groups(stdout, doc, err, sizeof(err)) :
			   rc_render_connections_text(stdout, r.text, r.len,
						      err, sizeof(err))) < 0)
			rc = rc_fail(err);
	}
	json_decref(doc);
	rc_reply_free(&r);
	return rc;
}

/* The daemon renders its own metrics (one table of counters, in the
 * daemon): the text is printed as it comes. A JSON answer is an error. */
static int rc_cmd_prometheus(const struct rc_args *a)
{
	struct rc_reply r;
	char err[512];
	json_t *doc;

	if (rc_client_query(a->path, "prometheus", a->timeout_ms, &r, err,
			    sizeof(err)) < 0)
		return rc_fail(err);
	if (r.len == 0 || r.text[0] != '{') {
		fwrite(r.text, 1, r.len, stdout);
		rc_reply_free(&r);
		return ferror(stdout) ? rc_fail("cannot write the metrics") : 0;
	}
	doc = rc_client_parse(a->path, &r, err, sizeof(err));
	rc_reply_free(&r);
	if (!doc)
		return rc_fail(err);
	snprintf(err, sizeof(err), "error from reuseportd: %s",
		 json_is_string(json_object_get(doc, "error")) ?
			 json_string_value(json_object_get(doc, "error")) :
			 "not Prometheus text");
	json_decref(doc);
	return rc_fail(err);
}

static int rc_cmd_top(const struct rc_args *a)
{
	struct rc_top_opts o = {
		.path = a->path,
		.timeout_ms = a->timeout_ms,
		.interval = a->interval > 0 ? a->interval : 1.0,
		.count = a->n,
		.json = a->json,
		.force_lines = a->batch,
	};
	char err[512];

	if (rc_top_run(&o, err, sizeof(err)) < 0)
		return rc_fail(err);
	return 0;
}

/* Which command takes which of the command options. */
enum {
	RC_OPT_N = 1,
	RC_OPT_I = 2,
	RC_OPT_B = 4,
	RC_NO_JSON = 8,
	RC_OPT_F = 16,
	RC_OPT_K = 32
};

static const struct {
	const char *name;
	int (*run)(const struct rc_args *a);
	int opts;
} rc_commands[] = {
	{ "stats", rc_cmd_stats, 0 },
	{ "workers", rc_cmd_workers, 0 },
	{ "connections", rc_cmd_connections, RC_OPT_N | RC_OPT_F },
	{ "limits", rc_cmd_limits, 0 },
	{ "upstreams", rc_cmd_upstreams, 0 },
	{ "ping", rc_cmd_ping, 0 },
	{ "top", rc_cmd_top, RC_OPT_N | RC_OPT_I | RC_OPT_B },
	{ "prometheus", rc_cmd_prometheus, RC_NO_JSON },
	{ "reload", rc_cmd_reload, 0 },
	{ "upgrade", rc_cmd_upgrade, RC_OPT_K },
};

#define RC_NCOMMANDS (sizeof(rc_commands) / sizeof(rc_commands[0]))

/* --- arguments --- */

static const struct option rc_long_opts[] = {
	{ "socket", required_argument, NULL, 's' },
	{ "json", no_argument, NULL, 'j' },
	{ "timeout", required_argument, NULL, 't' },
	{ "limit", required_argument, NULL, 'n' },
	{ "iterations", required_argument, NULL, 'n' },
	{ "interval", required_argument, NULL, 'i' },
	{ "batch", no_argument, NULL, 'b' },
	{ "worker", required_argument, NULL, 'W' },
	{ "remote", required_argument, NULL, 'R' },
	{ "local", required_argument, NULL, 'L' },
	{ "state", required_argument, NULL, 'S' },
	{ "min-age", required_argument, NULL, 'A' },
	{ "count-by", required_argument, NULL, 'C' },
	{ "keep-old", no_argument, NULL, 'K' },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 },
};

/* A filter option becomes " key=value" of the daemon's command; the
 * daemon checks the value and says what is wrong with it. */
static int rc_add_filter(struct rc_args *a, int opt, const char *v)
{
	const char *key = opt == 'W' ? "worker" :
			  opt == 'R' ? "remote" :
			  opt == 'L' ? "local" :
			  opt == 'S' ? "state" :
			  opt == 'A' ? "min_age" :
				       "count-by";
	size_t used = strlen(a->filter);
	int n;

	if (!*v || strpbrk(v, " \t\r\n"))
		return -1;
	n = snprintf(a->filter + used, sizeof(a->filter) - used, " %s=%s", key, v);
	return n < 0 || (size_t)n >= sizeof(a->filter) - used ? -1 : 0;
}

/* Options may come before or after the command (getopt permutes). Returns
 * -1 to go on, or an exit status. */
static int rc_parse_args(int argc, char **argv, struct rc_args *a, int *seen)
{
	double secs;
	int c;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":s:jt:n:i:bhV", rc_long_opts,
				NULL)) != -1) {
		switch (c) {
		case 's':
			a->path = optarg;
			break;
		case 'j':
			a->json = 1;
			break;
		case 't':
			if (rc_parse_seconds(optarg, 0.001, 3600, &secs) < 0)
				return rc_usage_error("bad timeout '%s' (seconds, up to 3600)",
						      optarg);
			a->timeout_ms = (int)ceil(secs * 1000);
			a->timeout_set = 1;
			break;
		case 'n':
			if (rc_parse_long(optarg, 1, RC_TOP_COUNT_MAX, &a->n) < 0)
				return rc_usage_error("bad count '%s' (a positive number)",
						      optarg);
			*seen |= RC_OPT_N;
			break;
		case 'i':
			if (rc_parse_seconds(optarg, 0.05, 3600, &a->interval) < 0)
				return rc_usage_error("bad interval '%s' (seconds, 0.05 to 3600)",
						      optarg);
			*seen |= RC_OPT_I;
			break;
		case 'b':
			a->batch = 1;
			*seen |= RC_OPT_B;
			break;
		case 'W':
		case 'R':
		case 'L':
		case 'S':
		case 'A':
		case 'C':
			if (rc_add_filter(a, c, optarg) < 0)
				return rc_usage_error("bad value '%s'", optarg);
			*seen |= RC_OPT_F;
			break;
		case 'K':
			a->keep_old = 1;
			*seen |= RC_OPT_K;
			break;
		case 'h':
			rc_usage(stdout);
			return 0;
		case 'V':
			printf(RC_PROG " %s\n", PACKAGE_VERSION);
			return 0;
		case ':':
			return rc_usage_error("option '%s' needs a value",
					      argv[optind - 1]);
		default:
			return rc_usage_error("unknown option '%s'",
					      argv[optind - 1]);
		}
	}
	if (optind >= argc)
		return rc_usage_error("no command given");
	a->command = argv[optind];
	if (optind + 1 < argc)
		return rc_usage_error("unexpected argument '%s'",
				      argv[optind + 1]);
	return -1;
}

static const char *rc_default_socket(void)
{
	const char *env = getenv("REUSEPORTD_SOCKET");

	return env && *env ? env : RC_DEFAULT_SOCKET;
}

int main(int argc, char **argv)
{
	struct rc_args a = { .timeout_ms = RC_CLIENT_TIMEOUT_MS };
	int seen = 0, rc;
	size_t i;

	rc = rc_parse_args(argc, argv, &a, &seen);
	if (rc >= 0)
		return rc;
	if (!a.path)
		a.path = rc_default_socket();
	for (i = 0; i < RC_NCOMMANDS; i++)
		if (strcmp(a.command, rc_commands[i].name) == 0)
			break;
	if (i == RC_NCOMMANDS)
		return rc_usage_error("unknown command '%s'", a.command);
	if (seen & ~rc_commands[i].opts)
		return rc_usage_error("%s: option not valid for this command",
				      rc_commands[i].name);
	if (a.json && (rc_commands[i].opts & RC_NO_JSON))
		return rc_usage_error("%s: is text already; for JSON use 'stats --json'",
				      rc_commands[i].name);
	if (rc_commands[i].run == rc_cmd_connections && a.n > RC_CONN_LIMIT_MAX)
		return rc_usage_error("connections: LIMIT is at most %d",
				      RC_CONN_LIMIT_MAX);
	rc = rc_commands[i].run(&a);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, RC_PROG ": writing the output: %s\n",
			strerror(errno));
		return RC_EXIT_FAIL;
	}
	return rc;
}
