/* test_upstream_stats.c - what the upstream servers cost, counted by the
 * hooks a proxy calls (upstream_stats.c) in a worker's counters, and
 * shown by the master (stats_upstream.c, stats_prom.c): connect errors
 * by cause, latencies from merged histograms, why a server is down, and
 * the ports of each (source range, server) pair with their headroom. */
#include "autoconfig.h"

#include <errno.h>
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "config.h"
#include "hist.h"
#include "stats_doc.h"
#include "syslimits.h"
#include "upstream.h"

static struct config cfg;
static char err[512];

static void conf(const char *const *ups, const char *const *srcs)
{
	config_defaults(&cfg);
	cfg.protocol = CFG_PROTO_TCP_PROXY;
	for (; ups && *ups; ups++)
		if (config_add_upstream(&cfg, *ups, err, sizeof(err)) < 0)
			fail_msg("upstream '%s': %s", *ups, err);
	for (; srcs && *srcs; srcs++)
		if (config_add_proxy_source(&cfg, *srcs, err, sizeof(err)) < 0)
			fail_msg("proxy_source '%s': %s", *srcs, err);
}

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

static json_t *jpath(json_t *o, const char *const *keys)
{
	for (; *keys; keys++) {
		o = json_object_get(o, *keys);
		if (!o)
			fail_msg("no member '%s'", *keys);
	}
	return o;
}
#define J(o, ...) jpath(o, (const char *const[]){ __VA_ARGS__, NULL })

/* A source range is found for each connection (the kernel's when no
 * proxy_source has the server's family); an established connect holds
 * a port of that range toward that server until it closes; its time
 * and the answer's go to the server's histograms; failures count by
 * cause. Without counters the hooks count nothing, and do not crash. */
static void test_connect_hooks(void **state)
{
	static const char *const ups[] = { "127.0.0.1:1", "[::1]:2", NULL };
	static const char *const srcs[] = { "127.0.0.2-127.0.0.5", NULL };
	struct stats_counters *c = calloc(1, sizeof(*c));
	struct up_table t;
	union addr_sa a;
	socklen_t len;
	int range;

	(void)state;
	conf(ups, srcs);
	up_table_init(&t, &cfg);
	up_record_connect(&t, 0, 0, 5, 0); /* no counters yet */
	up_table_count_in(&t, c);
	assert_int_equal(up_next_source_in(&t, AF_INET, &a, &len, &range), 0);
	assert_int_equal(range, 0);
	assert_int_equal(up_next_source_in(&t, AF_INET6, &a, &len, &range), -1);
	assert_int_equal(range, STATS_SOURCE_KERNEL);

	up_record_connect(&t, 0, 0, 300, 0);
	up_record_connect(&t, 0, 0, 500, 0);
	up_record_connect(&t, 1, STATS_SOURCE_KERNEL, 40, 0);
	assert_int_equal(c->upstream_ports_in_use[0][0], 2);
	assert_int_equal(c->upstream_ports_in_use[STATS_SOURCE_KERNEL][1], 1);
	assert_int_equal(hist_count(c->upstream_connect_us[0]), 2);
	assert_int_equal(c->upstream_connect_us[0][HIST_NBUCKETS], 800);
	up_record_close(&t, 0, 0);
	assert_int_equal(c->upstream_ports_in_use[0][0], 1);
	up_record_response(&t, 0, 2500);
	assert_int_equal(hist_count(c->upstream_response_us[0]), 1);
	assert_int_equal(c->upstream_response_us[0][HIST_NBUCKETS], 2500);

	static const int errs[] = { ECONNREFUSED, ETIMEDOUT,     EHOSTUNREACH,
				    ENETUNREACH,  EADDRNOTAVAIL, EMFILE };
	for (size_t k = 0; k < sizeof(errs) / sizeof(errs[0]); k++)
		up_record_connect(&t, 0, 0, 0, errs[k]);
	assert_int_equal(c->upstream_errors[0][STATS_ERR_REFUSED], 1);
	assert_int_equal(c->upstream_errors[0][STATS_ERR_TIMEOUT], 1);
	assert_int_equal(c->upstream_errors[0][STATS_ERR_UNREACHABLE], 2);
	assert_int_equal(c->upstream_errors[0][STATS_ERR_NO_PORT], 1);
	assert_int_equal(c->upstream_errors[0][STATS_ERR_OTHER], 1);
	/* A failure holds no port and has no time. */
	assert_int_equal(c->upstream_ports_in_use[0][0], 1);
	assert_int_equal(hist_count(c->upstream_connect_us[0]), 2);
	/* Out-of-range indexes are ignored. */
	up_record_connect(&t, -1, 0, 1, 0);
	up_record_close(&t, 0, STATS_NSOURCES);
	assert_string_equal(stats_err_name(STATS_ERR_NO_PORT), "no_port");
	assert_string_equal(stats_down_name(STATS_DOWN_CHECK), "check");
	free(c);
}

