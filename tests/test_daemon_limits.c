/* test_daemon_limits.c - max_connections_per_ip against the real daemon
 * over loopback: one address past its limit is reset at accept while
 * another is served, a close makes room, the refusals are counted, IPv6
 * is limited too, and a reload that hands the connections over keeps
 * them counted in the new worker under the new limit. */
#include "autoconfig.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"

#define WAIT_MS 10000

/* A connection to the daemon's port from src (127.0.0.1, 127.0.0.2 or
 * ::1: every 127/8 address is this host's), connected within WAIT_MS:
 * the kernel completes the handshake before the worker accepts, so a
 * connection that the worker refuses connects too (and may be reset
 * already when this returns). */
static int connect_from(const char *src, int port)
{
	union {
		struct sockaddr sa;
		struct sockaddr_in in4;
		struct sockaddr_in6 in6;
	} a = { 0 }, b = { 0 };
	int v6 = strchr(src, ':') != NULL, fd;
	socklen_t len = v6 ? sizeof(a.in6) : sizeof(a.in4);
	struct pollfd p;

	if (v6) {
		a.in6.sin6_family = b.in6.sin6_family = AF_INET6;
		inet_pton(AF_INET6, src, &a.in6.sin6_addr);
		b.in6.sin6_addr = in6addr_loopback;
		b.in6.sin6_port = htons((uint16_t)port);
	} else {
		a.in4.sin_family = b.in4.sin_family = AF_INET;
		inet_pton(AF_INET, src, &a.in4.sin_addr);
		b.in4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		b.in4.sin_port = htons((uint16_t)port);
	}
	fd = socket(a.sa.sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	hr_check(fd >= 0, "socket: %s", strerror(errno));
	hr_check(bind(fd, &a.sa, len) == 0, "bind %s: %s", src, strerror(errno));
	hr_check(connect(fd, &b.sa, len) == 0 || errno == EINPROGRESS,
		 "connect from %s: %s", src, strerror(errno));
	/* Writable: connected, or reset already (left to the caller's read:
	 * SO_ERROR would consume the error). */
	p = (struct pollfd){ .fd = fd, .events = POLLOUT };
	hr_check(poll(&p, 1, WAIT_MS) == 1, "connect from %s: no answer", src);
	return fd;
}

/* The daemon serves fd: a byte sent comes back (echo). */
static void check_served(int fd, const char *what)
{
	char c = 'x';

	hr_check(hr_write_all(fd, &c, 1, WAIT_MS) == 1, "%s: write", what);
	hr_check(hr_read_exact(fd, &c, 1, WAIT_MS) == 1 && c == 'x',
		 "%s: expected the byte echoed, seen none", what);
}

/* The daemon refused fd at accept: a reset (ECONNRESET), not an EOF
 * and not an answer. */
static void check_refused(int fd, const char *what)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	char c;
	ssize_t n;

	hr_check(poll(&p, 1, WAIT_MS) == 1,
		 "%s: expected a reset, seen nothing", what);
	n = read(fd, &c, 1);
	hr_check(n < 0 && errno == ECONNRESET,
		 "%s: expected ECONNRESET, seen read %zd (%s)", what, n,
		 n < 0 ? strerror(errno) : "no error");
}

static int closed_is(json_t *st, void *arg)
{
	return hr_jint(st, "totals/closed") == *(json_int_t *)arg;
}

/* The daemon has seen n closes: room for the address is back. */
static void wait_closed(struct hr_daemon *d, json_int_t n)
{
	hr_check(hr_wait_for(d, closed_is, &n, WAIT_MS), "%lld closes",
		 (long long)n);
}

/* One worker, max_connections_per_ip 3: the fourth connection from
 * 127.0.0.1 is reset while 127.0.0.2's are served; a close lets the next
 * one from 127.0.0.1 in; each refusal is counted, in rejected_per_ip
 * only, and the connections served are not disturbed. */
static void test_fourth_is_refused(void **state)
{
	struct hr_daemon *d = *state;
	char conf[256];
	int a[4], b[3], again;

	hr_write_conf(d, "limits.conf", "max_connections_per_ip 3\n", conf,
		      sizeof(conf));
	const char *args[] = { "-c", conf, "-w", "1", NULL };

	hr_start_ok(d, args);
	for (int i = 0; i < 3; i++) {
		a[i] = connect_from("127.0.0.1", d->port);
		check_served(a[i], "127.0.0.1, connection 1..3");
	}
	a[3] = connect_from("127.0.0.1", d->port);
	check_refused(a[3], "127.0.0.1, connection 4");
	for (int i = 0; i < 3; i++) {
		b[i] = connect_from("127.0.0.2", d->port);
		check_served(b[i], "127.0.0.2, connection 1..3");
	}
	for (int i = 0; i < 3; i++)
		check_served(a[i], "127.0.0.1 after the refusal");
	hr_check_int("rejected_per_ip", 1, hr_total(d, "rejected_per_ip"));
	hr_check_int("rejected", 0, hr_total(d, "rejected"));
	hr_check_int("accepted", 6, hr_total(d, "accepted"));
	hr_check_int("active", 6, hr_total(d, "active"));

	close(a[0]);
	wait_closed(d, 1);
	again = connect_from("127.0.0.1", d->port);
	check_served(again, "127.0.0.1 after a close");
	close(a[3]);
	a[3] = connect_from("127.0.0.1", d->port);
	check_refused(a[3], "127.0.0.1, a fourth again");
	hr_check_int("rejected_per_ip", 2, hr_total(d, "rejected_per_ip"));
	close(a[3]);
	close(again);
	for (int i = 1; i < 3; i++)
		close(a[i]);
	for (int i = 0; i < 3; i++)
		close(b[i]);
	hr_check_int("stopped", 0, hr_stop(d, SIGTERM));
}

