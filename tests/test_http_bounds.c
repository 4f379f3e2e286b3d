/* test_http_bounds.c - what hostile HTTP clients can make a worker hold.
 * Many connections that pipeline requests and never read their answers,
 * that read big files slowly or not at all, or that leave request heads
 * half sent: the worker's memory grows by at most a documented bound per
 * connection (VmRSS of the worker, before and after). And descriptors:
 * with a small open-files limit, as many file downloads as the worker
 * says it can carry, and more clients than that, are all served. */
#include "autoconfig.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "http_client.h"

/* --- waiting for a worker to settle --- */

/* The worker has settled when its byte counters stop moving: the clients
 * do nothing more, so it has read and answered what it will until they
 * read. Polls stats until bytes_in and bytes_out are unchanged over
 * three queries 50 ms apart; 1, or 0 at the deadline. */
static int wait_settled(struct hr_daemon *d, int timeout_ms)
{
	int64_t deadline = hr_now_ms() + timeout_ms;
	json_int_t in = -1, out = -1;
	int same = 0;

	while (same < 3) {
		json_t *st = hr_query_ok(d, "stats");
		json_int_t i = hr_jint(st, "totals/bytes_in");
		json_int_t o = hr_jint(st, "totals/bytes_out");

		json_decref(st);
		same = i == in && o == out ? same + 1 : 0;
		in = i;
		out = o;
		if (hr_now_ms() > deadline)
			return 0;
		poll(NULL, 0, 50); /* the interval of the samples above */
	}
	return 1;
}

/* Growth of the worker's RSS per connection, in bytes, since base_kib. */
static long growth_per_conn(pid_t worker, long base_kib, int n)
{
	long now = hr_rss_kib(worker);

	hr_check(now > 0, "VmRSS of worker %ld", (long)worker);
	return (now - base_kib) * 1024 / n;
}

/* The growth per connection against its bound. AddressSanitizer pads
 * every block and keeps freed ones in quarantine, so under it the figure
 * says nothing of the daemon's own bounds: it is printed, not checked. */
static void check_bound(const char *what, long per, long bound)
{
	print_message("# worker RSS per connection %s: %ld bytes (bound %ld)\n",
		      what, per, bound);
#ifndef __SANITIZE_ADDRESS__
	hr_check(per <= bound,
		 "worker RSS per connection %s: expected at most %ld bytes, seen %ld",
		 what, bound, per);
#endif
}

/* --- pipelining without reading --- */

#define PIPE_CONNS 64
/* 200 KiB of requests, 7.9 MB of answers: more than the kernel buffers
 * for a connection (about 4 MiB of send buffer, autotuned) */
#define PIPE_REQS 7200
/* What a connection that pipelines and does not read may cost: its
 * queued output is stopped at HTTP_BATCH_MAX (16 KiB) plus the answer
 * that crossed it (here 1.2 KB), its unparsed input at one read (16
 * KiB), plus its state and the allocator's rounding. Measured: 33-34 KB
 * (780 KB before the bound). */
#define PIPE_BOUND (48 * 1024)

/* Request i of each connection: mostly GET, with HEAD and POST among
 * them, so that answers of three shapes show their order. */
static const char *pipe_request(int i, int *kind)
{
	*kind = i % 23 == 7 ? 2 : i % 17 == 4 ? 1 : 0;
	switch (*kind) {
	case 1:
		return "HEAD / HTTP/1.1\r\nHost: t\r\n\r\n";
	case 2:
		return "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n";
	default:
		return "GET / HTTP/1.1\r\nHost: t\r\n\r\n";
	}
}

/* One reader of PIPE_REQS pipelined answers, checked as they come. */
struct pipe_reader {
	int fd;
	int next; /* the answer expected next */
	char *buf;
	size_t off, len, cap;
};

/* Checks the complete answers at the front of r's buffer. 0, or -1 with
 * the problem in err. */
