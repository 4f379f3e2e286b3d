/* test_loop.c - the epoll loop and its timer heap.
 *
 * Timers are checked by the order they fire in and by the deadlines they
 * carry, never by how long a test slept: the machine is a noisy VM, so
 * every wait is a deadline on an event. */
#include "autoconfig.h"

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "loop.h"
#include "util.h"

#define N_ELEM(a) (sizeof(a) / sizeof((a)[0]))
#define DEADLINE_MS 4000

static struct loop *g_loop;

static int setup(void **state)
{
	(void)state;
	g_loop = loop_new();
	return g_loop ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	loop_free(g_loop);
	g_loop = NULL;
	return 0;
}

/* Runs the loop until *done reaches want or the deadline passes. */
static void run_until(const int *done, int want)
{
	uint64_t end = util_now_ms() + DEADLINE_MS;

	while (*done < want) {
		if (util_now_ms() > end)
			fail_msg("deadline: %d of %d events", *done, want);
		assert_true(loop_run_once(g_loop, 50) >= 0);
	}
}

/* --- timers --- */

struct tt {
	struct loop_timer t;
	int id;
	int fired;
	int armed; /* what the test expects */
	uint64_t fired_at;
};

static int fire_order[4096];
static int nfired;

static void tt_fire(struct loop_timer *t)
{
	struct tt *x = util_container_of(t, struct tt, t);

	assert_false(loop_timer_armed(t)); /* disarmed before its callback */
	x->fired++;
	x->fired_at = util_now_ms();
	assert_true(nfired < (int)N_ELEM(fire_order));
	fire_order[nfired++] = x->id;
}

static void tt_init(struct tt *x, int id)
{
	memset(x, 0, sizeof(*x));
	x->id = id;
	loop_timer_init(&x->t, tt_fire);
}

static void test_timers_fire_in_order(void **state)
{
	static const uint64_t delay[] = { 60, 20, 40, 0 };
	struct tt x[4];
	uint64_t start = util_now_ms(), end = start + DEADLINE_MS;

	(void)state;
	nfired = 0;
	for (int i = 0; i < 4; i++) {
		tt_init(&x[i], i);
		assert_false(loop_timer_armed(&x[i].t));
		assert_int_equal(loop_timer_arm(g_loop, &x[i].t, delay[i]), 0);
		assert_true(loop_timer_armed(&x[i].t));
	}
	/* -1: the loop itself must wake up for the next timer */
	while (nfired < 4) {
		assert_true(util_now_ms() < end);
		assert_true(loop_run_once(g_loop, -1) >= 0);
	}
	assert_int_equal(fire_order[0], 3);
	assert_int_equal(fire_order[1], 1);
	assert_int_equal(fire_order[2], 2);
	assert_int_equal(fire_order[3], 0);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(x[i].fired, 1);
		assert_true(x[i].fired_at >= start + delay[i]); /* none early */
		assert_true(x[i].fired_at >= x[i].t.when);
	}
	/* nothing left: a zero wait returns at once with nothing run */
	assert_int_equal(loop_run_once(g_loop, 0), 0);
	assert_int_equal(nfired, 4);
}

static void test_timer_disarm(void **state)
{
	struct tt a, b, c;

	(void)state;
	nfired = 0;
	tt_init(&a, 1);
	tt_init(&b, 2);
	tt_init(&c, 3);
	assert_int_equal(loop_timer_arm(g_loop, &a.t, 5), 0);
	assert_int_equal(loop_timer_arm(g_loop, &b.t, 0), 0);
	assert_int_equal(loop_timer_arm(g_loop, &c.t, 30), 0);
	loop_timer_disarm(g_loop, &a.t);
	loop_timer_disarm(g_loop, &b.t);
	assert_false(loop_timer_armed(&a.t));
	assert_false(loop_timer_armed(&b.t));
	loop_timer_disarm(g_loop, &b.t); /* twice is harmless */

	/* c fires after a's and b's deadlines: they had their chance */
	run_until(&c.fired, 1);
	assert_int_equal(a.fired, 0);
	assert_int_equal(b.fired, 0);
	assert_int_equal(nfired, 1);
}

