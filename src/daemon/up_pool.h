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
 *
 * The bound is max idle connections, enforced a moment late: a worker
 * handles a loop turn's events in a batch, so the responses of many
 * exchanges can end (and their connections come back) before the next
 * requests of the same clients are read. Evicted at once, those extra
 * connections would be opened again a turn later, every turn: 50
 * keep-alive clients on a pool of 32 opened an upstream connection per
 * 15 requests. So a put keeps every connection, and the caller closes
 * the oldest beyond max only if they are still idle a little later
 * (upp_over, upp_oldest). */
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
/* Keeps l, which is in no pool, as the newest. Returns NULL, or l itself
 * when the pool keeps none (max 0): the caller closes it. */
struct upp_link *upp_put(struct upp_pool *p, struct upp_link *l);
/* How many idle connections are kept beyond max (0: none). */
static inline unsigned upp_over(const struct upp_pool *p)
{
	return p->n > p->max ? p->n - p->max : 0;
}
/* The least recently kept one, left in the pool; NULL when it is empty. */
struct upp_link *upp_oldest(struct upp_pool *p);
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
