/* proc.h - the master's table of worker processes: who runs in which
 * slot, of which generation; forking, respawning with backoff, reaping,
 * and carrying each process's counters over when it exits, so that no
 * total ever goes backwards.
 *
 * A slot's record of the current generation lives on across respawns
 * (restarts, backoff); an older generation's records are "retiring" until
 * their processes exit. What to do when something happens (respawn, stop,
 * reload) is decided by master.c; this file does it. */
#ifndef RP_PROC_H
#define RP_PROC_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "channel.h"
#include "config.h"
#include "loop.h"
#include "stats.h"

struct limits;
struct slots;
struct proc_table;
struct stats_worker_view;

struct proc {
	struct proc_table *t;
	struct proc *next; /* in the retiring list */
	int slot;
	int generation;
	pid_t pid;      /* 0: not running */
	pid_t last_pid; /* the process that exited last, for the logs */
	enum stats_worker_state state; /* STARTING, RUNNING, DRAINING, EXITED */
	int retiring;
	int unresponsive; /* silent too long (master.c's watchdog) */
	int killed;       /* SIGKILL sent: its exit (the kernel closing
			   * what it held) may take a while; once is enough */
	unsigned restarts;
	unsigned fails; /* consecutive exits soon after starting */
	uint64_t started_ms, last_seen_ms;
	/* What proc_progress last saw of the worker's work in the shared
	 * counters, and when it last moved. */
	uint64_t progress_mark, progress_ms;
	/* The kernel's count of the time it waited for a CPU, at the last
	 * look during a silence (proc_starved); valid: there was one. */
	uint64_t run_delay_ns;
	uint64_t run_ns0; /* its CPU time at the first look of the silence */
	int run_delay_valid;
	char last_exit[48]; /* "status N" or "signal N (name)"; "" never */
	char failure[240];  /* why it could not start, as it said (FAILED) */
	uint32_t handoff_pending; /* connections relayed to it, not TAKEN yet */
	/* Told to drain while connections were on their way to it: it
	 * drains, with this quota, once it has taken them (a worker that
	 * drained and exited first would lose them with its channel). */
	int drain_deferred;
	uint32_t drain_quota;
	int adopter; /* slot whose worker holds this slot's listeners
			     * while this one is down; -1: none */
	struct chan chan;
	/* The process's counters, in memory shared with it (worker.h): the
	 * channel is how a live worker is asked, this is how the master
	 * learns, exactly, what a worker that died had counted. */
	struct stats_counters *shared;
	/* A retiring process takes its slot's history along, so that its
	 * own series never goes backwards; it goes back to a slot on exit. */
	struct stats_counters history;
	struct loop_timer timer; /* respawn, or the kill of a deaf worker */
};

struct proc_slot {
	struct stats_counters past; /* what its exited processes counted */
	struct proc *cur;           /* NULL beyond the current worker count */
};

struct proc_table {
	struct loop *loop;
	const struct config *cfg;
	const struct limits *lim;
	const struct slots *slots;
	chan_msg_fn on_msg;     /* a worker's message, for master.c */
	chan_close_fn on_close; /* a worker's channel closed under it */
	struct proc_slot slot[CFG_MAX_WORKERS];
	int nworkers; /* of the current generation */
	int peak;     /* the most workers any generation had */
	int generation;
	struct proc *retiring;
	int nretiring;
	int stopping; /* no respawns any more */
	/* Another master serves the port (a binary upgrade): workers told
	 * to drain keep their idle connections for one last request. */
	int keep_idle;
};

/* t must be zeroed storage (static or calloc'd): it is not cleared
 * here, so that the pages of slots never used stay untouched. */
void proc_table_init(struct proc_table *t, struct loop *l,
		     const struct config *cfg, const struct limits *lim,
		     const struct slots *slots, chan_msg_fn on_msg,
		     chan_close_fn on_close);
/* Frees every record; running processes are the caller's business. */
void proc_table_cleanup(struct proc_table *t);

/* Records for a generation of n workers, not started yet: 0, or -1 when
 * out of memory (nothing changed). */
int proc_generation_alloc(struct proc_table *t, struct proc **out, int n);
void proc_generation_free(struct proc **ps, int n);
/* The current generation retires (its processes stay until they exit)
 * and ps, n become the current one, started now. */
