/* config.c - the daemon's settings: defaults, one validating setter per
 * directive, and the finishing step that fills in what was left to the
 * machine. The config file (cfgfile.c) and the command line (cli.c) both
 * set directives by name through config_set(), so that a setting means
 * the same thing, with the same error, wherever it is written. */
#include "autoconfig.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "mime.h"
#include "util.h"

#define DAY_MS (24LL * 3600 * 1000)

void config_defaults(struct config *c)
{
	memset(c, 0, sizeof(*c));
	c->protocol = CFG_PROTO_ECHO;
	snprintf(c->stats_socket, sizeof(c->stats_socket), "%s",
		 CFG_DEFAULT_STATS_SOCKET);
	c->stats_socket_mode = 0660;
	c->log_level = LOG_LVL_INFO;
	c->stats_timeout_ms = 1000;
	c->header_timeout_ms = 10000;
	c->keepalive_timeout_ms = 75000;
	c->send_timeout_ms = 60000;
	c->shutdown_timeout_ms = 10000;
	c->handover = 1;
	c->watchdog_timeout_ms = 10000;
	c->return_status = 200;
	c->http_max_request_line = 8192;
	c->http_max_header_bytes = 16384;
	c->http_max_headers = 64;
	c->http_max_body = 1024 * 1024;
	snprintf(c->mime_types, sizeof(c->mime_types), "/etc/mime.types");
	snprintf(c->default_type, sizeof(c->default_type),
		 "application/octet-stream");
	snprintf(c->charset, sizeof(c->charset), "utf-8");
	c->open_file_cache = CFG_OPEN_FILE_CACHE;
	c->open_file_cache_valid_ms = 1000;
	c->open_file_cache_inactive_ms = 20000;
	c->open_file_cache_content = 1024 * 1024;
	c->log = CFG_LOG_STDERR;
	c->defer_accept_s = -1;
	c->proxy_connect_timeout_ms = 5000;
	c->proxy_idle_timeout_ms = 600000;
	c->proxy_buffer = 16384;
	c->proxy_pool = 32;
	c->proxy_pool_timeout_ms = 60000;
	c->proxy_read_timeout_ms = 60000;
	c->health_interval_ms = 5000;
	c->health_timeout_ms = 2000;
	c->health_rise = 2;
	c->health_fall = 3;
}

/* config_proxy.c's messages are written the same way. */
#define fail config_fail

int config_fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

