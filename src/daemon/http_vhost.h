/* http_vhost.h - a worker's virtual hosts: each vhost's document root
 * held open, and the host of a request mapped to one of them. */
#ifndef RP_HTTP_VHOST_H
#define RP_HTTP_VHOST_H

#include <stddef.h>

struct config;

struct http_vhost {
	int fd;        /* its document root, O_DIRECTORY */
	unsigned slot; /* its request counter (stats.h, vhost_requests) */
};

struct http_vhosts;

/* Opens the docroot of every vhost of cfg, which must outlive the table.
 * 0 with *out NULL when there is none, 0 with the table, or -1 with
 * "FILE:LINE: vhost NAME: docroot DIR: why" in err. */
int http_vhosts_open(const struct config *cfg, struct http_vhosts **out,
		     char *err, size_t errlen);
void http_vhosts_close(struct http_vhosts *vh);

/* The vhost for host[0..len) (ASCII case ignored; no port, no final
 * dot): the one of that exact name, else the wildcard "*.SUFFIX" with the
 * longest SUFFIX the host ends in after a dot; NULL if none. Cost: a
 * hash of the host per suffix, no allocation, no system call. */
const struct http_vhost *http_vhosts_find(const struct http_vhosts *vh,
					  const char *host, size_t len);

#endif
