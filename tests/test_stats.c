/* test_stats.c - the counters and the documents of the stats socket.
 *
 * The field names checked here are the stats socket protocol (README,
 * "The stats socket"): tools and users parse these documents, so a
 * renamed field is a broken interface. The counters are checked from
 * stats_fields[], so that one added to STATS_COUNTERS is checked in every
 * rendering without touching this file. */
#include "autoconfig.h"

#include <arpa/inet.h>
#include <netinet/tcp.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "addr.h"
#include "config.h"
#include "hist.h"
#include "stats_doc.h"
#include "syslimits.h"

#define N_ELEM(a) (sizeof(a) / sizeof((a)[0]))

/* --- the spec's field names and their JSON types --- */

enum jt { J_INT, J_NUM, J_STR, J_STR_OR_NULL, J_BOOL, J_ARR, J_OBJ };

struct field {
	const char *name;
	enum jt type;
};

static const struct field top_fields[] = {
	{ "version", J_STR },
	{ "pid", J_INT },
	{ "uptime_s", J_NUM },
	{ "protocol", J_STR },
	{ "generation", J_INT },
	{ "listen", J_ARR },
	{ "workers_configured", J_INT },
	{ "totals", J_OBJ },
	{ "workers", J_ARR },
	{ "limits", J_OBJ },
};

static const struct field counter_fields[] = {
	{ "accepted", J_INT },      { "active", J_INT },
	{ "closed", J_INT },        { "rejected", J_INT },
	{ "lost", J_INT },          { "bytes_in", J_INT },
	{ "bytes_out", J_INT },     { "requests", J_INT },
	{ "accept_paused", J_INT },
};

static const struct field worker_fields[] = {
	{ "id", J_INT },         { "pid", J_INT },
	{ "state", J_STR },      { "restarts", J_INT },
	{ "generation", J_INT }, { "last_exit", J_STR_OR_NULL },
};

static const struct field limits_fields[] = {
	{ "nofile_soft", J_INT },
	{ "nofile_hard", J_INT },
	{ "max_connections_per_worker", J_INT },
	{ "somaxconn", J_INT },
	{ "tcp_max_syn_backlog", J_INT },
	{ "ip_local_port_range", J_ARR },
	{ "tcp_migrate_req", J_INT },
	{ "backlog", J_INT },
};

static const struct field conns_fields[] = {
	{ "total", J_INT },
	{ "truncated", J_BOOL },
	{ "connections", J_ARR },
	{ "partial", J_BOOL },
};

static const struct field conn_fields[] = {
	{ "worker", J_INT },   { "local", J_STR },     { "remote", J_STR },
	{ "protocol", J_STR }, { "state", J_STR },     { "age_ms", J_INT },
	{ "bytes_in", J_INT }, { "bytes_out", J_INT },
};

static const struct field ping_fields[] = {
	{ "pong", J_BOOL },
	{ "pid", J_INT },
	{ "uptime_s", J_NUM },
};

static int type_ok(const json_t *v, enum jt t)
{
	switch (t) {
	case J_INT:
		return json_is_integer(v);
	case J_NUM:
		return json_is_number(v);
	case J_STR:
		return json_is_string(v);
	case J_STR_OR_NULL:
		return json_is_string(v) || json_is_null(v);
	case J_BOOL:
		return json_is_boolean(v);
	case J_ARR:
		return json_is_array(v);
	case J_OBJ:
		return json_is_object(v);
	}
	return 0;
}

/* Every field of the spec is there with its type. */
static void has_fields(const json_t *o, const struct field *f, size_t n,
		       const char *what)
{
	if (!json_is_object(o))
		fail_msg("%s: not an object", what);
	for (size_t i = 0; i < n; i++) {
		const json_t *v = json_object_get(o, f[i].name);

		if (!v)
			fail_msg("%s: no field '%s'", what, f[i].name);
		if (!type_ok(v, f[i].type))
			fail_msg("%s: field '%s' has the wrong type", what,
				 f[i].name);
	}
}

/* ... and nothing else. */
static void only_fields(const json_t *o, const struct field *f, size_t n,
			const char *what)
{
	const char *key;
	json_t *v;

	has_fields(o, f, n, what);
	json_object_foreach((json_t *)o, key, v) {
		size_t i;

		for (i = 0; i < n && strcmp(key, f[i].name); i++)
			;
		if (i == n)
			fail_msg("%s: field '%s' is not in the spec", what, key);
	}
}

static json_int_t geti(const json_t *o, const char *k)
{
	const json_t *v = json_object_get(o, k);

	if (!json_is_integer(v))
		fail_msg("'%s' is not an integer", k);
	return json_integer_value(v);
}

/* A document's text (taken) parsed; fails the test if it is not JSON. */
static json_t *load(char *text)
{
	json_error_t e;
	json_t *doc;

	assert_non_null(text);
	doc = json_loads(text, 0, &e);
	if (!doc)
		fail_msg("not JSON (%s): %.200s", e.text, text);
	free(text);
	return doc;
}

/* --- fixtures --- */

static struct limits lim;
static struct addr listen_addrs[2];
static struct stats_daemon_view dv;
static struct stats_vhost_names vnames;
/* Every per-upstream value named: 127.0.0.1:10000 + k. */
static struct cfg_upstream upnames[STATS_NUPSTREAMS];
/* Every source range named: fd00::1 + k, one address each (IPv6, so that
 * the IPv4 servers need the kernel's row too). */
static struct cfg_source srcnames[STATS_NSOURCES - 1];
static struct stats_worker_view wv[3];

