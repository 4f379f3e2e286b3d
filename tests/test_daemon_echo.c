/* test_daemon_echo.c - thousands of concurrent clients echo correctly,
 * and what the daemon reports (stats, connections) is exactly what the
 * test did. */
#include "autoconfig.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"

#define NCONN 2500
#define NWORKERS 3

struct tuple {
	char local[64], remote[64]; /* as the daemon sees them */
	int idx;
};

static int tuple_cmp(const void *a, const void *b)
{
	return strcmp(((const struct tuple *)a)->remote,
		      ((const struct tuple *)b)->remote);
}

struct expect {
	json_int_t accepted, active, closed, bytes;
};

static int totals_are(json_t *st, void *arg)
{
	const struct expect *e = arg;

	return hr_jint(st, "totals/accepted") == e->accepted &&
	       hr_jint(st, "totals/active") == e->active &&
	       (e->closed < 0 || hr_jint(st, "totals/closed") == e->closed) &&
	       hr_jint(st, "totals/bytes_in") == e->bytes &&
	       hr_jint(st, "totals/bytes_out") == e->bytes;
}

/* Waits until the daemon's counters catch up with the test, then checks
 * each one so a failure names the field. */
static json_t *check_totals(struct hr_daemon *d, const struct expect *e)
{
	char why[256];
	json_t *st;

	hr_wait_for(d, totals_are, (void *)e, 10000);
	st = hr_query_ok(d, "stats");
	hr_check_int("totals.accepted", e->accepted,
		     hr_jint(st, "totals/accepted"));
	hr_check_int("totals.active", e->active, hr_jint(st, "totals/active"));
	if (e->closed >= 0)
		hr_check_int("totals.closed", e->closed,
			     hr_jint(st, "totals/closed"));
	hr_check_int("totals.bytes_in", e->bytes, hr_jint(st, "totals/bytes_in"));
	hr_check_int("totals.bytes_out", e->bytes,
		     hr_jint(st, "totals/bytes_out"));
	hr_check_int("totals.rejected", 0, hr_jint(st, "totals/rejected"));
	hr_check_int("totals.requests (echo counts none)", 0,
		     hr_jint(st, "totals/requests"));
	hr_check(hr_totals_are_sum(st, why, sizeof(why)) == 0, "%s", why);
	return st;
}

/* `connections` lists exactly our 5-tuples, each once, with its bytes,
 * and each worker's share matches its active gauge. */
