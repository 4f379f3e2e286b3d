/* test_buf.c - the growable byte queue: growth, sliding, and its reads
 * and writes on a non-blocking socket (EAGAIN is "nothing now", not an
 * error). */
#include "autoconfig.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "buf.h"

/* A byte pattern whose every position is checkable. */
static unsigned char pattern(size_t i)
{
	return (unsigned char)((i * 7 + i / 251) & 0xff);
}

static void fill(char *p, size_t off, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (char)pattern(off + i);
}

static void check_pattern(const char *p, size_t off, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)p[i] != pattern(off + i))
			fail_msg("byte %zu: 0x%02x, expected 0x%02x", off + i,
				 (unsigned char)p[i], pattern(off + i));
}

static void nb_socketpair(int sv[2])
{
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv),
			 0);
}

static void wait_fd(int fd, short events)
{
	struct pollfd p = { .fd = fd, .events = events };

	assert_int_equal(poll(&p, 1, 5000), 1);
}

/* --- queue operations --- */

static void test_append_consume(void **state)
{
	struct buf b = { 0 };

	(void)state;
	assert_int_equal(buf_pending(&b), 0);
	assert_int_equal(buf_append(&b, "hello ", 6), 0);
	assert_int_equal(buf_append(&b, "world", 5), 0);
	assert_int_equal(buf_pending(&b), 11);
	assert_memory_equal(buf_head(&b), "hello world", 11);

	buf_consume(&b, 6);
	assert_int_equal(buf_pending(&b), 5);
	assert_memory_equal(buf_head(&b), "world", 5);

	/* consuming everything rewinds: the next append starts at the front */
	buf_consume(&b, 5);
	assert_int_equal(buf_pending(&b), 0);
	assert_int_equal(b.off, 0);
	assert_int_equal(b.len, 0);
	assert_int_equal(buf_append(&b, "x", 1), 0);
	assert_ptr_equal(buf_head(&b), b.data);

	/* an empty append is fine, even with no data pointer */
	assert_int_equal(buf_append(&b, NULL, 0), 0);
	assert_int_equal(buf_pending(&b), 1);

	buf_free(&b);
	assert_null(b.data);
	assert_int_equal(b.cap, 0);
	assert_int_equal(buf_pending(&b), 0);
}

static void test_reserve_commit(void **state)
{
	struct buf b = { 0 };
	char *t;

	(void)state;
	t = buf_reserve(&b, 100);
	assert_non_null(t);
	assert_true(b.cap - b.len >= 100);
	memcpy(t, "abc", 3);
	assert_int_equal(buf_pending(&b), 0); /* reserved is not data yet */
	buf_commit(&b, 3);
	assert_int_equal(buf_pending(&b), 3);
	assert_memory_equal(buf_head(&b), "abc", 3);
	buf_free(&b);
}

static void test_growth(void **state)
{
	struct buf b = { 0 };
	char chunk[1000];
	size_t total = 0, last_cap = 0;

	(void)state;
	/* grows by doubling from a small start, keeping every byte */
	for (int i = 0; i < 3000; i++) {
		fill(chunk, total, sizeof(chunk));
		assert_int_equal(buf_append(&b, chunk, sizeof(chunk)), 0);
		total += sizeof(chunk);
		assert_true(b.cap >= b.len);
		if (b.cap != last_cap) {
			/* a power of two times the first size */
			assert_true(last_cap == 0 || b.cap == last_cap * 2 ||
				    b.cap % last_cap == 0);
			last_cap = b.cap;
		}
	}
	assert_int_equal(buf_pending(&b), total);
	assert_true(b.cap < 2 * total + 1024); /* no runaway growth */
	check_pattern(buf_head(&b), 0, total);
	buf_free(&b);

	/* one large reservation at once */
	assert_non_null(buf_reserve(&b, 5u << 20));
	assert_true(b.cap >= 5u << 20);
	buf_free(&b);
}

/* A queue drained about as fast as it fills slides its data to the front
 * instead of growing. */
static void test_slide(void **state)
{
	struct buf b = { 0 };
	char chunk[900];
	size_t cap;

	(void)state;
	fill(chunk, 0, sizeof(chunk));
	assert_int_equal(buf_append(&b, chunk, sizeof(chunk)), 0);
	cap = b.cap;
	buf_consume(&b, 800); /* 100 bytes left, 800 wasted at the front */
	assert_int_equal(b.off, 800);

	fill(chunk, 900, sizeof(chunk));
	assert_int_equal(buf_append(&b, chunk, sizeof(chunk)), 0);
	assert_int_equal(b.cap, cap); /* fits once slid */
	assert_int_equal(b.off, 0);
	assert_int_equal(buf_pending(&b), 1000);
	check_pattern(buf_head(&b), 800, 1000);

	/* a queue that keeps 600 bytes in flight while 300 come and go per
	 * cycle stays in its first allocation, and in order */
	buf_consume(&b, buf_pending(&b));
	fill(chunk, 0, 600);
	assert_int_equal(buf_append(&b, chunk, 600), 0);
	for (size_t i = 0; i < 10000; i++) {
		fill(chunk, 600 + i * 300, 300);
		assert_int_equal(buf_append(&b, chunk, 300), 0);
		check_pattern(buf_head(&b), i * 300, 300);
		buf_consume(&b, 300);
	}
	assert_int_equal(b.cap, cap);
	assert_int_equal(buf_pending(&b), 600);
	check_pattern(buf_head(&b), 10000 * 300, 600);
	buf_free(&b);
}

