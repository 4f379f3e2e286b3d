/* test_lifecycle.c - reloads, kills, stops and shutdowns of the real
 * daemon while a client opens connections continuously and checks every
 * echoed byte. The promise under test: nothing queued is ever lost. */
#include <errno.h>
#include <jansson.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"
#include "loadgen.h"

static int worker_pid(json_t *st, int id)
{
	json_t *w;
	size_t i;

	json_array_foreach(json_object_get(st, "workers"), i, w)
		if (json_integer_value(json_object_get(w, "id")) == id &&
		    json_integer_value(json_object_get(w, "generation")) ==
			    json_integer_value(json_object_get(st, "generation")))
			return (int)json_integer_value(json_object_get(w, "pid"));
	return -1;
}

/* Starts the daemon with 2 workers; worker 0's pid. */
static int start_two(struct hr_daemon *d)
{
	const char *args[] = { "-w", "2", NULL };
	json_t *st;
	int pid;

	assert_int_equal(hr_start(d, args), 0);
	st = hr_query(d, "stats");
	pid = worker_pid(st, 0);
	json_decref(st);
	assert_true(pid > 0);
	return pid;
}

static json_int_t total(json_t *st, const char *name)
{
	return json_integer_value(
		json_object_get(json_object_get(st, "totals"), name));
}

/* The current generation is g and every one of its workers runs. */
static int only_generation(json_t *st, void *arg)
{
	json_int_t g = *(json_int_t *)arg;

	return hr_generation_up(st, arg) &&
	       json_array_size(json_object_get(st, "workers")) ==
		       (size_t)json_integer_value(
			       json_object_get(st, "workers_configured")) &&
	       g == json_integer_value(json_object_get(st, "generation"));
}

static void check_load(const struct lg *g, uint64_t want)
{
	char d[400];

	lg_describe(g, d, sizeof(d));
	printf("# load: %s\n", d);
	assert_int_equal(lg_failures(&g->c), 0);
	assert_int_equal(g->c.done, want);
}

/* 10 reloads while 20,000 new connections arrive: nothing is lost. */
static void test_reload_under_load(void **state)
{
	struct hr_daemon *d = *state;
	const char *args[] = { "-w", "2", NULL };
	struct lg g;
	json_t *st;

	assert_int_equal(hr_start(d, args), 0);
	assert_int_equal(lg_start(&g, d->port, 64, 100, 20000, 60000), 0);
	for (json_int_t i = 0; i < 10; i++) {
		json_int_t gen = i + 2;

		while (g.progress < (uint64_t)(i + 1) * 1500 && g.progress < 20000)
			usleep(1000);
		kill(d->pid, SIGHUP);
		assert_true(hr_wait_for(d, hr_generation_up, &gen, 10000));
	}
	lg_join(&g, 0);
	check_load(&g, 20000);
	st = hr_query(d, "stats");
	assert_non_null(st);
	assert_int_equal(json_integer_value(json_object_get(st, "generation")),
			 11);
	/* Totals count every connection, across all generations. */
	assert_int_equal(total(st, "accepted"), 20000);
	assert_int_equal(total(st, "bytes_in"), 20000 * 100);
	json_decref(st);
	json_int_t gen = 11;

	assert_true(hr_wait_for(d, only_generation, &gen, 10000));
	assert_int_equal(hr_stop(d, SIGTERM), 0);
}

/* A worker SIGKILLed while connections arrive: what it held is lost and
 * counted; nothing still queued is lost, and it is replaced. */
