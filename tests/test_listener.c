/* test_listener.c - SO_REUSEPORT listeners on loopback: several sockets on
 * one port, the check that refuses a port someone else holds, and
 * accepting with a cap (pause, resume, take the queue on stop). */
#include "autoconfig.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
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
#include "listener.h"
#include "loop.h"
#include "slots.h"
#include "stats.h"
#include "util.h"

#define DEADLINE_MS 4000

static struct addr parse(const char *s)
{
	struct addr a;
	char err[128];

	if (addr_parse(s, &a, err, sizeof(err)) < 0)
		fail_msg("%s", err);
	return a;
}

static int bound_port(int fd)
{
	union addr_sa u;
	socklen_t len = sizeof(u);

	assert_int_equal(getsockname(fd, &u.sa, &len), 0);
	return addr_port(&u.sa);
}

static int is_listening(int fd)
{
	int v = 0;
	socklen_t len = sizeof(v);

	assert_int_equal(getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &v, &len), 0);
	return v;
}

static int client(const struct addr *a)
{
	int fd = socket(a->u.sa.sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	assert_int_equal(connect(fd, &a->u.sa, a->len), 0);
	return fd;
}

/* A listener without SO_REUSEADDR or SO_REUSEPORT, as another program
 * would have it. */
static int plain_listener(const struct addr *a)
{
	int fd = socket(a->u.sa.sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	assert_int_equal(bind(fd, &a->u.sa, a->len), 0);
	assert_int_equal(listen(fd, 8), 0);
	return fd;
}

static int open_ok(const struct addr *a)
{
	char err[256] = "";
	int fd = lst_open(a, 64, err, sizeof(err));

	if (fd < 0)
		fail_msg("lst_open: %s", err);
	return fd;
}

/* --- lst_open --- */

static void test_open_twice_same_port(void **state)
{
	struct addr a = parse("127.0.0.1:0");
	int fd1, fd2, port, got = 0, cl[8];
	uint64_t end;

	(void)state;
	fd1 = open_ok(&a);
	port = bound_port(fd1);
	assert_true(port > 0);
	assert_true(is_listening(fd1));
	assert_true(fcntl(fd1, F_GETFL) & O_NONBLOCK);
	assert_true(fcntl(fd1, F_GETFD) & FD_CLOEXEC);

	/* a second socket in the same group: what each worker gets */
	addr_set_port(&a, port);
	fd2 = open_ok(&a);
	assert_int_equal(bound_port(fd2), port);
	assert_true(is_listening(fd2));

	/* every connection is taken by one of them */
	for (int i = 0; i < 8; i++)
		cl[i] = client(&a);
	end = util_now_ms() + DEADLINE_MS;
	while (got < 8) {
		struct pollfd p[2] = { { .fd = fd1, .events = POLLIN },
				       { .fd = fd2, .events = POLLIN } };

		assert_true(util_now_ms() < end);
		poll(p, 2, 50);
		for (int k = 0; k < 2; k++) {
			int c = accept4(p[k].fd, NULL, NULL, SOCK_CLOEXEC);

			if (c >= 0) {
				got++;
				close(c);
			}
		}
	}
	for (int i = 0; i < 8; i++)
		close(cl[i]);
	close(fd1);
	close(fd2);
}

static void test_open_ipv6(void **state)
{
	struct addr a = parse("[::1]:0");
	char err[256] = "";
	int fd1, fd2, c;

	(void)state;
	fd1 = lst_open(&a, 16, err, sizeof(err));
	if (fd1 < 0 && (errno == EAFNOSUPPORT || errno == EADDRNOTAVAIL))
		skip(); /* no IPv6 loopback here */
	if (fd1 < 0)
		fail_msg("lst_open: %s", err);
	addr_set_port(&a, bound_port(fd1));
	fd2 = open_ok(&a);
	c = client(&a);
	close(c);
	close(fd1);
	close(fd2);
}

/* --- lst_check_free --- */

static void check_refused(const struct addr *a, const char *what)
{
	char err[256] = "", name[ADDR_STRLEN];

	errno = 0;
	if (lst_check_free(a, err, sizeof(err)) != -1)
		fail_msg("%s: the port was found free", what);
	assert_int_equal(errno, EADDRINUSE);
	/* the message names the address and the reason */
	addr_format(&a->u.sa, name, sizeof(name));
	if (!strstr(err, name) || !strstr(err, strerror(EADDRINUSE)))
		fail_msg("%s: unclear message '%s'", what, err);
}

static void test_check_free_plain_listener(void **state)
{
	struct addr a = parse("127.0.0.1:0");
	char err[256] = "";
	int other;

	(void)state;
	other = plain_listener(&a);
	addr_set_port(&a, bound_port(other));
	check_refused(&a, "plain listener");

	/* and lst_open says the same, rather than failing later */
	assert_int_equal(lst_open(&a, 16, err, sizeof(err)), -1);
	assert_non_null(strstr(err, strerror(EADDRINUSE)));
	close(other);
}

/* Another SO_REUSEPORT group on the port: a plain SO_REUSEPORT bind
 * would join it and share (steal) its connections, so the check must
 * refuse it. */
static void test_check_free_reuseport_group(void **state)
{
	struct addr a = parse("127.0.0.1:0"), any;
	int group, joiner, one = 1;

	(void)state;
	group = open_ok(&a);
	addr_set_port(&a, bound_port(group));
	check_refused(&a, "SO_REUSEPORT group");

	/* the address-wide form of the same port is taken as well */
	any = parse("0.0.0.0:0");
	addr_set_port(&any, addr_port(&a.u.sa));
	check_refused(&any, "SO_REUSEPORT group, any address");

	/* why the check matters: a same-user SO_REUSEPORT socket binds */
	joiner = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_int_equal(setsockopt(joiner, SOL_SOCKET, SO_REUSEPORT, &one,
				    sizeof(one)),
			 0);
	assert_int_equal(bind(joiner, &a.u.sa, a.len), 0);
	close(joiner);
	close(group);
}

static void test_check_free_ok(void **state)
{
	struct addr a = parse("127.0.0.1:0");
	char err[256] = "";
	int fd, port;

	(void)state;
	assert_int_equal(lst_check_free(&a, err, sizeof(err)), 0);

	/* a port just given back is free, and checking does not hold it */
	fd = open_ok(&a);
	port = bound_port(fd);
	close(fd);
	addr_set_port(&a, port);
	assert_int_equal(lst_check_free(&a, err, sizeof(err)), 0);
	fd = open_ok(&a);
	assert_int_equal(bound_port(fd), port);
	close(fd);
}

/* --- accepting with a cap --- */

struct acc {
	int cap;
	int active;
	int refuse;
	int fds[32];
	int n;
};

static int acc_can(void *arg)
{
	struct acc *x = arg;

	return x->active < x->cap;
}

static int acc_take(void *arg, int fd, const struct sockaddr *peer,
		    socklen_t peerlen)
{
	struct acc *x = arg;
	const struct sockaddr_in *in4 = (const struct sockaddr_in *)peer;

	assert_true(fcntl(fd, F_GETFL) & O_NONBLOCK);
	/* The client's address comes along (the per-address limit's key). */
	assert_int_equal(peerlen, sizeof(*in4));
	assert_int_equal(in4->sin_family, AF_INET);
	assert_int_equal(ntohl(in4->sin_addr.s_addr), INADDR_LOOPBACK);
	if (x->refuse)
		return -1;
	assert_true(x->n < 32);
	x->fds[x->n++] = fd;
	x->active++;
	return 0;
}

static void acc_drop(struct acc *x, int i)
{
	close(x->fds[i]);
	x->fds[i] = -1;
	x->active--;
}

static void run_until_n(struct loop *l, const struct acc *x, int n)
{
	uint64_t end = util_now_ms() + DEADLINE_MS;

	while (x->n < n) {
		if (util_now_ms() > end)
			fail_msg("deadline: %d of %d accepted", x->n, n);
		assert_true(loop_run_once(l, 20) >= 0);
	}
}

static void turns(struct loop *l, int n)
{
	for (int i = 0; i < n; i++)
		assert_true(loop_run_once(l, 5) >= 0);
}

static void test_accept_pause_resume(void **state)
{
	struct addr a = parse("127.0.0.1:0");
	struct stats_counters st = { 0 };
	struct acc x = { .cap = 2 };
	struct lst_set s;
	struct loop *l = loop_new();
	int fd, cl[5];

	(void)state;
	assert_non_null(l);
	fd = open_ok(&a);
	addr_set_port(&a, bound_port(fd));
	assert_int_equal(lst_set_start(&s, l, &fd, 1, &st, acc_can, acc_take, &x),
			 0);
	for (int i = 0; i < 4; i++)
		cl[i] = client(&a);

	/* two taken, then the set stops asking the kernel */
	run_until_n(l, &x, 2);
	turns(l, 5);
	assert_int_equal(x.n, 2);
	assert_true(s.paused);
	assert_int_equal(st.accept_paused, 1);
	assert_int_equal(s.items->w.events, 0);

	/* still full: resuming does nothing */
	lst_set_resume(&s);
	assert_true(s.paused);
	assert_int_equal(s.items->w.events, 0);

	/* a slot frees: one more is taken, then it pauses again */
	acc_drop(&x, 0);
	lst_set_resume(&s);
	assert_false(s.paused);
	assert_int_equal(s.items->w.events, EPOLLIN);
	run_until_n(l, &x, 3);
	turns(l, 5);
	assert_int_equal(x.n, 3);
	assert_true(s.paused);
	assert_int_equal(st.accept_paused, 2);

	/* stopping with take_queue accepts what waits (the cap allowing),
	 * since closing a listener resets its queue */
	cl[4] = client(&a);
	x.cap = 10;
	lst_set_stop(&s, 1);
	assert_int_equal(x.n, 5);
	assert_true(s.stopped);
	assert_int_equal(fcntl(fd, F_GETFD), -1); /* closed */
	lst_set_resume(&s); /* stopped for good: a no-op */
	assert_true(s.stopped);

	for (int i = 0; i < x.n; i++)
		if (x.fds[i] >= 0)
			close(x.fds[i]);
	for (int i = 0; i < 5; i++)
		close(cl[i]);
	loop_free(l);
}

/* A connection refused by on_accept is closed by the set. */
static void test_accept_refused_closed(void **state)
{
	struct addr a = parse("127.0.0.1:0");
	struct stats_counters st = { 0 };
	struct acc x = { .cap = 10, .refuse = 1 };
	struct lst_set s;
	struct loop *l = loop_new();
	struct pollfd p;
	int fd, c;
	char ch;

	(void)state;
	fd = open_ok(&a);
	addr_set_port(&a, bound_port(fd));
	assert_int_equal(lst_set_start(&s, l, &fd, 1, &st, acc_can, acc_take, &x),
			 0);
	c = client(&a);
	p = (struct pollfd){ .fd = c, .events = POLLIN };
	for (uint64_t end = util_now_ms() + DEADLINE_MS; poll(&p, 1, 0) == 0;) {
		assert_true(util_now_ms() < end);
		assert_true(loop_run_once(l, 10) >= 0);
	}
	assert_int_equal(read(c, &ch, 1), 0); /* EOF */
	assert_int_equal(x.n, 0);
	close(c);
	lst_set_stop(&s, 0);
	loop_free(l);
}

/* A listener set out of descriptors: a client waits in its queue, and
 * every descriptor number below the open-files limit is in use (the
 * limit lowered to a few above the client's, the rest taken by copies of
 * it, fill). */
struct starved {
	struct stats_counters st;
	struct acc x;
	struct lst_set s;
	struct loop *l;
	struct rlimit old;
	int c, fill[64], nfill;
};

static void starve(struct starved *t, unsigned (*out_of_fds)(void *))
{
	struct addr a = parse("127.0.0.1:0");
	int fd = open_ok(&a);
	struct rlimit low;

	memset(t, 0, sizeof(*t));
	t->x.cap = 10;
	t->l = loop_new();
	addr_set_port(&a, bound_port(fd));
	assert_int_equal(lst_set_start(&t->s, t->l, &fd, 1, &t->st, acc_can,
				       acc_take, &t->x),
			 0);
	t->s.out_of_fds = out_of_fds;
	t->c = client(&a);
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &t->old), 0);
	low = t->old;
	low.rlim_cur = (rlim_t)t->c + 8;
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
	for (;;) {
		int d = dup(t->c);

		if (d < 0) {
			assert_int_equal(errno, EMFILE);
			return;
		}
		assert_true(t->nfill < 64);
		t->fill[t->nfill++] = d;
	}
}

