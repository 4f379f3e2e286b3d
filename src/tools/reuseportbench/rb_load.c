/* rb_load.c - echo/http load in one child (see rb_load.h).
 *
 * Every connection has at most one request outstanding. When it may send
 * the next one is kept in a due-time heap: "now" in closed loop, its
 * fixed schedule in open loop (intended_k = start + offset + k*interval,
 * whatever happened to request k-1). A request whose connection is not
 * open waits for the connect; in open loop its latency still counts from
 * the intended time, connect included - the correction wrk2 makes for
 * coordinated omission. */
#include "autoconfig.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>

#include "reuseportbench/rb_hold.h"
#include "reuseportbench/rb_load.h"
#include "reuseportbench/rb_pool.h"
#include "reuseportbench/rb_sched.h"
#include "reuseportbench/rb_time.h"

#define LOAD_PROGRESS_NS (250 * RB_NS_PER_MS)
#define LOAD_SCAN_NS (100 * RB_NS_PER_MS)
/* After a failed connect, a connection waits this long before the next
 * attempt, so a refusing server is not hammered in a tight loop. */
#define LOAD_RETRY_NS (100 * RB_NS_PER_MS)
/* Reads per event: enough for any answer in flight, and fair to the
 * other connections of the batch. */
#define LOAD_READS 4

enum { PH_RAMP, PH_RUN, PH_DRAIN };

struct lconn {
	uint64_t seq;      /* requests begun */
	uint64_t intended; /* when the current (or pending) request was due */
	uint64_t sent_at;  /* when its first byte was written */
	const uint8_t *req;
	uint32_t req_len;
	uint32_t req_off;
	uint8_t active;      /* begun, answer not yet complete */
	uint8_t answered;    /* answer complete, request still being written */
	uint8_t close_after; /* close once this request completes */
	uint8_t pending;     /* due, waiting for the connection to open */
	uint8_t ever_open;
	uint8_t retrying; /* the request goes again on a new connection */
	uint32_t got;     /* bytes of the current answer so far */
	uint32_t served;  /* answers on the connection open now */
};

struct load {
	const struct rb_opts *o;
	const struct rb_slice *s;
	const struct rb_chan *c;
	const struct rb_proto *proto;
	void *ctx;
	struct rb_pool *pool;
	struct rb_result *r;
	struct lconn *lc;
	uint8_t *pst; /* protocol state, proto->state_size each */
	struct rb_sched sched;
	struct rb_ctl ctl;
	int phase;
	uint64_t interval; /* ns between a connection's sends; 0: closed */
	uint64_t issued;
	uint32_t active;
	uint64_t last_progress, last_scan;
	uint8_t buf[65536];
};

static void *pstate(struct load *l, uint32_t slot)
{
	return l->pst + (size_t)slot * l->proto->state_size;
}

/* With --requests each child has an exact share, which may be 0 when
 * there are more processes than requests. */
static int quota_left(const struct load *l)
{
	return l->o->requests == 0 || l->issued < l->s->requests;
}

/* When the request after this one is due. */
static void schedule_next(struct load *l, uint32_t slot, uint64_t now)
{
	struct lconn *c = &l->lc[slot];
	uint64_t due = l->interval ? c->intended + l->interval : now;

	if (l->phase != PH_RUN || !quota_left(l))
		return;
	c->intended = due;
	rb_sched_set(&l->sched, slot, due);
}

static void end_request(struct load *l, uint32_t slot)
{
	struct lconn *c = &l->lc[slot];

	if (c->active) {
		c->active = 0;
		l->active--;
	}
}

/* The request failed (already counted): drop the connection. */
static void fail_request(struct load *l, uint32_t slot)
{
	end_request(l, slot);
	rb_pool_close(l->pool, slot);
	schedule_next(l, slot, rb_now_ns());
}

static void complete(struct load *l, uint32_t slot)
{
	struct lconn *c = &l->lc[slot];
	uint64_t now = rb_now_ns();
	uint64_t service = (now - c->sent_at) / 1000;

	rb_hist_record(&l->r->service, service);
	rb_hist_record(&l->r->latency,
		       l->interval ? (now - c->intended) / 1000 : service);
	l->r->messages++;
	c->served++;
	end_request(l, slot);
	if (c->close_after)
		rb_pool_close(l->pool, slot);
	schedule_next(l, slot, now);
}

static int retry(struct load *l, uint32_t slot);

