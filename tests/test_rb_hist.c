/* test_rb_hist.c - unit tests for reuseportbench's pure parts: the
 * latency histogram, target and source-range parsing, the HTTP response
 * reader and the due-time heap. */
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

#include "reuseportbench/rb_addr.h"
#include "reuseportbench/rb_hist.h"
#include "reuseportbench/rb_http.h"
#include "reuseportbench/rb_sched.h"

/* ---- histogram ---- */

static void test_hist_small_values_exact(void **state)
{
	uint64_t v;

	(void)state;
	for (v = 0; v < 2 * RB_HIST_SUB; v++) {
		assert_int_equal(rb_hist_index(v), v);
		assert_int_equal(rb_hist_lowest(rb_hist_index(v)), v);
		assert_int_equal(rb_hist_highest(rb_hist_index(v)), v);
	}
}

/* Every value lies in its bucket, buckets are in value order, and a
 * bucket is never wider than 1/128 of its lowest value: two significant
 * digits everywhere. */
static void test_hist_buckets_cover_values(void **state)
{
	uint64_t v, lo, hi;
	size_t idx, prev = 0;
	int shift;

	(void)state;
	for (shift = 0; shift < RB_HIST_MAX_BITS; shift++) {
		for (v = (UINT64_C(1) << shift) - (shift > 0);
		     v < (UINT64_C(2) << shift) && v <= RB_HIST_MAX_VALUE;
		     v += 1 + (UINT64_C(1) << shift) / 97) {
			idx = rb_hist_index(v);
			lo = rb_hist_lowest(idx);
			hi = rb_hist_highest(idx);
			assert_true(idx < RB_HIST_BUCKETS);
			assert_true(lo <= v && v <= hi);
			assert_true((hi - lo) * RB_HIST_SUB <= lo);
			assert_true(idx >= prev);
			prev = idx;
		}
	}
	assert_int_equal(rb_hist_index(RB_HIST_MAX_VALUE), RB_HIST_BUCKETS - 1);
	/* Adjacent buckets touch: no value falls between them. */
	for (idx = 0; idx + 1 < RB_HIST_BUCKETS; idx++)
		assert_int_equal(rb_hist_highest(idx) + 1,
				 rb_hist_lowest(idx + 1));
}

static void test_hist_clamps_huge_values(void **state)
{
	struct rb_hist *h = malloc(sizeof(*h));

	(void)state;
	rb_hist_init(h);
	rb_hist_record(h, UINT64_MAX / 2);
	assert_int_equal(h->saturated, 1);
	assert_int_equal(h->b[RB_HIST_BUCKETS - 1], 1);
	/* The true max is kept even though the bucket is clamped. */
	assert_int_equal(h->max, UINT64_MAX / 2);
	/* The only sample: min and max pin the answer to its true value. */
	assert_int_equal(rb_hist_percentile(h, 50), UINT64_MAX / 2);
	rb_hist_record(h, 1);
	rb_hist_record(h, 2);
	rb_hist_record(h, 3);
	assert_int_equal(rb_hist_percentile(h, 50), 2);
	assert_int_equal(rb_hist_percentile(h, 99), UINT64_MAX / 2);
	free(h);
}

static void test_hist_empty(void **state)
{
	struct rb_hist *h = malloc(sizeof(*h));

	(void)state;
	rb_hist_init(h);
	assert_int_equal(rb_hist_percentile(h, 50), 0);
	assert_int_equal(rb_hist_percentile(h, 100), 0);
	assert_true(rb_hist_mean(h) == 0.0);
	free(h);
}

static void test_hist_percentiles_uniform(void **state)
{
	static const struct {
		double p;
		uint64_t want;
	} cases[] = {
		{ 50.0, 50000 }, { 90.0, 90000 },   { 99.0, 99000 },
		{ 99.9, 99900 }, { 100.0, 100000 }, { 0.0, 1 },
	};
	struct rb_hist *h = malloc(sizeof(*h));
	uint64_t v, got;
	size_t i;

	(void)state;
	rb_hist_init(h);
	for (v = 1; v <= 100000; v++)
		rb_hist_record(h, v);
	assert_int_equal(h->count, 100000);
	assert_int_equal(h->min, 1);
	assert_int_equal(h->max, 100000);
	assert_true(rb_hist_mean(h) > 50000.0 && rb_hist_mean(h) < 50001.0);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		got = rb_hist_percentile(h, cases[i].p);
		/* Within the bucket width (< 1%) above the exact answer. */
		assert_true(got >= cases[i].want);
		assert_true(got - cases[i].want <= cases[i].want / 128 + 1);
	}
	free(h);
}

