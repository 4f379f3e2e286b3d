/* test_http_timeouts.c - the HTTP service's timeouts against clients that
 * are slow but alive and clients that stall: a download or a request body
 * that keeps moving is never cut, however long it lasts; one that stops
 * is closed when its own timeout says, and counted as that timeout.
 * Timeouts are set to a second so that each story lasts a few. */
#include "autoconfig.h"

#include <errno.h>
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

/* Past what the kernel buffers for a connection on loopback (about 3 MiB
 * of send buffer with autotuning, plus the receive window), so that the
 * worker is still sending well after the 1 s timeouts have run out at
 * the reading pace below. */
#define BIG (24u * 1024 * 1024)
#define SMALL 16384  /* a body read into the answer batch */
#define NSMALL 1500  /* pipelined requests for it: as many bytes as BIG */
#define RCVBUF 32768 /* the slow readers' receive buffer */
#define TICK_MS 20   /* the slow readers' pace: */
#define PER_TICK (256u * 1024) /* bytes per tick, about 12 MiB/s */

static unsigned char *big_content(void)
{
	unsigned char *b = malloc(BIG);

	hr_check(b != NULL, "out of memory");
	for (size_t i = 0; i < BIG; i++)
		b[i] = hr_payload_byte(11, 2, i);
	return b;
}

/* DIR/www with big.bin (BIG bytes of payload) and s.bin (its first SMALL
 * bytes); a config with the given timeouts; one worker, so the counters
 * are one worker's. */
static void start_site(struct hr_daemon *d, const unsigned char *big,
		       const char *timeouts)
{
	char path[256], conf[256], text[512];

	snprintf(path, sizeof(path), "%s/www", d->dir);
	hr_check(mkdir(path, 0755) == 0, "mkdir %s: %s", path, strerror(errno));
	snprintf(path, sizeof(path), "%s/www/big.bin", d->dir);
	if (big)
		ht_write_file(path, big, BIG);
	else
		ht_sparse_file(path, BIG);
	snprintf(path, sizeof(path), "%s/www/s.bin", d->dir);
	if (big)
		ht_write_file(path, big, SMALL);
	else
		ht_sparse_file(path, SMALL);
	snprintf(text, sizeof(text), "protocol http\ndocroot %s/www\n%s",
		 d->dir, timeouts);
	ht_write_conf(d, "http.conf", text, conf, sizeof(conf));

	const char *args[] = { "-c", conf, "-w", "1", NULL };

	hr_start_ok(d, args);
}

/* NSMALL pipelined GETs of s.bin in one buffer (malloc'd), the last
 * with Connection: close. */
static char *small_pipeline(size_t *len)
{
	static const char req[] = "GET /s.bin HTTP/1.1\r\nHost: t\r\n\r\n";
	static const char last[] =
		"GET /s.bin HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
	size_t n = (NSMALL - 1) * (sizeof(req) - 1);
	char *p = malloc(n + sizeof(last));

	hr_check(p != NULL, "out of memory");
	for (size_t i = 0; i < NSMALL - 1; i++)
		memcpy(p + i * (sizeof(req) - 1), req, sizeof(req) - 1);
	memcpy(p + n, last, sizeof(last));
	*len = n + sizeof(last) - 1;
	return p;
}

/* Where a slow reader's answers stand: the complete ones counted, and
 * the offset of the first that is not. Counted as they come, so that a
 * reader of many answers keeps its pace (a rescan of megabytes on each
 * read would stall it past send_timeout, under AddressSanitizer). */
struct answers {
	size_t want, seen, off;
};

/* Counts the answers complete in c's buffer; 1 once all are. */
static int answers_done(const struct ht_client *c, struct answers *a)
{
	while (a->seen < a->want) {
		/* a head is far shorter than this: search no further */
		size_t room = c->len - a->off < 4096 ? c->len - a->off : 4096;
		const char *head = c->buf + a->off;
		const char *end = memmem(head, room, "\r\n\r\n", 4), *cl;
		size_t next;

		if (!end)
			return 0;
		cl = memmem(head, (size_t)(end - head), "Content-Length: ", 16);
		hr_check(cl != NULL, "an answer without Content-Length");
		next = (size_t)(end + 4 - c->buf) + (size_t)atoll(cl + 16);
		if (next > c->len)
			return 0;
		a->off = next;
		a->seen++;
	}
	return 1;
}

/* A slow reader: each connection is read at most PER_TICK bytes per tick
 * until it holds `answers` complete answers. An end before that fails,
 * with the daemon's counters. */
