/* test_daemon_overload.c - more clients than the open-files limit lets a
 * worker hold: it stops accepting (and counts it) instead of spinning,
 * crashing or dropping anyone, and takes the waiting clients as slots
 * free up. */
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

#define NOFILE 128
#define M 600 /* well above what 2 workers with 128 fds each can hold */

static int paused(json_t *st, void *arg)
{
	(void)arg;
	return hr_jint(st, "totals/accept_paused") >= 1;
}

/* CPU ticks of every worker, summed. */
static long long workers_cpu(json_t *st)
{
	long long sum = 0;
	json_t *w;
	size_t i;

	json_array_foreach(json_object_get(st, "workers"), i, w)
		sum += hr_proc_cpu_ticks((pid_t)hr_jint(w, "pid"));
	return sum;
}

/* Indexes (into fds) of the waiting clients the daemon has accepted. */
static int accepted_now(struct hr_daemon *d, const int *fds, const int *waiting,
			int nw, int *out)
{
	json_t *doc = hr_query_ok(d, "connections 100000"), *c;
	char local[64], remote[64];
	int n = 0;
	size_t i;

	for (int k = 0; k < nw; k++) {
		hr_check(hr_endpoints(fds[waiting[k]], local, remote,
				      sizeof(local)) == 0,
			 "getsockname/getpeername: %s", strerror(errno));
		json_array_foreach(json_object_get(doc, "connections"), i, c)
			if (!strcmp(hr_jstr(c, "remote"), local)) {
				out[n++] = waiting[k];
				break;
			}
	}
	json_decref(doc);
	return n;
}

static void test_fd_limit_pauses_accept(void **state)
{
	struct hr_daemon *d = *state;
	static int fds[M], waiting[M], served[M], sfds[M];
	static size_t lens[M];
	long long cpu0, cpu1, ticks = sysconf(_SC_CLK_TCK);
	int64_t t0, t1, deadline;
	int nw = M, rounds = 0;
	char err[512];
	json_t *st, *w;
	size_t i;

	for (int k = 0; k < M; k++) {
		waiting[k] = k;
		lens[k] = 100;
	}
	d->nofile = NOFILE;
	hr_start_ok(d, NULL);
	st = hr_query_ok(d, "stats");
	hr_check_int("limits.nofile_soft (as we set it)", NOFILE,
		     hr_jint(st, "limits/nofile_soft"));
	json_decref(st);

	hr_check(hr_connect_many(AF_INET, d->port, M, 128, 20000, fds, err,
				 sizeof(err)) == 0,
		 "connect %d clients: %s", M, err);
	hr_check(hr_wait_for(d, paused, NULL, 10000),
		 "%d clients, %d open files per worker: expected totals.accept_paused >= 1",
		 M, NOFILE);

	/* Paused means idle: over a second of stats polling, the workers
	 * use a small share of one CPU, not a spinning accept loop. */
	st = hr_query_ok(d, "stats");
	cpu0 = workers_cpu(st);
	t0 = hr_now_ms();
	json_array_foreach(json_object_get(st, "workers"), i, w)
		hr_check(hr_jint(w, "active") < NOFILE,
			 "worker %zu: expected fewer than %d active (its open-files limit), seen %lld",
			 i, NOFILE, (long long)hr_jint(w, "active"));
	while (hr_now_ms() - t0 < 1000) {
		json_t *p = hr_query_ok(d, "ping");

		json_decref(p);
	}
	cpu1 = workers_cpu(st);
	t1 = hr_now_ms();
	json_decref(st);
	hr_check(cpu0 >= 0 && cpu1 >= 0 &&
			 (cpu1 - cpu0) * 1000 <= (t1 - t0) * ticks * 3 / 10,
		 "paused workers: expected under 30%% of a CPU, seen %lld ticks in %lld ms (%lld ticks/s)",
		 cpu1 - cpu0, (long long)(t1 - t0), ticks);

	/* Serve the accepted ones and let them go; the rest move up. No one
	 * waiting is dropped or reset on the way. */
	deadline = hr_now_ms() + 30000;
	while (nw > 0) {
		int ns = accepted_now(d, fds, waiting, nw, served), left = 0;

		if (ns == 0) {
			hr_check(hr_now_ms() < deadline,
				 "%d clients still waiting after 30 s: expected them accepted as slots freed",
				 nw);
			poll(NULL, 0,
			     20); /* retry interval, bounded by the deadline */
			continue;
		}
		for (int k = 0; k < ns; k++)
			sfds[k] = fds[served[k]];
		hr_check(hr_echo_many(sfds, ns, lens, (uint32_t)rounds, 10000,
				      err, sizeof(err)) == 0,
			 "round %d: echo on %d accepted clients: %s", rounds,
			 ns, err);
		for (int k = 0; k < ns; k++) {
			close(fds[served[k]]);
			fds[served[k]] = -1;
		}
		for (int k = 0; k < nw; k++)
			if (fds[waiting[k]] >= 0)
				waiting[left++] = waiting[k];
		nw = left;
		rounds++;
	}
	print_message("# %d clients served in %d rounds through %d open files per worker\n",
		      M, rounds, NOFILE);
	hr_check(rounds >= 2,
		 "expected the clients served in several rounds, seen %d",
		 rounds);
	st = hr_query_ok(d, "stats");
	hr_check_int("totals.accepted", M, hr_jint(st, "totals/accepted"));
	hr_check_int("totals.rejected (clients dropped for want of a slot)", 0,
		     hr_jint(st, "totals/rejected"));
	hr_check_int("master pid", d->pid, hr_jint(st, "pid"));
	hr_check_int("worker 0 restarts", 0,
		     hr_jint(hr_worker(st, 0), "restarts"));
	hr_check_int("worker 1 restarts", 0,
		     hr_jint(hr_worker(st, 1), "restarts"));
	json_decref(st);
	hr_check_int("exit status after SIGTERM", 0, hr_stop(d, SIGTERM));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_fd_limit_pauses_accept,
						hr_setup, hr_teardown),
	};

	return cmocka_run_group_tests_name("daemon_overload", tests, NULL, NULL);
}
