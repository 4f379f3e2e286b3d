/* test_http_conform.c - what RFC 9112 and RFC 9110 require of a server,
 * against the real daemon over real sockets: chunked request bodies
 * (whole, split across reads at the nastiest places, malformed, over
 * the limit), absolute-form targets, OPTIONS, and Expect: 100-continue.
 *
 * "Split across reads" is made sure of, not hoped for: each piece is
 * sent only once the worker's bytes_in shows it has read the one
 * before. */
#include "autoconfig.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "http_client.h"

/* DIR/www/a.txt, http on one worker, bodies up to 1 KiB; extra: more
 * directives. */
static void start_with(struct hr_daemon *d, const char *extra)
{
	char root[160], path[256], conf[256], text[512];

	snprintf(root, sizeof(root), "%s/www", d->dir);
	mkdir(root, 0755);
	snprintf(path, sizeof(path), "%s/a.txt", root);
	ht_write_file(path, "hello from a\n", 13);
	snprintf(text, sizeof(text),
		 "protocol http\ndocroot %s\nhttp_max_body 1k\n%s", root, extra);
	ht_write_conf(d, "http.conf", text, conf, sizeof(conf));

	const char *args[] = { "-c", conf, "-w", "1", NULL };

	hr_check(hr_start(d, args) == 0, "the daemon did not start");
}

static void start(struct hr_daemon *d)
{
	start_with(d, "");
}

/* The next answer on c is status, with the file a.txt when 200. */
static void expect_answer(struct ht_client *c, int status, const char *what)
{
	struct ht_response r;

	hr_check(ht_read_response(c, &r, 0) == 0, "%s: no answer", what);
	hr_check(r.status == status, "%s: %d, want %d: %s", what, r.status,
		 status, r.head);
	if (status == 200)
		hr_check(r.length == 13 && !memcmp(r.body, "hello from a\n", 13),
			 "%s: the file", what);
	free(r.body);
}

/* The answer is status, then the server closes. */
static void expect_final(struct ht_client *c, int status, const char *what)
{
	struct ht_response r;

	hr_check(ht_read_response(c, &r, 0) == 0, "%s: no answer", what);
	hr_check(r.status == status, "%s: %d, want %d: %s", what, r.status,
		 status, r.head);
	hr_check(strstr(r.head, "Connection: close\r\n") != NULL,
		 "%s: Connection: close: %s", what, r.head);
	free(r.body);
	hr_check(c->len == 0 && hr_wait_closed(c->fd, 5000),
		 "%s: the connection closes after it", what);
}

/* req on a fresh connection is answered status, then closed. */
static void refused_alone(int port, const char *req, int status, const char *what)
{
	struct ht_client c;

	ht_open(&c, port);
	ht_request(&c, req);
	expect_final(&c, status, what);
	ht_close(&c);
}

static int bytes_in_reach(json_t *st, void *arg)
{
	return hr_jint(st, "totals/bytes_in") >= *(json_int_t *)arg;
}

/* Sends the pieces one by one, each after the worker has read the
 * bytes before it. */
static void send_pieces(struct hr_daemon *d, struct ht_client *c,
			const char *const *piece, size_t n)
{
	json_t *st = hr_query_ok(d, "stats");
	json_int_t seen = hr_jint(st, "totals/bytes_in");

	json_decref(st);
	for (size_t i = 0; i < n; i++) {
		ht_request(c, piece[i]);
		seen += (json_int_t)strlen(piece[i]);
		hr_check(hr_wait_for(d, bytes_in_reach, &seen, 5000),
			 "the worker read piece %zu", i);
	}
}

/* Chunked bodies are read and dropped; the answer follows the body, and
 * the connection goes on, pipelined requests included. */