/* A server marked down by failures shows down with that reason until
 * its fail_timeout passes (up_publish_state says when to look again);
 * one an active check marks down shows that reason. */
static void test_down_state(void **state)
{
	static const char *const ups[] = {
		"127.0.0.1:1 max_fails=2 fail_timeout=10s", "127.0.0.1:2", NULL
	};
	struct stats_counters *c = calloc(1, sizeof(*c));
	struct up_table t;

	(void)state;
	conf(ups, NULL);
	up_table_init(&t, &cfg);
	up_table_count_in(&t, c);
	assert_int_equal(up_publish_state(&t, 1000), 0);
	assert_int_equal(up_failed(&t, 0, 1000), 0);
	assert_int_equal(up_failed(&t, 0, 1000), 1);
	assert_int_equal(up_publish_state(&t, 1000), 10000);
	assert_int_equal(c->upstream_down[0], 1);
	assert_int_equal(c->upstream_down_by[0][STATS_DOWN_FAILURES], 1);
	assert_int_equal(c->upstream_down_by[0][STATS_DOWN_CHECK], 0);
	up_mark_down(&t, 1, 2000, 3000, STATS_DOWN_CHECK);
	assert_int_equal(up_publish_state(&t, 2000), 3000);
	assert_int_equal(c->upstream_down_by[1][STATS_DOWN_CHECK], 1);
	assert_int_equal(c->upstream_down_by[1][STATS_DOWN_FAILURES], 0);
	assert_int_equal(up_publish_state(&t, 5000), 6000);
	assert_int_equal(c->upstream_down[1], 0);
	assert_int_equal(c->upstream_down_by[1][STATS_DOWN_CHECK], 0);
	assert_int_equal(up_publish_state(&t, 11000), 0);
	assert_int_equal(c->upstream_down[0], 0);
	assert_int_equal(c->upstream_down_by[0][STATS_DOWN_FAILURES], 0);
	free(c);
}

/* The ports of a range summed over the workers are its addresses times
 * the range in force, whether each worker has a slice of it
 * (IP_LOCAL_PORT_RANGE) or they all share it; the kernel's row has one
 * address's ports when a server's family has no proxy_source. */
static void test_ports_published(void **state)
{
	static const char *const ups[] = { "127.0.0.1:1", NULL };
	static const char *const srcs[] = { "127.0.0.2-127.0.0.11", NULL };
	static const char *const modes[] = { "off", "auto", "40000-40999" };
	static const uint64_t want[] = { 10 * 28232ull, 10 * 28232ull,
					 10 * 1000ull };
	struct stats_counters *c = calloc(1, sizeof(*c));
	struct up_table t;

	(void)state;
	for (size_t m = 0; m < 3; m++) {
		uint64_t sum = 0;

		conf(ups, srcs);
		assert_int_equal(config_set_proxy_port_range(&cfg, modes[m],
							     err, sizeof(err)),
				 0);
		for (int w = 0; w < 7; w++) {
			memset(c, 0, sizeof(*c));
			up_table_init(&t, &cfg);
			up_table_count_in(&t, c);
			up_set_ports(&t, &cfg, w, 7, 32768, 60999);
			up_publish_ports(&t, w, 7, 32768, 60999);
			sum += c->upstream_ports_available[0];
			assert_int_equal(c->upstream_ports_available[STATS_SOURCE_KERNEL],
					 0);
		}
		if (sum != want[m])
			fail_msg("%s: %llu ports, want %llu", modes[m],
				 (unsigned long long)sum,
				 (unsigned long long)want[m]);
	}
	/* A slice outside ip_local_port_range is not taken by the kernel. */
	conf(ups, NULL);
	config_set_proxy_port_range(&cfg, "1000-1999", err, sizeof(err));
	memset(c, 0, sizeof(*c));
	up_table_init(&t, &cfg);
	up_table_count_in(&t, c);
	up_set_ports(&t, &cfg, 0, 1, 32768, 60999);
	up_publish_ports(&t, 0, 1, 32768, 60999);
	assert_int_equal(c->upstream_ports_available[STATS_SOURCE_KERNEL], 28232);
	free(c);
}

