/* master.c - the supervisor's cycle: what the master does when a signal
 * arrives, a worker speaks or dies, a generation is ready, or a timer
 * fires. It owns the listening slots (slots.c), the process table
 * (proc.c), the stats socket (statsock.c) and its questions (query.c).
 *
 * No work happens in a signal handler (a signalfd brings the signals to
 * the loop), and nothing a worker or a client does can end this process:
 * a worker that dies is counted and respawned, one that breaks the
 * channel protocol is replaced, a client that misbehaves is dropped. */
#include "autoconfig.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "access_log.h"
#include "channel.h"
#include "log.h"
#include "master.h"
#include "master_int.h"
#include "mime.h"
#include "notify.h"
#include "privdrop.h"
#include "proc.h"
#include "query.h"
#include "slots.h"
#include "stats_doc.h"
#include "statsock.h"
#include "syslimits.h"
#include "util.h"

/* The master asks every worker for a heartbeat this often; the watchdog
 * watches the answers. */
#define HEARTBEAT_MS 1000
/* Silent this long: shown as unresponsive (killed at watchdog_timeout). */
#define UNRESPONSIVE_MS 3000
/* A gap this long between two watchdog ticks means the master itself did
 * not run (stopped, frozen, starved of CPU): what the workers did not say
 * meanwhile is not held against them. */
#define STALL_MS (3 * HEARTBEAT_MS)
/* Draining workers that may pile up under repeated reloads. */
#define MAX_RETIRING (4 * CFG_MAX_WORKERS)
/* Extra time over shutdown_timeout before stragglers are killed, and the
 * most a worker still making progress (closing) is given. */
#define STOP_GRACE_MS 3000
#define STOP_MAX_MS 120000

static struct master the_master;
static master_reload_fn reload_fn;

void master_set_reload(master_reload_fn fn)
{
	reload_fn = fn;
}

static struct master *master_of(const struct proc *p)
{
	return util_container_of(p->t, struct master, procs);
}

/* --- where new connections go --- */

/* The slots a worker takes new work from: its process runs, neither
 * starting nor draining (during a reload, the old generation's until the
 * new one is up). */
static int master_live_slots(const struct master *m, int *live)
{
	char serving[CFG_MAX_WORKERS] = { 0 };
	int n = 0;

	for (struct proc *p = proc_first(&m->procs); p;
	     p = proc_next(&m->procs, p))
		if (p->pid && p->state == STATS_WORKER_RUNNING)
			serving[p->slot] = 1;
	for (int i = 0; i < m->slots.nslots; i++)
		if (serving[i])
			live[n++] = i;
	return n;
}

void master_steer(struct master *m, int total)
{
	int live[CFG_MAX_WORKERS];
	int n = master_live_slots(m, live);

	slots_steer(&m->slots, live, n, UTIL_MAX(total, m->slots.nslots));
}

/* A running worker of the current generation to hold down's listeners:
 * the next one after its slot. NULL if none runs. */
static struct proc *master_adopter(struct master *m, const struct proc *down)
{
	int n = m->procs.nworkers;

	for (int k = 1; k < n; k++) {
		struct proc *p = m->procs.slot[(down->slot + k) % n].cur;

		if (p && p->pid && p->state == STATS_WORKER_RUNNING &&
		    p->chan.open)
			return p;
	}
	return NULL;
}

/* p's process is gone and will be respawned: no new connections go to
 * its slots, and a live worker takes what waits in their queues (and in
 * those p had adopted) - a queue must not wait out a respawn backoff. */
static void master_orphaned(struct master *m, struct proc *p)
{
	struct proc *a;

	for (int i = 0; i < m->procs.nworkers; i++) {
		struct proc *q = m->procs.slot[i].cur;

		if (q && q != p && !q->pid && q->adopter == p->slot) {
			q->adopter = -1;
			if ((a = master_adopter(m, q)))
				proc_lend(q, a);
		}
	}
	if ((a = master_adopter(m, p)))
		proc_lend(p, a);
	master_steer(m, 0);
}

/* --- a generation comes up --- */

/* Tells the detaching parent how start-up went: "1", or "0" and why.
 * The parent exits when the pipe closes: at once after "1"; after "0"
 * only once master_run's caller closes it, when the stats socket and
 * the pidfile are gone (closed here, the parent could exit 1 while they
 * were still there, and an init script or a test see them left). */
