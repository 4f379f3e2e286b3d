/* ops_harness.c - see ops_harness.h. */
#include "autoconfig.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ops_harness.h"

extern char **environ;

#define OH_POLL_MS 5
#define OH_REAPED_MAX 256

static struct {
	pid_t pid;
	int status;
} reaped[OH_REAPED_MAX];
static int nreaped;

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int status_of(int st)
{
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

void oh_reap(void)
{
	pid_t p;
	int st;

	while ((p = waitpid(-1, &st, WNOHANG)) > 0) {
		int slot = nreaped < OH_REAPED_MAX ? nreaped++ : OH_REAPED_MAX - 1;

		reaped[slot].pid = p;
		reaped[slot].status = status_of(st);
	}
}

static int reaped_status(pid_t pid)
{
	for (int i = nreaped - 1; i >= 0; i--)
		if (reaped[i].pid == pid)
			return reaped[i].status;
	return -1;
}

int oh_alive(pid_t pid)
{
	char path[64], buf[512], *p;
	int fd;
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	p = strrchr(buf, ')'); /* the state follows the command name */
	return p && p[1] == ' ' && p[2] != 'Z' && p[2] != 'X';
}

int oh_wait_gone(pid_t pid, int timeout_ms)
{
	long long deadline = now_ms() + timeout_ms;

	for (;;) {
		int st;

		oh_reap();
		st = reaped_status(pid);
		if (st >= 0)
			return st;
		if (!oh_alive(pid) && kill(pid, 0) < 0 && errno == ESRCH)
			return 0;
		if (now_ms() >= deadline)
			return -1;
		poll(NULL, 0, OH_POLL_MS);
	}
}

/* The parent pid in /proc/PID/stat, or -1. */
static pid_t parent_of(pid_t pid)
{
	char path[64], buf[512], *p;
	long ppid = -1;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	p = strrchr(buf, ')');
	if (!p || sscanf(p + 2, "%*c %ld", &ppid) != 1)
		return -1;
	return (pid_t)ppid;
}

void oh_kill_pidfile(const char *pidfile)
{
	pid_t pid = (pid_t)oh_pidfile(pidfile), kids[256];
	int nkids = 0;
	DIR *dp;
	struct dirent *de;

	if (pid <= 0 || !oh_alive(pid))
		return;
	printf("# pid %ld of %s is still running; killing it and its workers\n",
	       (long)pid, pidfile);
	dp = opendir("/proc");
	while (dp && (de = readdir(dp)) && nkids < 256) {
		pid_t p = (pid_t)strtol(de->d_name, NULL, 10);

		if (p > 0 && parent_of(p) == pid)
			kids[nkids++] = p;
	}
	if (dp)
		closedir(dp);
	kill(pid, SIGKILL);
	for (int i = 0; i < nkids; i++)
		kill(kids[i], SIGKILL);
	oh_wait_gone(pid, 5000);
	for (int i = 0; i < nkids; i++)
		oh_wait_gone(kids[i], 5000);
}

/* The child's seccomp filter: bind and listen kill the process. */
static int no_bind_filter(void)
{
#if defined(__x86_64__)
#define OH_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define OH_ARCH AUDIT_ARCH_AARCH64
#endif
#ifdef OH_ARCH
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
			 offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, OH_ARCH, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
			 offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_bind, 2, 0),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_listen, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
	};
	struct sock_fprog prog = { sizeof(f) / sizeof(f[0]), f };

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return -1;
	return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog);
#else
	errno = ENOSYS;
	return -1;
#endif
}

static void child(const char *const *argv, const char *const *env,
		  const char *dir, int flags, int out, int err)
{
	const char *envp[512];
	size_t n = 0;
	sigset_t none;
	int nul = open("/dev/null", O_RDONLY);

	for (char **e = environ; *e && n < 400; e++)
		envp[n++] = *e;
	for (; env && *env && n < 510; env++)
		envp[n++] = *env;
	envp[n] = NULL;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	for (int s = 1; s < NSIG; s++)
		signal(s, SIG_DFL);
	if (nul < 0 || dup2(nul, 0) < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0)
		_exit(126);
	syscall(SYS_close_range, 3U, ~0U, 0U);
	if (dir && chdir(dir) < 0)
		_exit(126);
	if ((flags & OH_NO_BIND) && no_bind_filter() < 0) {
		dprintf(2, "ops_harness: seccomp: %s\n", strerror(errno));
		_exit(125);
	}
	execve(argv[0], (char *const *)argv, (char *const *)envp);
	dprintf(2, "ops_harness: exec %s: %s\n", argv[0], strerror(errno));
	_exit(127);
}

