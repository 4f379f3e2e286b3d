/* test_addr.c - listen address parsing and endpoint printing, table-driven.
 *
 * addr_parse() is the first thing a user's -l argument meets, so every
 * accepted spelling and every rejection (with its reason) is listed here;
 * addr_format() must give back a string that parses to the same address,
 * since the stats documents and the error messages are built from it. */
#include "autoconfig.h"

#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include <cmocka.h>

#include "addr.h"

#define N_ELEM(a) (sizeof(a) / sizeof((a)[0]))

/* --- valid inputs --- */

struct valid_case {
	const char *in;
	int family;
	const char *ip; /* as addr_format_ip prints it */
	int port;
	const char *format; /* as addr_format prints it */
};

static const struct valid_case valid[] = {
	{ "127.0.0.1:8080", AF_INET, "127.0.0.1", 8080, "127.0.0.1:8080" },
	{ "0.0.0.0:8080", AF_INET, "0.0.0.0", 8080, "0.0.0.0:8080" },
	{ "127.0.0.1:0", AF_INET, "127.0.0.1", 0, "127.0.0.1:0" },
	{ "255.255.255.255:65535", AF_INET, "255.255.255.255", 65535,
	  "255.255.255.255:65535" },
	{ "10.1.2.3:1", AF_INET, "10.1.2.3", 1, "10.1.2.3:1" },
	/* a bare port means every IPv4 address, as in nginx */
	{ "8080", AF_INET, "0.0.0.0", 8080, "0.0.0.0:8080" },
	{ "0", AF_INET, "0.0.0.0", 0, "0.0.0.0:0" },
	{ "65535", AF_INET, "0.0.0.0", 65535, "0.0.0.0:65535" },
	{ "*:443", AF_INET, "0.0.0.0", 443, "0.0.0.0:443" },
	{ "*:0", AF_INET, "0.0.0.0", 0, "0.0.0.0:0" },
	{ "[::1]:9000", AF_INET6, "::1", 9000, "[::1]:9000" },
	{ "[::]:80", AF_INET6, "::", 80, "[::]:80" },
	{ "[::1]:0", AF_INET6, "::1", 0, "[::1]:0" },
	{ "[fe80::1:2:3:4]:65535", AF_INET6, "fe80::1:2:3:4", 65535,
	  "[fe80::1:2:3:4]:65535" },
	{ "[2001:DB8::A]:53", AF_INET6, "2001:db8::a", 53, "[2001:db8::a]:53" },
	{ "[::ffff:127.0.0.1]:5", AF_INET6, "::ffff:127.0.0.1", 5,
	  "[::ffff:127.0.0.1]:5" },
	/* the longest text an IPv6 address prints as */
	{ "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535", AF_INET6,
	  "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 65535,
	  "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535" },
};

static void test_parse_valid(void **state)
{
	(void)state;
	for (size_t i = 0; i < N_ELEM(valid); i++) {
		const struct valid_case *t = &valid[i];
		struct addr a;
		char err[256] = "", ip[INET6_ADDRSTRLEN], out[ADDR_STRLEN];

		if (addr_parse(t->in, &a, err, sizeof(err)) != 0)
			fail_msg("'%s' was refused: %s", t->in, err);
		assert_int_equal(a.u.sa.sa_family, t->family);
		assert_int_equal(a.len, t->family == AF_INET ?
						sizeof(struct sockaddr_in) :
						sizeof(struct sockaddr_in6));
		assert_int_equal(addr_port(&a.u.sa), t->port);
		assert_string_equal(addr_format_ip(&a.u.sa, ip, sizeof(ip)),
				    t->ip);
		assert_string_equal(addr_format(&a.u.sa, out, sizeof(out)),
				    t->format);
	}
}

/* What addr_format prints must parse back to the very same socket
 * address (family, address, port, nothing else set). */