/* A decimal integer in [min, max], nothing else. */
static int parse_long(const char *s, long min, long max, long *out)
{
	char *end;
	long v;

	if (!isdigit((unsigned char)s[0]) && s[0] != '-')
		return -1;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

static int copy_str(char *dst, size_t size, const char *name, const char *s,
		    char *err, size_t errlen)
{
	if (*s == '\0' || strlen(s) >= size)
		return fail(err, errlen, "%s: must be 1..%zu bytes long", name,
			    size - 1);
	memcpy(dst, s, strlen(s) + 1);
	return 0;
}

/* on/off and the usual spellings of them. */
static int parse_flag(const char *name, const char *s, int *out, char *err,
		      size_t errlen)
{
	if (!strcmp(s, "on") || !strcmp(s, "yes") || !strcmp(s, "true"))
		*out = 1;
	else if (!strcmp(s, "off") || !strcmp(s, "no") || !strcmp(s, "false"))
		*out = 0;
	else
		return fail(err, errlen, "%s: '%s' is not on or off", name, s);
	return 0;
}

int config_parse_duration(const char *s, long long max_ms, long long *ms)
{
	long long total = 0;
	const char *p = s;

	if (!isdigit((unsigned char)*p))
		return -1;
	while (*p) {
		long long v = 0, unit;

		if (!isdigit((unsigned char)*p))
			return -1;
		while (isdigit((unsigned char)*p)) {
			v = v * 10 + (*p++ - '0');
			if (v > max_ms)
				return -1;
		}
		if (!strncmp(p, "ms", 2)) {
			unit = 1;
			p += 2;
		} else if (*p == 's') {
			unit = 1000;
			p++;
		} else if (*p == 'm') {
			unit = 60 * 1000;
			p++;
		} else if (*p == 'h') {
			unit = 3600 * 1000;
			p++;
		} else if (*p == '\0' && p - s > 0 && total == 0 &&
			   strspn(s, "0123456789") == strlen(s)) {
			unit = 1000; /* a bare number: seconds, as nginx */
		} else {
			return -1;
		}
		if (v > (max_ms - total) / unit)
			return -1;
		total += v * unit;
	}
	*ms = total;
	return 0;
}

int config_parse_size(const char *s, unsigned long long *bytes)
{
	unsigned long long v = 0, unit = 1;
	const char *p = s;

	if (!isdigit((unsigned char)*p))
		return -1;
	while (isdigit((unsigned char)*p)) {
		if (v > (ULLONG_MAX - 9) / 10)
			return -1;
		v = v * 10 + (unsigned)(*p++ - '0');
	}
	switch (tolower((unsigned char)*p)) {
	case '\0':
		break;
	case 'k':
		unit = 1ULL << 10;
		break;
	case 'm':
		unit = 1ULL << 20;
		break;
	case 'g':
		unit = 1ULL << 30;
		break;
	default:
		return -1;
	}
	if (*p && p[1])
		return -1;
	if (v > ULLONG_MAX / unit)
		return -1;
	*bytes = v * unit;
	return 0;
}

/* --- the public setters kept from before the config file --- */

/* The addresses s stands for, added after checking that none is there
 * already. what prefixes the reasons that are about s itself. */
static int add_listen(struct config *c, const char *s, const char *what,
		      char *err, size_t errlen)
{
	struct addr a[CFG_MAX_LISTEN];
	char why[512], buf[ADDR_STRLEN];
	int n;

	if (c->nlisten == CFG_MAX_LISTEN)
		return fail(err, errlen, "%sat most %d listen addresses", what,
			    CFG_MAX_LISTEN);
	n = addr_resolve(s, a, CFG_MAX_LISTEN, why, sizeof(why));
	if (n < 0)
		return fail(err, errlen, "%s%s", what, why);
	for (int i = 0; i < n; i++)
		for (int j = 0; j < c->nlisten; j++) {
			if (!addr_equal(&a[i], &c->listen[j]))
				continue;
			addr_format(&a[i].u.sa, buf, sizeof(buf));
			if (c->listen_line[j] > 0)
				return fail(err, errlen,
					    "duplicate listen address %s (first at line %d)",
					    buf, c->listen_line[j]);
			return fail(err, errlen,
				    "duplicate listen address %s (given twice on the command line)",
				    buf);
		}
	if (c->nlisten + n > CFG_MAX_LISTEN)
		return fail(err, errlen, "%sat most %d listen addresses", what,
			    CFG_MAX_LISTEN);
	for (int i = 0; i < n; i++) {
		c->listen_line[c->nlisten] = 0;
		c->listen[c->nlisten++] = a[i];
	}
	return 0;
}

int config_add_listen(struct config *c, const char *s, char *err, size_t errlen)
{
	return add_listen(c, s, "", err, errlen);
}

void config_clear_listen(struct config *c)
{
	memset(c->listen, 0, sizeof(c->listen));
	memset(c->listen_line, 0, sizeof(c->listen_line));
	c->nlisten = 0;
}

int config_set_workers(struct config *c, const char *s, char *err, size_t errlen)
{
	long v;

	if (strcmp(s, "auto") == 0) {
		c->workers = 0;
		return 0;
	}
	if (parse_long(s, 1, CFG_MAX_WORKERS, &v) < 0)
		return fail(err, errlen,
			    "workers: '%s' is not 'auto' or a number 1..%d", s,
			    CFG_MAX_WORKERS);
	c->workers = (int)v;
	return 0;
}

int config_set_protocol(struct config *c, const char *s, char *err, size_t errlen)
{
	if (strcmp(s, "echo") == 0)
		c->protocol = CFG_PROTO_ECHO;
	else if (strcmp(s, "http") == 0)
		c->protocol = CFG_PROTO_HTTP;
	else if (strcmp(s, "tcp_proxy") == 0)
		c->protocol = CFG_PROTO_TCP_PROXY;
	else if (strcmp(s, "http_proxy") == 0)
		c->protocol = CFG_PROTO_HTTP_PROXY;
	else
		return fail(err, errlen,
			    "protocol: '%s' is not echo, http, tcp_proxy or http_proxy",
			    s);
	return 0;
}

int config_set_stats_socket(struct config *c, const char *s, char *err,
			    size_t errlen)
{
	return copy_str(c->stats_socket, sizeof(c->stats_socket),
			"stats_socket", s, err, errlen);
}

/* --- the other directives --- */

static int set_listen(struct config *c, const char *s, char *err, size_t errlen)
{
	return add_listen(c, s, "listen: ", err, errlen);
}

static int set_docroot(struct config *c, const char *s, char *err, size_t errlen)
{
	return copy_str(c->docroot, sizeof(c->docroot), "docroot", s, err, errlen);
}

/* A host name (labels of letters, digits, '-' and '_', 1 to 63 bytes
 * each), "*." and one, or an IPv6 literal in brackets; lower-cased into
 * out (CFG_VHOST_NAME_MAX + 1 bytes), one final dot dropped. 0 or -1. */
static int vhost_name(const char *s, size_t n, char *out)
{
	size_t i = 0, label = 0;

	if (n > 0 && s[n - 1] == '.')
		n--;
	if (n == 0 || n > CFG_VHOST_NAME_MAX)
		return -1;
	if (s[0] == '[') {
		if (n < 3 || s[n - 1] != ']' ||
		    strspn(s + 1, "0123456789abcdefABCDEF:.") != n - 2)
			return -1;
	} else {
		if (n > 2 && s[0] == '*' && s[1] == '.')
			i = 2;
		for (; i < n; i++) {
			if (s[i] == '.' && label > 0) {
				label = 0;
				continue;
			}
			if (!isalnum((unsigned char)s[i]) && s[i] != '-' &&
			    s[i] != '_')
				return -1;
			if (++label > 63)
				return -1;
		}
		if (label == 0)
			return -1;
	}
	for (i = 0; i < n; i++)
		out[i] = (char)tolower((unsigned char)s[i]);
	out[n] = '\0';
	return 0;
}

const char *config_vhost_docroot(const struct config *c, int i)
{
	return c->vhost_paths + c->vhosts[i].root;
}

/* The vhost tables of the configurations parsed here, each made for
 * one by its first vhost line; only the pages used are touched. */
struct vhost_store {
	struct vhost_store *next;
	struct cfg_vhost *vhosts;
	char *paths;
};

static struct vhost_store *vhost_stores;

static int vhosts_alloc(struct config *c)
{
	struct vhost_store *st = malloc(sizeof(*st));

	if (!st)
		return -1;
	st->vhosts = malloc(CFG_MAX_VHOSTS * sizeof(*st->vhosts));
	st->paths = malloc(CFG_VHOST_PATHS);
	if (!st->vhosts || !st->paths) {
		free(st->vhosts);
		free(st->paths);
		free(st);
		return -1;
	}
	st->next = vhost_stores;
	vhost_stores = st;
	c->vhosts = st->vhosts;
	c->vhost_paths = st->paths;
	return 0;
}

void config_vhosts_keep(const struct config *a, const struct config *b)
{
	struct vhost_store **pp = &vhost_stores, *st;

	while ((st = *pp)) {
		if ((a && st->vhosts == a->vhosts) ||
		    (b && st->vhosts == b->vhosts)) {
			pp = &st->next;
			continue;
		}
		*pp = st->next;
		free(st->vhosts);
		free(st->paths);
		free(st);
	}
}

/* "NAME DOCROOT" (the config file joins the two words with a blank). */
static int set_vhost(struct config *c, const char *s, char *err, size_t errlen)
{
	size_t n = strcspn(s, " ");
	const char *root = s[n] ? s + n + 1 : "";
	struct cfg_vhost *v;
	size_t rl = strlen(root);

	if (!c->vhosts && vhosts_alloc(c) < 0)
		return fail(err, errlen, "vhost: out of memory");
	v = &c->vhosts[c->nvhosts];
	if (!*root)
		return fail(err, errlen,
			    "vhost: '%s' needs a NAME and a DOCROOT", s);
	if (c->nvhosts == CFG_MAX_VHOSTS)
		return fail(err, errlen, "vhost: at most %d vhosts",
			    CFG_MAX_VHOSTS);
	if (vhost_name(s, n, v->name) < 0)
		return fail(err, errlen,
			    "vhost: '%.*s' is not a host name (like example.org, *.example.org or [::1])",
			    (int)n, s);
	for (int i = 0; i < c->nvhosts; i++) {
		if (strcmp(c->vhosts[i].name, v->name))
			continue;
		if (c->vhosts[i].line > 0)
			return fail(err, errlen,
				    "vhost: duplicate '%s' (first at line %d)",
				    v->name, c->vhosts[i].line);
		return fail(err, errlen, "vhost: duplicate '%s'", v->name);
	}
	if (rl >= PATH_MAX || rl + 1 > CFG_VHOST_PATHS - c->vhost_paths_len)
		return fail(err, errlen,
			    "vhost: docroot '%s' is too long, or the vhosts' docroots exceed %d bytes together",
			    root, CFG_VHOST_PATHS);
	v->root = c->vhost_paths_len;
	memcpy(c->vhost_paths + v->root, root, rl + 1);
	c->vhost_paths_len += (unsigned)rl + 1;
	v->line = 0;
	v->stat_slot = -1;
	c->nvhosts++;
	return 0;
}

/* "STATUS [TEXT]": the fixed answer; for a redirect (3xx) TEXT is the
 * Location. */
static int set_return(struct config *c, const char *s, char *err, size_t errlen)
{
	char code[8];
	size_t n = strcspn(s, " ");
	const char *text = s[n] ? s + n + 1 : "";
	long st;

	if (n == 0 || n >= sizeof(code))
		return fail(err, errlen, "return: '%s' is not STATUS [TEXT]", s);
	memcpy(code, s, n);
	code[n] = '\0';
	if (parse_long(code, 200, 599, &st) < 0)
		return fail(err, errlen,
			    "return: status '%s' is not a number 200..599", code);
	if (strlen(text) >= sizeof(c->return_body))
		return fail(err, errlen,
			    "return: the text is longer than %zu bytes",
			    sizeof(c->return_body) - 1);
	if (st >= 300 && st < 400 && st != 304 && *text == '\0')
		return fail(err, errlen, "return: a %ld redirect needs a URL", st);
	c->return_status = (int)st;
	memcpy(c->return_body, text, strlen(text) + 1);
	c->has_return = 1;
	return 0;
}

static int set_stats_socket_mode(struct config *c, const char *s, char *err,
				 size_t errlen)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 8);
	if (!isdigit((unsigned char)*s) || errno || *end || v > 0777)
		return fail(err, errlen,
			    "stats_socket_mode: '%s' is not an octal mode 0000..0777",
			    s);
	c->stats_socket_mode = (unsigned)v;
	return 0;
}

