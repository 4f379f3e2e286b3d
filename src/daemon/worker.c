/* worker.c - one worker process: its loop, its listeners, its pool of
 * connections and its channel to the master. It decides when to drain and
 * exit; what a connection says is its protocol's business (conn, proto). */
#include "autoconfig.h"

#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "access_log.h"
#include "channel.h"
#include "config.h"
#include "conn.h"
#include "handover.h"
#include "listener.h"
#include "log.h"
#include "privdrop.h"
#include "stats.h"
#include "syslimits.h"
#include "util.h"
#include "worker.h"

/* The longest a reload's handover may go without moving a connection
 * before shutdown_timeout starts anyway (2M connections, 236 workers on
 * 2 cores: 16-27 s in all; with test suites running alongside, 168 s,
 * and a fixed 60 s reset 578,646 connections that were still moving). */
#define WORKER_HANDOVER_MAX_MS 60000
/* At the drain deadline the connections left are closed in steps over
 * this window, not all at once: a burst of closes becomes a burst of
 * reconnects somewhere else. */
#define WORKER_CLOSE_WINDOW_MS 1000
#define WORKER_CLOSE_STEPS 10

struct worker {
	const struct worker_args *args;
	struct loop *loop;
	struct conn_pool pool;
	struct lst_set lst;
	struct chan chan;
	struct stats_counters *stats; /* shared with the master (worker.h) */
	struct loop_watch signals;    /* the signalfd */
	struct loop_timer drain_deadline;
	struct handover ho; /* a reload's: idle connections to the new one */
	int draining;
	uint64_t drain_timeout_ms; /* shutdown_timeout, from the drain's rest */
	int resting;            /* the drain's rest began: its deadline runs */
	int forcing;            /* past the deadline: closing in steps */
	uint64_t handover_mark; /* handed_over at the backstop's last look */
	int close_per_step;
	int exit_status;
};

/* Handler 0 of the pool: the service's protocol, for accepted clients. */
#define WORKER_HANDLER_CLIENT 0

static int worker_can_accept(void *arg)
{
	struct worker *worker = arg;

	return !conn_pool_full(&worker->pool);
}

static int worker_on_accept(void *arg, int fd, const struct sockaddr *peer,
			    socklen_t peerlen)
{
	struct worker *worker = arg;

	return conn_open_from(&worker->pool, fd, WORKER_HANDLER_CLIENT, peer,
			      peerlen);
}

/* Accept is out of descriptors: the open files the protocols keep for
 * themselves go before a connection waits. */
static unsigned worker_out_of_fds(void *arg)
{
	struct worker *worker = arg;

	return conn_pool_release_fds(&worker->pool);
}

static void worker_stop(struct worker *worker, int status)
{
	if (status > worker->exit_status)
		worker->exit_status = status;
	lst_set_stop(&worker->lst, 0);
	loop_stop(worker->loop);
}

static void worker_slot_free(void *arg)
{
	struct worker *worker = arg;

	/* While the queue is being taken more connections are coming:
	 * worker_drain decides once it is done. */
	if (worker->draining && conn_pool_active(&worker->pool) == 0 &&
	    !worker->lst.taking && !worker->ho.running)
		worker_stop(worker, 0);
	else
		lst_set_resume(&worker->lst);
}

/* One step of the closes at the drain deadline. */
struct forced_closes {
	struct stats_counters *stats;
	int left;
};

/* Clients only: what a protocol opened for a client (conn_connect) is
 * its to close with it, and the counters are the clients' (conn.h). */
/* A connection given up at the deadline is reset, not closed with a
 * FIN: no FIN_WAIT and TIME_WAIT state is left behind for each of what
 * may be hundreds of thousands, and the client learns at once (as
 * HAProxy's nolinger, nginx's reset_timedout_connection). */
