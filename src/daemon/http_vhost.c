/* http_vhost.c - a worker's virtual hosts: their document roots, opened
 * once when the worker starts (like the default one, proto_http.c), and
 * an open-addressing hash of their names, so that finding a request's
 * vhost costs a hash or a few, whatever the number of vhosts. It parses
 * no request and serves no file. */
#include "autoconfig.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "http_vhost.h"
#include "stats.h"

/* A name in the table: an exact one, or the SUFFIX of "*.SUFFIX". */
struct vh_entry {
	const char *key; /* lower case, in the config; NULL: an empty place */
	uint32_t len;
	uint8_t wild;
	struct http_vhost vh;
};

struct http_vhosts {
	unsigned mask; /* places - 1, a power of two less one */
	int n;
	struct vh_entry tab[];
};

static unsigned char lower(unsigned char c)
{
	return c >= 'A' && c <= 'Z' ? (unsigned char)(c | 0x20) : c;
}

/* FNV-1a over the lower-cased bytes; wild keeps "*.a" and "a" apart. */
static uint32_t vh_hash(const char *s, size_t n, int wild)
{
	uint32_t h = 2166136261u ^ (uint32_t)wild;

	for (size_t i = 0; i < n; i++) {
		h ^= lower((unsigned char)s[i]);
		h *= 16777619u;
	}
	return h;
}

static const struct vh_entry *vh_lookup(const struct http_vhosts *vh,
					const char *s, size_t n, int wild)
{
	unsigned k = vh_hash(s, n, wild) & vh->mask;

	for (; vh->tab[k].key; k = (k + 1) & vh->mask) {
		const struct vh_entry *e = &vh->tab[k];
		size_t i = 0;

		if (e->wild != wild || e->len != n)
			continue;
		while (i < n &&
		       lower((unsigned char)s[i]) == (unsigned char)e->key[i])
			i++;
		if (i == n)
			return e;
	}
	return NULL;
}

const struct http_vhost *http_vhosts_find(const struct http_vhosts *vh,
					  const char *host, size_t len)
{
	const struct vh_entry *e = vh_lookup(vh, host, len, 0);

	/* Suffixes after each dot, longest first: the longest wildcard
	 * wins. A dot in front names no subdomain. */
	for (size_t i = 1; !e && i + 1 < len; i++)
		if (host[i] == '.')
			e = vh_lookup(vh, host + i + 1, len - i - 1, 1);
	return e ? &e->vh : NULL;
}

void http_vhosts_close(struct http_vhosts *vh)
{
	if (!vh)
		return;
	for (unsigned k = 0; k <= vh->mask; k++)
		if (vh->tab[k].key)
			close(vh->tab[k].vh.fd);
	free(vh);
}

static void vh_insert(struct http_vhosts *vh, const struct cfg_vhost *v, int fd,
		      unsigned slot)
{
	int wild = v->name[0] == '*';
	const char *key = v->name + (wild ? 2 : 0);
	size_t n = strlen(key);
	unsigned k = vh_hash(key, n, wild) & vh->mask;

	while (vh->tab[k].key)
		k = (k + 1) & vh->mask;
	vh->tab[k] = (struct vh_entry){ .key = key,
					.len = (uint32_t)n,
					.wild = (uint8_t)wild,
					.vh = { .fd = fd, .slot = slot } };
}

int http_vhosts_open(const struct config *cfg, struct http_vhosts **out,
		     char *err, size_t errlen)
{
	struct http_vhosts *vh;
	unsigned places = 4;

	*out = NULL;
	if (cfg->nvhosts == 0)
		return 0;
	while (places < 2u * (unsigned)cfg->nvhosts)
		places *= 2;
	vh = calloc(1, sizeof(*vh) + places * sizeof(vh->tab[0]));
	if (!vh) {
		snprintf(err, errlen, "vhosts: %s", strerror(errno));
		return -1;
	}
	vh->mask = places - 1;
	for (int i = 0; i < cfg->nvhosts; i++) {
		const struct cfg_vhost *v = &cfg->vhosts[i];
		const char *root = config_vhost_docroot(cfg, i);
		int fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		unsigned slot = v->stat_slot >= 0 ? (unsigned)v->stat_slot :
				i < STATS_NVHOSTS ? (unsigned)i :
						    STATS_VHOST_OTHER;

		if (fd < 0) {
			int e = errno;

			if (v->line > 0 && cfg->config_file[0])
				snprintf(err, errlen,
					 "%s:%d: ", cfg->config_file, v->line);
			else if (errlen > 0)
				err[0] = '\0';
			snprintf(err + strlen(err), errlen - strlen(err),
				 "vhost %s: docroot %s: %s", v->name, root,
				 strerror(e));
			http_vhosts_close(vh);
			return -1;
		}
		vh_insert(vh, v, fd, slot);
		vh->n++;
	}
	*out = vh;
	return 0;
}
