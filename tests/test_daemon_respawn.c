/* test_daemon_respawn.c - a worker killed with SIGKILL, or one that breaks
 * the channel protocol, is replaced (new pid, same id) while the port
 * keeps serving, and the other worker's connections do not notice. */
#include "autoconfig.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "channel.h"
#include "harness.h"

#define NOLD 40  /* connections open across the kill */
#define NNEW 200 /* new connections right after it */

struct replaced {
	int id;
	pid_t old;
	json_int_t restarts;
};

static int worker_replaced(json_t *st, void *arg)
{
	const struct replaced *r = arg;
	json_t *w = hr_worker(st, r->id);

	return w && hr_jint(w, "pid") > 0 && hr_jint(w, "pid") != r->old &&
	       !strcmp(hr_jstr(w, "state"), "running") &&
	       hr_jint(w, "restarts") >= r->restarts;
}

/* Which worker serves each of our connections, from `connections`. */
static void map_workers(struct hr_daemon *d, const int *fds, int n, int *worker)
{
	json_t *doc = hr_query_ok(d, "connections 100000"), *c;
	char local[64], remote[64];
	size_t i;

	for (int k = 0; k < n; k++) {
		worker[k] = -1;
		hr_check(hr_endpoints(fds[k], local, remote, sizeof(local)) == 0,
			 "getsockname/getpeername: %s", strerror(errno));
		json_array_foreach(json_object_get(doc, "connections"), i, c)
			if (!strcmp(hr_jstr(c, "remote"), local))
				worker[k] = (int)hr_jint(c, "worker");
		hr_check(worker[k] == 0 || worker[k] == 1,
			 "connection from %s: expected listed with worker 0 or 1, seen %d",
			 local, worker[k]);
	}
	json_decref(doc);
}

static void listener_of(pid_t pid, const unsigned long *lst, int nl,
			unsigned long *ino)
{
	static unsigned long mine[4096];
	int n = hr_proc_socket_inodes(pid, mine, 4096);

	hr_check_int("listening sockets of the port held by the worker", 1,
		     hr_count_common(lst, nl, mine, n, ino));
}

