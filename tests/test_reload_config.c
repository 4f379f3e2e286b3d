/* test_reload_config.c - reloads that re-read the config file under load:
 * the worker count going up and down, a broken file, and a worker that
 * crashes on start over and over. */
#include "autoconfig.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "loadgen.h"

static void write_conf(struct hr_daemon *d, char *path, size_t len,
		       const char *text)
{
	char tmp[256];
	FILE *f;

	snprintf(path, len, "%s/reuseportd.conf", d->dir);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "w");
	hr_check(f != NULL, "write %s: %s", tmp, strerror(errno));
	fputs(text, f);
	fclose(f);
	hr_check(rename(tmp, path) == 0, "rename: %s", strerror(errno));
}

/* Starts the daemon on the config file alone: hr_start would add -w and
 * -l on the command line, which override the file on every reload. */
static void start_with_conf(struct hr_daemon *d, const char *conf)
{
	const char *args[] = { "-f", "-s", d->sock, "-c", conf, NULL };
	json_t *st;

	hr_check(hr_spawn(d, args) == 0, "spawn");
	hr_check(hr_wait_for(d, hr_all_running, NULL, HR_START_MS), "start-up");
	st = hr_query(d, "stats");
	hr_check(st != NULL, "stats");
	d->port = (int)hr_jint(st, "listen/0/port");
	d->workers = (int)hr_jint(st, "workers_configured");
	json_decref(st);
}

struct gen_want {
	json_int_t generation, workers;
};

/* Generation g runs with n workers and nothing older is left. */
static int settled(json_t *st, void *arg)
{
	const struct gen_want *w = arg;
	json_t *o;
	size_t i;
	json_int_t n = 0;

	if (hr_jint(st, "generation") != w->generation)
		return 0;
	json_array_foreach(json_object_get(st, "workers"), i, o) {
		if (json_integer_value(json_object_get(o, "generation")) !=
			    w->generation ||
		    strcmp(json_string_value(json_object_get(o, "state")),
			   "running"))
			return 0;
		n++;
	}
	return n == w->workers;
}

static void conf_workers(struct hr_daemon *d, char *conf, size_t len, int n)
{
	char text[128];

	snprintf(text, sizeof(text), "listen 127.0.0.1:0\nworkers %d\n", n);
	write_conf(d, conf, len, text);
}

/* N -> N+1 -> N-2 -> N+1 while 20,000 connections come and go. */
static void test_reload_changes_worker_count(void **state)
{
	struct hr_daemon *d = *state;
	static const int counts[] = { 3, 1, 2 };
	char conf[256], desc[400];
	struct lg g;
	json_t *st;

	conf_workers(d, conf, sizeof(conf), 2);
	start_with_conf(d, conf);
	hr_check(lg_start(&g, d->port, 64, 100, 20000, 60000) == 0, "load");
	for (int i = 0; i < 3; i++) {
		struct gen_want want = { i + 2, counts[i] };

		while (g.progress < (uint64_t)(i + 1) * 5000)
			usleep(1000);
		conf_workers(d, conf, sizeof(conf), counts[i]);
		kill(d->pid, SIGHUP);
		hr_check(hr_wait_for(d, settled, &want, 15000),
			 "generation %d with %d workers", i + 2, counts[i]);
		if (counts[i] == 1) {
			/* The surplus listeners stay open (closing one would
			 * reset its queue) and the one worker serves them. */
			unsigned long lst[16], mine[256];
			int nl = hr_proc_listeners(2 /* AF_INET */, d->port,
						   lst, 16);
			json_t *s1 = hr_query(d, "workers");
			int n = hr_proc_socket_inodes((pid_t)hr_jint(s1, "workers/0/pid"),
						      mine, 256);

			hr_check_int("listening sockets kept", 3, nl);
			hr_check_int("listeners held by the one worker", 3,
				     hr_count_common(lst, nl, mine, n, NULL));
			json_decref(s1);
		}
	}
	lg_join(&g, 0);
	printf("# load: %s\n", lg_describe(&g, desc, sizeof(desc)));
	hr_check(lg_failures(&g.c) == 0, "lost connections: %s", desc);
	hr_check_int("connections", 20000, g.c.done);
	st = hr_query(d, "stats");
	hr_check_int("accepted across generations", 20000,
		     hr_jint(st, "totals/accepted"));
	json_decref(st);
	hr_check_int("exit status", 0, hr_stop(d, SIGTERM));
}

