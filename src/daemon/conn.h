/* conn.h - connections of one worker: a table indexed by fd, output with
 * back-pressure, and buffers that exist only while data is in flight.
 * A connection is accepted (conn_open) or opened by the worker itself
 * (conn_connect); either is served by the protocol of its handler.
 *
 * Counters. The worker's counters (accepted, active, closed, rejected,
 * bytes_in, bytes_out) describe the service as its clients see it, and
 * accepted + taken_over = closed + lost + active + handed_over must hold
 * (a reload's handover counts a connection out of one worker and into
 * another): only accepted connections touch them. An outbound connection counts nowhere but in the pool's
 * outbound gauge and its own byte counts (conn_bytes_in/out): a proxied
 * byte would otherwise be counted twice, once per side. */
#ifndef RP_CONN_H
#define RP_CONN_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "loop.h"
#include "peers.h"
#include "proto.h"
#include "stats.h"

/* Output not yet taken by the socket; allocated only while it exists. */
struct conn_out {
	uint32_t off, len;
	char data[];
};

/* Timeouts. Each kind has one duration for the whole worker, so a list
 * per kind in deadline order is just a FIFO: setting, clearing and
 * expiring a timeout are O(1), and no tick scans the connections. */
enum conn_tmo {
	CONN_TMO_NONE,
	CONN_TMO_HEADER,    /* a request head is arriving (slowloris) */
	CONN_TMO_BODY,      /* a request body is arriving, and none of it
			     * came for this long */
	CONN_TMO_KEEPALIVE, /* idle between requests */
	CONN_TMO_SEND,      /* output waits, and the socket took none of it
			     * for this long (conn.c runs it, for every
			     * kind of output) */
	CONN_TMO_LINGER,    /* after the last answer, before the close */
	CONN_TMO_CONNECT,   /* an outbound connect has not completed */
	CONN_TMO_IDLE,      /* a relayed connection: nothing moved (the
			     * protocol decides what counts as moving) */
	CONN_TMO_READ,      /* a proxy waits for its upstream's response */
	CONN_TMO_POOL,      /* an idle upstream connection kept for reuse */
	CONN_TMO_TRIM,      /* ... and one beyond the pool's bound */
	CONN_TMO_COUNT
};

/* Kept small on purpose: an idle connection costs this struct and
 * nothing else (see README, "Memory per connection").
 *
 * Every field is conn.c's own. The struct is in this header only so that
 * the accessors below can be inline and the slot table can be sized;
 * protocols, the worker and the tests go through the conn_ calls. */
struct conn {
	struct loop_watch w; /* fn == NULL: the slot is free */
	uint16_t flags;
	uint16_t tmo;         /* enum conn_tmo: the list it is on */
	int32_t tprev, tnext; /* timeout list links, by fd; -1: none */
	uint32_t handler : 8; /* index into the pool's handlers */
	/* Its entry in the pool's per-address counts (peers.h); 0: none. */
	uint32_t peer : PEERS_REF_BITS;
	uint64_t deadline;
	uint64_t bytes_in, bytes_out;
	uint64_t start_ms;
	struct conn_out *out;
	void *proto_data;
};

/* The README's headline figure: 80 bytes of daemon memory per idle
 * connection. A field added here must take the place of another (peer
 * took the 3 bytes of padding after handler). */
_Static_assert(sizeof(void *) != 8 || sizeof(struct conn) == 80,
	       "struct conn must stay 80 bytes on LP64");

/* The protocol waits for the socket to take more (conn_want_write). */
#define CONN_F_WANT_WRITE 0x1u
/* Registered with epoll. A connection answered and closed within
 * on_open (HTTP with TCP_DEFER_ACCEPT) never needs to be. */
#define CONN_F_WATCHED 0x2u
/* The last conn_read filled the scratch space: more may be waiting. */
#define CONN_F_READ_FULL 0x4u
/* Opened by conn_connect; counted apart from the accepted ones. */
#define CONN_F_OUTBOUND 0x8u
/* conn_connect's connect(2) is in progress: waiting for EPOLLOUT. */
#define CONN_F_CONNECTING 0x10u
/* Came from another worker (conn_take_over): see conn_close. */
#define CONN_F_TAKEN 0x20u
/* Full duplex (conn_set_duplex): read while output is queued. */
#define CONN_F_DUPLEX 0x40u
/* Duplex, and the protocol stopped reading (conn_pause_read). */
#define CONN_F_NO_READ 0x80u
/* On the loop's posted list (conn_repost). */
#define CONN_F_POSTED 0x100u
/* epoll said the peer has sent all it will (EPOLLRDHUP, or a hangup). */
#define CONN_F_PEER_DONE 0x200u

/* The connections with one kind of timeout running, oldest first. */
struct conn_tmo_list {
	int32_t head, tail;
	uint64_t duration_ms;
};

