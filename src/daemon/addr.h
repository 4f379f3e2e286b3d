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
 * IPv4 addresses, like nginx). Returns 0, or -1 with a reason in err. */
int addr_parse(const char *s, struct addr *out, char *err, size_t errlen);
/* "IP:PORT" or "[IP]:PORT" into buf (ADDR_STRLEN bytes); returns buf. */
const char *addr_format(const struct sockaddr *sa, char *buf, size_t len);
/* Only the IP part, without brackets. */
const char *addr_format_ip(const struct sockaddr *sa, char *buf, size_t len);
int addr_port(const struct sockaddr *sa);
void addr_set_port(struct addr *a, int port);

#endif
