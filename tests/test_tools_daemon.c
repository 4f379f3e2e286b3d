/* test_tools_daemon.c - reuseportctl and reuseportbench against the real
 * daemon: every command of the one, and runs of the other whose counts
 * must match what the daemon reports; the daemon's own Prometheus output,
 * on the stats socket and on its metrics endpoint; and every counter of
 * STATS_COUNTERS in all four renderings. */
#include "autoconfig.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "stats.h"

static char out[1 << 20];

/* Runs a shell command line, stdout (and stderr) into out; exit status. */
static int run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int run(const char *fmt, ...)
{
	char cmd[1024];
	va_list ap;
	FILE *p;
	size_t n = 0, r;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	p = popen(cmd, "r");
	hr_check(p != NULL, "popen %s", cmd);
	while (n < sizeof(out) - 1 &&
	       (r = fread(out + n, 1, sizeof(out) - 1 - n, p)) > 0)
		n += r;
	out[n] = '\0';
	int st = pclose(p);

	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* Runs reuseportbench ARGS against 127.0.0.1:port; its JSON result. */
static json_t *run_json(const char *bench_args, int port)
{
	json_error_t e;
	json_t *j;

	hr_check_int("exit status", 0,
		     run(RB_BIN " %s 127.0.0.1:%d", bench_args, port));
	j = json_loads(out, 0, &e);
	hr_check(j != NULL, "JSON: %s in: %.300s", e.text, out);
	return j;
}

static json_int_t jget(json_t *j, const char *path)
{
	return hr_jint(j, path);
}

static void test_ctl_commands(void **state)
{
	struct hr_daemon *d = *state;
	const char *args[] = { "-w", "2", NULL };
	int fds[20];
	char err[200];

	hr_check(hr_start(d, args) == 0, "start");
	hr_check(hr_connect_many(2, d->port, 20, 20, 5000, fds, err,
				 sizeof(err)) == 0,
		 "connect: %s", err);
	hr_check(hr_wait_for(d, hr_all_running, NULL, 5000), "running");
	static const char *const cmds[] = { "stats",  "workers", "connections",
					    "limits", "ping",    "prometheus" };
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		hr_check_int(cmds[i], 0,
			     run(RC_BIN " -s %s %s 2>&1", d->sock, cmds[i]));
		hr_check(strlen(out) > 10, "%s printed: %s", cmds[i], out);
	}
	/* The netstat view: our 20 connections on the one local port. */
	char local[64];

	snprintf(local, sizeof(local), "127.0.0.1:%d", d->port);
	run(RC_BIN " -s %s connections 2>&1", d->sock);
	int rows = 0;

	for (char *p = out; (p = strstr(p, local)); p++)
		rows++;
	hr_check_int("rows on the shared local port", 20, rows);
	/* --json is the daemon's document. */
	json_t *j = NULL;

	hr_check_int("--json workers", 0,
		     run(RC_BIN " -s %s --json workers", d->sock));
	j = json_loads(out, 0, NULL);
	hr_check(j && jget(j, "totals/active") == 20,
		 "totals.active 20: %.200s", out);
	json_decref(j);
	hr_check(run(RC_BIN " -s %s prometheus", d->sock) == 0 &&
			 strstr(out, "# TYPE reuseportd_connections_active gauge") &&
			 strstr(out,
				"reuseportd_connections_accepted_total{worker=\"0\""),
		 "prometheus text: %.300s", out);
	hr_close_all(fds, 20);
	/* Daemon absent: one line naming the socket, exit 1. */
	hr_check_int("stopped", 0, hr_stop(d, SIGTERM));
	hr_check_int("daemon absent", 1, run(RC_BIN " -s %s stats 2>&1", d->sock));
	hr_check(strstr(out, d->sock) != NULL, "names the socket: %s", out);
	hr_check_int("usage", 2, run(RC_BIN " -s %s bogus 2>&1", d->sock));
}