static void fill_counters(struct stats_counters *c, uint64_t base)
{
	c->accepted = base + 100;
	c->active = base + 3;
	c->closed = base + 97;
	c->rejected = base + 2;
	c->lost = base + 1;
	c->bytes_in = (1ULL << 40) + base;
	c->bytes_out = base + 5000;
	c->requests = base + 7;
	c->accept_paused = base + 4;
	c->forced_closes = base + 6;
	for (int i = 0; i < 5; i++)
		c->responses[i] = base + (uint64_t)i;
	c->timeouts_header = base + 8;
	c->timeouts_keepalive = base + 9;
	c->timeouts_send = base + 10;
}

static int setup(void **state)
{
	char err[128];

	(void)state;
	memset(&lim, 0, sizeof(lim));
	lim.nofile_soft = 20000;
	lim.nofile_hard = 20000;
	lim.max_connections_per_worker = 19968;
	lim.somaxconn = 4096;
	lim.tcp_max_syn_backlog = 512;
	lim.port_lo = 32768;
	lim.port_hi = 60999;
	lim.tcp_migrate_req = 0;
	lim.backlog = 4096;
	lim.nwarnings = 2;
	snprintf(lim.warnings[0], sizeof(lim.warnings[0]), "first warning");
	snprintf(lim.warnings[1], sizeof(lim.warnings[1]), "second \"quoted\"");

	if (addr_parse("127.0.0.1:40123", &listen_addrs[0], err, sizeof(err)) ||
	    addr_parse("[::1]:40123", &listen_addrs[1], err, sizeof(err)))
		return -1;
	memset(&dv, 0, sizeof(dv));
	dv.pid = 1234;
	dv.uptime_s = 12.5;
	dv.protocol = "echo";
	dv.generation = 2;
	dv.workers_configured = 3;
	dv.listen = listen_addrs;
	dv.nlisten = 2;
	dv.limits = &lim;
	/* Every vhost counter named, so that each is rendered. */
	memset(&vnames, 0, sizeof(vnames));
	for (unsigned k = 0; k < STATS_NVHOSTS; k++) {
		snprintf(err, sizeof(err), "v%u.example", k);
		stats_vhost_slot(&vnames, err);
	}
	dv.vhosts = &vnames;
	for (unsigned k = 0; k < STATS_NUPSTREAMS; k++) {
		snprintf(err, sizeof(err), "127.0.0.1:%u", 10000 + k);
		assert_int_equal(addr_parse(err, &upnames[k].addr, NULL, 0), 0);
	}
	dv.upstreams = upnames;
	dv.nupstreams = STATS_NUPSTREAMS;
	for (unsigned k = 0; k < STATS_NSOURCES - 1; k++) {
		snprintf(err, sizeof(err), "fd00::%x", k + 1);
		memset(&srcnames[k], 0, sizeof(srcnames[k]));
		srcnames[k].first.in6.sin6_family = AF_INET6;
		assert_int_equal(inet_pton(AF_INET6, err,
					   &srcnames[k].first.in6.sin6_addr),
				 1);
		srcnames[k].count = 1;
	}
	dv.sources = srcnames;
	dv.nsources = STATS_NSOURCES - 1;

	memset(wv, 0, sizeof(wv));
	for (int i = 0; i < 3; i++) {
		wv[i].id = i;
		wv[i].pid = 1235 + i;
		wv[i].state = STATS_WORKER_RUNNING;
		wv[i].generation = 2;
		fill_counters(&wv[i].c, (uint64_t)i * 1000);
	}
	wv[1].state = STATS_WORKER_STARTING;
	wv[1].restarts = 4;
	wv[1].last_exit = "signal 9";
	wv[2].state = STATS_WORKER_EXITED;
	wv[2].pid = 0;
	wv[2].last_exit = "status 1";
	return 0;
}

/* --- the stats document --- */

static void check_worker_sum(const json_t *doc)
{
	const json_t *totals = json_object_get(doc, "totals");
	const json_t *workers = json_object_get(doc, "workers");
	const char *key;
	json_t *v;

	/* every number in totals is the sum over the workers */
	json_object_foreach((json_t *)totals, key, v) {
		json_int_t sum = 0;
		size_t i;
		json_t *w;

		if (!json_is_integer(v))
			continue;
		json_array_foreach(workers, i, w)
			sum += geti(w, key);
		if (json_integer_value(v) != sum)
			fail_msg("totals.%s = %lld, the workers sum to %lld",
				 key, (long long)json_integer_value(v),
				 (long long)sum);
	}
}

