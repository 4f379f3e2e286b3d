/* master.c - the supervisor.
 *
 * One loop: a signalfd (children, stop, reload), one channel per worker,
 * the stats socket and a few timers. No real work happens in a signal
 * handler, and nothing a worker or a client does can end this process: a
 * worker that dies is counted and respawned, a client that misbehaves is
 * answered or dropped.
 *
 * Listeners belong to slots, not to processes. Slot i has one SO_REUSEPORT
 * socket per listen address, opened here and never closed before exit:
 * closing a listener resets the connections waiting in its accept queue,
 * so a respawned or reloaded worker takes over the very same sockets. */
#include "autoconfig.h"

#include <errno.h>
#include <linux/filter.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "channel.h"
#include "statsock.h"
#include "listener.h"
#include "log.h"
#include "master.h"
#include "notify.h"
#include "privdrop.h"
#include "stats.h"
#include "syslimits.h"
#include "util.h"
#include "worker.h"

/* A worker that dies sooner than this after its start counts as a crash
 * loop step; the respawn delay doubles from RESPAWN_MIN_MS to the cap. */
#define RESPAWN_FAST_MS 5000
#define RESPAWN_MIN_MS 100
#define RESPAWN_MAX_MS 10000
#define CRASH_LOOP_WARN 5
/* The master asks every worker for its counters this often; the answer
 * is the heartbeat the watchdog watches. */
#define PING_MS 1000
/* Silent this long: shown as unresponsive (killed at watchdog_timeout). */
#define UNRESPONSIVE_MS 3000
/* Draining workers that may pile up under repeated reloads. */
#define MAX_RETIRING (4 * CFG_MAX_WORKERS)
/* Extra time over shutdown_timeout before stragglers are killed. */
#define STOP_GRACE_MS 3000

enum mw_state { MW_STARTING, MW_RUNNING, MW_DRAINING, MW_EXITED };

struct master;

/* A worker process; the current generation's record of a slot lives on
 * across respawns (restarts, backoff), an older one's until it exits. */
struct mworker {
	struct master *m;
	struct mworker *next; /* in the retiring list */
	int id;               /* its slot */
	int generation;
	pid_t pid;            /* 0: not running */
	enum mw_state state;
	int retiring;
	int unresponsive;
	unsigned restarts;
	unsigned fails; /* consecutive fast exits */
	uint64_t started_ms, last_seen_ms;
	char last_exit[48];
	struct chan chan;
	struct stats_counters *shm; /* the process's counters (worker.h) */
	struct stats_counters last; /* last report of the running process */
	/* A retiring worker takes its slot's history along, so that its
	 * own series never goes backwards; it returns on exit. */
	struct stats_counters rbase;
	struct loop_timer timer;    /* respawn, or a lost channel's kill */
};

struct slot {
	int fds[CFG_MAX_LISTEN];
	struct stats_counters base; /* what exited processes counted */
	struct mworker *cur;        /* NULL beyond the current worker count */
};

/* A stats socket question being answered from the workers' channels. */
struct gather {
	struct gather *next;
	struct master *m;
	uint64_t seq;
	struct statsock_client *cl;
	struct statsock_cmd cmd;
	int pending;
	int nasked;
	struct {
		struct mworker *w;
		pid_t pid; /* 0 once answered (or gone) */
	} *asked;
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
	struct statsock *ctl;
	struct statsock *metrics; /* the Prometheus endpoint, if configured */
	struct slot slots[CFG_MAX_WORKERS];
	int nslots; /* slots with listeners */
	int nw;     /* workers of the current generation */
	struct mworker *retiring;
	int nretiring;
	struct gather *gathers;
	uint64_t seq;
	int stopping; /* 1 graceful, 2 fast */
	int generation;
	int gen_ready;
	uint64_t start_ms;
	int ready_fd;
	struct loop_timer stop_deadline, watchdog;
};

static struct master the_master;
static master_reload_fn reload_fn;

void master_set_reload(master_reload_fn fn)
{
	reload_fn = fn;
}

static void master_on_msg(struct chan *ch, const struct chan_hdr *h,
			  const void *payload);
static void master_on_chan_close(struct chan *ch);
static void gather_worker_gone(struct master *m, struct mworker *w);

/* --- listeners --- */

static void slot_defer(struct master *m, int s);

/* Opens slot s's listeners; with port 0 the first socket ever opened
 * picks the port and every later one joins it. */
