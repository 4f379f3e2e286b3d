/* test_http.c - the HTTP/1.1 service of the real daemon over real
 * sockets: keep-alive, pipelining, HEAD, 304, 206/416, a 10 MiB file,
 * traversal attempts, directory redirects, fixed responses, a slowloris
 * client, and the counters the daemon reports for all of it. */
#include "autoconfig.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "http_client.h"

#define BIG (10u * 1024 * 1024)

struct site {
	char root[160];
	char outside[160];
	unsigned char *big;
};

/* DIR/www with a few files, a 10 MiB file, a directory, and a symlink that
 * points out of the root at DIR/secret.txt. */
static void make_site(struct hr_daemon *d, struct site *s)
{
	char path[256];

	snprintf(s->root, sizeof(s->root), "%s/www", d->dir);
	snprintf(s->outside, sizeof(s->outside), "%s/secret.txt", d->dir);
	mkdir(s->root, 0755);
	snprintf(path, sizeof(path), "%s/sub", s->root);
	mkdir(path, 0755);
	ht_write_file(s->outside, "TOP SECRET\n", 11);
	snprintf(path, sizeof(path), "%s/a.txt", s->root);
	ht_write_file(path, "hello from a\n", 13);
	snprintf(path, sizeof(path), "%s/index.html", s->root);
	ht_write_file(path, "<h1>index</h1>\n", 15);
	snprintf(path, sizeof(path), "%s/sub/index.html", s->root);
	ht_write_file(path, "<h1>sub</h1>\n", 13);
	for (int i = 0; i < 150; i++) {
		char body[32];

		snprintf(path, sizeof(path), "%s/p%d.txt", s->root, i);
		snprintf(body, sizeof(body), "pipelined %d\n", i);
		ht_write_file(path, body, strlen(body));
	}
	s->big = malloc(BIG);
	for (size_t i = 0; i < BIG; i++)
		s->big[i] = hr_payload_byte(7, 1, i);
	snprintf(path, sizeof(path), "%s/big.bin", s->root);
	ht_write_file(path, s->big, BIG);
	/* Either side of the size up to which a body is read into the
	 * answer batch instead of being sent with sendfile. */
	snprintf(path, sizeof(path), "%s/s16k.bin", s->root);
	ht_write_file(path, s->big, 16384);
	snprintf(path, sizeof(path), "%s/s16k1.bin", s->root);
	ht_write_file(path, s->big, 16385);
	snprintf(path, sizeof(path), "%s/out.txt", s->root);
	hr_check(symlink(s->outside, path) == 0, "symlink: %s", strerror(errno));
}

static void start_http(struct hr_daemon *d, struct site *s)
{
	char conf[256];
	FILE *f;

	make_site(d, s);
	/* A short header timeout keeps the slowloris test quick. */
	snprintf(conf, sizeof(conf), "%s/http.conf", d->dir);
	f = fopen(conf, "w");
	hr_check(f != NULL, "write %s", conf);
	fprintf(f, "protocol http\ndocroot %s\nheader_timeout 1s\n", s->root);
	fclose(f);

	const char *args[] = { "-c", conf, "-w", "2", NULL };

	hr_check(hr_start(d, args) == 0, "the daemon did not start");
}

