/* test_bench_tool.c - runs the built reuseportbench against a small echo
 * and HTTP server that the test forks on 127.0.0.1 port 0, and checks the
 * tool's JSON against what that server counted. */
#include "autoconfig.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#ifndef RB_BIN
#define RB_BIN "src/reuseportbench"
#endif

#define BENCH_WAIT_MS 30000
#define SERVER_WAIT_MS 15000

/* ---- the test server (runs in a child process) ---- */

/* SRV_HTTP_RACE: HTTP, but every connection is closed, unanswered, when
 * its third request arrives - a server closing an idle kept-alive
 * connection just as the client sends on it. */
enum srv_mode { SRV_ECHO, SRV_HTTP, SRV_HTTP_RACE };

struct srv_stats {
	uint64_t accepted;
	uint64_t closed;
	uint64_t bytes_in;
	uint64_t requests;
	uint64_t max_active;
	uint64_t left_open; /* still open when the server had to report */
};

struct srv {
	pid_t pid;
	int port;
	int ctl; /* parent writes 'q' */
	int res; /* child writes srv_stats */
};

#define SBUF 8192

struct sconn {
	int fd;
	int close_after;
	int answered;
	size_t in_len;
	size_t out_len, out_off;
	char in[SBUF];
	char out[SBUF];
};

struct server {
	enum srv_mode mode;
	int ep, lfd, ctl;
	uint64_t active;
	struct srv_stats st;
};

static char tag_listen, tag_ctl;

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void s_close(struct server *s, struct sconn *c)
{
	close(c->fd);
	free(c);
	s->active--;
	s->st.closed++;
}

static void s_watch(struct server *s, struct sconn *c, uint32_t ev)
{
	struct epoll_event e = { .events = ev, .data.ptr = c };

	epoll_ctl(s->ep, EPOLL_CTL_MOD, c->fd, &e);
}

/* Writes what is pending; 1 when all is out, 0 when it must wait,
 * -1 when the connection is gone. */
static int s_flush(struct server *s, struct sconn *c)
{
	ssize_t w;

	while (c->out_off < c->out_len) {
		w = send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
			 MSG_NOSIGNAL);
		if (w < 0 && errno == EAGAIN) {
			s_watch(s, c, EPOLLOUT);
			return 0;
		}
		if (w < 0)
			return -1;
		c->out_off += (size_t)w;
	}
	c->out_len = c->out_off = 0;
	if (c->close_after)
		return -1;
	s_watch(s, c, EPOLLIN);
	return 1;
}

static void s_respond(struct sconn *c, const char *req)
{
	int chunked = strncmp(req, "GET /chunked", 12) == 0;
	const char *conn = strcasestr(req, "\r\nConnection: close") ?
				   "Connection: close\r\n" :
				   "";
	int n;

	c->close_after = conn[0] != '\0';
	if (chunked)
		n = snprintf(c->out + c->out_len, SBUF - c->out_len,
			     "HTTP/1.1 200 OK\r\n%sTransfer-Encoding: chunked\r\n\r\n"
			     "6\r\nhello \r\n6\r\nworld\n\r\n0\r\n\r\n",
			     conn);
	else
		n = snprintf(c->out + c->out_len, SBUF - c->out_len,
			     "HTTP/1.1 200 OK\r\n%sContent-Length: 12\r\n\r\n"
			     "hello world\n",
			     conn);
	if (n > 0 && (size_t)n < SBUF - c->out_len)
		c->out_len += (size_t)n;
}

/* Answers every complete request in the buffer; -1 on junk. */
static int s_http(struct server *s, struct sconn *c)
{
	char *end;
	size_t used;

	for (;;) {
		c->in[c->in_len] = '\0';
		end = strstr(c->in, "\r\n\r\n");
		if (!end)
			return c->in_len >= SBUF - 1 ? -1 : 0;
		end[2] = '\0';
		if (s->mode == SRV_HTTP_RACE && c->answered == 2)
			return -1;
		s->st.requests++;
		c->answered++;
		s_respond(c, c->in);
		used = (size_t)(end + 4 - c->in);
		memmove(c->in, c->in + used, c->in_len - used);
		c->in_len -= used;
		if (c->close_after)
			return 0;
	}
}

