/* master.c - the supervisor.
 *
 * One loop: a signalfd (children, stop), one channel per worker, and the
 * stats socket. No real work happens in a signal handler, and nothing a
 * worker or a client does can end this process: a worker that dies is
 * counted and respawned, a client that misbehaves is answered or dropped. */
#include "autoconfig.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "channel.h"
#include "ctl.h"
#include "syslimits.h"
#include "listener.h"
#include "log.h"
#include "master.h"
#include "stats.h"
#include "util.h"
#include "worker.h"

/* A worker that dies sooner than this after its start counts as a crash
 * loop step; the respawn delay doubles from RESPAWN_MIN_MS to the cap. */
#define RESPAWN_FAST_MS 5000
#define RESPAWN_MIN_MS 100
#define RESPAWN_MAX_MS 10000

enum mw_state { MW_STARTING, MW_RUNNING, MW_EXITED };

struct master;

struct mworker {
	struct master *m;
	int id;
	pid_t pid; /* 0: not running */
	enum mw_state state;
	int unresponsive;
	unsigned restarts;
	unsigned fails; /* consecutive fast exits */
	uint64_t started_ms;
	char last_exit[48];
	int lst_fds[CFG_MAX_LISTEN];
	struct chan chan;
	struct stats_counters last; /* last report of the running process */
	struct stats_counters base; /* what its predecessors counted */
	struct loop_timer respawn;
};

/* A stats socket question being answered from the workers' channels. */
struct gather {
	struct gather *next;
	struct master *m;
	uint64_t seq;
	struct ctl_client *cl;
	struct ctl_cmd cmd;
	int pending;
	pid_t asked[CFG_MAX_WORKERS]; /* pid still owing an answer, or 0 */
	struct loop_timer deadline;
	struct stats_conn *recs;
	size_t nrecs;
	uint64_t total;
};

struct master {
	struct config *cfg;
	struct limits lim;
	struct loop *loop;
	struct loop_watch sig;
	struct ctl *ctl;
	struct mworker w[CFG_MAX_WORKERS];
	int nw;
	struct gather *gathers;
	uint64_t seq;
	int stopping;
	int generation;
	uint64_t start_ms;
	int ready_fd;
	struct loop_timer stop_deadline;
};

static struct master the_master;

/* --- starting and respawning workers --- */

static void master_on_msg(struct chan *ch, const struct chan_hdr *h,
			  const void *payload);
static void master_on_chan_close(struct chan *ch);
static void gather_worker_gone(struct master *m, struct mworker *w);

static int spawn(struct mworker *w)
{
	struct master *m = w->m;
	int sv[2];
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		log_error("worker %d: socketpair: %s", w->id, strerror(errno));
		return -1;
	}
	pid = fork();
	if (pid < 0) {
		log_error("worker %d: fork: %s", w->id, strerror(errno));
		close(sv[0]);
		close(sv[1]);
		return -1;
	}
	if (pid == 0) {
		int keep[CFG_MAX_LISTEN + 1], nkeep = 0;
		struct worker_args a = {
			.cfg = m->cfg, .lim = &m->lim, .id = w->id,
			.generation = m->generation, .master_pid = getppid(),
			.lst_fds = w->lst_fds, .nlst = m->cfg->nlisten,
			.chan_fd = sv[1],
		};

		for (int i = 0; i < m->cfg->nlisten; i++)
			keep[nkeep++] = w->lst_fds[i];
		keep[nkeep++] = sv[1];
		/* Everything else of the master's (other slots' listeners,
		 * the stats socket and its clients, the other channels) is
		 * closed: holding them would keep them open after the
		 * master lets go. */
		util_close_fds_except(keep, nkeep);
		exit(worker_main(&a));
	}
	close(sv[1]);
	if (chan_open(&w->chan, m->loop, sv[0], master_on_msg,
		      master_on_chan_close, w) < 0) {
		log_error("worker %d: channel: %s", w->id, strerror(errno));
		kill(pid, SIGKILL);
	}
	w->pid = pid;
	w->state = MW_STARTING;
	w->unresponsive = 0;
	w->started_ms = util_now_ms();
	memset(&w->last, 0, sizeof(w->last));
	log_debug("worker %d: started, pid %ld", w->id, (long)pid);
	return 0;
}