/* The descriptors and the limit given back. */
static void unstarve(struct starved *t)
{
	while (t->nfill > 0)
		close(t->fill[--t->nfill]);
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &t->old), 0);
}

/* The connection accepted, all closed. */
static void starved_end(struct starved *t)
{
	assert_int_equal(t->x.n, 1);
	close(t->x.fds[0]);
	close(t->c);
	lst_set_stop(&t->s, 0);
	loop_free(t->l);
}

/* Out of descriptors: the set pauses instead of spinning on a ready
 * listener, and tries again by itself shortly after. */
static void test_accept_emfile_retry(void **state)
{
	struct starved t;

	(void)state;
	starve(&t, NULL);
	turns(t.l, 3);
	assert_int_equal(t.x.n, 0);
	assert_true(t.s.paused);
	assert_int_equal(t.st.accept_paused, 1);
	assert_true(loop_timer_armed(&t.s.retry));

	/* descriptors come back: the retry takes the connection */
	unstarve(&t);
	run_until_n(t.l, &t.x, 1);
	assert_false(t.s.paused);
	starved_end(&t);
}

static struct starved *giver;
static unsigned asked;

/* The owner's descriptors: one of the copies, given back. */
static unsigned give_one(void *arg)
{
	(void)arg;
	asked++;
	if (giver->nfill == 0)
		return 0;
	close(giver->fill[--giver->nfill]);
	return 1;
}