static int close_one(struct conn *c, void *arg)
{
	static const struct linger reset = { 1, 0 };
	struct forced_closes *fc = arg;

	if (conn_is_outbound(c))
		return 0;
	fc->stats->forced_closes++;
	setsockopt(conn_fd(c), SOL_SOCKET, SO_LINGER, &reset, sizeof(reset));
	conn_close(c);
	return --fc->left <= 0;
}

/* Past shutdown_timeout: close what is left, a slice per step. */
static void worker_drain_deadline(struct loop_timer *t)
{
	struct worker *worker = util_container_of(t, struct worker, drain_deadline);
	struct forced_closes fc = { worker->stats, 0 };
	int active = conn_pool_active(&worker->pool);

	/* The handover's backstop: while connections keep moving, slowly on
	 * a starved machine, they are moved rather than reset. */
	if (worker->ho.running && !worker->forcing &&
	    worker->stats->handed_over != worker->handover_mark) {
		worker->handover_mark = worker->stats->handed_over;
		loop_timer_arm(worker->loop, t, WORKER_HANDOVER_MAX_MS);
		return;
	}
	if (!worker->forcing) {
		worker->forcing = 1;
		worker->close_per_step = (active + WORKER_CLOSE_STEPS - 1) /
					 WORKER_CLOSE_STEPS;
		log_info("drain deadline: closing %d connections over %d ms",
			 active, WORKER_CLOSE_WINDOW_MS);
	}
	fc.left = worker->close_per_step;
	if (active > 0)
		conn_foreach(&worker->pool, close_one, &fc);
	if (conn_pool_active(&worker->pool) > 0)
		loop_timer_arm(worker->loop, t,
			       WORKER_CLOSE_WINDOW_MS / WORKER_CLOSE_STEPS);
}

/* After the handover, if any: the connections left are told to finish
 * (their protocol's on_drain) within shutdown_timeout; exit when none is
 * left. The deadline runs from here, not from the drain's start: a
 * handover of 17,000 connections per worker takes longer than 10 s when
 * 236 workers share 2 cores (2M connections), and a deadline running
 * meanwhile closed half of them instead of moving them. The handover
 * ends by itself once it stops progressing (handover.c). */
static void worker_drain_rest(void *arg)
{
	struct worker *worker = arg;

	if (!worker->resting && !worker->forcing)
		loop_timer_arm(worker->loop, &worker->drain_deadline,
			       worker->drain_timeout_ms);
	worker->resting = 1;
	log_debug("draining %d connections", conn_pool_active(&worker->pool));
	conn_pool_drain(&worker->pool);
	if (conn_pool_active(&worker->pool) == 0)
		worker_stop(worker, 0);
}

/* Stop accepting, hand up to `handover` idle connections to the new
 * generation, let the others finish; exit when none is left
 * (worker_slot_free) or close them after timeout_ms. */
static void worker_drain(struct worker *worker, uint64_t timeout_ms, int fast,
			 uint32_t handover)
{
	if (fast) {
		conn_pool_close_all(&worker->pool);
		worker_stop(worker, 0);
		return;
	}
	if (worker->draining)
		return;
	worker->draining = 1;
	worker->drain_timeout_ms = timeout_ms;
	lst_set_stop(&worker->lst, 1);
	/* A backstop while the handover runs: it ends by itself (a pass
	 * that moves nothing, three passes, a TAKEN 10 s late), but a master
	 * that stopped reading must not keep this worker for ever. It fires
	 * only once WORKER_HANDOVER_MAX_MS went by without a connection
	 * moved (worker_drain_deadline): a slow handover that progresses
	 * goes on. */
	worker->handover_mark = worker->stats->handed_over;
	loop_timer_arm(worker->loop, &worker->drain_deadline,
		       timeout_ms + WORKER_HANDOVER_MAX_MS);
	if (handover && conn_pool_active(&worker->pool) > 0)
		ho_start(&worker->ho, handover); /* then worker_drain_rest */
	else
		worker_drain_rest(worker);
}