static void test_chunked_bodies(void **state)
{
	struct hr_daemon *d = *state;
	struct ht_client c;

	start(d);
	ht_open(&c, d->port);
	/* Whole, with extensions and trailer fields, and a request behind. */
	ht_request(&c, "GET /a.txt HTTP/1.1\r\nHost: t\r\n"
		       "Transfer-Encoding: chunked\r\n\r\n"
		       "5;name=\"v;x\"\r\nhello\r\n"
		       "a\r\n0\r\n\r\n0\r\n\r\n\r\n"
		       "0\r\nX-Checksum: 1\r\n\r\n"
		       "GET /a.txt HTTP/1.1\r\nHost: t\r\n\r\n");
	expect_answer(&c, 200, "GET with a chunked body");
	expect_answer(&c, 200, "the GET pipelined behind it");
	/* A method refused after its body, on the same connection. */
	ht_request(&c, "POST /a.txt HTTP/1.1\r\nHost: t\r\n"
		       "Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n");
	expect_answer(&c, 405, "POST with a chunked body");

	/* Split across reads inside the size, between CR and LF, inside
	 * the data, the extension and the trailer. */
	static const char *const pieces[] = {
		"GET /a.txt HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n1",
		"0\r",
		"\n0123456789abc",
		"def\r",
		"\n2;e",
		"xt=1\r\nxy",
		"\r\n0\r\nX-T",
		"railer: 1\r",
		"\n\r",
		"\nGET /a.txt HTTP/1.1\r\nHost: t\r\n\r\n",
	};
	send_pieces(d, &c, pieces, sizeof(pieces) / sizeof(pieces[0]));
	expect_answer(&c, 200, "GET with a chunked body in pieces");
	expect_answer(&c, 200, "the GET after it");
	ht_close(&c);

	json_t *st = hr_query_ok(d, "stats");

	hr_check(hr_jint(st, "totals/responses/4xx") == 1,
		 "one 4xx (the POST): %s", hr_jdump(st));
	json_decref(st);
	hr_check_int("stopped", 0, hr_stop(d, SIGTERM));
}

/* A malformed chunked body is a 400 and a close; one over http_max_body
 * a 413 and a close - also when it comes in pieces. */
static void test_chunked_refused(void **state)
{
	static const struct {
		const char *body;
		int status;
	} cases[] = {
		{ "zz\r\nab\r\n0\r\n\r\n", 400 },   /* not hex */
		{ "-1\r\n", 400 },                  /* a sign */
		{ "3\r\nabcX0\r\n\r\n", 400 },      /* no CRLF after data */
		{ "3\nabc\r\n0\r\n\r\n", 400 },     /* bare LF */
		{ "10000000000000000\r\n", 400 },   /* over 64 bits */
		{ "0\r\nX-T: 1\n\r\n", 400 },       /* trailer's bare LF */
		{ "0\r\n bad: fold\r\n\r\n", 400 }, /* trailer's obs-fold */
		{ "401\r\n", 413 },                 /* 1025 bytes */
		{ "200\r\n", 0 },                   /* 512, then 513 below */
	};
	struct hr_daemon *d = *state;
	struct ht_client c;
	char req[2048];

	start(d);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int n = snprintf(req, sizeof(req),
				 "GET /a.txt HTTP/1.1\r\nHost: t\r\n"
				 "Transfer-Encoding: chunked\r\n\r\n%s",
				 cases[i].body);

		if (cases[i].status == 0) {
			/* Two chunks that pass alone and not together. */
			memset(req + n, 'x', 512);
			n += 512;
			snprintf(req + n, sizeof(req) - (size_t)n, "\r\n201\r\n");
			refused_alone(d->port, req, 413,
				      "1025 bytes in two chunks");
			continue;
		}
		refused_alone(d->port, req, cases[i].status, cases[i].body);
	}
	/* In pieces: refused at the byte that makes it wrong. */
	static const char *const pieces[] = {
		"GET /a.txt HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n",
		"3\r\nab",
		"c\r",
		"x",
	};
	ht_open(&c, d->port);
	send_pieces(d, &c, pieces, sizeof(pieces) / sizeof(pieces[0]));
	expect_final(&c, 400, "CR without LF after data, in pieces");
	ht_close(&c);
	/* Smuggling shapes stay refused. */
	refused_alone(d->port,
		      "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n"
		      "Content-Length: 3\r\n\r\n0\r\n\r\n",
		      400, "Transfer-Encoding and Content-Length");
	refused_alone(d->port,
		      "POST / HTTP/1.1\r\nHost: t\r\n"
		      "Transfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n",
		      400, "chunked not last");
	refused_alone(d->port,
		      "POST / HTTP/1.1\r\nHost: t\r\n"
		      "Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
		      501, "gzip under chunked");
	hr_check_int("stopped", 0, hr_stop(d, SIGTERM));
}

