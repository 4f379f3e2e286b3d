/* stats_doc.h - the documents of the stats socket, built from what the
 * master knows: JSON (stats_json.c) and the Prometheus text exposition
 * format (stats_prom.c). Every function returns malloc'd text the caller
 * frees, or NULL when out of memory; only these files spell the field
 * names of the protocol and only they use jansson. */
#ifndef RP_STATS_DOC_H
#define RP_STATS_DOC_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "stats.h"

struct addr;
struct cfg_upstream;
struct cfg_source;
struct buf;
struct limits;
struct listing_groups;

struct stats_worker_view {
	int id;
	pid_t pid;
	enum stats_worker_state state;
	int generation;
	unsigned restarts;
	uint64_t silent_ms;    /* since the worker last answered */
	const char *last_exit; /* NULL: never exited */
	struct stats_counters c;
};

struct stats_daemon_view {
	pid_t pid;
	double uptime_s;
	const char *protocol;
	enum stats_scope scope; /* which counters the service has */
	int generation;
	int workers_configured;
	const struct addr *listen;
	int nlisten;
	const struct limits *limits;
	const struct stats_vhost_names *vhosts; /* NULL: none named */
	/* The TCP proxy's servers, labelling the STATS_UPSTREAMS values:
	 * value k is upstreams[k]'s; those past nupstreams are not shown. */
	const struct cfg_upstream *upstreams;
	int nupstreams;
	/* The proxy_source ranges, labelling the STATS_SOURCE_GAUGES and
	 * STATS_PAIR_GAUGES values (the last one: the kernel's choice). */
	const struct cfg_source *sources;
	int nsources;
};

/* The label of value k of a per-upstream field ("127.0.0.1:8080"), in
 * buf (ADDR_STRLEN bytes); NULL when k is no server's. */
const char *stats_upstream_label(const struct stats_daemon_view *d, unsigned k,
				 char *buf, size_t len);
/* The label of value k of a STATS_VHOSTS or per-upstream field (buf as
 * above); NULL: the value is not shown. */
const char *stats_value_label(const struct stats_daemon_view *d,
			      const struct stats_field *f, unsigned k,
			      char *buf, size_t len);

char *stats_json_stats(const struct stats_daemon_view *d,
		       const struct stats_worker_view *w, int n);
char *stats_json_workers(const struct stats_daemon_view *d,
			 const struct stats_worker_view *w, int n);
/* A worker left out of a listing, and why. */
struct stats_missing {
	int worker;
	pid_t pid;
	const char *reason;
};

/* The `connections` document, in pieces as it is streamed: the opening
 * `{"connections":[` is written by the caller, then a row each (first: no
 * comma before it), then the end with the totals. Each appends to b; 0,
 * or -1 when out of memory. */
int stats_json_conn_row(struct buf *b, const struct stats_conn *c, int first);
int stats_json_conns_end(struct buf *b, uint64_t total, int truncated,
			 const struct stats_missing *m, int nmissing);
/* The same document whole (rows in memory). */
char *stats_json_connections(const struct stats_conn *c, size_t n,
			     uint64_t total, int truncated);
/* The counts of a listing by remote address, state or worker. */
char *stats_json_groups(const struct listing_groups *g, uint64_t total,
			const struct stats_missing *m, int nmissing);
/* How much of a source range's ports toward one server are in use
 * (stats_upstream.c): the sums over the workers. */
struct stats_port_use {
	int source, server;
	uint64_t in_use, available;
	double use_pct; /* 0 when nothing is available */
};
/* The pairs of d's configured sources and servers, from the workers'
 * summed counters tot: written to out (room for STATS_NSOURCES *
 * STATS_NUPSTREAMS), their count returned. */
int stats_port_uses(const struct stats_daemon_view *d,
		    const struct stats_counters *tot, struct stats_port_use *out);
/* 1 if source range k is shown: a configured proxy_source line, or the
 * kernel's choice when some server has no source of its family. */
int stats_source_shown(const struct stats_daemon_view *d, unsigned k);
/* "127.0.0.2-127.0.0.11", "10.0.0.1", or "(kernel)"; NULL if not shown.
 * buf: STATS_SOURCE_STRLEN bytes. */
#define STATS_SOURCE_STRLEN (2 * ADDR_STRLEN + 2)
const char *stats_source_label(const struct stats_daemon_view *d, unsigned k,
			       char *buf, size_t len);
/* The value of a STATS_UPSTREAM_DETAIL field in the stats document; NULL
 * if f is not one of them. */
struct json_t;
struct json_t *stats_json_upstream_field(const struct stats_counters *c,
					 const struct stats_field *f,
					 const struct stats_daemon_view *d);
/* The `upstreams` document: a row per server from the workers' summed
 * counters, latencies from their merged histograms. */
char *stats_json_upstreams(const struct stats_daemon_view *d,
			   const struct stats_worker_view *w, int n);

/* The `limits` document: the limits and the warnings they raised, and
 * the source/server pairs above STATS_PORTS_WARN_PCT of their ports. */
char *stats_json_limits(const struct limits *lim,
			const struct stats_daemon_view *d,
			const struct stats_port_use *high, int nhigh);
char *stats_json_ping(const struct stats_daemon_view *d);
char *stats_json_help(void);
/* A reload asked on the stats socket went through: the generation now
 * serving, and the listen addresses it added and removed (listen.added,
 * listen.removed: "IP:PORT" strings). */
char *stats_json_reload(int generation, int workers, const struct addr *added,
			int nadded, const struct addr *removed, int nremoved);
/* An upgrade asked on the stats socket went through: the new master (pid)
 * serves, the old one (old_pid) keeps its workers until it is stopped. */
char *stats_json_upgrade(int pid, int old_pid);
char *stats_json_error(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));
const char *stats_tcp_state_name(int state);

/* The Prometheus text exposition format (0.0.4) of the same counters,
 * one sample per worker with worker and generation labels. */
char *stats_prom_text(const struct stats_daemon_view *d,
		      const struct stats_worker_view *w, int n);

#endif
