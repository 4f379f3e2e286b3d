/* test_ops_daemon.c - the daemon as an administrator meets it: -t on good
 * and broken configs (and that it never binds), detaching with a pidfile
 * and an honest exit status, a second instance refused, a stale pidfile
 * taken over, the log file reopened on SIGUSR1, reloads that read the
 * file again under the command line, systemd notifications, and (as
 * root) workers that run as another user. */
#include "autoconfig.h"

#include <arpa/inet.h>
#include <errno.h>
#include <grp.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "harness.h"
#include "ops_harness.h"

#ifndef SHIPPED_CONF
#error "build with -DSHIPPED_CONF=\"/path/to/the/build/tree/etc/reuseportd.conf\""
#endif

#define RUN_MS 10000
/* Failed starts made in a row by test_daemon_start_failure (each some
 * 10-50 ms): a race between the cleanup and the parent's exit shows. */
#define START_FAILURE_RUNS 20
#define SETPRIV "/usr/bin/setpriv"
#define OUT 8192

static char out[OUT], err[OUT];

/* Runs reuseportd with args (NULL-terminated) in d's directory. */
static int run_daemon(struct hr_daemon *d, int flags, const char *const *args)
{
	const char *argv[32] = { REUSEPORTD_BIN };
	size_t n = 1;

	while (*args && n < 31)
		argv[n++] = *args++;
	argv[n] = NULL;
	return oh_run(argv, NULL, d->dir, flags, RUN_MS, out, sizeof(out), err,
		      sizeof(err));
}

static void path_in(const struct hr_daemon *d, char *buf, size_t len,
		    const char *name)
{
	snprintf(buf, len, "%s/%s", d->dir, name);
}

/* A config file for d: loopback, port 0, two workers, d's stats socket,
 * then extra. */
static void write_conf(struct hr_daemon *d, const char *path, const char *extra)
{
	oh_write(path,
		 "# written by test_ops_daemon\n"
		 "listen 127.0.0.1:0\n"
		 "workers 2\n"
		 "stats_socket %s\n"
		 "shutdown_timeout 2s\n"
		 "%s",
		 d->sock, extra ? extra : "");
}

/* --- -t --- */

static void test_config_test(void **state)
{
	struct hr_daemon *d = *state;
	static const struct {
		const char *text;
		const char *message; /* after "PATH:" */
	} broken[] = {
		{ "workers 2\nworker 3\n",
		  "2: unknown directive 'worker' (did you mean 'workers'?)" },
		{ "\n\nlisten\n", "3: 'listen' needs a value" },
		{ "protocol http\nprotocol echo\n",
		  "2: duplicate 'protocol' (first set on line 1)" },
		{ "keepalive_timeout 5 minutes\n",
		  "1: 'keepalive_timeout' takes 1 value, 2 given" },
		{ "# x\nheader_timeout soon\n",
		  "2: header_timeout: 'soon' is not a duration 1ms..24h (like 500ms, 10s, 2m)" },
		{ "docroot \"/srv\n", "1: unterminated double quote" },
		{ "workers 2\nlisten 127.0.0.1:8080\nlisten *:8081\n"
		  "listen 127.0.0.1:8080\n",
		  "4: duplicate listen address 127.0.0.1:8080 (first at line 2)" },
		{ "listen 8080\n\nlisten 0.0.0.0:8080\n",
		  "3: duplicate listen address 0.0.0.0:8080 (first at line 1)" },
		{ "listen nonexistent.invalid:80\n",
		  "1: listen: 'nonexistent.invalid:80': cannot resolve 'nonexistent.invalid': " },
	};
	char conf[128], root[128], want[256];

	path_in(d, conf, sizeof(conf), "rp.conf");
	for (size_t i = 0; i < sizeof(broken) / sizeof(broken[0]); i++) {
		const char *args[] = { "-t", "-c", conf, NULL };
		int st;

		oh_write(conf, "%s", broken[i].text);
		st = run_daemon(d, 0, args);
		snprintf(want, sizeof(want), "%s:%s", conf, broken[i].message);
		hr_check(st == 1,
			 "-t on '%s': expected exit status 1, seen %d; stderr: %s",
			 broken[i].text, st, err);
		hr_check(strstr(err, want) != NULL,
			 "-t on '%s': expected \"%s\" on stderr, seen: %s",
			 broken[i].text, want, err);
		hr_check(strstr(out, "is ok") == NULL,
			 "-t on a broken config said ok: %s", out);
	}

	/* Good: the shipped file, and one that uses the checked resources. */
	const char *shipped[] = { "-t", "-c", SHIPPED_CONF, NULL };

	hr_check_int("-t on etc/reuseportd.conf", 0, run_daemon(d, 0, shipped));
	hr_check(strstr(out, "reuseportd: configuration " SHIPPED_CONF " is ok"),
		 "-t: expected the ok line, seen: %s", out);

	/* The workers (nobody) must reach it: the test's directory is 0700. */
	hr_check(chmod(d->dir, 0711) == 0, "chmod %s", d->dir);
	path_in(d, root, sizeof(root), "www");
	hr_check(mkdir(root, 0755) == 0, "mkdir %s", root);
	snprintf(want, sizeof(want),
		 "protocol http\ndocroot %s\nuser nobody\nstats_socket_group %s\n",
		 root, getgrnam("nogroup") ? "nogroup" : "root");
	write_conf(d, conf, want);
	const char *good[] = { "-t", "-c", conf, NULL };

	hr_check_int("-t on a good config", 0, run_daemon(d, 0, good));

	/* What exists is checked: the docroot, the user. */
	const char *no_root[] = {
		"-t", "-c", conf, "--docroot", "/nonexistent-docroot", NULL
	};

	hr_check_int("-t with a missing docroot", 1, run_daemon(d, 0, no_root));
	hr_check(strstr(err,
			"docroot /nonexistent-docroot: No such file or directory"),
		 "missing docroot: %s", err);
	const char *no_user[] = { "-t", "-c", conf, "-u", "no-such-user-x", NULL };

	hr_check_int("-t with a missing user", 1, run_daemon(d, 0, no_user));
	hr_check(strstr(err, "user 'no-such-user-x' does not exist"),
		 "missing user: %s", err);

	/* A bad option is a usage error even with a good file. */
	const char *bad_opt[] = { "-t", "-c", conf, "-w", "many", NULL };

	hr_check_int("-t with a bad option", 2, run_daemon(d, 0, bad_opt));

	/* -v: the limits, and a load they cannot carry. */
	const char *verbose[] = { "-t", "-v", "-c", conf, NULL };

	hr_check_int("-t -v", 0, run_daemon(d, 0, verbose));
	hr_check(strstr(out, "open files (RLIMIT_NOFILE)") &&
			 strstr(out, "fs.nr_open") &&
			 strstr(out, "net.core.somaxconn") &&
			 strstr(out, "net.ipv4.tcp_migrate_req") &&
			 strstr(out, "limits for 2 workers x "),
		 "-t -v: expected the limits report, seen: %s", out);
	const char *heavy[] = { "-t", "-v", "-c", conf, NULL };

	write_conf(d, conf, "max_connections 10000000\n");
	hr_check_int("-t -v, too many connections", 0, run_daemon(d, 0, heavy));
	hr_check(strstr(out, "warning: max_connections 10000000 does not fit"),
		 "-t -v: expected the max_connections warning, seen: %s", out);
	rmdir(root);
}

