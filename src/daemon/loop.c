/* loop.c - the epoll loop and a binary min-heap of timers. It knows fds,
 * callbacks and deadlines, nothing of sockets or protocols; a watch is
 * embedded in its owner, so registering costs no allocation. */
#include "autoconfig.h"

#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "loop.h"
#include "util.h"

#define LOOP_MAX_EVENTS 256

struct loop_posted {
	struct loop_watch *w;
	uint32_t events;
};

struct loop {
	int epfd;
	int stop;
	uint64_t now;
	int cur, ncur;   /* the batch being run: events[cur+1 .. ncur) wait */
	int in_timers;   /* run_timers is running */
	int idle_yield;  /* loop_set_idle_yield() */
	int busy;        /* the last turn ran events or posted work */
	uint64_t yields; /* sched_yield() calls made by loop_wait */
	uint64_t *turns; /* loop_count_turns(): one more per iteration */
	/* loop_post(): watches to run after this turn's events, as if epoll
	 * had reported them; NULL where loop_forget dropped one. */
	struct loop_posted *posted;
	size_t nposted, capposted;
	struct loop_timer **heap;
	size_t nheap, capheap;
	struct epoll_event events[LOOP_MAX_EVENTS];
};

struct loop *loop_new(void)
{
	struct loop *l = calloc(1, sizeof(*l));

	if (!l)
		return NULL;
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (l->epfd < 0) {
		free(l);
		return NULL;
	}
	l->now = util_now_ms();
	return l;
}

void loop_free(struct loop *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->nheap; i++)
		l->heap[i]->idx = LOOP_TIMER_IDLE;
	close(l->epfd);
	free(l->posted);
	free(l->heap);
	free(l);
}

int loop_fd(const struct loop *l)
{
	return l->epfd;
}

int loop_add(struct loop *l, struct loop_watch *w, int fd, uint32_t events,
	     loop_io_fn fn)
{
	struct epoll_event ev = { .events = events, .data.ptr = w };

	w->fn = fn;
	w->fd = fd;
	w->events = events;
	return epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev);
}

int loop_mod(struct loop *l, struct loop_watch *w, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = w };

	if (w->events == events)
		return 0;
	w->events = events;
	return epoll_ctl(l->epfd, EPOLL_CTL_MOD, w->fd, &ev);
}

int loop_del(struct loop *l, struct loop_watch *w)
{
	loop_forget(l, w);
	return epoll_ctl(l->epfd, EPOLL_CTL_DEL, w->fd, NULL);
}

int loop_rearm(struct loop *l, struct loop_watch *w)
{
	struct epoll_event ev = { .events = w->events, .data.ptr = w };

	return epoll_ctl(l->epfd, EPOLL_CTL_MOD, w->fd, &ev);
}

void loop_forget(struct loop *l, struct loop_watch *w)
{
	for (int i = l->cur + 1; i < l->ncur; i++)
		if (l->events[i].data.ptr == w)
			l->events[i].data.ptr = NULL;
	for (size_t i = 0; i < l->nposted; i++)
		if (l->posted[i].w == w)
			l->posted[i].w = NULL;
}

int loop_post(struct loop *l, struct loop_watch *w, uint32_t events)
{
	if (l->nposted == l->capposted) {
		size_t cap = l->capposted ? l->capposted * 2 : 64;
		struct loop_posted *p = realloc(l->posted, cap * sizeof(*p));

		if (!p)
			return -1;
		l->posted = p;
		l->capposted = cap;
	}
	l->posted[l->nposted].w = w;
	l->posted[l->nposted].events = events;
	l->nposted++;
	return 0;
}

/* Runs the watches posted before this call; those they post in turn wait
 * for the next turn, after its events, so that a connection with more
 * to read is served in rotation with the others rather than ahead of
 * them. */
static int run_posted(struct loop *l)
{
	size_t n = l->nposted;
	int ran = 0;

	if (n == 0)
		return 0;
	for (size_t i = 0; i < n; i++) {
		struct loop_watch *w = l->posted[i].w;

		if (!w)
			continue;
		l->posted[i].w = NULL;
		w->fn(w, l->posted[i].events);
		ran++;
	}
	memmove(l->posted, l->posted + n, (l->nposted - n) * sizeof(*l->posted));
	l->nposted -= n;
	return ran;
}

uint64_t loop_now(const struct loop *l)
{
	return l->now;
}

/* --- timers: a binary min-heap keyed on the deadline --- */

static void heap_swap(struct loop *l, size_t a, size_t b)
{
	struct loop_timer *t = l->heap[a];

	l->heap[a] = l->heap[b];
	l->heap[b] = t;
	l->heap[a]->idx = a;
	l->heap[b]->idx = b;
}

static void heap_up(struct loop *l, size_t i)
{
	while (i > 0) {
		size_t p = (i - 1) / 2;

		if (l->heap[p]->when <= l->heap[i]->when)
			break;
		heap_swap(l, p, i);
		i = p;
	}
}

