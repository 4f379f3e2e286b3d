/* peers.c - connections per client address in one worker (peers.h): a
 * chained hash table whose entries never move, so that a connection can
 * keep its entry's number. It makes no socket call and reads no clock. */
#include "autoconfig.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "peers.h"

#define PEERS_MIN_BUCKETS 64u

/* An IPv6 address: the IPv4 ones in their mapped form, ::ffff:a.b.c.d,
 * the IPv6 ones cut to their /64. The two never meet: a /64 key has a
 * zero lo, a mapped one does not. */
struct peers_key {
	uint64_t hi, lo;
};

struct peer {
	struct peers_key key;
	uint32_t next;  /* the bucket's chain, or the free list; 0: end */
	uint32_t count; /* connections; 0: the entry is free */
};

struct peers {
	struct peer *e; /* e[1..max]; e[0] unused, 0 being "none" */
	uint32_t max;
	uint32_t used; /* entries ever handed out: e[1..used] were touched */
	uint32_t free; /* freed entries, last freed first */
	uint32_t n;    /* entries in use */
	uint32_t limit;
	uint32_t *bucket; /* chain heads */
	uint32_t mask;    /* buckets - 1, a power of two less one */
	uint64_t seed[2];
};

/* A bijective 64-bit mixer (the finaliser of MurmurHash3), on keys XORed
 * with a random seed of the worker's: which /64 prefixes share a bucket
 * cannot be worked out from outside, so a client that controls many
 * prefixes cannot pile them into one chain. */
static uint64_t mix64(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ULL;
	x ^= x >> 33;
	return x;
}

static uint32_t peers_hash(const struct peers *t, const struct peers_key *k)
{
	return (uint32_t)mix64(k->hi ^ t->seed[0] ^ mix64(k->lo ^ t->seed[1]));
}

static uint64_t load_be64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

/* 0 and the key of sa's address, or -1 for anything but IPv4 and IPv6. */
static int peers_key_of(const struct sockaddr *sa, socklen_t len,
			struct peers_key *k)
{
	const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
	const struct sockaddr_in *in4 = (const struct sockaddr_in *)sa;
	const uint8_t *b;

	if (!sa)
		return -1;
	if (sa->sa_family == AF_INET && len >= sizeof(*in4)) {
		k->hi = 0;
		k->lo = 0xffff00000000ULL | ntohl(in4->sin_addr.s_addr);
		return 0;
	}
	if (sa->sa_family != AF_INET6 || len < sizeof(*in6))
		return -1;
	b = in6->sin6_addr.s6_addr;
	k->hi = load_be64(b);
	k->lo = IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr) ? load_be64(b + 8) : 0;
	return 0;
}

static int key_equal(const struct peers_key *a, const struct peers_key *b)
{
	return a->hi == b->hi && a->lo == b->lo;
}

static void seed_init(uint64_t seed[2])
{
	struct timespec ts;

	if (getrandom(seed, 2 * sizeof(seed[0]), GRND_NONBLOCK) ==
	    (ssize_t)(2 * sizeof(seed[0])))
		return;
	/* No entropy yet (early boot): unpredictable enough from outside. */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	seed[0] = mix64((uint64_t)ts.tv_nsec ^ (uint64_t)getpid() << 32);
	seed[1] = mix64(seed[0] ^ (uint64_t)ts.tv_sec);
}

struct peers *peers_new(uint32_t max_entries, uint32_t limit)
{
	struct peers *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->max = max_entries < PEERS_MAX_ENTRIES ? max_entries : PEERS_MAX_ENTRIES;
	t->limit = limit ? limit : 1;
	t->mask = PEERS_MIN_BUCKETS - 1;
	/* calloc maps zero pages: untouched entries cost no memory. */
	t->e = calloc((size_t)t->max + 1, sizeof(*t->e));
	t->bucket = calloc(PEERS_MIN_BUCKETS, sizeof(*t->bucket));
	if (!t->e || !t->bucket) {
		peers_free(t);
		errno = ENOMEM;
		return NULL;
	}
	seed_init(t->seed);
	return t;
}