static void test_stats_document(void **state)
{
	json_t *doc = load(stats_json_stats(&dv, wv, 3));
	const json_t *l, *w, *t;
	size_t i;

	(void)state;
	assert_non_null(doc);
	only_fields(doc, top_fields, N_ELEM(top_fields), "stats");
	assert_string_equal(json_string_value(json_object_get(doc, "version")),
			    PACKAGE_VERSION);
	assert_int_equal(geti(doc, "pid"), 1234);
	assert_true(json_number_value(json_object_get(doc, "uptime_s")) == 12.5);
	assert_string_equal(json_string_value(json_object_get(doc, "protocol")),
			    "echo");
	assert_int_equal(geti(doc, "generation"), 2);
	assert_int_equal(geti(doc, "workers_configured"), 3);

	/* listen: the address without brackets, the port apart */
	l = json_object_get(doc, "listen");
	assert_int_equal(json_array_size(l), 2);
	static const struct field listen_fields[] = {
		{ "address", J_STR },
		{ "port", J_INT },
	};
	json_array_foreach(l, i, w)
		only_fields(w, listen_fields, N_ELEM(listen_fields), "listen[]");
	assert_string_equal(json_string_value(json_object_get(json_array_get(l, 0),
							      "address")),
			    "127.0.0.1");
	assert_int_equal(geti(json_array_get(l, 0), "port"), 40123);
	assert_string_equal(json_string_value(json_object_get(json_array_get(l, 1),
							      "address")),
			    "::1");
	assert_int_equal(geti(json_array_get(l, 1), "port"), 40123);

	/* totals and workers */
	t = json_object_get(doc, "totals");
	has_fields(t, counter_fields, N_ELEM(counter_fields), "totals");
	w = json_object_get(doc, "workers");
	assert_int_equal(json_array_size(w), 3);
	for (i = 0; i < 3; i++) {
		const json_t *o = json_array_get(w, i);

		has_fields(o, worker_fields, N_ELEM(worker_fields), "workers[]");
		has_fields(o, counter_fields, N_ELEM(counter_fields), "workers[]");
		assert_int_equal(geti(o, "id"), (json_int_t)i);
		assert_int_equal(geti(o, "pid"), wv[i].pid);
		assert_string_equal(json_string_value(json_object_get(o, "state")),
				    stats_worker_state_name(wv[i].state));
		assert_int_equal(geti(o, "accepted"),
				 (json_int_t)wv[i].c.accepted);
		assert_int_equal(geti(o, "bytes_in"),
				 (json_int_t)wv[i].c.bytes_in);
	}
	assert_true(json_is_null(
		json_object_get(json_array_get(w, 0), "last_exit")));
	assert_string_equal(json_string_value(json_object_get(json_array_get(w, 1),
							      "last_exit")),
			    "signal 9");
	assert_int_equal(geti(json_array_get(w, 1), "restarts"), 4);
	check_worker_sum(doc);
	assert_int_equal(geti(t, "accepted"), 100 + 1100 + 2100);
	assert_int_equal(geti(t, "active"), 3 + 1003 + 2003); /* the gauge too */
	assert_int_equal(geti(t, "bytes_in"),
			 (json_int_t)(3 * (1ULL << 40) + 3000));

	/* echo has no HTTP counters */
	assert_null(json_object_get(t, "responses"));

	only_fields(json_object_get(doc, "limits"), limits_fields,
		    N_ELEM(limits_fields), "limits");
	json_decref(doc);
}

static void test_stats_http(void **state)
{
	json_t *doc, *t, *r;

	(void)state;
	dv.protocol = "http";
	dv.scope = STATS_HTTP;
	doc = load(stats_json_stats(&dv, wv, 3));
	assert_string_equal(json_string_value(json_object_get(doc, "protocol")),
			    "http");
	t = json_object_get(doc, "totals");
	has_fields(t, counter_fields, N_ELEM(counter_fields), "totals");
	assert_int_equal(geti(t, "requests"), 7 + 1007 + 2007);
	r = json_object_get(t, "responses");
	assert_true(json_is_object(r));
	assert_int_equal(geti(r, "2xx"), 1 + 1001 + 2001);
	assert_int_equal(geti(r, "5xx"), 4 + 1004 + 2004);
	check_worker_sum(doc);
	json_decref(doc);
}

static void test_workers_document(void **state)
{
	static const struct field fields[] = {
		{ "workers", J_ARR },
		{ "totals", J_OBJ },
	};
	json_t *doc = load(stats_json_workers(&dv, wv, 3));

	(void)state;
	only_fields(doc, fields, N_ELEM(fields), "workers");
	assert_int_equal(json_array_size(json_object_get(doc, "workers")), 3);
	has_fields(json_array_get(json_object_get(doc, "workers"), 2),
		   worker_fields, N_ELEM(worker_fields), "workers[]");
	check_worker_sum(doc);
	json_decref(doc);

	/* no workers: zero totals, an empty list */
	doc = load(stats_json_workers(&dv, NULL, 0));
	assert_int_equal(json_array_size(json_object_get(doc, "workers")), 0);
	assert_int_equal(geti(json_object_get(doc, "totals"), "accepted"), 0);
	json_decref(doc);
}

/* --- connections --- */

static void set4(union addr_sa *u, const char *ip, int port)
{
	memset(u, 0, sizeof(*u));
	u->in4.sin_family = AF_INET;
	u->in4.sin_port = htons((uint16_t)port);
	assert_int_equal(inet_pton(AF_INET, ip, &u->in4.sin_addr), 1);
}

static void set6(union addr_sa *u, const char *ip, int port)
{
	memset(u, 0, sizeof(*u));
	u->in6.sin6_family = AF_INET6;
	u->in6.sin6_port = htons((uint16_t)port);
	assert_int_equal(inet_pton(AF_INET6, ip, &u->in6.sin6_addr), 1);
}