/* p99 of ten samples is the tenth: one slow request must show. */
static void test_hist_percentile_rounds_rank_up(void **state)
{
	struct rb_hist *h = malloc(sizeof(*h));
	int i;

	(void)state;
	rb_hist_init(h);
	for (i = 0; i < 9; i++)
		rb_hist_record(h, 10);
	rb_hist_record(h, 5000);
	assert_int_equal(rb_hist_percentile(h, 90), 10);
	assert_true(rb_hist_percentile(h, 99) >= 5000);
	assert_int_equal(rb_hist_percentile(h, 99), 5000); /* capped at max */
	free(h);
}

static void test_hist_merge(void **state)
{
	struct rb_hist *a = malloc(sizeof(*a)), *b = malloc(sizeof(*b));
	struct rb_hist *all = malloc(sizeof(*all));
	uint64_t v;

	(void)state;
	rb_hist_init(a);
	rb_hist_init(b);
	rb_hist_init(all);
	for (v = 0; v < 5000; v++) {
		uint64_t x = (v * 7919) % 100003;

		rb_hist_record(v % 2 ? a : b, x);
		rb_hist_record(all, x);
	}
	rb_hist_merge(a, b);
	assert_int_equal(a->count, all->count);
	assert_int_equal(a->sum, all->sum);
	assert_int_equal(a->min, all->min);
	assert_int_equal(a->max, all->max);
	assert_memory_equal(a->b, all->b, sizeof(a->b));
	assert_int_equal(rb_hist_percentile(a, 99), rb_hist_percentile(all, 99));
	free(a);
	free(b);
	free(all);
}

/* ---- source ranges ---- */

static void test_src_parse_table(void **state)
{
	static const struct {
		const char *in;
		int ok;
		const char *first;
		uint32_t count;
	} cases[] = {
		{ "127.0.0.2-127.0.0.40", 1, "127.0.0.2", 39 },
		{ "127.0.0.5", 1, "127.0.0.5", 1 },
		{ "127.0.0.5-127.0.0.5", 1, "127.0.0.5", 1 },
		{ "10.0.0.0-10.0.3.255", 1, "10.0.0.0", 1024 },
		{ "127.0.0.255-127.0.1.2", 1, "127.0.0.255", 4 },
		{ "10.0.0.0-10.0.4.0", 0, NULL, 0 },   /* 1025 addresses */
		{ "127.0.0.5-127.0.0.2", 0, NULL, 0 }, /* backwards */
		{ "0.0.0.0-0.0.0.3", 0, NULL, 0 },     /* wildcard */
		{ "224.0.0.1", 0, NULL, 0 },           /* multicast */
		{ "255.255.255.255", 0, NULL, 0 },
		{ "127.0.0.1-", 0, NULL, 0 },
		{ "-127.0.0.1", 0, NULL, 0 },
		{ "127.0.0.1-127.0.0.2-127.0.0.3", 0, NULL, 0 },
		{ "localhost", 0, NULL, 0 },
		{ "::1", 0, NULL, 0 },
		{ "127.0.0.300", 0, NULL, 0 },
		{ "", 0, NULL, 0 },
	};
	struct rb_sources r;
	char err[160], txt[RB_ADDR_TEXT];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rc = rb_src_parse(cases[i].in, &r, err, sizeof(err));

		if (!cases[i].ok) {
			assert_int_equal(rc, -1);
			assert_true(err[0] != '\0');
			continue;
		}
		assert_int_equal(rc, 0);
		assert_int_equal(r.count, cases[i].count);
		rb_src_text(&r, 0, txt, sizeof(txt));
		assert_string_equal(txt, cases[i].first);
	}
}