static int slot_open(struct master *m, int s, char *err, size_t errlen)
{
	struct config *cfg = m->cfg;

	for (int j = 0; j < cfg->nlisten; j++) {
		struct addr *a = &cfg->listen[j];
		int fd = lst_open(a, (int)m->lim.backlog, err, errlen);

		if (fd < 0)
			return -1;
		m->slots[s].fds[j] = fd;
		if (addr_port(&a->u.sa) == 0) {
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
	slot_defer(m, s);
	return 0;
}

/* HTTP clients speak first: with TCP_DEFER_ACCEPT the kernel hands a
 * connection to accept() only once its request has arrived, and the
 * worker reads it at once - one epoll round less per connection. Echo
 * keeps plain accept: a client may connect and wait (reuseportbench hold). */
static void slot_defer(struct master *m, int s)
{
	int secs = m->cfg->protocol == CFG_PROTO_HTTP ? 1 : 0;

	for (int j = 0; j < m->cfg->nlisten; j++)
		if (m->slots[s].fds[j] >= 0)
			setsockopt(m->slots[s].fds[j], IPPROTO_TCP,
				   TCP_DEFER_ACCEPT, &secs, sizeof(secs));
}

static void slot_close(struct master *m, int s)
{
	for (int j = 0; j < CFG_MAX_LISTEN; j++)
		if (m->slots[s].fds[j] >= 0) {
			close(m->slots[s].fds[j]);
			m->slots[s].fds[j] = -1;
		}
}

/* With fewer workers than listening sockets (after a reload that shrank
 * the count) the surplus sockets stay open - closing them would reset
 * their queues - and a classic BPF program attached to the group steers
 * new connections to the first nw sockets only: index = hash % nw. A
 * socket's index in the group is its order of listen(), which is the
 * slot order because no listener is ever closed. */
static void steer(struct master *m)
{
	struct sock_filter code[] = {
		{ BPF_LD | BPF_W | BPF_ABS, 0, 0, (uint32_t)(SKF_AD_OFF + SKF_AD_RXHASH) },
		{ BPF_ALU | BPF_MOD | BPF_K, 0, 0, (uint32_t)m->nw },
		{ BPF_RET | BPF_A, 0, 0, 0 },
	};
	struct sock_fprog prog = { UTIL_ARRAY_LEN(code), code };
	int dummy = 0;

	for (int j = 0; j < m->cfg->nlisten; j++) {
		int fd = m->slots[0].fds[j];

		if (m->nw < m->nslots) {
			if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF,
				       &prog, sizeof(prog)) < 0)
				log_warn("steering to %d of %d listeners: %s; the surplus ones are still served, unevenly",
					 m->nw, m->nslots, strerror(errno));
		} else {
			setsockopt(fd, SOL_SOCKET, SO_DETACH_REUSEPORT_BPF,
				   &dummy, sizeof(dummy));
		}
	}
}

/* --- starting and respawning workers --- */

static void worker_timer(struct loop_timer *t);

static struct mworker *worker_new(struct master *m, int id)
{
	struct mworker *w = calloc(1, sizeof(*w));

	if (!w)
		return NULL;
	w->m = m;
	w->id = id;
	w->state = MW_EXITED;
	loop_timer_init(&w->timer, worker_timer);
	w->shm = mmap(NULL, sizeof(*w->shm), PROT_READ | PROT_WRITE,
		      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (w->shm == MAP_FAILED) {
		free(w);
		return NULL;
	}
	return w;
}

static void worker_free(struct mworker *w)
{
	munmap(w->shm, sizeof(*w->shm));
	chan_close(&w->chan);
	loop_timer_disarm(w->m->loop, &w->timer);
	free(w);
}

static int spawn(struct mworker *w)
{
	struct master *m = w->m;
	int fds[CFG_MAX_WORKERS * CFG_MAX_LISTEN + 1], nfds = 0;
	pid_t self = getpid(), pid;
	int sv[2];

	/* Worker i accepts on slot i and on every surplus slot s with
	 * s % nw == i, so that no listener is ever left without one. */
	for (int s = w->id; s < m->nslots; s += m->nw)
		for (int j = 0; j < m->cfg->nlisten; j++)
			fds[nfds++] = m->slots[s].fds[j];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		log_error("worker %d: socketpair: %s", w->id, strerror(errno));
		return -1;
	}
	memset(w->shm, 0, sizeof(*w->shm));
	pid = fork();
	if (pid < 0) {
		log_error("worker %d: fork: %s", w->id, strerror(errno));
		close(sv[0]);
		close(sv[1]);
		return -1;
	}
	if (pid == 0) {
		struct worker_args a = {
			.cfg = m->cfg, .lim = &m->lim, .id = w->id,
			.generation = m->generation, .master_pid = self,
			.lst_fds = fds, .nlst = nfds, .chan_fd = sv[1],
			.stats = w->shm,
		};

		fds[nfds] = sv[1];
		/* Everything else of the master's (other slots' listeners,
		 * the stats socket and its clients, the other channels) is
		 * closed: holding them would keep them open after the
		 * master lets go. */
		util_close_fds_except(fds, nfds + 1);
		exit(worker_main(&a));
	}
	close(sv[1]);
	if (chan_open(&w->chan, m->loop, sv[0], master_on_msg,
		      master_on_chan_close, w) < 0) {
		log_error("worker %d: channel: %s", w->id, strerror(errno));
		kill(pid, SIGKILL);
	}
	w->pid = pid;
	w->generation = m->generation;
	w->state = MW_STARTING;
	w->unresponsive = 0;
	w->started_ms = w->last_seen_ms = util_now_ms();
	memset(&w->last, 0, sizeof(w->last));
	log_debug("worker %d: started, pid %ld, generation %d", w->id,
		  (long)pid, w->generation);
	return 0;
}