static void test_timer_rearm(void **state)
{
	struct tt a, b;
	uint64_t start = util_now_ms();

	(void)state;
	nfired = 0;
	tt_init(&a, 1);
	tt_init(&b, 2);
	/* armed again, an armed timer moves: it is not in the heap twice */
	assert_int_equal(loop_timer_arm(g_loop, &a.t, 100000), 0);
	assert_int_equal(loop_timer_arm(g_loop, &a.t, 10), 0);
	assert_int_equal(loop_timer_arm(g_loop, &b.t, 50), 0);
	run_until(&b.fired, 1);
	assert_int_equal(a.fired, 1);
	assert_int_equal(fire_order[0], 1);
	assert_int_equal(fire_order[1], 2);
	assert_true(a.fired_at < start + 100000);

	/* a later deadline postpones */
	assert_int_equal(loop_timer_arm(g_loop, &a.t, 10), 0);
	assert_int_equal(loop_timer_arm(g_loop, &b.t, 30), 0);
	assert_int_equal(loop_timer_arm(g_loop, &a.t, 100000), 0);
	run_until(&b.fired, 2);
	assert_int_equal(a.fired, 1);
	assert_true(loop_timer_armed(&a.t));
	loop_timer_disarm(g_loop, &a.t);
	assert_int_equal(nfired, 3);
}

/* A timer's callback may disarm a timer that is due in the same run and
 * arm new ones. */
static struct tt cb_x[3];

static void cb_fire(struct loop_timer *t)
{
	struct tt *x = util_container_of(t, struct tt, t);

	x->fired++;
	fire_order[nfired++] = x->id;
	if (x->id == 0) {
		loop_timer_disarm(g_loop, &cb_x[1].t);
		assert_int_equal(loop_timer_arm(g_loop, &cb_x[2].t, 5), 0);
	}
}

static void test_timer_callback_changes_heap(void **state)
{
	(void)state;
	nfired = 0;
	for (int i = 0; i < 3; i++) {
		memset(&cb_x[i], 0, sizeof(cb_x[i]));
		cb_x[i].id = i;
		loop_timer_init(&cb_x[i].t, cb_fire);
	}
	/* [1] is due 1 ms after [0]: by the time the loop looks, both are
	 * usually due, and [0] runs first */
	assert_int_equal(loop_timer_arm(g_loop, &cb_x[0].t, 0), 0);
	assert_int_equal(loop_timer_arm(g_loop, &cb_x[1].t, 1), 0);
	run_until(&cb_x[2].fired, 1);
	assert_int_equal(cb_x[0].fired, 1);
	assert_int_equal(cb_x[1].fired, 0);
	assert_int_equal(nfired, 2);
}

/* "A timer armed by a callback for 'now' waits for the next turn, so a
 * callback that re-arms itself with 0 cannot starve the fds" (loop.c):
 * each turn of the loop runs such a timer once. */
static struct tt self_x;

static void self_fire(struct loop_timer *t)
{
	self_x.fired++;
	if (self_x.fired < 1000000)
		assert_int_equal(loop_timer_arm(g_loop, t, 0), 0);
}

static void test_timer_rearm_zero_waits_next_turn(void **state)
{
	(void)state;
	memset(&self_x, 0, sizeof(self_x));
	loop_timer_init(&self_x.t, self_fire);
	assert_int_equal(loop_timer_arm(g_loop, &self_x.t, 0), 0);
	for (int turn = 1; turn <= 5; turn++) {
		assert_true(loop_run_once(g_loop, 1000) >= 0);
		if (self_x.fired != turn)
			fail_msg("turn %d: a timer re-armed for 0 ms ran %d times",
				 turn, self_x.fired);
	}
	loop_timer_disarm(g_loop, &self_x.t);
}