/* The slot table, indexed by fd, behind a header that leads back to its
 * pool: see conn_pool_of. */
struct conn_table {
	struct conn_pool *pool;
	struct conn slots[];
};

/* A protocol serving some connections of a pool, and its state for the
 * whole worker (what its init made). */
struct conn_handler {
	const struct proto *proto;
	void *ctx;
};

/* A worker serves its clients with handler 0; a protocol that opens
 * connections of its own (a proxy's upstream side) adds another. */
#define CONN_MAX_HANDLERS 4

/* Its fields are conn.c's too, but for worker_id, on_slot_free and
 * slot_free_arg, which the pool's owner sets after conn_pool_init. */
struct conn_pool {
	struct loop *loop;
	struct stats_counters *stats;
	struct conn_table *table;
	struct conn_handler handlers[CONN_MAX_HANDLERS];
	int nhandlers;
	int nslots;
	int max_active;
	int active;   /* accepted connections open (the worker's gauge) */
	int outbound; /* conn_connect's connections open */
	int worker_id;
	/* Connections per client address, for max_connections_per_ip;
	 * NULL: not counted (conn_pool_limit_peers). */
	struct peers *peers;
	/* Called after a connection closes (so a paused listener can resume). */
	void (*on_slot_free)(void *arg);
	void *slot_free_arg;
	/* Per-worker scratch space for reads: a connection borrows it for
	 * one read and keeps nothing when the data has been handled. */
	char *scratch;
	size_t scratch_len;
	struct conn_tmo_list tmo_lists[CONN_TMO_COUNT];
	struct loop_timer tmo_timer; /* at the earliest deadline of the lists */
	/* Draining while another master serves the port (a binary upgrade):
	 * a protocol keeps an idle connection for its next request, which
	 * it answers as its last, rather than closing it now - a close
	 * races with the request the client may be sending, and the
	 * client's clean way to move is after an answer. */
	int drain_keep_idle;
};

#define CONN_SCRATCH_LEN 65536

int conn_pool_init(struct conn_pool *p, struct loop *l,
		   struct stats_counters *stats, int nslots, int max_active);
/* Adds a protocol to the pool and runs its init (with cfg and the pool's
 * counters); the pool owns what init made and hands it to fini in
 * conn_pool_free. Returns the handler's index, or -1 with a reason in
 * err. */
int conn_pool_add_handler(struct conn_pool *p, const struct proto *proto,
			  const struct config *cfg, char *err, size_t errlen);
/* The pool's owner has set worker_id: each protocol starts the work it
 * does on its own (proto.h, start). */
void conn_pool_start(struct conn_pool *p);
/* The worker drains: each connection's protocol is told (on_drain). */
void conn_pool_drain(struct conn_pool *p);
/* Out of descriptors: each protocol closes some it keeps for itself
 * (proto.h, release_fds). Returns how many were closed. */
unsigned conn_pool_release_fds(struct conn_pool *p);
void conn_pool_close_all(struct conn_pool *p);
/* Closes what is left, then frees the handlers' state. Safe on a pool
 * zeroed, freed already, or whose conn_pool_init failed. */
void conn_pool_free(struct conn_pool *p);
static inline int conn_pool_full(const struct conn_pool *p)
{
	return p->active >= p->max_active;
}
static inline int conn_pool_active(const struct conn_pool *p)
{
	return p->active;
}
static inline struct loop *conn_pool_loop(const struct conn_pool *p)
{
	return p->loop;
}

/* Takes a freshly accepted, non-blocking fd, served by the protocol of
 * the given handler. Returns 0 (the fd is the pool's, even if it was
 * closed at once: epoll could not take it), or -1 if there is no slot
 * for it (counted in rejected; the caller closes it). */
int conn_open(struct conn_pool *p, int fd, int handler);
/* The same for a connection from peer (accept4's address), which is also
 * refused, -1, when its address holds as many connections in this pool
 * as conn_pool_limit_peers allows: counted in rejected_per_ip, and set
 * to be reset on close (SO_LINGER 0) - a refused client learns it at
 * once, and the server keeps no FIN_WAIT or TIME_WAIT state for it. */
int conn_open_from(struct conn_pool *p, int fd, int handler,
		   const struct sockaddr *peer, socklen_t peerlen);
/* Allows each client address (an IPv4 address, an IPv6 /64) at most
 * limit accepted connections in this pool from now on. 0, or -1 (ENOMEM). */
int conn_pool_limit_peers(struct conn_pool *p, uint32_t limit);
/* Opens a connection to sa, served by the protocol of the given handler,
 * with data as its conn_data. The connect runs in the background under
 * the CONN_TMO_CONNECT timeout; the protocol's on_connect tells how it
 * ended, always from the loop, never from within this call. Returns the
 * connection, or NULL with errno when there is no socket or slot, or
 * connect(2) failed at once (e.g. ENETUNREACH). Not capped by
 * max_active, which is the clients' share: bounded by the table (the fd
 * limit). Nothing may be sent before on_connect. */
