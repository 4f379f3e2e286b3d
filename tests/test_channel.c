/* test_channel.c - master<->worker frames over a socketpair.
 *
 * Both ends run in this one process, each on its own loop, as the master
 * and a worker would; a "raw" end (a plain fd) stands in for a broken or
 * slow peer when the test needs to control the bytes on the wire. */
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
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "channel.h"
#include "conn.h"
#include "stats.h"
#include "loop.h"
#include "util.h"

#define DEADLINE_MS 4000
#define MAX_MSGS 64
#define N_MSGS(a) (sizeof(a) / sizeof((a)[0]))
#define TYPE_FDS 99 /* a test message that carries descriptors */

struct msg {
	uint32_t type;
	uint64_t seq;
	size_t len;
	unsigned char *data;
	int nfds;
	int fds[CHAN_MAX_FDS]; /* taken from the frame when the end takes them */
};

/* The framing tests send bodies of any size under every type: a schema
 * that takes any body (records of one byte) for each of them. */
static const struct chan_msg_spec any_msgs[] = {
	{ .type = CHAN_READY, .name = "READY", .item = 1, .max_fds = 0 },
	{ .type = CHAN_HEARTBEAT, .name = "HEARTBEAT", .item = 1, .max_fds = 0 },
	{ .type = CHAN_ALIVE, .name = "ALIVE", .item = 1, .max_fds = 0 },
	{ .type = CHAN_CONNS_REQ, .name = "CONNS_REQ", .item = 1, .max_fds = 0 },
	{ .type = CHAN_CONNS, .name = "CONNS", .item = 1, .max_fds = 0 },
	{ .type = CHAN_DRAIN, .name = "DRAIN", .item = 1, .max_fds = 0 },
	{ .type = TYPE_FDS, .name = "FDS", .item = 1, .max_fds = CHAN_MAX_FDS },
};
static const struct chan_schema any_schema = { any_msgs, N_MSGS(any_msgs) };

/* One end: its loop, its channel and what it received. */
struct end {
	struct loop *loop;
	struct chan ch;
	struct msg msgs[MAX_MSGS];
	int nmsgs;
	int closes;
	int malformed; /* closes for a broken frame */
	char why[160];
	int close_after; /* on_msg closes the channel after this many */
	int take_fds;    /* on_msg keeps the frame's descriptors */
};

static struct end A, B;

static void on_msg(struct chan *ch, const struct chan_hdr *h, const void *payload)
{
	struct end *e = ch->arg;
	struct msg *m;

	assert_true(e->nmsgs < MAX_MSGS);
	m = &e->msgs[e->nmsgs++];
	m->type = h->type;
	m->seq = h->seq;
	m->len = h->len;
	m->data = malloc(h->len ? h->len : 1);
	assert_non_null(m->data);
	memcpy(m->data, payload, h->len);
	int *fds = chan_frame_fds(ch, &m->nfds);

	assert_int_equal(m->nfds, h->nfds);
	for (int i = 0; i < m->nfds; i++) {
		m->fds[i] = e->take_fds ? fds[i] : -1;
		if (e->take_fds)
			fds[i] = -1;
	}
	if (e->close_after && e->nmsgs == e->close_after)
		chan_close(ch);
}

static void on_close(struct chan *ch, int malformed, const char *why)
{
	struct end *e = ch->arg;

	assert_false(ch->open);
	e->closes++;
	e->malformed += malformed;
	snprintf(e->why, sizeof(e->why), "%s", why);
}

static void end_init(struct end *e)
{
	memset(e, 0, sizeof(*e));
	e->loop = loop_new();
	assert_non_null(e->loop);
}

static void end_free(struct end *e)
{
	chan_close(&e->ch);
	for (int i = 0; i < e->nmsgs; i++) {
		free(e->msgs[i].data);
		for (int k = 0; k < e->msgs[i].nfds; k++)
			if (e->msgs[i].fds[k] >= 0)
				close(e->msgs[i].fds[k]);
	}
	loop_free(e->loop);
	memset(e, 0, sizeof(*e));
}

/* A and B joined by a socketpair. */
static int setup_pair(void **state)
{
	int sv[2];

	(void)state;
	end_init(&A);
	end_init(&B);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -1;
	if (chan_open(&A.ch, A.loop, sv[0], &any_schema, on_msg, on_close, &A) < 0 ||
	    chan_open(&B.ch, B.loop, sv[1], &any_schema, on_msg, on_close, &B) < 0)
		return -1;
	return 0;
}