static void master_report_start(struct master *m, const char *failure)
{
	char msg[512];
	int n = snprintf(msg, sizeof(msg), "%s%s", failure ? "0" : "1",
			 failure ? failure : "");

	if (m->ready_fd < 0 || m->start_reported)
		return;
	m->start_reported = 1;
	if (write(m->ready_fd, msg, (size_t)UTIL_MIN(n, (int)sizeof(msg) - 1)) < 0)
		log_warn("start-up notification: %s", strerror(errno));
	if (failure)
		return;
	close(m->ready_fd);
	m->ready_fd = -1;
}

/* How many idle connections each old worker about to drain may hand to
 * the new generation: its room, shared among them. None when the
 * protocol changed (an echo connection is no HTTP one) or when the
 * configuration says so. */
static uint32_t master_handover_quota(const struct master *m)
{
	int n = 0;

	if (!m->cfg->handover || m->prev_cfg.protocol != m->cfg->protocol)
		return 0;
	for (const struct proc *r = m->procs.retiring; r; r = r->next)
		n += r->pid && r->state != STATS_WORKER_DRAINING;
	return n ? (uint32_t)UTIL_MIN(proc_room(&m->procs) / (uint64_t)n,
				      (uint64_t)UINT32_MAX) :
		   0;
}

static void master_generation_ready(struct master *m)
{
	uint32_t quota;

	m->gen_ready = m->ever_ready = 1;
	master_steer(m, 0);
	if (m->procs.nretiring)
		log_info("generation %d: %d workers ready; draining %d old workers",
			 m->procs.generation, m->procs.nworkers,
			 m->procs.nretiring);
	/* Once the new workers run: their room is what they may take. */
	quota = master_handover_quota(m);
	for (struct proc *r = m->procs.retiring; r; r = r->next)
		if (r->state != STATS_WORKER_DRAINING)
			proc_drain(r, 0, quota);
	notify_send("READY=1\nSTATUS=%d workers running, generation %d",
		    m->procs.nworkers, m->procs.generation);
	master_report_start(m, NULL);
	/* Removed listen addresses: the answer waits for their drain. */
	if (!master_listen_commit(m))
		master_reload_answer(m, NULL);
	/* A new master of an upgrade: the old one may hand over now. */
	upgrade_ready(&m->up);
}

static void master_worker_ready(struct master *m, struct proc *p)
{
	proc_ready(p);
	if (p->retiring)
		return;
	proc_take_back(p);
	if (m->gen_ready)
		master_steer(m, 0);
	else if (proc_generation_running(&m->procs))
		master_generation_ready(m);
}

/* --- workers speak --- */

/* Every message was checked against chan_to_master before it got here. */
static void master_on_msg(struct chan *ch, const struct chan_hdr *h,
			  const void *body)
{
	struct proc *p = ch->arg;
	struct master *m = master_of(p);

	proc_heard(p, util_now_ms());
	switch (h->type) {
	case CHAN_READY:
		master_worker_ready(m, p);
		break;
	case CHAN_ALIVE:
		break; /* proc_heard is all it says */
	case CHAN_CONNS:
	case CHAN_CONN_GROUPS:
		query_answer(&m->queries, p, h->type, h->seq, body);
		break;
	case CHAN_FAILED:
		snprintf(p->failure, sizeof(p->failure), "%s",
			 ((const struct chan_failed *)body)->reason);
		break;
	case CHAN_HANDOFF:
		proc_relay_handoff(p, body, h->len);
		break;
	case CHAN_TAKEN:
		proc_relay_taken(p, body);
		break;
	}
}

static void master_on_chan_close(struct chan *ch, int malformed, const char *why)
{
	struct proc *p = ch->arg;

	query_forget(&master_of(p)->queries, p, p->pid);
	if (!malformed) {
		proc_channel_lost(p);
		return;
	}
	log_error("worker %d: pid %ld broke the channel protocol (%s): a bug in the worker; replacing it",
		  p->slot, (long)p->pid, why);
	proc_kill(p);
}

/* --- workers die --- */

