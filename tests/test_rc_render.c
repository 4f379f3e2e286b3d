/* test_rc_render.c - reuseportctl's renderers on canned documents that
 * follow the stats socket protocol (docs: daemon spec), field for field. */
#include "autoconfig.h"

#include <ctype.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "reuseportctl/rc_fmt.h"
#include "reuseportctl/rc_render.h"
#include "reuseportctl/rc_top.h"

/* --- canned documents --- */

#define COUNTERS(acc, act, clo, bin, bout, req) \
	"\"accepted\":" #acc ",\"active\":" #act ",\"closed\":" #clo \
	",\"rejected\":0,\"lost\":0,\"bytes_in\":" #bin \
	",\"bytes_out\":" #bout ",\"requests\":" #req ",\"accept_paused\":0"

#define WORKERS_ARRAY \
	"[{\"id\":0,\"pid\":1235,\"state\":\"running\",\"restarts\":0,\"generation\":1," \
	"\"last_exit\":null," COUNTERS( \
		100, 10, 90, 1536, 1536, \
		0) "}," \
		   "{\"id\":1,\"pid\":1236,\"state\":\"running\",\"restarts\":2,\"generation\":1," \
		   "\"last_exit\":\"signal 9\"," COUNTERS( \
			   50, 5, 45, 512, 512, \
			   0) "}," \
			      "{\"id\":2,\"pid\":0,\"state\":\"exited\",\"restarts\":1,\"generation\":1," \
			      "\"last_exit\":\"status 1\"," COUNTERS(30, 0, 30, \
								     2097152, \
								     2097152, 0) "}]"

#define TOTALS "{" COUNTERS(180, 15, 165, 2099200, 2099200, 0) "}"

static const char *doc_workers = "{\"workers\":" WORKERS_ARRAY
				 ",\"totals\":" TOTALS "}";
static const char *doc_workers_no_totals = "{\"workers\":" WORKERS_ARRAY "}";

static const char *doc_stats =
	"{\"version\":\"0.1.0\",\"pid\":1234,\"uptime_s\":12.5,\"protocol\":\"echo\","
	"\"generation\":1,"
	"\"listen\":[{\"address\":\"127.0.0.1\",\"port\":40123},"
	"{\"address\":\"::1\",\"port\":40123}],"
	"\"workers_configured\":3,\"totals\":" TOTALS
	",\"workers\":" WORKERS_ARRAY ","
	"\"limits\":{\"nofile_soft\":20000,\"nofile_hard\":20000,"
	"\"max_connections_per_worker\":19900,\"somaxconn\":4096,"
	"\"tcp_max_syn_backlog\":512,\"ip_local_port_range\":[32768,60999],"
	"\"tcp_migrate_req\":0,\"backlog\":4096}}";

#define CONN(w, local, remote, age) \
	"{\"worker\":" #w ",\"local\":\"" local "\",\"remote\":\"" remote \
	"\",\"protocol\":\"tcp\",\"state\":\"ESTABLISHED\",\"age_ms\":" #age \
	",\"bytes_in\":5,\"bytes_out\":5}"

static const char *doc_conns =
	"{\"total\":3,\"truncated\":false,\"connections\":[" CONN(
		0, "127.0.0.1:40123", "127.0.0.1:51234",
		1234) "," CONN(1, "127.0.0.1:40123", "127.0.0.1:51236",
			       250) "," CONN(0, "127.0.0.1:40123",
					     "127.0.0.1:51240", 65000) "]}";

static const char *doc_conns_truncated =
	"{\"total\":5000,\"truncated\":true,\"connections\":[" CONN(
		1, "[::1]:40123", "[::1]:60001",
		5) "," CONN(0, "127.0.0.1:40123", "127.0.0.1:51234", 7) "]}";

static const char *doc_limits =
	"{\"limits\":{\"nofile_soft\":20000,\"nofile_hard\":20000,"
	"\"max_connections_per_worker\":19900,\"somaxconn\":4096,"
	"\"tcp_max_syn_backlog\":512,\"ip_local_port_range\":[32768,60999],"
	"\"tcp_migrate_req\":0,\"backlog\":4096},"
	"\"warnings\":[\"somaxconn 4096 caps the backlog\",\"nofile is low\"]}";

