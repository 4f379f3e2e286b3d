/* test_listen_reload.c - reloads that change the listen addresses: an
 * added address is served as soon as the reload answers; a removed one
 * is drained before it closes, so that clients connecting to it all
 * along see their connection refused, never reset once accepted; an
 * address that cannot be bound, or a generation that cannot start,
 * leaves the listeners as they were. 127.0.0.2 is loopback too (all of
 * 127/8 is, on Linux). */
#include "autoconfig.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "loadgen.h"

#ifndef RC_BIN
#error "build with -DRC_BIN=\"/path/to/src/reuseportctl\""
#endif

#define LO1 "127.0.0.1"
#define LO2 "127.0.0.2"
#define LO2_IP 0x7f000002u

/* DIR/reuseportd.conf, replaced whole (a reload never reads half). */
static void conf(struct hr_daemon *d, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void conf(struct hr_daemon *d, const char *fmt, ...)
{
	char path[200], tmp[210];
	va_list ap;
	FILE *f;

	snprintf(path, sizeof(path), "%s/reuseportd.conf", d->dir);
	snprintf(tmp, sizeof(tmp), "%s.new", path);
	f = fopen(tmp, "w");
	hr_check(f != NULL, "%s: %s", tmp, strerror(errno));
	va_start(ap, fmt);
	vfprintf(f, fmt, ap);
	va_end(ap);
	hr_check(fclose(f) == 0 && rename(tmp, path) == 0, "%s: %s", path,
		 strerror(errno));
}

/* The ports of the listen addresses, in the configuration's order. */
static int ports_of(struct hr_daemon *d, int *ports, int max)
{
	json_t *st = hr_query_ok(d, "stats");
	json_t *l = json_object_get(st, "listen");
	int n = (int)json_array_size(l);

	for (int i = 0; i < n && i < max; i++)
		ports[i] = (int)json_integer_value(
			json_object_get(json_array_get(l, (size_t)i), "port"));
	json_decref(st);
	return n;
}

/* The daemon on the file alone (no -l or -w on the command line, which
 * would override it at every reload). */
static void start(struct hr_daemon *d)
{
	char path[200];

	snprintf(path, sizeof(path), "%s/reuseportd.conf", d->dir);
	const char *args[] = { "-f", "-s", d->sock, "-c", path, NULL };

	hr_check(hr_spawn(d, args) == 0, "spawn");
	hr_check(hr_wait_for(d, hr_all_running, NULL, HR_START_MS), "start-up");
	d->nlisten = ports_of(d, d->ports, HR_MAX_LISTEN);
	d->port = d->ports[0];
}

/* A connected socket to ip:port, or -errno (ETIMEDOUT at the deadline). */
static int connect_to(const char *ip, int port, int timeout_ms)
{
	struct sockaddr_in sin = { .sin_family = AF_INET,
				   .sin_port = htons((uint16_t)port) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	struct pollfd p = { fd, POLLOUT, 0 };
	int err = 0;
	socklen_t len = sizeof(err);

	inet_pton(AF_INET, ip, &sin.sin_addr);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0 &&
	    errno != EINPROGRESS)
		err = errno;
	else if (poll(&p, 1, timeout_ms) != 1)
		err = ETIMEDOUT;
	else
		getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
	if (err) {
		close(fd);
		return -err;
	}
	return fd;
}

/* One connection to ip:port echoes 100 bytes: 0, or -1 with a note. */
static int echo_at(const char *ip, int port)
{
	char out[100], in[100];
	int fd = connect_to(ip, port, 5000);

	if (fd < 0) {
		hr_note("connect %s:%d: %s", ip, port, strerror(-fd));
		return -1;
	}
	for (size_t i = 0; i < sizeof(out); i++)
		out[i] = (char)hr_payload_byte(7, (uint32_t)port, i);
	int ok = hr_write_all(fd, out, sizeof(out), 5000) == sizeof(out) &&
		 hr_read_exact(fd, in, sizeof(in), 5000) == sizeof(in) &&
		 !memcmp(in, out, sizeof(in));

	close(fd);
	return ok ? 0 : -1;
}

/* `reload` on the stats socket: its answer, which the test owns. */
static json_t *reload(struct hr_daemon *d)
{
	json_t *ans = hr_query(d, "reload");

	hr_check(ans != NULL, "reload: no answer");
	hr_note("reload: %s", hr_jdump(ans));
	return ans;
}

static void check_done(json_t *ans, int nadded, int nremoved)
{
	hr_check(!strcmp(hr_jstr(ans, "reload"), "done"),
		 "reload: expected done, seen %s", hr_jdump(ans));
	hr_check_int("addresses added", nadded,
		     json_array_size(hr_jget(ans, "listen/added")));
	hr_check_int("addresses removed", nremoved,
		     json_array_size(hr_jget(ans, "listen/removed")));
}

/* An address added by a reload is served once it answers, the old one
 * still is, and a port 0 asked again keeps its port. */
static void test_reload_adds_address(void **state)
{
	struct hr_daemon *d = *state;
	char want[64];
	int ports[4];
	json_t *ans;

	conf(d, "listen " LO1 ":0\nworkers 2\n");
	start(d);
	conf(d, "listen " LO1 ":0\nlisten " LO2 ":0\nworkers 2\n");
	ans = reload(d);
	check_done(ans, 1, 0);
	hr_check_int("listen addresses", 2, ports_of(d, ports, 4));
	hr_check_int("the first address's port (kept)", d->port, ports[0]);
	snprintf(want, sizeof(want), LO2 ":%d", ports[1]);
	hr_check(!strcmp(hr_jstr(ans, "listen/added/0"), want),
		 "added: expected %s, seen %s", want,
		 hr_jstr(ans, "listen/added/0"));
	json_decref(ans);
	for (int i = 0; i < 20; i++) {
		hr_check(echo_at(LO2, ports[1]) == 0, "added address, %d", i);
		hr_check(echo_at(LO1, d->port) == 0, "old address, %d", i);
	}
	snprintf(want, sizeof(want), "listen: added " LO2 ":%d", ports[1]);
	hr_check(hr_log_contains(d, want), "the log says '%s'", want);
	/* The same file again: nothing changes, ports included. */
	ans = reload(d);
	check_done(ans, 0, 0);
	json_decref(ans);
	int again[4];

	hr_check_int("listen addresses", 2, ports_of(d, again, 4));
	hr_check(again[0] == ports[0] && again[1] == ports[1],
		 "ports kept: %d %d, seen %d %d", ports[0], ports[1], again[0],
		 again[1]);
	hr_check_int("exit status", 0, hr_stop(d, SIGTERM));
}

/* Waits until both loads have finished at least n more connections. */
static void wait_progress(struct lg *a, struct lg *b, uint64_t n)
{
	uint64_t a0 = a->progress, b0 = b->progress;
	int64_t end = hr_now_ms() + 10000;

	while (a->progress < a0 + n || b->progress < b0 + n) {
		hr_check(hr_now_ms() < end,
			 "expected %llu more connections each, seen %llu and %llu",
			 (unsigned long long)n,
			 (unsigned long long)(a->progress - a0),
			 (unsigned long long)(b->progress - b0));
		poll(NULL, 0, 5);
	}
}

/* An address removed while clients connect to it all along: each
 * connection the kernel accepted is served to its last byte (resets,
 * short echoes: 0); the clients that connect after it stopped are
 * refused, and once the reload answers, a connect is refused at once.
 * The address that stays serves throughout. */
static void test_reload_removes_address_under_load(void **state)
{
	struct hr_daemon *d = *state;
	struct lg gone, kept;
	char desc[400], want[64];
	unsigned long lst[8];
	int ports[4], fd;
	json_t *ans;

	conf(d, "listen " LO1 ":0\nlisten " LO2 ":0\nworkers 2\n");
	start(d);
	hr_check_int("listen addresses", 2, d->nlisten);
	hr_check(lg_start_ip(&gone, LO2_IP, d->ports[1], 32, 100, UINT64_MAX,
			     20000) == 0,
		 "load on the address to remove");
	hr_check(lg_start(&kept, d->port, 8, 100, UINT64_MAX, 20000) == 0,
		 "load on the address that stays");
	wait_progress(&gone, &kept, 300);
	conf(d, "listen " LO1 ":0\nworkers 2\n");
	ans = reload(d);
	check_done(ans, 0, 1);
	snprintf(want, sizeof(want), LO2 ":%d", d->ports[1]);
	hr_check(!strcmp(hr_jstr(ans, "listen/removed/0"), want),
		 "removed: expected %s, seen %s", want,
		 hr_jstr(ans, "listen/removed/0"));
	json_decref(ans);
	/* The connects it still has under way were dropped with their SYN:
	 * refused when it is re-sent. */
	lg_join(&gone, 1);
	fd = connect_to(LO2, d->ports[1], 2000);
	hr_check_int("connect to the removed address after the reload",
		     -ECONNREFUSED, fd);
	wait_progress(&kept, &kept, 300);
	lg_join(&kept, 1);
	hr_note("removed address: %s", lg_describe(&gone, desc, sizeof(desc)));
	hr_check(gone.c.done > 0, "served before the reload: %s", desc);
	hr_check_int("resets on the removed address", 0, gone.c.resets);
	hr_check_int("short echoes on the removed address", 0, gone.c.short_echo);
	hr_check_int("mismatches on the removed address", 0, gone.c.mismatch);
	hr_check_int("hung connections on the removed address", 0,
		     gone.c.timeouts);
	hr_check(lg_failures(&kept.c) == 0, "the address that stays: %s",
		 lg_describe(&kept, desc, sizeof(desc)));
	hr_check_int("listeners left on the removed port", 0,
		     hr_proc_listeners(AF_INET, d->ports[1], lst, 8));
	hr_check(hr_log_contains(d, "queues are drained; closed"),
		 "the log says the drain is over");
	hr_check_int("listen addresses", 1, ports_of(d, ports, 4));
	hr_check_int("exit status", 0, hr_stop(d, SIGTERM));
}

/* Connects n clients to ip:port (each connect completed by the kernel). */
static void connect_n(const char *ip, int port, int *fds, int n)
{
	for (int i = 0; i < n; i++) {
		fds[i] = connect_to(ip, port, 5000);
		hr_check(fds[i] >= 0, "connect %d to %s:%d: %s", i, ip, port,
			 strerror(-fds[i]));
	}
}

/* Connections to the removed address that its old workers hold, and
 * others waiting in its accept queues (the old workers are stopped, so
 * nobody has accepted them) when the reload removes it: the waiting
 * ones are served by the new workers before the old ones run again,
 * the held ones afterwards; none is reset with the listener. */
static void test_reload_removes_address_with_queued(void **state)
{
	enum { HELD = 8, QUEUED = 16 };
	struct hr_daemon *d = *state;
	int held[HELD], queued[QUEUED];
	size_t lens[QUEUED];
	pid_t old[2];
	char err[256];
	json_t *st;

	for (int i = 0; i < QUEUED; i++)
		lens[i] = 100;
	conf(d, "listen " LO1 ":0\nlisten " LO2 ":0\nworkers 2\n");
	start(d);
	connect_n(LO2, d->ports[1], held, HELD);
	hr_check(hr_echo_many(held, HELD, lens, 1, 5000, err, sizeof(err)) == 0,
		 "held before: %s", err);
	st = hr_query_ok(d, "workers");
	for (int i = 0; i < 2; i++) {
		old[i] = (pid_t)hr_jint(hr_worker(st, i), "pid");
		hr_check(old[i] > 0 && kill(old[i], SIGSTOP) == 0, "SIGSTOP %d",
			 (int)old[i]);
	}
	json_decref(st);
	connect_n(LO2, d->ports[1], queued, QUEUED);
	conf(d, "listen " LO1 ":0\nworkers 2\n");
	json_t *ans = reload(d);

	check_done(ans, 0, 1);
	json_decref(ans);
	hr_check(hr_echo_many(queued, QUEUED, lens, 2, 5000, err, sizeof(err)) == 0,
		 "queued at the removal: %s", err);
	for (int i = 0; i < 2; i++)
		kill(old[i], SIGCONT);
	hr_check(hr_echo_many(held, HELD, lens, 3, 5000, err, sizeof(err)) == 0,
		 "held at the removal: %s", err);
	hr_close_all(held, HELD);
	hr_close_all(queued, QUEUED);
	hr_check_int("exit status", 0, hr_stop(d, SIGTERM));
}

/* reuseportctl's exit status (its output in out). */
static int ctl_reload(struct hr_daemon *d, char *out, size_t len)
{
	char cmd[300];
	size_t n;
	FILE *p;
	int st;

	snprintf(cmd, sizeof(cmd), "'%s' -s '%s' reload 2>&1", RC_BIN, d->sock);
	p = popen(cmd, "r");
	hr_check(p != NULL, "popen: %s", strerror(errno));
	n = fread(out, 1, len - 1, p);
	out[n] = '\0';
	st = pclose(p);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* A held port: the reload fails as a whole with the reason, on the
 * stats socket and from reuseportctl (non-zero), the workers, count and
 * listeners unchanged; once the port is free, the same reload works. */
static void test_reload_unbindable_address(void **state)
{
	struct hr_daemon *d = *state;
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t len = sizeof(sin);
	char out[600], want[96];
	unsigned long lst[8];
	json_t *ans, *st;
	int held, q;

	conf(d, "listen " LO1 ":0\nworkers 2\n");
	start(d);
	st = hr_query_ok(d, "workers");
	json_int_t pid0 = hr_jint(st, "workers/0/pid");

	json_decref(st);
	held = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	hr_check(bind(held, (struct sockaddr *)&sin, sizeof(sin)) == 0 &&
			 listen(held, 1) == 0 &&
			 getsockname(held, (struct sockaddr *)&sin, &len) == 0,
		 "a port of our own: %s", strerror(errno));
	q = ntohs(sin.sin_port);
	conf(d, "listen " LO1 ":0\nlisten " LO1 ":%d\nworkers 3\n", q);
	ans = reload(d);
	snprintf(want, sizeof(want),
		 "cannot listen on " LO1 ":%d: Address already in use", q);
	hr_check(strstr(hr_jstr(ans, "error"), want) != NULL,
		 "expected '%s', seen %s", want, hr_jdump(ans));
	json_decref(ans);
	hr_check(ctl_reload(d, out, sizeof(out)) != 0 && strstr(out, want),
		 "reuseportctl reload: expected a failure saying '%s', seen '%s'",
		 want, out);
	st = hr_query_ok(d, "stats");
	hr_check_int("generation", 1, hr_jint(st, "generation"));
	hr_check_int("workers configured", 2, hr_jint(st, "workers_configured"));
	hr_check_int("worker 0 (the same process)", pid0,
		     hr_jint(hr_worker(st, 0), "pid"));
	hr_check_int("listen addresses", 1,
		     json_array_size(json_object_get(st, "listen")));
	json_decref(st);
	hr_check_int("listeners on the held port (ours alone)", 1,
		     hr_proc_listeners(AF_INET, q, lst, 8));
	hr_check(echo_at(LO1, d->port) == 0, "still served");
	close(held);
	hr_check_int("reuseportctl reload once the port is free", 0,
		     ctl_reload(d, out, sizeof(out)));
	snprintf(want, sizeof(want), "listen: added " LO1 ":%d", q);
	hr_check(strstr(out, want), "reuseportctl: expected '%s', seen '%s'",
		 want, out);
	hr_check(echo_at(LO1, q) == 0, "the added address is served");
	hr_check_int("exit status", 0, hr_stop(d, SIGTERM));
}

/* The port the log says a reload added for this "IP:", or -1. */
static int added_port(struct hr_daemon *d, const char *ip)
{
	char *log = hr_log_read(d), *at, needle[64];
	int port = -1;

	snprintf(needle, sizeof(needle), "listen: added %s", ip);
	if (log && (at = strstr(log, needle)))
		port = atoi(at + strlen(needle));
	free(log);
	return port;
}

/* A reload that adds one address and removes another, whose workers
 * cannot start: rolled back, the removed address still served, the
 * added one closed. */
static void test_reload_rolled_back_keeps_listeners(void **state)
{
	struct hr_daemon *d = *state;
	char root[200];
	unsigned long lst[8];
	int ports[4], added;
	json_t *ans;

	snprintf(root, sizeof(root), "%s/www", d->dir);
	hr_check(mkdir(root, 0755) == 0, "mkdir");
	conf(d, "listen " LO1 ":0\nlisten " LO2 ":0\nworkers 2\nprotocol echo\n");
	start(d);
	conf(d,
	     "listen " LO1
	     ":0\nlisten 127.0.0.3:0\nworkers 2\nprotocol http\ndocroot %s/gone\n",
	     root);
	ans = reload(d);
	hr_check(strstr(hr_jstr(ans, "error"), "back to generation 1") != NULL,
		 "expected a rollback, seen %s", hr_jdump(ans));
	json_decref(ans);
	hr_check_int("listen addresses", 2, ports_of(d, ports, 4));
	hr_check(ports[0] == d->ports[0] && ports[1] == d->ports[1],
		 "ports: expected %d %d, seen %d %d", d->ports[0], d->ports[1],
		 ports[0], ports[1]);
	for (int i = 0; i < 10; i++)
		hr_check(echo_at(LO2, d->ports[1]) == 0 &&
				 echo_at(LO1, d->port) == 0,
			 "both addresses served after the rollback, %d", i);
	added = added_port(d, "127.0.0.3:");
	hr_check(added > 0, "the log names the port 127.0.0.3 was given");
	for (int64_t end = hr_now_ms() + 5000;
	     hr_proc_listeners(AF_INET, added, lst, 8) > 0;)
		hr_check(hr_now_ms() < end, "the added listeners close");
	for (int p = 0; p < 2; p++)
		hr_check_int("listeners of a kept address (one per slot)", 2,
			     hr_proc_listeners(AF_INET, ports[p], lst, 8));
	hr_check_int("exit status", 0, hr_stop(d, SIGTERM));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_reload_adds_address,
						hr_setup, hr_teardown),
		cmocka_unit_test_setup_teardown(test_reload_removes_address_under_load,
						hr_setup, hr_teardown),
		cmocka_unit_test_setup_teardown(test_reload_removes_address_with_queued,
						hr_setup, hr_teardown),
		cmocka_unit_test_setup_teardown(test_reload_unbindable_address,
						hr_setup, hr_teardown),
		cmocka_unit_test_setup_teardown(test_reload_rolled_back_keeps_listeners,
						hr_setup, hr_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