static void copy_out(int fd, char *buf, size_t len)
{
	ssize_t r;

	if (!buf || !len)
		return;
	r = fd >= 0 ? pread(fd, buf, len - 1, 0) : -1;
	buf[r > 0 ? r : 0] = '\0';
}

int oh_run(const char *const *argv, const char *const *env, const char *dir,
	   int flags, int timeout_ms, char *out, size_t outlen, char *err,
	   size_t errlen)
{
	char opath[] = "/tmp/oh-out.XXXXXX", epath[] = "/tmp/oh-err.XXXXXX";
	int ofd = mkostemp(opath, O_CLOEXEC), efd = mkostemp(epath, O_CLOEXEC);
	long long deadline = now_ms() + timeout_ms;
	int status = -1;
	pid_t pid;

	if (ofd >= 0)
		unlink(opath);
	if (efd >= 0)
		unlink(epath);
	if (ofd < 0 || efd < 0)
		goto out;
	fflush(NULL);
	pid = fork();
	if (pid < 0)
		goto out;
	if (pid == 0)
		child(argv, env, dir, flags, ofd, efd);
	for (;;) {
		oh_reap();
		status = reaped_status(pid);
		if (status >= 0)
			break;
		if (now_ms() >= deadline) {
			printf("# %s: still running after %d ms; killing it\n",
			       argv[0], timeout_ms);
			kill(pid, SIGKILL);
			oh_wait_gone(pid, 5000);
			status = -1;
			break;
		}
		poll(NULL, 0, OH_POLL_MS);
	}
out:
	copy_out(ofd, out, outlen);
	copy_out(efd, err, errlen);
	if (ofd >= 0)
		close(ofd);
	if (efd >= 0)
		close(efd);
	return status;
}

void oh_write(const char *path, const char *fmt, ...)
{
	FILE *f = fopen(path, "w");
	va_list ap;

	if (!f) {
		printf("# write %s: %s\n", path, strerror(errno));
		return;
	}
	va_start(ap, fmt);
	vfprintf(f, fmt, ap);
	va_end(ap);
	fclose(f);
}

char *oh_read(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf = NULL;
	size_t len = 0, cap = 0, n;
	char chunk[4096];

	if (f) {
		while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
			if (len + n + 1 > cap) {
				cap = (len + n + 1) * 2;
				buf = realloc(buf, cap);
				if (!buf)
					break;
			}
			memcpy(buf + len, chunk, n);
			len += n;
		}
		fclose(f);
	}
	if (!buf)
		buf = calloc(1, 1);
	else
		buf[len] = '\0';
	return buf;
}

int oh_wait_contains(const char *path, const char *const *needles, int timeout_ms)
{
	long long deadline = now_ms() + timeout_ms;

	for (;;) {
		char *text = oh_read(path);
		int all = text != NULL;

		for (const char *const *n = needles; all && *n; n++)
			all = strstr(text, *n) != NULL;
		free(text);
		if (all)
			return 1;
		if (now_ms() >= deadline)
			return 0;
		poll(NULL, 0, 10);
	}
}

long oh_pidfile(const char *path)
{
	char *text = oh_read(path);
	long pid = text ? strtol(text, NULL, 10) : 0;

	free(text);
	return pid > 0 ? pid : 0;
}

int oh_proc_ids(pid_t pid, const char *key, long ids[4])
{
	char path[64], *text, *line;
	int r = -1;

	snprintf(path, sizeof(path), "/proc/%ld/status", (long)pid);
	text = oh_read(path);
	for (line = text; line && *line;
	     line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL)
		if (!strncmp(line, key, strlen(key))) {
			r = sscanf(line + strlen(key), "%ld %ld %ld %ld",
				   &ids[0], &ids[1], &ids[2], &ids[3]) == 4 ?
				    0 :
				    -1;
			break;
		}
	free(text);
	return r;
}