static const char *doc_ping = "{\"pong\":true,\"pid\":1234,\"uptime_s\":1.2}";

/* --- helpers --- */

typedef int (*render_fn)(FILE *, const json_t *, char *, size_t);

static json_t *load(const char *text)
{
	json_error_t je;
	json_t *doc = json_loads(text, 0, &je);

	if (!doc)
		fail_msg("canned JSON does not parse: %s at %d:%d", je.text,
			 je.line, je.column);
	return doc;
}

/* Shows rendered text as TAP-safe "# " lines, so a failing assertion has
 * the output it looked at printed above it. */
static void show(const char *text)
{
	const char *p = text;

	while (p && *p) {
		size_t n = strcspn(p, "\n");

		printf("# %.*s\n", (int)n, p);
		p += n + (p[n] == '\n');
	}
	fflush(stdout);
}

/* Runs fn on the document; returns its output (caller frees) and rc. */
static char *render(render_fn fn, const char *json, int *rc)
{
	char *text = NULL, err[256] = "";
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	json_t *doc = load(json);

	assert_non_null(f);
	*rc = fn(f, doc, err, sizeof(err));
	fclose(f);
	json_decref(doc);
	if (*rc < 0)
		assert_true(err[0] != '\0'); /* a failure always says why */
	show(text);
	return text;
}

static char *render_ok(render_fn fn, const char *json)
{
	int rc;
	char *text = render(fn, json, &rc);

	assert_int_equal(rc, 0);
	return text;
}

/* The n-th line (0-based) of text, copied into buf. */
static const char *line_at(const char *text, int n, char *buf, size_t len)
{
	const char *p = text, *e;

	while (n-- > 0) {
		p = strchr(p, '\n');
		assert_non_null(p);
		p++;
	}
	e = strchr(p, '\n');
	assert_non_null(e);
	assert_true((size_t)(e - p) < len);
	memcpy(buf, p, (size_t)(e - p));
	buf[e - p] = '\0';
	return buf;
}

static int count_lines(const char *text)
{
	int n = 0;

	for (; *text; text++)
		n += *text == '\n';
	return n;
}

/* The column titled title ends at the same offset in the header and in
 * row (right-aligned numbers): the character before is not a blank. */
static void assert_right_aligned(const char *header, const char *row,
				 const char *title)
{
	const char *h = strstr(header, title);
	size_t end;

	assert_non_null(h);
	end = (size_t)(h - header) + strlen(title);
	assert_true(strlen(row) >= end);
	assert_true(row[end - 1] != ' ');
	assert_true(row[end] == ' ' || row[end] == '\0');
}

/* --- workers --- */

static void test_workers_table(void **state)
{
	char *t = render_ok(rc_render_workers, doc_workers);
	char header[512], row0[512], row2[512], rule[512], total[512];

	(void)state;
	line_at(t, 0, header, sizeof(header));
	for (size_t i = 0; i < 10; i++) {
		static const char *const cols[] = {
			"ID",        "PID",      "STATE",    "GEN",
			"ACTIVE",    "ACCEPTED", "REQUESTS", "BYTES IN",
			"BYTES OUT", "RESTARTS"
		};

		assert_non_null(strstr(header, cols[i]));
	}
	line_at(t, 1, row0, sizeof(row0));
	assert_non_null(strstr(row0, "1235"));
	assert_non_null(strstr(row0, "running"));
	assert_non_null(strstr(row0, "1.5 KiB"));
	line_at(t, 3, row2, sizeof(row2));
	assert_non_null(strstr(row2, "exited"));
	assert_non_null(strstr(row2, " - ")); /* no pid while exited */
	assert_non_null(strstr(row2, "status 1"));
	assert_non_null(strstr(row2, "2.0 MiB"));
	/* A rule sets off the totals row. */
	line_at(t, 4, rule, sizeof(rule));
	assert_true(strspn(rule, "-") == strlen(rule) && strlen(rule) > 10);
	line_at(t, 5, total, sizeof(total));
	assert_true(strncmp(total + strspn(total, " "), "total", 5) == 0);
	assert_non_null(strstr(total, " 15 "));    /* active */
	assert_non_null(strstr(total, " 180 "));   /* accepted */
	assert_non_null(strstr(total, "2.0 MiB")); /* bytes */
	assert_non_null(strstr(total, "2/3 up"));
	assert_true(total[strlen(total) - 1] == '3'); /* restarts 0+2+1, no blanks */
	for (int i = 1; i <= 5; i++) {
		char row[512];

		if (i == 4)
			continue;
		line_at(t, i, row, sizeof(row));
		assert_right_aligned(header, row, "ACTIVE");
		assert_right_aligned(header, row, "ACCEPTED");
		assert_right_aligned(header, row, "RESTARTS");
	}
	/* mean active 5, max 10; mean accepted 60, max 100. */
	assert_non_null(
		strstr(t,
		       "balance: active max/mean 2.00 (min 0, max 10, mean 5.0)"));
	assert_non_null(
		strstr(t, "accepted max/mean 1.67 (min 30, max 100, mean 60.0)"));
	assert_int_equal(count_lines(t), 7);
	free(t);
}