static void test_sigkill_respawn(void **state)
{
	struct hr_daemon *d = *state;
	static int old[NOLD], fresh[NNEW], on0[NOLD], on1[NOLD];
	int worker[NOLD], n0 = 0, n1 = 0;
	size_t lens_old[NOLD], lens_new[NNEW];
	unsigned long lst[16], ino_victim = 0, ino_new = 0, ino_w1 = 0;
	char err[512];
	struct replaced r = { .id = 0, .restarts = 1 };
	json_int_t acc0, bytes0;
	char why[256];
	pid_t w1;
	json_t *st, *w;

	for (int i = 0; i < NOLD; i++)
		lens_old[i] = 50;
	for (int i = 0; i < NNEW; i++)
		lens_new[i] = 80;
	hr_start_ok(d, NULL);
	hr_check(hr_connect_many(AF_INET, d->port, NOLD, NOLD, 5000, old, err,
				 sizeof(err)) == 0,
		 "connect: %s", err);
	hr_check(hr_echo_many(old, NOLD, lens_old, 1, 10000, err, sizeof(err)) == 0,
		 "echo: %s", err);
	map_workers(d, old, NOLD, worker);
	for (int k = 0; k < NOLD; k++) {
		if (worker[k] == 0)
			on0[n0++] = old[k];
		else
			on1[n1++] = old[k];
	}
	hr_check(n0 > 0 && n1 > 0,
		 "expected connections on both workers, seen %d and %d", n0, n1);

	st = hr_query_ok(d, "stats");
	r.old = (pid_t)hr_jint(hr_worker(st, 0), "pid");
	w1 = (pid_t)hr_jint(hr_worker(st, 1), "pid");
	acc0 = hr_jint(hr_worker(st, 0), "accepted");
	bytes0 = hr_jint(hr_worker(st, 0), "bytes_in");
	json_decref(st);
	hr_check_int("LISTEN sockets on the port", 2,
		     hr_proc_listeners(AF_INET, d->port, lst, 16));
	listener_of(r.old, lst, 2, &ino_victim);

	hr_check_int("kill(worker, SIGKILL)", 0, kill(r.old, SIGKILL));
	/* The port keeps serving at once, respawn or not: connections that
	 * hash to the dead worker's listener wait in its queue. */
	hr_check(hr_connect_many(AF_INET, d->port, NNEW, 64, 10000, fresh, err,
				 sizeof(err)) == 0,
		 "connect right after the kill: %s", err);
	hr_check(hr_echo_many(fresh, NNEW, lens_new, 2, 15000, err,
			      sizeof(err)) == 0,
		 "echo right after the kill: %s", err);

	hr_check(hr_wait_for(d, worker_replaced, &r, 10000),
		 "worker 0 (pid %ld): expected a new running pid with restarts >= 1",
		 (long)r.old);
	st = hr_query_ok(d, "stats");
	w = hr_worker(st, 0);
	hr_check(hr_jint(w, "pid") != r.old,
		 "worker 0: expected a new pid, seen the old %ld", (long)r.old);
	hr_check_int("worker 0 restarts", 1, hr_jint(w, "restarts"));
	hr_check(!strncmp(hr_jstr(w, "last_exit"), "signal 9", 8),
		 "worker 0 last_exit: expected \"signal 9...\", seen %s",
		 hr_jdump(json_object_get(w, "last_exit")));
	hr_check(hr_jint(w, "accepted") >= acc0,
		 "worker 0 accepted: expected cumulative across respawn (>= %lld), seen %lld",
		 (long long)acc0, (long long)hr_jint(w, "accepted"));
	hr_check(hr_jint(w, "bytes_in") >= bytes0,
		 "worker 0 bytes_in: expected cumulative across respawn (>= %lld), seen %lld",
		 (long long)bytes0, (long long)hr_jint(w, "bytes_in"));
	hr_check(hr_totals_are_sum(st, why, sizeof(why)) == 0,
		 "after respawn: %s", why);
	hr_check_int("totals.bytes_in (every byte the test sent)",
		     NOLD * 50 + NNEW * 80, hr_jint(st, "totals/bytes_in"));
	hr_check_int("worker 1 pid (untouched)", w1,
		     hr_jint(hr_worker(st, 1), "pid"));
	hr_check_int("worker 1 restarts", 0,
		     hr_jint(hr_worker(st, 1), "restarts"));
	hr_check_int("totals.accepted", NOLD + NNEW,
		     hr_jint(st, "totals/accepted"));
	hr_check_int("totals.lost (ours open on the dead worker)", n0,
		     hr_jint(st, "totals/lost"));

	/* The replacement serves from the very listener the victim had. */
	hr_check_int("LISTEN sockets on the port after respawn", 2,
		     hr_proc_listeners(AF_INET, d->port, lst, 16));
	listener_of((pid_t)hr_jint(w, "pid"), lst, 2, &ino_new);
	listener_of(w1, lst, 2, &ino_w1);
	hr_check(ino_new == ino_victim,
		 "respawned worker 0: expected the victim's listener inode %lu, seen %lu",
		 ino_victim, ino_new);
	hr_check(ino_new != ino_w1,
		 "workers 0 and 1: expected distinct listeners, seen %lu",
		 ino_new);
	json_decref(st);

	/* The dead worker's clients see their end closed; worker 1's work. */
	for (int k = 0; k < n0; k++)
		hr_check(hr_wait_closed(on0[k], 5000),
			 "connection %d of the killed worker: expected closed, seen open",
			 k);
	hr_check(hr_echo_many(on1, n1, lens_old, 3, 10000, err, sizeof(err)) == 0,
		 "echo on worker 1's %d connections after the kill: %s", n1, err);

	hr_close_all(old, NOLD);
	hr_close_all(fresh, NNEW);
	hr_check_int("exit status after SIGTERM", 0, hr_stop(d, SIGTERM));
}

struct both {
	pid_t old[2];
	json_int_t restarts;
};

static int both_replaced(json_t *st, void *arg)
{
	const struct both *b = arg;
	struct replaced r0 = { 0, b->old[0], b->restarts };
	struct replaced r1 = { 1, b->old[1], b->restarts };

	return worker_replaced(st, &r0) && worker_replaced(st, &r1);
}

