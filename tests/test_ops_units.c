/* test_ops_units.c - the operations modules on their own: the systemd
 * notification datagram, the locked pidfile (and a race for it), the
 * privilege drop (as root), the stats socket's group, and reopening the
 * log file. */
#include "autoconfig.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "log.h"
#include "notify.h"
#include "pidfile.h"
#include "privdrop.h"

static char dir[64];

static void path_in(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "%s/%s", dir, name);
}

static char *slurp(const char *path)
{
	static char buf[65536];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return NULL;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
	return buf;
}

/* --- notify --- */

/* A datagram socket bound at addr; receives one message within 5 s. */
static int dgram_bound(const struct sockaddr_un *sa, socklen_t len)
{
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (const struct sockaddr *)sa, len), 0);
	return fd;
}

static void recv_msg(int fd, char *buf, size_t len)
{
	struct pollfd p = { fd, POLLIN, 0 };
	ssize_t n;

	assert_int_equal(poll(&p, 1, 5000), 1);
	n = recv(fd, buf, len - 1, 0);
	assert_true(n >= 0);
	buf[n] = '\0';
}

static void test_notify(void **state)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char buf[NOTIFY_MAX + 1], name[64];
	struct timespec t0, t1;
	unsigned long long usec;
	int fd;

	(void)state;
	/* Nowhere to send: a no-op that succeeds. */
	unsetenv("NOTIFY_SOCKET");
	assert_int_equal(notify_send("READY=1"), 0);
	setenv("NOTIFY_SOCKET", "", 1);
	assert_int_equal(notify_reloading(), 0);

	/* A path. */
	path_in(sa.sun_path, sizeof(sa.sun_path), "notify.sock");
	fd = dgram_bound(&sa, sizeof(sa));
	setenv("NOTIFY_SOCKET", sa.sun_path, 1);
	assert_int_equal(notify_send("READY=1\nSTATUS=%d workers", 4), 0);
	recv_msg(fd, buf, sizeof(buf));
	assert_string_equal(buf, "READY=1\nSTATUS=4 workers");
	/* Muted (another master speaks for the service): nothing is sent. */
	notify_mute(1);
	assert_int_equal(notify_send("STOPPING=1"), 0);
	notify_mute(0);
	assert_int_equal(notify_send("MAINPID=%d", 42), 0);
	recv_msg(fd, buf, sizeof(buf));
	assert_string_equal(buf, "MAINPID=42"); /* not STOPPING=1 */

	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(notify_reloading(), 0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	recv_msg(fd, buf, sizeof(buf));
	assert_int_equal(sscanf(buf, "RELOADING=1\nMONOTONIC_USEC=%llu", &usec),
			 1);
	assert_true(usec >= (unsigned long long)t0.tv_sec * 1000000 +
				    (unsigned long long)t0.tv_nsec / 1000);
	assert_true(usec <= (unsigned long long)t1.tv_sec * 1000000 +
				    (unsigned long long)t1.tv_nsec / 1000);
	close(fd);

	/* The abstract namespace: '@' stands for the leading NUL. */
	snprintf(name, sizeof(name), "@reuseportd-test-%ld", (long)getpid());
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path + 1, name + 1, strlen(name) - 1);
	fd = dgram_bound(&sa, (socklen_t)(offsetof(struct sockaddr_un, sun_path) +
					  strlen(name)));
	setenv("NOTIFY_SOCKET", name, 1);
	assert_int_equal(notify_send("STOPPING=1"), 0);
	recv_msg(fd, buf, sizeof(buf));
	assert_string_equal(buf, "STOPPING=1");
	close(fd);

	/* Not an address; nobody listening; too long a message. */
	setenv("NOTIFY_SOCKET", "relative/path", 1);
	errno = 0;
	assert_int_equal(notify_send("READY=1"), -1);
	assert_int_equal(errno, EINVAL);
	path_in(buf, sizeof(buf), "nobody.sock");
	setenv("NOTIFY_SOCKET", buf, 1);
	assert_int_equal(notify_send("READY=1"), -1);
	memset(buf, 'x', NOTIFY_MAX);
	buf[NOTIFY_MAX] = '\0';
	assert_int_equal(notify_send("%s", buf), -1);
	assert_int_equal(errno, EMSGSIZE);
	unsetenv("NOTIFY_SOCKET");
}

/* --- pidfile --- */

