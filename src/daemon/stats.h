/* stats.h - the counters a worker keeps, declared once.
 *
 * STATS_COUNTERS is the only place a counter is named: it generates the
 * struct the workers count in, the merge rules, the JSON keys of the stats
 * socket and the Prometheus families (stats_doc.h renders them). Adding a
 * counter is one line here and the code that increments it. */
#ifndef RP_STATS_H
#define RP_STATS_H

#include <stddef.h>
#include <stdint.h>

#include "addr.h"

/* Counter kinds: summed when processes' counts are merged (COUNTER), a
 * level that is summed across workers but never carried over from a dead
 * process (GAUGE), a counter per HTTP status class 1xx..5xx, shown as
 * one family with a class label (CLASSES), and a counter per virtual
 * host, shown with the vhost's name (VHOSTS, stats_vhost_label). */
enum stats_kind {
	STATS_COUNTER,
	STATS_GAUGE,
	STATS_CLASSES,
	STATS_VHOSTS,
	/* A counter and a gauge per upstream server of the TCP proxy, in
	 * the order of the configuration's upstream lines, shown with the
	 * server's address (stats_daemon_view.upstreams). */
	STATS_UPSTREAMS,
	STATS_UPSTREAM_GAUGES,
	/* Per upstream server, a value per cause (STATS_UPSTREAM_DETAIL). */
	STATS_UPSTREAM_ERRORS,
	STATS_UPSTREAM_DOWN,
	STATS_UPSTREAM_HIST,
	STATS_SOURCE_GAUGES,
	STATS_PAIR_GAUGES
};

/* Which services show a counter. The HTTP proxy is both an HTTP service
 * and a proxy: it shows the counters of either, and its own. */
enum stats_scope { STATS_ANY, STATS_HTTP, STATS_PROXY, STATS_HTTP_PROXY };

/* Does a service of scope service show a counter of scope field? */
static inline int stats_scope_shows(enum stats_scope field, enum stats_scope service)
{
	return field == STATS_ANY || field == service ||
	       (service == STATS_HTTP_PROXY &&
		(field == STATS_HTTP || field == STATS_PROXY));
}

/* Per upstream server: as many as a configuration may have. */
#define STATS_NUPSTREAMS 32

static inline int stats_kind_is_gauge(enum stats_kind k)
{
	return k == STATS_GAUGE || k == STATS_UPSTREAM_GAUGES ||
	       k == STATS_UPSTREAM_DOWN || k == STATS_SOURCE_GAUGES ||
	       k == STATS_PAIR_GAUGES;
}

#define STATS_NCLASSES 5

/* Requests by virtual host: the first STATS_NVHOSTS names a master has
 * seen in its configurations get a counter each (stats_vhost_slot), the
 * others share STATS_VHOST_OTHER; requests that no vhost took count in
 * STATS_VHOST_DEFAULT. Bounded, so that the counters stay one fixed
 * block of shared memory. */
#define STATS_NVHOSTS 64
#define STATS_VHOST_OTHER STATS_NVHOSTS
#define STATS_VHOST_DEFAULT (STATS_NVHOSTS + 1)
#define STATS_VHOST_NAME_MAX 253

/* X(name, kind, scope, Prometheus family, help). The name is the C field
 * and the JSON key; the family gets the "reuseportd_" prefix. */