static void test_bench_counts_match(void **state)
{
	struct hr_daemon *d = *state;
	const char *args[] = { "-w", "2", NULL };
	json_t *b, *st;

	hr_check(hr_start(d, args) == 0, "start");
	/* hold: a few thousand over 4 source addresses, all established. */
	b = run_json("hold -q -j -c 3000 -d 1 --source 127.0.0.2-127.0.0.5",
		     d->port);
	hr_check_int("hold established", 3000, jget(b, "connect/established"));
	hr_check_int("sources used", 4,
		     json_array_size(hr_jget(b, "ports/per_source")));
	json_decref(b);
	st = hr_query(d, "stats");
	hr_check_int("daemon accepted", 3000, jget(st, "totals/accepted"));
	json_int_t in0 = jget(st, "totals/bytes_in");

	json_decref(st);
	/* echo: what the tool sent is what the daemon read and wrote. */
	b = run_json("echo -q -j -c 10 -n 5000", d->port);
	json_int_t sent = jget(b, "load/bytes_sent");

	hr_check_int("echo errors", 0, jget(b, "load/errors/total"));
	hr_check(sent > 0, "echo sent nothing");
	json_decref(b);
	st = hr_query(d, "stats");
	hr_check_int("daemon bytes_in", in0 + sent, jget(st, "totals/bytes_in"));
	hr_check_int("daemon bytes_out", in0 + sent, jget(st, "totals/bytes_out"));
	json_decref(st);
	hr_check_int("stopped", 0, hr_stop(d, SIGTERM));
}

/* A free TCP port for the metrics endpoint (bound, read, released). */
static int free_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	bind(fd, (struct sockaddr *)&a, sizeof(a));
	getsockname(fd, (struct sockaddr *)&a, &len);
	port = ntohs(a.sin_port);
	close(fd);
	return port;
}

static void test_http_counts_and_metrics(void **state)
{
	struct hr_daemon *d = *state;
	char conf[256], mport[16];
	FILE *f;
	json_t *b, *st;
	int mp = free_port();

	snprintf(conf, sizeof(conf), "%s/m.conf", d->dir);
	f = fopen(conf, "w");
	fprintf(f, "protocol http\nreturn 200 hi\nmetrics_listen 127.0.0.1:%d\n",
		mp);
	fclose(f);
	snprintf(mport, sizeof(mport), "%d", mp);
	const char *args[] = { "-c", conf, NULL };

	hr_check(hr_start(d, args) == 0, "start");
	b = run_json("http -q -j -c 10 -n 3000", d->port);
	json_int_t reqs = jget(b, "load/requests");

	hr_check_int("http 200s", reqs, jget(b, "status/200"));
	json_decref(b);
	st = hr_query(d, "stats");
	hr_check_int("daemon requests", reqs, jget(st, "totals/requests"));
	hr_check_int("daemon 2xx", reqs, jget(st, "totals/responses/2xx"));
	json_decref(st);

	/* GET /metrics over HTTP. */
	int fd = hr_connect_tcp(mp);
	char resp[65536];
	const char req[] = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";

	hr_check(fd >= 0, "connect to metrics port %d", mp);
	hr_check(hr_write_all(fd, req, sizeof(req) - 1, 2000) > 0, "send");
	ssize_t n = hr_read_until_eof(fd, resp, sizeof(resp) - 1, 5000);

	close(fd);
	hr_check(n > 0, "metrics answer");
	resp[n] = '\0';
	char want[96];

	snprintf(want, sizeof(want), "reuseportd_requests_total{worker=\"0\"");
	hr_check(strncmp(resp, "HTTP/1.1 200", 12) == 0 && strstr(resp, want) &&
			 strstr(resp, "# HELP reuseportd_requests_total"),
		 "metrics: %.300s", resp);
	hr_check_int("stopped", 0, hr_stop(d, SIGTERM));
}