/* B on a channel, and its peer a raw fd the test writes by hand. */
static int raw_fd = -1;

static int open_raw(const struct chan_schema *schema)
{
	int sv[2];

	end_init(&B);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -1;
	raw_fd = sv[0];
	return chan_open(&B.ch, B.loop, sv[1], schema, on_msg, on_close, &B);
}

static int setup_raw(void **state)
{
	(void)state;
	return open_raw(&any_schema);
}

static int teardown(void **state)
{
	(void)state;
	if (A.loop)
		end_free(&A);
	if (B.loop)
		end_free(&B);
	if (raw_fd >= 0)
		close(raw_fd);
	raw_fd = -1;
	return 0;
}

/* Turns both loops (whichever exist) until done() or the deadline. */
static void pump(int (*done)(void *), void *arg)
{
	uint64_t end = util_now_ms() + DEADLINE_MS;

	while (!done(arg)) {
		struct pollfd p[2];
		int n = 0;

		if (util_now_ms() > end)
			fail_msg("deadline: A has %d messages, B has %d",
				 A.nmsgs, B.nmsgs);
		if (A.loop)
			p[n++] = (struct pollfd){ .fd = loop_fd(A.loop),
						  .events = POLLIN };
		if (B.loop)
			p[n++] = (struct pollfd){ .fd = loop_fd(B.loop),
						  .events = POLLIN };
		poll(p, (nfds_t)n, 20);
		if (A.loop)
			assert_true(loop_run_once(A.loop, 0) >= 0);
		if (B.loop)
			assert_true(loop_run_once(B.loop, 0) >= 0);
	}
}

/* A few turns with nothing expected to happen. */
static void idle_turns(void)
{
	for (int i = 0; i < 5; i++) {
		if (A.loop)
			assert_true(loop_run_once(A.loop, 5) >= 0);
		if (B.loop)
			assert_true(loop_run_once(B.loop, 5) >= 0);
	}
}

static int has_msgs(void *arg)
{
	const int *want = arg;

	return A.nmsgs >= want[0] && B.nmsgs >= want[1];
}

static int b_closed(void *arg)
{
	(void)arg;
	return B.closes > 0;
}

static void write_all(int fd, const void *p, size_t n)
{
	assert_int_equal(write(fd, p, n), (ssize_t)n);
}

static void raw_frame(uint32_t type, uint64_t seq, const void *p, uint32_t len)
{
	struct chan_hdr h = { .type = (uint16_t)type, .len = len, .seq = seq };

	write_all(raw_fd, &h, sizeof(h));
	if (len)
		write_all(raw_fd, p, len);
}

static unsigned char pattern(size_t i)
{
	return (unsigned char)((i * 13 + i / 509) & 0xff);
}

/* --- frames both ways --- */

static void test_small_frames(void **state)
{
	struct chan_drain d = { .timeout_ms = 1500, .fast = 0 };
	struct chan_conns_hdr ch = { .active = 7, .count = 2 };
	static const char recs[] = "record-one|record-two";
	int want[2] = { 2, 4 };

	(void)state;
	assert_int_equal(chan_send(&A.ch, CHAN_HEARTBEAT, 1, NULL, 0), 0);
	assert_int_equal(chan_send(&A.ch, CHAN_DRAIN, 2, &d, sizeof(d)), 0);
	assert_int_equal(chan_send_records(&A.ch, CHAN_CONNS, 3, &ch,
					   sizeof(ch), recs, sizeof(recs)),
			 0);
	assert_int_equal(chan_send(&A.ch, CHAN_READY, UINT64_MAX, "z", 1), 0);
	assert_int_equal(chan_send(&B.ch, CHAN_READY, 10, NULL, 0), 0);
	assert_int_equal(chan_send(&B.ch, CHAN_ALIVE, 11, "stats", 5), 0);
	pump(has_msgs, want);

	assert_int_equal(B.msgs[0].type, CHAN_HEARTBEAT);
	assert_int_equal(B.msgs[0].seq, 1);
	assert_int_equal(B.msgs[0].len, 0);
	assert_int_equal(B.msgs[1].type, CHAN_DRAIN);
	assert_int_equal(B.msgs[1].seq, 2);
	assert_int_equal(B.msgs[1].len, sizeof(d));
	assert_memory_equal(B.msgs[1].data, &d, sizeof(d));
	/* two parts arrive as one payload */
	assert_int_equal(B.msgs[2].type, CHAN_CONNS);
	assert_int_equal(B.msgs[2].len, sizeof(ch) + sizeof(recs));
	assert_memory_equal(B.msgs[2].data, &ch, sizeof(ch));
	assert_memory_equal(B.msgs[2].data + sizeof(ch), recs, sizeof(recs));
	assert_int_equal(B.msgs[3].seq, UINT64_MAX);
	assert_memory_equal(B.msgs[3].data, "z", 1);

	assert_int_equal(A.msgs[0].type, CHAN_READY);
	assert_int_equal(A.msgs[0].seq, 10);
	assert_int_equal(A.msgs[1].type, CHAN_ALIVE);
	assert_int_equal(A.msgs[1].len, 5);
	assert_memory_equal(A.msgs[1].data, "stats", 5);

	idle_turns();
	assert_int_equal(A.nmsgs, 2);
	assert_int_equal(B.nmsgs, 4);
	assert_int_equal(A.closes + B.closes, 0);
}

