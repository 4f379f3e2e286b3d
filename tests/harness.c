/* harness.c - see harness.h. Starts the real daemon, talks to it, and
 * cleans up after it even when a test stops half-way. */
#include "autoconfig.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

#ifndef REUSEPORTD_BIN
#error "build with -DREUSEPORTD_BIN=\"/path/to/src/reuseportd\""
#endif

#define HR_POLL_MS 20 /* retry interval of the polling waits */

/* Notes go to stdout like cmocka's own messages, so they interleave in
 * order in the test's .log file; "# " before every line keeps text
 * quoted from elsewhere (replies, logs) from reading as a TAP line. */
void hr_note(const char *fmt, ...)
{
	va_list ap;
	char *text, *p;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&text, fmt, ap);
	va_end(ap);
	if (n < 0) {
		puts("# (out of memory for a note)");
		fflush(stdout);
		return;
	}
	for (p = text;;) {
		size_t len = strcspn(p, "\n");

		printf("# %.*s\n", (int)len, p);
		if (p[len] == '\0' || p[len + 1] == '\0')
			break;
		p += len + 1;
	}
	free(text);
	fflush(stdout);
}

int64_t hr_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t hr_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Milliseconds left until deadline, never negative (for poll). */
static int hr_left(int64_t deadline)
{
	int64_t left = deadline - hr_now_ms();

	return left > 0 ? (int)left : 0;
}

/* --- process setup --- */

/* Every daemon hr_new made that hr_free has not freed: a test that
 * fails between starting an extra daemon (a backend, an echo server)
 * and stopping it would leave it running after the program; the next
 * hr_teardown, or the program's exit, stops it. */
#define HR_LIVE_MAX 64
static struct hr_daemon *hr_live[HR_LIVE_MAX];
static pid_t hr_live_owner; /* not a forked child's exit */

static void hr_live_set(struct hr_daemon *d, struct hr_daemon *to)
{
	for (int i = 0; i < HR_LIVE_MAX; i++)
		if (hr_live[i] == d) {
			hr_live[i] = to;
			return;
		}
}

static void hr_free_all(void)
{
	if (getpid() != hr_live_owner)
		return;
	for (int i = 0; i < HR_LIVE_MAX; i++)
		if (hr_live[i])
			hr_free(hr_live[i]);
}

static void hr_process_setup(void)
{
	static int done;
	struct rlimit rl;

	if (done)
		return;
	done = 1;
	hr_live_owner = getpid();
	atexit(hr_free_all);
	/* Writes to sockets the daemon closed must fail, not kill the test. */
	signal(SIGPIPE, SIG_IGN);
	/* Thousands of client sockets at once: take the hard limit. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	/* Workers orphaned by a master that died become our children, so
	 * hr_free can reap them instead of leaving zombies to a container
	 * init that might never wait for them. */
	prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
}

struct hr_daemon *hr_new(void)
{
	struct hr_daemon *d = calloc(1, sizeof(*d));

	if (!d)
		return NULL;
	hr_process_setup();
	d->pidfd = -1;
	d->status = -1;
	/* /tmp, not $TMPDIR: a Unix socket path must fit in 108 bytes. */
	snprintf(d->dir, sizeof(d->dir), "/tmp/reuseportd-test.XXXXXX");
	if (!mkdtemp(d->dir)) {
		hr_note("mkdtemp %s: %s", d->dir, strerror(errno));
		free(d);
		return NULL;
	}
	snprintf(d->sock, sizeof(d->sock), "%s/stats.sock", d->dir);
	snprintf(d->log, sizeof(d->log), "%s/daemon.log", d->dir);
	snprintf(d->default_conf, sizeof(d->default_conf),
		 "%s/etc-reuseportd.conf", d->dir);
	setenv("REUSEPORTD_CONFIG", d->default_conf, 1);
	hr_live_set(NULL, d);
	return d;
}

static int hr_rm_one(const char *path, const struct stat *sb, int type,
		     struct FTW *ftw)
{
	(void)sb, (void)ftw;
	if ((type == FTW_DP ? rmdir(path) : unlink(path)) < 0)
		hr_note("remove %s: %s", path, strerror(errno));
	return 0;
}

/* The whole temp dir, including what tests put there (document roots,
 * config files); symlinks are removed, never followed. */
