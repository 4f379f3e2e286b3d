/* test_chaos.c - a bounded chaos run: HTTP load with kept-alive and
 * connection-per-request clients (reuseportbench) while the test kills and
 * stops workers, stops the master for longer than the watchdog timeout,
 * reloads to other worker counts and to a generation that cannot start,
 * floods the stats socket and takes descriptors away from a worker and
 * from the master. Afterwards: no request failed but those of the
 * connections the killed workers held (counted as lost), the counters add
 * up, and the master holds no more descriptors, zombies or memory than
 * before. Every step is fixed (no randomness): a failure can be replayed. */
#include "autoconfig.h"

#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#define LOAD_S 24 /* the chaos below fits in it */

static char conf[256];

static void write_conf(struct hr_daemon *d, int workers, const char *extra)
{
	char tmp[300];
	FILE *f;

	snprintf(conf, sizeof(conf), "%s/chaos.conf", d->dir);
	snprintf(tmp, sizeof(tmp), "%s.tmp", conf);
	f = fopen(tmp, "w");
	hr_check(f != NULL, "%s: %s", tmp, strerror(errno));
	fprintf(f,
		"listen 127.0.0.1:0\nworkers %d\nprotocol http\nreturn 200 chaos\n"
		"shutdown_timeout 2s\nwatchdog_timeout 3s\n%s",
		workers, extra);
	fclose(f);
	hr_check(rename(tmp, conf) == 0, "rename: %s", strerror(errno));
}

/* The file alone: command-line -w and -l would override it on reloads. */
static void start(struct hr_daemon *d)
{
	const char *args[] = { "-f", "-s", d->sock, "-c", conf, NULL };
	json_t *st;

	hr_check(hr_spawn(d, args) == 0, "spawn");
	hr_check(hr_wait_for(d, hr_all_running, NULL, HR_START_MS), "start-up");
	st = hr_query_ok(d, "stats");
	d->port = (int)hr_jint(st, "listen/0/port");
	json_decref(st);
}

/* Generation g up, every worker of it running, nothing older left. */
static int settled(json_t *st, void *arg)
{
	json_int_t g = *(json_int_t *)arg;
	json_t *w;
	size_t i;

	if (hr_jint(st, "generation") != g)
		return 0;
	json_array_foreach(json_object_get(st, "workers"), i, w)
		if (hr_jint(w, "generation") != g ||
		    strcmp(hr_jstr(w, "state"), "running"))
			return 0;
	return 1;
}

static pid_t worker_pid(struct hr_daemon *d, int id)
{
	json_t *st = hr_query_ok(d, "stats");
	pid_t pid = (pid_t)hr_jint(hr_worker(st, id), "pid");

	json_decref(st);
	return pid;
}

static int count_fds(pid_t pid)
{
	char path[64];
	struct dirent *de;
	int n = 0;
	DIR *dp;

	snprintf(path, sizeof(path), "/proc/%ld/fd", (long)pid);
	if (!(dp = opendir(path)))
		return -1;
	while ((de = readdir(dp)))
		n += de->d_name[0] != '.';
	closedir(dp);
	return n;
}

/* The descriptors of pid once the stats clients just answered are gone:
 * the master closes its end when the client's close reaches it, a moment
 * after our query returned. */
static int settled_fds(pid_t pid)
{
	int prev = count_fds(pid), now;

	for (int i = 0; i < 40; i++) {
		poll(NULL, 0, 50);
		if ((now = count_fds(pid)) == prev)
			return now;
		prev = now;
	}
	return prev;
}