/* Without "totals" the tool sums the workers itself. */
static void test_workers_totals_summed(void **state)
{
	char *a = render_ok(rc_render_workers, doc_workers);
	char *b = render_ok(rc_render_workers, doc_workers_no_totals);

	(void)state;
	assert_string_equal(a, b);
	free(a);
	free(b);
}

static void test_workers_idle_balance(void **state)
{
	char *t = render_ok(rc_render_workers,
			    "{\"workers\":[{\"id\":0,\"pid\":7,\"state\":\"running\"},"
			    "{\"id\":1,\"pid\":8,\"state\":\"starting\"}]}");

	(void)state;
	assert_non_null(strstr(t, "active max/mean - (none yet)"));
	assert_non_null(strstr(t, "1/2 up"));
	free(t);
}

static void test_workers_malformed(void **state)
{
	int rc;
	char *t = render(rc_render_workers, "{\"pong\":true}", &rc);

	(void)state;
	assert_int_equal(rc, -1);
	free(t);
	t = render(rc_render_workers, "{\"workers\":{}}", &rc);
	assert_int_equal(rc, -1);
	free(t);
}

static void test_balance_of(void **state)
{
	json_t *doc = load(doc_workers);
	struct rc_balance b;

	(void)state;
	rc_balance_of(json_object_get(doc, "workers"), "active", &b);
	assert_int_equal(b.n, 3);
	assert_int_equal(b.min, 0);
	assert_int_equal(b.max, 10);
	assert_true(b.mean > 4.99 && b.mean < 5.01);
	assert_true(b.ratio > 1.99 && b.ratio < 2.01);
	rc_balance_of(NULL, "active", &b);
	assert_int_equal(b.n, 0);
	assert_true(b.ratio == 0);
	json_decref(doc);
}

/* --- stats --- */

static void test_stats_summary(void **state)
{
	char *t = render_ok(rc_render_stats, doc_stats);

	(void)state;
	assert_non_null(strstr(t, "reuseportd 0.1.0, pid 1234, up 12.5s\n"));
	assert_non_null(strstr(t, "protocol    echo\n"));
	assert_non_null(strstr(t, "listen      127.0.0.1:40123, [::1]:40123\n"));
	assert_non_null(strstr(t, "2 running of 3 configured, generation 1"));
	assert_non_null(strstr(t, "accepted 180, active 15, closed 165"));
	assert_non_null(strstr(t, "in 2.0 MiB, out 2.0 MiB"));
	/* ...then the workers table with its totals and balance. */
	assert_non_null(strstr(t, "\n\n   ID"));
	assert_non_null(strstr(t, "BYTES OUT"));
	assert_non_null(strstr(t, "balance: active max/mean 2.00"));
	free(t);
}

/* An HTTP daemon with vhosts: a line of requests per vhost, in the
 * daemon's order; none without them (above). */