static void test_src_round_robin(void **state)
{
	struct rb_sources r, none = { 0, 0 };
	struct sockaddr_in sin;
	uint32_t seen[4] = { 0 };
	char err[160], txt[RB_ADDR_TEXT];
	uint64_t i;

	(void)state;
	assert_int_equal(rb_src_parse("127.0.0.2-127.0.0.5", &r, err, sizeof(err)),
			 0);
	for (i = 0; i < 3000; i++)
		seen[rb_src_index(&r, i)]++;
	for (i = 0; i < 4; i++)
		assert_int_equal(seen[i], 750);
	assert_int_equal(rb_src_index(&r, 5), 1);
	rb_src_sockaddr(&r, 3, &sin);
	assert_int_equal(sin.sin_family, AF_INET);
	assert_int_equal(sin.sin_port, 0);
	assert_int_equal(ntohl(sin.sin_addr.s_addr), 0x7f000005u);
	rb_src_text(&r, 3, txt, sizeof(txt));
	assert_string_equal(txt, "127.0.0.5");
	assert_int_equal(rb_src_index(&none, 12345), 0);
	rb_src_text(&none, 0, txt, sizeof(txt));
	assert_string_equal(txt, "auto");
}

/* ---- targets ---- */

static void test_target_parse_table(void **state)
{
	static const struct {
		const char *in;
		int ok;
		const char *text;
		int loopback;
	} cases[] = {
		{ "127.0.0.1:8080", 1, "127.0.0.1:8080", 1 },
		{ "8080", 1, "127.0.0.1:8080", 1 },
		{ "localhost:1", 1, "127.0.0.1:1", 1 },
		{ "127.9.8.7:65535", 1, "127.9.8.7:65535", 1 },
		{ "[::1]:443", 1, "[::1]:443", 1 },
		{ "[::ffff:127.0.0.1]:80", 1, "[::ffff:127.0.0.1]:80", 1 },
		{ "10.1.2.3:80", 1, "10.1.2.3:80", 0 },
		{ "[2001:db8::1]:80", 1, "[2001:db8::1]:80", 0 },
		{ "127.0.0.1:0", 0, NULL, 0 },
		{ "127.0.0.1:65536", 0, NULL, 0 },
		{ "127.0.0.1:80x", 0, NULL, 0 },
		{ "127.0.0.1:", 0, NULL, 0 },
		{ ":80", 0, NULL, 0 },
		{ "example.com:80", 0, NULL, 0 },
		{ "::1:80", 0, NULL, 0 },
		{ "[::1]", 0, NULL, 0 },
		{ "[nonsense]:80", 0, NULL, 0 },
		{ "127.0.0.1", 0, NULL, 0 },
		{ "", 0, NULL, 0 },
	};
	struct rb_target t;
	char err[160];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rc = rb_addr_parse_target(cases[i].in, &t, err, sizeof(err));

		if (!cases[i].ok) {
			assert_int_equal(rc, -1);
			assert_true(err[0] != '\0');
			continue;
		}
		assert_int_equal(rc, 0);
		assert_string_equal(t.text, cases[i].text);
		assert_int_equal(rb_addr_is_loopback(&t), cases[i].loopback);
		assert_int_equal(t.family,
				 cases[i].text[0] == '[' ? AF_INET6 : AF_INET);
	}
}

/* ---- HTTP responses ---- */

/* Feeds 'in' whole, then again in pieces of every size from 1 up, and
 * checks both ways give the same verdict, status and length used. */
static enum rb_resp_rc feed_all(const char *in, size_t piece, struct rb_resp *r,
				size_t *used)
{
	size_t len = strlen(in), off = 0, u;
	enum rb_resp_rc rc = RB_RESP_MORE;

	rb_resp_init(r);
	while (off < len && rc == RB_RESP_MORE) {
		size_t n = piece && len - off > piece ? piece : len - off;

		rc = rb_resp_feed(r, (const uint8_t *)in + off, n, &u);
		off += u;
	}
	*used = off;
	return rc;
}

