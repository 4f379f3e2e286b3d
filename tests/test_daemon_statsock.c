/* test_daemon_statsock.c - the stats socket: the shape of every document, and
 * a master that keeps answering whatever clients throw at it (binary
 * junk, a 1 MiB line, silence, half a line, clients that vanish). */
#include "autoconfig.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"

static char resp[1 << 20];

/* Exactly one JSON document, then "\n", then EOF. */
static json_t *one_doc(const char *what, const char *text, ssize_t n)
{
	json_error_t je;
	json_t *doc;

	hr_check(n > 0, "%s: expected a reply, seen %s", what,
		 n < 0 ? strerror(errno) : "EOF");
	doc = json_loadb(text, (size_t)n, JSON_DISABLE_EOF_CHECK, &je);
	hr_check(doc != NULL, "%s: expected JSON, seen (%s) %.200s", what,
		 je.text, text);
	hr_check((ssize_t)je.position == n - 1 && text[n - 1] == '\n',
		 "%s: expected one document and a newline (%zd bytes), seen the document end at %d: %.200s",
		 what, n, je.position, text);
	return doc;
}

static json_t *ask(struct hr_daemon *d, const char *req, size_t len, int shut_wr)
{
	ssize_t n = hr_ctl_raw(d->sock, req, len, shut_wr, resp, sizeof(resp),
			       8000);

	return one_doc(req, resp, n);
}

static json_t *ask_line(struct hr_daemon *d, const char *line)
{
	return ask(d, line, strlen(line), 0);
}

/* {"error": "..."} and nothing that looks like an answer. */
static void expect_error(const char *what, json_t *doc, const char *needle)
{
	const char *msg = hr_jstr(doc, "error");

	hr_check(msg[0] != '\0', "%s: expected {\"error\": ...}, seen %s", what,
		 hr_jdump(doc));
	hr_check(!needle || strstr(msg, needle),
		 "%s: expected the error to mention '%s', seen '%s'", what,
		 needle, msg);
	json_decref(doc);
}

static void expect_type(json_t *obj, const char *key, json_type type,
			const char *ctx)
{
	json_t *v = json_object_get(obj, key);

	hr_check(v != NULL, "%s: expected member \"%s\", seen %s", ctx, key,
		 hr_jdump(obj));
	hr_check(json_typeof(v) == type ||
			 (type == JSON_REAL && json_is_number(v)),
		 "%s.%s: expected JSON type %d, seen %s", ctx, key, (int)type,
		 hr_jdump(v));
}

static const char *const counters[] = {
	"accepted", "active",    "closed",   "rejected",
	"bytes_in", "bytes_out", "requests",
};

static void check_counters(json_t *obj, const char *ctx)
{
	for (size_t i = 0; i < sizeof(counters) / sizeof(counters[0]); i++) {
		expect_type(obj, counters[i], JSON_INTEGER, ctx);
		hr_check(hr_jint(obj, counters[i]) >= 0,
			 "%s.%s: expected >= 0, seen %lld", ctx, counters[i],
			 (long long)hr_jint(obj, counters[i]));
	}
}

static void check_worker_list(json_t *doc, int nworkers)
{
	json_t *ws = json_object_get(doc, "workers"), *w;
	char why[256];
	size_t i;

	hr_check(json_is_array(ws) && json_array_size(ws) == (size_t)nworkers,
		 "workers: expected an array of %d, seen %s", nworkers,
		 hr_jdump(ws));
	json_array_foreach(ws, i, w) {
		const char *st = hr_jstr(w, "state");

		expect_type(w, "id", JSON_INTEGER, "workers[]");
		expect_type(w, "pid", JSON_INTEGER, "workers[]");
		expect_type(w, "state", JSON_STRING, "workers[]");
		expect_type(w, "restarts", JSON_INTEGER, "workers[]");
		hr_check(json_is_null(json_object_get(w, "last_exit")) ||
				 json_is_string(json_object_get(w, "last_exit")),
			 "workers[%zu].last_exit: expected null or a string, seen %s",
			 i, hr_jdump(json_object_get(w, "last_exit")));
		hr_check(!strcmp(st, "running") || !strcmp(st, "starting") ||
				 !strcmp(st, "unresponsive") ||
				 !strcmp(st, "exited"),
			 "workers[%zu].state: expected running|starting|unresponsive|exited, seen '%s'",
			 i, st);
		check_counters(w, "workers[]");
	}
	expect_type(doc, "totals", JSON_OBJECT, "document");
	check_counters(json_object_get(doc, "totals"), "totals");
	hr_check(hr_totals_are_sum(doc, why, sizeof(why)) == 0, "%s", why);
}

