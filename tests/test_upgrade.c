/* test_upgrade.c - the binary upgrade (SIGUSR2, `upgrade`, reuseportctl
 * upgrade) of the real daemon, started from a copy of the build that the
 * test replaces: a different file each time (the build with a trailer of
 * its own, which the loader ignores), so the new master's
 * /proc/PID/exe shows which file it runs.
 *
 * Under kept-alive and connection-per-request HTTP load, three upgrades
 * (by `upgrade` on the stats socket, by reuseportctl, by SIGUSR2) and a
 * rollback (SIGHUP to the old master, then SIGQUIT to the new one): no
 * request fails, no connect is refused, no connection is reset or closed
 * under a request, and a client asking `ping` all along always gets an
 * answer, naming the new master once an upgrade is answered; the pidfile
 * follows. Then every failure: a binary that is not there, a
 * configuration the new binary refuses, workers that cannot start (with
 * more slots than the old master had), other listen addresses - each
 * leaves the old master serving, says why, and leaves no socket behind.
 * And the rollback by stopping the new master, systemd's MAINPID, and an
 * idle kept-alive connection of the old master that is answered, not
 * cut, when the old master finishes. */
#include "autoconfig.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#ifndef RC_BIN
#error "build with -DRC_BIN and -DRB_BIN (tests/lifecycle.am)"
#endif

/* A bound: each load runs until load_clean stops it (SIGINT), once the
 * steps it is there for are done, however long they took. */
#define LOAD_MAX_S 120
/* Requests served between two steps: the load is flowing again. */
#define LOAD_STEP_REQUESTS 1000
/* And stats socket clients answered. */
#define STEP_PINGS 10
#define STEP_MS 10000

struct site {
	struct hr_daemon *d;
	char bin[128], conf[128], pidfile[128], oldbin[140];
	pid_t master; /* the master that serves */
	int port;
};

static void site_init(struct site *s, struct hr_daemon *d)
{
	memset(s, 0, sizeof(*s));
	s->d = d;
	snprintf(s->bin, sizeof(s->bin), "%s/sbin/reuseportd", d->dir);
	snprintf(s->conf, sizeof(s->conf), "%s/rp.conf", d->dir);
	snprintf(s->pidfile, sizeof(s->pidfile), "%s/rp.pid", d->dir);
	snprintf(s->oldbin, sizeof(s->oldbin), "%s.oldbin", s->pidfile);
}

static void write_conf(struct site *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* The file the daemon reads: listen, workers, HTTP; then fmt. */
static void write_conf(struct site *s, const char *fmt, ...)
{
	char tmp[160];
	va_list ap;
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s.tmp", s->conf);
	f = fopen(tmp, "w");
	hr_check(f != NULL, "%s: %s", tmp, strerror(errno));
	fprintf(f, "protocol http\nreturn 200 upgraded\nshutdown_timeout 3s\n");
	va_start(ap, fmt);
	vfprintf(f, fmt, ap);
	va_end(ap);
	fclose(f);
	hr_check(rename(tmp, s->conf) == 0, "rename: %s", strerror(errno));
}

/* Installs build n at s->bin as an administrator would: a new file
 * renamed over the old one. The build with "build n" after its end.
 * Returns the file's inode. */
static ino_t install_build(struct site *s, int n)
{
	char tmp[160], dir[128], buf[1 << 16];
	int in = open(REUSEPORTD_BIN, O_RDONLY | O_CLOEXEC), out;
	struct stat st;
	ssize_t r;

	snprintf(dir, sizeof(dir), "%s/sbin", s->d->dir);
	mkdir(dir, 0755);
	snprintf(tmp, sizeof(tmp), "%s.new", s->bin);
	out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0755);
	hr_check(in >= 0 && out >= 0, "copy %s to %s: %s", REUSEPORTD_BIN, tmp,
		 strerror(errno));
	while ((r = read(in, buf, sizeof(buf))) > 0)
		hr_check(write(out, buf, (size_t)r) == r, "write: %s",
			 strerror(errno));
	r = snprintf(buf, sizeof(buf), "\nreuseportd test build %d\n", n);
	hr_check(write(out, buf, (size_t)r) == r, "write: %s", strerror(errno));
	close(in);
	hr_check(fsync(out) == 0 && close(out) == 0, "close %s", tmp);
	hr_check(rename(tmp, s->bin) == 0 && stat(s->bin, &st) == 0,
		 "rename %s: %s", tmp, strerror(errno));
	return st.st_ino;
}