static int set_stats_socket_group(struct config *c, const char *s, char *err,
				  size_t errlen)
{
	return copy_str(c->stats_socket_group, sizeof(c->stats_socket_group),
			"stats_socket_group", s, err, errlen);
}

static int set_pidfile(struct config *c, const char *s, char *err, size_t errlen)
{
	return copy_str(c->pidfile, sizeof(c->pidfile), "pidfile", s, err, errlen);
}

static int set_user(struct config *c, const char *s, char *err, size_t errlen)
{
	return copy_str(c->user, sizeof(c->user), "user", s, err, errlen);
}

static int set_group(struct config *c, const char *s, char *err, size_t errlen)
{
	return copy_str(c->group, sizeof(c->group), "group", s, err, errlen);
}

/* A file path must have a '/', so that a misspelt "sylog" is an error
 * rather than a log file of that name in the working directory. */
static int set_log(struct config *c, const char *s, char *err, size_t errlen)
{
	if (!strcmp(s, "stderr")) {
		c->log = CFG_LOG_STDERR;
	} else if (!strcmp(s, "syslog")) {
		c->log = CFG_LOG_SYSLOG;
	} else if (strchr(s, '/')) {
		if (copy_str(c->log_file, sizeof(c->log_file), "log", s, err,
			     errlen) < 0)
			return -1;
		c->log = CFG_LOG_FILE;
	} else {
		return fail(err, errlen,
			    "log: '%s' is not stderr, syslog or a file path (with a '/')",
			    s);
	}
	return 0;
}