static void test_kill_worker_under_load(void **state)
{
	struct hr_daemon *d = *state;
	struct lg g;
	json_t *st;
	json_int_t uncounted;
	int victim = start_two(d);

	assert_int_equal(lg_start(&g, d->port, 64, 100, 15000, 60000), 0);
	while (g.progress < 5000)
		usleep(1000);
	kill(victim, SIGKILL);
	lg_join(&g, 0);

	char desc[400];

	printf("# load: %s\n", lg_describe(&g, desc, sizeof(desc)));
	st = hr_query(d, "stats");
	assert_non_null(st);
	printf("# lost %lld\n", (long long)total(st, "lost"));
	assert_int_equal(g.c.connect_fail, 0);
	assert_int_equal(g.c.mismatch, 0);
	assert_int_equal(g.c.timeouts, 0);
	/* Every connection is accepted and counted, but one the kill caught
	 * between accept4() and the count: its client fails, and nobody
	 * can count it (seen once in distcheck: 14999, one short echo). Only
	 * connections the dead worker held, counted or not, may have failed. */
	uncounted = 15000 - total(st, "accepted");
	hr_check(uncounted >= 0 && uncounted <= 1, "accepted %lld of 15000",
		 (long long)total(st, "accepted"));
	hr_check(g.c.resets + g.c.short_echo <=
			 (uint64_t)(total(st, "lost") + uncounted),
		 "%llu failed, %lld lost, %lld uncounted",
		 (unsigned long long)(g.c.resets + g.c.short_echo),
		 (long long)total(st, "lost"), (long long)uncounted);
	assert_int_equal(total(st, "accepted"),
			 total(st, "closed") + total(st, "lost") +
				 total(st, "active"));
	json_decref(st);
	json_int_t gen = 1;

	assert_true(hr_wait_for(d, hr_generation_up, &gen, 10000));
	st = hr_query(d, "stats");
	assert_true(worker_pid(st, 0) > 0 && worker_pid(st, 0) != victim);
	json_decref(st);
	assert_int_equal(hr_stop(d, SIGTERM), 0);
}

/* SIGTERM while 500 connections are mid-transfer: every byte sent is
 * echoed before they close, then the daemon exits 0. */
static void test_graceful_shutdown_midtransfer(void **state)
{
	struct hr_daemon *d = *state;
	const char *args[] = { "-w", "2", NULL };
	enum { N = 500, HALF = 2048 };
	static int fds[N];
	char out[2 * HALF], in[2 * HALF];

	for (int i = 0; i < 2 * HALF; i++)
		out[i] = (char)('a' + i % 26);
	assert_int_equal(hr_start(d, args), 0);
	for (int i = 0; i < N; i++) {
		fds[i] = hr_connect_tcp(d->port);
		assert_true(fds[i] >= 0);
		assert_int_equal(hr_write_all(fds[i], out, HALF, 5000), HALF);
	}
	kill(d->pid, SIGTERM);
	for (int i = 0; i < N; i++) {
		assert_int_equal(hr_write_all(fds[i], out + HALF, HALF, 5000),
				 HALF);
		shutdown(fds[i], SHUT_WR);
	}
	for (int i = 0; i < N; i++) {
		ssize_t got = hr_read_until_eof(fds[i], in, sizeof(in), 10000);

		assert_int_equal(got, 2 * HALF);
		assert_memory_equal(in, out, 2 * HALF);
		close(fds[i]);
	}
	assert_int_equal(hr_wait_exit(d, 15000), 0);
}

/* A stopped worker is reported unresponsive, then killed at the watchdog
 * timeout and replaced; the port keeps serving meanwhile. */
static int worker0_state_is(json_t *st, void *arg)
{
	json_t *w = json_array_get(json_object_get(st, "workers"), 0);

	return w && strcmp(json_string_value(json_object_get(w, "state")),
			   (const char *)arg) == 0;
}

static int worker0_replaced(json_t *st, void *arg)
{
	return worker_pid(st, 0) > 0 && worker_pid(st, 0) != *(int *)arg &&
	       worker0_state_is(st, "running");
}

