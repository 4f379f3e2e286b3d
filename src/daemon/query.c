/* query.c - the stats socket's questions. The counters are answered at
 * once from the memory each worker shares with the master; a listing of
 * connections asks every worker, waits with a deadline and builds the
 * document. It reads the process table and never changes it but to note
 * a worker that did not answer. */
#include "autoconfig.h"

#include <malloc.h>
#include <sys/mman.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "channel.h"
#include "config.h"
#include "listing.h"
#include "log.h"
#include "proc.h"
#include "query.h"
#include "stats_doc.h"
#include "statsock.h"
#include "util.h"

/* Rows asked for at once over all workers (each page is a channel frame
 * the master holds until it is written out), and per page. */
#define LISTING_INFLIGHT_ROWS 65536
#define LISTING_PAGE_ROWS 4096
/* Output not yet taken by the client past which no page is asked for:
 * a listing costs the master a bounded amount of memory at any size. */
#define LISTING_HIGH_WATER (1u << 20)
#define QUERY_MAX_MISSING 64
#define QUERY_MAX_LISTINGS 4
/* Pages out at once per listing. Asking 60 workers together has 60
 * walks compete for two CPUs, and some answer after stats_timeout
 * although nothing is wrong; a few at a time, each page comes fast. */
#define QUERY_PAGES_OUT 4
/* A worker late with a page but whose loop turns is busy or starved of
 * CPU, not stuck: it gets up to this many stats_timeouts. */
#define QUERY_PAGE_PATIENCE 10

/* A worker in a listing. */
struct listing_part {
	struct proc *p;
	pid_t pid;
	uint64_t cursor;  /* where its next page starts */
	uint64_t active;  /* its connections, from its first page */
	uint64_t matched; /* the filter's matches in its pages so far */
	uint32_t asked;   /* rows asked for in the page out, 0: none */
	int out;          /* a page request is out */
	int answered;     /* at least one page came */
	int done;
	uint64_t asked_ms;
	uint64_t turns;      /* its loop_turns when the page was asked */
	const char *missing; /* why it is not (all) in the answer */
};

/* A listing being answered: pages asked of the workers, rows written to
 * the client as they come, the totals written last. */
struct query {
	struct query *next;
	struct query_set *qs;
	uint64_t seq;
	struct statsock_client *cl; /* NULL once gone */
	struct statsock_cmd cmd;
	int nparts;
	struct listing_part *parts;
	struct loop_timer deadline; /* a page not answered in stats_timeout */
	uint64_t written;           /* rows written */
	struct listing_groups groups;
	struct buf text; /* rows being rendered */
	int filtered;    /* a filter that needs every row looked at */
	int pumping;     /* in listing_pump: a part that fails meanwhile is
			  * left to it, not pumped (and freed) from inside */
};

void query_set_init(struct query_set *qs, struct loop *l, struct proc_table *procs,
		    const struct config *cfg, const struct limits *lim)
{
	memset(qs, 0, sizeof(*qs));
	qs->loop = l;
	qs->procs = procs;
	qs->cfg = cfg;
	qs->lim = lim;
	qs->start_ms = util_now_ms();
}

void query_set_vhosts(struct query_set *qs, struct config *cfg)
{
	for (int i = 0; i < cfg->nvhosts; i++)
		cfg->vhosts[i].stat_slot = (int)
			stats_vhost_slot(&qs->vhost_names, cfg->vhosts[i].name);
}

static void query_free(struct query *q)
{
	struct query **pp;

	for (pp = &q->qs->head; *pp && *pp != q; pp = &(*pp)->next)
		;
	if (*pp)
		*pp = q->next;
	loop_timer_disarm(q->qs->loop, &q->deadline);
	free(q->parts);
	listing_groups_free(&q->groups);
	buf_free(&q->text);
	free(q);
	/* A long listing's pages and groups go back to the system, not to a
	 * heap that every worker forked later would start with. */
	malloc_trim(0);
}

