/* test_ops_initd.c - etc/init.d/reuseportd driving the real daemon, its
 * paths pointed into a temp dir through a defaults file (as
 * /etc/default/reuseportd would): start, status, the stats socket,
 * reload (and a refused reload of a broken config), restart, stop, and
 * no process left behind. */
#include "autoconfig.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "ops_harness.h"

#ifndef INITSCRIPT
#error "build with -DINITSCRIPT=\"/path/to/etc/init.d/reuseportd\""
#endif
#if !defined(LOGROTATE_CONF) || !defined(INSTALLED_INITSCRIPT) || \
	!defined(INSTALLED_LOG)
#error "build with -DLOGROTATE_CONF, -DINSTALLED_INITSCRIPT and -DINSTALLED_LOG (src/ops.am)"
#endif

#define SCRIPT_MS 20000
#define LOGROTATE "/usr/sbin/logrotate"

static char out[8192], err[8192];

struct site {
	struct hr_daemon *d;
	char conf[128], pidfile[128], defaults[160], env_defaults[192];
	char rundir[128], log[128];
};

static int script(struct site *s, const char *action)
{
	const char *argv[] = { INITSCRIPT, action, NULL };
	const char *env[] = { s->env_defaults, "SYSTEMCTL_SKIP_REDIRECT=1", NULL };
	int st = oh_run(argv, env, s->d->dir, 0, SCRIPT_MS, out, sizeof(out),
			err, sizeof(err));

	hr_note("init.d %s: exit %d; out: %s; err: %s", action, st, out, err);
	return st;
}

static void write_conf(struct site *s, const char *extra)
{
	oh_write(s->conf,
		 "listen 127.0.0.1:0\n"
		 "workers 2\n"
		 "stats_socket %s\n"
		 "log %s\n"
		 "shutdown_timeout 2s\n"
		 "%s",
		 s->d->sock, s->log, extra);
}

static void site_init(struct site *s, struct hr_daemon *d)
{
	memset(s, 0, sizeof(*s));
	s->d = d;
	snprintf(s->conf, sizeof(s->conf), "%s/rp.conf", d->dir);
	snprintf(s->pidfile, sizeof(s->pidfile), "%s/rp.pid", d->dir);
	snprintf(s->defaults, sizeof(s->defaults), "%s/default", d->dir);
	snprintf(s->env_defaults, sizeof(s->env_defaults),
		 "REUSEPORTD_DEFAULTS=%s", s->defaults);
	snprintf(s->rundir, sizeof(s->rundir), "%s/run", d->dir);
	snprintf(s->log, sizeof(s->log), "%s/rp.log", d->dir);
	oh_write(s->defaults,
		 "# as /etc/default/reuseportd\n"
		 "DAEMON=%s\nCONFIG=%s\nPIDFILE=%s\nRUNDIR=%s\nSTOP_TIMEOUT=10\n"
		 "CTL=%s\nSTATS_SOCKET=%s\nLOGDIR=%s/logdir\n",
		 REUSEPORTD_BIN, s->conf, s->pidfile, s->rundir, RC_BIN,
		 d->sock, d->dir);
	write_conf(s, "");
}

static int generation_is(json_t *st, void *arg)
{
	return hr_jint(st, "generation") == *(int *)arg &&
	       hr_all_running(st, NULL);
}

static long ping_pid(struct hr_daemon *d)
{
	json_t *p = hr_query(d, "ping");
	long pid = p ? (long)hr_jint(p, "pid") : -1;

	json_decref(p);
	return pid;
}

/* A file -t accepts, with an added address whose port another process
 * holds: the reload fails in the daemon, and the script says so (exit
 * 1, the reason) from reuseportctl's answer; nothing changes. */
static void held_port_reload(struct site *s, long pid)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t len = sizeof(sin);
	int held = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	char extra[64];
	json_t *st;

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	hr_check(bind(held, (struct sockaddr *)&sin, sizeof(sin)) == 0 &&
			 listen(held, 1) == 0 &&
			 getsockname(held, (struct sockaddr *)&sin, &len) == 0,
		 "a port of our own: %s", strerror(errno));
	snprintf(extra, sizeof(extra), "listen 127.0.0.1:%d\n",
		 ntohs(sin.sin_port));
	write_conf(s, extra);
	hr_check_int("reload adding a held port", 1, script(s, "reload"));
	hr_check(strstr(out, "Address already in use") ||
			 strstr(err, "Address already in use"),
		 "reload: expected the bind error, seen: %s %s", out, err);
	hr_check_int("pid after the failed reload", pid, ping_pid(s->d));
	st = hr_query_ok(s->d, "stats");
	hr_check_int("generation after the failed reload", 2,
		     hr_jint(st, "generation"));
	hr_check_int("listen addresses after the failed reload", 1,
		     json_array_size(json_object_get(st, "listen")));
	json_decref(st);
	close(held);
}