/* -t must never bind: a listener on the service port, even briefly,
 * joins the running daemon's SO_REUSEPORT group. Under a seccomp filter
 * that kills on bind/listen it must still succeed, while a real start
 * under the same filter dies - which proves the filter works. */
static void test_config_test_never_binds(void **state)
{
	struct hr_daemon *d = *state;
	char conf[128], pid[128], log[128], extra[512];
	struct stat sb;

	path_in(d, conf, sizeof(conf), "rp.conf");
	path_in(d, pid, sizeof(pid), "rp.pid");
	path_in(d, log, sizeof(log), "rp.log");
	snprintf(extra, sizeof(extra), "pidfile %s\nlog %s\n", pid, log);
	write_conf(d, conf, extra);

	const char *test[] = { "-t", "-v", "-c", conf, NULL };
	int st = run_daemon(d, OH_NO_BIND, test);

	if (st == 125) {
		print_message("# no seccomp here (%s); skipped\n", err);
		skip();
	}
	hr_check(st == 0,
		 "-t under a no-bind filter: expected 0, seen %d; stderr: %s",
		 st, err);
	hr_check(stat(d->sock, &sb) < 0 && stat(pid, &sb) < 0 &&
			 stat(log, &sb) < 0,
		 "-t: expected no stats socket, pidfile or log file created");

	const char *start[] = { "-f", "-c", conf, NULL };

	st = run_daemon(d, OH_NO_BIND, start);
	hr_check_int("a real start under the no-bind filter (128+SIGSYS)",
		     128 + SIGSYS, st);
}

/* --- detaching --- */

static void stop_detached(long pid)
{
	hr_check(kill((pid_t)pid, SIGTERM) == 0, "kill %ld: %s", pid,
		 strerror(errno));
	hr_check_int("exit status of the detached master", 0,
		     oh_wait_gone((pid_t)pid, HR_STOP_MS));
}

static void test_daemon_mode(void **state)
{
	struct hr_daemon *d = *state;
	char conf[128], pidf[128], extra[256];
	const char *args[] = { "-c", NULL, NULL };
	json_t *st;
	long pid;
	int status;

	path_in(d, conf, sizeof(conf), "rp.conf");
	path_in(d, pidf, sizeof(pidf), "rp.pid");
	snprintf(extra, sizeof(extra), "pidfile %s\n", pidf);
	write_conf(d, conf, extra);
	args[1] = conf;

	status = run_daemon(d, 0, args);
	hr_check(status == 0,
		 "detached start: expected exit status 0, seen %d; stderr: %s",
		 status, err);
	/* The parent exited only once every worker listened. */
	pid = oh_pidfile(pidf);
	hr_check(pid > 0 && oh_alive((pid_t)pid),
		 "pidfile %s: expected a live pid, seen %ld", pidf, pid);
	st = hr_query(d, "stats");
	hr_check(st && hr_all_running(st, NULL),
		 "right after the parent's exit: expected every worker running, seen %s",
		 st ? hr_jdump(st) : "(no answer)");
	hr_check_int("stats pid = pidfile pid", pid, hr_jint(st, "pid"));
	json_decref(st);

	/* Detached properly: its own session, not the leader of it. */
	{
		char path[64], *text, *p;
		long sid = -1, ppid = -1;

		snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
		text = oh_read(path);
		p = strrchr(text, ')');
		hr_check(p && sscanf(p + 2, "%*c %ld %*d %ld", &ppid, &sid) == 2,
			 "/proc/%ld/stat: %s", pid, text);
		hr_check(sid != pid && sid > 0,
			 "expected a session it does not lead, seen sid %ld",
			 sid);
		free(text);
	}

	/* A second instance with the same pidfile refuses, naming the pid. */
	char want[64];

	snprintf(want, sizeof(want), "already running as pid %ld", pid);
	status = run_daemon(d, 0, args);
	hr_check(status == 1,
		 "second start: expected exit status 1, seen %d; stderr: %s",
		 status, err);
	hr_check(strstr(err, want) != NULL,
		 "second start: expected \"%s\", seen: %s", want, err);
	hr_check_int("pidfile after the refused start", pid, oh_pidfile(pidf));
	st = hr_query(d, "ping");
	hr_check(st && hr_jint(st, "pid") == pid,
		 "the first instance still answers");
	json_decref(st);

	/* -t meanwhile is harmless. */
	const char *test[] = { "-t", "-c", conf, NULL };

	hr_check_int("-t while running", 0, run_daemon(d, 0, test));

	stop_detached(pid);
	hr_check(access(pidf, F_OK) < 0, "pidfile removed on exit");
	hr_check(access(d->sock, F_OK) < 0, "stats socket removed on exit");
}