/* Many timers armed in random order, some disarmed, some moved: each
 * armed one fires once, none early, in deadline order. */
static uint32_t rnd_state = 12345;

static uint32_t rnd(void)
{
	rnd_state = rnd_state * 1103515245u + 12345u;
	return rnd_state >> 8;
}

static void test_timer_heap_many(void **state)
{
	enum { N = 2000 };
	struct tt *x = calloc(N, sizeof(*x));
	int expected = 0;
	uint64_t end = util_now_ms() + DEADLINE_MS;

	(void)state;
	assert_non_null(x);
	nfired = 0;
	for (int i = 0; i < N; i++) {
		tt_init(&x[i], i);
		assert_int_equal(loop_timer_arm(g_loop, &x[i].t, rnd() % 40), 0);
		x[i].armed = 1;
	}
	/* disarm a third and move a third, picked at random */
	for (int k = 0; k < N; k++) {
		int i = (int)(rnd() % N);

		if (k % 2 == 0) {
			loop_timer_disarm(g_loop, &x[i].t);
			x[i].armed = 0;
		} else {
			assert_int_equal(loop_timer_arm(g_loop, &x[i].t,
							rnd() % 60),
					 0);
			x[i].armed = 1;
		}
	}
	for (int i = 0; i < N; i++)
		expected += x[i].armed;
	while (nfired < expected) {
		if (util_now_ms() > end)
			fail_msg("deadline: %d of %d timers fired", nfired,
				 expected);
		assert_true(loop_run_once(g_loop, -1) >= 0);
	}
	assert_int_equal(loop_run_once(g_loop, 0), 0); /* no stragglers */
	assert_int_equal(nfired, expected);
	for (int i = 0; i < N; i++) {
		assert_int_equal(x[i].fired, x[i].armed);
		if (x[i].fired)
			assert_true(x[i].fired_at >= x[i].t.when);
	}
	for (int k = 1; k < nfired; k++)
		assert_true(x[fire_order[k - 1]].t.when <=
			    x[fire_order[k]].t.when);
	free(x);
}

/* loop_run() returns after loop_stop(). */
static void stop_fire(struct loop_timer *t)
{
	(void)t;
	loop_stop(g_loop);
}

static void test_run_stop(void **state)
{
	struct loop_timer t;
	uint64_t start = util_now_ms();

	(void)state;
	loop_timer_init(&t, stop_fire);
	assert_int_equal(loop_timer_arm(g_loop, &t, 20), 0);
	loop_run(g_loop);
	assert_false(loop_timer_armed(&t));
	assert_true(util_now_ms() >= start + 20);
	assert_true(loop_now(g_loop) >= start + 20);
	assert_true(loop_now(g_loop) <= util_now_ms());
}

/* --- fds --- */

struct pw {
	struct loop_watch w;
	int calls;
	uint32_t last;
	char got[64];
	size_t ngot;
	int dead;
	struct pw *other; /* for the loop_forget test */
	int mode;
};

static void pw_io(struct loop_watch *w, uint32_t events)
{
	struct pw *p = util_container_of(w, struct pw, w);

	p->calls++;
	p->last = events;
	if (events & EPOLLIN) {
		ssize_t n = read(w->fd, p->got + p->ngot,
				 sizeof(p->got) - p->ngot);

		if (n > 0)
			p->ngot += (size_t)n;
	}
}

static void nb_pipe(int fds[2])
{
	assert_int_equal(pipe2(fds, O_NONBLOCK | O_CLOEXEC), 0);
}

