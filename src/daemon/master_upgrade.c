/* master_upgrade.c - the master's side of a binary upgrade (upgrade.h):
 * starting the new master on our sockets, and what each master does with
 * the service - the pidfile, the stats socket, the reuseport group's
 * steering, systemd's MAINPID - when it is handed over, taken over, given
 * back or taken back. The states and the protocol are upgrade.c's.
 *
 * At every moment exactly one master owns the service: it steers, it
 * answers on the stats socket (the other one's accepting is suspended on
 * the very same socket, so a client never finds nobody), it holds the
 * pidfile at its path and it speaks to systemd. Both masters' workers
 * accept on the shared listeners meanwhile: nothing is closed. */
#include "autoconfig.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "master.h"
#include "master_int.h"
#include "notify.h"
#include "pidfile.h"
#include "stats_doc.h"

static struct upgrade_exec upgrade_exec_of;

void master_set_upgrade(const struct upgrade_exec *x)
{
	upgrade_exec_of = *x;
}

void master_upgrade_answer(struct master *m, const char *failure)
{
	for (int i = 0; i < m->nupgrade_waiters; i++) {
		struct statsock_client *cl = m->upgrade_waiters[i];

		if (failure)
			statsock_reply_error(
				cl,
				stats_json_error("upgrade: %s; still serving as pid %ld",
						 failure, (long)getpid()));
		else
			statsock_reply(cl, stats_json_upgrade((int)m->up.peer,
							      (int)getpid()));
	}
	m->nupgrade_waiters = 0;
}

/* Not now: said in the log, and to the client that asked. */
static void master_upgrade_refused(struct statsock_client *cl, const char *why)
{
	log_error("upgrade refused: %s; still serving as pid %ld", why,
		  (long)getpid());
	if (cl)
		statsock_reply_error(cl,
				     stats_json_error("upgrade: %s; still serving as pid %ld",
						      why, (long)getpid()));
}

/* Only root or the daemon's own user may ask on the stats socket, as for
 * a reload. */
static int master_upgrade_allowed(struct master *m, struct statsock_client *cl)
{
	uid_t uid;

	if (statsock_peer_uid(cl, &uid) < 0 || (uid != 0 && uid != geteuid())) {
		statsock_reply_error(cl,
				     stats_json_error("upgrade: not allowed (only root or the daemon's user, uid %u)",
						      (unsigned)geteuid()));
		return 0;
	}
	if (m->nupgrade_waiters == MASTER_RELOAD_WAITERS) {
		statsock_reply_error(cl, stats_json_error(
						 "upgrade: busy; try again"));
		return 0;
	}
	log_info("upgrade asked on the stats socket (uid %u)", (unsigned)uid);
	return 1;
}

void master_upgrade(struct master *m, struct statsock_client *cl)
{
	struct upgrade_fds f;
	char err[512];
	pid_t pid;

	if (cl && !master_upgrade_allowed(m, cl))
		return;
	if (m->stopping) {
		master_upgrade_refused(cl, "the daemon is stopping");
		return;
	}
	if (master_busy(m, err, sizeof(err)) < 0 ||
	    upgrade_check(&m->up, err, sizeof(err)) < 0) {
		master_upgrade_refused(cl, err);
		return;
	}
	memset(&f, 0, sizeof(f));
	f.stats = statsock_fd(m->statsock);
	f.metrics = statsock_fd(m->metrics);
	f.nslots = m->slots.nslots;
	f.nlisten = m->slots.nlisten;
	for (int i = 0; i < f.nslots; i++)
		for (int j = 0; j < f.nlisten; j++)
			f.lst[i * f.nlisten + j] = m->slots.fd[i][j];
	/* From now on the group's program names our live slots, never the
	 * kernel's hash over the whole group: the new master's own slots,
	 * opened after ours, must get no connection until it serves, and
	 * none at all if it fails (their queues would be reset when they
	 * close). */
	m->slots.peak = CFG_MAX_WORKERS;
	master_steer(m, 0);
	pid = upgrade_start(&m->up, &upgrade_exec_of, &f, err, sizeof(err));
	if (pid < 0) {
		master_upgrade_refused(cl, err);
		return;
	}
	log_info("upgrade: started the new master, pid %ld: %s", (long)pid,
		 upgrade_exec_of.path);
	notify_send("STATUS=upgrading: new master pid %ld starting", (long)pid);
	if (cl)
		m->upgrade_waiters[m->nupgrade_waiters++] = cl;
}

