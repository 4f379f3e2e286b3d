/* proc_relay.c - the master's part in a reload's handover: it decides
 * which worker of the new generation takes the connections a draining
 * worker hands over, passes them on, and passes the taker's TAKEN back.
 * It holds them only as long as one write takes: each draining worker has
 * at most one frame out (handover.h). */
#include "autoconfig.h"

#include <string.h>

#include "log.h"
#include "proc.h"
#include "syslimits.h"
#include "util.h"

/* What a running worker of the current generation may still take. */
static uint64_t proc_room_of(const struct proc *p)
{
	uint64_t max = (uint64_t)p->t->lim->max_connections_per_worker;
	uint64_t have = p->shared->active + p->handoff_pending;

	if (!p->pid || p->retiring || p->state != STATS_WORKER_RUNNING)
		return 0;
	return have < max ? max - have : 0;
}

uint64_t proc_room(const struct proc_table *t)
{
	uint64_t room = 0;

	for (int i = 0; i < t->nworkers; i++)
		if (t->slot[i].cur)
			room += proc_room_of(t->slot[i].cur);
	return room;
}

/* The worker of from's slot if it has room for n, else the one with the
 * most room, if it has room for n. */
static struct proc *proc_taker(const struct proc_table *t,
			       const struct proc *from, uint32_t n)
{
	struct proc *best = NULL;
	uint64_t most = 0;

	if (from->slot < t->nworkers && t->slot[from->slot].cur &&
	    t->slot[from->slot].cur != from &&
	    proc_room_of(t->slot[from->slot].cur) >= n)
		return t->slot[from->slot].cur;
	for (int i = 0; i < t->nworkers; i++) {
		struct proc *p = t->slot[i].cur;
		uint64_t room = p && p != from ? proc_room_of(p) : 0;

		if (room > most) {
			most = room;
			best = p;
		}
	}
	return most >= n ? best : NULL;
}

/* Gives from's frame descriptors to `to` (which may be from itself, when
 * they go back). A write that fails closes `to`'s channel, and with it,
 * when `to` is from, the array the descriptors were in: the array is
 * looked up again rather than written through a pointer taken before. */
static int proc_pass(struct proc *from, struct proc *to,
		     struct chan_handoff *hd, const void *body, size_t len)
{
	int n, *fds = chan_frame_fds(&from->chan, &n);

	if (!fds || chan_give_fds(&to->chan, CHAN_HANDOFF, 0, hd, sizeof(*hd),
				  (const char *)body + sizeof(*hd),
				  len - sizeof(*hd), fds, n) < 0)
		return -1;
	fds = chan_frame_fds(&from->chan, &n);
	for (int i = 0; fds && i < n; i++)
		fds[i] = -1; /* the receiving channel's now */
	return 0;
}

void proc_relay_handoff(struct proc *from, const void *body, size_t len)
{
	struct chan_handoff hd;
	struct proc *to;
	int n;

	(void)chan_frame_fds(&from->chan, &n);
	memcpy(&hd, body, sizeof(hd));
	hd.origin = (int32_t)from->pid;
	hd.returned = 0;
	to = proc_taker(from->t, from, (uint32_t)n);
	if (to && proc_pass(from, to, &hd, body, len) == 0) {
		to->handoff_pending += (uint32_t)n;
		return;
	}
	/* Nobody has room, or it could not be written: they go back, and
	 * that ends this worker's handover. */
	hd.returned = 1;
	if (proc_pass(from, from, &hd, body, len) < 0)
		log_error("handover: %d connections of worker %d (pid %ld) could not be passed on nor given back; closed",
			  n, from->slot, (long)from->pid);
}

void proc_relay_taken(struct proc *from, const void *body)
{
	struct chan_handoff hd;

	memcpy(&hd, body, sizeof(hd));
	from->handoff_pending -= UTIL_MIN(from->handoff_pending, hd.count);
	if (from->drain_deferred && from->handoff_pending == 0)
		proc_drain(from, 0, from->drain_quota);
	for (struct proc *p = proc_first(from->t); p; p = proc_next(from->t, p))
		if (p->pid == (pid_t)hd.origin && p->pid) {
			chan_send(&p->chan, CHAN_TAKEN, 0, &hd, sizeof(hd));
			return;
		}
}