static void test_resp_table(void **state)
{
	static const struct {
		const char *in;
		enum rb_resp_rc rc;
		int status;
		int close;
		size_t extra; /* bytes after the response, not used */
	} cases[] = {
		{ "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
		  RB_RESP_DONE, 200, 0, 0 },
		{ "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloHTTP",
		  RB_RESP_DONE, 200, 0, 4 },
		{ "HTTP/1.1 404 Not Found\r\ncontent-length:  0 \r\n\r\n",
		  RB_RESP_DONE, 404, 0, 0 },
		{ "HTTP/1.1 200\r\nContent-Length: 2\r\n\r\nok", RB_RESP_DONE,
		  200, 0, 0 },
		{ "HTTP/1.1 200 OK\nContent-Length: 2\n\nok", RB_RESP_DONE, 200,
		  0, 0 },
		{ "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
		  "5\r\nhello\r\nA;ext=1\r\n0123456789\r\n0\r\nX-T: 1\r\n\r\n",
		  RB_RESP_DONE, 200, 0, 0 },
		{ "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"
		  "0\r\n\r\n",
		  RB_RESP_DONE, 200, 0, 0 },
		{ "HTTP/1.1 204 No Content\r\nContent-Length: 10\r\n\r\n",
		  RB_RESP_DONE, 204, 0, 0 },
		{ "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n"
		  "Content-Length: 1\r\n\r\nx",
		  RB_RESP_DONE, 200, 0, 0 },
		{ "HTTP/1.1 503 Busy\r\nConnection: Close\r\n"
		  "Content-Length: 1\r\n\r\nx",
		  RB_RESP_DONE, 503, 1, 0 },
		{ "HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nx", RB_RESP_DONE,
		  200, 1, 0 },
		{ "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n"
		  "Content-Length: 1\r\n\r\nx",
		  RB_RESP_DONE, 200, 0, 0 },
		/* no length: the body runs to the close */
		{ "HTTP/1.1 200 OK\r\n\r\nbody goes on", RB_RESP_MORE, 200, 1, 0 },
		{ "HTTP/2 200\r\n\r\n", RB_RESP_ERROR, 0, 0, 0 },
		{ "HTTP/1.1 20 OK\r\n\r\n", RB_RESP_ERROR, 0, 0, 0 },
		{ "SSH-2.0-OpenSSH\r\n", RB_RESP_ERROR, 0, 0, 0 },
		{ "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
		  RB_RESP_ERROR, 200, 0, 0 },
		{ "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
		  RB_RESP_ERROR, 200, 0, 0 },
		{ "HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n",
		  RB_RESP_ERROR, 200, 0, 0 },
		{ "HTTP/1.1 200 OK\r\nBad Header: x\r\n\r\n", RB_RESP_ERROR,
		  200, 0, 0 },
		{ "HTTP/1.1 200 OK\r\n folded\r\n\r\n", RB_RESP_ERROR, 200, 0, 0 },
		{ "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
		  RB_RESP_ERROR, 200, 0, 0 },
		{ "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
		  "2\r\nabXY\r\n",
		  RB_RESP_ERROR, 200, 0, 0 },
		{ "HTTP/1.1 101 Switching Protocols\r\n\r\n", RB_RESP_ERROR,
		  101, 0, 0 },
	};
	struct rb_resp r, r2;
	size_t i, piece, used, used2;
	enum rb_resp_rc rc;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		rc = feed_all(cases[i].in, 0, &r, &used);
		assert_int_equal(rc, cases[i].rc);
		if (rc != RB_RESP_ERROR) {
			assert_int_equal(r.status, cases[i].status);
			assert_int_equal(r.close, cases[i].close);
			assert_int_equal(strlen(cases[i].in) - used,
					 cases[i].extra);
		}
		for (piece = 1; piece < 16; piece++) {
			rc = feed_all(cases[i].in, piece, &r2, &used2);
			assert_int_equal(rc, cases[i].rc);
			if (rc != RB_RESP_ERROR) {
				assert_int_equal(r2.status, r.status);
				assert_int_equal(used2, used);
			}
		}
	}
}