/* Every worker killed, again and again: the master survives, each kill
 * gives exactly one respawn, and the port serves after each round. */
static void test_repeated_kills(void **state)
{
	struct hr_daemon *d = *state;
	enum { ROUNDS = 4, N = 20 };
	int fds[N];
	size_t lens[N];
	char err[512], what[64];
	json_t *st;

	for (int i = 0; i < N; i++)
		lens[i] = 10;
	hr_start_ok(d, NULL);
	for (int round = 1; round <= ROUNDS; round++) {
		struct both b = { .restarts = round };

		st = hr_query_ok(d, "stats");
		for (int id = 0; id < 2; id++)
			b.old[id] = (pid_t)hr_jint(hr_worker(st, id), "pid");
		json_decref(st);
		for (int id = 0; id < 2; id++)
			hr_check_int("kill(worker, SIGKILL)", 0,
				     kill(b.old[id], SIGKILL));
		hr_check(hr_wait_for(d, both_replaced, &b, 10000),
			 "round %d: expected both workers replaced and running",
			 round);
		st = hr_query_ok(d, "stats");
		for (int id = 0; id < 2; id++) {
			snprintf(what, sizeof(what),
				 "round %d: worker %d restarts", round, id);
			hr_check_int(what, round,
				     hr_jint(hr_worker(st, id), "restarts"));
		}
		hr_check_int("master pid", d->pid, hr_jint(st, "pid"));
		json_decref(st);
		hr_check(hr_connect_many(AF_INET, d->port, N, N, 5000, fds, err,
					 sizeof(err)) == 0,
			 "round %d: connect: %s", round, err);
		hr_check(hr_echo_many(fds, N, lens, (uint32_t)round, 10000, err,
				      sizeof(err)) == 0,
			 "round %d: echo: %s", round, err);
		hr_close_all(fds, N);
	}
	hr_check_int("exit status after SIGTERM", 0, hr_stop(d, SIGTERM));
}

/* A copy of the worker's end of its channel (the one AF_UNIX stream
 * socket it holds), taken with pidfd_getfd; -1 if the kernel cannot. */
static int grab_channel(pid_t pid)
{
#if defined(SYS_pidfd_open) && defined(SYS_pidfd_getfd)
	char path[64];
	struct dirent *de;
	int pfd = (int)syscall(SYS_pidfd_open, pid, 0U), found = -1;
	DIR *dp;

	snprintf(path, sizeof(path), "/proc/%ld/fd", (long)pid);
	if (pfd < 0 || !(dp = opendir(path))) {
		if (pfd >= 0)
			close(pfd);
		return -1;
	}
	while (found < 0 && (de = readdir(dp))) {
		int fd = (int)syscall(SYS_pidfd_getfd, pfd, atoi(de->d_name), 0U);
		int dom = 0, type = 0;
		socklen_t l = sizeof(int);

		if (fd < 0)
			continue;
		if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &dom, &l) == 0 &&
		    getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &l) == 0 &&
		    dom == AF_UNIX && type == SOCK_STREAM)
			found = fd;
		else
			close(fd);
	}
	closedir(dp);
	close(pfd);
	return found;
#else
	(void)pid;
	return -1;
#endif
}

/* A worker that sends a frame the master does not accept has a bug: the
 * master says so, replaces it, and keeps serving. The frame is written
 * into the worker's own end of the channel, as if the worker had sent it. */