static void test_format_round_trip(void **state)
{
	(void)state;
	for (size_t i = 0; i < N_ELEM(valid); i++) {
		struct addr a, b;
		char err[256] = "", out[ADDR_STRLEN];

		assert_int_equal(addr_parse(valid[i].in, &a, err, sizeof(err)), 0);
		addr_format(&a.u.sa, out, sizeof(out));
		if (addr_parse(out, &b, err, sizeof(err)) != 0)
			fail_msg("'%s' (from '%s') does not parse back: %s",
				 out, valid[i].in, err);
		assert_int_equal(a.len, b.len);
		assert_memory_equal(&a.u, &b.u, a.len);
	}
}

/* A parsed address has nothing but family, address and port: it is
 * compared with memcmp and handed to bind() as is. */
static void test_parse_zeroes_the_rest(void **state)
{
	struct addr a;
	char err[64];
	struct sockaddr_in6 want6;

	(void)state;
	memset(&a, 0xa5, sizeof(a));
	assert_int_equal(addr_parse("[::1]:7", &a, err, sizeof(err)), 0);
	memset(&want6, 0, sizeof(want6));
	want6.sin6_family = AF_INET6;
	want6.sin6_port = htons(7);
	want6.sin6_addr = in6addr_loopback;
	assert_memory_equal(&a.u.in6, &want6, sizeof(want6));

	memset(&a, 0xa5, sizeof(a));
	assert_int_equal(addr_parse("9", &a, err, sizeof(err)), 0);
	assert_int_equal(a.u.in4.sin_addr.s_addr, htonl(INADDR_ANY));
	for (size_t k = 0; k < sizeof(a.u.in4.sin_zero); k++)
		assert_int_equal(a.u.in4.sin_zero[k], 0);
}

/* --- invalid inputs --- */

struct invalid_case {
	const char *in;
	const char *why; /* a part of the expected reason */
};

static const struct invalid_case invalid[] = {
	{ "", "port must be 0..65535" },
	{ "65536", "port must be 0..65535" },
	{ "-1", "port must be 0..65535" },
	{ "+80", "port must be 0..65535" },
	{ " 80", "port must be 0..65535" },
	{ "80 ", "port must be 0..65535" },
	{ "0x50", "port must be 0..65535" },
	{ "99999999999999999999999", "port must be 0..65535" },
	{ "127.0.0.1:65536", "port must be 0..65535" },
	{ "127.0.0.1:-1", "port must be 0..65535" },
	{ "127.0.0.1:", "port must be 0..65535" },
	{ "127.0.0.1:80x", "port must be 0..65535" },
	{ "127.0.0.1:8080\n", "port must be 0..65535" },
	{ "127.0.0.1:99999999999999999999", "port must be 0..65535" },
	{ "*:", "port must be 0..65535" },
	{ "[::1]:", "port must be 0..65535" },
	{ "[::1]:70000", "port must be 0..65535" },
	{ "[::1]:80:90", "port must be 0..65535" },
	/* missing or misplaced bracket */
	{ "[::1:80", "expected [IPv6]:PORT" },
	{ "[::1]80", "expected [IPv6]:PORT" },
	{ "[::1]", "expected [IPv6]:PORT" },
	{ "[", "expected [IPv6]:PORT" },
	/* IPv6 without brackets is ambiguous: which colon starts the port? */
	{ "::1:80", "write IPv6 addresses as [ADDR]:PORT" },
	{ "fe80::1", "write IPv6 addresses as [ADDR]:PORT" },
	{ "::", "write IPv6 addresses as [ADDR]:PORT" },
	{ "2001:db8::1:443", "write IPv6 addresses as [ADDR]:PORT" },
	{ "[1.2.3.4]:80", "bad IPv6 address" },
	{ "[zz::1]:80", "bad IPv6 address" },
	{ "[fe80::1%lo]:80", "bad IPv6 address" },
	{ "[]:80", "bad IPv6 address" },
	{ "[0000:0000:0000:0000:0000:0000:0000:0000:0000:0000]:80",
	  "bad IPv6 address" },
	{ "256.1.1.1:80", "bad IPv4 address" },
	{ "1.2.3:80", "bad IPv4 address" },
	{ "1.2.3.4.5:80", "bad IPv4 address" },
	/* addr_parse resolves no name (addr_resolve does) */
	{ "localhost:80", "bad IPv4 address" },
	{ ":80", "bad IPv4 address" },
	{ "**:80", "bad IPv4 address" },
	{ "111111111111111111111111111111111111111111111111111111:1",
	  "bad IPv4 address" },
	{ "garbage", "port must be 0..65535" },
	{ "\x01\x02\xff", "port must be 0..65535" },
};