static int active_is(json_t *st, void *arg)
{
	return hr_jint(st, "totals/active") == *(json_int_t *)arg;
}

/* max_connections and backlog follow the file at a reload: a worker at
 * its cap of 5 leaves 3 clients in the queue; the reload raises the cap
 * to 8 and the new worker carries all 8 (the 5 handed over). */
static void test_reload_applies_limits(void **state)
{
	enum { N = 8 };
	struct hr_daemon *d = *state;
	char conf[256], err[256];
	struct gen_want want = { 2, 1 };
	json_int_t five = 5, eight = N;
	int fds[N];
	json_t *st;

	write_conf(d, conf, sizeof(conf),
		   "listen 127.0.0.1:0\nworkers 1\nmax_connections 5\nbacklog 100\n");
	start_with_conf(d, conf);
	st = hr_query_ok(d, "limits");
	hr_check_int("cap", 5, hr_jint(st, "limits/max_connections_per_worker"));
	hr_check_int("backlog", 100, hr_jint(st, "limits/backlog"));
	json_decref(st);
	hr_check(hr_connect_many(AF_INET, d->port, N, N, 5000, fds, err,
				 sizeof(err)) == 0,
		 "%s", err);
	hr_check(hr_wait_for(d, active_is, &five, 5000), "5 active, at the cap");
	write_conf(d, conf, sizeof(conf),
		   "listen 127.0.0.1:0\nworkers 1\nmax_connections 8\nbacklog 200\n");
	kill(d->pid, SIGHUP);
	hr_check(hr_wait_for(d, settled, &want, 15000), "generation 2");
	st = hr_query_ok(d, "limits");
	hr_check_int("cap after the reload", N,
		     hr_jint(st, "limits/max_connections_per_worker"));
	hr_check_int("backlog after the reload", 200,
		     hr_jint(st, "limits/backlog"));
	json_decref(st);
	hr_check(hr_wait_for(d, active_is, &eight, 5000),
		 "8 active under the new cap");
	st = hr_query_ok(d, "stats");
	hr_check_int("handed over", 5, hr_jint(st, "totals/handed_over"));
	json_decref(st);
	hr_close_all(fds, N);
	hr_check_int("exit status", 0, hr_stop(d, SIGTERM));
}

/* A broken file: the reload is refused, the old workers keep serving. */
static void test_reload_broken_config(void **state)
{
	struct hr_daemon *d = *state;
	char conf[256], desc[400];
	struct lg g;
	json_t *st;

	conf_workers(d, conf, sizeof(conf), 2);
	start_with_conf(d, conf);
	st = hr_query(d, "workers");
	json_int_t pid0 = hr_jint(st, "workers/0/pid");

	json_decref(st);
	hr_check(lg_start(&g, d->port, 32, 100, 5000, 60000) == 0, "load");
	while (g.progress < 1000)
		usleep(1000);
	write_conf(d, conf, sizeof(conf),
		   "listen 127.0.0.1:0\nworkers two\nbogus_directive 1\n");
	kill(d->pid, SIGHUP);
	lg_join(&g, 0);
	printf("# load: %s\n", lg_describe(&g, desc, sizeof(desc)));
	hr_check(lg_failures(&g.c) == 0, "lost connections: %s", desc);
	hr_check(hr_log_contains(d, "reuseportd.conf:2"),
		 "the log names FILE:LINE");
	st = hr_query(d, "workers");
	hr_check_int("generation", 1, hr_jint(hr_worker(st, 0), "generation"));
	hr_check_int("same worker", pid0, hr_jint(st, "workers/0/pid"));
	json_decref(st);
	hr_check_int("exit status", 0, hr_stop(d, SIGTERM));
}

