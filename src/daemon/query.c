/* query.c - the stats socket's questions. The counters are answered at
 * once from the memory each worker shares with the master; a listing of
 * connections asks every worker, waits with a deadline and builds the
 * document. It reads the process table and never changes it but to note
 * a worker that did not answer. */
#include "autoconfig.h"

#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "channel.h"
#include "config.h"
#include "log.h"
#include "proc.h"
#include "query.h"
#include "stats_doc.h"
#include "statsock.h"
#include "util.h"

#define QUERY_TRIM_BYTES (1u << 20)

/* One question waiting for the workers' answers. */
struct query {
	struct query *next;
	struct query_set *qs;
	uint64_t seq;
	struct statsock_client *cl;
	struct statsock_cmd cmd;
	int pending; /* answers still awaited */
	int nasked;
	struct {
		struct proc *p;
		pid_t pid; /* 0 once answered, or gone */
	} *asked;
	struct loop_timer deadline;
	/* connections: the rows so far, and how many the workers have */
	struct stats_conn *rows;
	size_t nrows;
	uint64_t total;
};

void query_set_init(struct query_set *qs, struct loop *l,
		    struct proc_table *procs, const struct config *cfg,
		    const struct limits *lim)
{
	memset(qs, 0, sizeof(*qs));
	qs->loop = l;
	qs->procs = procs;
	qs->cfg = cfg;
	qs->lim = lim;
	qs->start_ms = util_now_ms();
}

static void query_free(struct query *q)
{
	int big = q->nrows * sizeof(*q->rows) >= QUERY_TRIM_BYTES;

	loop_timer_disarm(q->qs->loop, &q->deadline);
	free(q->asked);
	free(q->rows);
	free(q);
	/* A long listing's pages go back to the system, not to a heap that
	 * every worker forked later would start with. */
	if (big)
		malloc_trim(0);
}

void query_set_cleanup(struct query_set *qs)
{
	while (qs->head) {
		struct query *q = qs->head;

		qs->head = q->next;
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
		.scope = qs->cfg->protocol == CFG_PROTO_HTTP ? STATS_HTTP : STATS_ANY,
		.generation = qs->procs->generation,
		.workers_configured = qs->cfg->workers,
		.listen = qs->cfg->listen,
		.nlisten = qs->cfg->nlisten,
		.limits = qs->lim,
	};
}

/* stats, workers or prometheus, from the counters at hand. */
static void query_reply_workers(const struct query_set *qs,
				struct statsock_client *cl,
				enum statsock_kind kind)
{
	const struct proc_table *t = qs->procs;
	struct stats_worker_view *v;
	struct stats_daemon_view d;
	uint64_t now = util_now_ms();
	int n = 0;

	v = calloc((size_t)(t->nworkers + t->nretiring), sizeof(*v));
	if (!v) {
		statsock_reply_error(cl, stats_json_error("out of memory"));
		return;
	}
	query_daemon_view(qs, &d);
	for (struct proc *p = proc_first(t); p; p = proc_next(t, p))
		proc_view(p, now, &v[n++]);
	if (kind == STATSOCK_PROMETHEUS)
		statsock_reply_prom(cl, stats_prom_text(&d, v, n));
	else if (kind == STATSOCK_WORKERS)
		statsock_reply(cl, stats_json_workers(&d, v, n));
	else
		statsock_reply(cl, stats_json_stats(&d, v, n));
	free(v);
}

/* --- asking and answering --- */

static void query_finish(struct query *q)
{
	struct query_set *qs = q->qs;
	struct query **pp;

	for (pp = &qs->head; *pp != q; pp = &(*pp)->next)
		;
	*pp = q->next;
	for (int i = 0; i < q->nasked; i++)
		if (q->asked[i].pid)
			proc_unanswered(q->asked[i].p, qs->cfg->stats_timeout_ms);
	statsock_reply(q->cl, stats_json_connections(q->rows, q->nrows, q->total,
						     q->total > q->nrows));
	query_free(q);
}

static void query_timeout(struct loop_timer *t)
{
	query_finish(util_container_of(t, struct query, deadline));
}

