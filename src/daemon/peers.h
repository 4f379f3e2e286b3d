/* peers.h - how many connections each client address holds in one worker,
 * for max_connections_per_ip: a hash table with an entry per address that
 * holds a connection here. Pure bookkeeping: no socket call, no clock.
 *
 * An address is an IPv4 address, or an IPv6 address's /64 prefix: one
 * host can use all 2^64 addresses of its network's /64 (privacy
 * addresses, or on purpose), so a /128 key would limit nothing; a /64 is
 * a site (a LAN behind one router), much as an IPv4 address behind NAT
 * is. An IPv4-mapped IPv6 address (::ffff:a.b.c.d) is its IPv4 address.
 *
 * Each accept and close is O(1) (the bucket array doubles or halves now
 * and then: amortised). An entry is 24 bytes in an array sized for the
 * most entries there can be and allocated with calloc, so only the pages
 * under the entries used are touched: the memory follows the peak number
 * of distinct addresses, as the connection table's follows the peak
 * number of connections. A connection keeps only its entry's number
 * (PEERS_REF_BITS bits, in struct conn's padding). */
#ifndef RP_PEERS_H
#define RP_PEERS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* The bits of an entry's number; 0 is no entry. */
#define PEERS_REF_BITS 24
#define PEERS_MAX_ENTRIES ((1u << PEERS_REF_BITS) - 1)

struct peers;

/* A table of at most max_entries addresses (capped at PEERS_MAX_ENTRIES:
 * a worker holds at least one connection per entry, so its connection
 * slots are enough), each allowed limit connections (>= 1). NULL on
 * ENOMEM. */
struct peers *peers_new(uint32_t max_entries, uint32_t limit);
void peers_free(struct peers *t);

/* A connection from sa: 1 or more, the entry to give back with
 * peers_release; 0 when it is not counted (sa is no IPv4 or IPv6
 * address, or the table is full: the connection goes unlimited rather
 * than refused); -1 when sa's address holds limit connections already.
 * force: count it even past the limit (a connection already open, taken
 * over from another worker at a reload). */
long peers_acquire(struct peers *t, const struct sockaddr *sa, socklen_t len,
		   int force);
/* The connection that peers_acquire gave ref to is gone; ref 0: none. */
void peers_release(struct peers *t, uint32_t ref);

/* Connections counted for sa's address (its /64 for IPv6). */
uint32_t peers_count(const struct peers *t, const struct sockaddr *sa,
		     socklen_t len);
/* Addresses holding a connection now. */
uint32_t peers_size(const struct peers *t);
/* Bytes the table has touched: the entries up to the highest number
 * handed out, and the bucket array. */
size_t peers_memory(const struct peers *t);

#endif
