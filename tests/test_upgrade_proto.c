/* test_upgrade_proto.c - upgrade.c without the daemon: the variable that
 * carries the descriptors to the new master (format, parse, every refusal
 * a clear message), and the protocol between the two masters, each side
 * against a scripted other side. The old master's side runs a real
 * fork+exec - of this very program, as a fake new master that says what
 * its mode tells it to - so the exec failure, a silent exit and a failure
 * with a reason arrive as they would from reuseportd. */
#include "autoconfig.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
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
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "loop.h"
#include "upgrade.h"
#include "util.h"

#define DEADLINE_MS 5000

/* --- the variable --- */

static void test_env_round_trip(void **state)
{
	struct upgrade_fds f = { .old_pid = 4242,
				 .chan = 5,
				 .stats = 6,
				 .metrics = -1,
				 .nslots = 2,
				 .nlisten = 2,
				 .lst = { 7, 8, 9, 10 } },
			   g;
	char buf[256], err[256];

	(void)state;
	assert_int_equal(upgrade_format(&f, buf, sizeof(buf)), 0);
	assert_string_equal(
		buf,
		"1:old=4242:chan=5:stats=6:metrics=-1:slots=2:listen=2:fds=7,8,9,10");
	assert_int_equal(upgrade_parse(buf, &g, err, sizeof(err)), 0);
	assert_memory_equal(&f, &g, sizeof(f));
	assert_int_equal(upgrade_format(&f, buf, 20), -1); /* does not fit */
}

static void test_env_refused(void **state)
{
	static const struct {
		const char *text, *err;
	} cases[] = {
		{ "", "not version 1" },
		{ "2:old=1", "not version 1" },
		{ "1:pid=1", "expected 'old=' at 'pid=1'" },
		{ "1:old=x:chan=3", "bad old at 'x:chan=3'" },
		{ "1:old=0:chan=3", "bad old" },
		{ "1:old=5:chan=2:stats=-1:metrics=-1:slots=1:listen=1:fds=3",
		  "bad chan" },
		{ "1:old=5:chan=3:stats=-2:metrics=-1:slots=1:listen=1:fds=4",
		  "bad stats" },
		{ "1:old=5:chan=3:stats=-1:metrics=-1:slots=0:listen=1:fds=",
		  "bad slots" },
		{ "1:old=5:chan=3:stats=-1:metrics=-1:slots=1:listen=99:fds=4",
		  "bad listen" },
		{ "1:old=5:chan=3:stats=-1:metrics=-1:slots=1:listen=1:lst=4",
		  "expected 'fds='" },
		{ "1:old=5:chan=3:stats=-1:metrics=-1:slots=2:listen=1:fds=4",
		  "1 descriptors for 2 slots of 1 listeners, expected 2" },
		{ "1:old=5:chan=3:stats=-1:metrics=-1:slots=1:listen=1:fds=4,5",
		  "more descriptors than 1 slots of 1 listeners" },
		{ "1:old=5:chan=3:stats=-1:metrics=-1:slots=1:listen=1:fds=1",
		  "bad descriptor" },
		{ "1:old=5:chan=3:stats=-1:metrics=-1:slots=1:listen=1:fds=4x",
		  "bad descriptor" },
		{ "1:old=99999999999999999999:chan=3", "bad old" },
	};
	struct upgrade_fds f;
	char err[256];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		err[0] = '\0';
		if (upgrade_parse(cases[i].text, &f, err, sizeof(err)) != -1 ||
		    !strstr(err, cases[i].err) ||
		    strncmp(err, UPGRADE_ENV ": ", strlen(UPGRADE_ENV) + 2))
			fail_msg("'%s': expected an error with '%s', seen '%s'",
				 cases[i].text, cases[i].err, err);
	}
}

/* The variable read at start: checked against our parent, the
 * descriptors made close-on-exec, the variable removed. */