/* Children of pid that are zombies (exited, not reaped). */
static int zombies_of(pid_t pid)
{
	char path[300], line[256];
	struct dirent *de;
	int n = 0;
	DIR *dp = opendir("/proc");

	while (dp && (de = readdir(dp))) {
		long ppid = -1;
		char state = 0;
		FILE *f;

		if (de->d_name[0] < '1' || de->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/status", de->d_name);
		if (!(f = fopen(path, "re")))
			continue;
		while (fgets(line, sizeof(line), f)) {
			sscanf(line, "State: %c", &state);
			sscanf(line, "PPid: %ld", &ppid);
		}
		fclose(f);
		n += ppid == (long)pid && state == 'Z';
	}
	if (dp)
		closedir(dp);
	return n;
}

static void pause_ms(int ms)
{
	poll(NULL, 0, ms);
}

static FILE *load(struct hr_daemon *d, const char *mode)
{
	char cmd[512];
	FILE *p;

	snprintf(cmd, sizeof(cmd),
		 RB_BIN
		 " http -q -j --allow-failures --timeout 8 %s -d %d 127.0.0.1:%d",
		 mode, LOAD_S, d->port);
	p = popen(cmd, "r");
	hr_check(p != NULL, "%s", cmd);
	return p;
}

static json_t *load_result(FILE *p, const char *what)
{
	static char text[1 << 16];
	size_t n = 0, r;
	json_t *j;

	while (n < sizeof(text) - 1 &&
	       (r = fread(text + n, 1, sizeof(text) - 1 - n, p)) > 0)
		n += r;
	text[n] = '\0';
	pclose(p);
	j = json_loads(text, 0, NULL);
	hr_check(j != NULL, "%s: reuseportbench JSON: %.300s", what, text);
	printf("# %s: %lld requests, %lld errors, %lld retried, %lld connect failures\n",
	       what, (long long)hr_jint(j, "load/requests"),
	       (long long)hr_jint(j, "load/errors/total"),
	       (long long)hr_jint(j, "load/retried"),
	       (long long)hr_jint(j, "connect/failed"));
	return j;
}

/* Takes descriptors away from pid for ms: its open-files limit is set
 * just above what it holds, then given back. */
static void starve_fds(pid_t pid, int ms)
{
	struct rlimit old, low;
	int n = count_fds(pid);

	hr_check(n > 0 && prlimit(pid, RLIMIT_NOFILE, NULL, &old) == 0,
		 "prlimit get");
	low.rlim_cur = low.rlim_max = (rlim_t)n + 2;
	low.rlim_max = old.rlim_max;
	hr_check(prlimit(pid, RLIMIT_NOFILE, &low, NULL) == 0,
		 "prlimit set: %s", strerror(errno));
	pause_ms(ms);
	hr_check(prlimit(pid, RLIMIT_NOFILE, &old, NULL) == 0, "prlimit restore");
}

/* 120 stats clients at once, half of which never read their answer. */
static void flood_stats(struct hr_daemon *d)
{
	enum { N = 120 };
	int fds[N];

	for (int i = 0; i < N; i++) {
		fds[i] = hr_ctl_connect(d->sock, 2000);
		if (fds[i] >= 0 &&
		    write(fds[i], i % 3 ? "stats\n" : "connections\n",
			  i % 3 ? 6 : 12) < 0)
			printf("# flood: write: %s\n", strerror(errno));
	}
	pause_ms(300);
	for (int i = 0; i < N; i += 2)
		if (fds[i] >= 0) {
			char buf[1 << 16];

			while (read(fds[i], buf, sizeof(buf)) > 0)
				;
		}
	for (int i = 0; i < N; i++)
		if (fds[i] >= 0)
			close(fds[i]);
}

static void reload_to(struct hr_daemon *d, int workers, const char *extra,
		      json_int_t *gen)
{
	write_conf(d, workers, extra);
	hr_check_int("kill(master, SIGHUP)", 0, kill(d->pid, SIGHUP));
	if (extra[0])
		return; /* a generation that cannot start: rolled back */
	++*gen;
	hr_check(hr_wait_for(d, settled, gen, 15000), "generation %lld up",
		 (long long)*gen);
}

static void chaos(struct hr_daemon *d)
{
	char extra[300];
	json_int_t gen = 1;
	pid_t w;

	pause_ms(1500);
	/* A worker killed, another stopped for a moment. */
	hr_check_int("SIGKILL worker 1", 0, kill(worker_pid(d, 1), SIGKILL));
	pause_ms(1000);
	w = worker_pid(d, 2);
	hr_check_int("SIGSTOP worker 2", 0, kill(w, SIGSTOP));
	pause_ms(400);
	hr_check_int("SIGCONT worker 2", 0, kill(w, SIGCONT));
	pause_ms(800);
	/* The master stopped for longer than watchdog_timeout. */
	hr_check_int("SIGSTOP master", 0, kill(d->pid, SIGSTOP));
	pause_ms(3500);
	hr_check_int("SIGCONT master", 0, kill(d->pid, SIGCONT));
	pause_ms(1000);
	/* Fewer workers, then a generation that cannot start, then back. */
	reload_to(d, 3, "", &gen);
	snprintf(extra, sizeof(extra), "docroot %s/gone\n", d->dir);
	reload_to(d, 5, extra, &gen);
	for (int64_t end = hr_now_ms() + 5000;
	     !hr_log_contains(d, "back to generation");)
		hr_check(hr_now_ms() < end,
			 "expected the broken generation rolled back");
	pause_ms(1000);
	reload_to(d, 4, "", &gen);
	/* The stats socket flooded; descriptors taken from a worker and from
	 * the master for a while. */
	flood_stats(d);
	starve_fds(worker_pid(d, 0), 1000);
	starve_fds(d->pid, 1000);
	flood_stats(d);
	/* Killed twice in a row: a respawn delay with clients waiting. */
	hr_check_int("SIGKILL worker 3", 0, kill(worker_pid(d, 3), SIGKILL));
	pause_ms(300);
	hr_check(hr_wait_for(d, settled, &gen, 10000), "worker 3 back");
	hr_check_int("SIGKILL worker 3 again", 0, kill(worker_pid(d, 3), SIGKILL));
}

static int at_rest(json_t *st, void *arg)
{
	(void)arg;
	return hr_jint(st, "totals/active") == 0 && hr_all_running(st, NULL);
}

static void test_chaos(void **state)
{
	struct hr_daemon *d = *state;
	int fds0, fds1, errors;
	long rss0, rss1;
	json_t *ka, *cl, *st;
	FILE *pka, *pcl;
	char why[256];

	write_conf(d, 4, "");
	start(d);
	fds0 = settled_fds(d->pid);
	rss0 = hr_rss_kib(d->pid);
	pka = load(d, "-c 16");
	pcl = load(d, "--close -c 8");
	chaos(d);
	ka = load_result(pka, "kept-alive");
	cl = load_result(pcl, "connection per request");
	hr_check(hr_wait_for(d, at_rest, NULL, 15000), "back at rest");
	st = hr_query_ok(d, "stats");
	errors = (int)(hr_jint(ka, "load/errors/total") +
		       hr_jint(cl, "load/errors/total") +
		       hr_jint(ka, "connect/failed") +
		       hr_jint(cl, "connect/failed"));
	printf("# lost %lld, accepted %lld\n",
	       (long long)hr_jint(st, "totals/lost"),
	       (long long)hr_jint(st, "totals/accepted"));
	hr_check(hr_jint(ka, "load/requests") > 1000 &&
			 hr_jint(cl, "load/requests") > 500,
		 "expected load throughout");
	hr_check(errors <= hr_jint(st, "totals/lost"),
		 "failures (%d) beyond the connections the killed workers held (%lld)",
		 errors, (long long)hr_jint(st, "totals/lost"));
	/* Reloads hand connections over: each is counted out of one worker
	 * and into another. */
	hr_check(hr_jint(st, "totals/accepted") + hr_jint(st, "totals/taken_over") ==
			 hr_jint(st, "totals/closed") + hr_jint(st, "totals/lost") +
				 hr_jint(st, "totals/active") +
				 hr_jint(st, "totals/handed_over"),
		 "accepted + taken_over = closed + lost + active + handed_over: %s",
		 hr_jdump(json_object_get(st, "totals")));
	hr_check(hr_totals_are_sum(st, why, sizeof(why)) == 0, "%s", why);
	json_decref(st);
	json_decref(ka);
	json_decref(cl);
	fds1 = settled_fds(d->pid);
	rss1 = hr_rss_kib(d->pid);
	printf("# master: %d descriptors before, %d after; RSS %ld KiB before, %ld after\n",
	       fds0, fds1, rss0, rss1);
	hr_check_int("the master's descriptors", fds0, fds1);
	hr_check_int("zombies", 0, zombies_of(d->pid));
#ifndef __SANITIZE_ADDRESS__
	/* (AddressSanitizer keeps freed memory in quarantine.) */
	hr_check(rss1 <= rss0 + rss0 / 10,
		 "master RSS %ld KiB, more than 10%% over %ld", rss1, rss0);
#endif
	hr_check_int("exit status after SIGTERM", 0, hr_stop(d, SIGTERM));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_chaos, hr_setup, hr_teardown),
	};

	return cmocka_run_group_tests_name("chaos", tests, NULL, NULL);
}
