/* upstream.h - a worker's view of the servers it proxies to: which one
 * takes the next connection (balance: smooth weighted round robin, least
 * connections, or a hash of the client's address), which are down after
 * failed connects (passive health, like nginx's max_fails and
 * fail_timeout) or failed health checks (active health: health.h runs
 * them, this table keeps their verdict), and which local address and
 * port range a connection to them leaves from. Prefix up_. No I/O but the one probe of the kernel
 * (up_port_range_supported); time is the caller's (now_ms), so that the
 * tests drive the clock. Each worker keeps its own table: health is what
 * this worker saw. */
#ifndef RP_UPSTREAM_H
#define RP_UPSTREAM_H

#include <stdint.h>
#include <sys/socket.h>

#include "addr.h"
#include "config.h"

struct up_server {
	struct addr addr;
	int weight;
	int max_fails; /* 0: never marked down */
	uint64_t fail_timeout_ms;
	int64_t cur;         /* the round robin's running weight */
	unsigned fails;      /* consecutive failed connects */
	uint64_t down_until; /* monotonic ms; 0: up */
	unsigned active;     /* connections to it open now: the caller
			      * counts them, least_conn reads them */
	uint64_t key;        /* a hash of its address, for balance hash */
	/* Active health: consecutive good and bad check results, and the
	 * verdict (down until health_rise good ones in a row). */
	unsigned check_good, check_bad;
	uint8_t check_down;
	uint8_t down_reason; /* enum stats_down_reason, while down */
};

/* Why a server is not picked (up_state). */
enum up_state { UP_UP, UP_DOWN_CHECKS, UP_DOWN_PASSIVE };

struct up_table {
	struct up_server servers[CFG_MAX_UPSTREAMS];
	int n;
	struct cfg_source sources[CFG_MAX_PROXY_SOURCES];
	int nsources;
	/* The next source address of each family: an index over all the
	 * addresses of that family's ranges, in config order. */
	uint64_t next_v4, next_v6;
	uint64_t count_v4, count_v6; /* addresses of each family */
	/* IP_LOCAL_PORT_RANGE for every upstream socket, hi << 16 | lo;
	 * 0: none (the kernel's ip_local_port_range). */
	uint32_t port_range;
	enum cfg_balance balance;
	int rise, fall; /* health_rise, health_fall */
	/* The last port-exhaustion line logged (up_connect_failed). */
	uint64_t last_exhausted_log;
	/* The worker's counters (upstream_stats.c); NULL: none kept. */
	struct stats_counters *stats;
};

void up_table_init(struct up_table *t, const struct config *cfg);
/* The server for the next connection from client (accept's address; the
 * port is ignored; NULL: none known, balance hash then does round
 * robin): among the usable ones (up, or passively down for longer than
 * their fail_timeout: tried again; never one down by checks), the one
 * that the table's balance picks, avoiding server avoid (-1: none)
 * unless it is the only usable one. -1 when every server is down.
 * - round_robin: smooth weighted round robin (nginx's): over a cycle,
 *   each server weight times, spread out rather than in runs.
 * - least_conn: the fewest active connections per unit of weight; ties
 *   are broken by the round robin, so equal servers still alternate.
 * - hash: weighted rendezvous hashing of the client's address: each
 *   server scores weight / -ln(h), h a hash of (client, server) in
 *   (0, 1); the highest score wins. A server takes clients in proportion
 *   to its weight; one that goes down loses only its own clients, who go
 *   to their second choice, and they come back when it does. */
int up_pick(struct up_table *t, uint64_t now_ms, int avoid,
	    const struct sockaddr *client);
/* A connect to server i failed. Returns 1 when this marks it down (its
 * max_fails-th failure in a row; a server tried again after being down
 * goes down at its first failure), else 0. */
int up_failed(struct up_table *t, int i, uint64_t now_ms);
/* A connect to server i succeeded: its failures are forgotten. */
void up_succeeded(struct up_table *t, int i);
/* 1 while server i is down at now_ms (no connection is tried). */
int up_is_down(const struct up_table *t, int i, uint64_t now_ms);
/* Whether server i is up at now_ms, and if not, why (checks first: a
 * server failed by both stays down until its checks pass). */