/* Payloads far larger than the socket buffer go out as the peer drains,
 * intact and in order with the small frames around them. */
static void test_large_frames(void **state)
{
	size_t big = (6u << 20) + 123, big2 = 3u << 20;
	unsigned char *p = malloc(big);
	int want[2] = { 1, 3 };

	(void)state;
	assert_non_null(p);
	for (size_t i = 0; i < big; i++)
		p[i] = pattern(i);
	assert_int_equal(chan_send(&A.ch, CHAN_HEARTBEAT, 1, "a", 1), 0);
	assert_int_equal(chan_send(&A.ch, CHAN_CONNS, 2, p, big), 0);
	/* more than the socket takes: the rest waits in the queue */
	assert_true(buf_pending(&A.ch.out) > 0);
	assert_true(A.ch.w.events & EPOLLOUT);
	assert_int_equal(chan_send_records(&A.ch, CHAN_CONNS, 3, p, big2,
					   "tail", 4),
			 0);
	assert_int_equal(chan_send(&B.ch, CHAN_ALIVE, 4, p, big2), 0);
	pump(has_msgs, want);

	assert_int_equal(B.msgs[0].seq, 1);
	assert_int_equal(B.msgs[1].seq, 2);
	assert_int_equal(B.msgs[1].len, big);
	assert_memory_equal(B.msgs[1].data, p, big);
	assert_int_equal(B.msgs[2].seq, 3);
	assert_int_equal(B.msgs[2].len, big2 + 4);
	assert_memory_equal(B.msgs[2].data, p, big2);
	assert_memory_equal(B.msgs[2].data + big2, "tail", 4);
	assert_int_equal(A.msgs[0].len, big2);
	assert_memory_equal(A.msgs[0].data, p, big2);

	/* drained: the writer stops asking for EPOLLOUT */
	idle_turns();
	assert_int_equal(buf_pending(&A.ch.out), 0);
	assert_int_equal(A.ch.w.events, EPOLLIN);
	assert_int_equal(B.ch.w.events, EPOLLIN);
	/* and the readers hold no input buffer once it is empty (a master
	 * kept a listing page per worker, 2.4 -> 8.6 MiB at 20 workers, then
	 * the 64 KiB chunk its last read reserved, and forked them into
	 * every new worker) */
	assert_int_equal(B.ch.in.cap, 0);
	assert_int_equal(A.ch.in.cap, 0);
	free(p);
}

/* --- a peer writing by hand --- */

