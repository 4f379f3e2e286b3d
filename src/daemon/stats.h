/* stats.h - the counters a worker keeps and the documents (JSON via
 * jansson) the master builds from them. Only this module knows the JSON
 * field names of the stats socket protocol. */
#ifndef RP_STATS_H
#define RP_STATS_H

#include <jansson.h>
#include <stdint.h>
#include <sys/types.h>

#include "addr.h"
#include "syslimits.h"

/* Sent as-is over the worker channel (same binary on both ends). */
struct stats_counters {
	uint64_t accepted;
	uint64_t active; /* a gauge; every other field is cumulative */
	uint64_t closed;
	uint64_t rejected;      /* accepted but closed at once: no slot */
	uint64_t lost;          /* open when their worker died */
	uint64_t bytes_in;
	uint64_t bytes_out;
	uint64_t requests;
	uint64_t accept_paused; /* times accepting stopped: cap or fd limit */
	uint64_t forced_closes; /* closed by the daemon at a drain deadline */
	uint64_t responses[5];  /* HTTP 1xx..5xx */
	uint64_t timeouts_header, timeouts_keepalive, timeouts_send;
};

/* One connection of the `connections` document, as a worker reports it. */
struct stats_conn {
	union addr_sa local, remote;
	int32_t worker;
	int32_t tcp_state; /* TCP_ESTABLISHED... from TCP_INFO */
	uint64_t age_ms, bytes_in, bytes_out;
};

struct stats_worker_view {
	int id;
	pid_t pid;
	const char *state;
	int generation;
	unsigned restarts;
	uint64_t silent_ms; /* since the worker last answered */
	const char *last_exit; /* NULL: never exited */
	struct stats_counters c;
};

struct stats_daemon_view {
	pid_t pid;
	double uptime_s;
	const char *protocol;
	int generation;
	int workers_configured;
	const struct addr *listen;
	int nlisten;
	const struct limits *limits;
};

/* Adds the cumulative counters of src to dst (not the gauge). */
void stats_accumulate(struct stats_counters *dst, const struct stats_counters *src);
/* dst += src, every field. */
void stats_add(struct stats_counters *dst, const struct stats_counters *src);

json_t *stats_json_counters(const struct stats_counters *c, int http);
json_t *stats_json_stats(const struct stats_daemon_view *d,
			 const struct stats_worker_view *w, int n);
json_t *stats_json_workers(const struct stats_daemon_view *d,
			   const struct stats_worker_view *w, int n);
json_t *stats_json_connections(const struct stats_conn *c, size_t n,
			       uint64_t total, int truncated);
json_t *stats_json_limits(const struct limits *lim);
/* The `limits` document: the limits and the warnings they raised. */
json_t *stats_json_limits_doc(const struct limits *lim);
json_t *stats_json_ping(const struct stats_daemon_view *d);
json_t *stats_json_help(void);
json_t *stats_json_error(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));
const char *stats_tcp_state_name(int state);
/* The Prometheus text exposition format (0.0.4) of the same counters,
 * one sample per worker with a worker label. Returns malloc'd text. */
char *stats_prometheus(const struct stats_daemon_view *d,
		       const struct stats_worker_view *w, int n);

#endif