static void test_static_files(void **state)
{
	struct hr_daemon *d = *state;
	struct site s;
	struct ht_response r;
	struct ht_client c;

	start_http(d, &s);

	/* Keep-alive: many requests on one connection. */
	ht_open(&c, d->port);
	for (int i = 0; i < 500; i++) {
		ht_request(&c, "GET /a.txt HTTP/1.1\r\nHost: t\r\n\r\n");
		hr_check(ht_read_response(&c, &r, 0) == 0,
			 "response %d on one connection", i);
		hr_check_int("status", 200, r.status);
		hr_check(r.length == 13 &&
				 memcmp(r.body, "hello from a\n", 13) == 0,
			 "body of response %d", i);
		hr_check(strstr(r.head, "\r\nDate: ") &&
				 strstr(r.head, "\r\nServer: "),
			 "Date and Server headers: %s", r.head);
		free(r.body);
	}

	/* HEAD: the length of the body, no body; the next answer follows. */
	ht_request(&c,
		   "HEAD /a.txt HTTP/1.1\r\nHost: t\r\n\r\nGET /index.html HTTP/1.1\r\nHost: t\r\n\r\n");
	hr_check(ht_read_response(&c, &r, 1) == 0, "HEAD response");
	hr_check_int("HEAD status", 200, r.status);
	hr_check_int("HEAD Content-Length", 13, r.length);
	hr_check(ht_read_response(&c, &r, 0) == 0, "GET after HEAD");
	hr_check(r.length == 15 && memcmp(r.body, "<h1>index</h1>\n", 15) == 0,
		 "the GET after HEAD got its own body");
	hr_check(strstr(r.head, "Content-Type: text/html") != NULL, "type: %s",
		 r.head);
	free(r.body);

	/* Pipelining: 150 requests in one write, answered in order. */
	{
		static char many[150 * 64];
		size_t off = 0;

		for (int i = 0; i < 150; i++)
			off += (size_t)
				snprintf(many + off, sizeof(many) - off,
					 "GET /p%d.txt HTTP/1.1\r\nHost: t\r\n\r\n",
					 i);
		ht_request(&c, many);
		for (int i = 0; i < 150; i++) {
			char want[32];

			snprintf(want, sizeof(want), "pipelined %d\n", i);
			hr_check(ht_read_response(&c, &r, 0) == 0,
				 "pipelined response %d", i);
			hr_check(r.status == 200 &&
					 r.length == (long long)strlen(want) &&
					 memcmp(r.body, want, strlen(want)) == 0,
				 "pipelined response %d out of order or wrong",
				 i);
			free(r.body);
		}
	}

	/* Pipelined bodies either side of the small-body size: six 16 KiB
	 * ones (each fills an answer batch, and the next request is parsed
	 * once it has gone), one a byte over (sendfile), one small range: in
	 * order, byte for byte. */
	{
		static const char *const names[] = {
			"s16k", "s16k", "s16k",  "s16k",
			"s16k", "s16k", "s16k1", "s16k1",
		};
		static char many[8 * 96];
		size_t off = 0;
		int n = (int)(sizeof(names) / sizeof(names[0]));

		for (int i = 0; i < n; i++)
			off += (size_t)
				snprintf(many + off, sizeof(many) - off,
					 "GET /%s.bin HTTP/1.1\r\nHost: t\r\n%s\r\n",
					 names[i],
					 i == n - 1 ? "Range: bytes=5-9\r\n" : "");
		ht_request(&c, many);
		for (int i = 0; i < n; i++) {
			int ranged = i == n - 1;
			long long want = ranged                    ? 5 :
					 strcmp(names[i], "s16k1") ? 16384 :
								     16385;

			hr_check(ht_read_response(&c, &r, 0) == 0,
				 "16k response %d", i);
			hr_check(r.status == (ranged ? 206 : 200) &&
					 r.length == want &&
					 memcmp(r.body, s.big + (ranged ? 5 : 0),
						(size_t)want) == 0,
				 "16k response %d: status %d length %lld", i,
				 r.status, r.length);
			free(r.body);
		}
	}

	/* 304 on If-Modified-Since. */
	{
		char req[256], lm[64];

		ht_request(&c, "GET /a.txt HTTP/1.1\r\nHost: t\r\n\r\n");
		hr_check(ht_read_response(&c, &r, 0) == 0,
			 "GET for Last-Modified");
		free(r.body);
		char *p = strstr(r.head, "Last-Modified: ");

		hr_check(p != NULL, "Last-Modified missing: %s", r.head);
		sscanf(p + 15, "%63[^\r]", lm);
		snprintf(req, sizeof(req),
			 "GET /a.txt HTTP/1.1\r\nHost: t\r\nIf-Modified-Since: %s\r\n\r\n",
			 lm);
		ht_request(&c, req);
		hr_check(ht_read_response(&c, &r, 0) == 0, "conditional GET");
		hr_check_int("If-Modified-Since status", 304, r.status);
	}

	/* 206 and 416. */
	ht_request(&c,
		   "GET /big.bin HTTP/1.1\r\nHost: t\r\nRange: bytes=1000-1999\r\n\r\n");
	hr_check(ht_read_response(&c, &r, 0) == 0, "range response");
	hr_check_int("range status", 206, r.status);
	hr_check_int("range length", 1000, r.length);
	hr_check(memcmp(r.body, s.big + 1000, 1000) == 0, "range bytes");
	hr_check(strstr(r.head, "Content-Range: bytes 1000-1999/10485760") != NULL,
		 "Content-Range: %s", r.head);
	free(r.body);
	ht_request(&c,
		   "GET /a.txt HTTP/1.1\r\nHost: t\r\nRange: bytes=500-\r\n\r\n");
	hr_check(ht_read_response(&c, &r, 0) == 0, "416 response");
	hr_check_int("unsatisfiable range", 416, r.status);
	free(r.body);

	/* 10 MiB, byte for byte. */
	ht_request(&c, "GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\n");
	hr_check(ht_read_response(&c, &r, 0) == 0, "10 MiB response");
	hr_check_int("big status", 200, r.status);
	hr_check_int("big length", BIG, r.length);
	hr_check(memcmp(r.body, s.big, BIG) == 0, "10 MiB body differs");
	free(r.body);

	/* Connection: close on 10 MiB, and a stray CRLF sent while the
	 * answer is still going out: the worker does not read while it
	 * writes, so that byte is unread at the end - a plain close would
	 * reset the connection and drop the tail still queued. */
	{
		struct ht_client k;

		/* A small receive buffer: the answer waits on the client, so
		 * the worker is still writing when the CRLF comes. */
		ht_open_small(&k, d->port, 65536);
		ht_request(&k,
			   "GET /big.bin HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
		/* the answer has begun: its head is here */
		struct pollfd pf = { k.fd, POLLIN, 0 };

		hr_check(poll(&pf, 1, 5000) == 1,
			 "no answer to the 10 MiB request");
		ht_request(&k, "\r\n");
		hr_check(ht_read_response(&k, &r, 0) == 0,
			 "10 MiB with a late CRLF");
		hr_check(r.status == 200 && r.length == BIG &&
				 memcmp(r.body, s.big, BIG) == 0,
			 "10 MiB with a late CRLF: status %d length %lld",
			 r.status, r.length);
		free(r.body);
		ht_close(&k);
	}

	/* A directory without its slash is redirected; with it, its index. */
	ht_request(&c, "GET /sub HTTP/1.1\r\nHost: t\r\n\r\n");
	hr_check(ht_read_response(&c, &r, 0) == 0, "directory");
	hr_check_int("directory redirect", 301, r.status);
	hr_check(strstr(r.head, "Location: /sub/\r\n") != NULL, "Location: %s",
		 r.head);
	free(r.body);
	ht_request(&c, "GET /sub/ HTTP/1.1\r\nHost: t\r\n\r\n");
	hr_check(ht_read_response(&c, &r, 0) == 0, "directory index");
	hr_check(r.status == 200 && r.length == 13, "sub index: %d", r.status);
	free(r.body);
	ht_close(&c);

	/* Nothing outside the root, however it is spelled. */
	static const char *const escapes[] = {
		"GET /../secret.txt HTTP/1.1\r\nHost: t\r\n\r\n",
		"GET /%2e%2e/secret.txt HTTP/1.1\r\nHost: t\r\n\r\n",
		"GET /sub/..%2f..%2fsecret.txt HTTP/1.1\r\nHost: t\r\n\r\n",
		"GET /sub/%2E%2E/%2e%2e/secret.txt HTTP/1.1\r\nHost: t\r\n\r\n",
		"GET /a.txt%00.html HTTP/1.1\r\nHost: t\r\n\r\n",
		"GET /..\\secret.txt HTTP/1.1\r\nHost: t\r\n\r\n",
		"GET http://t/../secret.txt HTTP/1.1\r\nHost: t\r\n\r\n",
		"GET /out.txt HTTP/1.1\r\nHost: t\r\n\r\n",
	};
	for (size_t i = 0; i < sizeof(escapes) / sizeof(escapes[0]); i++) {
		ht_fetch(d->port, escapes[i], &r, 0);
		hr_check(r.status >= 400 && r.status < 500,
			 "escape %zu answered %d: %s", i, r.status, escapes[i]);
		hr_check(!r.body || !memmem(r.body, (size_t)r.length, "SECRET", 6),
			 "escape %zu leaked the file", i);
		free(r.body);
	}

	/* Methods. */
	ht_fetch(d->port,
		 "POST /a.txt HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc",
		 &r, 0);
	hr_check_int("POST", 405, r.status);
	hr_check(strstr(r.head, "Allow: GET, HEAD") != NULL, "Allow: %s", r.head);
	free(r.body);
	ht_fetch(d->port, "BREW /pot HTTP/1.1\r\nHost: t\r\n\r\n", &r, 0);
	hr_check_int("unknown method", 501, r.status);
	free(r.body);
	ht_fetch(d->port,
		 "GET / HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
		 &r, 0);
	hr_check_int("CL + TE (smuggling)", 400, r.status);
	free(r.body);
	free(s.big);
	hr_check_int("exit status", 0, hr_stop(d, SIGTERM));
}

/* A slowloris client is closed at the header timeout while another
 * client's requests complete; the counters say so. */
static void test_slowloris_and_counters(void **state)
{
	struct hr_daemon *d = *state;
	struct site s;
	struct ht_response r;
	struct ht_client c;
	int slow;
	json_t *st;

	start_http(d, &s);
	free(s.big);
	slow = hr_connect_tcp(d->port);
	hr_check(slow >= 0, "connect");
	hr_check(hr_write_all(slow, "GET /a.txt HTTP/1.1\r\nHo", 23, 1000) == 23,
		 "send");
	int64_t t0 = hr_now_ms();

	ht_open(&c, d->port);
	int closed = 0;

	for (int i = 0; i < 100; i++) {
		ht_request(&c, "GET /a.txt HTTP/1.1\r\nHost: t\r\n\r\n");
		hr_check(ht_read_response(&c, &r, 0) == 0 && r.status == 200,
			 "request %d while a slowloris client waits", i);
		free(r.body);
		/* One more byte now and then: it must not restart the timer. */
		if (!closed && i % 10 == 0 && send(slow, "s", 1, MSG_NOSIGNAL) < 0)
			closed = 1;
	}
	hr_check(hr_wait_closed(slow, 5000),
		 "the slowloris connection is still open");
	int64_t took = hr_now_ms() - t0;

	hr_check(took < 3500, "closed after %lld ms (header_timeout 1 s)",
		 (long long)took);
	close(slow);
	ht_close(&c);

	/* 100 + one 404 + one 400 */
	ht_fetch(d->port, "GET /nope HTTP/1.1\r\nHost: t\r\n\r\n", &r, 0);
	hr_check_int("missing file", 404, r.status);
	free(r.body);
	ht_fetch(d->port, "GET / HTTP/9.9 junk\r\n\r\n", &r, 0);
	hr_check_int("malformed", 400, r.status);
	free(r.body);
	struct ht_client k;

	ht_open(&k, d->port);
	ht_close(&k);
	st = hr_query(d, "stats");
	hr_check(st != NULL, "stats");
	hr_check_int("requests", 102, hr_jint(st, "totals/requests"));
	hr_check_int("2xx", 100, hr_jint(st, "totals/responses/2xx"));
	hr_check_int("4xx", 2, hr_jint(st, "totals/responses/4xx"));
	hr_check_int("timeouts_header", 1, hr_jint(st, "totals/timeouts_header"));
	json_decref(st);
	hr_check_int("exit status", 0, hr_stop(d, SIGTERM));
}

/* A directory named without its final slash is redirected to its name
 * with it, and the redirect, followed, serves its index - also when the
 * name holds what a URL would read differently: '?', '#', ' ', '%' and
 * bytes beyond ASCII go back percent-encoded. */
static void test_directory_redirect_is_encoded(void **state)
{
	static const struct {
		const char *name, *asked, *location;
	} dirs[] = {
		{ "q?dir", "/q%3Fdir", "/q%3Fdir/" },
		{ "h#dir", "/h%23dir", "/h%23dir/" },
		{ "sp ace", "/sp%20ace", "/sp%20ace/" },
		{ "pct%dir", "/pct%25dir", "/pct%25dir/" },
		{ "caf\xc3\xa9", "/caf%C3%A9", "/caf%C3%A9/" },
		{ "plain", "/plain", "/plain/" },
	};
	struct hr_daemon *d = *state;
	struct ht_response r;
	struct ht_client c;
	struct site s;

	start_http(d, &s);
	free(s.big);
	ht_open(&c, d->port);
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		char path[512], body[128], req[512], want[128];
		const char *loc;
		size_t n;

		snprintf(path, sizeof(path), "%s/%s", s.root, dirs[i].name);
		hr_check(mkdir(path, 0755) == 0, "mkdir %s: %s", path,
			 strerror(errno));
		snprintf(path, sizeof(path), "%s/%s/index.html", s.root,
			 dirs[i].name);
		snprintf(body, sizeof(body), "<h1>%s</h1>\n", dirs[i].name);
		ht_write_file(path, body, strlen(body));

		snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: t\r\n\r\n",
			 dirs[i].asked);
		ht_request(&c, req);
		hr_check(ht_read_response(&c, &r, 0) == 0, "answer to %s",
			 dirs[i].asked);
		free(r.body);
		snprintf(want, sizeof(want), "\r\nLocation: %s\r\n",
			 dirs[i].location);
		hr_check(r.status == 301 && strstr(r.head, want),
			 "directory '%s': expected 301 to %s, seen %d: %s",
			 dirs[i].name, dirs[i].location, r.status, r.head);

		/* follow it, as a client does: the Location's path as sent */
		loc = strstr(r.head, "\r\nLocation: ") + 12;
		n = strcspn(loc, "\r");
		snprintf(req, sizeof(req),
			 "GET %.*s HTTP/1.1\r\nHost: t\r\n\r\n", (int)n, loc);
		ht_request(&c, req);
		hr_check(ht_read_response(&c, &r, 0) == 0, "answer to %.*s",
			 (int)n, loc);
		hr_check(r.status == 200 && r.length == (long long)strlen(body) &&
				 !memcmp(r.body, body, strlen(body)),
			 "directory '%s' by its redirect %.*s: status %d",
			 dirs[i].name, (int)n, loc, r.status);
		free(r.body);
	}
	ht_close(&c);
	hr_check_int("exit status", 0, hr_stop(d, SIGTERM));
}