static long read_sysctl(const char *path)
{
	FILE *f = fopen(path, "re");
	long v = -1;

	if (f) {
		if (fscanf(f, "%ld", &v) != 1)
			v = -1;
		fclose(f);
	}
	return v;
}

/* The numbers are the machine's, read the same way an operator would. */
static void check_limits(json_t *lim)
{
	static const char *const keys[] = {
		"nofile_soft",
		"nofile_hard",
		"max_connections_per_worker",
		"somaxconn",
		"tcp_max_syn_backlog",
		"tcp_migrate_req",
	};
	struct rlimit rl;
	long lo = -1, hi = -1, v;
	FILE *f;

	hr_check(json_is_object(lim), "limits: expected an object, seen %s",
		 hr_jdump(lim));
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		expect_type(lim, keys[i], JSON_INTEGER, "limits");
	hr_check(json_array_size(json_object_get(lim, "ip_local_port_range")) == 2,
		 "limits.ip_local_port_range: expected [lo, hi], seen %s",
		 hr_jdump(json_object_get(lim, "ip_local_port_range")));
	getrlimit(RLIMIT_NOFILE, &rl); /* the daemon inherits ours */
	hr_check_int("limits.nofile_hard", rl.rlim_max,
		     hr_jint(lim, "nofile_hard"));
	hr_check_int("limits.nofile_soft (raised to hard)", rl.rlim_max,
		     hr_jint(lim, "nofile_soft"));
	hr_check(hr_jint(lim, "max_connections_per_worker") > 0 &&
			 hr_jint(lim, "max_connections_per_worker") <
				 (json_int_t)rl.rlim_max,
		 "limits.max_connections_per_worker: expected 0 < cap < nofile %ld, seen %lld",
		 (long)rl.rlim_max,
		 (long long)hr_jint(lim, "max_connections_per_worker"));
	hr_check_int("limits.somaxconn",
		     read_sysctl("/proc/sys/net/core/somaxconn"),
		     hr_jint(lim, "somaxconn"));
	hr_check_int("limits.tcp_max_syn_backlog",
		     read_sysctl("/proc/sys/net/ipv4/tcp_max_syn_backlog"),
		     hr_jint(lim, "tcp_max_syn_backlog"));
	if ((v = read_sysctl("/proc/sys/net/ipv4/tcp_migrate_req")) >= 0)
		hr_check_int("limits.tcp_migrate_req", v,
			     hr_jint(lim, "tcp_migrate_req"));
	if ((f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "re"))) {
		if (fscanf(f, "%ld %ld", &lo, &hi) != 2)
			lo = hi = -1;
		fclose(f);
	}
	hr_check_int("limits.ip_local_port_range[0]", lo,
		     hr_jint(lim, "ip_local_port_range/0"));
	hr_check_int("limits.ip_local_port_range[1]", hi,
		     hr_jint(lim, "ip_local_port_range/1"));
}