static void test_unresponsive_worker_replaced(void **state)
{
	struct hr_daemon *d = *state;
	struct lg g;
	int victim = start_two(d);

	kill(victim, SIGSTOP);
	assert_true(hr_wait_for(d, worker0_state_is, "unresponsive", 8000));
	/* Connections hashed to the stopped worker wait in its queue; they
	 * are served by its replacement (the load runs across the kill). */
	assert_int_equal(lg_start(&g, d->port, 16, 100, 2000, 30000), 0);
	assert_true(hr_wait_for(d, worker0_replaced, &victim, 20000));
	lg_join(&g, 0);
	check_load(&g, 2000);
	assert_true(hr_log_contains(d, "killing it"));
	assert_int_equal(hr_stop(d, SIGTERM), 0);
}

/* The master stopped (SIGSTOP, Ctrl-Z, a frozen cgroup) for longer than
 * watchdog_timeout: when it runs again, the workers' silence is the
 * master's own doing - nobody is killed, no connection is lost. */
static void test_master_stall_kills_nobody(void **state)
{
	struct hr_daemon *d = *state;
	enum { N = 20 };
	int fds[N], before[2];
	size_t lens[N];
	char conf[160], err[256];
	json_t *st;
	FILE *f;

	snprintf(conf, sizeof(conf), "%s/wd.conf", d->dir);
	f = fopen(conf, "w");
	assert_non_null(f);
	fprintf(f, "watchdog_timeout 2s\n");
	fclose(f);
	const char *args[] = { "-c", conf, "-w", "2", NULL };

	assert_int_equal(hr_start(d, args), 0);
	for (int i = 0; i < N; i++)
		lens[i] = 64;
	hr_check(hr_connect_many(AF_INET, d->port, N, N, 5000, fds, err,
				 sizeof(err)) == 0,
		 "connect: %s", err);
	hr_check(hr_echo_many(fds, N, lens, 1, 5000, err, sizeof(err)) == 0,
		 "echo: %s", err);
	st = hr_query_ok(d, "stats");
	before[0] = worker_pid(st, 0);
	before[1] = worker_pid(st, 1);
	json_decref(st);

	assert_int_equal(kill(d->pid, SIGSTOP), 0);
	poll(NULL, 0, 4000); /* the stall itself: twice watchdog_timeout */
	assert_int_equal(kill(d->pid, SIGCONT), 0);
	for (int64_t end = hr_now_ms() + 5000;
	     !hr_log_contains(d, "did not run for");)
		hr_check(hr_now_ms() < end,
			 "expected the master to notice its own stall");
	/* A full watchdog_timeout later, still nobody killed. */
	poll(NULL, 0, 2500);
	st = hr_query_ok(d, "stats");
	hr_check_int("worker 0 pid", before[0], worker_pid(st, 0));
	hr_check_int("worker 1 pid", before[1], worker_pid(st, 1));
	hr_check_int("connections lost", 0, total(st, "lost"));
	json_decref(st);
	hr_check(!hr_log_contains(d, "killing it"),
		 "a worker was killed after the stall");
	hr_check(hr_echo_many(fds, N, lens, 2, 5000, err, sizeof(err)) == 0,
		 "echo on the connections held across the stall: %s", err);
	hr_close_all(fds, N);
	assert_int_equal(hr_stop(d, SIGTERM), 0);
}

/* The master SIGKILLed: its workers take no new connection, but finish
 * what they have (here an echo connection still in use) and then exit,
 * instead of dropping it at once. */