static void test_init_script(void **state)
{
	struct hr_daemon *d = *state;
	struct site s;
	long pid, pid2, workers[2];
	struct stat sb;
	json_t *st;
	int gen = 2;

	site_init(&s, d);
	hr_check_int("status before start (LSB: 3, not running)", 3,
		     script(&s, "status"));

	hr_check_int("start", 0, script(&s, "start"));
	pid = oh_pidfile(s.pidfile);
	hr_check(pid > 0 && oh_alive((pid_t)pid), "pidfile after start: %ld", pid);
	hr_check(stat(s.rundir, &sb) == 0 && S_ISDIR(sb.st_mode),
		 "RUNDIR created");
	{
		char logdir[160];

		snprintf(logdir, sizeof(logdir), "%s/logdir", d->dir);
		hr_check(stat(logdir, &sb) == 0 && S_ISDIR(sb.st_mode),
			 "LOGDIR created");
	}
	hr_check_int("status while running", 0, script(&s, "status"));
	{
		char want[64];

		snprintf(want, sizeof(want), "running (pid %ld)", pid);
		hr_check(strstr(out, want) != NULL,
			 "status: expected '%s', seen '%s'", want, out);
	}
	hr_check_int("the stats socket answers for the pidfile's pid", pid,
		     ping_pid(d));
	hr_check_int("start while running", 0, script(&s, "start"));
	hr_check_int("start while running: same pid", pid, oh_pidfile(s.pidfile));

	/* reload: checked with -t, then asked on the stats socket, which
	 * answers once the new generation runs. */
	hr_check_int("reload", 0, script(&s, "reload"));
	{
		static const char *const asked[] = {
			"reload asked on the stats socket", NULL
		};

		hr_check(oh_wait_contains(s.log, asked, 5000),
			 "the script asked the stats socket, not just signalled");
	}
	hr_check(hr_wait_for(d, generation_is, &gen, HR_START_MS),
		 "generation 2 after reload");

	/* A broken config: reported, and the daemon left alone. */
	write_conf(&s, "workers 3\n");
	hr_check_int("reload of a broken config", 1, script(&s, "force-reload"));
	hr_check(strstr(err,
			"rp.conf:6: duplicate 'workers' (first set on line 2)"),
		 "reload: expected the config error, seen: %s", err);
	hr_check_int("pid after the refused reload", pid, ping_pid(d));
	st = hr_query_ok(d, "stats");
	hr_check_int("generation after the refused reload", 2,
		     hr_jint(st, "generation"));
	json_decref(st);
	hr_check_int("restart of a broken config is refused", 1,
		     script(&s, "restart"));
	hr_check_int("pid after the refused restart", pid, ping_pid(d));
	held_port_reload(&s, pid);
	write_conf(&s, "");

	/* restart: a new master. */
	hr_check_int("restart", 0, script(&s, "restart"));
	pid2 = oh_pidfile(s.pidfile);
	hr_check(pid2 > 0 && pid2 != pid,
		 "restart: expected a new pid, seen %ld (was %ld)", pid2, pid);
	hr_check_int("the old master is gone", 0, oh_alive((pid_t)pid));
	hr_check_int("the new master answers", pid2, ping_pid(d));

	st = hr_query_ok(d, "stats");
	workers[0] = (long)hr_jint(st, "workers/0/pid");
	workers[1] = (long)hr_jint(st, "workers/1/pid");
	json_decref(st);
	hr_check(workers[0] > 0 && workers[1] > 0, "worker pids");

	/* rotate (after logrotate's rename): the log file is reopened. */
	{
		char old[160];
		const char *reopened[] = { "log reopened", NULL };

		snprintf(old, sizeof(old), "%s.1", s.log);
		hr_check(rename(s.log, old) == 0, "rename %s: %s", s.log,
			 strerror(errno));
		hr_check_int("rotate", 0, script(&s, "rotate"));
		hr_check(oh_wait_contains(s.log, reopened, 5000),
			 "rotate: expected a new %s saying 'log reopened'",
			 s.log);
	}

	hr_check_int("stop", 0, script(&s, "stop"));
	hr_check_int("the master exited 0", 0,
		     oh_wait_gone((pid_t)pid2, HR_STOP_MS));
	for (int i = 0; i < 2; i++)
		hr_check(!oh_alive((pid_t)workers[i]),
			 "worker pid %ld is left behind", workers[i]);
	hr_check(access(s.pidfile, F_OK) < 0, "pidfile removed");
	hr_check(access(d->sock, F_OK) < 0, "stats socket removed");
	hr_check_int("status after stop (LSB: 3)", 3, script(&s, "status"));
	hr_check_int("stop when stopped", 0, script(&s, "stop"));
	hr_check_int("reload when stopped (LSB: 7)", 7, script(&s, "reload"));

	/* A pidfile left by a crash. */
	pid_t dead = fork();

	if (dead == 0)
		_exit(0);
	oh_wait_gone(dead, 5000);
	oh_write(s.pidfile, "%ld\n", (long)dead);
	hr_check_int("status with a stale pidfile (LSB: 1)", 1,
		     script(&s, "status"));
	hr_check_int("stop with a stale pidfile", 0, script(&s, "stop"));
	hr_check(access(s.pidfile, F_OK) < 0, "stop removed the stale pidfile");
	hr_check_int("status", 3, script(&s, "status"));
	hr_check_int("unknown action (usage)", 3, script(&s, "frobnicate"));
}

