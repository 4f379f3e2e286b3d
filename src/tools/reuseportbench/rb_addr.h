/* rb_addr.h - the target address and the range of source addresses that
 * connections are spread over. Parsing only: no DNS, no sockets. Prefix
 * rb_addr_ / rb_src_. */
#ifndef RB_ADDR_H
#define RB_ADDR_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* The most source addresses one run spreads over: 1024 addresses of ~28K
 * ephemeral ports each is far beyond what one machine can hold open. */
#define RB_MAX_SOURCES 1024u

/* "1.2.3.4:65535" or "[ffff:...:ffff]:65535" */
#define RB_ADDR_TEXT 64

struct rb_target {
	struct sockaddr_storage sa;
	socklen_t len;
	int family;
	char text[RB_ADDR_TEXT];
};

/* IPv4 only: a range of consecutive addresses, first..first+count-1
 * (host byte order). count 0 means no --source: the kernel picks. */
struct rb_sources {
	uint32_t first;
	uint32_t count;
};

/* "HOST:PORT" with HOST an IPv4 literal, "[IPv6]" or "localhost", or a bare
 * "PORT" meaning 127.0.0.1. Port 1..65535. Returns 0, or -1 with a reason
 * in err. */
int rb_addr_parse_target(const char *s, struct rb_target *t, char *err,
			 size_t errlen);

/* "A-B" (A <= B) or a single "A", IPv4 literals, at most RB_MAX_SOURCES
 * addresses; none may be 0.0.0.0 or a broadcast/multicast address. */
int rb_src_parse(const char *s, struct rb_sources *r, char *err, size_t errlen);

/* The source for connection number i: round-robin over the range, so
 * connections i, i+count, ... share an address and every address gets
 * the same share within one. */
static inline uint32_t rb_src_index(const struct rb_sources *r, uint64_t i)
{
	return r->count ? (uint32_t)(i % r->count) : 0;
}

void rb_src_sockaddr(const struct rb_sources *r, uint32_t idx,
		     struct sockaddr_in *out);
/* The address text, or "auto" without --source. */
void rb_src_text(const struct rb_sources *r, uint32_t idx, char *buf, size_t len);

/* 127.0.0.0/8 or ::1 (or ::ffff:127.x.y.z). */
int rb_addr_is_loopback(const struct rb_target *t);

/* "a.b.c.d:port" or "[v6]:port"; "?" for other families. */
const char *rb_addr_format(const struct sockaddr *sa, char *buf, size_t len);

#endif