static void test_daemon_start_failure(void **state)
{
	struct hr_daemon *d = *state;
	struct sockaddr_in sin = { .sin_family = AF_INET,
				   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof(sin);
	char conf[128], pidf[128], extra[256], addr[64];
	int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	hr_check(lfd >= 0 && bind(lfd, (struct sockaddr *)&sin, sizeof(sin)) == 0 &&
			 listen(lfd, 8) == 0 &&
			 getsockname(lfd, (struct sockaddr *)&sin, &sl) == 0,
		 "our own listener: %s", strerror(errno));
	snprintf(addr, sizeof(addr), "127.0.0.1:%u", ntohs(sin.sin_port));
	path_in(d, conf, sizeof(conf), "rp.conf");
	path_in(d, pidf, sizeof(pidf), "rp.pid");
	snprintf(extra, sizeof(extra), "pidfile %s\n", pidf);
	write_conf(d, conf, extra);

	const char *args[] = { "-c", conf, "-l", addr, NULL };
	int status;

	/* Nothing is left once the parent has exited: not the first time
	 * only. The master used to remove the pidfile after telling the
	 * parent, which then exited 1 while it was still there (left after
	 * about one start in seven), so each check is made a few times. */
	for (int i = 0; i < START_FAILURE_RUNS; i++) {
		status = run_daemon(d, 0, args);
		hr_check(status == 1,
			 "detached start on a busy port (%d): expected 1, seen %d; stderr: %s",
			 i, status, err);
		hr_check(strstr(err, addr) && strstr(err, strerror(EADDRINUSE)),
			 "expected the address and '%s' on stderr, seen: %s",
			 strerror(EADDRINUSE), err);
		hr_check(access(pidf, F_OK) < 0,
			 "no pidfile left after a failed start (%d)", i);
		hr_check(access(d->sock, F_OK) < 0,
			 "no stats socket left after a failed start (%d)", i);
	}
	close(lfd);

	/* A pidfile in a directory that does not exist fails the start. */
	const char *nodir[] = { "-c", conf, "-p", "/nonexistent-dir/rp.pid", NULL };

	status = run_daemon(d, 0, nodir);
	hr_check(status == 1,
		 "pidfile in a missing directory: expected 1, seen %d", status);
	hr_check(strstr(err,
			"pidfile /nonexistent-dir/rp.pid: No such file or directory"),
		 "expected the pidfile's problem on stderr, seen: %s", err);

	/* Workers that cannot start (the master does not open the docroot,
	 * they do): the start fails with their reason, it does not hang. */
	const char *noroot[] = {
		"-c", conf, "-P", "http", "--docroot", "/nonexistent-dir", NULL
	};

	for (int i = 0; i < START_FAILURE_RUNS; i++) {
		status = run_daemon(d, 0, noroot);
		hr_check(status == 1,
			 "workers that cannot start (%d): expected 1, seen %d; stderr: %s",
			 i, status, err);
		hr_check(strstr(err,
				"could not start (start-up: docroot /nonexistent-dir: No such file"),
			 "expected the worker's reason on stderr, seen: %s", err);
		hr_check(access(pidf, F_OK) < 0,
			 "no pidfile left after a failed start (%d)", i);
		hr_check(access(d->sock, F_OK) < 0,
			 "no stats socket left after a failed start (%d)", i);
	}
}

/* A docroot that root can read but the workers' user cannot: -t says so,
 * and a detached start fails with the reason instead of hanging (the
 * starting process waited forever for workers that kept failing). */
static void test_docroot_closed_to_workers(void **state)
{
	struct hr_daemon *d = *state;
	struct passwd *pw = getpwnam("nobody");
	char conf[128], root[128];
	int status;

	if (geteuid() != 0 || !pw) {
		print_message("# needs root and user nobody\n");
		skip();
	}
	path_in(d, conf, sizeof(conf), "rp.conf");
	path_in(d, root, sizeof(root), "closed");
	hr_check(mkdir(root, 0700) == 0, "mkdir %s: %s", root, strerror(errno));
	write_conf(d, conf, "protocol http\nuser nobody\n");

	const char *test[] = { "-t", "-c", conf, "--docroot", root, NULL };

	status = run_daemon(d, 0, test);
	hr_check(status == 1, "-t: expected 1, seen %d; stderr: %s", status, err);
	hr_check(strstr(err, "Permission denied for the workers' user nobody"),
		 "-t names the problem: %s", err);

	const char *start[] = { "-c", conf, "--docroot", root, NULL };

	status = run_daemon(d, 0, start);
	hr_check(status == 1, "detached start: expected 1, seen %d; stderr: %s",
		 status, err);
	hr_check(strstr(err, "could not start") &&
			 strstr(err, "Permission denied"),
		 "the start names the workers' problem: %s", err);
}

/* A docroot the workers' user reaches through a directory of its own
 * that root may not enter without CAP_DAC_OVERRIDE and
 * CAP_DAC_READ_SEARCH, which the systemd unit does not grant: -t checks
 * it as the workers see it, not as the master does (it never opens it). */
static void test_docroot_only_workers_reach(void **state)
{
	struct hr_daemon *d = *state;
	struct passwd *pw = getpwnam("nobody");
	char conf[128], app[128], www[160];
	const char *no_dac = "--bounding-set=-dac_override,-dac_read_search";
	int st;

	if (geteuid() != 0 || !pw || access(SETPRIV, X_OK) < 0) {
		print_message("# needs root, user nobody and %s\n", SETPRIV);
		skip();
	}
	hr_check(chmod(d->dir, 0711) == 0, "chmod %s", d->dir);
	path_in(d, conf, sizeof(conf), "rp.conf");
	path_in(d, app, sizeof(app), "app");
	snprintf(www, sizeof(www), "%s/www", app);
	hr_check(mkdir(app, 0700) == 0 && mkdir(www, 0755) == 0 &&
			 chown(www, pw->pw_uid, pw->pw_gid) == 0 &&
			 chown(app, pw->pw_uid, pw->pw_gid) == 0,
		 "%s, owned by nobody: %s", www, strerror(errno));
	write_conf(d, conf, "protocol http\nuser nobody\n");

	/* Root without those capabilities cannot reach it... */
	const char *probe[] = { SETPRIV,          no_dac, "/bin/sh", "-c",
				"test -d \"$0\"", www,    NULL };

	st = oh_run(probe, NULL, d->dir, 0, RUN_MS, out, sizeof(out), err,
		    sizeof(err));
	hr_check(st == 1,
		 "root without DAC capabilities: test -d %s: expected 1, seen %d %s",
		 www, st, err);

	/* ... the workers can, and -t says the configuration is ok. */
	const char *test[] = { SETPRIV,     no_dac, REUSEPORTD_BIN,
			       "-t",        "-c",   conf,
			       "--docroot", www,    NULL };

	st = oh_run(test, NULL, d->dir, 0, RUN_MS, out, sizeof(out), err,
		    sizeof(err));
	hr_check(st == 0 && strstr(out, "is ok"),
		 "-t without DAC capabilities: expected 0 and ok, seen %d: %s%s",
		 st, out, err);
}

static void test_stale_pidfile(void **state)
{
	struct hr_daemon *d = *state;
	char conf[128], pidf[128], extra[256];
	pid_t dead = fork();
	long pid;

	if (dead == 0)
		_exit(0);
	hr_check(oh_wait_gone(dead, 5000) == 0, "a pid that is surely gone");
	path_in(d, conf, sizeof(conf), "rp.conf");
	path_in(d, pidf, sizeof(pidf), "rp.pid");
	snprintf(extra, sizeof(extra), "pidfile %s\n", pidf);
	write_conf(d, conf, extra);
	oh_write(pidf, "%ld\n", (long)dead); /* left by a crash: not locked */

	const char *args[] = { "-c", conf, NULL };
	int status = run_daemon(d, 0, args);

	hr_check(status == 0,
		 "start over a stale pidfile: expected 0, seen %d; stderr: %s",
		 status, err);
	pid = oh_pidfile(pidf);
	hr_check(pid > 0 && pid != dead && oh_alive((pid_t)pid),
		 "pidfile: expected the new master's pid, seen %ld (stale %ld)",
		 pid, (long)dead);
	stop_detached(pid);
}

/* --- logging --- */

static void test_log_reopen(void **state)
{
	struct hr_daemon *d = *state;
	char conf[128], logf[128], old[128], extra[256], w0[64], w1[64], m[64];
	json_t *st;

	path_in(d, conf, sizeof(conf), "rp.conf");
	path_in(d, logf, sizeof(logf), "rp.log");
	path_in(d, old, sizeof(old), "rp.log.1");
	snprintf(extra, sizeof(extra), "log %s\nlog_level debug\n", logf);
	write_conf(d, conf, extra);

	const char *args[] = { "-c", conf, NULL };

	hr_start_ok(d, args);
	st = hr_query_ok(d, "stats");
	snprintf(m, sizeof(m), "master pid %ld: log reopened", (long)d->pid);
	snprintf(w0, sizeof(w0), "worker 0 pid %lld: log reopened",
		 (long long)hr_jint(st, "workers/0/pid"));
	snprintf(w1, sizeof(w1), "worker 1 pid %lld: log reopened",
		 (long long)hr_jint(st, "workers/1/pid"));
	json_decref(st);
	const char *started[] = { "started", NULL };

	hr_check(oh_wait_contains(logf, started, 5000),
		 "the log file has the start line");

	/* logrotate: rename, then SIGUSR1. */
	hr_check(rename(logf, old) == 0, "rename: %s", strerror(errno));
	hr_check(kill(d->pid, SIGUSR1) == 0, "kill -USR1");
	const char *reopened[] = { m, w0, w1, NULL };

	hr_check(oh_wait_contains(logf, reopened, 5000),
		 "expected the master and both workers to write to the new file, seen:\n%s",
		 oh_read(logf));
	hr_check_int("exit status after SIGTERM", 0, hr_stop(d, SIGTERM));

	char *now = oh_read(logf), *before = oh_read(old);

	hr_check(strstr(now, "stopped") != NULL,
		 "the stop line is in the new file: %s", now);
	hr_check(strstr(before, "started") && !strstr(before, "log reopened") &&
			 !strstr(before, "stopped"),
		 "the old file ends at the rotation: %s", before);
	free(now);
	free(before);
}

/* --- reload and systemd --- */

static int notify_sock(struct hr_daemon *d, char *path, size_t len)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	path_in(d, path, len, "notify.sock");
	hr_check(strlen(path) < sizeof(sa.sun_path), "socket path too long: %s",
		 path);
	memcpy(sa.sun_path, path, strlen(path) + 1);
	hr_check(fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0,
		 "notify socket: %s", strerror(errno));
	return fd;
}