void peers_free(struct peers *t)
{
	if (!t)
		return;
	free(t->e);
	free(t->bucket);
	free(t);
}

/* Moves every entry to a bucket array of nb (a power of two) heads. On
 * ENOMEM the table keeps its array: longer chains, still correct. */
static void peers_rehash(struct peers *t, uint32_t nb)
{
	uint32_t *b = calloc(nb, sizeof(*b));

	if (!b)
		return;
	for (uint32_t i = 0; i <= t->mask; i++) {
		uint32_t ref = t->bucket[i];

		while (ref) {
			struct peer *p = &t->e[ref];
			uint32_t next = p->next, h = peers_hash(t, &p->key);

			p->next = b[h & (nb - 1)];
			b[h & (nb - 1)] = ref;
			ref = next;
		}
	}
	free(t->bucket);
	t->bucket = b;
	t->mask = nb - 1;
}

/* The entry of sa's address (its key in *k), 0 if it has none, or -1
 * if sa is no IP address. */
static long peers_find(const struct peers *t, const struct sockaddr *sa,
		       socklen_t len, struct peers_key *k)
{
	uint32_t ref;

	if (peers_key_of(sa, len, k) < 0)
		return -1;
	ref = t->bucket[peers_hash(t, k) & t->mask];
	for (; ref; ref = t->e[ref].next)
		if (key_equal(&t->e[ref].key, k))
			return ref;
	return 0;
}

/* A new entry for k, at the head of its chain; 0 when the table is full. */
static uint32_t peers_insert(struct peers *t, const struct peers_key *k)
{
	uint32_t ref, *head;

	if (t->free) {
		ref = t->free;
		t->free = t->e[ref].next;
	} else if (t->used < t->max) {
		ref = ++t->used;
	} else {
		return 0;
	}
	if (++t->n > t->mask + 1)
		peers_rehash(t, (t->mask + 1) * 2);
	head = &t->bucket[peers_hash(t, k) & t->mask];
	t->e[ref].key = *k;
	t->e[ref].count = 0;
	t->e[ref].next = *head;
	*head = ref;
	return ref;
}

long peers_acquire(struct peers *t, const struct sockaddr *sa, socklen_t len,
		   int force)
{
	struct peers_key k;
	long ref = peers_find(t, sa, len, &k);

	if (ref < 0)
		return 0;
	if (ref && t->e[ref].count >= t->limit && !force)
		return -1;
	if (!ref && !(ref = peers_insert(t, &k)))
		return 0;
	t->e[ref].count++;
	return ref;
}

void peers_release(struct peers *t, uint32_t ref)
{
	struct peer *p;
	uint32_t *link;

	if (ref == 0 || ref > t->used || t->e[ref].count == 0)
		return;
	p = &t->e[ref];
	if (--p->count > 0)
		return;
	link = &t->bucket[peers_hash(t, &p->key) & t->mask];
	while (*link && *link != ref)
		link = &t->e[*link].next;
	if (*link)
		*link = p->next;
	p->next = t->free;
	t->free = ref;
	/* Halve at a quarter full, not at half: an address coming and
	 * going at the boundary must not rehash every time. */
	if (--t->n < (t->mask + 1) / 4 && t->mask + 1 > PEERS_MIN_BUCKETS)
		peers_rehash(t, (t->mask + 1) / 2);
}

uint32_t peers_count(const struct peers *t, const struct sockaddr *sa,
		     socklen_t len)
{
	struct peers_key k;
	long ref = peers_find(t, sa, len, &k);

	return ref > 0 ? t->e[ref].count : 0;
}

uint32_t peers_size(const struct peers *t)
{
	return t->n;
}

size_t peers_memory(const struct peers *t)
{
	return ((size_t)t->used + 1) * sizeof(*t->e) +
	       ((size_t)t->mask + 1) * sizeof(*t->bucket);
}