static uint64_t respawn_delay(struct mworker *w)
{
	uint64_t d = RESPAWN_MIN_MS;

	if (w->fails == 0)
		return 0;
	for (unsigned i = 1; i < w->fails && d < RESPAWN_MAX_MS; i++)
		d *= 2;
	return UTIL_MIN(d, (uint64_t)RESPAWN_MAX_MS);
}

static void respawn_timer(struct loop_timer *t)
{
	struct mworker *w = util_container_of(t, struct mworker, respawn);

	if (w->m->stopping)
		return;
	if (w->pid) {
		/* Armed by a lost channel: a live worker without a channel
		 * can be neither asked nor supervised; replace it. */
		log_warn("worker %d: pid %ld lost its channel; killing it",
			 w->id, (long)w->pid);
		kill(w->pid, SIGKILL);
		return;
	}
	w->restarts++;
	if (spawn(w) < 0) {
		w->fails++;
		loop_timer_arm(w->m->loop, &w->respawn, respawn_delay(w));
		return;
	}
	log_info("worker %d: respawned as pid %ld (restart %u)", w->id,
		 (long)w->pid, w->restarts);
}

static void master_check_stopped(struct master *m)
{
	for (int i = 0; i < m->nw; i++)
		if (m->w[i].pid)
			return;
	loop_stop(m->loop);
}

static void worker_exited(struct master *m, struct mworker *w, int status)
{
	uint64_t lived = util_now_ms() - w->started_ms;

	if (WIFSIGNALED(status))
		snprintf(w->last_exit, sizeof(w->last_exit), "signal %d (%s)",
			 WTERMSIG(status), strsignal(WTERMSIG(status)));
	else
		snprintf(w->last_exit, sizeof(w->last_exit), "status %d",
			 WEXITSTATUS(status));
	chan_close(&w->chan);
	gather_worker_gone(m, w);
	/* Counters survive their process: what it counted moves to the
	 * slot's base, and the connections it still had are lost. */
	w->last.lost += w->last.active;
	stats_accumulate(&w->base, &w->last);
	memset(&w->last, 0, sizeof(w->last));
	w->pid = 0;
	w->state = MW_EXITED;
	w->unresponsive = 0;
	loop_timer_disarm(m->loop, &w->respawn);

	if (m->stopping) {
		log_debug("worker %d: exited (%s)", w->id, w->last_exit);
		master_check_stopped(m);
		return;
	}
	w->fails = lived < RESPAWN_FAST_MS ? w->fails + 1 : 0;

	uint64_t delay = respawn_delay(w);

	if (w->fails >= 5)
		log_error("worker %d: exited (%s) %u times in a row within %d ms of starting; respawning in %llu ms",
			  w->id, w->last_exit, w->fails, RESPAWN_FAST_MS,
			  (unsigned long long)delay);
	else
		log_warn("worker %d: exited (%s); respawning in %llu ms",
			 w->id, w->last_exit, (unsigned long long)delay);
	loop_timer_arm(m->loop, &w->respawn, delay);
}

static void reap_children(struct master *m)
{
	int status;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
		for (int i = 0; i < m->nw; i++)
			if (m->w[i].pid == pid) {
				worker_exited(m, &m->w[i], status);
				break;
			}
}

/* --- stopping --- */

static void stop_deadline(struct loop_timer *t)
{
	struct master *m = util_container_of(t, struct master, stop_deadline);

	for (int i = 0; i < m->nw; i++)
		if (m->w[i].pid) {
			log_warn("worker %d: pid %ld did not stop in time; killing it",
				 m->w[i].id, (long)m->w[i].pid);
			kill(m->w[i].pid, SIGKILL);
		}
}

static void master_stop(struct master *m, int signo)
{
	if (m->stopping) {
		/* Asked twice: no more patience. */
		stop_deadline(&m->stop_deadline);
		return;
	}
	log_info("signal %d (%s): stopping", signo, strsignal(signo));
	m->stopping = 1;
	for (int i = 0; i < m->nw; i++) {
		loop_timer_disarm(m->loop, &m->w[i].respawn);
		if (m->w[i].pid)
			kill(m->w[i].pid, SIGTERM);
	}
	loop_timer_arm(m->loop, &m->stop_deadline,
		       (uint64_t)m->cfg->shutdown_timeout_ms);
	master_check_stopped(m);
}

