/* proc.c - the worker process table: fork, respawn with backoff, reap,
 * and the counters each process leaves behind. It never decides when to
 * reload or stop, and it never reads a worker's messages (master.c). */
#include "autoconfig.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "proc.h"
#include "slots.h"
#include "stats_doc.h"
#include "util.h"
#include "worker.h"

/* A worker that dies sooner than this after its start counts as a crash
 * loop step; the respawn delay doubles from RESPAWN_MIN_MS to the cap. */
#define RESPAWN_FAST_MS 5000
#define RESPAWN_MIN_MS 100
#define RESPAWN_MAX_MS 10000
#define CRASH_LOOP_WARN 5
/* A channel lost by a live worker: how long to wait for its SIGCHLD. */
#define DEAF_GRACE_MS 1000

static void proc_timer(struct loop_timer *timer);

void proc_table_init(struct proc_table *t, struct loop *l,
		     const struct config *cfg, const struct limits *lim,
		     const struct slots *slots, chan_msg_fn on_msg,
		     chan_close_fn on_close)
{
	/* t is zeroed storage (the master's, static): the slots' records
	 * are not written until used, so that their pages stay untouched
	 * (proc.h). */
	t->loop = l;
	t->cfg = cfg;
	t->lim = lim;
	t->slots = slots;
	t->on_msg = on_msg;
	t->on_close = on_close;
}

static struct proc *proc_new(struct proc_table *t, int slot)
{
	/* Mapped, not calloc'd: a record holds ~35 KB of counters (its
	 * history), which calloc would write in full and every worker forked
	 * later would carry; fresh pages stay untouched until the counters
	 * they hold are used. */
	struct proc *p = util_map(sizeof(*p));

	if (!p)
		return NULL;
	p->t = t;
	p->slot = slot;
	p->adopter = -1;
	p->state = STATS_WORKER_EXITED;
	loop_timer_init(&p->timer, proc_timer);
	p->shared = mmap(NULL, sizeof(*p->shared), PROT_READ | PROT_WRITE,
			 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (p->shared == MAP_FAILED) {
		util_unmap(p, sizeof(*p));
		return NULL;
	}
	return p;
}

void proc_free(struct proc *p)
{
	struct proc **pp = &p->t->retiring;

	while (*pp && *pp != p)
		pp = &(*pp)->next;
	if (*pp) {
		*pp = p->next;
		p->t->nretiring--;
	}
	munmap(p->shared, sizeof(*p->shared));
	chan_close(&p->chan);
	loop_timer_disarm(p->t->loop, &p->timer);
	util_unmap(p, sizeof(*p));
}

void proc_table_cleanup(struct proc_table *t)
{
	while (t->retiring)
		proc_free(t->retiring);
	for (int i = 0; i < CFG_MAX_WORKERS; i++)
		if (t->slot[i].cur) {
			proc_free(t->slot[i].cur);
			t->slot[i].cur = NULL;
		}
}

/* --- starting --- */

/* In the child: nothing of the master's but its own listeners and
 * channel end (other slots' listeners, the stats socket and its clients,
 * the other channels would stay open as long as the worker lives). */
static void proc_child(struct proc *p, pid_t master, int chan_fd)
{
	struct proc_table *t = p->t;
	int fds[CFG_MAX_WORKERS * CFG_MAX_LISTEN + 1];
	int n = slots_fds_for(t->slots, p->slot, t->nworkers, fds);
	struct worker_args a = {
		.cfg = t->cfg,
		.lim = t->lim,
		.id = p->slot,
		.generation = t->generation,
		.master_pid = master,
		.lst_fds = fds,
		.nlst = n,
		.chan_fd = chan_fd,
		.stats = p->shared,
	};

	fds[n] = chan_fd;
	util_close_fds_except(fds, n + 1);
	worker_cycle(&a);
}

static int proc_spawn(struct proc *p)
{
	struct proc_table *t = p->t;
	pid_t self = getpid(), pid;
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		log_error("worker %d: socketpair: %s", p->slot, strerror(errno));
		return -1;
	}
	stats_clear(p->shared);
	pid = fork();
	if (pid < 0) {
		log_error("worker %d: fork: %s", p->slot, strerror(errno));
		close(sv[0]);
		close(sv[1]);
		return -1;
	}
	if (pid == 0)
		proc_child(p, self, sv[1]);
	close(sv[1]);
	if (chan_open(&p->chan, t->loop, sv[0], &chan_to_master, t->on_msg,
		      t->on_close, p) < 0) {
		log_error("worker %d: channel: %s", p->slot, strerror(errno));
		kill(pid, SIGKILL);
	}
	p->pid = pid;
	p->failure[0] = '\0';
	p->generation = t->generation;
	p->state = STATS_WORKER_STARTING;
	p->unresponsive = 0;
	p->killed = 0;
	p->started_ms = p->last_seen_ms = p->progress_ms = util_now_ms();
	p->progress_mark = 0;
	p->run_delay_valid = 0;
	log_debug("worker %d: started, pid %ld, generation %d", p->slot,
		  (long)pid, p->generation);
	return 0;
}