/* The stats socket and the metrics endpoint: ours to answer on, or the
 * other master's. */
static void master_serve_stats(struct master *m, int serve)
{
	statsock_suspend(m->statsock, !serve);
	statsock_keep_file(m->statsock, !serve);
	statsock_suspend(m->metrics, !serve);
	statsock_keep_file(m->metrics, !serve);
}

/* --- the old master --- */

static void master_hand_over(void *arg, pid_t pid)
{
	struct master *m = arg;
	char old[PATH_MAX + 16], err[512];

	/* Our pidfile stays locked as PATH.oldbin (nginx's name): the new
	 * master creates its own at PATH once it has taken over. */
	if (pidfile_path()[0]) {
		snprintf(old, sizeof(old), "%s" PIDFILE_OLDBIN, m->cfg->pidfile);
		if (pidfile_move(old, err, sizeof(err)) < 0)
			log_error("upgrade: %s", err);
	}
	master_serve_stats(m, 0);
	m->slots.steering = 0;
	/* MAINPID from the main process itself, which systemd accepts
	 * whatever NotifyAccess= says; then silence: our STOPPING=1 would
	 * stop the service the new master runs. */
	notify_send("MAINPID=%ld\nSTATUS=handed over to the new master, pid %ld",
		    (long)pid, (long)pid);
	notify_mute(1);
	log_info("upgrade: the new master (pid %ld) is up; handing the service over",
		 (long)pid);
}

static void master_upgraded(void *arg, pid_t pid)
{
	struct master *m = arg;

	log_info("upgrade done: the new master (pid %ld) serves. This master (pid %ld) keeps its %d workers until it is stopped (SIGQUIT or SIGTERM: they drain) or told to take the service back (SIGHUP: the rollback)",
		 (long)pid, (long)getpid(), m->procs.nworkers);
	master_upgrade_answer(m, NULL);
}

static void master_upgrade_failed(void *arg, pid_t pid, const char *why)
{
	struct master *m = arg;

	(void)pid;
	log_error("upgrade failed: %s; still serving as pid %ld", why,
		  (long)getpid());
	master_upgrade_answer(m, why);
	notify_send("STATUS=upgrade failed (%s); %d workers running, generation %d",
		    why, m->procs.nworkers, m->procs.generation);
}

static void master_take_back(void *arg, pid_t pid, const char *why)
{
	struct master *m = arg;
	char err[512];

	(void)pid;
	log_warn("upgrade rolled back (%s): this master (pid %ld) serves again",
		 why, (long)getpid());
	/* Over the new master's file, if it is still there. */
	if (pidfile_path()[0] &&
	    pidfile_move(m->cfg->pidfile, err, sizeof(err)) < 0)
		log_error("upgrade: %s", err);
	master_serve_stats(m, 1);
	m->slots.steering = 1;
	master_steer(m, 0);
	notify_mute(0);
	notify_send("MAINPID=%ld\nREADY=1\nSTATUS=upgrade rolled back; %d workers running, generation %d",
		    (long)getpid(), m->procs.nworkers, m->procs.generation);
	master_upgrade_answer(m, why); /* if it went before saying "taken" */
}

/* --- the new master --- */

