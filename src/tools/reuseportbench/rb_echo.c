/* rb_echo.c - echo load: each message is a window into one pseudo-random
 * pattern, shifted by connection and sequence number, so an echo that
 * comes back from the wrong connection or out of order does not match. */
#include "autoconfig.h"

#include <stdlib.h>
#include <string.h>

#include "reuseportbench/rb_proto.h"

/* Distinct windows before the shifts repeat; prime, so that consecutive
 * connections and sequence numbers do not line up. */
#define ECHO_SHIFTS 251u

struct echo_ctx {
	uint32_t size;
	uint8_t pattern[]; /* size + ECHO_SHIFTS bytes */
};

struct echo_st {
	uint32_t shift;
	uint32_t rcvd;
	uint32_t bad; /* this message already counted as mismatched */
};

static void *echo_setup(const struct rb_opts *o)
{
	struct echo_ctx *c = malloc(sizeof(*c) + o->size + ECHO_SHIFTS);
	uint32_t x = 0x2545f491u, i;

	if (!c)
		return NULL;
	c->size = o->size;
	for (i = 0; i < o->size + ECHO_SHIFTS; i++) {
		/* xorshift32: cheap, and no byte value is favoured */
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		c->pattern[i] = (uint8_t)(x >> 24);
	}
	return c;
}

static void echo_teardown(void *ctx)
{
	free(ctx);
}

static void echo_begin(void *ctx, void *st, uint64_t gidx, uint64_t seq,
		       const uint8_t **req, size_t *len)
{
	struct echo_ctx *c = ctx;
	struct echo_st *e = st;

	e->shift = (uint32_t)((gidx * 31u + seq) % ECHO_SHIFTS);
	e->rcvd = 0;
	e->bad = 0;
	*req = c->pattern + e->shift;
	*len = c->size;
}

static uint64_t count_diff(const uint8_t *a, const uint8_t *b, size_t n)
{
	uint64_t d = 0;
	size_t i;

	for (i = 0; i < n; i++)
		d += a[i] != b[i];
	return d;
}

static enum rb_feed echo_feed(void *ctx, void *st, const uint8_t *p, size_t len,
			      size_t *used, int *close, struct rb_result *r)
{
	struct echo_ctx *c = ctx;
	struct echo_st *e = st;
	const uint8_t *want = c->pattern + e->shift + e->rcvd;
	size_t n = c->size - e->rcvd;

	*close = 0;
	if (len < n)
		n = len;
	if (memcmp(p, want, n) != 0) {
		/* A message counts once, however many of its bytes are off. */
		if (!e->bad)
			r->mismatched_msgs++;
		e->bad = 1;
		r->mismatched_bytes += count_diff(p, want, n);
	}
	e->rcvd += (uint32_t)n;
	*used = n;
	return e->rcvd == c->size ? RB_FEED_DONE : RB_FEED_MORE;
}

static enum rb_feed echo_eof(void *ctx, void *st, struct rb_result *r)
{
	(void)ctx;
	(void)st;
	r->short_reads++;
	return RB_FEED_ERROR;
}

const struct rb_proto rb_proto_echo = {
	.name = "echo",
	.unit = "messages",
	.state_size = sizeof(struct echo_st),
	.setup = echo_setup,
	.teardown = echo_teardown,
	.begin = echo_begin,
	.feed = echo_feed,
	.eof = echo_eof,
};