#define STATS_COUNTERS(X) \
	X(accepted, STATS_COUNTER, STATS_ANY, "connections_accepted_total", \
	  "Connections accepted.") \
	X(active, STATS_GAUGE, STATS_ANY, "connections_active", \
	  "Connections open now.") \
	X(closed, STATS_COUNTER, STATS_ANY, "connections_closed_total", \
	  "Connections closed.") \
	X(rejected, STATS_COUNTER, STATS_ANY, "connections_rejected_total", \
	  "Connections accepted and closed at once for lack of a slot.") \
	X(rejected_per_ip, STATS_COUNTER, STATS_ANY, \
	  "connections_rejected_per_ip_total", \
	  "Connections reset at once: their address held " \
	  "max_connections_per_ip in the worker.") \
	X(lost, STATS_COUNTER, STATS_ANY, "connections_lost_total", \
	  "Connections open in a worker when it died.") \
	X(bytes_in, STATS_COUNTER, STATS_ANY, "received_bytes_total", \
	  "Bytes read from clients.") \
	X(bytes_out, STATS_COUNTER, STATS_ANY, "sent_bytes_total", \
	  "Bytes written to clients.") \
	X(requests, STATS_COUNTER, STATS_ANY, "requests_total", \
	  "HTTP requests answered.") \
	X(accept_paused, STATS_COUNTER, STATS_ANY, "accept_pauses_total", \
	  "Times a worker stopped accepting (connection cap or out of " \
	  "descriptors).") \
	X(forced_closes, STATS_COUNTER, STATS_ANY, "forced_closes_total", \
	  "Connections closed at a drain deadline.") \
	X(handed_over, STATS_COUNTER, STATS_ANY, \
	  "connections_handed_over_total", \
	  "Connections handed to the new generation at a reload.") \
	X(taken_over, STATS_COUNTER, STATS_ANY, "connections_taken_over_total", \
	  "Connections taken from the old generation at a reload.") \
	X(loop_turns, STATS_COUNTER, STATS_ANY, "loop_iterations_total", \
	  "Turns of the worker's event loop: the watchdog's sign of life.") \
	X(timeouts_header, STATS_COUNTER, STATS_HTTP, "timeouts_header_total", \
	  "Connections closed by the header timeout.") \
	X(timeouts_body, STATS_COUNTER, STATS_HTTP, "timeouts_body_total", \
	  "Connections closed when a request body stopped arriving.") \
	X(timeouts_keepalive, STATS_COUNTER, STATS_HTTP, \
	  "timeouts_keepalive_total", \
	  "Connections closed by the keep-alive timeout.") \
	X(timeouts_send, STATS_COUNTER, STATS_HTTP, "timeouts_send_total", \
	  "Connections closed by the send timeout.") \
	X(not_modified, STATS_COUNTER, STATS_HTTP, "not_modified_total", \
	  "HTTP 304 answers: the client's copy of a file is current.") \
	X(precondition_failed, STATS_COUNTER, STATS_HTTP, \
	  "precondition_failed_total", \
	  "HTTP 412 answers: If-Match or If-Unmodified-Since failed.") \
	X(precompressed, STATS_COUNTER, STATS_HTTP, "precompressed_total", \
	  "File answers from a precompressed copy (.br, .gz), 304s " \
	  "included.") \
	X(open_file_cache_hits, STATS_COUNTER, STATS_HTTP, \
	  "open_file_cache_hits_total", \
	  "Paths found in the open-file cache (a file, or a status).") \
	X(open_file_cache_misses, STATS_COUNTER, STATS_HTTP, \
	  "open_file_cache_misses_total", \
	  "Paths resolved on disk: not cached, or changed since.") \
	X(open_file_cache_body_hits, STATS_COUNTER, STATS_HTTP, \
	  "open_file_cache_body_hits_total", \
	  "File answers whose bytes came from the open-file cache's copy " \
	  "(open_file_cache_content), with no read.") \
	X(open_file_cache_evictions, STATS_COUNTER, STATS_HTTP, \
	  "open_file_cache_evictions_total", \
	  "Open-file cache entries closed to make room, or for lack of " \
	  "descriptors.") \
	X(responses, STATS_CLASSES, STATS_HTTP, "responses_total", \
	  "HTTP responses by status class.") \
	X(access_log_lines, STATS_COUNTER, STATS_HTTP, \
	  "access_log_lines_total", "Access log lines written.") \
	X(access_log_dropped, STATS_COUNTER, STATS_HTTP, \
	  "access_log_dropped_total", \
	  "Access log lines dropped by a failed write (disk full...).") \
	X(vhost_requests, STATS_VHOSTS, STATS_HTTP, "vhost_requests_total", \
	  "HTTP requests answered, by the virtual host that took them.") \
	STATS_PROXY_COUNTERS(X)