static void master_check_stopped(struct master *m)
{
	if (m->stopping && !proc_any_running(&m->procs))
		loop_stop(m->loop);
}

static void master_stop(struct master *m, int fast, const char *why);

/* The first generation cannot come up: say why to whoever started us,
 * and stop. */
static void master_start_failed(struct master *m, const char *why)
{
	int upgrading = m->up.state == UPGRADE_WAITING;

	log_error("start-up failed: %s", why);
	master_report_start(m, why);
	upgrade_fail(&m->up, why);
	m->exit_status = 1;
	/* A new master of an upgrade: the old one serves on, and the
	 * workers that did start may have taken connections from the
	 * shared queues - they finish them. */
	master_stop(m, !upgrading, "start-up failed");
}

/* What follows from the configuration beyond the workers: the
 * per-worker cap (max_connections, what a connection holds) and the
 * listeners' settings, at a reload and at its rollback. */
static void master_configure(struct master *m)
{
	limits_reload(&m->lim, m->cfg);
	slots_configure(&m->slots, config_defer_accept(m->cfg),
			(int)m->lim.backlog);
}

/* The reload under way is done (failure NULL) or has failed: whoever
 * asked for it on the stats socket hears how. */
void master_reload_answer(struct master *m, const char *failure)
{
	const struct master_listen *lc = &m->lc;

	for (int i = 0; i < m->nreload_waiters; i++) {
		struct statsock_client *cl = m->reload_waiters[i];

		if (failure)
			statsock_reply_error(cl, stats_json_error("reload: %s",
								  failure));
		else
			statsock_reply(cl,
				       stats_json_reload(m->procs.generation,
							 m->procs.nworkers,
							 lc->added, lc->nadded,
							 lc->removed,
							 lc->nremoved));
	}
	m->nreload_waiters = 0;
}

/* A reload's generation cannot come up: the previous one, still serving,
 * stays - with its configuration - and the new slots close. */
static void master_rollback(struct master *m, const char *why)
{
	char failure[600];

	log_error("reload: %s; back to generation %d", why,
		  m->procs.generation - 1);
	*m->cfg = m->prev_cfg;
	mime_tables_keep(m->cfg->mime, NULL);
	config_vhosts_keep(m->cfg, NULL);
	/* The listeners first: a worker the rollback starts again gets
	 * the previous generation's. */
	slots_close_from(&m->slots, m->prev_nslots);
	master_listen_undo(m);
	master_configure(m);
	proc_generation_rollback(&m->procs, m->prev_nworkers);
	m->gen_ready = 1;
	master_steer(m, 0);
	notify_send("READY=1\nSTATUS=reload failed (%s); %d workers running, generation %d",
		    why, m->procs.nworkers, m->procs.generation);
	snprintf(failure, sizeof(failure), "%s; back to generation %d", why,
		 m->procs.generation);
	master_reload_answer(m, failure);
}

/* A worker of a generation not yet up exited: that generation fails. */
static void master_generation_failed(struct master *m, struct proc *p)
{
	char why[320];

	snprintf(why, sizeof(why), "worker %d could not start (%s)", p->slot,
		 p->failure[0] ? p->failure : p->last_exit);
	if (!m->ever_ready)
		master_start_failed(m, why);
	else
		master_rollback(m, why);
}

static void master_child_exited(struct master *m, struct proc *p)
{
	if (p->retiring) {
		proc_free(p);
		master_steer(m, 0);
	} else if (m->stopping) {
		return;
	} else if (!m->gen_ready) {
		master_generation_failed(m, p);
	} else {
		proc_respawn_later(p);
		master_orphaned(m, p);
	}
}

static void master_reap(struct master *m)
{
	struct proc *p;
	pid_t pid;
	int r, status;

	while ((r = proc_reap(&m->procs, &p, &pid, &status)) >= 0)
		if (r == 1) {
			query_forget(&m->queries, p, p->last_pid);
			master_child_exited(m, p);
		} else {
			upgrade_reaped(&m->up, pid, status);
		}
	master_check_stopped(m);
}

/* --- the watchdog --- */

/* How long the worker has neither spoken nor worked, the time it
 * waited for a CPU meanwhile not counted (proc_starved). */
