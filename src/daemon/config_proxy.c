/* config_proxy.c - the TCP proxy's directives: upstream servers, the local
 * source addresses, the per-worker port ranges, and the checks that tie
 * them together. Pure parsing, like config.c: nothing is opened here. */
#include "autoconfig.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

#define fail config_fail

/* "name=VALUE" at s (n bytes): VALUE, or NULL when s is another option. */
static const char *option(const char *s, size_t n, const char *name)
{
	size_t l = strlen(name);

	return n > l && !strncmp(s, name, l) && s[l] == '=' ? s + l + 1 : NULL;
}

/* A decimal number in [min, max] spanning exactly n bytes. */
static int number(const char *s, size_t n, long min, long max, long *out)
{
	char buf[16], *end;
	long v;

	if (n == 0 || n >= sizeof(buf) || !isdigit((unsigned char)s[0]))
		return -1;
	memcpy(buf, s, n);
	buf[n] = '\0';
	v = strtol(buf, &end, 10);
	if (*end || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

/* One "weight=N", "max_fails=N" or "fail_timeout=T" of an upstream line. */
static int upstream_option(struct cfg_upstream *u, const char *s, size_t n,
			   char *err, size_t errlen)
{
	const char *v;
	char dur[32];
	long long ms;
	long x;

	if ((v = option(s, n, "weight"))) {
		if (number(v, n - (size_t)(v - s), 1, 1000, &x) < 0)
			return fail(err, errlen,
				    "upstream: weight '%.*s' is not a number 1..1000",
				    (int)(n - (size_t)(v - s)), v);
		u->weight = (int)x;
	} else if ((v = option(s, n, "max_fails"))) {
		if (number(v, n - (size_t)(v - s), 0, 1000, &x) < 0)
			return fail(err, errlen,
				    "upstream: max_fails '%.*s' is not a number 0..1000",
				    (int)(n - (size_t)(v - s)), v);
		u->max_fails = (int)x;
	} else if ((v = option(s, n, "fail_timeout"))) {
		size_t l = n - (size_t)(v - s);

		if (l >= sizeof(dur))
			l = sizeof(dur) - 1;
		memcpy(dur, v, l);
		dur[l] = '\0';
		if (config_parse_duration(dur, 3600 * 1000LL, &ms) < 0 || ms < 1)
			return fail(err, errlen,
				    "upstream: fail_timeout '%s' is not a duration 1ms..1h",
				    dur);
		u->fail_timeout_ms = (int)ms;
	} else {
		return fail(err, errlen,
			    "upstream: unknown option '%.*s' (weight=, max_fails=, fail_timeout=)",
			    (int)n, s);
	}
	return 0;
}

static int is_any(const struct addr *a)
{
	if (a->u.sa.sa_family == AF_INET)
		return a->u.in4.sin_addr.s_addr == htonl(INADDR_ANY);
	return IN6_IS_ADDR_UNSPECIFIED(&a->u.in6.sin6_addr);
}

/* "ADDR:PORT [weight=N] [max_fails=N] [fail_timeout=T]"; a name stands
 * for each of its addresses, with the same options (as nginx does). */
int config_add_upstream(struct config *c, const char *s, char *err, size_t errlen)
{
	struct cfg_upstream u = { .weight = 1,
				  .max_fails = 1,
				  .fail_timeout_ms = 10000 };
	struct addr a[CFG_MAX_UPSTREAMS];
	size_t n = strcspn(s, " ");
	char host[512], why[512];
	int na;

	if (n >= sizeof(host))
		return fail(err, errlen, "upstream: address too long");
	memcpy(host, s, n);
	host[n] = '\0';
	for (const char *p = s + n; *p;) {
		size_t l;

		p += strspn(p, " ");
		l = strcspn(p, " ");
		if (l && upstream_option(&u, p, l, err, errlen) < 0)
			return -1;
		p += l;
	}
	na = addr_resolve(host, a, CFG_MAX_UPSTREAMS, why, sizeof(why));
	if (na < 0)
		return fail(err, errlen, "upstream: %s", why);
	if (c->nupstreams + na > CFG_MAX_UPSTREAMS)
		return fail(err, errlen, "upstream: at most %d servers",
			    CFG_MAX_UPSTREAMS);
	for (int i = 0; i < na; i++) {
		char buf[ADDR_STRLEN];

		if (is_any(&a[i]) || addr_port(&a[i].u.sa) == 0)
			return fail(err, errlen,
				    "upstream: '%s' is not a server's address (an IP or name, and a port other than 0)",
				    host);
		for (int j = 0; j < c->nupstreams; j++)
			if (addr_equal(&a[i], &c->upstreams[j].addr))
				return fail(err, errlen, "upstream: duplicate %s",
					    addr_format(&a[i].u.sa, buf,
							sizeof(buf)));
	}
	for (int i = 0; i < na; i++) {
		u.addr = a[i];
		c->upstreams[c->nupstreams++] = u;
	}
	return 0;
}

static int parse_ip(const char *s, union addr_sa *out)
{
	memset(out, 0, sizeof(*out));
	if (inet_pton(AF_INET, s, &out->in4.sin_addr) == 1) {
		out->in4.sin_family = AF_INET;
		return 0;
	}
	if (inet_pton(AF_INET6, s, &out->in6.sin6_addr) == 1) {
		out->in6.sin6_family = AF_INET6;
		return 0;
	}
	return -1;
}

/* The part of an address a range varies in: all of IPv4, the last 32
 * bits of IPv6. */
static uint32_t low32(const union addr_sa *a)
{
	uint32_t v;

	if (a->sa.sa_family == AF_INET)
		return ntohl(a->in4.sin_addr.s_addr);
	memcpy(&v, &a->in6.sin6_addr.s6_addr[12], 4);
	return ntohl(v);
}

void config_source_addr(const struct cfg_source *src, uint32_t k,
			union addr_sa *out)
{
	uint32_t v = htonl(low32(&src->first) + k);

	*out = src->first;
	if (out->sa.sa_family == AF_INET)
		out->in4.sin_addr.s_addr = v;
	else
		memcpy(&out->in6.sin6_addr.s6_addr[12], &v, 4);
}

/* "ADDR" or "ADDR-ADDR": IPv4 or IPv6, no port (the kernel picks it at
 * connect, IP_BIND_ADDRESS_NO_PORT). */
int config_add_proxy_source(struct config *c, const char *s, char *err,
			    size_t errlen)
{
	char lo_s[INET6_ADDRSTRLEN], hi_s[INET6_ADDRSTRLEN];
	size_t n = strcspn(s, "-");
	union addr_sa lo, hi;
	struct cfg_source *src;

	if (c->nproxy_sources == CFG_MAX_PROXY_SOURCES)
		return fail(err, errlen, "proxy_source: at most %d ranges",
			    CFG_MAX_PROXY_SOURCES);
	if (n >= sizeof(lo_s) || (s[n] && strlen(s + n + 1) >= sizeof(hi_s)))
		return fail(err, errlen,
			    "proxy_source: '%s' is not ADDR or ADDR-ADDR", s);
	memcpy(lo_s, s, n);
	lo_s[n] = '\0';
	snprintf(hi_s, sizeof(hi_s), "%s", s[n] ? s + n + 1 : lo_s);
	if (parse_ip(lo_s, &lo) < 0 || parse_ip(hi_s, &hi) < 0)
		return fail(err, errlen,
			    "proxy_source: '%s' is not an IP address or a range of them (ADDR-ADDR)",
			    s);
	if (lo.sa.sa_family != hi.sa.sa_family ||
	    (lo.sa.sa_family == AF_INET6 &&
	     memcmp(&lo.in6.sin6_addr, &hi.in6.sin6_addr, 12) != 0) ||
	    low32(&hi) < low32(&lo) ||
	    low32(&hi) - low32(&lo) >= CFG_PROXY_SOURCE_SPAN)
		return fail(err, errlen,
			    "proxy_source: '%s' is not a range of at most %d addresses of one family (an IPv6 range may vary in its last 32 bits only), lowest first",
			    s, CFG_PROXY_SOURCE_SPAN);
	src = &c->proxy_sources[c->nproxy_sources++];
	src->first = lo;
	src->count = low32(&hi) - low32(&lo) + 1;
	return 0;
}

int config_set_proxy_port_range(struct config *c, const char *s, char *err,
				size_t errlen)
{
	size_t n = strcspn(s, "-");
	long lo, hi;

	if (!strcmp(s, "off") || !strcmp(s, "auto")) {
		c->proxy_port_range = s[0] == 'o' ? CFG_PORTS_OFF : CFG_PORTS_AUTO;
		return 0;
	}
	if (!s[n] || number(s, n, 1, 65535, &lo) < 0 ||
	    number(s + n + 1, strlen(s + n + 1), 1, 65535, &hi) < 0 || hi < lo)
		return fail(err, errlen,
			    "proxy_port_range: '%s' is not off, auto or LO-HI (ports 1..65535, LO <= HI)",
			    s);
	c->proxy_port_range = CFG_PORTS_RANGE;
	c->proxy_port_lo = (int)lo;
	c->proxy_port_hi = (int)hi;
	return 0;
}

/* One of words (NULL-terminated) at s: its index, or -1. */
static int keyword(const char *s, const char *const *words)
{
	for (int i = 0; words[i]; i++)
		if (!strcmp(s, words[i]))
			return i;
	return -1;
}

int config_set_balance(struct config *c, const char *s, char *err, size_t errlen)
{
	static const char *const words[] = { "round_robin", "least_conn",
					     "hash", NULL };
	int k = keyword(s, words);

	if (k < 0)
		return fail(err, errlen,
			    "balance: '%s' is not round_robin, least_conn or hash",
			    s);
	c->balance = (enum cfg_balance)k;
	return 0;
}

int config_set_proxy_protocol(struct config *c, const char *s, char *err,
			      size_t errlen)
{
	static const char *const words[] = { "off", "v1", "v2", NULL };
	int k = keyword(s, words);

	if (k < 0)
		return fail(err, errlen,
			    "proxy_protocol: '%s' is not off, v1 or v2", s);
	c->proxy_protocol = (enum cfg_proxy_protocol)k;
	return 0;
}

/* A path the request line can carry as it is: "/", then visible ASCII
 * (no space, no control byte: each would end or break the line). */
static int health_path_ok(const char *p)
{
	if (p[0] != '/' || strlen(p) >= CFG_HEALTH_PATH_MAX)
		return 0;
	for (; *p; p++)
		if (*p <= ' ' || *p >= 0x7f)
			return 0;
	return 1;
}

int config_set_health_check(struct config *c, const char *s, char *err,
			    size_t errlen)
{
	if (!strcmp(s, "off") || !strcmp(s, "tcp")) {
		c->health_check = s[0] == 'o' ? CFG_HEALTH_OFF : CFG_HEALTH_TCP;
		c->health_path[0] = '\0';
		return 0;
	}
	if (strncmp(s, "http ", 5) || !health_path_ok(s + 5))
		return fail(err, errlen,
			    "health_check: '%s' is not off, tcp or http PATH (PATH: '/' then up to %d visible ASCII characters)",
			    s, CFG_HEALTH_PATH_MAX - 2);
	c->health_check = CFG_HEALTH_HTTP;
	snprintf(c->health_path, sizeof(c->health_path), "%s", s + 5);
	return 0;
}

/* A duration in [min_ms, max_ms] into *out. */
static int health_ms(const char *name, const char *s, long long min_ms,
		     long long max_ms, int *out, char *err, size_t errlen)
{
	long long ms;

	if (config_parse_duration(s, max_ms, &ms) < 0 || ms < min_ms)
		return fail(err, errlen,
			    "%s: '%s' is not a duration %lldms..%llds (like 500ms, 5s)",
			    name, s, min_ms, max_ms / 1000);
	*out = (int)ms;
	return 0;
}

/* Checks more often than every 100 ms would be load, not information. */
int config_set_health_interval(struct config *c, const char *s, char *err,
			       size_t errlen)
{
	return health_ms("health_interval", s, 100, 3600 * 1000LL,
			 &c->health_interval_ms, err, errlen);
}

int config_set_health_timeout(struct config *c, const char *s, char *err,
			      size_t errlen)
{
	return health_ms("health_timeout", s, 10, 3600 * 1000LL,
			 &c->health_timeout_ms, err, errlen);
}

static int health_count(const char *name, const char *s, int *out, char *err,
			size_t errlen)
{
	long v;

	if (number(s, strlen(s), 1, 100, &v) < 0)
		return fail(err, errlen, "%s: '%s' is not a number 1..100",
			    name, s);
	*out = (int)v;
	return 0;
}

int config_set_health_rise(struct config *c, const char *s, char *err,
			   size_t errlen)
{
	return health_count("health_rise", s, &c->health_rise, err, errlen);
}

int config_set_health_fall(struct config *c, const char *s, char *err,
			   size_t errlen)
{
	return health_count("health_fall", s, &c->health_fall, err, errlen);
}

/* "proxy_pool N": idle connections kept per server in each worker. The
 * bound is the descriptors they hold: 32 servers x 4096 is still within
 * what a worker may open, and more idle ones than requests in flight buy
 * nothing. */
int config_set_proxy_pool(struct config *c, const char *s, char *err, size_t errlen)
{
	long v;

	if (number(s, strlen(s), 0, 4096, &v) < 0)
		return fail(err, errlen,
			    "proxy_pool: '%s' is not a number 0..4096 (idle upstream connections per server and worker; 0: none)",
			    s);
	c->proxy_pool = (int)v;
	return 0;
}

/* A duration min_ms..1 day into *out. */
static int proxy_duration(const char *name, const char *s, long long min_ms,
			  int *out, char *err, size_t errlen)
{
	long long ms;

	if (config_parse_duration(s, 24LL * 3600 * 1000, &ms) < 0 || ms < min_ms)
		return fail(err, errlen,
			    "%s: '%s' is not a duration %lldms..1d (like 500ms, 60s, 2m)",
			    name, s, min_ms);
	*out = (int)ms;
	return 0;
}

/* 0 would keep an idle connection for ever, which the upstream closes
 * on its own schedule anyway: at least a millisecond. */
int config_set_proxy_pool_timeout(struct config *c, const char *s, char *err,
				  size_t errlen)
{
	return proxy_duration("proxy_pool_timeout", s, 1,
			      &c->proxy_pool_timeout_ms, err, errlen);
}

int config_set_proxy_read_timeout(struct config *c, const char *s, char *err,
				  size_t errlen)
{
	return proxy_duration("proxy_read_timeout", s, 1,
			      &c->proxy_read_timeout_ms, err, errlen);
}

static int has_source_of(const struct config *c, int family)
{
	for (int i = 0; i < c->nproxy_sources; i++)
		if (c->proxy_sources[i].first.sa.sa_family == family)
			return 1;
	return 0;
}

int config_finish_proxy(const struct config *c, char *err, size_t errlen)
{
	char where[sizeof(c->config_file) + 16] = "";

	if (!config_is_proxy(c->protocol))
		return 0;
	if (c->nupstreams == 0)
		return fail(err, errlen,
			    "protocol %s needs at least one 'upstream ADDR:PORT'",
			    config_protocol_name(c->protocol));
	/* A check still running when the next is due would overlap it. */
	if (c->health_check != CFG_HEALTH_OFF &&
	    c->health_timeout_ms > c->health_interval_ms)
		return fail(err, errlen,
			    "health_timeout (%d ms) is longer than health_interval (%d ms)",
			    c->health_timeout_ms, c->health_interval_ms);
	if (c->nproxy_sources == 0)
		return 0;
	for (int i = 0; i < c->nupstreams; i++) {
		const struct cfg_upstream *u = &c->upstreams[i];
		char buf[ADDR_STRLEN];

		if (has_source_of(c, u->addr.u.sa.sa_family))
			continue;
		if (u->line > 0 && c->config_file[0])
			snprintf(where, sizeof(where),
				 "%s:%d: ", c->config_file, u->line);
		return fail(err, errlen,
			    "%supstream %s: no proxy_source of its address family",
			    where, addr_format(&u->addr.u.sa, buf, sizeof(buf)));
	}
	return 0;
}
