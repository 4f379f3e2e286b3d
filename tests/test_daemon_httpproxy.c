/* test_daemon_httpproxy.c - protocol http_proxy end to end: the real
 * daemon between real HTTP clients (this program) and tests/backend, an
 * HTTP/1.1 server that misbehaves on command by path. Each test is a
 * short story told over loopback TCP and checked against the proxy's
 * stats and the backend's own count of connections. */
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
#include <strings.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#ifndef BACKEND_BIN
#error "build with -DBACKEND_BIN=\"/path/to/tests/backend\""
#endif

#define T_MS 10000

/* --- the backend --- */

struct backend {
	pid_t pid;
	int port;
};

/* The backends a test started, stopped by teardown even when the test
 * failed half-way. */
static pid_t started[8];

static void backend_forget(pid_t pid)
{
	for (size_t i = 0; i < sizeof(started) / sizeof(started[0]); i++)
		if (started[i] == pid)
			started[i] = 0;
}

static int teardown(void **state)
{
	for (size_t i = 0; i < sizeof(started) / sizeof(started[0]); i++)
		if (started[i] > 0) {
			int st;

			kill(started[i], SIGKILL);
			waitpid(started[i], &st, 0);
			started[i] = 0;
		}
	return hr_teardown(state);
}

/* Starts tests/backend (on port, or 0: any) and reads the port it
 * prints, with a deadline. */
static struct backend backend_start(int port)
{
	struct backend b = { 0, 0 };
	char portarg[16], line[32] = "";
	int p[2];
	size_t got = 0;
	/* The backend waits for a free port as the harness does (a load
	 * elsewhere on the host may hold them all for a while). */
	int64_t end = hr_now_ms() + HR_PORT0_WAIT_MS + T_MS;