static void test_parse_invalid(void **state)
{
	(void)state;
	for (size_t i = 0; i < N_ELEM(invalid); i++) {
		const struct invalid_case *t = &invalid[i];
		struct addr a;
		char err[512] = "";

		if (addr_parse(t->in, &a, err, sizeof(err)) != -1)
			fail_msg("'%s' was accepted", t->in);
		if (!strstr(err, t->why))
			fail_msg("'%s': reason '%s' lacks '%s'", t->in, err,
				 t->why);
		/* the message names what was refused */
		if (!strstr(err, t->in))
			fail_msg("'%s': reason '%s' does not quote the input",
				 t->in, err);
	}
}

/* A small error buffer is filled, truncated and terminated, never overrun
 * (AddressSanitizer watches the heap block of exactly that size). */
static void test_parse_small_err_buffer(void **state)
{
	struct addr a;

	(void)state;
	for (size_t len = 1; len < 24; len++) {
		char *err = malloc(len);

		assert_non_null(err);
		assert_int_equal(addr_parse("[::1:80", &a, err, len), -1);
		assert_true(strlen(err) == len - 1);
		free(err);
	}
}

/* --- printing --- */

static void test_format_sockaddr(void **state)
{
	struct sockaddr_in in4;
	struct sockaddr_in6 in6;
	struct sockaddr_un un;
	char out[ADDR_STRLEN], small[8];

	(void)state;
	memset(&in4, 0, sizeof(in4));
	in4.sin_family = AF_INET;
	in4.sin_port = htons(51234);
	inet_pton(AF_INET, "192.0.2.7", &in4.sin_addr);
	assert_string_equal(addr_format((struct sockaddr *)&in4, out, sizeof(out)),
			    "192.0.2.7:51234");
	assert_int_equal(addr_port((struct sockaddr *)&in4), 51234);

	memset(&in6, 0, sizeof(in6));
	in6.sin6_family = AF_INET6;
	in6.sin6_port = htons(40123);
	in6.sin6_addr = in6addr_loopback;
	assert_string_equal(addr_format((struct sockaddr *)&in6, out, sizeof(out)),
			    "[::1]:40123");
	assert_string_equal(addr_format_ip((struct sockaddr *)&in6, out,
					   sizeof(out)),
			    "::1");

	/* too small a buffer: cut, terminated */
	assert_string_equal(addr_format((struct sockaddr *)&in6, small,
					sizeof(small)),
			    "[::1]:4");

	/* not an IP endpoint: a placeholder, no port */
	memset(&un, 0, sizeof(un));
	un.sun_family = AF_UNIX;
	assert_string_equal(addr_format_ip((struct sockaddr *)&un, out,
					   sizeof(out)),
			    "?");
	assert_int_equal(addr_port((struct sockaddr *)&un), -1);
}

static void test_set_port(void **state)
{
	struct addr a;
	char err[64], out[ADDR_STRLEN];

	(void)state;
	assert_int_equal(addr_parse("127.0.0.1:0", &a, err, sizeof(err)), 0);
	addr_set_port(&a, 40123);
	assert_int_equal(addr_port(&a.u.sa), 40123);
	assert_string_equal(addr_format(&a.u.sa, out, sizeof(out)),
			    "127.0.0.1:40123");

	assert_int_equal(addr_parse("[::1]:0", &a, err, sizeof(err)), 0);
	addr_set_port(&a, 65535);
	assert_string_equal(addr_format(&a.u.sa, out, sizeof(out)), "[::1]:65535");
}

/* --- addr_resolve --- */