static void test_connections_document(void **state)
{
	struct stats_conn c[3];
	json_t *doc, *arr, *o;
	size_t i;

	(void)state;
	memset(c, 0, sizeof(c));
	set4(&c[0].local, "127.0.0.1", 40123);
	set4(&c[0].remote, "127.0.0.1", 51234);
	c[0].worker = 0;
	c[0].tcp_state = TCP_ESTABLISHED;
	c[0].age_ms = 1234;
	c[0].bytes_in = 5;
	c[0].bytes_out = 5;
	set6(&c[1].local, "::1", 40123);
	set6(&c[1].remote, "::1", 51235);
	c[1].worker = 1;
	c[1].tcp_state = TCP_CLOSE_WAIT;
	c[1].bytes_in = 1ULL << 40;
	set6(&c[2].local, "2001:db8::1", 443);
	set4(&c[2].remote, "10.0.0.1", 1);
	c[2].worker = 2;
	c[2].tcp_state = -1; /* TCP_INFO failed */

	doc = load(stats_json_connections(c, 3, 10, 1));
	only_fields(doc, conns_fields, N_ELEM(conns_fields), "connections");
	assert_int_equal(geti(doc, "total"), 10);
	assert_true(json_is_true(json_object_get(doc, "truncated")));
	arr = json_object_get(doc, "connections");
	assert_int_equal(json_array_size(arr), 3);
	json_array_foreach(arr, i, o)
		only_fields(o, conn_fields, N_ELEM(conn_fields), "connections[]");

	o = json_array_get(arr, 0);
	assert_int_equal(geti(o, "worker"), 0);
	assert_string_equal(json_string_value(json_object_get(o, "local")),
			    "127.0.0.1:40123");
	assert_string_equal(json_string_value(json_object_get(o, "remote")),
			    "127.0.0.1:51234");
	assert_string_equal(json_string_value(json_object_get(o, "protocol")),
			    "tcp");
	assert_string_equal(json_string_value(json_object_get(o, "state")),
			    "ESTABLISHED");
	assert_int_equal(geti(o, "age_ms"), 1234);
	assert_int_equal(geti(o, "bytes_in"), 5);
	assert_int_equal(geti(o, "bytes_out"), 5);

	o = json_array_get(arr, 1);
	assert_int_equal(geti(o, "worker"), 1);
	assert_string_equal(json_string_value(json_object_get(o, "local")),
			    "[::1]:40123");
	assert_string_equal(json_string_value(json_object_get(o, "remote")),
			    "[::1]:51235");
	assert_string_equal(json_string_value(json_object_get(o, "state")),
			    "CLOSE_WAIT");
	assert_int_equal(geti(o, "bytes_in"), (json_int_t)(1ULL << 40));

	o = json_array_get(arr, 2);
	assert_string_equal(json_string_value(json_object_get(o, "local")),
			    "[2001:db8::1]:443");
	assert_string_equal(json_string_value(json_object_get(o, "remote")),
			    "10.0.0.1:1");
	assert_string_equal(json_string_value(json_object_get(o, "state")),
			    "UNKNOWN");
	json_decref(doc);

	doc = load(stats_json_connections(NULL, 0, 0, 0));
	only_fields(doc, conns_fields, N_ELEM(conns_fields), "connections");
	assert_true(json_is_false(json_object_get(doc, "truncated")));
	assert_int_equal(json_array_size(json_object_get(doc, "connections")), 0);
	json_decref(doc);
}

static void test_tcp_state_names(void **state)
{
	static const struct {
		int state;
		const char *name;
	} cases[] = {
		{ TCP_ESTABLISHED, "ESTABLISHED" },
		{ TCP_SYN_SENT, "SYN_SENT" },
		{ TCP_SYN_RECV, "SYN_RECV" },
		{ TCP_FIN_WAIT1, "FIN_WAIT1" },
		{ TCP_FIN_WAIT2, "FIN_WAIT2" },
		{ TCP_TIME_WAIT, "TIME_WAIT" },
		{ TCP_CLOSE, "CLOSE" },
		{ TCP_CLOSE_WAIT, "CLOSE_WAIT" },
		{ TCP_LAST_ACK, "LAST_ACK" },
		{ TCP_LISTEN, "LISTEN" },
		{ TCP_CLOSING, "CLOSING" },
		{ 0, "UNKNOWN" },
		{ -1, "UNKNOWN" },
		{ 12, "UNKNOWN" },
		{ 1000000, "UNKNOWN" },
	};

	(void)state;
	for (size_t i = 0; i < N_ELEM(cases); i++)
		assert_string_equal(stats_tcp_state_name(cases[i].state),
				    cases[i].name);
}

/* --- small documents --- */

static void test_limits_document(void **state)
{
	static const struct field fields[] = {
		{ "limits", J_OBJ },
		{ "warnings", J_ARR },
		{ "upstream_ports_high", J_BOOL },
		{ "upstream_ports_warn_pct", J_INT },
		{ "upstream_ports", J_ARR },
	};
	json_t *doc = load(stats_json_limits(&lim, NULL, NULL, 0)), *l, *range;

	(void)state;
	only_fields(doc, fields, N_ELEM(fields), "limits doc");
	l = json_object_get(doc, "limits");
	only_fields(l, limits_fields, N_ELEM(limits_fields), "limits");
	assert_int_equal(geti(l, "nofile_soft"), 20000);
	assert_int_equal(geti(l, "max_connections_per_worker"), 19968);
	assert_int_equal(geti(l, "somaxconn"), 4096);
	assert_int_equal(geti(l, "tcp_max_syn_backlog"), 512);
	assert_int_equal(geti(l, "backlog"), 4096);
	range = json_object_get(l, "ip_local_port_range");
	assert_int_equal(json_array_size(range), 2);
	assert_int_equal(json_integer_value(json_array_get(range, 0)), 32768);
	assert_int_equal(json_integer_value(json_array_get(range, 1)), 60999);
	assert_int_equal(json_array_size(json_object_get(doc, "warnings")), 2);
	assert_string_equal(json_string_value(
				    json_array_get(json_object_get(doc, "warnings"),
						   1)),
			    "second \"quoted\"");
	json_decref(doc);
}

