/* test_ctl.c - the stats socket: command parsing (table-driven) and a
 * real server on a temporary socket path, driven by a client in this
 * process while the test turns the server's loop. */
#include "autoconfig.h"

#include <errno.h>
#include <fcntl.h>
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
#include <sys/stat.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "statsock.h"
#include "loop.h"
#include "stats_doc.h"
#include "util.h"

#define N_ELEM(a) (sizeof(a) / sizeof((a)[0]))
#define S(lit) lit, sizeof(lit) - 1
#define DEADLINE_MS 4000

/* --- statsock_parse --- */

struct parse_case {
	const char *line;
	size_t len;
	int ok;
	enum statsock_kind kind;
	uint64_t limit;
	const char *err; /* exact message when refused */
};

static const struct parse_case parse_cases[] = {
	{ S(""), 1, STATSOCK_STATS, 0, NULL },
	{ S("stats"), 1, STATSOCK_STATS, 0, NULL },
	{ S("STATS"), 1, STATSOCK_STATS, 0, NULL },
	{ S("Stats"), 1, STATSOCK_STATS, 0, NULL },
	{ S(" workers "), 1, STATSOCK_WORKERS, 0, NULL },
	{ S("\tworkers\t"), 1, STATSOCK_WORKERS, 0, NULL },
	{ S("limits"), 1, STATSOCK_LIMITS, 0, NULL },
	{ S("ping"), 1, STATSOCK_PING, 0, NULL },
	{ S("help"), 1, STATSOCK_HELP, 0, NULL },
	{ S("prometheus"), 1, STATSOCK_PROMETHEUS, 0, NULL },
	{ S("upgrade"), 1, STATSOCK_UPGRADE, 0, NULL },
	{ S("reload"), 1, STATSOCK_RELOAD, 0, NULL },
	{ S("upgrade now"), 0, 0, 0, "upgrade: takes no argument" },
	{ S("connections"), 1, STATSOCK_CONNECTIONS,
	  STATSOCK_CONNECTIONS_DEFAULT, NULL },
	{ S("connections 5"), 1, STATSOCK_CONNECTIONS, 5, NULL },
	{ S("CONNECTIONS  7 "), 1, STATSOCK_CONNECTIONS, 7, NULL },
	{ S("connections 1"), 1, STATSOCK_CONNECTIONS, 1, NULL },
	{ S("connections 100000000"), 1, STATSOCK_CONNECTIONS,
	  STATSOCK_CONNECTIONS_MAX, NULL },
	/* a line from a Windows-ish client */
	{ S("stats\r"), 1, STATSOCK_STATS, 0, NULL },
	{ S("connections 3\r"), 1, STATSOCK_CONNECTIONS, 3, NULL },
	{ S("\r"), 1, STATSOCK_STATS, 0, NULL },
	{ S("   "), 1, STATSOCK_STATS, 0, NULL },
	{ S("connections 0"), 0, 0, 0,
	  "connections: LIMIT must be a number 1..100000000" },
	{ S("connections -1"), 0, 0, 0,
	  "connections: LIMIT must be a number 1..100000000" },
	{ S("connections +5"), 0, 0, 0,
	  "connections: LIMIT must be a number 1..100000000" },
	{ S("connections abc"), 0, 0, 0,
	  "connections: LIMIT must be a number 1..100000000" },
	{ S("connections 5x"), 0, 0, 0,
	  "connections: LIMIT must be a number 1..100000000" },
	{ S("connections 100000001"), 0, 0, 0,
	  "connections: LIMIT must be a number 1..100000000" },
	{ S("connections 99999999999"), 0, 0, 0,
	  "connections: LIMIT must be a number 1..100000000" },
	{ S("connections 99999999999999999999999999"), 0, 0, 0,
	  "connections: LIMIT must be a number 1..100000000" },
	{ S("connections 1111111111111111111111111111111111111111111111"), 0, 0,
	  0, "connections: LIMIT must be a number 1..100000000" },
	{ S("connections 5 6"), 0, 0, 0, "connections: too many arguments" },
	{ S("ping extra"), 0, 0, 0, "ping: takes no argument" },
	{ S("stats now please"), 0, 0, 0, "stats: too many arguments" },
	{ S("bogus"), 0, 0, 0, "unknown command 'bogus' (try 'help')" },
	{ S("bogus arg"), 0, 0, 0, "unknown command 'bogus' (try 'help')" },
	{ S("stat"), 0, 0, 0, "unknown command 'stat' (try 'help')" },
	{ S("statsx"), 0, 0, 0, "unknown command 'statsx' (try 'help')" },
	/* quotes in the name cannot break out of the quoted echo */
	{ S("it's"), 0, 0, 0, "unknown command 'it\\x27s' (try 'help')" },
	/* a command name longer than any command */
	/* the name is quoted from where it starts, not from the line's
	 * leading blanks */
	{ S("  bogus"), 0, 0, 0, "unknown command 'bogus' (try 'help')" },
	{ S("\tbogus x"), 0, 0, 0, "unknown command 'bogus' (try 'help')" },
	/* a name longer than any command: quoted, cut to a bounded length */
	{ S("connectionsconnectionsconnectionsconnections"), 0, 0, 0,
	  "unknown command 'connectionsconnectionsconnectionsconnection' (try 'help')" },
};