static void test_stats_vhosts(void **state)
{
	static const char *doc =
		"{\"version\":\"0.1.0\",\"pid\":1,\"uptime_s\":1,"
		"\"protocol\":\"http\",\"generation\":1,\"listen\":[],"
		"\"workers_configured\":1,\"totals\":{" COUNTERS(
			3, 0, 3, 10, 10,
			17) ",\"vhost_requests\":"
			    "{\"a.example\":12,\"*.b.example\":0,"
			    "\"(other)\":2,\"(default)\":3}},"
			    "\"workers\":[]}";
	char *t = render_ok(rc_render_stats, doc);
	char *plain = render_ok(rc_render_stats, doc_stats);

	(void)state;
	assert_non_null(strstr(t, "\nvhosts      a.example 12, *.b.example 0, "
				  "(other) 2, (default) 3\n"));
	assert_null(strstr(plain, "vhosts"));
	free(t);
	free(plain);
}

/* --- connections --- */

static void test_connections_table(void **state)
{
	char *t = render_ok(rc_render_connections, doc_conns);
	char header[512], row[512];

	(void)state;
	line_at(t, 0, header, sizeof(header));
	/* The netstat column titles, in netstat's order. */
	const char *p = header;
	static const char *const cols[] = { "Proto",           "Local Address",
					    "Foreign Address", "State",
					    "Worker",          "Age" };

	for (size_t i = 0; i < 6; i++) {
		p = strstr(p, cols[i]);
		assert_non_null(p);
	}
	/* Three rows on one local address:port, told apart by the foreign
	 * port, in the daemon's order. */
	line_at(t, 1, row, sizeof(row));
	assert_true(strncmp(row,
			    "tcp    127.0.0.1:40123  127.0.0.1:51234  ESTABLISHED",
			    52) == 0);
	assert_non_null(strstr(row, "1.2s"));
	line_at(t, 2, row, sizeof(row));
	assert_non_null(strstr(row, "127.0.0.1:51236"));
	assert_non_null(strstr(row, "250ms"));
	assert_right_aligned(header, row, "Worker");
	line_at(t, 3, row, sizeof(row));
	assert_non_null(strstr(row, "127.0.0.1:51240"));
	assert_non_null(strstr(row, "1m05s"));
	line_at(t, 4, row, sizeof(row));
	assert_string_equal(row, "3 connections on 1 local address(es)");
	line_at(t, 5, row, sizeof(row));
	assert_string_equal(row, "by worker: 0: 2, 1: 1");
	assert_null(strstr(t, "truncated"));
	free(t);
}

static void test_connections_truncated_ipv6(void **state)
{
	char *t = render_ok(rc_render_connections, doc_conns_truncated);
	char row[512];

	(void)state;
	line_at(t, 1, row, sizeof(row));
	assert_true(strncmp(row, "tcp6   [::1]:40123", 18) == 0);
	line_at(t, 2, row, sizeof(row));
	assert_true(strncmp(row, "tcp    127.0.0.1:40123", 22) == 0);
	assert_non_null(
		strstr(t, "2 connections on 2 local address(es) (truncated"));
	assert_non_null(strstr(t, "the daemon has 5000"));
	free(t);
}

static void test_connections_empty(void **state)
{
	char *t = render_ok(rc_render_connections,
			    "{\"total\":0,\"truncated\":false,\"connections\":[]}");

	(void)state;
	assert_non_null(strstr(t, "Proto"));
	assert_non_null(strstr(t, "0 connections on 0 local address(es)\n"));
	assert_null(strstr(t, "by worker"));
	free(t);
}

/* --- limits and ping --- */

static void test_limits(void **state)
{
	char *t = render_ok(rc_render_limits, doc_limits);
	char row[256];

	(void)state;
	assert_non_null(strstr(t, "LIMIT"));
	line_at(t, 1, row, sizeof(row));
	assert_true(strncmp(row, "nofile_soft", 11) == 0);
	assert_true(strstr(row, "20000") == row + strlen(row) - 5);
	assert_non_null(strstr(t, "32768 60999\n"));
	assert_non_null(strstr(t, "max_connections_per_worker"));
	assert_non_null(strstr(t, "2 warnings:\n  ! somaxconn 4096 caps the backlog\n"
				  "  ! nofile is low\n"));
	free(t);
	t = render_ok(rc_render_limits,
		      "{\"limits\":{\"backlog\":1},\"warnings\":[]}");
	assert_non_null(strstr(t, "no warnings"));
	free(t);
}

