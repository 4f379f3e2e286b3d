/* rb_pool.c - client connections and their epoll loop (see rb_pool.h).
 *
 * Each connect binds its source address with IP_BIND_ADDRESS_NO_PORT:
 * bind() then only fixes the address, and the kernel picks the port at
 * connect() time, when it knows the whole 4-tuple. Without it, bind()
 * would have to pick a port unique for the address alone, and one source
 * address could never carry more than the ~28K ephemeral ports in total
 * (ip(7), "IP_BIND_ADDRESS_NO_PORT"). */
#include "autoconfig.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "reuseportbench/rb_pool.h"
#include "reuseportbench/rb_time.h"

enum { SLOT_IDLE, SLOT_QUEUED, SLOT_CONNECTING, SLOT_OPEN };

#define RB_POOL_BATCH 256
/* Connects started per loop round: starting all --inflight at once
 * would leave the first ones' completions unread while the rest are
 * started, and their connect latency would measure us, not the server. */
#define RB_POOL_STARTS 32
#define RB_POOL_CTL UINT64_MAX
/* How often connects in progress are checked against the timeout. */
#define RB_POOL_SCAN_NS (100 * RB_NS_PER_MS)

struct rb_slot {
	int fd;
	uint8_t state;
	uint16_t port;
	uint32_t gen; /* bumped per fd, so a stale event is recognised */
	uint32_t events;
	uint64_t t0; /* connect start */
};

struct rb_pool {
	struct rb_pool_cfg cfg;
	struct rb_slot *slots;
	uint32_t *queue; /* ring of slots waiting to connect */
	uint32_t qhead, qlen;
	uint32_t connecting, open;
	int ep;
	uint64_t timeout_ns;
	uint64_t pace_ns, next_start;
	uint64_t last_scan;
	struct epoll_event ev[RB_POOL_BATCH];
};

static uint64_t ev_key(uint32_t slot, uint32_t gen)
{
	return (uint64_t)gen << 32 | slot;
}

struct rb_pool *rb_pool_new(const struct rb_pool_cfg *cfg)
{
	struct rb_pool *p = calloc(1, sizeof(*p));
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = RB_POOL_CTL };
	uint32_t i;

	if (!p)
		return NULL;
	p->cfg = *cfg;
	p->ep = -1;
	p->slots = calloc(cfg->n ? cfg->n : 1, sizeof(*p->slots));
	p->queue = calloc(cfg->n ? cfg->n : 1, sizeof(*p->queue));
	if (!p->slots || !p->queue)
		goto fail;
	for (i = 0; i < cfg->n; i++)
		p->slots[i].fd = -1;
	p->ep = epoll_create1(EPOLL_CLOEXEC);
	if (p->ep < 0)
		goto fail;
	if (cfg->ctl_fd >= 0 &&
	    epoll_ctl(p->ep, EPOLL_CTL_ADD, cfg->ctl_fd, &ev) < 0)
		goto fail;
	p->timeout_ns = rb_s_to_ns(cfg->o->connect_timeout_s);
	if (cfg->pace_per_s > 0)
		p->pace_ns = (uint64_t)(1e9 / cfg->pace_per_s);
	p->next_start = rb_now_ns();
	p->last_scan = p->next_start;
	return p;
fail:
	rb_pool_free(p);
	return NULL;
}

void rb_pool_free(struct rb_pool *p)
{
	uint32_t i;

	if (!p)
		return;
	for (i = 0; p->slots && i < p->cfg.n; i++)
		if (p->slots[i].fd >= 0)
			close(p->slots[i].fd);
	if (p->ep >= 0)
		close(p->ep);
	free(p->slots);
	free(p->queue);
	free(p);
}

int rb_pool_fd(const struct rb_pool *p, uint32_t slot)
{
	return p->slots[slot].fd;
}

int rb_pool_is_open(const struct rb_pool *p, uint32_t slot)
{
	return p->slots[slot].state == SLOT_OPEN;
}

uint16_t rb_pool_port(const struct rb_pool *p, uint32_t slot)
{
	return p->slots[slot].port;
}

uint32_t rb_pool_open_count(const struct rb_pool *p)
{
	return p->open;
}

uint32_t rb_pool_pending(const struct rb_pool *p)
{
	return p->qlen + p->connecting;
}

void rb_pool_connect(struct rb_pool *p, uint32_t slot)
{
	struct rb_slot *s = &p->slots[slot];

	if (s->state != SLOT_IDLE)
		return;
	s->state = SLOT_QUEUED;
	p->queue[(p->qhead + p->qlen) % p->cfg.n] = slot;
	p->qlen++;
}