static uint64_t respawn_delay(const struct mworker *w)
{
	uint64_t d = RESPAWN_MIN_MS;

	if (w->fails == 0)
		return 0;
	for (unsigned i = 1; i < w->fails && d < RESPAWN_MAX_MS; i++)
		d *= 2;
	return UTIL_MIN(d, (uint64_t)RESPAWN_MAX_MS);
}

static void worker_timer(struct loop_timer *t)
{
	struct mworker *w = util_container_of(t, struct mworker, timer);

	if (w->pid) {
		/* Armed by a lost channel: a live worker without a channel
		 * can be neither asked nor supervised; replace it. */
		log_warn("worker %d: pid %ld lost its channel; killing it",
			 w->id, (long)w->pid);
		kill(w->pid, SIGKILL);
		return;
	}
	if (w->m->stopping || w->retiring)
		return;
	w->restarts++;
	if (spawn(w) < 0) {
		w->fails++;
		loop_timer_arm(w->m->loop, &w->timer, respawn_delay(w));
		return;
	}
	log_info("worker %d: respawned as pid %ld (restart %u)", w->id,
		 (long)w->pid, w->restarts);
}

static void master_check_stopped(struct master *m)
{
	if (m->retiring)
		return;
	for (int i = 0; i < m->nw; i++)
		if (m->slots[i].cur->pid)
			return;
	loop_stop(m->loop);
}

static void retiring_remove(struct master *m, struct mworker *w)
{
	struct mworker **pp = &m->retiring;

	while (*pp && *pp != w)
		pp = &(*pp)->next;
	if (*pp) {
		*pp = w->next;
		m->nretiring--;
	}
}

static void worker_exited(struct master *m, struct mworker *w, int status)
{
	uint64_t lived = util_now_ms() - w->started_ms;
	long pid = (long)w->pid;

	if (WIFSIGNALED(status))
		snprintf(w->last_exit, sizeof(w->last_exit), "signal %d (%s)",
			 WTERMSIG(status), strsignal(WTERMSIG(status)));
	else
		snprintf(w->last_exit, sizeof(w->last_exit), "status %d",
			 WEXITSTATUS(status));
	chan_read_all(&w->chan);
	chan_close(&w->chan);
	gather_worker_gone(m, w);
	/* The process is gone: its shared counters are final and exact. */
	w->last = *w->shm;
	/* Counters survive their process: what it counted moves to its
	 * slot's base, and the connections it still had are lost. */
	w->last.lost += w->last.active;
	stats_accumulate(&m->slots[w->id % m->nw].base, &w->last);
	stats_accumulate(&m->slots[w->id % m->nw].base, &w->rbase);
	memset(&w->rbase, 0, sizeof(w->rbase));
	memset(&w->last, 0, sizeof(w->last));
	w->pid = 0;
	w->state = MW_EXITED;
	w->unresponsive = 0;
	loop_timer_disarm(m->loop, &w->timer);

	if (w->retiring) {
		log_info("worker %d: pid %ld of generation %d exited (%s)",
			 w->id, pid, w->generation, w->last_exit);
		retiring_remove(m, w);
		worker_free(w);
		if (m->stopping)
			master_check_stopped(m);
		return;
	}
	if (m->stopping) {
		log_info("worker %d: pid %ld exited (%s)", w->id, pid,
			 w->last_exit);
		master_check_stopped(m);
		return;
	}
	w->fails = lived < RESPAWN_FAST_MS ? w->fails + 1 : 0;

	uint64_t delay = respawn_delay(w);

	if (w->fails >= CRASH_LOOP_WARN)
		log_error("worker %d: crash loop: pid %ld exited (%s), %u times in a row within %d ms of starting; respawning in %llu ms",
			  w->id, pid, w->last_exit, w->fails, RESPAWN_FAST_MS,
			  (unsigned long long)delay);
	else
		log_warn("worker %d: pid %ld exited (%s); respawning in %llu ms",
			 w->id, pid, w->last_exit, (unsigned long long)delay);
	loop_timer_arm(m->loop, &w->timer, delay);
}