/* absolute-form is accepted and its path served (RFC 9112 3.2.2);
 * OPTIONS * and OPTIONS /path say what the server does. */
static void test_target_forms_and_options(void **state)
{
	struct hr_daemon *d = *state;
	struct ht_response r;
	struct ht_client c;

	start(d);
	ht_open(&c, d->port);
	ht_request(&c, "GET http://t:8080/x/../a.txt?q=1 HTTP/1.1\r\nHost: t\r\n\r\n"
		       "GET HTTP://T/a.txt HTTP/1.1\r\nHost: t\r\n\r\n");
	expect_answer(&c, 200, "absolute-form");
	expect_answer(&c, 200, "absolute-form, upper case scheme and host");
	for (int i = 0; i < 2; i++) {
		ht_request(&c, i ? "OPTIONS /a.txt HTTP/1.1\r\nHost: t\r\n\r\n" :
				   "OPTIONS * HTTP/1.1\r\nHost: t\r\n\r\n");
		hr_check(ht_read_response(&c, &r, 0) == 0, "OPTIONS answer");
		hr_check(r.status == 200 && r.length == 0 &&
				 strstr(r.head,
					"\r\nAllow: GET, HEAD, OPTIONS\r\n"),
			 "OPTIONS %d: %s", i, r.head);
		free(r.body);
	}
	ht_request(&c, "GET * HTTP/1.1\r\nHost: t\r\n\r\n");
	expect_final(&c, 400, "* with GET");
	ht_close(&c);
	ht_fetch(d->port, "DELETE /a.txt HTTP/1.1\r\nHost: t\r\n\r\n", &r, 0);
	hr_check(r.status == 405 &&
			 strstr(r.head, "\r\nAllow: GET, HEAD, OPTIONS\r\n"),
		 "405 lists OPTIONS: %s", r.head);
	free(r.body);
	hr_check_int("stopped", 0, hr_stop(d, SIGTERM));
}

/* Expect: 100-continue. A request that will be served gets 100 Continue
 * before its body is sent, then its answer, and the connection goes on;
 * one refused whatever its body gets the answer at once and a close; an
 * unknown expectation 417; a body already sent, no 100. */