static void hr_rmdir(const char *dir)
{
	nftw(dir, hr_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* SIGKILL everything left in the group, reap what is ours. */
static void hr_kill_group(struct hr_daemon *d)
{
	int64_t deadline = hr_now_ms() + 5000;

	if (d->pid <= 0)
		return;
	kill(-d->pid, SIGKILL);
	if (!d->reaped) {
		int st;

		if (waitpid(d->pid, &st, 0) == d->pid) {
			d->reaped = 1;
			d->status = WIFEXITED(st) ? WEXITSTATUS(st) :
						    128 + WTERMSIG(st);
		}
	}
	/* Orphaned workers were re-parented to us (subreaper). */
	while (hr_now_ms() < deadline) {
		pid_t p = waitpid(-d->pid, NULL, WNOHANG);

		if (p < 0)
			break; /* ECHILD: none left */
		if (p == 0)
			poll(NULL, 0, 5);
	}
}

void hr_free(struct hr_daemon *d)
{
	if (!d)
		return;
	hr_live_set(d, NULL);
	if (d->pid > 0 && !d->reaped) {
		hr_log_dump(d, "daemon still running at teardown (test failed?)");
		hr_kill_group(d);
	} else if (d->pid > 0 && !d->clean) {
		hr_log_dump(d, "daemon was not stopped cleanly");
	}
	if (d->pid > 0 && hr_group_alive(d) > 0) {
		hr_note("processes of the daemon's group %ld outlived it; killing them",
			(long)d->pid);
		hr_kill_group(d);
	}
	if (d->pidfd >= 0)
		close(d->pidfd);
	hr_rmdir(d->dir);
	free(d);
}

struct hr_daemon *hr_echo_daemon(void)
{
	struct hr_daemon *e = hr_new();
	const char *args[] = { "-c", "none", "-w", "1", NULL };

	hr_check(e != NULL, "a temp dir");
	hr_start_ok(e, args);
	return e;
}

void hr_stop_free(struct hr_daemon *e)
{
	hr_check_int("echo server stopped", 0, hr_stop(e, SIGTERM));
	hr_free(e);
}

/* --- spawning --- */

static int hr_has_opt(const char *const *args, const char *s, const char *l)
{
	for (; args && *args; args++)
		if (!strcmp(*args, s) || !strncmp(*args, l, strlen(l)) ||
		    (!strncmp(*args, s, 2) && (*args)[2] != '\0'))
			return 1;
	return 0;
}

/* In the child, before exec: a clean process the daemon can trust. */
static void hr_child(const char *const *argv, int out, int err, int nofile)
{
	sigset_t none;
	int nul = open("/dev/null", O_RDONLY);

	setpgid(0, 0);
	if (nofile > 0) {
		struct rlimit rl = { (rlim_t)nofile, (rlim_t)nofile };

		if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
			_exit(126);
	}
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	/* SIG_IGN survives exec; the daemon must get default dispositions. */
	for (int s = 1; s < NSIG; s++)
		signal(s, SIG_DFL);
	if (nul < 0 || dup2(nul, 0) < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0)
		_exit(126);
	/* Not one of the test's sockets may leak into the daemon. */
	syscall(SYS_close_range, 3U, ~0U, 0U);
	execv(argv[0], (char *const *)argv);
	dprintf(2, "harness: exec %s: %s\n", argv[0], strerror(errno));
	_exit(127);
}

static pid_t hr_fork_exec(const char *bin, const char *dir,
			  const char *const *args, int out, int err, int nofile)
{
	const char *argv[64];
	size_t n = 0;
	pid_t pid;

	argv[n++] = bin;
	for (; args && *args && n + 1 < sizeof(argv) / sizeof(argv[0]); args++)
		argv[n++] = *args;
	argv[n] = NULL;
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		hr_note("fork: %s", strerror(errno));
		return -1;
	}
	if (pid == 0) {
		if (chdir(dir) < 0)
			_exit(126);
		hr_child(argv, out, err, nofile);
	}
	setpgid(pid, pid); /* both sides, so no race with our kill(-pid) */
	return pid;
}

int hr_spawn(struct hr_daemon *d, const char *const *args)
{
	return hr_spawn_bin(d, REUSEPORTD_BIN, args);
}

int hr_spawn_bin(struct hr_daemon *d, const char *bin, const char *const *args)
{
	int fd = open(d->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);

	if (fd < 0) {
		hr_note("open %s: %s", d->log, strerror(errno));
		return -1;
	}
	if (d->pidfd >= 0)
		close(d->pidfd); /* a previous attempt's */
	d->pid = hr_fork_exec(bin, d->dir, args, fd, fd, d->nofile);
	close(fd);
	if (d->pid < 0) {
		d->pid = 0;
		return -1;
	}
	d->reaped = 0;
	d->clean = 0;
	d->status = -1;
	d->pidfd = (int)syscall(SYS_pidfd_open, d->pid, 0U);
	return 0;
}

/* The master exited already? Reaps it if so. */
static int hr_reap_nohang(struct hr_daemon *d)
{
	int st;

	if (d->reaped)
		return 1;
	if (waitpid(d->pid, &st, WNOHANG) != d->pid)
		return 0;
	d->reaped = 1;
	d->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	return 1;
}

int hr_all_running(json_t *st, void *arg)
{
	json_int_t want = hr_jint(st, "workers_configured");
	json_t *w;
	size_t i;
	int running = 0;

	(void)arg;
	if (want <= 0 || hr_jint(st, "listen/0/port") <= 0)
		return 0;
	json_array_foreach(json_object_get(st, "workers"), i, w)
		if (!strcmp(hr_jstr(w, "state"), "running"))
			running++;
	return running == want;
}

long hr_rss_kib(pid_t pid)
{
	char path[64], line[256];
	long kib = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%ld/status", (long)pid);
	if (!(f = fopen(path, "re")))
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
			break;
	fclose(f);
	return kib;
}

int hr_generation_up(json_t *st, void *arg)
{
	json_int_t g = *(json_int_t *)arg, n = 0;
	json_t *w;
	size_t i;

	if (hr_jint(st, "generation") != g)
		return 0;
	json_array_foreach(json_object_get(st, "workers"), i, w) {
		const char *state = json_string_value(json_object_get(w, "state"));

		if (json_integer_value(json_object_get(w, "generation")) != g)
			continue;
		if (!state || strcmp(state, "running"))
			return 0;
		n++;
	}
	return n == hr_jint(st, "workers_configured");
}

static json_t *hr_query_quiet(struct hr_daemon *d, const char *cmd, int ms);

/* Sockets in TIME_WAIT on this host (IPv4), for a note. */
static int hr_time_wait_count(void)
{
	FILE *f = fopen("/proc/net/tcp", "re");
	char line[512];
	unsigned st;
	int n = 0;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, " %*d: %*s %*s %x", &st) == 1 && st == 0x06)
			n++;
	fclose(f);
	return n;
}