/* Out of descriptors with an owner that keeps some for itself (a cache
 * of open files): asked first, it closes one and the connection is
 * accepted in the same turn, with no pause. */
static void test_accept_emfile_owner_gives_back(void **state)
{
	struct starved t;

	(void)state;
	starve(&t, give_one);
	giver = &t;
	run_until_n(t.l, &t.x, 1);
	/* Maybe once more after it: accept4 takes a descriptor number
	 * before it looks at the queue, so an empty queue fails with EMFILE
	 * too. */
	assert_true(asked >= 1);
	assert_false(t.s.paused);
	assert_int_equal(t.st.accept_paused, 0);
	unstarve(&t);
	starved_end(&t);
}

/* Another slot's listener adopted while its worker is down: its queue is
 * taken here; released, it is no longer accepted on, and the set's copy is
 * closed (the test, as the master would, still holds the socket). */
static void test_adopt_and_release(void **state)
{
	struct addr a = parse("127.0.0.1:0"), b = parse("127.0.0.1:0");
	struct stats_counters st = { 0 };
	struct acc x = { .cap = 10 };
	struct lst_set s;
	struct loop *l = loop_new();
	int own, other, dup_other, c1, c2;
	struct pollfd p;

	(void)state;
	own = open_ok(&a);
	addr_set_port(&a, bound_port(own));
	other = open_ok(&b);
	addr_set_port(&b, bound_port(other));
	assert_int_equal(lst_set_start(&s, l, &own, 1, &st, acc_can, acc_take, &x),
			 0);
	c1 = client(&b); /* queued on a listener nobody accepts on yet */
	turns(l, 3);
	assert_int_equal(x.n, 0);
	dup_other = dup(other);
	assert_int_equal(lst_set_adopt(&s, 7, &dup_other, 1), 0);
	run_until_n(l, &x, 1);

	lst_set_release(&s, 7, 0);
	assert_true(fcntl(dup_other, F_GETFD) < 0); /* the set's copy is closed */
	c2 = client(&b);
	turns(l, 5);
	assert_int_equal(x.n, 1); /* waits for the slot's own worker */
	p = (struct pollfd){ .fd = other, .events = POLLIN };
	assert_int_equal(poll(&p, 1, 1000), 1);
	lst_set_release(&s, -1, 0); /* the own listeners are never released */
	assert_non_null(s.items);

	close(x.fds[0]);
	close(c1);
	close(c2);
	close(other);
	lst_set_stop(&s, 0);
	loop_free(l);
}

