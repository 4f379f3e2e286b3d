/* test_conn.c - a worker's connection pool, driven by the echo protocol
 * and two small test protocols over real socketpairs and TCP loopback
 * connections: the data, the back-pressure, the counters, the cap, the
 * handlers, and outbound connections (connect, refusal, timeout). */
#include "autoconfig.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "addr.h"
#include "conn.h"
#include "loop.h"
#include "proto.h"
#include "stats.h"
#include "upstream.h"
#include "util.h"

#define DEADLINE_MS 4000
#define NSLOTS 1024

static struct loop *L;
static struct conn_pool pool;
static struct stats_counters st;
static int slot_frees;

static void on_slot_free(void *arg)
{
	assert_ptr_equal(arg, &slot_frees);
	slot_frees++;
}

static int setup_cap(int max_active)
{
	memset(&st, 0, sizeof(st));
	slot_frees = 0;
	L = loop_new();
	if (!L || conn_pool_init(&pool, L, &st, NSLOTS, max_active) < 0 ||
	    conn_pool_add_handler(&pool, &proto_echo, NULL, NULL, 0) != 0)
		return -1;
	pool.on_slot_free = on_slot_free;
	pool.slot_free_arg = &slot_frees;
	pool.worker_id = 3;
	return 0;
}

static int setup(void **state)
{
	(void)state;
	return setup_cap(100);
}

static int setup_cap2(void **state)
{
	(void)state;
	return setup_cap(2);
}

static int teardown(void **state)
{
	(void)state;
	conn_pool_free(&pool);
	loop_free(L);
	L = NULL;
	return 0;
}

static struct conn *conn_of(int fd)
{
	assert_true(fd >= 0 && fd < pool.nslots);
	return &pool.table->slots[fd];
}

static void turns(int n)
{
	for (int i = 0; i < n; i++)
		assert_true(loop_run_once(L, 5) >= 0);
}

static unsigned char pattern(size_t i)
{
	return (unsigned char)((i * 31 + i / 1021) & 0xff);
}

/* A socketpair: [0] for the pool, [1] the client. */
static void unix_pair(int sv[2])
{
	assert_int_equal(socketpair(AF_UNIX,
				    SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
				    0, sv),
			 0);
}

/* A TCP loopback connection with small buffers (so that they fill
 * quickly): *srv for the pool, *cli the client; both non-blocking. */