/* The TCP proxy's (proto_tcpproxy.c). */
#define STATS_PROXY_COUNTERS(X) \
	X(proxy_connects, STATS_COUNTER, STATS_PROXY, "proxy_connects_total", \
	  "Upstream connections established.") \
	X(proxy_connect_errors, STATS_COUNTER, STATS_PROXY, \
	  "proxy_connect_errors_total", \
	  "Upstream connects that failed (refused, unreachable, timed " \
	  "out, no local port).") \
	X(proxy_connect_timeouts, STATS_COUNTER, STATS_PROXY, \
	  "proxy_connect_timeouts_total", \
	  "Upstream connects given up after proxy_connect_timeout.") \
	X(proxy_port_exhausted, STATS_COUNTER, STATS_PROXY, \
	  "proxy_port_exhausted_total", \
	  "Upstream connects refused by the kernel for want of a local " \
	  "port (EADDRNOTAVAIL).") \
	X(proxy_retries, STATS_COUNTER, STATS_PROXY, "proxy_retries_total", \
	  "Failed upstream connects tried again on another server.") \
	X(proxy_no_upstream, STATS_COUNTER, STATS_PROXY, \
	  "proxy_no_upstream_total", \
	  "Clients closed because no upstream server could be reached.") \
	X(proxy_servers_down, STATS_COUNTER, STATS_PROXY, \
	  "proxy_servers_down_total", \
	  "Times a server was marked down after max_fails failed connects.") \
	X(proxy_bytes_up, STATS_COUNTER, STATS_PROXY, \
	  "proxy_upstream_bytes_total", \
	  "Bytes relayed from clients to upstream servers.") \
	X(proxy_bytes_down, STATS_COUNTER, STATS_PROXY, \
	  "proxy_downstream_bytes_total", \
	  "Bytes relayed from upstream servers to clients.") \
	X(proxy_buffered, STATS_GAUGE, STATS_PROXY, "proxy_buffered_bytes", \
	  "Relayed bytes waiting in the proxy for a slow side to take them.") \
	X(proxy_resets, STATS_COUNTER, STATS_PROXY, "proxy_resets_total", \
	  "Proxied connections ended by a reset, passed on to the other " \
	  "side.") \
	X(proxy_timeouts_idle, STATS_COUNTER, STATS_PROXY, \
	  "proxy_timeouts_idle_total", \
	  "Proxied connections closed after proxy_idle_timeout of silence.") \
	X(upstream_active, STATS_UPSTREAM_GAUGES, STATS_PROXY, \
	  "upstream_connections_active", \
	  "Connections open to each upstream server.") \
	X(upstream_down, STATS_UPSTREAM_GAUGES, STATS_PROXY, "upstream_down", \
	  "1 while a worker has the server marked down (summed: the " \
	  "workers that have).") \
	X(upstream_checks, STATS_UPSTREAMS, STATS_PROXY, \
	  "upstream_health_checks_total", \
	  "Active health checks of each upstream server.") \
	X(upstream_checks_failed, STATS_UPSTREAMS, STATS_PROXY, \
	  "upstream_health_checks_failed_total", \
	  "Active health checks of each upstream server that failed.") \
	X(upstream_connects, STATS_UPSTREAMS, STATS_PROXY, \
	  "upstream_connects_total", \
	  "Connections established to each upstream server.") \
	X(upstream_connect_errors, STATS_UPSTREAMS, STATS_PROXY, \
	  "upstream_connect_errors_total", \
	  "Failed connects to each upstream server.") \
	STATS_UPSTREAM_DETAIL(X) \
	STATS_HTTP_PROXY_COUNTERS(X)

