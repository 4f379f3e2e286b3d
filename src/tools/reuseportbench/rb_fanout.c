/* rb_fanout.c - parent and child sides of a multi-process run (see
 * rb_fanout.h). The parent only coordinates and adds up: it never holds
 * a test connection, so its own descriptors stay few. */
#include "autoconfig.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "reuseportbench/rb_fanout.h"
#include "reuseportbench/rb_report.h"
#include "reuseportbench/rb_time.h"

#define PROGRESS_NS (250 * RB_NS_PER_MS)
/* Bounds on the parent's waits, beyond what the children bound
 * themselves: a child that overruns them is killed and counted lost. */
#define PRINT_WAIT_NS (120 * RB_NS_PER_S)
/* An echo check in a child waits up to 100 s for the answers (rb_hold.c)
 * after sending its bytes, on a machine that may be starved: the parent
 * waits longer than that for its count. */
#define CHECK_WAIT_NS (300 * RB_NS_PER_S)
#define EXTRA_WAIT_NS (10 * RB_NS_PER_S)

struct msg_hdr {
	uint32_t type;
	uint32_t len;
};

struct kid {
	pid_t pid;
	int up, down; /* parent's ends; -1 once closed */
	int ready, printed, done, dead, checked;
	struct rb_check check;
	struct rb_progress prog;
	struct rb_result *res;
	struct msg_hdr hdr; /* message being read */
	size_t got;
};

struct fan {
	const struct rb_opts *o;
	struct kid *kids;
	uint32_t n;
	uint64_t t_start, t_go;
	struct pollfd *pfd; /* one per child, for pump() */
	uint32_t *pidx;
	const char *phase;
	int painted;
	uint64_t last_paint;
};

static volatile sig_atomic_t rb_signalled, rb_check_asked;

static void on_signal(int sig)
{
	if (sig == SIGUSR1)
		rb_check_asked = 1;
	else
		rb_signalled = 1;
}

uint32_t rb_fanout_plan(const struct rb_opts *o)
{
	uint32_t per = o->per_process ? o->per_process : 1;
	uint32_t n = (uint32_t)(((uint64_t)o->connections + per - 1) / per);

	if (n < o->processes)
		n = o->processes;
	if (n > o->connections)
		n = o->connections;
	return n ? n : 1;
}

void rb_fanout_slice(const struct rb_opts *o, uint32_t nprocs, uint32_t k,
		     struct rb_slice *s)
{
	uint32_t base = o->connections / nprocs, extra = o->connections % nprocs;
	uint64_t rbase = o->requests / nprocs, rextra = o->requests % nprocs;

	s->index = k;
	s->nprocs = nprocs;
	s->count = base + (k < extra);
	s->first = (uint64_t)base * k + (k < extra ? k : extra);
	s->requests = rbase + (k < rextra);
}

/* ---- child side ---- */

static int write_all(int fd, const void *p, size_t len)
{
	const char *c = p;
	ssize_t w;

	while (len) {
		w = write(fd, c, len);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		c += w;
		len -= (size_t)w;
	}
	return 0;
}

int rb_chan_send(const struct rb_chan *c, uint32_t type, const void *p, size_t len)
{
	struct msg_hdr h = { .type = type, .len = (uint32_t)len };

	if (write_all(c->up, &h, sizeof(h)) < 0)
		return -1;
	return len ? write_all(c->up, p, len) : 0;
}

int rb_chan_control(const struct rb_chan *c)
{
	unsigned char b;
	ssize_t r;

	do
		r = read(c->down, &b, 1);
	while (r < 0 && errno == EINTR);
	if (r == 1)
		return b;
	if (r < 0 && errno == EAGAIN)
		return 0;
	return -1;
}

