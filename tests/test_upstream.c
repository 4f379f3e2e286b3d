/* test_upstream.c - the TCP proxy's upstream table (upstream.h) with an
 * injected clock: weighted round robin, servers going down and coming
 * back, source addresses, port slices; and the parsers of its directives
 * (config_proxy.c). */
#include "autoconfig.h"

#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "config.h"
#include "upstream.h"

static struct config cfg;
static char err[512];

static void conf(const char *const *ups)
{
	config_defaults(&cfg);
	cfg.protocol = CFG_PROTO_TCP_PROXY;
	for (; *ups; ups++)
		if (config_add_upstream(&cfg, *ups, err, sizeof(err)) < 0)
			fail_msg("upstream '%s': %s", *ups, err);
}

/* Weights 1, 2, 3 over 6 picks: each server its weight's share, and no
 * server twice in a row while another is due (smooth). */
static void test_weighted_round_robin(void **state)
{
	static const char *const ups[] = { "127.0.0.1:1 weight=1",
					   "127.0.0.1:2 weight=2",
					   "127.0.0.1:3 weight=3", NULL };
	struct up_table t;
	int seen[3] = { 0 }, prev = -1, runs = 0;

	(void)state;
	conf(ups);
	up_table_init(&t, &cfg);
	for (int k = 0; k < 600; k++) {
		int i = up_pick(&t, 1000, -1);

		assert_in_range(i, 0, 2);
		seen[i]++;
		runs += i == prev && i != 2;
		prev = i;
	}
	assert_int_equal(seen[0], 100);
	assert_int_equal(seen[1], 200);
	assert_int_equal(seen[2], 300);
	assert_int_equal(runs, 0);
}

/* avoid: the server that just failed is skipped while another is up,
 * and taken when it is the only one. */
static void test_pick_avoids(void **state)
{
	static const char *const ups[] = { "127.0.0.1:1", "127.0.0.1:2", NULL };
	static const char *const one[] = { "127.0.0.1:1", NULL };
	struct up_table t;

	(void)state;
	conf(ups);
	up_table_init(&t, &cfg);
	for (int k = 0; k < 10; k++)
		assert_int_equal(up_pick(&t, 0, 0), 1);
	for (int k = 0; k < 10; k++)
		assert_int_equal(up_pick(&t, 0, 1), 0);
	conf(one);
	up_table_init(&t, &cfg);
	assert_int_equal(up_pick(&t, 0, 0), 0);
}

/* max_fails failures in a row mark a server down for fail_timeout; a
 * success in between starts the count again; past the timeout it is
 * tried again, and one failure then marks it down at once. */
static void test_down_and_up(void **state)
{
	static const char *const ups[] = {
		"127.0.0.1:1 max_fails=3 fail_timeout=10s", "127.0.0.1:2", NULL
	};
	struct up_table t;
	uint64_t now = 5000;

	(void)state;
	conf(ups);
	up_table_init(&t, &cfg);
	assert_int_equal(up_failed(&t, 0, now), 0);
	assert_int_equal(up_failed(&t, 0, now), 0);
	up_succeeded(&t, 0);
	assert_int_equal(up_failed(&t, 0, now), 0);
	assert_int_equal(up_failed(&t, 0, now), 0);
	assert_false(up_is_down(&t, 0, now));
	assert_int_equal(up_failed(&t, 0, now), 1);
	assert_true(up_is_down(&t, 0, now));
	/* Down: only server 1 is picked, and more failures change nothing. */
	assert_int_equal(up_failed(&t, 0, now + 1), 0);
	for (int k = 0; k < 5; k++)
		assert_int_equal(up_pick(&t, now + 9999, -1), 1);
	assert_true(up_is_down(&t, 0, now + 9999));
	/* Back after 10 s: picked again, on probation. */
	assert_false(up_is_down(&t, 0, now + 10000));
	int picked0 = 0;

	for (int k = 0; k < 4; k++)
		picked0 += up_pick(&t, now + 10000, -1) == 0;
	assert_int_equal(picked0, 2);
	assert_int_equal(up_failed(&t, 0, now + 10001), 1);
	assert_true(up_is_down(&t, 0, now + 10001));
}