static void check_stats_doc(struct hr_daemon *d, json_t *st, const char *what)
{
	json_t *l;
	size_t i;

	hr_check(json_is_object(st), "%s: expected an object, seen %s", what,
		 hr_jdump(st));
	hr_check(!strcmp(hr_jstr(st, "version"), PACKAGE_VERSION),
		 "%s.version: expected %s, seen '%s'", what, PACKAGE_VERSION,
		 hr_jstr(st, "version"));
	hr_check_int("stats.pid", d->pid, hr_jint(st, "pid"));
	expect_type(st, "uptime_s", JSON_REAL, what);
	hr_check(json_number_value(json_object_get(st, "uptime_s")) >= 0,
		 "%s.uptime_s: expected >= 0, seen %s", what,
		 hr_jdump(json_object_get(st, "uptime_s")));
	hr_check(!strcmp(hr_jstr(st, "protocol"), "echo"),
		 "%s.protocol: expected echo, seen '%s'", what,
		 hr_jstr(st, "protocol"));
	hr_check(json_array_size(json_object_get(st, "listen")) == 1,
		 "%s.listen: expected one entry, seen %s", what,
		 hr_jdump(json_object_get(st, "listen")));
	json_array_foreach(json_object_get(st, "listen"), i, l) {
		hr_check(!strcmp(hr_jstr(l, "address"), "127.0.0.1"),
			 "%s.listen[0].address: expected 127.0.0.1, seen '%s'",
			 what, hr_jstr(l, "address"));
		hr_check_int("stats.listen[0].port", d->port, hr_jint(l, "port"));
	}
	hr_check_int("stats.workers_configured", 2,
		     hr_jint(st, "workers_configured"));
	check_worker_list(st, 2);
	check_limits(json_object_get(st, "limits"));
}