/* A page of a listing: the connections walked (at most
 * WORKER_PAGE_WALK from the cursor, so that a big walk does not stall
 * this worker's loop), the rows or groups of those that match. */
#define WORKER_PAGE_WALK 4096

struct page_walk {
	const struct chan_conns_req *rq;
	struct chan_conns_hdr h;
	struct stats_conn *rows;
	struct listing_groups groups;
	uint64_t walked, now;
	int failed;
};

static void page_group(struct page_walk *pw, const struct stats_conn *rec)
{
	struct listing_group_rec g = { .state = -1, .worker = -1, .count = 1 };

	if (pw->rq->group == LISTING_BY_STATE)
		g.state = rec->tcp_state;
	else if (pw->rq->group == LISTING_BY_WORKER)
		g.worker = rec->worker;
	else
		g.remote = rec->remote;
	g.remote.in4.sin_port = 0; /* same offset in in6: the IP alone */
	if (listing_groups_add(&pw->groups, &g) < 0)
		pw->failed = 1;
}

static int page_visit(struct conn *c, void *arg)
{
	struct page_walk *pw = arg;
	struct stats_conn rec;

	/* The document is about the clients, whose number it gives. */
	if ((uint64_t)conn_fd(c) < pw->rq->cursor || conn_is_outbound(c))
		return 0;
	if (pw->walked == WORKER_PAGE_WALK ||
	    (pw->rq->group == LISTING_ROWS && pw->rq->max_rows &&
	     pw->h.count == pw->rq->max_rows)) {
		pw->h.next = (uint64_t)conn_fd(c);
		return 1;
	}
	pw->walked++;
	conn_describe(c, pw->now, &rec);
	if (!listing_match(&pw->rq->filter, &rec))
		return 0;
	pw->h.matched++;
	if (pw->rq->group != LISTING_ROWS)
		page_group(pw, &rec);
	else if (pw->h.count < pw->rq->max_rows)
		pw->rows[pw->h.count++] = rec;
	return 0;
}

static void worker_send_page(struct worker *worker, uint64_t seq,
			     const struct chan_conns_req *rq)
{
	struct page_walk pw = { .rq = rq, .now = util_now_ms() };
	uint32_t max = UTIL_MIN(rq->max_rows, (uint32_t)WORKER_PAGE_WALK);

	pw.h.active = (uint64_t)conn_pool_active(&worker->pool);
	pw.h.next = CHAN_CONNS_END;
	listing_groups_init(&pw.groups, (enum listing_group)rq->group);
	if (rq->group == LISTING_ROWS && max &&
	    !(pw.rows = calloc(max, sizeof(*pw.rows))))
		max = 0;
	struct chan_conns_req limited = *rq;

	limited.max_rows = max;
	pw.rq = &limited;
	conn_foreach(&worker->pool, page_visit, &pw);
	if (rq->group == LISTING_ROWS) {
		chan_send_records(&worker->chan, CHAN_CONNS, seq, &pw.h,
				  sizeof(pw.h), pw.rows,
				  pw.h.count * sizeof(*pw.rows));
	} else {
		listing_groups_sort(&pw.groups);
		pw.h.count = pw.groups.cap;
		chan_send_records(&worker->chan, CHAN_CONN_GROUPS, seq, &pw.h,
				  sizeof(pw.h), pw.groups.recs,
				  pw.h.count * sizeof(*pw.groups.recs));
	}
	free(pw.rows);
	listing_groups_free(&pw.groups);
}

/* Another slot's listeners, lent while its worker is down (ADOPT), or
 * given back (RELEASE). A draining worker closes what it is lent. */
static void worker_lent(struct worker *worker, const struct chan_hdr *h,
			const void *body)
{
	struct chan_slot s;
	int n, *fds = chan_frame_fds(&worker->chan, &n);

	memcpy(&s, body, sizeof(s));
	if (h->type == CHAN_RELEASE) {
		lst_set_release(&worker->lst, s.slot,
				s.flags & CHAN_SLOT_TAKE_QUEUE);
		return;
	}
	if (lst_set_adopt(&worker->lst, s.slot, fds, n) < 0)
		log_warn("adopting slot %d's listeners: %s", s.slot,
			 strerror(errno));
	for (int i = 0; i < n; i++)
		fds[i] = -1; /* the listener set has them now */
	log_debug("accepting on slot %d's listeners too", s.slot);
}

