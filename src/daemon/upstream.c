/* upstream.c - the servers a worker proxies to: round robin, passive
 * health and source addresses (upstream.h). Counts nothing in the stats
 * (upstream_stats.c and the protocol that uses the table do). */
#include "autoconfig.h"

#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <unistd.h>

#include "stats.h"
#include "upstream.h"

#ifndef IP_LOCAL_PORT_RANGE
#define IP_LOCAL_PORT_RANGE 51 /* linux/in.h, Linux 6.3 */
#endif

void up_table_init(struct up_table *t, const struct config *cfg)
{
	memset(t, 0, sizeof(*t));
	for (int i = 0; i < cfg->nupstreams; i++) {
		const struct cfg_upstream *u = &cfg->upstreams[i];
		struct up_server *s = &t->servers[i];

		s->addr = u->addr;
		s->weight = u->weight;
		s->max_fails = u->max_fails;
		s->fail_timeout_ms = (uint64_t)u->fail_timeout_ms;
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
	return t->servers[i].down_until > now_ms;
}

/* A server down for its fail_timeout is tried again, on probation: the
 * next failure marks it down at once (up_failed). */
static int usable(struct up_server *s, uint64_t now_ms)
{
	if (s->down_until == 0)
		return 1;
	if (s->down_until > now_ms)
		return 0;
	s->down_until = 0;
	s->fails = s->max_fails > 0 ? (unsigned)s->max_fails - 1 : 0;
	return 1;
}

/* Smooth weighted round robin: each usable server gains its weight, the
 * one ahead is picked and gives back the total. Over a cycle each server
 * is picked weight times, spread out rather than in runs. */
static int pick_among(struct up_table *t, uint64_t now_ms, int avoid)
{
	int64_t total = 0;
	int best = -1;

	for (int i = 0; i < t->n; i++) {
		struct up_server *s = &t->servers[i];

		if (i == avoid || !usable(s, now_ms))
			continue;
		s->cur += s->weight;
		total += s->weight;
		if (best < 0 || s->cur > t->servers[best].cur)
			best = i;
	}
	if (best >= 0)
		t->servers[best].cur -= total;
	return best;
}

int up_pick(struct up_table *t, uint64_t now_ms, int avoid)
{
	int i = pick_among(t, now_ms, avoid);

	return i >= 0 || avoid < 0 ? i : pick_among(t, now_ms, -1);
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
