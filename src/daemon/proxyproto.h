/* proxyproto.h - the PROXY protocol header a proxy sends to its server
 * before any byte of the client's, so that the server learns the
 * client's address (HAProxy's "PROXY protocol" spec, versions 1 and 2;
 * HAProxy's send-proxy and send-proxy-v2). Prefix pp_. Pure encoders:
 * addresses in, bytes out; no I/O, no allocation. */
#ifndef RP_PROXYPROTO_H
#define RP_PROXYPROTO_H

#include <stddef.h>
#include <sys/socket.h>

/* Room for either header: v1 is at most 107 bytes (the spec's bound,
 * "PROXY TCP6" with two full IPv6 addresses and ports, CRLF); v2 with
 * IPv6 addresses 16 + 36 = 52. */
#define PP_MAX 108

/* The v1 (text) header for a connection from src (the client) to dst
 * (the address it connected to), in buf (PP_MAX bytes, not
 * NUL-terminated): "PROXY TCP4 1.2.3.4 5.6.7.8 1234 80\r\n". An IPv4
 * address mapped into IPv6 (a dual-stack listener's) is sent as IPv4
 * when both are; other families give "PROXY UNKNOWN\r\n". Returns its
 * length. */
size_t pp_encode_v1(char *buf, const struct sockaddr *src,
		    const struct sockaddr *dst);
/* The v2 (binary) header for the same, in buf (PP_MAX bytes): the
 * 12-byte signature, version 2 and the PROXY command, AF_INET or
 * AF_INET6 over STREAM, the length, the addresses, the ports. Other
 * families: AF_UNSPEC with no address (the server then uses the
 * connection's own). Returns its length. */
size_t pp_encode_v2(unsigned char *buf, const struct sockaddr *src,
		    const struct sockaddr *dst);

#endif