static void test_resp_eof(void **state)
{
	struct rb_resp r;
	size_t used;

	(void)state;
	/* Close-delimited body: EOF completes it. */
	assert_int_equal(feed_all("HTTP/1.1 200 OK\r\n\r\npartial", 0, &r, &used),
			 RB_RESP_MORE);
	assert_int_equal(rb_resp_eof(&r), RB_RESP_DONE);
	/* Content-Length not reached: EOF is a short response. */
	assert_int_equal(feed_all("HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nab",
				  0, &r, &used),
			 RB_RESP_MORE);
	assert_int_equal(rb_resp_eof(&r), RB_RESP_ERROR);
	assert_non_null(r.error);
	/* Nothing at all. */
	rb_resp_init(&r);
	assert_int_equal(rb_resp_eof(&r), RB_RESP_ERROR);
}

static void test_resp_limits(void **state)
{
	struct rb_resp r;
	char *big = malloc(RB_RESP_HEAD_MAX + 200);
	size_t used, n;

	(void)state;
	/* An endless header section stops at the limit. */
	n = (size_t)snprintf(big, 64, "HTTP/1.1 200 OK\r\nX: ");
	memset(big + n, 'a', RB_RESP_HEAD_MAX + 100 - n);
	big[RB_RESP_HEAD_MAX + 100] = '\0';
	assert_int_equal(feed_all(big, 0, &r, &used), RB_RESP_ERROR);
	assert_int_equal(feed_all(big, 7, &r, &used), RB_RESP_ERROR);
	/* A long header that does not matter is skipped... */
	n = (size_t)snprintf(big, 64, "HTTP/1.1 200 OK\r\nX-Long: ");
	memset(big + n, 'b', 1000);
	strcpy(big + n + 1000, "\r\nContent-Length: 1\r\n\r\nz");
	assert_int_equal(feed_all(big, 0, &r, &used), RB_RESP_DONE);
	/* ...but one whose value matters and was cut is refused. */
	n = (size_t)snprintf(big, 64, "HTTP/1.1 200 OK\r\nContent-Length: ");
	memset(big + n, '0', 300);
	strcpy(big + n + 300, "1\r\n\r\nz");
	assert_int_equal(feed_all(big, 0, &r, &used), RB_RESP_ERROR);
	free(big);
}

/* ---- due-time heap ---- */

static void test_sched_order(void **state)
{
	struct rb_sched s;
	uint64_t due, last = 0;
	uint32_t id, i, n = 0;

	(void)state;
	assert_int_equal(rb_sched_init(&s, 1000), 0);
	assert_int_equal(rb_sched_peek(&s, &id, &due), 0);
	for (i = 0; i < 1000; i++)
		rb_sched_set(&s, i, (uint64_t)((i * 7919u) % 1009u));
	/* move some, remove some */
	for (i = 0; i < 1000; i += 10)
		rb_sched_set(&s, i, 5000 + i);
	for (i = 5; i < 1000; i += 50)
		rb_sched_remove(&s, i);
	rb_sched_remove(&s, 5); /* twice: a no-op */
	assert_false(rb_sched_has(&s, 5));
	assert_true(rb_sched_has(&s, 6));
	while (rb_sched_peek(&s, &id, &due)) {
		assert_true(due >= last);
		assert_int_equal(due, s.due[id]);
		last = due;
		rb_sched_remove(&s, id);
		n++;
	}
	assert_int_equal(n, 1000 - 20);
	assert_int_equal(last, 5000 + 990);
	rb_sched_free(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hist_small_values_exact),
		cmocka_unit_test(test_hist_buckets_cover_values),
		cmocka_unit_test(test_hist_clamps_huge_values),
		cmocka_unit_test(test_hist_empty),
		cmocka_unit_test(test_hist_percentiles_uniform),
		cmocka_unit_test(test_hist_percentile_rounds_rank_up),
		cmocka_unit_test(test_hist_merge),
		cmocka_unit_test(test_src_parse_table),
		cmocka_unit_test(test_src_round_robin),
		cmocka_unit_test(test_target_parse_table),
		cmocka_unit_test(test_resp_table),
		cmocka_unit_test(test_resp_eof),
		cmocka_unit_test(test_resp_limits),
		cmocka_unit_test(test_sched_order),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