/* Inputs that are not text at all: refused with a printable message. */
static const struct {
	const char *line;
	size_t len;
} junk_cases[] = {
	{ S("\x01\x02\x03") },
	{ S("stats\x00") },
	{ S("\xff\xfe\xfd\xfc") },
	{ S("ping\x1b[2J") },
	{ S("stats\n") },
	{ S("\x80stats") },
	{ S("GET / HTTP/1.1\r\nHost: x\r\n") },
};

/* Parses from a heap block of exactly len bytes: the real line sits in a
 * socket buffer without a NUL after it, and AddressSanitizer sees a read
 * past its end. */
static int parse(const char *line, size_t len, struct statsock_cmd *cmd,
		 char *err, size_t errlen)
{
	char *copy = malloc(len ? len : 1);
	int r;

	assert_non_null(copy);
	memcpy(copy, line, len);
	r = statsock_parse(copy, len, cmd, err, errlen);
	free(copy);
	return r;
}

static void test_parse_table(void **state)
{
	int bad = 0;

	(void)state;
	/* every case is checked and every mismatch printed, then the test
	 * fails if there was one */
	for (size_t i = 0; i < N_ELEM(parse_cases); i++) {
		const struct parse_case *t = &parse_cases[i];
		struct statsock_cmd cmd;
		char err[256] = "";
		int r = parse(t->line, t->len, &cmd, err, sizeof(err));

		if (t->ok && r != 0) {
			print_error("'%s' refused: %s\n", t->line, err);
			bad++;
		} else if (t->ok && (cmd.kind != t->kind ||
				     (t->kind == STATSOCK_CONNECTIONS &&
				      cmd.limit != t->limit))) {
			print_error("'%s': kind %d limit %llu, expected %d %llu\n",
				    t->line, (int)cmd.kind,
				    (unsigned long long)cmd.limit, (int)t->kind,
				    (unsigned long long)t->limit);
			bad++;
		} else if (!t->ok && r != -1) {
			print_error("'%s' accepted\n", t->line);
			bad++;
		} else if (!t->ok && strcmp(err, t->err) != 0) {
			print_error("'%s': error \"%s\", expected \"%s\"\n",
				    t->line, err, t->err);
			bad++;
		}
	}
	assert_int_equal(bad, 0);
}

static void test_parse_junk(void **state)
{
	(void)state;
	for (size_t i = 0; i < N_ELEM(junk_cases); i++) {
		struct statsock_cmd cmd;
		char err[256] = "";

		assert_int_equal(parse(junk_cases[i].line, junk_cases[i].len,
				       &cmd, err, sizeof(err)),
				 -1);
		assert_non_null(strstr(err, "malformed command"));
		/* the message is fit for a JSON string and a terminal */
		for (const char *p = err; *p; p++)
			if (*p < 0x20 || *p > 0x7e)
				fail_msg("case %zu: byte 0x%02x in '%s'", i,
					 (unsigned char)*p, err);
	}
}

