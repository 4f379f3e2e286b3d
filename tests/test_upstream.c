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
#include <stdlib.h>
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
		int i = up_pick(&t, 1000, -1, NULL);

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
		assert_int_equal(up_pick(&t, 0, 0, NULL), 1);
	for (int k = 0; k < 10; k++)
		assert_int_equal(up_pick(&t, 0, 1, NULL), 0);
	conf(one);
	up_table_init(&t, &cfg);
	assert_int_equal(up_pick(&t, 0, 0, NULL), 0);
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
		assert_int_equal(up_pick(&t, now + 9999, -1, NULL), 1);
	assert_true(up_is_down(&t, 0, now + 9999));
	/* Back after 10 s: picked again, on probation. */
	assert_false(up_is_down(&t, 0, now + 10000));
	int picked0 = 0;

	for (int k = 0; k < 4; k++)
		picked0 += up_pick(&t, now + 10000, -1, NULL) == 0;
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
	assert_int_equal(up_pick(&t, 100, -1, NULL), -1);
	assert_int_equal(up_pick(&t, 1099, 1, NULL), -1);
	assert_int_equal(up_pick(&t, 1100, -1, NULL), 1);
	conf(never);
	up_table_init(&t, &cfg);
	for (int k = 0; k < 100; k++)
		assert_int_equal(up_failed(&t, 0, 100), 0);
	assert_int_equal(up_pick(&t, 100, -1, NULL), 0);
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

/* A client address for the hash: 10.a.b.c from k, any port. */
static void client_v4(uint32_t k, uint16_t port, struct sockaddr_in *a)
{
	memset(a, 0, sizeof(*a));
	a->sin_family = AF_INET;
	a->sin_addr.s_addr = htonl(0x0a000000u | (k & 0xffffffu));
	a->sin_port = htons(port);
}

static int pick_for(struct up_table *t, uint32_t k, uint64_t now, int avoid)
{
	struct sockaddr_in a;

	client_v4(k, 40000, &a);
	return up_pick(t, now, avoid, (const struct sockaddr *)&a);
}

/* least_conn: equal servers alternate while their counts are equal; a
 * server holding long-lived connections gets none until the others have
 * as many per unit of weight; weights count. */
static void test_least_conn(void **state)
{
	static const char *const ups[] = { "127.0.0.1:1", "127.0.0.1:2",
					   "127.0.0.1:3 weight=2", NULL };
	struct up_table t;
	int seen[3] = { 0 };

	(void)state;
	conf(ups);
	cfg.balance = CFG_BALANCE_LEAST_CONN;
	up_table_init(&t, &cfg);
	/* Nothing open anywhere: a plain weighted round robin. */
	for (int k = 0; k < 400; k++)
		seen[up_pick(&t, 0, -1, NULL)]++;
	assert_int_equal(seen[0], 100);
	assert_int_equal(seen[1], 100);
	assert_int_equal(seen[2], 200);
	/* Server 0 holds 10 long-lived connections, the others none: the
	 * next 30 go to 1 and 2 (2 taking twice as many), then 0 is level
	 * with them and joins in. */
	t.servers[0].active = 10;
	memset(seen, 0, sizeof(seen));
	for (int k = 0; k < 30; k++) {
		int i = up_pick(&t, 0, -1, NULL);

		seen[i]++;
		t.servers[i].active++;
	}
	assert_int_equal(seen[0], 0);
	assert_int_equal(seen[1], 10);
	assert_int_equal(seen[2], 20);
	/* All level (10, 10, 20 per weight 1, 1, 2): the two equal servers
	 * take turns (of their picks, never one twice in a row), and 2
	 * keeps twice their count, give or take its next pick. */
	int prev = -1;

	for (int k = 0; k < 40; k++) {
		int i = up_pick(&t, 0, -1, NULL);

		if (i != 2) {
			assert_int_not_equal(i, prev);
			prev = i;
		}
		t.servers[i].active++;
	}
	assert_true(abs((int)t.servers[2].active -
			2 * (int)t.servers[0].active) <= 2);
	assert_int_equal(t.servers[0].active + t.servers[1].active +
				 t.servers[2].active,
			 80);
	/* Two equal servers, connections that stay open: strictly A, B, A,
	 * B; after B's three close, the next three are B's, then strictly
	 * alternating again. */
	static const char *const two[] = { "127.0.0.1:1", "127.0.0.1:2", NULL };
	struct up_table u;

	conf(two);
	cfg.balance = CFG_BALANCE_LEAST_CONN;
	up_table_init(&u, &cfg);
	for (int k = 0; k < 6; k++) {
		int i = up_pick(&u, 0, -1, NULL);

		assert_int_equal(i, k % 2);
		u.servers[i].active++;
	}
	u.servers[1].active -= 3;
	for (int k = 0; k < 3; k++)
		assert_int_equal(up_pick(&u, 0, -1, NULL), 1),
			u.servers[1].active++;
	prev = -1;
	for (int k = 0; k < 10; k++) {
		int i = up_pick(&u, 0, -1, NULL);

		assert_int_not_equal(i, prev);
		prev = i;
		u.servers[i].active++;
	}
	/* Closing connections on 1 sends the next ones there. */
	t.servers[1].active -= 5;
	for (int k = 0; k < 5; k++) {
		int i = up_pick(&t, 0, -1, NULL);

		assert_int_equal(i, 1);
		t.servers[i].active++;
	}
	/* A server down is skipped, however idle. */
	t.servers[0].active = 0;
	assert_int_equal(up_failed(&t, 0, 0), 1);
	assert_int_not_equal(up_pick(&t, 0, -1, NULL), 0);
}