static void test_command_shapes(void **state)
{
	struct hr_daemon *d = *state;
	char local[64], remote[64];
	json_t *doc, *c;
	int fd;

	hr_start_ok(d, NULL);

	doc = ask_line(d, "stats\n");
	check_stats_doc(d, doc, "stats");
	json_decref(doc);
	doc = ask_line(d, "\n");
	check_stats_doc(d, doc, "empty line");
	json_decref(doc);
	doc = ask(d, "stats", 5, 1); /* EOF ends the command too */
	check_stats_doc(d, doc, "stats then EOF");
	json_decref(doc);
	doc = ask_line(d, "ping\r\n"); /* what telnet sends */
	hr_check(json_is_true(json_object_get(doc, "pong")),
		 "ping CRLF: expected pong, seen %s", hr_jdump(doc));
	json_decref(doc);

	doc = ask_line(d, "workers\n");
	check_worker_list(doc, 2);
	json_decref(doc);

	doc = ask_line(d, "limits\n");
	check_limits(json_object_get(doc, "limits"));
	hr_check(json_is_array(json_object_get(doc, "warnings")),
		 "limits.warnings: expected an array, seen %s", hr_jdump(doc));
	for (size_t i = 0;
	     i < json_array_size(json_object_get(doc, "warnings")); i++)
		hr_check(json_is_string(
				 json_array_get(json_object_get(doc, "warnings"),
						i)),
			 "limits.warnings[%zu]: expected a string, seen %s", i,
			 hr_jdump(doc));
	json_decref(doc);

	doc = ask_line(d, "ping\n");
	hr_check(json_is_true(json_object_get(doc, "pong")),
		 "ping: expected pong true, seen %s", hr_jdump(doc));
	hr_check_int("ping.pid", d->pid, hr_jint(doc, "pid"));
	expect_type(doc, "uptime_s", JSON_REAL, "ping");
	json_decref(doc);

	doc = ask_line(d, "help\n");
	{
		static const char *const want[] = { "stats",       "workers",
						    "connections", "limits",
						    "ping",        "help" };
		json_t *cmds = json_object_get(doc, "commands"), *v;
		size_t i;

		hr_check(json_is_array(cmds),
			 "help.commands: expected an array, seen %s",
			 hr_jdump(doc));
		for (size_t k = 0; k < sizeof(want) / sizeof(want[0]); k++) {
			int found = 0;

			json_array_foreach(cmds, i, v)
				found |= json_is_string(v) &&
					 !strncmp(json_string_value(v), want[k],
						  strlen(want[k]));
			hr_check(found, "help.commands: expected '%s', seen %s",
				 want[k], hr_jdump(cmds));
		}
	}
	json_decref(doc);

	/* One client of ours: its 5-tuple, as getsockname/getpeername say. */
	fd = hr_connect_tcp(d->port);
	hr_check(fd >= 0, "connect: expected a connection, seen %s (notes above)",
		 strerror(errno));
	hr_check_int("bytes written", 5, hr_write_all(fd, "hello", 5, 5000));
	hr_check_int("bytes read back", 5, hr_read_exact(fd, resp, 5, 5000));
	hr_check(hr_endpoints(fd, local, remote, sizeof(local)) == 0,
		 "getsockname/getpeername: %s", strerror(errno));
	doc = ask_line(d, "connections\n");
	hr_check_int("connections.total", 1, hr_jint(doc, "total"));
	hr_check(json_is_false(json_object_get(doc, "truncated")),
		 "connections.truncated: expected false, seen %s", hr_jdump(doc));
	c = hr_jget(doc, "connections/0");
	hr_check(c && !strcmp(hr_jstr(c, "local"), remote) &&
			 !strcmp(hr_jstr(c, "remote"), local),
		 "connections[0]: expected local %s remote %s, seen %s", remote,
		 local, hr_jdump(c));
	expect_type(c, "worker", JSON_INTEGER, "connections[0]");
	expect_type(c, "age_ms", JSON_INTEGER, "connections[0]");
	hr_check(!strcmp(hr_jstr(c, "protocol"), "tcp"),
		 "connections[0].protocol: expected tcp, seen %s", hr_jdump(c));
	hr_check_int("connections[0].bytes_in", 5, hr_jint(c, "bytes_in"));
	hr_check_int("connections[0].bytes_out", 5, hr_jint(c, "bytes_out"));
	json_decref(doc);
	close(fd);

	doc = ask_line(d, "connections 1000000\n"); /* the largest LIMIT */
	hr_check(json_is_array(json_object_get(doc, "connections")),
		 "connections 1000000: expected the connections document, seen %s",
		 hr_jdump(doc));
	json_decref(doc);
	/* One command per connection: the second line is not answered. */
	doc = ask_line(d, "ping\nhelp\n");
	hr_check(json_is_true(json_object_get(doc, "pong")),
		 "two lines: expected only the first (ping) answered, seen %s",
		 hr_jdump(doc));
	json_decref(doc);

	expect_error("foo", ask_line(d, "foo\n"), "foo");
	expect_error("connections abc", ask_line(d, "connections abc\n"), NULL);
	expect_error("connections -5", ask_line(d, "connections -5\n"), NULL);
	hr_check_int("exit status after SIGTERM", 0, hr_stop(d, SIGTERM));
}

/* The master still answers, as the same process, with every worker as
 * it was. */
static void check_still_serving(struct hr_daemon *d, const char *after)
{
	json_t *st = hr_query(d, "stats");
	char why[256];

	hr_check(st != NULL, "after %s: expected stats to answer, seen nothing",
		 after);
	hr_check_int("master pid", d->pid, hr_jint(st, "pid"));
	hr_check(hr_all_running(st, NULL),
		 "after %s: expected every worker running, seen %s", after,
		 hr_jdump(st));
	hr_check_int("worker 0 restarts", 0,
		     hr_jint(hr_worker(st, 0), "restarts"));
	hr_check_int("worker 1 restarts", 0,
		     hr_jint(hr_worker(st, 1), "restarts"));
	hr_check(hr_totals_are_sum(st, why, sizeof(why)) == 0, "after %s: %s",
		 after, why);
	json_decref(st);
}