static void master_signal(struct loop_watch *w, uint32_t events)
{
	struct master *m = util_container_of(w, struct master, sig);
	struct signalfd_siginfo si;

	(void)events;
	while (read(w->fd, &si, sizeof(si)) == sizeof(si)) {
		switch (si.ssi_signo) {
		case SIGCHLD:
			reap_children(m);
			break;
		case SIGTERM:
		case SIGINT:
		case SIGQUIT:
			master_stop(m, (int)si.ssi_signo);
			break;
		case SIGHUP:
			log_info("SIGHUP: reload is not supported by this version; ignored");
			break;
		default:
			break;
		}
	}
}

/* --- answering the stats socket --- */

static const char *worker_state(const struct mworker *w)
{
	if (!w->pid)
		return "exited";
	if (w->state == MW_STARTING)
		return "starting";
	return w->unresponsive ? "unresponsive" : "running";
}

static void daemon_view(const struct master *m, struct stats_daemon_view *d)
{
	memset(d, 0, sizeof(*d));
	d->pid = getpid();
	d->uptime_s = (double)(util_now_ms() - m->start_ms) / 1000.0;
	d->protocol = config_protocol_name(m->cfg->protocol);
	d->generation = m->generation;
	d->workers_configured = m->cfg->workers;
	d->listen = m->cfg->listen;
	d->nlisten = m->cfg->nlisten;
	d->limits = &m->lim;
}

static json_t *workers_doc(const struct master *m, enum ctl_kind kind)
{
	struct stats_worker_view v[CFG_MAX_WORKERS];
	struct stats_daemon_view d;

	daemon_view(m, &d);
	for (int i = 0; i < m->nw; i++) {
		const struct mworker *w = &m->w[i];

		v[i] = (struct stats_worker_view){
			.id = w->id, .pid = w->pid, .state = worker_state(w),
			.generation = m->generation, .restarts = w->restarts,
			.last_exit = w->last_exit[0] ? w->last_exit : NULL,
			.c = w->base,
		};
		stats_add(&v[i].c, &w->last);
	}
	return kind == CTL_WORKERS ? stats_json_workers(&d, v, m->nw) :
				     stats_json_stats(&d, v, m->nw);
}

static void gather_finish(struct gather *g)
{
	struct master *m = g->m;
	struct gather **pp;
	json_t *doc;

	loop_timer_disarm(m->loop, &g->deadline);
	for (pp = &m->gathers; *pp != g; pp = &(*pp)->next)
		;
	*pp = g->next;
	for (int i = 0; i < m->nw; i++)
		if (g->asked[i] && g->asked[i] == m->w[i].pid &&
		    !m->w[i].unresponsive) {
			m->w[i].unresponsive = 1;
			log_warn("worker %d: pid %ld did not answer within %d ms",
				 i, (long)g->asked[i], m->cfg->stats_timeout_ms);
		}
	if (g->cmd.kind == CTL_CONNECTIONS)
		doc = stats_json_connections(g->recs, g->nrecs, g->total,
					     g->total > g->nrecs);
	else
		doc = workers_doc(m, g->cmd.kind);
	ctl_reply(g->cl, doc);
	free(g->recs);
	free(g);
}

static void gather_timeout(struct loop_timer *t)
{
	gather_finish(util_container_of(t, struct gather, deadline));
}

static void gather_start(struct master *m, struct ctl_client *cl,
			 const struct ctl_cmd *cmd)
{
	struct gather *g = calloc(1, sizeof(*g));

	if (!g) {
		ctl_reply(cl, stats_json_error("out of memory"));
		return;
	}
	g->m = m;
	g->seq = ++m->seq;
	g->cl = cl;
	g->cmd = *cmd;
	loop_timer_init(&g->deadline, gather_timeout);
	g->next = m->gathers;
	m->gathers = g;
	for (int i = 0; i < m->nw; i++) {
		struct mworker *w = &m->w[i];
		struct chan_conns_req rq = { cmd->limit };
		int r;

		if (!w->pid || !w->chan.open)
			continue;
		if (cmd->kind == CTL_CONNECTIONS)
			r = chan_send(&w->chan, CHAN_CONNS_REQ, g->seq, &rq,
				      sizeof(rq));
		else
			r = chan_send(&w->chan, CHAN_STATS_REQ, g->seq, NULL, 0);
		if (r == 0) {
			g->asked[i] = w->pid;
			g->pending++;
		}
	}
	if (g->pending == 0)
		gather_finish(g);
	else
		loop_timer_arm(m->loop, &g->deadline,
			       (uint64_t)m->cfg->stats_timeout_ms);
}

