/* handover.c - moving idle connections from a draining worker to the new
 * generation: the walk, the frames and their pacing, and the taking over
 * on the other side. See handover.h. */
#include "autoconfig.h"

#include <string.h>
#include <unistd.h>

#include "channel.h"
#include "conn.h"
#include "handover.h"
#include "log.h"
#include "util.h"

/* A TAKEN that has not come by then will not come (the taker died, the
 * frame went down with it): the rest is drained where it is. Meanwhile
 * this worker serves its connections as before, so waiting long costs
 * nothing but a slower reload when a taker died. 2 s was too short: at
 * 2,000,000 connections, 236 workers on 2 cores and the master relaying
 * 7,900 frames, every old worker waited longer than that for a TAKEN,
 * and 270,000 connections were closed instead of moved. */
#define HO_WAIT_MS 10000
/* Walks over the connections: a connection busy when the walk passed it
 * (a request being answered) may be idle by the end, and is moved by the
 * next pass rather than closed by the drain; a pass that moves nothing
 * ends the handover. */
#define HO_MAX_PASSES 3

struct ho_batch {
	struct chan_handoff h;
	struct conn_transfer rec[CHAN_MAX_FDS];
	int fd[CHAN_MAX_FDS];
	uint32_t max;
	int next; /* where the walk stopped; -1: it went through */
};

static void ho_finish(struct handover *h)
{
	if (!h->running)
		return;
	h->running = h->waiting = 0;
	loop_timer_disarm(conn_pool_loop(h->pool), &h->wait);
	h->done(h->arg);
}

static void ho_wait_expired(struct loop_timer *t)
{
	struct handover *h = util_container_of(t, struct handover, wait);

	/* Not even sent yet (the master is not reading: stopped, or starved
	 * of CPU): ending now would let this worker exit with the frame,
	 * and the connections in it, still in its queue. */
	if (h->chan->ntx > 0) {
		loop_timer_arm(conn_pool_loop(h->pool), &h->wait, HO_WAIT_MS);
		return;
	}
	log_warn("handover: no word on the last connections handed over in %d ms; draining the rest here",
		 HO_WAIT_MS);
	ho_finish(h);
}

void ho_init(struct handover *h, struct conn_pool *pool, struct chan *chan,
	     int handler, void (*done)(void *), void *arg)
{
	memset(h, 0, sizeof(*h));
	h->pool = pool;
	h->chan = chan;
	h->handler = handler;
	h->done = done;
	h->arg = arg;
	loop_timer_init(&h->wait, ho_wait_expired);
}

static int ho_collect(struct conn *c, void *arg)
{
	struct ho_batch *b = arg;

	if (b->h.count == b->max) {
		b->next = conn_fd(c);
		return 1;
	}
	if (!conn_can_hand_over(c))
		return 0;
	b->fd[b->h.count] = conn_hand_over(c, &b->rec[b->h.count]);
	b->h.count++;
	return 0;
}

/* Connections handed over that cannot leave (or that came back): taken
 * over here again, with their history. */
static uint32_t ho_take(struct handover *h, const struct conn_transfer *rec,
			int *fd, uint32_t n)
{
	uint32_t taken = 0;

	for (uint32_t i = 0; i < n; i++) {
		if (conn_take_over(h->pool, fd[i], h->handler, &rec[i]) < 0) {
			log_warn("handover: no slot for descriptor %d; closing it",
				 fd[i]);
			continue; /* the caller closes what is not -1 */
		}
		fd[i] = -1;
		taken++;
	}
	return taken;
}

/* The next batch of the walk, in b: 1, or 0 when there is none. */
static int ho_walk(struct handover *h, struct ho_batch *b)
{
	while (h->quota > 0) {
		if (h->cursor < 0) { /* a pass is over */
			if (h->moved == 0 || ++h->passes == HO_MAX_PASSES)
				return 0;
			h->cursor = 0;
			h->moved = 0;
		}
		memset(&b->h, 0, sizeof(b->h));
		b->max = UTIL_MIN(h->quota, (uint32_t)CHAN_MAX_FDS);
		b->next = -1; /* unless the batch fills first */
		conn_foreach_from(h->pool, h->cursor, ho_collect, b);
		h->cursor = b->next;
		if (b->h.count > 0) {
			h->moved += b->h.count;
			return 1;
		}
	}
	return 0;
}

/* The next frame, or the end. */
static void ho_next(struct handover *h)
{
	struct ho_batch b;

	if (!ho_walk(h, &b)) {
		ho_finish(h);
		return;
	}
	if (chan_give_fds(h->chan, CHAN_HANDOFF, 0, &b.h, sizeof(b.h), b.rec,
			  b.h.count * sizeof(b.rec[0]), b.fd, (int)b.h.count) <
	    0) {
		log_warn("handover: the channel cannot take %u connections; keeping them",
			 b.h.count);
		ho_take(h, b.rec, b.fd, b.h.count);
		for (uint32_t i = 0; i < b.h.count; i++)
			if (b.fd[i] >= 0)
				close(b.fd[i]);
		ho_finish(h);
		return;
	}
	h->quota -= b.h.count;
	h->waiting = 1;
	loop_timer_arm(conn_pool_loop(h->pool), &h->wait, HO_WAIT_MS);
}

void ho_start(struct handover *h, uint32_t quota)
{
	h->quota = quota;
	h->cursor = 0;
	h->passes = 0;
	h->moved = 0;
	h->running = 1;
	h->waiting = 0;
	ho_next(h);
}

void ho_end(struct handover *h)
{
	ho_finish(h);
}

/* Connections from another worker (or ours, back from the master). */
static void ho_receive(struct handover *h, const struct chan_handoff *hd,
		       const void *body)
{
	struct conn_transfer rec[CHAN_MAX_FDS];
	/* TAKEN counts the frame's records, taken or not: all are done. */
	struct chan_handoff taken = { .origin = hd->origin };
	int n, *fd = chan_frame_fds(h->chan, &n);

	/* chan_check saw a descriptor per record, so at most CHAN_MAX_FDS.
	 * Copied out: a frame's body need not be aligned for them. */
	memcpy(rec, (const char *)body + sizeof(*hd), (size_t)n * sizeof(rec[0]));
	ho_take(h, rec, fd, (uint32_t)n);
	taken.count = (uint32_t)n;
	if (hd->returned) {
		log_info("handover: the new generation has no room; draining the rest here");
		ho_finish(h);
		return;
	}
	chan_send(h->chan, CHAN_TAKEN, 0, &taken, sizeof(taken));
}

void ho_on_msg(struct handover *h, const struct chan_hdr *hdr, const void *body)
{
	struct chan_handoff hd;

	memcpy(&hd, body, sizeof(hd));
	if (hdr->type == CHAN_HANDOFF) {
		ho_receive(h, &hd, body);
		return;
	}
	/* TAKEN: the frame out is in place; the next one may go. */
	if (h->running && h->waiting) {
		h->waiting = 0;
		loop_timer_disarm(conn_pool_loop(h->pool), &h->wait);
		ho_next(h);
	}
}