static uint64_t master_stuck_for(struct proc *p, uint64_t now)
{
	uint64_t stuck;

	proc_progress(p, now);
	stuck = now - UTIL_MAX(p->last_seen_ms, p->progress_ms);
	if (stuck < HEARTBEAT_MS) {
		proc_starved_reset(p);
		return stuck;
	}
	if (proc_starved(p, now) == 0)
		return stuck;
	return now - UTIL_MAX(p->last_seen_ms, p->progress_ms);
}

/* Silence kills a worker only when it makes no progress either (its
 * loop, its connections: proc_progress) and it was not waiting for a
 * CPU: a worker busy closing 17,000 sockets, or starved of CPU (236
 * workers and a test suite on 2 cores: 45 workers holding 2M
 * connections between them were killed so), answers late but is not
 * stuck; nor is it shown unresponsive. */
static void master_watch(struct master *m, struct proc *p, uint64_t now)
{
	uint64_t stuck, limit = (uint64_t)m->cfg->watchdog_timeout_ms;

	/* Killed already: its exit may take a while (the kernel closes
	 * what it held); it is not killed, nor logged, again. */
	if (!p->pid || p->killed)
		return;
	stuck = master_stuck_for(p, now);
	if (stuck >= limit) {
		log_error("worker %d: pid %ld silent and stuck for %llu ms (watchdog_timeout %llu ms); killing it",
			  p->slot, (long)p->pid, (unsigned long long)stuck,
			  (unsigned long long)limit);
		proc_kill(p);
		return;
	}
	if (stuck >= UNRESPONSIVE_MS && !p->unresponsive &&
	    p->state != STATS_WORKER_STARTING) {
		p->unresponsive = 1;
		log_warn("worker %d: pid %ld unresponsive for %llu ms", p->slot,
			 (long)p->pid, (unsigned long long)stuck);
	}
	if (p->chan.open)
		chan_send(&p->chan, CHAN_HEARTBEAT, 0, NULL, 0);
}

/* The master did not run for gap ms: every worker gets a fresh
 * watchdog_timeout from now. */
static void master_forgive(struct master *m, uint64_t now, uint64_t gap)
{
	log_warn("the master did not run for %llu ms (stopped, frozen or starved of CPU); the workers' silence meanwhile is not held against them",
		 (unsigned long long)gap);
	for (struct proc *p = proc_first(&m->procs); p;
	     p = proc_next(&m->procs, p))
		p->last_seen_ms = p->progress_ms = now;
}

static void master_watchdog(struct loop_timer *t)
{
	struct master *m = util_container_of(t, struct master, watchdog);
	uint64_t now = util_now_ms();

	if (now - m->last_tick_ms > STALL_MS)
		master_forgive(m, now, now - m->last_tick_ms);
	m->last_tick_ms = now;
	for (struct proc *p = proc_first(&m->procs); p;
	     p = proc_next(&m->procs, p))
		master_watch(m, p, now);
	query_watch_ports(&m->queries, now);
	loop_timer_arm(m->loop, t, HEARTBEAT_MS);
}

/* --- reload --- */

/* The configuration a reload would apply, if it can be: 0, or -1 with
 * the reason. */
static int master_next_config(struct master *m, struct config *nc, char *err,
			      size_t errlen)
{
	if (reload_fn && reload_fn(nc, err, errlen) < 0)
		return -1;
	if (!reload_fn)
		*nc = *m->cfg;
	if (m->procs.nretiring + m->procs.nworkers > MAX_RETIRING) {
		snprintf(err, errlen,
			 "%d workers are still draining; try again later",
			 m->procs.nretiring);
		return -1;
	}
	if (master_busy(m, err, errlen) < 0 ||
	    upgrade_reload_check(&m->up, err, errlen) < 0)
		return -1;
	master_listen_plan(m, nc);
	/* Until the old master of an upgrade is gone, the listening sockets
	 * are its too: blocking and closing a removed one here would leave
	 * it open there, silently dropping SYNs (and after a rollback, for
	 * good). Adding while the old one may take the service back is
	 * refused for the same reason: one change at a time. */
	if (m->up.state == UPGRADE_SERVING && (m->lc.nadded || m->lc.nremoved)) {
		snprintf(err, errlen,
			 "listen changes wait until the old master (pid %ld) is gone: stop it (SIGQUIT) or roll back first",
			 (long)m->up.peer);
		return -1;
	}
	return 0;
}