/* The counters, from the daemon's own list: a counter added to
 * STATS_COUNTERS is checked here without a change to this file. */
#define COUNTER_ENTRY(name, kind, scope, prom, help) \
	{ #name, kind, scope, prom },
static const struct {
	const char *name;
	enum stats_kind kind;
	enum stats_scope scope;
	const char *prom;
} counters[] = { STATS_COUNTERS(COUNTER_ENTRY) };
#undef COUNTER_ENTRY

/* The body of an HTTP answer read to EOF from the metrics endpoint. */
static char *get_metrics(int port)
{
	static char resp[1 << 18];
	const char req[] = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
	int fd = hr_connect_tcp(port);
	ssize_t n;
	char *body;

	hr_check(fd >= 0, "connect to metrics port %d", port);
	hr_check(hr_write_all(fd, req, sizeof(req) - 1, 2000) > 0, "send");
	n = hr_read_until_eof(fd, resp, sizeof(resp) - 1, 5000);
	close(fd);
	hr_check(n > 0, "metrics answer");
	resp[n] = '\0';
	body = strstr(resp, "\r\n\r\n");
	hr_check(!strncmp(resp, "HTTP/1.1 200", 12) && body, "metrics: %.200s",
		 resp);
	return strdup(body + 4);
}

/* An upstream detail (STATS_UPSTREAM_DETAIL) of worker 0: the value of
 * the one server (and the kernel's source range, the proxy having no
 * proxy_source), and its sample; histograms are shown summed over the
 * workers, without a worker label. 0 if counter i is not one. */
static int check_detail(const char *what, const char *text, json_t *v, size_t i)
{
	enum stats_kind k = counters[i].kind;
	const char *server, *at;
	json_t *x;
	char line[256], labels[160];

	if (k != STATS_UPSTREAM_ERRORS && k != STATS_UPSTREAM_DOWN &&
	    k != STATS_UPSTREAM_HIST && k != STATS_SOURCE_GAUGES &&
	    k != STATS_PAIR_GAUGES)
		return 0;
	x = json_object_get(v, "(kernel)");
	server = json_object_iter_key(
		json_object_iter(k == STATS_PAIR_GAUGES ? x : v));
	hr_check(server || k == STATS_SOURCE_GAUGES, "stats: '%s' is empty",
		 counters[i].name);
	if (k == STATS_UPSTREAM_ERRORS || k == STATS_UPSTREAM_DOWN) {
		const char *cause = k == STATS_UPSTREAM_ERRORS ? "refused" :
								 "failures";

		x = json_object_get(json_object_get(v, server), cause);
		snprintf(labels, sizeof(labels),
			 "worker=\"0\",generation=\"1\",upstream=\"%s\",reason=\"%s\"",
			 server, cause);
	} else if (k == STATS_UPSTREAM_HIST) {
		x = json_object_get(json_object_get(v, server), "count");
		snprintf(labels, sizeof(labels), "upstream=\"%s\"", server);
	} else if (k == STATS_SOURCE_GAUGES) {
		snprintf(labels, sizeof(labels),
			 "worker=\"0\",generation=\"1\",source=\"(kernel)\"");
	} else {
		x = json_object_get(x, server);
		snprintf(labels, sizeof(labels),
			 "worker=\"0\",generation=\"1\",source=\"(kernel)\",upstream=\"%s\"",
			 server);
	}
	snprintf(line, sizeof(line), "# TYPE reuseportd_%s %s\n", counters[i].prom,
		 k == STATS_UPSTREAM_HIST ? "histogram" :
		 stats_kind_is_gauge(k)   ? "gauge" :
					    "counter");
	hr_check(strstr(text, line), "%s: no family '%s'", what, counters[i].prom);
	snprintf(line, sizeof(line), "\nreuseportd_%s%s{%s} ", counters[i].prom,
		 k == STATS_UPSTREAM_HIST ? "_count" : "", labels);
	at = strstr(text, line);
	hr_check(json_is_integer(x) && at, "%s: no sample '%s'", what, line + 1);
	hr_check(stats_kind_is_gauge(k) || strtoll(at + strlen(line), NULL,
						   10) >= json_integer_value(x),
		 "%s: '%s' below the stats before it", what, line + 1);
	return 1;
}

/* Counter i of worker 0 in a Prometheus text: its family, and a sample
 * no smaller than in the stats document taken before the text (counters
 * only grow; loop_turns grows by itself with every question). */
static void check_counter(const char *what, const char *text, json_t *st, size_t i)
{
	json_t *w0 = hr_worker(st, 0), *v = json_object_get(w0, counters[i].name);
	char line[256];

	hr_check(v != NULL, "stats: worker 0 has no '%s'", counters[i].name);
	hr_check(json_object_get(json_object_get(st, "totals"), counters[i].name),
		 "stats: totals have no '%s'", counters[i].name);
	if (check_detail(what, text, v, i))
		return;
	snprintf(line, sizeof(line), "# TYPE reuseportd_%s %s\n", counters[i].prom,
		 stats_kind_is_gauge(counters[i].kind) ? "gauge" : "counter");
	hr_check(strstr(text, line), "%s: no family '%s'", what, counters[i].prom);
	for (int k = 0;
	     k < (counters[i].kind == STATS_CLASSES ? STATS_NCLASSES : 1); k++) {
		char cls[16] = "", label[32] = "";
		const char *at;
		json_t *x = v;

		if (counters[i].kind == STATS_CLASSES) {
			snprintf(cls, sizeof(cls), "%dxx", k + 1);
			snprintf(label, sizeof(label), ",code=\"%s\"", cls);
			x = json_object_get(v, cls);
		} else if (counters[i].kind == STATS_VHOSTS) {
			/* No vhost here: every request is the default's. */
			snprintf(label, sizeof(label), ",vhost=\"(default)\"");
			x = json_object_get(v, "(default)");
		} else if (counters[i].kind == STATS_UPSTREAMS ||
			   counters[i].kind == STATS_UPSTREAM_GAUGES) {
			/* The one server of test_every_proxy_counter. */
			snprintf(label, sizeof(label), ",upstream=\"%s\"",
				 json_object_iter_key(json_object_iter(v)));
			x = json_object_iter_value(json_object_iter(v));
		}
		snprintf(line, sizeof(line),
			 "\nreuseportd_%s{worker=\"0\",generation=\"1\"%s} ",
			 counters[i].prom, label);
		at = strstr(text, line);
		hr_check(json_is_integer(x) && at, "%s: no sample '%s'", what,
			 line + 1);
		/* A gauge (active) may have gone down meanwhile. */
		hr_check(stats_kind_is_gauge(counters[i].kind) ||
				 strtoll(at + strlen(line), NULL, 10) >=
					 json_integer_value(x),
			 "%s: '%s' is %lld, below the %lld in stats before it",
			 what, line + 1, strtoll(at + strlen(line), NULL, 10),
			 (long long)json_integer_value(x));
	}
}

/* One list of counters, four renderings: the stats document, `prometheus`
 * on the stats socket, GET /metrics, and reuseportctl prometheus - each
 * with every counter, none below what the stats document showed first. */
static void check_every_counter(struct hr_daemon *d, const char *service,
				enum stats_scope scope, void (*traffic)(int port))
{
	char conf[256], *sock_text, *http_text, *ctl_text;
	int mp = free_port();
	json_t *st;
	FILE *f;

	snprintf(conf, sizeof(conf), "%s/m.conf", d->dir);
	f = fopen(conf, "w");
	fprintf(f, "%smetrics_listen 127.0.0.1:%d\n", service, mp);
	fclose(f);
	const char *args[] = { "-c", conf, "-w", "1", NULL };

	hr_check(hr_start(d, args) == 0, "start");
	traffic(d->port);
	st = hr_query_ok(d, "stats");
	hr_check(run(RC_BIN " -s %s prometheus", d->sock) == 0,
		 "reuseportctl prometheus");
	ctl_text = strdup(out);
	http_text = get_metrics(mp);
	sock_text = malloc(1 << 18);
	hr_check(hr_ctl_raw(d->sock, "prometheus\n", 11, 1, sock_text, 1 << 18,
			    HR_QUERY_MS) > 0,
		 "prometheus on the stats socket");
	for (size_t i = 0; i < sizeof(counters) / sizeof(counters[0]); i++) {
		if (counters[i].scope != STATS_ANY && counters[i].scope != scope)
			continue;
		check_counter("stats socket", sock_text, st, i);
		check_counter("/metrics", http_text, st, i);
		check_counter("reuseportctl prometheus", ctl_text, st, i);
	}
	json_decref(st);
	free(sock_text);
	free(http_text);
	free(ctl_text);
}

static void http_traffic(int port)
{
	json_decref(run_json("http -q -j -c 4 -n 200", port));
}

static void test_every_counter_everywhere(void **state)
{
	struct hr_daemon *d = *state;

	check_every_counter(d, "protocol http\nreturn 200 hi\n", STATS_HTTP,
			    http_traffic);
	hr_check(hr_total(d, "requests") >= 200, "requests counted: %lld",
		 (long long)hr_total(d, "requests"));
	hr_check_int("stopped", 0, hr_stop(d, SIGTERM));
}

/* A client through the proxy to a server that never accepts (its
 * backlog completes the connect). */
static void proxy_traffic(int port)
{
	int fd = hr_connect_tcp(port);

	hr_check(fd >= 0 && hr_write_all(fd, "x", 1, 2000) == 1, "a client");
	close(fd);
}

static int proxy_connected(json_t *st, void *arg)
{
	(void)arg;
	return hr_jint(st, "totals/proxy_connects") >= 1;
}

/* The same for the TCP proxy's counters, the per-server ones with their
 * server's label. */
static void test_every_proxy_counter(void **state)
{
	struct hr_daemon *d = *state;
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t len = sizeof(a);
	int lfd = socket(AF_INET, SOCK_STREAM, 0);
	char service[128];

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	hr_check(lfd >= 0 && bind(lfd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
			 listen(lfd, 16) == 0 &&
			 getsockname(lfd, (struct sockaddr *)&a, &len) == 0,
		 "a server");
	snprintf(service, sizeof(service),
		 "protocol tcp_proxy\nupstream 127.0.0.1:%d\n",
		 ntohs(a.sin_port));
	check_every_counter(d, service, STATS_PROXY, proxy_traffic);
	hr_check(hr_wait_for(d, proxy_connected, NULL, 10000),
		 "the connect counted");
	/* The server's queue is reset as it closes: so is the client's
	 * half-closed connection, and the drain has nothing to wait for. */
	close(lfd);
	hr_check_int("stopped", 0, hr_stop(d, SIGTERM));
}

/* reuseportbench hold in the background: n connections from the given
 * source range until killed. */
static pid_t hold_start(int port, int n, const char *sources)
{
	char cnt[16], target[32], src[64];
	pid_t pid = fork();

	snprintf(cnt, sizeof(cnt), "%d", n);
	snprintf(target, sizeof(target), "127.0.0.1:%d", port);
	snprintf(src, sizeof(src), "%s", sources);
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR);

		dup2(null, 1);
		dup2(null, 2);
		execl(RB_BIN, RB_BIN, "hold", "-q", "-c", cnt, "-d", "60",
		      "--source", src, target, (char *)NULL);
		_exit(127);
	}
	return pid;
}

