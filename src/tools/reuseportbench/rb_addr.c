/* rb_addr.c - target and source-range parsing (see rb_addr.h). */
#include "autoconfig.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reuseportbench/rb_addr.h"

static int parse_port(const char *s, uint16_t *port)
{
	char *end;
	unsigned long v;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v == 0 || v > 65535)
		return -1;
	*port = (uint16_t)v;
	return 0;
}

static void set_v4(struct rb_target *t, const struct in_addr *a, uint16_t port)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)&t->sa;

	memset(&t->sa, 0, sizeof(t->sa));
	sin->sin_family = AF_INET;
	sin->sin_addr = *a;
	sin->sin_port = htons(port);
	t->len = sizeof(*sin);
	t->family = AF_INET;
}

static void set_v6(struct rb_target *t, const struct in6_addr *a, uint16_t port)
{
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&t->sa;

	memset(&t->sa, 0, sizeof(t->sa));
	sin6->sin6_family = AF_INET6;
	sin6->sin6_addr = *a;
	sin6->sin6_port = htons(port);
	t->len = sizeof(*sin6);
	t->family = AF_INET6;
}

int rb_addr_parse_target(const char *s, struct rb_target *t, char *err,
			 size_t errlen)
{
	char host[INET6_ADDRSTRLEN + 2];
	const char *colon, *hs;
	size_t hlen;
	uint16_t port;
	struct in_addr a4;
	struct in6_addr a6;

	if (!s || !*s) {
		snprintf(err, errlen, "empty target (want HOST:PORT)");
		return -1;
	}
	colon = strrchr(s, ':');
	if (!colon) {
		/* A bare port: the local machine, the common case. */
		if (parse_port(s, &port) < 0)
			goto bad_port;
		a4.s_addr = htonl(INADDR_LOOPBACK);
		set_v4(t, &a4, port);
		goto done;
	}
	if (parse_port(colon + 1, &port) < 0)
		goto bad_port;
	hs = s;
	hlen = (size_t)(colon - s);
	if (hlen >= 2 && hs[0] == '[' && hs[hlen - 1] == ']') {
		hs++;
		hlen -= 2;
		if (hlen >= sizeof(host))
			goto bad_host;
		memcpy(host, hs, hlen);
		host[hlen] = '\0';
		if (inet_pton(AF_INET6, host, &a6) != 1)
			goto bad_host;
		set_v6(t, &a6, port);
		goto done;
	}
	if (hlen == 0 || hlen >= sizeof(host))
		goto bad_host;
	memcpy(host, hs, hlen);
	host[hlen] = '\0';
	if (strcmp(host, "localhost") == 0) {
		a4.s_addr = htonl(INADDR_LOOPBACK);
		set_v4(t, &a4, port);
	} else if (inet_pton(AF_INET, host, &a4) == 1) {
		set_v4(t, &a4, port);
	} else {
		goto bad_host;
	}
done:
	rb_addr_format((const struct sockaddr *)&t->sa, t->text, sizeof(t->text));
	return 0;
bad_port:
	snprintf(err, errlen, "bad port in '%s' (want 1-65535)", s);
	return -1;
bad_host:
	snprintf(err, errlen,
		 "bad host in '%s' (want an IPv4 address, [IPv6] or localhost)",
		 s);
	return -1;
}

static int parse_v4(const char *s, size_t len, uint32_t *out)
{
	char buf[INET_ADDRSTRLEN];
	struct in_addr a;

	if (len == 0 || len >= sizeof(buf))
		return -1;
	memcpy(buf, s, len);
	buf[len] = '\0';
	if (inet_pton(AF_INET, buf, &a) != 1)
		return -1;
	*out = ntohl(a.s_addr);
	return 0;
}

/* A source must be an address this host can own: not the wildcard, not
 * multicast/reserved (224/3), not limited broadcast. */
static int usable_source(uint32_t a)
{
	return a != 0 && (a >> 29) != 7u;
}

int rb_src_parse(const char *s, struct rb_sources *r, char *err, size_t errlen)
{
	const char *dash;
	uint32_t a, b;

	if (!s || !*s) {
		snprintf(err, errlen, "empty source range (want A-B)");
		return -1;
	}
	dash = strchr(s, '-');
	if (!dash) {
		if (parse_v4(s, strlen(s), &a) < 0)
			goto bad;
		b = a;
	} else {
		if (parse_v4(s, (size_t)(dash - s), &a) < 0 ||
		    parse_v4(dash + 1, strlen(dash + 1), &b) < 0)
			goto bad;
	}
	if (b < a) {
		snprintf(err, errlen, "source range '%s' runs backwards", s);
		return -1;
	}
	if (b - a >= RB_MAX_SOURCES) {
		snprintf(err, errlen,
			 "source range '%s' has %llu addresses (at most %u)", s,
			 (unsigned long long)b - a + 1, RB_MAX_SOURCES);
		return -1;
	}
	if (!usable_source(a) || !usable_source(b)) {
		snprintf(err, errlen,
			 "source range '%s' holds an address no host can bind",
			 s);
		return -1;
	}
	r->first = a;
	r->count = b - a + 1;
	return 0;
bad:
	snprintf(err, errlen,
		 "bad source range '%s' (want IPv4 A-B, e.g. 127.0.0.2-127.0.0.40)",
		 s);
	return -1;
}

void rb_src_sockaddr(const struct rb_sources *r, uint32_t idx,
		     struct sockaddr_in *out)
{
	memset(out, 0, sizeof(*out));
	out->sin_family = AF_INET;
	out->sin_addr.s_addr = htonl(r->first + idx);
	out->sin_port = 0;
}

void rb_src_text(const struct rb_sources *r, uint32_t idx, char *buf, size_t len)
{
	struct in_addr a;

	if (r->count == 0) {
		snprintf(buf, len, "auto");
		return;
	}
	a.s_addr = htonl(r->first + idx);
	if (!inet_ntop(AF_INET, &a, buf, (socklen_t)len))
		snprintf(buf, len, "?");
}

int rb_addr_is_loopback(const struct rb_target *t)
{
	const struct sockaddr_in *sin;
	const struct sockaddr_in6 *sin6;

	if (t->family == AF_INET) {
		sin = (const struct sockaddr_in *)&t->sa;
		return (ntohl(sin->sin_addr.s_addr) >> 24) == 127;
	}
	if (t->family == AF_INET6) {
		sin6 = (const struct sockaddr_in6 *)&t->sa;
		if (IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr))
			return 1;
		return IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr) &&
		       sin6->sin6_addr.s6_addr[12] == 127;
	}
	return 0;
}

const char *rb_addr_format(const struct sockaddr *sa, char *buf, size_t len)
{
	char host[INET6_ADDRSTRLEN];
	const struct sockaddr_in *sin;
	const struct sockaddr_in6 *sin6;

	if (sa->sa_family == AF_INET) {
		sin = (const struct sockaddr_in *)sa;
		inet_ntop(AF_INET, &sin->sin_addr, host, sizeof(host));
		snprintf(buf, len, "%s:%u", host, ntohs(sin->sin_port));
	} else if (sa->sa_family == AF_INET6) {
		sin6 = (const struct sockaddr_in6 *)sa;
		inet_ntop(AF_INET6, &sin6->sin6_addr, host, sizeof(host));
		snprintf(buf, len, "[%s]:%u", host, ntohs(sin6->sin6_port));
	} else {
		snprintf(buf, len, "?");
	}
	return buf;
}
