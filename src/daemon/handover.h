/* handover.h - a worker's side of the handover at a reload: the draining
 * worker hands its idle connections, a frame at a time, to the master,
 * which passes them to a worker of the new generation; that one takes
 * them over and says so (TAKEN), which lets the next frame go. The
 * clients see nothing: the socket and its queued bytes move, and the
 * close that drain would have made (the keep-alive race: a request sent
 * just as the server closes is lost) is not made.
 *
 * What may move is conn.c's and the protocol's decision
 * (conn_can_hand_over); this file walks, batches, sends and takes. */
#ifndef RP_HANDOVER_H
#define RP_HANDOVER_H

#include <stdint.h>

#include "loop.h"

struct chan;
struct chan_hdr;
struct conn_pool;

struct handover {
	struct conn_pool *pool;
	struct chan *chan;
	int handler;    /* the pool's handler that serves taken connections */
	uint32_t quota; /* connections still to hand over */
	int cursor;     /* the walk goes on from this descriptor; -1: the
			  * pass is over */
	int passes;     /* walks over the connections started again */
	uint32_t moved; /* handed over in the current pass */
	int running;    /* handing over now */
	int waiting;    /* a frame is out; its TAKEN has not come */
	struct loop_timer wait;  /* ... for that long at most */
	void (*done)(void *arg); /* the handover is over: drain the rest */
	void *arg;
};

void ho_init(struct handover *h, struct conn_pool *pool, struct chan *chan,
	     int handler, void (*done)(void *), void *arg);
/* Hands over up to quota idle connections, then calls done (at once if
 * there is nothing to hand over). */
void ho_start(struct handover *h, uint32_t quota);
/* A CHAN_HANDOFF or CHAN_TAKEN frame for this worker (on_msg). */
void ho_on_msg(struct handover *h, const struct chan_hdr *hdr, const void *body);
/* Ends it now (the channel is gone): done is called if it was running. */
void ho_end(struct handover *h);

#endif