static void read_slowly(struct hr_daemon *d, struct ht_client *cs,
			const size_t *answers, int n, int timeout_ms)
{
	int64_t t0 = hr_now_ms(), deadline = t0 + timeout_ms, next = t0;
	int left = n, done[8] = { 0 };
	struct answers as[8];

	for (int i = 0; i < n; i++)
		as[i] = (struct answers){ .want = answers[i] };

	while (left > 0) {
		hr_check(hr_now_ms() < deadline,
			 "slow readers: %d of %d not done after %d ms", left, n,
			 timeout_ms);
		/* The pace of the reader, not a wait for an event. */
		poll(NULL, 0, (int)(next > hr_now_ms() ? next - hr_now_ms() : 0));
		next += TICK_MS;
		for (int i = 0; i < n; i++) {
			size_t got = 0;

			while (!done[i] && got < PER_TICK) {
				size_t before = cs[i].len;
				int r = ht_fill(&cs[i], 0);

				if (r == 0) {
					json_t *st = hr_query(d, "stats");

					print_message("# the daemon's totals: %s\n",
						      hr_jdump(hr_jget(st,
								       "totals")));
					json_decref(st);
				}
				hr_check(r != 0,
					 "slow reader %d: the connection ended after %zu bytes, %lld ms, before its %zu answers",
					 i, cs[i].len,
					 (long long)(hr_now_ms() - t0),
					 answers[i]);
				if (r < 0 || cs[i].len == before)
					break;
				got += cs[i].len - before;
				if (answers_done(&cs[i], &as[i])) {
					done[i] = 1;
					left--;
				}
			}
		}
	}
}

static void check_no_timeouts(struct hr_daemon *d, const char *when)
{
	static const char *const kinds[] = { "timeouts_header", "timeouts_body",
					     "timeouts_keepalive",
					     "timeouts_send" };

	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		hr_check(hr_total(d, kinds[i]) == 0, "%s: %s is %lld, expected 0",
			 when, kinds[i], (long long)hr_total(d, kinds[i]));
}

/* Downloads that last longer than header_timeout and keepalive_timeout,
 * each taken at a limited pace: the file (sendfile) on a fresh connection
 * (the header timeout ran when its request came), the file again on a
 * connection kept alive after a first answer (the keep-alive timeout
 * ran), and as many bytes of small bodies (the answer batch, queued
 * output) on a third. All of it arrives, and no timeout fires: the
 * sockets keep taking bytes. Each ends with Connection: close, so that
 * no idle time after the answers counts. */
static void test_slow_downloads_are_not_cut(void **state)
{
	static const char get_big[] =
		"GET /big.bin HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
	struct hr_daemon *d = *state;
	unsigned char *big = big_content();
	struct ht_client cs[3];
	struct ht_response r;
	size_t plen, answers[3] = { 1, 1, NSMALL };
	char *pipeline = small_pipeline(&plen);
	int64_t t0;

	start_site(d, big,
		   "header_timeout 1s\nkeepalive_timeout 1s\nsend_timeout 1s\n");
	for (int i = 0; i < 3; i++)
		ht_open_small(&cs[i], d->port, RCVBUF);
	ht_request(&cs[1], "GET /s.bin HTTP/1.1\r\nHost: t\r\n\r\n");
	hr_check(ht_read_response(&cs[1], &r, 0) == 0 && r.status == 200,
		 "the first answer on the kept-alive connection: %d", r.status);
	free(r.body);
	t0 = hr_now_ms();
	ht_request(&cs[0], get_big);
	ht_request(&cs[1], get_big);
	hr_check(hr_write_all(cs[2].fd, pipeline, plen, 5000) == (ssize_t)plen,
		 "send %d pipelined requests", NSMALL);
	read_slowly(d, cs, answers, 3, 20000);
	print_message("# 2 x %u + %u bytes read slowly in %lld ms\n", BIG,
		      NSMALL * SMALL, (long long)(hr_now_ms() - t0));
	check_no_timeouts(d, "after the slow downloads");
	for (int i = 0; i < 2; i++) {
		hr_check(ht_read_response(&cs[i], &r, 0) == 0 && r.status == 200 &&
				 r.length == BIG && !memcmp(r.body, big, BIG),
			 "slow download %d: status %d, %lld bytes", i, r.status,
			 r.length);
		free(r.body);
	}
	for (int i = 0; i < NSMALL; i++) {
		hr_check(ht_read_response(&cs[2], &r, 0) == 0 && r.status == 200 &&
				 r.length == SMALL && !memcmp(r.body, big, SMALL),
			 "pipelined small answer %d of %d read slowly: status %d",
			 i, NSMALL, r.status);
		free(r.body);
	}
	for (int i = 0; i < 3; i++)
		ht_close(&cs[i]);
	free(pipeline);
	free(big);
	hr_check_int("exit status", 0, hr_stop(d, SIGTERM));
}

static int send_timeouts_2(json_t *st, void *arg)
{
	(void)arg;
	return hr_jint(st, "totals/timeouts_send") >= 2;
}

/* Readers that stop reading, one of a file (sendfile) and one of
 * pipelined small bodies (queued output): each is closed send_timeout
 * after the socket last took a byte and counted in timeouts_send, though
 * the header and keep-alive timeouts are far off. */