static void send_more(struct load *l, uint32_t slot)
{
	struct lconn *c = &l->lc[slot];
	int fd = rb_pool_fd(l->pool, slot);
	ssize_t n;

	while (c->req_off < c->req_len) {
		n = send(fd, c->req + c->req_off, c->req_len - c->req_off,
			 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			rb_pool_watch(l->pool, slot, EPOLLIN | EPOLLOUT);
			return;
		}
		if (n < 0) {
			if ((errno == EPIPE || errno == ECONNRESET) &&
			    retry(l, slot))
				return;
			rb_result_error(l->r, RB_STAGE_WRITE, errno);
			l->r->resets++;
			fail_request(l, slot);
			return;
		}
		c->req_off += (uint32_t)n;
		l->r->bytes_sent += (uint64_t)n;
	}
	rb_pool_watch(l->pool, slot, EPOLLIN);
	if (c->answered)
		complete(l, slot);
}

static void begin(struct load *l, uint32_t slot)
{
	struct lconn *c = &l->lc[slot];
	size_t len;

	l->proto->begin(l->ctx, pstate(l, slot), l->s->first + slot, c->seq,
			&c->req, &len);
	c->seq++;
	c->req_len = (uint32_t)len;
	c->req_off = 0;
	c->active = 1;
	c->answered = 0;
	c->close_after = 0;
	c->pending = 0;
	c->got = 0;
	c->sent_at = rb_now_ns();
	l->active++;
	l->issued++;
	send_more(l, slot);
}

/* A connection's request is due. */
static void fire(struct load *l, uint32_t slot)
{
	struct lconn *c = &l->lc[slot];

	if (l->phase != PH_RUN || c->active || !quota_left(l))
		return;
	if (rb_pool_is_open(l->pool, slot)) {
		begin(l, slot);
		return;
	}
	if (!c->pending && c->ever_open && !l->o->close_each)
		l->r->reconnects++;
	c->pending = 1;
	rb_pool_connect(l->pool, slot);
}

static void run_due(struct load *l)
{
	uint64_t now = rb_now_ns(), due;
	uint32_t slot, i;

	/* At most one turn per connection per round, so a connection that
	 * is due again at once cannot starve the event loop. */
	for (i = 0; i < l->s->count; i++) {
		if (!rb_sched_peek(&l->sched, &slot, &due) || due > now)
			return;
		rb_sched_remove(&l->sched, slot);
		fire(l, slot);
	}
}

static void on_opened(void *ud, uint32_t slot)
{
	struct load *l = ud;
	struct lconn *c = &l->lc[slot];

	c->ever_open = 1;
	c->served = 0;
	if (c->retrying) {
		/* The same request, from its first byte; its latency still
		 * counts from when it was first sent. */
		c->retrying = 0;
		c->req_off = 0;
		c->got = 0;
		send_more(l, slot);
		return;
	}
	if (c->pending && l->phase == PH_RUN && quota_left(l))
		begin(l, slot);
	else
		c->pending = 0;
}

static void on_failed(void *ud, uint32_t slot)
{
	struct load *l = ud;

	if (l->lc[slot].retrying) {
		/* The retry could not connect (counted as such): the request
		 * is lost. */
		l->lc[slot].retrying = 0;
		end_request(l, slot);
		schedule_next(l, slot, rb_now_ns());
		return;
	}
	if (l->phase == PH_RUN && l->lc[slot].pending)
		rb_sched_set(&l->sched, slot, rb_now_ns() + LOAD_RETRY_NS);
}

/* Bytes with no request to answer, or after the answer. */
static void unexpected(struct load *l, uint32_t slot)
{
	l->r->unexpected++;
	if (l->lc[slot].active)
		fail_request(l, slot);
	else
		rb_pool_close(l->pool, slot);
}

/* The connection closed (EOF or reset) under a request with no byte of
 * its answer yet, on a connection that had answered before: the server
 * closed it idle as the request left. An idempotent request is sent again
 * on a new connection, once; 1 if so. */
static int retry(struct load *l, uint32_t slot)
{
	struct lconn *c = &l->lc[slot];

	if (!l->proto->idempotent || !c->active || c->got || !c->served ||
	    c->retrying)
		return 0;
	l->r->retried++;
	rb_pool_close(l->pool, slot);
	c->retrying = 1;
	c->served = 0;
	rb_pool_connect(l->pool, slot);
	return 1;
}

static void on_eof(struct load *l, uint32_t slot)
{
	struct lconn *c = &l->lc[slot];

	if (retry(l, slot))
		return;
	if (!c->active) {
		/* The server closed an idle connection (keep-alive timeout,
		 * drain): not an error; the next request reconnects. */
		l->r->dropped++;
		rb_pool_close(l->pool, slot);
		return;
	}
	if (l->proto->eof(l->ctx, pstate(l, slot), l->r) != RB_FEED_DONE) {
		fail_request(l, slot);
		return;
	}
	c->close_after = 1;
	c->answered = 1;
	if (c->req_off < c->req_len)
		c->req_off = c->req_len; /* the rest can no longer be sent */
	complete(l, slot);
}

