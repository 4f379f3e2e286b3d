/* test_daemon_basic.c - the daemon's shape from the outside: one
 * SO_REUSEPORT listener per worker on one port, command-line errors, a
 * port already in use, and clean exits on SIGTERM/SIGINT (every other
 * signal: tests/test_signals.c). */
#include "autoconfig.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "harness.h"

#define MAXSOCK 4096

/* Each worker pid holds exactly one of the port's LISTEN sockets, no two
 * workers the same one, and the master holds them all. */
static void check_listener_ownership(struct hr_daemon *d, json_t *st,
				     const unsigned long *lst, int nl)
{
	static unsigned long mine[MAXSOCK];
	unsigned long owned[64];
	int nw = (int)json_array_size(json_object_get(st, "workers"));

	for (int i = 0; i < nw; i++) {
		json_t *w = json_array_get(json_object_get(st, "workers"),
					   (size_t)i);
		pid_t pid = (pid_t)hr_jint(w, "pid");
		int n = hr_proc_socket_inodes(pid, mine, MAXSOCK);
		int common;

		hr_check(n >= 0,
			 "worker %d: expected a readable /proc/%ld/fd, seen none",
			 i, (long)pid);
		common = hr_count_common(lst, nl, mine, n, &owned[i]);
		hr_check(common == 1,
			 "worker %d (pid %ld): expected to hold exactly 1 of the %d listening sockets on port %d, seen %d",
			 i, (long)pid, nl, d->port, common);
		for (int j = 0; j < i; j++)
			hr_check(owned[j] != owned[i],
				 "workers %d and %d: expected distinct listening sockets, seen both holding inode %lu",
				 j, i, owned[i]);
	}
	int n = hr_proc_socket_inodes(d->pid, mine, MAXSOCK);

	hr_check_int("listening sockets of the port the master holds", nl,
		     hr_count_common(lst, nl, mine, n, NULL));
}

/* SO_REUSEPORT on each listener, read through pidfd_getfd where the
 * kernel lets us; N listeners on one port already imply it. */
static void check_reuseport(json_t *st, const unsigned long *lst, int nl)
{
	pid_t master = (pid_t)hr_jint(st, "pid");

	for (int i = 0; i < nl; i++) {
		int on = 0;

		if (hr_remote_sockopt(master, lst[i], SOL_SOCKET, SO_REUSEPORT,
				      &on) < 0) {
			print_message("# SO_REUSEPORT not readable (%s); N listeners on one port imply it\n",
				      strerror(errno));
			return;
		}
		hr_check(on == 1,
			 "listener inode %lu: expected SO_REUSEPORT on, seen %d",
			 lst[i], on);
	}
}

