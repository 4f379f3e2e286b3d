/* proxyproto.c - the PROXY protocol header, versions 1 and 2
 * (proxyproto.h). The wire formats are those of HAProxy's
 * doc/proxy-protocol.txt: sections 2.1 (text) and 2.2 (binary). */
#include "autoconfig.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "proxyproto.h"

/* Both ends in one family the header can carry: AF_INET, AF_INET6, or
 * AF_UNSPEC (unknown). */
struct pp_ends {
	int family;
	unsigned char src[16], dst[16];
	uint16_t sport, dport; /* network order */
};

/* An address as it goes on the wire: 4 bytes for IPv4 (also for IPv4
 * mapped into IPv6), 16 for IPv6; 0 for anything else. */
static int pp_bytes(const struct sockaddr *sa, unsigned char *out, uint16_t *port)
{
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;

		memcpy(out, &in->sin_addr, 4);
		*port = in->sin_port;
		return 4;
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;

		*port = in6->sin6_port;
		if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) {
			memcpy(out, &in6->sin6_addr.s6_addr[12], 4);
			return 4;
		}
		memcpy(out, &in6->sin6_addr, 16);
		return 16;
	}
	return 0;
}

/* 4 bytes to ::ffff:a.b.c.d (16). */
static void pp_map(unsigned char *a)
{
	memmove(a + 12, a, 4);
	memset(a, 0, 10);
	a[10] = a[11] = 0xff;
}

/* The spec wants one family for both ends: an IPv4 end beside an IPv6
 * one is sent mapped. */
static void pp_ends(struct pp_ends *e, const struct sockaddr *src,
		    const struct sockaddr *dst)
{
	int ns = pp_bytes(src, e->src, &e->sport);
	int nd = pp_bytes(dst, e->dst, &e->dport);

	if (!ns || !nd) {
		e->family = AF_UNSPEC;
		return;
	}
	if (ns == 4 && nd == 4) {
		e->family = AF_INET;
		return;
	}
	if (ns == 4)
		pp_map(e->src);
	if (nd == 4)
		pp_map(e->dst);
	e->family = AF_INET6;
}

size_t pp_encode_v1(char *buf, const struct sockaddr *src,
		    const struct sockaddr *dst)
{
	char s[INET6_ADDRSTRLEN], d[INET6_ADDRSTRLEN];
	struct pp_ends e;
	int n;

	pp_ends(&e, src, dst);
	if (e.family == AF_UNSPEC) {
		memcpy(buf, "PROXY UNKNOWN\r\n", 15);
		return 15;
	}
	inet_ntop(e.family, e.src, s, sizeof(s));
	inet_ntop(e.family, e.dst, d, sizeof(d));
	n = snprintf(buf, PP_MAX, "PROXY %s %s %s %u %u\r\n",
		     e.family == AF_INET ? "TCP4" : "TCP6", s, d,
		     (unsigned)ntohs(e.sport), (unsigned)ntohs(e.dport));
	return (size_t)n;
}

size_t pp_encode_v2(unsigned char *buf, const struct sockaddr *src,
		    const struct sockaddr *dst)
{
	static const unsigned char sig[12] = { 0x0d, 0x0a, 0x0d, 0x0a,
					       0x00, 0x0d, 0x0a, 0x51,
					       0x55, 0x49, 0x54, 0x0a };
	struct pp_ends e;
	size_t alen;

	pp_ends(&e, src, dst);
	memcpy(buf, sig, sizeof(sig));
	buf[12] = 0x21; /* version 2, command PROXY */
	if (e.family == AF_UNSPEC) {
		buf[13] = 0x00; /* AF_UNSPEC, UNSPEC */
		buf[14] = buf[15] = 0;
		return 16;
	}
	alen = e.family == AF_INET ? 4 : 16;
	/* High nibble the family (1 AF_INET, 2 AF_INET6), low the
	 * transport (1 STREAM). */
	buf[13] = e.family == AF_INET ? 0x11 : 0x21;
	buf[14] = 0;
	buf[15] = (unsigned char)(2 * alen + 4); /* 12 or 36 */
	memcpy(buf + 16, e.src, alen);
	memcpy(buf + 16 + alen, e.dst, alen);
	memcpy(buf + 16 + 2 * alen, &e.sport, 2);
	memcpy(buf + 18 + 2 * alen, &e.dport, 2);
	return 16 + 2 * alen + 4;
}
