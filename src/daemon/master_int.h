/* master_int.h - the master's state, shared by the files that make up
 * the master: master.c (the cycle) and master_upgrade.c (its side of a
 * binary upgrade). Nothing else includes it. */
#ifndef RP_MASTER_INT_H
#define RP_MASTER_INT_H

#include <stdint.h>

#include "config.h"
#include "loop.h"
#include "proc.h"
#include "query.h"
#include "slots.h"
#include "statsock.h"
#include "syslimits.h"
#include "upgrade.h"

/* Stats clients waiting for a reload's, or an upgrade's, outcome at
 * once. */
#define MASTER_RELOAD_WAITERS 8

/* A reload that changes the listen addresses (master_listen.c): what
 * it adds and removes, and the drain of the removed listeners. */
struct master_listen {
	int from[CFG_MAX_LISTEN]; /* see slots_relisten_plan */
	int changed;
	struct addr added[CFG_MAX_LISTEN], removed[CFG_MAX_LISTEN];
	int nadded, nremoved;
	/* Draining the removed listeners: since when no new connection
	 * starts on them, how long to give the handshakes under way, and
	 * which worker accepts on each slot's (pid: it may have died). */
	int draining;
	uint64_t blocked_ms, grace_ms;
	pid_t holder[CFG_MAX_WORKERS];
	struct loop_timer timer;
};

struct master {
	struct config *cfg; /* replaced in place by a reload */
	struct limits lim;
	struct loop *loop;
	struct loop_watch sig;
	struct statsock *statsock;
	struct statsock *metrics; /* the Prometheus endpoint, if configured */
	struct slots slots;
	struct proc_table procs;
	struct query_set queries;
	int stopping; /* 1 graceful, 2 fast */
	int exit_status;
	int gen_ready;      /* the current generation has come up */
	int ever_ready;     /* some generation has: start-up is over */
	int ready_fd;       /* written once: is the first generation up? */
	int start_reported; /* it was: "1" closes it, "0" leaves it */
	/* What a reload replaced, to go back to if its generation cannot
	 * come up. */
	struct config prev_cfg;
	int prev_nworkers, prev_nslots;
	struct loop_timer stop_deadline, watchdog;
	uint64_t last_tick_ms; /* of the watchdog */
	/* Stats clients that asked for the reload under way (`reload`):
	 * answered when it is done or has failed. */
	struct statsock_client *reload_waiters[MASTER_RELOAD_WAITERS];
	int nreload_waiters;
	uint64_t stop_ms; /* when stopping began */
	/* A binary upgrade (master_upgrade.c): the state, the stats clients
	 * waiting for its outcome (`upgrade`), and, in a new master, how
	 * many of its slots are the old master's sockets. */
	struct upgrade up;
	struct statsock_client *upgrade_waiters[MASTER_RELOAD_WAITERS];
	int nupgrade_waiters;
	int inherited_slots;
	struct master_listen lc;
};

/* master.c */
/* Sets the reuseport group's program from the slots whose workers run
 * (total: the slots the group will have; see slots_steer). */
void master_steer(struct master *m, int total);
/* The stats socket's (and metrics endpoint's) handler. */
void master_on_stats_command(void *arg, struct statsock_client *cl,
			     const struct statsock_cmd *cmd);
/* Refuses what cannot be done while a reload's or an upgrade's workers
 * are still settling: 0, or -1 with the reason. */
int master_busy(const struct master *m, char *err, size_t errlen);

/* Whoever waits for the reload's outcome hears it (failure NULL: it
 * is done). */
void master_reload_answer(struct master *m, const char *failure);

/* master_listen.c */
void master_listen_init(struct master *m);
/* Which addresses the configuration nc adds and removes; the kept ones
 * take the ports they run on. */
void master_listen_plan(struct master *m, struct config *nc);
/* A reload's new listeners (nothing if the addresses stay): 0, or -1
 * with the reason and nothing changed. */
int master_listen_open(struct master *m, struct config *nc, char *err,
		       size_t errlen);
/* The reload failed or was rolled back: the listeners are as before. */
void master_listen_undo(struct master *m);
/* The reload's generation is up: the removed addresses get no new
 * connection and are drained, then closed. 1 if that is under way (the
 * reload's answer waits for it), 0 if there is nothing to drain. */
int master_listen_commit(struct master *m);
/* The daemon stops: no more draining (the listeners close with the
 * others). */
void master_listen_stop(struct master *m);
/* "listen: added A, removed B" (or "listen: unchanged"). */
const char *master_listen_describe(const struct master *m, char *buf, size_t len);

/* master_upgrade.c */
extern const struct upgrade_ops master_upgrade_ops;
/* SIGUSR2, or `upgrade` on the stats socket (cl, answered with the
 * outcome; NULL for the signal). */
void master_upgrade(struct master *m, struct statsock_client *cl);
/* Whoever waits for an upgrade's outcome hears it. */
void master_upgrade_answer(struct master *m, const char *failure);
/* A new master's start: the old one's listeners, stats socket and
 * metrics endpoint, in place of opening its own; nothing of the service
 * is ours until it is handed over. 0, or -1 with the reason. */
int master_open_inherited(struct master *m, const struct upgrade_fds *in,
			  char *err, size_t errlen);

#endif