int master_busy(const struct master *m, char *err, size_t errlen)
{
	if (!m->gen_ready) {
		snprintf(err, errlen,
			 "generation %d is still starting; try again when it is up",
			 m->procs.generation);
		return -1;
	}
	if (m->lc.draining) {
		snprintf(err, errlen,
			 "the listeners of the addresses the last reload removed are still draining; try again in a moment");
		return -1;
	}
	/* A rolled-back generation's workers finishing what they took still
	 * hold the slots that were closed: new ones would not get the
	 * indexes the steering expects. */
	for (struct proc *p = m->procs.retiring; p; p = p->next)
		if (p->generation > m->procs.generation) {
			snprintf(err, errlen,
				 "the workers of the generation that could not start are still finishing; try again in a moment");
			return -1;
		}
	return 0;
}

/* SIGHUP: a new generation of workers on the same listeners (more slots
 * if the count grew); the old one drains once the new one is up. A
 * reload that cannot be done changes nothing. */
static int master_reload(struct master *m, char *err, size_t errlen)
{
	struct proc *next[CFG_MAX_WORKERS];
	int old_nslots = m->slots.nslots;
	struct config nc;
	char what[900];

	if (m->stopping) {
		snprintf(err, errlen, "the daemon is stopping");
		return -1;
	}
	notify_reloading();
	if (master_next_config(m, &nc, err, errlen) < 0)
		goto refused;
	/* Slots about to open get no connection until their workers run
	 * (and none is left from a rolled-back reload: see above). */
	m->slots.peak = m->slots.nslots;
	master_steer(m, nc.workers);
	if (master_listen_open(m, &nc, err, errlen) < 0)
		goto refused;
	if (slots_open(&m->slots, nc.listen, nc.workers, err, errlen) < 0)
		goto undo;
	if (proc_generation_alloc(&m->procs, next, nc.workers) < 0) {
		snprintf(err, errlen, "out of memory");
		slots_close_from(&m->slots, old_nslots);
		goto undo;
	}
	m->prev_cfg = *m->cfg;
	m->prev_nworkers = m->procs.nworkers;
	m->prev_nslots = old_nslots;
	*m->cfg = nc;
	query_set_vhosts(&m->queries, m->cfg);
	mime_tables_keep(m->cfg->mime, m->prev_cfg.mime);
	config_vhosts_keep(m->cfg, &m->prev_cfg);
	master_configure(m);
	m->gen_ready = 0;
	log_info("generation %d: starting %d workers; %s",
		 m->procs.generation + 1, nc.workers,
		 master_listen_describe(m, what, sizeof(what)));
	proc_generation_start(&m->procs, next, nc.workers);
	return 0;
undo:
	master_listen_undo(m);
refused:
	mime_tables_keep(m->cfg->mime, m->prev_cfg.mime); /* nc's goes */
	config_vhosts_keep(m->cfg, &m->prev_cfg);
	log_error("reload: %s; still serving with generation %d", err,
		  m->procs.generation);
	/* systemd waits for READY=1 after RELOADING=1, success or not. */
	notify_send("READY=1\nSTATUS=reload failed; %d workers running, generation %d",
		    m->procs.nworkers, m->procs.generation);
	return -1;
}

/* `reload` on the stats socket: the same as SIGHUP, answered with the
 * outcome once it is known. Only root or the daemon's own user may. */
static void master_reload_command(struct master *m, struct statsock_client *cl)
{
	char err[512];
	uid_t uid;

	if (statsock_peer_uid(cl, &uid) < 0 || (uid != 0 && uid != geteuid())) {
		statsock_reply_error(cl,
				     stats_json_error("reload: not allowed (only root or the daemon's user, uid %u)",
						      (unsigned)geteuid()));
		return;
	}
	if (m->nreload_waiters == MASTER_RELOAD_WAITERS) {
		statsock_reply_error(cl,
				     stats_json_error("reload: busy; try again"));
		return;
	}
	log_info("reload asked on the stats socket (uid %u)", (unsigned)uid);
	if (master_reload(m, err, sizeof(err)) < 0) {
		statsock_reply_error(cl,
				     stats_json_error("reload: %s; still serving with generation %d",
						      err, m->procs.generation));
		return;
	}
	m->reload_waiters[m->nreload_waiters++] = cl;
}

