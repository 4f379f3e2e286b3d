/* test_signals.c - the master's signal table, signal by signal, against
 * the real daemon: every signal from 1 to SIGRTMAX has one entry below,
 * and each entry's effect is checked - the used ones (HUP reload, USR1
 * log reopen, USR2 binary upgrade, QUIT and TERM graceful stop, INT and
 * a second TERM fast stop), and all the others: logged and ignored, or
 * ignored by default (CHLD, CONT, URG, WINCH, PIPE), with the master and
 * its workers still there and still serving. Faults (SEGV, BUS, ...) keep
 * their default action and KILL and STOP cannot be caught: they are not
 * sent. A few seconds in all. */
#include "autoconfig.h"

#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "ops_harness.h"

#define STEP_MS 10000

enum effect {
	UNSENT,   /* a fault (default action: a core) or uncatchable */
	LOGGED,   /* logged, then ignored */
	SILENT,   /* ignored without a word (default action: none; or
		   * SIGPIPE, SIGXFSZ: ignored, a write fails instead) */
	RELOAD,   /* SIGHUP */
	REOPEN,   /* SIGUSR1 */
	UPGRADE,  /* SIGUSR2 */
	GRACEFUL, /* SIGTERM, SIGQUIT */
	FAST,     /* SIGINT */
};

static const struct {
	int signo;
	enum effect effect;
} table[] = {
	{ SIGHUP, RELOAD },    { SIGINT, FAST },      { SIGQUIT, GRACEFUL },
	{ SIGILL, UNSENT },    { SIGTRAP, UNSENT },   { SIGABRT, UNSENT },
	{ SIGBUS, UNSENT },    { SIGFPE, UNSENT },    { SIGKILL, UNSENT },
	{ SIGUSR1, REOPEN },   { SIGSEGV, UNSENT },   { SIGUSR2, UPGRADE },
	{ SIGPIPE, SILENT },   { SIGALRM, LOGGED },   { SIGTERM, GRACEFUL },
	{ SIGSTKFLT, LOGGED }, { SIGCHLD, SILENT },   { SIGCONT, SILENT },
	{ SIGSTOP, UNSENT },   { SIGTSTP, LOGGED },   { SIGTTIN, LOGGED },
	{ SIGTTOU, LOGGED },   { SIGURG, SILENT },    { SIGXCPU, LOGGED },
	{ SIGXFSZ, SILENT },   { SIGVTALRM, LOGGED }, { SIGPROF, LOGGED },
	{ SIGWINCH, SILENT },  { SIGIO, LOGGED },     { SIGPWR, LOGGED },
	{ SIGSYS, UNSENT },
};

/* The entry for signo; the real-time signals are all logged. Signals
 * glibc keeps for itself (between 31 and SIGRTMIN) are not sent. */
static enum effect effect_of(int signo)
{
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
		if (table[i].signo == signo)
			return table[i].effect;
	if (signo >= SIGRTMIN && signo <= SIGRTMAX)
		return LOGGED;
	hr_check(signo > SIGSYS && signo < SIGRTMIN,
		 "signal %d (%s) is missing from the table", signo,
		 strsignal(signo));
	return UNSENT;
}

struct svc {
	struct hr_daemon *d;
	char conf[128], logf[128];
};

/* The daemon logging to a file - the harness's log, so that a failure
 * prints it - echo, two workers. */
static void svc_start(struct svc *s, struct hr_daemon *d, const char *extra)
{
	const char *args[] = { "-c", s->conf, NULL };

	s->d = d;
	snprintf(s->conf, sizeof(s->conf), "%s/rp.conf", d->dir);
	snprintf(s->logf, sizeof(s->logf), "%s", d->log);
	oh_write(s->conf, "protocol echo\nlog %s\n%s", s->logf, extra);
	hr_start_ok(d, args);
}

static int svc_logged(struct svc *s, const char *needle)
{
	const char *all[] = { needle, NULL };

	return oh_wait_contains(s->logf, all, STEP_MS);
}

static long ping_pid(struct hr_daemon *d)
{
	json_t *p = hr_query(d, "ping");
	long pid = p ? (long)hr_jint(p, "pid") : -1;

	json_decref(p);
	return pid;
}

/* An echo exchange on fd: 1 if answered. */
static int echoes(int fd)
{
	char buf[8];

	return hr_write_all(fd, "sig\n", 4, 5000) == 4 &&
	       hr_read_exact(fd, buf, 4, 5000) == 4 && !memcmp(buf, "sig\n", 4);
}

/* Not stopped (a default SIGTSTP, SIGTTIN or SIGTTOU would stop it). */
static int running(pid_t pid)
{
	char path[64], *stat, *p;
	int ok;

	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	stat = oh_read(path);
	p = strrchr(stat, ')');
	ok = p && p[1] == ' ' && p[2] != 'T' && p[2] != 't' && p[2] != 'Z';
	free(stat);
	return ok;
}

