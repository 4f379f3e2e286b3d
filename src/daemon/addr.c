/* addr.c - listen addresses: parsing "ADDR:PORT" (IPv4, [IPv6], *, a bare
 * port), resolving "NAME:PORT", and printing endpoints as the stats
 * documents show them. No socket is opened here; only addr_resolve asks
 * the resolver. */
#include "autoconfig.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"

static int parse_port(const char *s, int *port)
{
	char *end;
	long v;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || v < 0 || v > 65535)
		return -1;
	*port = (int)v;
	return 0;
}

/* "[IPv6]:PORT": the address into out; the port's text in *port_s. */
static int addr_parse_v6(const char *s, struct addr *out, const char **port_s,
			 char *err, size_t errlen)
{
	char host[INET6_ADDRSTRLEN + 1];
	const char *close = strchr(s, ']');

	if (!close || close[1] != ':') {
		snprintf(err, errlen, "'%s': expected [IPv6]:PORT", s);
		return -1;
	}
	if ((size_t)(close - s - 1) >= sizeof(host)) {
		snprintf(err, errlen, "'%s': bad IPv6 address", s);
		return -1;
	}
	memcpy(host, s + 1, (size_t)(close - s - 1));
	host[close - s - 1] = '\0';
	*port_s = close + 2;
	out->u.in6.sin6_family = AF_INET6;
	out->len = sizeof(out->u.in6);
	if (inet_pton(AF_INET6, host, &out->u.in6.sin6_addr) != 1) {
		snprintf(err, errlen, "'%s': bad IPv6 address", s);
		return -1;
	}
	return 0;
}

/* "IPv4:PORT", "*:PORT" or a bare "PORT" (every IPv4 address). */
static int addr_parse_v4(const char *s, struct addr *out, const char **port_s,
			 char *err, size_t errlen)
{
	char host[INET6_ADDRSTRLEN + 1];
	const char *colon = strrchr(s, ':');

	out->u.in4.sin_family = AF_INET;
	out->len = sizeof(out->u.in4);
	out->u.in4.sin_addr.s_addr = htonl(INADDR_ANY);
	*port_s = colon ? colon + 1 : s;
	if (!colon)
		return 0;
	if (strchr(s, ':') != colon) {
		snprintf(err, errlen,
			 "'%s': write IPv6 addresses as [ADDR]:PORT", s);
		return -1;
	}
	if ((size_t)(colon - s) >= sizeof(host)) {
		snprintf(err, errlen, "'%s': bad IPv4 address", s);
		return -1;
	}
	memcpy(host, s, (size_t)(colon - s));
	host[colon - s] = '\0';
	if (strcmp(host, "*") != 0 &&
	    inet_pton(AF_INET, host, &out->u.in4.sin_addr) != 1) {
		snprintf(err, errlen, "'%s': bad IPv4 address", s);
		return -1;
	}
	return 0;
}

int addr_parse(const char *s, struct addr *out, char *err, size_t errlen)
{
	const char *port_s;
	int port;

	memset(out, 0, sizeof(*out));
	if ((s[0] == '[' ? addr_parse_v6 :
			   addr_parse_v4)(s, out, &port_s, err, errlen) < 0)
		return -1;
	if (parse_port(port_s, &port) < 0) {
		snprintf(err, errlen, "'%s': port must be 0..65535", s);
		return -1;
	}
	addr_set_port(out, port);
	return 0;
}

int addr_equal(const struct addr *a, const struct addr *b)
{
	return a->len == b->len && memcmp(&a->u, &b->u, a->len) == 0;
}

/* A host name as RFC 1123 allows it (letters, digits, '-' and '.', at
 * most 253 characters, starting with a letter or digit) with at least
 * one letter or '-': all digits and dots is a malformed IPv4 address. */
static int is_host_name(const char *h, size_t len)
{
	int word = 0;

	if (len == 0 || len > 254 || !isalnum((unsigned char)h[0]))
		return 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)h[i];

		if (!isalnum(ch) && ch != '-' && ch != '.')
			return 0;
		word |= isalpha(ch) || ch == '-';
	}
	return word;
}