static void test_from_env(void **state)
{
	struct upgrade_fds f;
	char err[256], text[256];
	int sv[2];

	(void)state;
	unsetenv(UPGRADE_ENV);
	assert_int_equal(upgrade_from_env(&f, err, sizeof(err)), 0);

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(fcntl(sv[0], F_GETFD) & FD_CLOEXEC, 0);
	snprintf(text, sizeof(text),
		 "1:old=%ld:chan=%d:stats=-1:metrics=-1:slots=1:listen=1:fds=%d",
		 (long)getppid(), sv[0], sv[1]);
	setenv(UPGRADE_ENV, text, 1);
	assert_int_equal(upgrade_from_env(&f, err, sizeof(err)), 1);
	assert_null(getenv(UPGRADE_ENV));
	assert_int_equal(f.chan, sv[0]);
	assert_true(fcntl(sv[0], F_GETFD) & FD_CLOEXEC);
	assert_true(fcntl(sv[1], F_GETFD) & FD_CLOEXEC);

	snprintf(text, sizeof(text),
		 "1:old=%ld:chan=%d:stats=-1:metrics=-1:slots=1:listen=1:fds=%d",
		 (long)getpid(), sv[0], sv[1]);
	setenv(UPGRADE_ENV, text, 1);
	assert_int_equal(upgrade_from_env(&f, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "is not our parent"));
	assert_null(getenv(UPGRADE_ENV));
	close(sv[0]);
	close(sv[1]);
}

/* --- a recorder of the master's side --- */

static struct {
	int hand_over, upgraded, failed, take_back, take_over, give_back;
	char why[512];
} seen;

static void on_hand_over(void *arg, pid_t pid)
{
	(void)arg, (void)pid;
	seen.hand_over++;
}

static void on_upgraded(void *arg, pid_t pid)
{
	(void)arg, (void)pid;
	seen.upgraded++;
}

static void on_failed(void *arg, pid_t pid, const char *why)
{
	(void)arg, (void)pid;
	seen.failed++;
	snprintf(seen.why, sizeof(seen.why), "%s", why);
}

static void on_take_back(void *arg, pid_t pid, const char *why)
{
	(void)arg, (void)pid;
	seen.take_back++;
	snprintf(seen.why, sizeof(seen.why), "%s", why);
}

static void on_take_over(void *arg, pid_t pid)
{
	(void)arg, (void)pid;
	seen.take_over++;
}

static void on_give_back(void *arg, pid_t pid)
{
	(void)arg, (void)pid;
	seen.give_back++;
}

static const struct upgrade_ops ops = {
	on_hand_over, on_upgraded,  on_failed,
	on_take_back, on_take_over, on_give_back,
};

static struct loop *lp;

static int setup(void **state)
{
	(void)state;
	memset(&seen, 0, sizeof(seen));
	lp = loop_new();
	return lp ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	loop_free(lp);
	return 0;
}

/* Turns the loop until *counter reaches want. */
static void turn_until(const int *counter, int want)
{
	uint64_t end = util_now_ms() + DEADLINE_MS;

	while (*counter < want) {
		if (util_now_ms() > end)
			fail_msg("deadline: counter at %d, expected %d",
				 *counter, want);
		assert_true(loop_run_once(lp, 10) >= 0);
	}
}

/* The next message from the side under test ("" at EOF). */
static const char *next_msg(int fd)
{
	static char buf[UPGRADE_MSG_MAX + 1];
	struct pollfd p = { fd, POLLIN, 0 };
	ssize_t n;

	assert_int_equal(poll(&p, 1, DEADLINE_MS), 1);
	n = recv(fd, buf, sizeof(buf) - 1, 0);
	assert_true(n >= 0);
	buf[n] = '\0';
	return buf;
}

/* --- the new master's side, against a scripted old one --- */

