/* test_daemon_tcpproxy.c - protocol tcp_proxy end to end: the real
 * daemon between a client and a server, both real sockets. The servers
 * are a second reuseportd (protocol echo) or this program itself, which
 * misbehaves on purpose: resets, half-closes, never accepts, refuses. */
#include "autoconfig.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"

#define T_MS 10000
#define UTIL_MIN(a, b) ((a) < (b) ? (a) : (b))

/* A loopback listener on a free port (non-blocking accepts). */
static int server(int backlog, int *port)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t len = sizeof(a);
	int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	hr_check(l >= 0 && bind(l, (struct sockaddr *)&a, sizeof(a)) == 0 &&
			 listen(l, backlog) == 0 &&
			 getsockname(l, (struct sockaddr *)&a, &len) == 0,
		 "a server socket: %s", strerror(errno));
	*port = ntohs(a.sin_port);
	return l;
}

/* The server's side of the next connection the proxy opens. */
static int accept_one(int l)
{
	struct pollfd p = { .fd = l, .events = POLLIN };
	int fd;

	hr_check(poll(&p, 1, T_MS) == 1, "the proxy connects to the server");
	fd = accept4(l, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	hr_check(fd >= 0, "accept: %s", strerror(errno));
	return fd;
}

/* Starts the proxy, one worker, with these directives besides
 * "protocol tcp_proxy". */
static void start_proxy(struct hr_daemon *d, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void start_proxy(struct hr_daemon *d, const char *fmt, ...)
{
	static const char *const one[] = { "-w", "1", NULL };
	va_list ap;

	va_start(ap, fmt);
	hr_start_conf(d, one, "protocol tcp_proxy\n", fmt, ap);
	va_end(ap);
}

static void wait_total(struct hr_daemon *d, const char *path, json_int_t min)
{
	hr_wait_int(d, path, min, 1, T_MS);
}

/* Writes len bytes of pattern and reads them back at the same time,
 * every byte checked. */
static void echo_through(int fd, size_t len, uint32_t seed)
{
	size_t out = 0, in = 0;
	int64_t end = hr_now_ms() + 4 * T_MS;
	char buf[65536];

	while (in < len) {
		struct pollfd p = { fd, POLLIN | (out < len ? POLLOUT : 0), 0 };

		hr_check(hr_now_ms() < end, "echoed %zu of %zu (sent %zu)", in,
			 len, out);
		if (poll(&p, 1, 1000) <= 0)
			continue;
		if ((p.revents & POLLOUT) && out < len) {
			size_t k = UTIL_MIN(sizeof(buf), len - out);
			ssize_t n;

			for (size_t i = 0; i < k; i++)
				buf[i] = (char)hr_payload_byte(seed, 0, out + i);
			n = write(fd, buf, k);
			if (n > 0)
				out += (size_t)n;
		}
		if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
			ssize_t n = read(fd, buf, sizeof(buf));

			hr_check(n > 0, "read after %zu bytes: %zd (%s)", in, n,
				 n < 0 ? strerror(errno) : "EOF");
			for (ssize_t i = 0; i < n; i++)
				hr_check((uint8_t)buf[i] ==
						 hr_payload_byte(seed, 0,
								 in + (size_t)i),
					 "byte %zu differs", in + (size_t)i);
			in += (size_t)n;
		}
	}
}

/* 8 MB each way through the proxy to an echo server, on two
 * connections at once, every byte checked; the counters say so; the
 * pair closes with the client. */
static void test_relay_both_ways(void **state)
{
	struct hr_daemon *d = *state, *e = hr_echo_daemon();
	int fd[2];

	start_proxy(d, "upstream 127.0.0.1:%d\n", e->port);
	fd[0] = hr_connect_tcp(d->port);
	fd[1] = hr_connect_tcp(d->port);
	hr_check(fd[0] >= 0 && fd[1] >= 0, "clients");
	echo_through(fd[0], 8 << 20, 1);
	echo_through(fd[1], 1 << 20, 2);
	close(fd[0]);
	close(fd[1]);
	wait_total(d, "totals/closed", 2);
	json_t *st = hr_query_ok(d, "stats");

	hr_check_int("proxy_bytes_up", 9 << 20,
		     hr_jint(st, "totals/proxy_bytes_up"));
	hr_check_int("proxy_bytes_down", 9 << 20,
		     hr_jint(st, "totals/proxy_bytes_down"));
	hr_check_int("bytes_in (the client's)", 9 << 20,
		     hr_jint(st, "totals/bytes_in"));
	hr_check_int("proxy_connects", 2, hr_jint(st, "totals/proxy_connects"));
	hr_check_int("proxy_buffered", 0, hr_jint(st, "totals/proxy_buffered"));
	hr_check_int("active", 0, hr_jint(st, "totals/active"));
	json_decref(st);
	wait_total(e, "totals/closed", 2); /* the server's side closed too */
	hr_check_int("stopped", 0, hr_stop(d, SIGTERM));
	hr_stop_free(e);
}

/* A client that does not read, a server that sends without end: the
 * proxy holds at most proxy_buffer bytes of it, the server is held back
 * by TCP, and the worker does not spin meanwhile. Then the client reads
 * all of it, in order. */
static void test_back_pressure(void **state)
{
	struct hr_daemon *d = *state;
	int port, l = server(4, &port), cli, srv;
	size_t sent = 0, got = 0;
	long rss0, rss1;
	json_t *st;
	char buf[65536];

	start_proxy(d, "upstream 127.0.0.1:%d\nproxy_buffer 16k\n", port);
	st = hr_query_ok(d, "stats");
	rss0 = hr_rss_kib((pid_t)hr_jint(st, "workers/0/pid"));
	json_decref(st);
	cli = hr_connect_tcp(d->port);
	srv = accept_one(l);
	/* Fill until the server's socket has not taken a byte for 300 ms. */
	for (int64_t quiet = hr_now_ms() + 300; hr_now_ms() < quiet;) {
		struct pollfd p = { srv, POLLOUT, 0 };

		if (poll(&p, 1, 50) == 1) {
			for (size_t i = 0; i < sizeof(buf); i++)
				buf[i] = (char)hr_payload_byte(7, 0, sent + i);
			ssize_t n = write(srv, buf, sizeof(buf));

			if (n > 0) {
				sent += (size_t)n;
				quiet = hr_now_ms() + 300;
			}
		}
		hr_check(sent < (256u << 20), "the server was never held back");
	}
	st = hr_query_ok(d, "stats");
	hr_note("stalled after %zu bytes; proxy holds %lld", sent,
		(long long)hr_jint(st, "totals/proxy_buffered"));
	hr_check(hr_jint(st, "totals/proxy_buffered") <= 16384,
		 "at most proxy_buffer held: %lld",
		 (long long)hr_jint(st, "totals/proxy_buffered"));
	/* Stalled: the worker's loop sleeps (a heartbeat a second turns it;
	 * a spinning loop turns thousands of times). */
	json_int_t turns = hr_jint(st, "workers/0/loop_turns");

	json_decref(st);
	struct pollfd none = { -1, 0, 0 };

	poll(&none, 1, 500);
	st = hr_query_ok(d, "stats");
	hr_check(hr_jint(st, "workers/0/loop_turns") - turns < 50,
		 "the worker turned %lld times in 0.5 s while stalled",
		 (long long)(hr_jint(st, "workers/0/loop_turns") - turns));
	rss1 = hr_rss_kib((pid_t)hr_jint(st, "workers/0/pid"));
	json_decref(st);
	hr_check(rss1 - rss0 < 1024, "worker RSS %ld KiB -> %ld KiB", rss0, rss1);
	/* Everything arrives, in order, once the client reads. */
	shutdown(srv, SHUT_WR);
	while (got < sent) {
		ssize_t n = read(cli, buf, sizeof(buf));
		if (n < 0 && errno == EAGAIN) {
			struct pollfd p = { cli, POLLIN, 0 };

			hr_check(poll(&p, 1, T_MS) == 1, "more after %zu", got);
			continue;
		}
		hr_check(n > 0, "read after %zu of %zu", got, sent);
		for (ssize_t i = 0; i < n; i++)
			hr_check((uint8_t)buf[i] ==
					 hr_payload_byte(7, 0, got + (size_t)i),
				 "byte %zu", got + (size_t)i);
		got += (size_t)n;
	}
	hr_check(hr_wait_closed(cli, T_MS), "the server's FIN reaches the client");
	close(cli);
	close(srv);
	close(l);
	hr_check_int("stopped", 0, hr_stop(d, SIGTERM));
}

/* A FIN from one side reaches the other as a FIN, and the other way
 * keeps flowing until its own FIN: client first, then server first. */
static void test_half_close(void **state)
{
	struct hr_daemon *d = *state;
	int port, l = server(4, &port), cli, srv;
	char buf[16];

	start_proxy(d, "upstream 127.0.0.1:%d\n", port);
	cli = hr_connect_tcp(d->port);
	srv = accept_one(l);
	hr_check(hr_write_all(cli, "abc", 3, T_MS) == 3, "client writes");
	shutdown(cli, SHUT_WR);
	hr_check(hr_read_until_eof(srv, buf, sizeof(buf), T_MS) == 3 &&
			 !memcmp(buf, "abc", 3),
		 "the server reads abc, then the client's FIN");
	hr_check(hr_write_all(srv, "xyz", 3, T_MS) == 3, "server answers");
	hr_check(hr_read_exact(cli, buf, 3, T_MS) == 3 && !memcmp(buf, "xyz", 3),
		 "the answer reaches the half-closed client");
	shutdown(srv, SHUT_WR);
	hr_check(hr_read_until_eof(cli, buf, sizeof(buf), T_MS) == 0,
		 "then the server's FIN");
	close(cli);
	close(srv);

	cli = hr_connect_tcp(d->port);
	srv = accept_one(l);
	hr_check(hr_write_all(srv, "hello", 5, T_MS) == 5, "server speaks first");
	shutdown(srv, SHUT_WR);
	hr_check(hr_read_until_eof(cli, buf, sizeof(buf), T_MS) == 5,
		 "the client reads it and the server's FIN");
	hr_check(hr_write_all(cli, "late", 4, T_MS) == 4, "client still writes");
	shutdown(cli, SHUT_WR);
	hr_check(hr_read_until_eof(srv, buf, sizeof(buf), T_MS) == 4 &&
			 !memcmp(buf, "late", 4),
		 "the server reads it, then the FIN");
	close(cli);
	close(srv);
	wait_total(d, "totals/closed", 2);
	hr_check_int("no resets", 0, hr_total(d, "proxy_resets"));
	close(l);
	hr_check_int("stopped", 0, hr_stop(d, SIGTERM));
}

static void reset_close(int fd)
{
	static const struct linger reset = { 1, 0 };

	setsockopt(fd, SOL_SOCKET, SO_LINGER, &reset, sizeof(reset));
	close(fd);
}

/* 1 if the next read on fd ends in ECONNRESET within the deadline. */
static int sees_reset(int fd)
{
	char buf[256];
	ssize_t n;

	for (;;) {
		struct pollfd p = { fd, POLLIN, 0 };

		if (poll(&p, 1, T_MS) != 1)
			return 0;
		n = read(fd, buf, sizeof(buf));
		if (n > 0 || (n < 0 && errno == EAGAIN))
			continue;
		return n < 0 && errno == ECONNRESET;
	}
}

/* A reset from either side is passed on as a reset. */
static void test_reset_propagation(void **state)
{
	struct hr_daemon *d = *state;
	int port, l = server(4, &port), cli, srv;

	start_proxy(d, "upstream 127.0.0.1:%d\n", port);
	cli = hr_connect_tcp(d->port);
	srv = accept_one(l);
	reset_close(srv);
	hr_check(sees_reset(cli), "the server's reset reaches the client");
	close(cli);

	cli = hr_connect_tcp(d->port);
	srv = accept_one(l);
	hr_check(hr_write_all(cli, "x", 1, T_MS) == 1 &&
			 hr_read_exact(srv, (char[1]){ 0 }, 1, T_MS) == 1,
		 "connected through");
	reset_close(cli);
	hr_check(sees_reset(srv), "the client's reset reaches the server");
	close(srv);
	wait_total(d, "totals/proxy_resets", 2);
	hr_check_int("active", 0, hr_total(d, "active"));
	close(l);
	hr_check_int("stopped", 0, hr_stop(d, SIGTERM));
}

/* The first server refuses: the client is served by the second, the
 * first is marked down and skipped from then on. */
static void test_refused_retried(void **state)
{
	struct hr_daemon *d = *state, *e = hr_echo_daemon();
	int bad, hold = hr_refusing_port(&bad);
	char buf[8];
	json_t *st;

	start_proxy(d, "upstream 127.0.0.1:%d\nupstream 127.0.0.1:%d\n", bad,
		    e->port);
	for (int k = 0; k < 4; k++) {
		int fd = hr_connect_tcp(d->port);

		hr_check(hr_write_all(fd, "ping", 4, T_MS) == 4 &&
				 hr_read_exact(fd, buf, 4, T_MS) == 4 &&
				 !memcmp(buf, "ping", 4),
			 "client %d echoed through the second server", k);
		close(fd);
	}
	st = hr_query_ok(d, "stats");
	hr_check_int("proxy_connect_errors", 1,
		     hr_jint(st, "totals/proxy_connect_errors"));
	hr_check_int("proxy_retries", 1, hr_jint(st, "totals/proxy_retries"));
	hr_check_int("proxy_servers_down", 1,
		     hr_jint(st, "totals/proxy_servers_down"));
	hr_check_int("proxy_connects", 4, hr_jint(st, "totals/proxy_connects"));
	char key[64];

	snprintf(key, sizeof(key), "totals/upstream_down/127.0.0.1:%d", bad);
	hr_check_int(key, 1, hr_jint(st, key));
	snprintf(key, sizeof(key), "totals/upstream_connects/127.0.0.1:%d",
		 e->port);
	hr_check_int(key, 4, hr_jint(st, key));
	json_decref(st);
	close(hold);
	hr_check_int("stopped", 0, hr_stop(d, SIGTERM));
	hr_stop_free(e);
}

/* Every server refuses: the client is closed at once, counted; while
 * they are down the next clients are closed with no connect tried. */
static void test_all_down(void **state)
{
	struct hr_daemon *d = *state;
	int p1, p2, h1 = hr_refusing_port(&p1), h2 = hr_refusing_port(&p2);

	start_proxy(d, "upstream 127.0.0.1:%d\nupstream 127.0.0.1:%d\n", p1, p2);
	for (int k = 0; k < 3; k++) {
		int fd = hr_connect_tcp(d->port);
		int64_t t0 = hr_now_ms();

		hr_check(hr_wait_closed(fd, T_MS), "client %d closed", k);
		hr_note("client %d closed after %lld ms", k,
			(long long)(hr_now_ms() - t0));
		close(fd);
	}
	wait_total(d, "totals/proxy_no_upstream", 3);
	hr_check_int("connect errors: each server once", 2,
		     hr_total(d, "proxy_connect_errors"));
	hr_check_int("active", 0, hr_total(d, "active"));
	close(h1);
	close(h2);
	hr_check_int("stopped", 0, hr_stop(d, SIGTERM));
}

/* A server whose accept queue is full drops the SYN: the connect
 * timeout ends the wait, and the client is closed. */
static void test_connect_timeout(void **state)
{
	struct hr_daemon *d = *state;
	int port, l = server(0, &port), filler = hr_connect_tcp(port), fd;
	struct pollfd p = { l, POLLIN, 0 };
	int64_t t0;

	/* backlog 0 holds one: the filler, seen queued */
	hr_check(filler >= 0 && poll(&p, 1, T_MS) == 1, "the queue is full");
	start_proxy(d, "upstream 127.0.0.1:%d\nproxy_connect_timeout 300ms\n",
		    port);
	fd = hr_connect_tcp(d->port);
	t0 = hr_now_ms();
	hr_check(hr_wait_closed(fd, T_MS), "the client is closed");
	hr_check(hr_now_ms() - t0 >= 250, "not before the timeout: %lld ms",
		 (long long)(hr_now_ms() - t0));
	wait_total(d, "totals/proxy_connect_timeouts", 1);
	hr_check_int("no_upstream", 1, hr_total(d, "proxy_no_upstream"));
	close(fd);
	close(filler);
	close(l);
	hr_check_int("stopped", 0, hr_stop(d, SIGTERM));
}

/* A connection with nothing to say for proxy_idle_timeout is closed. */
static void test_idle_timeout(void **state)
{
	struct hr_daemon *d = *state, *e = hr_echo_daemon();
	int fd;
	char buf[4];

	start_proxy(d, "upstream 127.0.0.1:%d\nproxy_idle_timeout 300ms\n",
		    e->port);
	fd = hr_connect_tcp(d->port);
	hr_check(hr_write_all(fd, "ping", 4, T_MS) == 4 &&
			 hr_read_exact(fd, buf, 4, T_MS) == 4,
		 "echoed");
	hr_check(hr_wait_closed(fd, T_MS), "closed when idle");
	hr_check_int("proxy_timeouts_idle", 1, hr_total(d, "proxy_timeouts_idle"));
	close(fd);
	hr_check_int("stopped", 0, hr_stop(d, SIGTERM));
	hr_stop_free(e);
}

/* Connections to the server leave from each proxy_source address in
 * turn. */
static void test_source_spreading(void **state)
{
	struct hr_daemon *d = *state;
	int port, l = server(16, &port), cli[6], srv[6], seen[3] = { 0 };

	start_proxy(d, "upstream 127.0.0.1:%d\nproxy_source 127.0.0.2-127.0.0.4\n",
		    port);
	for (int k = 0; k < 6; k++) {
		struct sockaddr_in a;
		socklen_t len = sizeof(a);
		uint32_t ip;

		cli[k] = hr_connect_tcp(d->port);
		srv[k] = accept_one(l);
		hr_check(getpeername(srv[k], (struct sockaddr *)&a, &len) == 0,
			 "peer");
		ip = ntohl(a.sin_addr.s_addr);
		hr_check(ip >= 0x7f000002 && ip <= 0x7f000004,
			 "from a proxy_source: %s", inet_ntoa(a.sin_addr));
		seen[ip - 0x7f000002]++;
	}
	for (int k = 0; k < 3; k++)
		hr_check_int("connections from 127.0.0.2 + k", 2, seen[k]);
	for (int k = 0; k < 6; k++) {
		close(cli[k]);
		close(srv[k]);
	}
	close(l);
	hr_check_int("stopped", 0, hr_stop(d, SIGTERM));
}

/* The kernel's range for ephemeral ports. */
static void port_range(long *lo, long *hi)
{
	FILE *f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "r");

	hr_check(f && fscanf(f, "%ld %ld", lo, hi) == 2, "ip_local_port_range");
	fclose(f);
}