/* --- stop --- */

/* Past shutdown_timeout and the grace: a worker still closing its
 * connections (its loop turns) is given more time, up to STOP_MAX_MS; one
 * that is stuck is killed. */
static void master_stop_deadline(struct loop_timer *t)
{
	struct master *m = util_container_of(t, struct master, stop_deadline);
	uint64_t now = util_now_ms();
	int waiting = 0;

	for (struct proc *p = proc_first(&m->procs); p;
	     p = proc_next(&m->procs, p)) {
		if (!p->pid || p->killed)
			continue;
		/* progress_ms is the watchdog's too: when the worker was last
		 * seen working (or waiting for a CPU), by either. */
		proc_progress(p, now);
		proc_starved(p, now);
		if (now - p->progress_ms < STOP_GRACE_MS &&
		    now - m->stop_ms < STOP_MAX_MS) {
			waiting++;
			continue;
		}
		log_warn("worker %d: pid %ld did not stop in time (no progress for %llu ms); killing it",
			 p->slot, (long)p->pid,
			 (unsigned long long)(now - p->progress_ms));
		proc_kill(p);
	}
	if (waiting)
		loop_timer_arm(m->loop, t, HEARTBEAT_MS);
}

/* why: what asked for it, for the log. */
static void master_stop(struct master *m, int fast, const char *why)
{
	if (m->stopping >= (fast ? 2 : 1))
		fast = 1; /* asked again: no more patience */
	log_info("%s: %s shutdown", why, fast ? "fast" : "graceful");
	if (!m->stopping)
		m->stop_ms = util_now_ms();
	m->stopping = fast ? 2 : 1;
	master_listen_stop(m);
	master_reload_answer(m, "the daemon is stopping");
	master_upgrade_answer(m, "the daemon is stopping");
	/* While a binary upgrade's other master goes on serving the port
	 * (the old one after the hand-over, or the new one rolling back),
	 * this one's workers keep their idle connections for a last
	 * request, and nothing of the service is this master's to end (no
	 * STOPPING=1: upgrade_stopping has muted it). */
	m->procs.keep_idle = upgrade_stopping(&m->up);
	m->procs.stopping = 1;
	notify_send("STOPPING=1\nSTATUS=stopping");
	/* Let go of the listeners now: each worker takes what is left in
	 * its queues and closes its own reference, and the sockets go with
	 * the last one. */
	slots_close_all(&m->slots);
	for (struct proc *p = proc_first(&m->procs); p;
	     p = proc_next(&m->procs, p)) {
		loop_timer_disarm(m->loop, &p->timer);
		proc_drain(p, fast, 0);
	}
	loop_timer_arm(m->loop, &m->stop_deadline,
		       fast ? STOP_GRACE_MS :
			      (uint64_t)m->cfg->shutdown_timeout_ms +
				       STOP_GRACE_MS);
	master_check_stopped(m);
}

/* SIGUSR1: the master's log, then each worker's (each has its own
 * descriptor of the file). */
static void master_reopen_logs(struct master *m)
{
	char err[PATH_MAX + 64];

	log_reopen();
	/* The access log's new file, made as the workers need it. */
	if (alog_prepare(m->cfg, err, sizeof(err)) < 0)
		log_error("log reopen: %s", err);
	for (struct proc *p = proc_first(&m->procs); p;
	     p = proc_next(&m->procs, p))
		proc_signal(p, SIGUSR1);
}

/* --- the cycle --- */

static const char *master_signal_name(int signo, char *buf, size_t len)
{
	snprintf(buf, len, "signal %d (%s)", signo, strsignal(signo));
	return buf;
}