static uint64_t proc_backoff(const struct proc *p)
{
	uint64_t d = RESPAWN_MIN_MS;

	if (p->fails == 0)
		return 0;
	for (unsigned i = 1; i < p->fails && d < RESPAWN_MAX_MS; i++)
		d *= 2;
	return UTIL_MIN(d, (uint64_t)RESPAWN_MAX_MS);
}

/* Spawns now, or after the backoff if the fork fails. */
static int proc_start(struct proc *p)
{
	if (proc_spawn(p) == 0)
		return 0;
	p->fails++;
	loop_timer_arm(p->t->loop, &p->timer, proc_backoff(p));
	return -1;
}

static void proc_timer(struct loop_timer *timer)
{
	struct proc *p = util_container_of(timer, struct proc, timer);

	if (p->pid) {
		/* Armed by a lost channel: a live worker without a channel
		 * can be neither asked nor supervised; replace it. */
		log_warn("worker %d: pid %ld lost its channel; killing it",
			 p->slot, (long)p->pid);
		kill(p->pid, SIGKILL);
		return;
	}
	if (p->t->stopping || p->retiring)
		return;
	p->restarts++;
	if (proc_start(p) == 0)
		log_info("worker %d: respawned as pid %ld (restart %u)",
			 p->slot, (long)p->pid, p->restarts);
}

uint64_t proc_respawn_later(struct proc *p)
{
	uint64_t lived = util_now_ms() - p->started_ms, delay;

	p->fails = lived < RESPAWN_FAST_MS ? p->fails + 1 : 0;
	delay = proc_backoff(p);
	if (p->fails >= CRASH_LOOP_WARN)
		log_error("worker %d: crash loop: pid %ld exited (%s), %u times in a row within %d ms of starting; respawning in %llu ms",
			  p->slot, (long)p->last_pid, p->last_exit, p->fails,
			  RESPAWN_FAST_MS, (unsigned long long)delay);
	else
		log_warn("worker %d: pid %ld exited (%s); respawning in %llu ms",
			 p->slot, (long)p->last_pid, p->last_exit,
			 (unsigned long long)delay);
	loop_timer_arm(p->t->loop, &p->timer, delay);
	return delay;
}

/* --- generations --- */

int proc_generation_alloc(struct proc_table *t, struct proc **out, int n)
{
	for (int i = 0; i < n; i++) {
		out[i] = proc_new(t, i);
		if (!out[i]) {
			proc_generation_free(out, i);
			return -1;
		}
	}
	return 0;
}

void proc_generation_free(struct proc **ps, int n)
{
	for (int i = 0; i < n; i++)
		proc_free(ps[i]);
}

/* The current generation's running processes join the retiring list,
 * each with its slot's history; the records of exited ones go. */
static void proc_retire_current(struct proc_table *t)
{
	for (int i = 0; i < t->nworkers; i++) {
		struct proc *p = t->slot[i].cur;

		t->slot[i].cur = NULL;
		if (!p->pid) {
			proc_free(p);
			continue;
		}
		loop_timer_disarm(t->loop, &p->timer);
		p->history = t->slot[i].past;
		stats_clear(&t->slot[i].past);
		p->retiring = 1;
		p->next = t->retiring;
		t->retiring = p;
		t->nretiring++;
	}
}

