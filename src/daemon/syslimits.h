/* syslimits.h - the kernel and process limits that bound how many connections
 * the daemon can carry, read once at start (what follows from the
 * configuration again at each reload) and shown by `limits`. */
#ifndef RP_SYSLIMITS_H
#define RP_SYSLIMITS_H

struct config;

#define LIMITS_MAX_WARNINGS 8

struct limits {
	long nofile_soft, nofile_hard;
	long max_connections_per_worker;
	long fds_per_connection; /* what the cap counts for each connection */
	long open_file_cache;    /* its entries per worker (descriptors) */
	long proxy_idle_fds;     /* HTTP proxy pools, health checks */
	long somaxconn, tcp_max_syn_backlog;
	long port_lo, port_hi;
	long tcp_migrate_req;
	long backlog; /* what listen() is given */
	int nwarnings;
	char warnings[LIMITS_MAX_WARNINGS][200];
};

/* Raises RLIMIT_NOFILE's soft limit to the hard one, reads the sysctls,
 * derives the per-worker connection cap and notes what cannot reach the
 * configuration. Logs each warning. */
void limits_init(struct limits *lim, const struct config *cfg);
/* The entries a worker's open-file cache may hold under the open-files
 * limit nofile_soft: open_file_cache, at most a quarter
 * of the descriptors left beside the reserve; 0 when no file is served.
 * limits_init counts them out of the connections' share. */
long limits_open_file_cache(const struct config *cfg, long nofile_soft);
/* A reload: the cap and the backlog derived again for cfg (the same
 * open-files limit and sysctls), warnings anew. */
void limits_reload(struct limits *lim, const struct config *cfg);

#endif
