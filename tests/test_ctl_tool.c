/* test_ctl_tool.c - the built reuseportctl against a fake stats server.
 *
 * The fake is a forked child that listens on a Unix socket in a temp dir
 * and answers each command line with a canned document from the stats
 * socket protocol, logging the lines it got. Its socket listens before
 * the fork returns, so no test waits for it to start. The tool runs as a
 * child process with its output on pipes, under a deadline. */
#include "autoconfig.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#ifndef RC_BIN
#error "build with -DRC_BIN=\"/path/to/src/reuseportctl\""
#endif
#ifndef RC_DEFAULT_SOCKET
#error "build with -DRC_DEFAULT_SOCKET=\"/run/reuseportd/reuseportd.sock\""
#endif

#define RUN_MS 15000 /* one run of the tool, ASan builds included */
#define FAKE_READ_MS 2000

/* --- canned documents (the protocol's examples, with numbers) --- */

#define COUNTERS(acc, act, bin, bout) \
	"\"accepted\":" #acc ",\"active\":" #act ",\"closed\":0,\"rejected\":0," \
	"\"lost\":0,\"bytes_in\":" #bin ",\"bytes_out\":" #bout \
	",\"requests\":0," \
	"\"accept_paused\":0"

#define WORKERS \
	"[{\"id\":0,\"pid\":4243,\"state\":\"running\",\"restarts\":0,\"generation\":1," \
	"\"last_exit\":null," COUNTERS( \
		100, 7, 2048, \
		2048) "}," \
		      "{\"id\":1,\"pid\":4244,\"state\":\"running\",\"restarts\":1,\"generation\":1," \
		      "\"last_exit\":\"signal 9\"," COUNTERS(60, 3, 1024, 1024) "}]"
#define TOTALS "{" COUNTERS(160, 10, 3072, 3072) "}"
#define LIMITS \
	"{\"nofile_soft\":20000,\"nofile_hard\":20000,\"max_connections_per_worker\":19900," \
	"\"somaxconn\":4096,\"tcp_max_syn_backlog\":512," \
	"\"ip_local_port_range\":[32768,60999],\"tcp_migrate_req\":0,\"backlog\":4096}"

static const char doc_stats[] =
	"{\"version\":\"0.1.0\",\"pid\":4242,\"uptime_s\":12.5,\"protocol\":\"echo\","
	"\"generation\":1,\"listen\":[{\"address\":\"127.0.0.1\",\"port\":40123}],"
	"\"workers_configured\":2,\"totals\":" TOTALS ",\"workers\":" WORKERS
	",\"limits\":" LIMITS "}";
static const char doc_workers[] = "{\"workers\":" WORKERS ",\"totals\":" TOTALS "}";
static const char doc_conns[] =
	"{\"total\":3,\"truncated\":false,\"connections\":["
	"{\"worker\":0,\"local\":\"127.0.0.1:40123\",\"remote\":\"127.0.0.1:51234\","
	"\"protocol\":\"tcp\",\"state\":\"ESTABLISHED\",\"age_ms\":1234,\"bytes_in\":5,\"bytes_out\":5},"
	"{\"worker\":1,\"local\":\"127.0.0.1:40123\",\"remote\":\"127.0.0.1:51236\","
	"\"protocol\":\"tcp\",\"state\":\"ESTABLISHED\",\"age_ms\":99,\"bytes_in\":5,\"bytes_out\":5},"
	"{\"worker\":1,\"local\":\"127.0.0.1:40123\",\"remote\":\"127.0.0.2:40000\","
	"\"protocol\":\"tcp\",\"state\":\"ESTABLISHED\",\"age_ms\":5,\"bytes_in\":0,\"bytes_out\":0}]}";
static const char doc_limits[] =
	"{\"limits\":" LIMITS
	",\"warnings\":[\"somaxconn 4096 limits the backlog\"]}";
static const char doc_ping[] = "{\"pong\":true,\"pid\":4242,\"uptime_s\":1.2}";
static const char doc_error[] = "{\"error\":\"out of memory\"}";
static const char prom_text[] =
	"# HELP reuseportd_up Test.\n# TYPE reuseportd_up gauge\nreuseportd_up 1\n";

/* --- the fake stats server --- */

enum fake_mode {
	FAKE_OLD,    /* knows no `prometheus` (answers unknown command) */
	FAKE_PROM,   /* answers `prometheus` with exposition text */
	FAKE_ERROR,  /* answers everything with {"error": ...} */
	FAKE_SILENT, /* reads the command and never answers */
};