void proc_generation_start(struct proc_table *t, struct proc **ps, int n)
{
	proc_retire_current(t);
	t->nworkers = n;
	t->generation++;
	/* The counters of slots that no longer have a worker of their own
	 * go to the worker that now serves their listeners. Only slots that
	 * ever had one can hold any: the others' pages stay untouched (a
	 * loop over all CFG_MAX_WORKERS wrote 430 KiB of zeros that every
	 * worker forked later carried). */
	for (int s = n; s < t->peak; s++) {
		stats_accumulate(&t->slot[s % n].past, &t->slot[s].past);
		stats_clear(&t->slot[s].past);
	}
	if (n > t->peak)
		t->peak = n;
	for (int i = 0; i < n; i++) {
		t->slot[i].cur = ps[i];
		proc_start(ps[i]);
	}
}

/* The failed generation: running workers drain (they may have taken
 * connections), starting ones are killed; all retire. */
static void proc_retire_failed(struct proc_table *t)
{
	for (int i = 0; i < t->nworkers; i++) {
		struct proc *p = t->slot[i].cur;

		if (p->state == STATS_WORKER_RUNNING)
			proc_drain(p, 0, 0);
		else
			proc_signal(p, SIGKILL);
	}
	proc_retire_current(t);
}

/* The previous generation's record of slot i back in place, or a new
 * one started if its process is gone. */
static void proc_restore(struct proc_table *t, int i)
{
	struct proc **pp = &t->retiring, *p;

	while ((p = *pp) && (p->slot != i || p->generation != t->generation ||
			     p->state == STATS_WORKER_DRAINING))
		pp = &p->next;
	if (p) {
		*pp = p->next;
		t->nretiring--;
		p->retiring = 0;
		p->next = NULL;
		stats_accumulate(&t->slot[i].past, &p->history);
		stats_clear(&p->history);
		t->slot[i].cur = p;
		return;
	}
	if (!(p = proc_new(t, i))) {
		log_error("worker %d: out of memory; the slot stays empty", i);
		return;
	}
	t->slot[i].cur = p;
	proc_start(p);
}

void proc_generation_rollback(struct proc_table *t, int prev_n)
{
	proc_retire_failed(t);
	t->generation--;
	t->nworkers = prev_n;
	for (int i = 0; i < prev_n; i++)
		proc_restore(t, i);
}

int proc_generation_running(const struct proc_table *t)
{
	for (int i = 0; i < t->nworkers; i++)
		if (!t->slot[i].cur ||
		    t->slot[i].cur->state != STATS_WORKER_RUNNING)
			return 0;
	return 1;
}

/* --- listeners lent while a worker is down --- */

/* Sends one message per slot p served (its own and its surplus ones). */
static void proc_send_slots(struct proc *p, struct proc *to, int type)
{
	const struct slots *s = p->t->slots;

	for (int k = p->slot; k < s->nslots; k += p->t->nworkers) {
		struct chan_slot body = { k, 0 };
		int r = type == CHAN_ADOPT ?
				chan_send_fds(&to->chan, CHAN_ADOPT, 0, &body,
					      sizeof(body), s->fd[k], s->nlisten) :
				chan_send(&to->chan, CHAN_RELEASE, 0, &body,
					  sizeof(body));

		if (r < 0)
			log_warn("worker %d: cannot hand slot %d's listeners to worker %d: %s",
				 p->slot, k, to->slot, strerror(errno));
	}
}

void proc_lend(struct proc *p, struct proc *adopter)
{
	p->adopter = adopter->slot;
	proc_send_slots(p, adopter, CHAN_ADOPT);
	log_info("worker %d: down; worker %d accepts on its listeners meanwhile",
		 p->slot, adopter->slot);
}

void proc_take_back(struct proc *p)
{
	struct proc *a;

	if (p->adopter < 0)
		return;
	a = p->adopter < p->t->nworkers ? p->t->slot[p->adopter].cur : NULL;
	if (a && a->pid && a->chan.open)
		proc_send_slots(p, a, CHAN_RELEASE);
	p->adopter = -1;
}

/* --- the table as a list --- */