/* off, syslog, or a path (with a '/', as for log). */
static int set_access_log(struct config *c, const char *s, char *err, size_t errlen)
{
	if (!strcmp(s, "off")) {
		c->access_log = CFG_ALOG_OFF;
	} else if (!strcmp(s, "syslog")) {
		c->access_log = CFG_ALOG_SYSLOG;
	} else if (strchr(s, '/')) {
		if (copy_str(c->access_log_file, sizeof(c->access_log_file),
			     "access_log", s, err, errlen) < 0)
			return -1;
		c->access_log = CFG_ALOG_FILE;
	} else {
		return fail(err, errlen,
			    "access_log: '%s' is not off, syslog or a file path (with a '/')",
			    s);
	}
	return 0;
}

static int set_access_log_format(struct config *c, const char *s, char *err,
				 size_t errlen)
{
	if (!strcmp(s, "combined"))
		c->access_log_format = CFG_ALOG_COMBINED;
	else if (!strcmp(s, "json"))
		c->access_log_format = CFG_ALOG_JSON;
	else
		return fail(err, errlen,
			    "access_log_format: '%s' is not combined or json", s);
	return 0;
}

static int set_log_level(struct config *c, const char *s, char *err, size_t errlen)
{
	int level = log_level_parse(s);

	if (level < 0)
		return fail(err, errlen,
			    "log_level: '%s' is not error, warn, info or debug",
			    s);
	c->log_level = level;
	return 0;
}

static int set_foreground(struct config *c, const char *s, char *err, size_t errlen)
{
	return parse_flag("foreground", s, &c->foreground, err, errlen);
}

static int set_cpu_affinity(struct config *c, const char *s, char *err,
			    size_t errlen)
{
	return parse_flag("cpu_affinity", s, &c->cpu_affinity, err, errlen);
}

static int set_idle_yield(struct config *c, const char *s, char *err, size_t errlen)
{
	return parse_flag("idle_yield", s, &c->idle_yield, err, errlen);
}

static int set_handover(struct config *c, const char *s, char *err, size_t errlen)
{
	return parse_flag("handover", s, &c->handover, err, errlen);
}

/* on (1 s: the client's first data is awaited by the kernel before
 * accept), off, auto (on for http, off for echo), or a number of
 * seconds. */
static int set_defer_accept(struct config *c, const char *s, char *err,
			    size_t errlen)
{
	long long ms;
	int on;

	if (!strcmp(s, "auto")) {
		c->defer_accept_s = -1;
		return 0;
	}
	if (parse_flag("defer_accept", s, &on, err, errlen) == 0) {
		c->defer_accept_s = on;
		return 0;
	}
	if (config_parse_duration(s, 3600000, &ms) < 0)
		return fail(err, errlen,
			    "defer_accept: '%s' is not on, off, auto or a number of seconds up to 1h",
			    s);
	c->defer_accept_s = (int)((ms + 999) / 1000);
	return 0;
}