static void test_unused_signals(void **state)
{
	struct hr_daemon *d = *state;
	struct svc s;
	char want[64];
	json_int_t w0, w1;
	json_t *st;
	int fd, nlogged = 0;

	svc_start(&s, d, "");
	st = hr_query_ok(d, "stats");
	w0 = hr_jint(hr_worker(st, 0), "pid");
	w1 = hr_jint(hr_worker(st, 1), "pid");
	json_decref(st);
	fd = hr_connect_tcp(d->port);
	hr_check_int("an echo before", 1, echoes(fd));
	for (int sig = 1; sig <= SIGRTMAX; sig++) {
		enum effect e = effect_of(sig);

		if (e != LOGGED && e != SILENT)
			continue;
		hr_check_int("kill(master)", 0, kill(d->pid, sig));
		if (e == LOGGED) {
			snprintf(want, sizeof(want), "signal %d (", sig);
			hr_check(svc_logged(&s, want), "expected %s...) logged",
				 want);
			nlogged++;
		}
		hr_check(running(d->pid), "the master runs after signal %d (%s)",
			 sig, strsignal(sig));
	}
	hr_note("%d signals logged and ignored", nlogged);
	hr_check(svc_logged(&s, "not used by reuseportd; ignored"),
		 "the log says why");
	st = hr_query_ok(d, "stats");
	hr_check_int("the master answers, same pid", d->pid, hr_jint(st, "pid"));
	hr_check_int("worker 0 untouched", w0, hr_jint(hr_worker(st, 0), "pid"));
	hr_check_int("worker 1 untouched", w1, hr_jint(hr_worker(st, 1), "pid"));
	hr_check(running((pid_t)w0) && running((pid_t)w1),
		 "the workers are not stopped");
	json_decref(st);
	hr_check_int("the same connection echoes", 1, echoes(fd));
	close(fd);
	hr_check_int("exit status after SIGTERM", 0, hr_stop(d, SIGTERM));
}

/* HUP, USR1, USR2, then QUIT to the old master and TERM to the new. */
static void test_used_signals(void **state)
{
	struct hr_daemon *d = *state;
	struct svc s;
	char old_log[160];
	json_int_t gen = 2, w0;
	json_t *st;
	pid_t old, pid = -1;
	int fd;

	svc_start(&s, d, "shutdown_timeout 30s\n");
	old = d->pid;
	st = hr_query_ok(d, "stats");
	w0 = hr_jint(hr_worker(st, 0), "pid");
	json_decref(st);

	/* SIGHUP: a new generation of workers. */
	hr_check_int("SIGHUP", 0, kill(old, SIGHUP));
	hr_check(hr_wait_for(d, hr_generation_up, &gen, STEP_MS),
		 "generation 2 runs after SIGHUP");
	st = hr_query_ok(d, "stats");
	hr_check(hr_jint(hr_worker(st, 0), "pid") != w0,
		 "worker 0 replaced: %s", hr_jdump(st));
	json_decref(st);

	/* SIGUSR1: the log file renamed away is opened anew. */
	snprintf(old_log, sizeof(old_log), "%s.1", s.logf);
	hr_check(rename(s.logf, old_log) == 0, "rename %s", s.logf);
	hr_check_int("SIGUSR1", 0, kill(old, SIGUSR1));
	hr_check(svc_logged(&s, "log reopened"),
		 "a new %s after SIGUSR1, saying so", s.logf);

	/* SIGUSR2: a new master on the same sockets takes the service; the
	 * old one keeps running until it is stopped. */
	hr_check_int("SIGUSR2", 0, kill(old, SIGUSR2));
	for (int64_t end = hr_now_ms() + STEP_MS;
	     (pid = (pid_t)ping_pid(d)) == old || pid <= 0;) {
		hr_check(hr_now_ms() < end,
			 "ping names a new master after SIGUSR2");
		poll(NULL, 0, 10);
	}
	hr_check(running(old), "the old master runs on after the upgrade");

	/* SIGQUIT to the old master: graceful; the new one serves on. */
	hr_check_int("SIGQUIT", 0, kill(old, SIGQUIT));
	hr_check_int("the old master's exit status", 0,
		     hr_wait_pid(d, old, HR_STOP_MS));
	hr_check_int("ping after the old master left", pid, ping_pid(d));

	/* SIGTERM to the new master: graceful, a connection is served until
	 * its client leaves; then the master exits 0. */
	fd = hr_connect_tcp(d->port);
	hr_check_int("an echo from the new master's workers", 1, echoes(fd));
	hr_check_int("SIGTERM", 0, kill(pid, SIGTERM));
	hr_check(svc_logged(&s, "signal 15 (Terminated): graceful shutdown"),
		 "SIGTERM: a graceful shutdown");
	hr_check_int("the connection still echoes", 1, echoes(fd));
	close(fd);
	hr_check_int("the new master's exit status", 0,
		     hr_wait_pid(d, pid, HR_STOP_MS));
}

/* first, then again if again: the connection is closed at once, not
 * after shutdown_timeout (30 s). */
static void fast_stop(struct hr_daemon *d, int first, int again)
{
	struct svc s;
	int fd;

	svc_start(&s, d, "shutdown_timeout 30s\n");
	fd = hr_connect_tcp(d->port);
	hr_check_int("an echo", 1, echoes(fd));
	hr_check_int("kill", 0, kill(d->pid, first));
	if (again) {
		hr_check(svc_logged(&s, "graceful shutdown"),
			 "the first: graceful");
		hr_check_int("still echoes", 1, echoes(fd));
		hr_check_int("kill again", 0, kill(d->pid, again));
	}
	hr_check(svc_logged(&s, "fast shutdown"), "a fast shutdown");
	hr_check(hr_wait_closed(fd, STEP_MS),
		 "the connection closed by the fast stop");
	close(fd);
	hr_check_int("exit status", 0, hr_wait_exit(d, HR_STOP_MS));
}

static void test_sigint_fast(void **state)
{
	fast_stop(*state, SIGINT, 0);
}

static void test_second_sigterm_fast(void **state)
{
	fast_stop(*state, SIGTERM, SIGTERM);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_unused_signals, hr_setup,
						hr_teardown),
		cmocka_unit_test_setup_teardown(test_used_signals, hr_setup,
						hr_teardown),
		cmocka_unit_test_setup_teardown(test_sigint_fast, hr_setup,
						hr_teardown),
		cmocka_unit_test_setup_teardown(test_second_sigterm_fast,
						hr_setup, hr_teardown),
	};

	return cmocka_run_group_tests_name("signals", tests, NULL, NULL);
}