/* One source address and two ports (IP_LOCAL_PORT_RANGE): the third
 * concurrent connection to the server finds no port. EADDRNOTAVAIL is
 * counted, that client is closed, the worker does not spin, and once a
 * port is free again the next client is served. */
static void test_port_exhaustion(void **state)
{
	struct hr_daemon *d = *state;
	int port, l = server(16, &port), cli[3], srv[2], fd;
	long lo, hi;
	json_t *st;

	if (!hr_have_port_range()) {
		hr_note("no IP_LOCAL_PORT_RANGE in this kernel (Linux 6.3+)");
		skip();
	}
	port_range(&lo, &hi);
	lo += (getpid() % 1000) * 2; /* apart from parallel runs */
	start_proxy(d,
		    "upstream 127.0.0.1:%d\nproxy_source 127.0.0.1\n"
		    "proxy_port_range %ld-%ld\n",
		    port, lo, lo + 1);
	for (int k = 0; k < 2; k++) {
		cli[k] = hr_connect_tcp(d->port);
		srv[k] = accept_one(l);
	}
	cli[2] = hr_connect_tcp(d->port);
	hr_check(hr_wait_closed(cli[2], T_MS), "the third client is closed");
	st = hr_query_ok(d, "stats");
	hr_check(hr_jint(st, "totals/proxy_port_exhausted") >= 1,
		 "exhaustion counted: %s", hr_jdump(st));
	json_int_t turns = hr_jint(st, "workers/0/loop_turns");

	json_decref(st);
	struct pollfd none = { -1, 0, 0 };

	poll(&none, 1, 300);
	hr_check(hr_total(d, "loop_turns") - turns < 50,
		 "the worker does not spin");
	hr_check(hr_log_contains(d, "no local port left"), "logged");
	/* The server closes first: the TIME_WAIT is on its side, and the
	 * proxy's port is free at once for the next client. */
	close(srv[0]);
	close(cli[0]);
	close(cli[2]);
	wait_total(d, "totals/closed", 2);
	fd = hr_connect_tcp(d->port);
	close(accept_one(l));
	close(fd);
	close(cli[1]);
	close(srv[1]);
	close(l);
	hr_check_int("stopped", 0, hr_stop(d, SIGTERM));
}