static int active_is(json_t *st, void *arg)
{
	return hr_jint(st, "totals/active") == *(json_int_t *)arg;
}

static json_t *ask(struct hr_daemon *d, const char *cmd)
{
	json_t *doc = hr_query(d, cmd);

	hr_check(doc != NULL, "'%s' answered with one document", cmd);
	hr_check(!json_object_get(doc, "error"), "'%s': %s", cmd, hr_jdump(doc));
	return doc;
}

/* Rows of a listing, checked against its totals; per worker in by[]. */
static size_t listing_rows(json_t *doc, json_int_t *by, int nby)
{
	json_t *rows = json_object_get(doc, "connections"), *r;
	size_t i;

	hr_check(json_is_array(rows), "a listing: %s", hr_jdump(doc));
	hr_check(json_is_false(json_object_get(doc, "partial")),
		 "not partial: %s", hr_jdump(doc));
	json_array_foreach(rows, i, r) {
		json_int_t w = hr_jint(r, "worker");

		if (by && w >= 0 && w < nby)
			by[w]++;
	}
	return json_array_size(rows);
}

/* The netstat view at small scale: a listing shows every worker, is
 * complete when asked to be, and the filters and counts are done by the
 * daemon, with exact totals. */
static void test_listing_filters_and_counts(void **state)
{
	struct hr_daemon *d = *state;
	const char *args[] = { "-w", "3", NULL };
	json_int_t want = 3000, by[3] = { 0 }, w1;
	json_t *doc, *g;
	pid_t hold;
	size_t i;

	hr_check(hr_start(d, args) == 0, "start");
	hold = hold_start(d->port, 3000, "127.0.0.2-127.0.0.4");
	hr_check(hr_wait_for(d, active_is, &want, 30000), "3000 held");
	doc = hr_query_ok(d, "stats");
	w1 = hr_jint(hr_worker(doc, 1), "active");
	json_decref(doc);

	/* The default 1000 rows: a share from every worker. */
	doc = ask(d, "connections");
	hr_check_int("default rows", 1000, listing_rows(doc, by, 3));
	hr_check_int("total", 3000, hr_jint(doc, "total"));
	hr_check(json_is_true(json_object_get(doc, "truncated")), "truncated");
	hr_check(by[0] > 0 && by[1] > 0 && by[2] > 0,
		 "rows from every worker, seen %lld %lld %lld",
		 (long long)by[0], (long long)by[1], (long long)by[2]);
	json_decref(doc);
	doc = ask(d, "connections 100000");
	hr_check_int("every row", 3000, listing_rows(doc, NULL, 0));
	hr_check(json_is_false(json_object_get(doc, "truncated")), "complete");
	json_decref(doc);

	/* Filters. */
	doc = ask(d, "connections 100000 worker=1");
	memset(by, 0, sizeof(by));
	hr_check_int("worker=1 rows", w1, listing_rows(doc, by, 3));
	hr_check_int("worker=1: only worker 1", w1, by[1]);
	hr_check_int("worker=1 total", w1, hr_jint(doc, "total"));
	json_decref(doc);
	doc = ask(d, "connections 100000 remote=127.0.0.3");
	hr_check_int("remote=127.0.0.3", 1000, listing_rows(doc, NULL, 0));
	hr_check_int("its total", 1000, hr_jint(doc, "total"));
	json_decref(doc);
	doc = ask(d, "connections remote=127.0.0.0/30 5");
	hr_check_int("remote=127.0.0.0/30 rows", 5, listing_rows(doc, NULL, 0));
	hr_check_int("remote=127.0.0.0/30 total (.2 and .3)", 2000,
		     hr_jint(doc, "total"));
	json_decref(doc);
	doc = ask(d, "connections min_age=10m");
	hr_check_int("min_age=10m", 0, listing_rows(doc, NULL, 0));
	hr_check_int("its total", 0, hr_jint(doc, "total"));
	json_decref(doc);
	doc = ask(d, "connections state=established 10");
	hr_check_int("state=established total", 3000, hr_jint(doc, "total"));
	json_decref(doc);

	/* Counts. */
	doc = ask(d, "connections count-by=remote");
	hr_check_int("groups by remote", 3,
		     json_array_size(json_object_get(doc, "groups")));
	json_array_foreach(json_object_get(doc, "groups"), i, g)
		hr_check_int("connections from one source address", 1000,
			     hr_jint(g, "connections"));
	hr_check_int("count-by total", 3000, hr_jint(doc, "total"));
	json_decref(doc);
	doc = ask(d, "connections count-by=worker");
	json_array_foreach(json_object_get(doc, "groups"), i, g)
		if (hr_jint(g, "worker") == 1)
			hr_check_int("worker 1's count", w1,
				     hr_jint(g, "connections"));
	json_decref(doc);
	doc = hr_query(d, "connections remote=nonsense");
	hr_check(doc && strstr(hr_jstr(doc, "error"), "bad remote value"),
		 "an error: %s", hr_jdump(doc));
	json_decref(doc);

	/* The tool passes the filters and shows the counts. */
	hr_check_int("reuseportctl --remote", 0,
		     run(RC_BIN " -s %s connections --remote 127.0.0.4 -n 5",
			 d->sock));
	hr_check(strstr(out,
			"5 connections on 1 local address(es) (truncated: the daemon has 1000"),
		 "%.400s", out);
	hr_check_int("reuseportctl --count-by", 0,
		     run(RC_BIN " -s %s connections --count-by remote", d->sock));
	hr_check(strstr(out, "127.0.0.2") &&
			 strstr(out, "3000 connections in 3 groups"),
		 "%.400s", out);
	kill(hold, SIGKILL);
	waitpid(hold, NULL, 0);
	hr_check_int("stopped", 0, hr_stop(d, SIGTERM));
}