static void start(struct site *s)
{
	const char *args[] = { "-f",       "-c", s->conf,    "-s",
			       s->d->sock, "-p", s->pidfile, NULL };
	json_t *st;

	hr_check(hr_spawn_bin(s->d, s->bin, args) == 0, "spawn %s", s->bin);
	hr_check(hr_wait_for(s->d, hr_all_running, NULL, HR_START_MS), "start-up");
	st = hr_query_ok(s->d, "stats");
	s->port = (int)hr_jint(st, "listen/0/port");
	json_decref(st);
	s->master = s->d->pid;
}

static long ping_pid(struct site *s)
{
	json_t *p = hr_query(s->d, "ping");
	long pid = p ? (long)hr_jint(p, "pid") : -1;

	json_decref(p);
	return pid;
}

/* Polls `ping` until it names pid (want) or another pid than it. */
static long wait_ping(struct site *s, long pid, int want)
{
	int64_t end = hr_now_ms() + STEP_MS;
	long seen;

	while (((seen = ping_pid(s)) == pid) != want || seen <= 0) {
		if (hr_now_ms() >= end) {
			hr_log_dump(s->d, "ping");
			hr_check(0, "ping: expected %s pid %ld, seen %ld",
				 want ? "" : "another than", pid, seen);
		}
		poll(NULL, 0, 10);
	}
	return seen;
}

/* hr_wait_pid, failing the test at the deadline (but for the first
 * master, as hr_wait_exit). */
static int wait_gone(struct site *s, pid_t pid)
{
	int st = hr_wait_pid(s->d, pid, HR_STOP_MS);

	hr_check(st >= 0 || pid == s->d->pid,
		 "pid %ld: expected gone within %d ms", (long)pid, HR_STOP_MS);
	return st;
}

/* Where the pidfile and PATH.oldbin stand: pid (0: absent). */
static void check_pidfiles(struct site *s, long pid, long old)
{
	char text[32] = "";
	FILE *f;

	for (int k = 0; k < 2; k++) {
		const char *path = k ? s->oldbin : s->pidfile;
		long want = k ? old : pid, seen = 0;

		if ((f = fopen(path, "re"))) {
			if (fgets(text, sizeof(text), f))
				seen = strtol(text, NULL, 10);
			fclose(f);
		}
		hr_check(seen == want, "%s: expected pid %ld, seen %ld", path,
			 want, seen);
	}
}

/* The new master runs the file installed now (its inode). */
static void check_exe(long pid, ino_t ino)
{
	char path[64];
	struct stat st;

	snprintf(path, sizeof(path), "/proc/%ld/exe", pid);
	hr_check(stat(path, &st) == 0 && st.st_ino == ino,
		 "pid %ld runs inode %lu, expected the build installed last (%lu)",
		 pid, (unsigned long)st.st_ino, (unsigned long)ino);
}

/* Runs cmd (a shell line) to completion: its exit status; its output
 * in out. */