static void test_master_killed_workers_finish(void **state)
{
	struct hr_daemon *d = *state;
	const char *args[] = { "-w", "1", NULL };
	char buf[4];
	pid_t worker;
	json_t *st;
	int fd;

	assert_int_equal(hr_start(d, args), 0);
	st = hr_query_ok(d, "stats");
	worker = worker_pid(st, 0);
	json_decref(st);
	fd = hr_connect_tcp(d->port);
	hr_check(fd >= 0 && hr_write_all(fd, "one", 3, 2000) == 3 &&
			 hr_read_exact(fd, buf, 3, 2000) == 3,
		 "echo before");
	assert_int_equal(kill(d->pid, SIGKILL), 0);
	assert_int_equal(hr_wait_exit(d, 5000), 128 + SIGKILL);
	/* The worker has noticed (its channel closed) once it logs it. */
	for (int64_t end = hr_now_ms() + 5000;
	     !hr_log_contains(d, "finishing what is in flight");)
		hr_check(hr_now_ms() < end, "expected the worker to notice");
	hr_check(hr_write_all(fd, "two", 3, 2000) == 3 &&
			 hr_read_exact(fd, buf, 3, 2000) == 3 &&
			 !memcmp(buf, "two", 3),
		 "the connection in flight is still served");
	hr_check(hr_connect(AF_INET, d->port, 1000) < 0,
		 "no new connection taken: %s", strerror(errno));
	close(fd);
	/* Orphaned, the worker is the test's child (the harness is a
	 * subreaper): its exit is ours to reap. */
	for (int64_t end = hr_now_ms() + 5000;
	     waitpid(worker, NULL, WNOHANG) != worker;) {
		hr_check(hr_now_ms() < end,
			 "expected the worker to exit once done");
		poll(NULL, 0, 20);
	}
}

/* Graceful shutdown with idle connections that never end by themselves:
 * at shutdown_timeout they are given up with a reset (no FIN_WAIT or
 * TIME_WAIT left on the server for each), and the daemon exits 0. */
static void test_shutdown_resets_what_is_left(void **state)
{
	struct hr_daemon *d = *state;
	enum { N = 50 };
	char conf[160], buf[8], err[256];
	size_t lens[N];
	int fds[N], resets = 0;
	int64_t t0;
	FILE *f;

	snprintf(conf, sizeof(conf), "%s/sd.conf", d->dir);
	f = fopen(conf, "w");
	assert_non_null(f);
	fprintf(f, "shutdown_timeout 1s\n");
	fclose(f);
	const char *args[] = { "-c", conf, "-w", "2", NULL };

	assert_int_equal(hr_start(d, args), 0);
	for (int i = 0; i < N; i++)
		lens[i] = 8;
	hr_check(hr_connect_many(AF_INET, d->port, N, N, 5000, fds, err,
				 sizeof(err)) == 0,
		 "connect: %s", err);
	hr_check(hr_echo_many(fds, N, lens, 1, 5000, err, sizeof(err)) == 0,
		 "echo: %s", err);
	t0 = hr_now_ms();
	assert_int_equal(kill(d->pid, SIGTERM), 0);
	for (int i = 0; i < N; i++) {
		struct pollfd p = { .fd = fds[i], .events = POLLIN };

		hr_check(poll(&p, 1, 6000) == 1, "connection %d: still open", i);
		resets += recv(fds[i], buf, sizeof(buf), 0) < 0 &&
			  errno == ECONNRESET;
		close(fds[i]);
	}
	hr_check_int("connections reset at the deadline", N, resets);
	hr_check(hr_now_ms() - t0 >= 900, "not before shutdown_timeout: %lld ms",
		 (long long)(hr_now_ms() - t0));
	assert_int_equal(hr_wait_exit(d, 10000), 0);
	hr_check(hr_log_contains(d, "drain deadline: closing"), "the log says so");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_reload_under_load,
						hr_setup, hr_teardown),
		cmocka_unit_test_setup_teardown(test_kill_worker_under_load,
						hr_setup, hr_teardown),
		cmocka_unit_test_setup_teardown(test_graceful_shutdown_midtransfer,
						hr_setup, hr_teardown),
		cmocka_unit_test_setup_teardown(test_unresponsive_worker_replaced,
						hr_setup, hr_teardown),
		cmocka_unit_test_setup_teardown(test_master_stall_kills_nobody,
						hr_setup, hr_teardown),
		cmocka_unit_test_setup_teardown(test_master_killed_workers_finish,
						hr_setup, hr_teardown),
		cmocka_unit_test_setup_teardown(test_shutdown_resets_what_is_left,
						hr_setup, hr_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
