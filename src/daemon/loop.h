/* loop.h - the epoll loop and its timers; it knows fds, callbacks and
 * deadlines, nothing of what it serves. */
#ifndef RP_LOOP_H
#define RP_LOOP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/epoll.h>

struct loop;
struct loop_watch;

typedef void (*loop_io_fn)(struct loop_watch *w, uint32_t events);

/* Embedded in the owner (a connection, a listener, a channel): the loop
 * hands the watch back and the owner finds itself with container_of, so a
 * registration costs no allocation. */
struct loop_watch {
	loop_io_fn fn;
	int fd;
	uint32_t events;
};

struct loop_timer;
typedef void (*loop_timer_fn)(struct loop_timer *t);

struct loop_timer {
	uint64_t when; /* monotonic ms */
	loop_timer_fn fn;
	size_t idx; /* position in the heap, LOOP_TIMER_IDLE when not armed */
};

#define LOOP_TIMER_IDLE ((size_t)-1)

struct loop *loop_new(void);
void loop_free(struct loop *l);
int loop_fd(const struct loop *l);

int loop_add(struct loop *l, struct loop_watch *w, int fd, uint32_t events,
	     loop_io_fn fn);
/* Changes the events; a no-op when they are already those. */
int loop_mod(struct loop *l, struct loop_watch *w, uint32_t events);
int loop_del(struct loop *l, struct loop_watch *w);
/* Drops the events of w still waiting in this iteration's batch. Call it
 * before close(w->fd): the owner may be freed, or the fd number reused by
 * accept, before the rest of the batch is run. loop_del() does it too.
 * close() removes the fd from epoll only when no other process holds a
 * copy: a process that forks must loop_del() instead. */
void loop_forget(struct loop *l, struct loop_watch *w);
/* Runs w->fn(w, events) in this turn, after the events epoll reported:
 * an edge-triggered owner that stopped before it had read all there was
 * (to serve its neighbours in turn) is called again as if epoll had said
 * so. Once per call; loop_forget() drops it. 0, or -1 when out of
 * memory. */
int loop_post(struct loop *l, struct loop_watch *w, uint32_t events);
/* Registers w's events again (EPOLL_CTL_MOD): epoll looks at the fd at
 * once, and reports it if ready, even edge-triggered. 0 or -1. */
int loop_rearm(struct loop *l, struct loop_watch *w);

void loop_timer_init(struct loop_timer *t, loop_timer_fn fn);
int loop_timer_arm(struct loop *l, struct loop_timer *t, uint64_t delay_ms);
void loop_timer_disarm(struct loop *l, struct loop_timer *t);
static inline int loop_timer_armed(const struct loop_timer *t)
{
	return t->idx != LOOP_TIMER_IDLE;
}

/* on: when a busy loop runs out of events, sched_yield() once and look
 * again before sleeping (see loop_wait in loop.c). Off by default. */
void loop_set_idle_yield(struct loop *l, int on);
/* How many times it yielded. */
uint64_t loop_yields(const struct loop *l);

/* Adds one to *counter after every iteration (NULL: stop). A worker's
 * counter lives in memory its master reads: a loop that turns is a
 * worker that is not stuck, however late its messages. */
void loop_count_turns(struct loop *l, uint64_t *counter);

/* The time cached at the start of this iteration (monotonic ms). */
uint64_t loop_now(const struct loop *l);
/* Waits at most max_wait_ms (-1: until the next timer or event), runs the
 * ready callbacks and the expired timers. Returns events run, -1 on error. */
int loop_run_once(struct loop *l, int max_wait_ms);
/* Runs until loop_stop(). */
void loop_run(struct loop *l);
void loop_stop(struct loop *l);

#endif