static void test_ping(void **state)
{
	int rc;
	char *t = render_ok(rc_render_ping, doc_ping);

	(void)state;
	assert_string_equal(t, "pong from pid 1234 (uptime 1.2s)\n");
	free(t);
	t = render(rc_render_ping, "{\"error\":\"x\"}", &rc);
	assert_int_equal(rc, -1);
	free(t);
}

/* --- formatting --- */

static void test_formats(void **state)
{
	char b[32];

	(void)state;
	rc_fmt_bytes(0, b, sizeof(b));
	assert_string_equal(b, "0 B");
	rc_fmt_bytes(1023, b, sizeof(b));
	assert_string_equal(b, "1023 B");
	rc_fmt_bytes(1536, b, sizeof(b));
	assert_string_equal(b, "1.5 KiB");
	rc_fmt_bytes(1048575, b, sizeof(b));
	assert_string_equal(b, "1.0 MiB");
	rc_fmt_bytes(UINT64_MAX, b, sizeof(b));
	assert_string_equal(b, "16.0 EiB");
	rc_fmt_duration_ms(999, b, sizeof(b));
	assert_string_equal(b, "999ms");
	rc_fmt_duration_ms(59999, b, sizeof(b));
	assert_string_equal(b, "60.0s");
	rc_fmt_duration_ms(3599000, b, sizeof(b));
	assert_string_equal(b, "59m59s");
	rc_fmt_duration_ms(7380000, b, sizeof(b));
	assert_string_equal(b, "2h03m");
	rc_fmt_duration_ms(273600000, b, sizeof(b));
	assert_string_equal(b, "3d04h");
	rc_fmt_endpoint("::1", 80, b, sizeof(b));
	assert_string_equal(b, "[::1]:80");
	rc_fmt_rate(-1, b, sizeof(b));
	assert_string_equal(b, "-");
}

/* --- top --- */

static void test_top_rates(void **state)
{
	json_t *a = load(
		"{\"pid\":5,\"totals\":{\"accepted\":100,\"requests\":10,"
		"\"bytes_in\":1000,\"bytes_out\":2048,\"active\":3},"
		"\"workers\":[{\"id\":0,\"accepted\":60,\"active\":2,\"state\":\"running\"},"
		"{\"id\":1,\"accepted\":40,\"active\":1,\"state\":\"running\"}]}");
	json_t *b = load(
		"{\"pid\":5,\"totals\":{\"accepted\":200,\"requests\":10,"
		"\"bytes_in\":3048,\"bytes_out\":4096,\"active\":8},"
		"\"workers\":[{\"id\":0,\"accepted\":150,\"active\":8,\"state\":\"running\"},"
		"{\"id\":1,\"accepted\":50,\"active\":0,\"state\":\"running\"}]}");
	json_t *c = load("{\"pid\":6,\"totals\":{\"accepted\":1},\"workers\":[]}");
	struct rc_rates r;
	char *text = NULL;
	size_t len = 0;
	FILE *f;

	(void)state;
	rc_top_rates(a, b, 2.0, &r);
	assert_true(r.accepts == 50.0 && r.requests == 0.0);
	assert_true(r.bytes_in == 1024.0 && r.bytes_out == 1024.0);
	assert_true(
		rc_top_worker_rate(a,
				   json_array_get(json_object_get(b, "workers"), 0),
				   2.0, "accepted") == 45.0);
	rc_top_rates(NULL, b, 2.0, &r);
	assert_true(r.accepts < 0);
	rc_top_rates(b, c, 1.0, &r); /* another daemon: no rate */
	assert_true(r.accepts < 0);
	rc_top_rates(b, a, 1.0, &r); /* counters went back */
	assert_true(r.accepts < 0);

	f = open_memstream(&text, &len);
	rc_top_rates(a, b, 2.0, &r);
	rc_top_line(f, b, &r, 0);
	fclose(f);
	assert_non_null(
		strstr(text,
		       "accepts/s 50.0  requests/s 0.0  in 1.0 KiB/s  out 1.0 KiB/s  active 8  workers 2/2\n"));
	assert_int_equal(count_lines(text), 1);
	free(text);

	text = NULL;
	f = open_memstream(&text, &len);
	rc_top_frame(f, a, b, 2.0, 80, 24);
	fclose(f);
	show(text);
	assert_true(strncmp(text, "\033[H", 3) == 0);
	assert_non_null(strstr(text, "accepts/s 50.0"));
	/* The busiest worker's bar fills the rest of the 80 columns. */
	assert_non_null(strstr(text, "45.0  ######"));
	for (const char *p = text; (p = strchr(p, '\n')); p++) {
		const char *q = p;

		while (q > text && q[-1] != '\n')
			q--;
		assert_true(p - q <= 80 + 3); /* + "\033[K" */
	}
	free(text);

	text = NULL;
	f = open_memstream(&text, &len);
	rc_top_json_line(f, a, b, 2.0, 7);
	fclose(f);
	json_t *j = load(text);

	assert_true(json_real_value(json_object_get(j, "accepts_per_s")) == 50.0);
	assert_int_equal(json_array_size(json_object_get(j, "workers")), 2);
	json_decref(j);
	free(text);
	json_decref(a);
	json_decref(b);
	json_decref(c);
}