/* The next notification, within timeout_ms ("" if none came). */
static const char *notification(int fd, int timeout_ms)
{
	static char buf[4097];
	struct pollfd p = { fd, POLLIN, 0 };
	ssize_t n;

	buf[0] = '\0';
	if (poll(&p, 1, timeout_ms) == 1 &&
	    (n = recv(fd, buf, sizeof(buf) - 1, 0)) >= 0)
		buf[n] = '\0';
	return buf;
}

static int generation_is(json_t *st, void *arg)
{
	return hr_jint(st, "generation") == *(int *)arg &&
	       hr_all_running(st, NULL);
}

static void test_reload_and_notify(void **state)
{
	struct hr_daemon *d = *state;
	char conf[128], npath[128];
	const char *msg;
	json_t *st;
	int fd = notify_sock(d, npath, sizeof(npath)), gen;

	path_in(d, conf, sizeof(conf), "rp.conf");
	write_conf(d, conf, "protocol http\n");
	setenv("NOTIFY_SOCKET", npath, 1);
	/* -P on the command line overrides the file, now and on reload. */
	const char *args[] = { "-f", "-c", conf, "-P", "echo", NULL };
	int spawned = hr_spawn(d, args);

	unsetenv("NOTIFY_SOCKET");
	hr_check(spawned == 0, "spawn");
	msg = notification(fd, HR_START_MS);
	hr_check(!strncmp(msg, "READY=1\n", 8) && strstr(msg, "STATUS=2 workers"),
		 "expected READY=1 with STATUS=2 workers..., seen '%s'", msg);
	st = hr_query_ok(d, "stats");
	hr_check(hr_all_running(st, NULL),
		 "READY=1 came before every worker ran: %s", hr_jdump(st));
	hr_check(!strcmp(hr_jstr(st, "protocol"), "echo"), "protocol: %s",
		 hr_jstr(st, "protocol"));
	json_decref(st);

	/* The file changes; SIGHUP reads it again, under the command line. */
	oh_write(conf,
		 "listen 127.0.0.1:0\nworkers 3\nstats_socket %s\nprotocol http\n"
		 "stats_socket_mode 0600\n",
		 d->sock);
	hr_check(kill(d->pid, SIGHUP) == 0, "kill -HUP");
	msg = notification(fd, 5000);
	hr_check(!strncmp(msg, "RELOADING=1\nMONOTONIC_USEC=", 27),
		 "expected RELOADING=1 with MONOTONIC_USEC, seen '%s'", msg);
	msg = notification(fd, HR_START_MS);
	hr_check(!strncmp(msg, "READY=1\n", 8) && strstr(msg, "3 workers") &&
			 strstr(msg, "generation 2"),
		 "expected READY=1 for 3 workers of generation 2, seen '%s'",
		 msg);
	gen = 2;
	hr_check(hr_wait_for(d, generation_is, &gen, HR_START_MS),
		 "generation 2 runs");
	st = hr_query_ok(d, "stats");
	hr_check_int("workers after the reload", 3,
		     hr_jint(st, "workers_configured"));
	hr_check(!strcmp(hr_jstr(st, "protocol"), "echo"),
		 "the command line's -P echo still wins: %s",
		 hr_jstr(st, "protocol"));
	json_decref(st);
	hr_check(hr_log_contains(d, "reload: 'stats_socket_mode' changes only on restart"),
		 "a [restart] setting changed: expected a warning");

	/* A broken file: the reload fails, the workers stay, READY again. */
	oh_write(conf, "workers 3\nworkers 4\n");
	hr_check(kill(d->pid, SIGHUP) == 0, "kill -HUP");
	msg = notification(fd, 5000);
	hr_check(!strncmp(msg, "RELOADING=1\n", 12),
		 "expected RELOADING=1, seen '%s'", msg);
	msg = notification(fd, 5000);
	hr_check(!strncmp(msg, "READY=1\n", 8) && strstr(msg, "reload failed"),
		 "expected READY=1 saying the reload failed, seen '%s'", msg);
	hr_check(hr_log_contains(d, "rp.conf:2: duplicate 'workers' (first set on line 1)"),
		 "the log names the file and line");
	st = hr_query_ok(d, "stats");
	hr_check_int("generation after a failed reload", 2,
		     hr_jint(st, "generation"));
	json_decref(st);

	hr_check(kill(d->pid, SIGTERM) == 0, "kill -TERM");
	msg = notification(fd, 5000);
	hr_check(!strncmp(msg, "STOPPING=1", 10),
		 "expected STOPPING=1, seen '%s'", msg);
	hr_check_int("exit status", 0, hr_wait_exit(d, HR_STOP_MS));
	d->clean = 1;
	close(fd);
}