/* The HTTP proxy's (proto_httpproxy.c), besides the TCP proxy's connect
 * and per-server counters, which it keeps too. */
#define STATS_HTTP_PROXY_COUNTERS(X) \
	X(http_proxy_requests, STATS_COUNTER, STATS_HTTP_PROXY, \
	  "http_proxy_requests_total", \
	  "Requests sent to an upstream server (a re-sent one once).") \
	X(http_proxy_reuses, STATS_COUNTER, STATS_HTTP_PROXY, \
	  "http_proxy_reuses_total", \
	  "Requests sent on an idle upstream connection from the pool.") \
	X(http_proxy_pool_idle, STATS_GAUGE, STATS_HTTP_PROXY, \
	  "http_proxy_pool_idle", \
	  "Idle upstream connections kept in the pools.") \
	X(http_proxy_pool_closed, STATS_COUNTER, STATS_HTTP_PROXY, \
	  "http_proxy_pool_closed_total", \
	  "Idle pooled connections closed: by the upstream, on junk, at " \
	  "proxy_pool_timeout or to make room.") \
	X(http_proxy_resends, STATS_COUNTER, STATS_HTTP_PROXY, \
	  "http_proxy_resends_total", \
	  "Requests sent again on a new connection after a pooled one " \
	  "closed before answering (idempotent, no body).") \
	X(http_proxy_bad_responses, STATS_COUNTER, STATS_HTTP_PROXY, \
	  "http_proxy_bad_responses_total", \
	  "Upstream responses refused as malformed or over the limits.") \
	X(http_proxy_aborted, STATS_COUNTER, STATS_HTTP_PROXY, \
	  "http_proxy_aborted_total", \
	  "Exchanges cut after part of the response was sent: the client " \
	  "is closed.") \
	X(http_proxy_502, STATS_COUNTER, STATS_HTTP_PROXY, \
	  "http_proxy_502_total", \
	  "502 answers: no upstream reachable, or its answer malformed or " \
	  "cut.") \
	X(http_proxy_503, STATS_COUNTER, STATS_HTTP_PROXY, \
	  "http_proxy_503_total", \
	  "503 answers: no local port left for the upstream connection.") \
	X(http_proxy_504, STATS_COUNTER, STATS_HTTP_PROXY, \
	  "http_proxy_504_total", \
	  "504 answers: no response within proxy_read_timeout.") \
	X(upstream_requests, STATS_UPSTREAMS, STATS_HTTP_PROXY, \
	  "upstream_requests_total", "Requests sent to each upstream server.") \
	X(upstream_reuses, STATS_UPSTREAMS, STATS_HTTP_PROXY, \
	  "upstream_reuses_total", \
	  "Requests sent to each server on a pooled connection.") \
	X(upstream_pool_idle, STATS_UPSTREAM_GAUGES, STATS_HTTP_PROXY, \
	  "upstream_pool_idle", \
	  "Idle pooled connections to each upstream server.") \
	X(upstream_gateway_errors, STATS_UPSTREAMS, STATS_HTTP_PROXY, \
	  "upstream_gateway_errors_total", \
	  "502 and 504 answers caused by each server (a malformed, cut or " \
	  "late response).")

/* How each upstream server is doing, and how close each source address
 * range is to running out of ports toward it (issue 15). Counted by
 * upstream_stats.c's hooks, which any proxy protocol calls; rendered by
 * stats_upstream.c. */

/* Why a connect failed, by errno (stats_errno_class). */
#define STATS_ERR_CLASSES(X) \
	X(STATS_ERR_REFUSED, "refused") \
	X(STATS_ERR_TIMEOUT, "timeout") \
	X(STATS_ERR_UNREACHABLE, "unreachable") \
	X(STATS_ERR_NO_PORT, "no_port") \
	X(STATS_ERR_OTHER, "other")
/* Why a worker holds a server down: failed connects or answers
 * (passive health), or a failed active check. */