struct fake {
	pid_t pid;
	char dir[64];
	char sock[108];
	char log[128];
};

/* `stats` counters move between requests, so top has rates to show. */
static char *fake_stats(unsigned n)
{
	json_t *doc = json_loads(doc_stats, 0, NULL);
	json_t *w0 = json_array_get(json_object_get(doc, "workers"), 0);
	char *text;

	json_object_set_new(json_object_get(doc, "totals"), "accepted",
			    json_integer(160 + 50 * (json_int_t)n));
	json_object_set_new(w0, "accepted",
			    json_integer(100 + 50 * (json_int_t)n));
	text = json_dumps(doc, JSON_COMPACT);
	json_decref(doc);
	return text;
}

static char *fake_answer(enum fake_mode mode, const char *line, unsigned *nstats)
{
	char word[32] = "";

	if (mode == FAKE_ERROR)
		return strdup(doc_error);
	sscanf(line, "%31s", word);
	if (!strcmp(word, "stats") || !word[0])
		return fake_stats((*nstats)++);
	if (!strcmp(word, "workers"))
		return strdup(doc_workers);
	if (!strcmp(word, "connections"))
		return strdup(doc_conns);
	if (!strcmp(word, "limits"))
		return strdup(doc_limits);
	if (!strcmp(word, "ping"))
		return strdup(doc_ping);
	if (!strcmp(word, "prometheus") && mode == FAKE_PROM)
		return strdup(prom_text);
	return strdup("{\"error\":\"unknown command 'x' (try 'help')\"}");
}

/* Reads one command line (to "\n" or EOF) under a deadline. */
static int fake_read_line(int fd, char *line, size_t len)
{
	size_t used = 0;
	struct pollfd p = { .fd = fd, .events = POLLIN };

	while (used + 1 < len) {
		ssize_t n;

		if (poll(&p, 1, FAKE_READ_MS) <= 0)
			return -1;
		n = read(fd, line + used, len - 1 - used);
		if (n <= 0)
			break;
		used += (size_t)n;
		if (memchr(line, '\n', used))
			break;
	}
	line[used] = '\0';
	line[strcspn(line, "\n")] = '\0';
	return 0;
}

static void fake_serve(int lfd, enum fake_mode mode, const char *log)
{
	unsigned nstats = 0;

	for (;;) {
		int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		char line[4200], *ans;
		FILE *f;

		if (fd < 0)
			continue;
		if (fake_read_line(fd, line, sizeof(line)) < 0) {
			close(fd);
			continue;
		}
		f = fopen(log, "a");
		if (f) {
			fprintf(f, "%s\n", line);
			fclose(f);
		}
		if (mode == FAKE_SILENT)
			continue; /* fd left open: the client must give up by itself */
		ans = fake_answer(mode, line, &nstats);
		if (ans) {
			size_t len = strlen(ans), off = 0;

			while (off < len) {
				ssize_t n = send(fd, ans + off, len - off,
						 MSG_NOSIGNAL);

				if (n <= 0)
					break;
				off += (size_t)n;
			}
			if (mode != FAKE_PROM || strncmp(line, "prometheus", 10))
				send(fd, "\n", 1, MSG_NOSIGNAL);
		}
		free(ans);
		close(fd);
	}
}

static void fake_start(struct fake *f, enum fake_mode mode)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int lfd;

	memset(f, 0, sizeof(*f));
	snprintf(f->dir, sizeof(f->dir), "/tmp/rcctl.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->sock, sizeof(f->sock), "%s/stats.sock", f->dir);
	snprintf(f->log, sizeof(f->log), "%s/commands.log", f->dir);
	memcpy(sa.sun_path, f->sock, strlen(f->sock) + 1);
	lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(lfd >= 0);
	assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(lfd, 64), 0);
	f->pid = fork();
	assert_true(f->pid >= 0);
	if (f->pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		signal(SIGPIPE, SIG_IGN);
		fake_serve(lfd, mode, f->log);
		_exit(0);
	}
	close(lfd);
}

static void fake_stop(struct fake *f)
{
	char cmd[160];

	if (f->pid > 0) {
		kill(f->pid, SIGKILL);
		waitpid(f->pid, NULL, 0);
		f->pid = 0;
	}
	unlink(f->sock);
	unlink(f->log);
	snprintf(cmd, sizeof(cmd), "%s/reuseportd.sock", f->dir);
	unlink(cmd);
	rmdir(f->dir);
}

