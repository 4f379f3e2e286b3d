/* conn.h - connections of one worker: a table indexed by fd, output with
 * back-pressure, and buffers that exist only while data is in flight. */
#ifndef RP_CONN_H
#define RP_CONN_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "loop.h"
#include "proto.h"
#include "stats.h"

/* Output not yet taken by the socket; allocated only while it exists. */
struct conn_out {
	uint32_t off, len;
	char data[];
};

/* Kept small on purpose: an idle connection costs this struct and
 * nothing else (see README, "Memory per connection"). */
struct conn {
	struct loop_watch w; /* fn == NULL: the slot is free */
	uint32_t flags;
	uint64_t bytes_in, bytes_out;
	uint64_t start_ms;
	struct conn_out *out;
	void *proto_data;
};

#define CONN_F_CLOSING 0x1u

struct conn_pool {
	struct loop *loop;
	const struct proto *proto;
	struct stats_counters *stats;
	struct conn *slots; /* indexed by fd */
	int nslots;
	int max_active;
	int active;
	int worker_id;
	/* Called after a connection closes (so a paused listener can resume). */
	void (*on_slot_free)(void *arg);
	void *arg;
	/* Per-worker scratch space for reads: a connection borrows it for
	 * one read and keeps nothing when the data has been handled. */
	char *scratch;
	size_t scratch_len;
};

#define CONN_SCRATCH_LEN 65536

int conn_pool_init(struct conn_pool *p, struct loop *l,
		   const struct proto *proto, struct stats_counters *stats,
		   int nslots, int max_active);
void conn_pool_close_all(struct conn_pool *p);
void conn_pool_free(struct conn_pool *p);
static inline int conn_pool_full(const struct conn_pool *p)
{
	return p->active >= p->max_active;
}

/* Takes a freshly accepted, non-blocking fd. Returns 0, or -1 if there is
 * no slot for it (the caller closes it). */
int conn_open(struct conn_pool *p, int fd);
void conn_close(struct conn *c);
struct conn_pool *conn_pool_of(const struct conn *c);
static inline int conn_fd(const struct conn *c)
{
	return c->w.fd;
}

/* Reads into the scratch buffer: >0 bytes (counted in bytes_in), 0 on EOF,
 * -1 on error, -2 when nothing is there now. */
ssize_t conn_read(struct conn *c, char **data);
/* Writes what the socket takes now and queues the rest; while output is
 * queued the connection is not read (back-pressure). 0 or -1 (closed). */
int conn_send(struct conn *c, const void *p, size_t len);
static inline int conn_has_output(const struct conn *c)
{
	return c->out != NULL;
}
/* Fills a record for the `connections` document. */
void conn_describe(const struct conn *c, uint64_t now_ms,
		   struct stats_conn *rec);
/* Calls fn for each open connection; stops when fn returns non-zero. */
void conn_foreach(struct conn_pool *p, int (*fn)(struct conn *c, void *arg),
		  void *arg);

#endif