static int worker0_restarts_at_least(json_t *st, void *arg)
{
	return hr_jint(hr_worker(st, 0), "restarts") >= *(int *)arg;
}

/* A worker that cannot start (its docroot is gone) is respawned with
 * growing delays; the master stays up and recovers when it can. */
static void test_crash_loop_backoff(void **state)
{
	struct hr_daemon *d = *state;
	char conf[256], root[200], text[400];
	int want = 4;
	json_t *st;

	snprintf(root, sizeof(root), "%s/www", d->dir);
	hr_check(mkdir(root, 0755) == 0, "mkdir");
	snprintf(text, sizeof(text),
		 "listen 127.0.0.1:0\nworkers 2\nprotocol http\ndocroot %s\n",
		 root);
	write_conf(d, conf, sizeof(conf), text);
	start_with_conf(d, conf);
	st = hr_query(d, "workers");
	pid_t victim = (pid_t)hr_jint(st, "workers/0/pid");

	json_decref(st);
	hr_check(rmdir(root) == 0, "rmdir");
	kill(victim, SIGKILL);
	hr_check(hr_wait_for(d, worker0_restarts_at_least, &want, 15000),
		 "worker 0 respawned %d times", want);
	hr_check(hr_log_contains(d, "respawning in 100 ms"), "first delay 100 ms");
	hr_check(hr_log_contains(d, "respawning in 200 ms"), "then 200 ms");
	hr_check(hr_log_contains(d, "respawning in 400 ms"), "then 400 ms");
	st = hr_query(d, "ping");
	hr_check(st && json_is_true(json_object_get(st, "pong")),
		 "master answers");
	json_decref(st);
	/* The cause goes away: the next respawn sticks. */
	hr_check(mkdir(root, 0755) == 0, "mkdir again");
	hr_check(hr_wait_for(d, hr_all_running, NULL, 15000),
		 "worker 0 runs again");
	hr_check_int("exit status", 0, hr_stop(d, SIGTERM));
}

/* HTTP under reloads: a new connection per request, every response
 * checked by reuseportbench, while the daemon reloads five times. */
static void test_http_reloads_lose_nothing(void **state)
{
	struct hr_daemon *d = *state;
	char conf[256], cmd[512], text[2048];
	size_t n = 0, r;
	FILE *p;
	json_t *res;

	write_conf(d, conf, sizeof(conf),
		   "listen 127.0.0.1:0\nworkers 2\nprotocol http\nreturn 200 reloaded\n");
	start_with_conf(d, conf);
	snprintf(cmd, sizeof(cmd),
		 RB_BIN " http -q -j --close -c 8 -d 4 127.0.0.1:%d", d->port);
	p = popen(cmd, "r");
	hr_check(p != NULL, "run %s", cmd);
	for (json_int_t g = 2; g <= 6; g++) {
		struct gen_want want = { g, 2 };
		int64_t until = hr_now_ms() + 500;

		while (hr_now_ms() < until)
			usleep(10000);
		kill(d->pid, SIGHUP);
		hr_check(hr_wait_for(d, settled, &want, 10000),
			 "generation %lld", (long long)g);
	}
	while (n < sizeof(text) - 1 &&
	       (r = fread(text + n, 1, sizeof(text) - 1 - n, p)) > 0)
		n += r;
	text[n] = '\0';
	int st = pclose(p);

	res = json_loads(text, 0, NULL);
	hr_check(res != NULL, "reuseportbench JSON: %.300s", text);
	printf("# http under reloads: %lld requests, %lld errors, status 200: %lld, exit %d\n",
	       (long long)hr_jint(res, "load/requests"),
	       (long long)hr_jint(res, "load/errors/total"),
	       (long long)hr_jint(res, "status/200"), WEXITSTATUS(st));
	hr_check(hr_jint(res, "load/requests") > 100, "too few requests");
	hr_check_int("errors", 0, hr_jint(res, "load/errors/total"));
	hr_check_int("connect failures", 0, hr_jint(res, "connect/failed"));
	hr_check_int("every answer a 200", hr_jint(res, "load/requests"),
		     hr_jint(res, "status/200"));
	json_decref(res);
	hr_check_int("exit status", 0, hr_stop(d, SIGTERM));
}