/* Installs a copy of the build at path (a new file renamed over the old
 * one, as a package manager does), with a trailer of its own so that
 * each copy is another file. Returns its inode. */
static ino_t install_copy(const char *path, int n)
{
	char tmp[192], buf[1 << 16];
	int in = open(REUSEPORTD_BIN, O_RDONLY | O_CLOEXEC), ofd;
	struct stat st;
	ssize_t r;

	snprintf(tmp, sizeof(tmp), "%s.new", path);
	ofd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0755);
	hr_check(in >= 0 && ofd >= 0, "copy to %s: %s", tmp, strerror(errno));
	while ((r = read(in, buf, sizeof(buf))) > 0)
		hr_check(write(ofd, buf, (size_t)r) == r, "write %s", tmp);
	r = snprintf(buf, sizeof(buf), "\nbuild %d\n", n);
	hr_check(write(ofd, buf, (size_t)r) == r, "write %s", tmp);
	close(in);
	close(ofd);
	hr_check(rename(tmp, path) == 0 && stat(path, &st) == 0, "rename %s", tmp);
	return st.st_ino;
}

/* `upgrade`: the binary installed at DAEMON takes over the running
 * daemon's sockets, the old master drains and exits, the pidfile names
 * the new one; a file the new binary refuses, or a new master that
 * cannot start, is an exit 1 with the reason and the old master serving
 * on. Without reuseportctl, the signal and the pidfiles do it. */