/* Can anyone bind 127.0.0.1:0 right now? */
static int hr_port0_free(void)
{
	struct sockaddr_in sin = { .sin_family = AF_INET,
				   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1, ok;

	if (fd < 0)
		return 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	ok = bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0;
	close(fd);
	return ok;
}

/* Port 0 "in use" means the kernel found no free ephemeral port: tens of
 * thousands of client sockets in TIME_WAIT (lifecycle tests, a parallel
 * run) hold the whole ip_local_port_range for 60 s. That is the host's
 * state, not the daemon's fault: wait for a free port and start again. */
static int hr_port0_exhausted(struct hr_daemon *d, int64_t budget)
{
	if (d->status != 1 || !hr_log_contains(d, ":0") ||
	    !hr_log_contains(d, strerror(EADDRINUSE)) || hr_now_ms() >= budget)
		return 0;
	hr_note("start-up: no free ephemeral port for port 0 (%d sockets in TIME_WAIT here); waiting for one",
		hr_time_wait_count());
	while (!hr_port0_free()) {
		if (hr_now_ms() >= budget)
			return 0;
		poll(NULL, 0, 100);
	}
	return 1;
}

/* Until every worker runs: 0; the daemon exited: 1; no show: -1. */
static int hr_wait_ready(struct hr_daemon *d, json_t **stp)
{
	int64_t deadline = hr_now_ms() + HR_START_MS;
	json_t *st;

	for (;;) {
		if (hr_reap_nohang(d))
			return 1;
		st = hr_query_quiet(d, "stats", hr_left(deadline) + 1);
		if (st && hr_all_running(st, NULL)) {
			*stp = st;
			return 0;
		}
		if (hr_now_ms() >= deadline) {
			hr_note("start-up: expected stats with every worker running within %d ms, seen: %s",
				HR_START_MS, st ? hr_jdump(st) : "(no answer)");
			json_decref(st);
			return -1;
		}
		json_decref(st);
		poll(NULL, 0, HR_POLL_MS);
	}
}

int hr_start(struct hr_daemon *d, const char *const *args)
{
	const char *argv[64];
	size_t n = 0;
	int64_t budget = hr_now_ms() + HR_PORT0_WAIT_MS;
	json_t *st = NULL;
	int r;

	argv[n++] = "-f";
	argv[n++] = "-s";
	argv[n++] = d->sock;
	if (!hr_has_opt(args, "-l", "--listen")) {
		argv[n++] = "-l";
		argv[n++] = "127.0.0.1:0";
	}
	if (!hr_has_opt(args, "-w", "--workers")) {
		argv[n++] = "-w";
		argv[n++] = "2";
	}
	for (; args && *args && n + 1 < sizeof(argv) / sizeof(argv[0]); args++)
		argv[n++] = *args;
	argv[n] = NULL;
	do {
		if (hr_spawn(d, argv) < 0)
			return -1;
		r = hr_wait_ready(d, &st);
	} while (r == 1 && hr_port0_exhausted(d, budget));
	if (r != 0) {
		if (r == 1)
			hr_note("start-up: expected a running daemon, seen exit status %d",
				d->status);
		else
			hr_kill_group(d);
		hr_log_dump(d, "daemon did not come up");
		d->clean = 1; /* told already; hr_free need not repeat it */
		return -1;
	}
	d->workers = (int)hr_jint(st, "workers_configured");
	d->nlisten = 0;
	for (size_t i = 0; i < json_array_size(json_object_get(st, "listen")) &&
			   i < HR_MAX_LISTEN;
	     i++) {
		char path[32];

		snprintf(path, sizeof(path), "listen/%zu/port", i);
		d->ports[d->nlisten++] = (int)hr_jint(st, path);
	}
	d->port = d->ports[0];
	json_decref(st);
	return 0;
}

static int hr_status_of(int st)
{
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

int hr_run(struct hr_daemon *d, const char *const *args, int timeout_ms,
	   char *out, size_t outlen, char *err, size_t errlen)
{
	char opath[160], epath[160];
	int ofd, efd, st, status = -1;
	int64_t deadline = hr_now_ms() + timeout_ms;
	pid_t pid;

	snprintf(opath, sizeof(opath), "%s/run.out", d->dir);
	snprintf(epath, sizeof(epath), "%s/run.err", d->dir);
	ofd = open(opath, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	efd = open(epath, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (ofd < 0 || efd < 0) {
		hr_note("open run output: %s", strerror(errno));
		goto out;
	}
	pid = hr_fork_exec(REUSEPORTD_BIN, d->dir, args, ofd, efd, d->nofile);
	if (pid < 0)
		goto out;
	for (;;) {
		pid_t p = waitpid(pid, &st, WNOHANG);

		if (p == pid) {
			status = hr_status_of(st);
			break;
		}
		if (hr_now_ms() >= deadline) {
			hr_note("run: still running after %d ms; killing it",
				timeout_ms);
			kill(-pid, SIGKILL);
			waitpid(pid, &st, 0);
			while (waitpid(-pid, NULL, WNOHANG) > 0)
				;
			break;
		}
		poll(NULL, 0, 5);
	}
out:
	if (out && outlen) {
		ssize_t r = ofd >= 0 ? pread(ofd, out, outlen - 1, 0) : -1;

		out[r > 0 ? r : 0] = '\0';
	}
	if (err && errlen) {
		ssize_t r = efd >= 0 ? pread(efd, err, errlen - 1, 0) : -1;

		err[r > 0 ? r : 0] = '\0';
	}
	if (ofd >= 0)
		close(ofd);
	if (efd >= 0)
		close(efd);
	return status;
}

/* --- stopping --- */

static int hr_log_has_sanitizer_report(const struct hr_daemon *d)
{
	static const char *const marks[] = {
		"ERROR: AddressSanitizer",
		"ERROR: LeakSanitizer",
		"runtime error:",
		"WARNING: ThreadSanitizer",
	};

	for (size_t i = 0; i < sizeof(marks) / sizeof(marks[0]); i++)
		if (hr_log_contains(d, marks[i]))
			return 1;
	return 0;
}

int hr_wait_exit(struct hr_daemon *d, int timeout_ms)
{
	int64_t deadline = hr_now_ms() + timeout_ms;

	if (d->pid <= 0)
		return -1;
	while (!hr_reap_nohang(d)) {
		if (hr_now_ms() >= deadline) {
			hr_note("daemon pid %ld: expected exit within %d ms, seen still running; SIGKILL",
				(long)d->pid, timeout_ms);
			hr_log_dump(d, "daemon did not exit");
			hr_kill_group(d);
			return -1;
		}
		if (d->pidfd >= 0) {
			struct pollfd p = { .fd = d->pidfd, .events = POLLIN };

			poll(&p, 1, hr_left(deadline));
		} else {
			poll(NULL, 0, 5);
		}
	}
	if (hr_log_has_sanitizer_report(d)) {
		hr_log_dump(d, "sanitizer report in the daemon's log");
		return -1;
	}
	d->clean = d->status == 0;
	return d->status;
}

int hr_stop(struct hr_daemon *d, int sig)
{
	if (d->pid <= 0 || d->reaped)
		return d->reaped ? d->status : -1;
	if (kill(d->pid, sig) < 0)
		hr_note("kill %ld: %s", (long)d->pid, strerror(errno));
	return hr_wait_exit(d, HR_STOP_MS);
}

int hr_wait_pid(struct hr_daemon *d, pid_t pid, int timeout_ms)
{
	int fd, st = 0;

	if (pid == d->pid)
		return hr_wait_exit(d, timeout_ms);
	fd = (int)syscall(SYS_pidfd_open, pid, 0U);
	if (fd >= 0) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int r = poll(&p, 1, timeout_ms);

		close(fd);
		if (r != 1) {
			hr_note("pid %ld: expected gone within %d ms, seen still running",
				(long)pid, timeout_ms);
			hr_log_dump(d, "still running");
			return -1;
		}
	}
	if (waitpid(pid, &st, 0) != pid)
		return 0; /* its parent reaped it */
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

int hr_group_alive(const struct hr_daemon *d)
{
	DIR *dp;
	struct dirent *de;
	int n = 0;

	if (d->pid <= 0 || !(dp = opendir("/proc")))
		return 0;
	while ((de = readdir(dp))) {
		char path[64], buf[512], state;
		long pgrp;
		char *rp;
		FILE *f;

		if (!isdigit((unsigned char)de->d_name[0]))
			continue;
		snprintf(path, sizeof(path), "/proc/%.32s/stat", de->d_name);
		if (!(f = fopen(path, "re")))
			continue;
		if (!fgets(buf, sizeof(buf), f)) {
			fclose(f);
			continue;
		}
		fclose(f);
		/* "pid (comm) S ppid pgrp ...": comm may hold spaces. */
		rp = strrchr(buf, ')');
		if (rp && sscanf(rp + 1, " %c %*d %ld", &state, &pgrp) == 2 &&
		    pgrp == d->pid && state != 'Z' && state != 'X')
			n++;
	}
	closedir(dp);
	return n;
}

/* --- the log --- */

char *hr_log_read(const struct hr_daemon *d)
{
	FILE *f = fopen(d->log, "re");
	char *buf = NULL;
	size_t len = 0, cap = 0;

	if (!f)
		return strdup("");
	for (;;) {
		if (cap - len < 4096) {
			char *nb = realloc(buf, cap + 65536);

			if (!nb) {
				free(buf);
				fclose(f);
				return NULL;
			}
			buf = nb;
			cap += 65536;
		}
		size_t r = fread(buf + len, 1, cap - len - 1, f);

		if (r == 0)
			break;
		len += r;
	}
	fclose(f);
	buf[len] = '\0';
	return buf;
}

int hr_log_contains(const struct hr_daemon *d, const char *needle)
{
	char *log = hr_log_read(d);
	int found = log && strstr(log, needle) != NULL;

	free(log);
	return found;
}

void hr_log_dump(const struct hr_daemon *d, const char *why)
{
	char *log = hr_log_read(d);
	char *line, *save = NULL;
	int n = 0;

	hr_note("---- %s: %s ----", why, d->log);
	for (line = log ? strtok_r(log, "\n", &save) : NULL; line;
	     line = strtok_r(NULL, "\n", &save)) {
		/* A runaway log must not drown the report. */
		if (++n > 400) {
			hr_note("(log truncated)");
			break;
		}
		hr_note("| %s", line);
	}
	hr_note("---- end of log ----");
	free(log);
}

/* --- the stats socket --- */

int hr_ctl_connect(const char *path, int timeout_ms)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int64_t deadline = hr_now_ms() + timeout_ms;
	int fd;

	if (strlen(path) >= sizeof(sun.sun_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	strcpy(sun.sun_path, path);
	for (;;) {
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
			    0);
		if (fd < 0)
			return -1;
		if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0)
			return fd;
		int e = errno;

		close(fd);
		/* EAGAIN: the backlog is full, worth a retry. Anything else
		 * (ENOENT: not up yet) is the caller's to judge. */
		if (e != EAGAIN || hr_now_ms() >= deadline) {
			errno = e;
			return -1;
		}
		poll(NULL, 0, 5);
	}
}

/* One exchange; *resp grows (doubling) up to max when growable. */
static ssize_t hr_ctl_io(const char *path, const void *req, size_t len,
			 int shut_wr, char **resp, size_t *cap, size_t max,
			 int timeout_ms)
{
	int64_t deadline = hr_now_ms() + timeout_ms;
	const char *p = req;
	size_t sent = 0, got = 0;
	int fd = hr_ctl_connect(path, timeout_ms), writing = len > 0, e;

	if (fd < 0)
		return -1;
	if (!writing && shut_wr)
		shutdown(fd, SHUT_WR);
	for (;;) {
		struct pollfd pf = { .fd = fd,
				     .events = POLLIN | (writing ? POLLOUT : 0) };

		if (poll(&pf, 1, hr_left(deadline)) == 0) {
			errno = ETIMEDOUT;
			goto fail;
		}
		if (got + 1 == *cap) {
			char *nb = *cap * 2 <= max ? realloc(*resp, *cap * 2) :
						     NULL;

			if (!nb) {
				errno = EMSGSIZE;
				goto fail;
			}
			*resp = nb;
			*cap *= 2;
		}
		if (pf.revents & (POLLIN | POLLHUP | POLLERR)) {
			ssize_t n = read(fd, *resp + got, *cap - 1 - got);

			if (n == 0)
				break;
			/* Queued data is read before a reset shows (a server
			 * that closes on unread input resets us). */
			if (n < 0 && (errno == ECONNRESET || errno == EPIPE) &&
			    got > 0)
				break;
			if (n < 0 && errno != EAGAIN && errno != EINTR)
				goto fail;
			if (n > 0)
				got += (size_t)n;
		}
		if (writing && (pf.revents & POLLOUT)) {
			ssize_t n = send(fd, p + sent, len - sent, MSG_NOSIGNAL);

			if (n < 0 && (errno == EPIPE || errno == ECONNRESET)) {
				writing = 0; /* the server has had enough */
			} else if (n < 0 && errno != EAGAIN && errno != EINTR) {
				goto fail;
			} else if (n > 0 && (sent += (size_t)n) == len) {
				writing = 0;
				if (shut_wr)
					shutdown(fd, SHUT_WR);
			}
		}
	}
	close(fd);
	(*resp)[got] = '\0';
	return (ssize_t)got;
fail:
	e = errno;
	close(fd);
	(*resp)[got] = '\0';
	errno = e;
	return -1;
}

ssize_t hr_ctl_raw(const char *path, const void *req, size_t len, int shut_wr,
		   char *resp, size_t cap, int timeout_ms)
{
	return hr_ctl_io(path, req, len, shut_wr, &resp, &cap, cap, timeout_ms);
}

static json_t *hr_parse_reply(const char *cmd, const char *buf, ssize_t n, int loud)
{
	json_error_t je;
	json_t *doc;

	if (n <= 0 || buf[n - 1] != '\n') {
		if (loud)
			hr_note("query '%s': expected one JSON document and a newline, seen %zd bytes: %.200s",
				cmd, n, n > 0 ? buf : "");
		return NULL;
	}
	doc = json_loadb(buf, (size_t)n, 0, &je);
	if (!doc && loud)
		hr_note("query '%s': bad JSON (%s at %d): %.300s", cmd, je.text,
			je.position, buf);
	return doc;
}

static json_t *hr_query_ms(struct hr_daemon *d, const char *cmd, int ms, int loud)
{
	size_t cap = 65536;
	char *buf = malloc(cap), line[512];
	ssize_t n;
	json_t *doc;

	if (!buf)
		return NULL;
	snprintf(line, sizeof(line), "%s\n", cmd);
	/* `connections` of thousands is a few MiB; 1 GiB means runaway. */
	n = hr_ctl_io(d->sock, line, strlen(line), 0, &buf, &cap, 1u << 30, ms);
	if (n < 0) {
		if (loud)
			hr_note("query '%s' on %s: %s", cmd, d->sock,
				strerror(errno));
		free(buf);
		return NULL;
	}
	doc = hr_parse_reply(cmd, buf, n, loud);
	free(buf);
	return doc;
}

static json_t *hr_query_quiet(struct hr_daemon *d, const char *cmd, int ms)
{
	return hr_query_ms(d, cmd, ms, 0);
}

json_t *hr_query(struct hr_daemon *d, const char *cmd)
{
	return hr_query_ms(d, cmd, HR_QUERY_MS, 1);
}

json_t *hr_query_ok(struct hr_daemon *d, const char *cmd)
{
	json_t *doc = hr_query(d, cmd);

	if (!doc) {
		print_error("query '%s': expected one JSON document, seen none (notes above)\n",
			    cmd);
		fail();
	}
	return doc;
}

json_int_t hr_total(struct hr_daemon *d, const char *counter)
{
	char path[128];
	json_t *st = hr_query_ok(d, "stats");
	json_int_t v;

	snprintf(path, sizeof(path), "totals/%s", counter);
	v = hr_jint(st, path);
	json_decref(st);
	return v;
}

void hr_write_conf(const struct hr_daemon *d, const char *name,
		   const char *text, char *path, size_t len)
{
	FILE *f;

	snprintf(path, len, "%s/%s", d->dir, name);
	f = fopen(path, "w");
	hr_check(f != NULL, "%s: %s", path, strerror(errno));
	fputs(text, f);
	hr_check(fclose(f) == 0, "%s: %s", path, strerror(errno));
}

void hr_start_conf(struct hr_daemon *d, const char *const *extra,
		   const char *head, const char *fmt, va_list ap)
{
	char text[2048], path[256];
	const char *args[16] = { "-c", path };
	int n = snprintf(text, sizeof(text), "%s", head), k = 2;

	vsnprintf(text + n, sizeof(text) - (size_t)n, fmt, ap);
	hr_write_conf(d, "daemon.conf", text, path, sizeof(path));
	for (; extra && *extra && k < 15; extra++)
		args[k++] = *extra;
	args[k] = NULL;
	hr_start_ok(d, args);
}

struct hr_int_at {
	const char *path;
	json_int_t want;
	int at_least;
};

static int hr_int_holds(json_t *st, void *arg)
{
	const struct hr_int_at *a = arg;
	json_int_t v = hr_jint(st, a->path);

	return a->at_least ? v >= a->want : v == a->want;
}

void hr_wait_int(struct hr_daemon *d, const char *path, json_int_t want,
		 int at_least, int timeout_ms)
{
	struct hr_int_at a = { path, want, at_least };

	hr_check(hr_wait_for(d, hr_int_holds, &a, timeout_ms), "%s %s %lld",
		 path, at_least ? "reaches" : "is", (long long)want);
}

int hr_wait_for(struct hr_daemon *d, hr_pred pred, void *arg, int timeout_ms)
{
	int64_t deadline = hr_now_ms() + timeout_ms;
	json_t *st;

	for (;;) {
		st = hr_query_ms(d, "stats", HR_QUERY_MS, 0);
		if (st && pred(st, arg)) {
			json_decref(st);
			return 1;
		}
		if (hr_now_ms() >= deadline || (d->pid > 0 && hr_reap_nohang(d)))
			break;
		json_decref(st);
		poll(NULL, 0, HR_POLL_MS);
	}
	hr_note("wait_for: condition not met within %d ms%s; last stats: %s",
		timeout_ms, d->reaped ? " (the daemon exited)" : "",
		st ? hr_jdump(st) : "(no answer)");
	json_decref(st);
	return 0;
}

/* --- JSON helpers --- */

json_t *hr_jget(json_t *doc, const char *path)
{
	char key[64];

	while (doc && *path) {
		size_t n = strcspn(path, "/");

		if (n >= sizeof(key))
			return NULL;
		memcpy(key, path, n);
		key[n] = '\0';
		if (json_is_array(doc))
			doc = isdigit((unsigned char)key[0]) ?
				      json_array_get(doc, strtoul(key, NULL, 10)) :
				      NULL;
		else
			doc = json_object_get(doc, key);
		path += n + (path[n] == '/');
	}
	return doc;
}

json_int_t hr_jint(json_t *doc, const char *path)
{
	json_t *v = hr_jget(doc, path);

	return json_is_integer(v) ? json_integer_value(v) : -1;
}

const char *hr_jstr(json_t *doc, const char *path)
{
	const char *s = json_string_value(hr_jget(doc, path));

	return s ? s : "";
}

json_t *hr_worker(json_t *doc, int id)
{
	json_t *w, *best = NULL;
	size_t i;

	json_array_foreach(json_object_get(doc, "workers"), i, w)
		if (hr_jint(w, "id") == id &&
		    (!best ||
		     hr_jint(w, "generation") >= hr_jint(best, "generation")))
			best = w;
	return best;
}

int hr_totals_are_sum(json_t *doc, char *why, size_t len)
{
	json_t *totals = json_object_get(doc, "totals");
	json_t *workers = json_object_get(doc, "workers");
	const char *key;
	json_t *v;

	if (!json_is_object(totals) || !json_is_array(workers)) {
		snprintf(why, len,
			 "expected objects totals and workers[], seen %s",
			 hr_jdump(doc));
		return -1;
	}
	json_object_foreach(totals, key, v) {
		json_int_t sum = 0;
		json_t *w;
		size_t i;

		if (!json_is_integer(v))
			continue;
		json_array_foreach(workers, i, w)
			sum += json_integer_value(json_object_get(w, key));
		if (sum != json_integer_value(v)) {
			snprintf(why, len,
				 "totals.%s: expected the workers' sum %" JSON_INTEGER_FORMAT
				 ", seen %" JSON_INTEGER_FORMAT,
				 key, sum, json_integer_value(v));
			return -1;
		}
	}
	return 0;
}

const char *hr_jdump(json_t *doc)
{
	static char buf[4096];
	char *s = json_dumps(doc, JSON_COMPACT);

	snprintf(buf, sizeof(buf), "%s", s ? s : "(null)");
	if (s && strlen(s) >= sizeof(buf))
		strcpy(buf + sizeof(buf) - 5, "...");
	free(s);
	return buf;
}

/* --- TCP clients --- */

static socklen_t hr_loopback(int family, int port, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (family == AF_INET6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		s6->sin6_addr = in6addr_loopback;
		return sizeof(*s6);
	}
	struct sockaddr_in *s4 = (struct sockaddr_in *)ss;

	s4->sin_family = AF_INET;
	s4->sin_port = htons((uint16_t)port);
	s4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	return sizeof(*s4);
}

static int hr_connect_start(int family, int port)
{
	struct sockaddr_storage ss;
	socklen_t sl = hr_loopback(family, port, &ss);
	int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&ss, sl) < 0 && errno != EINPROGRESS) {
		int e = errno;

		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

static int hr_connect_result(int fd)
{
	int e = 0;
	socklen_t l = sizeof(e);

	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &l) < 0)
		return errno;
	return e;
}

int hr_connect(int family, int port, int timeout_ms)
{
	int fd = hr_connect_start(family, port), e;
	struct pollfd pf;

	if (fd < 0) {
		hr_note("connect to port %d: %s", port, strerror(errno));
		return -1;
	}
	pf = (struct pollfd){ .fd = fd, .events = POLLOUT };
	if (poll(&pf, 1, timeout_ms) != 1) {
		hr_note("connect to port %d: no answer within %d ms", port,
			timeout_ms);
		close(fd);
		return -1;
	}
	if ((e = hr_connect_result(fd)) != 0) {
		hr_note("connect to port %d: %s", port, strerror(e));
		close(fd);
		return -1;
	}
	return fd;
}

int hr_connect_tcp(int port)
{
	return hr_connect(AF_INET, port, 5000);
}

int hr_have_port_range(void)
{
	uint32_t v = 40000u << 16 | 30000u;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), ok;

	ok = setsockopt(fd, IPPROTO_IP, 51 /* IP_LOCAL_PORT_RANGE */, &v,
			sizeof(v)) == 0;
	close(fd);
	return ok;
}

