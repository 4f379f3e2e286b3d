/* worker.c - one worker process. */
#include "autoconfig.h"

#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "channel.h"
#include "conn.h"
#include "listener.h"
#include "log.h"
#include "privdrop.h"
#include "util.h"
#include "worker.h"

/* At the drain deadline the connections left are closed in steps over
 * this window, not all at once: a burst of closes becomes a burst of
 * reconnects somewhere else. */
#define WORKER_CLOSE_WINDOW_MS 1000
#define WORKER_CLOSE_STEPS 10

static struct worker {
	const struct worker_args *args;
	struct loop *loop;
	struct conn_pool pool;
	struct lst_set lst;
	struct chan chan;
	struct stats_counters *stats; /* shared with the master (worker.h) */
	struct loop_watch sig;
	struct loop_timer drain_deadline;
	int draining;
	int forcing;       /* past the deadline: closing in steps */
	int close_per_step;
	int exit_status;
} wk;

static int worker_can_accept(void *arg)
{
	(void)arg;
	return !conn_pool_full(&wk.pool);
}

static int worker_on_accept(void *arg, int fd)
{
	(void)arg;
	return conn_open(&wk.pool, fd, 0);
}

static void worker_stop(int status)
{
	wk.exit_status = status;
	lst_set_stop(&wk.lst, 0);
	loop_stop(wk.loop);
}

static void worker_slot_free(void *arg)
{
	(void)arg;
	/* While the queue is being taken more connections are coming:
	 * worker_drain decides once it is done. */
	if (wk.draining && wk.pool.active == 0 && !wk.lst.taking)
		worker_stop(0);
	else
		lst_set_resume(&wk.lst);
}

static int close_one(struct conn *c, void *arg)
{
	int *left = arg;

	wk.stats->forced_closes++;
	conn_close(c);
	return --*left <= 0;
}

/* Past shutdown_timeout: close what is left, a slice per step. */
static void worker_drain_deadline(struct loop_timer *t)
{
	int n;

	if (!wk.forcing) {
		wk.forcing = 1;
		wk.close_per_step = (wk.pool.active + WORKER_CLOSE_STEPS - 1) /
				    WORKER_CLOSE_STEPS;
		log_info("drain deadline: closing %d connections over %d ms",
			 wk.pool.active, WORKER_CLOSE_WINDOW_MS);
	}
	n = wk.close_per_step;
	if (wk.pool.active > 0)
		conn_foreach(&wk.pool, close_one, &n);
	if (wk.pool.active > 0)
		loop_timer_arm(wk.loop, t,
			       WORKER_CLOSE_WINDOW_MS / WORKER_CLOSE_STEPS);
}

/* Stop accepting and let the connections finish; exit when none is left
 * (worker_slot_free) or close them after timeout_ms. */
static void worker_drain(uint64_t timeout_ms, int fast)
{
	if (fast) {
		conn_pool_close_all(&wk.pool);
		worker_stop(0);
		return;
	}
	if (wk.draining)
		return;
	wk.draining = 1;
	lst_set_stop(&wk.lst, 1);
	log_debug("draining %d connections", wk.pool.active);
	conn_pool_drain(&wk.pool);
	if (wk.pool.active == 0) {
		worker_stop(0);
		return;
	}
	loop_timer_arm(wk.loop, &wk.drain_deadline, timeout_ms);
}

struct conns_walk {
	struct stats_conn *recs;
	uint64_t limit, count;
	uint64_t now;
};

static int conns_collect(struct conn *c, void *arg)
{
	struct conns_walk *cw = arg;

	if (cw->count >= cw->limit)
		return 1;
	conn_describe(c, cw->now, &cw->recs[cw->count++]);
	return 0;
}

static void worker_send_conns(uint64_t seq, uint64_t limit)
{
	struct conns_walk cw = { NULL, 0, 0, util_now_ms() };
	struct chan_conns_hdr h = { (uint64_t)wk.pool.active, 0 };

	cw.limit = UTIL_MIN(limit, (uint64_t)wk.pool.active);
	if (cw.limit > 0) {
		cw.recs = calloc(cw.limit, sizeof(*cw.recs));
		if (!cw.recs)
			cw.limit = 0;
	}
	conn_foreach(&wk.pool, conns_collect, &cw);
	h.count = cw.count;
	chan_send2(&wk.chan, CHAN_CONNS, seq, &h, sizeof(h), cw.recs,
		   cw.count * sizeof(*cw.recs));
	free(cw.recs);
}

static void worker_on_msg(struct chan *ch, const struct chan_hdr *h,
			  const void *payload)
{
	(void)ch;
	switch (h->type) {
	case CHAN_STATS_REQ:
		chan_send(&wk.chan, CHAN_STATS, h->seq, wk.stats,
			  sizeof(*wk.stats));
		break;
	case CHAN_CONNS_REQ: {
		struct chan_conns_req rq = { 0 };

		if (h->len >= sizeof(rq))
			memcpy(&rq, payload, sizeof(rq));
		worker_send_conns(h->seq, rq.limit);
		break;
	}
	case CHAN_DRAIN: {
		struct chan_drain d = { 0, 0, 0 };

		if (h->len >= sizeof(d))
			memcpy(&d, payload, sizeof(d));
		worker_drain(d.timeout_ms, (int)d.fast);
		break;
	}
	default:
		log_warn("channel: unknown message type %u", h->type);
	}
}