/* 1 if another open file description cannot take the lock. */
static int is_locked(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	int locked;

	if (fd < 0)
		return 0;
	locked = flock(fd, LOCK_EX | LOCK_NB) < 0 && errno == EWOULDBLOCK;
	close(fd);
	return locked;
}

static int count_prefixed(const char *prefix)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	assert_non_null(d);
	while ((de = readdir(d)))
		n += strncmp(de->d_name, prefix, strlen(prefix)) == 0;
	closedir(d);
	return n;
}

static void test_pidfile(void **state)
{
	char path[128], other[128], err[512], want[256];
	struct stat st;
	int fd;

	(void)state;
	path_in(path, sizeof(path), "a.pid");
	assert_int_equal(pidfile_create(path, err, sizeof(err)), 0);
	assert_int_equal(pidfile_read(path), (long)getpid());
	assert_true(is_locked(path));
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0644);
	assert_int_equal(count_prefixed("a.pid."), 0); /* no temporary file left */
	assert_int_equal(pidfile_create(path, err, sizeof(err)), -1); /* once */
	pidfile_release();
	assert_int_equal(access(path, F_OK), -1);

	/* A stale file (no lock): taken over. */
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_int_equal(write(fd, "999999999\n", 10), 10);
	close(fd);
	assert_int_equal(pidfile_create(path, err, sizeof(err)), 0);
	assert_int_equal(pidfile_read(path), (long)getpid());
	pidfile_release();

	/* Locked by a live instance: refused, naming its pid. */
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	assert_int_equal(write(fd, "4242\n", 5), 5);
	assert_int_equal(flock(fd, LOCK_EX), 0);
	assert_int_equal(pidfile_create(path, err, sizeof(err)), -1);
	snprintf(want, sizeof(want),
		 "pidfile %s: reuseportd is already running as pid 4242", path);
	assert_string_equal(err, want);
	assert_int_equal(pidfile_read(path), 4242); /* left as it was */
	close(fd);
	unlink(path);

	/* Release leaves alone a file that is no longer ours. */
	assert_int_equal(pidfile_create(path, err, sizeof(err)), 0);
	path_in(other, sizeof(other), "other.pid");
	fd = open(other, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_int_equal(write(fd, "7\n", 2), 2);
	close(fd);
	assert_int_equal(rename(other, path), 0);
	pidfile_release();
	assert_int_equal(pidfile_read(path), 7);
	unlink(path);

	/* A directory that does not exist. */
	path_in(path, sizeof(path), "no/such/dir.pid");
	assert_int_equal(pidfile_create(path, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "pidfile %s: No such file or directory",
		 path);
	assert_string_equal(err, want);
}

/* An upgrade moves the old master's pidfile aside to PATH.oldbin, still
 * locked, and a rollback moves it back over the new master's. */
static void test_pidfile_move(void **state)
{
	char path[128], old[160], err[512];
	int fd;

	(void)state;
	path_in(path, sizeof(path), "m.pid");
	snprintf(old, sizeof(old), "%s" PIDFILE_OLDBIN, path);
	assert_string_equal(pidfile_path(), "");
	assert_int_equal(pidfile_move(old, err, sizeof(err)), -1);
	assert_int_equal(pidfile_create(path, err, sizeof(err)), 0);
	assert_int_equal(pidfile_move(old, err, sizeof(err)), 0);
	assert_string_equal(pidfile_path(), old);
	assert_int_equal(access(path, F_OK), -1);
	assert_int_equal(pidfile_read(old), (long)getpid());
	assert_true(is_locked(old));

	/* The new master's file at PATH; the rollback replaces it. */
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_int_equal(write(fd, "4242\n", 5), 5);
	close(fd);
	assert_int_equal(pidfile_move(path, err, sizeof(err)), 0);
	assert_int_equal(pidfile_read(path), (long)getpid());
	assert_true(is_locked(path));
	assert_int_equal(access(old, F_OK), -1);

	/* Removed by hand meanwhile: written anew where it goes. */
	assert_int_equal(unlink(path), 0);
	assert_int_equal(pidfile_move(old, err, sizeof(err)), 0);
	assert_int_equal(pidfile_read(old), (long)getpid());
	assert_true(is_locked(old));
	pidfile_release();
	assert_int_equal(access(old, F_OK), -1);
	assert_int_equal(access(path, F_OK), -1);
	assert_string_equal(pidfile_path(), "");
}

/* Eight processes race for one pidfile, twenty times: exactly one wins
 * each time, and the file names the winner. */
static void test_pidfile_race(void **state)
{
	enum { RACERS = 8, ROUNDS = 20 };
	char path[128];

	(void)state;
	path_in(path, sizeof(path), "race.pid");
	for (int round = 0; round < ROUNDS; round++) {
		pid_t pids[RACERS];
		int go[2], hold[2], wins = 0;
		long winner = 0;

		assert_int_equal(pipe(go), 0);
		assert_int_equal(pipe(hold), 0);
		for (int i = 0; i < RACERS; i++) {
			pids[i] = fork();
			assert_true(pids[i] >= 0);
			if (pids[i] == 0) {
				char err[512], c;

				close(go[1]);
				close(hold[1]);
				/* All start together when go closes. */
				if (read(go[0], &c, 1) < 0)
					_exit(3);
				if (pidfile_create(path, err, sizeof(err)) < 0)
					_exit(strstr(err,
						     "already running as pid") ||
							      strstr(err,
								     "wrote no pid") ?
						      1 :
						      2);
				/* Hold it until the parent has looked. */
				if (read(hold[0], &c, 1) < 0)
					_exit(3);
				pidfile_release();
				_exit(0);
			}
		}
		close(go[0]);
		close(hold[0]);
		close(go[1]);
		/* The losers exit on their own; the winner waits. */
		for (int i = 0, st; i < RACERS; i++) {
			int waited = 0;
			pid_t p;

			while ((p = waitpid(pids[i], &st, WNOHANG)) == 0 &&
			       waited < 10000) {
				/* Still running: the winner, or not decided yet. */
				long w = pidfile_read(path);

				if (w == (long)pids[i] && is_locked(path))
					break;
				poll(NULL, 0, 2);
				waited += 2;
			}
			if (p == pids[i]) {
				if (!WIFEXITED(st) || WEXITSTATUS(st) != 1)
					fail_msg("round %d: racer %d exited with %d",
						 round, i, st);
				pids[i] = 0;
			} else {
				wins++;
				winner = (long)pids[i];
			}
		}
		assert_int_equal(wins, 1);
		assert_int_equal(pidfile_read(path), winner);
		close(hold[1]);
		for (int i = 0, st; i < RACERS; i++)
			if (pids[i]) {
				assert_int_equal(waitpid(pids[i], &st, 0),
						 pids[i]);
				assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
			}
		assert_int_equal(access(path, F_OK), -1); /* the winner removed it */
	}
}

/* --- privileges --- */

/* Runs fn in a child; returns its exit status (0: all checks held). */
static int in_child(int (*fn)(void))
{
	pid_t pid = fork();
	int st;

	assert_true(pid >= 0);
	if (pid == 0)
		_exit(fn());
	assert_int_equal(waitpid(pid, &st, 0), pid);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 100 + WTERMSIG(st);
}

static int drop_to_nobody(void)
{
	static struct config c;
	struct passwd *pw = getpwnam("nobody");
	gid_t groups[64];
	char err[256];
	int n, sig = 0;

	config_defaults(&c);
	strcpy(c.user, "nobody");
	if (!pw || privdrop_init(&c, err, sizeof(err)) < 0 || !privdrop_active())
		return 1;
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (privdrop_apply(err, sizeof(err)) < 0) {
		fprintf(stderr, "privdrop_apply: %s\n", err);
		return 2;
	}
	if (getuid() != pw->pw_uid || geteuid() != pw->pw_uid ||
	    getgid() != pw->pw_gid || getegid() != pw->pw_gid)
		return 3;
	n = getgroups(64, groups);
	for (int i = 0; i < n; i++)
		if (groups[i] == 0)
			return 4; /* root's group survived */
	if (setuid(0) == 0 || seteuid(0) == 0)
		return 5;
	prctl(PR_GET_PDEATHSIG, &sig);
	if (sig != SIGTERM)
		return 6; /* the kernel cleared it and nobody set it again */
	return 0;
}

static int drop_group_only(void)
{
	static struct config c;
	gid_t groups[8];
	char err[256];

	config_defaults(&c);
	strcpy(c.group, "nogroup");
	if (privdrop_init(&c, err, sizeof(err)) < 0 ||
	    privdrop_apply(err, sizeof(err)) < 0)
		return 1;
	if (getgid() != privdrop_gid() || getgroups(8, groups) != 1 ||
	    groups[0] != privdrop_gid())
		return 2;
	return getuid() == 0 ? 0 : 3;
}

/* Not root: user and group are ignored, and apply changes nothing. */
static int not_root(void)
{
	static struct config c;
	struct passwd *pw = getpwnam("nobody");
	char err[256];

	if (!pw || setgid(pw->pw_gid) < 0 || setuid(pw->pw_uid) < 0)
		return 1;
	config_defaults(&c);
	strcpy(c.user, "root");
	if (privdrop_init(&c, err, sizeof(err)) < 0 || privdrop_active())
		return 2;
	if (privdrop_apply(err, sizeof(err)) < 0 || getuid() != pw->pw_uid)
		return 3;
	return 0;
}

static void test_privdrop(void **state)
{
	static struct config c;
	char err[256];

	(void)state;
	config_defaults(&c);
	strcpy(c.user, "no-such-user-here");
	assert_int_equal(privdrop_init(&c, err, sizeof(err)), -1);
	assert_string_equal(err, "user 'no-such-user-here' does not exist");
	config_defaults(&c);
	strcpy(c.group, "no-such-group-here");
	assert_int_equal(privdrop_init(&c, err, sizeof(err)), -1);
	assert_string_equal(err, "group 'no-such-group-here' does not exist");
	config_defaults(&c);
	strcpy(c.stats_socket_group, "no-such-group-here");
	assert_int_equal(privdrop_init(&c, err, sizeof(err)), -1);
	assert_string_equal(err,
			    "stats_socket_group 'no-such-group-here' does not exist");
	/* Nothing configured: nothing to do. */
	config_defaults(&c);
	assert_int_equal(privdrop_init(&c, err, sizeof(err)), 0);
	assert_int_equal(privdrop_active(), 0);
	assert_int_equal(privdrop_apply(err, sizeof(err)), 0);

	if (geteuid() != 0) {
		print_message(
			"# not root: the credential changes are not tested\n");
		skip();
	}
	assert_int_equal(in_child(drop_to_nobody), 0);
	assert_int_equal(in_child(drop_group_only), 0);
	assert_int_equal(in_child(not_root), 0);
}

/* geteuid() as the library sees it (-Wl,--wrap=geteuid, src/ops.am):
 * the real one, or fake_euid when it is not -1, so that the root case is
 * tested whoever runs the suite. */
static long fake_euid = -1;
uid_t __real_geteuid(void);
uid_t __wrap_geteuid(void);

uid_t __wrap_geteuid(void)
{
	return fake_euid >= 0 ? (uid_t)fake_euid : __real_geteuid();
}

/* Started as root with no user, the workers would keep uid 0: the
 * daemon and -t warn about that. */
static void test_workers_are_root(void **state)
{
	static struct config c;
	char err[256];

	(void)state;
	fake_euid = 0;
	config_defaults(&c);
	assert_int_equal(privdrop_init(&c, err, sizeof(err)), 0);
	assert_int_equal(privdrop_workers_are_root(), 1);
	/* A group alone changes the gid only: still root. */
	strcpy(c.group, getgrnam("nogroup") ? "nogroup" : "root");
	assert_int_equal(privdrop_init(&c, err, sizeof(err)), 0);
	assert_int_equal(privdrop_workers_are_root(), 1);
	if (getpwnam("nobody")) {
		config_defaults(&c);
		strcpy(c.user, "nobody");
		assert_int_equal(privdrop_init(&c, err, sizeof(err)), 0);
		assert_int_equal(privdrop_workers_are_root(), 0);
		assert_int_equal(privdrop_active(), 1);
	}
	/* Not root: the workers run as whoever started the daemon. */
	fake_euid = 1000;
	config_defaults(&c);
	assert_int_equal(privdrop_init(&c, err, sizeof(err)), 0);
	assert_int_equal(privdrop_workers_are_root(), 0);
	fake_euid = -1;
}

static void test_chown_socket(void **state)
{
	static struct config c;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct group *gr = getgrnam("nogroup");
	char err[256];
	struct stat st;
	int fd;

	(void)state;
	path_in(sa.sun_path, sizeof(sa.sun_path), "stats.sock");
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	/* Without a group: untouched. */
	config_defaults(&c);
	assert_int_equal(privdrop_init(&c, err, sizeof(err)), 0);
	assert_int_equal(privdrop_chown_socket(sa.sun_path, err, sizeof(err)), 0);
	if (geteuid() != 0 || !gr) {
		close(fd);
		skip();
	}
	strcpy(c.stats_socket_group, "nogroup");
	c.stats_socket_mode = 0640;
	assert_int_equal(privdrop_init(&c, err, sizeof(err)), 0);
	assert_int_equal(privdrop_chown_socket(sa.sun_path, err, sizeof(err)), 0);
	assert_int_equal(stat(sa.sun_path, &st), 0);
	assert_int_equal(st.st_gid, gr->gr_gid);
	assert_int_equal(st.st_mode & 0777, 0640);
	close(fd);
}

/* --- the log file --- */

static void test_log_reopen(void **state)
{
	char path[128], old[128], err[256], *text;

	(void)state;
	path_in(path, sizeof(path), "daemon.log");
	path_in(old, sizeof(old), "daemon.log.1");
	log_init("reuseportd", LOG_TO_STDERR, LOG_LVL_INFO);
	assert_int_equal(log_open_file(path, err, sizeof(err)), 0);
	log_info("before the rotation");
	log_debug("not at this level");
	assert_int_equal(rename(path, old), 0);
	log_info("after the rename, before the reopen");
	assert_int_equal(log_reopen(), 0);
	log_warn("after the reopen");

	text = slurp(old);
	assert_non_null(text);
	assert_non_null(strstr(text, "reuseportd[info] master pid "));
	assert_non_null(strstr(text, ": before the rotation\n"));
	assert_non_null(strstr(text, ": after the rename, before the reopen\n"));
	assert_null(strstr(text, "after the reopen\n"));
	assert_null(strstr(text, "not at this level"));
	text = slurp(path);
	assert_non_null(text);
	assert_non_null(strstr(text, "[info] master pid "));
	assert_non_null(strstr(text, ": log reopened: "));
	assert_non_null(strstr(text, "[warn] master pid "));
	assert_non_null(strstr(text, ": after the reopen\n"));
	assert_null(strstr(text, "before the rotation"));

	/* The file cannot be reopened: the old one stays in use. */
	assert_int_equal(rename(path, old), 0);
	assert_int_equal(chmod(dir, 0500), 0);
	if (geteuid() != 0) { /* root ignores the directory's mode */
		assert_int_equal(log_reopen(), -1);
		log_info("still to the old file");
		assert_non_null(strstr(slurp(old), "still to the old file"));
	}
	assert_int_equal(chmod(dir, 0700), 0);
	log_init("reuseportd", LOG_TO_STDERR, LOG_LVL_INFO);
	assert_int_equal(log_open_file("/nonexistent-dir/x.log", err, sizeof(err)),
			 -1);
	assert_string_equal(err,
			    "log /nonexistent-dir/x.log: No such file or directory");
}

/* A forked worker whose descriptors the master closed logs to the file
 * again, tagged with its id. */
static int worker_logs(void)
{
	log_set_worker(3);
	log_info("hello from a worker");
	return 0;
}

static void test_log_worker_after_fork(void **state)
{
	char path[128], err[256], *text, want[64];
	pid_t pid;
	int st;

	(void)state;
	path_in(path, sizeof(path), "worker.log");
	log_init("reuseportd", LOG_TO_STDERR, LOG_LVL_INFO);
	assert_int_equal(log_open_file(path, err, sizeof(err)), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		/* What the master does before a worker starts. */
		for (int fd = 3; fd < 1024; fd++)
			close(fd);
		_exit(worker_logs());
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_int_equal(st, 0);
	text = slurp(path);
	snprintf(want, sizeof(want), "worker 3 pid %ld: hello from a worker\n",
		 (long)pid);
	assert_non_null(strstr(text, want));

	/* With privilege-dropping workers, root gives the file their group. */
	if (geteuid() == 0 && getgrnam("nogroup")) {
		struct stat sb;

		log_set_file_group(getgrnam("nogroup")->gr_gid);
		assert_int_equal(stat(path, &sb), 0);
		assert_int_equal(sb.st_gid, getgrnam("nogroup")->gr_gid);
		assert_int_equal(sb.st_mode & 0777, 0660);
	}
	log_init("reuseportd", LOG_TO_STDERR, LOG_LVL_INFO);
}

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/test_ops_units.XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	chmod(dir, 0700);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_notify),
		cmocka_unit_test(test_pidfile),
		cmocka_unit_test(test_pidfile_move),
		cmocka_unit_test(test_pidfile_race),
		cmocka_unit_test(test_privdrop),
		cmocka_unit_test(test_workers_are_root),
		cmocka_unit_test(test_chown_socket),
		cmocka_unit_test(test_log_reopen),
		cmocka_unit_test(test_log_worker_after_fork),
	};

	return cmocka_run_group_tests_name("ops_units", tests, setup, teardown);
}