static void new_side(struct upgrade *u, int *old_end)
{
	struct upgrade_fds f = { .old_pid = getppid(), .stats = -1, .metrics = -1 };
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv),
			 0);
	f.chan = sv[1];
	*old_end = sv[0];
	upgrade_init(u, lp, &ops, NULL);
	assert_int_equal(upgrade_attach(u, &f), 0);
	assert_int_equal(u->state, UPGRADE_WAITING);
	assert_false(upgrade_owner(u));
}

static void test_new_side(void **state)
{
	struct upgrade u;
	char err[256];
	int old;

	(void)state;
	new_side(&u, &old);
	assert_int_equal(upgrade_reload_check(&u, err, sizeof(err)), -1);
	upgrade_ready(&u);
	assert_string_equal(next_msg(old), "ready");
	assert_int_equal(send(old, "go", 2, 0), 2);
	turn_until(&seen.take_over, 1);
	assert_string_equal(next_msg(old), "taken");
	assert_true(upgrade_owner(&u));
	assert_int_equal(upgrade_check(&u, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "the old master"));
	assert_int_equal(upgrade_reload_check(&u, err, sizeof(err)), 0);

	/* SIGHUP at the old master: give back. */
	assert_int_equal(send(old, "back", 4, 0), 4);
	turn_until(&seen.give_back, 1);
	assert_string_equal(next_msg(old), "given");
	assert_false(upgrade_owner(&u));
	/* Junk is logged and ignored. */
	assert_int_equal(send(old, "frobnicate", 10, 0), 10);
	assert_true(loop_run_once(lp, 10) >= 0);
	assert_int_equal(u.state, UPGRADE_GIVEN_BACK);

	/* The old master, which took the service back, exits: ours again. */
	close(old);
	turn_until(&seen.take_over, 2);
	assert_int_equal(u.state, UPGRADE_NONE);
	assert_true(upgrade_owner(&u));
	assert_int_equal(upgrade_check(&u, err, sizeof(err)), 0);
	assert_int_equal(upgrade_stopping(&u), 0);
	upgrade_cleanup(&u);
}

/* Stopped while serving: a rollback (the old master serves again). */
static void test_new_side_stopped(void **state)
{
	struct upgrade u;
	int old;

	(void)state;
	new_side(&u, &old);
	upgrade_ready(&u);
	assert_string_equal(next_msg(old), "ready");
	assert_int_equal(send(old, "go", 2, 0), 2);
	turn_until(&seen.take_over, 1);
	assert_string_equal(next_msg(old), "taken");
	assert_int_equal(upgrade_stopping(&u), 1);
	assert_int_equal(seen.give_back, 1);
	assert_string_equal(next_msg(old), "stopping");
	/* The old master then exits too: nothing is taken over by a
	 * master that stops. */
	close(old);
	for (int i = 0; i < 5; i++)
		assert_true(loop_run_once(lp, 10) >= 0);
	assert_int_equal(seen.take_over, 1);
	upgrade_cleanup(&u);
}

/* Its workers could not start: the old master hears why. */
static void test_new_side_failed(void **state)
{
	struct upgrade u;
	int old;

	(void)state;
	new_side(&u, &old);
	upgrade_fail(&u, "worker 0 could not start (docroot)");
	assert_string_equal(next_msg(old),
			    "failed worker 0 could not start (docroot)");
	assert_string_equal(next_msg(old), "");    /* and the channel closed */
	assert_int_equal(upgrade_stopping(&u), 1); /* the old one serves */
	assert_int_equal(seen.take_over, 0);
	close(old);
	upgrade_cleanup(&u);
}

/* The old master left before handing over: ours once we are up. */
static void test_new_side_orphaned(void **state)
{
	struct upgrade u;
	int old;

	(void)state;
	new_side(&u, &old);
	close(old);
	for (int i = 0; i < 5; i++)
		assert_true(loop_run_once(lp, 10) >= 0);
	assert_int_equal(seen.take_over, 0);
	upgrade_ready(&u);
	assert_int_equal(seen.take_over, 1);
	assert_int_equal(u.state, UPGRADE_NONE);
	upgrade_cleanup(&u);
}