static void test_io_pipe(void **state)
{
	struct pw r = { 0 }, wr = { 0 };
	int fds[2];

	(void)state;
	assert_true(loop_fd(g_loop) >= 0);
	nb_pipe(fds);
	assert_int_equal(loop_add(g_loop, &r.w, fds[0], EPOLLIN, pw_io), 0);
	assert_int_equal(r.w.fd, fds[0]);
	assert_int_equal(r.w.events, EPOLLIN);

	/* nothing to read: nothing run */
	assert_int_equal(loop_run_once(g_loop, 0), 0);
	assert_int_equal(r.calls, 0);

	assert_int_equal(write(fds[1], "abc", 3), 3);
	run_until(&r.calls, 1);
	assert_true(r.last & EPOLLIN);
	assert_int_equal(r.ngot, 3);
	assert_memory_equal(r.got, "abc", 3);

	/* no events asked for: data waits */
	assert_int_equal(loop_mod(g_loop, &r.w, 0), 0);
	assert_int_equal(write(fds[1], "de", 2), 2);
	assert_int_equal(loop_run_once(g_loop, 20), 0);
	assert_int_equal(r.calls, 1);
	assert_int_equal(loop_mod(g_loop, &r.w, 0), 0); /* same: a no-op */
	assert_int_equal(loop_mod(g_loop, &r.w, EPOLLIN), 0);
	run_until(&r.calls, 2);
	assert_memory_equal(r.got, "abcde", 5);

	/* the write end of an empty pipe is writable */
	assert_int_equal(loop_add(g_loop, &wr.w, fds[1], EPOLLOUT, pw_io), 0);
	run_until(&wr.calls, 1);
	assert_true(wr.last & EPOLLOUT);
	assert_int_equal(loop_del(g_loop, &wr.w), 0);

	/* the writer goes away: a hang-up */
	close(fds[1]);
	run_until(&r.calls, 3);
	assert_true(r.last & EPOLLHUP);

	/* deregistered: no more calls even though the hang-up persists */
	assert_int_equal(loop_del(g_loop, &r.w), 0);
	assert_int_equal(loop_run_once(g_loop, 20), 0);
	assert_int_equal(r.calls, 3);
	assert_int_equal(loop_del(g_loop, &r.w), -1); /* not registered */
	close(fds[0]);

	/* a bad fd is refused */
	assert_int_equal(loop_add(g_loop, &r.w, -1, EPOLLIN, pw_io), -1);
}

/* CPU time this thread has used, in ms. */
static double thread_cpu_ms(void)
{
	struct timespec ts;

	assert_int_equal(clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts), 0);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* idle_yield changes only how the loop waits: events are run as they
 * come, a loop that was busy yields once before it sleeps, an idle loop
 * sleeps at once and never spins (its CPU time stays near zero while it
 * waits), and timers fire on time. */
static void test_idle_yield(void **state)
{
	struct pw r = { 0 };
	struct tt t;
	int fds[2];

	(void)state;
	nb_pipe(fds);
	assert_int_equal(loop_add(g_loop, &r.w, fds[0], EPOLLIN, pw_io), 0);

	/* off (the default): never yields */
	assert_int_equal(write(fds[1], "a", 1), 1);
	run_until(&r.calls, 1);
	assert_int_equal(loop_run_once(g_loop, 5), 0);
	assert_int_equal(loop_yields(g_loop), 0);

	loop_set_idle_yield(g_loop, 1);
	assert_int_equal(write(fds[1], "b", 1), 1);
	run_until(&r.calls, 2);
	/* busy, then nothing: one yield, then a real sleep of the 30 ms
	 * given, with almost no CPU used meanwhile */
	uint64_t t0 = util_now_ms();
	double cpu0 = thread_cpu_ms();

	assert_int_equal(loop_run_once(g_loop, 30), 0);
	assert_true(util_now_ms() - t0 >= 29);
	assert_true(thread_cpu_ms() - cpu0 < 5.0);
	assert_int_equal(loop_yields(g_loop), 1);
	/* idle to idle: no yield */
	assert_int_equal(loop_run_once(g_loop, 5), 0);
	assert_int_equal(loop_yields(g_loop), 1);
	assert_int_equal(r.calls, 2);

	/* data written while the loop is idle wakes it */
	assert_int_equal(write(fds[1], "c", 1), 1);
	run_until(&r.calls, 3);
	assert_int_equal(r.ngot, 3);
	assert_memory_equal(r.got, "abc", 3);
	/* a timer fires on time after a yield */
	tt_init(&t, 1);
	nfired = 0;
	t0 = util_now_ms();
	assert_int_equal(loop_timer_arm(g_loop, &t.t, 20), 0);
	run_until(&t.fired, 1);
	assert_true(t.fired_at >= t0 + 10); /* not at once */
	assert_int_equal(loop_del(g_loop, &r.w), 0);
	close(fds[0]);
	close(fds[1]);
}