int config_defer_accept(const struct config *c)
{
	if (c->defer_accept_s >= 0)
		return c->defer_accept_s;
	return c->protocol == CFG_PROTO_HTTP ||
			       c->protocol == CFG_PROTO_HTTP_PROXY ?
		       1 :
		       0;
}

/* "auto" (0) or a number in [min, max]. */
static int set_auto_long(const char *name, const char *s, long min, long max,
			 long *out, char *err, size_t errlen)
{
	if (!strcmp(s, "auto")) {
		*out = 0;
		return 0;
	}
	if (parse_long(s, min, max, out) < 0)
		return fail(err, errlen,
			    "%s: '%s' is not 'auto' or a number %ld..%ld", name,
			    s, min, max);
	return 0;
}

static int set_max_connections(struct config *c, const char *s, char *err,
			       size_t errlen)
{
	long v;

	if (set_auto_long("max_connections", s, 1, 10000000, &v, err, errlen) < 0)
		return -1;
	c->max_connections = (int)v;
	return 0;
}

/* "off" (0) or a number in [0, max]. */
static int set_off_long(const char *name, const char *s, long max, int *out,
			char *err, size_t errlen)
{
	long v;

	if (parse_long(!strcmp(s, "off") ? "0" : s, 0, max, &v) < 0)
		return fail(err, errlen,
			    "%s: '%s' is not off or a number 0..%ld (0: off)",
			    name, s, max);
	*out = (int)v;
	return 0;
}

/* 0 (off) or a count; a worker's own table counts (peers.h). */
static int set_max_connections_per_ip(struct config *c, const char *s,
				      char *err, size_t errlen)
{
	return set_off_long("max_connections_per_ip", s, 10000000,
			    &c->max_connections_per_ip, err, errlen);
}

/* The kernel's ceiling for RLIMIT_NOFILE is fs.nr_open, at most 2^30. */
static int set_rlimit_nofile(struct config *c, const char *s, char *err,
			     size_t errlen)
{
	return set_auto_long("rlimit_nofile", s, 64, 1L << 30,
			     &c->rlimit_nofile, err, errlen);
}

static int set_backlog(struct config *c, const char *s, char *err, size_t errlen)
{
	long v;

	if (set_auto_long("backlog", s, 1, INT_MAX, &v, err, errlen) < 0)
		return -1;
	c->backlog = (int)v;
	return 0;
}

static int set_metrics_listen(struct config *c, const char *s, char *err,
			      size_t errlen)
{
	char why[200];

	if (!strcmp(s, "off")) {
		memset(&c->metrics_listen, 0, sizeof(c->metrics_listen));
		return 0;
	}
	if (addr_parse(s, &c->metrics_listen, why, sizeof(why)) < 0)
		return fail(err, errlen, "metrics_listen: %s", why);
	return 0;
}

static int set_ms(const char *name, const char *s, long long min, int *out,
		  char *err, size_t errlen)
{
	long long ms;

	if (config_parse_duration(s, DAY_MS, &ms) < 0 || ms < min)
		return fail(err, errlen,
			    "%s: '%s' is not a duration %lldms..24h (like 500ms, 10s, 2m)",
			    name, s, min);
	*out = (int)ms;
	return 0;
}

/* A timeout of 0 would mean "never", which is no protection at all. */
static int set_header_timeout(struct config *c, const char *s, char *err,
			      size_t errlen)
{
	return set_ms("header_timeout", s, 1, &c->header_timeout_ms, err, errlen);
}

static int set_keepalive_timeout(struct config *c, const char *s, char *err,
				 size_t errlen)
{
	return set_ms("keepalive_timeout", s, 1, &c->keepalive_timeout_ms, err,
		      errlen);
}

static int set_send_timeout(struct config *c, const char *s, char *err,
			    size_t errlen)
{
	return set_ms("send_timeout", s, 1, &c->send_timeout_ms, err, errlen);
}

/* 0: close the connections at once on a graceful stop. */
static int set_shutdown_timeout(struct config *c, const char *s, char *err,
				size_t errlen)
{
	return set_ms("shutdown_timeout", s, 0, &c->shutdown_timeout_ms, err,
		      errlen);
}

/* The master pings every second; less than two would kill healthy
 * workers that were merely busy. */
static int set_watchdog_timeout(struct config *c, const char *s, char *err,
				size_t errlen)
{
	return set_ms("watchdog_timeout", s, 2000, &c->watchdog_timeout_ms, err,
		      errlen);
}

static int set_stats_timeout(struct config *c, const char *s, char *err,
			     size_t errlen)
{
	return set_ms("stats_timeout", s, 1, &c->stats_timeout_ms, err, errlen);
}

static int set_size(const char *name, const char *s, unsigned long long min,
		    unsigned long long max, unsigned long long *out, char *err,
		    size_t errlen)
{
	if (config_parse_size(s, out) < 0 || *out < min || *out > max)
		return fail(err, errlen,
			    "%s: '%s' is not a size %llu..%llu (like 512, 16k, 1m)",
			    name, s, min, max);
	return 0;
}