/* A small error buffer is never overrun. */
static void test_parse_small_err(void **state)
{
	(void)state;
	for (size_t len = 1; len < 40; len++) {
		char *err = malloc(len);
		struct statsock_cmd cmd;

		assert_non_null(err);
		assert_int_equal(parse(S("definitely-not-a-command"), &cmd, err,
				       len),
				 -1);
		assert_int_equal(strlen(err), len - 1);
		assert_int_equal(parse(S("\x01\x02\x03\x04\x05\x06"), &cmd, err,
				       len),
				 -1);
		assert_true(strlen(err) <= len - 1);
		free(err);
	}
}

/* --- the server --- */

static char dir[64];
static char sock_path[100];
static struct loop *srv_loop;
static int handled;
static struct statsock_cmd last_cmd;
static struct statsock_client *held; /* a client answered later */
static int hold_next;

static void handler(void *arg, struct statsock_client *cl,
		    const struct statsock_cmd *cmd)
{
	assert_ptr_equal(arg, &handled);
	handled++;
	last_cmd = *cmd;
	if (hold_next) {
		held = cl;
		return;
	}
	char *text = malloc(64);

	assert_non_null(text);
	snprintf(text, 64, "{\"answer\":\"yes\",\"limit\":%llu}",
		 (unsigned long long)cmd->limit);
	statsock_reply(cl, text);
}

static int setup_server(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/test_ctl.XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	snprintf(sock_path, sizeof(sock_path), "%s/s.sock", dir);
	srv_loop = loop_new();
	handled = 0;
	held = NULL;
	hold_next = 0;
	return srv_loop ? 0 : -1;
}

static int teardown_server(void **state)
{
	(void)state;
	unlink(sock_path);
	rmdir(dir);
	loop_free(srv_loop);
	srv_loop = NULL;
	return 0;
}

static struct statsock *open_ctl(void)
{
	char err[256] = "";
	struct statsock *c = statsock_open(srv_loop, sock_path, 0660, handler,
					   &handled, err, sizeof(err));

	if (!c)
		fail_msg("statsock_open: %s", err);
	return c;
}