/* --- the master's documents --- */

static struct stats_daemon_view view(void)
{
	static struct limits lim;
	struct stats_daemon_view d = {
		.pid = 1,
		.protocol = "tcp_proxy",
		.scope = STATS_PROXY,
		.generation = 1,
		.workers_configured = 2,
		.limits = &lim,
		.upstreams = cfg.upstreams,
		.nupstreams = cfg.nupstreams,
		.sources = cfg.proxy_sources,
		.nsources = cfg.nproxy_sources,
	};

	return d;
}

/* Two workers, as the master sees them: one fast, one slow to connect
 * to server 0; one holds server 1 down; together they hold 850 of the
 * 1000 ports of the range toward server 0. */
static struct stats_worker_view *two_workers(void)
{
	struct stats_worker_view *w = calloc(2, sizeof(*w));

	for (int i = 0; i < 2; i++) {
		w[i].id = i;
		w[i].pid = 100 + i;
		w[i].state = STATS_WORKER_RUNNING;
		w[i].generation = 1;
		w[i].c.upstream_ports_available[0] = 500;
		w[i].c.upstream_active[0] = 425;
		w[i].c.upstream_connects[0] = 425;
	}
	for (int k = 0; k < 99; k++)
		hist_add(w[0].c.upstream_connect_us[0], 100);
	hist_add(w[0].c.upstream_connect_us[0], 10000);
	for (int k = 0; k < 100; k++)
		hist_add(w[1].c.upstream_connect_us[0], 1000);
	w[0].c.upstream_connect_us[0][HIST_NBUCKETS] = 99 * 100 + 10000;
	w[1].c.upstream_connect_us[0][HIST_NBUCKETS] = 100 * 1000;
	w[0].c.upstream_ports_in_use[0][0] = 400;
	w[1].c.upstream_ports_in_use[0][0] = 450;
	w[1].c.upstream_down[1] = 1;
	w[1].c.upstream_down_by[1][STATS_DOWN_FAILURES] = 1;
	w[0].c.upstream_errors[1][STATS_ERR_REFUSED] = 3;
	w[1].c.upstream_errors[0][STATS_ERR_NO_PORT] = 7;
	return w;
}

/* `upstreams`: a row per server, its state from the workers' views
 * (partial: some hold it down), errors by cause with their total,
 * quantiles of the merged histograms, and each source's headroom. */
