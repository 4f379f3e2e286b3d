/* test_daemon_ipv6.c - listening on [::1], alone and beside 127.0.0.1:
 * one listener per worker per address, echo, and IPv6 endpoints written
 * "[::1]:PORT" in `connections`. */
#include "autoconfig.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"

#define N 200

static int have_ipv6_loopback(void)
{
	struct sockaddr_in6 s6 = { .sin6_family = AF_INET6,
				   .sin6_addr = IN6ADDR_LOOPBACK_INIT };
	int fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int ok = fd >= 0 && bind(fd, (struct sockaddr *)&s6, sizeof(s6)) == 0;

	if (fd >= 0)
		close(fd);
	return ok;
}

/* Each worker holds exactly one of these listeners, no two the same. */
static void check_ownership(json_t *st, const unsigned long *lst, int nl,
			    const char *what)
{
	static unsigned long mine[4096];
	unsigned long owned[16];
	json_t *w;
	size_t i;

	json_array_foreach(json_object_get(st, "workers"), i, w) {
		pid_t pid = (pid_t)hr_jint(w, "pid");
		int n = hr_proc_socket_inodes(pid, mine, 4096);
		int common = hr_count_common(lst, nl, mine, n, &owned[i]);

		hr_check(common == 1,
			 "worker %zu: expected exactly 1 of the %d %s listeners, seen %d",
			 i, nl, what, common);
		for (size_t j = 0; j < i; j++)
			hr_check(owned[j] != owned[i],
				 "workers %zu and %zu: expected distinct %s listeners, seen one",
				 j, i, what);
	}
}

/* Echo over family, then find every client in `connections`. */
static void echo_and_list(struct hr_daemon *d, int family, int port,
			  const char *local_want)
{
	static int fds[N];
	size_t lens[N];
	char err[512], local[64], remote[64];
	json_t *doc, *c;

	for (int i = 0; i < N; i++)
		lens[i] = 64 + (size_t)i;
	hr_check(hr_connect_many(family, port, N, 64, 10000, fds, err,
				 sizeof(err)) == 0,
		 "connect %d clients to %s: %s", N, local_want, err);
	hr_check(hr_echo_many(fds, N, lens, (uint32_t)family, 10000, err,
			      sizeof(err)) == 0,
		 "echo through %s: %s", local_want, err);
	doc = hr_query_ok(d, "connections 100000");
	for (int k = 0; k < N; k++) {
		size_t i;
		int seen = 0;

		hr_check(hr_endpoints(fds[k], local, remote, sizeof(local)) == 0,
			 "getsockname/getpeername: %s", strerror(errno));
		hr_check(!strcmp(remote, local_want),
			 "client %d: expected peer %s, seen %s", k, local_want,
			 remote);
		json_array_foreach(json_object_get(doc, "connections"), i, c)
			if (!strcmp(hr_jstr(c, "remote"), local)) {
				seen++;
				hr_check(!strcmp(hr_jstr(c, "local"), local_want),
					 "connection from %s: expected local %s, seen '%s'",
					 local, local_want, hr_jstr(c, "local"));
				hr_check_int("connection bytes_in", lens[k],
					     hr_jint(c, "bytes_in"));
			}
		hr_check(seen == 1,
			 "client %s: expected listed once in connections, seen %d times",
			 local, seen);
	}
	json_decref(doc);
	hr_close_all(fds, N);
}

static void test_ipv6_listen(void **state)
{
	struct hr_daemon *d = *state;
	const char *args[] = { "-l", "[::1]:0", NULL };
	unsigned long lst[16];
	char want[64];
	const char *addr;
	json_t *st;
	int nl;

	if (!have_ipv6_loopback()) {
		print_message("# no usable ::1 here; skipping\n");
		skip();
	}
	hr_start_ok(d, args);
	st = hr_query_ok(d, "stats");
	addr = hr_jstr(st, "listen/0/address");
	hr_check(!strcmp(addr, "::1") || !strcmp(addr, "[::1]"),
		 "listen[0].address: expected ::1, seen '%s'", addr);
	nl = hr_proc_listeners(AF_INET6, d->port, lst, 16);
	hr_check_int("LISTEN sockets on [::1]'s port in /proc/net/tcp6", 2, nl);
	check_ownership(st, lst, nl, "[::1]");
	json_decref(st);
	snprintf(want, sizeof(want), "[::1]:%d", d->port);
	echo_and_list(d, AF_INET6, d->port, want);
	hr_check_int("exit status after SIGTERM", 0, hr_stop(d, SIGTERM));
}

static void test_ipv4_and_ipv6(void **state)
{
	struct hr_daemon *d = *state;
	const char *args[] = { "-l", "127.0.0.1:0", "-l", "[::1]:0", NULL };
	unsigned long l4[16], l6[16];
	char want[64];
	json_t *st;
	int n4, n6;

	if (!have_ipv6_loopback()) {
		print_message("# no usable ::1 here; skipping\n");
		skip();
	}
	hr_start_ok(d, args);
	hr_check_int("entries in listen[]", 2, d->nlisten);
	st = hr_query_ok(d, "stats");
	n4 = hr_proc_listeners(AF_INET, d->ports[0], l4, 16);
	n6 = hr_proc_listeners(AF_INET6, d->ports[1], l6, 16);
	hr_check_int("LISTEN sockets on 127.0.0.1's port", 2, n4);
	hr_check_int("LISTEN sockets on [::1]'s port", 2, n6);
	check_ownership(st, l4, n4, "127.0.0.1");
	check_ownership(st, l6, n6, "[::1]");
	json_decref(st);
	snprintf(want, sizeof(want), "127.0.0.1:%d", d->ports[0]);
	echo_and_list(d, AF_INET, d->ports[0], want);
	snprintf(want, sizeof(want), "[::1]:%d", d->ports[1]);
	echo_and_list(d, AF_INET6, d->ports[1], want);
	hr_check_int("exit status after SIGTERM", 0, hr_stop(d, SIGTERM));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_ipv6_listen, hr_setup,
						hr_teardown),
		cmocka_unit_test_setup_teardown(test_ipv4_and_ipv6, hr_setup,
						hr_teardown),
	};

	return cmocka_run_group_tests_name("daemon_ipv6", tests, NULL, NULL);
}
