/* syslimits.c - kernel and process limits, read once at start: the
 * open-files limit (raised to the hard one), the sysctls that bound the
 * accept queues and the ports, and the per-worker connection cap derived
 * from them, with a warning for each that cannot carry the load. */
#include "autoconfig.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

#include "config.h"
#include "log.h"
#include "syslimits.h"
#include "util.h"

/* Descriptors a worker keeps for itself: listeners, the channel, the
 * epoll and signal fds, the document root, a directory opened for a
 * moment on the way to its index; the rest carry connections and the
 * open-file cache. */
#define LIMITS_FD_RESERVE 32

static void warn(struct limits *lim, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void warn(struct limits *lim, const char *fmt, ...)
{
	va_list ap;

	if (lim->nwarnings == LIMITS_MAX_WARNINGS)
		return;
	va_start(ap, fmt);
	vsnprintf(lim->warnings[lim->nwarnings], sizeof(lim->warnings[0]), fmt,
		  ap);
	va_end(ap);
	log_warn("%s", lim->warnings[lim->nwarnings]);
	lim->nwarnings++;
}

/* Raises RLIMIT_NOFILE's soft limit to the hard one, or to
 * rlimit_nofile (raising the hard limit needs CAP_SYS_RESOURCE: ask for
 * it, then settle for the hard limit). */
static void limits_nofile(struct limits *lim, const struct config *cfg)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return;
	rlim_t goal = cfg->rlimit_nofile > 0 ? (rlim_t)cfg->rlimit_nofile :
					       rl.rlim_max;

	if (rl.rlim_cur != goal) {
		struct rlimit want = { goal, UTIL_MAX(goal, rl.rlim_max) };

		if (setrlimit(RLIMIT_NOFILE, &want) == 0)
			rl = want;
		else if (goal > rl.rlim_max) {
			want.rlim_cur = want.rlim_max = rl.rlim_max;
			if (setrlimit(RLIMIT_NOFILE, &want) == 0)
				rl.rlim_cur = rl.rlim_max;
		}
	}
	if (cfg->rlimit_nofile > 0 && rl.rlim_cur != goal)
		warn(lim, "rlimit_nofile %ld: got %llu (hard limit %llu)",
		     cfg->rlimit_nofile, (unsigned long long)rl.rlim_cur,
		     (unsigned long long)rl.rlim_max);
	else if (cfg->rlimit_nofile > 0)
		log_info("open-files limit set to %llu",
			 (unsigned long long)rl.rlim_cur);
	lim->nofile_soft = rl.rlim_cur == RLIM_INFINITY ? -1 : (long)rl.rlim_cur;
	lim->nofile_hard = rl.rlim_max == RLIM_INFINITY ? -1 : (long)rl.rlim_max;
}

/* Descriptors one connection can hold at once: its socket, and when
 * files are served, the file being sent (http_file.c keeps it open until
 * the last byte is out, however slow the reader), or when proxied, the
 * connection to its server. Counting one per connection let a worker
 * accept more downloads than it could open files for. */
static long limits_fds_per_connection(const struct config *cfg)
{
	/* A proxied connection holds its upstream's socket too. */
	if (config_is_proxy(cfg->protocol))
		return 2;
	if (cfg->protocol != CFG_PROTO_HTTP)
		return 1;
	return cfg->docroot[0] || cfg->nvhosts > 0 ? 2 : 1;
}

/* The descriptors a worker has for connections and its open-file cache:
 * the limit, less the reserve and the vhosts' docroots. */
static long limits_worker_fds(const struct config *cfg, long nofile_soft)
{
	long fds = nofile_soft > LIMITS_FD_RESERVE * 2 ?
			   nofile_soft - LIMITS_FD_RESERVE :
			   LIMITS_FD_RESERVE;

	/* Every worker holds each vhost's docroot open. */
	if (cfg->protocol == CFG_PROTO_HTTP && fds > 2L * cfg->nvhosts)
		fds -= cfg->nvhosts;
	return fds;
}