/* -t -v counts two descriptors per proxied connection. */
static void test_capacity_report(void **state)
{
	struct hr_daemon *d = *state;
	char path[256], out[4096], err[1024];

	hr_write_conf(d, "p.conf", "protocol tcp_proxy\nupstream 127.0.0.1:9\n",
		      path, sizeof(path));
	const char *args[] = { "-t", "-v", "-c", path, NULL };

	hr_check_int("-t", 0,
		     hr_run(d, args, T_MS, out, sizeof(out), err, sizeof(err)));
	hr_check(strstr(out, " connections x 2 + "), "%s", out);
	hr_check(strstr(out, "1 source address x ") &&
			 strstr(out, "proxy_port_range              off"),
		 "the source ports and their range: %s", out);
	hr_write_conf(d, "q.conf", "protocol tcp_proxy\n", path, sizeof(path));
	hr_check_int("-t without upstream", 1,
		     hr_run(d, args, T_MS, out, sizeof(out), err, sizeof(err)));
	hr_check(strstr(err, "needs at least one 'upstream"), "%s", err);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_relay_both_ways, hr_setup,
						hr_teardown),
		cmocka_unit_test_setup_teardown(test_back_pressure, hr_setup,
						hr_teardown),
		cmocka_unit_test_setup_teardown(test_half_close, hr_setup,
						hr_teardown),
		cmocka_unit_test_setup_teardown(test_reset_propagation,
						hr_setup, hr_teardown),
		cmocka_unit_test_setup_teardown(test_refused_retried, hr_setup,
						hr_teardown),
		cmocka_unit_test_setup_teardown(test_all_down, hr_setup,
						hr_teardown),
		cmocka_unit_test_setup_teardown(test_connect_timeout, hr_setup,
						hr_teardown),
		cmocka_unit_test_setup_teardown(test_idle_timeout, hr_setup,
						hr_teardown),
		cmocka_unit_test_setup_teardown(test_source_spreading, hr_setup,
						hr_teardown),
		cmocka_unit_test_setup_teardown(test_port_exhaustion, hr_setup,
						hr_teardown),
		cmocka_unit_test_setup_teardown(test_capacity_report, hr_setup,
						hr_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