static void check_connections(struct hr_daemon *d, json_t *st, const int *fds,
			      const size_t *lens, int n, int rounds)
{
	static struct tuple ours[NCONN];
	int per_worker[NWORKERS] = { 0 };
	json_t *doc, *c;
	size_t i;

	for (int k = 0; k < n; k++) {
		/* Our local end is the daemon's remote, and vice versa. */
		hr_check(hr_endpoints(fds[k], ours[k].remote, ours[k].local,
				      64) == 0,
			 "connection %d: getsockname/getpeername: %s", k,
			 strerror(errno));
		ours[k].idx = k;
	}
	qsort(ours, (size_t)n, sizeof(ours[0]), tuple_cmp);

	doc = hr_query_ok(d, "connections 100000");
	hr_check_int("connections.total", n, hr_jint(doc, "total"));
	hr_check(json_is_false(json_object_get(doc, "truncated")),
		 "connections.truncated: expected false, seen %s",
		 hr_jdump(json_object_get(doc, "truncated")));
	hr_check_int("entries in connections[]", n,
		     json_array_size(json_object_get(doc, "connections")));
	json_array_foreach(json_object_get(doc, "connections"), i, c) {
		struct tuple key, *t;
		json_int_t w = hr_jint(c, "worker");

		snprintf(key.remote, sizeof(key.remote), "%s",
			 hr_jstr(c, "remote"));
		t = bsearch(&key, ours, (size_t)n, sizeof(ours[0]), tuple_cmp);
		hr_check(t != NULL,
			 "connections[%zu]: expected one of our clients, seen %s",
			 i, hr_jdump(c));
		hr_check(!strcmp(hr_jstr(c, "local"), t->local),
			 "connection from %s: expected local %s, seen '%s'",
			 t->remote, t->local, hr_jstr(c, "local"));
		hr_check(t->idx >= 0,
			 "connection from %s: expected once, seen twice",
			 t->remote);
		hr_check(!strcmp(hr_jstr(c, "protocol"), "tcp"),
			 "connection from %s: expected protocol tcp, seen '%s'",
			 t->remote, hr_jstr(c, "protocol"));
		hr_check(!strcmp(hr_jstr(c, "state"), "ESTABLISHED"),
			 "connection from %s: expected state ESTABLISHED, seen '%s'",
			 t->remote, hr_jstr(c, "state"));
		hr_check(w >= 0 && w < NWORKERS,
			 "connection from %s: expected worker 0..%d, seen %lld",
			 t->remote, NWORKERS - 1, (long long)w);
		hr_check(hr_jint(c, "age_ms") >= 0,
			 "connection from %s: expected age_ms >= 0, seen %s",
			 t->remote, hr_jdump(c));
		hr_check_int("connection bytes_in",
			     (json_int_t)lens[t->idx] * rounds,
			     hr_jint(c, "bytes_in"));
		hr_check_int("connection bytes_out",
			     (json_int_t)lens[t->idx] * rounds,
			     hr_jint(c, "bytes_out"));
		per_worker[w]++;
		t->idx = -1;
	}
	for (int w = 0; w < NWORKERS; w++) {
		char what[80];

		snprintf(what, sizeof(what),
			 "worker %d: listed connections vs its active gauge", w);
		hr_check_int(what, hr_jint(hr_worker(st, w), "active"),
			     per_worker[w]);
		hr_check(per_worker[w] > 0,
			 "worker %d: expected a share of %d connections, seen none",
			 w, n);
	}
	json_decref(doc);

	doc = hr_query_ok(d, "connections"); /* the default LIMIT is 1000 */
	hr_check_int("connections (default limit): total", n,
		     hr_jint(doc, "total"));
	hr_check_int("connections (default limit): entries", n < 1000 ? n : 1000,
		     json_array_size(json_object_get(doc, "connections")));
	hr_check(json_is_boolean(json_object_get(doc, "truncated")) &&
			 json_is_true(json_object_get(doc, "truncated")) ==
				 (n > 1000),
		 "connections (default limit 1000) of %d: expected truncated %s, seen %s",
		 n, n > 1000 ? "true" : "false",
		 hr_jdump(json_object_get(doc, "truncated")));
	json_decref(doc);

	doc = hr_query_ok(d, "connections 10");
	hr_check_int("connections 10: total", n, hr_jint(doc, "total"));
	hr_check_int("connections 10: entries", 10,
		     json_array_size(json_object_get(doc, "connections")));
	hr_check(json_is_true(json_object_get(doc, "truncated")),
		 "connections 10 of %d: expected truncated true, seen %s", n,
		 hr_jdump(json_object_get(doc, "truncated")));
	json_decref(doc);
}

static void test_echo_many_concurrent(void **state)
{
	struct hr_daemon *d = *state;
	const char *args[] = { "-w", "3", NULL };
	static int fds[NCONN];
	static size_t lens[NCONN];
	struct expect e = { 0 };
	char err[512];
	int64_t t0 = hr_now_ms();
	json_t *st;

	for (int i = 0; i < NCONN; i++) {
		lens[i] = 1 + (size_t)(i * 7919) % 700; /* 1..700 bytes */
		e.bytes += (json_int_t)lens[i];
	}
	hr_start_ok(d, args);
	hr_check(hr_connect_many(AF_INET, d->port, NCONN, 256, 20000, fds, err,
				 sizeof(err)) == 0,
		 "connect %d clients: %s", NCONN, err);
	hr_check(hr_echo_many(fds, NCONN, lens, 1, 20000, err, sizeof(err)) == 0,
		 "echo round 1 on %d clients: %s", NCONN, err);
	print_message("# %d clients connected and echoed in %lld ms\n", NCONN,
		      (long long)(hr_now_ms() - t0));

	/* All of them open at once, each accepted exactly once. */
	e.accepted = NCONN;
	e.active = NCONN;
	e.closed = 0;
	st = check_totals(d, &e);
	check_connections(d, st, fds, lens, NCONN, 1);
	json_decref(st);

	/* Idle connections wake up and echo again (fresh bytes). */
	hr_check(hr_echo_many(fds, NCONN, lens, 2, 20000, err, sizeof(err)) == 0,
		 "echo round 2 on %d clients: %s", NCONN, err);
	e.bytes *= 2;
	st = check_totals(d, &e);
	json_decref(st);

	hr_close_all(fds, NCONN);
	e.active = 0;
	e.closed = NCONN;
	st = check_totals(d, &e);
	hr_check_int("totals.lost", 0, hr_jint(st, "totals/lost"));
	json_decref(st);
	hr_check_int("exit status after SIGTERM", 0, hr_stop(d, SIGTERM));
}