struct proc *proc_first(const struct proc_table *t)
{
	return t->nworkers > 0 ? t->slot[0].cur : t->retiring;
}

struct proc *proc_next(const struct proc_table *t, const struct proc *p)
{
	if (p->retiring)
		return p->next;
	if (p->slot + 1 < t->nworkers)
		return t->slot[p->slot + 1].cur;
	return t->retiring;
}

int proc_any_running(const struct proc_table *t)
{
	for (struct proc *p = proc_first(t); p; p = proc_next(t, p))
		if (p->pid)
			return 1;
	return 0;
}

/* --- exits --- */

static struct proc *proc_find(const struct proc_table *t, pid_t pid)
{
	for (struct proc *p = proc_first(t); p; p = proc_next(t, p))
		if (p->pid == pid)
			return p;
	return NULL;
}

/* The process is gone: its shared counters are final and exact. What it
 * counted moves to a slot's past, and the connections it still had are
 * lost. A retiring process's slot may be beyond the current count. */
static void proc_exited(struct proc *p, int status)
{
	struct proc_table *t = p->t;
	struct stats_counters *past = &t->slot[p->slot % t->nworkers].past;

	if (WIFSIGNALED(status))
		snprintf(p->last_exit, sizeof(p->last_exit), "signal %d (%s)",
			 WTERMSIG(status), strsignal(WTERMSIG(status)));
	else
		snprintf(p->last_exit, sizeof(p->last_exit), "status %d",
			 WEXITSTATUS(status));
	chan_read_all(&p->chan);
	chan_close(&p->chan);
	struct stats_counters final = *p->shared;

	final.lost += final.active;
	stats_accumulate(past, &final);
	stats_accumulate(past, &p->history);
	stats_clear(&p->history);
	p->last_pid = p->pid;
	p->pid = 0;
	p->state = STATS_WORKER_EXITED;
	p->unresponsive = 0;
	/* Connections passed to it and not yet TAKEN went down with it; a
	 * count left here would make its successor look fuller than it is
	 * and defer its drain for ever (proc_drain). */
	p->handoff_pending = 0;
	p->drain_deferred = 0;
	loop_timer_disarm(t->loop, &p->timer);
}

int proc_reap(struct proc_table *t, struct proc **out, pid_t *other,
	      int *other_status)
{
	int status;
	pid_t pid = waitpid(-1, &status, WNOHANG);
	struct proc *p;

	if (pid <= 0)
		return -1;
	p = proc_find(t, pid);
	if (!p) {
		*other = pid;
		*other_status = status;
		return 0;
	}
	proc_exited(p, status);
	/* A crash is logged with the respawn it causes. */
	if (p->retiring)
		log_info("worker %d: pid %ld of generation %d exited (%s)",
			 p->slot, (long)pid, p->generation, p->last_exit);
	else if (t->stopping)
		log_info("worker %d: pid %ld exited (%s)", p->slot, (long)pid,
			 p->last_exit);
	*out = p;
	return 1;
}

/* --- talking to a worker --- */

void proc_heard(struct proc *p, uint64_t now)
{
	p->last_seen_ms = now;
	if (p->unresponsive) {
		p->unresponsive = 0;
		log_info("worker %d: pid %ld answers again", p->slot,
			 (long)p->pid);
	}
}

void proc_unanswered(struct proc *p, int ms)
{
	if (p->unresponsive)
		return;
	p->unresponsive = 1;
	log_warn("worker %d: pid %ld did not answer within %d ms", p->slot,
		 (long)p->pid, ms);
}

void proc_ready(struct proc *p)
{
	if (p->state == STATS_WORKER_STARTING)
		p->state = STATS_WORKER_RUNNING;
}

void proc_channel_lost(struct proc *p)
{
	if (p->pid && !p->t->stopping)
		loop_timer_arm(p->t->loop, &p->timer, DEAF_GRACE_MS);
}

