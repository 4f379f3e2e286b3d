/* channel.h - typed messages between the master and one worker over a
 * socketpair. Both ends are the same binary, so bodies are plain structs;
 * the frame header carries a type, a length, the number of descriptors
 * that travel with the frame (SCM_RIGHTS) and a sequence number that pairs
 * an answer with its question. Each end accepts only the types the other
 * sends, each with a body size fixed by its type and a bound on its
 * descriptors, and checks all three before a message is delivered: a
 * frame that breaks the rules is a bug in the sender, reported to the
 * owner, never handed on. */
#ifndef RP_CHANNEL_H
#define RP_CHANNEL_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "listing.h"
#include "loop.h"

enum chan_type {
	CHAN_READY = 1,   /* w->m: listening, loop running; no body */
	CHAN_HEARTBEAT,   /* m->w: are you there? no body */
	CHAN_ALIVE,       /* w->m: the heartbeat's answer; no body (the
			  * counters are in memory the master reads) */
	CHAN_CONNS_REQ,   /* m->w: chan_conns_req: a page of the listing */
	CHAN_CONNS,       /* w->m: chan_conns_hdr + count stats_conn rows */
	CHAN_CONN_GROUPS, /* w->m: chan_conns_hdr + count listing_group_rec */
	CHAN_DRAIN,       /* m->w: chan_drain */
	CHAN_ADOPT,       /* m->w: chan_slot + another slot's listeners */
	CHAN_RELEASE,     /* m->w: chan_slot: give them back */
	CHAN_FAILED,      /* w->m: chan_failed, then the worker exits */
	CHAN_HANDOFF,     /* both ways: chan_handoff + count conn_transfer,
			  * a descriptor each: connections changing worker */
	CHAN_TAKEN,       /* both ways: chan_handoff: a HANDOFF's connections
			  * are in place (the taker says so, the master
			  * passes it on to the one that handed them) */
};

struct chan_hdr {
	uint16_t type;
	uint16_t nfds; /* descriptors sent with the frame's first byte */
	uint32_t len;  /* body bytes after this header */
	uint64_t seq;
};

/* At most this many descriptors per frame: the kernel's SCM_MAX_FD. */
#define CHAN_MAX_FDS 253

/* Stop accepting, let the connections finish, exit. */
struct chan_drain {
	uint64_t timeout_ms; /* then close what is left, spread over a moment */
	uint32_t fast;       /* close everything now */
	uint32_t handover;   /* hand up to this many idle connections to the
			      * new generation (through the master) first */
	uint32_t keep_idle;  /* the port stays served by another master (a
			      * binary upgrade): an idle kept-alive
			      * connection waits for its next request,
			      * answered with Connection: close, instead of
			      * being closed at once (see conn_pool) */
	uint32_t reserved;
};

/* Connections handed from one worker to another at a reload, through the
 * master: each record is what conn.c needs to carry one on (struct
 * conn_transfer), each with its descriptor, in the frame's order. The
 * worker that hands them sends the next frame once it hears TAKEN for
 * this one, so a handover holds at most one frame of descriptors in
 * flight per worker (they count against the sender's open-files limit
 * while in flight, and against the master's while it relays). */
struct chan_handoff {
	uint32_t count;
	int32_t origin;    /* pid of the worker that handed them (the master
			    * fills it in; TAKEN goes back to it) */
	uint32_t returned; /* 1: nobody could take them; they come back */
	uint32_t pad;
};

/* Which slot's listeners (adopted while that slot's worker is down), or
 * which removed address's (a tag above the slots: master_listen.c). */
struct chan_slot {
	int32_t slot;
	int32_t flags; /* RELEASE: CHAN_SLOT_TAKE_QUEUE */
};

/* Accept what waits in their queues before closing them: the master has
 * let go of these listeners, and the worker's close is their last. */
#define CHAN_SLOT_TAKE_QUEUE 1

/* Why a worker could not start, for the master to say. */
struct chan_failed {
	char reason[240]; /* NUL-terminated */
};

/* One page of a listing: walk on from descriptor `cursor`, a bounded
 * number of connections; of those the filter matches, send up to
 * max_rows as rows (group LISTING_ROWS; 0: count them only), or count
 * them into groups. */
struct chan_conns_req {
	uint64_t cursor;
	uint32_t max_rows;
	uint32_t group; /* enum listing_group */
	struct listing_filter filter;
};

#define CHAN_CONNS_END UINT64_MAX /* no cursor: every connection walked */