static int set_proxy_connect_timeout(struct config *c, const char *s, char *err,
				     size_t errlen)
{
	return set_ms("proxy_connect_timeout", s, 1,
		      &c->proxy_connect_timeout_ms, err, errlen);
}

/* 0: a quiet proxied connection is kept for ever. */
static int set_proxy_idle_timeout(struct config *c, const char *s, char *err,
				  size_t errlen)
{
	return set_ms("proxy_idle_timeout", s, 0, &c->proxy_idle_timeout_ms,
		      err, errlen);
}

/* At most one read of the worker's scratch space (conn.h) is in flight
 * per direction. */
static int set_proxy_buffer(struct config *c, const char *s, char *err,
			    size_t errlen)
{
	unsigned long long v;

	if (set_size("proxy_buffer", s, 1024, 65536, &v, err, errlen) < 0)
		return -1;
	c->proxy_buffer = (unsigned)v;
	return 0;
}

static int set_http_max_request_line(struct config *c, const char *s, char *err,
				     size_t errlen)
{
	unsigned long long v;

	if (set_size("http_max_request_line", s, 256, 1 << 20, &v, err, errlen) <
	    0)
		return -1;
	c->http_max_request_line = (size_t)v;
	return 0;
}

static int set_http_max_header_bytes(struct config *c, const char *s, char *err,
				     size_t errlen)
{
	unsigned long long v;

	if (set_size("http_max_header_bytes", s, 1024, 16 << 20, &v, err,
		     errlen) < 0)
		return -1;
	c->http_max_header_bytes = (size_t)v;
	return 0;
}

static int set_http_max_headers(struct config *c, const char *s, char *err,
				size_t errlen)
{
	long v;

	if (parse_long(s, 1, 10000, &v) < 0)
		return fail(err, errlen,
			    "http_max_headers: '%s' is not a number 1..10000", s);
	c->http_max_headers = (unsigned)v;
	return 0;
}

static int set_http_max_body(struct config *c, const char *s, char *err,
			     size_t errlen)
{
	return set_size("http_max_body", s, 0, 1ULL << 40, &c->http_max_body,
			err, errlen);
}

static int set_mime_types(struct config *c, const char *s, char *err, size_t errlen)
{
	if (!strcmp(s, "off")) {
		c->mime_types[0] = '\0';
		return 0;
	}
	return copy_str(c->mime_types, sizeof(c->mime_types), "mime_types", s,
			err, errlen);
}

static int set_default_type(struct config *c, const char *s, char *err,
			    size_t errlen)
{
	if (!mime_valid_type(s) || strlen(s) >= sizeof(c->default_type))
		return fail(err, errlen,
			    "default_type: '%s' is not a media type (type/subtype, like text/plain)",
			    s);
	memcpy(c->default_type, s, strlen(s) + 1);
	return 0;
}

/* A charset is a token (RFC 9110 8.3.2): utf-8, iso-8859-1... */
static int set_charset(struct config *c, const char *s, char *err, size_t errlen)
{
	size_t n = strlen(s);

	if (!strcmp(s, "off")) {
		c->charset[0] = '\0';
		return 0;
	}
	if (n == 0 || n >= sizeof(c->charset) ||
	    strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
		      "0123456789!#$%&'*+-.^_`|~") != n)
		return fail(err, errlen,
			    "charset: '%s' is not off or a charset name (like utf-8)",
			    s);
	memcpy(c->charset, s, n + 1);
	return 0;
}

static int set_precompressed(struct config *c, const char *s, char *err,
			     size_t errlen)
{
	return parse_flag("precompressed", s, &c->precompressed, err, errlen);
}

/* off (0) or the entries each worker keeps; each holds a descriptor,
 * which syslimits.c counts in the budget. */
static int set_open_file_cache(struct config *c, const char *s, char *err,
			       size_t errlen)
{
	return set_off_long("open_file_cache", s, 1000000, &c->open_file_cache,
			    err, errlen);
}

/* 0: every use is checked (one fstatat instead of openat2, fstat and
 * close). */
static int set_open_file_cache_valid(struct config *c, const char *s, char *err,
				     size_t errlen)
{
	return set_ms("open_file_cache_valid", s, 0,
		      &c->open_file_cache_valid_ms, err, errlen);
}

static int set_open_file_cache_inactive(struct config *c, const char *s,
					char *err, size_t errlen)
{
	return set_ms("open_file_cache_inactive", s, 1,
		      &c->open_file_cache_inactive_ms, err, errlen);
}

/* 0 (none) or a budget: a worker keeps the bytes of files up to 16 KiB,
 * this many in all. */