/* --- the old master's side, against this program as the new one --- */

static char self[4096];

/* argv[1] "fake-new-master", argv[2] its part. */
static int fake_new_master(const char *mode)
{
	struct upgrade_fds f;
	char err[256], buf[UPGRADE_MSG_MAX + 1];
	ssize_t n;

	if (upgrade_from_env(&f, err, sizeof(err)) != 1) {
		fprintf(stderr, "fake: %s\n", err);
		return 2;
	}
	if (!strcmp(mode, "silent"))
		return 3;
	if (!strcmp(mode, "fail")) {
		upgrade_report_failure(f.chan, "config.conf:3: bad line");
		return 1;
	}
	/* "ready": up, then as told. */
	if (send(f.chan, "ready", 5, 0) < 0)
		return 4;
	while ((n = recv(f.chan, buf, sizeof(buf) - 1, 0)) > 0) {
		buf[n] = '\0';
		if (!strcmp(buf, "go") && send(f.chan, "taken", 5, 0) < 0)
			return 4;
		if (!strcmp(buf, "back") && send(f.chan, "given", 5, 0) < 0)
			return 4;
	}
	return 0; /* the old master has gone */
}

static int listener(void)
{
	struct sockaddr_in sin = { .sin_family = AF_INET,
				   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(listen(fd, 4), 0);
	return fd;
}

/* Starts the fake in mode (or the binary at path), as the old master. */
static pid_t old_side(struct upgrade *u, const char *path, const char *mode,
		      int lst)
{
	char *argv[] = { self, "fake-new-master", (char *)mode, NULL };
	struct upgrade_exec x = { path, argv, "/" };
	struct upgrade_fds f = { .stats = -1,
				 .metrics = -1,
				 .nslots = 1,
				 .nlisten = 1,
				 .lst = { lst } };
	char err[256];
	pid_t pid;

	upgrade_init(u, lp, &ops, NULL);
	assert_int_equal(upgrade_check(u, err, sizeof(err)), 0);
	pid = upgrade_start(u, &x, &f, err, sizeof(err));
	if (pid < 0)
		fail_msg("upgrade_start: %s", err);
	assert_int_equal(u->state, UPGRADE_STARTING);
	assert_true(upgrade_owner(u));
	assert_int_equal(upgrade_check(u, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "an upgrade is under way"));
	assert_int_equal(upgrade_reload_check(u, err, sizeof(err)), -1);
	/* Nothing passed on stays without close-on-exec here. */
	assert_true(fcntl(lst, F_GETFD) & FD_CLOEXEC);
	return pid;
}

/* Waits for the child and tells upgrade.c. */
static void reap(struct upgrade *u, pid_t pid)
{
	int st;

	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_int_equal(upgrade_reaped(u, pid, st), 1);
	assert_int_equal(upgrade_reaped(u, pid, st), 0); /* once */
}

static void test_old_side_up_and_back(void **state)
{
	struct upgrade u;
	int lst = listener();
	char err[256];
	pid_t pid;

	(void)state;
	pid = old_side(&u, self, "ready", lst);
	turn_until(&seen.upgraded, 1);
	assert_int_equal(seen.hand_over, 1);
	assert_int_equal(u.state, UPGRADE_HANDED);
	assert_false(upgrade_owner(&u));
	assert_int_equal(upgrade_stopping(
				 &(struct upgrade){ .state = UPGRADE_HANDED }),
			 1);
	assert_int_equal(upgrade_check(&u, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "handed over to pid"));

	/* SIGHUP: the rollback. */
	assert_int_equal(upgrade_take_back(&u), 1);
	turn_until(&seen.take_back, 1);
	assert_string_equal(seen.why, "rolled back on SIGHUP");
	assert_true(upgrade_owner(&u));
	assert_int_equal(upgrade_take_back(&u), 0);
	/* Not reaped yet: no new attempt, no reload. */
	assert_int_equal(upgrade_check(&u, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "has not exited yet"));
	assert_int_equal(upgrade_reload_check(&u, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "is still finishing"));
	upgrade_cleanup(&u); /* the fake sees EOF and exits */
	reap(&u, pid);
	assert_int_equal(upgrade_check(&u, err, sizeof(err)), 0);
	assert_int_equal(upgrade_reload_check(&u, err, sizeof(err)), 0);
	assert_int_equal(seen.failed, 0);
	close(lst);
}

/* A new master that dies after it took over: the service comes back. */
static void test_old_side_new_dies(void **state)
{
	struct upgrade u;
	int lst = listener();
	pid_t pid;

	(void)state;
	pid = old_side(&u, self, "ready", lst);
	turn_until(&seen.upgraded, 1);
	kill(pid, SIGKILL);
	reap(&u, pid);
	assert_int_equal(seen.take_back, 1);
	assert_non_null(strstr(seen.why, "exited with signal 9"));
	assert_true(upgrade_owner(&u));
	upgrade_cleanup(&u);
	close(lst);
}

static void test_old_side_failures(void **state)
{
	struct upgrade u;
	int lst = listener();
	pid_t pid;

	(void)state;
	/* It says why. */
	pid = old_side(&u, self, "fail", lst);
	turn_until(&seen.failed, 1);
	assert_string_equal(seen.why, "config.conf:3: bad line");
	reap(&u, pid);
	assert_int_equal(seen.failed, 1); /* not twice */
	upgrade_cleanup(&u);

	/* It says nothing: its exit status does. The reap may come before
	 * the channel's end is read. */
	pid = old_side(&u, self, "silent", lst);
	reap(&u, pid);
	assert_int_equal(seen.failed, 2);
	assert_non_null(strstr(seen.why, "exited with status 3 before it was up"));
	upgrade_cleanup(&u);

	/* No such binary. */
	pid = old_side(&u, "/nonexistent/reuseportd", "ready", lst);
	turn_until(&seen.failed, 3);
	assert_string_equal(
		seen.why,
		"cannot execute /nonexistent/reuseportd: No such file or directory");
	reap(&u, pid);
	upgrade_cleanup(&u);

	/* Stopping while it starts stops it. */
	pid = old_side(&u, self, "silent", lst);
	assert_int_equal(upgrade_stopping(&u), 0);
	assert_int_equal(seen.failed, 4);
	assert_string_equal(seen.why, "the daemon is stopping");
	reap(&u, pid);
	upgrade_cleanup(&u);
	assert_int_equal(seen.hand_over, 0);
	close(lst);
}

/* No binary known: refused at once. */
static void test_old_side_no_binary(void **state)
{
	char *argv[] = { "reuseportd", NULL };
	struct upgrade_exec x = { "", argv, "/" };
	struct upgrade_fds f = { .stats = -1,
				 .metrics = -1,
				 .nslots = 1,
				 .nlisten = 1 };
	struct upgrade u;
	char err[256];

	(void)state;
	upgrade_init(&u, lp, &ops, NULL);
	assert_int_equal(upgrade_start(&u, &x, &f, err, sizeof(err)), -1);
	assert_string_equal(
		err,
		"cannot tell which binary to execute: started as 'reuseportd', which is not in $PATH");
	assert_int_equal(u.state, UPGRADE_NONE);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_env_round_trip),
		cmocka_unit_test(test_env_refused),
		cmocka_unit_test(test_from_env),
		cmocka_unit_test_setup_teardown(test_new_side, setup, teardown),
		cmocka_unit_test_setup_teardown(test_new_side_stopped, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_new_side_failed, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_new_side_orphaned, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_old_side_up_and_back,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_old_side_new_dies, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_old_side_failures, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_old_side_no_binary, setup,
						teardown),
	};
	ssize_t n;

	if (argc == 3 && !strcmp(argv[1], "fake-new-master"))
		return fake_new_master(argv[2]);
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0)
		return 99;
	self[n] = '\0';
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