static void test_partial_frame_waits(void **state)
{
	struct chan_hdr h = { .type = CHAN_ALIVE, .len = 10, .seq = 42 };
	const char *payload = "0123456789";
	int want[2] = { 0, 1 };

	(void)state;
	/* part of a header */
	write_all(raw_fd, &h, 5);
	idle_turns();
	assert_int_equal(B.nmsgs, 0);
	/* the rest of the header and part of the payload */
	write_all(raw_fd, (const char *)&h + 5, sizeof(h) - 5);
	write_all(raw_fd, payload, 4);
	idle_turns();
	assert_int_equal(B.nmsgs, 0);
	assert_true(B.ch.open);
	/* the rest, and the start of the next frame in the same write */
	char tail[6 + sizeof(h)];
	struct chan_hdr h2 = { .type = CHAN_READY, .len = 0, .seq = 43 };

	memcpy(tail, payload + 4, 6);
	memcpy(tail + 6, &h2, sizeof(h2));
	write_all(raw_fd, tail, sizeof(tail));
	pump(has_msgs, want);
	assert_int_equal(B.msgs[0].seq, 42);
	assert_int_equal(B.msgs[0].len, 10);
	assert_memory_equal(B.msgs[0].data, payload, 10);
	want[1] = 2;
	pump(has_msgs, want);
	assert_int_equal(B.msgs[1].seq, 43);
	assert_int_equal(B.msgs[1].len, 0);
	assert_int_equal(B.closes, 0);
}

/* A length up to the limit is a big answer still on its way. */
static void test_frame_at_limit_waits(void **state)
{
	struct chan_hdr h = { .type = CHAN_CONNS, .len = CHAN_MAX_FRAME, .seq = 1 };

	(void)state;
	write_all(raw_fd, &h, sizeof(h));
	write_all(raw_fd, "abc", 3);
	idle_turns();
	assert_true(B.ch.open);
	assert_int_equal(B.closes, 0);
	assert_int_equal(B.nmsgs, 0);
}

/* A length beyond it is a broken peer: the channel closes, on_close is
 * called once, and nothing is delivered. */
static void test_oversize_closes(void **state)
{
	struct chan_hdr h = { .type = CHAN_ALIVE,
			      .len = CHAN_MAX_FRAME + 1,
			      .seq = 7 };

	(void)state;
	raw_frame(CHAN_READY, 1, "ok", 2);
	write_all(raw_fd, &h, sizeof(h));
	pump(b_closed, NULL);
	assert_false(B.ch.open);
	assert_int_equal(B.closes, 1);
	assert_int_equal(B.nmsgs, 1); /* the good frame before it */
	assert_int_equal(B.msgs[0].seq, 1);
	assert_int_equal(chan_send(&B.ch, CHAN_ALIVE, 2, "x", 1), -1);
	idle_turns();
	assert_int_equal(B.closes, 1);

	/* the peer sees the close */
	char c;

	assert_int_equal(read(raw_fd, &c, 1), 0);
}

static void test_eof_closes(void **state)
{
	(void)state;
	raw_frame(CHAN_ALIVE, 5, "last", 4);
	close(raw_fd);
	raw_fd = -1;
	pump(b_closed, NULL);
	assert_int_equal(B.closes, 1);
	assert_false(B.ch.open);
	/* what the peer wrote before it went is not lost */
	assert_int_equal(B.nmsgs, 1);
	assert_memory_equal(B.msgs[0].data, "last", 4);
	assert_int_equal(chan_send(&B.ch, CHAN_ALIVE, 6, NULL, 0), -1);
	chan_close(&B.ch); /* twice is harmless */
	assert_int_equal(B.closes, 1);
}

/* Sending to a peer that is gone fails and reports the close. */
static void test_send_to_gone_peer(void **state)
{
	(void)state;
	close(raw_fd);
	raw_fd = -1;
	assert_int_equal(chan_send(&B.ch, CHAN_ALIVE, 1, "x", 1), -1);
	assert_false(B.ch.open);
	assert_int_equal(B.closes, 1);
}

/* on_msg may close the channel while more frames wait in the buffer. */
static void test_close_inside_on_msg(void **state)
{
	(void)state;
	B.close_after = 1;
	raw_frame(CHAN_ALIVE, 1, "one", 3);
	raw_frame(CHAN_ALIVE, 2, "two", 3);
	raw_frame(CHAN_ALIVE, 3, "six", 3);
	idle_turns();
	assert_int_equal(B.nmsgs, 1);
	assert_false(B.ch.open);
	assert_int_equal(B.closes, 0); /* closed by its owner, not by a fault */
}

/* A dead worker's last words: everything it wrote is delivered, and the
 * EOF after it does not call on_close. */
