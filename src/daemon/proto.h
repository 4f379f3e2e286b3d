/* proto.h - what a protocol implements. A protocol sees connections and
 * the conn_ helpers, never the master, the channel or the listeners. */
#ifndef RP_PROTO_H
#define RP_PROTO_H

#include <stddef.h>

struct conn;
struct config;

struct proto {
	const char *name;
	/* Called once per worker before the first connection; 0, or -1
	 * with a reason in err. */
	int (*init)(const struct config *cfg, char *err, size_t errlen);
	void (*on_open)(struct conn *c);
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
	/* The connection is about to be closed: free protocol state. */
	void (*on_close)(struct conn *c);
};

extern const struct proto proto_echo;
extern const struct proto proto_http;

#endif
