/* listing.c - the filter and the groups of a `connections` listing,
 * shared by the workers (which match and count) and the master (which
 * parses the command and adds the groups up). No I/O. */
#include "autoconfig.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config.h"
#include "listing.h"
#include "stats_doc.h"
#include "util.h"

void listing_filter_init(struct listing_filter *f)
{
	memset(f, 0, sizeof(*f));
	f->worker = -1;
	f->state = -1;
}

int listing_state_number(const char *name)
{
	for (int s = 0; s < 16; s++)
		if (!strcasecmp(name, stats_tcp_state_name(s)) &&
		    strcmp(stats_tcp_state_name(s), "UNKNOWN"))
			return s;
	return -1;
}

/* "IP" or "IP/BITS" (v4 or v6, brackets allowed) into a and *bits. */
static int listing_parse_prefix(const char *s, union addr_sa *a, uint8_t *bits)
{
	char ip[INET6_ADDRSTRLEN + 1];
	const char *slash = strchr(s, '/');
	size_t len = slash ? (size_t)(slash - s) : strlen(s);
	long b = -1;

	if (len > 0 && s[0] == '[' && s[len - 1] == ']') {
		s++;
		len -= 2;
	}
	if (len == 0 || len >= sizeof(ip))
		return -1;
	memcpy(ip, s, len);
	ip[len] = '\0';
	memset(a, 0, sizeof(*a));
	if (inet_pton(AF_INET, ip, &a->in4.sin_addr) == 1)
		a->sa.sa_family = AF_INET;
	else if (inet_pton(AF_INET6, ip, &a->in6.sin6_addr) == 1)
		a->sa.sa_family = AF_INET6;
	else
		return -1;
	if (slash) {
		char *end;

		b = strtol(slash + 1, &end, 10);
		if (*end || slash[1] == '\0' || b < 0 ||
		    b > (a->sa.sa_family == AF_INET ? 32 : 128))
			return -1;
	}
	*bits = (uint8_t)(b >= 0 ? b : a->sa.sa_family == AF_INET ? 32 : 128);
	return 0;
}

/* "PORT", "IP:PORT", "[IP]:PORT" or a bare "IP" into f->local. */
static int listing_parse_local(const char *s, struct listing_filter *f)
{
	struct addr a;
	uint8_t bits;
	char err[128];
	const char *p = s;

	while (isdigit((unsigned char)*p))
		p++;
	if (*s && !*p) {
		long port = strtol(s, NULL, 10);

		if (port < 1 || port > 65535)
			return -1;
		memset(&f->local, 0, sizeof(f->local));
		f->local.in4.sin_family = AF_INET;
		f->local.in4.sin_port = htons((uint16_t)port);
		f->local_any_ip = 1;
		return 0;
	}
	f->local_any_ip = 0; /* an earlier local=PORT is replaced, all of it */
	if (listing_parse_prefix(s, &f->local, &bits) == 0 &&
	    bits == (f->local.sa.sa_family == AF_INET ? 32 : 128))
		return 0; /* an IP alone: any port */
	if (addr_parse(s, &a, err, sizeof(err)) < 0)
		return -1;
	f->local = a.u;
	return 0;
}

static int listing_parse_group(const char *v, enum listing_group *group)
{
	static const struct {
		const char *name;
		enum listing_group g;
	} names[] = {
		{ "remote", LISTING_BY_REMOTE },
		{ "remote-ip", LISTING_BY_REMOTE },
		{ "state", LISTING_BY_STATE },
		{ "worker", LISTING_BY_WORKER },
	};

	for (size_t i = 0; i < UTIL_ARRAY_LEN(names); i++)
		if (!strcasecmp(v, names[i].name)) {
			*group = names[i].g;
			return 0;
		}
	return -1;
}

int listing_parse_arg(const char *arg, struct listing_filter *f,
		      enum listing_group *group, char *err, size_t errlen)
{
	const char *eq = strchr(arg, '=');
	char key[16];
	const char *v;
	long long ms;
	char *end;

	if (!eq || (size_t)(eq - arg) >= sizeof(key))
		return 1;
	memcpy(key, arg, (size_t)(eq - arg));
	key[eq - arg] = '\0';
	v = eq + 1;
	if (!strcasecmp(key, "worker")) {
		long w = strtol(v, &end, 10);

		if (*v && !*end && w >= 0 && w < CFG_MAX_WORKERS) {
			f->worker = (int32_t)w;
			return 0;
		}
	} else if (!strcasecmp(key, "remote")) {
		if (listing_parse_prefix(v, &f->remote, &f->remote_bits) == 0)
			return 0;
	} else if (!strcasecmp(key, "local")) {
		if (listing_parse_local(v, f) == 0)
			return 0;
	} else if (!strcasecmp(key, "state")) {
		if ((f->state = listing_state_number(v)) >= 0)
			return 0;
	} else if (!strcasecmp(key, "min_age") || !strcasecmp(key, "min-age")) {
		/* A bare number is milliseconds, as age_ms; else a duration. */
		ms = strtoll(v, &end, 10);
		if ((*v && !*end && ms >= 0) ||
		    config_parse_duration(v, 1000LL * 86400 * 365, &ms) == 0) {
			f->min_age_ms = (uint64_t)ms;
			return 0;
		}
	} else if (!strcasecmp(key, "count-by") || !strcasecmp(key, "count_by")) {
		if (listing_parse_group(v, group) == 0)
			return 0;
	} else {
		return 1;
	}
	snprintf(err, errlen, "connections: bad %s value (see 'help')", key);
	return -1;
}