static void reap_children(struct master *m)
{
	int status;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		struct mworker *w = NULL;

		for (int i = 0; i < m->nw && !w; i++)
			if (m->slots[i].cur->pid == pid)
				w = m->slots[i].cur;
		for (struct mworker *r = m->retiring; r && !w; r = r->next)
			if (r->pid == pid)
				w = r;
		if (w)
			worker_exited(m, w, status);
	}
}

/* --- generations: start, ready, drain --- */

static void drain(struct mworker *w, int fast)
{
	struct chan_drain d = { (uint64_t)w->m->cfg->shutdown_timeout_ms,
				(uint32_t)fast, 0 };

	if (!w->pid)
		return;
	w->state = MW_DRAINING;
	if (chan_send(&w->chan, CHAN_DRAIN, 0, &d, sizeof(d)) < 0)
		kill(w->pid, fast ? SIGKILL : SIGTERM);
}

static void generation_ready(struct master *m)
{
	m->gen_ready = 1;
	steer(m);
	if (m->nretiring)
		log_info("generation %d: %d workers ready; draining %d old workers",
			 m->generation, m->nw, m->nretiring);
	for (struct mworker *r = m->retiring; r; r = r->next)
		if (r->state != MW_DRAINING)
			drain(r, 0);
	notify_send("READY=1\nSTATUS=%d workers running, generation %d",
		    m->nw, m->generation);
	if (m->ready_fd >= 0) {
		/* Every worker listens: the detaching parent may exit 0. */
		if (write(m->ready_fd, "1", 1) < 0)
			log_warn("start-up notification: %s", strerror(errno));
		close(m->ready_fd);
		m->ready_fd = -1;
	}
}

static void worker_ready(struct master *m, struct mworker *w)
{
	if (w->state == MW_STARTING)
		w->state = MW_RUNNING;
	if (m->gen_ready || w->retiring)
		return;
	for (int i = 0; i < m->nw; i++)
		if (m->slots[i].cur->state != MW_RUNNING)
			return;
	generation_ready(m);
}

static int listen_changed(const struct config *a, const struct config *b)
{
	if (a->nlisten != b->nlisten)
		return 1;
	for (int j = 0; j < a->nlisten; j++) {
		struct addr x = a->listen[j], y = b->listen[j];

		/* A port 0 asked again means the port chosen the first time. */
		if (addr_port(&y.u.sa) == 0)
			addr_set_port(&y, addr_port(&x.u.sa));
		if (x.len != y.len || memcmp(&x.u, &y.u, x.len) != 0)
			return 1;
	}
	return 0;
}

/* systemd waits for READY=1 after RELOADING=1, success or not. */
static void reload_failed(struct master *m)
{
	notify_send("READY=1\nSTATUS=reload failed; %d workers running, generation %d",
		    m->nw, m->generation);
}