/* Every message was checked against chan_to_worker before it got here. */
static void worker_on_msg(struct chan *ch, const struct chan_hdr *h,
			  const void *body)
{
	struct worker *worker = util_container_of(ch, struct worker, chan);

	switch (h->type) {
	case CHAN_HEARTBEAT:
		chan_send(&worker->chan, CHAN_ALIVE, 0, NULL, 0);
		break;
	case CHAN_CONNS_REQ: {
		struct chan_conns_req rq;

		memcpy(&rq, body, sizeof(rq));
		worker_send_page(worker, h->seq, &rq);
		break;
	}
	case CHAN_DRAIN: {
		struct chan_drain d;

		memcpy(&d, body, sizeof(d));
		worker->pool.drain_keep_idle = d.keep_idle != 0;
		worker_drain(worker, d.timeout_ms, (int)d.fast, d.handover);
		break;
	}
	case CHAN_HANDOFF:
	case CHAN_TAKEN: {
		int was_running = worker->ho.running;

		ho_on_msg(&worker->ho, h, body);
		/* Connections that came back after the handover ended are
		 * drained like the others were. */
		if (h->type == CHAN_HANDOFF && worker->draining && !was_running)
			worker_drain_rest(worker);
		break;
	}
	case CHAN_ADOPT:
	case CHAN_RELEASE:
		worker_lent(worker, h, body);
		break;
	}
}

static void worker_on_chan_close(struct chan *ch, int malformed, const char *why)
{
	struct worker *worker = util_container_of(ch, struct worker, chan);

	/* The master is gone (killed, crashed), or broke the protocol:
	 * nobody supervises or counts this worker now, so it takes no new
	 * work - but what it has in hand is finished, within
	 * shutdown_timeout, rather than dropped. */
	if (malformed)
		log_error("channel: the master broke the protocol (%s); finishing what is in flight, then exiting",
			  why);
	else
		log_warn("channel to the master closed; finishing what is in flight, then exiting");
	worker->exit_status = 1;
	ho_end(&worker->ho); /* nobody will say TAKEN now */
	worker_drain(worker, (uint64_t)worker->args->cfg->shutdown_timeout_ms,
		     0, 0);
}

static void worker_signal(struct loop_watch *w, uint32_t events)
{
	struct worker *worker = util_container_of(w, struct worker, signals);
	struct signalfd_siginfo si;

	(void)events;
	while (read(w->fd, &si, sizeof(si)) == sizeof(si)) {
		/* The master drains its workers over the channel; these are
		 * for a worker signalled on its own, with the same meaning
		 * as for the master. */
		switch (si.ssi_signo) {
		case SIGTERM:
		case SIGQUIT:
			worker_drain(worker,
				     (uint64_t)worker->args->cfg->shutdown_timeout_ms,
				     0, 0);
			break;
		case SIGINT:
			worker_drain(worker, 0, 1, 0);
			break;
		case SIGUSR1:
			/* The master reopened them first. */
			log_reopen();
			alog_reopen();
			break;
		default:
			break; /* SIGHUP...: the master's business */
		}
	}
}

/* The mask blocked by the master is inherited; the signals that matter
 * here are read through the worker's loop too. */
static int worker_watch_signals(struct worker *worker)
{
	sigset_t set;
	int sfd;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGQUIT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGCHLD);
	sigprocmask(SIG_BLOCK, &set, NULL);
	sfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (sfd < 0)
		return -1;
	return loop_add(worker->loop, &worker->signals, sfd, EPOLLIN,
			worker_signal);
}