void rb_pool_close(struct rb_pool *p, uint32_t slot)
{
	struct rb_slot *s = &p->slots[slot];

	if (s->state == SLOT_CONNECTING)
		p->connecting--;
	else if (s->state == SLOT_OPEN)
		p->open--;
	/* A queued slot stays in the ring; the dequeue skips it because it
	 * is no longer SLOT_QUEUED. */
	if (s->fd >= 0)
		close(s->fd); /* no other process has it: epoll forgets it */
	s->fd = -1;
	s->state = SLOT_IDLE;
	s->events = 0;
}

int rb_pool_watch(struct rb_pool *p, uint32_t slot, uint32_t events)
{
	struct rb_slot *s = &p->slots[slot];
	struct epoll_event ev;

	events |= EPOLLRDHUP;
	if (s->state != SLOT_OPEN || s->events == events)
		return 0;
	ev.events = events;
	ev.data.u64 = ev_key(slot, s->gen);
	if (epoll_ctl(p->ep, EPOLL_CTL_MOD, s->fd, &ev) < 0)
		return -1;
	s->events = events;
	return 0;
}

static void fail_slot(struct rb_pool *p, uint32_t slot, enum rb_stage st, int err)
{
	p->cfg.r->connect_failed++;
	rb_result_error(p->cfg.r, st, err);
	rb_pool_close(p, slot);
	if (p->cfg.ops->failed)
		p->cfg.ops->failed(p->cfg.ud, slot);
}

static void established(struct rb_pool *p, uint32_t slot)
{
	struct rb_slot *s = &p->slots[slot];
	struct rb_result *r = p->cfg.r;
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	uint64_t now = rb_now_ns();
	uint16_t port = 0;

	if (getsockname(s->fd, (struct sockaddr *)&ss, &len) == 0)
		port = ntohs(ss.ss_family == AF_INET6 ?
				     ((struct sockaddr_in6 *)&ss)->sin6_port :
				     ((struct sockaddr_in *)&ss)->sin_port);
	s->port = port;
	s->state = SLOT_OPEN;
	p->open++;
	r->established++;
	if (p->open > r->peak_open)
		r->peak_open = p->open;
	rb_hist_record(&r->connect_lat, (now - s->t0) / 1000);
	rb_result_port(r, rb_src_index(&p->cfg.o->sources, p->cfg.first + slot),
		       port);
	/* Idle until the mode asks for more: a hangup still shows. */
	s->events = 0;
	rb_pool_watch(p, slot, EPOLLIN);
	if (p->cfg.ops->opened)
		p->cfg.ops->opened(p->cfg.ud, slot);
}