static void test_listeners_per_worker(void **state)
{
	struct hr_daemon *d = *state;
	const char *args[] = { "-w", "3", NULL };
	unsigned long lst[64];
	int fds[90];
	size_t lens[90];
	char err[512];
	json_t *st, *w;
	size_t i;
	int nl;

	hr_start_ok(d, args);
	st = hr_query_ok(d, "stats");
	hr_check_int("workers_configured", 3, hr_jint(st, "workers_configured"));
	hr_check_int("entries in workers[]", 3,
		     json_array_size(json_object_get(st, "workers")));
	hr_check_int("stats pid (the master)", d->pid, hr_jint(st, "pid"));
	hr_check(!strcmp(hr_jstr(st, "listen/0/address"), "127.0.0.1"),
		 "listen[0].address: expected 127.0.0.1, seen '%s'",
		 hr_jstr(st, "listen/0/address"));
	hr_check(d->port > 0 && d->port < 65536,
		 "listen[0].port: expected the port the daemon chose, seen %d",
		 d->port);
	hr_check(!strcmp(hr_jstr(st, "protocol"), "echo"),
		 "protocol: expected echo (the default), seen '%s'",
		 hr_jstr(st, "protocol"));
	json_array_foreach(json_object_get(st, "workers"), i, w) {
		pid_t pid = (pid_t)hr_jint(w, "pid");

		hr_check_int("worker id (in order)", i, hr_jint(w, "id"));
		hr_check(pid > 0 && pid != d->pid,
			 "worker %zu: expected its own pid, seen %ld (master %ld)",
			 i, (long)pid, (long)d->pid);
		for (size_t j = 0; j < i; j++)
			hr_check(pid != hr_jint(json_array_get(json_object_get(st, "workers"),
							       j),
						"pid"),
				 "workers %zu and %zu: expected distinct pids, seen both %ld",
				 j, i, (long)pid);
	}

	nl = hr_proc_listeners(AF_INET, d->port, lst, 64);
	hr_check_int("LISTEN sockets on the port in /proc/net/tcp", 3, nl);
	for (int a = 0; a < nl; a++)
		for (int b = 0; b < a; b++)
			hr_check(lst[a] != lst[b],
				 "listeners: expected distinct inodes, seen %lu twice",
				 lst[a]);
	check_listener_ownership(d, st, lst, nl);
	check_reuseport(st, lst, nl);
	json_decref(st);

	/* Every worker's listener gets its share of new connections. */
	for (int k = 0; k < 90; k++)
		lens[k] = 32;
	hr_check(hr_connect_many(AF_INET, d->port, 90, 90, 10000, fds, err,
				 sizeof(err)) == 0,
		 "connect 90 clients: %s", err);
	hr_check(hr_echo_many(fds, 90, lens, 1, 10000, err, sizeof(err)) == 0,
		 "echo on 90 clients: %s", err);
	st = hr_query_ok(d, "stats");
	hr_check_int("totals.accepted", 90, hr_jint(st, "totals/accepted"));
	for (int k = 0; k < 3; k++)
		hr_check(hr_jint(hr_worker(st, k), "accepted") > 0,
			 "worker %d: expected some of 90 connections through its own listener, seen %lld",
			 k, (long long)hr_jint(hr_worker(st, k), "accepted"));
	json_decref(st);
	hr_close_all(fds, 90);
	hr_check_int("exit status after SIGTERM", 0, hr_stop(d, SIGTERM));
}

static void test_workers_auto(void **state)
{
	struct hr_daemon *d = *state;
	const char *args[] = { "-w", "auto", NULL };
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	unsigned long lst[256];

	hr_start_ok(d, args);
	hr_check_int("workers_configured with -w auto (online CPUs)", cpus,
		     d->workers);
	hr_check_int("LISTEN sockets on the port", cpus,
		     hr_proc_listeners(AF_INET, d->port, lst, 256));
	hr_check_int("exit status after SIGTERM", 0, hr_stop(d, SIGTERM));
}

/* "-l PORT" alone means every IPv4 address (0.0.0.0). */
static void test_listen_port_only(void **state)
{
	struct hr_daemon *d = *state;
	const char *args[] = { "-l", "0", NULL };
	char err[256];
	size_t len = 16;
	int fd;

	hr_start_ok(d, args);
	json_t *st = hr_query_ok(d, "stats");

	hr_check(!strcmp(hr_jstr(st, "listen/0/address"), "0.0.0.0"),
		 "-l 0: expected listen[0].address 0.0.0.0, seen '%s'",
		 hr_jstr(st, "listen/0/address"));
	json_decref(st);
	hr_check(hr_connect_many(AF_INET, d->port, 1, 1, 5000, &fd, err,
				 sizeof(err)) == 0,
		 "-l 0: expected 127.0.0.1:%d to connect, seen %s", d->port, err);
	hr_check(hr_echo_many(&fd, 1, &len, 4, 5000, err, sizeof(err)) == 0,
		 "-l 0: echo: %s", err);
	close(fd);
	hr_check_int("exit status after SIGTERM", 0, hr_stop(d, SIGTERM));
}