/* The connection pool, with the service's protocol as its client
 * handler and that protocol's timeouts. */
static int worker_open_pool(struct worker *worker, char *err, size_t errlen)
{
	const struct config *cfg = worker->args->cfg;
	const struct limits *lim = worker->args->lim;
	const struct proto *proto =
		cfg->protocol == CFG_PROTO_HTTP       ? &proto_http :
		cfg->protocol == CFG_PROTO_TCP_PROXY  ? &proto_tcpproxy :
		cfg->protocol == CFG_PROTO_HTTP_PROXY ? &proto_httpproxy :
							&proto_echo;
	struct conn_pool *pool = &worker->pool;

	if (conn_pool_init(pool, worker->loop, worker->stats, (int)lim->nofile_soft,
			   (int)lim->max_connections_per_worker) < 0) {
		snprintf(err, errlen, "connection table: %s", strerror(errno));
		return -1;
	}
	if (cfg->max_connections_per_ip &&
	    conn_pool_limit_peers(pool, (uint32_t)cfg->max_connections_per_ip) <
		    0) {
		snprintf(err, errlen, "per-address table: %s", strerror(errno));
		return -1;
	}
	/* The first handler added: WORKER_HANDLER_CLIENT. */
	if (conn_pool_add_handler(pool, proto, cfg, err, errlen) < 0)
		return -1;
	if (cfg->protocol == CFG_PROTO_HTTP ||
	    cfg->protocol == CFG_PROTO_HTTP_PROXY) {
		conn_pool_set_timeout(pool, CONN_TMO_HEADER,
				      (uint64_t)cfg->header_timeout_ms);
		/* A body gets as long between two of its reads. */
		conn_pool_set_timeout(pool, CONN_TMO_BODY,
				      (uint64_t)cfg->header_timeout_ms);
		conn_pool_set_timeout(pool, CONN_TMO_KEEPALIVE,
				      (uint64_t)cfg->keepalive_timeout_ms);
		conn_pool_set_timeout(pool, CONN_TMO_SEND,
				      (uint64_t)cfg->send_timeout_ms);
		conn_pool_set_timeout(pool, CONN_TMO_LINGER, 2000);
	}
	if (cfg->protocol == CFG_PROTO_TCP_PROXY) {
		conn_pool_set_timeout(pool, CONN_TMO_CONNECT,
				      (uint64_t)cfg->proxy_connect_timeout_ms);
		/* Output that waits is idleness too (proto_tcpproxy.c). */
		conn_pool_set_timeout(pool, CONN_TMO_IDLE,
				      (uint64_t)cfg->proxy_idle_timeout_ms);
		conn_pool_set_timeout(pool, CONN_TMO_SEND,
				      (uint64_t)cfg->proxy_idle_timeout_ms);
	}
	/* The HTTP proxy's upstream side (proto_httpproxy.c); the send
	 * timeout is the clients' and the upstreams' alike. */
	if (cfg->protocol == CFG_PROTO_HTTP_PROXY) {
		conn_pool_set_timeout(pool, CONN_TMO_CONNECT,
				      (uint64_t)cfg->proxy_connect_timeout_ms);
		conn_pool_set_timeout(pool, CONN_TMO_READ,
				      (uint64_t)cfg->proxy_read_timeout_ms);
		conn_pool_set_timeout(pool, CONN_TMO_POOL,
				      (uint64_t)cfg->proxy_pool_timeout_ms);
		/* How long a connection beyond proxy_pool may wait to be
		 * taken again (up_pool.h): a few loop turns, at most. */
		conn_pool_set_timeout(pool, CONN_TMO_TRIM,
				      (uint64_t)UTIL_MIN(cfg->proxy_pool_timeout_ms,
							 1000));
	}
	pool->worker_id = worker->args->id;
	pool->on_slot_free = worker_slot_free;
	pool->slot_free_arg = worker;
	conn_pool_start(pool);
	return 0;
}