void rb_chan_read_control(const struct rb_chan *c, struct rb_ctl *ctl)
{
	int b;

	/* Bounded: the parent writes at most a few bytes per run. */
	for (int i = 0; i < 64; i++) {
		b = rb_chan_control(c);
		if (b == 0)
			return;
		if (b < 0 || b == RB_CTL_STOP) {
			ctl->stop = 1;
			return;
		}
		if (b == RB_CTL_GO)
			ctl->go = 1;
		else if (b == RB_CTL_PRINT)
			ctl->print = 1;
		else if (b == RB_CTL_CHECK)
			ctl->check = 1;
	}
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

static void __attribute__((noreturn))
child_main(const struct rb_opts *o, rb_child_fn fn, struct fan *f, uint32_t k,
	   int up, int down, pid_t parent)
{
	struct rb_slice s;
	struct rb_chan c = { .up = up, .down = down };
	uint32_t j;
	int rc;

	/* The parent's ends of the earlier children's pipes: holding them
	 * would keep those children from seeing the parent go away. */
	for (j = 0; j < k; j++) {
		close_fd(&f->kids[j].up);
		close_fd(&f->kids[j].down);
	}
	/* Ctrl-C reaches the whole process group; the parent alone decides
	 * and tells the children to stop in order. */
	signal(SIGINT, SIG_IGN);
	signal(SIGTERM, SIG_DFL);
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
		_exit(1);
	rb_fanout_slice(o, f->n, k, &s);
	rc = fn(o, &s, &c);
	fflush(stdout);
	_exit(rc < 0 ? 1 : 0);
}

/* ---- parent side ---- */

static void kid_lost(struct kid *kd)
{
	if (!kd->done)
		kd->dead = 1;
	close_fd(&kd->up);
	close_fd(&kd->down);
}

static void handle_msg(struct kid *kd)
{
	switch (kd->hdr.type) {
	case RB_MSG_PROGRESS:
		break; /* already copied into kd->prog */
	case RB_MSG_READY:
		kd->ready = 1;
		break;
	case RB_MSG_PRINTED:
		kd->printed = 1;
		break;
	case RB_MSG_RESULT:
		kd->done = 1;
		break;
	case RB_MSG_CHECKED:
		kd->checked = 1;
		break;
	default:
		break;
	}
}

static void *msg_dest(struct kid *kd)
{
	static char none;

	if (kd->hdr.len == 0) /* header-only messages: never read into */
		return &none;
	if (kd->hdr.type == RB_MSG_PROGRESS && kd->hdr.len == sizeof(kd->prog))
		return &kd->prog;
	if (kd->hdr.type == RB_MSG_RESULT && kd->hdr.len == sizeof(*kd->res))
		return kd->res;
	if (kd->hdr.type == RB_MSG_CHECKED && kd->hdr.len == sizeof(kd->check))
		return &kd->check;
	return NULL;
}

/* Reads what the child has written; messages may arrive in pieces. */
static void kid_read(struct kid *kd)
{
	size_t want;
	ssize_t r;
	char *dst;

	for (;;) {
		if (kd->got < sizeof(kd->hdr)) {
			dst = (char *)&kd->hdr + kd->got;
			want = sizeof(kd->hdr) - kd->got;
		} else {
			dst = msg_dest(kd);
			if (!dst) { /* a size no child sends: it is broken */
				kill(kd->pid, SIGKILL);
				kid_lost(kd);
				return;
			}
			dst += kd->got - sizeof(kd->hdr);
			want = sizeof(kd->hdr) + kd->hdr.len - kd->got;
		}
		r = read(kd->up, dst, want);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && errno == EAGAIN)
			return;
		if (r <= 0) {
			kid_lost(kd);
			return;
		}
		kd->got += (size_t)r;
		if (kd->got >= sizeof(kd->hdr) &&
		    kd->got == sizeof(kd->hdr) + kd->hdr.len) {
			handle_msg(kd);
			kd->got = 0;
		}
	}
}

static void paint(struct fan *f, uint64_t now)
{
	struct rb_progress sum;
	uint32_t i;

	if (!f->o->progress || now - f->last_paint < PROGRESS_NS)
		return;
	memset(&sum, 0, sizeof(sum));
	for (i = 0; i < f->n; i++) {
		const struct rb_progress *p = &f->kids[i].prog;

		sum.attempted += p->attempted;
		sum.established += p->established;
		sum.failed += p->failed;
		sum.open += p->open;
		sum.messages += p->messages;
		sum.errors += p->errors;
	}
	rb_report_progress(stderr, f->o, f->phase, &sum,
			   rb_ns_to_s(now - f->t_start),
			   f->t_go ? rb_ns_to_s(now - f->t_go) : 0.0);
	f->painted = 1;
	f->last_paint = now;
}

static void unpaint(struct fan *f)
{
	if (f->painted)
		rb_report_progress_clear(stderr);
	f->painted = 0;
}

/* Waits for the children's messages until 'deadline' or one round of
 * PROGRESS_NS, whichever is first. */
static void pump(struct fan *f, uint64_t deadline)
{
	uint64_t now = rb_now_ns();
	int ms = rb_wait_ms(now, deadline, (int)(PROGRESS_NS / RB_NS_PER_MS));
	uint32_t i, n = 0;

	for (i = 0; i < f->n; i++) {
		if (f->kids[i].up < 0)
			continue;
		f->pfd[n].fd = f->kids[i].up;
		f->pfd[n].events = POLLIN;
		f->pidx[n++] = i;
	}
	/* With no child left to hear from, this still waits: no spinning. */
	if (poll(f->pfd, n, ms) > 0)
		for (i = 0; i < n; i++)
			if (f->pfd[i].revents)
				kid_read(&f->kids[f->pidx[i]]);
	paint(f, rb_now_ns());
}

