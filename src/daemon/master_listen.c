/* master_listen.c - the master's side of a reload that adds or removes
 * listen addresses: the new listeners open before the new generation
 * starts (a port that cannot be bound fails the reload, nothing
 * applied), and the removed ones are drained before they close. It
 * never accepts a connection: workers of the current generation do.
 *
 * Why a drain: closing a listener resets every connection still in its
 * accept queue (inet_csk_listen_stop), and net.ipv4.tcp_migrate_req,
 * which moves them to another socket of the reuseport group, has none
 * to move them to when the address itself goes. nginx closes a removed
 * listener in the master at once (ngx_init_cycle) and its old workers
 * close theirs as they exit, queue and all; here it takes three steps:
 *  1. at the commit (the new generation is up), a socket filter drops
 *     the SYNs that reach the removed listeners, so no connection starts
 *     there any more, while the handshakes under way complete;
 *  2. the new generation's workers accept on them meanwhile (lent with
 *     CHAN_ADOPT, as the listeners of a slot whose worker is down), for
 *     a grace that covers those handshakes, until the queues are empty;
 *  3. the master lets go of its references, and each worker accepts
 *     what is queued and closes its own (CHAN_RELEASE with
 *     CHAN_SLOT_TAKE_QUEUE): the last close follows an accept that found
 *     the queue empty, with no SYN let in, so nothing the kernel
 *     completed is reset.
 * The old generation's workers are not asked to serve that tail: they
 * are on their way out (one exits with its last connection, and none is
 * respawned), while the current ones live on and are replaced if they
 * die - a row whose worker died is lent to another. */
#include "autoconfig.h"

#include <stdio.h>
#include <string.h>

#include "log.h"
#include "master_int.h"
#include "util.h"

/* How often the removed listeners' queues are looked at. */
#define LISTEN_TICK_MS 50
/* A handshake under way when the SYNs were blocked completes within a
 * round trip; one whose last ACK was lost, when the SYN-ACK is re-sent
 * after TCP_TIMEOUT_INIT (1 s) and answered. TCP_DEFER_ACCEPT holds a
 * completed one back until its first data, up to its seconds more. */
#define LISTEN_GRACE_MS 1500
/* Tags of the removed listeners lent to a worker: above any slot's. */
#define LISTEN_TAG(k) (CFG_MAX_WORKERS + (k))

static void master_listen_tick(struct loop_timer *t);

void master_listen_init(struct master *m)
{
	loop_timer_init(&m->lc.timer, master_listen_tick);
}

void master_listen_plan(struct master *m, struct config *nc)
{
	struct master_listen *lc = &m->lc;
	int kept[CFG_MAX_LISTEN] = { 0 };

	lc->nadded = lc->nremoved = 0;
	lc->changed = slots_relisten_plan(&m->slots, m->cfg->listen, nc->listen,
					  nc->nlisten, lc->from);
	for (int j = 0; j < nc->nlisten; j++)
		if (lc->from[j] >= 0)
			kept[lc->from[j]] = 1;
		else
			lc->added[lc->nadded++] = nc->listen[j];
	for (int i = 0; i < m->cfg->nlisten; i++)
		if (!kept[i])
			lc->removed[lc->nremoved++] = m->cfg->listen[i];
}

int master_listen_open(struct master *m, struct config *nc, char *err,
		       size_t errlen)
{
	struct master_listen *lc = &m->lc;
	int a = 0;

	if (!lc->changed)
		return 0;
	if (slots_relisten(&m->slots, nc->listen, nc->nlisten, lc->from, err,
			   errlen) < 0)
		return -1;
	/* A port 0 has its port now. */
	for (int j = 0; j < nc->nlisten; j++)
		if (lc->from[j] < 0)
			lc->added[a++] = nc->listen[j];
	return 0;
}

void master_listen_undo(struct master *m)
{
	slots_relisten_undo(&m->slots);
	m->lc.changed = 0;
}

const char *master_listen_describe(const struct master *m, char *buf, size_t len)
{
	const struct master_listen *lc = &m->lc;
	char added[400], removed[400];

	if (!lc->nadded && !lc->nremoved)
		snprintf(buf, len, "listen: unchanged");
	else if (!lc->nremoved)
		snprintf(buf, len, "listen: added %s",
			 addr_format_list(lc->added, lc->nadded, added,
					  sizeof(added)));
	else if (!lc->nadded)
		snprintf(buf, len, "listen: removed %s",
			 addr_format_list(lc->removed, lc->nremoved, removed,
					  sizeof(removed)));
	else
		snprintf(buf, len, "listen: added %s, removed %s",
			 addr_format_list(lc->added, lc->nadded, added,
					  sizeof(added)),
			 addr_format_list(lc->removed, lc->nremoved, removed,
					  sizeof(removed)));
	return buf;
}