static void test_malformed_message_replaces_worker(void **state)
{
	struct hr_daemon *d = *state;
	struct chan_hdr h = { .type = CHAN_ALIVE, .len = 5, .seq = 0 };
	char frame[sizeof(h) + 5] = { 0 };
	struct replaced r = { .id = 0, .restarts = 1 };
	int fds[20], ch;
	size_t lens[20];
	char err[512], why[256];
	pid_t w1;
	json_t *st;

	hr_start_ok(d, NULL);
	st = hr_query_ok(d, "stats");
	r.old = (pid_t)hr_jint(hr_worker(st, 0), "pid");
	w1 = (pid_t)hr_jint(hr_worker(st, 1), "pid");
	json_decref(st);
	ch = grab_channel(r.old);
	if (ch < 0)
		skip(); /* no pidfd_getfd here */
	memcpy(frame, &h, sizeof(h));
	hr_check_int("bytes of the bad frame written", sizeof(frame),
		     write(ch, frame, sizeof(frame)));
	close(ch);

	hr_check(hr_wait_for(d, worker_replaced, &r, 10000),
		 "worker 0 (pid %ld): expected replaced after a malformed frame",
		 (long)r.old);
	hr_check(hr_log_contains(d, "broke the channel protocol (ALIVE message of 5 bytes"),
		 "expected the master to log the broken frame");
	st = hr_query_ok(d, "stats");
	hr_check_int("master pid", d->pid, hr_jint(st, "pid"));
	hr_check_int("worker 1 pid (untouched)", w1,
		     hr_jint(hr_worker(st, 1), "pid"));
	/* Killed, or gone by itself first: the master closed its end. */
	hr_check(hr_jstr(hr_worker(st, 0), "last_exit")[0] != '\0',
		 "worker 0 last_exit: expected its exit, seen %s",
		 hr_jdump(json_object_get(hr_worker(st, 0), "last_exit")));
	hr_check(hr_totals_are_sum(st, why, sizeof(why)) == 0, "%s", why);
	json_decref(st);
	for (int i = 0; i < 20; i++)
		lens[i] = 16;
	hr_check(hr_connect_many(AF_INET, d->port, 20, 20, 5000, fds, err,
				 sizeof(err)) == 0,
		 "connect: %s", err);
	hr_check(hr_echo_many(fds, 20, lens, 9, 10000, err, sizeof(err)) == 0,
		 "echo: %s", err);
	hr_close_all(fds, 20);
	hr_check_int("exit status after SIGTERM", 0, hr_stop(d, SIGTERM));
}

static int worker0_down_for(struct hr_daemon *d, const char *delay)
{
	char line[64];

	snprintf(line, sizeof(line), "respawning in %s ms", delay);
	return hr_log_contains(d, line);
}

/* A worker in a crash loop (respawned only after a growing delay) costs no
 * client a hung connection: new ones go to the live worker, and those
 * already waiting in the dead worker's queue are taken by it. */
static void test_crash_loop_costs_no_client(void **state)
{
	struct hr_daemon *d = *state;
	enum { QUEUED = 20, FRESH = 40 };
	static const char *const delays[] = { "100", "200", "400", "800" };
	int queued[QUEUED], fresh[FRESH];
	size_t lq[QUEUED], lf[FRESH];
	struct replaced r = { .id = 0 };
	char err[512];
	json_t *st;

	for (int i = 0; i < QUEUED; i++)
		lq[i] = 32;
	for (int i = 0; i < FRESH; i++)
		lf[i] = 32;
	hr_start_ok(d, NULL);
	/* Four fast deaths: the next respawn waits 1600 ms. */
	for (int k = 0; k < 4; k++) {
		st = hr_query_ok(d, "stats");
		r.old = (pid_t)hr_jint(hr_worker(st, 0), "pid");
		json_decref(st);
		hr_check_int("kill(worker 0, SIGKILL)", 0, kill(r.old, SIGKILL));
		r.restarts = k + 1;
		hr_check(hr_wait_for(d, worker_replaced, &r, 10000),
			 "worker 0 respawned after %s ms", delays[k]);
		hr_check(worker0_down_for(d, delays[k]), "backoff %s ms",
			 delays[k]);
	}
	/* Worker 0 stops taking connections; some queue on its listener. */
	st = hr_query_ok(d, "stats");
	r.old = (pid_t)hr_jint(hr_worker(st, 0), "pid");
	json_decref(st);
	hr_check_int("kill(worker 0, SIGSTOP)", 0, kill(r.old, SIGSTOP));
	hr_check(hr_connect_many(AF_INET, d->port, QUEUED, QUEUED, 5000, queued,
				 err, sizeof(err)) == 0,
		 "connect: %s", err);
	hr_check_int("kill(worker 0, SIGKILL)", 0, kill(r.old, SIGKILL));
	/* Within the 1.6 s that worker 0 stays down: */
	hr_check(hr_echo_many(queued, QUEUED, lq, 1, 1000, err, sizeof(err)) == 0,
		 "the dead worker's queue, served meanwhile: %s", err);
	hr_check(hr_connect_many(AF_INET, d->port, FRESH, FRESH, 1000, fresh,
				 err, sizeof(err)) == 0,
		 "connect: %s", err);
	hr_check(hr_echo_many(fresh, FRESH, lf, 2, 1000, err, sizeof(err)) == 0,
		 "new connections while worker 0 is down: %s", err);
	hr_check(worker0_down_for(d, "1600"), "the last backoff was 1600 ms");
	hr_check(hr_log_contains(d, "worker 1 accepts on its listeners meanwhile"),
		 "expected worker 1 to take worker 0's listeners");
	r.restarts = 5;
	hr_check(hr_wait_for(d, worker_replaced, &r, 10000), "worker 0 back");
	hr_close_all(queued, QUEUED);
	hr_close_all(fresh, FRESH);
	hr_check_int("exit status after SIGTERM", 0, hr_stop(d, SIGTERM));
}