int hr_refusing_port(int *port)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t len = sizeof(a);
	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	hr_check(s >= 0 && bind(s, (struct sockaddr *)&a, sizeof(a)) == 0 &&
			 getsockname(s, (struct sockaddr *)&a, &len) == 0,
		 "a refusing port");
	*port = ntohs(a.sin_port);
	return s;
}

ssize_t hr_write_all(int fd, const void *buf, size_t len, int timeout_ms)
{
	int64_t deadline = hr_now_ms() + timeout_ms;
	const char *p = buf;
	size_t done = 0;

	while (done < len) {
		ssize_t n = send(fd, p + done, len - done, MSG_NOSIGNAL);

		if (n > 0) {
			done += (size_t)n;
			continue;
		}
		if (n < 0 && errno != EAGAIN && errno != EINTR) {
			hr_note("write fd %d: %s after %zu of %zu bytes", fd,
				strerror(errno), done, len);
			return -1;
		}
		struct pollfd pf = { .fd = fd, .events = POLLOUT };

		if (poll(&pf, 1, hr_left(deadline)) == 0) {
			hr_note("write fd %d: timeout after %zu of %zu bytes",
				fd, done, len);
			return -1;
		}
	}
	return (ssize_t)done;
}

/* Reads into buf until want bytes, EOF, error or the deadline. */
static ssize_t hr_read_some(int fd, char *buf, size_t want, int until_eof,
			    int timeout_ms)
{
	int64_t deadline = hr_now_ms() + timeout_ms;
	size_t got = 0;

	for (;;) {
		if (!until_eof && got == want)
			return (ssize_t)got;
		char spill;
		ssize_t n = got < want ? read(fd, buf + got, want - got) :
					 read(fd, &spill, 1);

		if (n == 0)
			return until_eof ? (ssize_t)got : -1;
		if (n > 0) {
			if (got == want) {
				hr_note("read fd %d: more than the expected %zu bytes",
					fd, want);
				return -1;
			}
			got += (size_t)n;
			continue;
		}
		if (errno != EAGAIN && errno != EINTR) {
			hr_note("read fd %d: %s after %zu bytes", fd,
				strerror(errno), got);
			return -1;
		}
		struct pollfd pf = { .fd = fd, .events = POLLIN };

		if (poll(&pf, 1, hr_left(deadline)) == 0) {
			hr_note("read fd %d: timeout after %zu of %zu bytes",
				fd, got, want);
			return -1;
		}
	}
}