static void test_upstreams_document(void **state)
{
	static const char *const ups[] = { "127.0.0.1:8001", "127.0.0.1:8002",
					   NULL };
	static const char *const srcs[] = { "127.0.0.2-127.0.0.11", NULL };
	struct stats_worker_view *w;
	struct stats_daemon_view d;
	json_t *doc, *s0, *s1, *src;
	double p50;

	(void)state;
	conf(ups, srcs);
	d = view();
	w = two_workers();
	doc = load(stats_json_upstreams(&d, w, 2));
	assert_int_equal(json_integer_value(J(doc, "workers")), 2);
	assert_int_equal(json_array_size(J(doc, "upstreams")), 2);
	s0 = json_array_get(J(doc, "upstreams"), 0);
	s1 = json_array_get(J(doc, "upstreams"), 1);
	assert_string_equal(json_string_value(J(s0, "server")), "127.0.0.1:8001");
	assert_string_equal(json_string_value(J(s0, "state")), "up");
	assert_string_equal(json_string_value(J(s1, "state")), "partial");
	assert_int_equal(json_integer_value(J(s1, "down_reasons", "failures")), 1);
	assert_int_equal(json_integer_value(J(s0, "active")), 850);
	assert_int_equal(json_integer_value(J(s0, "errors", "no_port")), 7);
	assert_int_equal(json_integer_value(J(s0, "errors", "total")), 7);
	assert_int_equal(json_integer_value(J(s1, "errors", "refused")), 3);
	assert_int_equal(json_integer_value(J(s0, "connect_us", "count")), 200);
	/* The median of the 200, not the mean of the two medians. */
	p50 = json_real_value(J(s0, "connect_us", "p50"));
	if (p50 < 768 || p50 > 1024)
		fail_msg("p50 %.1f us: not from the merged buckets", p50);
	assert_int_equal(json_integer_value(J(s0, "connect_us", "sum")),
			 99 * 100 + 10000 + 100 * 1000);
	src = json_array_get(J(s0, "sources"), 0);
	assert_string_equal(json_string_value(J(src, "source")),
			    "127.0.0.2-127.0.0.11");
	assert_int_equal(json_integer_value(J(src, "in_use")), 850);
	assert_int_equal(json_integer_value(J(src, "available")), 1000);
	assert_true(json_real_value(J(src, "use_pct")) == 85.0);
	assert_true(json_real_value(J(src, "headroom_pct")) == 15.0);
	assert_true(json_is_true(J(src, "high")));
	src = json_array_get(J(s1, "sources"), 0);
	assert_true(json_is_false(J(src, "high")));
	json_decref(doc);

	/* Every worker holds it down: down. */
	w[0].c.upstream_down[1] = 1;
	doc = load(stats_json_upstreams(&d, w, 2));
	s1 = json_array_get(J(doc, "upstreams"), 1);
	assert_string_equal(json_string_value(J(s1, "state")), "down");
	json_decref(doc);
	free(w);
}

/* The stats document shows the details per server and per source; the
 * kernel's row only where a server needs it. */
static void test_stats_document(void **state)
{
	static const char *const ups[] = { "127.0.0.1:8001", "[::1]:8002", NULL };
	static const char *const srcs[] = { "127.0.0.2-127.0.0.11", NULL };
	struct stats_worker_view *w;
	struct stats_daemon_view d;
	json_t *doc, *tot;
	char buf[STATS_SOURCE_STRLEN];

	(void)state;
	conf(ups, srcs);
	d = view();
	assert_true(stats_source_shown(&d, 0));
	assert_false(stats_source_shown(&d, 1));
	assert_true(stats_source_shown(&d, STATS_SOURCE_KERNEL));
	assert_string_equal(stats_source_label(&d, STATS_SOURCE_KERNEL, buf,
					       sizeof(buf)),
			    "(kernel)");
	w = two_workers();
	doc = load(stats_json_stats(&d, w, 2));
	tot = J(doc, "totals");
	assert_int_equal(json_integer_value(J(tot, "upstream_errors",
					      "127.0.0.1:8001", "no_port")),
			 7);
	assert_int_equal(json_integer_value(J(tot, "upstream_connect_us",
					      "127.0.0.1:8001", "count")),
			 200);
	assert_int_equal(json_integer_value(
				 J(tot, "upstream_ports_in_use",
				   "127.0.0.2-127.0.0.11", "127.0.0.1:8001")),
			 850);
	assert_int_equal(json_integer_value(J(tot, "upstream_ports_available",
					      "127.0.0.2-127.0.0.11")),
			 1000);
	assert_int_equal(json_integer_value(J(tot, "upstream_ports_in_use",
					      "(kernel)", "[::1]:8002")),
			 0);
	assert_int_equal(json_integer_value(J(tot, "upstream_down_by",
					      "[::1]:8002", "failures")),
			 1);
	json_decref(doc);
	free(w);
}

/* The pairs above 80 % go to `limits`, named; Prometheus gets the
 * histograms (cumulative, in seconds, summed over the workers), the
 * failures by reason, the ports and the headroom ratio. */