/* --- loop_forget: an owner closed by another callback of the same batch --- */

enum { KILL_NONE, KILL_FORGET, KILL_DEL };

static void killer_io(struct loop_watch *w, uint32_t events)
{
	struct pw *p = util_container_of(w, struct pw, w);
	struct pw *o = p->other;

	(void)events;
	p->calls++;
	if (p->dead)
		return; /* counted: a callback run for a closed owner */
	if (o->dead)
		return;
	/* whichever runs first closes the other, as a protocol closing a
	 * neighbour connection would */
	o->dead = 1;
	if (p->mode == KILL_FORGET)
		loop_forget(g_loop, &o->w);
	else if (p->mode == KILL_DEL)
		assert_int_equal(loop_del(g_loop, &o->w), 0);
	close(o->w.fd);
}

static void run_killers(int mode, int *calls_of_dead)
{
	struct pw *a = calloc(1, sizeof(*a)), *b = calloc(1, sizeof(*b));
	int pa[2], pb[2];

	assert_non_null(a);
	assert_non_null(b);
	nb_pipe(pa);
	nb_pipe(pb);
	a->other = b;
	b->other = a;
	a->mode = b->mode = mode;
	assert_int_equal(loop_add(g_loop, &a->w, pa[0], EPOLLIN, killer_io), 0);
	assert_int_equal(loop_add(g_loop, &b->w, pb[0], EPOLLIN, killer_io), 0);
	/* both ready before the loop looks: one batch holds both events */
	assert_int_equal(write(pa[1], "x", 1), 1);
	assert_int_equal(write(pb[1], "x", 1), 1);
	assert_int_equal(loop_run_once(g_loop, 1000), 2);
	*calls_of_dead = (a->dead ? a->calls : 0) + (b->dead ? b->calls : 0);
	assert_int_equal(a->dead + b->dead, 1);

	/* the survivor is still served */
	struct pw *alive = a->dead ? b : a;
	int before = alive->calls;

	assert_int_equal(loop_run_once(g_loop, 1000), 1);
	assert_int_equal(alive->calls, before + 1);
	assert_int_equal(loop_del(g_loop, &alive->w), 0);
	close(alive->w.fd);
	close(pa[1]);
	close(pb[1]);
	free(a);
	free(b);
}

/* --- posted work (loop_post) --- */

/* The order the callbacks ran in, by a letter each. */
static char post_log[16];
static size_t post_nlog;

struct poster {
	struct loop_watch w;
	char name;
	int again;    /* posts itself this many more times */
	int read_one; /* reads a byte, not all there is */
	uint32_t events;
};

static void poster_io(struct loop_watch *w, uint32_t events)
{
	struct poster *p = util_container_of(w, struct poster, w);

	if (post_nlog < sizeof(post_log))
		post_log[post_nlog++] = p->name;
	p->events = events;
	if (p->w.fd >= 0) {
		char b[8];

		while (read(p->w.fd, b, p->read_one ? 1 : sizeof(b)) > 0 &&
		       !p->read_one)
			;
	}
	if (p->again > 0) {
		p->again--;
		assert_int_equal(loop_post(g_loop, w, EPOLLIN), 0);
	}
}

/* An edge-triggered owner that stopped reading early posts itself: it
 * runs in the same turn, after what epoll reported, without the loop
 * waiting; what it posts while it runs waits for the next turn (after
 * that turn's events), so it cannot hold the loop; loop_forget drops it. */
