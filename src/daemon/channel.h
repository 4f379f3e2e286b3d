/* channel.h - framed messages between the master and one worker over a
 * socketpair. Both ends are the same binary, so payloads are plain
 * structs; the frame header carries a type, a length and a sequence
 * number that pairs an answer with its question. */
#ifndef RP_CHANNEL_H
#define RP_CHANNEL_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "loop.h"

enum chan_type {
	CHAN_READY = 1,  /* worker -> master: listening, loop running */
	CHAN_STATS_REQ,  /* master -> worker */
	CHAN_STATS,      /* worker -> master: struct stats_counters */
	CHAN_CONNS_REQ,  /* master -> worker: struct chan_conns_req */
	CHAN_CONNS,      /* worker -> master: struct chan_conns_hdr + records */
	CHAN_DRAIN,      /* master -> worker: struct chan_drain */
};

/* Stop accepting, let the connections finish, exit. */
struct chan_drain {
	uint64_t timeout_ms; /* then close what is left, spread over a moment */
	uint32_t fast;       /* close everything now */
	uint32_t pad;
};

struct chan_hdr {
	uint32_t type;
	uint32_t len; /* payload bytes after this header */
	uint64_t seq;
};

struct chan_conns_req {
	uint64_t limit;
};

struct chan_conns_hdr {
	uint64_t total; /* connections the worker has; records may be fewer */
	uint64_t count;
};

/* A frame longer than this is a broken peer, not a big answer. */
#define CHAN_MAX_FRAME (256u << 20)

struct chan;
typedef void (*chan_msg_fn)(struct chan *ch, const struct chan_hdr *h,
			    const void *payload);
typedef void (*chan_close_fn)(struct chan *ch);

struct chan {
	struct loop_watch w;
	struct loop *loop;
	struct buf in, out;
	chan_msg_fn on_msg;
	chan_close_fn on_close; /* EOF, error or a broken frame */
	void *arg;
	int open;
};

/* Takes ownership of fd (made non-blocking). */
int chan_open(struct chan *ch, struct loop *l, int fd, chan_msg_fn on_msg,
	      chan_close_fn on_close, void *arg);
/* Queues a frame and writes what the socket takes now; the rest goes out
 * as the socket drains. Returns -1 if the channel is closed. */
int chan_send(struct chan *ch, uint32_t type, uint64_t seq, const void *p,
	      size_t len);
/* Like chan_send with a payload in two parts (a header and records). */
int chan_send2(struct chan *ch, uint32_t type, uint64_t seq, const void *p1,
	       size_t len1, const void *p2, size_t len2);
/* Delivers whatever the peer wrote before it went away (its last words:
 * a dead worker's final counters), without calling on_close. */
void chan_read_all(struct chan *ch);
void chan_close(struct chan *ch);

#endif