static void test_ping_help_error(void **state)
{
	static const char *const spec_cmds[] = {
		"stats",   "workers", "connections [LIMIT]",
		"limits",  "ping",    "reload",
		"upgrade", "help",
	};
	json_t *doc;
	char *text, longmsg[600];

	(void)state;
	/* Reals without float noise: 69.57, not 69.569999999999993. */
	dv.uptime_s = 69.57;
	text = stats_json_ping(&dv);
	assert_non_null(strstr(text, "\"uptime_s\":69.57}"));
	free(text);
	dv.uptime_s = 12.5;
	doc = load(stats_json_ping(&dv));
	only_fields(doc, ping_fields, N_ELEM(ping_fields), "ping");
	assert_true(json_is_true(json_object_get(doc, "pong")));
	assert_int_equal(geti(doc, "pid"), 1234);
	json_decref(doc);

	doc = load(stats_json_help());
	assert_int_equal(json_object_size(doc), 1);
	for (size_t i = 0; i < N_ELEM(spec_cmds); i++) {
		size_t k;
		json_t *v;
		int found = 0;

		json_array_foreach(json_object_get(doc, "commands"), k, v)
			found |= !strncmp(json_string_value(v), spec_cmds[i],
					  strlen(spec_cmds[i]));
		if (!found)
			fail_msg("help does not list '%s'", spec_cmds[i]);
	}
	json_decref(doc);

	/* an upgrade's outcome */
	text = stats_json_upgrade(4243, 4242);
	assert_string_equal(text,
			    "{\"upgrade\":\"done\",\"pid\":4243,\"old_pid\":4242}");
	free(text);

	/* the spec's example, byte for byte */
	text = stats_json_error("unknown command '%s' (try 'help')", "foo");
	assert_string_equal(text,
			    "{\"error\":\"unknown command 'foo' (try 'help')\"}");
	free(text);

	/* a long message is cut, still one valid string */
	memset(longmsg, 'm', sizeof(longmsg) - 1);
	longmsg[sizeof(longmsg) - 1] = '\0';
	doc = load(stats_json_error("%s", longmsg));
	assert_true(json_string_length(json_object_get(doc, "error")) > 100);
	json_decref(doc);
}

/* The Prometheus rendering names each counter once and gives one sample
 * per worker. */
static void test_prometheus(void **state)
{
	char *t;

	(void)state;
	dv.protocol = "echo";
	dv.scope = STATS_ANY;
	t = stats_prom_text(&dv, wv, 3);
	assert_non_null(t);
	assert_non_null(
		strstr(t,
		       "# TYPE reuseportd_connections_accepted_total counter\n"));
	assert_non_null(
		strstr(t,
		       "reuseportd_connections_accepted_total{worker=\"0\",generation=\"2\"} 100\n"));
	assert_non_null(
		strstr(t,
		       "reuseportd_connections_accepted_total{worker=\"2\",generation=\"2\"} 2100\n"));
	assert_non_null(strstr(t, "# TYPE reuseportd_connections_active gauge\n"));
	assert_non_null(
		strstr(t,
		       "reuseportd_received_bytes_total{worker=\"1\",generation=\"2\"} 1099511628776\n"));
	/* a worker that is not running is not up */
	assert_non_null(
		strstr(t,
		       "reuseportd_worker_up{worker=\"2\",generation=\"2\"} 0\n"));
	assert_non_null(
		strstr(t,
		       "reuseportd_worker_up{worker=\"0\",generation=\"2\"} 1\n"));
	/* echo: no HTTP series */
	assert_null(strstr(t, "reuseportd_responses_total"));
	assert_int_equal(t[strlen(t) - 1], '\n');
	free(t);

	dv.protocol = "http";
	dv.scope = STATS_HTTP;
	t = stats_prom_text(&dv, wv, 3);
	assert_non_null(
		strstr(t,
		       "reuseportd_responses_total{worker=\"1\",generation=\"2\",code=\"2xx\"} 1001\n"));
	free(t);
}

/* tcp_proxy's "upstreams": each server's state from the workers' gauges
 * (the running workers count for "down"), and why. */
static void test_upstreams_object(void **state)
{
	static const struct {
		const char *name, *state, *why;
		json_int_t down;
	} want[] = {
		{ "127.0.0.1:10000", "up", "", 0 },
		{ "127.0.0.1:10001", "down", "checks", 2 },
		{ "127.0.0.1:10002", "partly down", "passive", 1 },
		{ "127.0.0.1:10003", "down", "checks, passive", 2 },
	};
	json_t *doc, *u;

	(void)state;
	dv.protocol = "tcp_proxy";
	dv.scope = STATS_PROXY;
	dv.nupstreams = 4;
	memset(wv, 0, sizeof(wv));
	for (int i = 0; i < 3; i++) {
		wv[i].id = i;
		wv[i].state = i < 2 ? STATS_WORKER_RUNNING : STATS_WORKER_EXITED;
	}
	for (int i = 0; i < 2; i++) {
		wv[i].c.upstream_down[1] = 1;
		wv[i].c.upstream_down_by[1][STATS_DOWN_CHECK] = 1;
		wv[i].c.upstream_down[3] = 1;
	}
	wv[0].c.upstream_down[2] = 1;
	wv[0].c.upstream_down_by[2][STATS_DOWN_FAILURES] = 1;
	wv[0].c.upstream_down_by[3][STATS_DOWN_CHECK] = 1;
	wv[1].c.upstream_down_by[3][STATS_DOWN_FAILURES] = 1;
	doc = load(stats_json_stats(&dv, wv, 3));
	u = json_object_get(doc, "upstreams");
	assert_int_equal(json_object_size(u), 4);
	for (size_t k = 0; k < N_ELEM(want); k++) {
		json_t *o = json_object_get(u, want[k].name);

		assert_non_null(o);
		assert_string_equal(json_string_value(json_object_get(o, "state")),
				    want[k].state);
		assert_string_equal(json_string_value(json_object_get(o, "why")),
				    want[k].why);
		assert_int_equal(geti(o, "workers_down"), want[k].down);
	}
	json_decref(doc);
	/* Another service has none. */
	dv.scope = STATS_ANY;
	doc = load(stats_json_stats(&dv, wv, 3));
	assert_null(json_object_get(doc, "upstreams"));
	json_decref(doc);
}