static int all_ready(const struct fan *f)
{
	uint32_t i;

	for (i = 0; i < f->n; i++)
		if (!f->kids[i].ready && !f->kids[i].dead && !f->kids[i].done)
			return 0;
	return 1;
}

static int all_done(const struct fan *f)
{
	uint32_t i;

	for (i = 0; i < f->n; i++)
		if (!f->kids[i].done && !f->kids[i].dead)
			return 0;
	return 1;
}

static void tell(struct kid *kd, char c)
{
	if (kd->down < 0 || kd->dead || kd->done)
		return;
	if (write(kd->down, &c, 1) != 1)
		kid_lost(kd);
}

static void tell_all(struct fan *f, char c)
{
	uint32_t i;

	for (i = 0; i < f->n; i++)
		tell(&f->kids[i], c);
}

/* Ports are printed one child at a time so that the lines come out in
 * connection order, never interleaved. */
static void print_ports(struct fan *f)
{
	uint64_t deadline;
	uint32_t i;

	unpaint(f);
	for (i = 0; i < f->n && !rb_signalled; i++) {
		struct kid *kd = &f->kids[i];

		tell(kd, RB_CTL_PRINT);
		deadline = rb_now_ns() + PRINT_WAIT_NS;
		while (!kd->printed && kd->up >= 0 && !kd->done &&
		       rb_now_ns() < deadline && !rb_signalled)
			pump(f, deadline);
	}
}

/* SIGUSR1 while holding: every child checks its connections now; the
 * sum is one line on stderr (stdout may be the JSON report), and the
 * hold goes on. */
static void check_all(struct fan *f)
{
	struct rb_check sum = { 0, 0 };
	uint64_t deadline = rb_now_ns() + CHECK_WAIT_NS;
	uint32_t i, waiting;

	unpaint(f);
	for (i = 0; i < f->n; i++)
		f->kids[i].checked = 0;
	tell_all(f, RB_CTL_CHECK);
	do {
		waiting = 0;
		for (i = 0; i < f->n; i++)
			waiting += !f->kids[i].checked && !f->kids[i].dead &&
				   !f->kids[i].done && f->kids[i].up >= 0;
		if (waiting)
			pump(f, deadline);
	} while (waiting && !rb_signalled && rb_now_ns() < deadline);
	for (i = 0; i < f->n; i++)
		if (f->kids[i].checked) {
			sum.ok += f->kids[i].check.ok;
			sum.failed += f->kids[i].check.failed;
		}
	fprintf(stderr,
		"echo-check: %llu echoed, %llu failed, %u processes silent\n",
		(unsigned long long)sum.ok, (unsigned long long)sum.failed,
		waiting);
	fflush(stderr);
}

/* What the ramp may take at most: every connect of the largest slice
 * timing out, in rounds of --inflight, plus the pace. */
static uint64_t ramp_bound(const struct rb_opts *o, uint32_t nprocs)
{
	uint64_t per = (o->connections + nprocs - 1) / nprocs;
	uint64_t rounds = (per + o->inflight - 1) / o->inflight + 1;
	double pace = (o->mode == RB_MODE_HOLD && o->rate > 0) ?
			      (double)o->connections / o->rate :
			      0.0;

	return rounds * rb_s_to_ns(o->connect_timeout_s) + rb_s_to_ns(pace) +
	       EXTRA_WAIT_NS;
}

static void run_phases(struct fan *f, struct rb_run *run)
{
	const struct rb_opts *o = f->o;
	uint64_t deadline, t_stop;

	f->phase = "ramp";
	deadline = f->t_start + ramp_bound(o, f->n);
	while (!all_ready(f) && !rb_signalled && rb_now_ns() < deadline)
		pump(f, deadline);
	if (!rb_signalled && o->print_ports && rb_now_ns() < deadline)
		print_ports(f);
	f->t_go = rb_now_ns();
	run->ramp_s = rb_ns_to_s(f->t_go - f->t_start);
	if (!rb_signalled && rb_now_ns() < deadline) {
		f->phase = o->mode == RB_MODE_HOLD ? "hold" : "load";
		tell_all(f, RB_CTL_GO);
		deadline = f->t_go + rb_s_to_ns(o->duration_s);
		while (!all_done(f) && !rb_signalled && rb_now_ns() < deadline) {
			pump(f, deadline);
			if (rb_check_asked && o->mode == RB_MODE_HOLD &&
			    o->echo_check) {
				rb_check_asked = 0;
				check_all(f);
			}
		}
	}
	t_stop = rb_now_ns();
	run->run_s = rb_ns_to_s(t_stop - f->t_go);
	run->interrupted = rb_signalled != 0;
	f->phase = "stop";
	tell_all(f, RB_CTL_STOP);
	deadline = t_stop + rb_s_to_ns(o->drain_timeout_s) + EXTRA_WAIT_NS;
	while (!all_done(f) && rb_now_ns() < deadline)
		pump(f, deadline);
	unpaint(f);
}