/* hash: over many client addresses each server gets its weight's share
 * (within 5 %); the port does not matter; an IPv4 client seen through a
 * dual-stack listener lands where its IPv4 address does. */
static void test_hash_distribution(void **state)
{
	static const char *const ups[] = {
		"127.0.0.1:1 weight=1", "127.0.0.1:2 weight=2",
		"127.0.0.1:3 weight=3", "127.0.0.1:4 weight=4", NULL
	};
	const int n = 100000;
	struct up_table t;
	int seen[4] = { 0 };

	(void)state;
	conf(ups);
	cfg.balance = CFG_BALANCE_HASH;
	up_table_init(&t, &cfg);
	for (int k = 0; k < n; k++)
		seen[pick_for(&t, (uint32_t)k * 2654435761u, 0, -1)]++;
	for (int i = 0; i < 4; i++) {
		double want = n * (i + 1) / 10.0;

		print_message("# server %d (weight %d): %d of %d, expected %.0f\n",
			      i, i + 1, seen[i], n, want);
		assert_true(seen[i] > want * 0.95 && seen[i] < want * 1.05);
	}
	for (uint32_t k = 0; k < 1000; k++) {
		struct sockaddr_in a;
		struct sockaddr_in6 m = { .sin6_family = AF_INET6 };
		int i;

		client_v4(k * 7919, 1, &a);
		i = up_pick(&t, 0, -1, (struct sockaddr *)&a);
		a.sin_port = htons((uint16_t)(k + 2));
		assert_int_equal(up_pick(&t, 0, -1, (struct sockaddr *)&a), i);
		m.sin6_addr.s6_addr[10] = m.sin6_addr.s6_addr[11] = 0xff;
		memcpy(&m.sin6_addr.s6_addr[12], &a.sin_addr, 4);
		assert_int_equal(up_pick(&t, 0, -1, (struct sockaddr *)&m), i);
	}
	/* No client address: round robin, as before. */
	memset(seen, 0, sizeof(seen));
	for (int k = 0; k < 100; k++)
		seen[up_pick(&t, 0, -1, NULL)]++;
	assert_int_equal(seen[3], 40);
}

/* hash: a server going down moves its own clients only, each to its
 * second choice, spread over the others; when it comes back they all
 * return and nobody else moves. The same for a retry (avoid). */