#define STATS_DOWN_REASONS(X) \
	X(STATS_DOWN_FAILURES, "failures") \
	X(STATS_DOWN_CHECK, "check")
#define STATS_ENUM_ENTRY(id, name) id,
enum stats_err_class { STATS_ERR_CLASSES(STATS_ENUM_ENTRY) STATS_NERR };
enum stats_down_reason { STATS_DOWN_REASONS(STATS_ENUM_ENTRY) STATS_NDOWN };
#undef STATS_ENUM_ENTRY

/* Latency histograms: HIST_NBUCKETS log-scale buckets (hist.h), then
 * the sum of the values in us (Prometheus's _sum). */
#define STATS_HIST_SLOTS 53
/* Source address ranges: each proxy_source line, and one more for the
 * address the kernel chooses when there is none of the server's family
 * (STATS_SOURCE_KERNEL). Ports are counted per range, not per address:
 * a range may hold a /8 of them. */
#define STATS_NSOURCES 17
#define STATS_SOURCE_KERNEL (STATS_NSOURCES - 1)
/* Use of a source range's ports above this: a warning in the log and in
 * the limits document. */
#define STATS_PORTS_WARN_PCT 80

#define STATS_UPSTREAM_DETAIL(X) \
	X(upstream_errors, STATS_UPSTREAM_ERRORS, STATS_PROXY, \
	  "upstream_connect_failures_total", \
	  "Failed connects to each upstream server, by cause (no_port: " \
	  "EADDRNOTAVAIL, the source ports toward it used up).") \
	X(upstream_down_by, STATS_UPSTREAM_DOWN, STATS_PROXY, \
	  "upstream_down_workers", \
	  "Workers holding each server down, by reason (failures: " \
	  "passive health; check: an active check).") \
	X(upstream_connect_us, STATS_UPSTREAM_HIST, STATS_PROXY, \
	  "upstream_connect_seconds", \
	  "Time to establish each upstream connection, summed over the " \
	  "workers.") \
	X(upstream_response_us, STATS_UPSTREAM_HIST, STATS_PROXY, \
	  "upstream_response_seconds", \
	  "Time to the upstream's first byte (tcp_proxy: from the " \
	  "connect, or from the client's first byte if it spoke first), " \
	  "summed over the workers.") \
	X(upstream_ports_available, STATS_SOURCE_GAUGES, STATS_PROXY, \
	  "upstream_source_ports", \
	  "Local ports each source address range has toward one server: " \
	  "addresses times the ports of the range in force (a worker " \
	  "shows its IP_LOCAL_PORT_RANGE slice, or its equal part of " \
	  "ip_local_port_range).") \
	X(upstream_ports_in_use, STATS_PAIR_GAUGES, STATS_PROXY, \
	  "upstream_source_ports_in_use", \
	  "Connections open now from each source address range to each " \
	  "upstream server: a local port each.")

#define STATS_FIELD_STATS_COUNTER(name) uint64_t name;
#define STATS_FIELD_STATS_GAUGE(name) uint64_t name;
#define STATS_FIELD_STATS_CLASSES(name) uint64_t name[STATS_NCLASSES];
#define STATS_FIELD_STATS_VHOSTS(name) uint64_t name[STATS_NVHOSTS + 2];
#define STATS_FIELD_STATS_UPSTREAMS(name) uint64_t name[STATS_NUPSTREAMS];
#define STATS_FIELD_STATS_UPSTREAM_GAUGES(name) uint64_t name[STATS_NUPSTREAMS];
#define STATS_FIELD_STATS_UPSTREAM_ERRORS(name) \
	uint64_t name[STATS_NUPSTREAMS][STATS_NERR];
#define STATS_FIELD_STATS_UPSTREAM_DOWN(name) \
	uint64_t name[STATS_NUPSTREAMS][STATS_NDOWN];
#define STATS_FIELD_STATS_UPSTREAM_HIST(name) \
	uint64_t name[STATS_NUPSTREAMS][STATS_HIST_SLOTS];