static void reap(struct fan *f)
{
	uint32_t i;

	for (i = 0; i < f->n; i++) {
		struct kid *kd = &f->kids[i];

		if (kd->pid <= 0)
			continue;
		if (!kd->done)
			kill(kd->pid, SIGKILL);
		while (waitpid(kd->pid, NULL, 0) < 0 && errno == EINTR)
			;
		if (!kd->done)
			kd->dead = 1;
		close_fd(&kd->up);
		close_fd(&kd->down);
	}
}

static void free_kids(struct fan *f)
{
	uint32_t i;

	for (i = 0; f->kids && i < f->n; i++)
		free(f->kids[i].res);
	free(f->kids);
	free(f->pfd);
	free(f->pidx);
}

static int spawn(struct fan *f, rb_child_fn fn)
{
	pid_t parent = getpid();
	int up[2], down[2];
	uint32_t k;

	for (k = 0; k < f->n; k++) {
		struct kid *kd = &f->kids[k];

		if (pipe2(up, O_CLOEXEC) < 0)
			return -1;
		if (pipe2(down, O_CLOEXEC) < 0) {
			close(up[0]);
			close(up[1]);
			return -1;
		}
		kd->pid = fork();
		if (kd->pid < 0) {
			close(up[0]);
			close(up[1]);
			close(down[0]);
			close(down[1]);
			return -1;
		}
		if (kd->pid == 0) {
			close(up[0]);
			close(down[1]);
			fcntl(down[0], F_SETFL, O_NONBLOCK);
			child_main(f->o, fn, f, k, up[1], down[0], parent);
		}
		close(up[1]);
		close(down[0]);
		kd->up = up[0];
		kd->down = down[1];
		fcntl(kd->up, F_SETFL, O_NONBLOCK);
	}
	return 0;
}

int rb_fanout_run(const struct rb_opts *o, rb_child_fn fn,
		  struct rb_result *total, struct rb_run *run)
{
	struct sigaction sa, old_int, old_term, old_usr1;
	struct fan f;
	uint32_t i;
	int err;

	memset(&f, 0, sizeof(f));
	memset(run, 0, sizeof(*run));
	f.o = o;
	f.n = rb_fanout_plan(o);
	run->nprocs = f.n;
	run->per_process = o->per_process;
	f.kids = calloc(f.n, sizeof(*f.kids));
	f.pfd = calloc(f.n, sizeof(*f.pfd));
	f.pidx = calloc(f.n, sizeof(*f.pidx));
	if (!f.kids || !f.pfd || !f.pidx) {
		free_kids(&f);
		errno = ENOMEM;
		return -1;
	}
	for (i = 0; i < f.n; i++) {
		f.kids[i].up = f.kids[i].down = -1;
		f.kids[i].res = malloc(sizeof(*f.kids[i].res));
		if (!f.kids[i].res) {
			free_kids(&f);
			errno = ENOMEM;
			return -1;
		}
	}
	/* Buffered output would otherwise be written once by each child. */
	fflush(NULL);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal; /* no SA_RESTART: poll() must wake */
	sigemptyset(&sa.sa_mask);
	rb_signalled = 0;
	rb_check_asked = 0;
	sigaction(SIGINT, &sa, &old_int);
	sigaction(SIGTERM, &sa, &old_term);
	sigaction(SIGUSR1, &sa, &old_usr1);
	f.t_start = rb_now_ns();
	if (spawn(&f, fn) < 0) {
		err = errno;
		reap(&f);
		free_kids(&f);
		sigaction(SIGINT, &old_int, NULL);
		sigaction(SIGTERM, &old_term, NULL);
		sigaction(SIGUSR1, &old_usr1, NULL);
		errno = err;
		return -1;
	}
	run_phases(&f, run);
	reap(&f);
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGTERM, &old_term, NULL);
	sigaction(SIGUSR1, &old_usr1, NULL);
	run->total_s = rb_ns_to_s(rb_now_ns() - f.t_start);
	for (i = 0; i < f.n; i++) {
		if (f.kids[i].done)
			rb_result_merge(total, f.kids[i].res);
		else
			run->lost++;
	}
	free_kids(&f);
	return 0;
}
