/* test_handover.c - a reload hands the old workers' idle connections to
 * the new ones: echo and HTTP keep-alive clients go on over the same
 * sockets, bytes sent during the reload are answered, nothing is closed or
 * forced; `handover off` and a change of protocol keep the old way. */
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

#define HTTP_REQ "GET / HTTP/1.1\r\nHost: t\r\n\r\n"

static int generation_only(json_t *st, void *arg)
{
	json_int_t g = *(json_int_t *)arg;
	json_t *w;
	size_t i;

	if (hr_jint(st, "generation") != g)
		return 0;
	json_array_foreach(json_object_get(st, "workers"), i, w) {
		if (json_integer_value(json_object_get(w, "generation")) != g ||
		    strcmp(json_string_value(json_object_get(w, "state")),
			   "running"))
			return 0;
	}
	return json_array_size(json_object_get(st, "workers")) ==
	       (size_t)hr_jint(st, "workers_configured");
}

/* Every connection handed over was taken, and each one is counted once:
 * accepted + taken_over = closed + lost + active + handed_over. */
static void check_books(json_t *st)
{
	char why[200];

	hr_check(hr_jint(st, "totals/handed_over") ==
			 hr_jint(st, "totals/taken_over"),
		 "handed over and taken over differ: %s",
		 hr_jdump(hr_jget(st, "totals")));
	hr_check(hr_jint(st, "totals/accepted") + hr_jint(st, "totals/taken_over") ==
			 hr_jint(st, "totals/closed") + hr_jint(st, "totals/lost") +
				 hr_jint(st, "totals/active") +
				 hr_jint(st, "totals/handed_over"),
		 "the books do not balance: %s", hr_jdump(hr_jget(st, "totals")));
	hr_check(hr_totals_are_sum(st, why, sizeof(why)) == 0, "%s", why);
}

static void reload_and_wait(struct hr_daemon *d, json_int_t gen)
{
	hr_check(kill(d->pid, SIGHUP) == 0, "SIGHUP: %s", strerror(errno));
	hr_check(hr_wait_for(d, generation_only, &gen, 20000),
		 "generation %lld alone", (long long)gen);
}

/* Echo: 2,000 idle connections survive a reload, and bytes sent right
 * after the signal, while the connections move, all come back. */
static void test_echo_connections_move(void **state)
{
	enum { N = 2000 };
	struct hr_daemon *d = *state;
	const char *args[] = { "-w", "2", NULL };
	static int fds[N];
	static size_t lens[N];
	char err[256];
	json_int_t gen = 2;
	json_t *st;
	int rounds = 0;

	for (int i = 0; i < N; i++)
		lens[i] = 1 + (size_t)(i % 7);
	assert_int_equal(hr_start(d, args), 0);
	hr_check(hr_connect_many(AF_INET, d->port, N, 64, 10000, fds, err,
				 sizeof(err)) == 0,
		 "%s", err);
	hr_check(hr_echo_many(fds, N, lens, 1, 10000, err, sizeof(err)) == 0,
		 "before the reload: %s", err);
	hr_check(kill(d->pid, SIGHUP) == 0, "SIGHUP");
	/* Round after round while the old workers hand over and go. */
	do {
		hr_check(hr_echo_many(fds, N, lens, (uint32_t)(2 + rounds),
				      10000, err, sizeof(err)) == 0,
			 "round %d after the reload: %s", rounds, err);
		rounds++;
		st = hr_query_ok(d, "stats");
		if (generation_only(st, &gen))
			break;
		json_decref(st);
		st = NULL;
	} while (rounds < 200);
	hr_check(st != NULL, "generation 2 alone after %d rounds", rounds);
	hr_note("%d echo rounds during the reload", rounds);
	hr_check(hr_echo_many(fds, N, lens, 999, 10000, err, sizeof(err)) == 0,
		 "after the reload: %s", err);
	json_decref(st);
	st = hr_query_ok(d, "stats");
	assert_int_equal(hr_jint(st, "totals/handed_over"), N);
	assert_int_equal(hr_jint(st, "totals/taken_over"), N);
	assert_int_equal(hr_jint(st, "totals/active"), N);
	assert_int_equal(hr_jint(st, "totals/closed"), 0);
	assert_int_equal(hr_jint(st, "totals/forced_closes"), 0);
	assert_int_equal(hr_jint(st, "totals/lost"), 0);
	check_books(st);
	json_decref(st);
	hr_close_all(fds, N);
	assert_int_equal(hr_stop(d, SIGTERM), 0);
}

static int http_exchange(int fd)
{
	if (hr_write_all(fd, HTTP_REQ, sizeof(HTTP_REQ) - 1, 5000) < 0)
		return 0;
	return hr_http_response(fd, 5000);
}