/* --- slots adopted by a binary upgrade's new master --- */

/* Connects n clients to a, then counts what waits in each of s's first
 * two slots (accepting it, non-blocking): got[0], got[1]. */
static void where_they_land(const struct slots *s, const struct addr *a, int n,
			    int got[2])
{
	int cl[16];
	uint64_t end = util_now_ms() + DEADLINE_MS;

	got[0] = got[1] = 0;
	for (int i = 0; i < n; i++)
		cl[i] = client(a);
	while (got[0] + got[1] < n) {
		assert_true(util_now_ms() < end);
		for (int k = 0; k < 2; k++) {
			int c = accept4(s->fd[k][0], NULL, NULL, SOCK_CLOEXEC);

			if (c >= 0) {
				got[k]++;
				close(c);
			}
		}
		poll(NULL, 0, 1);
	}
	for (int i = 0; i < n; i++)
		close(cl[i]);
}

/* The new master takes the old one's sockets as its slots, checks that
 * they are what its configuration says, learns a port 0, and steers the
 * group only once it owns it; slots_steer_first hands it back. */
static void test_slots_adopt(void **state)
{
	struct slots old, nw;
	struct addr la = parse("127.0.0.1:0"), lb = parse("127.0.0.1:0"), a;
	int fds[3], got[2], live1 = 1, live0 = 0, port;
	char err[512], other[64];

	(void)state;
	slots_init(&old, 1, 16);
	assert_int_equal(slots_open(&old, &la, 2, err, sizeof(err)), 0);
	port = bound_port(old.fd[0][0]);
	a = la;
	slots_steer(&old, &live0, 1, 2);
	where_they_land(&old, &a, 8, got);
	assert_int_equal(got[0], 8);

	fds[0] = dup(old.fd[0][0]);
	fds[1] = dup(old.fd[1][0]);
	slots_init(&nw, 1, 16);
	nw.steering = 0;
	assert_int_equal(slots_adopt(&nw, &lb, fds, 2, 1, err, sizeof(err)), 0);
	assert_int_equal(addr_port(&lb.u.sa), port);
	assert_int_equal(nw.nslots, 2);
	assert_true(fcntl(nw.fd[1][0], F_GETFD) & FD_CLOEXEC);
	/* Not steering yet: the old master's program stays. */
	slots_steer(&nw, &live1, 1, 2);
	where_they_land(&nw, &a, 8, got);
	assert_int_equal(got[0], 8);
	nw.steering = 1;
	slots_steer(&nw, &live1, 1, 2);
	where_they_land(&nw, &a, 8, got);
	assert_int_equal(got[1], 8);
	/* A slot of its own joins the same group. */
	assert_int_equal(slots_open(&nw, &lb, 3, err, sizeof(err)), 0);
	assert_int_equal(bound_port(nw.fd[2][0]), port);
	slots_steer_first(&nw, 1);
	where_they_land(&nw, &a, 8, got);
	assert_int_equal(got[0], 8);
	slots_close_all(&nw);
	assert_true(is_listening(old.fd[0][0])); /* the old master's stay */

	/* Another address in the configuration. */
	snprintf(other, sizeof(other), "127.0.0.2:%d", port);
	lb = parse(other);
	fds[0] = dup(old.fd[0][0]);
	slots_init(&nw, 1, 16);
	assert_int_equal(slots_adopt(&nw, &lb, fds, 1, 1, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "the old master listens on 127.0.0.1:"));
	assert_non_null(strstr(err, "the configuration says 127.0.0.2:"));
	assert_non_null(strstr(err, "change the listen addresses by a reload"));
	/* One address more in the configuration. */
	{
		struct addr two[2] = { parse("127.0.0.1:0"), lb };

		slots_init(&nw, 2, 16);
		assert_int_equal(slots_adopt(&nw, two, fds, 1, 1, err, sizeof(err)),
				 -1);
		assert_non_null(strstr(err, "the configuration says 127.0.0.1:"));
	}
	close(fds[0]);
	/* Not a listener. */
	fds[0] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	lb = parse("127.0.0.1:0");
	slots_init(&nw, 1, 16);
	assert_int_equal(slots_adopt(&nw, &lb, fds, 1, 1, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "is not a listening SO_REUSEPORT TCP socket"));
	close(fds[0]);
	slots_close_all(&old);
}