static int pipe_check(struct pipe_reader *r, const char *body, size_t blen,
		      char *err, size_t errlen)
{
	while (r->next < PIPE_REQS) {
		char *p = r->buf + r->off, *end;
		size_t avail = r->len - r->off, hlen, want;
		long long cl;
		int kind, status;
		const char *h;

		pipe_request(r->next, &kind);
		end = memmem(p, avail, "\r\n\r\n", 4);
		if (!end)
			break;
		hlen = (size_t)(end - p) + 4;
		h = memmem(p, hlen, "Content-Length: ", 16);
		if (sscanf(p, "HTTP/1.1 %d", &status) != 1 || !h) {
			snprintf(err, errlen, "answer %d: not an answer: %.40s",
				 r->next, p);
			return -1;
		}
		cl = atoll(h + 16);
		want = hlen + (kind == 1 ? 0 : (size_t)cl);
		if (avail < want)
			break;
		if (status != (kind == 2 ? 405 : 200) ||
		    (kind != 2 && (cl != (long long)blen ||
				   (kind == 0 && memcmp(p + hlen, body, blen))))) {
			snprintf(err, errlen,
				 "answer %d (%s): status %d, length %lld: out of order or wrong",
				 r->next,
				 kind == 1 ? "HEAD" :
				 kind == 2 ? "POST" :
					     "GET",
				 status, cl);
			return -1;
		}
		r->off += want;
		r->next++;
	}
	/* keep only the partial answer */
	memmove(r->buf, r->buf + r->off, r->len - r->off);
	r->len -= r->off;
	r->off = 0;
	return 0;
}

/* Reads every connection's answers at once (epoll), checking each. */
static int pipe_read_all(struct pipe_reader *rs, int n, const char *body,
			 size_t blen, int timeout_ms, char *err, size_t errlen)
{
	int64_t deadline = hr_now_ms() + timeout_ms;
	int ep = epoll_create1(EPOLL_CLOEXEC), left = n, rc = -1;
	struct epoll_event evs[64];

	for (int i = 0; i < n; i++) {
		struct epoll_event ev = { .events = EPOLLIN,
					  .data.u32 = (uint32_t)i };

		epoll_ctl(ep, EPOLL_CTL_ADD, rs[i].fd, &ev);
	}
	while (left > 0) {
		int k = epoll_wait(ep, evs, 64, 1000);

		if (hr_now_ms() > deadline) {
			snprintf(err, errlen, "%d of %d connections not done",
				 left, n);
			goto out;
		}
		for (int e = 0; e < k; e++) {
			struct pipe_reader *r = &rs[evs[e].data.u32];
			ssize_t got = recv(r->fd, r->buf + r->len,
					   r->cap - r->len, MSG_DONTWAIT);

			if (got <= 0) {
				if (got < 0 && errno == EAGAIN)
					continue;
				snprintf(err, errlen,
					 "connection %u ended at answer %d",
					 evs[e].data.u32, r->next);
				goto out;
			}
			r->len += (size_t)got;
			if (pipe_check(r, body, blen, err, errlen) < 0)
				goto out;
			if (r->next == PIPE_REQS) {
				epoll_ctl(ep, EPOLL_CTL_DEL, r->fd, NULL);
				left--;
			}
		}
	}
	rc = 0;
out:
	close(ep);
	return rc;
}

/* n connections send the pipeline and read nothing until the worker has
 * settled; then they read, and every answer must arrive whole and in
 * order. Returns the worker's growth per connection at the settling. */
static long pipe_round(struct hr_daemon *d, pid_t worker, const char *pipeline,
		       size_t plen, const char *body, int n)
{
	static struct pipe_reader rs[PIPE_CONNS];
	static int fds[PIPE_CONNS];
	char err[256];
	long base, per;

	hr_check(hr_connect_many(AF_INET, d->port, n, 64, 10000, fds, err,
				 sizeof(err)) == 0,
		 "connect: %s", err);
	base = hr_rss_kib(worker);
	for (int i = 0; i < n; i++)
		hr_check(hr_write_all(fds[i], pipeline, plen, 5000) ==
				 (ssize_t)plen,
			 "connection %d: send %zu bytes of requests", i, plen);
	hr_check(wait_settled(d, 20000), "the worker did not settle");
	per = growth_per_conn(worker, base, n);
	for (int i = 0; i < n; i++) {
		rs[i] = (struct pipe_reader){ .fd = fds[i], .cap = 1 << 16 };
		rs[i].buf = malloc(rs[i].cap);
		hr_check(rs[i].buf != NULL, "out of memory");
	}
	hr_check(pipe_read_all(rs, n, body, strlen(body), 30000, err,
			       sizeof(err)) == 0,
		 "reading the answers: %s", err);
	for (int i = 0; i < n; i++)
		free(rs[i].buf);
	hr_close_all(fds, n);
	return per;
}

/* PIPE_CONNS connections each send PIPE_REQS pipelined requests for a
 * 1000-byte fixed answer and read nothing: the worker stops answering
 * each one at its bound instead of queueing megabytes (780 KB per
 * connection before). Then they read, and every answer arrives, whole
 * and in order. A first round with one connection brings in the code
 * and grows the worker's answer batch, which are not per connection. */