/* One GET with Connection: close; 1 if a 200 came back whole in time. */
static int http_get_ok(int port, int timeout_ms)
{
	static const char req[] =
		"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
	char resp[4096];
	int fd = hr_connect(2 /* AF_INET */, port, timeout_ms);
	ssize_t n;

	if (fd < 0)
		return 0;
	n = hr_write_all(fd, req, sizeof(req) - 1, timeout_ms) < 0 ?
		    -1 :
		    hr_read_until_eof(fd, resp, sizeof(resp) - 1, timeout_ms);
	close(fd);
	if (n <= 0)
		return 0;
	resp[n] = '\0';
	return !strncmp(resp, "HTTP/1.1 200", 12);
}

/* A reload to a generation whose workers cannot start (and one more of
 * them than before, so a new listener opens): it is rolled back with the
 * reason, the old workers keep serving, and no request hangs - not even
 * one hashed to the new slot while its worker was failing. */
static void test_reload_rolled_back(void **state)
{
	struct hr_daemon *d = *state;
	char conf[256], root[200], text[400];
	unsigned long lst[16];
	pid_t pid0;
	json_t *st;

	snprintf(root, sizeof(root), "%s/www", d->dir);
	hr_check(mkdir(root, 0755) == 0, "mkdir");
	snprintf(text, sizeof(text),
		 "listen 127.0.0.1:0\nworkers 2\nprotocol http\nreturn 200 ok\n");
	write_conf(d, conf, sizeof(conf), text);
	start_with_conf(d, conf);
	st = hr_query_ok(d, "workers");
	pid0 = (pid_t)hr_jint(st, "workers/0/pid");
	json_decref(st);
	snprintf(text, sizeof(text),
		 "listen 127.0.0.1:0\nworkers 3\nprotocol http\ndocroot %s/gone\n",
		 root);
	write_conf(d, conf, sizeof(conf), text);
	kill(d->pid, SIGHUP);
	for (int i = 0; i < 60; i++)
		hr_check(http_get_ok(d->port, 2000),
			 "request %d during the failed reload", i);
	for (int64_t end = hr_now_ms() + 5000;
	     !hr_log_contains(d, "back to generation 1");)
		hr_check(hr_now_ms() < end,
			 "expected the reload to be rolled back");
	hr_check(hr_log_contains(d, "could not start (start-up: docroot"),
		 "the log says why");
	struct gen_want back = { 1, 2 };

	/* Once the failed generation's last processes are reaped. */
	hr_check(hr_wait_for(d, settled, &back, 5000), "generation 1 alone again");
	st = hr_query_ok(d, "stats");
	hr_check_int("generation", 1, hr_jint(st, "generation"));
	hr_check_int("worker 0 (the same process)", pid0,
		     hr_jint(hr_worker(st, 0), "pid"));
	hr_check(hr_all_running(st, NULL), "the old workers run: %s",
		 hr_jdump(st));
	json_decref(st);
	hr_check_int("listening sockets (the new slot's closed)", 2,
		     hr_proc_listeners(2 /* AF_INET */, d->port, lst, 16));
	for (int i = 0; i < 20; i++)
		hr_check(http_get_ok(d->port, 2000),
			 "request %d after the rollback", i);
	hr_check_int("exit status", 0, hr_stop(d, SIGTERM));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_reload_changes_worker_count,
						hr_setup, hr_teardown),
		cmocka_unit_test_setup_teardown(test_reload_broken_config,
						hr_setup, hr_teardown),
		cmocka_unit_test_setup_teardown(test_crash_loop_backoff,
						hr_setup, hr_teardown),
		cmocka_unit_test_setup_teardown(test_http_reloads_lose_nothing,
						hr_setup, hr_teardown),
		cmocka_unit_test_setup_teardown(test_reload_rolled_back,
						hr_setup, hr_teardown),
		cmocka_unit_test_setup_teardown(test_reload_applies_limits,
						hr_setup, hr_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