/* Every server down: no pick; max_fails=0 never goes down. */
static void test_all_down(void **state)
{
	static const char *const ups[] = { "127.0.0.1:1",
					   "127.0.0.1:2 fail_timeout=1s", NULL };
	static const char *const never[] = { "127.0.0.1:1 max_fails=0", NULL };
	struct up_table t;

	(void)state;
	conf(ups);
	up_table_init(&t, &cfg);
	assert_int_equal(up_failed(&t, 0, 100), 1);
	assert_int_equal(up_failed(&t, 1, 100), 1);
	assert_int_equal(up_pick(&t, 100, -1), -1);
	assert_int_equal(up_pick(&t, 1099, 1), -1);
	assert_int_equal(up_pick(&t, 1100, -1), 1);
	conf(never);
	up_table_init(&t, &cfg);
	for (int k = 0; k < 100; k++)
		assert_int_equal(up_failed(&t, 0, 100), 0);
	assert_int_equal(up_pick(&t, 100, -1), 0);
}

static const char *ip_of(const union addr_sa *a, char *buf, size_t len)
{
	return inet_ntop(a->sa.sa_family,
			 a->sa.sa_family == AF_INET ?
				 (const void *)&a->in4.sin_addr :
				 (const void *)&a->in6.sin6_addr,
			 buf, (socklen_t)len);
}

/* Sources: round robin over every address of the family, ranges in
 * config order; none of a family: -1. */
static void test_sources(void **state)
{
	static const char *const ups[] = { "127.0.0.1:1", NULL };
	static const char *const want[] = { "127.0.0.2", "127.0.0.3",
					    "127.0.0.4", "10.0.0.255",
					    "10.0.1.0",  "127.0.0.2" };
	struct up_table t;
	union addr_sa a;
	socklen_t len;
	char buf[64];

	(void)state;
	conf(ups);
	assert_int_equal(config_add_proxy_source(&cfg, "127.0.0.2-127.0.0.4",
						 err, sizeof(err)),
			 0);
	assert_int_equal(config_add_proxy_source(&cfg, "fd00::1:fffe-fd00::2:1",
						 err, sizeof(err)),
			 0);
	assert_int_equal(config_add_proxy_source(&cfg, "10.0.0.255-10.0.1.0",
						 err, sizeof(err)),
			 0);
	up_table_init(&t, &cfg);
	for (size_t k = 0; k < sizeof(want) / sizeof(want[0]); k++) {
		assert_int_equal(up_next_source(&t, AF_INET, &a, &len), 0);
		assert_int_equal(len, sizeof(a.in4));
		assert_int_equal(a.in4.sin_port, 0);
		assert_string_equal(ip_of(&a, buf, sizeof(buf)), want[k]);
	}
	assert_int_equal(up_next_source(&t, AF_INET6, &a, &len), 0);
	assert_string_equal(ip_of(&a, buf, sizeof(buf)), "fd00::1:fffe");
	assert_int_equal(up_next_source(&t, AF_INET6, &a, &len), 0);
	assert_string_equal(ip_of(&a, buf, sizeof(buf)), "fd00::1:ffff");
	assert_int_equal(up_next_source(&t, AF_INET6, &a, &len), 0);
	assert_string_equal(ip_of(&a, buf, sizeof(buf)), "fd00::2:0");
	conf(ups);
	up_table_init(&t, &cfg);
	assert_int_equal(up_next_source(&t, AF_INET, &a, &len), -1);
}