static void test_pipelining_without_reading(void **state)
{
	struct hr_daemon *d = *state;
	char ret[1100], body[1001];
	size_t plen = 0;
	char *pipeline;
	long per;
	pid_t worker;
	int kind;

	memset(body, 'x', 1000);
	body[1000] = '\0';
	snprintf(ret, sizeof(ret), "200 %s", body);
	const char *args[] = { "-P", "http", "--return", ret, "-w", "1", NULL };

	hr_start_ok(d, args);
	worker = ht_worker_pid(d, 0);
	pipeline = malloc(PIPE_REQS * 64);
	hr_check(pipeline != NULL, "out of memory");
	for (int i = 0; i < PIPE_REQS; i++) {
		const char *r = pipe_request(i, &kind);

		memcpy(pipeline + plen, r, strlen(r));
		plen += strlen(r);
	}
	pipe_round(d, worker, pipeline, plen, body, 1);
	per = pipe_round(d, worker, pipeline, plen, body, PIPE_CONNS);
	check_bound("that pipelines without reading", per, PIPE_BOUND);
	free(pipeline);
	hr_check_int("exit status", 0, hr_stop(d, SIGTERM));
}

/* --- slow readers of big files --- */

#define SLOW_CONNS 64
#define SLOW_FILE (64u << 20)
/* A file goes out by sendfile(2) only as fast as its reader takes it, so
 * such a connection costs its HTTP state (struct http_conn) and a slot
 * in the table, never file data. Measured: under 300 bytes. */
#define SLOW_BOUND 2048

/* n readers with a small receive buffer each ask for the big file and
 * read its first 64 KiB, then nothing more; returns the worker's growth
 * per connection once it has settled. The clients are left in fds. */
static long slow_round(struct hr_daemon *d, pid_t worker, int *fds, int n)
{
	static const char req[] = "GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\n";
	static char buf[65536];
	long base = hr_rss_kib(worker);

	for (int i = 0; i < n; i++) {
		struct ht_client c;

		ht_open_small(&c, d->port, 8192);
		ht_request(&c, req);
		hr_check(hr_read_exact(c.fd, buf, sizeof(buf), 5000) ==
				 (ssize_t)sizeof(buf),
			 "reader %d: the first 64 KiB", i);
		hr_check(!strncmp(buf, "HTTP/1.1 200 ", 13), "reader %d: %.40s",
			 i, buf);
		fds[i] = c.fd;
		c.fd = -1;
		ht_close(&c);
	}
	hr_check(wait_settled(d, 20000), "the worker did not settle");
	return growth_per_conn(worker, base, n);
}

/* Readers of a 64 MiB file that read its beginning and stop: the worker
 * keeps no part of the file for them; the kernel holds what it sent. */
static void test_slow_readers_of_big_files(void **state)
{
	struct hr_daemon *d = *state;
	static int fds[SLOW_CONNS];
	char root[160], path[200], conf[200], text[256];
	pid_t worker;
	long per;

	snprintf(root, sizeof(root), "%s/www", d->dir);
	hr_check(mkdir(root, 0755) == 0, "mkdir %s: %s", root, strerror(errno));
	snprintf(path, sizeof(path), "%s/big.bin", root);
	ht_sparse_file(path, SLOW_FILE);
	snprintf(text, sizeof(text), "protocol http\ndocroot %s\n", root);
	ht_write_conf(d, "http.conf", text, conf, sizeof(conf));
	const char *args[] = { "-c", conf, "-w", "1", NULL };

	hr_start_ok(d, args);
	worker = ht_worker_pid(d, 0);
	slow_round(d, worker, fds, 1); /* brings in the code paths */
	per = slow_round(d, worker, fds + 1, SLOW_CONNS - 1);
	check_bound("that reads a big file slowly", per, SLOW_BOUND);
	hr_close_all(fds, SLOW_CONNS);
	hr_check_int("exit status", 0, hr_stop(d, SIGTERM));
}

/* --- half-sent request heads --- */

#define HALF_CONNS 500
#define HALF_HEAD 4096 /* bytes of each head sent, */
#define HALF_PARTS 2   /* in as many parts: the worst case, below */
/* A partial head is kept until it is whole (struct http_conn's in), so
 * such a connection costs the bytes it sent, bounded by the parser's
 * limits (http_max_header_bytes), and its HTTP state - and, while the
 * head grows, up to as much again that the allocator cannot give back:
 * the smaller block a realloc left, between other connections' blocks.
 * Measured: 6.3 KB for 4 KiB sent in two parts, 4.8 KB in eight. */
#define HALF_BOUND (2 * HALF_HEAD + 1024)

/* Each connection sends the first HALF_HEAD bytes of a request head, in
 * two parts, and no more; returns the growth per connection. */