static void heap_down(struct loop *l, size_t i)
{
	for (;;) {
		size_t c = 2 * i + 1, m = i;

		if (c < l->nheap && l->heap[c]->when < l->heap[m]->when)
			m = c;
		if (c + 1 < l->nheap && l->heap[c + 1]->when < l->heap[m]->when)
			m = c + 1;
		if (m == i)
			return;
		heap_swap(l, i, m);
		i = m;
	}
}

void loop_timer_init(struct loop_timer *t, loop_timer_fn fn)
{
	t->when = 0;
	t->fn = fn;
	t->idx = LOOP_TIMER_IDLE;
}

void loop_timer_disarm(struct loop *l, struct loop_timer *t)
{
	size_t i = t->idx;

	if (i == LOOP_TIMER_IDLE)
		return;
	t->idx = LOOP_TIMER_IDLE;
	l->nheap--;
	if (i == l->nheap)
		return;
	l->heap[i] = l->heap[l->nheap];
	l->heap[i]->idx = i;
	heap_up(l, i);
	heap_down(l, l->heap[i]->idx);
}

int loop_timer_arm(struct loop *l, struct loop_timer *t, uint64_t delay_ms)
{
	loop_timer_disarm(l, t);
	if (l->nheap == l->capheap) {
		size_t cap = l->capheap ? l->capheap * 2 : 16;
		struct loop_timer **h = realloc(l->heap, cap * sizeof(*h));

		if (!h)
			return -1;
		l->heap = h;
		l->capheap = cap;
	}
	t->when = util_now_ms() + delay_ms;
	/* Armed by a timer callback for "now": wait for the next turn, so a
	 * timer that re-arms itself with 0 cannot starve the fds. */
	if (l->in_timers && t->when <= l->now)
		t->when = l->now + 1;
	t->idx = l->nheap;
	l->heap[l->nheap++] = t;
	heap_up(l, t->idx);
	return 0;
}

static int next_timeout(const struct loop *l, int max_wait_ms)
{
	if (l->nheap == 0)
		return max_wait_ms;
	uint64_t when = l->heap[0]->when;
	uint64_t now = util_now_ms();
	int wait = when <= now ? 0 : (int)UTIL_MIN(when - now, (uint64_t)60000);

	return max_wait_ms >= 0 && max_wait_ms < wait ? max_wait_ms : wait;
}

static int run_timers(struct loop *l)
{
	int n = 0;

	uint64_t now = l->now;

	l->in_timers = 1;
	while (l->nheap > 0 && l->heap[0]->when <= now) {
		struct loop_timer *t = l->heap[0];

		loop_timer_disarm(l, t);
		t->fn(t);
		n++;
	}
	l->in_timers = 0;
	return n;
}

void loop_set_idle_yield(struct loop *l, int on)
{
	l->idle_yield = on;
}

/* Sleeping in epoll_wait and being woken costs two context switches and
 * a wake-up; in a virtual machine each is dear (tens of microseconds
 * where a request costs ten). A loop that was just busy and finds
 * nothing ready first offers the CPU to whoever is runnable - on a
 * loaded host, often the very clients whose requests come next - and
 * looks once more before it sleeps. It never spins: one yield per
 * busy-to-idle turn, and an idle loop sleeps at once. */
static int loop_wait(struct loop *l, int max_wait_ms)
{
	int timeout_ms = next_timeout(l, max_wait_ms);

	if (l->idle_yield && l->busy && timeout_ms != 0) {
		int n = epoll_wait(l->epfd, l->events, LOOP_MAX_EVENTS, 0);

		if (n != 0)
			return n;
		sched_yield();
		l->yields++;
		n = epoll_wait(l->epfd, l->events, LOOP_MAX_EVENTS, 0);
		if (n != 0)
			return n;
		/* The yield may have lasted a scheduler slice: the next
		 * timer is that much nearer. */
		timeout_ms = next_timeout(l, max_wait_ms);
	}
	return epoll_wait(l->epfd, l->events, LOOP_MAX_EVENTS, timeout_ms);
}

uint64_t loop_yields(const struct loop *l)
{
	return l->yields;
}

int loop_run_once(struct loop *l, int max_wait_ms)
{
	/* Posted work does not wait: epoll is only asked what else is
	 * ready. */
	int n = loop_wait(l, l->nposted ? 0 : max_wait_ms);

	if (n < 0 && errno != EINTR)
		return -1;
	l->now = util_now_ms();
	l->ncur = n;
	for (l->cur = 0; l->cur < n; l->cur++) {
		struct loop_watch *w = l->events[l->cur].data.ptr;

		if (w)
			w->fn(w, l->events[l->cur].events);
	}
	l->ncur = 0;
	n = (n > 0 ? n : 0) + run_posted(l);
	l->busy = n > 0;
	n += run_timers(l);
	if (l->turns)
		(*l->turns)++;
	return n;
}

void loop_count_turns(struct loop *l, uint64_t *counter)
{
	l->turns = counter;
}

void loop_run(struct loop *l)
{
	l->stop = 0;
	while (!l->stop)
		if (loop_run_once(l, -1) < 0)
			break;
}

void loop_stop(struct loop *l)
{
	l->stop = 1;
}