static void test_proxy_source_parsing(void **state)
{
	static const char *const bad[] = {
		"",
		"127.0.0.1:80",
		"127.0.0.5-127.0.0.4",
		"127.0.0.1-::1",
		"10.0.0.0-10.1.0.0", /* 65537 addresses */
		"fd00::1-fd01::1",   /* beyond the last 32 bits */
		"localhost",
		"127.0.0.1-",
		"-127.0.0.1",
		"127.0.0.1 - 127.0.0.2",
	};

	(void)state;
	for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
		config_defaults(&cfg);
		if (config_add_proxy_source(&cfg, bad[k], err, sizeof(err)) == 0)
			fail_msg("proxy_source '%s' accepted", bad[k]);
		assert_non_null(strstr(err, "proxy_source: '"));
		assert_int_equal(cfg.nproxy_sources, 0);
	}
	config_defaults(&cfg);
	assert_int_equal(config_add_proxy_source(&cfg, "10.0.0.0-10.0.255.255",
						 err, sizeof(err)),
			 0);
	assert_int_equal(cfg.proxy_sources[0].count, 65536);
	assert_int_equal(config_add_proxy_source(&cfg, "::1", err, sizeof(err)),
			 0);
	assert_int_equal(cfg.proxy_sources[1].count, 1);
	for (int k = 2; k < CFG_MAX_PROXY_SOURCES; k++)
		assert_int_equal(config_add_proxy_source(&cfg, "127.0.0.1", err,
							 sizeof(err)),
				 0);
	assert_int_equal(config_add_proxy_source(&cfg, "127.0.0.1", err,
						 sizeof(err)),
			 -1);
	assert_string_equal(err, "proxy_source: at most 16 ranges");
}

static void test_upstream_parsing(void **state)
{
	static const char *const bad[] = {
		"127.0.0.1",
		"127.0.0.1:0",
		"*:80",
		"[::]:80",
		"127.0.0.1:80 w=1",
		"127.0.0.1:80 weight=",
		"127.0.0.1:80 weight=1001",
		"127.0.0.1:80 max_fails=-1",
		"127.0.0.1:80 fail_timeout=0",
		"127.0.0.1:80 fail_timeout=2h",
		"127.0.0.1:80 weight=1x",
	};

	(void)state;
	for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
		config_defaults(&cfg);
		if (config_add_upstream(&cfg, bad[k], err, sizeof(err)) == 0)
			fail_msg("upstream '%s' accepted", bad[k]);
		assert_non_null(strstr(err, "upstream: "));
		assert_int_equal(cfg.nupstreams, 0);
	}
	config_defaults(&cfg);
	for (int k = 0; k < CFG_MAX_UPSTREAMS; k++) {
		char s[32];

		snprintf(s, sizeof(s), "127.0.0.1:%d", 1000 + k);
		assert_int_equal(config_add_upstream(&cfg, s, err, sizeof(err)),
				 0);
	}
	assert_int_equal(config_add_upstream(&cfg, "127.0.0.2:1", err, sizeof(err)),
			 -1);
	assert_string_equal(err, "upstream: at most 32 servers");
}

/* tcp_proxy needs an upstream; a proxy_source of the upstream's family;
 * the port range. */
static void test_finish_and_ports(void **state)
{
	static const char *const v6[] = { "[::1]:80", NULL };
	struct up_table t;
	int lo, hi;

	(void)state;
	config_defaults(&cfg);
	cfg.protocol = CFG_PROTO_TCP_PROXY;
	assert_int_equal(config_finish_proxy(&cfg, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "needs at least one 'upstream"));
	conf(v6);
	assert_int_equal(config_finish_proxy(&cfg, err, sizeof(err)), 0);
	assert_int_equal(config_add_proxy_source(&cfg, "127.0.0.2", err,
						 sizeof(err)),
			 0);
	assert_int_equal(config_finish_proxy(&cfg, err, sizeof(err)), -1);
	assert_string_equal(err,
			    "upstream [::1]:80: no proxy_source of its address family");

	/* Slices: disjoint, together the whole range. */
	int next = 1000;

	for (int w = 0; w < 7; w++) {
		up_port_slice(1000, 1999, w, 7, &lo, &hi);
		assert_int_equal(lo, next);
		assert_true(hi >= lo);
		next = hi + 1;
	}
	assert_int_equal(next, 2000);
	up_port_slice(5, 6, 1, 3, &lo, &hi); /* fewer ports than workers */
	assert_int_equal(lo, 5);
	assert_int_equal(hi, 6);

	assert_int_equal(config_set_proxy_port_range(&cfg, "40000-40009", err,
						     sizeof(err)),
			 0);
	up_table_init(&t, &cfg);
	up_set_ports(&t, &cfg, 1, 2, 32768, 60999);
	assert_int_equal(t.port_range, 40009u << 16 | 40005u);
	assert_int_equal(config_set_proxy_port_range(&cfg, "auto", err,
						     sizeof(err)),
			 0);
	up_set_ports(&t, &cfg, 0, 1, 32768, 60999);
	assert_int_equal(t.port_range, 60999u << 16 | 32768u);
	assert_int_equal(config_set_proxy_port_range(&cfg, "off", err, sizeof(err)),
			 0);
	up_set_ports(&t, &cfg, 0, 1, 32768, 60999);
	assert_int_equal(t.port_range, 0);
	assert_int_equal(config_set_proxy_port_range(&cfg, "9-8", err, sizeof(err)),
			 -1);
	assert_int_equal(config_set_proxy_port_range(&cfg, "0-8", err, sizeof(err)),
			 -1);
	assert_int_equal(config_set_proxy_port_range(&cfg, "100", err, sizeof(err)),
			 -1);
}