static long half_round(struct hr_daemon *d, pid_t worker, int *fds, int n)
{
	static char head[HALF_HEAD];
	static const char start[] = "GET / HTTP/1.1\r\nHost: t\r\nX-Pad: ";
	char err[256];
	long base;

	memset(head, 'p', sizeof(head));
	memcpy(head, start, sizeof(start) - 1);
	hr_check(hr_connect_many(AF_INET, d->port, n, 64, 10000, fds, err,
				 sizeof(err)) == 0,
		 "connect: %s", err);
	base = hr_rss_kib(worker);
	for (int part = 0; part < HALF_PARTS; part++) {
		for (int i = 0; i < n; i++)
			hr_check(hr_write_all(fds[i],
					      head + part * (HALF_HEAD / HALF_PARTS),
					      HALF_HEAD / HALF_PARTS, 5000) ==
					 HALF_HEAD / HALF_PARTS,
				 "connection %d: part %d of its head", i, part);
		hr_check(wait_settled(d, 20000), "the worker did not settle");
	}
	return growth_per_conn(worker, base, n);
}

/* Many connections that send part of a request head and wait: each
 * costs the worker what it sent, and each is answered once its head is
 * complete. */
static void test_half_sent_heads(void **state)
{
	struct hr_daemon *d = *state;
	static int fds[HALF_CONNS];
	static const char end[] = "\r\n\r\n";
	char conf[200];
	pid_t worker;
	long per;

	/* a header timeout longer than the test */
	ht_write_conf(d, "http.conf",
		      "protocol http\nreturn 200 ok\nheader_timeout 60s\n",
		      conf, sizeof(conf));
	const char *args[] = { "-c", conf, "-w", "1", NULL };

	hr_start_ok(d, args);
	worker = ht_worker_pid(d, 0);
	half_round(d, worker, fds, 1); /* brings in the code paths */
	per = half_round(d, worker, fds + 1, HALF_CONNS - 1);
	check_bound("with a half-sent 4 KiB head", per, HALF_BOUND);
	for (int i = 0; i < HALF_CONNS; i++) {
		struct ht_client c;
		struct ht_response r;

		ht_attach(&c, fds[i]);
		ht_request(&c, end);
		hr_check(ht_read_response(&c, &r, 0) == 0 && r.status == 200,
			 "connection %d: answer once its head is whole: %d", i,
			 r.status);
		free(r.body);
		ht_close(&c);
	}
	hr_check_int("exit status", 0, hr_stop(d, SIGTERM));
}

/* --- descriptors --- */

#define FD_NOFILE 80 /* the open-files limit of the report */
#define FD_FILE \
	(8u << 20) /* more than the kernel buffers for a reader
			    * that waits: its file stays open meanwhile */

/* A download of FD_FILE bytes read to its end, on many connections at
 * once (epoll). */
struct download {
	int fd;
	size_t got;   /* bytes of the answer so far, head included */
	size_t total; /* head + body, once the head is in */
	int status;
	char head[1024];
};

/* Reads every download to EOF; 0, or -1 with the problem in err. */
static int read_downloads(struct download *dl, int n, int timeout_ms, char *err,
			  size_t errlen)
{
	int64_t deadline = hr_now_ms() + timeout_ms;
	int ep = epoll_create1(EPOLL_CLOEXEC), left = n, rc = -1;
	static char sink[1 << 16];
	struct epoll_event evs[64];

	for (int i = 0; i < n; i++) {
		struct epoll_event ev = { .events = EPOLLIN,
					  .data.u32 = (uint32_t)i };

		epoll_ctl(ep, EPOLL_CTL_ADD, dl[i].fd, &ev);
	}
	while (left > 0) {
		int k = epoll_wait(ep, evs, 64, 1000);

		if (hr_now_ms() > deadline) {
			snprintf(err, errlen,
				 "%d of %d clients still waiting after %d ms",
				 left, n, timeout_ms);
			goto out;
		}
		for (int e = 0; e < k; e++) {
			struct download *d = &dl[evs[e].data.u32];
			size_t hl = d->total ? 0 : strlen(d->head);
			char *to = d->total ? sink : d->head + hl;
			size_t room = d->total ? sizeof(sink) :
						 sizeof(d->head) - 1 - hl;
			ssize_t got = recv(d->fd, to, room, MSG_DONTWAIT);
			char *end;

			if (got < 0 && errno == EAGAIN)
				continue;
			if (got <= 0) {
				if (d->got != d->total || !d->total) {
					snprintf(err, errlen,
						 "client %u: %s after %zu bytes (status %d): %.60s",
						 evs[e].data.u32,
						 got ? strerror(errno) : "EOF",
						 d->got, d->status, d->head);
					goto out;
				}
				epoll_ctl(ep, EPOLL_CTL_DEL, d->fd, NULL);
				left--;
				continue;
			}
			d->got += (size_t)got;
			if (d->total || !(end = strstr(d->head, "\r\n\r\n")))
				continue;
			/* the head is in: status and length */
			sscanf(d->head, "HTTP/1.1 %d", &d->status);
			const char *cl = strstr(d->head, "Content-Length: ");

			d->total = (size_t)(end + 4 - d->head) +
				   (cl ? (size_t)atoll(cl + 16) : 0);
			if (d->status != 200 || !cl ||
			    (size_t)atoll(cl + 16) != FD_FILE) {
				snprintf(err, errlen, "client %u: %.60s",
					 evs[e].data.u32, d->head);
				goto out;
			}
		}
	}
	rc = 0;
out:
	close(ep);
	return rc;
}

