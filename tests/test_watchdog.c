/* test_watchdog.c - the master's watchdog judges a worker by its progress,
 * not by its answers alone (issue 12).
 *
 * A draining HTTP worker closes its idle kept-alive connections in one
 * turn of its loop; with thousands of them, on a loaded host, that turn
 * can outlast watchdog_timeout, and no heartbeat is answered meanwhile.
 * But its counters move at every close, and that is progress: it is left
 * alone, and exits 0 once done. A worker that does not move at all is
 * killed at watchdog_timeout, and replaced.
 *
 * The long turn is made by stepping the worker: it is stopped (SIGSTOP)
 * and let run (SIGCONT) for a window of some microseconds at a time, a
 * few times a second, until the master has heard nothing from it for well
 * over watchdog_timeout while it was still in that one turn (its
 * loop_turns unchanged, its closed count rising): a watchdog that went by
 * heartbeats alone would have killed it by then. Every wait is on an
 * event (the worker's state in /proc, the stats socket, the log) with a
 * deadline; the pauses between windows only pace the stimulus.
 *
 * On a loaded host a window can stretch to a scheduler slice, and the
 * worker may get through all its connections before the silence is long
 * enough to prove anything: such a run is started over (at most twice),
 * not counted as a pass. */
#include "autoconfig.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"

#define WD_MS 2000 /* watchdog_timeout: the least the configuration takes */
/* Silence that a heartbeat-only watchdog could not have let pass: its
 * ticks are a second apart, so one of them saw the worker silent for
 * watchdog_timeout or more. */
#define SILENCE_MS (WD_MS + 1500)
#define ATTEMPTS 3
#define HTTP_REQ "GET / HTTP/1.1\r\nHost: t\r\n\r\n"

/* The state letter in /proc/PID/stat ('T' stopped), or 0 if gone. */
static char proc_state(pid_t pid)
{
	char path[64], buf[512], *p;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	p = strrchr(buf, ')');
	return p && p[1] == ' ' ? p[2] : 0;
}

/* 1 once pid is stopped, 0 if it is gone (killed?), -1 at the deadline. */
static int wait_stopped(pid_t pid, int timeout_ms)
{
	for (int64_t end = hr_now_ms() + timeout_ms; hr_now_ms() < end;) {
		char s = proc_state(pid);

		if (s == 'T' || s == 't')
			return 1;
		if (s == 0 || s == 'Z')
			return 0;
		poll(NULL, 0, 1);
	}
	hr_note("pid %ld: still running (state %c)", (long)pid, proc_state(pid));
	return -1;
}

static json_t *worker_by_pid(json_t *st, pid_t pid)
{
	json_t *w;
	size_t i;

	json_array_foreach(json_object_get(st, "workers"), i, w)
		if (hr_jint(w, "pid") == pid)
			return w;
	return NULL;
}