/* --- every counter of STATS_COUNTERS, in every rendering --- */

/* A value no other counter or worker has. */
static uint64_t distinct(int worker, size_t field, unsigned k)
{
	return 1000000u * (uint64_t)(worker + 1) + 100u * field + k;
}

static void fill_distinct(void)
{
	for (int w = 0; w < 3; w++)
		for (size_t i = 0; i < stats_nfields; i++)
			for (unsigned k = 0; k < stats_fields[i].n; k++)
				((uint64_t *)(void *)((char *)&wv[w].c +
						      stats_fields[i].offset))[k] =
					distinct(w, i, k);
}

static int in_scope(const struct stats_field *f, enum stats_scope scope)
{
	return f->scope == STATS_ANY || f->scope == scope;
}

/* The labels value k of an upstream detail field is shown under: a
 * server ("127.0.0.1:10000"...), and a cause or a source range. */
static void detail_labels(const struct stats_field *f, unsigned k, char *a,
			  char *b, size_t len)
{
	unsigned per = f->kind == STATS_UPSTREAM_ERRORS ? STATS_NERR :
		       f->kind == STATS_UPSTREAM_DOWN   ? STATS_NDOWN :
							  STATS_HIST_SLOTS;
	unsigned src = f->kind == STATS_SOURCE_GAUGES ? k : k / STATS_NUPSTREAMS;

	if (f->kind == STATS_SOURCE_GAUGES || f->kind == STATS_PAIR_GAUGES) {
		if (src == STATS_SOURCE_KERNEL)
			snprintf(a, len, "(kernel)");
		else
			snprintf(a, len, "fd00::%x", src + 1);
		snprintf(b, len, "127.0.0.1:%u", 10000 + k % STATS_NUPSTREAMS);
		return;
	}
	snprintf(a, len, "127.0.0.1:%u", 10000 + k / per);
	snprintf(b, len, "%s",
		 f->kind == STATS_UPSTREAM_ERRORS ? stats_err_name(k % per) :
		 f->kind == STATS_UPSTREAM_DOWN   ? stats_down_name(k % per) :
						    "");
}

/* A histogram's JSON: its count is the sum of its buckets' values, its
 * sum the last slot's (w < 0: over the workers). */
static void check_json_hist(const json_t *v, const struct stats_field *f,
			    size_t fi, int w)
{
	for (unsigned s = 0; s < STATS_NUPSTREAMS; s++) {
		uint64_t count = 0, sum = 0;
		char a[64], b[64];
		const json_t *h;

		for (int i = (w < 0 ? 0 : w); i < (w < 0 ? 3 : w + 1); i++) {
			for (unsigned k = 0; k < HIST_NBUCKETS; k++)
				count += distinct(i, fi, s * STATS_HIST_SLOTS + k);
			sum += distinct(i, fi,
					s * STATS_HIST_SLOTS + HIST_NBUCKETS);
		}
		detail_labels(f, s * STATS_HIST_SLOTS, a, b, sizeof(a));
		h = json_object_get(v, a);
		if ((uint64_t)json_integer_value(json_object_get(h, "count")) !=
			    count ||
		    (uint64_t)json_integer_value(json_object_get(h, "sum")) != sum)
			fail_msg("'%s' of %s: wrong count or sum", f->name, a);
	}
}

/* o holds field f (or not, out of scope) with the values of worker w,
 * or their sum over the workers (w < 0). */
static void check_json_field(const json_t *o, const struct stats_field *f,
			     size_t fi, int w, enum stats_scope scope)
{
	const json_t *v = json_object_get(o, f->name);

	if (!in_scope(f, scope)) {
		if (v)
			fail_msg("'%s' shown for a service without it", f->name);
		return;
	}
	if (!v)
		fail_msg("counter '%s' is missing from the JSON", f->name);
	if (f->kind == STATS_UPSTREAM_HIST) {
		check_json_hist(v, f, fi, w);
		return;
	}
	for (unsigned k = 0; k < f->n; k++) {
		uint64_t want = 0;
		char cls[32];
		const json_t *x = v;

		for (int i = (w < 0 ? 0 : w); i < (w < 0 ? 3 : w + 1); i++)
			want += distinct(i, fi, k);
		if (f->kind == STATS_CLASSES) {
			snprintf(cls, sizeof(cls), "%uxx", k + 1);
			x = json_object_get(v, cls);
		} else if (f->kind == STATS_VHOSTS) {
			x = json_object_get(v, stats_vhost_label(&vnames, k));
		} else if (f->n == STATS_NUPSTREAMS) {
			snprintf(cls, sizeof(cls), "127.0.0.1:%u", 10000 + k);
			x = json_object_get(v, cls);
		} else if (f->kind != STATS_COUNTER && f->kind != STATS_GAUGE) {
			char a[64], b[64];

			detail_labels(f, k, a, b, sizeof(a));
			x = json_object_get(v, a);
			if (f->kind != STATS_SOURCE_GAUGES)
				x = json_object_get(x, b);
		}
		if (!json_is_integer(x) || (uint64_t)json_integer_value(x) != want)
			fail_msg("'%s'[%u]: wrong value", f->name, k);
	}
}