static int active_at_cap(json_t *st, void *arg)
{
	return hr_jint(st, "totals/active") >= *(json_int_t *)arg;
}

/* Under a small open-files limit, as many file downloads at once as the
 * worker says it can carry (each holds a socket and a file), and eight
 * clients more: every one gets its file whole - the first ones at once,
 * the others as those finish; nobody waits forever, nobody gets a 500
 * for want of a descriptor. (Before: the cap counted one descriptor a
 * connection, opens failed past about 41 downloads with 80 files, and
 * some clients waited indefinitely.) */
static void test_file_downloads_fit_the_fd_limit(void **state)
{
	struct hr_daemon *d = *state;
	static struct download dl[128];
	char root[160], path[200], conf[200], text[256], err[256];
	json_int_t cap;
	json_t *st;
	int n;

	snprintf(root, sizeof(root), "%s/www", d->dir);
	hr_check(mkdir(root, 0755) == 0, "mkdir %s: %s", root, strerror(errno));
	snprintf(path, sizeof(path), "%s/big.bin", root);
	ht_sparse_file(path, FD_FILE);
	snprintf(text, sizeof(text), "protocol http\ndocroot %s\n", root);
	ht_write_conf(d, "http.conf", text, conf, sizeof(conf));
	d->nofile = FD_NOFILE;
	const char *args[] = { "-c", conf, "-w", "1", NULL };

	hr_start_ok(d, args);
	st = hr_query_ok(d, "stats");
	cap = hr_jint(st, "limits/max_connections_per_worker");
	json_decref(st);
	n = (int)cap + 8;
	hr_check(cap > 0 && n <= (int)(sizeof(dl) / sizeof(dl[0])),
		 "max_connections_per_worker with %d open files: %lld",
		 FD_NOFILE, (long long)cap);
	print_message("# %d open files: %lld connections per worker; %d downloads\n",
		      FD_NOFILE, (long long)cap, n);
	for (int i = 0; i < n; i++) {
		static const char req[] =
			"GET /big.bin HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";

		memset(&dl[i], 0, sizeof(dl[i]));
		dl[i].fd = hr_connect_tcp(d->port);
		hr_check(dl[i].fd >= 0, "client %d: connect", i);
		hr_check(hr_write_all(dl[i].fd, req, sizeof(req) - 1, 5000) ==
				 (ssize_t)(sizeof(req) - 1),
			 "client %d: send", i);
	}
	/* The worker carries its cap, every one with its file open. */
	hr_check(hr_wait_for(d, active_at_cap, &cap, 10000),
		 "expected %lld downloads at once", (long long)cap);
	hr_check(read_downloads(dl, n, 30000, err, sizeof(err)) == 0, "%s", err);
	for (int i = 0; i < n; i++)
		close(dl[i].fd);
	st = hr_query_ok(d, "stats");
	hr_check_int("2xx answers", n, hr_jint(st, "totals/responses/2xx"));
	hr_check_int("5xx answers", 0, hr_jint(st, "totals/responses/5xx"));
	json_decref(st);
	hr_check_int("exit status", 0, hr_stop(d, SIGTERM));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_pipelining_without_reading,
						hr_setup, hr_teardown),
		cmocka_unit_test_setup_teardown(test_slow_readers_of_big_files,
						hr_setup, hr_teardown),
		cmocka_unit_test_setup_teardown(test_half_sent_heads, hr_setup,
						hr_teardown),
		cmocka_unit_test_setup_teardown(test_file_downloads_fit_the_fd_limit,
						hr_setup, hr_teardown),
	};

	return cmocka_run_group_tests_name("http_bounds", tests, NULL, NULL);
}