/* --return: a fixed answer, for health checks and benchmarks; served
 * here by workers with --idle-yield, which changes only how they wait. */
static void test_fixed_response(void **state)
{
	struct hr_daemon *d = *state;
	const char *args[] = { "-P",           "http",
			       "--return",     "200 hello world",
			       "--idle-yield", NULL };
	struct ht_response r;

	hr_check(hr_start(d, args) == 0, "start");
	ht_fetch(d->port, "GET /anything HTTP/1.1\r\nHost: t\r\n\r\n", &r, 0);
	hr_check_int("status", 200, r.status);
	hr_check(r.length == 11 && memcmp(r.body, "hello world", 11) == 0, "body");
	free(r.body);
	ht_fetch(d->port, "GET / HTTP/1.0\r\n\r\n", &r, 0);
	hr_check_int("HTTP/1.0", 200, r.status);
	hr_check(strstr(r.head, "Connection: close") != NULL, "1.0 closes: %s",
		 r.head);
	free(r.body);

	/* Connection: close - the answer is held back (MSG_MORE) for the
	 * FIN that shutdown() adds to it: each client still reads all of it,
	 * then EOF, never a reset; and at once - 50 answers in far less
	 * than the 200 ms each that a segment left corked would wait. */
	static const char req[] =
		"GET /c HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
	int64_t t0 = hr_now_ms();

	for (int i = 0; i < 50; i++) {
		char buf[1024];
		int fd = hr_connect_tcp(d->port);

		hr_check(fd >= 0, "connect %d", i);
		hr_check(hr_write_all(fd, req, sizeof(req) - 1, 5000) ==
				 (ssize_t)(sizeof(req) - 1),
			 "send %d", i);
		ssize_t n = hr_read_until_eof(fd, buf, sizeof(buf) - 1, 5000);

		hr_check(n > 11, "answer %d then EOF: %zd (%s)", i, n,
			 strerror(errno));
		buf[n] = '\0';
		hr_check(strncmp(buf, "HTTP/1.1 200 ", 13) == 0 &&
				 strstr(buf, "\r\nConnection: close\r\n") &&
				 memcmp(buf + n - 11, "hello world", 11) == 0,
			 "answer %d: %s", i, buf);
		close(fd);
	}
	hr_check(hr_now_ms() - t0 < 5000, "50 close answers took %lld ms",
		 (long long)(hr_now_ms() - t0));

	/* A client that sends more after Connection: close: whatever the
	 * timing of its second request - read with the first, before the
	 * close, or after it - the first answer reaches it whole. */
	for (int i = 0; i < 600; i++) {
		static const char more[] = "GET /d HTTP/1.1\r\nHost: t\r\n\r\n";
		struct ht_client c;
		int64_t until;

		ht_open(&c, d->port);
		ht_request(&c, req);
		/* a spread of delays across the server's read-answer-close */
		until = hr_now_us() + (i % 20) * 8;
		while (hr_now_us() < until)
			;
		(void)!send(c.fd, more, sizeof(more) - 1, MSG_NOSIGNAL);
		hr_check(ht_read_response(&c, &r, 0) == 0,
			 "answer %d lost (%s)", i, strerror(errno));
		hr_check(r.status == 200 && r.length == 11 &&
				 memcmp(r.body, "hello world", 11) == 0,
			 "answer %d: %d", i, r.status);
		free(r.body);
		ht_close(&c);
	}
	hr_check_int("exit status", 0, hr_stop(d, SIGTERM));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_static_files, hr_setup,
						hr_teardown),
		cmocka_unit_test_setup_teardown(test_slowloris_and_counters,
						hr_setup, hr_teardown),
		cmocka_unit_test_setup_teardown(test_directory_redirect_is_encoded,
						hr_setup, hr_teardown),
		cmocka_unit_test_setup_teardown(test_fixed_response, hr_setup,
						hr_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
