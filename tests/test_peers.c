/* test_peers.c - the per-address connection counts of a worker (peers.h):
 * the limit, what an address is (IPv4, an IPv6 /64, IPv4-mapped), many
 * addresses through the bucket array's growth and shrinking, a full
 * table, and the memory an address costs. */
#include "autoconfig.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <cmocka.h>

#include "addr.h"
#include "peers.h"

/* An address as accept4 would give it (any port). */
static union addr_sa sa_of(const char *ip, int port)
{
	union addr_sa u;

	memset(&u, 0, sizeof(u));
	if (inet_pton(AF_INET, ip, &u.in4.sin_addr) == 1) {
		u.in4.sin_family = AF_INET;
		u.in4.sin_port = htons((uint16_t)port);
	} else {
		assert_int_equal(inet_pton(AF_INET6, ip, &u.in6.sin6_addr), 1);
		u.in6.sin6_family = AF_INET6;
		u.in6.sin6_port = htons((uint16_t)port);
	}
	return u;
}

static socklen_t len_of(const union addr_sa *u)
{
	return u->sa.sa_family == AF_INET ? sizeof(u->in4) : sizeof(u->in6);
}

static long acquire(struct peers *t, const char *ip, int force)
{
	union addr_sa u = sa_of(ip, 40000);

	return peers_acquire(t, &u.sa, len_of(&u), force);
}

static uint32_t count(const struct peers *t, const char *ip)
{
	union addr_sa u = sa_of(ip, 1);

	return peers_count(t, &u.sa, len_of(&u));
}

/* An address holds at most the limit; a release lets the next one in;
 * another address is not affected; force counts past the limit. */
static void test_limit(void **state)
{
	struct peers *t = peers_new(100, 3);
	long ref[5];

	(void)state;
	assert_non_null(t);
	for (int i = 0; i < 3; i++) {
		ref[i] = acquire(t, "10.0.0.1", 0);
		assert_true(ref[i] > 0);
	}
	/* One entry per address: the same number for each connection. */
	assert_int_equal(ref[1], ref[0]);
	assert_int_equal(acquire(t, "10.0.0.1", 0), -1);
	assert_int_equal(count(t, "10.0.0.1"), 3);
	assert_true(acquire(t, "10.0.0.2", 0) > 0);
	assert_int_equal(count(t, "10.0.0.2"), 1);
	assert_int_equal(peers_size(t), 2);

	peers_release(t, (uint32_t)ref[0]);
	assert_int_equal(count(t, "10.0.0.1"), 2);
	ref[3] = acquire(t, "10.0.0.1", 0);
	assert_true(ref[3] > 0);
	assert_int_equal(acquire(t, "10.0.0.1", 0), -1);
	/* A connection already open (taken over) is counted anyway. */
	ref[4] = acquire(t, "10.0.0.1", 1);
	assert_int_equal(ref[4], ref[0]);
	assert_int_equal(count(t, "10.0.0.1"), 4);
	for (int i = 0; i < 4; i++)
		peers_release(t, (uint32_t)ref[0]);
	assert_int_equal(count(t, "10.0.0.1"), 0);
	assert_int_equal(peers_size(t), 1);
	/* Released too often, or never given: no effect. */
	peers_release(t, (uint32_t)ref[0]);
	peers_release(t, 0);
	peers_release(t, 99);
	assert_int_equal(count(t, "10.0.0.2"), 1);
	assert_int_equal(peers_size(t), 1);
	peers_free(t);
}

/* IPv6 addresses count by /64; IPv4-mapped ones are their IPv4 address;
 * ::1, whose /64 is all zero, is not mistaken for any IPv4 address;
 * anything but IP is not counted. */