static void test_init_upgrade(void **state)
{
	struct hr_daemon *d = *state;
	struct site s;
	char bin[160], exe[64], sbin[128];
	long pid, pid2, pid3;
	struct stat st;
	ino_t ino;

	site_init(&s, d);
	snprintf(sbin, sizeof(sbin), "%s/sbin", d->dir);
	snprintf(bin, sizeof(bin), "%s/reuseportd", sbin);
	hr_check(mkdir(sbin, 0755) == 0, "mkdir %s", sbin);
	install_copy(bin, 0);
	oh_write(s.defaults,
		 "DAEMON=%s\nCONFIG=%s\nPIDFILE=%s\nRUNDIR=%s\nSTOP_TIMEOUT=10\n"
		 "CTL=%s\nSTATS_SOCKET=%s\n",
		 bin, s.conf, s.pidfile, s.rundir, RC_BIN, d->sock);
	hr_check_int("start", 0, script(&s, "start"));
	pid = oh_pidfile(s.pidfile);
	hr_check_int("the stats socket answers for the pidfile's pid", pid,
		     ping_pid(d));

	ino = install_copy(bin, 1);
	hr_check_int("upgrade", 0, script(&s, "upgrade"));
	pid2 = oh_pidfile(s.pidfile);
	hr_check(pid2 > 0 && pid2 != pid,
		 "upgrade: a new pid, seen %ld (was %ld)", pid2, pid);
	hr_check_int("the old master has exited", 0, oh_alive((pid_t)pid));
	hr_check_int("the new master answers", pid2, ping_pid(d));
	snprintf(exe, sizeof(exe), "/proc/%ld/exe", pid2);
	hr_check(stat(exe, &st) == 0 && st.st_ino == ino,
		 "the new master runs the binary installed last");
	hr_check(access(d->sock, F_OK) == 0, "the stats socket is still there");
	hr_check_int("status", 0, script(&s, "status"));

	/* A file the new binary refuses: its -t says so. */
	write_conf(&s, "workers 3\n");
	hr_check_int("upgrade with a broken config", 1, script(&s, "upgrade"));
	hr_check(strstr(err, "rp.conf:6: duplicate 'workers'"),
		 "upgrade: expected the config error, seen: %s", err);
	hr_check_int("pid after the refused upgrade", pid2, ping_pid(d));
	/* A new master that cannot take the sockets over: the daemon says
	 * why through reuseportctl. */
	{
		json_t *st2 = hr_query_ok(d, "stats");
		int port = (int)hr_jint(st2, "listen/0/port");

		json_decref(st2);
		oh_write(s.conf,
			 "listen 127.0.0.2:%d\nworkers 2\nstats_socket %s\nlog %s\n"
			 "shutdown_timeout 2s\n",
			 port, d->sock, s.log);
	}
	hr_check_int("upgrade to other listen addresses", 1,
		     script(&s, "upgrade"));
	/* (LSB's log_failure_msg writes to stdout, the script's own to
	 * stderr.) */
	hr_check((strstr(out, "the old master listens on 127.0.0.1:") &&
		  strstr(out, "still serving as pid")) ||
			 (strstr(err, "the old master listens on 127.0.0.1:") &&
			  strstr(err, "still serving as pid")),
		 "upgrade: expected the reason, seen: %s%s", out, err);
	hr_check_int("pid after the failed upgrade", pid2, ping_pid(d));
	hr_check_int("pidfile after the failed upgrade", pid2,
		     oh_pidfile(s.pidfile));
	write_conf(&s, "");

	/* Without reuseportctl. */
	oh_write(s.defaults,
		 "DAEMON=%s\nCONFIG=%s\nPIDFILE=%s\nRUNDIR=%s\nSTOP_TIMEOUT=10\n"
		 "CTL=%s/none\nSTATS_SOCKET=%s\n",
		 bin, s.conf, s.pidfile, s.rundir, d->dir, d->sock);
	install_copy(bin, 2);
	/* The last attempt's new master must have gone first. */
	{
		const char *gone[] = { "the new master of the last attempt",
				       NULL };

		hr_check(oh_wait_contains(s.log, gone, 10000),
			 "the failed new master's exit");
	}
	hr_check_int("upgrade by signal", 0, script(&s, "upgrade"));
	pid3 = oh_pidfile(s.pidfile);
	hr_check(pid3 > 0 && pid3 != pid2, "a new pid, seen %ld (was %ld)",
		 pid3, pid2);
	hr_check_int("the old master has exited", 0, oh_alive((pid_t)pid2));
	hr_check(access(s.pidfile, F_OK) == 0, "pidfile");
	{
		char old[160];

		snprintf(old, sizeof(old), "%s.oldbin", s.pidfile);
		hr_check(access(old, F_OK) < 0, "no .oldbin left");
	}
	hr_check_int("the new master answers", pid3, ping_pid(d));

	hr_check_int("stop", 0, script(&s, "stop"));
	hr_check_int("the master exited 0", 0,
		     oh_wait_gone((pid_t)pid3, HR_STOP_MS));
	hr_check_int("upgrade when stopped (LSB: 7)", 7, script(&s, "upgrade"));
}

/* text with every from replaced by to; free() it. */
static char *replace_all(const char *text, const char *from, const char *to)
{
	size_t n = 0, lf = strlen(from), lt = strlen(to);
	char *res, *o;

	for (const char *p = text; (p = strstr(p, from)); p += lf)
		n++;
	res = malloc(strlen(text) + n * lt + 1);
	if (!res)
		return NULL;
	o = res;
	for (const char *p = text, *q; *p; p = q + lf) {
		q = strstr(p, from);
		if (!q) {
			strcpy(o, p);
			return res;
		}
		memcpy(o, p, (size_t)(q - p));
		o += q - p;
		memcpy(o, to, lt);
		o += lt;
	}
	*o = '\0';
	return res;
}