static struct gather *gather_find(struct master *m, uint64_t seq)
{
	for (struct gather *g = m->gathers; g; g = g->next)
		if (g->seq == seq)
			return g;
	return NULL;
}

static void gather_done_one(struct gather *g, int id)
{
	g->asked[id] = 0;
	if (--g->pending == 0)
		gather_finish(g);
}

static void gather_add_conns(struct gather *g, const void *payload,
			     size_t len)
{
	struct chan_conns_hdr h;
	size_t n;

	if (len < sizeof(h))
		return;
	memcpy(&h, payload, sizeof(h));
	n = (len - sizeof(h)) / sizeof(struct stats_conn);
	n = UTIL_MIN(n, (size_t)h.count);
	g->total += h.total;
	/* Each worker was asked for up to the limit; keep the limit overall. */
	n = UTIL_MIN(n, (size_t)(g->cmd.limit - g->nrecs));
	if (n == 0)
		return;
	struct stats_conn *r = realloc(g->recs, (g->nrecs + n) * sizeof(*r));

	if (!r)
		return;
	memcpy(r + g->nrecs, (const char *)payload + sizeof(h), n * sizeof(*r));
	g->recs = r;
	g->nrecs += n;
}

static void gather_worker_gone(struct master *m, struct mworker *w)
{
	struct gather *g = m->gathers;

	while (g) {
		struct gather *next = g->next;

		if (g->asked[w->id] && g->asked[w->id] == w->pid)
			gather_done_one(g, w->id);
		g = next;
	}
}

static void master_on_ctl(void *arg, struct ctl_client *cl,
			  const struct ctl_cmd *cmd)
{
	struct master *m = arg;
	struct stats_daemon_view d;

	daemon_view(m, &d);
	switch (cmd->kind) {
	case CTL_PING:
		ctl_reply(cl, stats_json_ping(&d));
		break;
	case CTL_HELP:
		ctl_reply(cl, stats_json_help());
		break;
	case CTL_LIMITS:
		ctl_reply(cl, stats_json_limits_doc(&m->lim));
		break;
	case CTL_STATS:
	case CTL_WORKERS:
	case CTL_CONNECTIONS:
		gather_start(m, cl, cmd);
		break;
	}
}

/* --- worker channels --- */

static void worker_ready(struct master *m, struct mworker *w)
{
	w->state = MW_RUNNING;
	if (m->ready_fd < 0)
		return;
	for (int i = 0; i < m->nw; i++)
		if (m->w[i].state != MW_RUNNING)
			return;
	/* Every worker listens: the detaching parent may now exit 0. */
	if (write(m->ready_fd, "1", 1) < 0)
		log_warn("start-up notification: %s", strerror(errno));
	close(m->ready_fd);
	m->ready_fd = -1;
}

static void master_on_msg(struct chan *ch, const struct chan_hdr *h,
			  const void *payload)
{
	struct mworker *w = ch->arg;
	struct master *m = w->m;
	struct gather *g = h->seq ? gather_find(m, h->seq) : NULL;

	w->unresponsive = 0;
	switch (h->type) {
	case CHAN_READY:
		worker_ready(m, w);
		break;
	case CHAN_STATS:
		if (h->len >= sizeof(w->last))
			memcpy(&w->last, payload, sizeof(w->last));
		if (g && g->asked[w->id] == w->pid)
			gather_done_one(g, w->id);
		break;
	case CHAN_CONNS:
		if (g && g->asked[w->id] == w->pid) {
			gather_add_conns(g, payload, h->len);
			gather_done_one(g, w->id);
		}
		break;
	default:
		log_warn("worker %d: unknown message type %u", w->id, h->type);
	}
}

static void master_on_chan_close(struct chan *ch)
{
	struct mworker *w = ch->arg;

	gather_worker_gone(w->m, w);
	/* Usually the worker has just died and SIGCHLD is on its way; give
	 * it a moment before deciding the worker is alive but deaf. */
	if (w->pid && !w->m->stopping)
		loop_timer_arm(w->m->loop, &w->respawn, 1000);
}

/* --- start-up --- */