/* Numbers are addr_parse's: one address, the same one. */
static void test_resolve_numeric(void **state)
{
	struct addr a, r[4];
	char err[256];

	(void)state;
	for (size_t i = 0; i < N_ELEM(valid); i++) {
		assert_int_equal(addr_parse(valid[i].in, &a, err, sizeof(err)), 0);
		if (addr_resolve(valid[i].in, r, 4, err, sizeof(err)) != 1)
			fail_msg("'%s': %s", valid[i].in, err);
		assert_true(addr_equal(&a, &r[0]));
	}
}

static const struct invalid_case resolve_invalid[] = {
	{ "bad_host:80", "'bad_host' is not an IP address or a host name" },
	{ "**:80", "is not an IP address or a host name" },
	{ "-lead.example:80", "is not an IP address or a host name" },
	{ "dot..dot.example:80x", "port must be 0..65535" },
	{ "localhost:70000", "port must be 0..65535" },
	{ "localhost:", "port must be 0..65535" },
	{ "localhost:-1", "port must be 0..65535" },
	{ "300.1.1.1:80", "bad IPv4 address" },
	{ "1.2.3:80", "bad IPv4 address" },
	{ ":80", "bad IPv4 address" },
	{ "::1:80", "write IPv6 addresses as [ADDR]:PORT" },
	{ "[::1]:99999", "port must be 0..65535" },
	{ "garbage", "port must be 0..65535" },
	{ "nonexistent.invalid:80", "cannot resolve 'nonexistent.invalid'" },
};

/* Refused with a reason that quotes the input; a malformed name or port
 * is refused before any lookup. */
static void test_resolve_invalid(void **state)
{
	struct addr r[4];
	char err[512], longname[400];

	(void)state;
	for (size_t i = 0; i < N_ELEM(resolve_invalid); i++) {
		const struct invalid_case *t = &resolve_invalid[i];

		err[0] = '\0';
		if (addr_resolve(t->in, r, 4, err, sizeof(err)) != -1)
			fail_msg("'%s' was accepted", t->in);
		if (!strstr(err, t->why) || !strstr(err, t->in))
			fail_msg("'%s': reason '%s' lacks '%s' or the input",
				 t->in, err, t->why);
	}
	memset(longname, 'a', 300);
	strcpy(longname + 300, ".example:80");
	assert_int_equal(addr_resolve(longname, r, 4, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "is not an IP address or a host name"));
}

/* localhost: each of its addresses once, loopback, with the port. */
static void test_resolve_localhost(void **state)
{
	struct addr r[16];
	char err[256], out[ADDR_STRLEN];
	int n;

	(void)state;
	n = addr_resolve("localhost:8080", r, 16, err, sizeof(err));
	if (n < 1)
		fail_msg("localhost:8080: %s", err);
	for (int i = 0; i < n; i++) {
		addr_format(&r[i].u.sa, out, sizeof(out));
		if (strcmp(out, "127.0.0.1:8080") && strcmp(out, "[::1]:8080"))
			fail_msg("localhost:8080 gave %s", out);
		for (int j = 0; j < i; j++)
			assert_false(addr_equal(&r[i], &r[j]));
	}
	assert_int_equal(addr_resolve("LOCALHOST:0", r, 16, err, sizeof(err)), n);
	assert_int_equal(addr_port(&r[0].u.sa), 0);
	/* No room for all of them. */
	if (n > 1) {
		assert_int_equal(addr_resolve("localhost:1", r, n - 1, err,
					      sizeof(err)),
				 -1);
		assert_non_null(strstr(err, "stands for more than"));
	} else {
		print_message("# localhost is one address here\n");
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_valid),
		cmocka_unit_test(test_format_round_trip),
		cmocka_unit_test(test_parse_zeroes_the_rest),
		cmocka_unit_test(test_parse_invalid),
		cmocka_unit_test(test_parse_small_err_buffer),
		cmocka_unit_test(test_format_sockaddr),
		cmocka_unit_test(test_set_port),
		cmocka_unit_test(test_resolve_numeric),
		cmocka_unit_test(test_resolve_invalid),
		cmocka_unit_test(test_resolve_localhost),
	};

	/* A name that does not resolve must not wait long for DNS. */
	setenv("RES_OPTIONS", "timeout:1 attempts:1", 1);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