/* The last (maximum) number of a "min default max" sysctl. */
static size_t sysctl_max(const char *path)
{
	FILE *f = fopen(path, "re");
	unsigned long lo, def, hi = 8u << 20;

	if (f) {
		if (fscanf(f, "%lu %lu %lu", &lo, &def, &hi) != 3)
			hi = 8u << 20;
		fclose(f);
	}
	return hi;
}

/* A client that sends without reading: the daemon stops reading it
 * (back-pressure) instead of buffering without bound; then everything is
 * echoed in order. */
static void test_backpressure(void **state)
{
	struct hr_daemon *d = *state;
	enum { CHUNK = 65536 };
	/* What the kernel may hold in flight: both directions' send and
	 * receive buffers at their sysctl maximum; plus room for the
	 * daemon's own bounded buffers. Past that, the daemon is hoarding. */
	const size_t limit = 2 * (sysctl_max("/proc/sys/net/ipv4/tcp_rmem") +
				  sysctl_max("/proc/sys/net/ipv4/tcp_wmem")) +
			     (16u << 20);
	static uint8_t buf[CHUNK];
	size_t sent = 0, got = 0;
	int fd, blocked = 0;
	struct expect e = { 0 };
	json_t *st;

	hr_start_ok(d, NULL);
	fd = hr_connect_tcp(d->port);
	hr_check(fd >= 0, "connect: expected a connection, seen %s (notes above)",
		 strerror(errno));
	while (!blocked && sent < limit) {
		for (size_t k = 0; k < CHUNK; k++)
			buf[k] = hr_payload_byte(7, 0, sent + k);
		ssize_t w = send(fd, buf, CHUNK, MSG_NOSIGNAL);

		if (w > 0) {
			sent += (size_t)w;
			continue;
		}
		hr_check(w < 0 && errno == EAGAIN,
			 "send: expected EAGAIN, seen %s", strerror(errno));
		struct pollfd pf = { .fd = fd, .events = POLLOUT };

		/* Nothing drains for a while: the daemon is pushing back. */
		blocked = poll(&pf, 1, 500) == 0;
	}
	print_message("# the daemon pushed back after %zu unread bytes (limit %zu)\n",
		      sent, limit);
	hr_check(blocked,
		 "back-pressure: expected the daemon to stop reading, seen %zu bytes taken",
		 sent);
	/* Everything comes back, in order. */
	while (got < sent) {
		size_t want = sent - got < CHUNK ? sent - got : CHUNK;

		hr_check(hr_read_exact(fd, buf, want, 10000) == (ssize_t)want,
			 "read back: expected %zu more bytes, seen fewer",
			 sent - got);
		for (size_t k = 0; k < want; k++)
			hr_check(buf[k] == hr_payload_byte(7, 0, got + k),
				 "byte %zu: expected 0x%02x, seen 0x%02x",
				 got + k, hr_payload_byte(7, 0, got + k), buf[k]);
		got += want;
	}
	close(fd);
	e.accepted = 1;
	e.closed = 1;
	e.bytes = (json_int_t)sent;
	st = check_totals(d, &e);
	json_decref(st);
	hr_check_int("exit status after SIGTERM", 0, hr_stop(d, SIGTERM));
}

/* Big transfers on a few connections at once, reading while writing:
 * partial writes on both sides. */