static void test_hash_stability(void **state)
{
	static const char *const ups[] = {
		"127.0.0.1:1",
		"127.0.0.1:2",
		"127.0.0.1:3 max_fails=1 fail_timeout=10s",
		"127.0.0.1:4",
		"[::1]:5",
		NULL
	};
	enum { N = 20000 };
	static int8_t first[N], second[N];
	struct up_table t;
	int moved_to[5] = { 0 }, on2 = 0;

	(void)state;
	conf(ups);
	cfg.balance = CFG_BALANCE_HASH;
	up_table_init(&t, &cfg);
	for (uint32_t k = 0; k < N; k++)
		first[k] = (int8_t)pick_for(&t, k, 0, -1);
	assert_int_equal(up_failed(&t, 2, 0), 1);
	for (uint32_t k = 0; k < N; k++) {
		int i = pick_for(&t, k, 1, -1);

		if (first[k] != 2) {
			assert_int_equal(i, first[k]);
			continue;
		}
		on2++;
		second[k] = (int8_t)i;
		assert_int_not_equal(i, 2);
		moved_to[i]++;
		/* A retry of the same client that avoids its first choice
		 * lands on the same second choice. */
		assert_int_equal(pick_for(&t, k, 1, -1), i);
	}
	print_message("# %d clients of server 2 moved to %d %d %d %d\n", on2,
		      moved_to[0], moved_to[1], moved_to[3], moved_to[4]);
	assert_true(on2 > N / 5 - N / 25 && on2 < N / 5 + N / 25);
	for (int i = 0; i < 5; i++)
		if (i != 2)
			assert_true(moved_to[i] > on2 / 8);
	/* Back up after its fail_timeout: everyone where they were. */
	for (uint32_t k = 0; k < N; k++)
		assert_int_equal(pick_for(&t, k, 10001, -1), first[k]);
	/* avoid: the second choice, the same one a down server gives. */
	for (uint32_t k = 0; k < N; k++) {
		int i = pick_for(&t, k, 10001, first[k]);

		assert_int_not_equal(i, first[k]);
		if (first[k] == 2)
			assert_int_equal(i, second[k]);
	}
	/* Down by health checks: the same second choices. */
	for (int f = 0; f < cfg.health_fall; f++)
		up_check_result(&t, 2, 0);
	for (uint32_t k = 0; k < N; k++)
		if (first[k] != 2)
			assert_int_equal(pick_for(&t, k, 10001, -1), first[k]);
		else
			assert_int_equal(pick_for(&t, k, 10001, -1), second[k]);
}

/* Health check verdicts: fall failures in a row take a server down
 * (a pass between them starts the count again), rise passes in a row
 * bring it up; while down by checks it is not picked, even after its
 * passive fail_timeout, and up_state says why. */
static void test_check_rise_fall(void **state)
{
	static const char *const ups[] = { "127.0.0.1:1", "127.0.0.1:2", NULL };
	struct up_table t;

	(void)state;
	conf(ups);
	cfg.health_rise = 2;
	cfg.health_fall = 3;
	up_table_init(&t, &cfg);
	assert_int_equal(up_state(&t, 0, 0), UP_UP);
	assert_int_equal(up_check_result(&t, 0, 0), 0);
	assert_int_equal(up_check_result(&t, 0, 0), 0);
	assert_int_equal(up_check_result(&t, 0, 1), 0);
	assert_int_equal(up_check_result(&t, 0, 0), 0);
	assert_int_equal(up_check_result(&t, 0, 0), 0);
	assert_int_equal(up_state(&t, 0, 0), UP_UP);
	assert_int_equal(up_check_result(&t, 0, 0), -1);
	assert_int_equal(up_state(&t, 0, 0), UP_DOWN_CHECKS);
	assert_true(up_is_down(&t, 0, 0));
	assert_int_equal(up_check_result(&t, 0, 0), 0); /* still down */
	for (int k = 0; k < 10; k++)
		assert_int_equal(up_pick(&t, 100000, -1, NULL), 1);
	/* Asked to avoid the only server up, it is still the one. */
	assert_int_equal(up_pick(&t, 100000, 1, NULL), 1);
	assert_int_equal(up_check_result(&t, 0, 1), 0);
	assert_int_equal(up_check_result(&t, 0, 0), 0);
	assert_int_equal(up_check_result(&t, 0, 1), 0);
	assert_int_equal(up_state(&t, 0, 0), UP_DOWN_CHECKS);
	assert_int_equal(up_check_result(&t, 0, 1), 1);
	assert_int_equal(up_state(&t, 0, 0), UP_UP);
	/* Passive: down for its fail_timeout, and said so. */
	assert_int_equal(up_failed(&t, 1, 500), 1);
	assert_int_equal(up_state(&t, 1, 501), UP_DOWN_PASSIVE);
	assert_int_equal(up_state(&t, 1, 500 + 10000), UP_UP);
	/* Both: checks win, and the server waits for them. */
	assert_int_equal(up_failed(&t, 0, 500), 1);
	for (int f = 0; f < 3; f++)
		up_check_result(&t, 0, 0);
	assert_int_equal(up_state(&t, 0, 501), UP_DOWN_CHECKS);
	assert_int_equal(up_pick(&t, 100000, -1, NULL), 1);
}