struct chan_conns_hdr {
	uint64_t active;  /* the worker's connections now */
	uint64_t matched; /* those the filter matched in this page's walk */
	uint64_t next;    /* cursor of the next page, or CHAN_CONNS_END */
	uint64_t count;   /* records that follow */
};

/* A frame longer than this is a broken peer, not a big answer. */
#define CHAN_MAX_FRAME (256u << 20)

/* What one end accepts: a body of each listed type is `fixed` bytes, then
 * (item > 0) any number of `item`-byte records, with at most max_fds
 * descriptors; `check`, if set, vets the body further (e.g. a count
 * against the records). */
struct chan_msg_spec {
	uint32_t type;
	const char *name;
	uint32_t fixed, item;
	uint32_t max_fds;     /* descriptors it may carry */
	uint32_t fd_per_item; /* exactly one descriptor per record */
	int (*check)(const void *body, size_t len);
};

struct chan_schema {
	const struct chan_msg_spec *msgs;
	size_t n;
};

extern const struct chan_schema chan_to_master; /* what workers send */
extern const struct chan_schema chan_to_worker; /* what the master sends */

/* Is this frame one the schema accepts? 0, or -1 with the reason. Pure:
 * the frame decoder's check, also run by the fuzzer and the tests. */
int chan_check(const struct chan_schema *s, const struct chan_hdr *h,
	       const void *body, char *why, size_t whylen);

struct chan;
typedef void (*chan_msg_fn)(struct chan *ch, const struct chan_hdr *h,
			    const void *body);
/* The channel has closed under its owner: EOF or an error (malformed 0),
 * or a frame that broke the schema (malformed 1). why says which. */
typedef void (*chan_close_fn)(struct chan *ch, int malformed, const char *why);

/* Descriptors on their way out, each batch to leave with the byte at
 * stream offset `at`; and those received, in order, waiting for the frame
 * that carries them. */
struct chan_fd_batch {
	uint64_t at;
	int n;
	int fd[CHAN_MAX_FDS];
};

struct chan {
	struct loop_watch w;
	struct loop *loop;
	const struct chan_schema *schema;
	struct buf in, out;
	uint64_t out_base;        /* stream offset of the first byte of out */
	struct chan_fd_batch *tx; /* FIFO of batches to send */
	size_t ntx;
	int *rx; /* received, not yet given to a frame */
	size_t nrx, caprx;
	int *frame_fds; /* the frame being delivered: its fds */
	int frame_nfds;
	chan_msg_fn on_msg;
	chan_close_fn on_close;
	void *arg;
	int open;
};

/* Takes ownership of fd (made non-blocking); frames are checked against
 * schema (what this end accepts) before on_msg sees them. */
int chan_open(struct chan *ch, struct loop *l, int fd,
	      const struct chan_schema *schema, chan_msg_fn on_msg,
	      chan_close_fn on_close, void *arg);
/* Queues a frame and writes what the socket takes now; the rest goes out
 * as the socket drains. Returns -1 if the channel is closed. */
int chan_send(struct chan *ch, uint32_t type, uint64_t seq, const void *body,
	      size_t len);
/* The same with a body in two parts: a fixed part and its records. */
int chan_send_records(struct chan *ch, uint32_t type, uint64_t seq,
		      const void *fixed, size_t fixed_len, const void *records,
		      size_t records_len);
/* The same with descriptors (at most CHAN_MAX_FDS). The caller keeps its
 * own: the channel sends duplicates and closes them once they are sent. */
int chan_send_fds(struct chan *ch, uint32_t type, uint64_t seq,
		  const void *body, size_t len, const int *fds, int nfds);
/* The same with the records of chan_send_records, and the descriptors
 * themselves: on success they are the channel's (sent, then closed),
 * none is duplicated, so a worker near its open-files limit can still
 * hand its connections on. -1: not queued, they are still the
 * caller's. Once queued they are the channel's, even if it fails while
 * writing them (it closes them as it closes). */
int chan_give_fds(struct chan *ch, uint32_t type, uint64_t seq,
		  const void *fixed, size_t fixed_len, const void *records,
		  size_t records_len, const int *fds, int nfds);
/* In on_msg: the descriptors of the frame being delivered. The receiver
 * takes the ones it keeps (setting them to -1 in the array); the channel
 * closes the others when on_msg returns. */
int *chan_frame_fds(struct chan *ch, int *nfds);
/* Delivers whatever the peer wrote before it went away (its last words:
 * a dead worker's final counters), without calling on_close. */
void chan_read_all(struct chan *ch);
void chan_close(struct chan *ch);

#endif