#define STATS_FIELD_STATS_SOURCE_GAUGES(name) uint64_t name[STATS_NSOURCES];
#define STATS_FIELD_STATS_PAIR_GAUGES(name) \
	uint64_t name[STATS_NSOURCES][STATS_NUPSTREAMS];
#define STATS_FIELD(name, kind, scope, prom, help) STATS_FIELD_##kind(name)

/* A worker's counts, in memory it shares with the master and as the body
 * of its channel reports (the same binary is on both ends). Every member
 * is a uint64_t, so the struct is also an array of them. */
struct stats_counters {
	STATS_COUNTERS(STATS_FIELD)
};

/* One entry of STATS_COUNTERS, for code that walks every counter. */
struct stats_field {
	const char *name; /* C field and JSON key */
	enum stats_kind kind;
	enum stats_scope scope;
	const char *prom; /* Prometheus family, without the prefix */
	const char *help;
	size_t offset; /* in struct stats_counters */
	unsigned n;    /* values: 1, STATS_NCLASSES... (all of an array) */
};

extern const struct stats_field stats_fields[];
extern const size_t stats_nfields;

/* The field's i-th value in c. */
static inline uint64_t stats_value(const struct stats_counters *c,
				   const struct stats_field *f, unsigned i)
{
	return ((const uint64_t *)(const void *)((const char *)c + f->offset))[i];
}

/* Adds the cumulative counters of src to dst (not the gauges): what a
 * process counted, carried over after it exited. */
void stats_accumulate(struct stats_counters *dst,
		      const struct stats_counters *src);
/* dst += src, every field: workers summed into totals. */
void stats_add(struct stats_counters *dst, const struct stats_counters *src);
/* Zeroes c writing only the words that are not zero already: a memset
 * of the ~35 KB would make every page of it resident. */
void stats_clear(struct stats_counters *c);

/* Which vhost name each counter of vhost_requests stands for: kept by
 * the master for its lifetime, so that a reload that reorders, adds or
 * removes vhosts leaves every name with its own count. */
struct stats_vhost_names {
	char name[STATS_NVHOSTS][STATS_VHOST_NAME_MAX + 1]; /* "": unused */
};

/* The counter of vhost name: the one it had, else the first unused one,
 * else STATS_VHOST_OTHER. */
unsigned stats_vhost_slot(struct stats_vhost_names *t, const char *name);
/* The name value k of a STATS_VHOSTS field is shown under: the vhost's
 * (t may be NULL), "(other)", "(default)"; NULL for a counter no vhost
 * has had, which is not shown. */
const char *stats_vhost_label(const struct stats_vhost_names *t, unsigned k);

/* The class of a failed connect's errno; and the names of the classes
 * and of the down reasons, as the documents show them. */
enum stats_err_class stats_errno_class(int err);
const char *stats_err_name(unsigned k);
const char *stats_down_name(unsigned k);

/* A worker process as the master sees it. */
#define STATS_WORKER_STATES(X) \
	X(STATS_WORKER_STARTING, "starting") \
	X(STATS_WORKER_RUNNING, "running") \
	X(STATS_WORKER_DRAINING, "draining") \
	X(STATS_WORKER_UNRESPONSIVE, "unresponsive") \
	X(STATS_WORKER_EXITED, "exited")

#define STATS_STATE_ENUM(id, name) id,
enum stats_worker_state { STATS_WORKER_STATES(STATS_STATE_ENUM) };
#undef STATS_STATE_ENUM

const char *stats_worker_state_name(enum stats_worker_state s);

/* One connection of the `connections` document, as a worker reports it
 * over the channel. */
struct stats_conn {
	union addr_sa local, remote;
	int32_t worker;
	int32_t tcp_state; /* TCP_ESTABLISHED... from TCP_INFO */
	uint64_t age_ms, bytes_in, bytes_out;
};

#endif