ssize_t hr_read_exact(int fd, void *buf, size_t len, int timeout_ms)
{
	ssize_t n = hr_read_some(fd, buf, len, 0, timeout_ms);

	return n == (ssize_t)len ? n : -1;
}

ssize_t hr_read_until_eof(int fd, void *buf, size_t cap, int timeout_ms)
{
	return hr_read_some(fd, buf, cap, 1, timeout_ms);
}

int hr_http_response(int fd, int timeout_ms)
{
	char buf[2048];
	size_t have = 0;
	int64_t end = hr_now_ms() + timeout_ms;

	for (;;) {
		struct pollfd p = { fd, POLLIN, 0 };
		char *head_end, *cl;
		ssize_t n;

		buf[have] = '\0';
		head_end = strstr(buf, "\r\n\r\n");
		cl = strstr(buf, "Content-Length: ");
		if (head_end && cl &&
		    have >= (size_t)(head_end + 4 - buf) +
				    strtoul(cl + 16, NULL, 10)) {
			if (strncmp(buf, "HTTP/1.1 200 ", 13))
				return 0;
			return strstr(buf, "Connection: close") ? 2 : 1;
		}
		if (hr_now_ms() > end || poll(&p, 1, 100) < 0)
			return 0;
		n = read(fd, buf + have, sizeof(buf) - 1 - have);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
			return 0;
		if (n > 0)
			have += (size_t)n;
	}
}