/* --- the drain of the removed listeners --- */

static int master_listen_usable(const struct proc *p)
{
	return p && p->pid && p->state == STATS_WORKER_RUNNING && p->chan.open;
}

/* The worker that accepts on row k of the removed listeners: the one it
 * was lent to if that still runs, else it is lent now to a running one
 * (its slot's worker first). NULL if none runs. */
static struct proc *master_listen_holder(struct master *m, int k)
{
	struct slots *s = &m->slots;
	int n = m->procs.nworkers;

	for (int d = 0; d < n; d++) {
		struct proc *p = m->procs.slot[(k + d) % n].cur;

		if (master_listen_usable(p) && p->pid == m->lc.holder[k])
			return p;
	}
	for (int d = 0; d < n; d++) {
		struct proc *p = m->procs.slot[(k + d) % n].cur;
		struct chan_slot body = { LISTEN_TAG(k), 0 };

		if (!master_listen_usable(p) ||
		    chan_send_fds(&p->chan, CHAN_ADOPT, 0, &body, sizeof(body),
				  s->gone.fd[k], s->gone.n) < 0)
			continue;
		m->lc.holder[k] = p->pid;
		return p;
	}
	return NULL;
}

/* Step 3: the master lets go first, so that each worker's close, right
 * after it has taken its queue, is the last. -1 (nothing done) while
 * some row has no running worker to take it. */
static int master_listen_close(struct master *m)
{
	struct proc *holder[CFG_MAX_WORKERS];
	int rows = m->slots.gone.nslots;

	for (int k = 0; k < rows; k++)
		if (!(holder[k] = master_listen_holder(m, k)))
			return -1;
	slots_gone_close(&m->slots);
	for (int k = 0; k < rows; k++) {
		struct chan_slot body = { LISTEN_TAG(k), CHAN_SLOT_TAKE_QUEUE };

		chan_send(&holder[k]->chan, CHAN_RELEASE, 0, &body, sizeof(body));
	}
	return 0;
}

static void master_listen_tick(struct loop_timer *t)
{
	struct master *m = util_container_of(t, struct master, lc.timer);
	struct master_listen *lc = &m->lc;
	uint64_t waited = util_now_ms() - lc->blocked_ms;
	uint64_t most = lc->grace_ms + (uint64_t)m->cfg->shutdown_timeout_ms;
	int queued = slots_gone_queued(&m->slots);
	char what[900];

	/* A row whose worker died is lent again: its queue does not wait
	 * for the close. */
	for (int k = 0; k < m->slots.gone.nslots; k++)
		master_listen_holder(m, k);
	if (waited < lc->grace_ms || (queued != 0 && waited < most) ||
	    master_listen_close(m) < 0) {
		loop_timer_arm(m->loop, t, LISTEN_TICK_MS);
		return;
	}
	master_listen_describe(m, what, sizeof(what));
	if (queued != 0)
		log_warn("%s: closed after %llu ms with %d connections still queued (the workers take what their limit allows)",
			 what, (unsigned long long)waited, queued);
	else
		log_info("%s: the removed addresses' queues are drained; closed",
			 what);
	lc->draining = 0;
	master_reload_answer(m, NULL);
}

int master_listen_commit(struct master *m)
{
	struct master_listen *lc = &m->lc;
	int defer = UTIL_MAX(config_defer_accept(m->cfg),
			     config_defer_accept(&m->prev_cfg));
	char what[900];

	lc->changed = 0;
	if (slots_relisten_commit(&m->slots) == 0)
		return 0;
	slots_gone_block(&m->slots);
	lc->draining = 1;
	lc->blocked_ms = util_now_ms();
	lc->grace_ms = LISTEN_GRACE_MS + 1000 * (uint64_t)defer;
	memset(lc->holder, 0, sizeof(lc->holder));
	for (int k = 0; k < m->slots.gone.nslots; k++)
		master_listen_holder(m, k);
	log_info("%s: no new connections to the removed addresses; draining their queues",
		 master_listen_describe(m, what, sizeof(what)));
	loop_timer_arm(m->loop, &lc->timer, LISTEN_TICK_MS);
	return 1;
}

void master_listen_stop(struct master *m)
{
	loop_timer_disarm(m->loop, &m->lc.timer);
	m->lc.draining = 0;
}