static void test_what_an_address_is(void **state)
{
	struct peers *t = peers_new(100, 2);
	struct sockaddr_un un = { .sun_family = AF_UNIX };

	(void)state;
	assert_true(acquire(t, "2001:db8:1:2::1", 0) > 0);
	assert_true(acquire(t, "2001:db8:1:2:aaaa:bbbb:cccc:dddd", 0) > 0);
	assert_int_equal(acquire(t, "2001:db8:1:2:ffff::", 0), -1);
	assert_int_equal(count(t, "2001:db8:1:2::77"), 2);
	/* The next /64 is another site. */
	assert_true(acquire(t, "2001:db8:1:3::1", 0) > 0);
	assert_int_equal(count(t, "2001:db8:1:3::1"), 1);

	assert_true(acquire(t, "192.0.2.7", 0) > 0);
	assert_true(acquire(t, "::ffff:192.0.2.7", 0) > 0);
	assert_int_equal(acquire(t, "192.0.2.7", 0), -1);
	assert_int_equal(count(t, "::ffff:192.0.2.7"), 2);
	assert_int_equal(count(t, "192.0.2.8"), 0);

	assert_true(acquire(t, "::1", 0) > 0);
	assert_int_equal(count(t, "::1"), 1);
	assert_int_equal(count(t, "0.0.0.0"), 0);
	assert_int_equal(count(t, "::"), 1); /* ::1's /64 */
	assert_int_equal(peers_size(t), 4);

	assert_int_equal(peers_acquire(t, (struct sockaddr *)&un, sizeof(un), 0),
			 0);
	assert_int_equal(peers_acquire(t, NULL, 0, 0), 0);
	assert_int_equal(peers_size(t), 4);
	peers_free(t);
}

/* 200,000 addresses of both families, two connections each: every count
 * is right through the bucket array's doublings, the entry numbers
 * handed out first still release the right address afterwards, all of
 * them go, and the bucket array shrinks back. Coming back, the same
 * entries are used again: the memory is the peak's, not more. */
static void test_many_addresses(void **state)
{
	enum { N = 200000 };
	struct peers *t = peers_new(2 * N, 2);
	uint32_t *ref = calloc(N, sizeof(*ref));
	size_t empty, peak = 0;
	char ip[64];

	(void)state;
	assert_non_null(t);
	assert_non_null(ref);
	empty = peers_memory(t);
	for (int round = 0; round < 2; round++) {
		for (int i = 0; i < N; i++) {
			if (i % 2)
				snprintf(ip, sizeof(ip), "10.%d.%d.%d", i >> 16,
					 (i >> 8) & 255, i & 255);
			else
				snprintf(ip, sizeof(ip), "2001:db8:%x:%x::9",
					 i >> 16, i & 0xffff);
			long a = acquire(t, ip, 0), b = acquire(t, ip, 0);

			assert_true(a > 0);
			assert_int_equal(b, a);
			assert_int_equal(acquire(t, ip, 0), -1);
			ref[i] = (uint32_t)a;
		}
		assert_int_equal(peers_size(t), N);
		assert_int_equal(count(t, "10.0.0.1"), 2);
		assert_int_equal(count(t, "2001:db8:0:0::1"), 2);
		assert_int_equal(count(t, "10.3.13.63"), 2); /* i = 199,999 */
		assert_int_equal(count(t, "10.3.13.64"), 0); /* i = 200,000 */
		if (round == 0)
			peak = peers_memory(t);
		else
			assert_int_equal(peers_memory(t), peak);
		for (int i = 0; i < N; i++) {
			peers_release(t, ref[i]);
			assert_int_equal(peers_size(t), N - i);
			peers_release(t, ref[i]);
		}
		assert_int_equal(peers_size(t), 0);
		assert_int_equal(count(t, "10.0.0.1"), 0);
		/* Back to the smallest bucket array; the entries stay. */
		assert_int_equal(peers_memory(t), empty + (size_t)N * 24);
	}
	print_message("# %d addresses: %zu bytes (%.1f per address), of which %zu of buckets\n",
		      N, peak, (double)peak / N, peak - (size_t)(N + 1) * 24);
	free(ref);
	peers_free(t);
}

/* A full table counts no more addresses: their connections are let
 * through uncounted (0), not refused. */
static void test_full_table(void **state)
{
	struct peers *t = peers_new(2, 1);

	(void)state;
	assert_true(acquire(t, "10.0.0.1", 0) > 0);
	assert_true(acquire(t, "10.0.0.2", 0) > 0);
	assert_int_equal(acquire(t, "10.0.0.3", 0), 0);
	assert_int_equal(acquire(t, "10.0.0.3", 0), 0);
	assert_int_equal(acquire(t, "10.0.0.1", 0), -1);
	assert_int_equal(peers_size(t), 2);
	peers_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_limit),
		cmocka_unit_test(test_what_an_address_is),
		cmocka_unit_test(test_many_addresses),
		cmocka_unit_test(test_full_table),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