/* --- a reload that changes the listen addresses --- */

/* A SYN to a blocked listener is dropped: the connect does not complete
 * (the kernel would re-send it after a second). */
static int connects_within(const struct addr *a, int ms)
{
	int fd = socket(a->u.sa.sa_family,
			SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	struct pollfd p = { fd, POLLOUT, 0 };
	int r;

	assert_true(fd >= 0);
	assert_true(connect(fd, &a->u.sa, a->len) < 0 && errno == EINPROGRESS);
	r = poll(&p, 1, ms);
	close(fd);
	return r == 1;
}

/* 127.0.0.1:0 and 127.0.0.2:0 in two slots become 127.0.0.2 (kept, same
 * sockets, same port) and 127.0.0.3 (added in both slots, one port); an
 * undo puts the table back, a commit sets 127.0.0.1's aside, blocked
 * and drained, and a held port fails with nothing changed. */
static void test_slots_relisten(void **state)
{
	struct addr cur[2] = { parse("127.0.0.1:0"), parse("127.0.0.2:0") };
	struct addr next[2] = { parse("127.0.0.2:0"), parse("127.0.0.3:0") };
	struct addr same[2] = { cur[0], cur[1] }, busy[2], held;
	int from[2], before[2][2], plain;
	char err[512];
	struct slots s;

	(void)state;
	slots_init(&s, 2, 16);
	assert_int_equal(slots_open(&s, cur, 2, err, sizeof(err)), 0);
	for (int i = 0; i < 2; i++)
		memcpy(before[i], s.fd[i], sizeof(before[i]));
	assert_int_equal(slots_relisten_plan(&s, cur, same, 2, from), 0);
	assert_int_equal(addr_port(&same[1].u.sa), addr_port(&cur[1].u.sa));
	assert_int_equal(slots_relisten_plan(&s, cur, next, 2, from), 1);
	assert_int_equal(from[0], 1);
	assert_int_equal(from[1], -1);
	assert_int_equal(addr_port(&next[0].u.sa), addr_port(&cur[1].u.sa));

	assert_int_equal(slots_relisten(&s, next, 2, from, err, sizeof(err)), 0);
	assert_int_equal(s.fd[0][0], before[0][1]);
	assert_int_equal(s.fd[1][0], before[1][1]);
	assert_true(addr_port(&next[1].u.sa) > 0);
	assert_int_equal(bound_port(s.fd[0][1]), addr_port(&next[1].u.sa));
	assert_int_equal(bound_port(s.fd[1][1]), addr_port(&next[1].u.sa));
	slots_relisten_undo(&s);
	for (int i = 0; i < 2; i++)
		assert_memory_equal(s.fd[i], before[i], sizeof(before[i]));
	assert_int_equal(lst_check_free(&next[1], err, sizeof(err)), 0);

	/* A port held elsewhere: refused, the table as it was. */
	held = parse("127.0.0.1:0");
	plain = plain_listener(&held);
	busy[0] = cur[0];
	addr_set_port(&held, bound_port(plain));
	busy[1] = held;
	assert_int_equal(slots_relisten_plan(&s, cur, busy, 2, from), 1);
	assert_int_equal(slots_relisten(&s, busy, 2, from, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "Address already in use"));
	for (int i = 0; i < 2; i++)
		assert_memory_equal(s.fd[i], before[i], sizeof(before[i]));
	assert_int_equal(s.nlisten, 2);
	close(plain);

	next[1] = parse("127.0.0.3:0");
	assert_int_equal(slots_relisten_plan(&s, cur, next, 2, from), 1);
	assert_int_equal(slots_relisten(&s, next, 2, from, err, sizeof(err)), 0);
	assert_int_equal(slots_relisten_commit(&s), 1);
	assert_int_equal(s.gone.nslots, 2);
	assert_int_equal(s.gone.fd[0][0], before[0][0]);
	assert_int_equal(s.gone.fd[1][0], before[1][0]);
	assert_true(connects_within(&cur[0], DEADLINE_MS));
	assert_int_equal(slots_gone_queued(&s), 1);
	slots_gone_block(&s);
	assert_false(connects_within(&cur[0], 200));
	assert_int_equal(slots_gone_queued(&s), 1); /* the one before */
	slots_close_all(&s);
	assert_int_equal(s.gone.n, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_open_twice_same_port),
		cmocka_unit_test(test_open_ipv6),
		cmocka_unit_test(test_check_free_plain_listener),
		cmocka_unit_test(test_check_free_reuseport_group),
		cmocka_unit_test(test_check_free_ok),
		cmocka_unit_test(test_accept_pause_resume),
		cmocka_unit_test(test_accept_refused_closed),
		cmocka_unit_test(test_accept_emfile_retry),
		cmocka_unit_test(test_accept_emfile_owner_gives_back),
		cmocka_unit_test(test_adopt_and_release),
		cmocka_unit_test(test_slots_adopt),
		cmocka_unit_test(test_slots_relisten),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