static void prom_detail_labels(const struct stats_field *f, unsigned k,
			       char *out, size_t len)
{
	char a[32], b[32];

	detail_labels(f, k, a, b, sizeof(a));
	if (f->kind == STATS_SOURCE_GAUGES)
		snprintf(out, len, ",source=\"%s\"", a);
	else if (f->kind == STATS_PAIR_GAUGES)
		snprintf(out, len, ",source=\"%s\",upstream=\"%s\"", a, b);
	else
		snprintf(out, len, ",upstream=\"%s\",reason=\"%s\"", a, b);
}

/* Histograms are summed over the workers: the count and the sum. */
static void check_prom_hist(const char *t, const struct stats_field *f, size_t fi)
{
	for (unsigned s = 0; s < STATS_NUPSTREAMS; s++) {
		uint64_t count = 0, sum = 0;
		char line[256];

		for (int i = 0; i < 3; i++) {
			for (unsigned k = 0; k < HIST_NBUCKETS; k++)
				count += distinct(i, fi, s * STATS_HIST_SLOTS + k);
			sum += distinct(i, fi,
					s * STATS_HIST_SLOTS + HIST_NBUCKETS);
		}
		snprintf(line, sizeof(line),
			 "reuseportd_%s_count{upstream=\"127.0.0.1:%u\"} %llu\n",
			 f->prom, 10000 + s, (unsigned long long)count);
		if (!strstr(t, line))
			fail_msg("no sample: %s", line);
		snprintf(line, sizeof(line),
			 "reuseportd_%s_sum{upstream=\"127.0.0.1:%u\"} %.6f\n",
			 f->prom, 10000 + s, (double)sum / 1e6);
		if (!strstr(t, line))
			fail_msg("no sample: %s", line);
		snprintf(line, sizeof(line),
			 "reuseportd_%s_bucket{upstream=\"127.0.0.1:%u\",le=\"+Inf\"} %llu\n",
			 f->prom, 10000 + s, (unsigned long long)count);
		if (!strstr(t, line))
			fail_msg("no sample: %s", line);
	}
}

static void check_prom_field(const char *t, const struct stats_field *f,
			     size_t fi, enum stats_scope scope)
{
	char line[256];

	snprintf(line, sizeof(line), "# TYPE reuseportd_%s %s\n", f->prom,
		 f->kind == STATS_UPSTREAM_HIST ? "histogram" :
		 stats_kind_is_gauge(f->kind)   ? "gauge" :
						  "counter");
	if (!in_scope(f, scope)) {
		if (strstr(t, line))
			fail_msg("'%s' in the Prometheus text of a service without it",
				 f->prom);
		return;
	}
	if (!strstr(t, line))
		fail_msg("no family for '%s' in the Prometheus text", f->prom);
	if (f->kind == STATS_UPSTREAM_HIST) {
		check_prom_hist(t, f, fi);
		return;
	}
	for (int w = 0; w < 3; w++)
		for (unsigned k = 0; k < f->n; k++) {
			char code[128] = "";

			if (f->kind == STATS_CLASSES)
				snprintf(code, sizeof(code), ",code=\"%uxx\"",
					 k + 1);
			else if (f->kind == STATS_VHOSTS)
				snprintf(code, sizeof(code), ",vhost=\"%s\"",
					 stats_vhost_label(&vnames, k));
			else if (f->n == STATS_NUPSTREAMS)
				snprintf(code, sizeof(code),
					 ",upstream=\"127.0.0.1:%u\"", 10000 + k);
			else if (f->kind != STATS_COUNTER &&
				 f->kind != STATS_GAUGE)
				prom_detail_labels(f, k, code, sizeof(code));
			snprintf(line, sizeof(line),
				 "reuseportd_%s{worker=\"%d\",generation=\"2\"%s} %llu\n",
				 f->prom, w, code,
				 (unsigned long long)distinct(w, fi, k));
			if (!strstr(t, line))
				fail_msg("no sample: %s", line);
		}
}

static void check_all_renderings(enum stats_scope scope)
{
	json_t *doc, *workers;
	char *prom;

	dv.scope = scope;
	dv.protocol = scope == STATS_HTTP ? "http" : "echo";
	doc = load(stats_json_stats(&dv, wv, 3));
	workers = load(stats_json_workers(&dv, wv, 3));
	prom = stats_prom_text(&dv, wv, 3);
	assert_non_null(prom);
	for (size_t i = 0; i < stats_nfields; i++) {
		const struct stats_field *f = &stats_fields[i];

		check_json_field(json_object_get(doc, "totals"), f, i, -1, scope);
		check_json_field(json_object_get(workers, "totals"), f, i, -1,
				 scope);
		for (int w = 0; w < 3; w++) {
			check_json_field(json_array_get(json_object_get(doc,
									"workers"),
							(size_t)w),
					 f, i, w, scope);
			check_json_field(json_array_get(json_object_get(workers,
									"workers"),
							(size_t)w),
					 f, i, w, scope);
		}
		check_prom_field(prom, f, i, scope);
	}
	free(prom);
	json_decref(workers);
	json_decref(doc);
}