static int open_listeners(struct master *m, char *err, size_t errlen)
{
	struct config *cfg = m->cfg;

	for (int j = 0; j < cfg->nlisten; j++) {
		struct addr *a = &cfg->listen[j];

		if (addr_port(&a->u.sa) != 0 && lst_check_free(a, err, errlen) < 0)
			return -1;
		for (int i = 0; i < m->nw; i++) {
			int fd = lst_open(a, (int)m->lim.backlog, err, errlen);

			if (fd < 0)
				return -1;
			m->w[i].lst_fds[j] = fd;
			if (addr_port(&a->u.sa) == 0) {
				/* Port 0: the kernel chose for the first
				 * socket; every other one joins that port. */
				union addr_sa got;
				socklen_t len = sizeof(got);

				if (getsockname(fd, &got.sa, &len) < 0) {
					snprintf(err, errlen, "getsockname: %s",
						 strerror(errno));
					return -1;
				}
				addr_set_port(a, addr_port(&got.sa));
			}
		}
	}
	return 0;
}

static int open_signals(struct master *m)
{
	sigset_t set;
	int fd;

	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGQUIT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGUSR1);
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
		return -1;
	signal(SIGPIPE, SIG_IGN);
	fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (fd < 0)
		return -1;
	return loop_add(m->loop, &m->sig, fd, EPOLLIN, master_signal);
}

static void log_started(const struct master *m)
{
	char addrs[512] = "", a[ADDR_STRLEN];
	size_t off = 0;

	for (int j = 0; j < m->cfg->nlisten && off < sizeof(addrs); j++)
		off += (size_t)snprintf(addrs + off, sizeof(addrs) - off, "%s%s",
					j ? " " : "",
					addr_format(&m->cfg->listen[j].u.sa, a,
						    sizeof(a)));
	log_info("reuseportd %s started: %d %s workers on %s, stats socket %s",
		 PACKAGE_VERSION, m->nw, config_protocol_name(m->cfg->protocol),
		 addrs, m->cfg->stats_socket);
}

static void master_cleanup(struct master *m)
{
	while (m->gathers) {
		struct gather *g = m->gathers;

		m->gathers = g->next;
		free(g->recs);
		free(g);
	}
	ctl_close(m->ctl);
	m->ctl = NULL;
	for (int i = 0; i < m->nw; i++) {
		chan_close(&m->w[i].chan);
		for (int j = 0; j < m->cfg->nlisten; j++)
			if (m->w[i].lst_fds[j] >= 0)
				close(m->w[i].lst_fds[j]);
	}
	if (m->ready_fd >= 0)
		close(m->ready_fd);
	loop_free(m->loop);
}

int master_run(struct config *cfg, int ready_fd)
{
	struct master *m = &the_master;
	char err[512];

	memset(m, 0, sizeof(*m));
	m->cfg = cfg;
	m->nw = cfg->workers;
	m->generation = 1;
	m->ready_fd = ready_fd;
	m->start_ms = util_now_ms();
	for (int i = 0; i < m->nw; i++) {
		m->w[i].m = m;
		m->w[i].id = i;
		m->w[i].state = MW_EXITED;
		for (int j = 0; j < CFG_MAX_LISTEN; j++)
			m->w[i].lst_fds[j] = -1;
		loop_timer_init(&m->w[i].respawn, respawn_timer);
	}
	limits_init(&m->lim, cfg);
	m->loop = loop_new();
	if (!m->loop) {
		log_error("epoll: %s", strerror(errno));
		return 1;
	}
	loop_timer_init(&m->stop_deadline, stop_deadline);
	if (open_listeners(m, err, sizeof(err)) < 0) {
		log_error("%s", err);
		master_cleanup(m);
		return 1;
	}
	if (open_signals(m) < 0) {
		log_error("signals: %s", strerror(errno));
		master_cleanup(m);
		return 1;
	}
	m->ctl = ctl_open(m->loop, cfg->stats_socket, cfg->stats_socket_mode,
			  master_on_ctl, m, err, sizeof(err));
	if (!m->ctl) {
		log_error("%s", err);
		master_cleanup(m);
		return 1;
	}
	if (!cfg->foreground) {
		/* Detached: from here on nobody reads the terminal. Start-up
		 * errors above were still shown to whoever started us. */
		log_init("reuseportd", LOG_TO_SYSLOG, cfg->log_level);
		util_stdio_to_null();
	}
	for (int i = 0; i < m->nw; i++)
		if (spawn(&m->w[i]) < 0) {
			m->w[i].fails++;
			loop_timer_arm(m->loop, &m->w[i].respawn,
				       respawn_delay(&m->w[i]));
		}
	log_started(m);
	loop_run(m->loop);
	log_info("stopped");
	master_cleanup(m);
	return 0;
}