/* Everything a worker needs before it takes a connection; 0, or -1 with
 * the reason in err. */
static int worker_setup(struct worker *worker, const struct worker_args *a,
			char *err, size_t errlen)
{
	worker->args = a;
	worker->stats = a->stats;
	loop_timer_init(&worker->drain_deadline, worker_drain_deadline);
	worker->loop = loop_new();
	if (!worker->loop) {
		snprintf(err, errlen, "epoll: %s", strerror(errno));
		return -1;
	}
	loop_set_idle_yield(worker->loop, a->cfg->idle_yield);
	loop_count_turns(worker->loop, &worker->stats->loop_turns);
	if (worker_watch_signals(worker) < 0) {
		snprintf(err, errlen, "signals: %s", strerror(errno));
		return -1;
	}
	if (alog_open(a->cfg, worker->loop, a->id, worker->stats, err, errlen) < 0 ||
	    worker_open_pool(worker, err, errlen) < 0)
		return -1;
	ho_init(&worker->ho, &worker->pool, &worker->chan,
		WORKER_HANDLER_CLIENT, worker_drain_rest, worker);
	if (chan_open(&worker->chan, worker->loop, a->chan_fd, &chan_to_worker,
		      worker_on_msg, worker_on_chan_close, worker) < 0 ||
	    lst_set_start(&worker->lst, worker->loop, a->lst_fds, a->nlst,
			  worker->stats, worker_can_accept, worker_on_accept,
			  worker) < 0) {
		snprintf(err, errlen, "channel or listeners: %s", strerror(errno));
		return -1;
	}
	worker->lst.out_of_fds = worker_out_of_fds;
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

/* Says why this worker cannot start, in the log and to the master (which
 * stops a start-up, or rolls a reload back, with that reason). Written
 * straight on the channel's socket: the channel may not be open yet, and
 * nothing else is queued on it before READY. */
static void worker_failed(const struct worker_args *a, const char *what,
			  const char *err)
{
	struct {
		struct chan_hdr h;
		struct chan_failed f;
	} frame;

	log_error("%s failed: %s", what, err);
	memset(&frame, 0, sizeof(frame));
	frame.h.type = CHAN_FAILED;
	frame.h.len = sizeof(frame.f);
	snprintf(frame.f.reason, sizeof(frame.f.reason), "%s: %s", what, err);
	if (send(a->chan_fd, &frame, sizeof(frame),
		 MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
		log_debug("telling the master: %s", strerror(errno));
}

int worker_main(const struct worker_args *a)
{
	struct worker worker;
	char err[256];

	memset(&worker, 0, sizeof(worker));
	log_set_worker(a->id);
	/* Before anything else is opened, and before the parent-death
	 * signal (a credential change clears it). */
	if (privdrop_apply(err, sizeof(err)) < 0) {
		worker_failed(a, "dropping privileges", err);
		return 1;
	}
	if (a->cfg->cpu_affinity)
		worker_pin(a->id);
	/* If the master dies without a word, do not serve unsupervised. */
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getppid() != a->master_pid)
		return 1;
	if (worker_setup(&worker, a, err, sizeof(err)) < 0) {
		worker_failed(a, "start-up", err);
		/* Nothing points at what setup made once this returns: free
		 * it, or a sanitizer build reports every failed start. */
		conn_pool_free(&worker.pool);
		alog_close();
		chan_close(&worker.chan);
		loop_free(worker.loop);
		return 1;
	}
	chan_send(&worker.chan, CHAN_READY, 0, NULL, 0);
	log_debug("ready");
	loop_run(worker.loop);

	/* The counters are final in the memory the master reads. The
	 * connections' close may log the files they were sending: the
	 * access log is flushed after them. */
	conn_pool_free(&worker.pool);
	alog_close();
	chan_close(&worker.chan);
	loop_free(worker.loop);
	return worker.exit_status;
}

void worker_cycle(const struct worker_args *a)
{
	exit(worker_main(a));
}