static int set_open_file_cache_content(struct config *c, const char *s,
				       char *err, size_t errlen)
{
	if (!strcmp(s, "off")) {
		c->open_file_cache_content = 0;
		return 0;
	}
	return set_size("open_file_cache_content", s, 0, 1ULL << 30,
			&c->open_file_cache_content, err, errlen);
}

static int set_workers(struct config *c, const char *s, char *err, size_t errlen)
{
	return config_set_workers(c, s, err, errlen);
}

static int set_protocol(struct config *c, const char *s, char *err, size_t errlen)
{
	return config_set_protocol(c, s, err, errlen);
}

static int set_stats_socket(struct config *c, const char *s, char *err,
			    size_t errlen)
{
	return config_set_stats_socket(c, s, err, errlen);
}

/* Every directive. The order is the one of etc/reuseportd.conf.in. */
static const struct config_directive directives[] = {
	{ "listen", 1, 1, set_listen },
	{ "workers", 1, 0, set_workers },
	{ "protocol", 1, 0, set_protocol },
	{ "docroot", 1, 0, set_docroot },
	{ "vhost", 2, 1, set_vhost },
	{ "return", 64, 0, set_return },
	{ "mime_types", 1, 0, set_mime_types },
	{ "default_type", 1, 0, set_default_type },
	{ "charset", 1, 0, set_charset },
	{ "precompressed", 1, 0, set_precompressed },
	{ "upstream", 4, 1, config_add_upstream },
	{ "proxy_source", 1, 1, config_add_proxy_source },
	{ "proxy_port_range", 1, 0, config_set_proxy_port_range },
	{ "proxy_connect_timeout", 1, 0, set_proxy_connect_timeout },
	{ "proxy_idle_timeout", 1, 0, set_proxy_idle_timeout },
	{ "proxy_buffer", 1, 0, set_proxy_buffer },
	{ "proxy_pool", 1, 0, config_set_proxy_pool },
	{ "proxy_pool_timeout", 1, 0, config_set_proxy_pool_timeout },
	{ "proxy_read_timeout", 1, 0, config_set_proxy_read_timeout },
	{ "balance", 1, 0, config_set_balance },
	{ "proxy_protocol", 1, 0, config_set_proxy_protocol },
	{ "health_check", 2, 0, config_set_health_check },
	{ "health_interval", 1, 0, config_set_health_interval },
	{ "health_timeout", 1, 0, config_set_health_timeout },
	{ "health_rise", 1, 0, config_set_health_rise },
	{ "health_fall", 1, 0, config_set_health_fall },
	{ "open_file_cache", 1, 0, set_open_file_cache },
	{ "open_file_cache_valid", 1, 0, set_open_file_cache_valid },
	{ "open_file_cache_inactive", 1, 0, set_open_file_cache_inactive },
	{ "open_file_cache_content", 1, 0, set_open_file_cache_content },
	{ "max_connections", 1, 0, set_max_connections },
	{ "max_connections_per_ip", 1, 0, set_max_connections_per_ip },
	{ "rlimit_nofile", 1, 0, set_rlimit_nofile },
	{ "backlog", 1, 0, set_backlog },
	{ "cpu_affinity", 1, 0, set_cpu_affinity },
	{ "idle_yield", 1, 0, set_idle_yield },
	{ "defer_accept", 1, 0, set_defer_accept },
	{ "header_timeout", 1, 0, set_header_timeout },
	{ "keepalive_timeout", 1, 0, set_keepalive_timeout },
	{ "send_timeout", 1, 0, set_send_timeout },
	{ "shutdown_timeout", 1, 0, set_shutdown_timeout },
	{ "handover", 1, 0, set_handover },
	{ "watchdog_timeout", 1, 0, set_watchdog_timeout },
	{ "stats_timeout", 1, 0, set_stats_timeout },
	{ "http_max_request_line", 1, 0, set_http_max_request_line },
	{ "http_max_header_bytes", 1, 0, set_http_max_header_bytes },
	{ "http_max_headers", 1, 0, set_http_max_headers },
	{ "http_max_body", 1, 0, set_http_max_body },
	{ "access_log", 1, 0, set_access_log },
	{ "access_log_format", 1, 0, set_access_log_format },
	{ "stats_socket", 1, 0, set_stats_socket },
	{ "stats_socket_mode", 1, 0, set_stats_socket_mode },
	{ "stats_socket_group", 1, 0, set_stats_socket_group },
	{ "metrics_listen", 1, 0, set_metrics_listen },
	{ "pidfile", 1, 0, set_pidfile },
	{ "user", 1, 0, set_user },
	{ "group", 1, 0, set_group },
	{ "log", 1, 0, set_log },
	{ "log_level", 1, 0, set_log_level },
	{ "foreground", 1, 0, set_foreground },
};

const struct config_directive *config_directive_find(const char *name)
{
	for (size_t i = 0; i < UTIL_ARRAY_LEN(directives); i++)
		if (!strcmp(directives[i].name, name))
			return &directives[i];
	return NULL;
}