long limits_open_file_cache(const struct config *cfg, long nofile_soft)
{
	if (cfg->protocol != CFG_PROTO_HTTP ||
	    (!cfg->docroot[0] && cfg->nvhosts == 0))
		return 0;
	return UTIL_MIN((long)cfg->open_file_cache,
			limits_worker_fds(cfg, nofile_soft) / 4);
}

/* The descriptors a proxy worker holds beside its clients' pairs: the
 * HTTP proxy's idle pools (proxy_pool per server) and a health check in
 * flight per server; at most a quarter of what the worker has, as for
 * the open-file cache. Counted out of the connections' share, so that
 * full pools never make an accept or a connect fail. */
static long limits_proxy_idle_fds(const struct config *cfg, long fds)
{
	long n = 0;

	if (cfg->protocol == CFG_PROTO_HTTP_PROXY)
		n += (long)cfg->proxy_pool * cfg->nupstreams;
	if (config_is_proxy(cfg->protocol) && cfg->health_check != CFG_HEALTH_OFF)
		n += cfg->nupstreams;
	return UTIL_MIN(n, fds / 4);
}

/* The per-worker connection cap and the listen backlog, from the limits
 * and the configuration, with a warning for each that falls short. */
static void limits_derive(struct limits *lim, const struct config *cfg)
{
	long fds = limits_worker_fds(cfg, lim->nofile_soft);
	long cap;

	/* The open-file cache holds a descriptor per entry: connections get
	 * the rest, so a full cache never makes accept fail. */
	lim->open_file_cache = limits_open_file_cache(cfg, lim->nofile_soft);
	if (lim->open_file_cache < cfg->open_file_cache &&
	    lim->open_file_cache > 0)
		warn(lim,
		     "open_file_cache %d exceeds a quarter of what the open-files limit (%ld) leaves a worker; using %ld",
		     cfg->open_file_cache, lim->nofile_soft,
		     lim->open_file_cache);
	fds -= lim->open_file_cache;
	lim->proxy_idle_fds = limits_proxy_idle_fds(cfg, fds);
	fds -= lim->proxy_idle_fds;
	lim->fds_per_connection = limits_fds_per_connection(cfg);
	cap = fds / lim->fds_per_connection;
	lim->max_connections_per_worker = cap;
	if (cfg->max_connections > 0 && cfg->max_connections > cap)
		warn(lim,
		     "max_connections %d per worker exceeds what the open-files limit (%ld) allows; using %ld",
		     cfg->max_connections, lim->nofile_soft, cap);
	else if (cfg->max_connections > 0)
		lim->max_connections_per_worker = cfg->max_connections;
	lim->backlog = cfg->backlog > 0   ? cfg->backlog :
		       lim->somaxconn > 0 ? lim->somaxconn :
					    4096;
	if (lim->somaxconn > 0 && lim->backlog > lim->somaxconn)
		warn(lim,
		     "backlog %ld is cut to net.core.somaxconn=%ld by the kernel",
		     lim->backlog, lim->somaxconn);
	if (lim->somaxconn > 0 && lim->somaxconn < 1024)
		warn(lim,
		     "net.core.somaxconn=%ld is low: bursts of new connections will overflow the accept queues",
		     lim->somaxconn);
	if (lim->nofile_soft > 0 && lim->nofile_soft < 4096)
		warn(lim,
		     "open-files limit %ld allows only %ld connections per worker",
		     lim->nofile_soft, lim->max_connections_per_worker);
}

void limits_reload(struct limits *lim, const struct config *cfg)
{
	lim->nwarnings = 0;
	limits_derive(lim, cfg);
}

void limits_init(struct limits *lim, const struct config *cfg)
{
	memset(lim, 0, sizeof(*lim));
	limits_nofile(lim, cfg);
	util_read_sysctl("/proc/sys/net/core/somaxconn", &lim->somaxconn, NULL);
	util_read_sysctl("/proc/sys/net/ipv4/tcp_max_syn_backlog",
			 &lim->tcp_max_syn_backlog, NULL);
	util_read_sysctl("/proc/sys/net/ipv4/ip_local_port_range",
			 &lim->port_lo, &lim->port_hi);
	util_read_sysctl("/proc/sys/net/ipv4/tcp_migrate_req",
			 &lim->tcp_migrate_req, NULL);
	limits_derive(lim, cfg);
}