struct conn *conn_connect(struct conn_pool *p, const struct sockaddr *sa,
			  socklen_t salen, int handler, void *data);
/* Where an outbound connection leaves from. */
struct conn_source {
	/* The local address to bind, port 0; NULL: the kernel's choice. It
	 * is bound with IP_BIND_ADDRESS_NO_PORT, so that the kernel picks
	 * the port at connect(2), knowing the whole 4-tuple: one port then
	 * serves as many connections as there are destinations, rather
	 * than being reserved at bind(2) for this one (ip(7)). */
	const struct sockaddr *sa;
	socklen_t len;
	/* IP_LOCAL_PORT_RANGE (ip(7), Linux 6.3): the ports the kernel
	 * picks from for this socket, hi << 16 | lo; 0: its
	 * ip_local_port_range. A kernel without it is not an error: the
	 * socket uses the system's range. */
	uint32_t port_range;
};
/* The socket under conn_connect_src, for an owner that watches it
 * itself (a health check): non-blocking, bound to src (may be NULL), its
 * connect(2) started. The descriptor, or -1 with errno. */
int conn_socket_connect(const struct sockaddr *sa, socklen_t salen,
			const struct conn_source *src);
/* conn_connect from src (may be NULL). When no local port is left for
 * the 4-tuple, connect(2) fails at once with EADDRNOTAVAIL: NULL. */
struct conn *conn_connect_src(struct conn_pool *p, const struct sockaddr *sa,
			      socklen_t salen, const struct conn_source *src,
			      int handler, void *data);
void conn_close(struct conn *c);

/* The pool a connection belongs to. It is found from the connection's
 * own address rather than from a pointer in each one (8 bytes per idle
 * connection): the slot of fd n is slots[n], so c - n is slots[0], right
 * behind the table's header. c must be a slot that conn_open or
 * conn_connect filled; it may have closed since (the fd stays in it). */
static inline struct conn_pool *conn_pool_of(const struct conn *c)
{
	const struct conn *first = c - c->w.fd;
	const char *table = (const char *)first -
			    offsetof(struct conn_table, slots);

	return ((const struct conn_table *)(const void *)table)->pool;
}
/* 0 once conn_close() ran (the slot is free until the fd is reused). */
static inline int conn_is_open(const struct conn *c)
{
	return c->w.fn != NULL;
}
static inline int conn_fd(const struct conn *c)
{
	return c->w.fd;
}
/* The handler serving c (conn_pool_add_handler's index): a protocol
 * opening connections of its own serves them with the same one. */
static inline int conn_handler(const struct conn *c)
{
	return (int)c->handler;
}
/* Opened by conn_connect rather than accepted. */
static inline int conn_is_outbound(const struct conn *c)
{
	return (c->flags & CONN_F_OUTBOUND) != 0;
}
/* The state the connection's protocol keeps for the whole worker (what
 * its init made). */
static inline void *conn_proto_ctx(const struct conn *c)
{
	return conn_pool_of(c)->handlers[c->handler].ctx;
}
/* The protocol's state for this connection; NULL until it sets one. */
static inline void *conn_data(const struct conn *c)
{
	return c->proto_data;
}
static inline void conn_set_data(struct conn *c, void *data)
{
	c->proto_data = data;
}
/* Bytes read from and written to this connection so far. */
static inline uint64_t conn_bytes_in(const struct conn *c)
{
	return c->bytes_in;
}
static inline uint64_t conn_bytes_out(const struct conn *c)
{
	return c->bytes_out;
}

/* What a connection that changes worker (a reload's handover) takes along
 * besides its descriptor. Its timeout starts again in full at the taker:
 * the timeout lists are FIFOs by duration (above), so a connection cannot
 * join one part-way. An idle keep-alive connection gets at most one more
 * keepalive_timeout per reload. */
struct conn_transfer {
	uint64_t bytes_in, bytes_out;
	uint64_t age_ms;
	uint32_t tmo; /* enum conn_tmo */
	uint32_t pad;
};

/* c may change worker now: accepted, nothing queued or in progress, and
 * its protocol agrees (proto can_hand_over). */
int conn_can_hand_over(const struct conn *c);
/* A request/response protocol's can_hand_over (HTTP, the HTTP proxy):
 * between requests with nothing kept - idle after an answer (its
 * keep-alive timeout runs), or not a byte read yet (its header timeout).
 * A request that has arrived but was not read moves with the socket. */
int conn_between_requests(const struct conn *c);
/* c leaves this worker: its record goes in *t, it is out of epoll, off
 * the timeout lists and out of the active count (counted in
 * handed_over), its slot is free. Returns its descriptor, which the
 * caller now owns (to send, or to close). Its protocol hears on_close
 * first. on_slot_free is not called: the caller hands over a batch. */