/* The last command line the fake received. */
static const char *fake_last(const struct fake *f, char *buf, size_t len)
{
	FILE *fp = fopen(f->log, "r");
	char line[4200];

	buf[0] = '\0';
	if (!fp)
		return buf;
	while (fgets(line, sizeof(line), fp))
		snprintf(buf, len, "%.*s", (int)strcspn(line, "\n"), line);
	fclose(fp);
	return buf;
}

/* --- running the tool --- */

struct run {
	int status; /* exit status, or 128 + signal, or -1 if killed at the deadline */
	char out[65536];
	char err[8192];
	size_t outlen, errlen;
	double secs;
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Drains the two pipes into r until both close or the deadline passes. */
static int drain(int ofd, int efd, struct run *r, double deadline)
{
	struct pollfd p[2] = { { .fd = ofd, .events = POLLIN },
			       { .fd = efd, .events = POLLIN } };

	while (p[0].fd >= 0 || p[1].fd >= 0) {
		int left = (int)((deadline - now_s()) * 1000);

		if (left <= 0 || poll(p, 2, left) <= 0)
			return -1;
		for (int i = 0; i < 2; i++) {
			char *buf = i ? r->err : r->out;
			size_t *used = i ? &r->errlen : &r->outlen;
			size_t cap = (i ? sizeof(r->err) : sizeof(r->out)) - 1;
			char sink[4096];
			ssize_t n;

			if (p[i].fd < 0 || !p[i].revents)
				continue;
			if (*used < cap)
				n = read(p[i].fd, buf + *used, cap - *used);
			else
				n = read(p[i].fd, sink, sizeof(sink));
			if (n <= 0) {
				close(p[i].fd);
				p[i].fd = -1;
			} else if (*used < cap) {
				*used += (size_t)n;
			}
		}
	}
	return 0;
}

/* The tool's output for the log, as TAP comments: "# " before each line,
 * so that none of it reads as a TAP line (see Makefile.am). */
static void show(const char *text)
{
	while (*text) {
		size_t n = strcspn(text, "\n");

		printf("# %.*s\n", (int)n, text);
		text += n + (text[n] == '\n');
	}
}

/* Runs reuseportctl ARGS... with REUSEPORTD_SOCKET=env (unset if NULL),
 * in directory cwd (the test's own if NULL). */
static void run_ctl_in(struct run *r, const char *env, const char *cwd,
		       const char *const *args)
{
	int out[2], err[2], ws;
	const char *argv[32] = { "reuseportctl" };
	double start = now_s();
	pid_t pid;
	size_t n = 1;

	memset(r, 0, sizeof(*r));
	for (; args[n - 1] && n + 1 < 32; n++)
		argv[n] = args[n - 1];
	argv[n] = NULL;
	assert_int_equal(pipe2(out, O_CLOEXEC), 0);
	assert_int_equal(pipe2(err, O_CLOEXEC), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(out[1], STDOUT_FILENO);
		dup2(err[1], STDERR_FILENO);
		if (cwd && chdir(cwd) < 0)
			_exit(126);
		if (env)
			setenv("REUSEPORTD_SOCKET", env, 1);
		else
			unsetenv("REUSEPORTD_SOCKET");
		execv(RC_BIN, (char *const *)argv);
		_exit(127);
	}
	close(out[1]);
	close(err[1]);
	if (drain(out[0], err[0], r, start + RUN_MS / 1000.0) < 0) {
		kill(pid, SIGKILL);
		r->status = -1;
	}
	/* Both pipes are closed (or the tool was killed): it has exited. */
	assert_int_equal(waitpid(pid, &ws, 0), pid);
	if (r->status == 0)
		r->status = WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
	r->secs = now_s() - start;
	print_message("# reuseportctl");
	for (size_t i = 1; argv[i]; i++)
		print_message(" %s", argv[i]);
	print_message(" -> %d (%.2fs)\n", r->status, r->secs);
	show(r->out);
	show(r->err);
	fflush(stdout);
}

#define RUN(r, ...) \
	run_ctl_in((r), NULL, NULL, (const char *const[]){ __VA_ARGS__, NULL })

static int count_lines(const char *s)
{
	int n = 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

/* stdout parses as JSON equal to the canned document. */
static void assert_json_out(const struct run *r, const char *canned)
{
	json_t *a = json_loads(r->out, 0, NULL), *b = json_loads(canned, 0, NULL);

	assert_non_null(a);
	assert_non_null(b);
	assert_true(json_equal(a, b));
	json_decref(a);
	json_decref(b);
	/* Pretty-printed with a two-space indent. */
	assert_true(strncmp(r->out, "{\n  \"", 5) == 0);
}

/* --- fixtures --- */

static int setup(void **state)
{
	static struct fake f;

	fake_start(&f, FAKE_OLD);
	*state = &f;
	return 0;
}

static int teardown(void **state)
{
	fake_stop(*state);
	return 0;
}

/* --- each command, table and JSON --- */

static void test_ping(void **state)
{
	struct fake *f = *state;
	struct run r;
	char last[64];

	RUN(&r, "-s", f->sock, "ping");
	assert_int_equal(r.status, 0);
	assert_string_equal(r.out, "pong from pid 4242 (uptime 1.2s)\n");
	assert_string_equal(fake_last(f, last, sizeof(last)), "ping");
	RUN(&r, "-s", f->sock, "--json", "ping");
	assert_int_equal(r.status, 0);
	assert_json_out(&r, doc_ping);
}

static void test_stats(void **state)
{
	struct fake *f = *state;
	struct run r;
	json_t *doc;

	RUN(&r, "-s", f->sock, "stats");
	assert_int_equal(r.status, 0);
	assert_non_null(strstr(r.out, "reuseportd 0.1.0, pid 4242, up 12.5s\n"));
	assert_non_null(strstr(r.out, "listen      127.0.0.1:40123\n"));
	assert_non_null(strstr(r.out, "BYTES OUT"));
	assert_non_null(strstr(r.out, "\ntotal"));
	assert_non_null(strstr(r.out, "\nbalance: active max/mean 1.40"));
	assert_int_equal(r.errlen, 0);
	/* Options after the command work too. */
	RUN(&r, "stats", "--json", "--socket", f->sock);
	assert_int_equal(r.status, 0);
	doc = json_loads(r.out, 0, NULL);
	assert_non_null(doc);
	assert_int_equal(json_integer_value(json_object_get(doc, "pid")), 4242);
	assert_int_equal(json_array_size(json_object_get(doc, "workers")), 2);
	assert_non_null(json_object_get(doc, "limits"));
	json_decref(doc);
	assert_true(strncmp(r.out, "{\n  \"version\": \"0.1.0\",\n  \"pid\": 4242,",
			    38) == 0);
}

static void test_workers(void **state)
{
	struct fake *f = *state;
	struct run r;

	RUN(&r, "-s", f->sock, "workers");
	assert_int_equal(r.status, 0);
	/* header, 2 workers, rule, totals, balance */
	assert_int_equal(count_lines(r.out), 6);
	assert_non_null(strstr(r.out, "4243"));
	assert_non_null(strstr(r.out, "signal 9"));
	assert_non_null(strstr(r.out, "2.0 KiB"));
	assert_non_null(strstr(r.out, "2/2 up"));
	assert_non_null(
		strstr(r.out,
		       "accepted max/mean 1.25 (min 60, max 100, mean 80.0)"));
	RUN(&r, "-s", f->sock, "workers", "--json");
	assert_int_equal(r.status, 0);
	assert_json_out(&r, doc_workers);
}

static void test_connections(void **state)
{
	struct fake *f = *state;
	struct run r;
	char last[64];

	RUN(&r, "-s", f->sock, "connections");
	assert_int_equal(r.status, 0);
	assert_true(
		strncmp(r.out,
			"Proto  Local Address    Foreign Address  State        Worker   Age\n",
			66) == 0);
	assert_non_null(
		strstr(r.out,
		       "tcp    127.0.0.1:40123  127.0.0.1:51234  ESTABLISHED"));
	assert_non_null(
		strstr(r.out,
		       "tcp    127.0.0.1:40123  127.0.0.2:40000  ESTABLISHED"));
	assert_non_null(strstr(r.out, "3 connections on 1 local address(es)\n"));
	assert_string_equal(fake_last(f, last, sizeof(last)), "connections");
	RUN(&r, "-s", f->sock, "connections", "-n", "2");
	assert_int_equal(r.status, 0);
	assert_string_equal(fake_last(f, last, sizeof(last)), "connections 2");
	/* A listing may be huge: --json prints it as the daemon wrote it. */
	RUN(&r, "-s", f->sock, "--json", "connections", "--limit", "50");
	assert_int_equal(r.status, 0);
	json_t *got = json_loads(r.out, 0, NULL),
	       *want = json_loads(doc_conns, 0, NULL);

	assert_true(got && want && json_equal(got, want));
	json_decref(got);
	json_decref(want);
	assert_string_equal(fake_last(f, last, sizeof(last)), "connections 50");
}

static void test_limits(void **state)
{
	struct fake *f = *state;
	struct run r;

	RUN(&r, "-s", f->sock, "limits");
	assert_int_equal(r.status, 0);
	assert_non_null(strstr(r.out, "somaxconn"));
	assert_non_null(strstr(r.out, "32768 60999\n"));
	assert_non_null(
		strstr(r.out,
		       "1 warning:\n  ! somaxconn 4096 limits the backlog\n"));
	RUN(&r, "-s", f->sock, "-j", "limits");
	assert_int_equal(r.status, 0);
	assert_json_out(&r, doc_limits);
}

/* A daemon that answers `prometheus` with an error: the tool says so and
 * prints no metrics (it keeps no table of its own to fall back on). */
static void test_prometheus_error(void **state)
{
	struct fake *f = *state;
	struct run r;
	char last[64];

	RUN(&r, "-s", f->sock, "prometheus");
	assert_int_equal(r.status, 1);
	assert_string_equal(fake_last(f, last, sizeof(last)), "prometheus");
	assert_int_equal(r.outlen, 0);
	assert_non_null(strstr(r.err, "error from reuseportd: unknown command"));
}

static void test_prometheus_from_daemon(void **state)
{
	struct fake f;
	struct run r;

	(void)state;
	fake_start(&f, FAKE_PROM);
	RUN(&r, "-s", f.sock, "prometheus");
	fake_stop(&f);
	assert_int_equal(r.status, 0);
	assert_string_equal(r.out, prom_text);
}

/* --- top --- */

static void test_top_lines(void **state)
{
	struct fake *f = *state;
	struct run r;
	double rate;
	const char *p;

	RUN(&r, "-s", f->sock, "top", "-n", "2", "-i", "0.2");
	assert_int_equal(r.status, 0);
	assert_int_equal(count_lines(r.out), 2);
	/* The fake's accepted grows by 50 per sample, so every line has a
	 * rate above zero (not the "-" of an unknown rate). */
	for (p = r.out; (p = strstr(p, "accepts/s ")); p++) {
		assert_int_equal(sscanf(p, "accepts/s %lf", &rate), 1);
		assert_true(rate > 0 && rate < 1e6);
	}
	assert_true(r.secs >= 0.35);
	RUN(&r, "-s", f->sock, "top", "--iterations", "2", "--interval", "0.2",
	    "--json");
	assert_int_equal(r.status, 0);
	assert_int_equal(count_lines(r.out), 2);
	json_t *j = json_loads(strchr(r.out, '\n') + 1, 0, NULL);

	assert_non_null(j);
	assert_true(json_number_value(json_object_get(j, "accepts_per_s")) > 10);
	assert_int_equal(json_array_size(json_object_get(j, "workers")), 2);
	json_decref(j);
}

/* top on a terminal: raw mode while it runs, restored after q or a signal. */
static void run_top_tty(const struct fake *f, int how)
{
	int mfd = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC), sfd, ws = 0,
	    exited = 0;
	char out[65536];
	size_t used = 0;
	double deadline = now_s() + RUN_MS / 1000.0;
	struct termios tio;
	pid_t pid;

	assert_true(mfd >= 0);
	assert_int_equal(grantpt(mfd), 0);
	assert_int_equal(unlockpt(mfd), 0);
	sfd = open(ptsname(mfd), O_RDWR | O_NOCTTY | O_CLOEXEC);
	assert_true(sfd >= 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		setsid();
		ioctl(sfd, TIOCSCTTY, 0);
		dup2(sfd, 0);
		dup2(sfd, 1);
		dup2(sfd, 2);
		execl(RC_BIN, "reuseportctl", "-s", f->sock, "top", "-i", "0.2",
		      (char *)NULL);
		_exit(127);
	}
	/* Read frames until the second one (rates known) is on screen. */
	while (now_s() < deadline) {
		struct pollfd p = { .fd = mfd, .events = POLLIN };
		ssize_t n;

		if (poll(&p, 1, 200) <= 0)
			continue;
		n = read(mfd, out + used, sizeof(out) - 1 - used);
		if (n <= 0)
			break;
		used += (size_t)n;
		out[used] = '\0';
		char *first = strstr(out, "(q quits)");

		if (first && strstr(first + 1, "(q quits)"))
			break;
	}
	out[used] = '\0';
	assert_non_null(strstr(out, "\033[?1049h")); /* alternate screen */
	assert_non_null(strstr(out, "ACTIVE CONNECTIONS"));
	assert_non_null(strstr(out, "#######"));
	assert_int_equal(tcgetattr(sfd, &tio), 0);
	assert_false(tio.c_lflag & ICANON);
	assert_false(tio.c_lflag & ECHO);
	if (how == 'q')
		assert_int_equal(write(mfd, "q", 1), 1);
	else
		kill(pid, how);
	/* Keep reading so the tool never blocks on a full terminal; what it
	 * writes last must take the screen back. */
	used = 0;
	while (!exited && now_s() < deadline) {
		struct pollfd p = { .fd = mfd, .events = POLLIN };
		ssize_t n;

		if (poll(&p, 1, 50) > 0) {
			n = read(mfd, out + used, sizeof(out) - 1 - used);
			if (n > 0)
				used += (size_t)n;
			if (used > sizeof(out) / 2)
				used = 0; /* only the tail matters */
		}
		exited = waitpid(pid, &ws, WNOHANG) == pid;
	}
	if (!exited) {
		kill(pid, SIGKILL);
		waitpid(pid, &ws, 0);
		fail_msg("top did not quit");
	}
	/* Whatever is still buffered in the terminal. */
	for (;;) {
		struct pollfd p = { .fd = mfd, .events = POLLIN };
		ssize_t n;

		if (poll(&p, 1, 0) <= 0 || used + 1 >= sizeof(out))
			break;
		n = read(mfd, out + used, sizeof(out) - 1 - used);
		if (n <= 0)
			break;
		used += (size_t)n;
	}
	out[used] = '\0';
	assert_non_null(strstr(out, "\033[?1049l"));
	assert_true(WIFEXITED(ws));
	assert_int_equal(WEXITSTATUS(ws), 0);
	assert_int_equal(tcgetattr(sfd, &tio), 0);
	assert_true(tio.c_lflag & ICANON);
	assert_true(tio.c_lflag & ECHO);
	close(sfd);
	close(mfd);
}

static void test_top_tty_q(void **state)
{
	run_top_tty(*state, 'q');
}

static void test_top_tty_signals(void **state)
{
	run_top_tty(*state, SIGINT);
	run_top_tty(*state, SIGTERM);
}

/* --- failures --- */

static void assert_one_line_error(const struct run *r, int status, const char *text)
{
	assert_int_equal(r->status, status);
	assert_int_equal(count_lines(r->err), 1);
	assert_true(strncmp(r->err, "reuseportctl: ", 14) == 0);
	if (text)
		assert_non_null(strstr(r->err, text));
}

static void test_daemon_absent(void **state)
{
	struct fake *f = *state;
	struct run r;
	char path[160], msg[300];

	snprintf(path, sizeof(path), "%s/none.sock", f->dir);
	snprintf(msg, sizeof(msg),
		 "reuseportctl: cannot connect to %s: No such file or directory "
		 "(is reuseportd running?)\n",
		 path);
	const char *cmds[] = { "stats", "workers", "connections", "limits",
			       "ping",  "top",     "prometheus" };

	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		RUN(&r, "-s", path, cmds[i]);
		assert_one_line_error(&r, 1, NULL);
		assert_string_equal(r.err, msg);
		assert_int_equal(r.outlen, 0);
	}
	/* The default path is the installed configuration's, wherever the
	 * tool is run (tests/test_ops_install.c has a daemon answer there);
	 * unless this host runs one, nothing is there. */
	if (access(RC_DEFAULT_SOCKET, F_OK) < 0) {
		run_ctl_in(&r, NULL, f->dir,
			   (const char *const[]){ "ping", NULL });
		assert_one_line_error(&r, 1,
				      "cannot connect to " RC_DEFAULT_SOCKET
				      ": No such file");
	}
	/* A socket file nobody listens on: refused (a relative path). */
	{
		struct sockaddr_un sa = { .sun_family = AF_UNIX };
		int fd = socket(AF_UNIX, SOCK_STREAM, 0);

		snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/reuseportd.sock",
			 f->dir);
		assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
		close(fd);
	}
	run_ctl_in(&r, NULL, f->dir,
		   (const char *const[]){ "-s", "./reuseportd.sock", "ping",
					  NULL });
	assert_one_line_error(
		&r, 1,
		"./reuseportd.sock: Connection refused (is reuseportd running?)");
}

