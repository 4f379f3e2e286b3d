/* config.c - the daemon's settings. */
#include "autoconfig.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"

void config_defaults(struct config *c)
{
	memset(c, 0, sizeof(*c));
	c->protocol = CFG_PROTO_ECHO;
	snprintf(c->stats_socket, sizeof(c->stats_socket), "%s",
		 CFG_DEFAULT_STATS_SOCKET);
	c->stats_socket_mode = 0660;
	c->log_level = 2; /* LOG_LVL_INFO */
	c->stats_timeout_ms = 1000;
	c->header_timeout_ms = 10000;
	c->keepalive_timeout_ms = 75000;
	c->send_timeout_ms = 60000;
	c->shutdown_timeout_ms = 10000;
	c->watchdog_timeout_ms = 10000;
	c->return_status = 200;
	c->http_max_request_line = 8192;
	c->http_max_header_bytes = 16384;
	c->http_max_headers = 64;
	c->http_max_body = 1024 * 1024;
	c->log = CFG_LOG_STDERR;
}

int config_add_listen(struct config *c, const char *s, char *err,
		      size_t errlen)
{
	if (c->nlisten == CFG_MAX_LISTEN) {
		snprintf(err, errlen, "at most %d listen addresses",
			 CFG_MAX_LISTEN);
		return -1;
	}
	if (addr_parse(s, &c->listen[c->nlisten], err, errlen) < 0)
		return -1;
	c->nlisten++;
	return 0;
}

int config_set_workers(struct config *c, const char *s, char *err,
		       size_t errlen)
{
	char *end;
	long v;

	if (strcmp(s, "auto") == 0) {
		c->workers = 0;
		return 0;
	}
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < 1 || v > CFG_MAX_WORKERS) {
		snprintf(err, errlen,
			 "workers: '%s' is not 'auto' or a number 1..%d", s,
			 CFG_MAX_WORKERS);
		return -1;
	}
	c->workers = (int)v;
	return 0;
}

int config_set_protocol(struct config *c, const char *s, char *err,
			size_t errlen)
{
	if (strcmp(s, "echo") == 0)
		c->protocol = CFG_PROTO_ECHO;
	else if (strcmp(s, "http") == 0)
		c->protocol = CFG_PROTO_HTTP;
	else {
		snprintf(err, errlen, "protocol: '%s' is not echo or http", s);
		return -1;
	}
	return 0;
}

int config_set_stats_socket(struct config *c, const char *s, char *err,
			    size_t errlen)
{
	if (*s == '\0' || strlen(s) >= sizeof(c->stats_socket)) {
		snprintf(err, errlen,
			 "stats socket: path must be 1..%zu bytes long",
			 sizeof(c->stats_socket) - 1);
		return -1;
	}
	snprintf(c->stats_socket, sizeof(c->stats_socket), "%s", s);
	return 0;
}

int config_finish(struct config *c, char *err, size_t errlen)
{
	if (c->nlisten == 0 &&
	    config_add_listen(c, CFG_DEFAULT_LISTEN, err, errlen) < 0)
		return -1;
	if (c->workers == 0) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);

		c->workers = n < 1 ? 1 : n > CFG_MAX_WORKERS ? CFG_MAX_WORKERS : (int)n;
	}
	/* A detached daemon changes its directory to "/", so a relative path
	 * is made absolute now, while it still means what the user meant. */
	if (c->stats_socket[0] != '/') {
		char cwd[PATH_MAX], abs[PATH_MAX + sizeof(c->stats_socket) + 1];

		if (!getcwd(cwd, sizeof(cwd))) {
			snprintf(err, errlen, "getcwd: %s", strerror(errno));
			return -1;
		}
		snprintf(abs, sizeof(abs), "%s/%s", cwd, c->stats_socket);
		if (strlen(abs) < sizeof(c->stats_socket))
			memcpy(c->stats_socket, abs, strlen(abs) + 1);
		else if (!c->foreground) {
			snprintf(err, errlen,
				 "stats socket: '%s' is too long once made absolute; give a shorter path",
				 abs);
			return -1;
		}
	}
	return 0;
}

const char *config_protocol_name(enum cfg_protocol p)
{
	return p == CFG_PROTO_HTTP ? "http" : "echo";
}
