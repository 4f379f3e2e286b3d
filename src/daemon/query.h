/* query.h - the master's answers on the stats socket. stats, workers and
 * prometheus come at once from the counters each worker keeps in memory
 * it shares with the master (a worker that hangs cannot delay them).
 * connections is a listing of any size: asked of every worker a page at a
 * time, written to the client as the pages come and as fast as it reads,
 * with exact totals or, if a worker does not answer a page within
 * stats_timeout or dies, marked partial with the reason. */
#ifndef RP_QUERY_H
#define RP_QUERY_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "stats.h"

struct config;
struct limits;
struct loop;
struct proc;
struct proc_table;
struct query;
struct statsock_client;
struct statsock_cmd;

/* The questions being answered, and what the answers are made of. */
struct query_set {
	struct loop *loop;
	struct proc_table *procs;
	const struct config *cfg;
	const struct limits *lim;
	uint64_t start_ms;
	struct query *head;
	uint64_t seq;                         /* of the last question asked */
	struct stats_vhost_names vhost_names; /* of vhost_requests' counters */
	/* When each (source range, upstream server) pair's port use was
	 * last warned of (query_watch_ports); 0: never. */
	uint64_t ports_warned_ms[STATS_NSOURCES][STATS_NUPSTREAMS];
};

/* A pair's high port use is logged at most this often. */
#define QUERY_PORTS_WARN_MS 60000

void query_set_init(struct query_set *qs, struct loop *l, struct proc_table *procs,
		    const struct config *cfg, const struct limits *lim);
/* Gives each vhost of cfg its request counter: the one its name had in
 * the configurations before (a reload keeps a name's count), else a new
 * one. Before the workers of cfg are forked. */
void query_set_vhosts(struct query_set *qs, struct config *cfg);
/* Drops every question unanswered (the master is exiting: the stats
 * socket and its clients are closed by their owner). */
void query_set_cleanup(struct query_set *qs);

/* The stats socket's handler: answers cmd from cl, at once or once the
 * workers have answered. */
void query_command(struct query_set *qs, struct statsock_client *cl,
		   const struct statsock_cmd *cmd);
/* The master's tick: logs each source/server pair whose port use is
 * above STATS_PORTS_WARN_PCT (once a minute per pair at most). */
void query_watch_ports(struct query_set *qs, uint64_t now);
/* p answered listing seq with a page (CONNS or CONN_GROUPS, checked by
 * the channel). A page nobody waits for any more is ignored. */
void query_answer(struct query_set *qs, const struct proc *p, int type,
		  uint64_t seq, const void *body);
/* p's process pid is gone (or deaf): the questions waiting for it stop
 * waiting. */
void query_forget(struct query_set *qs, const struct proc *p, pid_t pid);

#endif