void query_set_cleanup(struct query_set *qs)
{
	while (qs->head) {
		struct query *q = qs->head;

		qs->head = q->next;
		q->cl = NULL;
		query_free(q);
	}
}

/* --- documents --- */

static void query_daemon_view(const struct query_set *qs,
			      struct stats_daemon_view *d)
{
	*d = (struct stats_daemon_view){
		.pid = getpid(),
		.uptime_s = (double)(util_now_ms() - qs->start_ms) / 1000.0,
		.protocol = config_protocol_name(qs->cfg->protocol),
		.scope = qs->cfg->protocol == CFG_PROTO_HTTP      ? STATS_HTTP :
			 qs->cfg->protocol == CFG_PROTO_TCP_PROXY ? STATS_PROXY :
			 qs->cfg->protocol == CFG_PROTO_HTTP_PROXY ? STATS_HTTP_PROXY :
								     STATS_ANY,
		.generation = qs->procs->generation,
		.workers_configured = qs->cfg->workers,
		.listen = qs->cfg->listen,
		.nlisten = qs->cfg->nlisten,
		.limits = qs->lim,
		.vhosts = &qs->vhost_names,
		.upstreams = qs->cfg->upstreams,
		.nupstreams = qs->cfg->nupstreams,
		.sources = qs->cfg->proxy_sources,
		.nsources = qs->cfg->nproxy_sources,
	};
}

/* stats, workers or prometheus, from the counters at hand. */
static void query_reply_workers(const struct query_set *qs,
				struct statsock_client *cl, enum statsock_kind kind)
{
	const struct proc_table *t = qs->procs;
	struct stats_worker_view *v;
	struct stats_daemon_view d;
	uint64_t now = util_now_ms();
	size_t count = (size_t)(t->nworkers + t->nretiring);
	size_t size = (count ? count : 1) * sizeof(*v);
	int n = 0;

	/* A view is ~35 KB a worker (the upstream histograms): mapped and
	 * unmapped here, not taken from the heap, which would keep it (and
	 * glibc's mmap threshold would rise to it) in the master and in
	 * every worker forked after. */
	v = mmap(NULL, size, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (v == MAP_FAILED) {
		statsock_reply_error(cl, stats_json_error("out of memory"));
		return;
	}
	query_daemon_view(qs, &d);
	for (struct proc *p = proc_first(t); p; p = proc_next(t, p))
		proc_view(p, now, &v[n++]);
	if (kind == STATSOCK_PROMETHEUS)
		statsock_reply_prom(cl, stats_prom_text(&d, v, n));
	else if (kind == STATSOCK_UPSTREAMS)
		statsock_reply(cl, stats_json_upstreams(&d, v, n));
	else if (kind == STATSOCK_WORKERS)
		statsock_reply(cl, stats_json_workers(&d, v, n));
	else
		statsock_reply(cl, stats_json_stats(&d, v, n));
	munmap(v, size);
}

/* --- the source ports toward each upstream server --- */

/* The port gauges of the running workers, summed into tot (only those:
 * the master looks every second, and the other counters are ~30 KB per
 * worker). The pairs above STATS_PORTS_WARN_PCT go to high; their count
 * is returned. */
static int query_ports_high(const struct query_set *qs,
			    const struct stats_daemon_view *d,
			    struct stats_counters *tot,
			    struct stats_port_use *high)
{
	struct stats_port_use *u = high;
	int n, nhigh = 0;

