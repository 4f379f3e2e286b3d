/* upstream.c - the servers a worker proxies to: round robin, passive
 * health and source addresses (upstream.h). Counts nothing in the stats
 * (upstream_stats.c and the protocol that uses the table do). */
#include "autoconfig.h"

#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <string.h>
#include <unistd.h>

#include "stats.h"
#include "upstream.h"

#ifndef IP_LOCAL_PORT_RANGE
#define IP_LOCAL_PORT_RANGE 51 /* linux/in.h, Linux 6.3 */
#endif

/* MurmurHash3's finalizer: every input bit flips each output bit with
 * probability about 1/2, which rendezvous hashing needs of the hash of
 * (client, server) - FNV alone leaves the high bits weak. */
static uint64_t mix64(uint64_t h)
{
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 33;
	return h;
}

static uint64_t hash_bytes(const void *p, size_t n, uint64_t h)
{
	const unsigned char *b = p;

	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 0x100000001b3ULL; /* FNV-1a */
	return mix64(h);
}

#define HASH_SEED 0xcbf29ce484222325ULL

/* The client's address, without its port; an IPv4 client of a dual-stack
 * listener (::ffff:a.b.c.d) hashes as a.b.c.d, so that it lands where it
 * would on an IPv4 listener. */
static uint64_t client_key(const struct sockaddr *sa)
{
	const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;

	if (sa->sa_family == AF_INET)
		return hash_bytes(&((const struct sockaddr_in *)sa)->sin_addr,
				  4, HASH_SEED);
	if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr))
		return hash_bytes(&in6->sin6_addr.s6_addr[12], 4, HASH_SEED);
	return hash_bytes(&in6->sin6_addr, 16, HASH_SEED);
}

/* A server is known by its address and port, not by its place in the
 * config: reordering the upstream lines moves no client. */
static uint64_t server_key(const struct addr *a)
{
	uint16_t port = addr_port(&a->u.sa);
	uint64_t h = a->u.sa.sa_family == AF_INET ?
			     hash_bytes(&a->u.in4.sin_addr, 4, HASH_SEED) :
			     hash_bytes(&a->u.in6.sin6_addr, 16, HASH_SEED);

	return hash_bytes(&port, sizeof(port), h);
}

void up_table_init(struct up_table *t, const struct config *cfg)
{
	memset(t, 0, sizeof(*t));
	t->balance = cfg->balance;
	t->rise = cfg->health_rise;
	t->fall = cfg->health_fall;
	for (int i = 0; i < cfg->nupstreams; i++) {
		const struct cfg_upstream *u = &cfg->upstreams[i];
		struct up_server *s = &t->servers[i];

		s->addr = u->addr;
		s->weight = u->weight;
		s->max_fails = u->max_fails;
		s->fail_timeout_ms = (uint64_t)u->fail_timeout_ms;
		s->key = server_key(&s->addr);
	}
	t->n = cfg->nupstreams;
	t->nsources = cfg->nproxy_sources;
	for (int i = 0; i < t->nsources; i++) {
		t->sources[i] = cfg->proxy_sources[i];
		if (t->sources[i].first.sa.sa_family == AF_INET)
			t->count_v4 += t->sources[i].count;
		else
			t->count_v6 += t->sources[i].count;
	}
}

int up_is_down(const struct up_table *t, int i, uint64_t now_ms)
{
	return up_state(t, i, now_ms) != UP_UP;
}

enum up_state up_state(const struct up_table *t, int i, uint64_t now_ms)
{
	if (t->servers[i].check_down)
		return UP_DOWN_CHECKS;
	return t->servers[i].down_until > now_ms ? UP_DOWN_PASSIVE : UP_UP;
}

/* A server down for its fail_timeout is tried again, on probation: the
 * next failure marks it down at once (up_failed). One down by checks
 * waits for them. */