static void test_stalled_readers_are_closed(void **state)
{
	struct hr_daemon *d = *state;
	struct ht_client cs[2];
	size_t plen;
	char *pipeline = small_pipeline(&plen);
	int64_t t0;
	json_t *st;

	start_site(d, NULL,
		   "header_timeout 60s\nkeepalive_timeout 60s\nsend_timeout 1s\n");
	ht_open_small(&cs[0], d->port, RCVBUF);
	ht_open_small(&cs[1], d->port, RCVBUF);
	t0 = hr_now_ms();
	ht_request(&cs[0], "GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\n");
	hr_check(hr_write_all(cs[1].fd, pipeline, plen, 5000) == (ssize_t)plen,
		 "send %d pipelined requests", NSMALL);
	hr_check(hr_wait_for(d, send_timeouts_2, NULL, 8000),
		 "two readers stalled: expected both closed at send_timeout (1 s)");
	print_message("# both stalled readers closed within %lld ms\n",
		      (long long)(hr_now_ms() - t0));
	st = hr_query_ok(d, "stats");
	hr_check_int("timeouts_send", 2, hr_jint(st, "totals/timeouts_send"));
	hr_check_int("timeouts_header", 0, hr_jint(st, "totals/timeouts_header"));
	hr_check_int("timeouts_keepalive", 0,
		     hr_jint(st, "totals/timeouts_keepalive"));
	hr_check_int("active", 0, hr_jint(st, "totals/active"));
	json_decref(st);
	/* What the kernel held for them still arrives, then the end. */
	for (int i = 0; i < 2; i++) {
		hr_check(hr_wait_closed(cs[i].fd, 5000), "reader %d: no end", i);
		ht_close(&cs[i]);
	}
	free(pipeline);
	hr_check_int("exit status", 0, hr_stop(d, SIGTERM));
}

static int body_timeouts_1(json_t *st, void *arg)
{
	(void)arg;
	return hr_jint(st, "totals/timeouts_body") >= 1;
}

/* A request body that keeps arriving, for longer than header_timeout,
 * is read to its end and the connection goes on; one that stops is
 * closed header_timeout after its last bytes. */
static void test_request_body_timeout_measures_progress(void **state)
{
	struct hr_daemon *d = *state;
	enum { BODY = 64 * 1024, STEP = 2048, STEP_MS = 100 };
	static const char head[] = "POST /s.bin HTTP/1.1\r\nHost: t\r\n"
				   "Content-Length: 65536\r\n\r\n";
	static char chunk[STEP];
	struct ht_client slow, stalled;
	struct ht_response r;
	int64_t t0, next;

	start_site(d, NULL,
		   "header_timeout 1s\nkeepalive_timeout 60s\nsend_timeout 60s\n");
	memset(chunk, 'b', sizeof(chunk));
	ht_open(&slow, d->port);
	ht_open(&stalled, d->port);
	ht_request(&slow, head);
	ht_request(&stalled, head);
	hr_check(hr_write_all(stalled.fd, chunk, STEP, 1000) == STEP,
		 "stalled body");
	/* The answer (405) comes at once; the body is read and dropped. */
	hr_check(ht_read_response(&slow, &r, 0) == 0 && r.status == 405,
		 "answer to the slow POST: %d", r.status);
	free(r.body);
	t0 = next = hr_now_ms();
	for (int sent = 0; sent < BODY; sent += STEP) {
		poll(NULL, 0, (int)(next > hr_now_ms() ? next - hr_now_ms() : 0));
		next += STEP_MS;
		hr_check(hr_write_all(slow.fd, chunk, STEP, 1000) == STEP,
			 "body: the connection closed after %d of %d bytes, %lld ms",
			 sent, BODY, (long long)(hr_now_ms() - t0));
	}
	print_message("# a %d-byte body sent over %lld ms (header_timeout 1 s)\n",
		      BODY, (long long)(hr_now_ms() - t0));
	ht_request(&slow, "GET /s.bin HTTP/1.1\r\nHost: t\r\n\r\n");
	hr_check(ht_read_response(&slow, &r, 0) == 0 && r.status == 200 &&
			 r.length == SMALL,
		 "the request after the slow body: status %d", r.status);
	free(r.body);
	hr_check(hr_wait_for(d, body_timeouts_1, NULL, 5000),
		 "the stalled body: expected its connection closed");
	hr_check(hr_wait_closed(stalled.fd, 1000),
		 "the stalled body's connection is open");
	hr_check_int("timeouts_body (the stalled body only)", 1,
		     hr_total(d, "timeouts_body"));
	hr_check_int("timeouts_header", 0, hr_total(d, "timeouts_header"));
	ht_close(&slow);
	ht_close(&stalled);
	hr_check_int("exit status", 0, hr_stop(d, SIGTERM));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_slow_downloads_are_not_cut,
						hr_setup, hr_teardown),
		cmocka_unit_test_setup_teardown(test_stalled_readers_are_closed,
						hr_setup, hr_teardown),
		cmocka_unit_test_setup_teardown(test_request_body_timeout_measures_progress,
						hr_setup, hr_teardown),
	};

	return cmocka_run_group_tests_name("http_timeouts", tests, NULL, NULL);
}