/* --- listen addresses --- */

/* 1 if "ping" sent to ip:port comes back (an echo service). */
static int echo_at(const char *ip, int port)
{
	struct addrinfo hints = { .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV,
				  .ai_socktype = SOCK_STREAM },
			*res;
	struct timeval tv = { 5, 0 };
	char serv[16], echo[4];
	int fd, ok;

	snprintf(serv, sizeof(serv), "%d", port);
	if (getaddrinfo(ip, serv, &hints, &res) != 0)
		return 0;
	fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ok = fd >= 0 &&
	     setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) == 0 &&
	     connect(fd, res->ai_addr, res->ai_addrlen) == 0 &&
	     write(fd, "ping", 4) == 4 && recv(fd, echo, 4, MSG_WAITALL) == 4 &&
	     !memcmp(echo, "ping", 4);
	if (!ok)
		hr_note("echo at %s port %d: %s", ip, port, strerror(errno));
	if (fd >= 0)
		close(fd);
	freeaddrinfo(res);
	return ok;
}

/* The addresses getaddrinfo gives for localhost, as the daemon asks. */
static int localhost_addrs(char addrs[][64], int max)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC,
				  .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_ADDRCONFIG },
			*res, *ai;
	int n = 0;

	if (getaddrinfo("localhost", NULL, &hints, &res) != 0)
		return -1;
	for (ai = res; ai && n < max; ai = ai->ai_next) {
		char ip[64];
		int dup = 0;

		if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6)
			continue;
		getnameinfo(ai->ai_addr, ai->ai_addrlen, ip, sizeof(ip), NULL,
			    0, NI_NUMERICHOST);
		for (int i = 0; i < n; i++)
			dup |= !strcmp(addrs[i], ip);
		if (!dup)
			snprintf(addrs[n++], 64, "%s", ip);
	}
	freeaddrinfo(res);
	return n;
}