static void query_ask(struct query *q, struct proc *p)
{
	struct chan_conns_req rq = { q->cmd.limit };

	if (!p->pid || !p->chan.open)
		return;
	if (chan_send(&p->chan, CHAN_CONNS_REQ, q->seq, &rq, sizeof(rq)) == 0) {
		q->asked[q->nasked].p = p;
		q->asked[q->nasked].pid = p->pid;
		q->nasked++;
		q->pending++;
	}
}

static void query_start(struct query_set *qs, struct statsock_client *cl,
			const struct statsock_cmd *cmd)
{
	const struct proc_table *t = qs->procs;
	struct query *q = calloc(1, sizeof(*q));

	if (q)
		q->asked = calloc((size_t)(t->nworkers + t->nretiring),
				  sizeof(*q->asked));
	if (!q || !q->asked) {
		free(q);
		statsock_reply_error(cl, stats_json_error("out of memory"));
		return;
	}
	q->qs = qs;
	q->seq = ++qs->seq;
	q->cl = cl;
	q->cmd = *cmd;
	loop_timer_init(&q->deadline, query_timeout);
	q->next = qs->head;
	qs->head = q;
	for (struct proc *p = proc_first(t); p; p = proc_next(t, p))
		query_ask(q, p);
	if (q->pending == 0)
		query_finish(q);
	else
		loop_timer_arm(qs->loop, &q->deadline,
			       (uint64_t)qs->cfg->stats_timeout_ms);
}

/* A worker's rows: each sent up to the limit; the limit holds overall. */
static void query_take_rows(struct query *q, const void *body, size_t len)
{
	struct chan_conns_hdr h;
	struct stats_conn *rows;
	size_t n;

	memcpy(&h, body, sizeof(h));
	n = (len - sizeof(h)) / sizeof(struct stats_conn);
	q->total += h.total;
	n = UTIL_MIN(n, (size_t)(q->cmd.limit - q->nrows));
	if (n == 0)
		return;
	rows = realloc(q->rows, (q->nrows + n) * sizeof(*rows));
	if (!rows)
		return;
	memcpy(rows + q->nrows, (const char *)body + sizeof(h), n * sizeof(*rows));
	q->rows = rows;
	q->nrows += n;
}

/* Marks the answer of p's process pid received (body NULL: it will not
 * come); finishes the question when it was the last one awaited. The pid
 * tells a respawned process from the one that was asked. */
static void query_got(struct query *q, const struct proc *p, pid_t pid,
		      const void *body, size_t len)
{
	for (int i = 0; i < q->nasked; i++) {
		if (q->asked[i].p != p || !pid || q->asked[i].pid != pid)
			continue;
		q->asked[i].pid = 0;
		if (body)
			query_take_rows(q, body, len);
		if (--q->pending == 0)
			query_finish(q);
		return;
	}
}

void query_answer(struct query_set *qs, const struct proc *p, uint64_t seq,
		  const void *body, size_t len)
{
	for (struct query *q = qs->head; q; q = q->next)
		if (q->seq == seq) {
			query_got(q, p, p->pid, body, len);
			return;
		}
}

void query_forget(struct query_set *qs, const struct proc *p, pid_t pid)
{
	struct query *q = qs->head;

	while (q) {
		struct query *next = q->next; /* q may finish */

		query_got(q, p, pid, NULL, 0);
		q = next;
	}
}

/* --- commands --- */

static int query_listing_running(const struct query_set *qs)
{
	for (const struct query *q = qs->head; q; q = q->next)
		if (q->cmd.kind == STATSOCK_CONNECTIONS)
			return 1;
	return 0;
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
		statsock_reply(cl, stats_json_limits(qs->lim));
		break;
	case STATSOCK_CONNECTIONS:
		/* One at a time: each holds a copy of every connection's
		 * record; many at once could exhaust the master's memory. */
		if (query_listing_running(qs)) {
			statsock_reply_error(cl, stats_json_error(
				"busy: another connections query is running; try again"));
			break;
		}
		query_start(qs, cl, cmd);
		break;
	case STATSOCK_STATS:
	case STATSOCK_WORKERS:
	case STATSOCK_PROMETHEUS:
		/* From the counters in shared memory: at once, whatever the
		 * workers are doing. */
		query_reply_workers(qs, cl, cmd->kind);
		break;
	}
}