static void s_readable(struct server *s, struct sconn *c)
{
	ssize_t n;

	if (s->mode == SRV_ECHO) {
		n = recv(c->fd, c->out, SBUF, 0);
	} else {
		n = recv(c->fd, c->in + c->in_len, SBUF - 1 - c->in_len, 0);
	}
	if (n < 0 && errno == EAGAIN)
		return;
	if (n <= 0) {
		s_close(s, c);
		return;
	}
	s->st.bytes_in += (uint64_t)n;
	if (s->mode == SRV_ECHO) {
		c->out_len = (size_t)n;
		c->out_off = 0;
	} else {
		c->in_len += (size_t)n;
		if (s_http(s, c) < 0) {
			s_close(s, c);
			return;
		}
	}
	if (s_flush(s, c) < 0)
		s_close(s, c);
}

static void s_accept(struct server *s)
{
	struct epoll_event e = { .events = EPOLLIN };
	struct sconn *c;
	int fd, i;

	for (i = 0; i < 256; i++) {
		fd = accept4(s->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			return;
		c = calloc(1, sizeof(*c));
		if (!c) {
			close(fd);
			continue;
		}
		c->fd = fd;
		e.data.ptr = c;
		epoll_ctl(s->ep, EPOLL_CTL_ADD, fd, &e);
		s->st.accepted++;
		if (++s->active > s->st.max_active)
			s->st.max_active = s->active;
	}
}

/* Serves until told to stop, then until every client has gone (the
 * counts are final only then), bounded by SERVER_WAIT_MS. */
static void __attribute__((noreturn))
server_main(enum srv_mode mode, int lfd, int ctl, int res)
{
	struct server s = { .mode = mode, .lfd = lfd, .ctl = ctl };
	struct epoll_event ev[128], e = { .events = EPOLLIN };
	uint64_t stop_at = 0;
	int i, n;
	char b;

	s.ep = epoll_create1(0);
	e.data.ptr = &tag_listen;
	epoll_ctl(s.ep, EPOLL_CTL_ADD, lfd, &e);
	e.data.ptr = &tag_ctl;
	epoll_ctl(s.ep, EPOLL_CTL_ADD, ctl, &e);
	for (;;) {
		if (stop_at && (s.active == 0 || now_ms() > stop_at))
			break;
		n = epoll_wait(s.ep, ev, 128, 100);
		for (i = 0; i < n; i++) {
			void *p = ev[i].data.ptr;

			if (p == &tag_listen) {
				s_accept(&s);
			} else if (p == &tag_ctl) {
				if (read(ctl, &b, 1) <= 0 || b == 'q') {
					stop_at = now_ms() + SERVER_WAIT_MS;
					epoll_ctl(s.ep, EPOLL_CTL_DEL, ctl, NULL);
				}
			} else if (ev[i].events & EPOLLOUT) {
				if (s_flush(&s, p) < 0)
					s_close(&s, p);
			} else {
				s_readable(&s, p);
			}
		}
	}
	s.st.left_open = s.active;
	if (write(res, &s.st, sizeof(s.st)) != (ssize_t)sizeof(s.st))
		_exit(1);
	_exit(0);
}

static void srv_start(struct srv *sv, enum srv_mode mode)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t len = sizeof(a);
	int ctl[2], res[2], one = 1, lfd;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	assert_true(lfd >= 0);
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	assert_int_equal(bind(lfd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(lfd, 4096), 0);
	assert_int_equal(getsockname(lfd, (struct sockaddr *)&a, &len), 0);
	sv->port = ntohs(a.sin_port);
	assert_int_equal(pipe2(ctl, O_CLOEXEC), 0);
	assert_int_equal(pipe2(res, O_CLOEXEC), 0);
	sv->pid = fork();
	assert_true(sv->pid >= 0);
	if (sv->pid == 0) {
		close(ctl[1]);
		close(res[0]);
		server_main(mode, lfd, ctl[0], res[1]);
	}
	close(lfd);
	close(ctl[0]);
	close(res[1]);
	sv->ctl = ctl[1];
	sv->res = res[0];
}

static void srv_finish(struct srv *sv, struct srv_stats *st)
{
	struct pollfd p = { .fd = sv->res, .events = POLLIN };
	int status;

	assert_int_equal(write(sv->ctl, "q", 1), 1);
	assert_int_equal(poll(&p, 1, SERVER_WAIT_MS + 5000), 1);
	assert_int_equal(read(sv->res, st, sizeof(*st)), (ssize_t)sizeof(*st));
	assert_int_equal(waitpid(sv->pid, &status, 0), sv->pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	close(sv->ctl);
	close(sv->res);
}

/* ---- running the tool ---- */

struct bench_run {
	int status; /* exit status, or -1 if it did not exit by itself */
	char *out;  /* its stdout */
	size_t len;
};

static void run_bench(struct bench_run *br, const char *const args[])
{
	const char *argv[32];
	uint64_t deadline = now_ms() + BENCH_WAIT_MS;
	size_t cap = 1 << 16, n = 0;
	int fds[2], status = 0;
	pid_t pid;
	ssize_t r;

	argv[n++] = RB_BIN;
	while (*args && n < 31)
		argv[n++] = *args++;
	argv[n] = NULL;
	assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(fds[1], STDOUT_FILENO);
		execv(RB_BIN, (char *const *)argv);
		perror("exec " RB_BIN);
		_exit(127);
	}
	close(fds[1]);
	br->out = malloc(cap);
	br->len = 0;
	for (;;) {
		struct pollfd p = { .fd = fds[0], .events = POLLIN };
		uint64_t now = now_ms();

		if (now >= deadline || poll(&p, 1, (int)(deadline - now)) <= 0)
			break;
		if (br->len + 4096 > cap)
			br->out = realloc(br->out, cap *= 2);
		r = read(fds[0], br->out + br->len, cap - br->len - 1);
		if (r <= 0)
			break;
		br->len += (size_t)r;
	}
	br->out[br->len] = '\0';
	close(fds[0]);
	if (now_ms() >= deadline)
		kill(pid, SIGKILL);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	br->status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static json_t *bench_json(const struct bench_run *br)
{
	json_error_t err;
	json_t *j = json_loads(br->out, 0, &err);

	if (!j)
		fail_msg("not JSON (%s): %s", err.text, br->out);
	return j;
}

/* The value at a dotted path, e.g. "load.errors.total". */
static json_t *jget(json_t *j, const char *path)
{
	char key[64];
	const char *dot;

	while (j && *path) {
		dot = strchr(path, '.');
		snprintf(key, sizeof(key), "%.*s",
			 (int)(dot ? (size_t)(dot - path) : strlen(path)), path);
		j = json_object_get(j, key);
		path = dot ? dot + 1 : "";
	}
	if (!j)
		fail_msg("no %s in the report", path);
	return j;
}

static long long jint(json_t *j, const char *path)
{
	json_t *v = jget(j, path);

	assert_true(json_is_integer(v));
	return json_integer_value(v);
}

static void target(char *buf, size_t len, const struct srv *sv)
{
	snprintf(buf, len, "127.0.0.1:%d", sv->port);
}

/* SIGUSR1 is caught by pid (its bit in /proc/PID/status SigCgt). */
static int catches_usr1(pid_t pid)
{
	char path[64], line[256];
	unsigned long long mask = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%ld/status", (long)pid);
	f = fopen(path, "r");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "SigCgt: %llx", &mask) == 1)
			break;
	fclose(f);
	return (mask >> (SIGUSR1 - 1)) & 1;
}