/* --- upstreams --- */

static const char doc_upstreams[] =
	"{\"upstreams\":[{\"server\":\"127.0.0.1:8001\",\"state\":\"up\","
	"\"down_workers\":0,\"down_reasons\":{\"failures\":0,\"check\":0},"
	"\"active\":850,\"connects\":900,\"requests\":4000,\"reuses\":3100,"
	"\"pool_idle\":31,\"reuse_pct\":77.5,\"errors\":{\"refused\":1,"
	"\"timeout\":2,\"unreachable\":3,\"no_port\":7,\"other\":0,"
	"\"total\":13},\"connect_us\":{\"count\":900,\"p50\":412.0,"
	"\"p99\":2400.5,\"sum\":1},\"response_us\":{\"count\":0,"
	"\"p50\":0,\"p99\":0,\"sum\":0},\"sources\":[{\"source\":"
	"\"127.0.0.2-127.0.0.11\",\"in_use\":850,\"available\":1000,"
	"\"use_pct\":85.0,\"headroom_pct\":15.0,\"high\":true}]},"
	"{\"server\":\"127.0.0.1:8002\",\"state\":\"partial\","
	"\"down_reasons\":{\"failures\":0,\"check\":1},\"sources\":[]}],"
	"\"workers\":2,\"warn_pct\":80}";

/* A row per server: causes in their columns, times in readable units,
 * unknown times as "-", the source flagged above the threshold, the
 * reason a server is down. */
static void test_upstreams_table(void **state)
{
	char *t = render_ok(rc_render_upstreams, doc_upstreams);
	char head[512], row[512];
	int rc;

	(void)state;
	line_at(t, 0, head, sizeof(head));
	line_at(t, 1, row, sizeof(row));
	assert_true(strncmp(row, "127.0.0.1:8001", 14) == 0);
	assert_right_aligned(head, row, "NO_PORT");
	assert_right_aligned(head, row, "CONNECTS");
	assert_right_aligned(head, row, "REQUESTS");
	assert_right_aligned(head, row, "IDLE");
	assert_non_null(strstr(row, " 4000 "));
	assert_non_null(strstr(row, " 31 "));
	assert_non_null(strstr(row, " 77.5% "));
	assert_non_null(strstr(row, " 7 "));
	assert_non_null(strstr(row, "412us"));
	assert_non_null(strstr(row, "2.4ms"));
	assert_non_null(
		strstr(row, "!127.0.0.2-127.0.0.11 15.0% free (850/1000)"));
	line_at(t, 2, row, sizeof(row));
	assert_non_null(strstr(row, "partial (check)"));
	assert_non_null(strstr(row, " - "));
	assert_non_null(strstr(t, "state over 2 running workers"));
	free(t);
	t = render(rc_render_upstreams, "{\"error\":\"x\"}", &rc);
	assert_int_equal(rc, -1);
	free(t);
	t = render_ok(rc_render_upstreams, "{\"upstreams\":[]}");
	assert_non_null(strstr(t, "no upstream servers"));
	free(t);
}