static void test_limits_and_prometheus(void **state)
{
	static const char *const ups[] = { "127.0.0.1:8001", "127.0.0.1:8002",
					   NULL };
	static const char *const srcs[] = { "127.0.0.2-127.0.0.11", NULL };
	struct stats_port_use u[STATS_NSOURCES * STATS_NUPSTREAMS];
	struct stats_counters *tot = calloc(1, sizeof(*tot));
	struct stats_worker_view *w;
	struct stats_daemon_view d;
	int n, nhigh = 0;
	json_t *doc, *p;
	char *prom;

	(void)state;
	conf(ups, srcs);
	d = view();
	w = two_workers();
	stats_add(tot, &w[0].c);
	stats_add(tot, &w[1].c);
	n = stats_port_uses(&d, tot, u);
	assert_int_equal(n, 2);
	for (int j = 0; j < n; j++)
		if (u[j].use_pct > STATS_PORTS_WARN_PCT)
			u[nhigh++] = u[j];
	assert_int_equal(nhigh, 1);
	doc = load(stats_json_limits(d.limits, &d, u, nhigh));
	assert_true(json_is_true(J(doc, "upstream_ports_high")));
	p = json_array_get(J(doc, "upstream_ports"), 0);
	assert_string_equal(json_string_value(J(p, "source")),
			    "127.0.0.2-127.0.0.11");
	assert_string_equal(json_string_value(J(p, "server")), "127.0.0.1:8001");
	assert_int_equal(json_integer_value(J(p, "in_use")), 850);
	json_decref(doc);
	doc = load(stats_json_limits(d.limits, &d, u, 0));
	assert_true(json_is_false(J(doc, "upstream_ports_high")));
	json_decref(doc);

	prom = stats_prom_text(&d, w, 2);
	assert_non_null(prom);
	assert_non_null(
		strstr(prom,
		       "# TYPE reuseportd_upstream_connect_seconds histogram\n"));
	assert_non_null(
		strstr(prom,
		       "reuseportd_upstream_connect_seconds_bucket{upstream=\"127.0.0.1:8001\",le=\"+Inf\"} 200\n"));
	assert_non_null(
		strstr(prom,
		       "reuseportd_upstream_connect_seconds_count{upstream=\"127.0.0.1:8001\"} 200\n"));
	assert_non_null(
		strstr(prom,
		       "reuseportd_upstream_connect_seconds_sum{upstream=\"127.0.0.1:8001\"} 0.119900\n"));
	/* 99 values under 128 us, cumulative. */
	assert_non_null(
		strstr(prom,
		       "reuseportd_upstream_connect_seconds_bucket{upstream=\"127.0.0.1:8001\",le=\"0.000128\"} 99\n"));
	assert_non_null(
		strstr(prom,
		       "reuseportd_upstream_connect_failures_total{worker=\"1\",generation=\"1\",upstream=\"127.0.0.1:8001\",reason=\"no_port\"} 7\n"));
	assert_non_null(
		strstr(prom,
		       "reuseportd_upstream_down_workers{worker=\"1\",generation=\"1\",upstream=\"127.0.0.1:8002\",reason=\"failures\"} 1\n"));
	assert_non_null(
		strstr(prom,
		       "reuseportd_upstream_source_ports_in_use{worker=\"0\",generation=\"1\",source=\"127.0.0.2-127.0.0.11\",upstream=\"127.0.0.1:8001\"} 400\n"));
	assert_non_null(
		strstr(prom,
		       "reuseportd_upstream_source_ports{worker=\"1\",generation=\"1\",source=\"127.0.0.2-127.0.0.11\"} 500\n"));
	assert_non_null(
		strstr(prom,
		       "reuseportd_upstream_source_ports_headroom_ratio{source=\"127.0.0.2-127.0.0.11\",upstream=\"127.0.0.1:8001\"} 0.1500\n"));
	/* Exactly one HELP per family. */
	assert_null(strstr(strstr(prom,
				  "# HELP reuseportd_upstream_connect_seconds ") +
				   1,
			   "# HELP reuseportd_upstream_connect_seconds "));
	free(prom);
	free(w);
	free(tot);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_connect_hooks),
		cmocka_unit_test(test_down_state),
		cmocka_unit_test(test_ports_published),
		cmocka_unit_test(test_upstreams_document),
		cmocka_unit_test(test_stats_document),
		cmocka_unit_test(test_limits_and_prometheus),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