	hr_check(pipe(p) == 0, "pipe");
	snprintf(portarg, sizeof(portarg), "%d", port);
	b.pid = fork();
	hr_check(b.pid >= 0, "fork");
	if (b.pid == 0) {
		dup2(p[1], 1);
		close(p[0]);
		close(p[1]);
		execl(BACKEND_BIN, BACKEND_BIN, "-p", portarg, (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	for (size_t i = 0; i < sizeof(started) / sizeof(started[0]); i++)
		if (started[i] == 0) {
			started[i] = b.pid;
			break;
		}
	while (!strchr(line, '\n') && hr_now_ms() < end) {
		struct pollfd pf = { p[0], POLLIN, 0 };
		ssize_t n;

		if (poll(&pf, 1, 200) <= 0)
			continue;
		n = read(p[0], line + got, sizeof(line) - 1 - got);
		if (n <= 0)
			break;
		got += (size_t)n;
		line[got] = '\0';
	}
	close(p[0]);
	b.port = atoi(line);
	hr_check(b.port > 0, "the backend says its port: '%s'", line);
	return b;
}

static void backend_stop(struct backend *b)
{
	int st;

	if (b->pid <= 0)
		return;
	kill(b->pid, SIGTERM);
	waitpid(b->pid, &st, 0);
	backend_forget(b->pid);
	b->pid = 0;
}

/* --- an HTTP client --- */

struct cli {
	int fd;
	size_t len;
	char buf[1 << 20];
};

struct resp {
	int status;
	char head[8192];
	char *body; /* NUL-terminated, malloc'd */
	size_t blen;
	int closed; /* the connection ended after it */
};

static struct cli *cli_open(int port)
{
	struct cli *c = calloc(1, sizeof(*c));

	hr_check(c != NULL, "memory");
	c->fd = hr_connect_tcp(port);
	hr_check(c->fd >= 0, "connect to the proxy");
	return c;
}

static void cli_close(struct cli *c)
{
	close(c->fd);
	free(c);
}

static void cli_send(struct cli *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void cli_send(struct cli *c, const char *fmt, ...)
{
	char req[8192];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(req, sizeof(req), fmt, ap);
	va_end(ap);
	hr_check(hr_write_all(c->fd, req, (size_t)n, T_MS) == n, "request sent");
}

/* Reads more into c->buf: >0, 0 on EOF, -1 on error or deadline. */
static ssize_t cli_fill(struct cli *c, int64_t end)
{
	for (;;) {
		struct pollfd pf = { c->fd, POLLIN, 0 };
		ssize_t n;
		int64_t left = end - hr_now_ms();

		if (left <= 0 || c->len == sizeof(c->buf))
			return -1;
		if (poll(&pf, 1, (int)left) <= 0)
			continue;
		n = read(c->fd, c->buf + c->len, sizeof(c->buf) - c->len);
		if (n > 0) {
			c->len += (size_t)n;
			return n;
		}
		if (n == 0)
			return 0;
		if (errno != EAGAIN && errno != EINTR)
			return errno == ECONNRESET ? 0 : -1;
	}
}

static const char *hfield(const char *head, const char *name, char *v, size_t vlen)
{
	size_t nl = strlen(name);

	for (const char *p = strstr(head, "\r\n"); p && p[2];
	     p = strstr(p + 2, "\r\n")) {
		if (!strncasecmp(p + 2, name, nl) && p[2 + nl] == ':') {
			const char *s = p + 3 + nl, *e = strstr(s, "\r\n");

			while (*s == ' ')
				s++;
			snprintf(v, vlen, "%.*s", (int)(e - s), s);
			return v;
		}
	}
	return NULL;
}

static void consume(struct cli *c, size_t n)
{
	memmove(c->buf, c->buf + n, c->len - n);
	c->len -= n;
}

/* Reads one response (head_only: to a HEAD); 1xx heads are skipped. 0,
 * or -1 when no whole response came (r->status says how far it got: 0
 * no head; the head is in r->head). */
static int cli_resp(struct cli *c, struct resp *r, int head_only)
{
	int64_t end = hr_now_ms() + T_MS;
	char v[64];
	char *he;
	size_t hl;

	memset(r, 0, sizeof(*r));
	for (;;) {
		while (!(he = memmem(c->buf, c->len, "\r\n\r\n", 4)))
			if (cli_fill(c, end) <= 0) {
				r->closed = 1;
				return -1;
			}
		hl = (size_t)(he - c->buf) + 4;
		snprintf(r->head, sizeof(r->head), "%.*s", (int)hl, c->buf);
		r->status = atoi(c->buf + 9);
		consume(c, hl);
		if (r->status >= 200)
			break;
	}
	r->body = calloc(1, sizeof(c->buf) + 1);
	if (head_only || r->status == 204 || r->status == 304)
		return 0;
	if (hfield(r->head, "Content-Length", v, sizeof(v))) {
		size_t want = strtoul(v, NULL, 10);

		while (c->len < want)
			if (cli_fill(c, end) <= 0) {
				r->closed = 1;
				return -1;
			}
		memcpy(r->body, c->buf, want);
		r->blen = want;
		consume(c, want);
		return 0;
	}
	if (hfield(r->head, "Transfer-Encoding", v, sizeof(v))) {
		for (;;) {
			char *e;
			size_t sz;

			while (!(e = memmem(c->buf, c->len, "\r\n", 2)))
				if (cli_fill(c, end) <= 0)
					return r->closed = 1, -1;
			sz = strtoul(c->buf, NULL, 16);
			if (sz == 0) {
				/* the trailer section, to its blank line */
				char *t;

				while (!(t = memmem(c->buf, c->len, "\r\n\r\n", 4)))
					if (cli_fill(c, end) <= 0)
						return r->closed = 1, -1;
				consume(c, (size_t)(t - c->buf) + 4);
				return 0;
			}
			consume(c, (size_t)(e - c->buf) + 2);
			while (c->len < sz + 2)
				if (cli_fill(c, end) <= 0)
					return r->closed = 1, -1;
			memcpy(r->body + r->blen, c->buf, sz);
			r->blen += sz;
			consume(c, sz + 2);
		}
	}
	/* close-delimited */
	for (;;) {
		ssize_t n = cli_fill(c, end);

		if (n == 0)
			break;
		if (n < 0)
			return r->closed = 1, -1;
	}
	memcpy(r->body, c->buf, c->len);
	r->blen = c->len;
	c->len = 0;
	r->closed = 1;
	return 0;
}

/* One GET on c: its status; the body in r (freed by the caller). */
static int cli_get(struct cli *c, const char *path, struct resp *r)
{
	cli_send(c, "GET %s HTTP/1.1\r\nHost: test\r\n\r\n", path);
	hr_check(cli_resp(c, r, 0) == 0,
		 "a whole response to GET %s (status %d)", path, r->status);
	return r->status;
}

/* The backend's id of the upstream connection a GET /conn-id went on. */
static int conn_id(struct cli *c)
{
	struct resp r;
	int id;

	hr_check_int("conn-id status", 200, cli_get(c, "/conn-id", &r));
	id = atoi(r.body);
	free(r.body);
	return id;
}

/* The backend's own counts, asked directly (one more connection). */
static int backend_count(const struct backend *b, const char *what)
{
	struct cli *c = cli_open(b->port);
	struct resp r;
	char key[32];
	const char *p;
	int v;

	cli_get(c, "/stats", &r);
	snprintf(key, sizeof(key), "%s=", what);
	p = strstr(r.body, key);
	hr_check(p != NULL, "backend stats: %s", r.body);
	v = atoi(p + strlen(key));
	free(r.body);
	cli_close(c);
	return v;
}

/* Waits until the backend has n connections open besides the one that
 * asks (it learns of a close on its next poll: asked in a loop). */
static void wait_backend_open(const struct backend *b, int n)
{
	int64_t end = hr_now_ms() + T_MS;
	int seen;

	while ((seen = backend_count(b, "open") - 1) != n && hr_now_ms() < end) {
		struct pollfd none = { -1, 0, 0 };

		poll(&none, 0, 20);
	}
	hr_check_int("connections open at the backend", n, seen);
}

/* --- the proxy --- */

static void start_proxy(struct hr_daemon *d, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void start_proxy(struct hr_daemon *d, const char *fmt, ...)
{
	static const char *const one[] = { "-w", "1", NULL };
	va_list ap;

	va_start(ap, fmt);
	hr_start_conf(d, one, "protocol http_proxy\n", fmt, ap);
	va_end(ap);
}

static void wait_total(struct hr_daemon *d, const char *path, json_int_t min)
{
	hr_wait_int(d, path, min, 1, T_MS);
}

static void wait_exactly(struct hr_daemon *d, const char *path, json_int_t v)
{
	hr_wait_int(d, path, v, 0, T_MS);
}

struct at_least {
	const char *path;
	json_int_t min;
};

/* The value of the first (only) server of a per-upstream counter:
 * they are objects keyed by the server's address. */
static int first_server(json_t *st, void *arg)
{
	const struct at_least *a = arg;
	json_t *o = hr_jget(st, a->path);
	const char *k;
	json_t *v;

	json_object_foreach(o, k, v)
		return json_integer_value(v) == a->min;
	return 0;
}

static void wait_server(struct hr_daemon *d, const char *path, json_int_t v)
{
	struct at_least a = { path, v };

	hr_check(hr_wait_for(d, first_server, &a, T_MS), "%s: %lld", path,
		 (long long)v);
}

static json_int_t total(struct hr_daemon *d, const char *path)
{
	json_t *st = hr_query_ok(d, "stats");
	json_int_t v = hr_jint(st, path);

	json_decref(st);
	return v;
}

static void stop_all(struct hr_daemon *d, struct backend *b)
{
	hr_check_int("proxy stopped", 0, hr_stop(d, SIGTERM));
	backend_stop(b);
}

/* --- the stories --- */

/* Keep-alive through the proxy: two requests on one client connection
 * and one on another all travel on the same upstream connection (the
 * backend numbers its connections); the stats count one connect, three
 * requests and two reuses, and one idle pooled connection after. */
static void test_pool_reused_across_clients(void **state)
{
	struct hr_daemon *d = *state;
	struct backend b = backend_start(0);
	struct cli *c1, *c2;
	int id1, id2, id3;

	start_proxy(d, "upstream 127.0.0.1:%d\n", b.port);
	c1 = cli_open(d->port);
	id1 = conn_id(c1);
	id2 = conn_id(c1);
	c2 = cli_open(d->port);
	id3 = conn_id(c2);
	hr_check(id1 == id2 && id2 == id3,
		 "one upstream connection: ids %d %d %d", id1, id2, id3);
	/* `stats` reads the workers' counters at once: the client has its
	 * answer a moment before the proxy puts the upstream connection
	 * back in the pool. */
	wait_exactly(d, "totals/http_proxy_pool_idle", 1);
	json_t *st = hr_query_ok(d, "stats");

	hr_check_int("proxy_connects", 1, hr_jint(st, "totals/proxy_connects"));
	hr_check_int("http_proxy_requests", 3,
		     hr_jint(st, "totals/http_proxy_requests"));
	hr_check_int("http_proxy_reuses", 2,
		     hr_jint(st, "totals/http_proxy_reuses"));
	hr_check_int("http_proxy_pool_idle", 1,
		     hr_jint(st, "totals/http_proxy_pool_idle"));
	hr_check_int("responses 2xx", 3, hr_jint(st, "totals/responses/2xx"));
	json_decref(st);
	/* The upstreams view: the server's requests, reuses and pool. */
	st = hr_query_ok(d, "upstreams");
	hr_check_int("upstream requests", 3, hr_jint(st, "upstreams/0/requests"));
	hr_check_int("upstream reuses", 2, hr_jint(st, "upstreams/0/reuses"));
	hr_check_int("upstream pool_idle", 1,
		     hr_jint(st, "upstreams/0/pool_idle"));
	hr_check_int("upstream connects", 1, hr_jint(st, "upstreams/0/connects"));
	json_decref(st);
	hr_check_int("backend connections", 1, backend_count(&b, "accepted") - 1);
	cli_close(c1);
	cli_close(c2);
	stop_all(d, &b);
}

/* Three requests in one write come back in order, each whole. */
static void test_pipelining_in_order(void **state)
{
	struct hr_daemon *d = *state;
	struct backend b = backend_start(0);
	struct cli *c;
	struct resp r;

	start_proxy(d, "upstream 127.0.0.1:%d\n", b.port);
	c = cli_open(d->port);
	cli_send(c, "GET /len/5 HTTP/1.1\r\nHost: a\r\n\r\n"
		    "GET /chunked/3000 HTTP/1.1\r\nHost: a\r\n\r\n"
		    "GET /status/404 HTTP/1.1\r\nHost: a\r\n\r\n");
	hr_check(cli_resp(c, &r, 0) == 0 && r.status == 200 && r.blen == 5,
		 "first: 200 of 5 bytes, seen %d of %zu", r.status, r.blen);
	free(r.body);
	hr_check(cli_resp(c, &r, 0) == 0 && r.status == 200 && r.blen == 3000,
		 "second: 200 of 3000 chunked bytes, seen %d of %zu", r.status,
		 r.blen);
	free(r.body);
	hr_check(cli_resp(c, &r, 0) == 0 && r.status == 404,
		 "third: 404, seen %d", r.status);
	free(r.body);
	cli_close(c);
	stop_all(d, &b);
}

/* Hop-by-hop fields do not reach the backend, the forwarding ones do,
 * Host is kept; Connection: close closes the client after its answer. */
static void test_hop_by_hop_and_forwarded(void **state)
{
	struct hr_daemon *d = *state;
	struct backend b = backend_start(0);
	struct cli *c;
	struct resp r;

	start_proxy(d, "upstream 127.0.0.1:%d\n", b.port);
	c = cli_open(d->port);
	cli_send(c, "GET /echo-headers HTTP/1.1\r\nHost: example.org\r\n"
		    "Connection: close, X-Secret\r\nX-Secret: 1\r\n"
		    "Keep-Alive: timeout=5\r\nTE: trailers\r\n"
		    "Proxy-Authorization: Basic eA==\r\n"
		    "X-Forwarded-For: 192.0.2.1\r\nX-Kept: yes\r\n\r\n");
	hr_check(cli_resp(c, &r, 0) == 0 && r.status == 200, "echo: %d", r.status);
	hr_note("upstream saw:\n%s", r.body);
	hr_check(strstr(r.body, "Host: example.org\r\n") != NULL, "Host kept");
	hr_check(strstr(r.body, "X-Kept: yes\r\n") != NULL, "end-to-end kept");
	hr_check(!strcasestr(r.body, "X-Secret"), "a field Connection names");
	hr_check(!strcasestr(r.body, "Keep-Alive:"), "Keep-Alive");
	hr_check(!strcasestr(r.body, "\r\nTE:"), "TE");
	hr_check(!strcasestr(r.body, "Proxy-Authorization"), "Proxy-*");
	hr_check(!strcasestr(r.body, "Connection: close"), "Connection");
	hr_check(strstr(r.body, "X-Forwarded-For: 192.0.2.1, 127.0.0.1") != NULL,
		 "X-Forwarded-For appended");
	hr_check(strcasestr(r.body, "Forwarded: for=127.0.0.1") != NULL,
		 "Forwarded");
	hr_check(strstr(r.head, "Connection: close") != NULL,
		 "the client is told: %s", r.head);
	hr_check(hr_wait_closed(c->fd, T_MS), "and closed");
	free(r.body);
	cli_close(c);
	stop_all(d, &b);
}

/* Request bodies: a Content-Length body larger than proxy_buffer, and a
 * chunked one sent in pieces split inside its size lines, both reach
 * the backend whole; the connection goes on after them. */
static void test_request_bodies(void **state)
{
	struct hr_daemon *d = *state;
	struct backend b = backend_start(0);
	size_t n = 300000;
	char *body = malloc(n);
	struct cli *c;
	struct resp r;

	for (size_t i = 0; i < n; i++)
		body[i] = (char)('a' + i % 26);
	start_proxy(d, "upstream 127.0.0.1:%d\nproxy_buffer 4k\n", b.port);
	c = cli_open(d->port);
	cli_send(c,
		 "POST /echo-body HTTP/1.1\r\nHost: a\r\nContent-Length: %zu\r\n\r\n",
		 n);
	hr_check(hr_write_all(c->fd, body, n, T_MS) == (ssize_t)n, "body sent");
	hr_check(cli_resp(c, &r, 0) == 0 && r.status == 200 && r.blen == n &&
			 memcmp(r.body, body, n) == 0,
		 "echoed %zu of %zu bytes, status %d", r.blen, n, r.status);
	free(r.body);
	const char *parts[] = {
		"POST /echo-body HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1",
		"0\r\n0123456789abcdef\r\n", "3;x=y\r\nxyz", "\r\n0\r\n", "\r\n"
	};
	for (size_t k = 0; k < sizeof(parts) / sizeof(parts[0]); k++) {
		struct pollfd none = { -1, 0, 0 };

		hr_check(hr_write_all(c->fd, parts[k], strlen(parts[k]), T_MS) > 0,
			 "part %zu", k);
		poll(&none, 0, 20); /* apart, so they arrive as pieces */
	}
	hr_check(cli_resp(c, &r, 0) == 0 && r.status == 200 && r.blen == 19 &&
			 !memcmp(r.body, "0123456789abcdefxyz", 19),
		 "chunked echoed: %d '%s'", r.status, r.body);
	free(r.body);
	hr_check(conn_id(c) > 0, "the connection goes on");
	hr_check_int("body bytes up", (json_int_t)n + 39,
		     total(d, "totals/proxy_bytes_up"));
	free(body);
	cli_close(c);
	stop_all(d, &b);
}

/* A backend that stops reading an upload for longer than the body
 * timeout holds the client back; the client is not cut for it, and the
 * upload completes when the backend reads on. */
static void test_upload_held_back_by_upstream(void **state)
{
	struct hr_daemon *d = *state;
	struct backend b = backend_start(0);
	size_t n = 8 << 20; /* more than the sockets between them hold */
	char *body = calloc(1, n), want[32];
	struct cli *c;
	struct resp r;

	start_proxy(d,
		    "upstream 127.0.0.1:%d\nheader_timeout 300ms\n"
		    "http_max_body 16m\n",
		    b.port);
	c = cli_open(d->port);
	cli_send(c,
		 "POST /pause-read/1500 HTTP/1.1\r\nHost: a\r\n"
		 "Content-Length: %zu\r\n\r\n",
		 n);
	hr_check(hr_write_all(c->fd, body, n, 4 * T_MS) == (ssize_t)n,
		 "the whole body taken");
	snprintf(want, sizeof(want), "%zu", n);
	hr_check(cli_resp(c, &r, 0) == 0 && r.status == 200 &&
			 !strcmp(r.body, want),
		 "the backend got it all: %d '%s'", r.status, r.body);
	free(r.body);
	hr_check_int("no body timeout", 0, total(d, "totals/timeouts_body"));
	free(body);
	cli_close(c);
	stop_all(d, &b);
}

/* Expect: 100-continue: the backend's 100 reaches the client, which
 * then sends its body. */
static void test_expect_continue(void **state)
{
	struct hr_daemon *d = *state;
	struct backend b = backend_start(0);
	struct cli *c;
	struct resp r;
	int64_t end = hr_now_ms() + T_MS;

	start_proxy(d, "upstream 127.0.0.1:%d\n", b.port);
	c = cli_open(d->port);
	cli_send(c, "POST /echo-body HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n"
		    "Expect: 100-continue\r\n\r\n");
	while (!memmem(c->buf, c->len, "\r\n\r\n", 4))
		hr_check(cli_fill(c, end) > 0, "the 100 comes");
	hr_check(!strncmp(c->buf, "HTTP/1.1 100 ", 13), "a 100 first: %.*s",
		 (int)c->len, c->buf);
	cli_send(c, "hello");
	hr_check(cli_resp(c, &r, 0) == 0 && r.status == 200 && r.blen == 5 &&
			 !memcmp(r.body, "hello", 5),
		 "then the answer: %d", r.status);
	free(r.body);
	cli_close(c);
	stop_all(d, &b);
}

/* Every framing of a response body passes whole: Content-Length, chunked
 * (with a trailer), close-delimited (the client is closed after it);
 * HEAD, 204 and 304 carry none, and the connection goes on after them. */
static void test_response_framings(void **state)
{
	struct hr_daemon *d = *state;
	struct backend b = backend_start(0);
	struct cli *c;
	struct resp r;

	start_proxy(d, "upstream 127.0.0.1:%d\n", b.port);
	c = cli_open(d->port);
	hr_check_int("length", 200, cli_get(c, "/len/200000", &r));
	hr_check_int("length bytes", 200000, r.blen);
	free(r.body);
	hr_check_int("chunked", 200, cli_get(c, "/chunked/100000", &r));
	hr_check_int("chunked bytes", 100000, r.blen);
	free(r.body);
	cli_send(c, "HEAD /len/100 HTTP/1.1\r\nHost: a\r\n\r\n");
	hr_check(cli_resp(c, &r, 1) == 0 && r.status == 200 &&
			 strstr(r.head, "Content-Length: 100"),
		 "HEAD: %s", r.head);
	free(r.body);
	hr_check_int("204", 204, cli_get(c, "/status/204", &r));
	free(r.body);
	hr_check_int("304", 304, cli_get(c, "/status/304", &r));
	free(r.body);
	hr_check(conn_id(c) > 0, "still in step after bodiless answers");
	hr_check_int("close-delimited", 200,
		     cli_get(c, "/close-delimited/50000", &r));
	hr_check_int("close-delimited bytes", 50000, r.blen);
	hr_check(r.closed && strstr(r.head, "Connection: close"),
		 "the client closed after a close-delimited body: %s", r.head);
	free(r.body);
	cli_close(c);
	/* The close-delimited answer ended its upstream connection too. */
	wait_server(d, "totals/upstream_active", 0);
	hr_check_int("nothing pooled", 0, total(d, "totals/http_proxy_pool_idle"));
	stop_all(d, &b);
}

/* proxy_pool 2: five concurrent requests need five connections; after
 * them two are kept and three closed. */
static void test_pool_bounded(void **state)
{
	struct hr_daemon *d = *state;
	struct backend b = backend_start(0);
	struct cli *c[5];
	struct resp r;

	start_proxy(d, "upstream 127.0.0.1:%d\nproxy_pool 2\n", b.port);
	for (int k = 0; k < 5; k++) {
		c[k] = cli_open(d->port);
		cli_send(c[k], "GET /slow-head/300 HTTP/1.1\r\nHost: a\r\n\r\n");
	}
	for (int k = 0; k < 5; k++) {
		hr_check(cli_resp(c[k], &r, 0) == 0 && r.status == 200,
			 "slow answer %d", k);
		free(r.body);
	}
	wait_exactly(d, "totals/http_proxy_pool_idle", 2);
	wait_server(d, "totals/upstream_active", 2);
	hr_check_int("connects", 5, total(d, "totals/proxy_connects"));
	wait_exactly(d, "totals/http_proxy_pool_closed", 3);
	wait_backend_open(&b, 2);
	for (int k = 0; k < 5; k++)
		cli_close(c[k]);
	stop_all(d, &b);
}

/* Keep-alive clients in lockstep, more than the pool keeps: each round's
 * responses return their connections in a burst, beyond proxy_pool, and
 * the next round takes them again rather than reconnecting (the bound
 * trims only what stays idle past it). */
static void test_pool_bound_does_not_churn(void **state)
{
	enum { N = 40, ROUNDS = 20 };
	struct hr_daemon *d = *state;
	struct backend b = backend_start(0);
	struct cli *c[N];
	struct resp r;

	start_proxy(d, "upstream 127.0.0.1:%d\nproxy_pool 4\n", b.port);
	for (int k = 0; k < N; k++)
		c[k] = cli_open(d->port);
	for (int round = 0; round < ROUNDS; round++) {
		for (int k = 0; k < N; k++)
			cli_send(c[k], "GET /len/10 HTTP/1.1\r\nHost: a\r\n\r\n");
		for (int k = 0; k < N; k++) {
			hr_check(cli_resp(c[k], &r, 0) == 0 && r.status == 200,
				 "round %d, client %d", round, k);
			free(r.body);
		}
	}
	json_int_t connects = total(d, "totals/proxy_connects");

	hr_note("%d requests, %lld upstream connects", N * ROUNDS,
		(long long)connects);
	hr_check(connects <= 2 * N,
		 "no reconnect per round: %lld connects for %d requests",
		 (long long)connects, N * ROUNDS);
	wait_exactly(d, "totals/http_proxy_pool_idle", 4);
	for (int k = 0; k < N; k++)
		cli_close(c[k]);
	stop_all(d, &b);
}

/* The backend closes an idle pooled connection: the proxy drops it at
 * once, and the next request goes on a new one, with no re-send. */
static void test_idle_close_not_reused(void **state)
{
	struct hr_daemon *d = *state;
	struct backend b = backend_start(0);
	struct cli *c;
	struct resp r;
	int id;

	start_proxy(d, "upstream 127.0.0.1:%d\n", b.port);
	c = cli_open(d->port);
	id = conn_id(c);
	hr_check_int("close-idle", 200, cli_get(c, "/close-idle", &r));
	free(r.body);
	wait_total(d, "totals/http_proxy_pool_closed", 1);
	wait_exactly(d, "totals/http_proxy_pool_idle", 0);
	hr_check(conn_id(c) != id, "a new upstream connection");
	hr_check_int("no re-send", 0, total(d, "totals/http_proxy_resends"));
	cli_close(c);
	stop_all(d, &b);
}

/* The keep-alive race: the backend closes a pooled connection as the
 * next request reaches it. A GET is re-sent once on a new connection
 * and answered; a POST is not re-sent: 502. */
static void test_race_retry_rule(void **state)
{
	struct hr_daemon *d = *state;
	struct backend b = backend_start(0);
	struct cli *c;
	struct resp r;

	start_proxy(d, "upstream 127.0.0.1:%d\n", b.port);
	c = cli_open(d->port);
	hr_check_int("arm", 200, cli_get(c, "/race-arm", &r));
	free(r.body);
	hr_check_int("GET re-sent", 200, cli_get(c, "/conn-id", &r));
	free(r.body);
	hr_check_int("resends", 1, total(d, "totals/http_proxy_resends"));
	hr_check_int("arm again", 200, cli_get(c, "/race-arm", &r));
	free(r.body);
	cli_send(c,
		 "POST /echo-body HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n");
	hr_check(cli_resp(c, &r, 0) == 0 && r.status == 502,
		 "POST not re-sent: 502, seen %d", r.status);
	free(r.body);
	hr_check_int("resends", 1, total(d, "totals/http_proxy_resends"));
	hr_check_int("502s", 1, total(d, "totals/http_proxy_502"));
	hr_check(conn_id(c) > 0, "the client goes on after a 502");
	cli_close(c);
	stop_all(d, &b);
}

/* Each malformed response is a 502 with nothing of it passed on, and
 * its connection is not reused - a bad chunk size too while it came with
 * the head, before any of the response left; one that comes after the
 * head was sent cuts the client; bytes beyond a response keep it out of
 * the pool. */
static void test_malformed_responses(void **state)
{
	static const char *const bad[] = { "/bad/cl-te", "/bad/dup-cl",
					   "/bad/bare-lf", "/bad/status",
					   "/bad/chunk-size" };
	struct hr_daemon *d = *state;
	struct backend b = backend_start(0);
	struct cli *c;
	struct resp r;
	int id;

	start_proxy(d, "upstream 127.0.0.1:%d\n", b.port);
	c = cli_open(d->port);
	for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
		id = conn_id(c);
		hr_check_int(bad[k], 502, cli_get(c, bad[k], &r));
		hr_check(!strstr(r.body, "hello"), "nothing of it passed on");
		free(r.body);
		hr_check(conn_id(c) != id, "%s: its connection not reused",
			 bad[k]);
	}
	hr_check_int("bad responses", 5,
		     total(d, "totals/http_proxy_bad_responses"));
	id = conn_id(c);
	hr_check_int("extra bytes", 200, cli_get(c, "/bad/extra", &r));
	hr_check(r.blen == 5 && !memcmp(r.body, "hello", 5), "the 5 bytes");
	free(r.body);
	hr_check(conn_id(c) != id, "a connection with extra bytes not reused");
	cli_send(c, "GET /bad/chunk-late HTTP/1.1\r\nHost: a\r\n\r\n");
	hr_check(cli_resp(c, &r, 0) < 0 && r.closed,
		 "a bad chunk after the head: the client is closed");
	free(r.body);
	cli_close(c);
	wait_exactly(d, "totals/active", 0);
	stop_all(d, &b);
}

/* The backend closes in the middle of a body: the client, which has the
 * head already, is closed; nothing stays open. */
static void test_upstream_close_mid_response(void **state)
{
	struct hr_daemon *d = *state;
	struct backend b = backend_start(0);
	struct cli *c;
	struct resp r;

	start_proxy(d, "upstream 127.0.0.1:%d\n", b.port);
	c = cli_open(d->port);
	cli_send(c, "GET /close-mid HTTP/1.1\r\nHost: a\r\n\r\n");
	hr_check(cli_resp(c, &r, 0) < 0 && r.closed && r.status == 200,
		 "the head, then the close: %d", r.status);
	free(r.body);
	hr_check_int("aborted", 1, total(d, "totals/http_proxy_aborted"));
	wait_exactly(d, "totals/active", 0);
	wait_server(d, "totals/upstream_active", 0);
	cli_close(c);
	stop_all(d, &b);
}

static int worker_pid(struct hr_daemon *d)
{
	json_t *st = hr_query_ok(d, "stats");
	int pid = (int)hr_jint(st, "workers/0/pid");

	json_decref(st);
	return pid;
}

/* A client gives up mid-upload, another mid-download: both upstream
 * connections are closed (not pooled), and the worker holds as many
 * descriptors as before. */
static void test_client_abort(void **state)
{
	struct hr_daemon *d = *state;
	struct backend b = backend_start(0);
	unsigned long ino[256];
	struct cli *c;
	int before, pid;
	char chunk[65536];
	int64_t end;

	memset(chunk, 'u', sizeof(chunk));
	start_proxy(d, "upstream 127.0.0.1:%d\n", b.port);
	pid = worker_pid(d);
	before = hr_proc_socket_inodes(pid, ino, 256);
	c = cli_open(d->port);
	cli_send(c,
		 "POST /echo-body HTTP/1.1\r\nHost: a\r\nContent-Length: 1000000\r\n\r\n");
	hr_check(hr_write_all(c->fd, chunk, sizeof(chunk), T_MS) > 0, "part");
	wait_server(d, "totals/upstream_active", 1);
	cli_close(c);
	wait_server(d, "totals/upstream_active", 0);
	wait_exactly(d, "totals/active", 0);
	c = cli_open(d->port);
	/* 20 MB: far more than the sockets between hold, and little enough
	 * for the backend (which builds its answer in memory) to be quick
	 * under the sanitizers. */
	cli_send(c, "GET /len/20000000 HTTP/1.1\r\nHost: a\r\n\r\n");
	end = hr_now_ms() + T_MS; /* the download's own deadline */
	while (c->len < 100000)
		hr_check(cli_fill(c, end) > 0, "some of the download");
	cli_close(c);
	wait_server(d, "totals/upstream_active", 0);
	wait_exactly(d, "totals/active", 0);
	hr_check_int("pooled", 0, total(d, "totals/http_proxy_pool_idle"));
	hr_check_int("worker sockets as before", before,
		     hr_proc_socket_inodes(pid, ino, 256));
	wait_backend_open(&b, 0);
	stop_all(d, &b);
}

/* proxy_read_timeout: no head in time is a 504; a body that stalls
 * after the head cuts the client. */
static void test_read_timeout(void **state)
{
	struct hr_daemon *d = *state;
	struct backend b = backend_start(0);
	struct cli *c;
	struct resp r;

	start_proxy(d, "upstream 127.0.0.1:%d\nproxy_read_timeout 300ms\n",
		    b.port);
	c = cli_open(d->port);
	hr_check_int("late head", 504, cli_get(c, "/slow-head/3000", &r));
	free(r.body);
	hr_check_int("504s", 1, total(d, "totals/http_proxy_504"));
	hr_check_int("then on", 200, cli_get(c, "/len/3", &r));
	free(r.body);
	cli_send(c, "GET /stall-body HTTP/1.1\r\nHost: a\r\n\r\n");
	hr_check(cli_resp(c, &r, 0) < 0 && r.closed && r.status == 200,
		 "a stalled body: head, then the close");
	free(r.body);
	cli_close(c);
	stop_all(d, &b);
}

/* One server refuses: the request goes to the other. Both refuse: 502,
 * and at once for the next request (both are down). After fail_timeout
 * a server that came back serves again. */
static void test_servers_down_and_back(void **state)
{
	struct hr_daemon *d = *state;
	struct backend b = backend_start(0);
	int p1, p2, s1 = hr_refusing_port(&p1), s2 = hr_refusing_port(&p2);
	struct cli *c;
	struct resp r;
	int64_t t0;

	start_proxy(d,
		    "upstream 127.0.0.1:%d fail_timeout=500ms\n"
		    "upstream 127.0.0.1:%d\n",
		    p1, b.port);
	c = cli_open(d->port);
	for (int k = 0; k < 3; k++) {
		hr_check_int("served by the live one", 200,
			     cli_get(c, "/len/1", &r));
		free(r.body);
	}
	hr_check(total(d, "totals/proxy_connect_errors") >= 1,
		 "the refusal counted");
	cli_close(c);
	hr_check_int("stopped", 0, hr_stop(d, SIGTERM));
	hr_free(d);
	*state = d = hr_new();
	start_proxy(d,
		    "upstream 127.0.0.1:%d fail_timeout=1s\n"
		    "upstream 127.0.0.1:%d fail_timeout=1s\n",
		    p1, p2);
	c = cli_open(d->port);
	hr_check_int("all down", 502, cli_get(c, "/len/1", &r));
	free(r.body);
	json_int_t errs = total(d, "totals/proxy_connect_errors");

	t0 = hr_now_ms();
	hr_check_int("again", 502, cli_get(c, "/len/1", &r));
	free(r.body);
	hr_check_int("no connect tried while down", errs,
		     total(d, "totals/proxy_connect_errors"));
	hr_note("502 with all down in %lld ms", (long long)(hr_now_ms() - t0));
	/* The first server comes back, on its port. */
	close(s1);
	struct backend back = backend_start(p1);
	json_int_t ok = 0;

	for (int64_t end = hr_now_ms() + T_MS; hr_now_ms() < end && !ok;) {
		struct pollfd none = { -1, 0, 0 };

		ok = cli_get(c, "/len/1", &r) == 200;
		free(r.body);
		if (!ok) {
			hr_check(c->len == 0, "in step");
			poll(&none, 0, 100);
		}
	}
	hr_check(ok, "served again after fail_timeout");
	close(s2);
	cli_close(c);
	backend_stop(&back);
	stop_all(d, &b);
}

/* The first server's state in the upstreams object is "down", by its
 * checks. */
static int first_down_by_checks(json_t *st, void *arg)
{
	json_t *ups = hr_jget(st, "upstreams"), *v;
	const char *k;

	(void)arg;
	json_object_foreach(ups, k, v)
		return !strcmp(hr_jstr(v, "state"), "down") &&
		       strstr(hr_jstr(v, "why"), "checks") != NULL;
	return 0;
}

/* Active health checks run for http_proxy too (the protocol's start):
 * a server that refuses is taken down by its checks before a request
 * tries it, and then no request pays a failed connect for it. */
static void test_health_checks(void **state)
{
	struct hr_daemon *d = *state;
	struct backend b = backend_start(0);
	int p1, s1 = hr_refusing_port(&p1);
	struct cli *c;
	struct resp r;

	start_proxy(d,
		    "upstream 127.0.0.1:%d\nupstream 127.0.0.1:%d\n"
		    "health_check http /conn-id\nhealth_interval 100ms\n"
		    "health_timeout 50ms\nhealth_fall 1\n",
		    p1, b.port);
	hr_check(hr_wait_for(d, first_down_by_checks, NULL, T_MS),
		 "the refusing server is down by its checks");
	json_int_t errs = total(d, "totals/proxy_connect_errors");

	c = cli_open(d->port);
	for (int k = 0; k < 4; k++) {
		hr_check_int("served by the healthy one", 200,
			     cli_get(c, "/len/1", &r));
		free(r.body);
	}
	hr_check_int("no connect tried to the one down", errs,
		     total(d, "totals/proxy_connect_errors"));
	close(s1);
	cli_close(c);
	stop_all(d, &b);
}

/* One source address, two ports, no pool: slow requests hold the ports,
 * and one that finds none is answered 503, counted; the others are
 * served. (Three clients for two ports: a port of the pair may be held
 * by another socket of the host, so the first 503 may come sooner.) */
static void test_port_exhaustion_503(void **state)
{
	struct hr_daemon *d = *state;
	struct backend b = backend_start(0);
	struct cli *c[3];
	struct resp r;
	int got503 = 0, got200 = 0;
	long lo, hi;
	FILE *f;

	if (!hr_have_port_range()) {
		hr_note("no IP_LOCAL_PORT_RANGE in this kernel (Linux 6.3+)");
		backend_stop(&b);
		skip();
	}
	f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "r");
	hr_check(f && fscanf(f, "%ld %ld", &lo, &hi) == 2, "port range");
	fclose(f);
	lo += (getpid() % 1000) * 2; /* apart from parallel runs */
	start_proxy(d,
		    "upstream 127.0.0.1:%d\nproxy_source 127.0.0.1\n"
		    "proxy_port_range %ld-%ld\nproxy_pool 0\n",
		    b.port, lo, lo + 1);
	for (int k = 0; k < 3; k++) {
		c[k] = cli_open(d->port);
		cli_send(c[k], "GET /slow-head/1000 HTTP/1.1\r\nHost: a\r\n\r\n");
	}
	for (int k = 0; k < 3; k++) {
		hr_check(cli_resp(c[k], &r, 0) == 0, "an answer for %d", k);
		got503 += r.status == 503;
		got200 += r.status == 200;
		free(r.body);
		cli_close(c[k]);
	}
	hr_check(got503 >= 1 && got200 >= 1 && got503 + got200 == 3,
		 "served and refused: %d 200, %d 503", got200, got503);
	hr_check_int("503s", got503, total(d, "totals/http_proxy_503"));
	hr_check(total(d, "totals/proxy_port_exhausted") >= got503,
		 "exhaustion counted");
	hr_check(hr_log_contains(d, "no local port left"), "logged");
	stop_all(d, &b);
}

/* An HTTP/1.0 client: without keep-alive it is closed after its answer
 * and the upstream hears 1.0; with keep-alive it is told so and kept. */
static void test_http10_client(void **state)
{
	struct hr_daemon *d = *state;
	struct backend b = backend_start(0);
	struct cli *c;
	struct resp r;

	start_proxy(d, "upstream 127.0.0.1:%d\n", b.port);
	c = cli_open(d->port);
	cli_send(c, "GET /echo-headers HTTP/1.0\r\n\r\n");
	hr_check(cli_resp(c, &r, 0) == 0 && r.status == 200, "1.0: %d", r.status);
	hr_check(!strncmp(r.body, "GET /echo-headers HTTP/1.0\r\n", 28),
		 "the upstream hears 1.0: %s", r.body);
	hr_check(strstr(r.head, "Connection: close") != NULL, "close: %s", r.head);
	hr_check(hr_wait_closed(c->fd, T_MS), "closed");
	free(r.body);
	cli_close(c);
	c = cli_open(d->port);
	cli_send(c, "GET /len/4 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
	hr_check(cli_resp(c, &r, 0) == 0 && r.status == 200 &&
			 strstr(r.head, "Connection: keep-alive"),
		 "1.0 kept alive: %s", r.head);
	free(r.body);
	cli_send(c, "GET /len/4 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
	hr_check(cli_resp(c, &r, 0) == 0 && r.status == 200, "and again");
	free(r.body);
	cli_close(c);
	stop_all(d, &b);
}

/* Bad requests get their status from the proxy and reach no server. */
static void test_bad_requests(void **state)
{
	struct hr_daemon *d = *state;
	struct backend b = backend_start(0);
	struct cli *c;
	struct resp r;

	start_proxy(d, "upstream 127.0.0.1:%d\n", b.port);
	c = cli_open(d->port);
	cli_send(c, "GET / HTTP/1.1\nHost: a\n\n");
	hr_check(cli_resp(c, &r, 0) == 0 && r.status == 400, "bare LF: %d",
		 r.status);
	free(r.body);
	cli_close(c);
	c = cli_open(d->port);
	cli_send(c, "GET / HTTP/1.1\r\nHost: a\r\nExpect: the-moon\r\n\r\n");
	hr_check(cli_resp(c, &r, 0) == 0 && r.status == 417, "Expect: %d",
		 r.status);
	free(r.body);
	cli_close(c);
	hr_check_int("nothing forwarded", 0,
		     total(d, "totals/http_proxy_requests"));
	stop_all(d, &b);
}

/* Generation 2 alone runs, having taken over one connection. */
static int generation_two_alone(json_t *st, void *arg)
{
	json_t *w;
	size_t i;

	(void)arg;
	if (hr_jint(st, "generation") != 2 ||
	    hr_jint(st, "totals/taken_over") != 1)
		return 0;
	json_array_foreach(json_object_get(st, "workers"), i, w)
		if (json_integer_value(json_object_get(w, "generation")) != 2)
			return 0;
	return 1;
}

/* A reload: the idle client moves to the new worker (it is between
 * requests, with no upstream in use), the old worker's pooled upstream
 * connection is closed as it drains, and the client is served on. */
static void test_reload_hands_over_and_drops_pool(void **state)
{
	struct hr_daemon *d = *state;
	struct backend b = backend_start(0);
	struct cli *c;
	int id;

	start_proxy(d, "upstream 127.0.0.1:%d\n", b.port);
	c = cli_open(d->port);
	id = conn_id(c);
	hr_check_int("pooled", 1, total(d, "totals/http_proxy_pool_idle"));
	hr_check(kill(d->pid, SIGHUP) == 0, "SIGHUP: %s", strerror(errno));
	hr_check(hr_wait_for(d, generation_two_alone, NULL, 20000),
		 "generation 2 alone, the client taken over");
	hr_check(conn_id(c) != id, "served on by the new worker's connection");
	wait_backend_open(&b, 1); /* the old pooled one is gone */
	cli_close(c);
	stop_all(d, &b);
}

/* -t checks the new directives with FILE:LINE; -t -v counts the
 * descriptors the pools may hold. */
static void test_config_errors(void **state)
{
	struct hr_daemon *d = *state;
	char path[256], out[2048], err[2048];

	hr_write_conf(d, "bad.conf",
		      "protocol http_proxy\nupstream 127.0.0.1:9\nproxy_pool lots\n",
		      path, sizeof(path));
	const char *args[] = { "-t", "-c", path, NULL };

	hr_check(hr_run(d, args, T_MS, out, sizeof(out), err, sizeof(err)) != 0,
		 "refused");
	hr_check(strstr(err, "bad.conf:3") && strstr(err, "proxy_pool"),
		 "FILE:LINE and the directive: %s", err);
	hr_write_conf(d, "none.conf", "protocol http_proxy\n", path, sizeof(path));
	hr_check(hr_run(d, args, T_MS, out, sizeof(out), err, sizeof(err)) != 0 &&
			 strstr(err, "http_proxy needs at least one"),
		 "an upstream is needed: %s", err);
	hr_write_conf(d, "ok.conf",
		      "protocol http_proxy\nupstream 127.0.0.1:9\n"
		      "upstream 127.0.0.1:10\nproxy_pool 5\n",
		      path, sizeof(path));
	const char *verbose[] = { "-t", "-v", "-c", path, NULL };

	hr_check(hr_run(d, verbose, T_MS, out, sizeof(out), err, sizeof(err)) == 0 &&
			 strstr(out, "up to 10 descriptors per worker"),
		 "-t -v counts the pool's descriptors: %s", out);
	/* ... out of the connections' share: full pools never make an
	 * accept or a connect fail for want of a descriptor. */
	hr_check(strstr(out, "connections x 2 + 10 (pools, checks)") != NULL,
		 "the pools' descriptors come out of the cap: %s", out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_pool_reused_across_clients,
						hr_setup, teardown),
		cmocka_unit_test_setup_teardown(test_pipelining_in_order,
						hr_setup, teardown),
		cmocka_unit_test_setup_teardown(test_hop_by_hop_and_forwarded,
						hr_setup, teardown),
		cmocka_unit_test_setup_teardown(test_request_bodies, hr_setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_upload_held_back_by_upstream,
						hr_setup, teardown),
		cmocka_unit_test_setup_teardown(test_expect_continue, hr_setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_response_framings,
						hr_setup, teardown),
		cmocka_unit_test_setup_teardown(test_pool_bounded, hr_setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_pool_bound_does_not_churn,
						hr_setup, teardown),
		cmocka_unit_test_setup_teardown(test_idle_close_not_reused,
						hr_setup, teardown),
		cmocka_unit_test_setup_teardown(test_race_retry_rule, hr_setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_malformed_responses,
						hr_setup, teardown),
		cmocka_unit_test_setup_teardown(test_upstream_close_mid_response,
						hr_setup, teardown),
		cmocka_unit_test_setup_teardown(test_client_abort, hr_setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_read_timeout, hr_setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_servers_down_and_back,
						hr_setup, teardown),
		cmocka_unit_test_setup_teardown(test_health_checks, hr_setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_port_exhaustion_503,
						hr_setup, teardown),
		cmocka_unit_test_setup_teardown(test_http10_client, hr_setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_bad_requests, hr_setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_reload_hands_over_and_drops_pool,
						hr_setup, teardown),
		cmocka_unit_test_setup_teardown(test_config_errors, hr_setup,
						teardown),
	};

	/* HP_TEST=name runs one story (a shell pattern). */
	if (getenv("HP_TEST"))
		cmocka_set_test_filter(getenv("HP_TEST"));
	return cmocka_run_group_tests(tests, NULL, NULL);
}
