/* up_pool.h - a worker's idle connections to one upstream server, kept for
 * the next request (protocol http_proxy). Prefix upp_. Only the order and
 * the bound: the entries are links embedded in the caller's per-connection
 * state, so the pool allocates nothing and never touches a socket. The
 * caller closes what upp_put gives back, and runs the idle timeout and the
 * "readable while idle" check on its connections (proto_httpproxy.c).
 *
 * Reuse is last in, first out: the connection used last is the one the
 * upstream is least likely to have closed meanwhile (its own keep-alive
 * timeout runs from its last answer), and under a steady load the older
 * ones stay unused and expire, so the pool shrinks to what the load needs.
 * When full, the oldest makes room for the newest, for the same reason. */
#ifndef RP_UP_POOL_H
#define RP_UP_POOL_H

#include <stddef.h>

struct upp_link {
	struct upp_link *prev, *next; /* NULL, NULL: not in a pool */
};

struct upp_pool {
	struct upp_link head; /* head.next: the newest; head.prev: the oldest */
	unsigned n, max;
};

/* An empty pool keeping at most max (0: none). */
void upp_init(struct upp_pool *p, unsigned max);
/* Keeps l, which is in no pool, as the newest. Returns NULL, or the link
 * the caller must now close: the oldest when the pool was full, or l
 * itself when the pool keeps none. */
struct upp_link *upp_put(struct upp_pool *p, struct upp_link *l);
/* The newest, taken out of the pool; NULL when it is empty. */
struct upp_link *upp_get(struct upp_pool *p);
/* Takes l out (it closed, or its idle time is up); no-op when l is in no
 * pool. */
void upp_remove(struct upp_pool *p, struct upp_link *l);
static inline int upp_pooled(const struct upp_link *l)
{
	return l->next != NULL;
}
static inline unsigned upp_count(const struct upp_pool *p)
{
	return p->n;
}

#endif