/* IPv6: the limit holds for ::1 as for 127.0.0.1. */
static void test_ipv6(void **state)
{
	struct hr_daemon *d = *state;
	char conf[256];
	int a[3];

	hr_write_conf(d, "limits.conf", "max_connections_per_ip 2\n", conf,
		      sizeof(conf));
	const char *args[] = { "-c", conf, "-w", "1", "-l", "[::1]:0", NULL };

	hr_start_ok(d, args);
	for (int i = 0; i < 2; i++) {
		a[i] = connect_from("::1", d->port);
		check_served(a[i], "::1, connection 1..2");
	}
	a[2] = connect_from("::1", d->port);
	check_refused(a[2], "::1, connection 3");
	hr_check_int("rejected_per_ip", 1, hr_total(d, "rejected_per_ip"));
	for (int i = 0; i < 3; i++)
		close(a[i]);
	hr_check_int("stopped", 0, hr_stop(d, SIGTERM));
}

struct gen_alone {
	json_int_t generation, taken;
};

/* Generation g runs alone, and has taken over what it should. */
static int generation_alone(json_t *st, void *arg)
{
	const struct gen_alone *g = arg;
	json_t *w;
	size_t i;

	if (hr_jint(st, "generation") != g->generation ||
	    hr_jint(st, "totals/taken_over") != g->taken)
		return 0;
	json_array_foreach(json_object_get(st, "workers"), i, w) {
		if (json_integer_value(json_object_get(w, "generation")) !=
			    g->generation ||
		    strcmp(json_string_value(json_object_get(w, "state")),
			   "running"))
			return 0;
	}
	return 1;
}

/* A reload applies a changed limit to the new worker, which counts the
 * connections it takes over: with 2 of 127.0.0.1's connections handed
 * over and the limit raised from 2 to 3, one more is let in and the next
 * refused (uncounted, the taken ones would have left room for two); a
 * close of a taken-over connection makes room again. */
static void test_reload_hands_over_counted(void **state)
{
	struct hr_daemon *d = *state;
	struct gen_alone g2 = { 2, 2 };
	char conf[256];
	int a[2], c, e;

	hr_write_conf(d, "limits.conf", "max_connections_per_ip 2\n", conf,
		      sizeof(conf));
	const char *args[] = { "-c", conf, "-w", "1", NULL };

	hr_start_ok(d, args);
	for (int i = 0; i < 2; i++) {
		a[i] = connect_from("127.0.0.1", d->port);
		check_served(a[i], "before the reload");
	}
	c = connect_from("127.0.0.1", d->port);
	check_refused(c, "a third under limit 2");
	close(c);

	hr_write_conf(d, "limits.conf", "max_connections_per_ip 3\n", conf,
		      sizeof(conf));
	hr_check(kill(d->pid, SIGHUP) == 0, "SIGHUP: %s", strerror(errno));
	hr_check(hr_wait_for(d, generation_alone, &g2, 20000),
		 "generation 2 alone, with 2 connections taken over");
	for (int i = 0; i < 2; i++)
		check_served(a[i], "handed over");
	c = connect_from("127.0.0.1", d->port);
	check_served(c, "a third under limit 3");
	e = connect_from("127.0.0.1", d->port);
	check_refused(e, "a fourth under limit 3");
	close(e);
	hr_check_int("rejected_per_ip", 2, hr_total(d, "rejected_per_ip"));

	close(a[0]); /* a taken-over one */
	wait_closed(d, 1);
	a[0] = connect_from("127.0.0.1", d->port);
	check_served(a[0], "after a taken-over connection closed");
	e = connect_from("127.0.0.1", d->port);
	check_refused(e, "a fourth again");
	close(e);
	hr_check_int("rejected_per_ip", 3, hr_total(d, "rejected_per_ip"));
	close(a[0]);
	close(a[1]);
	close(c);
	hr_check_int("stopped", 0, hr_stop(d, SIGTERM));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_fourth_is_refused,
						hr_setup, hr_teardown),
		cmocka_unit_test_setup_teardown(test_ipv6, hr_setup, hr_teardown),
		cmocka_unit_test_setup_teardown(test_reload_hands_over_counted,
						hr_setup, hr_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