static void test_read_all(void **state)
{
	(void)state;
	for (int i = 0; i < 10; i++)
		raw_frame(CHAN_ALIVE, (uint64_t)i, &i, sizeof(i));
	close(raw_fd);
	raw_fd = -1;
	chan_read_all(&B.ch);
	assert_int_equal(B.nmsgs, 10);
	for (int i = 0; i < 10; i++) {
		assert_int_equal(B.msgs[i].seq, (uint64_t)i);
		assert_memory_equal(B.msgs[i].data, &i, sizeof(i));
	}
	assert_int_equal(B.closes, 0);
}

/* --- the message types and their bodies --- */

/* B as the master: the raw end plays a worker. */
static int setup_raw_master(void **state)
{
	(void)state;
	return open_raw(&chan_to_master);
}

/* Every message a worker sends, with its body, is delivered. */
static void test_schema_delivers_worker_messages(void **state)
{
	struct {
		struct chan_conns_hdr h;
		struct stats_conn rec[2];
	} conns = { { .active = 5, .count = 2 },
		    { { .worker = 1 }, { .worker = 2 } } };
	struct chan_failed f = { "start-up: docroot: gone" };
	int want[2] = { 0, 5 };

	(void)state;
	raw_frame(CHAN_READY, 0, NULL, 0);
	raw_frame(CHAN_ALIVE, 0, NULL, 0);
	raw_frame(CHAN_FAILED, 7, &f, sizeof(f));
	raw_frame(CHAN_CONNS, 8, &conns, sizeof(conns));
	struct chan_conns_hdr none = { .next = CHAN_CONNS_END };

	raw_frame(CHAN_CONNS, 9, &none, sizeof(none)); /* no rows */
	pump(has_msgs, want);
	assert_int_equal(B.closes, 0);
	assert_int_equal(B.msgs[1].type, CHAN_ALIVE);
	assert_memory_equal(B.msgs[2].data, &f, sizeof(f));
	assert_int_equal(B.msgs[3].len, sizeof(conns));
}

/* A frame that breaks the rules is a bug in the sender: the channel
 * closes with malformed set, and nothing of it is delivered. */
static void malformed_case(uint32_t type, const void *body, uint32_t len,
			   const char *why_has)
{
	raw_frame(CHAN_READY, 0, NULL, 0);
	raw_frame(type, 1, body, len);
	raw_frame(CHAN_READY, 0, NULL, 0);
	pump(b_closed, NULL);
	assert_int_equal(B.malformed, 1);
	assert_int_equal(B.nmsgs, 1); /* the good frame before it */
	assert_false(B.ch.open);
	if (!strstr(B.why, why_has))
		fail_msg("reason '%s' does not name '%s'", B.why, why_has);
}

static void test_schema_short_body(void **state)
{
	struct chan_conns_hdr h = { .count = 0 };

	(void)state;
	malformed_case(CHAN_CONNS, &h, sizeof(h) - 4, "CONNS message of");
}

static void test_schema_long_body(void **state)
{
	char body[8] = { 0 };

	(void)state;
	malformed_case(CHAN_ALIVE, body, sizeof(body), "ALIVE message of");
}

/* A reason that does not end inside its field is not a string. */
static void test_schema_unterminated_reason(void **state)
{
	struct chan_failed f;

	(void)state;
	memset(&f, 'x', sizeof(f));
	malformed_case(CHAN_FAILED, &f, sizeof(f), "does not add up");
}

static void test_schema_unknown_type(void **state)
{
	(void)state;
	malformed_case(99, "x", 1, "type 99");
}

/* A master's message coming from a worker is as wrong as an unknown one. */
static void test_schema_wrong_direction(void **state)
{
	struct chan_drain d = { 1000, 0, 0, 0, 0 };

	(void)state;
	malformed_case(CHAN_DRAIN, &d, sizeof(d), "type");
}

static void test_schema_rows_do_not_add_up(void **state)
{
	struct {
		struct chan_conns_hdr h;
		struct stats_conn rec[2];
	} conns = { { .active = 5, .count = 3 }, { { .worker = 0 } } };

	(void)state;
	malformed_case(CHAN_CONNS, &conns, sizeof(conns), "does not add up");
}