/* Creates, binds and connects one socket. */
static void start_connect(struct rb_pool *p, uint32_t slot)
{
	const struct rb_opts *o = p->cfg.o;
	struct rb_slot *s = &p->slots[slot];
	struct sockaddr_in src;
	struct epoll_event ev;
	int one = 1;

	p->cfg.r->attempted++;
	s->fd = socket(o->target.family,
		       SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s->fd < 0) {
		fail_slot(p, slot, RB_STAGE_SOCKET, errno);
		return;
	}
	s->gen++;
	if (o->sources.count) {
		rb_src_sockaddr(&o->sources,
				rb_src_index(&o->sources, p->cfg.first + slot),
				&src);
		if (setsockopt(s->fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one,
			       sizeof(one)) < 0 ||
		    bind(s->fd, (struct sockaddr *)&src, sizeof(src)) < 0) {
			fail_slot(p, slot, RB_STAGE_BIND, errno);
			return;
		}
	}
	if (p->cfg.nodelay)
		setsockopt(s->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	s->t0 = rb_now_ns();
	s->state = SLOT_CONNECTING;
	p->connecting++;
	if (connect(s->fd, (const struct sockaddr *)&o->target.sa,
		    o->target.len) < 0 &&
	    errno != EINPROGRESS) {
		fail_slot(p, slot, RB_STAGE_CONNECT, errno);
		return;
	}
	ev.events = EPOLLOUT;
	ev.data.u64 = ev_key(slot, s->gen);
	if (epoll_ctl(p->ep, EPOLL_CTL_ADD, s->fd, &ev) < 0) {
		fail_slot(p, slot, RB_STAGE_CONNECT, errno);
		return;
	}
	s->events = EPOLLOUT;
}

static void start_queued(struct rb_pool *p, uint64_t now)
{
	uint32_t slot, started = 0;

	while (p->qlen && p->connecting < p->cfg.o->inflight &&
	       started < RB_POOL_STARTS) {
		if (p->pace_ns && now < p->next_start)
			return;
		slot = p->queue[p->qhead];
		p->qhead = (p->qhead + 1) % p->cfg.n;
		p->qlen--;
		if (p->slots[slot].state != SLOT_QUEUED)
			continue;
		p->slots[slot].state = SLOT_IDLE;
		if (p->pace_ns)
			p->next_start += p->pace_ns;
		start_connect(p, slot);
		started++;
	}
	/* An idle pace does not bank up credit for a later burst. */
	if (p->pace_ns && p->next_start < now)
		p->next_start = now;
}

static void finish_connect(struct rb_pool *p, uint32_t slot)
{
	struct rb_slot *s = &p->slots[slot];
	int err = 0;
	socklen_t len = sizeof(err);

	if (getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
	if (err) {
		fail_slot(p, slot, RB_STAGE_HANDSHAKE, err);
		return;
	}
	p->connecting--;
	established(p, slot);
}

static void expire_connects(struct rb_pool *p, uint64_t now)
{
	uint32_t i;

	if (!p->connecting || now - p->last_scan < RB_POOL_SCAN_NS)
		return;
	p->last_scan = now;
	for (i = 0; i < p->cfg.n; i++) {
		struct rb_slot *s = &p->slots[i];

		if (s->state != SLOT_CONNECTING || now - s->t0 < p->timeout_ns)
			continue;
		p->cfg.r->connect_timeouts++;
		fail_slot(p, i, RB_STAGE_HANDSHAKE, ETIMEDOUT);
	}
}

/* How long to wait, as a timespec: epoll_pwait2() takes nanoseconds, so
 * an open-loop send due in 300 us is not rounded up to a millisecond
 * (which would add ~0.5 ms to every latency measured from the intended
 * send time). */
static struct timespec poll_timeout(const struct rb_pool *p, uint64_t now,
				    uint64_t deadline)
{
	struct timespec ts;
	uint64_t d = deadline;

	if (p->connecting && d > p->last_scan + RB_POOL_SCAN_NS)
		d = p->last_scan + RB_POOL_SCAN_NS;
	/* More to start and room for it: just collect what is ready. */
	if (p->qlen && p->connecting < p->cfg.o->inflight &&
	    (!p->pace_ns || p->next_start <= now))
		d = now;
	else if (p->qlen && p->connecting < p->cfg.o->inflight && p->pace_ns &&
		 d > p->next_start)
		d = p->next_start;
	d = d > now ? d - now : 0;
	ts.tv_sec = (time_t)(d / RB_NS_PER_S);
	ts.tv_nsec = (long)(d % RB_NS_PER_S);
	return ts;
}

static int wait_events(struct rb_pool *p, const struct timespec *ts)
{
	int n = epoll_pwait2(p->ep, p->ev, RB_POOL_BATCH, ts, NULL);
	uint64_t ms;

	if (n >= 0 || errno != ENOSYS)
		return n;
	/* Kernels before 5.11: millisecond resolution, rounded up. */
	ms = (uint64_t)ts->tv_sec * 1000 +
	     ((uint64_t)ts->tv_nsec + 999999) / 1000000;
	return epoll_wait(p->ep, p->ev, RB_POOL_BATCH, ms > 1000 ? 1000 : (int)ms);
}

static void dispatch(struct rb_pool *p, const struct epoll_event *e)
{
	uint32_t slot = (uint32_t)e->data.u64;
	uint32_t gen = (uint32_t)(e->data.u64 >> 32);
	struct rb_slot *s;

	if (e->data.u64 == RB_POOL_CTL) {
		if (p->cfg.ops->control)
			p->cfg.ops->control(p->cfg.ud);
		return;
	}
	if (slot >= p->cfg.n)
		return;
	s = &p->slots[slot];
	/* An earlier event of this batch may have closed (and reopened) it. */
	if (s->gen != gen || s->fd < 0)
		return;
	if (s->state == SLOT_CONNECTING)
		finish_connect(p, slot);
	else if (s->state == SLOT_OPEN && p->cfg.ops->event)
		p->cfg.ops->event(p->cfg.ud, slot, e->events);
}

int rb_pool_poll(struct rb_pool *p, uint64_t deadline)
{
	uint64_t now = rb_now_ns();
	uint32_t before = rb_pool_pending(p);
	struct timespec ts;
	int i, n;

	start_queued(p, now);
	/* Every remaining connect failed at once: the caller's wait for
	 * "nothing pending" is over, do not sleep on it. */
	if (before && !rb_pool_pending(p))
		deadline = now;
	ts = poll_timeout(p, now, deadline);
	n = wait_events(p, &ts);
	if (n < 0)
		return errno == EINTR ? 0 : -1;
	for (i = 0; i < n; i++)
		dispatch(p, &p->ev[i]);
	now = rb_now_ns();
	expire_connects(p, now);
	start_queued(p, now);
	return 0;
}