/* A worker that does not answer its page within stats_timeout: the
 * listing ends without it, marked partial, saying which and why. */
static void test_listing_partial(void **state)
{
	struct hr_daemon *d = *state;
	char conf[200];
	int fds[20];
	char err[256];
	json_t *doc;
	pid_t w1;
	FILE *f;

	snprintf(conf, sizeof(conf), "%s/p.conf", d->dir);
	f = fopen(conf, "w");
	fprintf(f, "stats_timeout 1s\n");
	fclose(f);
	const char *args[] = { "-c", conf, "-w", "2", NULL };

	hr_check(hr_start(d, args) == 0, "start");
	hr_check(hr_connect_many(AF_INET, d->port, 20, 20, 5000, fds, err,
				 sizeof(err)) == 0,
		 "connect: %s", err);
	doc = hr_query_ok(d, "stats");
	w1 = (pid_t)hr_jint(hr_worker(doc, 1), "pid");
	json_decref(doc);
	hr_check_int("SIGSTOP worker 1", 0, kill(w1, SIGSTOP));
	doc = hr_query(d, "connections");
	hr_check(doc && json_is_true(json_object_get(doc, "partial")),
		 "partial: %s", hr_jdump(doc));
	hr_check_int("missing worker", 1, hr_jint(doc, "missing/0/worker"));
	hr_check(strstr(hr_jstr(doc, "missing/0/reason"),
			"did not answer within stats_timeout"),
		 "reason: %s", hr_jdump(doc));
	json_decref(doc);
	hr_check_int("SIGCONT worker 1", 0, kill(w1, SIGCONT));
	hr_close_all(fds, 20);
	hr_check_int("stopped", 0, hr_stop(d, SIGTERM));
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	hr_check(f != NULL, "%s: %s", path, strerror(errno));
	fputs(text, f);
	fclose(f);
}