static void tcp_pair(int *srv, int *cli, int bufsz)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t len = sizeof(a);
	int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(l >= 0);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bufsz) {
		/* set before the handshake, so that the window is small */
		setsockopt(l, SOL_SOCKET, SO_RCVBUF, &bufsz, sizeof(bufsz));
		setsockopt(l, SOL_SOCKET, SO_SNDBUF, &bufsz, sizeof(bufsz));
	}
	assert_int_equal(bind(l, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(l, 4), 0);
	assert_int_equal(getsockname(l, (struct sockaddr *)&a, &len), 0);
	*cli = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(*cli >= 0);
	if (bufsz) {
		setsockopt(*cli, SOL_SOCKET, SO_RCVBUF, &bufsz, sizeof(bufsz));
		setsockopt(*cli, SOL_SOCKET, SO_SNDBUF, &bufsz, sizeof(bufsz));
	}
	assert_int_equal(connect(*cli, (struct sockaddr *)&a, sizeof(a)), 0);
	*srv = accept4(l, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	assert_true(*srv >= 0);
	assert_int_equal(util_set_nonblock(*cli), 0);
	close(l);
}

/* Turns the loop and reads the client until want bytes came back. */
static void read_back(int cli, unsigned char *out, size_t want)
{
	uint64_t end = util_now_ms() + DEADLINE_MS;
	size_t got = 0;

	while (got < want) {
		ssize_t n;

		if (util_now_ms() > end)
			fail_msg("deadline: %zu of %zu bytes echoed", got, want);
		assert_true(loop_run_once(L, 5) >= 0);
		n = read(cli, out + got, want - got);
		if (n < 0 && errno == EAGAIN)
			continue;
		assert_true(n > 0);
		got += (size_t)n;
	}
}

static void wait_closed(uint64_t closed)
{
	uint64_t end = util_now_ms() + DEADLINE_MS;

	while (st.closed < closed) {
		if (util_now_ms() > end)
			fail_msg("deadline: %llu closed, waiting for %llu",
				 (unsigned long long)st.closed,
				 (unsigned long long)closed);
		assert_true(loop_run_once(L, 10) >= 0);
	}
}

/* The peer sees the end of the stream (EOF or reset). */
static void assert_peer_closed(int cli)
{
	struct pollfd p = { .fd = cli, .events = POLLIN };
	char c;
	ssize_t n;

	assert_int_equal(poll(&p, 1, DEADLINE_MS), 1);
	n = read(cli, &c, 1);
	assert_true(n == 0 || (n < 0 && errno == ECONNRESET));
}

static void echo_like(struct conn *c)
{
	proto_echo.on_readable(c);
}

/* --- tests --- */

/* Two pools in one process, as a test or a future second service needs:
 * each connection finds its own pool from its slot, at both ends of the
 * table, and echoes through it. (The 80-byte size of struct conn is a
 * _Static_assert in conn.h.) */
static void test_two_pools(void **state)
{
	struct conn_pool other;
	struct stats_counters other_st = { 0 };
	int a[2], b[2], last;
	unsigned char buf[8];

	(void)state;
	assert_int_equal(conn_pool_init(&other, L, &other_st, NSLOTS, 10), 0);
	assert_int_equal(conn_pool_add_handler(&other, &proto_echo, NULL, NULL, 0),
			 0);
	unix_pair(a);
	unix_pair(b);
	last = fcntl(b[0], F_DUPFD_CLOEXEC, NSLOTS - 1);
	assert_int_equal(last, NSLOTS - 1);
	close(b[0]);
	assert_int_equal(conn_open(&pool, a[0], 0), 0);
	assert_int_equal(conn_open(&other, last, 0), 0);
	assert_ptr_equal(conn_pool_of(conn_of(a[0])), &pool);
	assert_ptr_equal(conn_pool_of(&other.table->slots[last]), &other);

	assert_int_equal(write(a[1], "one", 3), 3);
	assert_int_equal(write(b[1], "two!", 4), 4);
	read_back(a[1], buf, 3);
	assert_memory_equal(buf, "one", 3);
	read_back(b[1], buf, 4);
	assert_memory_equal(buf, "two!", 4);
	assert_int_equal(st.bytes_in, 3);
	assert_int_equal(other_st.bytes_in, 4);
	assert_int_equal(st.accepted, 1);
	assert_int_equal(other_st.accepted, 1);

	conn_pool_free(&other);
	assert_int_equal(other_st.closed, 1);
	assert_int_equal(st.closed, 0);
	assert_peer_closed(b[1]);
	close(b[1]);
	close(a[1]);
	wait_closed(1);
}

/* A connection handed over leaves this pool entirely (no event reaches
 * it here again) and goes on in another, with its history: what a
 * reload's handover does between two workers. */
static void test_hand_over(void **state)
{
	struct conn_pool other;
	struct stats_counters other_st = { 0 };
	struct conn_transfer t;
	int a[2], moved;
	unsigned char buf[8];

	(void)state;
	assert_int_equal(conn_pool_init(&other, L, &other_st, NSLOTS, 10), 0);
	assert_int_equal(conn_pool_add_handler(&other, &proto_echo, NULL, NULL, 0),
			 0);
	unix_pair(a);
	assert_int_equal(conn_open(&pool, a[0], 0), 0);
	assert_int_equal(write(a[1], "one", 3), 3);
	read_back(a[1], buf, 3);
	assert_true(conn_can_hand_over(conn_of(a[0])));

	assert_int_equal(conn_hand_over(conn_of(a[0]), &t), a[0]);
	assert_false(conn_is_open(conn_of(a[0])));
	assert_int_equal(st.active, 0);
	assert_int_equal(st.handed_over, 1);
	assert_int_equal(st.closed, 0);
	assert_int_equal(slot_frees, 0);
	assert_int_equal(t.bytes_in, 3);
	assert_int_equal(t.bytes_out, 3);
	/* Under another number, as the receiving process would have it. */
	moved = fcntl(a[0], F_DUPFD_CLOEXEC, 100);
	close(a[0]);
	/* Bytes that arrive meanwhile wait in the socket for the taker. */
	assert_int_equal(write(a[1], "two", 3), 3);
	turns(2);
	assert_int_equal(conn_take_over(&other, moved, 0, &t), 0);
	assert_int_equal(other_st.taken_over, 1);
	assert_int_equal(other_st.active, 1);
	assert_int_equal(other_st.accepted, 0);
	read_back(a[1], buf, 3);
	assert_memory_equal(buf, "two", 3);
	assert_int_equal(conn_bytes_in(&other.table->slots[moved]), 6);
	/* Counted once: the old pool's counters did not move. */
	assert_int_equal(st.bytes_in, 3);
	assert_int_equal(other_st.bytes_in, 3);
	conn_pool_free(&other);
	assert_int_equal(other_st.closed, 1);
	assert_peer_closed(a[1]);
	close(a[1]);
}

/* A taken-over connection whose file is still referenced elsewhere when
 * it closes (here: a second descriptor) leaves no epoll registration
 * behind: its freed slot gets no event (it would be a NULL call). */
static void test_taken_close_leaves_no_registration(void **state)
{
	struct conn_transfer t = { 0 };
	int a[2], other;

	(void)state;
	unix_pair(a);
	other = dup(a[0]);
	assert_true(other >= 0);
	assert_int_equal(conn_take_over(&pool, a[0], 0, &t), 0);
	assert_int_equal(shutdown(a[1], SHUT_WR), 0); /* EOF: the echo closes */
	wait_closed(1);
	/* The socket stays readable (EOF) through the other descriptor: a
	 * left-behind registration would report it for the freed slot. */
	turns(5);
	assert_int_equal(st.closed, 1);
	close(other);
	close(a[1]);
}

/* Output still queued, or a protocol that keeps state of its own: the
 * connection stays where it is. */
static void test_hand_over_refused(void **state)
{
	static const struct proto proto_stays = { .name = "stays",
						  .on_readable = echo_like };
	struct conn_pool other;
	struct stats_counters other_st = { 0 };
	int a[2];

	(void)state;
	assert_int_equal(conn_pool_init(&other, L, &other_st, NSLOTS, 10), 0);
	assert_int_equal(conn_pool_add_handler(&other, &proto_stays, NULL, NULL, 0),
			 0);
	unix_pair(a);
	assert_int_equal(conn_open(&other, a[0], 0), 0);
	assert_false(conn_can_hand_over(&other.table->slots[a[0]]));
	conn_pool_free(&other);
	close(a[1]);

	unix_pair(a);
	assert_int_equal(conn_open(&pool, a[0], 0), 0);
	assert_int_equal(conn_send(conn_of(a[0]), "x", 1), 0);
	assert_true(conn_can_hand_over(conn_of(a[0])));
	assert_int_equal(conn_want_write(conn_of(a[0])), 0);
	assert_false(conn_can_hand_over(conn_of(a[0])));
	close(a[1]);
}

static void test_echo_unix(void **state)
{
	int sv[2];
	unsigned char buf[64];
	struct conn *c;

	(void)state;
	unix_pair(sv);
	assert_int_equal(conn_open(&pool, sv[0], 0), 0);
	c = conn_of(sv[0]);
	assert_true(conn_is_open(c));
	assert_int_equal(conn_fd(c), sv[0]);
	assert_ptr_equal(conn_pool_of(c), &pool);
	assert_int_equal(conn_pool_active(&pool), 1);
	assert_int_equal(st.accepted, 1);
	assert_int_equal(st.active, 1);
	assert_false(conn_has_output(c));

	assert_int_equal(write(sv[1], "hello", 5), 5);
	read_back(sv[1], buf, 5);
	assert_memory_equal(buf, "hello", 5);
	assert_int_equal(conn_bytes_in(c), 5);
	assert_int_equal(conn_bytes_out(c), 5);
	assert_int_equal(st.bytes_in, 5);
	assert_int_equal(st.bytes_out, 5);

	/* the peer leaves: the connection is closed and counted */
	close(sv[1]);
	wait_closed(1);
	assert_false(conn_is_open(c));
	assert_int_equal(conn_pool_active(&pool), 0);
	assert_int_equal(st.active, 0);
	assert_int_equal(st.accepted, 1);
	assert_int_equal(slot_frees, 1);
	assert_int_equal(st.rejected, 0);
	/* the fd was closed with it */
	assert_int_equal(fcntl(sv[0], F_GETFD), -1);
}

/* Data larger than one read, written and read concurrently, comes back
 * intact and in order, on several connections at once. */
static void test_echo_many_tcp(void **state)
{
	enum { NC = 4, SIZE = 300000 };
	int srv[NC], cli[NC];
	size_t sent[NC] = { 0 }, got[NC] = { 0 };
	unsigned char *in = malloc(SIZE), *out = malloc(SIZE);
	uint64_t end = util_now_ms() + DEADLINE_MS;
	int done = 0;

	(void)state;
	assert_non_null(in);
	assert_non_null(out);
	for (size_t i = 0; i < SIZE; i++)
		out[i] = pattern(i);
	for (int k = 0; k < NC; k++) {
		tcp_pair(&srv[k], &cli[k], 0);
		assert_int_equal(conn_open(&pool, srv[k], 0), 0);
	}
	while (done < NC) {
		if (util_now_ms() > end)
			fail_msg("deadline: %d of %d connections done", done, NC);
		for (int k = 0; k < NC; k++) {
			ssize_t n;

			if (sent[k] < SIZE) {
				n = write(cli[k], out + sent[k],
					  UTIL_MIN((size_t)20000, SIZE - sent[k]));
				if (n > 0)
					sent[k] += (size_t)n;
			}
			if (got[k] < SIZE) {
				n = read(cli[k], in, SIZE - got[k]);
				if (n > 0) {
					if (memcmp(in, out + got[k], (size_t)n))
						fail_msg("connection %d: bad data at %zu",
							 k, got[k]);
					got[k] += (size_t)n;
					done += got[k] == SIZE;
				}
			}
		}
		assert_true(loop_run_once(L, 1) >= 0);
	}
	assert_int_equal(st.bytes_in, (uint64_t)NC * SIZE);
	assert_int_equal(st.bytes_out, (uint64_t)NC * SIZE);
	for (int k = 0; k < NC; k++) {
		assert_int_equal(conn_bytes_in(conn_of(srv[k])), SIZE);
		assert_int_equal(conn_bytes_out(conn_of(srv[k])), SIZE);
		close(cli[k]);
	}
	wait_closed(NC);
	assert_int_equal(st.accepted, NC);
	assert_int_equal(st.active, 0);
	free(in);
	free(out);
}

/* A peer that writes but does not read: the echo output that the socket
 * refuses is queued, and the connection stops reading (EPOLLIN dropped)
 * until the peer takes it. */
static void test_back_pressure(void **state)
{
	enum { CHUNK = 16384, MAX = 8 << 20 };
	unsigned char *out = malloc(MAX), *in = malloc(MAX);
	uint64_t end = util_now_ms() + DEADLINE_MS, bytes_in;
	size_t sent = 0, got = 0;
	int srv, cli, blocked = 0;
	struct conn *c;

	(void)state;
	assert_non_null(out);
	assert_non_null(in);
	for (size_t i = 0; i < MAX; i++)
		out[i] = pattern(i);
	tcp_pair(&srv, &cli, 4096);
	assert_int_equal(conn_open(&pool, srv, 0), 0);
	c = conn_of(srv);

	/* write until both directions are full */
	while (!(conn_has_output(c) && blocked)) {
		ssize_t n;

		if (util_now_ms() > end || sent + CHUNK > MAX)
			fail_msg("no back-pressure after %zu bytes", sent);
		n = write(cli, out + sent, CHUNK);
		blocked = n < 0 && errno == EAGAIN;
		if (n > 0)
			sent += (size_t)n;
		assert_true(loop_run_once(L, 5) >= 0);
	}
	/* This is conn.c's own test: it may look at the watcher's events and
	 * the queued output, which nobody else reads. */
	assert_true(conn_has_output(c));
	assert_int_equal(c->w.events, EPOLLOUT | EPOLLET);
	assert_false(c->w.events & EPOLLIN);
	assert_true(c->out->len > c->out->off);
	assert_true(c->out->len <= CONN_SCRATCH_LEN);

	/* nothing more is read while the output waits */
	bytes_in = st.bytes_in;
	turns(10);
	assert_int_equal(st.bytes_in, bytes_in);
	assert_true(conn_has_output(c));
	assert_true(st.bytes_out < st.bytes_in);

	/* the peer reads: everything comes back, in order */
	while (got < sent) {
		ssize_t n;

		if (util_now_ms() > end)
			fail_msg("deadline: %zu of %zu bytes back", got, sent);
		assert_true(loop_run_once(L, 2) >= 0);
		n = read(cli, in + got, sent - got);
		if (n > 0)
			got += (size_t)n;
	}
	assert_memory_equal(in, out, sent);
	turns(2);
	assert_false(conn_has_output(c));
	/* reading again, edge-triggered, told of the peer's FIN */
	assert_int_equal(c->w.events, EPOLLIN | EPOLLRDHUP | EPOLLET);
	assert_int_equal(st.bytes_in, sent);
	assert_int_equal(st.bytes_out, sent);
	assert_int_equal(conn_bytes_in(c), sent);
	assert_int_equal(conn_bytes_out(c), sent);

	/* and it still echoes */
	assert_int_equal(write(cli, "again", 5), 5);
	read_back(cli, in, 5);
	assert_memory_equal(in, "again", 5);
	close(cli);
	wait_closed(1);
	free(out);
	free(in);
}

/* A peer that goes away with output queued for it: the write fails and
 * the connection is closed, its buffer freed (AddressSanitizer checks). */
static void test_peer_gone_with_output(void **state)
{
	unsigned char chunk[16384];
	int srv, cli;
	struct conn *c;
	uint64_t end = util_now_ms() + DEADLINE_MS;

	(void)state;
	memset(chunk, 'q', sizeof(chunk));
	tcp_pair(&srv, &cli, 4096);
	assert_int_equal(conn_open(&pool, srv, 0), 0);
	c = conn_of(srv);
	while (!conn_has_output(c)) {
		assert_true(util_now_ms() < end);
		if (write(cli, chunk, sizeof(chunk)) < 0)
			assert_int_equal(errno, EAGAIN);
		assert_true(loop_run_once(L, 5) >= 0);
	}
	close(cli); /* unread data: a reset */
	wait_closed(1);
	assert_false(conn_is_open(c));
	assert_null(c->out);
	assert_int_equal(conn_pool_active(&pool), 0);
}

/* At max_active, conn_open refuses (the caller closes the fd) and counts
 * the rejection; a freed slot takes the next one. */
static void test_cap(void **state)
{
	int a[2], b[2], d[2], e[2];
	char buf[8];

	(void)state;
	unix_pair(a);
	unix_pair(b);
	unix_pair(d);
	assert_int_equal(conn_open(&pool, a[0], 0), 0);
	assert_false(conn_pool_full(&pool));
	assert_int_equal(conn_open(&pool, b[0], 0), 0);
	assert_true(conn_pool_full(&pool));
	assert_int_equal(conn_open(&pool, d[0], 0), -1);
	assert_int_equal(st.rejected, 1);
	assert_int_equal(st.accepted, 2);
	assert_int_equal(st.active, 2);
	assert_int_equal(conn_pool_active(&pool), 2);
	assert_false(conn_is_open(conn_of(d[0])));
	close(d[0]);
	close(d[1]);

	/* the two admitted still work */
	assert_int_equal(write(b[1], "ok", 2), 2);
	read_back(b[1], (unsigned char *)buf, 2);
	assert_memory_equal(buf, "ok", 2);

	conn_close(conn_of(a[0]));
	assert_int_equal(st.closed, 1);
	assert_int_equal(slot_frees, 1);
	assert_false(conn_pool_full(&pool));
	conn_close(conn_of(a[0])); /* a free slot: nothing happens */
	assert_int_equal(st.closed, 1);
	assert_peer_closed(a[1]);
	close(a[1]);

	unix_pair(e);
	assert_int_equal(conn_open(&pool, e[0], 0), 0);
	assert_int_equal(st.accepted, 3);
	assert_int_equal(st.rejected, 1);
	assert_true(conn_pool_full(&pool));
	close(b[1]);
	close(e[1]);
	wait_closed(3);
	assert_int_equal(st.active, 0);
}

/* Opens a TCP pair and offers the server end to the pool as accepted
 * from the client's address: conn_open_from's result. */
static int open_from_peer(int *srv, int *cli)
{
	union addr_sa peer;
	socklen_t len = sizeof(peer);

	tcp_pair(srv, cli, 0);
	assert_int_equal(getpeername(*srv, &peer.sa, &len), 0);
	return conn_open_from(&pool, *srv, 0, &peer.sa, len);
}

/* max_connections_per_ip in the pool: the third connection from
 * 127.0.0.1 is refused and counted, and its client gets a reset, not an
 * EOF (SO_LINGER 0: no FIN_WAIT/TIME_WAIT left on the server); a close,
 * and a hand-over, give the address's place back; a connection taken
 * over is counted past the limit, and its close gives its place back. */
static void test_peer_limit(void **state)
{
	struct conn_transfer t;
	int srv[4], cli[4], fd;
	char c;

	(void)state;
	assert_int_equal(conn_pool_limit_peers(&pool, 2), 0);
	assert_int_equal(open_from_peer(&srv[0], &cli[0]), 0);
	assert_int_equal(open_from_peer(&srv[1], &cli[1]), 0);
	assert_int_equal(open_from_peer(&srv[2], &cli[2]), -1);
	close(srv[2]); /* the caller closes what is refused */
	assert_int_equal(st.rejected_per_ip, 1);
	assert_int_equal(st.rejected, 0);
	assert_int_equal(st.accepted, 2);
	assert_int_equal(peers_size(pool.peers), 1);
	{
		struct pollfd p = { .fd = cli[2], .events = POLLIN };

		assert_int_equal(poll(&p, 1, DEADLINE_MS), 1);
		assert_int_equal(read(cli[2], &c, 1), -1);
		assert_int_equal(errno, ECONNRESET);
	}
	close(cli[2]);

	conn_close(conn_of(srv[0]));
	assert_int_equal(open_from_peer(&srv[0], &cli[2]), 0);
	close(cli[0]);
	cli[0] = cli[2];
	assert_int_equal(open_from_peer(&srv[3], &cli[3]), -1);
	close(srv[3]);
	close(cli[3]);
	assert_int_equal(st.rejected_per_ip, 2);

	/* Handed over: its place is free here; taken over (here, as
	 * another worker would), it is counted although the address is at
	 * its limit again meanwhile. */
	fd = conn_hand_over(conn_of(srv[1]), &t);
	assert_int_equal(open_from_peer(&srv[3], &cli[3]), 0);
	assert_int_equal(conn_take_over(&pool, fd, 0, &t), 0);
	conn_close(conn_of(srv[3]));
	close(cli[3]);
	assert_int_equal(open_from_peer(&srv[2], &cli[2]), -1);
	close(srv[2]);
	close(cli[2]);
	conn_close(conn_of(fd));
	assert_int_equal(open_from_peer(&srv[3], &cli[3]), 0);
	assert_int_equal(st.rejected_per_ip, 3);
	conn_close(conn_of(srv[0]));
	conn_close(conn_of(srv[3]));
	assert_int_equal(peers_size(pool.peers), 0);
	close(cli[0]);
	close(cli[1]);
	close(cli[3]);
}

/* An fd beyond the table is refused as well. */
static void test_fd_beyond_table(void **state)
{
	int sv[2], big;

	(void)state;
	unix_pair(sv);
	big = fcntl(sv[0], F_DUPFD_CLOEXEC, NSLOTS);
	assert_true(big >= NSLOTS);
	assert_int_equal(conn_open(&pool, big, 0), -1);
	assert_int_equal(st.rejected, 1);
	assert_int_equal(st.accepted, 0);
	close(big);
	close(sv[0]);
	close(sv[1]);
}

static void test_describe(void **state)
{
	struct sockaddr_in srv_a, cli_a;
	socklen_t len = sizeof(srv_a);
	struct stats_conn rec;
	int srv, cli;
	unsigned char buf[4];

	(void)state;
	tcp_pair(&srv, &cli, 0);
	assert_int_equal(conn_open(&pool, srv, 0), 0);
	assert_int_equal(write(cli, "abc", 3), 3);
	read_back(cli, buf, 3);
	assert_int_equal(getsockname(srv, (struct sockaddr *)&srv_a, &len), 0);
	len = sizeof(cli_a);
	assert_int_equal(getsockname(cli, (struct sockaddr *)&cli_a, &len), 0);

	conn_describe(conn_of(srv), loop_now(L) + 250, &rec);
	assert_int_equal(rec.worker, 3);
	assert_int_equal(rec.local.sa.sa_family, AF_INET);
	assert_int_equal(rec.local.in4.sin_port, srv_a.sin_port);
	assert_int_equal(rec.local.in4.sin_addr.s_addr, htonl(INADDR_LOOPBACK));
	assert_int_equal(rec.remote.in4.sin_port, cli_a.sin_port);
	assert_int_equal(rec.tcp_state, TCP_ESTABLISHED);
	assert_true(rec.age_ms >= 250);
	assert_int_equal(rec.bytes_in, 3);
	assert_int_equal(rec.bytes_out, 3);
	close(cli);
	wait_closed(1);
}

static int count_conn(struct conn *c, void *arg)
{
	int *n = arg;

	assert_true(conn_is_open(c));
	return ++*n == 2; /* stop after the second */
}

static void test_foreach(void **state)
{
	int p[4][2], n = 0;

	(void)state;
	for (int i = 0; i < 4; i++) {
		unix_pair(p[i]);
		assert_int_equal(conn_open(&pool, p[i][0], 0), 0);
	}
	conn_close(conn_of(p[1][0]));
	conn_foreach(&pool, count_conn, &n);
	assert_int_equal(n, 2);
	n = -100; /* never reaches 2: visits all three open ones */
	conn_foreach(&pool, count_conn, &n);
	assert_int_equal(n, -97);
	for (int i = 0; i < 4; i++)
		close(p[i][1]);
}

/* A second protocol for the tests: answers each read with its length
 * ("3\n" for "abc"), so its answers are told apart from echo's. Its
 * per-worker state is counted to show that init and fini bracket it. */
struct count_ctx {
	int reads;
	int filled_reads; /* conn_read_filled said so */
	size_t bytes;
	size_t max; /* > 0: read with conn_read_max */
	int fini_calls;
};

static struct count_ctx count_state;

static int count_init(const struct config *cfg, struct stats_counters *stats,
		      void **ctx, char *err, size_t errlen)
{
	(void)cfg;
	(void)err;
	(void)errlen;
	assert_ptr_equal(stats, &st);
	memset(&count_state, 0, sizeof(count_state));
	*ctx = &count_state;
	return 0;
}

static void count_fini(void *ctx)
{
	struct count_ctx *cc = ctx;

	cc->fini_calls++;
}

static void count_readable(struct conn *c)
{
	struct count_ctx *cc = conn_proto_ctx(c);
	char *data, line[24];
	ssize_t n = cc->max ? conn_read_max(c, &data, cc->max) :
			      conn_read(c, &data);

	if (n == -2)
		return;
	if (n <= 0) {
		conn_close(c);
		return;
	}
	cc->reads++;
	cc->filled_reads += conn_read_filled(c);
	cc->bytes += (size_t)n;
	conn_send(c, line, (size_t)snprintf(line, sizeof(line), "%zd\n", n));
}

static const struct proto proto_count = {
	.name = "count",
	.init = count_init,
	.fini = count_fini,
	.on_readable = count_readable,
};

/* Each connection is served by the protocol of its own handler, which
 * finds its per-worker state through conn_proto_ctx; the pool frees that
 * state with fini, after closing the connections. */
static void test_handler_per_connection(void **state)
{
	int e[2], k[2], bad[2];
	char err[64];
	unsigned char buf[8];

	(void)state;
	assert_int_equal(conn_pool_add_handler(&pool, &proto_count, NULL, err,
					       sizeof(err)),
			 1);
	unix_pair(e);
	unix_pair(k);
	unix_pair(bad);
	assert_int_equal(conn_open(&pool, e[0], 0), 0);
	assert_int_equal(conn_open(&pool, k[0], 1), 0);
	assert_null(conn_proto_ctx(conn_of(e[0])));
	assert_ptr_equal(conn_proto_ctx(conn_of(k[0])), &count_state);
	/* no such handler: refused like a connection without a slot */
	assert_int_equal(conn_open(&pool, bad[0], 2), -1);
	assert_int_equal(st.rejected, 1);
	close(bad[0]);
	close(bad[1]);

	assert_int_equal(write(e[1], "abc", 3), 3);
	assert_int_equal(write(k[1], "abc", 3), 3);
	read_back(e[1], buf, 3);
	assert_memory_equal(buf, "abc", 3);
	read_back(k[1], buf, 2);
	assert_memory_equal(buf, "3\n", 2);
	assert_int_equal(count_state.reads, 1);
	assert_int_equal(st.accepted, 2);

	conn_pool_free(&pool);
	assert_int_equal(count_state.fini_calls, 1);
	assert_int_equal(st.closed, 2);
	assert_peer_closed(e[1]);
	assert_peer_closed(k[1]);
	close(e[1]);
	close(k[1]);
	/* the teardown frees it again: a no-op */
}

/* A read that fills the scratch space says so (HTTP then expects more
 * input behind it); the read after it does not. */
static void test_read_filled(void **state)
{
	enum { SIZE = CONN_SCRATCH_LEN + 100 };
	char *big = calloc(1, SIZE);
	char err[64];
	int k[2];
	uint64_t end = util_now_ms() + DEADLINE_MS;

	(void)state;
	assert_non_null(big);
	assert_int_equal(conn_pool_add_handler(&pool, &proto_count, NULL, err,
					       sizeof(err)),
			 1);
	unix_pair(k);
	/* all of it queued before the first read: a Unix stream socket
	 * buffer holds it, and recv takes up to the length asked */
	assert_int_equal(write(k[1], big, SIZE), SIZE);
	assert_int_equal(conn_open(&pool, k[0], 1), 0);
	while (count_state.bytes < SIZE) {
		if (util_now_ms() > end)
			fail_msg("deadline: %zu of %d bytes read",
				 count_state.bytes, SIZE);
		turns(1);
	}
	assert_int_equal(count_state.reads, 2);
	assert_int_equal(count_state.filled_reads, 1);
	assert_false(conn_read_filled(conn_of(k[0])));
	close(k[1]);
	wait_closed(1);
	free(big);
}

/* A protocol may read less than the scratch space holds (HTTP keeps
 * what it cannot answer yet, and takes no more than it will keep): the
 * rest stays in the socket, and a read that took all it asked for says
 * more may be there. */
static void test_read_max(void **state)
{
	char big[2500] = { 0 }, err[64];
	int k[2];
	uint64_t end = util_now_ms() + DEADLINE_MS;

	(void)state;
	assert_int_equal(conn_pool_add_handler(&pool, &proto_count, NULL, err,
					       sizeof(err)),
			 1);
	count_state.max = 1000;
	unix_pair(k);
	assert_int_equal(write(k[1], big, sizeof(big)), (ssize_t)sizeof(big));
	assert_int_equal(conn_open(&pool, k[0], 1), 0);
	while (count_state.bytes < sizeof(big)) {
		if (util_now_ms() > end)
			fail_msg("deadline: %zu of %zu bytes read",
				 count_state.bytes, sizeof(big));
		turns(1);
	}
	assert_int_equal(count_state.reads, 3);
	assert_int_equal(count_state.filled_reads, 2);
	assert_false(conn_read_filled(conn_of(k[0])));
	close(k[1]);
	wait_closed(1);
}

/* Edge-triggered, the peer's FIN comes with its last bytes in one
 * wake-up: reads short of the bytes there (max) and a read short of the
 * buffer (the FIN behind it) both go on to the EOF without a new event,
 * and the connection closes. */
static void test_read_to_fin(void **state)
{
	char big[2500] = { 0 }, err[64];
	int srv, cli;

	(void)state;
	assert_int_equal(conn_pool_add_handler(&pool, &proto_count, NULL, err,
					       sizeof(err)),
			 1);
	count_state.max = 1000;
	tcp_pair(&srv, &cli, 0);
	assert_int_equal(write(cli, big, sizeof(big)), (ssize_t)sizeof(big));
	assert_int_equal(shutdown(cli, SHUT_WR), 0);
	assert_int_equal(conn_open(&pool, srv, 1), 0);
	wait_closed(1);
	assert_int_equal(count_state.bytes, sizeof(big));
	assert_int_equal(count_state.reads, 3);
	close(cli);

	/* a few bytes and the FIN: one short read, then the EOF */
	memset(&count_state, 0, sizeof(count_state));
	count_state.max = 1000;
	tcp_pair(&srv, &cli, 0);
	assert_int_equal(write(cli, "abc", 3), 3);
	assert_int_equal(shutdown(cli, SHUT_WR), 0);
	assert_int_equal(conn_open(&pool, srv, 1), 0);
	wait_closed(2);
	assert_int_equal(count_state.bytes, 3);
	assert_int_equal(count_state.reads, 1);
	close(cli);
}

/* A socket kept full is read once more per turn after the others
 * (conn_repost), however often epoll reports it meanwhile: not one
 * read more every turn. */
static void test_posted_once_per_turn(void **state)
{
	char chunk[100] = { 0 }, err[64];
	int k[2], most = 0;

	(void)state;
	assert_int_equal(conn_pool_add_handler(&pool, &proto_count, NULL, err,
					       sizeof(err)),
			 1);
	count_state.max = sizeof(chunk);
	unix_pair(k);
	for (int i = 0; i < 20; i++)
		assert_int_equal(write(k[1], chunk, sizeof(chunk)),
				 (ssize_t)sizeof(chunk));
	assert_int_equal(conn_open(&pool, k[0], 1), 0);
	/* each turn the client sends a chunk more: epoll reports the
	 * socket while its post waits */
	for (int turn = 0; turn < 30; turn++) {
		int before = count_state.reads;

		assert_int_equal(write(k[1], chunk, sizeof(chunk)),
				 (ssize_t)sizeof(chunk));
		assert_true(loop_run_once(L, 0) >= 0);
		if (count_state.reads - before > most)
			most = count_state.reads - before;
	}
	assert_true(most <= 2);
	assert_true(count_state.reads >= 30);
	close(k[1]);
	wait_closed(1);
	assert_int_equal(count_state.bytes, 50 * sizeof(chunk));
}

/* --- outbound connections --- */

/* Turns the loop until cond holds, or fails at the deadline. */
#define TURN_UNTIL(cond) \
	do { \
		uint64_t end_ = util_now_ms() + DEADLINE_MS; \
		while (!(cond)) { \
			if (util_now_ms() > end_) \
				fail_msg("deadline: waiting for %s", #cond); \
			assert_true(loop_run_once(L, 5) >= 0); \
		} \
	} while (0)

/* What the upstream protocol of the tests saw: it says "ping" once
 * connected and keeps what it reads. */
static struct upstream_log {
	int connects; /* on_connect calls */
	int err;      /* the err of the last one */
	void *data;   /* conn_data at on_connect */
	int closes;   /* on_close calls */
	char in[64];
	size_t inlen;
} up;

static void up_connect(struct conn *c, int err)
{
	up.connects++;
	up.err = err;
	up.data = conn_data(c);
	if (!err)
		conn_send(c, "ping", 4);
}

static void up_readable(struct conn *c)
{
	char *data;
	ssize_t n = conn_read(c, &data);

	if (n == -2)
		return;
	if (n <= 0) {
		conn_close(c);
		return;
	}
	n = UTIL_MIN(n, (ssize_t)(sizeof(up.in) - up.inlen));
	memcpy(up.in + up.inlen, data, (size_t)n);
	up.inlen += (size_t)n;
}

static void up_close(struct conn *c)
{
	(void)c;
	up.closes++;
}

static const struct proto proto_upstream = {
	.name = "upstream",
	.on_connect = up_connect,
	.on_readable = up_readable,
	.on_close = up_close,
};

/* Handler 1 of the pool, beside echo. */
static int add_upstream(uint64_t connect_timeout_ms)
{
	char err[64];
	int h = conn_pool_add_handler(&pool, &proto_upstream, NULL, err,
				      sizeof(err));

	assert_int_equal(h, 1);
	memset(&up, 0, sizeof(up));
	conn_pool_set_timeout(&pool, CONN_TMO_CONNECT, connect_timeout_ms);
	return h;
}

/* A blocking loopback listener; *a gets its address. */
static int tcp_listener(struct sockaddr_in *a, int backlog)
{
	socklen_t len = sizeof(*a);
	int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(l >= 0);
	memset(a, 0, sizeof(*a));
	a->sin_family = AF_INET;
	a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(l, (struct sockaddr *)a, sizeof(*a)), 0);
	assert_int_equal(listen(l, backlog), 0);
	assert_int_equal(getsockname(l, (struct sockaddr *)a, &len), 0);
	return l;
}

/* Accepts the connection the pool opened, within the deadline. */
static int accept_upstream(int l)
{
	struct pollfd pl = { .fd = l, .events = POLLIN };
	int fd;

	assert_int_equal(poll(&pl, 1, DEADLINE_MS), 1);
	fd = accept4(l, NULL, NULL, SOCK_CLOEXEC);
	assert_true(fd >= 0);
	return fd;
}

/* Reads exactly len bytes from a blocking socket, within the deadline. */
static void read_exactly(int fd, char *out, size_t len)
{
	size_t got = 0;

	while (got < len) {
		struct pollfd pf = { .fd = fd, .events = POLLIN };
		ssize_t n;

		assert_int_equal(poll(&pf, 1, DEADLINE_MS), 1);
		n = read(fd, out + got, len - got);
		assert_true(n > 0);
		got += (size_t)n;
	}
}

/* A connect that succeeds: on_connect(0) comes from the loop, not from
 * conn_connect; bytes go both ways; none of it is in the worker's client
 * counters, only in the connection's own. */
static void test_connect_exchanges(void **state)
{
	struct sockaddr_in a;
	int l = tcp_listener(&a, 4), h = add_upstream(DEADLINE_MS), peer;
	int marker;
	char buf[4];
	struct conn *c;

	(void)state;
	c = conn_connect(&pool, (struct sockaddr *)&a, sizeof(a), h, &marker);
	assert_non_null(c);
	assert_true(conn_is_outbound(c));
	assert_int_equal(up.connects, 0);
	assert_int_equal(conn_timeout_kind(c), CONN_TMO_CONNECT);
	assert_int_equal(pool.outbound, 1);
	assert_int_equal(conn_pool_active(&pool), 0);

	TURN_UNTIL(up.connects == 1);
	assert_int_equal(up.err, 0);
	assert_ptr_equal(up.data, &marker);
	assert_int_equal(conn_timeout_kind(c), CONN_TMO_NONE);
	peer = accept_upstream(l);
	read_exactly(peer, buf, 4);
	assert_memory_equal(buf, "ping", 4);
	assert_int_equal(write(peer, "pong", 4), 4);
	TURN_UNTIL(up.inlen == 4);
	assert_memory_equal(up.in, "pong", 4);
	assert_int_equal(conn_bytes_in(c), 4);
	assert_int_equal(conn_bytes_out(c), 4);

	/* the peer leaves: EOF closes it, and no client counter moved */
	close(peer);
	TURN_UNTIL(up.closes == 1);
	assert_false(conn_is_open(c));
	assert_int_equal(pool.outbound, 0);
	assert_int_equal(up.connects, 1);
	assert_int_equal(st.accepted, 0);
	assert_int_equal(st.closed, 0);
	assert_int_equal(st.active, 0);
	assert_int_equal(st.bytes_in, 0);
	assert_int_equal(st.bytes_out, 0);
	close(l);
}

/* A port bound but not listening answers the SYN with a reset: the
 * protocol hears ECONNREFUSED, then the connection is closed for it. */
static void test_connect_refused(void **state)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t len = sizeof(a);
	int holder = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int h = add_upstream(DEADLINE_MS);
	struct conn *c;

	(void)state;
	assert_true(holder >= 0);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	/* holding the port keeps anyone else from listening on it */
	assert_int_equal(bind(holder, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(holder, (struct sockaddr *)&a, &len), 0);
	c = conn_connect(&pool, (struct sockaddr *)&a, sizeof(a), h, NULL);
	assert_non_null(c);
	TURN_UNTIL(up.connects == 1);
	assert_int_equal(up.err, ECONNREFUSED);
	assert_false(conn_is_open(c));
	assert_int_equal(up.closes, 1);
	assert_int_equal(pool.outbound, 0);
	assert_int_equal(st.closed, 0);
	assert_int_equal(slot_frees, 1);
	close(holder);
}

/* A listener whose accept queue is full drops new SYNs (Linux,
 * tcp_conn_request: "ListenOverflows"), so the connect neither succeeds
 * nor fails: the connect timeout ends it with ETIMEDOUT. */
static void test_connect_timeout(void **state)
{
	struct sockaddr_in a;
	struct pollfd pl;
	int l = tcp_listener(&a, 0), h = add_upstream(50), filler;
	uint64_t start;
	struct conn *c;

	(void)state;
	/* backlog 0 holds one connection: queue one, and see it queued
	 * (a listener is readable when its accept queue is not empty) */
	filler = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	assert_true(filler >= 0);
	assert_true(connect(filler, (struct sockaddr *)&a, sizeof(a)) == 0 ||
		    errno == EINPROGRESS);
	pl = (struct pollfd){ .fd = l, .events = POLLIN };
	assert_int_equal(poll(&pl, 1, DEADLINE_MS), 1);

	start = loop_now(L); /* deadlines count from the loop's time */
	c = conn_connect(&pool, (struct sockaddr *)&a, sizeof(a), h, NULL);
	assert_non_null(c);
	TURN_UNTIL(up.connects == 1);
	assert_int_equal(up.err, ETIMEDOUT);
	assert_true(util_now_ms() >= start + 50);
	assert_false(conn_is_open(c));
	assert_int_equal(up.closes, 1);
	assert_int_equal(pool.outbound, 0);
	close(filler);
	close(l);
}

/* A duplex connection paused: data waits in the socket; a hang-up
 * meanwhile (FINs both ways) is parked out of epoll rather than
 * reported at every turn; resumed, the data and the end are read. */
static void test_duplex_pause_parks_hangup(void **state)
{
	struct sockaddr_in a;
	int l = tcp_listener(&a, 4), h = add_upstream(DEADLINE_MS), peer;
	char buf[4];
	struct conn *c;

	(void)state;
	c = conn_connect(&pool, (struct sockaddr *)&a, sizeof(a), h, NULL);
	assert_non_null(c);
	conn_set_duplex(c);
	TURN_UNTIL(up.connects == 1);
	peer = accept_upstream(l);
	read_exactly(peer, buf, 4);
	assert_int_equal(conn_pause_read(c, 1), 0);
	assert_true(conn_read_paused(c));
	assert_int_equal(write(peer, "pong", 4), 4);
	assert_int_equal(shutdown(peer, SHUT_WR), 0);
	assert_int_equal(shutdown(conn_fd(c), SHUT_WR), 0);
	/* One turn may see the hang-up (and park it); none after that. */
	assert_true(loop_run_once(L, 20) <= 1);
	for (int k = 0; k < 3; k++)
		assert_int_equal(loop_run_once(L, 20), 0);
	assert_int_equal(up.inlen, 0);
	assert_true(conn_is_open(c));
	assert_int_equal(conn_pause_read(c, 0), 0);
	TURN_UNTIL(up.closes == 1);
	assert_int_equal(up.inlen, 4);
	assert_memory_equal(up.in, "pong", 4);
	close(peer);
	close(l);
}

/* conn_connect_src: the connection leaves from the source address, its
 * port from the range; with the range's one port taken towards the same
 * server, connect fails at once with EADDRNOTAVAIL. */
static void test_connect_from_source(void **state)
{
	struct sockaddr_in a, src = { .sin_family = AF_INET }, seen;
	socklen_t len = sizeof(seen);
	int l = tcp_listener(&a, 4), h = add_upstream(DEADLINE_MS), peer;
	struct conn_source cs = { (struct sockaddr *)&src, sizeof(src), 0 };
	int ranged = up_port_range_supported(), port;
	struct conn *c;

	(void)state;
	src.sin_addr.s_addr = htonl(0x7f000002); /* 127.0.0.2 */
	if (ranged)
		cs.port_range = 40999u << 16 | 40000u;
	c = conn_connect_src(&pool, (struct sockaddr *)&a, sizeof(a), &cs, h,
			     NULL);
	assert_non_null(c);
	TURN_UNTIL(up.connects == 1);
	assert_int_equal(up.err, 0);
	peer = accept_upstream(l);
	assert_int_equal(getpeername(peer, (struct sockaddr *)&seen, &len), 0);
	assert_int_equal(seen.sin_addr.s_addr, src.sin_addr.s_addr);
	port = ntohs(seen.sin_port);
	if (!ranged) {
		print_message("# no IP_LOCAL_PORT_RANGE: range not checked\n");
	} else {
		assert_in_range(port, 40000, 40999);
		cs.port_range = (uint32_t)port << 16 | (uint32_t)port;
		errno = 0;
		assert_null(conn_connect_src(&pool, (struct sockaddr *)&a,
					     sizeof(a), &cs, h, NULL));
		assert_int_equal(errno, EADDRNOTAVAIL);
		assert_int_equal(pool.outbound, 1);
	}
	close(peer);
	TURN_UNTIL(up.closes == 1);
	close(l);
}

/* An accepted client (echo, handler 0) and an outbound connection
 * (handler 1) in one pool: each is served by its own protocol, the walk
 * sees both, and the client counters count the client alone. */
static void test_accepted_and_connected(void **state)
{
	struct sockaddr_in a;
	int l = tcp_listener(&a, 4), h = add_upstream(DEADLINE_MS);
	int srv, cli, peer, n = -100;
	unsigned char echoed[5];
	char buf[4];

	(void)state;
	tcp_pair(&srv, &cli, 0);
	assert_int_equal(conn_open(&pool, srv, 0), 0);
	assert_non_null(
		conn_connect(&pool, (struct sockaddr *)&a, sizeof(a), h, NULL));
	TURN_UNTIL(up.connects == 1);
	peer = accept_upstream(l);

	assert_int_equal(write(cli, "hello", 5), 5);
	assert_int_equal(write(peer, "pong", 4), 4);
	read_back(cli, echoed, 5);
	assert_memory_equal(echoed, "hello", 5);
	TURN_UNTIL(up.inlen == 4);
	read_exactly(peer, buf, 4);
	assert_memory_equal(buf, "ping", 4);

	conn_foreach(&pool, count_conn, &n);
	assert_int_equal(n, -98);
	assert_int_equal(st.accepted, 1);
	assert_int_equal(st.active, 1);
	assert_int_equal(st.bytes_in, 5);
	assert_int_equal(st.bytes_out, 5);

	conn_pool_close_all(&pool);
	assert_int_equal(up.closes, 1);
	assert_int_equal(pool.outbound, 0);
	assert_int_equal(conn_pool_active(&pool), 0);
	assert_int_equal(st.closed, 1); /* accepted = closed + active */
	assert_int_equal(st.active, 0);
	assert_peer_closed(cli);
	assert_peer_closed(peer);
	close(cli);
	close(peer);
	close(l);
}

/* With no on_timeout (echo), an expired timeout closes the connection;
 * a cleared one does not. */
static void test_timeout_closes(void **state)
{
	int a[2], b[2];
	/* deadlines count from when they are set */
	uint64_t start = util_now_ms();

	(void)state;
	conn_pool_set_timeout(&pool, CONN_TMO_KEEPALIVE, 30);
	unix_pair(a);
	unix_pair(b);
	assert_int_equal(conn_open(&pool, a[0], 0), 0);
	assert_int_equal(conn_open(&pool, b[0], 0), 0);
	conn_timeout(conn_of(a[0]), CONN_TMO_KEEPALIVE);
	conn_timeout(conn_of(b[0]), CONN_TMO_KEEPALIVE);
	assert_int_equal(conn_timeout_kind(conn_of(a[0])), CONN_TMO_KEEPALIVE);
	conn_timeout(conn_of(b[0]), CONN_TMO_NONE);
	assert_int_equal(conn_timeout_kind(conn_of(b[0])), CONN_TMO_NONE);

	wait_closed(1);
	assert_true(util_now_ms() >= start + 30);
	assert_false(conn_is_open(conn_of(a[0])));
	assert_peer_closed(a[1]);
	/* well past the deadline, b is still open */
	while (util_now_ms() < start + 100)
		turns(1);
	assert_true(conn_is_open(conn_of(b[0])));
	assert_int_equal(st.closed, 1);

	/* a kind without a duration is no timeout at all */
	conn_timeout(conn_of(b[0]), CONN_TMO_HEADER);
	assert_int_equal(conn_timeout_kind(conn_of(b[0])), CONN_TMO_NONE);
	close(a[1]);
	close(b[1]);
	wait_closed(2);
}

/* The send timeout measures the time since the socket last took bytes:
 * queued output replaces whatever timeout ran (a long answer is not an
 * idle connection), a peer that keeps reading, however slowly, is never
 * cut, and one that stops is closed send_timeout after its last read. */
static void test_send_timeout_measures_progress(void **state)
{
	/* SEND_MS: longer than this process may wait for a CPU on a loaded
	 * 2-core machine (300 ms was not, once, under distcheck): the reader
	 * must stay within it to count as progressing. */
	enum { BIG = 1 << 20, SEND_MS = 1000 };
	unsigned char *big = calloc(1, BIG), buf[16384];
	uint64_t t0;
	int srv, cli;
	struct conn *c;

	(void)state;
	assert_non_null(big);
	conn_pool_set_timeout(&pool, CONN_TMO_KEEPALIVE, 60000);
	conn_pool_set_timeout(&pool, CONN_TMO_SEND, SEND_MS);
	tcp_pair(&srv, &cli, 4096);
	assert_int_equal(conn_open(&pool, srv, 0), 0);
	c = conn_of(srv);
	conn_timeout(c, CONN_TMO_KEEPALIVE);
	/* far more than the sockets hold: most of it is queued */
	assert_int_equal(conn_send(c, big, BIG), 0);
	assert_true(conn_has_output(c));
	assert_int_equal(conn_timeout_kind(c), CONN_TMO_SEND);

	/* a slow reader: what has come every SEND_MS / 4 (a window's worth:
	 * TCP sends smaller window updates only so often), for 2 x SEND_MS */
	t0 = util_now_ms();
	while (util_now_ms() < t0 + 2 * SEND_MS) {
		uint64_t next = util_now_ms() + SEND_MS / 4;
		ssize_t n = read(cli, buf, sizeof(buf));

		assert_true(n > 0 || (n < 0 && errno == EAGAIN));
		while (util_now_ms() < next)
			assert_true(loop_run_once(L, 5) >= 0);
		assert_true(conn_is_open(c));
	}
	assert_true(conn_has_output(c));
	/* it stops: closed once the socket has taken nothing for SEND_MS */
	t0 = util_now_ms();
	wait_closed(1);
	assert_true(util_now_ms() >= t0 + SEND_MS / 2);
	assert_false(conn_is_open(c));
	close(cli);
	free(big);
}

/* conn_want_write (a protocol that writes itself, as with sendfile):
 * the send timeout takes over from the one running, until the socket is
 * writable; bytes counted with conn_count_out restart it only while the
 * connection waits. */
static void test_want_write_runs_send_timeout(void **state)
{
	int sv[2];
	struct conn *c;

	(void)state;
	conn_pool_set_timeout(&pool, CONN_TMO_HEADER, 60000);
	conn_pool_set_timeout(&pool, CONN_TMO_SEND, 60000);
	unix_pair(sv);
	assert_int_equal(conn_open(&pool, sv[0], 0), 0);
	c = conn_of(sv[0]);
	conn_timeout(c, CONN_TMO_HEADER);
	conn_count_out(c, 10);
	assert_int_equal(conn_timeout_kind(c), CONN_TMO_HEADER);
	assert_int_equal(conn_want_write(c), 0);
	assert_int_equal(conn_timeout_kind(c), CONN_TMO_SEND);
	conn_count_out(c, 10);
	assert_int_equal(conn_timeout_kind(c), CONN_TMO_SEND);
	/* the socket is writable: the wait, and its timeout, are over */
	turns(2);
	assert_int_equal(conn_timeout_kind(c), CONN_TMO_NONE);
	assert_int_equal(conn_bytes_out(c), 20);
	close(sv[1]);
	wait_closed(1);
}

/* A turn of the loop that lasts: the worker busy with other
 * connections, or not scheduled by a loaded host, after epoll_wait
 * returned. Bytes the socket took late in that turn restart the send
 * timeout from when they were taken: the connection is not closed
 * sooner than send_timeout after its last progress. (Counted from the
 * turn's start, it was closed LATE_MS too soon, and a slow reader was
 * cut by test_http_timeouts on a loaded host.) */
enum { LATE_SEND_MS = 400, LATE_MS = 300 };
static struct conn *late_conn;
static uint64_t late_progress_ms;

static void late_progress(struct loop_watch *w, uint32_t events)
{
	char b;

	(void)events;
	assert_int_equal(read(w->fd, &b, 1), 1);
	/* the turn goes on: other connections' work, or no CPU */
	poll(NULL, 0, LATE_MS);
	/* then the socket takes bytes (as after a sendfile) */
	conn_count_out(late_conn, 1);
	late_progress_ms = util_now_ms();
}

static void test_send_timeout_counts_from_progress(void **state)
{
	struct loop_watch w = { 0 };
	char fill[4096];
	int sv[2], p[2];
	uint64_t closed_ms;

	(void)state;
	memset(fill, 'f', sizeof(fill));
	conn_pool_set_timeout(&pool, CONN_TMO_SEND, LATE_SEND_MS);
	unix_pair(sv);
	/* the socket full: the connection waits to write, and stays so,
	 * as its peer reads nothing */
	while (send(sv[0], fill, sizeof(fill), MSG_DONTWAIT) > 0)
		;
	assert_int_equal(errno, EAGAIN);
	assert_int_equal(conn_open(&pool, sv[0], 0), 0);
	late_conn = conn_of(sv[0]);
	assert_int_equal(conn_want_write(late_conn), 0);
	assert_int_equal(conn_timeout_kind(late_conn), CONN_TMO_SEND);

	assert_int_equal(pipe2(p, O_NONBLOCK | O_CLOEXEC), 0);
	assert_int_equal(loop_add(L, &w, p[0], EPOLLIN, late_progress), 0);
	late_progress_ms = 0;
	assert_int_equal(write(p[1], "x", 1), 1);
	while (!late_progress_ms)
		turns(1);
	/* No upper bound on our own timing is needed: each turn looks at
	 * the clock after the close would have been due. */
	while (conn_is_open(late_conn) &&
	       util_now_ms() < late_progress_ms + 4 * LATE_SEND_MS)
		turns(1);
	closed_ms = util_now_ms();
	assert_false(conn_is_open(late_conn));
	if (closed_ms < late_progress_ms + LATE_SEND_MS)
		fail_msg("closed %llu ms after the socket took bytes; send timeout %d ms",
			 (unsigned long long)(closed_ms - late_progress_ms),
			 LATE_SEND_MS);
	assert_int_equal(st.closed, 1);
	assert_int_equal(loop_del(L, &w), 0);
	close(p[0]);
	close(p[1]);
	close(sv[1]);
}

/* Freeing the pool closes what is left. */
static void test_pool_free_closes_all(void **state)
{
	int p[3][2];

	(void)state;
	for (int i = 0; i < 3; i++) {
		unix_pair(p[i]);
		assert_int_equal(conn_open(&pool, p[i][0], 0), 0);
	}
	conn_pool_close_all(&pool);
	assert_int_equal(conn_pool_active(&pool), 0);
	assert_int_equal(st.closed, 3);
	assert_int_equal(st.active, 0);
	for (int i = 0; i < 3; i++) {
		assert_peer_closed(p[i][1]);
		close(p[i][1]);
	}
}

/* Some cases hold more than 1024 descriptors (the soft limit a user
 * session often starts with): up to the hard limit, as the daemon does. */
static void raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_two_pools, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hand_over, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hand_over_refused, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_taken_close_leaves_no_registration,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_echo_unix, setup, teardown),
		cmocka_unit_test_setup_teardown(test_echo_many_tcp, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_back_pressure, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_peer_gone_with_output,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_cap, setup_cap2, teardown),
		cmocka_unit_test_setup_teardown(test_peer_limit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fd_beyond_table, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_describe, setup, teardown),
		cmocka_unit_test_setup_teardown(test_foreach, setup, teardown),
		cmocka_unit_test_setup_teardown(test_handler_per_connection,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_filled, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_max, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_to_fin, setup, teardown),
		cmocka_unit_test_setup_teardown(test_posted_once_per_turn,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_connect_exchanges, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_connect_refused, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_connect_timeout, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_duplex_pause_parks_hangup,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_connect_from_source, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_accepted_and_connected,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_timeout_closes, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_send_timeout_measures_progress,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_want_write_runs_send_timeout,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_send_timeout_counts_from_progress,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_pool_free_closes_all,
						setup, teardown),
	};

	signal(SIGPIPE, SIG_IGN);
	raise_nofile();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