/* Returns 1 when the connection's turn is over for this event. */
static int on_data(struct load *l, uint32_t slot, size_t n)
{
	struct lconn *c = &l->lc[slot];
	size_t used = 0;
	int close = 0;

	if (!c->active || c->answered) {
		unexpected(l, slot);
		return 1;
	}
	switch (l->proto->feed(l->ctx, pstate(l, slot), l->buf, n, &used,
			       &close, l->r)) {
	case RB_FEED_MORE:
		return 0;
	case RB_FEED_ERROR:
		fail_request(l, slot);
		return 1;
	case RB_FEED_DONE:
		break;
	}
	c->answered = 1;
	c->close_after = (uint8_t)close;
	if (used < n) {
		l->r->unexpected++;
		c->close_after = 1;
	}
	if (c->req_off < c->req_len) {
		/* Answered before the whole request went out (an early error
		 * response): what is left cannot be sent on this connection. */
		c->close_after = 1;
		c->req_off = c->req_len;
	}
	complete(l, slot);
	return 1;
}

static void read_some(struct load *l, uint32_t slot)
{
	int fd = rb_pool_fd(l->pool, slot);
	ssize_t n;
	int i;

	for (i = 0; i < LOAD_READS; i++) {
		n = recv(fd, l->buf, sizeof(l->buf), MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n < 0) {
			if (errno == ECONNRESET && retry(l, slot))
				return;
			rb_result_error(l->r, RB_STAGE_READ, errno);
			if (l->lc[slot].active) {
				l->r->resets++;
				fail_request(l, slot);
			} else {
				l->r->dropped++;
				rb_pool_close(l->pool, slot);
			}
			return;
		}
		if (n == 0) {
			on_eof(l, slot);
			return;
		}
		l->r->bytes_received += (uint64_t)n;
		l->lc[slot].got += (uint32_t)n;
		if (on_data(l, slot, (size_t)n))
			return;
	}
}

static void on_event(void *ud, uint32_t slot, uint32_t events)
{
	struct load *l = ud;
	struct lconn *c = &l->lc[slot];

	if ((events & EPOLLOUT) && c->active && c->req_off < c->req_len)
		send_more(l, slot);
	if (!rb_pool_is_open(l->pool, slot))
		return;
	if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
		read_some(l, slot);
}

static void on_control(void *ud)
{
	struct load *l = ud;

	rb_chan_read_control(l->c, &l->ctl);
}

static const struct rb_pool_ops load_ops = {
	.opened = on_opened,
	.failed = on_failed,
	.event = on_event,
	.control = on_control,
};

/* Requests with no complete answer within --timeout are given up. */
static void expire_requests(struct load *l, uint64_t now)
{
	uint64_t limit = rb_s_to_ns(l->o->request_timeout_s);
	uint32_t i;

	if (!l->active || now - l->last_scan < LOAD_SCAN_NS)
		return;
	l->last_scan = now;
	for (i = 0; i < l->s->count; i++) {
		if (!l->lc[i].active || now - l->lc[i].sent_at < limit)
			continue;
		l->r->request_timeouts++;
		fail_request(l, i);
	}
}

static void progress(struct load *l, int force)
{
	uint64_t now = rb_now_ns();
	struct rb_progress p = {
		.attempted = l->r->attempted,
		.established = l->r->established,
		.failed = l->r->connect_failed,
		.open = rb_pool_open_count(l->pool),
		.messages = l->r->messages,
		.errors = rb_result_load_errors(l->r),
	};

	if (!force && now - l->last_progress < LOAD_PROGRESS_NS)
		return;
	l->last_progress = now;
	rb_chan_send(l->c, RB_MSG_PROGRESS, &p, sizeof(p));
}

/* One loop round: wait until the next due request at most. */
static int step(struct load *l, uint64_t limit)
{
	uint64_t now = rb_now_ns(), deadline = now + LOAD_PROGRESS_NS, due;
	uint32_t slot;

	if (l->phase == PH_RUN && rb_sched_peek(&l->sched, &slot, &due) &&
	    due < deadline)
		deadline = due;
	if (l->active && deadline > l->last_scan + LOAD_SCAN_NS)
		deadline = l->last_scan + LOAD_SCAN_NS;
	if (deadline > limit)
		deadline = limit;
	if (rb_pool_poll(l->pool, deadline) < 0)
		return -1;
	if (l->ctl.print) {
		rb_hold_print_ports(l->o, l->s, l->pool);
		l->ctl.print = 0;
		rb_chan_send(l->c, RB_MSG_PRINTED, NULL, 0);
	}
	if (l->phase == PH_RUN)
		run_due(l);
	expire_requests(l, rb_now_ns());
	progress(l, 0);
	return 0;
}