static void write_conf(struct hr_daemon *d, char *path, size_t len,
		       const char *text)
{
	FILE *f;

	snprintf(path, len, "%s/wd.conf", d->dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
}

/* n kept-alive clients, each answered once: idle between requests. */
static void open_clients(struct hr_daemon *d, int *fds, int n)
{
	char err[256];

	hr_check(hr_connect_many(AF_INET, d->port, n, 64, 10000, fds, err,
				 sizeof(err)) == 0,
		 "connect: %s", err);
	for (int i = 0; i < n; i++)
		hr_check(hr_write_all(fds[i], HTTP_REQ, sizeof(HTTP_REQ) - 1,
				      5000) > 0,
			 "request %d", i);
	for (int i = 0; i < n; i++)
		hr_check(hr_http_response(fds[i], 5000) == 1,
			 "client %d: no answer", i);
}

/* The only worker's pid, once all n connections are its and it has just
 * answered a heartbeat: a stop that starts now has the whole
 * watchdog_timeout before it. */
static pid_t worker_with(struct hr_daemon *d, int n)
{
	for (int64_t end = hr_now_ms() + 5000;;) {
		json_t *st = hr_query_ok(d, "stats");
		json_t *w = hr_worker(st, 0);
		pid_t pid = (pid_t)hr_jint(w, "pid");
		int ok = hr_jint(w, "active") == n &&
			 hr_jint(w, "silent_ms") < 200;

		json_decref(st);
		if (ok)
			return pid;
		hr_check(hr_now_ms() < end,
			 "expected %d active connections on worker 0 and a fresh heartbeat",
			 n);
		poll(NULL, 0, 10);
	}
}

/* A worker let run a window at a time, as the master sees it. */
struct stepper {
	struct hr_daemon *d;
	pid_t pid;
	int n;      /* connections it had */
	int win_us; /* the next window */
	json_int_t closed, turns, forced, silent;
	char state[16];
	json_int_t drain_turns;  /* loop_turns when the first one closed */
	int64_t moved_ms;        /* when closed last moved */
	json_int_t moved_silent; /* silent_ms then */
	int64_t max_gap_ms;      /* the longest it stayed put, while stepped */
	int moves;
};

/* Asleep, not spinning, through the window: a process that sleeps is
 * woken at its end, one that spins may lose its CPU (on a loaded host)
 * and with it the end of the window. */
static void sleep_us(int us)
{
	struct timespec ts = { us / 1000000, (long)(us % 1000000) * 1000 };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* A worker that is gone exited with status 0, as the master logs it
 * (current generation, or retiring), within 5 s: 1, or 0. */
static int exited_by_itself(struct hr_daemon *d, pid_t pid)
{
	char a[80], b[80];

	snprintf(a, sizeof(a), "pid %ld exited (status 0)", (long)pid);
	snprintf(b, sizeof(b), "pid %ld of generation 1 exited (status 0)",
		 (long)pid);
	for (int64_t end = hr_now_ms() + 5000; hr_now_ms() < end;) {
		if (hr_log_contains(d, a) || hr_log_contains(d, b))
			return 1;
		poll(NULL, 0, 20);
	}
	return 0;
}

/* One window, then the worker's numbers from the master: 1 if it closed
 * some connections in it, 0 if not. */
static int step(struct stepper *s)
{
	json_t *st, *w;
	json_int_t closed;
	int64_t now;
	int r;

	kill(s->pid, SIGCONT);
	sleep_us(s->win_us);
	kill(s->pid, SIGSTOP);
	r = wait_stopped(s->pid, 2000);
	if (r == 0) {
		hr_check(exited_by_itself(s->d, s->pid),
			 "worker %ld is gone while it was closing connections (%lld so far): killed? (the log follows)",
			 (long)s->pid, (long long)s->closed);
		s->closed = s->n; /* all of them, in this window */
		return 1;
	}
	hr_check(r == 1, "worker %ld stops again", (long)s->pid);
	st = hr_query_ok(s->d, "stats");
	w = worker_by_pid(st, s->pid);
	hr_check(w != NULL, "worker %ld still listed: %s", (long)s->pid,
		 hr_jdump(st));
	closed = hr_jint(w, "closed");
	s->turns = hr_jint(w, "loop_turns");
	s->forced = hr_jint(w, "forced_closes");
	s->silent = hr_jint(w, "silent_ms");
	snprintf(s->state, sizeof(s->state), "%s", hr_jstr(w, "state"));
	json_decref(st);
	now = hr_now_ms();
	if (strcmp(s->state, "draining")) {
		/* A reload's new generation is not up yet: nothing to
		 * close, and no longer window needed. */
		s->moved_ms = now;
		return 0;
	}
	if (closed == s->closed) {
		/* Not scheduled within the window (or still on its way to
		 * the drain): a longer one, up to a few scheduler slices on
		 * a loaded host. */
		s->win_us = s->win_us ? 2 * s->win_us : 50;
		if (s->win_us > 50000)
			s->win_us = 50000;
		return 0;
	}
	if (s->drain_turns < 0)
		s->drain_turns = s->turns;
	/* Many closes in one window: the next is shorter, so that the
	 * connections last. */
	if (closed - s->closed > s->n / 100)
		s->win_us /= 2;
	if (now - s->moved_ms > s->max_gap_ms)
		s->max_gap_ms = now - s->moved_ms;
	s->moved_ms = now;
	s->moved_silent = s->silent;
	s->closed = closed;
	s->moves++;
	return 1;
}

/* Starts the daemon with conf, opens n clients on its one worker, stops
 * the worker and sends the master sig (a drain); then steps the worker
 * until done(s), its last connection has closed, or 12 s. Moves 0.3 s
 * apart put two or more between any two watchdog ticks. */
static void drain_stepped(struct hr_daemon *d, const char *conf, int *fds,
			  int n, int sig, struct stepper *s,
			  int (*done)(const struct stepper *))
{
	const char *args[] = { "-c", conf, "-w", "1", NULL };
	int64_t end;
	pid_t pid;

	hr_start_ok(d, args);
	open_clients(d, fds, n);
	pid = worker_with(d, n);
	assert_int_equal(kill(pid, SIGSTOP), 0);
	assert_int_equal(wait_stopped(pid, 2000), 1);
	assert_int_equal(kill(d->pid, sig), 0);

	*s = (struct stepper){ .d = d, .pid = pid, .n = n, .win_us = 50 };
	s->drain_turns = -1;
	s->moved_ms = hr_now_ms();
	end = hr_now_ms() + 12000;
	for (int i = 0;
	     i < 5000 && hr_now_ms() < end && !done(s) && s->closed < n; i++) {
		int moved = step(s);

		/* Running until a reload's new generation is up. */
		hr_check(!strcmp(s->state, "draining") ||
				 (s->closed == 0 && !strcmp(s->state, "running")),
			 "worker %ld, %lld closed, shown %s (silent %lld ms)",
			 (long)s->pid, (long long)s->closed, s->state,
			 (long long)s->silent);
		poll(NULL, 0, moved ? 300 : 10);
	}
	hr_note("worker %ld stepped: %lld of %d closed in %d moves, at most %lld ms apart; the master last heard from it %lld ms ago",
		(long)pid, (long long)s->closed, n, s->moves,
		(long long)s->max_gap_ms, (long long)s->silent);
}

static int long_silence(const struct stepper *s)
{
	return s->drain_turns >= 0 && s->silent >= SILENCE_MS;
}

/* It moved last with the master's heartbeats unanswered for nearly
 * watchdog_timeout. */
static int nearly_timeout(const struct stepper *s)
{
	return s->drain_turns >= 0 && s->moved_silent >= WD_MS - 200;
}

/* Graceful shutdown, one worker closing up to 8,000 idle kept-alive
 * connections in one turn of its loop, for longer than watchdog_timeout:
 * not killed, not shown unresponsive; it exits 0 and every client gets
 * an orderly close. */
static void test_draining_worker_progressing_is_left_alone(void **state)
{
	enum { N = 8000 };
	struct hr_daemon *d = *state;
	static int fds[N];
	char conf[160], exited[96], buf[8];
	struct stepper s;
	int eofs = 0, proved = 0;

	write_conf(d, conf, sizeof(conf),
		   "protocol http\nreturn 200 OK\n"
		   "watchdog_timeout 2s\nshutdown_timeout 30s\n");
	for (int i = 0; i < ATTEMPTS && !proved; i++) {
		drain_stepped(d, conf, fds, N, SIGTERM, &s, long_silence);
		proved = s.silent >= SILENCE_MS && s.closed < N;
		if (!proved) {
			hr_note("the worker got through its connections before a long enough silence: again");
			kill(s.pid, SIGCONT); /* if it is still there */
			assert_int_equal(hr_wait_exit(d, HR_STOP_MS), 0);
			hr_close_all(fds, N);
		}
	}
	/* What a heartbeat-only watchdog would have killed. */
	hr_check(proved,
		 "premise: still closing (%lld of %d) after %lld ms of silence",
		 (long long)s.closed, N, (long long)s.silent);
	hr_check(s.turns == s.drain_turns,
		 "premise: all in one turn of the loop (loop_turns %lld, then %lld)",
		 (long long)s.drain_turns, (long long)s.turns);
	hr_check(!hr_log_contains(d, "killing it") &&
			 !hr_log_contains(d, "unresponsive") &&
			 !hr_log_contains(d, "did not answer"),
		 "a progressing worker was judged stuck");

	assert_int_equal(kill(s.pid, SIGCONT), 0);
	assert_int_equal(hr_wait_exit(d, HR_STOP_MS), 0);
	snprintf(exited, sizeof(exited), "worker 0: pid %ld exited (status 0)",
		 (long)s.pid);
	hr_check(hr_log_contains(d, exited), "the log says: %s", exited);
	hr_check(!hr_log_contains(d, "killing it") &&
			 !hr_log_contains(d, "unresponsive"),
		 "a progressing worker was judged stuck");
	hr_check_int("forced closes", 0, s.forced);
	for (int i = 0; i < N; i++) {
		struct pollfd p = { fds[i], POLLIN, 0 };

		eofs += poll(&p, 1, 2000) == 1 &&
			recv(fds[i], buf, sizeof(buf), 0) == 0;
		close(fds[i]);
	}
	hr_check_int("clients closed with a FIN (nothing unread, no reset)", N,
		     eofs);
}

/* The same drain (a reload's this time), the worker stepped as above
 * until its heartbeats have gone unanswered for nearly watchdog_timeout,
 * then held stopped: with no progress it is killed watchdog_timeout after
 * it last moved (not after it last answered: that would be within 1.2 s),
 * the master says so, and the new generation serves. */
static void test_draining_worker_stuck_is_killed(void **state)
{
	enum { N = 5000 };
	struct hr_daemon *d = *state;
	static int fds[N];
	char conf[160], killing[96], exited[96];
	json_int_t gen = 2;
	struct stepper s;
	int proved = 0;
	json_t *st;
	int fd;

	write_conf(d, conf, sizeof(conf),
		   "protocol http\nreturn 200 OK\nhandover off\n"
		   "watchdog_timeout 2s\nshutdown_timeout 30s\n");
	for (int i = 0; i < ATTEMPTS && !proved; i++) {
		drain_stepped(d, conf, fds, N, SIGHUP, &s, nearly_timeout);
		proved = nearly_timeout(&s) && s.closed < N;
		if (!proved) {
			hr_note("the worker got through its connections at once: again");
			kill(s.pid, SIGCONT); /* if it is still there */
			assert_int_equal(hr_stop(d, SIGTERM), 0);
			hr_close_all(fds, N);
		}
	}
	hr_check(proved,
		 "premise: still closing (%lld of %d) when last moved, %lld ms after its last answer",
		 (long long)s.closed, N, (long long)s.moved_silent);
	/* This worker's kill only: on a loaded host generation 2's, idle
	 * and starved of CPU for watchdog_timeout, may be killed and
	 * respawned too, as it should. */
	snprintf(killing, sizeof(killing), "pid %ld silent and stuck for",
		 (long)s.pid);
	hr_check(!hr_log_contains(d, killing), "killed while it progressed");

	/* Stuck: no window any more. */
	for (int64_t end = s.moved_ms + WD_MS + 5000;
	     !hr_log_contains(d, killing);) {
		hr_check(hr_now_ms() < end, "expected: %s ... killing it",
			 killing);
		poll(NULL, 0, 20);
	}
	hr_check(hr_now_ms() - s.moved_ms >= WD_MS - 200,
		 "killed %lld ms after it last moved, before watchdog_timeout",
		 (long long)(hr_now_ms() - s.moved_ms));
	snprintf(exited, sizeof(exited),
		 "pid %ld of generation 1 exited (signal %d", (long)s.pid,
		 SIGKILL);
	for (int64_t end = hr_now_ms() + 5000; !hr_log_contains(d, exited);) {
		hr_check(hr_now_ms() < end, "expected: %s", exited);
		poll(NULL, 0, 20);
	}
	/* Replaced: generation 2 serves, the stuck one is gone. */
	assert_true(hr_wait_for(d, hr_generation_up, &gen, 5000));
	st = hr_query_ok(d, "stats");
	hr_check(worker_by_pid(st, s.pid) == NULL &&
			 hr_jint(hr_worker(st, 0), "pid") != s.pid,
		 "replaced: %s", hr_jdump(st));
	json_decref(st);
	fd = hr_connect_tcp(d->port);
	hr_check(fd >= 0 &&
			 hr_write_all(fd, HTTP_REQ, sizeof(HTTP_REQ) - 1, 5000) > 0 &&
			 hr_http_response(fd, 5000) == 1,
		 "a new client is answered");
	close(fd);
	hr_close_all(fds, N);
	assert_int_equal(hr_stop(d, SIGTERM), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_draining_worker_progressing_is_left_alone,
						hr_setup, hr_teardown),
		cmocka_unit_test_setup_teardown(test_draining_worker_stuck_is_killed,
						hr_setup, hr_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