static void test_large_transfers(void **state)
{
	struct hr_daemon *d = *state;
	enum { N = 4 };
	int fds[N];
	size_t lens[N] = { 4u << 20, 3u << 20, (1u << 20) + 17, 5u << 20 };
	struct expect e = { .accepted = N, .active = N, .closed = 0 };
	char err[512];
	json_t *st;

	for (int i = 0; i < N; i++)
		e.bytes += (json_int_t)lens[i];
	hr_start_ok(d, NULL);
	hr_check(hr_connect_many(AF_INET, d->port, N, N, 5000, fds, err,
				 sizeof(err)) == 0,
		 "connect: %s", err);
	hr_check(hr_echo_many(fds, N, lens, 3, 30000, err, sizeof(err)) == 0,
		 "echo: %s", err);
	st = check_totals(d, &e);
	json_decref(st);
	hr_close_all(fds, N);
	hr_check_int("exit status after SIGTERM", 0, hr_stop(d, SIGTERM));
}

/* RFC 862 and the client closing its side: whatever was sent comes back,
 * then the daemon closes too. */
static void test_half_close(void **state)
{
	struct hr_daemon *d = *state;
	enum { LEN = 100000 };
	static uint8_t out[LEN], in[LEN + 1];
	int fd;

	for (int i = 0; i < LEN; i++)
		out[i] = hr_payload_byte(9, 0, (size_t)i);
	hr_start_ok(d, NULL);
	fd = hr_connect_tcp(d->port);
	hr_check(fd >= 0, "connect: expected a connection, seen %s (notes above)",
		 strerror(errno));
	hr_check_int("bytes written", LEN, hr_write_all(fd, out, LEN, 5000));
	shutdown(fd, SHUT_WR);
	hr_check_int("bytes echoed before the daemon's EOF", LEN,
		     hr_read_until_eof(fd, in, sizeof(in), 10000));
	hr_check(memcmp(in, out, LEN) == 0,
		 "half-close: expected the same %d bytes back", LEN);
	close(fd);
	hr_check_int("exit status after SIGTERM", 0, hr_stop(d, SIGTERM));
}

static int active_at_least(json_t *st, void *arg)
{
	return hr_jint(st, "totals/active") >= *(json_int_t *)arg;
}

/* defer_accept: a client that connects and says nothing is not handed to
 * a worker (it waits in the kernel) until it sends; without it (echo's
 * default) it is taken at once. */
static void test_defer_accept(void **state)
{
	struct hr_daemon *d = *state;
	char conf[200], buf[4];
	json_int_t one = 1;
	json_t *st;
	FILE *f;
	int fd;

	snprintf(conf, sizeof(conf), "%s/defer.conf", d->dir);
	f = fopen(conf, "w");
	hr_check(f != NULL, "%s", conf);
	fprintf(f, "defer_accept 5\n");
	fclose(f);
	const char *args[] = { "-c", conf, "-w", "1", NULL };

	hr_start_ok(d, args);
	fd = hr_connect_tcp(d->port);
	hr_check(fd >= 0, "connect");
	poll(NULL, 0, 300);
	st = hr_query_ok(d, "stats");
	hr_check_int("taken before it sent anything", 0,
		     hr_jint(st, "totals/accepted"));
	json_decref(st);
	hr_check(hr_write_all(fd, "abc", 3, 2000) == 3 &&
			 hr_read_exact(fd, buf, 3, 2000) == 3,
		 "echoed once it spoke");
	hr_check(hr_wait_for(d, active_at_least, &one, 2000), "then taken");
	close(fd);
	hr_check_int("exit status", 0, hr_stop(d, SIGTERM));

	/* Echo's default: off. */
	hr_start_ok(d, NULL);
	fd = hr_connect_tcp(d->port);
	hr_check(fd >= 0, "connect");
	hr_check(hr_wait_for(d, active_at_least, &one, 5000),
		 "a silent client is taken at once without defer_accept");
	close(fd);
	hr_check_int("exit status", 0, hr_stop(d, SIGTERM));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_echo_many_concurrent,
						hr_setup, hr_teardown),
		cmocka_unit_test_setup_teardown(test_backpressure, hr_setup,
						hr_teardown),
		cmocka_unit_test_setup_teardown(test_large_transfers, hr_setup,
						hr_teardown),
		cmocka_unit_test_setup_teardown(test_half_close, hr_setup,
						hr_teardown),
		cmocka_unit_test_setup_teardown(test_defer_accept, hr_setup,
						hr_teardown),
	};

	return cmocka_run_group_tests_name("daemon_echo", tests, NULL, NULL);
}