/* listen localhost:0 - resolved: a listener on each of its addresses,
 * and each one serves. */
static void test_listen_host_name(void **state)
{
	struct hr_daemon *d = *state;
	const char *args[] = { "-l", "localhost:0", NULL };
	char addrs[8][64], path[64];
	int n = localhost_addrs(addrs, 8);
	json_t *st;

	hr_check(n >= 1, "localhost resolves here");
	hr_start_ok(d, args);
	st = hr_query_ok(d, "stats");
	hr_check_int("listen addresses", n,
		     json_array_size(json_object_get(st, "listen")));
	for (int j = 0; j < n; j++) {
		const char *ip;

		snprintf(path, sizeof(path), "listen/%d/address", j);
		ip = hr_jstr(st, path);
		hr_check(!strcmp(ip, addrs[j]),
			 "listen %d: expected %s (the resolver's order), seen %s",
			 j, addrs[j], ip);
		hr_check(echo_at(ip, d->ports[j]), "echo on %s port %d", ip,
			 d->ports[j]);
	}
	json_decref(st);
	hr_check(hr_log_contains(d, "started: 2 echo workers on 127.0.0.1:"),
		 "the log names the address the name stood for");
	hr_check_int("exit status", 0, hr_stop(d, SIGTERM));
}

/* A name of several addresses, both families among them, and one of
 * too many: with a hosts file of the test's own, bind-mounted over
 * /etc/hosts in a private mount namespace (as root; for the rest of
 * this program, which is why it runs last). */
static void test_listen_host_names_hosts_file(void **state)
{
	struct hr_daemon *d = *state;
	const char *args[] = { "-l", "rp-two:0", NULL },
		   *many[] = { "-t", "-c", "none", "-l", "rp-many:80", NULL },
		   *dup[] = { "-t",        "-c", "none",         "-l",
			      "rp-two:80", "-l", "127.0.0.2:80", NULL };
	char hosts[128], text[2048], addrs[8][64], path[64];
	struct addrinfo hints = { .ai_family = AF_UNSPEC,
				  .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_ADDRCONFIG },
			*res, *ai;
	size_t off;
	int n = 0, st;
	json_t *doc;

	if (geteuid() != 0) {
		print_message("# needs root (a mount namespace)\n");
		skip();
	}
	path_in(d, hosts, sizeof(hosts), "hosts");
	off = (size_t)snprintf(text, sizeof(text),
			       "127.0.0.1 localhost\n127.0.0.2 rp-two\n"
			       "::1 rp-two\n");
	for (int i = 1; i <= 17; i++)
		off += (size_t)snprintf(text + off, sizeof(text) - off,
					"127.0.1.%d rp-many\n", i);
	oh_write(hosts, "%s", text);
	if (unshare(CLONE_NEWNS) < 0 ||
	    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
	    mount(hosts, "/etc/hosts", NULL, MS_BIND, NULL) < 0) {
		print_message("# a private /etc/hosts: %s; skipped\n",
			      strerror(errno));
		skip();
	}
	/* What the daemon should see: both, unless this host has no IPv6. */
	hr_check(getaddrinfo("rp-two", NULL, &hints, &res) == 0,
		 "rp-two resolves");
	for (ai = res; ai && n < 8; ai = ai->ai_next)
		getnameinfo(ai->ai_addr, ai->ai_addrlen, addrs[n++], 64, NULL,
			    0, NI_NUMERICHOST);
	freeaddrinfo(res);
	hr_note("rp-two resolves to %d address%s here: %s %s", n,
		n == 1 ? "" : "es", addrs[0], n > 1 ? addrs[1] : "");

	hr_start_ok(d, args);
	doc = hr_query_ok(d, "stats");
	hr_check_int("listeners for rp-two", n,
		     json_array_size(json_object_get(doc, "listen")));
	for (int j = 0; j < n; j++) {
		const char *ip;

		snprintf(path, sizeof(path), "listen/%d/address", j);
		ip = hr_jstr(doc, path);
		hr_check(!strcmp(ip, addrs[j]),
			 "listen %d: expected %s, seen %s", j, addrs[j], ip);
		hr_check(echo_at(ip, d->ports[j]), "echo on %s port %d", ip,
			 d->ports[j]);
	}
	json_decref(doc);
	hr_check_int("exit status", 0, hr_stop(d, SIGTERM));

	st = run_daemon(d, 0, many);
	hr_check(st == 2 &&
			 strstr(err,
				"listen: 'rp-many:80': 'rp-many' stands for more than 16 addresses"),
		 "17 addresses: expected exit 2 and why, seen %d: %s", st, err);
	st = run_daemon(d, 0, dup);
	hr_check(st == 2 && strstr(err, "duplicate listen address 127.0.0.2:80"),
		 "a name and one of its addresses: expected exit 2, seen %d: %s",
		 st, err);
}

/* The same address twice on the command line: a usage error, nothing
 * started. */