int conn_hand_over(struct conn *c, struct conn_transfer *t);
/* A connection another worker handed over: like conn_open, but with its
 * history (bytes, age), its timeout restarted and counted in taken_over
 * rather than accepted. It is taken even past max_active (the master
 * sized the handover to the room there was; the slot table is the
 * limit), and counted for its address even past the per-address limit
 * (it is open already: the limit refuses the next ones). 0, or -1 when
 * there is no slot for fd (the caller closes it). */
int conn_take_over(struct conn_pool *p, int fd, int handler,
		   const struct conn_transfer *t);

/* Reads into the scratch buffer: >0 bytes (counted in bytes_in), 0 on EOF,
 * -1 on error, -2 when nothing is there now. */
ssize_t conn_read(struct conn *c, char **data);
/* The same, reading at most max bytes: a protocol that may have to keep
 * what it cannot handle yet takes no more than it is willing to keep,
 * and leaves the rest in the kernel. */
ssize_t conn_read_max(struct conn *c, char **data, size_t max);
/* The last read took all it asked for (the scratch space, or max), so
 * the socket may hold more than was read. */
static inline int conn_read_filled(const struct conn *c)
{
	return (c->flags & CONN_F_READ_FULL) != 0;
}
/* Writes what the socket takes now and queues the rest; while output is
 * queued the connection is not read (back-pressure). 0 or -1 (closed). */
int conn_send(struct conn *c, const void *p, size_t len);
/* The same with send(2) flags, e.g. MSG_MORE when a body follows. */
int conn_send_flags(struct conn *c, const void *p, size_t len, int flags);
/* The same for a followed by b, which need not be copied together
 * first: one sendmsg(2) with both (what the socket refuses is queued). */
int conn_send2(struct conn *c, const void *a, size_t alen, const void *b,
	       size_t blen, int flags);
static inline int conn_has_output(const struct conn *c)
{
	return c->out != NULL;
}
/* Bytes queued, not yet taken by the socket. */
static inline size_t conn_output_len(const struct conn *c)
{
	return c->out ? c->out->len - c->out->off : 0;
}
/* Sets how long each kind of timeout lasts (0: never expires). */
void conn_pool_set_timeout(struct conn_pool *p, enum conn_tmo kind, uint64_t ms);
/* (Re)starts c's timeout of this kind, replacing any other; NONE clears.
 * On expiry the protocol's on_timeout is called, or the conn is closed;
 * CONN_TMO_CONNECT, which conn_connect sets, ends in on_connect. */
void conn_timeout(struct conn *c, enum conn_tmo kind);
/* A client's request-side timeout of this kind expired (header, body,
 * keep-alive, send): counted in the pool's stats (timeouts_*), and c
 * closed. HTTP's and the HTTP proxy's on_timeout. */
void conn_close_timed_out(struct conn *c, int kind);
/* The kind of timeout running now (CONN_TMO_NONE: none). */
static inline enum conn_tmo conn_timeout_kind(const struct conn *c)
{
	return (enum conn_tmo)c->tmo;
}
/* Full duplex, for a relay: c is read while its output waits (the
 * default is to stop, the back-pressure of a request-response service,
 * conn_send), and the protocol stops and resumes reading itself. */
void conn_set_duplex(struct conn *c);
/* A duplex connection stops (paused 1) or resumes (0) being read. A
 * socket that hangs up or fails while paused is taken out of epoll
 * (which reports those without being asked, again and again) until it
 * is resumed; then on_readable reads what is left and the end. 0, or -1
 * when c was closed (epoll failed). */
int conn_pause_read(struct conn *c, int paused);
static inline int conn_read_paused(const struct conn *c)
{
	return (c->flags & CONN_F_NO_READ) != 0;
}
/* Asks for on_writable when the socket can take more (no queued output:
 * e.g. a file sent with sendfile); reading stops meanwhile. The send
 * timeout replaces any other from here (unless it runs already) until
 * on_writable, as it does while conn_send's output is queued. */
int conn_want_write(struct conn *c);
/* Counts bytes the protocol wrote itself (sendfile): progress, which
 * restarts a running send timeout. */
void conn_count_out(struct conn *c, uint64_t n);
/* Fills a record for the `connections` document. */
void conn_describe(const struct conn *c, uint64_t now_ms, struct stats_conn *rec);
/* Calls fn for each open connection; stops when fn returns non-zero. */
void conn_foreach(struct conn_pool *p, int (*fn)(struct conn *c, void *arg),
		  void *arg);
/* The same, from descriptor fd on. */
void conn_foreach_from(struct conn_pool *p, int fd,
		       int (*fn)(struct conn *c, void *arg), void *arg);

#endif