	for (struct proc *p = proc_first(qs->procs); p;
	     p = proc_next(qs->procs, p)) {
		if (!p->pid)
			continue;
		for (int k = 0; k < STATS_NSOURCES; k++) {
			tot->upstream_ports_available[k] +=
				p->shared->upstream_ports_available[k];
			for (int i = 0; i < STATS_NUPSTREAMS; i++)
				tot->upstream_ports_in_use[k][i] +=
					p->shared->upstream_ports_in_use[k][i];
		}
	}
	n = stats_port_uses(d, tot, u);
	for (int j = 0; j < n; j++)
		if (u[j].use_pct > STATS_PORTS_WARN_PCT)
			high[nhigh++] = u[j];
	return nhigh;
}

static void query_reply_limits(struct query_set *qs, struct statsock_client *cl)
{
	struct stats_daemon_view d;
	struct stats_counters *tot = calloc(1, sizeof(*tot));
	struct stats_port_use *high = calloc(STATS_NSOURCES * STATS_NUPSTREAMS,
					     sizeof(*high));
	int nhigh;

	if (!tot || !high) {
		free(tot);
		free(high);
		statsock_reply_error(cl, stats_json_error("out of memory"));
		return;
	}
	query_daemon_view(qs, &d);
	nhigh = query_ports_high(qs, &d, tot, high);
	statsock_reply(cl, stats_json_limits(qs->lim, &d, high, nhigh));
	free(high);
	free(tot);
}

void query_watch_ports(struct query_set *qs, uint64_t now)
{
	struct stats_daemon_view d;
	struct stats_counters *tot;
	struct stats_port_use *high;
	char sb[STATS_SOURCE_STRLEN], ub[ADDR_STRLEN];
	int nhigh;

	if (qs->cfg->nupstreams == 0)
		return;
	tot = calloc(1, sizeof(*tot));
	high = calloc(STATS_NSOURCES * STATS_NUPSTREAMS, sizeof(*high));
	if (!tot || !high)
		goto out;
	query_daemon_view(qs, &d);
	nhigh = query_ports_high(qs, &d, tot, high);
	for (int j = 0; j < nhigh; j++) {
		const struct stats_port_use *u = &high[j];
		uint64_t *last = &qs->ports_warned_ms[u->source][u->server];

		/* Once a minute per pair at most: the use stays high for as
		 * long as the connections last. */
		if (*last && now - *last < QUERY_PORTS_WARN_MS)
			continue;
		*last = now;
		log_warn("upstream %s from %s: %llu of %llu local ports in use (%.1f%% > %d%%): add proxy_source addresses or widen ip_local_port_range",
			 stats_upstream_label(&d, (unsigned)u->server, ub,
					      sizeof(ub)),
			 stats_source_label(&d, (unsigned)u->source, sb,
					    sizeof(sb)),
			 (unsigned long long)u->in_use,
			 (unsigned long long)u->available, u->use_pct,
			 STATS_PORTS_WARN_PCT);
	}
out:
	free(high);
	free(tot);
}

/* --- a listing --- */

static uint64_t listing_total(const struct query *q)
{
	uint64_t t = 0;

	for (int i = 0; i < q->nparts; i++)
		t += q->filtered ? q->parts[i].matched : q->parts[i].active;
	return t;
}

static uint32_t listing_in_flight(const struct query *q)
{
	uint32_t n = 0;

	for (int i = 0; i < q->nparts; i++)
		n += q->parts[i].out ? q->parts[i].asked : 0;
	return n;
}

/* The parts not in the answer, and why, for the document. */
static int listing_missing(const struct query *q, struct stats_missing *m)
{
	int n = 0;

	for (int i = 0; i < q->nparts && n < QUERY_MAX_MISSING; i++)
		if (q->parts[i].missing)
			m[n++] = (struct stats_missing){ q->parts[i].p->slot,
							 q->parts[i].pid,
							 q->parts[i].missing };
	return n;
}

/* Every part is done: the totals close the document. */
static void listing_finish(struct query *q)
{
	struct stats_missing m[QUERY_MAX_MISSING];
	int nm = listing_missing(q, m);
	uint64_t total = listing_total(q);

	if (q->cmd.group != LISTING_ROWS) {
		listing_groups_sort(&q->groups);
		statsock_reply(q->cl, stats_json_groups(&q->groups, total, m, nm));
		q->cl = NULL;
	} else if (stats_json_conns_end(&q->text, total, total > q->written, m,
					nm) < 0 ||
		   buf_printf(&q->text, "\n") < 0) {
		/* Out of memory: the client gets a document cut short and
		 * sees it is not JSON. */
		statsock_stream_end(q->cl);
	} else if (statsock_stream_put(q->cl, buf_head(&q->text),
				       buf_pending(&q->text)) < 0) {
		return; /* gone: listing_client freed the query */
	} else {
		statsock_stream_end(q->cl);
	}
	q->cl = NULL;
	query_free(q);
}

static void listing_ask(struct query *q, struct listing_part *lp, uint32_t rows)
{
	struct chan_conns_req rq = { .cursor = lp->cursor,
				     .max_rows = rows,
				     .group = (uint32_t)q->cmd.group,
				     .filter = q->cmd.filter };

	/* Out before the send: a write that fails closes the channel, and
	 * query_forget marks the part done from inside chan_send. */
	lp->out = 1;
	lp->asked = rows;
	lp->asked_ms = util_now_ms();
	lp->turns = __atomic_load_n(&lp->p->shared->loop_turns, __ATOMIC_RELAXED);
	if (!lp->p->pid || lp->p->pid != lp->pid ||
	    chan_send(&lp->p->chan, CHAN_CONNS_REQ, q->seq, &rq, sizeof(rq)) < 0) {
		lp->out = 0;
		lp->missing = lp->missing ? lp->missing : "its channel is closed";
		lp->done = 1;
		return;
	}
	if (lp->done)
		return; /* its process went while it was asked */
	if (!loop_timer_armed(&q->deadline))
		loop_timer_arm(q->qs->loop, &q->deadline,
			       (uint64_t)q->qs->cfg->stats_timeout_ms);
}

/* How many rows the next page of one part asks for: a share of what the
 * limit leaves, so that a short listing shows every worker; 0 once the
 * limit is reached (then the walk only counts, if it must). */
static uint32_t listing_share(const struct query *q, int waiting)
{
	uint64_t left = q->cmd.limit -
			UTIL_MIN(q->cmd.limit, q->written + listing_in_flight(q));
	uint64_t share;

	if (left == 0 || waiting == 0)
		return 0;
	share = (left + (uint64_t)waiting - 1) / (uint64_t)waiting;
	share = UTIL_MIN(share, (uint64_t)LISTING_PAGE_ROWS);
	return (uint32_t)UTIL_MIN(share, (uint64_t)LISTING_INFLIGHT_ROWS /
							 (uint64_t)q->nparts +
						 1);
}

/* Asks for the next pages, as far as the client keeps up; finishes when
 * every part is done. */
static void listing_pump(struct query *q)
{
	int waiting = 0, busy = 0;

	for (int i = 0; i < q->nparts; i++) {
		waiting += !q->parts[i].done && !q->parts[i].out;
		busy += q->parts[i].out;
	}
	if (q->cl && q->cmd.group == LISTING_ROWS &&
	    statsock_stream_pending(q->cl) > LISTING_HIGH_WATER)
		return; /* the client's drain calls again */
	for (int i = 0; i < q->nparts; i++) {
		struct listing_part *lp = &q->parts[i];
		uint32_t rows = q->cmd.group == LISTING_ROWS ?
					listing_share(q, waiting) :
					0;

		if (lp->done || lp->out)
			continue;
		if (busy >= QUERY_PAGES_OUT)
			break; /* the next answer asks on */
		/* No room only because the pages out may fill it: wait for
		 * them, they may bring fewer rows than they asked for (a
		 * listing of 8000 with workers of 4081 and 3919 showed
		 * 7919). */
		if (rows == 0 && q->cmd.group == LISTING_ROWS &&
		    q->written < q->cmd.limit && busy > 0)
			continue;
		/* Past the limit, an unfiltered total is known from the
		 * first page: no need to walk on. */
		if (q->cmd.group == LISTING_ROWS && rows == 0 && !q->filtered &&
		    lp->answered) {
			lp->done = 1;
			continue;
		}
		q->pumping = 1;
		listing_ask(q, lp, rows);
		q->pumping = 0;
		busy += lp->out;
	}
	if (busy == 0)
		listing_finish(q);
}

/* 0, or -1 if the client went meanwhile: listing_client freed q. */
static int listing_rows(struct query *q, const struct chan_conns_hdr *h,
			const struct stats_conn *rows)
{
	for (uint64_t i = 0; i < h->count && q->written < q->cmd.limit; i++) {
		if (stats_json_conn_row(&q->text, &rows[i], q->written == 0) < 0)
			break;
		q->written++;
	}
	if (buf_pending(&q->text) && q->cl) {
		if (statsock_stream_put(q->cl, buf_head(&q->text),
					buf_pending(&q->text)) < 0)
			return -1;
		buf_consume(&q->text, buf_pending(&q->text));
	}
	return 0;
}

/* A page is late, but the worker's loop has turned since it was asked
 * (it is busy, or waits for a CPU): give it more time, up to
 * QUERY_PAGE_PATIENCE stats_timeouts in all. */
static int listing_part_progressing(struct listing_part *lp, uint64_t now,
				    uint64_t limit)
{
	uint64_t turns = __atomic_load_n(&lp->p->shared->loop_turns,
					 __ATOMIC_RELAXED);

	if (turns == lp->turns ||
	    now - lp->asked_ms >= QUERY_PAGE_PATIENCE * limit)
		return 0;
	lp->turns = turns;
	return 1;
}

static void listing_deadline(struct loop_timer *t)
{
	struct query *q = util_container_of(t, struct query, deadline);
	uint64_t now = util_now_ms(),
		 limit = (uint64_t)q->qs->cfg->stats_timeout_ms;

	for (int i = 0; i < q->nparts; i++) {
		struct listing_part *lp = &q->parts[i];

		if (!lp->out)
			continue;
		if (now - lp->asked_ms < limit) {
			loop_timer_arm(q->qs->loop, t,
				       limit - (now - lp->asked_ms));
			continue;
		}
		if (listing_part_progressing(lp, now, limit)) {
			loop_timer_arm(q->qs->loop, t, limit);
			continue;
		}
		lp->out = 0;
		lp->done = 1;
		lp->missing = "did not answer within stats_timeout";
		proc_unanswered(lp->p, q->qs->cfg->stats_timeout_ms);
	}
	listing_pump(q);
}

/* From the client: gone (the listing stops), or ready for more. */
static void listing_client(void *arg, int gone)
{
	struct query *q = arg;

	if (!gone) {
		listing_pump(q);
		return;
	}
	q->cl = NULL;
	query_free(q);
}

static void listing_start(struct query_set *qs, struct statsock_client *cl,
			  const struct statsock_cmd *cmd)
{
	struct proc_table *t = qs->procs;
	struct query *q = calloc(1, sizeof(*q));
	int n = 0;

	if (q)
		q->parts = calloc((size_t)(t->nworkers + t->nretiring),
				  sizeof(*q->parts));
	if (!q || !q->parts) {
		free(q);
		statsock_reply_error(cl, stats_json_error("out of memory"));
		return;
	}
	*q = (struct query){ .next = qs->head,
			     .qs = qs,
			     .seq = ++qs->seq,
			     .cl = cl,
			     .cmd = *cmd,
			     .parts = q->parts };
	q->filtered = listing_filtered(&cmd->filter);
	listing_groups_init(&q->groups, cmd->group);
	loop_timer_init(&q->deadline, listing_deadline);
	for (struct proc *p = proc_first(t); p; p = proc_next(t, p))
		if (p->pid &&
		    (cmd->filter.worker < 0 || p->slot == cmd->filter.worker))
			q->parts[n++] = (struct listing_part){ .p = p,
							       .pid = p->pid };
	q->nparts = n;
	qs->head = q;
	if (cmd->group == LISTING_ROWS) {
		statsock_stream_start(cl, listing_client, q);
		if (statsock_stream_put(cl, "{\"connections\":[", 16) < 0)
			return;
	}
	listing_pump(q);
}

/* A worker's page of rows or groups. */
static void listing_page(struct query *q, struct listing_part *lp, int type,
			 const void *body)
{
	struct chan_conns_hdr h;
	const char *recs = (const char *)body + sizeof(h);

	memcpy(&h, body, sizeof(h));
	lp->out = 0;
	if (!lp->answered)
		lp->active = h.active;
	lp->answered = 1;
	lp->matched += h.matched;
	lp->cursor = h.next;
	lp->done = h.next == CHAN_CONNS_END;
	if (type == CHAN_CONN_GROUPS) {
		for (uint64_t i = 0; i < h.count; i++) {
			struct listing_group_rec g;

			memcpy(&g, recs + i * sizeof(g), sizeof(g));
			if (listing_groups_add(&q->groups, &g) < 0)
				lp->missing = "out of memory";
		}
	} else if (listing_rows(q, &h,
				(const struct stats_conn *)(const void *)recs) <
		   0) {
		return; /* q is freed: not even q->cl may be read */
	}
	listing_pump(q);
}

void query_answer(struct query_set *qs, const struct proc *p, int type,
		  uint64_t seq, const void *body)
{
	for (struct query *q = qs->head; q; q = q->next) {
		if (q->seq != seq)
			continue;
		for (int i = 0; i < q->nparts; i++)
			if (q->parts[i].p == p && q->parts[i].pid == p->pid &&
			    q->parts[i].out) {
				listing_page(q, &q->parts[i], type, body);
				return;
			}
		return;
	}
}

void query_forget(struct query_set *qs, const struct proc *p, pid_t pid)
{
	struct query *q = qs->head;

	while (q) {
		struct query *next = q->next; /* q may finish */

		for (int i = 0; i < q->nparts; i++) {
			struct listing_part *lp = &q->parts[i];

			if (lp->p != p || lp->pid != pid || lp->done)
				continue;
			lp->out = 0;
			lp->done = 1;
			lp->missing = "its process exited during the listing";
			if (!q->pumping)
				listing_pump(q);
			break;
		}
		q = next;
	}
}

/* --- commands --- */

static int query_listings(const struct query_set *qs)
{
	int n = 0;

	for (const struct query *q = qs->head; q; q = q->next)
		n++;
	return n;
}

void query_command(struct query_set *qs, struct statsock_client *cl,
		   const struct statsock_cmd *cmd)
{
	struct stats_daemon_view d;

	switch (cmd->kind) {
	case STATSOCK_PING:
		query_daemon_view(qs, &d);
		statsock_reply(cl, stats_json_ping(&d));
		break;
	case STATSOCK_HELP:
		statsock_reply(cl, stats_json_help());
		break;
	case STATSOCK_LIMITS:
		query_reply_limits(qs, cl);
		break;
	case STATSOCK_CONNECTIONS:
		/* Each costs a bounded amount of memory, and every worker a
		 * walk of its connections: a few at a time. */
		if (query_listings(qs) >= QUERY_MAX_LISTINGS) {
			statsock_reply_error(cl,
					     stats_json_error("busy: %d connections listings are running; try again",
							      QUERY_MAX_LISTINGS));
			break;
		}
		listing_start(qs, cl, cmd);
		break;
	case STATSOCK_RELOAD: /* the master's own (master_reload_command) */
	case STATSOCK_UPGRADE:
		statsock_reply_error(cl,
				     stats_json_error("%s: not here",
						      cmd->kind == STATSOCK_RELOAD ?
							      "reload" :
							      "upgrade"));
		break;
	case STATSOCK_STATS:
	case STATSOCK_WORKERS:
	case STATSOCK_PROMETHEUS:
	case STATSOCK_UPSTREAMS:
		/* From the counters in shared memory: at once, whatever the
		 * workers are doing. */
		query_reply_workers(qs, cl, cmd->kind);
		break;
	}
}