static void test_env_socket(void **state)
{
	struct fake *f = *state;
	struct run r;

	run_ctl_in(&r, f->sock, NULL, (const char *const[]){ "ping", NULL });
	assert_int_equal(r.status, 0);
	assert_non_null(strstr(r.out, "pong from pid 4242"));
	/* -s wins over the environment. */
	run_ctl_in(&r, "/nonexistent/x.sock", NULL,
		   (const char *const[]){ "-s", f->sock, "ping", NULL });
	assert_int_equal(r.status, 0);
}

static void test_usage(void **state)
{
	struct fake *f = *state;
	static const char *const bad[][6] = {
		{ NULL },
		{ "frobnicate", NULL },
		{ "--bogus", "ping", NULL },
		{ "-s", NULL },
		{ "connections", "-n", "abc", NULL },
		{ "connections", "-n", "0", NULL },
		{ "connections", "-n", "1000001", NULL },
		{ "workers", "-n", "5", NULL },
		{ "ping", "-i", "1", NULL },
		{ "top", "-i", "0", NULL },
		{ "top", "-n", "-3", NULL },
		{ "ping", "extra", NULL },
		{ "--json", "prometheus", NULL },
		{ "-t", "never", "ping", NULL },
		{ "stats", "--keep-old", NULL },
		{ "upgrade", "now", NULL },
	};
	struct run r;
	char last[64];

	assert_int_equal(truncate(f->log, 0), 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *args[8] = { "-s", f->sock };
		size_t n = 2;

		for (size_t k = 0; bad[i][k]; k++)
			args[n++] = bad[i][k];
		/* "-s" with no value must be last to be missing its value. */
		run_ctl_in(&r, NULL, NULL, i == 3 ? bad[i] : args);
		assert_one_line_error(&r, 2, "(try 'reuseportctl --help')");
		assert_int_equal(r.outlen, 0);
	}
	/* None of those reached the daemon. */
	assert_string_equal(fake_last(f, last, sizeof(last)), "");
	RUN(&r, "--help");
	assert_int_equal(r.status, 0);
	assert_non_null(strstr(r.out, "Usage: reuseportctl"));
	RUN(&r, "--version");
	assert_int_equal(r.status, 0);
	assert_non_null(strstr(r.out, "reuseportctl " PACKAGE_VERSION));
}