/* ---- tests ---- */

/* hold --echo-check, SIGUSR1 while holding: every connection is checked
 * at once, the sum said on stderr, and the hold goes on. */
static void test_hold_echo_check_on_signal(void **state)
{
	struct srv sv;
	struct srv_stats st;
	char t[32], line[256] = "", *nl;
	size_t have = 0;
	unsigned long long ok = 0, failed = 1;
	uint64_t deadline = now_ms() + BENCH_WAIT_MS;
	int err[2], status;
	pid_t pid;

	(void)state;
	srv_start(&sv, SRV_ECHO);
	target(t, sizeof(t), &sv);
	assert_int_equal(pipe2(err, O_CLOEXEC), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(err[1], STDERR_FILENO);
		execl(RB_BIN, RB_BIN, "hold", "-q", "-c", "500", "-d", "30",
		      "--echo-check", "--json", t, (char *)NULL);
		_exit(127);
	}
	close(err[1]);
	while (!catches_usr1(pid) && now_ms() < deadline)
		poll(NULL, 0, 5);
	assert_int_equal(kill(pid, SIGUSR1), 0);
	while (!(nl = strstr(line, "echo-check:")) || !strchr(nl, '\n')) {
		struct pollfd p = { .fd = err[0], .events = POLLIN };
		ssize_t r;

		assert_true(now_ms() < deadline);
		if (poll(&p, 1, 100) <= 0)
			continue;
		r = read(err[0], line + have, sizeof(line) - 1 - have);
		assert_true(r > 0);
		have += (size_t)r;
		line[have] = '\0';
	}
	assert_int_equal(sscanf(nl, "echo-check: %llu echoed, %llu failed", &ok,
				&failed),
			 2);
	assert_int_equal(ok, 500);
	assert_int_equal(failed, 0);
	/* Still holding: SIGINT ends it, with the final check too. */
	assert_int_equal(waitpid(pid, &status, WNOHANG), 0);
	assert_int_equal(kill(pid, SIGINT), 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	close(err[0]);
	srv_finish(&sv, &st);
}

static void test_hold_spreads_sources(void **state)
{
	struct srv sv;
	struct srv_stats st;
	struct bench_run br;
	char t[32];
	json_t *j, *per;
	size_t i;
	long long sum = 0;

	(void)state;
	srv_start(&sv, SRV_ECHO);
	target(t, sizeof(t), &sv);
	run_bench(&br,
		  (const char *const[]){ "hold", "-c", "3000", "--source",
					 "127.0.0.2-127.0.0.5", "-d", "1",
					 "--echo-check", "--json", t, NULL });
	srv_finish(&sv, &st);
	assert_int_equal(br.status, 0);
	j = bench_json(&br);
	/* --echo-check: every connection held echoed a byte at the end. */
	assert_int_equal(jint(j, "hold.echo_ok"), 3000);
	assert_int_equal(jint(j, "hold.echo_failed"), 0);
	assert_int_equal(jint(j, "connect.attempted"), 3000);
	assert_int_equal(jint(j, "connect.established"), 3000);
	assert_int_equal(jint(j, "connect.failed"), 0);
	assert_int_equal(jint(j, "hold.open_at_start"), 3000);
	assert_int_equal(jint(j, "hold.open_at_end"), 3000);
	assert_int_equal(jint(j, "hold.dropped"), 0);
	assert_true(json_is_true(jget(j, "ok")));
	/* Four addresses, round-robin: each carries about a quarter. */
	per = jget(j, "ports.per_source");
	assert_int_equal(json_array_size(per), 4);
	for (i = 0; i < 4; i++) {
		long long n = jint(json_array_get(per, i), "connections");
		char want[16];

		snprintf(want, sizeof(want), "127.0.0.%zu", i + 2);
		assert_string_equal(json_string_value(jget(json_array_get(per, i),
							   "address")),
				    want);
		assert_in_range(n, 3000 / 4 * 9 / 10, 3000 / 4 * 11 / 10);
		assert_true(jint(json_array_get(per, i), "port_min") <=
			    jint(json_array_get(per, i), "port_max"));
		sum += n;
	}
	assert_int_equal(sum, 3000);
	/* Per address the ports are unique; across addresses they may repeat. */
	assert_true(jint(j, "ports.distinct") >= 750);
	assert_true(jint(j, "connect.latency_us.count") == 3000);
	/* The server saw them all at once. */
	assert_int_equal(st.accepted, 3000);
	assert_int_equal(st.max_active, 3000);
	assert_int_equal(st.left_open, 0);
	json_decref(j);
	free(br.out);
}

static void test_echo_counts_match_server(void **state)
{
	struct srv sv;
	struct srv_stats st;
	struct bench_run br;
	char t[32];
	json_t *j;
	long long msgs;

	(void)state;
	srv_start(&sv, SRV_ECHO);
	target(t, sizeof(t), &sv);
	run_bench(&br, (const char *const[]){ "echo", "-c", "20", "-d", "1",
					      "--json", t, NULL });
	srv_finish(&sv, &st);
	assert_int_equal(br.status, 0);
	j = bench_json(&br);
	msgs = jint(j, "load.messages");
	assert_true(msgs > 0);
	assert_int_equal(jint(j, "load.errors.total"), 0);
	assert_int_equal(jint(j, "load.errors.mismatched"), 0);
	assert_int_equal(jint(j, "load.unfinished"), 0);
	/* 64-byte messages, each sent once and echoed once. */
	assert_int_equal(jint(j, "load.bytes_sent"), msgs * 64);
	assert_int_equal(jint(j, "load.bytes_received"), msgs * 64);
	assert_int_equal((long long)st.bytes_in, jint(j, "load.bytes_sent"));
	assert_int_equal(jint(j, "load.latency_us.count"), msgs);
	assert_true(jint(j, "load.latency_us.p50") <=
		    jint(j, "load.latency_us.p99"));
	assert_true(jint(j, "load.latency_us.p99") <=
		    jint(j, "load.latency_us.max"));
	assert_string_equal(json_string_value(jget(j, "load.loop")), "closed");
	assert_int_equal(st.accepted, 20);
	json_decref(j);
	free(br.out);
}

static void test_http_counts_match_server(void **state)
{
	struct srv sv;
	struct srv_stats st;
	struct bench_run br;
	char t[32];
	json_t *j;

	(void)state;
	srv_start(&sv, SRV_HTTP);
	target(t, sizeof(t), &sv);
	run_bench(&br, (const char *const[]){ "http", "-c", "10", "-d", "1",
					      "--json", t, NULL });
	srv_finish(&sv, &st);
	assert_int_equal(br.status, 0);
	j = bench_json(&br);
	assert_true(st.requests > 0);
	assert_int_equal(jint(j, "status.200"), (long long)st.requests);
	assert_int_equal(jint(j, "load.requests"), (long long)st.requests);
	assert_int_equal(jint(j, "load.errors.total"), 0);
	assert_int_equal((long long)st.bytes_in, jint(j, "load.bytes_sent"));
	/* keep-alive: the ten connections carried everything */
	assert_int_equal(st.accepted, 10);
	assert_int_equal(jint(j, "load.reconnects"), 0);
	json_decref(j);
	free(br.out);
}

/* --close: a connection per request; chunked bodies with Connection:
 * close from the server. */
/* The server closes kept-alive connections as requests arrive on them:
 * the bench sends those again on a new connection (a GET may be), counts
 * them as retried, and reports no error. */
static void test_http_retries_idempotent(void **state)
{
	struct srv sv;
	struct srv_stats st;
	struct bench_run br;
	char t[32];
	json_t *j;

	(void)state;
	srv_start(&sv, SRV_HTTP_RACE);
	target(t, sizeof(t), &sv);
	run_bench(&br, (const char *const[]){ "http", "-c", "4", "-n", "300",
					      "--json", t, NULL });
	srv_finish(&sv, &st);
	assert_int_equal(br.status, 0);
	j = bench_json(&br);
	assert_int_equal(jint(j, "load.requests"), 300);
	assert_int_equal(jint(j, "status.200"), 300);
	assert_int_equal(jint(j, "load.errors.total"), 0);
	assert_true(jint(j, "load.retried") >= 100);
	assert_int_equal((long long)st.requests, 300);
	json_decref(j);
	free(br.out);
}

static void test_http_close_chunked(void **state)
{
	struct srv sv;
	struct srv_stats st;
	struct bench_run br;
	char t[32];
	json_t *j;
	long long reqs;

	(void)state;
	srv_start(&sv, SRV_HTTP);
	target(t, sizeof(t), &sv);
	run_bench(&br, (const char *const[]){ "http", "--close", "--path",
					      "/chunked", "-c", "4", "-d",
					      "0.5", "--json", t, NULL });
	srv_finish(&sv, &st);
	assert_int_equal(br.status, 0);
	j = bench_json(&br);
	reqs = jint(j, "load.requests");
	assert_true(reqs > 4);
	assert_int_equal(jint(j, "status.200"), reqs);
	assert_int_equal((long long)st.requests, reqs);
	/* one request per connection (a few may have opened unused at the
	 * end of the run) */
	assert_true((long long)st.accepted >= reqs);
	assert_true((long long)st.accepted <= reqs + 4);
	assert_int_equal(jint(j, "load.errors.total"), 0);
	json_decref(j);
	free(br.out);
}

/* --rate: about rate x duration requests, whatever the server's speed. */
static void test_echo_open_loop_rate(void **state)
{
	struct srv sv;
	struct srv_stats st;
	struct bench_run br;
	char t[32];
	json_t *j;
	long long msgs;

	(void)state;
	srv_start(&sv, SRV_ECHO);
	target(t, sizeof(t), &sv);
	run_bench(&br, (const char *const[]){ "echo", "-c", "4", "-d", "1",
					      "--rate", "400", "--size", "100",
					      "--json", t, NULL });
	srv_finish(&sv, &st);
	assert_int_equal(br.status, 0);
	j = bench_json(&br);
	msgs = jint(j, "load.messages");
	/* At most the rate allows (a closed loop on loopback would make
	 * thousands); at least half of it, since a client starved of CPU
	 * (a sanitizer build beside other suites: 288) sends late. */
	assert_in_range(msgs, 200, 480);
	assert_string_equal(json_string_value(jget(j, "load.loop")), "open");
	assert_string_equal(json_string_value(jget(j, "load.latency_clock")),
			    "intended send");
	assert_int_equal(jint(j, "load.latency_us.count"), msgs);
	assert_int_equal(jint(j, "load.service_latency_us.count"), msgs);
	assert_int_equal(jint(j, "load.bytes_sent"), msgs * 100);
	assert_int_equal((long long)st.bytes_in, msgs * 100);
	json_decref(j);
	free(br.out);
}

/* Several processes (--per-process 2), ports printed in connection
 * order, alternating between the two source addresses. */
static void test_print_ports_in_order(void **state)
{
	struct srv sv;
	struct srv_stats st;
	struct bench_run br;
	char t[32], want[64], *line;
	int i, port;

	(void)state;
	srv_start(&sv, SRV_ECHO);
	target(t, sizeof(t), &sv);
	run_bench(&br,
		  (const char *const[]){ "hold", "-c", "6", "--per-process",
					 "2", "--source", "127.0.0.2-127.0.0.3",
					 "-d", "0", "--print-ports", t, NULL });
	srv_finish(&sv, &st);
	assert_int_equal(br.status, 0);
	line = br.out;
	for (i = 1; i <= 6; i++) {
		snprintf(want, sizeof(want),
			 "Connection %d: local 127.0.0.%d:", i, i % 2 ? 2 : 3);
		assert_memory_equal(line, want, strlen(want));
		port = atoi(line + strlen(want));
		assert_in_range(port, 1, 65535);
		snprintf(want, sizeof(want), " -> %s\n", t);
		line = strchr(line, ' ');
		line = strstr(line, " -> ");
		assert_non_null(line);
		assert_memory_equal(line, want, strlen(want));
		line += strlen(want);
	}
	assert_non_null(strstr(line, "over 3 processes"));
	assert_non_null(strstr(line, "result     OK"));
	assert_int_equal(st.accepted, 6);
	free(br.out);
}

static void test_refused_is_failure(void **state)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t len = sizeof(a);
	struct bench_run br;
	char t[32];
	json_t *j, *e;
	int fd;

	(void)state;
	/* A port that was free a moment ago and has no listener. */
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	snprintf(t, sizeof(t), "127.0.0.1:%d", ntohs(a.sin_port));
	run_bench(&br, (const char *const[]){ "hold", "-c", "5", "-d", "0",
					      "--json", t, NULL });
	close(fd);
	assert_int_equal(br.status, 1);
	j = bench_json(&br);
	assert_int_equal(jint(j, "connect.failed"), 5);
	e = json_array_get(jget(j, "connect_errors"), 0);
	assert_non_null(e);
	assert_string_equal(json_string_value(jget(e, "name")), "ECONNREFUSED");
	assert_int_equal(jint(e, "count"), 5);
	assert_true(json_is_false(jget(j, "ok")));
	json_decref(j);
	free(br.out);
}