/* `limits` names the pairs above the threshold. */
static void test_limits_ports(void **state)
{
	char *t = render_ok(rc_render_limits,
			    "{\"limits\":{\"backlog\":1},\"warnings\":[],"
			    "\"upstream_ports_high\":true,\"upstream_ports\":[{\"source\":"
			    "\"(kernel)\",\"server\":\"127.0.0.1:8001\",\"in_use\":27000,"
			    "\"available\":28232,\"use_pct\":95.6}]}");

	(void)state;
	assert_non_null(strstr(t, "  ! upstream 127.0.0.1:8001 from (kernel): "
				  "27000 of 28232 local ports in use (95.6%)\n"));
	free(t);
}

/* top shows the proxy's servers from the stats totals above the
 * workers: state over the running workers, errors summed, the least
 * headroom of any source. */
static void test_top_upstreams(void **state)
{
	json_t *b = load(
		"{\"pid\":5,\"protocol\":\"tcp_proxy\",\"totals\":{\"active\":8,"
		"\"upstream_connects\":{\"127.0.0.1:8001\":900,\"127.0.0.1:8002\":0},"
		"\"upstream_active\":{\"127.0.0.1:8001\":850},"
		"\"upstream_down\":{\"127.0.0.1:8002\":2},"
		"\"upstream_errors\":{\"127.0.0.1:8001\":{\"refused\":1,\"no_port\":7}},"
		"\"upstream_connect_us\":{\"127.0.0.1:8001\":{\"count\":9,\"p50\":300,\"p99\":1500}},"
		"\"upstream_ports_available\":{\"127.0.0.2-127.0.0.3\":2000,\"(kernel)\":1000},"
		"\"upstream_ports_in_use\":{\"127.0.0.2-127.0.0.3\":{\"127.0.0.1:8001\":100},"
		"\"(kernel)\":{\"127.0.0.1:8001\":750}}},"
		"\"workers\":[{\"id\":0,\"active\":4,\"state\":\"running\"},"
		"{\"id\":1,\"active\":4,\"state\":\"running\"}]}");
	char lines[4][RC_UPSTREAM_LINE_MAX], *text = NULL;
	size_t len = 0;
	FILE *f;

	(void)state;
	assert_int_equal(rc_upstream_lines(b, 4, 2, lines), 2);
	show(lines[0]);
	show(lines[1]);
	assert_true(strncmp(lines[0], "127.0.0.1:8001", 14) == 0);
	assert_non_null(strstr(lines[0], " up "));
	assert_non_null(strstr(lines[0], " 850 "));
	assert_non_null(strstr(lines[0], " 8 ")); /* errors */
	assert_non_null(strstr(lines[0], "300us"));
	assert_non_null(strstr(lines[0], "1.5ms"));
	assert_non_null(strstr(lines[0], "25.0% (750/1000)"));
	assert_non_null(strstr(lines[1], " down "));
	assert_int_equal(rc_upstream_lines(b, 1, 2, lines), 1);
	f = open_memstream(&text, &len);
	rc_top_frame(f, NULL, b, 1.0, 120, 30);
	fclose(f);
	show(text);
	assert_non_null(strstr(text, "UPSTREAM "));
	assert_true(strstr(text, "UPSTREAM ") <
		    strstr(text, "ACTIVE CONNECTIONS"));
	free(text);
	json_decref(b);
	b = load("{\"pid\":5,\"totals\":{},\"workers\":[]}");
	assert_int_equal(rc_upstream_lines(b, 4, 0, lines), 0);
	json_decref(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_workers_table),
		cmocka_unit_test(test_workers_totals_summed),
		cmocka_unit_test(test_workers_idle_balance),
		cmocka_unit_test(test_workers_malformed),
		cmocka_unit_test(test_balance_of),
		cmocka_unit_test(test_stats_summary),
		cmocka_unit_test(test_stats_vhosts),
		cmocka_unit_test(test_connections_table),
		cmocka_unit_test(test_connections_truncated_ipv6),
		cmocka_unit_test(test_connections_empty),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_ping),
		cmocka_unit_test(test_formats),
		cmocka_unit_test(test_top_rates),
		cmocka_unit_test(test_upstreams_table),
		cmocka_unit_test(test_limits_ports),
		cmocka_unit_test(test_top_upstreams),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