static int count_lines(const char *s)
{
	int n = 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

static void test_cli_errors(void **state)
{
	struct hr_daemon *d = *state;
	static const char *const bad[][4] = {
		{ "-w", "0" },
		{ "-w", "abc" },
		{ "-w", "-3" },
		{ "-w" },
		{ "-l", "300.1.1.1:80" },
		{ "-l", "127.0.0.1:70000" },
		{ "-l", "127.0.0.1:" },
		{ "-l", "[::1" },
		{ "-l", "localhost-ish:x" },
		{ "-P", "gopher" },
		{ "--no-such-option" },
		{ "stray-argument" },
	};
	char sock[160], out[4096], err[4096];

	snprintf(sock, sizeof(sock), "%s/cli.sock", d->dir);
	for (size_t c = 0; c < sizeof(bad) / sizeof(bad[0]); c++) {
		/* -f and a private -s first: if the daemon wrongly starts it
		 * stays in our temp dir and is killed at the deadline. */
		const char *argv[8] = { "-f", "-s", sock };
		size_t n = 3;
		char shown[128] = "";

		for (size_t k = 0; k < 4 && bad[c][k]; k++) {
			argv[n++] = bad[c][k];
			strncat(shown, bad[c][k],
				sizeof(shown) - strlen(shown) - 2);
			strcat(shown, " ");
		}
		argv[n] = NULL;
		int status = hr_run(d, argv, 5000, out, sizeof(out), err,
				    sizeof(err));

		hr_check(status == 2,
			 "reuseportd %s: expected exit status 2, seen %d; stderr: %s",
			 shown, status, err);
		hr_check(count_lines(err) == 1 && err[0] != '\n',
			 "reuseportd %s: expected a one-line error on stderr, seen %d lines: %s",
			 shown, count_lines(err), err);
		hr_check(access(sock, F_OK) < 0,
			 "reuseportd %s: expected no stats socket, seen %s created",
			 shown, sock);
	}

	const char *ver[] = { "-V", NULL }, *help[] = { "--help", NULL };

	hr_check_int("exit status of -V", 0,
		     hr_run(d, ver, 5000, out, sizeof(out), err, sizeof(err)));
	hr_check(strstr(out, PACKAGE_VERSION) != NULL,
		 "-V: expected the version %s on stdout, seen '%s'",
		 PACKAGE_VERSION, out);
	hr_check_int("exit status of --help", 0,
		     hr_run(d, help, 5000, out, sizeof(out), err, sizeof(err)));
	hr_check(strstr(out, "--listen") && strstr(out, "--workers") &&
			 strstr(out, "--stats-socket"),
		 "--help: expected the options on stdout, seen '%s'", out);
}

static void test_port_in_use(void **state)
{
	struct hr_daemon *d = *state;
	struct sockaddr_in sin = { .sin_family = AF_INET,
				   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof(sin);
	char addr[64], sock[160], out[4096], err[4096];
	int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), cfd, afd;

	hr_check(lfd >= 0, "test's own listener: socket: %s", strerror(errno));
	hr_check(bind(lfd, (struct sockaddr *)&sin, sizeof(sin)) == 0 &&
			 listen(lfd, 16) == 0 &&
			 getsockname(lfd, (struct sockaddr *)&sin, &sl) == 0,
		 "test's own listener: %s", strerror(errno));
	snprintf(addr, sizeof(addr), "127.0.0.1:%u", ntohs(sin.sin_port));
	snprintf(sock, sizeof(sock), "%s/stats.sock", d->dir);

	const char *argv[] = { "-f", "-l", addr, "-w", "2", "-s", sock, NULL };
	int status = hr_run(d, argv, 8000, out, sizeof(out), err, sizeof(err));

	hr_check(status == 1,
		 "listen on busy %s: expected exit status 1, seen %d; stderr: %s",
		 addr, status, err);
	hr_check(strstr(err, addr) != NULL,
		 "busy port: expected the message to name %s, seen: %s", addr,
		 err);
	hr_check(strstr(err, strerror(EADDRINUSE)) != NULL,
		 "busy port: expected the reason '%s', seen: %s",
		 strerror(EADDRINUSE), err);
	hr_check(access(sock, F_OK) < 0,
		 "busy port: expected no stats socket left, seen %s", sock);
	/* It joined nothing: our listener alone still takes the connection. */
	cfd = hr_connect_tcp(ntohs(sin.sin_port));
	hr_check(cfd >= 0,
		 "busy port: expected our own listener %s still reachable", addr);
	afd = accept(lfd, NULL, NULL);
	hr_check(afd >= 0,
		 "busy port: expected the connection in our own accept queue, seen %s",
		 strerror(errno));
	close(afd);
	close(cfd);
	close(lfd);
}

/* stats socket is a socket, mode 0660; the signal stops everything. */
static void stop_with(struct hr_daemon *d, int sig)
{
	unsigned long lst[16];
	struct stat sb;

	hr_start_ok(d, NULL);
	hr_check(stat(d->sock, &sb) == 0,
		 "stats socket %s: expected to exist, seen %s", d->sock,
		 strerror(errno));
	hr_check(S_ISSOCK(sb.st_mode),
		 "stats socket %s: expected a socket, seen mode 0%o", d->sock,
		 (unsigned)sb.st_mode);
	hr_check((sb.st_mode & 07777) == 0660,
		 "stats socket: expected mode 0660, seen 0%o",
		 (unsigned)(sb.st_mode & 07777));
	hr_check_int("exit status after the signal", 0, hr_stop(d, sig));
	hr_check(access(d->sock, F_OK) < 0 && errno == ENOENT,
		 "stats socket %s: expected removed at exit, seen it still there",
		 d->sock);
	hr_check_int("LISTEN sockets left on the port after exit", 0,
		     hr_proc_listeners(AF_INET, d->port, lst, 16));
	hr_check_int("live processes left in the daemon's group after exit", 0,
		     hr_group_alive(d));
}

static void test_sigterm_clean_exit(void **state)
{
	stop_with(*state, SIGTERM);
}

static void test_sigint_clean_exit(void **state)
{
	stop_with(*state, SIGINT);
}

/* A socket file left by a crashed run does not stop a new start; a live
 * daemon on the same path is not hijacked by a second one. */
static void test_stats_socket_path(void **state)
{
	struct hr_daemon *d = *state;
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	char out[4096], err[4096];
	json_t *p;

	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", d->sock);
	hr_check(bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0,
		 "stale socket %s: %s", d->sock, strerror(errno));
	close(fd); /* the file stays: a stale socket, nobody listening */
	hr_start_ok(d, NULL);
	p = hr_query(d, "ping");
	hr_check(p && hr_jint(p, "pid") == d->pid,
		 "ping over a replaced stale socket: expected pid %ld, seen %s",
		 (long)d->pid, p ? hr_jdump(p) : "no answer");
	json_decref(p);

	const char *argv[] = { "-f", "-l", "127.0.0.1:0", "-w",
			       "1",  "-s", d->sock,       NULL };
	int status = hr_run(d, argv, 8000, out, sizeof(out), err, sizeof(err));

	hr_check(status == 1,
		 "second daemon on a live stats socket: expected exit status 1, seen %d; stderr: %s",
		 status, err);
	hr_check(strstr(err, d->sock) != NULL,
		 "second daemon on a live stats socket: expected the message to name %s, seen: %s",
		 d->sock, err);
	p = hr_query(d, "ping");
	hr_check(p && hr_jint(p, "pid") == d->pid,
		 "ping after the second daemon gave up: expected the first (pid %ld), seen %s",
		 (long)d->pid, p ? hr_jdump(p) : "no answer");
	json_decref(p);
	hr_check_int("exit status after SIGTERM", 0, hr_stop(d, SIGTERM));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_listeners_per_worker,
						hr_setup, hr_teardown),
		cmocka_unit_test_setup_teardown(test_workers_auto, hr_setup,
						hr_teardown),
		cmocka_unit_test_setup_teardown(test_listen_port_only, hr_setup,
						hr_teardown),
		cmocka_unit_test_setup_teardown(test_cli_errors, hr_setup,
						hr_teardown),
		cmocka_unit_test_setup_teardown(test_port_in_use, hr_setup,
						hr_teardown),
		cmocka_unit_test_setup_teardown(test_sigterm_clean_exit,
						hr_setup, hr_teardown),
		cmocka_unit_test_setup_teardown(test_sigint_clean_exit,
						hr_setup, hr_teardown),
		cmocka_unit_test_setup_teardown(test_stats_socket_path,
						hr_setup, hr_teardown),
	};

	return cmocka_run_group_tests_name("daemon_basic", tests, NULL, NULL);
}