static void test_usage_errors(void **state)
{
	static const char *const cases[][8] = {
		{ NULL },
		{ "fly", "127.0.0.1:1", NULL },
		{ "echo", NULL },
		{ "echo", "--size", "0", "127.0.0.1:1", NULL },
		{ "echo", "--path", "/", "127.0.0.1:1", NULL },
		{ "hold", "-n", "5", "127.0.0.1:1", NULL },
		{ "hold", "-c", "0", "127.0.0.1:1", NULL },
		{ "hold", "--source", "127.0.0.9-127.0.0.2", "127.0.0.1:1", NULL },
		{ "hold", "--source", "127.0.0.2", "[::1]:1", NULL },
		{ "http", "--path", "no-slash", "127.0.0.1:1", NULL },
		{ "echo", "-d", "0", "127.0.0.1:1", NULL },
		{ "echo", "192.0.2.1:80", NULL }, /* not loopback */
		{ "echo", "127.0.0.1:99999", NULL },
		{ "echo", "--bogus", "127.0.0.1:1", NULL },
	};
	struct bench_run br;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		run_bench(&br, cases[i]);
		if (br.status != 2)
			fail_msg("case %zu: exit %d, want 2", i, br.status);
		assert_int_equal(br.len, 0); /* errors go to stderr */
		free(br.out);
	}
	run_bench(&br, (const char *const[]){ "--help", NULL });
	assert_int_equal(br.status, 0);
	assert_non_null(strstr(br.out, "Usage: reuseportbench"));
	free(br.out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_usage_errors),
		cmocka_unit_test(test_hold_spreads_sources),
		cmocka_unit_test(test_hold_echo_check_on_signal),
		cmocka_unit_test(test_echo_counts_match_server),
		cmocka_unit_test(test_http_counts_match_server),
		cmocka_unit_test(test_http_retries_idempotent),
		cmocka_unit_test(test_http_close_chunked),
		cmocka_unit_test(test_echo_open_loop_rate),
		cmocka_unit_test(test_print_ports_in_order),
		cmocka_unit_test(test_refused_is_failure),
	};
	struct rlimit rl;

	/* The test server holds the hold test's 3000 connections. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