static void master_reload(struct master *m)
{
	struct config nc;
	char err[512];
	int old_nslots = m->nslots;

	if (m->stopping)
		return;
	log_info("SIGHUP: reloading");
	notify_reloading();
	if (reload_fn && reload_fn(&nc, err, sizeof(err)) < 0) {
		log_error("reload: %s; still serving with generation %d",
			  err, m->generation);
		reload_failed(m);
		return;
	}
	if (!reload_fn)
		nc = *m->cfg;
	if (listen_changed(m->cfg, &nc)) {
		log_error("reload: the listen addresses cannot change on reload (restart for that); still serving with generation %d",
			  m->generation);
		reload_failed(m);
		return;
	}
	if (m->nretiring + m->nw > MAX_RETIRING) {
		log_error("reload: %d workers are still draining; try again later",
			  m->nretiring);
		reload_failed(m);
		return;
	}
	memcpy(nc.listen, m->cfg->listen, sizeof(nc.listen));
	for (int s = m->nslots; s < nc.workers; s++) {
		if (slot_open(m, s, err, sizeof(err)) < 0) {
			log_error("reload: %s; still serving with generation %d",
				  err, m->generation);
			for (int k = old_nslots; k <= s; k++)
				slot_close(m, k);
			reload_failed(m);
			return;
		}
	}
	*m->cfg = nc;
	m->generation++;
	for (int s = 0; s < m->nslots; s++)
		slot_defer(m, s);
	for (int i = 0; i < m->nw; i++) {
		struct mworker *w = m->slots[i].cur;

		m->slots[i].cur = NULL;
		if (!w->pid) {
			worker_free(w);
			continue;
		}
		loop_timer_disarm(m->loop, &w->timer);
		w->rbase = m->slots[i].base;
		memset(&m->slots[i].base, 0, sizeof(m->slots[i].base));
		w->retiring = 1;
		w->next = m->retiring;
		m->retiring = w;
		m->nretiring++;
	}
	m->nw = nc.workers;
	m->nslots = UTIL_MAX(m->nslots, m->nw);
	/* The counters of slots that no longer have a worker of their own
	 * go to the worker that now serves their listeners. */
	for (int s = m->nw; s < m->nslots; s++) {
		stats_accumulate(&m->slots[s % m->nw].base, &m->slots[s].base);
		memset(&m->slots[s].base, 0, sizeof(m->slots[s].base));
	}
	m->gen_ready = 0;
	log_info("generation %d: starting %d workers", m->generation, m->nw);
	for (int i = 0; i < m->nw; i++) {
		struct mworker *w = worker_new(m, i);

		if (!w) {
			log_error("reload: out of memory");
			abort();
		}
		m->slots[i].cur = w;
		if (spawn(w) < 0) {
			w->fails++;
			loop_timer_arm(m->loop, &w->timer, respawn_delay(w));
		}
	}
}

/* --- watchdog --- */

static void watch_one(struct master *m, struct mworker *w, uint64_t now)
{
	uint64_t silent = now - w->last_seen_ms;
	uint64_t limit = (uint64_t)m->cfg->watchdog_timeout_ms;

	if (!w->pid)
		return;
	if (silent >= limit) {
		log_error("worker %d: pid %ld silent for %llu ms (watchdog_timeout %llu ms); killing it",
			  w->id, (long)w->pid, (unsigned long long)silent,
			  (unsigned long long)limit);
		kill(w->pid, SIGKILL);
		return;
	}
	if (silent >= UNRESPONSIVE_MS && !w->unresponsive &&
	    w->state != MW_STARTING) {
		w->unresponsive = 1;
		log_warn("worker %d: pid %ld unresponsive for %llu ms", w->id,
			 (long)w->pid, (unsigned long long)silent);
	}
	/* The ping: a stats request whose answer refreshes w->last too. */
	if (w->chan.open)
		chan_send(&w->chan, CHAN_STATS_REQ, 0, NULL, 0);
}

static void watchdog(struct loop_timer *t)
{
	struct master *m = util_container_of(t, struct master, watchdog);
	uint64_t now = util_now_ms();

	for (int i = 0; i < m->nw; i++)
		watch_one(m, m->slots[i].cur, now);
	for (struct mworker *r = m->retiring; r; r = r->next)
		watch_one(m, r, now);
	loop_timer_arm(m->loop, t, PING_MS);
}

/* --- stopping --- */

static void kill_all(struct master *m)
{
	for (int i = 0; i < m->nw; i++)
		if (m->slots[i].cur->pid) {
			log_warn("worker %d: pid %ld did not stop in time; killing it",
				 i, (long)m->slots[i].cur->pid);
			kill(m->slots[i].cur->pid, SIGKILL);
		}
	for (struct mworker *r = m->retiring; r; r = r->next)
		if (r->pid)
			kill(r->pid, SIGKILL);
}

static void stop_deadline(struct loop_timer *t)
{
	kill_all(util_container_of(t, struct master, stop_deadline));
}

