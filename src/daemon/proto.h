/* proto.h - what a protocol implements. A protocol sees connections and
 * the conn_ helpers, never the master, the channel or the listeners. */
#ifndef RP_PROTO_H
#define RP_PROTO_H

#include <stddef.h>

struct conn;
struct conn_pool;
struct config;
struct stats_counters;

struct proto {
	const char *name;
	/* Called once per worker, when the protocol is added to its pool
	 * (conn_pool_add_handler), before the first connection. *ctx is
	 * the protocol's state for the whole worker, which its callbacks
	 * reach with conn_proto_ctx(); stats are the worker's counters.
	 * 0, or -1 with a reason in err. NULL: the protocol keeps none. */
	int (*init)(const struct config *cfg, struct stats_counters *stats,
		    void **ctx, char *err, size_t errlen);
	/* The worker is set up (the pool's worker_id is known) and its loop
	 * is about to run: work the protocol does without a connection to
	 * serve (a proxy's health checks) starts here, on p's loop. NULL:
	 * none. */
	void (*start)(void *ctx, struct conn_pool *p);
	/* Frees what init made, once the pool's last connection closed. */
	void (*fini)(void *ctx);
	/* An accepted connection has a slot (conn_open). */
	void (*on_open)(struct conn *c);
	/* An outbound connection (conn_connect) is established (err 0) or
	 * has failed (err: an errno value; ETIMEDOUT when CONN_TMO_CONNECT
	 * expired). Called once, from the loop. After a failure conn.c
	 * closes the connection when this returns (on_close follows): do
	 * not close it here. */
	void (*on_connect)(struct conn *c, int err);
	/* The socket is readable (or hung up: a read tells which). */
	void (*on_readable)(struct conn *c);
	/* The output queued by conn_send has drained completely, or the
	 * socket became writable after conn_want_write. */
	void (*on_writable)(struct conn *c);
	/* A timeout set with conn_timeout expired (kind: enum conn_tmo).
	 * NULL: the connection is closed. */
	void (*on_timeout)(struct conn *c, int kind);
	/* The worker drains: finish what is in flight, then close (an idle
	 * connection may be closed at once). NULL: wait for the peer. */
	void (*on_drain)(struct conn *c);
	/* May the connection move to another worker now (a reload's
	 * handover)? Asked only of an accepted connection with nothing
	 * queued; yes only when it is between requests with no state of
	 * the protocol's to carry (conn_data NULL): the new worker knows it
	 * by its bytes, its age and the timeout it was waiting under. NULL:
	 * never. */
	int (*can_hand_over)(const struct conn *c);
	/* The connection is about to be closed: free protocol state. */
	void (*on_close)(struct conn *c);
	/* The worker is out of descriptors: close some of those the
	 * protocol keeps beside its connections (a cache of open files).
	 * Returns how many. NULL: it keeps none. */
	unsigned (*release_fds)(void *ctx);
};

extern const struct proto proto_echo;
extern const struct proto proto_http;
extern const struct proto proto_tcpproxy;
extern const struct proto proto_httpproxy;

#endif