/* One request on each connection; one closed after an answer with
 * Connection: close is opened again. Returns the failures. */
static int http_round(int *fds, int n, int port, int *reopened)
{
	int failures = 0;

	for (int i = 0; i < n; i++) {
		int r = http_exchange(fds[i]);

		if (r == 0) {
			hr_note("connection %d: no answer", i);
			failures++;
		}
		if (r != 1) {
			close(fds[i]);
			fds[i] = hr_connect_tcp(port);
			(*reopened)++;
		}
	}
	return failures;
}

/* HTTP: 1,000 kept-alive clients go on making requests through a reload:
 * not one request is lost to the close an idle connection would get. */
static void test_http_keepalive_moves(void **state)
{
	enum { N = 1000 };
	struct hr_daemon *d = *state;
	const char *args[] = { "-w",       "2",      "-P", "http",
			       "--return", "200 OK", NULL };
	static int fds[N];
	char err[256];
	json_int_t gen = 2;
	json_t *st = NULL;
	int failures = 0, reopened = 0, rounds = 0;

	assert_int_equal(hr_start(d, args), 0);
	hr_check(hr_connect_many(AF_INET, d->port, N, 64, 10000, fds, err,
				 sizeof(err)) == 0,
		 "%s", err);
	failures += http_round(fds, N, d->port, &reopened);
	hr_check(kill(d->pid, SIGHUP) == 0, "SIGHUP");
	while (rounds++ < 100) {
		failures += http_round(fds, N, d->port, &reopened);
		st = hr_query_ok(d, "stats");
		if (generation_only(st, &gen))
			break;
		json_decref(st);
		st = NULL;
	}
	hr_check(st != NULL, "generation 2 alone after %d rounds", rounds);
	json_decref(st);
	failures += http_round(fds, N, d->port, &reopened);
	hr_note("%d rounds, %d connections answered with close and reopened",
		rounds, reopened);
	assert_int_equal(failures, 0);
	st = hr_query_ok(d, "stats");
	/* A connection with its request in flight when the old worker
	 * drained is answered there, with Connection: close; the others
	 * moved. */
	hr_check(hr_jint(st, "totals/handed_over") + reopened >= N,
		 "handed over %lld, reopened %d",
		 (long long)hr_jint(st, "totals/handed_over"), reopened);
	assert_int_equal(hr_jint(st, "totals/forced_closes"), 0);
	assert_int_equal(hr_jint(st, "totals/lost"), 0);
	check_books(st);
	json_decref(st);
	hr_close_all(fds, N);
	assert_int_equal(hr_stop(d, SIGTERM), 0);
}

static int active_is(json_t *st, void *arg)
{
	return hr_jint(st, "totals/active") == *(json_int_t *)arg;
}

/* A connection with half a request in when the old worker drains is not
 * handed over: its request is answered there; the idle ones move. */
static void test_mid_request_stays(void **state)
{
	enum { N = 50 };
	struct hr_daemon *d = *state;
	const char *args[] = { "-w",       "1",      "-P", "http",
			       "--return", "200 OK", NULL };
	static const char head[] = "GET / HTTP/1.1\r\n";
	static const char rest[] = "Host: t\r\n\r\n";
	int fds[N], busy, reopened = 0;
	char err[256];
	json_int_t gen = 2, want_active = N + 1;
	json_t *st;

	assert_int_equal(hr_start(d, args), 0);
	hr_check(hr_connect_many(AF_INET, d->port, N, 64, 10000, fds, err,
				 sizeof(err)) == 0,
		 "%s", err);
	assert_int_equal(http_round(fds, N, d->port, &reopened), 0);
	busy = hr_connect_tcp(d->port);
	hr_check(hr_write_all(busy, head, sizeof(head) - 1, 2000) > 0,
		 "half a head");
	/* Taken by the old worker, not left in the queue for the new one. */
	hr_check(hr_wait_for(d, active_is, &want_active, 5000), "%d active",
		 N + 1);
	hr_check(kill(d->pid, SIGHUP) == 0, "SIGHUP");
	hr_check(hr_wait_for(d, hr_generation_up, &gen, 20000), "generation 2 up");
	/* The old worker drains with the busy one alone. */
	st = hr_query_ok(d, "stats");
	for (int64_t end = hr_now_ms() + 10000;
	     hr_jint(st, "totals/handed_over") < N;) {
		json_decref(st);
		hr_check(hr_now_ms() < end, "the idle ones handed over");
		poll(NULL, 0, 20);
		st = hr_query_ok(d, "stats");
	}
	hr_check_int("handed over: the idle ones only", N,
		     hr_jint(st, "totals/handed_over"));
	json_decref(st);
	hr_check(hr_write_all(busy, rest, sizeof(rest) - 1, 2000) > 0,
		 "the rest of it");
	/* Answered where it began. Then it is closed (Connection: close, if
	 * the drain had begun), or idle in time for another pass of the
	 * walk and moved too. */
	hr_check(hr_http_response(busy, 5000) != 0,
		 "the request begun before the reload answered");
	close(busy);
	assert_int_equal(http_round(fds, N, d->port, &reopened), 0);
	assert_int_equal(reopened, 0);
	hr_check(hr_wait_for(d, generation_only, &gen, 10000),
		 "the old worker gone");
	st = hr_query_ok(d, "stats");
	check_books(st);
	json_decref(st);
	hr_close_all(fds, N);
	assert_int_equal(hr_stop(d, SIGTERM), 0);
}