static void test_posted(void **state)
{
	struct poster a = { .name = 'a', .again = 1 }, b = { .name = 'b' };
	struct poster c = { .name = 'c' };
	uint64_t start;
	int fds[2];

	(void)state;
	a.w.fn = poster_io;
	a.w.fd = -1;
	c.w.fn = poster_io;
	c.w.fd = -1;
	nb_pipe(fds);
	assert_int_equal(loop_add(g_loop, &b.w, fds[0], EPOLLIN | EPOLLET,
				  poster_io),
			 0);
	assert_int_equal(write(fds[1], "x", 1), 1);
	assert_int_equal(loop_post(g_loop, &a.w, EPOLLIN), 0);

	/* b (epoll's) before a (posted); no waiting for the 10 s */
	start = util_now_ms();
	assert_int_equal(loop_run_once(g_loop, 10000), 2);
	assert_true(util_now_ms() - start < 5000);
	assert_memory_equal(post_log, "ba", 2);
	assert_int_equal(a.events, EPOLLIN);

	/* a posted itself again while running: it runs next turn, after b's
	 * new event, and not again */
	assert_int_equal(write(fds[1], "y", 1), 1);
	assert_int_equal(loop_run_once(g_loop, 10000), 2);
	assert_int_equal(post_nlog, 4);
	assert_memory_equal(post_log + 2, "ba", 2);
	assert_int_equal(loop_run_once(g_loop, 0), 0);
	assert_int_equal(post_nlog, 4);

	/* forgotten before its turn: not run */
	assert_int_equal(loop_post(g_loop, &c.w, EPOLLIN), 0);
	assert_int_equal(loop_post(g_loop, &a.w, EPOLLIN), 0);
	loop_forget(g_loop, &c.w);
	assert_int_equal(loop_run_once(g_loop, 10000), 1);
	assert_int_equal(post_nlog, 5);
	assert_int_equal(post_log[4], 'a');

	/* edge-triggered, b reads one byte of two: epoll says no more of
	 * the other until loop_rearm has it look again */
	b.read_one = 1;
	assert_int_equal(write(fds[1], "zz", 2), 2);
	assert_int_equal(loop_run_once(g_loop, 10000), 1);
	assert_int_equal(post_nlog, 6);
	assert_int_equal(loop_run_once(g_loop, 0), 0);
	assert_int_equal(loop_rearm(g_loop, &b.w), 0);
	assert_int_equal(loop_run_once(g_loop, 0), 1);
	assert_int_equal(post_nlog, 7);
	assert_memory_equal(post_log + 5, "bb", 2);
	assert_int_equal(loop_del(g_loop, &b.w), 0);
	close(fds[0]);
	close(fds[1]);
}

static void test_forget_pending_event(void **state)
{
	int dead_calls;

	(void)state;
	/* control: without loop_forget the closed owner's event still runs,
	 * so the test does put both events in one batch */
	run_killers(KILL_NONE, &dead_calls);
	assert_int_equal(dead_calls, 1);

	run_killers(KILL_FORGET, &dead_calls);
	assert_int_equal(dead_calls, 0);

	run_killers(KILL_DEL, &dead_calls);
	assert_int_equal(dead_calls, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_timers_fire_in_order,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_timer_disarm, setup, teardown),
		cmocka_unit_test_setup_teardown(test_timer_rearm, setup, teardown),
		cmocka_unit_test_setup_teardown(test_timer_callback_changes_heap,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_timer_rearm_zero_waits_next_turn,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_timer_heap_many, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_run_stop, setup, teardown),
		cmocka_unit_test_setup_teardown(test_io_pipe, setup, teardown),
		cmocka_unit_test_setup_teardown(test_forget_pending_event,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_idle_yield, setup, teardown),
		cmocka_unit_test_setup_teardown(test_posted, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