static int client_connect(void)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", sock_path);
	assert_int_equal(connect(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	assert_int_equal(util_set_nonblock(fd), 0);
	return fd;
}

/* Turns the server's loop and reads the client until the server closes
 * it; returns the answer (malloc'd, NUL-terminated). */
static char *client_read_all(int fd)
{
	uint64_t end = util_now_ms() + DEADLINE_MS;
	size_t len = 0, cap = 1024;
	char *out = malloc(cap);

	assert_non_null(out);
	for (;;) {
		ssize_t n;

		if (util_now_ms() > end)
			fail_msg("deadline: %zu bytes, no close", len);
		assert_true(loop_run_once(srv_loop, 10) >= 0);
		if (len + 1 == cap) {
			cap *= 2;
			out = realloc(out, cap);
			assert_non_null(out);
		}
		n = read(fd, out + len, cap - len - 1);
		if (n == 0)
			break;
		if (n < 0 && errno != EAGAIN) {
			/* a reset after the answer still ends it */
			assert_int_equal(errno, ECONNRESET);
			break;
		}
		if (n > 0)
			len += (size_t)n;
	}
	out[len] = '\0';
	return out;
}

/* Sends text, then reads the whole answer. */
static char *ask(const char *text, size_t len, int shut)
{
	int fd = client_connect();
	char *ans;

	assert_int_equal(write(fd, text, len), (ssize_t)len);
	if (shut)
		shutdown(fd, SHUT_WR);
	ans = client_read_all(fd);
	close(fd);
	return ans;
}

/* The answer is one JSON document and a newline. */
static json_t *parse_answer(const char *ans)
{
	size_t len = strlen(ans);
	json_error_t e;
	json_t *doc;

	assert_true(len > 1);
	assert_int_equal(ans[len - 1], '\n');
	assert_null(memchr(ans, '\n', len - 1));
	doc = json_loadb(ans, len - 1, 0, &e);
	if (!doc)
		fail_msg("not JSON (%s): %s", e.text, ans);
	return doc;
}

static void test_round_trip(void **state)
{
	struct statsock *c = open_ctl();
	struct stat st;
	char *ans;
	json_t *doc;

	(void)state;
	assert_int_equal(lstat(sock_path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0660);

	ans = ask(S("connections 5\n"), 0);
	doc = parse_answer(ans);
	assert_string_equal(json_string_value(json_object_get(doc, "answer")),
			    "yes");
	assert_int_equal(json_integer_value(json_object_get(doc, "limit")), 5);
	assert_int_equal(handled, 1);
	assert_int_equal(last_cmd.kind, STATSOCK_CONNECTIONS);
	json_decref(doc);
	free(ans);

	/* exactly the compact document and a newline */
	ans = ask(S("ping\r\n"), 0);
	assert_string_equal(ans, "{\"answer\":\"yes\",\"limit\":0}\n");
	assert_int_equal(last_cmd.kind, STATSOCK_PING);
	free(ans);

	/* EOF ends the line too (printf stats | nc -U) */
	ans = ask(S("workers"), 1);
	doc = parse_answer(ans);
	assert_int_equal(last_cmd.kind, STATSOCK_WORKERS);
	assert_int_equal(handled, 3);
	json_decref(doc);
	free(ans);

	/* an empty line asks for stats */
	ans = ask(S("\n"), 0);
	assert_int_equal(last_cmd.kind, STATSOCK_STATS);
	assert_int_equal(handled, 4);
	free(ans);

	statsock_close(c);
	assert_int_equal(lstat(sock_path, &st), -1); /* removed */
	assert_int_equal(errno, ENOENT);
}

static void test_errors_answered(void **state)
{
	struct statsock *c = open_ctl();
	char *ans, *big;
	json_t *doc;

	(void)state;
	ans = ask(S("bogus\n"), 0);
	doc = parse_answer(ans);
	assert_string_equal(json_string_value(json_object_get(doc, "error")),
			    "unknown command 'bogus' (try 'help')");
	assert_int_equal(json_object_size(doc), 1);
	json_decref(doc);
	free(ans);

	ans = ask(S("\x01\x02junk\xff\n"), 0);
	doc = parse_answer(ans);
	assert_non_null(strstr(json_string_value(json_object_get(doc, "error")),
			       "malformed command"));
	json_decref(doc);
	free(ans);

	/* more than a line's worth without a newline */
	big = malloc(STATSOCK_MAX_LINE + 100);
	assert_non_null(big);
	memset(big, 'a', STATSOCK_MAX_LINE + 100);
	ans = ask(big, STATSOCK_MAX_LINE + 100, 0);
	doc = parse_answer(ans);
	assert_string_equal(json_string_value(json_object_get(doc, "error")),
			    "command too long");
	json_decref(doc);
	free(ans);
	free(big);

	/* the handler never saw any of these */
	assert_int_equal(handled, 0);

	/* a client that connects and leaves costs nothing */
	close(client_connect());
	for (int i = 0; i < 5; i++)
		assert_true(loop_run_once(srv_loop, 5) >= 0);
	assert_int_equal(handled, 0);
	statsock_close(c);
}

/* The handler may keep the client and answer later (the workers'
 * counters take a round trip). */
static void test_async_reply(void **state)
{
	struct statsock *c = open_ctl();
	int fd;
	char *ans;

	(void)state;
	hold_next = 1;
	fd = client_connect();
	assert_int_equal(write(fd, "limits\n", 7), 7);
	for (uint64_t end = util_now_ms() + DEADLINE_MS; !held;)
		assert_true(util_now_ms() < end &&
			    loop_run_once(srv_loop, 10) >= 0);
	assert_int_equal(last_cmd.kind, STATSOCK_LIMITS);
	for (int i = 0; i < 5; i++)
		assert_true(loop_run_once(srv_loop, 5) >= 0);
	statsock_reply_error(held, stats_json_error("%s", "later"));
	held = NULL;
	ans = client_read_all(fd);
	assert_string_equal(ans, "{\"error\":\"later\"}\n");
	free(ans);
	close(fd);

	/* a client that hangs up while its answer is prepared: the reply
	 * is dropped without harm */
	fd = client_connect();
	assert_int_equal(write(fd, "stats\n", 6), 6);
	for (uint64_t end = util_now_ms() + DEADLINE_MS; !held;)
		assert_true(util_now_ms() < end &&
			    loop_run_once(srv_loop, 10) >= 0);
	close(fd);
	for (int i = 0; i < 5; i++)
		assert_true(loop_run_once(srv_loop, 5) >= 0);
	statsock_reply(held, strdup("{\"pong\":true}"));
	held = NULL;
	for (int i = 0; i < 5; i++)
		assert_true(loop_run_once(srv_loop, 5) >= 0);
	statsock_close(c);
}

/* Clients are bounded: past the limit a newcomer gets a short error
 * document at once instead of a slot. */
static void test_client_limit(void **state)
{
	enum { MANY = 128 };
	struct statsock *c = open_ctl();
	int idle[MANY], fd;
	char *ans;
	json_t *doc;

	(void)state;
	for (int i = 0; i < MANY; i++) {
		idle[i] = client_connect();
		assert_true(loop_run_once(srv_loop, 0) >= 0);
	}
	for (int i = 0; i < 5; i++)
		assert_true(loop_run_once(srv_loop, 5) >= 0);
	fd = client_connect();
	ans = client_read_all(fd);
	close(fd);
	doc = parse_answer(ans);
	assert_non_null(strstr(json_string_value(json_object_get(doc, "error")),
			       "too many"));
	json_decref(doc);
	free(ans);

	/* one leaves: the next one is served */
	close(idle[0]);
	for (int i = 0; i < 5; i++)
		assert_true(loop_run_once(srv_loop, 5) >= 0);
	ans = ask(S("ping\n"), 0);
	json_decref(parse_answer(ans));
	free(ans);
	assert_int_equal(last_cmd.kind, STATSOCK_PING);
	for (int i = 1; i < MANY; i++)
		close(idle[i]);
	statsock_close(c);
}

/* A socket file left by a crashed run is replaced. */
static void test_stale_socket_replaced(void **state)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	struct statsock *c;
	char *ans;

	(void)state;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", sock_path);
	assert_int_equal(bind(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	close(fd); /* the file stays, nothing answers */

	c = open_ctl();
	ans = ask(S("help\n"), 0);
	json_decref(parse_answer(ans));
	free(ans);
	assert_int_equal(last_cmd.kind, STATSOCK_HELP);
	assert_int_equal(handled, 1);
	statsock_close(c);
}

/* A live server at the path is not taken over. */
static void test_live_socket_refused(void **state)
{
	struct statsock *c = open_ctl(), *c2;
	char err[256] = "";
	char *ans;
	json_t *doc;

	(void)state;
	c2 = statsock_open(srv_loop, sock_path, 0660, handler, &handled, err,
			   sizeof(err));
	assert_null(c2);
	assert_non_null(strstr(err, sock_path));
	assert_non_null(strstr(err, "another server"));

	/* and the first one still answers */
	ans = ask(S("ping\n"), 0);
	doc = parse_answer(ans);
	assert_int_equal(last_cmd.kind, STATSOCK_PING);
	json_decref(doc);
	free(ans);
	statsock_close(c);
}

static void test_not_a_socket_refused(void **state)
{
	char err[256] = "";
	int fd = open(sock_path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	struct stat st;

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "precious", 8), 8);
	close(fd);
	assert_null(statsock_open(srv_loop, sock_path, 0660, handler, &handled,
				  err, sizeof(err)));
	assert_non_null(strstr(err, "not a socket"));
	assert_non_null(strstr(err, sock_path));
	/* the file is left alone */
	assert_int_equal(stat(sock_path, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_size, 8);
}

/* A binary upgrade: the new master adopts the old one's listening
 * socket (here a dup of it, as exec would pass it); while one is
 * suspended the other answers, clients that come while both are
 * suspended wait in the queue, and the file stays until its last
 * owner closes. */
static void test_adopt_suspend_keep(void **state)
{
	struct statsock *c1 = open_ctl(), *c2;
	char err[256] = "", *ans;
	struct pollfd p;
	int fd, before;
	json_t *doc;

	(void)state;
	c2 = statsock_adopt(srv_loop, dup(statsock_fd(c1)), 0, handler,
			    &handled, err, sizeof(err));
	assert_non_null(c2);
	assert_string_equal(statsock_path(c2), sock_path);

	statsock_suspend(c1, 1);
	ans = ask(S("ping\n"), 0);
	json_decref(parse_answer(ans));
	free(ans);

	/* Nobody accepts: the client waits, and is answered once one
	 * accepts again. */
	statsock_suspend(c2, 1);
	before = handled;
	fd = client_connect();
	assert_int_equal(write(fd, "ping\n", 5), 5);
	for (int i = 0; i < 10; i++)
		assert_true(loop_run_once(srv_loop, 10) >= 0);
	assert_int_equal(handled, before);
	p = (struct pollfd){ fd, POLLIN, 0 };
	assert_int_equal(poll(&p, 1, 0), 0);
	statsock_suspend(c1, 0);
	ans = client_read_all(fd);
	close(fd);
	doc = parse_answer(ans);
	assert_int_equal(handled, before + 1);
	json_decref(doc);
	free(ans);

	/* The one that leaves keeps the file for the one that stays. */
	statsock_keep_file(c2, 1);
	statsock_close(c2);
	assert_int_equal(access(sock_path, F_OK), 0);
	ans = ask(S("ping\n"), 0);
	json_decref(parse_answer(ans));
	free(ans);
	statsock_close(c1);
	assert_int_equal(access(sock_path, F_OK), -1);
}

/* Only a listening socket of the right kind is adopted. */
static void test_adopt_refused(void **state)
{
	char err[256] = "";
	int sv[2], tcp = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in sin = { .sin_family = AF_INET,
				   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv),
			 0);
	assert_null(statsock_adopt(srv_loop, sv[0], 0, handler, &handled, err,
				   sizeof(err)));
	assert_non_null(strstr(err, "not a listening Unix stream socket"));
	close(sv[1]);
	assert_true(tcp >= 0);
	assert_int_equal(bind(tcp, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(listen(tcp, 4), 0);
	assert_null(statsock_adopt(srv_loop, dup(tcp), 0, handler, &handled,
				   err, sizeof(err)));
	assert_non_null(strstr(err, "not a listening Unix stream socket"));
	/* As the metrics endpoint it is the right kind. */
	{
		struct statsock *m = statsock_adopt(srv_loop, tcp, 1, handler,
						    &handled, err, sizeof(err));

		assert_non_null(m);
		assert_string_equal(statsock_path(m), "");
		statsock_close(m);
	}
	assert_int_equal(fcntl(sv[0], F_GETFD), -1); /* taken, and closed */
}

static void test_path_too_long(void **state)
{
	char err[512] = "", path[300];

	(void)state;
	memset(path, 'p', sizeof(path) - 1);
	path[0] = '/';
	path[sizeof(path) - 1] = '\0';
	assert_null(statsock_open(srv_loop, path, 0660, handler, &handled, err,
				  sizeof(err)));
	assert_non_null(strstr(err, "too long"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_table),
		cmocka_unit_test(test_parse_junk),
		cmocka_unit_test(test_parse_small_err),
		cmocka_unit_test_setup_teardown(test_round_trip, setup_server,
						teardown_server),
		cmocka_unit_test_setup_teardown(test_errors_answered,
						setup_server, teardown_server),
		cmocka_unit_test_setup_teardown(test_async_reply, setup_server,
						teardown_server),
		cmocka_unit_test_setup_teardown(test_client_limit, setup_server,
						teardown_server),
		cmocka_unit_test_setup_teardown(test_stale_socket_replaced,
						setup_server, teardown_server),
		cmocka_unit_test_setup_teardown(test_live_socket_refused,
						setup_server, teardown_server),
		cmocka_unit_test_setup_teardown(test_not_a_socket_refused,
						setup_server, teardown_server),
		cmocka_unit_test_setup_teardown(test_path_too_long,
						setup_server, teardown_server),
		cmocka_unit_test_setup_teardown(test_adopt_suspend_keep,
						setup_server, teardown_server),
		cmocka_unit_test_setup_teardown(test_adopt_refused,
						setup_server, teardown_server),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
