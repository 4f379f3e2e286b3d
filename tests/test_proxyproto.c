/* test_proxyproto.c - the PROXY protocol encoders (proxyproto.h) against
 * headers written out byte by byte from HAProxy's spec
 * (doc/proxy-protocol.txt, 2.1 and 2.2). */
#include "autoconfig.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/un.h>

#include <cmocka.h>

#include "proxyproto.h"

static struct sockaddr_in v4(const char *ip, uint16_t port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };

	assert_int_equal(inet_pton(AF_INET, ip, &a.sin_addr), 1);
	return a;
}

static struct sockaddr_in6 v6(const char *ip, uint16_t port)
{
	struct sockaddr_in6 a = { .sin6_family = AF_INET6,
				  .sin6_port = htons(port) };

	assert_int_equal(inet_pton(AF_INET6, ip, &a.sin6_addr), 1);
	return a;
}

#define SA(x) ((const struct sockaddr *)&(x))

static void expect_v1(const struct sockaddr *s, const struct sockaddr *d,
		      const char *want)
{
	char buf[PP_MAX + 1];
	size_t n;

	memset(buf, 'X', sizeof(buf));
	n = pp_encode_v1(buf, s, d);
	assert_true(n <= PP_MAX - 1); /* the spec's 107 bytes */
	buf[n] = '\0';
	assert_string_equal(buf, want);
}

static void test_v1(void **state)
{
	struct sockaddr_in c4 = v4("192.0.2.1", 56324),
			   l4 = v4("198.51.100.7", 443);
	struct sockaddr_in6 c6 = v6("2001:db8::1", 1), l6 = v6("::1", 8080);
	struct sockaddr_in6 m1 = v6("::ffff:10.0.0.1", 5),
			    m2 = v6("::ffff:10.0.0.2", 6);
	struct sockaddr_in6 big = v6("ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe",
				     65535);
	struct sockaddr_un un = { .sun_family = AF_UNIX };

	(void)state;
	expect_v1(SA(c4), SA(l4),
		  "PROXY TCP4 192.0.2.1 198.51.100.7 56324 443\r\n");
	expect_v1(SA(c6), SA(l6), "PROXY TCP6 2001:db8::1 ::1 1 8080\r\n");
	/* Both IPv4 through a dual-stack listener: sent as IPv4. */
	expect_v1(SA(m1), SA(m2), "PROXY TCP4 10.0.0.1 10.0.0.2 5 6\r\n");
	/* One of each: one family for both, IPv6. */
	expect_v1(SA(m1), SA(l6), "PROXY TCP6 ::ffff:10.0.0.1 ::1 5 8080\r\n");
	expect_v1(SA(c4), SA(l6),
		  "PROXY TCP6 ::ffff:192.0.2.1 ::1 56324 8080\r\n");
	/* The longest there is fits in the spec's 107 bytes. */
	expect_v1(SA(big), SA(big),
		  "PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe "
		  "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe 65535 65535\r\n");
	expect_v1(SA(un), SA(l4), "PROXY UNKNOWN\r\n");
}

static void expect_v2(const struct sockaddr *s, const struct sockaddr *d,
		      const unsigned char *want, size_t len)
{
	unsigned char buf[PP_MAX];

	memset(buf, 0xee, sizeof(buf));
	assert_int_equal(pp_encode_v2(buf, s, d), len);
	assert_memory_equal(buf, want, len);
}

#define SIG \
	0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a

static void test_v2(void **state)
{
	/* clang-format off */
	static const unsigned char tcp4[] = {
		SIG,
		0x21,			/* version 2, PROXY */
		0x11,			/* AF_INET, STREAM */
		0x00, 0x0c,		/* 12 bytes follow */
		192, 0, 2, 1,		/* source */
		198, 51, 100, 7,	/* destination */
		0xdc, 0x04,		/* 56324 */
		0x01, 0xbb,		/* 443 */
	};
	static const unsigned char tcp6[] = {
		SIG,
		0x21,
		0x21,			/* AF_INET6, STREAM */
		0x00, 0x24,		/* 36 bytes follow */
		0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01,
		0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01,
		0x00, 0x01,		/* 1 */
		0x1f, 0x90,		/* 8080 */
	};
	static const unsigned char mapped[] = {
		SIG, 0x21, 0x11, 0x00, 0x0c,
		10, 0, 0, 1,
		10, 0, 0, 2,
		0x00, 0x05, 0x00, 0x06,
	};
	/* clang-format on */
	static const unsigned char unspec[] = { SIG, 0x21, 0x00, 0x00, 0x00 };
	struct sockaddr_in c4 = v4("192.0.2.1", 56324),
			   l4 = v4("198.51.100.7", 443);
	struct sockaddr_in6 c6 = v6("2001:db8::1", 1), l6 = v6("::1", 8080);
	struct sockaddr_in6 m1 = v6("::ffff:10.0.0.1", 5),
			    m2 = v6("::ffff:10.0.0.2", 6);
	struct sockaddr_un un = { .sun_family = AF_UNIX };

	(void)state;
	expect_v2(SA(c4), SA(l4), tcp4, sizeof(tcp4));
	expect_v2(SA(c6), SA(l6), tcp6, sizeof(tcp6));
	expect_v2(SA(m1), SA(m2), mapped, sizeof(mapped));
	expect_v2(SA(un), SA(un), unspec, sizeof(unspec));
	assert_true(sizeof(tcp6) <= PP_MAX);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_v1),
		cmocka_unit_test(test_v2),
	};

	return cmocka_run_group_tests_name("proxyproto", tests, NULL, NULL);
}
