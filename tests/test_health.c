/* test_health.c - the pure parts of the active health checks
 * (health.h): the schedule that keeps N workers' checks apart, the
 * status line reader, the request. The checks over sockets are in
 * test_daemon_balance.c. */
#include "autoconfig.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "health.h"

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* 4 workers, 3 servers, 1 s: the 12 checks of an interval fall in 12
 * distinct slots 1000/12 ms apart; a server's 4 checks are 250 ms apart;
 * the next one is always after now, within an interval. */
static void test_schedule_spreads(void **state)
{
	enum { W = 4, S = 3 };
	const uint64_t interval = 1000, now = 123456789;
	uint64_t due[W * S];

	(void)state;
	for (int w = 0; w < W; w++)
		for (int s = 0; s < S; s++) {
			uint64_t d = hc_next_due(now, interval, w, W, s, S);

			assert_true(d > now && d <= now + interval);
			due[w * S + s] = d;
		}
	qsort(due, W * S, sizeof(due[0]), cmp_u64);
	for (int k = 1; k < W * S; k++)
		assert_true(due[k] - due[k - 1] >= interval / (W * S));
	for (int s = 0; s < S; s++)
		for (int w = 1; w < W; w++) {
			uint64_t a = hc_next_due(9999, interval, w - 1, W, s, S);
			uint64_t b = hc_next_due(9999, interval, w, W, s, S);

			assert_int_equal(b - a, interval / W);
		}
	/* Asked again at its own due time, the next is an interval later:
	 * the slot is kept, not drifted. */
	for (int k = 0; k < 5; k++) {
		uint64_t d = hc_next_due(now, interval, 2, W, 1, S);

		assert_int_equal(hc_next_due(d, interval, 2, W, 1, S),
				 d + interval);
	}
	/* One worker, one server: once an interval, on the grid. */
	assert_int_equal(hc_next_due(4999, 5000, 0, 1, 0, 1), 5000);
	assert_int_equal(hc_next_due(5000, 5000, 0, 1, 0, 1), 10000);
}

static void test_status_line(void **state)
{
	static const struct {
		const char *in;
		int want;
	} cases[] = {
		{ "HTTP/1.1 200 OK\r\n", 200 },
		{ "HTTP/1.0 302 Found\r\nLocation: /\r\n", 302 },
		{ "HTTP/1.1 500 Internal Server Error\r\n", 500 },
		{ "HTTP/1.1 204\r\n", 204 },
		{ "HTTP/1.1 404 \n", 404 },
		{ "HTTP/1.1 200 OK", -2 },
		{ "HTTP/1.", -2 },
		{ "", -2 },
		{ "HTTP/2 200 OK\r\n", -1 },
		{ "HTTP/1.1 20 OK\r\n", -1 },
		{ "HTTP/1.1 2000 OK\r\n", -1 },
		{ "HTTP/1.1 099 Low\r\n", -1 },
		{ "SSH-2.0-OpenSSH_9.2\r\n", -1 },
		{ "HTTP/1.1  200 OK\r\n", -1 },
	};

	(void)state;
	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		int got = hc_http_status(cases[k].in, strlen(cases[k].in));

		if (got != cases[k].want)
			fail_msg("'%s': expected %d, seen %d", cases[k].in,
				 cases[k].want, got);
	}
}

static void test_request(void **state)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(8080) };
	struct sockaddr_in6 b = { .sin6_family = AF_INET6, .sin6_port = htons(80) };
	char buf[256];
	size_t n;

	(void)state;
	a.sin_addr.s_addr = htonl(0x7f000001);
	n = hc_http_request(buf, sizeof(buf), "/healthz", (struct sockaddr *)&a);
	buf[n] = '\0';
	assert_string_equal(buf, "GET /healthz HTTP/1.1\r\n"
				 "Host: 127.0.0.1:8080\r\n"
				 "User-Agent: reuseportd-health-check\r\n"
				 "Connection: close\r\n\r\n");
	b.sin6_addr.s6_addr[15] = 1;
	n = hc_http_request(buf, sizeof(buf), "/", (struct sockaddr *)&b);
	assert_non_null(strstr(buf, "\r\nHost: [::1]:80\r\n"));
	assert_int_equal(hc_http_request(buf, 40, "/", (struct sockaddr *)&b), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_schedule_spreads),
		cmocka_unit_test(test_status_line),
		cmocka_unit_test(test_request),
	};

	return cmocka_run_group_tests_name("health", tests, NULL, NULL);
}
