/* rb_proto.h - what the load engine (rb_load.c) needs from a protocol:
 * the bytes of request number 'seq' on a connection, and a judgement on
 * the bytes that come back. One request is outstanding per connection.
 * Prefix rb_proto_. */
#ifndef RB_PROTO_H
#define RB_PROTO_H

#include <stddef.h>
#include <stdint.h>

#include "reuseportbench/rb_opts.h"
#include "reuseportbench/rb_result.h"

enum rb_feed {
	RB_FEED_MORE,  /* the answer goes on */
	RB_FEED_DONE,  /* the answer is complete */
	RB_FEED_ERROR, /* the answer is wrong; the connection must go
			 * (the error has been counted in the result) */
};

struct rb_proto {
	const char *name;
	const char *unit; /* "messages", "requests" */
	/* A request that may be sent again when a kept-alive connection
	 * closes before any byte of its answer (RFC 9112, 9.3.1: the server
	 * closed the idle connection as the request left; every HTTP client
	 * retries an idempotent request then). */
	int idempotent;
	size_t state_size; /* per connection, zeroed by begin */
	/* Per-process context; NULL on failure. */
	void *(*setup)(const struct rb_opts *o);
	void (*teardown)(void *ctx);
	/* Starts request seq on connection gidx: the bytes to send stay
	 * valid until the answer is complete. */
	void (*begin)(void *ctx, void *st, uint64_t gidx, uint64_t seq,
		      const uint8_t **req, size_t *len);
	/* Bytes of the answer. *used is how many belong to it (the rest
	 * arrived unasked); *close is set when the connection must be closed
	 * after this answer. */
	enum rb_feed (*feed)(void *ctx, void *st, const uint8_t *p, size_t len,
			     size_t *used, int *close, struct rb_result *r);
	/* The server closed the connection before the answer was complete:
	 * DONE if that is how this answer ends, else ERROR (counted). */
	enum rb_feed (*eof)(void *ctx, void *st, struct rb_result *r);
};

extern const struct rb_proto rb_proto_echo;
extern const struct rb_proto rb_proto_http;

#endif