/* The HTTP proxy's directives: protocol http_proxy needs an upstream too;
 * proxy_pool, proxy_pool_timeout and proxy_read_timeout take their
 * ranges and refuse the rest with a message that names the directive. */
static void test_http_proxy_directives(void **state)
{
	(void)state;
	config_defaults(&cfg);
	assert_int_equal(cfg.proxy_pool, 32);
	assert_int_equal(cfg.proxy_pool_timeout_ms, 60000);
	assert_int_equal(cfg.proxy_read_timeout_ms, 60000);
	assert_int_equal(config_set_protocol(&cfg, "http_proxy", err, sizeof(err)),
			 0);
	assert_int_equal(cfg.protocol, CFG_PROTO_HTTP_PROXY);
	assert_int_equal(config_finish_proxy(&cfg, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "protocol http_proxy needs at least one"));
	assert_int_equal(config_add_upstream(&cfg, "127.0.0.1:80", err,
					     sizeof(err)),
			 0);
	assert_int_equal(config_finish_proxy(&cfg, err, sizeof(err)), 0);
	assert_int_equal(config_set_proxy_pool(&cfg, "0", err, sizeof(err)), 0);
	assert_int_equal(cfg.proxy_pool, 0);
	assert_int_equal(config_set_proxy_pool(&cfg, "4096", err, sizeof(err)), 0);
	assert_int_equal(config_set_proxy_pool(&cfg, "4097", err, sizeof(err)),
			 -1);
	assert_non_null(strstr(err, "proxy_pool: '4097'"));
	assert_int_equal(config_set_proxy_pool(&cfg, "-1", err, sizeof(err)), -1);
	assert_int_equal(config_set_proxy_pool(&cfg, "x", err, sizeof(err)), -1);
	assert_int_equal(config_set_proxy_pool_timeout(&cfg, "2m", err,
						       sizeof(err)),
			 0);
	assert_int_equal(cfg.proxy_pool_timeout_ms, 120000);
	assert_int_equal(config_set_proxy_pool_timeout(&cfg, "0", err, sizeof(err)),
			 -1);
	assert_non_null(strstr(err, "proxy_pool_timeout"));
	assert_int_equal(config_set_proxy_read_timeout(&cfg, "250ms", err,
						       sizeof(err)),
			 0);
	assert_int_equal(cfg.proxy_read_timeout_ms, 250);
	assert_int_equal(config_set_proxy_read_timeout(&cfg, "soon", err,
						       sizeof(err)),
			 -1);
	assert_non_null(strstr(err, "proxy_read_timeout: 'soon'"));
	assert_string_equal(config_protocol_name(CFG_PROTO_HTTP_PROXY),
			    "http_proxy");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_weighted_round_robin),
		cmocka_unit_test(test_pick_avoids),
		cmocka_unit_test(test_down_and_up),
		cmocka_unit_test(test_all_down),
		cmocka_unit_test(test_sources),
		cmocka_unit_test(test_proxy_source_parsing),
		cmocka_unit_test(test_upstream_parsing),
		cmocka_unit_test(test_finish_and_ports),
		cmocka_unit_test(test_http_proxy_directives),
	};

	return cmocka_run_group_tests_name("upstream", tests, NULL, NULL);
}