static void test_junk_and_abuse(void **state)
{
	struct hr_daemon *d = *state;
	enum { SILENT = 20, VANISH = 30, BURST = 50 };
	static char big[(1 << 20) + 1];
	int silent[SILENT], slow, fds[BURST];
	int64_t t_silent, t0;
	char junk[300];
	json_t *doc;

	hr_start_ok(d, NULL);

	/* Clients that connect and say nothing, kept open meanwhile. */
	t_silent = hr_now_ms();
	for (int i = 0; i < SILENT; i++) {
		silent[i] = hr_ctl_connect(d->sock, 5000);
		hr_check(silent[i] >= 0, "connect: expected a connection, seen %s",
			 strerror(errno));
	}

	t0 = hr_now_ms();
	doc = ask_line(d, "ping\n");
	hr_check(json_is_true(json_object_get(doc, "pong")),
		 "ping beside %d silent clients: expected pong, seen %s",
		 SILENT, hr_jdump(doc));
	json_decref(doc);
	hr_check(hr_now_ms() - t0 < 4000,
		 "ping beside silent clients: expected an answer at once, seen %lld ms",
		 (long long)(hr_now_ms() - t0));

	/* Binary junk, with a newline, and with only EOF after it. */
	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (char)hr_payload_byte(11, 0, i);
	junk[0] = '\0';
	junk[1] = (char)0xff;
	junk[sizeof(junk) - 1] = '\n';
	for (size_t i = 0; i + 1 < sizeof(junk); i++)
		if (junk[i] == '\n')
			junk[i] = 'x';
	expect_error("binary junk line", ask(d, junk, sizeof(junk), 0), NULL);
	expect_error("binary junk then EOF", ask(d, junk, sizeof(junk) - 1, 1),
		     NULL);

	/* Over the 4096-byte line limit, printable and with its newline. */
	memset(big, 'A', 5000);
	big[5000] = '\n';
	expect_error("5000-byte line", ask(d, big, 5001, 0), "too long");

	/* A 1 MiB line: refused at the line limit, not read forever. */
	memset(big, 'A', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\n';
	expect_error("1 MiB line", ask(d, big, sizeof(big), 0), "too long");
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (char)(hr_payload_byte(12, 0, i) | 1); /* no '\n' (0x0a) */
	expect_error("1 MiB of binary, no newline", ask(d, big, sizeof(big), 0),
		     NULL);
	check_still_serving(d, "junk");

	/* Half a command, a pause (another client is served), the rest. */
	slow = hr_ctl_connect(d->sock, 5000);
	hr_check(slow >= 0,
		 "connect: expected a connection, seen %s (notes above)",
		 strerror(errno));
	hr_check_int("bytes written", 2, hr_write_all(slow, "pi", 2, 5000));
	doc = ask_line(d, "workers\n");
	hr_check(json_is_array(json_object_get(doc, "workers")),
		 "workers beside a half-sent command: expected the workers document, seen %s",
		 hr_jdump(doc));
	json_decref(doc);
	hr_check_int("bytes written", 3, hr_write_all(slow, "ng\n", 3, 5000));
	{
		ssize_t n = hr_read_until_eof(slow, resp, sizeof(resp) - 1, 8000);

		doc = one_doc("ping sent in two parts", resp, n);
		hr_check(json_is_true(json_object_get(doc, "pong")),
			 "ping sent in two parts: expected pong, seen %s",
			 hr_jdump(doc));
		json_decref(doc);
	}
	close(slow);

	/* Clients that ask and vanish before the answer. */
	for (int i = 0; i < VANISH; i++) {
		int fd = hr_ctl_connect(d->sock, 5000);
		const char *cmd = i % 2 ? "connections\n" : "stats\n";

		hr_check(fd >= 0,
			 "connect: expected a connection, seen %s (notes above)",
			 strerror(errno));
		hr_check_int("bytes written", (ssize_t)strlen(cmd),
			     hr_write_all(fd, cmd, strlen(cmd), 5000));
		close(fd);
	}
	check_still_serving(d, "clients that vanished");

	/* Many at once: every one gets its own answer. */
	for (int i = 0; i < BURST; i++) {
		fds[i] = hr_ctl_connect(d->sock, 5000);
		hr_check(fds[i] >= 0, "connect: expected a connection, seen %s",
			 strerror(errno));
		hr_check_int("bytes written", 5,
			     hr_write_all(fds[i], "ping\n", 5, 5000));
	}
	for (int i = 0; i < BURST; i++) {
		ssize_t n = hr_read_until_eof(fds[i], resp, sizeof(resp) - 1,
					      8000);

		doc = one_doc("ping in a burst", resp, n);
		hr_check(json_is_true(json_object_get(doc, "pong")),
			 "ping %d of a burst of %d: expected pong, seen %s", i,
			 BURST, hr_jdump(doc));
		json_decref(doc);
		close(fds[i]);
	}

	/* The silent ones are shown the door after the read timeout (5 s). */
	for (int i = 0; i < SILENT; i++)
		hr_check(hr_wait_closed(silent[i],
					10000 - (int)(hr_now_ms() - t_silent)),
			 "silent client %d: expected closed by the daemon within 10 s, seen open",
			 i);
	hr_check(hr_now_ms() - t_silent >= 4000,
		 "silent clients: expected to be given ~5 s, seen closed after %lld ms",
		 (long long)(hr_now_ms() - t_silent));
	hr_close_all(silent, SILENT);
	check_still_serving(d, "silent clients");
	hr_check_int("exit status after SIGTERM", 0, hr_stop(d, SIGTERM));
}

/* A listing waits for the workers up to stats_timeout; a worker that
 * dies meanwhile will never answer, so the wait ends with its death, not
 * at the deadline. `stats` does not wait at all: its counters are in
 * memory the master reads. */
static void test_dead_worker_ends_the_wait(void **state)
{
	struct hr_daemon *d = *state;
	char conf[160];
	struct pollfd p;
	pid_t victim;
	int64_t t0;
	json_t *doc;
	FILE *f;
	int fd;

	snprintf(conf, sizeof(conf), "%s/slow.conf", d->dir);
	f = fopen(conf, "w");
	hr_check(f != NULL, "%s: %s", conf, strerror(errno));
	fprintf(f, "stats_timeout 30s\n");
	fclose(f);
	const char *args[] = { "-c", conf, NULL };

	hr_start_ok(d, args);
	doc = hr_query_ok(d, "stats");
	victim = (pid_t)hr_jint(hr_worker(doc, 1), "pid");
	json_decref(doc);
	hr_check_int("kill(worker 1, SIGSTOP)", 0, kill(victim, SIGSTOP));
	fd = hr_ctl_connect(d->sock, 5000);
	hr_check(fd >= 0, "connect: %s", strerror(errno));
	hr_check_int("bytes written", 12,
		     hr_write_all(fd, "connections\n", 12, 5000));
	/* A stopped worker cannot answer: the listing (worker 0's rows may
	 * have come already) does not end. */
	p = (struct pollfd){ .fd = fd, .events = POLLIN | POLLRDHUP };
	poll(&p, 1, 500);
	hr_check(!(p.revents & POLLRDHUP),
		 "the listing ended while worker 1 was stopped");
	doc = hr_query_ok(d, "stats"); /* meanwhile, at once */
	hr_check_int("stats lists both workers", 2,
		     json_array_size(json_object_get(doc, "workers")));
	json_decref(doc);
	t0 = hr_now_ms();
	hr_check_int("kill(worker 1, SIGKILL)", 0, kill(victim, SIGKILL));
	doc = one_doc("connections while a worker died", resp,
		      hr_read_until_eof(fd, resp, sizeof(resp) - 1, 10000));
	close(fd);
	hr_check(hr_now_ms() - t0 < 10000,
		 "expected the answer once the worker died, seen it after %lld ms (stats_timeout 30 s)",
		 (long long)(hr_now_ms() - t0));
	hr_check(json_is_array(json_object_get(doc, "connections")),
		 "a listing: %s", hr_jdump(doc));
	hr_check(json_is_true(json_object_get(doc, "partial")) &&
			 strstr(hr_jdump(json_object_get(doc, "missing")),
				"exited"),
		 "marked partial, the worker's death as the reason: %s",
		 hr_jdump(doc));
	json_decref(doc);
	hr_check_int("exit status after SIGTERM", 0, hr_stop(d, SIGTERM));
}

/* The state letter of /proc/PID/stat (R, S, T...), or '?'. */
static char proc_state(pid_t pid)
{
	char path[64], buf[512], *p;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	if (!(f = fopen(path, "re")))
		return '?';
	p = fgets(buf, sizeof(buf), f);
	fclose(f);
	return p && (p = strrchr(buf, ')')) && p[1] == ' ' ? p[2] : '?';
}

static void wait_state(pid_t pid, char state, const char *who)
{
	int64_t deadline = hr_now_ms() + 10000;

	while (proc_state(pid) != state) {
		hr_check(hr_now_ms() < deadline,
			 "%s (pid %ld): expected state %c, seen %c", who,
			 (long)pid, state, proc_state(pid));
		poll(NULL, 0, 2);
	}
}

/* A listing's client hangs up while the last page is on its way: the
 * master, stopped meanwhile, finds the page before the hang-up in one
 * turn, and its end of the document cannot be written. It freed the
 * listing twice and crashed (test_junk_and_abuse's clients that vanish
 * met it now and then, on a loaded host). */
static void test_listing_client_gone_with_last_page(void **state)
{
	struct hr_daemon *d = *state;
	pid_t w[2];
	char head[32];
	json_t *doc;
	int fd;

	hr_start_ok(d, NULL);
	doc = hr_query_ok(d, "stats");
	for (int i = 0; i < 2; i++)
		w[i] = (pid_t)hr_jint(hr_worker(doc, i), "pid");
	json_decref(doc);
	for (int i = 0; i < 2; i++) {
		hr_check_int("kill(worker, SIGSTOP)", 0, kill(w[i], SIGSTOP));
		wait_state(w[i], 'T', "worker");
	}
	fd = hr_ctl_connect(d->sock, 5000);
	hr_check(fd >= 0, "connect: %s", strerror(errno));
	hr_check_int("bytes written", 12,
		     hr_write_all(fd, "connections\n", 12, 5000));
	/* The document's start: the master asked the workers in the same
	 * turn, and waits for their pages once it sleeps again. */
	hr_check(hr_read_exact(fd, head, 16, 5000) == 16 &&
			 !memcmp(head, "{\"connections\":[", 16),
		 "the listing's start: expected {\"connections\":[");
	wait_state(d->pid, 'S', "master");
	hr_check_int("kill(master, SIGSTOP)", 0, kill(d->pid, SIGSTOP));
	wait_state(d->pid, 'T', "master");
	/* The pages come, then the hang-up. */
	for (int i = 0; i < 2; i++) {
		hr_check_int("kill(worker, SIGCONT)", 0, kill(w[i], SIGCONT));
		wait_state(w[i], 'S', "worker, its page sent");
	}
	close(fd);
	hr_check_int("kill(master, SIGCONT)", 0, kill(d->pid, SIGCONT));
	check_still_serving(d, "a listing's client gone with its last page");
	hr_check_int("exit status after SIGTERM", 0, hr_stop(d, SIGTERM));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_command_shapes, hr_setup,
						hr_teardown),
		cmocka_unit_test_setup_teardown(test_junk_and_abuse, hr_setup,
						hr_teardown),
		cmocka_unit_test_setup_teardown(test_dead_worker_ends_the_wait,
						hr_setup, hr_teardown),
		cmocka_unit_test_setup_teardown(test_listing_client_gone_with_last_page,
						hr_setup, hr_teardown),
	};

	return cmocka_run_group_tests_name("daemon_ctl", tests, NULL, NULL);
}