int hr_wait_closed(int fd, int timeout_ms)
{
	int64_t deadline = hr_now_ms() + timeout_ms;
	char buf[4096];

	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));

		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
			return 1;
		if (n > 0)
			continue;
		struct pollfd pf = { .fd = fd, .events = POLLIN };

		if (poll(&pf, 1, hr_left(deadline)) == 0)
			return 0;
	}
}

uint8_t hr_payload_byte(uint32_t seed, uint32_t id, size_t off)
{
	uint32_t x = seed * 0x9E3779B1u ^ id * 0x85EBCA77u ^
		     (uint32_t)off * 0xC2B2AE3Du;

	x ^= x >> 15;
	x *= 0x2C1B3C6Du;
	x ^= x >> 12;
	return (uint8_t)(x >> 24);
}

int hr_connect_many(int family, int port, int n, int inflight, int timeout_ms,
		    int *fds, char *err, size_t errlen)
{
	int64_t deadline = hr_now_ms() + timeout_ms;
	int ep = epoll_create1(EPOLL_CLOEXEC), started = 0, pending = 0, done = 0;
	struct epoll_event evs[256];

	for (int i = 0; i < n; i++)
		fds[i] = -1;
	if (ep < 0) {
		snprintf(err, errlen, "epoll_create1: %s", strerror(errno));
		return -1;
	}
	while (done < n) {
		while (started < n && pending < inflight) {
			int fd = hr_connect_start(family, port);
			struct epoll_event ev = { .events = EPOLLOUT,
						  .data.u32 = (uint32_t)started };

			if (fd < 0) {
				snprintf(err, errlen,
					 "connection %d of %d: connect: %s",
					 started, n, strerror(errno));
				goto fail;
			}
			fds[started++] = fd;
			epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
			pending++;
		}
		int k = epoll_wait(ep, evs, 256, hr_left(deadline));

		if (k <= 0 && hr_now_ms() >= deadline) {
			snprintf(err, errlen,
				 "connect: %d of %d connected, %d pending after %d ms",
				 done, n, pending, timeout_ms);
			goto fail;
		}
		for (int j = 0; j < k; j++) {
			int i = (int)evs[j].data.u32,
			    e = hr_connect_result(fds[i]);

			if (e) {
				snprintf(err, errlen,
					 "connection %d of %d: connect: %s", i,
					 n, strerror(e));
				goto fail;
			}
			epoll_ctl(ep, EPOLL_CTL_DEL, fds[i], NULL);
			pending--;
			done++;
		}
	}
	close(ep);
	return 0;
fail:
	close(ep);
	hr_close_all(fds, n);
	return -1;
}

