/* addr.c - listen addresses: parsing "ADDR:PORT" (IPv4, [IPv6], *, a bare
 * port) and printing endpoints as the stats documents show them. Pure:
 * no socket is opened here. */
#include "autoconfig.h"

#include <arpa/inet.h>
#include <errno.h>
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