enum up_state up_state(const struct up_table *t, int i, uint64_t now_ms);
/* A health check of server i passed (ok 1) or failed (0). Returns +1
 * when this brings it up (its health_rise-th pass in a row), -1 when it
 * takes it down (its health_fall-th failure in a row), else 0. A server
 * starts up, as HAProxy's do: traffic is not held back until the first
 * checks have run. */
int up_check_result(struct up_table *t, int i, int ok);
/* The local address for the next connection to a server of family
 * (round robin over proxy_source's addresses of that family), port 0.
 * 0, or -1 when there is none (the kernel then chooses). */
int up_next_source(struct up_table *t, int family, union addr_sa *out,
		   socklen_t *len);
/* The same, and which proxy_source line it came from in *range (its
 * index; STATS_SOURCE_KERNEL when the kernel chooses). */
int up_next_source_in(struct up_table *t, int family, union addr_sa *out,
		      socklen_t *len, int *range);
/* This worker's slice [*lo, *hi] of the ports lo..hi when nworkers share
 * them: disjoint slices, together the whole range. */
void up_port_slice(int lo, int hi, int worker, int nworkers, int *slo, int *shi);
/* Sets the port range of worker (of nworkers) from cfg: proxy_port_range
 * off, auto (sys_lo..sys_hi: ip_local_port_range) or LO-HI. */
void up_set_ports(struct up_table *t, const struct config *cfg, int worker,
		  int nworkers, long sys_lo, long sys_hi);
/* 1 if the kernel takes IP_LOCAL_PORT_RANGE (Linux 6.3+), else 0. */
int up_port_range_supported(void);

/* --- what the servers and the sources cost (upstream_stats.c) ---
 *
 * The hooks a proxy protocol calls; they count in t->stats (the
 * STATS_UPSTREAM_DETAIL block), nothing when it is NULL. server is the
 * index in the table, source what up_next_source_in gave. */

struct stats_counters;

void up_table_count_in(struct up_table *t, struct stats_counters *stats);
/* A connect to server from source ended after us microseconds: err 0,
 * established (its time counted; it holds a port of source toward
 * server until up_record_close), or the errno it failed with (counted
 * by class: EADDRNOTAVAIL is the source's ports used up). */
void up_record_connect(struct up_table *t, int server, int source, uint64_t us,
		       int err);
/* An established connection from source to server closed. */
void up_record_close(struct up_table *t, int server, int source);
/* The server's first byte of an answer came us microseconds after it
 * was asked (what "asked" is, is the protocol's: see the stats doc). */
void up_record_response(struct up_table *t, int server, uint64_t us);
/* Server i is down until now_ms + ms for reason (an active check's
 * verdict: STATS_DOWN_CHECK); passive failures go through up_failed. */
void up_mark_down(struct up_table *t, int i, uint64_t now_ms, uint64_t ms,
		  int reason);
/* The down gauges from the table's state at now_ms. Returns the ms
 * until the next server comes back (0: none is down), for a timer that
 * calls again then: a server's state must not wait for traffic. */
uint64_t up_publish_state(struct up_table *t, uint64_t now_ms);
/* The ports each source range has in this worker (of nworkers): its
 * addresses times the ports of its IP_LOCAL_PORT_RANGE slice, or of its
 * equal part of sys_lo..sys_hi (ip_local_port_range) when the workers
 * share that whole range. */
void up_publish_ports(struct up_table *t, int worker, int nworkers, long sys_lo,
		      long sys_hi);

/* A connect to server i from source range source (up_next_source_in)
 * failed with err at now_ms: counted (the causes, the timeouts, port
 * exhaustion), port exhaustion logged at most once a second (it comes in
 * floods) with hint as the remedy, and passive health told - unless the
 * failure is this host's (no local port, no descriptor, no memory),
 * which says nothing of the server. Its going down is counted and
 * logged. */
void up_connect_failed(struct up_table *t, int i, int source, int err,
		       uint64_t now_ms, const char *hint);

#endif