static void worker_on_chan_close(struct chan *ch)
{
	(void)ch;
	/* The master is gone: nobody supervises or counts this worker now. */
	log_warn("channel to the master closed; exiting");
	worker_stop(1);
}

static void worker_signal(struct loop_watch *w, uint32_t events)
{
	struct signalfd_siginfo si;

	(void)events;
	while (read(w->fd, &si, sizeof(si)) == sizeof(si)) {
		/* The master drains its workers over the channel; these are
		 * for a worker signalled on its own, with the same meaning
		 * as for the master. */
		switch (si.ssi_signo) {
		case SIGTERM:
		case SIGQUIT:
			worker_drain((uint64_t)wk.args->cfg->shutdown_timeout_ms, 0);
			break;
		case SIGINT:
			worker_drain(0, 1);
			break;
		case SIGUSR1:
			log_reopen(); /* the master reopened it first */
			break;
		default:
			break; /* SIGHUP...: the master's business */
		}
	}
}

static int worker_setup(const struct worker_args *a)
{
	sigset_t set;
	int sfd;

	wk.args = a;
	wk.stats = a->stats;
	wk.loop = loop_new();
	if (!wk.loop)
		return -1;
	loop_set_idle_yield(wk.loop, a->cfg->idle_yield);
	/* The mask blocked by the master is inherited; read the signals
	 * that matter here through this loop too. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGQUIT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGCHLD);
	sigprocmask(SIG_BLOCK, &set, NULL);
	sfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (sfd < 0 || loop_add(wk.loop, &wk.sig, sfd, EPOLLIN, worker_signal) < 0)
		return -1;

	const struct proto *proto = a->cfg->protocol == CFG_PROTO_HTTP ?
					    &proto_http : &proto_echo;
	char err[256];

	if (conn_pool_init(&wk.pool, wk.loop, wk.stats,
			   (int)a->lim->nofile_soft,
			   (int)a->lim->max_connections_per_worker) < 0)
		return -1;
	/* Handler 0: the service's protocol, for every accepted client. */
	if (conn_pool_add_handler(&wk.pool, proto, a->cfg, err,
				  sizeof(err)) < 0) {
		log_error("%s", err);
		return -1;
	}
	if (a->cfg->protocol == CFG_PROTO_HTTP) {
		conn_pool_set_timeout(&wk.pool, CONN_TMO_HEADER,
				      (uint64_t)a->cfg->header_timeout_ms);
		conn_pool_set_timeout(&wk.pool, CONN_TMO_KEEPALIVE,
				      (uint64_t)a->cfg->keepalive_timeout_ms);
		conn_pool_set_timeout(&wk.pool, CONN_TMO_SEND,
				      (uint64_t)a->cfg->send_timeout_ms);
		conn_pool_set_timeout(&wk.pool, CONN_TMO_LINGER, 2000);
	}
	wk.pool.worker_id = a->id;
	wk.pool.on_slot_free = worker_slot_free;
	if (chan_open(&wk.chan, wk.loop, a->chan_fd, worker_on_msg,
		      worker_on_chan_close, NULL) < 0)
		return -1;
	if (lst_set_start(&wk.lst, wk.loop, a->lst_fds, a->nlst, wk.stats,
			  worker_can_accept, worker_on_accept, NULL) < 0)
		return -1;
	loop_timer_init(&wk.drain_deadline, worker_drain_deadline);
	return 0;
}

/* Worker i on CPU i mod ncpu: its loop, its connections' cache lines
 * and (with RSS or RPS) their packets stay on one core. */
static void worker_pin(int id)
{
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	cpu_set_t set;

	if (ncpu < 1)
		return;
	CPU_ZERO(&set);
	CPU_SET((int)(id % ncpu), &set);
	if (sched_setaffinity(0, sizeof(set), &set) < 0)
		log_warn("cpu_affinity: %s", strerror(errno));
}

int worker_main(const struct worker_args *a)
{
	char err[256];

	log_set_worker(a->id);
	/* Before anything else is opened, and before the parent-death
	 * signal (a credential change clears it). */
	if (privdrop_apply(err, sizeof(err)) < 0) {
		log_error("dropping privileges: %s", err);
		return 1;
	}
	if (a->cfg->cpu_affinity)
		worker_pin(a->id);
	/* If the master dies without a word, do not serve unsupervised. */
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getppid() != a->master_pid)
		return 1;
	if (worker_setup(a) < 0) {
		log_error("start-up failed: %s", strerror(errno));
		return 1;
	}
	chan_send(&wk.chan, CHAN_READY, 0, NULL, 0);
	log_debug("ready");
	loop_run(wk.loop);

	conn_pool_free(&wk.pool);
	/* Last counters, so the master's totals include the closes above.
	 * The channel is non-blocking and the master reads it in its loop;
	 * a frame this small fits the socket buffer. */
	chan_send(&wk.chan, CHAN_STATS, 0, wk.stats, sizeof(*wk.stats));
	chan_close(&wk.chan);
	loop_free(wk.loop);
	return wk.exit_status;
}
