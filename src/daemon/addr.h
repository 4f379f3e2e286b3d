/* addr.h - listen addresses: parsing "ADDR:PORT" and printing endpoints. */
#ifndef RP_ADDR_H
#define RP_ADDR_H

#include <netinet/in.h>
#include <stddef.h>
#include <sys/socket.h>

/* "[ffff:...:ffff]:65535" plus NUL */
#define ADDR_STRLEN (INET6_ADDRSTRLEN + 9)

union addr_sa {
	struct sockaddr sa;
	struct sockaddr_in in4;
	struct sockaddr_in6 in6;
};

struct addr {
	union addr_sa u;
	socklen_t len;
};

/* Accepts "IPv4:PORT", "[IPv6]:PORT", "*:PORT" and a bare "PORT" (all
 * IPv4 addresses, like nginx). Returns 0, or -1 with a reason in err.
 * Pure: a name is refused ("bad IPv4 address"), never looked up. */
int addr_parse(const char *s, struct addr *out, char *err, size_t errlen);
/* What addr_parse accepts, and "NAME:PORT": the name resolved with
 * getaddrinfo(3) (AF_UNSPEC, AI_ADDRCONFIG: an address family the host
 * has no address of is left out, as nginx does), each address it
 * stands for once, in the resolver's order. Fills out[0..max-1];
 * returns how many (1 for a numeric address), or -1 with a reason in
 * err: a bad name or port (no lookup then), a name that does not
 * resolve, or more than max addresses. The one function here that may
 * ask the resolver (files, DNS): it can block. Built with
 * ADDR_NO_RESOLVE (the fuzzer), a name is refused instead. */
int addr_resolve(const char *s, struct addr *out, int max, char *err,
		 size_t errlen);
/* 1 if a and b are the same address and port (as addr_parse and
 * addr_resolve fill them: the rest zeroed), else 0. */
int addr_equal(const struct addr *a, const struct addr *b);
/* "IP:PORT" or "[IP]:PORT" into buf (ADDR_STRLEN bytes); returns buf. */
const char *addr_format(const struct sockaddr *sa, char *buf, size_t len);
/* "A B C": each of a[0..n-1] as addr_format writes it, cut at len. */
const char *addr_format_list(const struct addr *a, int n, char *buf, size_t len);
/* Only the IP part, without brackets. */
const char *addr_format_ip(const struct sockaddr *sa, char *buf, size_t len);
int addr_port(const struct sockaddr *sa);
void addr_set_port(struct addr *a, int port);

#endif