static int usable(struct up_server *s, uint64_t now_ms)
{
	if (s->check_down)
		return 0;
	if (s->down_until == 0)
		return 1;
	if (s->down_until > now_ms)
		return 0;
	s->down_until = 0;
	s->fails = s->max_fails > 0 ? (unsigned)s->max_fails - 1 : 0;
	return 1;
}

/* Smooth weighted round robin: each usable server gains its weight, the
 * candidate ahead is picked and gives back the total. Over a cycle each
 * server is picked weight times, spread out rather than in runs. The
 * bookkeeping runs over every usable server even when fewer are
 * candidates (least_conn's ties): a server that could not be picked
 * keeps its turn, so two servers that take turns being the less loaded
 * one still alternate when they are level. */
static int round_robin(struct up_table *t, const uint8_t *usable_now,
		       const uint8_t *cand)
{
	int64_t total = 0;
	int best = -1;

	for (int i = 0; i < t->n; i++) {
		struct up_server *s = &t->servers[i];

		if (!usable_now[i])
			continue;
		s->cur += s->weight;
		total += s->weight;
		if (cand[i] && (best < 0 || s->cur > t->servers[best].cur))
			best = i;
	}
	if (best >= 0)
		t->servers[best].cur -= total;
	return best;
}

/* Of the candidates, those with the fewest active connections per unit
 * of weight (a/w < b/v as a*v < b*w: no division, no rounding) stay
 * candidates; the round robin chooses among them. */
static int least_conn(struct up_table *t, const uint8_t *usable_now)
{
	uint8_t cand[CFG_MAX_UPSTREAMS];
	int best = -1;

	for (int i = 0; i < t->n; i++) {
		const struct up_server *s = &t->servers[i], *b;

		if (!usable_now[i])
			continue;
		b = best < 0 ? NULL : &t->servers[best];
		if (!b || (uint64_t)s->active * (uint64_t)b->weight <
				  (uint64_t)b->active * (uint64_t)s->weight)
			best = i;
	}
	for (int i = 0; i < t->n; i++) {
		const struct up_server *s = &t->servers[i],
				       *b = &t->servers[best];

		cand[i] = usable_now[i] &&
			  (uint64_t)s->active * (uint64_t)b->weight ==
				  (uint64_t)b->active * (uint64_t)s->weight;
	}
	return round_robin(t, usable_now, cand);
}

/* Weighted rendezvous hashing ("logarithmic method"): with u uniform in
 * (0, 1), -ln(u) / w is exponential with rate w, and the least of such
 * draws belongs to server i with probability w_i / sum(w). */
static int rendezvous(const struct up_table *t, const uint8_t *cand,
		      uint64_t client)
{
	double best_score = 0;
	int best = -1;

	for (int i = 0; i < t->n; i++) {
		const struct up_server *s = &t->servers[i];
		double u, score;

		if (!cand[i])
			continue;
		/* The top 53 bits, centred in their step: never 0 nor 1. */
		u = ((double)(mix64(client ^ s->key) >> 11) + 0.5) * 0x1p-53;
		score = -log(u) / s->weight;
		if (best < 0 || score < best_score) {
			best_score = score;
			best = i;
		}
	}
	return best;
}

static int pick_among(struct up_table *t, uint64_t now_ms, int avoid,
		      const struct sockaddr *client)
{
	uint8_t ok[CFG_MAX_UPSTREAMS];
	int any = 0;

	for (int i = 0; i < t->n; i++) {
		ok[i] = i != avoid && usable(&t->servers[i], now_ms);
		any |= ok[i];
	}
	if (!any)
		return -1;
	if (t->balance == CFG_BALANCE_LEAST_CONN)
		return least_conn(t, ok);
	if (t->balance == CFG_BALANCE_HASH && client)
		return rendezvous(t, ok, client_key(client));
	return round_robin(t, ok, ok);
}

int up_pick(struct up_table *t, uint64_t now_ms, int avoid,
	    const struct sockaddr *client)
{
	int i = pick_among(t, now_ms, avoid, client);

	return i >= 0 || avoid < 0 ? i : pick_among(t, now_ms, -1, client);
}