static void ramp(struct load *l)
{
	uint64_t t0 = rb_now_ns();
	uint32_t i;

	for (i = 0; i < l->s->count; i++)
		rb_pool_connect(l->pool, i);
	while (!l->ctl.stop && rb_pool_pending(l->pool))
		if (step(l, UINT64_MAX) < 0)
			l->ctl.stop = 1;
	l->r->ramp_s = rb_ns_to_s(rb_now_ns() - t0);
	l->r->ramp_established = l->r->established;
	progress(l, 1);
	rb_chan_send(l->c, RB_MSG_READY, NULL, 0);
	while (!l->ctl.stop && !l->ctl.go)
		if (step(l, UINT64_MAX) < 0)
			l->ctl.stop = 1;
}

static void run(struct load *l)
{
	uint64_t t_go = rb_now_ns(), drain_end;
	uint32_t i;
	double n = l->o->connections;

	l->phase = PH_RUN;
	l->r->open_at_go = rb_pool_open_count(l->pool);
	/* Open loop: the connections' schedules are spread evenly over one
	 * interval, so the offered load is smooth rather than in bursts. */
	for (i = 0; i < l->s->count; i++) {
		l->lc[i].intended = t_go +
				    (uint64_t)((double)l->interval *
					       (double)(l->s->first + i) / n);
		rb_sched_set(&l->sched, i, l->lc[i].intended);
	}
	while (!l->ctl.stop && quota_left(l))
		if (step(l, UINT64_MAX) < 0)
			break;
	l->phase = PH_DRAIN;
	l->r->open_at_stop = rb_pool_open_count(l->pool);
	/* Rates are over the time requests were being sent; the drain adds
	 * at most one answer per connection, and a server that never
	 * answers must not dilute them. */
	l->r->run_s = rb_ns_to_s(rb_now_ns() - t_go);
	drain_end = rb_now_ns() + rb_s_to_ns(l->o->drain_timeout_s);
	while (l->active && rb_now_ns() < drain_end)
		if (step(l, drain_end) < 0)
			break;
	l->r->unfinished = l->active;
}

static int setup(struct load *l, const struct rb_opts *o,
		 const struct rb_slice *s, const struct rb_chan *c)
{
	struct rb_pool_cfg cfg = {
		.o = o,
		.first = s->first,
		.n = s->count,
		.ctl_fd = c->down,
		.nodelay = 1,
		.ops = &load_ops,
		.ud = l,
	};

	l->o = o;
	l->s = s;
	l->c = c;
	l->proto = o->mode == RB_MODE_HTTP ? &rb_proto_http : &rb_proto_echo;
	if (o->rate > 0)
		l->interval = (uint64_t)((double)o->connections / o->rate * 1e9);
	if (l->interval == 0 && o->rate > 0)
		l->interval = 1;
	l->r = malloc(sizeof(*l->r));
	l->lc = calloc(s->count ? s->count : 1, sizeof(*l->lc));
	l->pst = calloc(s->count ? s->count : 1, l->proto->state_size);
	if (!l->r || !l->lc || !l->pst || rb_sched_init(&l->sched, s->count) < 0)
		return -1;
	rb_result_init(l->r);
	cfg.r = l->r;
	l->ctx = l->proto->setup(o);
	l->pool = l->ctx ? rb_pool_new(&cfg) : NULL;
	return l->pool ? 0 : -1;
}

static void teardown(struct load *l)
{
	rb_pool_free(l->pool);
	if (l->ctx)
		l->proto->teardown(l->ctx);
	rb_sched_free(&l->sched);
	free(l->pst);
	free(l->lc);
	free(l->r);
	free(l);
}

int rb_load_child(const struct rb_opts *o, const struct rb_slice *s,
		  const struct rb_chan *c)
{
	struct load *l = calloc(1, sizeof(*l));
	int rc = -1;

	if (!l)
		return -1;
	if (setup(l, o, s, c) < 0)
		goto out;
	/* Open loop sends on time only if the wake-ups are on time: the
	 * default 50 us timer slack would show up in every latency. */
	if (l->interval)
		prctl(PR_SET_TIMERSLACK, 1UL);
	ramp(l);
	if (l->ctl.go && !l->ctl.stop)
		run(l);
	rb_pool_free(l->pool);
	l->pool = NULL;
	rc = rb_chan_send(c, RB_MSG_RESULT, l->r, sizeof(*l->r));
out:
	teardown(l);
	return rc;
}