/* The shipped logrotate file run by logrotate against the daemon the
 * init script started: the log is renamed, and its postrotate (the
 * init script's rotate) has the daemon go on in a new file. Only paths
 * are the test's own: the log file, the build tree's init script, and a
 * unit name no host runs, so that its systemd branch never signals a
 * real daemon. */
static void test_logrotate(void **state)
{
	struct hr_daemon *d = *state;
	struct site s;
	char conf[160], statef[160], old[160], *text, *a, *b, *c;
	const char *reopened[] = { "log reopened", NULL },
		   *started[] = { "started", NULL };
	const char *argv[] = { LOGROTATE, "-f", "-s", statef, conf, NULL };
	int st;

	if (access(LOGROTATE, X_OK) < 0) {
		print_message("# no %s; skipped\n", LOGROTATE);
		skip();
	}
	site_init(&s, d);
	hr_check_int("start", 0, script(&s, "start"));
	hr_check(oh_wait_contains(s.log, started, 5000),
		 "the log file has the start line");

	/* The access log beside the log, in the test's directory too
	 * (none is written: missingok). */
	{
		char inst_alog[sizeof(INSTALLED_LOG) + 16], alog[200];
		char *x;

		snprintf(inst_alog, sizeof(inst_alog), "%s", INSTALLED_LOG);
		x = strrchr(inst_alog, '/');
		snprintf(x + 1, sizeof(inst_alog) - (size_t)(x + 1 - inst_alog),
			 "access.log");
		snprintf(alog, sizeof(alog), "%s/access.log", d->dir);
		text = oh_read(LOGROTATE_CONF);
		x = replace_all(text, inst_alog, alog);
		free(text);
		text = x;
	}
	a = text ? replace_all(text, INSTALLED_LOG, s.log) : NULL;
	b = a ? replace_all(a, INSTALLED_INITSCRIPT, INITSCRIPT) : NULL;
	c = b ? replace_all(b, "reuseportd.service",
			    "reuseportd-test-never-installed.service") :
		NULL;
	hr_check(c && strstr(c, s.log) && strstr(c, INITSCRIPT " rotate"),
		 "the shipped logrotate file with the test's paths:\n%s",
		 c ? c : text);
	snprintf(conf, sizeof(conf), "%s/logrotate.conf", d->dir);
	snprintf(statef, sizeof(statef), "%s/logrotate.state", d->dir);
	oh_write(conf, "%s", c);
	free(text);
	free(a);
	free(b);
	free(c);

	{
		const char *env[] = { s.env_defaults,
				      "SYSTEMCTL_SKIP_REDIRECT=1", NULL };

		st = oh_run(argv, env, d->dir, 0, SCRIPT_MS, out, sizeof(out),
			    err, sizeof(err));
	}
	hr_check(st == 0, "logrotate -f: exit %d\n%s%s", st, out, err);
	snprintf(old, sizeof(old), "%s.1", s.log);
	hr_check(oh_wait_contains(s.log, reopened, 5000),
		 "a new %s, written by the daemon after the rotation: %s",
		 s.log, oh_read(s.log));
	text = oh_read(old);
	hr_check(strstr(text, "started") && !strstr(text, "log reopened"),
		 "the rotated %s ends at the rotation: %s", old, text);
	free(text);
	hr_check_int("stop", 0, script(&s, "stop"));
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

	/* What the init script started, if the test failed half-way. */
	snprintf(pidf, sizeof(pidf), "%s/rp.pid", d->dir);
	oh_kill_pidfile(pidf);
	hr_free(d);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_init_script, setup, teardown),
		cmocka_unit_test_setup_teardown(test_logrotate, setup, teardown),
		cmocka_unit_test_setup_teardown(test_init_upgrade, setup, teardown),
	};

	if (access("/sbin/start-stop-daemon", X_OK) < 0 &&
	    access("/usr/sbin/start-stop-daemon", X_OK) < 0) {
		/* TAP's way to skip a whole program (see Makefile.am). */
		printf("1..0 # SKIP start-stop-daemon (dpkg) not found\n");
		return 0;
	}
	return cmocka_run_group_tests_name("ops_initd", tests, NULL, NULL);
}
