/* rb_hold.c - hold mode in one child (see rb_hold.h). The connections
 * are idle: the only event a held connection can have is the server
 * closing or resetting it, which is counted as a drop. */
#include "autoconfig.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "reuseportbench/rb_hold.h"
#include "reuseportbench/rb_pool.h"
#include "reuseportbench/rb_time.h"

#define HOLD_PROGRESS_NS (250 * RB_NS_PER_MS)

/* An echo check waits while the answers keep coming: it ends when every
 * byte is back, when none has come back for HOLD_ECHO_QUIET_NS, or at
 * HOLD_ECHO_MAX_NS (under the parent's wait for a check). A fixed window
 * failed connections that were merely queued behind a million others on
 * a loaded machine; a quiet spell tells a lost answer from a late one. */
#define HOLD_ECHO_QUIET_NS (10 * RB_NS_PER_S)
#define HOLD_ECHO_MAX_NS (100 * RB_NS_PER_S)

struct hold {
	const struct rb_opts *o;
	const struct rb_slice *s;
	const struct rb_chan *c;
	struct rb_pool *pool;
	struct rb_result *r;
	struct rb_ctl ctl;
	uint64_t last_progress;
	uint8_t *asked; /* --echo-check: a byte sent, its echo awaited */
	uint64_t waiting, echo_last, echo_deadline;
	char scratch[4096];
};

void rb_hold_print_ports(const struct rb_opts *o, const struct rb_slice *s,
			 const struct rb_pool *pool)
{
	struct sockaddr_storage ss;
	char local[RB_ADDR_TEXT];
	socklen_t len;
	uint32_t i;

	for (i = 0; i < s->count; i++) {
		unsigned long long n = (unsigned long long)(s->first + i + 1);

		len = sizeof(ss);
		if (!rb_pool_is_open(pool, i) ||
		    getsockname(rb_pool_fd(pool, i), (struct sockaddr *)&ss,
				&len) < 0) {
			printf("Connection %llu: not open\n", n);
			continue;
		}
		printf("Connection %llu: local %s -> %s\n", n,
		       rb_addr_format((struct sockaddr *)&ss, local,
				      sizeof(local)),
		       o->target.text);
	}
	fflush(stdout);
}

static void hold_event(void *ud, uint32_t slot, uint32_t events)
{
	struct hold *h = ud;
	int fd = rb_pool_fd(h->pool, slot);
	ssize_t n;
	int i;

	(void)events;
	/* A few reads at most: a server that talks is noted, not served. */
	for (i = 0; i < 4; i++) {
		n = recv(fd, h->scratch, sizeof(h->scratch), 0);
		if (n > 0) {
			h->r->bytes_received += (uint64_t)n;
			if (h->asked && h->asked[slot]) {
				h->asked[slot] = 0;
				h->r->echo_ok++;
				h->waiting--;
				h->echo_last = rb_now_ns();
			}
			continue;
		}
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (n < 0)
			rb_result_error(h->r, RB_STAGE_READ, errno);
		h->r->dropped++;
		if (h->asked && h->asked[slot]) {
			h->asked[slot] = 0;
			h->waiting--;
		}
		rb_pool_close(h->pool, slot);
		return;
	}
}

static void hold_control(void *ud)
{
	struct hold *h = ud;

	rb_chan_read_control(h->c, &h->ctl);
}

static void progress(struct hold *h, int force)
{
	uint64_t now = rb_now_ns();
	struct rb_progress p = {
		.attempted = h->r->attempted,
		.established = h->r->established,
		.failed = h->r->connect_failed,
		.open = rb_pool_open_count(h->pool),
		.errors = h->r->dropped,
	};

	if (!force && now - h->last_progress < HOLD_PROGRESS_NS)
		return;
	h->last_progress = now;
	rb_chan_send(h->c, RB_MSG_PROGRESS, &p, sizeof(p));
}

static void hold_echo_check(struct hold *h);

/* CHECK from the parent: an echo check now, its counts sent back; the
 * hold goes on (the result's echo_ok and echo_failed add up every one). */
static void hold_check_now(struct hold *h)
{
	struct rb_check ck = { h->r->echo_ok, h->r->echo_failed };

	h->ctl.check = 0;
	hold_echo_check(h);
	ck.ok = h->r->echo_ok - ck.ok;
	ck.failed = h->r->echo_failed - ck.failed;
	rb_chan_send(h->c, RB_MSG_CHECKED, &ck, sizeof(ck));
}