/* The check alone, against both schemas: each type takes its own size. */
static void test_check_sizes(void **state)
{
	static const struct {
		const struct chan_schema *s;
		uint32_t type, len;
		int ok;
	} cases[] = {
		{ &chan_to_worker, CHAN_DRAIN, sizeof(struct chan_drain), 1 },
		/* a short DRAIN used to mean "timeout 0" */
		{ &chan_to_worker, CHAN_DRAIN, 8, 0 },
		{ &chan_to_worker, CHAN_DRAIN, 0, 0 },
		{ &chan_to_worker, CHAN_HEARTBEAT, 0, 1 },
		{ &chan_to_worker, CHAN_HEARTBEAT, 1, 0 },
		{ &chan_to_worker, CHAN_RELEASE, sizeof(struct chan_slot), 1 },
		{ &chan_to_worker, CHAN_ADOPT, 4, 0 },
		{ &chan_to_worker, CHAN_CONNS_REQ,
		  sizeof(struct chan_conns_req), 1 },
		{ &chan_to_worker, CHAN_CONNS_REQ, 0, 0 },
		{ &chan_to_worker, CHAN_ALIVE, 0, 0 },
		{ &chan_to_master, CHAN_READY, 0, 1 },
		{ &chan_to_master, CHAN_READY, 4, 0 },
		{ &chan_to_master, CHAN_ALIVE, 0, 1 },
		{ &chan_to_master, CHAN_ALIVE, sizeof(struct stats_counters), 0 },
		{ &chan_to_master, CHAN_CONNS,
		  sizeof(struct chan_conns_hdr) - 1, 0 },
		{ &chan_to_master, CHAN_CONNS_REQ,
		  sizeof(struct chan_conns_req), 0 },
		{ &chan_to_master, 0, 0, 0 },
		{ &chan_to_master, CHAN_TAKEN, sizeof(struct chan_handoff), 1 },
		{ &chan_to_worker, CHAN_TAKEN, sizeof(struct chan_handoff), 1 },
		{ &chan_to_worker, CHAN_TAKEN, 0, 0 },
		/* HANDOFF with no record is fine, none carries a descriptor */
		{ &chan_to_worker, CHAN_HANDOFF, sizeof(struct chan_handoff), 1 },
		{ &chan_to_master, CHAN_HANDOFF,
		  sizeof(struct chan_handoff) + 4, 0 },
	};
	char body[sizeof(struct stats_counters) + 64] = { 0 };
	char why[160];

	(void)state;
	for (size_t i = 0; i < N_MSGS(cases); i++) {
		struct chan_hdr h = { .type = (uint16_t)cases[i].type,
				      .len = cases[i].len,
				      .seq = 1 };
		int r = chan_check(cases[i].s, &h, body, why, sizeof(why));

		if ((r == 0) != cases[i].ok)
			fail_msg("case %zu (type %u, %u bytes): %s", i,
				 cases[i].type, cases[i].len,
				 r ? why : "accepted");
	}
}

/* --- descriptors --- */

/* Descriptors arrive with their frame, in order, behind a frame far larger
 * than the socket buffer; the sender keeps its own. */
static void test_fds_travel(void **state)
{
	int p1[2], p2[2], want[2] = { 0, 4 };
	size_t big = 3u << 20;
	unsigned char *b = calloc(1, big);
	char c;

	(void)state;
	B.take_fds = 1;
	assert_non_null(b);
	assert_int_equal(pipe(p1), 0);
	assert_int_equal(pipe(p2), 0);
	assert_int_equal(chan_send(&A.ch, CHAN_CONNS, 1, b, big), 0);
	assert_int_equal(chan_send_fds(&A.ch, TYPE_FDS, 2, "one", 3, &p1[1], 1),
			 0);
	int two[2] = { p2[1], p1[1] };

	assert_int_equal(chan_send_fds(&A.ch, TYPE_FDS, 3, "two", 3, two, 2), 0);
	assert_int_equal(chan_send(&A.ch, CHAN_ALIVE, 4, "tail", 4), 0);
	pump(has_msgs, want);
	assert_int_equal(B.msgs[0].nfds, 0);
	assert_int_equal(B.msgs[1].nfds, 1);
	assert_int_equal(B.msgs[2].nfds, 2);
	assert_int_equal(B.msgs[3].nfds, 0);
	assert_memory_equal(B.msgs[2].data, "two", 3);
	/* each received descriptor is the pipe it was sent as */
	assert_int_equal(write(B.msgs[1].fds[0], "a", 1), 1);
	assert_int_equal(write(B.msgs[2].fds[0], "b", 1), 1);
	assert_int_equal(read(p1[0], &c, 1), 1);
	assert_int_equal(c, 'a');
	assert_int_equal(read(p2[0], &c, 1), 1);
	assert_int_equal(c, 'b');
	/* the sender still holds its own */
	assert_int_equal(write(p1[1], "c", 1), 1);
	assert_int_equal(read(p1[0], &c, 1), 1);
	for (int i = 0; i < 2; i++) {
		close(p1[i]);
		close(p2[i]);
	}
	free(b);
}