struct hr_ec {
	size_t sent, got;
	int done, in_only;
};

/* One writable event: more payload out. -1 on a hard error. */
static int hr_ec_write(int fd, struct hr_ec *c, uint32_t seed, uint32_t id,
		       size_t len)
{
	uint8_t chunk[16384];

	while (c->sent < len) {
		size_t n = len - c->sent < sizeof(chunk) ? len - c->sent :
							   sizeof(chunk);

		for (size_t k = 0; k < n; k++)
			chunk[k] = hr_payload_byte(seed, id, c->sent + k);
		ssize_t w = send(fd, chunk, n, MSG_NOSIGNAL);

		if (w < 0)
			return errno == EAGAIN || errno == EINTR ? 0 : -1;
		c->sent += (size_t)w;
	}
	return 0;
}

/* One readable event: check what came back. -1 with err set on trouble. */
static int hr_ec_read(int fd, struct hr_ec *c, uint32_t seed, uint32_t id,
		      size_t len, char *err, size_t errlen)
{
	uint8_t buf[16384];

	for (;;) {
		ssize_t r = read(fd, buf, sizeof(buf));

		if (r < 0 && (errno == EAGAIN || errno == EINTR))
			return 0;
		if (r < 0) {
			snprintf(err, errlen,
				 "connection %u: read: %s after %zu of %zu bytes",
				 id, strerror(errno), c->got, len);
			return -1;
		}
		if (r == 0) {
			snprintf(err, errlen,
				 "connection %u: expected %zu echoed bytes, seen EOF after %zu",
				 id, len, c->got);
			return -1;
		}
		if (c->got + (size_t)r > len) {
			snprintf(err, errlen,
				 "connection %u: expected %zu echoed bytes, seen %zu",
				 id, len, c->got + (size_t)r);
			return -1;
		}
		for (ssize_t k = 0; k < r; k++) {
			uint8_t want = hr_payload_byte(seed, id,
						       c->got + (size_t)k);

			if (buf[k] != want) {
				snprintf(err, errlen,
					 "connection %u: byte %zu: expected 0x%02x, seen 0x%02x",
					 id, c->got + (size_t)k, want, buf[k]);
				return -1;
			}
		}
		c->got += (size_t)r;
		if (c->got == len)
			return 0;
	}
}

int hr_echo_many(const int *fds, int n, const size_t *lens, uint32_t seed,
		 int timeout_ms, char *err, size_t errlen)
{
	int64_t deadline = hr_now_ms() + timeout_ms;
	struct hr_ec *cs = calloc((size_t)n, sizeof(*cs));
	int ep = epoll_create1(EPOLL_CLOEXEC), left = n, rc = -1;
	struct epoll_event evs[256];

	if (!cs || ep < 0) {
		snprintf(err, errlen, "echo: out of memory or epoll");
		goto out;
	}
	for (int i = 0; i < n; i++) {
		struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT,
					  .data.u32 = (uint32_t)i };

		if (lens[i] == 0) {
			cs[i].done = 1;
			left--;
			continue;
		}
		if (epoll_ctl(ep, EPOLL_CTL_ADD, fds[i], &ev) < 0) {
			snprintf(err, errlen, "epoll_ctl: %s", strerror(errno));
			goto out;
		}
	}
	while (left > 0) {
		int k = epoll_wait(ep, evs, 256, hr_left(deadline));

		if (k <= 0 && hr_now_ms() >= deadline) {
			for (int i = 0; i < n; i++)
				if (!cs[i].done) {
					snprintf(err, errlen,
						 "echo: %d of %d connections incomplete after %d ms; e.g. connection %d sent %zu, got back %zu of %zu",
						 left, n, timeout_ms, i,
						 cs[i].sent, cs[i].got, lens[i]);
					break;
				}
			goto out;
		}
		for (int j = 0; j < k; j++) {
			int i = (int)evs[j].data.u32;
			struct hr_ec *c = &cs[i];

			if ((evs[j].events & EPOLLOUT) &&
			    hr_ec_write(fds[i], c, seed, (uint32_t)i, lens[i]) <
				    0) {
				snprintf(err, errlen,
					 "connection %d: write: %s after %zu of %zu bytes",
					 i, strerror(errno), c->sent, lens[i]);
				goto out;
			}
			if ((evs[j].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) &&
			    hr_ec_read(fds[i], c, seed, (uint32_t)i, lens[i],
				       err, errlen) < 0)
				goto out;
			if (c->sent == lens[i] && !c->in_only &&
			    c->got < lens[i]) {
				struct epoll_event ev = { .events = EPOLLIN,
							  .data.u32 = (uint32_t)i };

				epoll_ctl(ep, EPOLL_CTL_MOD, fds[i], &ev);
				c->in_only = 1;
			}
			if (c->got == lens[i] && !c->done) {
				c->done = 1;
				left--;
				epoll_ctl(ep, EPOLL_CTL_DEL, fds[i], NULL);
			}
		}
	}
	rc = 0;