static int active_is(json_t *st, void *arg)
{
	return hr_jint(st, "totals/active") == *(json_int_t *)arg;
}

/* A worker forked after big listings does not carry them: the master
 * streams a listing and keeps no copy, so a fresh worker starts small. */
static void test_fresh_worker_is_small(void **state)
{
	/* Many workers, each with a listing page that fills a channel read:
	 * a master that kept a read buffer per worker had them in every
	 * worker it forked later (24 x 64 KiB). */
	enum { N = 12000 };
	static const char *const args[] = { "-w", "24", NULL };
	struct hr_daemon *d = *state;
	static int fds[N];
	char err[256];
	struct replaced r = { .id = 1, .restarts = 1 };
	json_int_t all = N, none = 0;
	json_t *st;
	long rss;

	hr_start_ok(d, args);
	hr_check(hr_connect_many(AF_INET, d->port, N, 256, 10000, fds, err,
				 sizeof(err)) == 0,
		 "%s", err);
	hr_check(hr_wait_for(d, active_is, &all, 10000), "%d accepted", N);
	for (int i = 0; i < 3; i++) {
		st = hr_query_ok(d, "connections 12000");
		hr_check_int("rows", N,
			     (json_int_t)json_array_size(
				     hr_jget(st, "connections")));
		json_decref(st);
	}
	hr_close_all(fds, N);
	hr_check(hr_wait_for(d, active_is, &none, 10000),
		 "the connections closed");
	st = hr_query_ok(d, "workers");
	r.old = (pid_t)hr_jint(hr_worker(st, 1), "pid");
	json_decref(st);
	assert_int_equal(kill(r.old, SIGKILL), 0);
	hr_check(hr_wait_for(d, worker_replaced, &r, 10000), "worker 1 replaced");
	st = hr_query_ok(d, "workers");
	rss = hr_rss_kib((pid_t)hr_jint(hr_worker(st, 1), "pid"));
	json_decref(st);
	hr_note("a fresh worker after three listings of %d rows: %ld KiB", N, rss);
#ifndef __SANITIZE_ADDRESS__
	/* (AddressSanitizer's shadow memory makes any process bigger.) */
	hr_check(rss > 0 && rss <= 2048,
		 "a fresh worker's RSS: %ld KiB, over 2 MiB", rss);
#endif
	hr_check_int("exit status", 0, hr_stop(d, SIGTERM));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_sigkill_respawn, hr_setup,
						hr_teardown),
		cmocka_unit_test_setup_teardown(test_fresh_worker_is_small,
						hr_setup, hr_teardown),
		cmocka_unit_test_setup_teardown(test_repeated_kills, hr_setup,
						hr_teardown),
		cmocka_unit_test_setup_teardown(test_malformed_message_replaces_worker,
						hr_setup, hr_teardown),
		cmocka_unit_test_setup_teardown(test_crash_loop_costs_no_client,
						hr_setup, hr_teardown),
	};

	return cmocka_run_group_tests_name("daemon_respawn", tests, NULL, NULL);
}