/* A receiver that does not take a frame's descriptors has them closed,
 * and a sender's duplicates are closed once sent: nothing leaks. */
static void test_fds_not_taken_are_closed(void **state)
{
	int p[2], want[2] = { 0, 1 };
	char c;

	(void)state;
	assert_int_equal(pipe(p), 0);
	assert_int_equal(chan_send_fds(&A.ch, TYPE_FDS, 1, "x", 1, &p[1], 1), 0);
	close(p[1]);
	pump(has_msgs, want);
	assert_int_equal(B.msgs[0].nfds, 1);
	/* every write end is gone: the read end sees EOF */
	assert_int_equal(read(p[0], &c, 1), 0);
	close(p[0]);
}

/* HANDOFF: a descriptor per record, and as many records as announced. */
static void test_check_handoff(void **state)
{
	struct {
		struct chan_handoff h;
		struct conn_transfer rec[2];
	} body = { .h = { .count = 2 } };
	struct chan_hdr h = { .type = CHAN_HANDOFF, .nfds = 2, .len = sizeof(body) };
	char why[160];

	(void)state;
	assert_int_equal(chan_check(&chan_to_worker, &h, &body, why, sizeof(why)),
			 0);
	assert_int_equal(chan_check(&chan_to_master, &h, &body, why, sizeof(why)),
			 0);
	h.nfds = 1;
	assert_int_equal(chan_check(&chan_to_worker, &h, &body, why, sizeof(why)),
			 -1);
	assert_non_null(strstr(why, "2 records and 1 descriptors"));
	h.nfds = 2;
	body.h.count = 3;
	assert_int_equal(chan_check(&chan_to_master, &h, &body, why, sizeof(why)),
			 -1);
	assert_non_null(strstr(why, "does not add up"));
}

/* chan_give_fds sends the descriptors themselves: none is duplicated,
 * and once sent the sender holds none of them. */
static void test_give_fds(void **state)
{
	int p[2], want[2] = { 0, 1 };
	char c;

	(void)state;
	B.take_fds = 1;
	assert_int_equal(pipe(p), 0);
	assert_int_equal(chan_give_fds(&A.ch, TYPE_FDS, 1, "x", 1, NULL, 0,
				       &p[1], 1),
			 0);
	/* sent at once (the socket had room), and closed here */
	assert_int_equal(fcntl(p[1], F_GETFD), -1);
	assert_int_equal(errno, EBADF);
	pump(has_msgs, want);
	assert_int_equal(B.msgs[0].nfds, 1);
	assert_int_equal(write(B.msgs[0].fds[0], "g", 1), 1);
	assert_int_equal(read(p[0], &c, 1), 1);
	assert_int_equal(c, 'g');
	close(p[0]);
}

/* Many full batches queued at once (more than the socket takes), each
 * with the most descriptors a frame may carry. */
static void test_fds_many_batches(void **state)
{
	enum { FRAMES = 6 };
	int p[2], fds[CHAN_MAX_FDS], want[2] = { 0, FRAMES };

	(void)state;
	B.take_fds = 1;
	assert_int_equal(pipe(p), 0);
	for (int i = 0; i < CHAN_MAX_FDS; i++)
		fds[i] = p[1];
	for (int f = 0; f < FRAMES; f++)
		assert_int_equal(chan_send_fds(&A.ch, TYPE_FDS, (uint64_t)f, &f,
					       sizeof(f), fds, CHAN_MAX_FDS),
				 0);
	assert_int_equal(chan_send_fds(&A.ch, TYPE_FDS, 9, "x", 1, fds,
				       CHAN_MAX_FDS + 1),
			 -1);
	pump(has_msgs, want);
	for (int f = 0; f < FRAMES; f++) {
		assert_int_equal(B.msgs[f].seq, (uint64_t)f);
		assert_int_equal(B.msgs[f].nfds, CHAN_MAX_FDS);
		assert_true(B.msgs[f].fds[CHAN_MAX_FDS - 1] >= 0);
	}
	close(p[0]);
	close(p[1]);
}