/* Polls until cond says stop, with a progress message every round. */
static void spin(struct hold *h, int (*cond)(const struct hold *))
{
	while (!cond(h)) {
		if (rb_pool_poll(h->pool, rb_now_ns() + HOLD_PROGRESS_NS) < 0) {
			h->ctl.stop = 1;
			return;
		}
		if (h->ctl.print) {
			rb_hold_print_ports(h->o, h->s, h->pool);
			h->ctl.print = 0;
			rb_chan_send(h->c, RB_MSG_PRINTED, NULL, 0);
		}
		if (h->ctl.check && h->o->echo_check)
			hold_check_now(h);
		progress(h, 0);
	}
}

static int ramp_over(const struct hold *h)
{
	return h->ctl.stop || rb_pool_pending(h->pool) == 0;
}

static int go_or_stop(const struct hold *h)
{
	return h->ctl.stop || h->ctl.go;
}

static int stopped(const struct hold *h)
{
	return h->ctl.stop;
}

static int echoed(const struct hold *h)
{
	uint64_t now = rb_now_ns();

	return h->waiting == 0 || now > h->echo_deadline ||
	       now > h->echo_last + HOLD_ECHO_QUIET_NS;
}

/* --echo-check: a byte on every connection still open; those that come
 * back are counted (the server is an echo server). */
static void hold_echo_check(struct hold *h)
{
	h->asked = calloc(h->s->count, 1);
	if (!h->asked)
		return;
	for (uint32_t i = 0; i < h->s->count; i++)
		if (rb_pool_is_open(h->pool, i) &&
		    send(rb_pool_fd(h->pool, i), "e", 1, MSG_NOSIGNAL) == 1) {
			h->asked[i] = 1;
			h->waiting++;
		} else {
			h->r->echo_failed++;
		}
	h->echo_last = rb_now_ns();
	h->echo_deadline = h->echo_last + HOLD_ECHO_MAX_NS;
	while (!echoed(h) &&
	       rb_pool_poll(h->pool, rb_now_ns() + HOLD_PROGRESS_NS) >= 0)
		;
	/* Those still waiting are failed, and forgotten: a check that kept
	 * them counted them again as failed in the next check, and waited
	 * out its whole window for answers that were not asked for. */
	h->r->echo_failed += h->waiting;
	h->waiting = 0;
	free(h->asked);
	h->asked = NULL;
}

static const struct rb_pool_ops hold_ops = {
	.event = hold_event,
	.control = hold_control,
};

int rb_hold_child(const struct rb_opts *o, const struct rb_slice *s,
		  const struct rb_chan *c)
{
	struct hold *h = calloc(1, sizeof(*h));
	struct rb_pool_cfg cfg = {
		.o = o,
		.first = s->first,
		.n = s->count,
		.ctl_fd = c->down,
		.ops = &hold_ops,
	};
	uint64_t t0, t_go;
	uint32_t i;
	int rc = -1;

	if (!h)
		return -1;
	h->o = o;
	h->s = s;
	h->c = c;
	h->r = malloc(sizeof(*h->r));
	if (!h->r)
		goto out;
	rb_result_init(h->r);
	cfg.ud = h;
	cfg.r = h->r;
	/* --rate paces the connects; each child takes its share. */
	if (o->rate > 0)
		cfg.pace_per_s = o->rate * s->count / o->connections;
	h->pool = rb_pool_new(&cfg);
	if (!h->pool)
		goto out;
	for (i = 0; i < s->count; i++)
		rb_pool_connect(h->pool, i);
	t0 = rb_now_ns();
	spin(h, ramp_over);
	h->r->ramp_s = rb_ns_to_s(rb_now_ns() - t0);
	h->r->ramp_established = h->r->established;
	progress(h, 1);
	rb_chan_send(c, RB_MSG_READY, NULL, 0);
	spin(h, go_or_stop);
	t_go = rb_now_ns();
	h->r->open_at_go = rb_pool_open_count(h->pool);
	spin(h, stopped);
	h->r->run_s = rb_ns_to_s(rb_now_ns() - t_go);
	h->r->open_at_stop = rb_pool_open_count(h->pool);
	if (h->o->echo_check)
		hold_echo_check(h);
	rb_pool_free(h->pool);
	h->pool = NULL;
	rc = rb_chan_send(c, RB_MSG_RESULT, h->r, sizeof(*h->r));
out:
	rb_pool_free(h->pool);
	free(h->r);
	free(h);
	return rc;
}