void proc_drain(struct proc *p, int fast, uint32_t handover)
{
	struct chan_drain d = { (uint64_t)p->t->cfg->shutdown_timeout_ms,
				(uint32_t)fast, handover,
				(uint32_t)p->t->keep_idle, 0 };

	if (!p->pid)
		return;
	p->state = STATS_WORKER_DRAINING;
	if (!fast && p->handoff_pending) {
		p->drain_deferred = 1;
		p->drain_quota = handover;
		return; /* proc_relay_taken drains it */
	}
	p->drain_deferred = 0;
	if (chan_send(&p->chan, CHAN_DRAIN, 0, &d, sizeof(d)) < 0)
		kill(p->pid, fast ? SIGKILL : SIGTERM);
}

void proc_signal(struct proc *p, int signo)
{
	if (p->pid)
		kill(p->pid, signo);
}

int proc_progress(struct proc *p, uint64_t now)
{
	const struct stats_counters *c = p->shared;
	uint64_t mark = __atomic_load_n(&c->loop_turns, __ATOMIC_RELAXED) +
			__atomic_load_n(&c->accepted, __ATOMIC_RELAXED) +
			__atomic_load_n(&c->closed, __ATOMIC_RELAXED) +
			__atomic_load_n(&c->forced_closes, __ATOMIC_RELAXED) +
			__atomic_load_n(&c->handed_over, __ATOMIC_RELAXED) +
			__atomic_load_n(&c->taken_over, __ATOMIC_RELAXED);

	if (mark == p->progress_mark)
		return 0;
	p->progress_mark = mark;
	p->progress_ms = now;
	return 1;
}

int proc_sched(pid_t pid, uint64_t *run_ns, uint64_t *delay_ns)
{
	char path[48];
	long run, delay;

	snprintf(path, sizeof(path), "/proc/%ld/schedstat", (long)pid);
	if (util_read_sysctl(path, &run, &delay) < 0 || run < 0 || delay < 0)
		return -1;
	*run_ns = (uint64_t)run;
	*delay_ns = (uint64_t)delay;
	return 0;
}

uint64_t proc_excuse_wait(struct proc *p, uint64_t now, uint64_t run_ns,
			  uint64_t delay_ns)
{
	uint64_t ms = 0;

	if (!p->run_delay_valid) {
		p->run_ns0 = run_ns;
	} else if (run_ns - p->run_ns0 >= PROC_SPIN_CPU_MS * 1000000ull) {
		; /* it spins: no excuse */
	} else if (delay_ns > p->run_delay_ns) {
		ms = (delay_ns - p->run_delay_ns) / 1000000;
		p->progress_ms = UTIL_MIN(now, p->progress_ms + ms);
		/* What was not whole ms is kept for the next look. */
		delay_ns -= (delay_ns - p->run_delay_ns) % 1000000;
	}
	p->run_delay_ns = delay_ns;
	p->run_delay_valid = 1;
	return ms;
}

uint64_t proc_starved(struct proc *p, uint64_t now)
{
	uint64_t run, delay;

	if (!p->pid || proc_sched(p->pid, &run, &delay) < 0) {
		p->run_delay_valid = 0;
		return 0;
	}
	return proc_excuse_wait(p, now, run, delay);
}

void proc_starved_reset(struct proc *p)
{
	p->run_delay_valid = 0;
}

int proc_kill(struct proc *p)
{
	if (!p->pid || p->killed)
		return 0;
	p->killed = 1;
	kill(p->pid, SIGKILL);
	return 1;
}

void proc_view(const struct proc *p, uint64_t now, struct stats_worker_view *v)
{
	const struct stats_counters *past =
		p->retiring ? &p->history : &p->t->slot[p->slot].past;

	*v = (struct stats_worker_view){
		.id = p->slot,
		.pid = p->pid,
		.state = p->state,
		.generation = p->generation,
		.restarts = p->restarts,
		.silent_ms = p->pid ? now - p->last_seen_ms : 0,
		.last_exit = p->last_exit[0] ? p->last_exit : NULL,
		.c = *past,
	};
	if (!p->pid)
		v->state = STATS_WORKER_EXITED;
	else if (p->unresponsive)
		v->state = STATS_WORKER_UNRESPONSIVE;
	/* Live: the process writes them as it goes (aligned 64-bit words,
	 * so each reads whole; across fields a snapshot taken mid-accept may
	 * be one connection apart). */
	if (p->pid)
		stats_add(&v->c, p->shared);
}