void proc_generation_start(struct proc_table *t, struct proc **ps, int n);
/* Every worker of the current generation has said it is ready. */
int proc_generation_running(const struct proc_table *t);
/* The current generation could not come up: its workers go (drained if
 * they run, killed if still starting) and the previous one, still
 * serving, is current again with prev_n workers (a slot whose old worker
 * is gone gets a new one). */
void proc_generation_rollback(struct proc_table *t, int prev_n);

/* p is down: the running worker adopter accepts on p's listeners (its
 * own slot's and the surplus ones it served) until proc_take_back. */
void proc_lend(struct proc *p, struct proc *adopter);
/* p is up again, or its adopter went: the listeners are given back. */
void proc_take_back(struct proc *p);

/* Iterates over every record, current generation then retiring:
 * for (p = proc_first(t); p; p = proc_next(t, p)). */
struct proc *proc_first(const struct proc_table *t);
struct proc *proc_next(const struct proc_table *t, const struct proc *p);
/* Some process of any generation still runs. */
int proc_any_running(const struct proc_table *t);

/* Reaps one exited child: 1 and its record in *out (counters carried
 * over, exit recorded), 0 for a child that was not a worker (a binary
 * upgrade's new master: its pid and wait status in *pid, *status), -1
 * when no more have exited. */
int proc_reap(struct proc_table *t, struct proc **out, pid_t *pid, int *status);
/* A retiring record whose process exited: freed. */
void proc_free(struct proc *p);
/* A current-generation record whose process exited: respawned after
 * the backoff (none after a run that lasted). Returns the delay in ms. */
uint64_t proc_respawn_later(struct proc *p);

/* Has the worker visibly worked since the last look: its loop turned,
 * or it accepted, closed or moved connections? Updates progress_ms. A
 * worker closing 17,000 connections while 58 others do the same may not
 * turn its loop for seconds, but its counters move at every close. */
int proc_progress(struct proc *p, uint64_t now);
/* A silent worker that was waiting for a CPU (runnable, not run: a
 * machine with hundreds of busy processes on 2 cores) is starved, not
 * stuck: the wait since the last look, from /proc/PID/schedstat, moves
 * progress_ms forward. Not so for one that ran PROC_SPIN_CPU_MS of CPU
 * in the silence without a loop turn or a counter moving: it spins, and
 * its waits (its share of a crowded CPU) excuse nothing. Returns the ms
 * excused. proc_starved_reset when the silence ends. */
#define PROC_SPIN_CPU_MS 2000
uint64_t proc_starved(struct proc *p, uint64_t now);
void proc_starved_reset(struct proc *p);
/* The arithmetic of proc_starved, for what schedstat said: the time
 * spent on a CPU and waiting for one, in ns. */
uint64_t proc_excuse_wait(struct proc *p, uint64_t now, uint64_t run_ns,
			  uint64_t delay_ns);
/* The time pid ran and waited on a run queue, in ns (schedstat's first
 * two fields): 0, or -1 when they cannot be read (no such process, no
 * schedstats). */
int proc_sched(pid_t pid, uint64_t *run_ns, uint64_t *delay_ns);
/* The worker spoke: it is alive, whatever it said. */
void proc_heard(struct proc *p, uint64_t now);
/* The worker did not answer a question within ms: shown unresponsive
 * until it speaks again. */
void proc_unanswered(struct proc *p, int ms);
/* The worker listens and runs its loop. */
void proc_ready(struct proc *p);
/* The channel to a live worker closed: kill it if it is still there in
 * a moment (it usually has just died, and SIGCHLD is on its way). */
void proc_channel_lost(struct proc *p);
/* Asks the worker to stop accepting and finish (fast: close now), handing
 * up to `handover` idle connections to the current generation first.
 * A graceful drain waits while a handover is on its way to the worker. */
void proc_drain(struct proc *p, int fast, uint32_t handover);
/* Room for connections in the current generation's running workers
 * (what they may still take, less what is on its way to them). */
uint64_t proc_room(const struct proc_table *t);
/* A worker handed connections over (CHAN_HANDOFF): passed on to a running
 * worker of the current generation, or back when none has room. */
void proc_relay_handoff(struct proc *from, const void *body, size_t len);
/* A worker took them (CHAN_TAKEN): the one that handed them hears it. */
void proc_relay_taken(struct proc *from, const void *body);
void proc_signal(struct proc *p, int signo);
/* SIGKILL, once: 1 if sent now, 0 if it was already (or nothing runs). */
int proc_kill(struct proc *p);

/* What the stats documents show of p. */
void proc_view(const struct proc *p, uint64_t now, struct stats_worker_view *v);

#endif