/* Do the first bits of a and b agree (same family)? */
static int listing_prefix_match(const union addr_sa *a, const union addr_sa *p,
				unsigned bits)
{
	const uint8_t *x, *y;

	if (a->sa.sa_family != p->sa.sa_family)
		return 0;
	x = a->sa.sa_family == AF_INET ? (const uint8_t *)&a->in4.sin_addr :
					 (const uint8_t *)&a->in6.sin6_addr;
	y = p->sa.sa_family == AF_INET ? (const uint8_t *)&p->in4.sin_addr :
					 (const uint8_t *)&p->in6.sin6_addr;
	for (unsigned i = 0; i < bits / 8; i++)
		if (x[i] != y[i])
			return 0;
	if (bits % 8) {
		uint8_t mask = (uint8_t)(0xff << (8 - bits % 8));

		return (x[bits / 8] & mask) == (y[bits / 8] & mask);
	}
	return 1;
}

static int listing_local_match(const struct listing_filter *f,
			       const union addr_sa *local)
{
	int port = addr_port(&f->local.sa);

	if (port && port != addr_port(&local->sa))
		return 0;
	if (f->local_any_ip)
		return 1;
	return listing_prefix_match(local, &f->local,
				    f->local.sa.sa_family == AF_INET ? 32 : 128);
}

int listing_filtered(const struct listing_filter *f)
{
	return f->state >= 0 || f->min_age_ms > 0 ||
	       f->remote.sa.sa_family != AF_UNSPEC ||
	       f->local.sa.sa_family != AF_UNSPEC;
}

int listing_match(const struct listing_filter *f, const struct stats_conn *c)
{
	if (f->worker >= 0 && c->worker != f->worker)
		return 0;
	if (f->state >= 0 && c->tcp_state != f->state)
		return 0;
	if (c->age_ms < f->min_age_ms)
		return 0;
	if (f->remote.sa.sa_family != AF_UNSPEC &&
	    !listing_prefix_match(&c->remote, &f->remote, f->remote_bits))
		return 0;
	if (f->local.sa.sa_family != AF_UNSPEC &&
	    !listing_local_match(f, &c->local))
		return 0;
	return 1;
}

/* --- groups --- */

void listing_groups_init(struct listing_groups *g, enum listing_group kind)
{
	memset(g, 0, sizeof(*g));
	g->kind = kind;
}

static int listing_same_key(enum listing_group kind,
			    const struct listing_group_rec *a,
			    const struct listing_group_rec *b)
{
	switch (kind) {
	case LISTING_BY_STATE:
		return a->state == b->state;
	case LISTING_BY_WORKER:
		return a->worker == b->worker;
	default:
		return a->remote.sa.sa_family == b->remote.sa.sa_family &&
		       listing_prefix_match(&a->remote, &b->remote,
					    a->remote.sa.sa_family == AF_INET ?
						    32 :
						    128);
	}
}

/* Groups are found by a hash of their key (open addressing, at most half
 * full): a million clients of one connection each must not make adding
 * them quadratic. */
static uint64_t listing_key_hash(enum listing_group kind,
				 const struct listing_group_rec *r)
{
	const uint8_t *p;
	size_t n;
	uint64_t h = 1469598103934665603ULL;

	if (kind == LISTING_BY_STATE)
		return (uint64_t)r->state;
	if (kind == LISTING_BY_WORKER)
		return (uint64_t)r->worker;
	p = r->remote.sa.sa_family == AF_INET ?
		    (const uint8_t *)&r->remote.in4.sin_addr :
		    (const uint8_t *)&r->remote.in6.sin6_addr;
	n = r->remote.sa.sa_family == AF_INET ? 4 : 16;
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 1099511628211ULL;
	return h;
}

int listing_groups_add(struct listing_groups *g,
		       const struct listing_group_rec *rec)
{
	size_t i, mask;

	if (g->n * 2 >= g->cap) {
		struct listing_groups bigger = { g->kind, NULL, 0, 0 };

		bigger.cap = g->cap ? g->cap * 2 : 64;
		bigger.recs = calloc(bigger.cap, sizeof(*bigger.recs));
		if (!bigger.recs)
			return -1;
		for (i = 0; i < g->cap; i++)
			if (g->recs[i].count)
				listing_groups_add(&bigger, &g->recs[i]);
		free(g->recs);
		*g = bigger;
	}
	mask = g->cap - 1;
	for (i = listing_key_hash(g->kind, rec) & mask;; i = (i + 1) & mask) {
		if (!g->recs[i].count) {
			g->recs[i] = *rec;
			g->n++;
			return 0;
		}
		if (listing_same_key(g->kind, &g->recs[i], rec)) {
			g->recs[i].count += rec->count;
			return 0;
		}
	}
}

static int listing_by_count(const void *a, const void *b)
{
	const struct listing_group_rec *x = a, *y = b;

	if (x->count != y->count)
		return x->count < y->count ? 1 : -1;
	if (x->worker != y->worker)
		return x->worker < y->worker ? -1 : 1;
	if (x->state != y->state)
		return x->state < y->state ? -1 : 1;
	return memcmp(&x->remote, &y->remote, sizeof(x->remote));
}

void listing_groups_sort(struct listing_groups *g)
{
	size_t k = 0;

	/* The table has holes (count 0): close them, then sort. */
	for (size_t i = 0; i < g->cap; i++)
		if (g->recs[i].count)
			g->recs[k++] = g->recs[i];
	g->cap = k; /* no longer a hash table: only read from now on */
	qsort(g->recs, k, sizeof(*g->recs), listing_by_count);
}

void listing_groups_free(struct listing_groups *g)
{
	free(g->recs);
	memset(g, 0, sizeof(*g));
}
