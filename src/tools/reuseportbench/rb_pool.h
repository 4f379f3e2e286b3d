/* rb_pool.h - a process's client connections: non-blocking connects from
 * a spread of source addresses, a bounded number in flight (so a burst
 * does not overrun the server's SYN backlog), connect timeouts, and one
 * epoll loop that hands ready connections to the mode (hold, echo,
 * http) through callbacks. It records connect outcomes, connect latency
 * and local ports in the process's rb_result. Prefix rb_pool_. */
#ifndef RB_POOL_H
#define RB_POOL_H

#include <stdint.h>

#include "reuseportbench/rb_opts.h"
#include "reuseportbench/rb_result.h"

struct rb_pool;

struct rb_pool_ops {
	void (*opened)(void *ud, uint32_t slot); /* connect completed */
	void (*failed)(void *ud, uint32_t slot); /* connect failed (recorded) */
	/* EPOLLIN/OUT/RDHUP/HUP/ERR on an open slot */
	void (*event)(void *ud, uint32_t slot, uint32_t events);
	void (*control)(void *ud); /* the parent wrote */
};

struct rb_pool_cfg {
	const struct rb_opts *o;
	uint64_t first;    /* global number of slot 0: picks the source */
	uint32_t n;        /* slots */
	int ctl_fd;        /* watched too; -1 for none */
	int nodelay;       /* TCP_NODELAY on each connection */
	double pace_per_s; /* connect starts per second; 0: unpaced */
	const struct rb_pool_ops *ops;
	void *ud;
	struct rb_result *r;
};

struct rb_pool *rb_pool_new(const struct rb_pool_cfg *cfg);
/* Closes every connection. */
void rb_pool_free(struct rb_pool *p);

/* Queues a connect for an idle slot; it starts when fewer than
 * --inflight connects are in progress (and the pace allows). */
void rb_pool_connect(struct rb_pool *p, uint32_t slot);
/* Closes the slot's connection, or takes it off the queue. */
void rb_pool_close(struct rb_pool *p, uint32_t slot);
/* Sets the epoll events wanted on an open slot (EPOLLRDHUP is added). */
int rb_pool_watch(struct rb_pool *p, uint32_t slot, uint32_t events);

int rb_pool_fd(const struct rb_pool *p, uint32_t slot);
int rb_pool_is_open(const struct rb_pool *p, uint32_t slot);
uint16_t rb_pool_port(const struct rb_pool *p, uint32_t slot);
uint32_t rb_pool_open_count(const struct rb_pool *p);
/* Slots queued or connecting: the ramp is over when this reaches 0. */
uint32_t rb_pool_pending(const struct rb_pool *p);

/* One round: start queued connects, wait for events until the monotonic
 * time 'deadline' (ns) at most, dispatch them, expire stale connects.
 * Returns 0, or -1 if epoll failed for a reason other than a signal. */
int rb_pool_poll(struct rb_pool *p, uint64_t deadline);

#endif