static void test_error_answer(void **state)
{
	struct fake f;
	struct run r;
	const char *cmds[] = { "stats", "workers", "connections", "limits",
			       "ping",  "top",     "prometheus" };

	(void)state;
	fake_start(&f, FAKE_ERROR);
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		RUN(&r, "-s", f.sock, cmds[i]);
		assert_one_line_error(&r, 1,
				      "error from reuseportd: out of memory");
		assert_int_equal(r.outlen, 0);
	}
	/* --json still shows the document as the daemon sent it. */
	RUN(&r, "-s", f.sock, "--json", "workers");
	assert_one_line_error(&r, 1, "out of memory");
	assert_json_out(&r, doc_error);
	fake_stop(&f);
}

static void test_timeout(void **state)
{
	struct fake f;
	struct run r;

	(void)state;
	fake_start(&f, FAKE_SILENT);
	RUN(&r, "-s", f.sock, "-t", "0.3", "ping");
	fake_stop(&f);
	assert_one_line_error(&r, 1, "reading the answer: timed out");
	assert_true(r.secs >= 0.25 && r.secs < 5);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ping),
		cmocka_unit_test(test_stats),
		cmocka_unit_test(test_workers),
		cmocka_unit_test(test_connections),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_prometheus_error),
		cmocka_unit_test(test_prometheus_from_daemon),
		cmocka_unit_test(test_top_lines),
		cmocka_unit_test(test_top_tty_q),
		cmocka_unit_test(test_top_tty_signals),
		cmocka_unit_test(test_daemon_absent),
		cmocka_unit_test(test_env_socket),
		cmocka_unit_test(test_error_answer),
		cmocka_unit_test(test_timeout),
		cmocka_unit_test(test_usage),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, setup, teardown);
}