static void test_listen_duplicate_option(void **state)
{
	struct hr_daemon *d = *state;
	const char *args[] = { "-f",          "-c", "none",        "-s",
			       d->sock,       "-l", "127.0.0.1:0", "-l",
			       "127.0.0.1:0", NULL };
	int st = run_daemon(d, 0, args);

	hr_check(st == 2 &&
			 strstr(err,
				"duplicate listen address 127.0.0.1:0 (given twice on the command line)"),
		 "expected exit 2 and the duplicate named, seen %d: %s", st, err);
	hr_check(access(d->sock, F_OK) < 0, "nothing started");
}

/* --- the default config file --- */

/* Without -c the daemon reads the installed config file when there is
 * one: here d->default_conf, which hr_new names in $REUSEPORTD_CONFIG in
 * place of $(sysconfdir)/reuseportd.conf. -t says which file it checked,
 * the log which one was read, and a reload reads it again. */
static void test_default_config(void **state)
{
	struct hr_daemon *d = *state;
	const char *test[] = { "-t", NULL },
		   *test_none[] = { "-t", "-c", "none", NULL },
		   *fg[] = { "-f", NULL };
	char want[256];
	json_t *st;
	int status, gen = 2;

	/* Nothing there: the built-in defaults, and -t says so. */
	status = run_daemon(d, 0, test);
	snprintf(want, sizeof(want),
		 "reuseportd: configuration (built-in defaults; no %s) is ok\n",
		 d->default_conf);
	hr_check(status == 0 && !strcmp(out, want),
		 "-t without a default file: expected 0 and '%s', seen %d: %s%s",
		 want, status, out, err);

	/* A broken one is checked and named, as with -c. */
	oh_write(d->default_conf, "workers 2\nworkers 3\n");
	status = run_daemon(d, 0, test);
	snprintf(want, sizeof(want),
		 "%s:2: duplicate 'workers' (first set on line 1)",
		 d->default_conf);
	hr_check(status == 1 && strstr(err, want),
		 "-t on a broken default file: expected 1 and '%s', seen %d: %s",
		 want, status, err);
	/* -c none does without it. */
	status = run_daemon(d, 0, test_none);
	hr_check(status == 0 &&
			 !strcmp(out,
				 "reuseportd: configuration (built-in defaults; -c none) is ok\n"),
		 "-t -c none: %d: %s%s", status, out, err);

	/* A good one: -t checks that file, and the daemon runs on it. */
	oh_write(d->default_conf,
		 "listen 127.0.0.1:0\nworkers 3\nstats_socket %s\n"
		 "shutdown_timeout 2s\n",
		 d->sock);
	status = run_daemon(d, 0, test);
	snprintf(want, sizeof(want), "reuseportd: configuration %s is ok\n",
		 d->default_conf);
	hr_check(status == 0 && !strcmp(out, want),
		 "-t with a default file: expected 0 and '%s', seen %d: %s%s",
		 want, status, out, err);

	hr_check(hr_spawn(d, fg) == 0, "spawn");
	hr_check(hr_wait_for(d, hr_all_running, NULL, HR_START_MS),
		 "the daemon runs on the default file");
	st = hr_query_ok(d, "stats");
	hr_check_int("workers, as the default file says", 3,
		     hr_jint(st, "workers_configured"));
	json_decref(st);
	snprintf(want, sizeof(want), "config file %s", d->default_conf);
	hr_check(hr_log_contains(d, want), "the log says '%s'", want);

	/* A reload reads the same file again. */
	oh_write(d->default_conf,
		 "listen 127.0.0.1:0\nworkers 2\nstats_socket %s\n"
		 "shutdown_timeout 2s\n",
		 d->sock);
	hr_check(kill(d->pid, SIGHUP) == 0, "kill -HUP");
	hr_check(hr_wait_for(d, generation_is, &gen, HR_START_MS),
		 "generation 2 runs");
	st = hr_query_ok(d, "stats");
	hr_check_int("workers after the reload", 2,
		     hr_jint(st, "workers_configured"));
	json_decref(st);
	hr_check_int("exit status", 0, hr_stop(d, SIGTERM));
}

/* No default file, or -c none: the built-in defaults, and the log says
 * which and why. */
static void test_default_config_absent(void **state)
{
	struct hr_daemon *d = *state;
	char want[256];

	hr_start_ok(d, NULL);
	snprintf(want, sizeof(want),
		 "no config file (%s does not exist): built-in defaults",
		 d->default_conf);
	hr_check(hr_log_contains(d, want), "the log says '%s'", want);
	hr_check_int("exit status", 0, hr_stop(d, SIGTERM));
}

static void test_default_config_none(void **state)
{
	struct hr_daemon *d = *state;
	const char *args[] = { "-c", "none", NULL };

	oh_write(d->default_conf, "this is not a config file\n");
	hr_start_ok(d, args);
	hr_check(hr_log_contains(d, "no config file (-c none): built-in defaults"),
		 "the log says that -c none was given");
	hr_check_int("exit status", 0, hr_stop(d, SIGTERM));
}

/* --- privileges --- */

/* A free loopback port below 1024. */
static int low_port(void)
{
	for (int port = 1023; port >= 900; port--) {
		struct sockaddr_in sin = {
			.sin_family = AF_INET,
			.sin_port = htons((uint16_t)port),
			.sin_addr.s_addr = htonl(INADDR_LOOPBACK)
		};
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		int ok = fd >= 0 &&
			 bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0;

		if (fd >= 0)
			close(fd);
		if (ok)
			return port;
	}
	return -1;
}

#define ROOT_WARNING \
	"[warn] master pid %ld: the workers run as root: no 'user' is set; name an unprivileged one (user www-data in the config file, or -u USER)"