const struct config_directive *config_directive_at(size_t i)
{
	return i < UTIL_ARRAY_LEN(directives) ? &directives[i] : NULL;
}

int config_set(struct config *c, const char *name, const char *value, char *err,
	       size_t errlen)
{
	const struct config_directive *d = config_directive_find(name);

	if (!d)
		return fail(err, errlen, "unknown directive '%s'", name);
	/* The config file's lexer refuses these too; a value from the
	 * command line must not smuggle a CR LF into an answer's header. */
	for (const char *p = value; *p; p++)
		if (((unsigned char)*p < 0x20 && *p != '\t') || *p == 0x7f)
			return fail(err, errlen, "%s: control character 0x%02x",
				    name, (unsigned char)*p);
	return d->set(c, value, err, errlen);
}

/* --- finishing --- */

/* Makes the vhosts' docroots absolute against base: the pool is built
 * anew. */
static int vhosts_absolute(struct config *c, const char *base, char *err,
			   size_t errlen)
{
	static char pool[CFG_VHOST_PATHS];
	unsigned len = 0;

	if (!c->vhosts)
		return 0; /* none, and no table to write to */
	for (int i = 0; i < c->nvhosts; i++) {
		const char *p = config_vhost_docroot(c, i);
		int n = p[0] == '/' ?
				snprintf(pool + len, sizeof(pool) - len, "%s", p) :
				snprintf(pool + len, sizeof(pool) - len,
					 "%s/%s", base, p);

		if (n < 0 || (size_t)n >= sizeof(pool) - len || n >= PATH_MAX)
			return fail(err, errlen,
				    "vhost %s: docroot '%s' is too long once made absolute; give a shorter path",
				    c->vhosts[i].name, p);
		c->vhosts[i].root = len;
		len += (unsigned)n + 1;
	}
	memcpy(c->vhost_paths, pool, len);
	c->vhost_paths_len = len;
	return 0;
}

/* Makes path (of a buffer of size bytes) absolute against base. A
 * detached daemon changes its directory to "/", so a relative path is
 * resolved now, while it still means what the user meant. */
static int make_absolute(char *path, size_t size, const char *base,
			 const char *name, char *err, size_t errlen)
{
	char abs[PATH_MAX * 2 + 2];

	if (path[0] == '\0' || path[0] == '/')
		return 0;
	snprintf(abs, sizeof(abs), "%s/%s", base, path);
	if (strlen(abs) >= size)
		return fail(err, errlen,
			    "%s: '%s' is too long once made absolute; give a shorter path",
			    name, abs);
	memcpy(path, abs, strlen(abs) + 1);
	return 0;
}

int config_finish(struct config *c, char *err, size_t errlen)
{
	char cwd[PATH_MAX];
	const char *base = c->base_dir;

	if (c->nlisten == 0 &&
	    config_add_listen(c, CFG_DEFAULT_LISTEN, err, errlen) < 0)
		return -1;
	if (c->workers == 0) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);

		c->workers = n < 1               ? 1 :
			     n > CFG_MAX_WORKERS ? CFG_MAX_WORKERS :
						   (int)n;
	}
	if (!base[0]) {
		if (!getcwd(cwd, sizeof(cwd)))
			return fail(err, errlen, "getcwd: %s", strerror(errno));
		base = cwd;
	}
	/* A foreground daemon keeps its directory, so a stats socket path
	 * too long for sun_path once absolute may stay relative there. */
	if (c->stats_socket[0] != '/') {
		char abs[PATH_MAX + sizeof(c->stats_socket) + 1];

		snprintf(abs, sizeof(abs), "%s/%s", base, c->stats_socket);
		if (strlen(abs) < sizeof(c->stats_socket))
			memcpy(c->stats_socket, abs, strlen(abs) + 1);
		else if (!c->foreground)
			return fail(err, errlen,
				    "stats_socket: '%s' is too long once made absolute; give a shorter path",
				    abs);
	}
	if (make_absolute(c->pidfile, sizeof(c->pidfile), base, "pidfile", err,
			  errlen) < 0 ||
	    make_absolute(c->log_file, sizeof(c->log_file), base, "log", err,
			  errlen) < 0 ||
	    make_absolute(c->access_log_file, sizeof(c->access_log_file), base,
			  "access_log", err, errlen) < 0 ||
	    make_absolute(c->docroot, sizeof(c->docroot), base, "docroot", err,
			  errlen) < 0 ||
	    vhosts_absolute(c, base, err, errlen) < 0 ||
	    make_absolute(c->mime_types, sizeof(c->mime_types), base,
			  "mime_types", err, errlen) < 0)
		return -1;
	return config_finish_proxy(c, err, errlen);
}

const char *config_protocol_name(enum cfg_protocol p)
{
	return p == CFG_PROTO_HTTP       ? "http" :
	       p == CFG_PROTO_TCP_PROXY  ? "tcp_proxy" :
	       p == CFG_PROTO_HTTP_PROXY ? "http_proxy" :
					   "echo";
}