static void master_signal(struct loop_watch *w, uint32_t events)
{
	struct master *m = util_container_of(w, struct master, sig);
	struct signalfd_siginfo si;
	char why[64], err[512];

	(void)events;
	while (read(w->fd, &si, sizeof(si)) == sizeof(si)) {
		switch (si.ssi_signo) {
		case SIGCHLD:
			master_reap(m);
			break;
		case SIGTERM:
		case SIGQUIT:
			master_stop(m, m->stopping != 0,
				    master_signal_name((int)si.ssi_signo, why,
						       sizeof(why)));
			break;
		case SIGINT:
			master_stop(m, 1,
				    master_signal_name((int)si.ssi_signo, why,
						       sizeof(why)));
			break;
		case SIGHUP:
			/* An old master that handed over: the rollback. */
			if (upgrade_take_back(&m->up)) {
				log_info("SIGHUP: rolling the upgrade back: asking the new master (pid %ld) to give the service back",
					 (long)m->up.peer);
				break;
			}
			log_info("SIGHUP: reloading");
			/* The log and systemd's STATUS say why if it fails. */
			master_reload(m, err, sizeof(err));
			break;
		case SIGUSR1:
			master_reopen_logs(m);
			break;
		case SIGUSR2:
			log_info("SIGUSR2: upgrading the binary");
			master_upgrade(m, NULL);
			break;
		default:
			log_warn("%s from pid %ld: not used by reuseportd; ignored",
				 master_signal_name((int)si.ssi_signo, why,
						    sizeof(why)),
				 (long)si.ssi_pid);
			break;
		}
	}
}

void master_on_stats_command(void *arg, struct statsock_client *cl,
			     const struct statsock_cmd *cmd)
{
	struct master *m = arg;

	if (cmd->kind == STATSOCK_RELOAD)
		master_reload_command(m, cl);
	else if (cmd->kind == STATSOCK_UPGRADE)
		master_upgrade(m, cl);
	else
		query_command(&m->queries, cl, cmd);
}

/* --- start-up and clean-up --- */

static int master_open_signals(struct master *m)
{
	sigset_t set;
	int fd;

	/* Every signal whose default action would end or stop the master
	 * comes through the signalfd: those it does not use are logged and
	 * ignored (SIGTSTP too: ^Z on a terminal running -f no longer stops
	 * the master and its workers; SIGINT stops them). The faults -
	 * SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGSYS, SIGABRT - keep
	 * their default, a core; SIGPIPE and SIGXFSZ are ignored below. The
	 * workers inherit the mask: these stay pending there, unseen.
	 * tests/test_signals.c holds the whole table. */
	static const int handled[] = {
		SIGCHLD,   SIGTERM, SIGINT,    SIGQUIT, SIGHUP,  SIGUSR1,
		SIGUSR2,   SIGALRM, SIGVTALRM, SIGPROF, SIGIO,   SIGPWR,
		SIGSTKFLT, SIGXCPU, SIGTTIN,   SIGTTOU, SIGTSTP,
	};

	sigemptyset(&set);
	for (size_t i = 0; i < UTIL_ARRAY_LEN(handled); i++)
		sigaddset(&set, handled[i]);
	for (int s = SIGRTMIN; s <= SIGRTMAX; s++)
		sigaddset(&set, s);
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
		return -1;
	signal(SIGPIPE, SIG_IGN);
	/* A log past the file size limit (RLIMIT_FSIZE): the write fails
	 * with EFBIG, and is dropped like one on a full disk. Through the
	 * signalfd it would be logged - by another write that fails the same
	 * way, round and round. Ignored in the workers too, by inheritance. */
	signal(SIGXFSZ, SIG_IGN);
	fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (fd < 0)
		return -1;
	return loop_add(m->loop, &m->sig, fd, EPOLLIN, master_signal);
}

/* The stats socket, and the metrics endpoint if one is configured. */
static int master_open_statsock(struct master *m, char *err, size_t errlen)
{
	struct config *cfg = m->cfg;

	m->statsock = statsock_open(m->loop, cfg->stats_socket,
				    cfg->stats_socket_mode,
				    master_on_stats_command, m, err, errlen);
	if (!m->statsock ||
	    privdrop_chown_socket(cfg->stats_socket, err, errlen) < 0)
		return -1;
	if (!cfg->metrics_listen.len)
		return 0;
	m->metrics = statsock_open_metrics(m->loop, &cfg->metrics_listen,
					   master_on_stats_command, m, err,
					   errlen);
	return m->metrics ? 0 : -1;
}

/* Everything that can fail at start, before any worker exists. A new
 * master of an upgrade (in) takes the old one's sockets instead. */