/* Growth that would overflow size_t fails cleanly and keeps the data. */
static void test_reserve_overflow(void **state)
{
	struct buf b = { 0 };

	(void)state;
	assert_int_equal(buf_append(&b, "keep", 4), 0);
	assert_null(buf_reserve(&b, SIZE_MAX));
	assert_null(buf_reserve(&b, SIZE_MAX / 2 + 2));
	assert_int_equal(buf_append(&b, "x", SIZE_MAX - 2), -1);
	assert_int_equal(buf_pending(&b), 4);
	assert_memory_equal(buf_head(&b), "keep", 4);
	buf_free(&b);
}

/* --- socket I/O --- */

static void test_write_fd_eagain(void **state)
{
	struct buf b = { 0 };
	int sv[2], bufsz = 4096;
	size_t total = 1u << 20, got = 0;
	char *in = malloc(total);
	ssize_t n;

	(void)state;
	assert_non_null(in);
	nb_socketpair(sv);
	setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &bufsz, sizeof(bufsz));
	setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &bufsz, sizeof(bufsz));

	/* nothing pending: nothing written, not an error */
	assert_int_equal(buf_write_fd(&b, sv[0]), 0);

	assert_non_null(buf_reserve(&b, total));
	fill(b.data + b.len, 0, total);
	buf_commit(&b, total);

	/* the peer reads nothing: the socket fills and EAGAIN reads as 0 */
	for (;;) {
		n = buf_write_fd(&b, sv[0]);
		assert_true(n >= 0);
		if (n == 0)
			break;
	}
	assert_true(buf_pending(&b) > 0);
	assert_true(buf_pending(&b) < total);

	/* the peer reads: the rest goes out, in order */
	while (got < total) {
		if (buf_pending(&b) > 0) {
			n = buf_write_fd(&b, sv[0]);
			assert_true(n >= 0);
		}
		wait_fd(sv[1], POLLIN);
		n = read(sv[1], in + got, total - got);
		assert_true(n > 0);
		got += (size_t)n;
	}
	assert_int_equal(buf_pending(&b), 0);
	check_pattern(in, 0, total);

	buf_free(&b);
	free(in);
	close(sv[0]);
	close(sv[1]);
}

static void test_write_fd_error(void **state)
{
	struct buf b = { 0 };
	int sv[2];

	(void)state;
	nb_socketpair(sv);
	close(sv[1]);
	assert_int_equal(buf_append(&b, "lost", 4), 0);
	errno = 0;
	assert_int_equal(buf_write_fd(&b, sv[0]), -1); /* SIGPIPE ignored */
	assert_int_equal(errno, EPIPE);
	assert_int_equal(buf_pending(&b), 4); /* nothing consumed */
	buf_free(&b);
	close(sv[0]);

	assert_int_equal(buf_append(&b, "x", 1), 0);
	assert_int_equal(buf_write_fd(&b, -1), -1);
	buf_free(&b);
}

static void test_read_fd(void **state)
{
	struct buf b = { 0 };
	int sv[2];
	char data[100];

	(void)state;
	nb_socketpair(sv);

	/* nothing there yet */
	errno = 0;
	assert_int_equal(buf_read_fd(&b, sv[0], 64), -1);
	assert_true(errno == EAGAIN || errno == EWOULDBLOCK);
	assert_int_equal(buf_pending(&b), 0);

	fill(data, 0, sizeof(data));
	assert_int_equal(write(sv[1], data, sizeof(data)), (ssize_t)sizeof(data));
	wait_fd(sv[0], POLLIN);

	/* at most max bytes per call, appended after what is there */
	assert_int_equal(buf_read_fd(&b, sv[0], 10), 10);
	assert_int_equal(buf_pending(&b), 10);
	assert_int_equal(buf_read_fd(&b, sv[0], 1000), 90);
	assert_int_equal(buf_pending(&b), 100);
	check_pattern(buf_head(&b), 0, 100);

	/* partly consumed, then more arrives: still in order */
	buf_consume(&b, 40);
	assert_int_equal(write(sv[1], "tail", 4), 4);
	wait_fd(sv[0], POLLIN);
	assert_int_equal(buf_read_fd(&b, sv[0], 1000), 4);
	assert_int_equal(buf_pending(&b), 64);
	check_pattern(buf_head(&b), 40, 60);
	assert_memory_equal(buf_head(&b) + 60, "tail", 4);

	/* the peer is gone: EOF reads as 0 and leaves the data */
	close(sv[1]);
	assert_int_equal(buf_read_fd(&b, sv[0], 1000), 0);
	assert_int_equal(buf_pending(&b), 64);

	buf_free(&b);
	close(sv[0]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_append_consume),
		cmocka_unit_test(test_reserve_commit),
		cmocka_unit_test(test_growth),
		cmocka_unit_test(test_slide),
		cmocka_unit_test(test_reserve_overflow),
		cmocka_unit_test(test_write_fd_eagain),
		cmocka_unit_test(test_write_fd_error),
		cmocka_unit_test(test_read_fd),
	};

	/* as in the daemon (master.c): a write to a closed peer is EPIPE */
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