int up_check_result(struct up_table *t, int i, int ok)
{
	struct up_server *s = &t->servers[i];

	if (ok) {
		s->check_bad = 0;
		if (!s->check_down || ++s->check_good < (unsigned)t->rise)
			return 0;
		s->check_down = 0;
		s->check_good = 0;
		s->fails = 0; /* passive health starts afresh too */
		return 1;
	}
	s->check_good = 0;
	if (s->check_down || ++s->check_bad < (unsigned)t->fall)
		return 0;
	s->check_down = 1;
	s->check_bad = 0;
	return -1;
}

int up_failed(struct up_table *t, int i, uint64_t now_ms)
{
	struct up_server *s = &t->servers[i];

	if (s->max_fails == 0 || s->down_until > now_ms)
		return 0;
	if (++s->fails < (unsigned)s->max_fails)
		return 0;
	s->fails = 0;
	s->down_until = now_ms + s->fail_timeout_ms;
	s->down_reason = STATS_DOWN_FAILURES;
	return 1;
}

void up_succeeded(struct up_table *t, int i)
{
	t->servers[i].fails = 0;
}

int up_next_source(struct up_table *t, int family, union addr_sa *out,
		   socklen_t *len)
{
	int range;

	return up_next_source_in(t, family, out, len, &range);
}

int up_next_source_in(struct up_table *t, int family, union addr_sa *out,
		      socklen_t *len, int *range)
{
	uint64_t *next = family == AF_INET ? &t->next_v4 : &t->next_v6;
	uint64_t count = family == AF_INET ? t->count_v4 : t->count_v6;
	uint64_t k;

	*range = STATS_SOURCE_KERNEL;
	if (count == 0)
		return -1;
	k = (*next)++ % count;
	for (int i = 0; i < t->nsources; i++) {
		const struct cfg_source *src = &t->sources[i];

		if (src->first.sa.sa_family != family)
			continue;
		if (k < src->count) {
			config_source_addr(src, (uint32_t)k, out);
			*len = family == AF_INET ? sizeof(out->in4) :
						   sizeof(out->in6);
			*range = i;
			return 0;
		}
		k -= src->count;
	}
	return -1;
}

void up_port_slice(int lo, int hi, int worker, int nworkers, int *slo, int *shi)
{
	long span = (long)hi - lo + 1;

	/* Fewer ports than workers: every worker gets the whole range
	 * rather than none (the kernel still keeps the 4-tuples apart;
	 * the slices only spare the workers searching the same ports). */
	if (nworkers < 1 || span < nworkers) {
		*slo = lo;
		*shi = hi;
		return;
	}
	*slo = lo + (int)(span * worker / nworkers);
	*shi = lo + (int)(span * (worker + 1) / nworkers) - 1;
}

void up_set_ports(struct up_table *t, const struct config *cfg, int worker,
		  int nworkers, long sys_lo, long sys_hi)
{
	int lo = cfg->proxy_port_lo, hi = cfg->proxy_port_hi, slo, shi;

	t->port_range = 0;
	if (cfg->proxy_port_range == CFG_PORTS_OFF)
		return;
	if (cfg->proxy_port_range == CFG_PORTS_AUTO) {
		if (sys_lo <= 0 || sys_hi < sys_lo || sys_hi > 65535)
			return;
		lo = (int)sys_lo;
		hi = (int)sys_hi;
	}
	up_port_slice(lo, hi, worker, nworkers, &slo, &shi);
	t->port_range = (uint32_t)shi << 16 | (uint32_t)slo;
}

int up_port_range_supported(void)
{
	uint32_t v = 40000u << 16 | 30000u;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), ok;

	if (fd < 0)
		return 0;
	ok = setsockopt(fd, IPPROTO_IP, IP_LOCAL_PORT_RANGE, &v, sizeof(v)) == 0;
	close(fd);
	return ok;
}