static int master_open(struct master *m, const struct upgrade_fds *in,
		       char *err, size_t errlen)
{
	struct config *cfg = m->cfg;

	if (in) {
		if (master_open_inherited(m, in, err, errlen) < 0)
			return -1;
	} else if (slots_check_free(cfg->listen, cfg->nlisten, err, errlen) < 0 ||
		   slots_open(&m->slots, cfg->listen, cfg->workers, err,
			      errlen) < 0) {
		return -1;
	}
	slots_configure(&m->slots, config_defer_accept(cfg), (int)m->lim.backlog);
	if (master_open_signals(m) < 0) {
		snprintf(err, errlen, "signals: %s", strerror(errno));
		return -1;
	}
	return in ? 0 : master_open_statsock(m, err, errlen);
}

static void master_log_started(const struct master *m)
{
	char addrs[512] = "", a[ADDR_STRLEN];
	size_t off = 0;

	for (int j = 0; j < m->cfg->nlisten && off < sizeof(addrs); j++)
		off += (size_t)snprintf(addrs + off, sizeof(addrs) - off,
					"%s%s", j ? " " : "",
					addr_format(&m->cfg->listen[j].u.sa, a,
						    sizeof(a)));
	log_info("reuseportd %s started: %d %s workers on %s, stats socket %s",
		 PACKAGE_VERSION, m->procs.nworkers,
		 config_protocol_name(m->cfg->protocol), addrs,
		 m->cfg->stats_socket);
}

static void master_cleanup(struct master *m)
{
	upgrade_cleanup(&m->up);
	query_set_cleanup(&m->queries);
	statsock_close(m->statsock);
	m->statsock = NULL;
	statsock_close(m->metrics);
	m->metrics = NULL;
	proc_table_cleanup(&m->procs);
	slots_close_all(&m->slots);
	/* Not ready_fd: see master_report_start. */
	loop_free(m->loop);
}

/* m is the_master, zero from the start and set up once: clearing it
 * again would write every page of it (the counters of all
 * CFG_MAX_WORKERS slots, over 500 KiB), and every worker forked later
 * would carry them. */
static void master_init(struct master *m, struct config *cfg, int ready_fd)
{
	m->cfg = cfg;
	m->ready_fd = ready_fd;
	limits_init(&m->lim, cfg);
	slots_init(&m->slots, cfg->nlisten, (int)m->lim.backlog);
	loop_timer_init(&m->stop_deadline, master_stop_deadline);
	loop_timer_init(&m->watchdog, master_watchdog);
	master_listen_init(m);
}

int master_run(struct config *cfg, int *ready_fd, const struct upgrade_fds *in)
{
	struct master *m = &the_master;
	struct proc *first[CFG_MAX_WORKERS];
	char err[512];

	master_init(m, cfg, *ready_fd);
	m->loop = loop_new();
	if (!m->loop) {
		log_error("epoll: %s", strerror(errno));
		return 1;
	}
	proc_table_init(&m->procs, m->loop, cfg, &m->lim, &m->slots,
			master_on_msg, master_on_chan_close);
	query_set_init(&m->queries, m->loop, &m->procs, cfg, &m->lim);
	query_set_vhosts(&m->queries, cfg);
	upgrade_init(&m->up, m->loop, &master_upgrade_ops, m);
	if (master_open(m, in, err, sizeof(err)) < 0) {
		log_error("%s", err);
		if (in)
			upgrade_report_failure(in->chan, err);
		master_cleanup(m);
		return 1;
	}
	if (proc_generation_alloc(&m->procs, first, cfg->workers) < 0) {
		log_error("out of memory");
		master_cleanup(m);
		return 1;
	}
	/* Detached: from here on nobody reads the terminal. Start-up errors
	 * above were still shown to whoever started us. */
	if (!cfg->foreground)
		util_stdio_to_null();
	proc_generation_start(&m->procs, first, cfg->workers);
	m->last_tick_ms = util_now_ms();
	loop_timer_arm(m->loop, &m->watchdog, HEARTBEAT_MS);
	master_log_started(m);
	loop_run(m->loop);
	log_info("stopped");
	master_cleanup(m);
	*ready_fd = m->ready_fd;
	return m->exit_status;
}