/* How many times needle is in the daemon's log. */
static int log_count(const struct hr_daemon *d, const char *needle)
{
	char *text = hr_log_read(d);
	int n = 0;

	for (const char *p = text; p && (p = strstr(p, needle)); p++)
		n++;
	free(text);
	return n;
}

/* Started as root with no user, the workers would run as root: one
 * warning line, from the master; -t warns too. */
static void test_root_without_user_warns(void **state)
{
	struct hr_daemon *d = *state;
	const char *test[] = { "-t", "-c", "none", NULL },
		   *test_user[] = { "-t", "-c", "none", "-u", "nobody", NULL };
	char want[256];

	if (geteuid() != 0 || !getpwnam("nobody")) {
		print_message("# needs root and user nobody\n");
		skip();
	}
	hr_start_ok(d, NULL);
	snprintf(want, sizeof(want), ROOT_WARNING, (long)d->pid);
	hr_check_int("the warning, once", 1, log_count(d, want));
	hr_check_int("exit status", 0, hr_stop(d, SIGTERM));

	hr_check_int("-t", 0, run_daemon(d, 0, test));
	hr_check(strstr(err,
			"warning: the workers would run as root: no 'user' is set"),
		 "-t warns: %s", err);
	hr_check_int("-t -u nobody", 0, run_daemon(d, 0, test_user));
	hr_check(!strstr(err, "root"), "-t -u nobody does not warn: %s", err);
}

static void test_workers_drop_privileges(void **state)
{
	struct hr_daemon *d = *state;
	struct passwd *pw = getpwnam("nobody");
	struct group *gr = getgrnam("nogroup");
	char conf[128], addr[64], extra[128], echo[8];
	long ids[4];
	struct stat sb;
	json_t *st;
	int port = low_port(), fd;

	if (geteuid() != 0 || !pw || !gr || port < 0) {
		print_message(
			"# needs root, user nobody, group nogroup and a free port < 1024\n");
		skip();
	}
	path_in(d, conf, sizeof(conf), "rp.conf");
	snprintf(extra, sizeof(extra),
		 "user nobody\nstats_socket_group nogroup\n");
	write_conf(d, conf, extra);
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);

	const char *args[] = { "-c", conf, "-l", addr, NULL };

	hr_start_ok(d, args);
	st = hr_query_ok(d, "stats");
	for (int i = 0; i < 2; i++) {
		char path[32];
		pid_t pid;

		snprintf(path, sizeof(path), "workers/%d/pid", i);
		pid = (pid_t)hr_jint(st, path);
		hr_check(oh_proc_ids(pid, "Uid:", ids) == 0, "/proc/%ld/status",
			 (long)pid);
		for (int k = 0; k < 4; k++)
			hr_check(ids[k] == (long)pw->pw_uid,
				 "worker %d: expected every uid %ld (nobody), seen %ld %ld %ld %ld",
				 i, (long)pw->pw_uid, ids[0], ids[1], ids[2],
				 ids[3]);
		hr_check(oh_proc_ids(pid, "Gid:", ids) == 0, "/proc/%ld/status",
			 (long)pid);
		for (int k = 0; k < 4; k++)
			hr_check(ids[k] == (long)pw->pw_gid,
				 "worker %d: gid %ld", i, ids[k]);
	}
	json_decref(st);
	hr_check(oh_proc_ids(d->pid, "Uid:", ids) == 0 && ids[0] == 0 &&
			 ids[1] == 0,
		 "the master stays root");
	hr_check(!hr_log_contains(d, "the workers run as root"),
		 "no warning about root workers when they drop to a user");
	hr_check(stat(d->sock, &sb) == 0 && sb.st_gid == gr->gr_gid &&
			 (sb.st_mode & 0777) == 0660,
		 "stats socket: expected group nogroup and mode 0660, seen gid %ld mode 0%o",
		 (long)sb.st_gid, sb.st_mode & 0777);
	/* Below 1024, served by the unprivileged workers. */
	fd = hr_connect_tcp(port);
	hr_check(fd >= 0, "connect to %s", addr);
	hr_check(hr_write_all(fd, "ping", 4, 5000) == 4 &&
			 hr_read_exact(fd, echo, 4, 5000) == 4 &&
			 !memcmp(echo, "ping", 4),
		 "echo on %s", addr);
	close(fd);
	hr_check_int("exit status", 0, hr_stop(d, SIGTERM));
}

static int setup(void **state)
{
	*state = hr_new();
	return *state ? 0 : -1;
}

static int teardown(void **state)
{
	struct hr_daemon *d = *state;
	char pidf[128];

	/* A detached daemon of a test that failed half-way. */
	path_in(d, pidf, sizeof(pidf), "rp.pid");
	oh_kill_pidfile(pidf);
	hr_free(d);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_config_test, setup, teardown),
		cmocka_unit_test_setup_teardown(test_config_test_never_binds,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_daemon_mode, setup, teardown),
		cmocka_unit_test_setup_teardown(test_daemon_start_failure,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_stale_pidfile, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_log_reopen, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reload_and_notify, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_listen_host_name, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_listen_duplicate_option,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_default_config, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_default_config_absent,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_default_config_none, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_root_without_user_warns,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_workers_drop_privileges,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_docroot_closed_to_workers,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_docroot_only_workers_reach,
						setup, teardown),
		/* Last: it leaves this process in its own mount namespace. */
		cmocka_unit_test_setup_teardown(test_listen_host_names_hosts_file,
						setup, teardown),
	};

	/* A name that does not resolve must not wait long for DNS. */
	setenv("RES_OPTIONS", "timeout:1 attempts:1", 1);
	return cmocka_run_group_tests_name("ops_daemon", tests, NULL, NULL);
}