static void master_stop(struct master *m, int fast, int signo)
{
	if (m->stopping >= (fast ? 2 : 1))
		fast = 1; /* asked again: no more patience */
	log_info("signal %d (%s): %s shutdown", signo, strsignal(signo),
		 fast ? "fast" : "graceful");
	m->stopping = fast ? 2 : 1;
	notify_send("STOPPING=1\nSTATUS=stopping");
	/* Let go of the listeners now: each worker takes what is left in
	 * its queues and closes its own reference, and the sockets go with
	 * the last one. */
	for (int s = 0; s < m->nslots; s++)
		slot_close(m, s);
	for (int i = 0; i < m->nw; i++) {
		loop_timer_disarm(m->loop, &m->slots[i].cur->timer);
		drain(m->slots[i].cur, fast);
	}
	for (struct mworker *r = m->retiring; r; r = r->next)
		drain(r, fast);
	loop_timer_arm(m->loop, &m->stop_deadline,
		       fast ? STOP_GRACE_MS :
			      (uint64_t)m->cfg->shutdown_timeout_ms + STOP_GRACE_MS);
	master_check_stopped(m);
}

/* SIGUSR1: the master's log, then each worker's (each has its own
 * descriptor of the file). */
static void reopen_logs(struct master *m)
{
	log_reopen();
	for (int i = 0; i < m->nw; i++)
		if (m->slots[i].cur->pid)
			kill(m->slots[i].cur->pid, SIGUSR1);
	for (struct mworker *r = m->retiring; r; r = r->next)
		if (r->pid)
			kill(r->pid, SIGUSR1);
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
		case SIGQUIT:
			master_stop(m, m->stopping != 0, (int)si.ssi_signo);
			break;
		case SIGINT:
			master_stop(m, 1, (int)si.ssi_signo);
			break;
		case SIGHUP:
			master_reload(m);
			break;
		case SIGUSR1:
			reopen_logs(m);
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
	if (w->unresponsive)
		return "unresponsive";
	switch (w->state) {
	case MW_STARTING:
		return "starting";
	case MW_DRAINING:
		return "draining";
	default:
		return "running";
	}
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

static void worker_view(const struct mworker *w, const struct stats_counters *base,
			uint64_t now, struct stats_worker_view *v)
{
	*v = (struct stats_worker_view){
		.id = w->id, .pid = w->pid, .state = worker_state(w),
		.generation = w->generation, .restarts = w->restarts,
		.silent_ms = w->pid ? now - w->last_seen_ms : 0,
		.last_exit = w->last_exit[0] ? w->last_exit : NULL,
	};
	if (base)
		v->c = *base;
	stats_add(&v->c, &w->last);
}

/* Answers stats, workers or prometheus from the counters at hand. */
static void answer_workers(const struct master *m, struct statsock_client *cl,
			   enum statsock_kind kind)
{
	struct stats_worker_view *v;
	struct stats_daemon_view d;
	uint64_t now = util_now_ms();
	int n = 0;

	v = calloc((size_t)(m->nw + m->nretiring), sizeof(*v));
	if (!v) {
		statsock_reply(cl, stats_json_error("out of memory"));
		return;
	}
	daemon_view(m, &d);
	for (int i = 0; i < m->nw; i++)
		worker_view(m->slots[i].cur, &m->slots[i].base, now, &v[n++]);
	for (const struct mworker *r = m->retiring; r; r = r->next)
		worker_view(r, &r->rbase, now, &v[n++]);
	if (kind == STATSOCK_PROMETHEUS)
		statsock_reply_text(cl, stats_prometheus(&d, v, n));
	else if (kind == STATSOCK_WORKERS)
		statsock_reply(cl, stats_json_workers(&d, v, n));
	else
		statsock_reply(cl, stats_json_stats(&d, v, n));
	free(v);
}

static void gather_finish(struct gather *g)
{
	struct master *m = g->m;
	struct gather **pp;

	loop_timer_disarm(m->loop, &g->deadline);
	for (pp = &m->gathers; *pp != g; pp = &(*pp)->next)
		;
	*pp = g->next;
	for (int i = 0; i < g->nasked; i++)
		if (g->asked[i].pid && !g->asked[i].w->unresponsive) {
			g->asked[i].w->unresponsive = 1;
			log_warn("worker %d: pid %ld did not answer within %d ms",
				 g->asked[i].w->id, (long)g->asked[i].pid,
				 m->cfg->stats_timeout_ms);
		}
	if (g->cmd.kind == STATSOCK_CONNECTIONS)
		statsock_reply(g->cl, stats_json_connections(g->recs, g->nrecs,
							g->total,
							g->total > g->nrecs));
	else
		answer_workers(m, g->cl, g->cmd.kind);
	free(g->asked);
	free(g->recs);
	free(g);
}

static void gather_timeout(struct loop_timer *t)
{
	gather_finish(util_container_of(t, struct gather, deadline));
}

static void gather_ask(struct gather *g, struct mworker *w)
{
	struct chan_conns_req rq = { g->cmd.limit };
	int r;

	if (!w->pid || !w->chan.open)
		return;
	if (g->cmd.kind == STATSOCK_CONNECTIONS)
		r = chan_send(&w->chan, CHAN_CONNS_REQ, g->seq, &rq, sizeof(rq));
	else
		r = chan_send(&w->chan, CHAN_STATS_REQ, g->seq, NULL, 0);
	if (r == 0) {
		g->asked[g->nasked].w = w;
		g->asked[g->nasked].pid = w->pid;
		g->nasked++;
		g->pending++;
	}
}

static void gather_start(struct master *m, struct statsock_client *cl,
			 const struct statsock_cmd *cmd)
{
	struct gather *g = calloc(1, sizeof(*g));

	if (g)
		g->asked = calloc((size_t)(m->nw + m->nretiring), sizeof(*g->asked));
	if (!g || !g->asked) {
		free(g);
		statsock_reply(cl, stats_json_error("out of memory"));
		return;
	}
	g->m = m;
	g->seq = ++m->seq;
	g->cl = cl;
	g->cmd = *cmd;
	loop_timer_init(&g->deadline, gather_timeout);
	g->next = m->gathers;
	m->gathers = g;
	for (int i = 0; i < m->nw; i++)
		gather_ask(g, m->slots[i].cur);
	for (struct mworker *r = m->retiring; r; r = r->next)
		gather_ask(g, r);
	if (g->pending == 0)
		gather_finish(g);
	else
		loop_timer_arm(m->loop, &g->deadline,
			       (uint64_t)m->cfg->stats_timeout_ms);
}

/* Marks w's answer received; returns 1 if it was awaited. Finishes the
 * gather when it was the last one. */
static int gather_done_one(struct gather *g, struct mworker *w,
			   const void *payload, size_t len)
{
	for (int i = 0; i < g->nasked; i++) {
		if (g->asked[i].w != w || g->asked[i].pid != w->pid ||
		    !g->asked[i].pid)
			continue;
		g->asked[i].pid = 0;
		if (payload && g->cmd.kind == STATSOCK_CONNECTIONS) {
			struct chan_conns_hdr h;
			size_t n;

			if (len >= sizeof(h)) {
				memcpy(&h, payload, sizeof(h));
				n = (len - sizeof(h)) / sizeof(struct stats_conn);
				n = UTIL_MIN(n, (size_t)h.count);
				g->total += h.total;
				/* Each worker sent up to the limit; keep the
				 * limit overall. */
				n = UTIL_MIN(n, (size_t)(g->cmd.limit - g->nrecs));
				struct stats_conn *r = n ?
					realloc(g->recs, (g->nrecs + n) * sizeof(*r)) : NULL;

				if (r) {
					memcpy(r + g->nrecs,
					       (const char *)payload + sizeof(h),
					       n * sizeof(*r));
					g->recs = r;
					g->nrecs += n;
				}
			}
		}
		if (--g->pending == 0)
			gather_finish(g);
		return 1;
	}
	return 0;
}

static void gather_worker_gone(struct master *m, struct mworker *w)
{
	struct gather *g = m->gathers;

	while (g) {
		struct gather *next = g->next;

		gather_done_one(g, w, NULL, 0);
		g = next;
	}
}

static void master_on_ctl(void *arg, struct statsock_client *cl,
			  const struct statsock_cmd *cmd)
{
	struct master *m = arg;
	struct stats_daemon_view d;

	daemon_view(m, &d);
	switch (cmd->kind) {
	case STATSOCK_PING:
		statsock_reply(cl, stats_json_ping(&d));
		break;
	case STATSOCK_HELP:
		statsock_reply(cl, stats_json_help());
		break;
	case STATSOCK_LIMITS:
		statsock_reply(cl, stats_json_limits_doc(&m->lim));
		break;
	case STATSOCK_CONNECTIONS:
		/* One at a time: each holds a copy of every connection's
		 * record; many at once could exhaust the master's memory. */
		for (struct gather *g = m->gathers; g; g = g->next)
			if (g->cmd.kind == STATSOCK_CONNECTIONS) {
				statsock_reply(cl, stats_json_error(
					"busy: another connections query is running; try again"));
				return;
			}
		gather_start(m, cl, cmd);
		break;
	case STATSOCK_STATS:
	case STATSOCK_WORKERS:
	case STATSOCK_PROMETHEUS:
		gather_start(m, cl, cmd);
		break;
	}
}

/* --- worker channels --- */

static struct gather *gather_find(struct master *m, uint64_t seq)
{
	for (struct gather *g = m->gathers; g; g = g->next)
		if (g->seq == seq)
			return g;
	return NULL;
}

static void master_on_msg(struct chan *ch, const struct chan_hdr *h,
			  const void *payload)
{
	struct mworker *w = ch->arg;
	struct master *m = w->m;
	struct gather *g = h->seq ? gather_find(m, h->seq) : NULL;

	w->last_seen_ms = util_now_ms();
	if (w->unresponsive) {
		w->unresponsive = 0;
		log_info("worker %d: pid %ld answers again", w->id, (long)w->pid);
	}
	switch (h->type) {
	case CHAN_READY:
		worker_ready(m, w);
		break;
	case CHAN_STATS:
		if (h->len >= sizeof(w->last))
			memcpy(&w->last, payload, sizeof(w->last));
		if (g)
			gather_done_one(g, w, NULL, 0);
		break;
	case CHAN_CONNS:
		if (g)
			gather_done_one(g, w, payload, h->len);
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
		loop_timer_arm(w->m->loop, &w->timer, 1000);
}

/* --- start-up --- */

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
		free(g->asked);
		free(g->recs);
		free(g);
	}
	statsock_close(m->ctl);
	m->ctl = NULL;
	statsock_close(m->metrics);
	m->metrics = NULL;
	while (m->retiring) {
		struct mworker *r = m->retiring;

		m->retiring = r->next;
		worker_free(r);
	}
	for (int s = 0; s < CFG_MAX_WORKERS; s++) {
		if (m->slots[s].cur)
			worker_free(m->slots[s].cur);
		m->slots[s].cur = NULL;
		slot_close(m, s);
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
	m->generation = 1;
	m->ready_fd = ready_fd;
	m->start_ms = util_now_ms();
	for (int s = 0; s < CFG_MAX_WORKERS; s++)
		for (int j = 0; j < CFG_MAX_LISTEN; j++)
			m->slots[s].fds[j] = -1;
	limits_init(&m->lim, cfg);
	m->loop = loop_new();
	if (!m->loop) {
		log_error("epoll: %s", strerror(errno));
		return 1;
	}
	loop_timer_init(&m->stop_deadline, stop_deadline);
	loop_timer_init(&m->watchdog, watchdog);
	/* Check the addresses before opening anything, so that a busy port
	 * is one clear error and never a half-joined group. */
	for (int j = 0; j < cfg->nlisten; j++)
		if (addr_port(&cfg->listen[j].u.sa) != 0 &&
		    lst_check_free(&cfg->listen[j], err, sizeof(err)) < 0) {
			log_error("%s", err);
			master_cleanup(m);
			return 1;
		}
	for (int s = 0; s < cfg->workers; s++, m->nslots++)
		if (slot_open(m, s, err, sizeof(err)) < 0) {
			log_error("%s", err);
			master_cleanup(m);
			return 1;
		}
	if (open_signals(m) < 0) {
		log_error("signals: %s", strerror(errno));
		master_cleanup(m);
		return 1;
	}
	m->ctl = statsock_open(m->loop, cfg->stats_socket, cfg->stats_socket_mode,
			  master_on_ctl, m, err, sizeof(err));
	if (!m->ctl || privdrop_chown_socket(cfg->stats_socket, err,
					     sizeof(err)) < 0) {
		log_error("%s", err);
		master_cleanup(m);
		return 1;
	}
	if (cfg->metrics_listen.len) {
		m->metrics = statsock_open_metrics(m->loop, &cfg->metrics_listen,
					      master_on_ctl, m, err, sizeof(err));
		if (!m->metrics) {
			log_error("%s", err);
			master_cleanup(m);
			return 1;
		}
	}
	if (!cfg->foreground) {
		/* Detached: from here on nobody reads the terminal. Start-up
		 * errors above were still shown to whoever started us. */
		util_stdio_to_null();
	}
	m->nw = cfg->workers;
	for (int i = 0; i < m->nw; i++) {
		struct mworker *w = worker_new(m, i);

		if (!w) {
			log_error("out of memory");
			master_cleanup(m);
			return 1;
		}
		m->slots[i].cur = w;
		if (spawn(w) < 0) {
			w->fails++;
			loop_timer_arm(m->loop, &w->timer, respawn_delay(w));
		}
	}
	loop_timer_arm(m->loop, &m->watchdog, PING_MS);
	log_started(m);
	loop_run(m->loop);
	log_info("stopped");
	master_cleanup(m);
	return 0;
}