#ifdef ADDR_NO_RESOLVE
static int addr_lookup(const char *s, const char *host, int port,
		       struct addr *out, int max, char *err, size_t errlen)
{
	(void)host, (void)port, (void)out, (void)max;
	snprintf(err, errlen, "'%s': host names are not resolved in this build",
		 s);
	return -1;
}
#else
/* getaddrinfo's TCP addresses for host, each once. */
static int addr_lookup(const char *s, const char *host, int port,
		       struct addr *out, int max, char *err, size_t errlen)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC,
				  .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_ADDRCONFIG };
	struct addrinfo *res = NULL;
	int r = getaddrinfo(host, NULL, &hints, &res), n = 0;

	if (r != 0) {
		snprintf(err, errlen, "'%s': cannot resolve '%s': %s", s, host,
			 r == EAI_SYSTEM ? strerror(errno) : gai_strerror(r));
		return -1;
	}
	for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
		struct addr a;
		int seen = 0;

		if ((ai->ai_family != AF_INET && ai->ai_family != AF_INET6) ||
		    ai->ai_addrlen > sizeof(a.u))
			continue;
		memset(&a, 0, sizeof(a));
		memcpy(&a.u, ai->ai_addr, ai->ai_addrlen);
		a.len = ai->ai_addrlen;
		addr_set_port(&a, port);
		for (int i = 0; i < n && !seen; i++)
			seen = addr_equal(&out[i], &a);
		if (seen)
			continue;
		if (n == max) {
			snprintf(err, errlen,
				 "'%s': '%s' stands for more than %d addresses",
				 s, host, max);
			n = -1;
			break;
		}
		out[n++] = a;
	}
	freeaddrinfo(res);
	if (n == 0)
		snprintf(err, errlen, "'%s': '%s' has no IPv4 or IPv6 address",
			 s, host);
	return n > 0 ? n : -1;
}
#endif

int addr_resolve(const char *s, struct addr *out, int max, char *err, size_t errlen)
{
	const char *colon = strrchr(s, ':');
	char host[256];
	size_t hlen;
	int port;

	if (max < 1) {
		snprintf(err, errlen, "'%s': no room for an address", s);
		return -1;
	}
	hlen = colon ? (size_t)(colon - s) : 0;
	/* Numbers, brackets, '*' and malformed addresses: addr_parse's. */
	if (s[0] == '[' || !colon || memchr(s, ':', hlen) ||
	    (hlen == 1 && s[0] == '*') || strspn(s, "0123456789.") >= hlen)
		return addr_parse(s, &out[0], err, errlen) < 0 ? -1 : 1;
	if (!is_host_name(s, hlen)) {
		snprintf(err, errlen,
			 "'%s': '%.*s' is not an IP address or a host name", s,
			 (int)(hlen > 64 ? 64 : hlen), s);
		return -1;
	}
	if (parse_port(colon + 1, &port) < 0) {
		snprintf(err, errlen, "'%s': port must be 0..65535", s);
		return -1;
	}
	memcpy(host, s, hlen);
	host[hlen] = '\0';
	return addr_lookup(s, host, port, out, max, err, errlen);
}

const char *addr_format_ip(const struct sockaddr *sa, char *buf, size_t len)
{
	const void *ip =
		sa->sa_family == AF_INET6 ?
			(const void *)&(
				(const struct sockaddr_in6 *)(const void *)sa)
				->sin6_addr :
			(const void *)&(
				(const struct sockaddr_in *)(const void *)sa)
				->sin_addr;

	if (sa->sa_family != AF_INET && sa->sa_family != AF_INET6) {
		snprintf(buf, len, "?");
		return buf;
	}
	if (!inet_ntop(sa->sa_family, ip, buf, (socklen_t)len))
		snprintf(buf, len, "?");
	return buf;
}

const char *addr_format(const struct sockaddr *sa, char *buf, size_t len)
{
	char ip[INET6_ADDRSTRLEN];

	addr_format_ip(sa, ip, sizeof(ip));
	if (sa->sa_family == AF_INET6)
		snprintf(buf, len, "[%s]:%d", ip, addr_port(sa));
	else
		snprintf(buf, len, "%s:%d", ip, addr_port(sa));
	return buf;
}

int addr_port(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET6)
		return ntohs(
			((const struct sockaddr_in6 *)(const void *)sa)->sin6_port);
	if (sa->sa_family == AF_INET)
		return ntohs(
			((const struct sockaddr_in *)(const void *)sa)->sin_port);
	return -1;
}

void addr_set_port(struct addr *a, int port)
{
	if (a->u.sa.sa_family == AF_INET6)
		a->u.in6.sin6_port = htons((uint16_t)port);
	else
		a->u.in4.sin_port = htons((uint16_t)port);
}

const char *addr_format_list(const struct addr *a, int n, char *buf, size_t len)
{
	char one[ADDR_STRLEN];
	size_t off = 0;

	buf[0] = '\0';
	for (int i = 0; i < n && off < len; i++)
		off += (size_t)snprintf(buf + off, len - off, "%s%s", i ? " " : "",
					addr_format(&a[i].u.sa, one, sizeof(one)));
	return buf;
}