static void test_every_counter_rendered(void **state)
{
	(void)state;
	/* the table covers the struct: every uint64_t belongs to a field */
	size_t values = 0;

	for (size_t i = 0; i < stats_nfields; i++)
		values += stats_fields[i].n;
	assert_int_equal(values * sizeof(uint64_t), sizeof(struct stats_counters));
	fill_distinct();
	check_all_renderings(STATS_HTTP);
	check_all_renderings(STATS_ANY);
	check_all_renderings(STATS_PROXY);
}

/* The merge rules follow the table: gauges are summed across workers
 * (stats_add) but never carried over from a dead process (accumulate). */
static void test_merge_follows_kinds(void **state)
{
	struct stats_counters sum = { 0 }, acc = { 0 };

	(void)state;
	fill_distinct();
	stats_add(&sum, &wv[0].c);
	stats_add(&sum, &wv[1].c);
	stats_accumulate(&acc, &wv[0].c);
	stats_accumulate(&acc, &wv[1].c);
	for (size_t i = 0; i < stats_nfields; i++)
		for (unsigned k = 0; k < stats_fields[i].n; k++) {
			uint64_t both = distinct(0, i, k) + distinct(1, i, k);

			assert_int_equal(stats_value(&sum, &stats_fields[i], k),
					 both);
			assert_int_equal(stats_value(&acc, &stats_fields[i], k),
					 stats_kind_is_gauge(stats_fields[i].kind) ?
						 0 :
						 both);
		}
}

/* A vhost name keeps its counter however the names come and go; the
 * 65th new name shares "(other)"; unused counters are not shown. */
static void test_vhost_slots(void **state)
{
	struct stats_vhost_names t;
	struct stats_counters c = { 0 };
	struct stats_daemon_view d = dv;
	char name[32];
	json_t *doc, *o;

	(void)state;
	memset(&t, 0, sizeof(t));
	assert_int_equal(stats_vhost_slot(&t, "a.example"), 0);
	assert_int_equal(stats_vhost_slot(&t, "*.b.example"), 1);
	assert_int_equal(stats_vhost_slot(&t, "a.example"), 0);
	for (unsigned k = 2; k < STATS_NVHOSTS; k++) {
		snprintf(name, sizeof(name), "n%u", k);
		assert_int_equal(stats_vhost_slot(&t, name), k);
	}
	assert_int_equal(stats_vhost_slot(&t, "late.example"), STATS_VHOST_OTHER);
	assert_int_equal(stats_vhost_slot(&t, "*.b.example"), 1);
	assert_string_equal(stats_vhost_label(&t, 1), "*.b.example");
	assert_string_equal(stats_vhost_label(NULL, STATS_VHOST_OTHER), "(other)");
	assert_string_equal(stats_vhost_label(NULL, STATS_VHOST_DEFAULT),
			    "(default)");
	assert_null(stats_vhost_label(NULL, 0));

	/* Only named counters are shown, in JSON and Prometheus. */
	memset(&t, 0, sizeof(t));
	stats_vhost_slot(&t, "a.example");
	c.vhost_requests[0] = 7;
	c.vhost_requests[STATS_VHOST_DEFAULT] = 9;
	d.scope = STATS_HTTP;
	d.protocol = "http";
	d.vhosts = &t;
	struct stats_worker_view w = wv[0];

	w.c = c;
	doc = load(stats_json_stats(&d, &w, 1));
	o = json_object_get(json_object_get(doc, "totals"), "vhost_requests");
	assert_int_equal(json_object_size(o), 3);
	assert_int_equal(json_integer_value(json_object_get(o, "a.example")), 7);
	assert_int_equal(json_integer_value(json_object_get(o, "(other)")), 0);
	assert_int_equal(json_integer_value(json_object_get(o, "(default)")), 9);
	json_decref(doc);
	char *prom = stats_prom_text(&d, &w, 1);

	assert_non_null(
		strstr(prom, "reuseportd_vhost_requests_total{worker=\"0\","
			     "generation=\"2\",vhost=\"a.example\"} 7\n"));
	assert_non_null(strstr(prom, ",vhost=\"(default)\"} 9\n"));
	assert_null(strstr(prom, ",vhost=\"\"}"));
	free(prom);
}

static void test_worker_state_names(void **state)
{
	(void)state;
	assert_string_equal(stats_worker_state_name(STATS_WORKER_STARTING),
			    "starting");
	assert_string_equal(stats_worker_state_name(STATS_WORKER_RUNNING),
			    "running");
	assert_string_equal(stats_worker_state_name(STATS_WORKER_DRAINING),
			    "draining");
	assert_string_equal(stats_worker_state_name(STATS_WORKER_UNRESPONSIVE),
			    "unresponsive");
	assert_string_equal(stats_worker_state_name(STATS_WORKER_EXITED),
			    "exited");
	assert_string_equal(stats_worker_state_name((enum stats_worker_state)99),
			    "unknown");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_stats_document, setup),
		cmocka_unit_test_setup(test_stats_http, setup),
		cmocka_unit_test_setup(test_workers_document, setup),
		cmocka_unit_test_setup(test_connections_document, setup),
		cmocka_unit_test_setup(test_tcp_state_names, setup),
		cmocka_unit_test_setup(test_limits_document, setup),
		cmocka_unit_test_setup(test_ping_help_error, setup),
		cmocka_unit_test_setup(test_prometheus, setup),
		cmocka_unit_test_setup(test_upstreams_object, setup),
		cmocka_unit_test_setup(test_every_counter_rendered, setup),
		cmocka_unit_test_setup(test_merge_follows_kinds, setup),
		cmocka_unit_test_setup(test_vhost_slots, setup),
		cmocka_unit_test(test_worker_state_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