/* The new directives' parsers, and what config_finish_proxy checks. */
static void test_balance_health_parsing(void **state)
{
	static const char *const ups[] = { "127.0.0.1:1", NULL };
	static const char *const bad_hc[] = {
		"",          "http",       "http ",   "http x",
		"http /a b", "http /\x01", "https /", "tcp /"
	};

	(void)state;
	for (size_t k = 0; k < sizeof(bad_hc) / sizeof(bad_hc[0]); k++) {
		config_defaults(&cfg);
		if (config_set_health_check(&cfg, bad_hc[k], err, sizeof(err)) ==
		    0)
			fail_msg("health_check '%s' accepted", bad_hc[k]);
		assert_int_equal(cfg.health_check, CFG_HEALTH_OFF);
	}
	char longpath[CFG_HEALTH_PATH_MAX + 8] = "http /";

	memset(longpath + 6, 'a', CFG_HEALTH_PATH_MAX - 1);
	longpath[6 + CFG_HEALTH_PATH_MAX - 1] = '\0';
	assert_int_equal(config_set_health_check(&cfg, longpath, err, sizeof(err)),
			 -1);
	longpath[6 + CFG_HEALTH_PATH_MAX - 2] = '\0';
	assert_int_equal(config_set_health_check(&cfg, longpath, err, sizeof(err)),
			 0);
	assert_int_equal(strlen(cfg.health_path), CFG_HEALTH_PATH_MAX - 1);
	assert_int_equal(config_set_balance(&cfg, "leastconn", err, sizeof(err)),
			 -1);
	assert_int_equal(config_set_health_timeout(&cfg, "5ms", err, sizeof(err)),
			 -1);
	assert_int_equal(config_set_health_fall(&cfg, "101", err, sizeof(err)),
			 -1);
	assert_int_equal(config_set_health_fall(&cfg, "1x", err, sizeof(err)), -1);
	/* A check may not outlast its interval. */
	conf(ups);
	assert_int_equal(config_set_health_check(&cfg, "tcp", err, sizeof(err)),
			 0);
	assert_int_equal(config_set_health_interval(&cfg, "1s", err, sizeof(err)),
			 0);
	assert_int_equal(config_set_health_timeout(&cfg, "2s", err, sizeof(err)),
			 0);
	assert_int_equal(config_finish_proxy(&cfg, err, sizeof(err)), -1);
	assert_string_equal(
		err,
		"health_timeout (2000 ms) is longer than health_interval (1000 ms)");
	assert_int_equal(config_set_health_timeout(&cfg, "1s", err, sizeof(err)),
			 0);
	assert_int_equal(config_finish_proxy(&cfg, err, sizeof(err)), 0);
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
		cmocka_unit_test(test_least_conn),
		cmocka_unit_test(test_hash_distribution),
		cmocka_unit_test(test_hash_stability),
		cmocka_unit_test(test_check_rise_fall),
		cmocka_unit_test(test_balance_health_parsing),
		cmocka_unit_test(test_http_proxy_directives),
	};

	return cmocka_run_group_tests_name("upstream", tests, NULL, NULL);
}