static void master_take_over(void *arg, pid_t pid)
{
	struct master *m = arg;
	char err[512];
	int r = 0;

	/* Our file at PATH; or back there, after we gave the service back
	 * and the old master moved its own over ours. */
	if (pidfile_path()[0])
		r = pidfile_move(m->cfg->pidfile, err, sizeof(err));
	else if (m->cfg->pidfile[0])
		r = pidfile_create(m->cfg->pidfile, err, sizeof(err));
	if (r < 0)
		log_error("upgrade: %s", err);
	master_serve_stats(m, 1);
	m->slots.steering = 1;
	master_steer(m, 0);
	notify_mute(0);
	notify_send("MAINPID=%ld\nREADY=1\nSTATUS=%d workers running, generation %d (upgraded from pid %ld)",
		    (long)getpid(), m->procs.nworkers, m->procs.generation,
		    (long)pid);
	log_info("upgrade: this master (pid %ld) serves in place of pid %ld",
		 (long)getpid(), (long)pid);
}

static void master_give_back(void *arg, pid_t pid)
{
	struct master *m = arg;

	/* Before any slot of ours closes: new connections go to the old
	 * master's slots only, which its workers serve. */
	slots_steer_first(&m->slots, m->inherited_slots);
	m->slots.steering = 0;
	master_serve_stats(m, 0);
	notify_send("MAINPID=%ld\nSTATUS=gave the service back to pid %ld",
		    (long)pid, (long)pid);
	notify_mute(1);
	log_info("upgrade: giving the service back to the old master (pid %ld)",
		 (long)pid);
}

const struct upgrade_ops master_upgrade_ops = {
	.hand_over = master_hand_over,
	.upgraded = master_upgraded,
	.failed = master_upgrade_failed,
	.take_back = master_take_back,
	.take_over = master_take_over,
	.give_back = master_give_back,
};

/* The metrics endpoint: the old master's, whatever the configuration
 * now says (it changes only on restart, as at a reload), or a new one. */
static int master_inherit_metrics(struct master *m, const struct upgrade_fds *in,
				  char *err, size_t errlen)
{
	struct config *cfg = m->cfg;

	if (in->metrics >= 0) {
		if (!cfg->metrics_listen.len)
			log_warn("upgrade: 'metrics_listen' changes only on restart; keeping the running endpoint");
		m->metrics = statsock_adopt(m->loop, in->metrics, 1,
					    master_on_stats_command, m, err,
					    errlen);
	} else if (cfg->metrics_listen.len) {
		m->metrics = statsock_open_metrics(m->loop, &cfg->metrics_listen,
						   master_on_stats_command, m,
						   err, errlen);
	} else {
		return 0;
	}
	return m->metrics ? 0 : -1;
}

int master_open_inherited(struct master *m, const struct upgrade_fds *in,
			  char *err, size_t errlen)
{
	struct config *cfg = m->cfg;
	const char *path;

	/* Nothing of the service is ours until it is handed over. */
	notify_mute(1);
	m->slots.steering = 0;
	m->inherited_slots = in->nslots;
	if (slots_adopt(&m->slots, cfg->listen, in->lst, in->nslots,
			in->nlisten, err, errlen) < 0 ||
	    slots_open(&m->slots, cfg->listen, cfg->workers, err, errlen) < 0)
		return -1;
	if (in->stats < 0) {
		snprintf(err, errlen, "the old master passed no stats socket");
		return -1;
	}
	m->statsock = statsock_adopt(m->loop, in->stats, 0,
				     master_on_stats_command, m, err, errlen);
	if (!m->statsock || master_inherit_metrics(m, in, err, errlen) < 0)
		return -1;
	/* The path keeps answering: it is the old master's socket, whatever
	 * the configuration now says (it changes only on restart). */
	path = statsock_path(m->statsock);
	if (strcmp(path, cfg->stats_socket) != 0) {
		log_warn("upgrade: 'stats_socket' changes only on restart; keeping the running %s",
			 path);
		snprintf(cfg->stats_socket, sizeof(cfg->stats_socket), "%s", path);
	}
	master_serve_stats(m, 0);
	if (upgrade_attach(&m->up, in) < 0) {
		snprintf(err, errlen, "the upgrade channel: %s", strerror(errno));
		return -1;
	}
	log_info("upgrade: the new master of pid %ld: %d listening sockets and the stats socket inherited",
		 (long)in->old_pid, in->nslots * in->nlisten);
	return 0;
}