out:
	if (ep >= 0)
		close(ep);
	free(cs);
	return rc;
}

void hr_close_all(int *fds, int n)
{
	for (int i = 0; i < n; i++)
		if (fds[i] >= 0) {
			close(fds[i]);
			fds[i] = -1;
		}
}

int hr_sockaddr_str(const void *sa, char *buf, size_t len)
{
	const struct sockaddr *s = sa;
	char ip[INET6_ADDRSTRLEN];

	if (s->sa_family == AF_INET) {
		const struct sockaddr_in *s4 = sa;

		inet_ntop(AF_INET, &s4->sin_addr, ip, sizeof(ip));
		snprintf(buf, len, "%s:%u", ip, ntohs(s4->sin_port));
		return 0;
	}
	if (s->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = sa;

		inet_ntop(AF_INET6, &s6->sin6_addr, ip, sizeof(ip));
		snprintf(buf, len, "[%s]:%u", ip, ntohs(s6->sin6_port));
		return 0;
	}
	return -1;
}

int hr_endpoints(int fd, char *local, char *remote, size_t len)
{
	struct sockaddr_storage a, b;
	socklen_t al = sizeof(a), bl = sizeof(b);

	if (getsockname(fd, (struct sockaddr *)&a, &al) < 0 ||
	    getpeername(fd, (struct sockaddr *)&b, &bl) < 0)
		return -1;
	return hr_sockaddr_str(&a, local, len) < 0 ||
			       hr_sockaddr_str(&b, remote, len) < 0 ?
		       -1 :
		       0;
}

/* --- /proc --- */

int hr_proc_listeners(int family, int port, unsigned long *inodes, int max)
{
	FILE *f = fopen(family == AF_INET6 ? "/proc/net/tcp6" : "/proc/net/tcp",
			"re");
	char line[512];
	int n = 0;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		unsigned lport, rport, st;
		unsigned long ino;
		char la[64], ra[64];

		/* sl local rem st tx:rx tr:when retrnsmt uid timeout inode */
		if (sscanf(line,
			   " %*d: %63[0-9A-Fa-f]:%x %63[0-9A-Fa-f]:%x %x %*s %*s %*s %*s %*s %lu",
			   la, &lport, ra, &rport, &st, &ino) != 6)
			continue;
		if (st != 0x0A || (int)lport != port) /* 0x0A: TCP_LISTEN */
			continue;
		if (n < max)
			inodes[n] = ino;
		n++;
	}
	fclose(f);
	return n;
}

int hr_proc_socket_inodes(pid_t pid, unsigned long *inodes, int max)
{
	char path[64], target[64];
	struct dirent *de;
	DIR *dp;
	int n = 0;

	snprintf(path, sizeof(path), "/proc/%ld/fd", (long)pid);
	if (!(dp = opendir(path)))
		return -1;
	while ((de = readdir(dp))) {
		unsigned long ino;
		ssize_t l;

		l = readlinkat(dirfd(dp), de->d_name, target, sizeof(target) - 1);
		if (l <= 0)
			continue;
		target[l] = '\0';
		if (sscanf(target, "socket:[%lu]", &ino) != 1)
			continue;
		if (n < max)
			inodes[n] = ino;
		n++;
	}
	closedir(dp);
	return n;
}

long long hr_proc_cpu_ticks(pid_t pid)
{
	char path[64], buf[1024], *rp;
	unsigned long long ut, st;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	if (!(f = fopen(path, "re")))
		return -1;
	rp = fgets(buf, sizeof(buf), f);
	fclose(f);
	/* After "(comm)": state ppid pgrp session tty tpgid flags minflt
	 * cminflt majflt cmajflt utime stime (fields 3..15). */
	if (!rp || !(rp = strrchr(buf, ')')) ||
	    sscanf(rp + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
		   &ut, &st) != 2)
		return -1;
	return (long long)(ut + st);
}

int hr_count_common(const unsigned long *a, int na, const unsigned long *b,
		    int nb, unsigned long *which)
{
	int n = 0;

	for (int i = 0; i < na; i++)
		for (int j = 0; j < nb; j++)
			if (a[i] == b[j]) {
				n++;
				if (which)
					*which = a[i];
				break;
			}
	return n;
}

int hr_remote_sockopt(pid_t pid, unsigned long inode, int level, int name, int *val)
{
#if defined(SYS_pidfd_open) && defined(SYS_pidfd_getfd)
	char path[64], target[64];
	struct dirent *de;
	int fdnum = -1, pfd, fd, e;
	socklen_t l = sizeof(*val);
	DIR *dp;

	snprintf(path, sizeof(path), "/proc/%ld/fd", (long)pid);
	if (!(dp = opendir(path)))
		return -1;
	while (fdnum < 0 && (de = readdir(dp))) {
		unsigned long ino;
		ssize_t n;

		n = readlinkat(dirfd(dp), de->d_name, target, sizeof(target) - 1);
		if (n <= 0)
			continue;
		target[n] = '\0';
		if (sscanf(target, "socket:[%lu]", &ino) == 1 && ino == inode)
			fdnum = atoi(de->d_name);
	}
	closedir(dp);
	if (fdnum < 0) {
		errno = ENOENT;
		return -1;
	}
	if ((pfd = (int)syscall(SYS_pidfd_open, pid, 0U)) < 0)
		return -1;
	fd = (int)syscall(SYS_pidfd_getfd, pfd, fdnum, 0U);
	e = errno;
	close(pfd);
	if (fd < 0) {
		errno = e;
		return -1;
	}
	e = getsockopt(fd, level, name, val, &l);
	close(fd);
	return e;
#else
	(void)pid, (void)inode, (void)level, (void)name, (void)val;
	errno = ENOSYS;
	return -1;
#endif
}

int hr_setup(void **state)
{
	*state = hr_new();
	return *state ? 0 : -1;
}

int hr_teardown(void **state)
{
	hr_free(*state);
	hr_free_all(); /* the extra daemons of a test that failed */
	return 0;
}