static int run(char *out, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int run(char *out, size_t len, const char *fmt, ...)
{
	char cmd[1024];
	size_t n = 0, r;
	va_list ap;
	FILE *p;
	int st;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	p = popen(cmd, "r");
	hr_check(p != NULL, "%s", cmd);
	while (n < len - 1 && (r = fread(out + n, 1, len - 1 - n, p)) > 0)
		n += r;
	out[n] = '\0';
	st = pclose(p);
	hr_note("%s: exit %d: %s", cmd, WIFEXITED(st) ? WEXITSTATUS(st) : -1, out);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* --- load --- */

struct load {
	pid_t pid;
	int out; /* its standard output: the JSON report */
};

/* reuseportbench's HTTP load in mode, running until load_clean. */
static void load_start(struct load *l, struct site *s, const char *mode)
{
	char cmd[512];
	int p[2];

	snprintf(cmd, sizeof(cmd),
		 "exec " RB_BIN
		 " http -q -j --allow-failures --timeout 8 %s -d %d 127.0.0.1:%d",
		 mode, LOAD_MAX_S, s->port);
	hr_check(pipe2(p, O_CLOEXEC) == 0, "pipe: %s", strerror(errno));
	fflush(NULL);
	l->pid = fork();
	hr_check(l->pid >= 0, "fork: %s", strerror(errno));
	if (l->pid == 0) {
		if (dup2(p[1], 1) == 1)
			execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	l->out = p[0];
}

/* The daemon's requests served go up by LOAD_STEP_REQUESTS (counted by
 * the master that serves): the load flows, through whatever the last
 * step changed. */
static void load_flows(struct site *s)
{
	int64_t end = hr_now_ms() + STEP_MS;
	json_int_t from = -1, seen;
	json_t *doc;

	for (;;) {
		doc = hr_query_ok(s->d, "stats");
		seen = hr_jint(doc, "totals/requests");
		json_decref(doc);
		if (from < 0 || seen < from)
			from = seen;
		if (seen >= from + LOAD_STEP_REQUESTS)
			return;
		hr_check(hr_now_ms() < end,
			 "expected %d more requests served, seen %lld",
			 LOAD_STEP_REQUESTS, (long long)(seen - from));
		poll(NULL, 0, 10);
	}
}

/* Stops the load: its report, and none of its requests failed or was
 * retried. */
static void load_clean(struct load *l, const char *what, json_int_t min_requests)
{
	static char text[1 << 16];
	ssize_t n;
	json_t *j;
	int st;

	hr_check_int("kill -INT the load", 0, kill(l->pid, SIGINT));
	n = hr_read_until_eof(l->out, text, sizeof(text) - 1, STEP_MS);
	close(l->out);
	text[n > 0 ? n : 0] = '\0';
	waitpid(l->pid, &st, 0);
	j = json_loads(text, 0, NULL);
	hr_check(j != NULL, "%s: reuseportbench JSON: %.300s", what, text);
	hr_note("%s: %lld requests (%lld answered 200), %lld errors (%lld resets), %lld retried, %lld connect failures, %lld idle closes",
		what, (long long)hr_jint(j, "load/requests"),
		(long long)hr_jint(j, "status/200"),
		(long long)hr_jint(j, "load/errors/total"),
		(long long)hr_jint(j, "load/errors/resets"),
		(long long)hr_jint(j, "load/retried"),
		(long long)hr_jint(j, "connect/failed"),
		(long long)hr_jint(j, "load/idle_closes"));
	hr_check(hr_jint(j, "load/requests") >= min_requests,
		 "%s: expected load throughout, seen %s", what, hr_jdump(j));
	hr_check_int("failed requests", 0, hr_jint(j, "load/errors/total"));
	hr_check_int("refused or failed connects", 0,
		     hr_jint(j, "connect/failed"));
	hr_check_int("requests retried after a close", 0,
		     hr_jint(j, "load/retried"));
	hr_check_int("answers other than 200", hr_jint(j, "load/requests"),
		     hr_jint(j, "status/200"));
	json_decref(j);
}

/* A client asking `ping` all along: every question answered. */
struct poller {
	struct site *s;
	volatile int stop;
	int asked, failed;
	pthread_t th;
};

static void *poller_run(void *arg)
{
	struct poller *p = arg;
	char buf[512];

	while (!p->stop) {
		ssize_t n = hr_ctl_raw(p->s->d->sock, "ping\n", 5, 0, buf,
				       sizeof(buf), 3000);

		__atomic_add_fetch(&p->asked, 1, __ATOMIC_RELAXED);
		if (n <= 0 || !strstr(buf, "\"pong\":true"))
			p->failed++;
		poll(NULL, 0, 5);
	}
	return NULL;
}

/* --- under load --- */

/* Between two steps: the load flows again and the poller has asked a few
 * more times (so it asks during every step, too). */
static void step_done(struct site *s, struct poller *pl)
{
	int64_t end = hr_now_ms() + STEP_MS;
	int from = __atomic_load_n(&pl->asked, __ATOMIC_RELAXED);

	load_flows(s);
	while (__atomic_load_n(&pl->asked, __ATOMIC_RELAXED) < from + STEP_PINGS) {
		hr_check(hr_now_ms() < end, "expected %d more pings asked",
			 STEP_PINGS);
		poll(NULL, 0, 5);
	}
}

/* One upgrade to build n: how 0 = `upgrade` on the stats socket, 1 =
 * reuseportctl upgrade (which also finishes it), 2 = SIGUSR2. Returns the
 * new master's pid, after checking that it runs build n and holds the
 * pidfile, and that `ping` names it. */
static long upgrade_to(struct site *s, int n, int how)
{
	ino_t ino = install_build(s, n);
	char out[1024], want[128];
	long pid = 0, old = s->master;
	json_t *doc;

	switch (how) {
	case 0:
		doc = hr_query_ok(s->d, "upgrade");
		hr_check(!strcmp(hr_jstr(doc, "upgrade"), "done") &&
				 hr_jint(doc, "old_pid") == old,
			 "upgrade: %s", hr_jdump(doc));
		pid = (long)hr_jint(doc, "pid");
		json_decref(doc);
		break;
	case 1:
		hr_check_int("reuseportctl upgrade", 0,
			     run(out, sizeof(out), RC_BIN " -s %s upgrade 2>&1",
				 s->d->sock));
		hr_check(sscanf(out, "upgraded: new master pid %ld", &pid) == 1,
			 "said: %s", out);
		snprintf(want, sizeof(want),
			 "the old master (pid %ld) has drained and exited", old);
		hr_check(strstr(out, want) != NULL, "said: %s", out);
		break;
	default:
		hr_check_int("kill -USR2", 0, kill((pid_t)old, SIGUSR2));
		pid = wait_ping(s, old, 0);
		break;
	}
	/* Answered: the new master answers from now on. */
	hr_check_int("ping after the upgrade", pid, ping_pid(s));
	check_exe(pid, ino);
	check_pidfiles(s, pid, how == 1 ? 0 : old);
	return pid;
}

/* The old master told to finish: it drains and exits 0, the new one
 * serves on alone, and the stats socket is still there. */
static void finish(struct site *s, long old, long pid, int sig)
{
	if (sig)
		hr_check_int("kill the old master", 0, kill((pid_t)old, sig));
	hr_check_int("the old master's exit status", 0, wait_gone(s, (pid_t)old));
	hr_check_int("ping after the old master left", pid, ping_pid(s));
	check_pidfiles(s, pid, 0);
	s->master = (pid_t)pid;
}

static void test_upgrade_under_load(void **state)
{
	struct site s;
	struct poller pl = { 0 };
	struct load ka, cl;
	long pid;

	site_init(&s, *state);
	install_build(&s, 0);
	write_conf(&s, "listen 127.0.0.1:0\nworkers 2\n");
	start(&s);
	pl.s = &s;
	hr_check(pthread_create(&pl.th, NULL, poller_run, &pl) == 0, "thread");
	load_start(&ka, &s, "-c 8");
	load_start(&cl, &s, "--close -c 4");
	step_done(&s, &pl);

	/* 1: `upgrade` on the stats socket; the old master told SIGQUIT. */
	pid = upgrade_to(&s, 1, 0);
	finish(&s, s.master, pid, SIGQUIT);
	step_done(&s, &pl);
	/* 2: reuseportctl upgrade, which stops the old master itself. Its
	 * workers may grow: more slots join the same group. */
	write_conf(&s, "listen 127.0.0.1:0\nworkers 3\n");
	pid = upgrade_to(&s, 2, 1);
	finish(&s, s.master, pid, 0);
	step_done(&s, &pl);
	/* 3: SIGUSR2; the old master told SIGTERM. Fewer workers again. */
	write_conf(&s, "listen 127.0.0.1:0\nworkers 2\n");
	pid = upgrade_to(&s, 3, 2);
	finish(&s, s.master, pid, SIGTERM);
	step_done(&s, &pl);
	/* 4: and back: SIGHUP to the old master, SIGQUIT to the new one. */
	write_conf(&s, "listen 127.0.0.1:0\nworkers 3\n");
	pid = upgrade_to(&s, 4, 2);
	step_done(&s, &pl);
	hr_check_int("kill -HUP the old master", 0, kill(s.master, SIGHUP));
	hr_check_int("ping after the rollback", s.master,
		     wait_ping(&s, s.master, 1));
	check_pidfiles(&s, s.master, 0);
	hr_check_int("kill -QUIT the new master", 0, kill((pid_t)pid, SIGQUIT));
	wait_gone(&s, (pid_t)pid);
	hr_check_int("ping after the new master left", s.master, ping_pid(&s));
	check_pidfiles(&s, s.master, 0);

	step_done(&s, &pl);
	load_clean(&ka, "kept-alive", 1000);
	load_clean(&cl, "connection per request", 500);
	pl.stop = 1;
	pthread_join(pl.th, NULL);
	hr_note("stats socket: %d pings, %d without an answer", pl.asked,
		pl.failed);
	hr_check(pl.asked >= 6 * STEP_PINGS,
		 "expected pings throughout, seen %d", pl.asked);
	hr_check_int("pings without an answer", 0, pl.failed);
	hr_check(hr_log_contains(s.d, "upgrade done: the new master"),
		 "the log says so");

	hr_check_int("kill -TERM", 0, kill(s.master, SIGTERM));
	hr_check_int("exit status", 0, wait_gone(&s, s.master));
	hr_check(access(s.d->sock, F_OK) < 0 && access(s.pidfile, F_OK) < 0,
		 "the last master removed the stats socket and the pidfile");
}

/* --- failures --- */

/* The LISTEN sockets on the site's port. */
static int listeners(struct site *s)
{
	unsigned long inodes[64];

	return hr_proc_listeners(AF_INET, s->port, inodes, 64);
}

/* An upgrade that fails: the old master serves on, unchanged, and the
 * failed new master leaves nothing behind. err: what the answer says. */
static void upgrade_fails(struct site *s, const char *err, int by_ctl)
{
	char out[2048], want[128];
	json_t *doc;

	if (by_ctl) {
		/* The operator's command: exit 1 and the reason. */
		hr_check_int("reuseportctl upgrade", 1,
			     run(out, sizeof(out), RC_BIN " -s %s upgrade 2>&1",
				 s->d->sock));
	} else {
		doc = hr_query_ok(s->d, "upgrade");
		snprintf(out, sizeof(out), "%s", hr_jstr(doc, "error"));
		json_decref(doc);
	}
	snprintf(want, sizeof(want), "still serving as pid %ld", (long)s->master);
	hr_check(strstr(out, err) && strstr(out, want),
		 "expected '%s' and '%s', seen: %s", err, want, out);
	hr_check_int("ping after a failed upgrade", s->master, ping_pid(s));
	check_pidfiles(s, s->master, 0);
	/* The failed master is gone once the old one says so; its sockets
	 * with it. */
	for (int64_t end = hr_now_ms() + STEP_MS;
	     !hr_log_contains(s->d, "the new master of the last attempt");)
		hr_check(hr_now_ms() < end, "the failed new master's exit");
	hr_check_int("LISTEN sockets on the port", 2, listeners(s));
	hr_check(truncate(s->d->log, 0) == 0, "truncate the log");
}

static void test_upgrade_failures(void **state)
{
	struct site s;
	struct load cl;
	long pid;

	site_init(&s, *state);
	install_build(&s, 0);
	write_conf(&s, "listen 127.0.0.1:0\nworkers 2\n");
	start(&s);
	load_start(&cl, &s, "--close -c 2");

	/* No binary at the path any more. */
	hr_check(unlink(s.bin) == 0, "unlink %s", s.bin);
	{
		char want[256];

		snprintf(want, sizeof(want),
			 "cannot execute %s: No such file or directory", s.bin);
		upgrade_fails(&s, want, 1);
	}
	install_build(&s, 1);
	/* A configuration the new binary refuses. */
	write_conf(&s, "listen 127.0.0.1:0\nworkers two\n");
	upgrade_fails(&s, "rp.conf:5: workers", 0);
	/* Workers that cannot start, and more of them than the old master
	 * has: the sockets opened for them go again without a connection
	 * lost (the load runs on). */
	write_conf(&s, "listen 127.0.0.1:0\nworkers 4\ndocroot %s/gone\n",
		   s.d->dir);
	upgrade_fails(&s, "could not start (start-up: docroot", 1);
	/* Other listen addresses. */
	write_conf(&s, "listen 127.0.0.2:%d\nworkers 2\n", s.port);
	upgrade_fails(&s, "the old master listens on 127.0.0.1:", 0);
	/* SIGUSR2 too says why, in the log. */
	write_conf(&s, "listen 127.0.0.1:0\nworkers 2\nbogus_directive 1\n");
	hr_check_int("kill -USR2", 0, kill(s.master, SIGUSR2));
	for (int64_t end = hr_now_ms() + STEP_MS;
	     !hr_log_contains(s.d, "upgrade failed: ");)
		hr_check(hr_now_ms() < end, "expected the failure logged");
	hr_check(hr_log_contains(s.d,
				 "rp.conf:6: unknown directive 'bogus_directive'"),
		 "the log names the file and line");
	hr_check_int("ping after SIGUSR2 failed", s.master, ping_pid(&s));
	load_clean(&cl, "connection per request", 100);

	/* Then one that works. */
	write_conf(&s, "listen 127.0.0.1:0\nworkers 2\n");
	for (int64_t end = hr_now_ms() + STEP_MS;
	     !hr_log_contains(s.d, "the new master of the last attempt");)
		hr_check(hr_now_ms() < end, "the failed new master's exit");
	pid = upgrade_to(&s, 2, 0);
	finish(&s, s.master, pid, SIGQUIT);
	hr_check_int("exit status", 0,
		     (kill(s.master, SIGTERM), wait_gone(&s, s.master)));
}

/* --- rollback by stopping the new master; systemd; idle clients --- */

/* A datagram socket standing for systemd's notify socket. */
static int notify_socket(struct site *s, char *path, size_t len)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	snprintf(path, len, "%s/notify.sock", s->d->dir);
	memcpy(sa.sun_path, path, strlen(path) + 1);
	hr_check(fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0,
		 "notify socket: %s", strerror(errno));
	return fd;
}

/* Reads notifications until one contains want (within timeout_ms):
 * 1, or 0. Every one read before it is in seen (appended). */
static int notified(int fd, const char *want, int timeout_ms, char *seen,
		    size_t len)
{
	int64_t end = hr_now_ms() + timeout_ms;
	char buf[4097];

	for (;;) {
		struct pollfd p = { fd, POLLIN, 0 };
		int64_t left = end - hr_now_ms();
		ssize_t n;

		if (left <= 0 || poll(&p, 1, (int)left) != 1)
			return 0;
		n = recv(fd, buf, sizeof(buf) - 1, 0);
		if (n < 0)
			return 0;
		buf[n] = '\0';
		snprintf(seen + strlen(seen), len - strlen(seen), "[%s]", buf);
		if (strstr(buf, want))
			return 1;
	}
}

/* One request on a kept-alive connection: 1 if answered 200 and kept
 * open, 2 if answered 200 with Connection: close (and then closed). */
static int kept_alive_get(int fd)
{
	static const char req[] = "GET / HTTP/1.1\r\nHost: t\r\n\r\n";
	char buf[2048];
	ssize_t n;

	hr_check(hr_write_all(fd, req, sizeof(req) - 1, 5000) ==
			 (ssize_t)sizeof(req) - 1,
		 "send a request");
	n = hr_read_exact(fd, buf, 1, 5000);
	hr_check(n == 1, "an answer");
	{
		struct pollfd p = { fd, POLLIN, 0 };
		ssize_t m;

		/* The rest of one small answer. */
		poll(&p, 1, 1000);
		m = recv(fd, buf + 1, sizeof(buf) - 2, MSG_DONTWAIT);
		buf[1 + (m > 0 ? m : 0)] = '\0';
	}
	hr_check(!strncmp(buf, "HTTP/1.1 200", 12), "answered: %s", buf);
	if (strstr(buf, "Connection: close")) {
		hr_check(hr_wait_closed(fd, 5000), "closed after its last answer");
		return 2;
	}
	return 1;
}

/* A free TCP port on 127.0.0.1 (for the metrics endpoint). */
static int free_port(void)
{
	struct sockaddr_in sin = { .sin_family = AF_INET,
				   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), port;

	hr_check(fd >= 0 && bind(fd, (struct sockaddr *)&sin, len) == 0 &&
			 getsockname(fd, (struct sockaddr *)&sin, &len) == 0,
		 "a free port: %s", strerror(errno));
	port = ntohs(sin.sin_port);
	close(fd);
	return port;
}

/* GET /metrics answered, with the daemon's metrics. */
static void metrics_ok(int port)
{
	static const char req[] = "GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n";
	static char buf[1 << 20];
	int fd = hr_connect_tcp(port);
	ssize_t n;

	hr_check(hr_write_all(fd, req, sizeof(req) - 1, 5000) ==
			 (ssize_t)sizeof(req) - 1,
		 "send GET /metrics");
	n = hr_read_until_eof(fd, buf, sizeof(buf) - 1, 5000);
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
	hr_check(!strncmp(buf, "HTTP/1.1 200", 12) &&
			 strstr(buf, "reuseportd_build_info"),
		 "GET /metrics: %.200s", buf);
}

static void test_rollback_notify_idle(void **state)
{
	struct site s;
	char npath[128], seen[8192] = "", want[64];
	int nfd, idle, spawned, mport;
	json_t *doc;
	long pid;

	site_init(&s, *state);
	install_build(&s, 0);
	mport = free_port();
	write_conf(&s,
		   "listen 127.0.0.1:0\nworkers 2\nmetrics_listen 127.0.0.1:%d\n",
		   mport);
	nfd = notify_socket(&s, npath, sizeof(npath));
	setenv("NOTIFY_SOCKET", npath, 1);
	start(&s);
	spawned = s.master > 0;
	unsetenv("NOTIFY_SOCKET");
	hr_check(spawned && notified(nfd, "READY=1", HR_START_MS, seen,
				     sizeof(seen)),
		 "READY=1 at start: %s", seen);
	/* A kept-alive client of the old master's workers, idle between
	 * requests. */
	idle = hr_connect_tcp(s.port);
	hr_check_int("a kept-alive GET", 1, kept_alive_get(idle));

	/* Upgrade; then stop the new master: the old one takes back. */
	pid = upgrade_to(&s, 1, 0);
	snprintf(want, sizeof(want), "MAINPID=%ld", pid);
	hr_check(notified(nfd, want, 5000, seen, sizeof(seen)),
		 "expected %s, seen %s", want, seen);
	hr_check(notified(nfd, "READY=1", 5000, seen, sizeof(seen)),
		 "READY=1 from the new master: %s", seen);
	/* The metrics endpoint came along; no second upgrade while the old
	 * master runs. */
	metrics_ok(mport);
	doc = hr_query_ok(s.d, "upgrade");
	snprintf(want, sizeof(want), "the old master (pid %ld) still runs",
		 (long)s.master);
	hr_check(strstr(hr_jstr(doc, "error"), want) != NULL, "upgrade: %s",
		 hr_jdump(doc));
	json_decref(doc);
	hr_check_int("kill -QUIT the new master", 0, kill((pid_t)pid, SIGQUIT));
	snprintf(want, sizeof(want), "MAINPID=%ld", (long)s.master);
	hr_check(notified(nfd, want, 5000, seen, sizeof(seen)),
		 "expected %s at the rollback, seen %s", want, seen);
	hr_check_int("ping after the new master stopped", s.master,
		     wait_ping(&s, s.master, 1));
	wait_gone(&s, (pid_t)pid);
	check_pidfiles(&s, s.master, 0);
	hr_check(strstr(seen, "STOPPING=1") == NULL,
		 "nobody said STOPPING=1 for the service: %s", seen);
	hr_check_int("the idle client, after the rollback", 1,
		     kept_alive_get(idle));
	metrics_ok(mport);

	/* Upgrade again, and this time finish: the old master's idle
	 * client is not cut, its next request answered as the last. */
	pid = upgrade_to(&s, 2, 0);
	hr_check_int("kill -QUIT the old master", 0, kill(s.master, SIGQUIT));
	for (int64_t end = hr_now_ms() + STEP_MS;
	     !hr_log_contains(s.d, "signal 3 (Quit): graceful shutdown");)
		hr_check(hr_now_ms() < end, "the old master drains");
	hr_check(!hr_wait_closed(idle, 500),
		 "an idle kept-alive connection of the draining old master was closed under its client");
	hr_check_int("its next request: answered, Connection: close", 2,
		     kept_alive_get(idle));
	close(idle);
	finish(&s, s.master, pid, 0);
	metrics_ok(mport);
	hr_check(!notified(nfd, "STOPPING=1", 300, seen, sizeof(seen)),
		 "the old master said STOPPING=1 for the service: %s", seen);

	hr_check_int("kill -TERM", 0, kill(s.master, SIGTERM));
	hr_check(notified(nfd, "STOPPING=1", 5000, seen, sizeof(seen)),
		 "STOPPING=1 from the last master: %s", seen);
	hr_check_int("exit status", 0, wait_gone(&s, s.master));
	close(nfd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_upgrade_under_load,
						hr_setup, hr_teardown),
		cmocka_unit_test_setup_teardown(test_upgrade_failures, hr_setup,
						hr_teardown),
		cmocka_unit_test_setup_teardown(test_rollback_notify_idle,
						hr_setup, hr_teardown),
	};

	return cmocka_run_group_tests_name("upgrade", tests, NULL, NULL);
}