/* A frame that announces descriptors that did not come with it. */
static void test_fds_announced_but_missing(void **state)
{
	struct chan_hdr h = { .type = TYPE_FDS, .nfds = 2, .len = 1, .seq = 1 };

	(void)state;
	write_all(raw_fd, &h, sizeof(h));
	write_all(raw_fd, "x", 1);
	pump(b_closed, NULL);
	assert_int_equal(B.malformed, 1);
	assert_non_null(strstr(B.why, "announces 2 descriptors"));
	assert_int_equal(B.nmsgs, 0);
}

/* Descriptors on a message type that carries none: malformed. */
static void test_fds_on_wrong_type(void **state)
{
	struct chan_hdr h = { .type = CHAN_READY, .nfds = 1, .len = 0, .seq = 1 };
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} cm;
	struct iovec iov = { &h, sizeof(h) };
	struct msghdr mh = { .msg_iov = &iov,
			     .msg_iovlen = 1,
			     .msg_control = cm.buf,
			     .msg_controllen = sizeof(cm.buf) };
	struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
	int fd = STDERR_FILENO;

	(void)state;
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof(fd));
	assert_int_equal(sendmsg(raw_fd, &mh, 0), (ssize_t)sizeof(h));
	pump(b_closed, NULL);
	assert_int_equal(B.malformed, 1);
	assert_non_null(strstr(B.why, "READY message with 1 descriptors"));
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
		cmocka_unit_test_setup_teardown(test_small_frames, setup_pair,
						teardown),
		cmocka_unit_test_setup_teardown(test_large_frames, setup_pair,
						teardown),
		cmocka_unit_test_setup_teardown(test_partial_frame_waits,
						setup_raw, teardown),
		cmocka_unit_test_setup_teardown(test_frame_at_limit_waits,
						setup_raw, teardown),
		cmocka_unit_test_setup_teardown(test_oversize_closes, setup_raw,
						teardown),
		cmocka_unit_test_setup_teardown(test_eof_closes, setup_raw,
						teardown),
		cmocka_unit_test_setup_teardown(test_send_to_gone_peer,
						setup_raw, teardown),
		cmocka_unit_test_setup_teardown(test_close_inside_on_msg,
						setup_raw, teardown),
		cmocka_unit_test_setup_teardown(test_read_all, setup_raw, teardown),
		cmocka_unit_test_setup_teardown(test_schema_delivers_worker_messages,
						setup_raw_master, teardown),
		cmocka_unit_test_setup_teardown(test_schema_short_body,
						setup_raw_master, teardown),
		cmocka_unit_test_setup_teardown(test_schema_long_body,
						setup_raw_master, teardown),
		cmocka_unit_test_setup_teardown(test_schema_unterminated_reason,
						setup_raw_master, teardown),
		cmocka_unit_test_setup_teardown(test_schema_unknown_type,
						setup_raw_master, teardown),
		cmocka_unit_test_setup_teardown(test_schema_wrong_direction,
						setup_raw_master, teardown),
		cmocka_unit_test_setup_teardown(test_schema_rows_do_not_add_up,
						setup_raw_master, teardown),
		cmocka_unit_test(test_check_sizes),
		cmocka_unit_test_setup_teardown(test_fds_travel, setup_pair,
						teardown),
		cmocka_unit_test_setup_teardown(test_fds_not_taken_are_closed,
						setup_pair, teardown),
		cmocka_unit_test_setup_teardown(test_fds_many_batches,
						setup_pair, teardown),
		cmocka_unit_test_setup_teardown(test_give_fds, setup_pair,
						teardown),
		cmocka_unit_test(test_check_handoff),
		cmocka_unit_test_setup_teardown(test_fds_announced_but_missing,
						setup_raw, teardown),
		cmocka_unit_test_setup_teardown(test_fds_on_wrong_type,
						setup_raw_master, teardown),
	};

	/* as in the daemon (master.c): a write to a closed peer is EPIPE */
	signal(SIGPIPE, SIG_IGN);
	raise_nofile();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