/* The answer a client of another user gets to `reload` (the socket is
 * open to all here, so the daemon's own check is what refuses it). */
static void reload_as_nobody(struct hr_daemon *d, char *answer, size_t len)
{
	int p[2], status;
	ssize_t n;
	pid_t pid;

	hr_check(pipe(p) == 0, "pipe");
	pid = fork();
	hr_check(pid >= 0, "fork");
	if (pid == 0) {
		char buf[512];
		ssize_t r;

		close(p[0]);
		if (setgid(65534) < 0 || setuid(65534) < 0)
			_exit(2);
		r = hr_ctl_raw(d->sock, "reload\n", 7, 0, buf, sizeof(buf), 5000);
		if (r > 0 && write(p[1], buf, (size_t)r) < 0)
			_exit(3);
		_exit(r > 0 ? 0 : 1);
	}
	close(p[1]);
	n = hr_read_until_eof(p[0], answer, len - 1, 10000);
	close(p[0]);
	hr_check(waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
			 WEXITSTATUS(status) == 0,
		 "the other user's client");
	answer[n > 0 ? n : 0] = '\0';
}

/* `reuseportctl reload` waits for the outcome: the new generation, or
 * the reason (a broken file, or workers that could not start and the
 * rollback) with exit status 1; another user is refused. */