static void write_conf(struct hr_daemon *d, char *path, size_t len,
		       const char *text)
{
	FILE *f;

	snprintf(path, len, "%s/reuseportd.conf", d->dir);
	f = fopen(path, "w");
	hr_check(f != NULL, "%s: %s", path, strerror(errno));
	fputs(text, f);
	fclose(f);
}

/* handover off: the old way, idle kept-alive connections are closed by
 * the old workers as they drain. */
static void test_handover_off(void **state)
{
	enum { N = 200 };
	struct hr_daemon *d = *state;
	char conf[256], err[256];
	const char *args[] = { "-c",       conf,     "-P", "http",
			       "--return", "200 OK", NULL };
	int fds[N], closed = 0, reopened = 0;
	json_t *st;

	write_conf(d, conf, sizeof(conf), "handover off\n");
	assert_int_equal(hr_start(d, args), 0);
	hr_check(hr_connect_many(AF_INET, d->port, N, 64, 10000, fds, err,
				 sizeof(err)) == 0,
		 "%s", err);
	assert_int_equal(http_round(fds, N, d->port, &reopened), 0);
	reload_and_wait(d, 2);
	for (int i = 0; i < N; i++)
		closed += hr_wait_closed(fds[i], 5000);
	assert_int_equal(closed, N);
	st = hr_query_ok(d, "stats");
	assert_int_equal(hr_jint(st, "totals/handed_over"), 0);
	assert_int_equal(hr_jint(st, "totals/taken_over"), 0);
	assert_int_equal(hr_jint(st, "totals/closed"), N);
	check_books(st);
	json_decref(st);
	hr_close_all(fds, N);
	assert_int_equal(hr_stop(d, SIGTERM), 0);
}

/* A reload from echo to HTTP hands nothing over: the echo connections
 * stay with the old workers, which still echo until they finish. */
static void test_protocol_change_keeps_them(void **state)
{
	enum { N = 100 };
	struct hr_daemon *d = *state;
	char conf[256], err[256];
	const char *args[] = { "-c", conf, NULL };
	static size_t lens[N];
	int fds[N];
	json_int_t gen = 2;
	json_t *st;

	for (int i = 0; i < N; i++)
		lens[i] = 3;
	write_conf(d, conf, sizeof(conf), "protocol echo\nshutdown_timeout 30s\n");
	assert_int_equal(hr_start(d, args), 0);
	hr_check(hr_connect_many(AF_INET, d->port, N, 64, 10000, fds, err,
				 sizeof(err)) == 0,
		 "%s", err);
	/* Echoed once: taken by the old workers, not waiting in the queue
	 * for the new ones. */
	hr_check(hr_echo_many(fds, N, lens, 6, 10000, err, sizeof(err)) == 0,
		 "before the reload: %s", err);
	write_conf(d, conf, sizeof(conf),
		   "protocol http\nreturn 200 OK\nshutdown_timeout 30s\n");
	hr_check(kill(d->pid, SIGHUP) == 0, "SIGHUP");
	hr_check(hr_wait_for(d, hr_generation_up, &gen, 20000), "generation 2 up");
	hr_check(hr_echo_many(fds, N, lens, 7, 10000, err, sizeof(err)) == 0,
		 "the old workers still echo: %s", err);
	st = hr_query_ok(d, "stats");
	assert_int_equal(hr_jint(st, "totals/handed_over"), 0);
	assert_int_equal(hr_jint(st, "totals/active"), N);
	json_decref(st);
	hr_close_all(fds, N);
	assert_int_equal(hr_stop(d, SIGTERM), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_echo_connections_move,
						hr_setup, hr_teardown),
		cmocka_unit_test_setup_teardown(test_http_keepalive_moves,
						hr_setup, hr_teardown),
		cmocka_unit_test_setup_teardown(test_mid_request_stays,
						hr_setup, hr_teardown),
		cmocka_unit_test_setup_teardown(test_handover_off, hr_setup,
						hr_teardown),
		cmocka_unit_test_setup_teardown(test_protocol_change_keeps_them,
						hr_setup, hr_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
