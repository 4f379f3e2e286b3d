/* test_daemon_balance.c - tcp_proxy's balancing, active health checks
 * and PROXY protocol end to end: the real daemon between clients and
 * servers over loopback. The servers are listeners of this program
 * (which it closes and reopens to take a server away and bring it
 * back) or other reuseportd instances (an HTTP server answering a fixed
 * status). Every wait is on an event or a stats value, with a deadline. */
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

/* A loopback listener on port (0: a free one), SO_REUSEADDR so that it
 * can come back on its port while connections it had are in TIME_WAIT. */
static int listener_on(int *port)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t len = sizeof(a);
	int one = 1, l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	a.sin_port = htons((uint16_t)*port);
	hr_check(l >= 0 &&
			 setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one,
				    sizeof(one)) == 0 &&
			 bind(l, (struct sockaddr *)&a, sizeof(a)) == 0 &&
			 listen(l, 128) == 0 &&
			 getsockname(l, (struct sockaddr *)&a, &len) == 0,
		 "a server socket on port %d: %s", *port, strerror(errno));
	*port = ntohs(a.sin_port);
	return l;
}

static int accept_fd(int l)
{
	int fd = accept4(l, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

	hr_check(fd >= 0, "accept: %s", strerror(errno));
	return fd;
}

/* Which of the n listeners the proxy's next connection reaches: its
 * index, the accepted socket in *fd. */
static int accept_any(const int *l, int n, int *fd)
{
	struct pollfd p[8];

	for (int i = 0; i < n; i++)
		p[i] = (struct pollfd){ l[i], POLLIN, 0 };
	hr_check(poll(p, (nfds_t)n, T_MS) > 0, "the proxy connects to a server");
	for (int i = 0; i < n; i++)
		if (p[i].revents & POLLIN) {
			*fd = accept_fd(l[i]);
			return i;
		}
	return -1;
}

/* The same for a client that has written one byte, 'x': the health
 * checks' connections also land in the listeners' queues, and they are
 * reset without a byte, so they are told apart and skipped. */
static int accept_client(const int *l, int n, int *fd)
{
	for (int64_t end = hr_now_ms() + T_MS; hr_now_ms() < end;) {
		int i = accept_any(l, n, fd);
		char b;

		if (hr_read_exact(*fd, &b, 1, 2000) == 1 && b == 'x')
			return i;
		close(*fd);
	}
	hr_check(0, "the client's connection reaches a server");
	return -1;
}

/* A client of the proxy from the local address 127.0.1.k (k < 65536):
 * the whole 127/8 is this host's. */
static int client_from(uint32_t k, int port)
{
	struct sockaddr_in me = { .sin_family = AF_INET };
	struct sockaddr_in to = { .sin_family = AF_INET };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	me.sin_addr.s_addr = htonl(0x7f010000u + k);
	to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	to.sin_port = htons((uint16_t)port);
	hr_check(fd >= 0 && bind(fd, (struct sockaddr *)&me, sizeof(me)) == 0 &&
			 connect(fd, (struct sockaddr *)&to, sizeof(to)) == 0,
		 "client from 127.0.1.%u: %s", k, strerror(errno));
	return fd;
}

/* Writes the config (protocol tcp_proxy plus the text) and starts the
 * proxy with extra arguments (NULL-terminated, may be NULL). */
static void start_proxy(struct hr_daemon *d, const char *const *extra,
			const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void start_proxy(struct hr_daemon *d, const char *const *extra,
			const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	hr_start_conf(d, extra, "protocol tcp_proxy\n", fmt, ap);
	va_end(ap);
}

static void wait_value(struct hr_daemon *d, const char *path, json_int_t v,
		       int timeout_ms)
{
	hr_wait_int(d, path, v, 0, timeout_ms);
}

static void wait_at_least(struct hr_daemon *d, const char *path, json_int_t v)
{
	hr_wait_int(d, path, v, 1, T_MS);
}

/* "totals/FIELD/127.0.0.1:PORT" */
static const char *per_server(char *buf, size_t len, const char *field, int port)
{
	snprintf(buf, len, "totals/%s/127.0.0.1:%d", field, port);
	return buf;
}

/* The workers holding a server down for reason why (check, failures). */
static const char *down_by(char *buf, size_t len, const char *why, int port)
{
	snprintf(buf, len, "totals/upstream_down_by/127.0.0.1:%d/%s", port, why);
	return buf;
}

/* The server (index into l) that the client from 127.0.1.k reaches. */
static int server_of(struct hr_daemon *d, const int *l, int n, uint32_t k)
{
	int c = client_from(k, d->port), s, i;

	hr_check(hr_write_all(c, "x", 1, T_MS) == 1, "client writes");
	i = accept_client(l, n, &s);
	close(c);
	close(s);
	return i;
}

/* balance hash with weights 1, 2, 1 over two workers: 400 client
 * addresses spread in proportion to the weights; a client keeps its
 * server on a new connection (another port, maybe another worker);
 * the server that the health checks take down loses only its own
 * clients, and gets them all back when it returns. */
static void test_hash(void **state)
{
	struct hr_daemon *d = *state;
	enum { N = 400 };
	static int8_t first[N];
	int port[3] = { 0, 0, 0 }, l[3], seen[3] = { 0 }, moved = 0;
	char key[96];

	for (int i = 0; i < 3; i++)
		l[i] = listener_on(&port[i]);
	start_proxy(d, NULL,
		    "balance hash\nupstream 127.0.0.1:%d\n"
		    "upstream 127.0.0.1:%d weight=2\nupstream 127.0.0.1:%d\n"
		    "health_check tcp\nhealth_interval 200ms\n"
		    "health_timeout 100ms\nhealth_rise 1\nhealth_fall 1\n",
		    port[0], port[1], port[2]);
	for (uint32_t k = 0; k < N; k++) {
		first[k] = (int8_t)server_of(d, l, 3, k + 1);
		seen[first[k]]++;
	}
	hr_note("hash over %d addresses, weights 1 2 1: %d %d %d", N, seen[0],
		seen[1], seen[2]);
	/* Expected 100, 200, 100: a binomial's deviation is about 9. */
	hr_check(seen[0] >= 65 && seen[0] <= 135 && seen[1] >= 160 &&
			 seen[1] <= 240 && seen[2] >= 65 && seen[2] <= 135,
		 "shares within tolerance of the weights");
	for (uint32_t k = 0; k < N; k += 10)
		hr_check_int("the same address, a new connection", first[k],
			     server_of(d, l, 3, k + 1));

	/* Server 1 stops listening: the checks take it down in both
	 * workers, with no client traffic to notice. */
	close(l[1]);
	wait_value(d, down_by(key, sizeof(key), "check", port[1]), 2, T_MS);
	for (uint32_t k = 0; k < N; k++) {
		int i = server_of(d, l, 3, k + 1);

		if (first[k] == 1) {
			hr_check(i == 0 || i == 2,
				 "a client of the down server moves");
			moved++;
		} else {
			hr_check_int("a client of another server stays",
				     first[k], i);
		}
	}
	hr_check_int("clients moved: those of server 1", seen[1], moved);
	hr_check_int("no connect was refused (the checks found it down)", 0,
		     hr_total(d, "proxy_connect_errors"));

	/* Back on its port: up again by its checks, and every client is
	 * where it was. */
	l[1] = listener_on(&port[1]);
	wait_value(d, per_server(key, sizeof(key), "upstream_down", port[1]), 0,
		   T_MS);
	for (uint32_t k = 0; k < N; k++)
		hr_check_int("back where it was", first[k],
			     server_of(d, l, 3, k + 1));
	hr_check(hr_log_contains(d, "is down: 1 health checks failed") &&
			 hr_log_contains(d, "is up: 1 health checks passed"),
		 "the state changes are logged");
	for (int i = 0; i < 3; i++)
		close(l[i]);
	hr_check_int("stopped", 0, hr_stop(d, SIGTERM));
}

/* balance least_conn, one worker, two servers: new connections
 * alternate while the servers are level; when one server's connections
 * end while the other's live on, the next ones all go to the first
 * until they are level again. */
static void test_least_conn(void **state)
{
	struct hr_daemon *d = *state;
	int port[2] = { 0, 0 }, l[2], cli[12], srv[12], on[12];
	int count[2] = { 0, 0 };
	char key[96];
	const char *one[] = { "-w", "1", NULL };

	for (int i = 0; i < 2; i++)
		l[i] = listener_on(&port[i]);
	start_proxy(d, one,
		    "balance least_conn\nupstream 127.0.0.1:%d\n"
		    "upstream 127.0.0.1:%d\n",
		    port[0], port[1]);
	for (int k = 0; k < 6; k++) {
		cli[k] = hr_connect_tcp(d->port);
		on[k] = accept_any(l, 2, &srv[k]);
		count[on[k]]++;
		hr_check(k == 0 || on[k] != on[k - 1],
			 "level servers alternate (connection %d)", k);
	}
	hr_check_int("server 0 holds", 3, count[0]);
	/* Server 1's three end; server 0's three are long-lived. */
	for (int k = 0; k < 6; k++)
		if (on[k] == 1) {
			close(cli[k]);
			close(srv[k]);
		}
	wait_value(d, per_server(key, sizeof(key), "upstream_active", port[1]),
		   0, T_MS);
	for (int k = 6; k < 9; k++) {
		cli[k] = hr_connect_tcp(d->port);
		on[k] = accept_any(l, 2, &srv[k]);
		hr_check_int("the server with fewer connections", 1, on[k]);
	}
	/* Level again (3 and 3): alternating. */
	for (int k = 9; k < 12; k++) {
		cli[k] = hr_connect_tcp(d->port);
		on[k] = accept_any(l, 2, &srv[k]);
		hr_check(k == 9 || on[k] != on[k - 1], "alternating again");
	}
	for (int k = 0; k < 12; k++)
		if (k >= 6 || on[k] == 0) {
			close(cli[k]);
			close(srv[k]);
		}
	wait_value(d, "totals/active", 0, T_MS);
	for (int i = 0; i < 2; i++)
		close(l[i]);
	hr_check_int("stopped", 0, hr_stop(d, SIGTERM));
}

/* health_check tcp with no client at all: the server is checked, it
 * stops listening and both workers mark it down by checks (not by
 * passive failures), it listens again and both mark it up. */
static void test_tcp_check_down_up(void **state)
{
	struct hr_daemon *d = *state;
	int port = 0, l = listener_on(&port);
	char key[96];
	json_t *st;

	start_proxy(d, NULL,
		    "upstream 127.0.0.1:%d\nhealth_check tcp\n"
		    "health_interval 200ms\nhealth_timeout 100ms\n"
		    "health_rise 2\nhealth_fall 2\n",
		    port);
	wait_at_least(d, per_server(key, sizeof(key), "upstream_checks", port), 4);
	st = hr_query_ok(d, "stats");
	hr_check_int("up", 0,
		     hr_jint(st, per_server(key, sizeof(key), "upstream_down",
					    port)));
	hr_check_int("no check failed", 0,
		     hr_jint(st, per_server(key, sizeof(key),
					    "upstream_checks_failed", port)));
	json_decref(st);
	close(l);
	wait_value(d, down_by(key, sizeof(key), "check", port), 2, T_MS);
	st = hr_query_ok(d, "stats");
	hr_check_int("down in both workers", 2,
		     hr_jint(st, per_server(key, sizeof(key), "upstream_down",
					    port)));
	hr_check_int("not by passive health", 0,
		     hr_jint(st, down_by(key, sizeof(key), "failures", port)));
	hr_check(hr_jint(st, per_server(key, sizeof(key),
					"upstream_checks_failed", port)) >= 4,
		 "failed checks counted");
	hr_check_int("no client came", 0, hr_jint(st, "totals/accepted"));
	snprintf(key, sizeof(key), "upstreams/127.0.0.1:%d/state", port);
	hr_check(!strcmp(hr_jstr(st, key), "down"), "%s: %s", key,
		 hr_jstr(st, key));
	snprintf(key, sizeof(key), "upstreams/127.0.0.1:%d/why", port);
	hr_check(!strcmp(hr_jstr(st, key), "checks"), "%s: %s", key,
		 hr_jstr(st, key));
	json_decref(st);
	/* A client meanwhile is closed at once: no server is up. */
	int c = hr_connect_tcp(d->port);

	hr_check(hr_wait_closed(c, T_MS), "a client is closed while all are down");
	close(c);
	l = listener_on(&port);
	wait_value(d, per_server(key, sizeof(key), "upstream_down", port), 0,
		   T_MS);
	st = hr_query_ok(d, "stats");
	snprintf(key, sizeof(key), "upstreams/127.0.0.1:%d/state", port);
	hr_check(!strcmp(hr_jstr(st, key), "up"), "%s: %s", key, hr_jstr(st, key));
	json_decref(st);
	hr_check(hr_log_contains(d, "is down: 2 health checks failed in a row (Connection refused)"),
		 "the cause is logged");
	hr_check(hr_log_contains(d, "is up: 2 health checks passed"), "logged");
	c = hr_connect_tcp(d->port);
	struct pollfd p = { l, POLLIN, 0 };
	int s;

	/* The checks' connections are in the queue too: accept until the
	 * client's, which says hello. */
	hr_check(hr_write_all(c, "hi", 2, T_MS) == 2, "client writes");
	for (int64_t end = hr_now_ms() + T_MS;;) {
		char b[2];

		hr_check(hr_now_ms() < end, "the client reaches the server");
		if (poll(&p, 1, 1000) != 1)
			continue;
		s = accept_fd(l);
		if (hr_read_exact(s, b, 2, 1000) == 2 && !memcmp(b, "hi", 2))
			break;
		close(s);
	}
	close(s);
	close(c);
	close(l);
	hr_check_int("stopped", 0, hr_stop(d, SIGTERM));
}

/* An HTTP server (another reuseportd) answering a fixed status, with
 * an access log in its directory. */
static struct hr_daemon *http_server(int status)
{
	struct hr_daemon *e = hr_new();
	char text[512], path[256];

	hr_check(e != NULL, "a temp dir");
	snprintf(text, sizeof(text),
		 "protocol http\nreturn %d \"status %d\"\n"
		 "access_log %s/access.log\n",
		 status, status, e->dir);
	hr_write_conf(e, "http.conf", text, path, sizeof(path));
	const char *args[] = { "-c", path, "-w", "1", NULL };

	hr_start_ok(e, args);
	return e;
}

/* 1 if the access log of e (stopped: flushed) has a line with both. */
static int logged(const struct hr_daemon *e, const char *a, const char *b)
{
	char path[256], line[1024];
	FILE *f;
	int found = 0;

	snprintf(path, sizeof(path), "%s/access.log", e->dir);
	f = fopen(path, "r");
	while (f && !found && fgets(line, sizeof(line), f))
		found = strstr(line, a) && strstr(line, b);
	if (f)
		fclose(f);
	return found;
}

/* health_check http: the server answering 500 goes down, the one
 * answering 200 stays up and takes the clients. */
static void test_http_check_500(void **state)
{
	struct hr_daemon *d = *state, *bad = http_server(500),
			 *good = http_server(200);
	char key[96];
	json_t *st;

	start_proxy(d, NULL,
		    "upstream 127.0.0.1:%d\nupstream 127.0.0.1:%d\n"
		    "health_check http /healthz\nhealth_interval 200ms\n"
		    "health_timeout 150ms\nhealth_fall 2\n",
		    bad->port, good->port);
	wait_value(d, down_by(key, sizeof(key), "check", bad->port), 2, T_MS);
	wait_at_least(d,
		      per_server(key, sizeof(key), "upstream_checks", good->port),
		      4);
	st = hr_query_ok(d, "stats");
	hr_check_int("the 200 server is up", 0,
		     hr_jint(st, per_server(key, sizeof(key), "upstream_down",
					    good->port)));
	hr_check_int("and none of its checks failed", 0,
		     hr_jint(st,
			     per_server(key, sizeof(key),
					"upstream_checks_failed", good->port)));
	json_decref(st);
	hr_check(hr_log_contains(d, "(status 500)"), "the status is the cause");
	/* The backends saw the checks as requests for /healthz. */
	wait_at_least(good, "totals/requests", 2);
	for (int k = 0; k < 4; k++) {
		int c = hr_connect_tcp(d->port);

		hr_check(hr_write_all(c, "GET / HTTP/1.0\r\n\r\n", 18, T_MS) == 18,
			 "request");
		hr_check(hr_http_response(c, T_MS) == 2,
			 "answered 200 by the good server");
		close(c);
	}
	hr_check_int("stopped", 0, hr_stop(d, SIGTERM));
	hr_check_int("stopped", 0, hr_stop(bad, SIGTERM));
	hr_check_int("stopped", 0, hr_stop(good, SIGTERM));
	/* What the checks sent, as the servers logged it. */
	hr_check(logged(bad, "\"GET /healthz HTTP/1.1\" 500 ",
			"reuseportd-health-check"),
		 "the 500 server logged the check's GET");
	hr_check(logged(good, "\"GET /healthz HTTP/1.1\" 200 ",
			"reuseportd-health-check"),
		 "the 200 server logged the check's GET");
	hr_free(bad);
	hr_free(good);
}

/* Four workers checking one server every 400 ms: the server gets about
 * ten checks a second, spread out - not four at once every 400 ms. The
 * checks' arrival times are taken at accept. */
static void test_no_thundering_herd(void **state)
{
	struct hr_daemon *d = *state;
	int port = 0, l = listener_on(&port), n = 0, close_gaps = 0;
	int64_t t[64], end;
	const char *four[] = { "-w", "4", NULL };

	start_proxy(d, four,
		    "upstream 127.0.0.1:%d\nhealth_check tcp\n"
		    "health_interval 400ms\nhealth_timeout 200ms\n",
		    port);
	end = hr_now_ms() + 2400;
	while (n < 64 && hr_now_ms() < end) {
		struct pollfd p = { l, POLLIN, 0 };

		if (poll(&p, 1, 100) != 1)
			continue;
		t[n++] = hr_now_us();
		close(accept_fd(l));
	}
	hr_check(n >= 12, "checks seen in 2.4 s: %d", n);
	for (int k = 1; k < n; k++)
		close_gaps += t[k] - t[k - 1] < 25000;
	hr_note("%d checks, %d of them within 25 ms of the previous one", n,
		close_gaps);
	/* All four at once would make 3 in 4 gaps close to 0; spread, they
	 * are about 100 ms. A late one (a busy machine) may come near the
	 * next. */
	hr_check(close_gaps * 4 <= n - 1,
		 "checks spread: %d of %d gaps < 25 ms", close_gaps, n - 1);
	close(l);
	hr_check_int("stopped", 0, hr_stop(d, SIGTERM));
}

/* Reads the PROXY header and the data after it from the server's side
 * and checks them: the header byte for byte, then exactly "hello". */
static void expect_header_then(int s, const void *hdr, size_t hlen,
			       const char *data)
{
	char buf[256];
	size_t dlen = strlen(data);

	hr_check(hr_read_exact(s, buf, hlen, T_MS) == (ssize_t)hlen,
		 "the header arrives");
	hr_check(!memcmp(buf, hdr, hlen),
		 "the header: expected '%.*s', seen '%.*s'", (int)hlen,
		 (const char *)hdr, (int)hlen, buf);
	if (dlen)
		hr_check(hr_read_exact(s, buf, dlen, T_MS) == (ssize_t)dlen &&
				 !memcmp(buf, data, dlen),
			 "then the client's bytes");
}

static uint16_t local_port(int fd)
{
	struct sockaddr_storage a;
	socklen_t len = sizeof(a);

	hr_check(getsockname(fd, (struct sockaddr *)&a, &len) == 0, "getsockname");
	return ntohs(a.ss_family == AF_INET ?
			     ((struct sockaddr_in *)&a)->sin_port :
			     ((struct sockaddr_in6 *)&a)->sin6_port);
}

/* proxy_protocol v1: the server reads "PROXY TCP4 client proxy cport
 * pport\r\n" then the client's bytes; with a client that says nothing
 * (the server speaks first), the header comes alone and the server's
 * greeting reaches the client. Over IPv6: TCP6. */
static void test_proxy_protocol_v1(void **state)
{
	struct hr_daemon *d = *state;
	int port = 0, l = listener_on(&port), c, s;
	char hdr[128], buf[8];
	struct pollfd p = { l, POLLIN, 0 };
	const char *args[] = { "-w", "1",       "-l", "127.0.0.1:0",
			       "-l", "[::1]:0", NULL };

	start_proxy(d, args, "upstream 127.0.0.1:%d\nproxy_protocol v1\n", port);
	c = hr_connect_tcp(d->ports[0]);
	hr_check(hr_write_all(c, "hello", 5, T_MS) == 5, "client writes");
	hr_check(poll(&p, 1, T_MS) == 1, "the proxy connects");
	s = accept_fd(l);
	snprintf(hdr, sizeof(hdr), "PROXY TCP4 127.0.0.1 127.0.0.1 %u %d\r\n",
		 local_port(c), d->ports[0]);
	expect_header_then(s, hdr, strlen(hdr), "hello");
	hr_check(hr_write_all(s, "back", 4, T_MS) == 4 &&
			 hr_read_exact(c, buf, 4, T_MS) == 4 &&
			 !memcmp(buf, "back", 4),
		 "the answer is relayed untouched");
	close(c);
	close(s);

	/* A silent client: the header alone, at once. */
	c = hr_connect(AF_INET6, d->ports[1], T_MS);
	hr_check(c >= 0 && poll(&p, 1, T_MS) == 1, "the proxy connects");
	s = accept_fd(l);
	snprintf(hdr, sizeof(hdr), "PROXY TCP6 ::1 ::1 %u %d\r\n",
		 local_port(c), d->ports[1]);
	expect_header_then(s, hdr, strlen(hdr), "");
	hr_check(hr_write_all(s, "220 hi\r\n", 8, T_MS) == 8 &&
			 hr_read_exact(c, buf, 8, T_MS) == 8,
		 "the server's greeting reaches the client");
	hr_check(hr_write_all(c, "QUIT", 4, T_MS) == 4 &&
			 hr_read_exact(s, buf, 4, T_MS) == 4 &&
			 !memcmp(buf, "QUIT", 4),
		 "no second header: the client's bytes follow as they are");
	close(c);
	close(s);
	close(l);
	hr_check_int("stopped", 0, hr_stop(d, SIGTERM));
}

/* proxy_protocol v2: the 28-byte binary header, then the bytes. */
static void test_proxy_protocol_v2(void **state)
{
	struct hr_daemon *d = *state;
	int port = 0, l = listener_on(&port), c, s;
	unsigned char hdr[28] = { 0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d,
				  0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a,
				  0x21, 0x11, 0x00, 0x0c, 127,  0,
				  0,    1,    127,  0,    0,    1 };
	struct pollfd p = { l, POLLIN, 0 };
	const char *one[] = { "-w", "1", NULL };
	uint16_t cp, pp;

	start_proxy(d, one, "upstream 127.0.0.1:%d\nproxy_protocol v2\n", port);
	c = hr_connect_tcp(d->port);
	hr_check(hr_write_all(c, "hello", 5, T_MS) == 5, "client writes");
	hr_check(poll(&p, 1, T_MS) == 1, "the proxy connects");
	s = accept_fd(l);
	cp = htons(local_port(c));
	pp = htons((uint16_t)d->port);
	memcpy(hdr + 24, &cp, 2);
	memcpy(hdr + 26, &pp, 2);
	expect_header_then(s, hdr, sizeof(hdr), "hello");
	close(c);
	hr_check(hr_wait_closed(s, T_MS), "the client's FIN follows");
	close(s);
	close(l);
	hr_check_int("stopped", 0, hr_stop(d, SIGTERM));
}

/* Only generation gen's workers are left, all running: the old ones,
 * with their checks' timers armed, drained and exited. */
static int only_generation(json_t *st, void *arg)
{
	json_int_t gen = *(json_int_t *)arg;
	json_t *w = hr_jget(st, "workers"), *v;
	size_t i;

	if (!hr_generation_up(st, arg) || !json_is_array(w))
		return 0;
	json_array_foreach(w, i, v)
		if (json_integer_value(json_object_get(v, "generation")) != gen)
			return 0;
	return 1;
}

/* A reload while checks run: the old workers stop checking and exit,
 * the new ones check the servers of the new configuration. */
static void test_reload_with_checks(void **state)
{
	struct hr_daemon *d = *state;
	int p1 = 0, p2 = 0, l1 = listener_on(&p1), l2 = listener_on(&p2);
	char key[96], path[256], text[512];
	json_int_t gen2 = 2;
	json_t *st;

	start_proxy(d, NULL,
		    "upstream 127.0.0.1:%d\nhealth_check tcp\n"
		    "health_interval 200ms\nhealth_timeout 100ms\n",
		    p1);
	wait_at_least(d, per_server(key, sizeof(key), "upstream_checks", p1), 2);
	snprintf(text, sizeof(text),
		 "protocol tcp_proxy\nupstream 127.0.0.1:%d\n"
		 "upstream 127.0.0.1:%d\nhealth_check tcp\n"
		 "health_interval 200ms\nhealth_timeout 100ms\n",
		 p1, p2);
	hr_write_conf(d, "daemon.conf", text, path, sizeof(path));
	kill(d->pid, SIGHUP);
	hr_check(hr_wait_for(d, only_generation, &gen2, T_MS),
		 "generation 2 alone");
	wait_at_least(d, per_server(key, sizeof(key), "upstream_checks", p2), 4);
	st = hr_query_ok(d, "stats");
	for (int k = 0; k < 2; k++) {
		snprintf(key, sizeof(key), "upstreams/127.0.0.1:%d/state",
			 k ? p2 : p1);
		hr_check(!strcmp(hr_jstr(st, key), "up"), "%s: %s", key,
			 hr_jstr(st, key));
	}
	json_decref(st);
	close(l1);
	close(l2);
	hr_check_int("stopped", 0, hr_stop(d, SIGTERM));
}

/* -t names a bad value, and a check longer than its interval. */
static void test_config_check(void **state)
{
	struct hr_daemon *d = *state;
	char path[256], out[2048], err[2048];
	const char *args[] = { "-t", "-c", path, NULL };

	hr_write_conf(d, "a.conf",
		      "protocol tcp_proxy\nupstream 127.0.0.1:9\nbalance fastest\n",
		      path, sizeof(path));
	hr_check_int("-t", 1,
		     hr_run(d, args, T_MS, out, sizeof(out), err, sizeof(err)));
	hr_check(strstr(err,
			"a.conf:3: balance: 'fastest' is not round_robin, least_conn or hash"),
		 "%s", err);
	hr_write_conf(d, "b.conf",
		      "protocol tcp_proxy\nupstream 127.0.0.1:9\nhealth_check http /\n"
		      "health_interval 1s\nhealth_timeout 2s\n",
		      path, sizeof(path));
	hr_check_int("-t", 1,
		     hr_run(d, args, T_MS, out, sizeof(out), err, sizeof(err)));
	hr_check(strstr(err,
			"health_timeout (2000 ms) is longer than health_interval (1000 ms)"),
		 "%s", err);
	hr_write_conf(d, "c.conf",
		      "protocol tcp_proxy\nupstream 127.0.0.1:9\nbalance hash\n"
		      "health_check http /healthz\nproxy_protocol v2\n"
		      "workers 4\nhealth_interval 2s\n",
		      path, sizeof(path));
	hr_check_int("-t", 0,
		     hr_run(d, args, T_MS, out, sizeof(out), err, sizeof(err)));
	/* -t -v: what a server receives from all the workers. */
	const char *verbose[] = { "-t", "-v", "-c", path, NULL };

	hr_check_int("-t -v", 0,
		     hr_run(d, verbose, T_MS, out, sizeof(out), err, sizeof(err)));
	hr_check(strstr(out, "a check every 500 ms (4 workers, each every 2000 ms"),
		 "%s", out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_hash, hr_setup, hr_teardown),
		cmocka_unit_test_setup_teardown(test_least_conn, hr_setup,
						hr_teardown),
		cmocka_unit_test_setup_teardown(test_tcp_check_down_up,
						hr_setup, hr_teardown),
		cmocka_unit_test_setup_teardown(test_http_check_500, hr_setup,
						hr_teardown),
		cmocka_unit_test_setup_teardown(test_no_thundering_herd,
						hr_setup, hr_teardown),
		cmocka_unit_test_setup_teardown(test_proxy_protocol_v1,
						hr_setup, hr_teardown),
		cmocka_unit_test_setup_teardown(test_proxy_protocol_v2,
						hr_setup, hr_teardown),
		cmocka_unit_test_setup_teardown(test_reload_with_checks,
						hr_setup, hr_teardown),
		cmocka_unit_test_setup_teardown(test_config_check, hr_setup,
						hr_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