static void test_reload_command(void **state)
{
	struct hr_daemon *d = *state;
	char conf[256], text[512], answer[512];
	const char *args[] = { "-c", conf, NULL };

	snprintf(conf, sizeof(conf), "%s/r.conf", d->dir);
	write_file(conf, "protocol http\nreturn 200 ok\nstats_socket_mode 0666\n");
	hr_start_ok(d, args);
	hr_check_int("reload: exit status", 0,
		     run(RC_BIN " -s %s reload 2>&1", d->sock));
	hr_check(strstr(out, "reloaded: generation 2, 2 workers") != NULL,
		 "said: %s", out);

	write_file(conf, "protocol http\nreturn 200 ok\nworkers two\n");
	hr_check_int("a broken file: exit status", 1,
		     run(RC_BIN " -s %s reload 2>&1", d->sock));
	hr_check(strstr(out, "r.conf:3: workers") &&
			 strstr(out, "still serving with generation 2"),
		 "said: %s", out);

	snprintf(text, sizeof(text),
		 "protocol http\ndocroot %s/gone\nstats_socket_mode 0666\n",
		 d->dir);
	write_file(conf, text);
	hr_check_int("workers that cannot start: exit status", 1,
		     run(RC_BIN " -s %s reload 2>&1", d->sock));
	hr_check(strstr(out, "could not start") &&
			 strstr(out, "back to generation 2"),
		 "said: %s", out);
	hr_check(hr_log_contains(d, "back to generation 2"),
		 "the log says so too");

	write_file(conf, "protocol http\nreturn 200 ok\nstats_socket_mode 0666\n");
	/* The test's directory must let the other user reach the socket. */
	hr_check(chmod(d->dir, 0711) == 0, "chmod %s: %s", d->dir,
		 strerror(errno));
	reload_as_nobody(d, answer, sizeof(answer));
	hr_check(strstr(answer, "reload: not allowed") != NULL, "answered: %s",
		 answer);
	hr_check_int("exit status", 0, hr_stop(d, SIGTERM));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_reload_command, hr_setup,
						hr_teardown),
		cmocka_unit_test_setup_teardown(test_ctl_commands, hr_setup,
						hr_teardown),
		cmocka_unit_test_setup_teardown(test_bench_counts_match,
						hr_setup, hr_teardown),
		cmocka_unit_test_setup_teardown(test_http_counts_and_metrics,
						hr_setup, hr_teardown),
		cmocka_unit_test_setup_teardown(test_every_counter_everywhere,
						hr_setup, hr_teardown),
		cmocka_unit_test_setup_teardown(test_every_proxy_counter,
						hr_setup, hr_teardown),
		cmocka_unit_test_setup_teardown(test_listing_filters_and_counts,
						hr_setup, hr_teardown),
		cmocka_unit_test_setup_teardown(test_listing_partial, hr_setup,
						hr_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