static void test_expect_continue(void **state)
{
	struct hr_daemon *d = *state;
	struct ht_response r;
	struct ht_client c;

	start(d);
	ht_open(&c, d->port);
	ht_request(&c, "GET /a.txt HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\n"
		       "Expect: 100-continue\r\n\r\n");
	hr_check(ht_read_response(&c, &r, 0) == 0 && r.status == 100,
		 "100 Continue before the body: %s", r.head);
	hr_check(!strcmp(r.head, "HTTP/1.1 100 Continue\r\n\r\n"),
		 "a bare 100: %s", r.head);
	ht_request(&c, "body");
	expect_answer(&c, 200, "the answer after 100");
	/* Chunked: the answer waits for the body. */
	ht_request(&c,
		   "GET /a.txt HTTP/1.1\r\nHost: t\r\n"
		   "Transfer-Encoding: chunked\r\nExpect: 100-Continue\r\n\r\n");
	hr_check(ht_read_response(&c, &r, 0) == 0 && r.status == 100,
		 "100 Continue for a chunked body: %s", r.head);
	hr_check(c.len == 0, "nothing after the 100 yet");
	ht_request(&c, "4\r\nbody\r\n0\r\n\r\n");
	expect_answer(&c, 200, "the answer after the chunked body");
	/* The body came with the head: no 100. */
	ht_request(&c, "GET /a.txt HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\n"
		       "Expect: 100-continue\r\n\r\nbody");
	expect_answer(&c, 200, "no 100 when the body is there");
	/* No body: no 100. */
	ht_request(&c, "GET /a.txt HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n"
		       "Expect: 100-continue\r\n\r\n");
	expect_answer(&c, 200, "no 100 without a body");
	/* An expectation we cannot meet, without a body: 417, and on. */
	ht_request(&c, "GET /a.txt HTTP/1.1\r\nHost: t\r\nExpect: 200-ok\r\n\r\n"
		       "GET /a.txt HTTP/1.1\r\nHost: t\r\n\r\n");
	expect_answer(&c, 417, "an unknown expectation");
	expect_answer(&c, 200, "the request after the 417");
	/* Refused whatever the body: at once, then closed. */
	ht_request(&c, "POST /a.txt HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n"
		       "Expect: 100-continue\r\n\r\n");
	expect_final(&c, 405, "POST expecting 100");
	ht_close(&c);
	refused_alone(d->port,
		      "GET /a.txt HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n"
		      "Expect: 100-continue, x-more\r\n\r\n",
		      417, "an unknown expectation with a body");
	/* Over the limit: 413 at once (the head tells). */
	refused_alone(d->port,
		      "GET /a.txt HTTP/1.1\r\nHost: t\r\nContent-Length: 2000\r\n"
		      "Expect: 100-continue\r\n\r\n",
		      413, "a body over the limit");
	/* HTTP/1.0 knows no 100. */
	ht_open(&c, d->port);
	ht_request(&c, "GET /a.txt HTTP/1.0\r\nContent-Length: 4\r\n"
		       "Expect: 100-continue\r\n\r\nbody");
	expect_answer(&c, 200, "HTTP/1.0 with Expect");
	ht_close(&c);

	json_t *st = hr_query_ok(d, "stats");

	hr_check(hr_jint(st, "totals/responses/1xx") == 2,
		 "two 100s counted: %s", hr_jdump(st));
	json_decref(st);
	hr_check_int("stopped", 0, hr_stop(d, SIGTERM));
}

static int body_timed_out(json_t *st, void *arg)
{
	(void)arg;
	return hr_jint(st, "totals/timeouts_body") == 1;
}

/* A chunked body that stops arriving is closed by the body timeout
 * (header_timeout between two reads of a body), like a Content-Length
 * one, and counted so; no answer is sent for it. */
static void test_chunked_body_stalls(void **state)
{
	struct hr_daemon *d = *state;
	struct ht_client c;

	start_with(d, "header_timeout 300ms\n");
	ht_open(&c, d->port);
	ht_request(&c, "GET /a.txt HTTP/1.1\r\nHost: t\r\n"
		       "Transfer-Encoding: chunked\r\n\r\n5\r\nhel");
	hr_check(hr_wait_for(d, body_timed_out, NULL, 10000),
		 "the stalled body timed out");
	int r;

	while ((r = ht_fill(&c, 5000)) == 1)
		;
	hr_check(r == 0 && c.len == 0,
		 "its connection is closed, with no answer: %d, %.*s", r,
		 (int)c.len, c.buf);
	ht_close(&c);
	hr_check_int("stopped", 0, hr_stop(d, SIGTERM));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_chunked_bodies, hr_setup,
						hr_teardown),
		cmocka_unit_test_setup_teardown(test_chunked_refused, hr_setup,
						hr_teardown),
		cmocka_unit_test_setup_teardown(test_target_forms_and_options,
						hr_setup, hr_teardown),
		cmocka_unit_test_setup_teardown(test_expect_continue, hr_setup,
						hr_teardown),
		cmocka_unit_test_setup_teardown(test_chunked_body_stalls,
						hr_setup, hr_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
