/* test_daemon_access_log.c - the access log of the real daemon: its
 * lines read back in both formats (refused requests, files sent in
 * pieces and cut short included), two workers' lines whole and all
 * there, the file reopened on SIGUSR1 after a rename, and a log past the
 * file size limit that drops lines, counts them, and stops nothing. */
#include "autoconfig.h"

#include <errno.h>
#include <regex.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "http_client.h"

#define WAIT_MS 10000

/* --- the file --- */

struct lines {
	char **v;
	int n;
};

/* The complete lines of path (a last one without its newline is not). */
static struct lines read_lines(const char *path)
{
	struct lines l = { NULL, 0 };
	FILE *f = fopen(path, "r");
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;

	if (!f)
		return l;
	while ((n = getline(&line, &cap, f)) > 0) {
		if (line[n - 1] != '\n')
			break;
		line[n - 1] = '\0';
		l.v = realloc(l.v, sizeof(*l.v) * (size_t)(l.n + 1));
		l.v[l.n++] = strdup(line);
	}
	free(line);
	fclose(f);
	return l;
}

static void lines_free(struct lines *l)
{
	for (int i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

/* Polls path until it has at least n lines (the workers write theirs
 * within a second). */
static struct lines wait_lines(const char *path, int n)
{
	int64_t deadline = hr_now_ms() + WAIT_MS;
	struct lines l = read_lines(path);

	while (l.n < n && hr_now_ms() < deadline) {
		lines_free(&l);
		usleep(20000);
		l = read_lines(path);
	}
	hr_check(l.n >= n, "%s: expected %d lines, seen %d", path, n, l.n);
	return l;
}

/* --- combined --- */

struct combined {
	char addr[64], time[32], request[1024], referer[256], agent[256];
	int status;
	long long bytes;
};

/* The line as goaccess's COMBINED or an awk one-liner reads it: fields
 * at fixed places, quotes balanced, no byte that is not printable. */
static int parse_combined(const char *line, struct combined *c)
{
	static regex_t re;
	static int compiled;
	regmatch_t m[8];

	if (!compiled) {
		int r = regcomp(&re,
				"^([0-9a-f.:]+) - - \\[([0-9]{2}/[A-Z][a-z]{2}/"
				"[0-9]{4}:[0-9]{2}:[0-9]{2}:[0-9]{2} [+-][0-9]{4})\\] "
				"\"([^\"]*)\" ([0-9]{3}) ([0-9]+) \"([^\"]*)\" "
				"\"([^\"]*)\"$",
				REG_EXTENDED);

		hr_check(r == 0, "regcomp: %d", r);
		compiled = 1;
	}
	for (const char *p = line; *p; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
			return -1;
	if (regexec(&re, line, 8, m, 0) != 0)
		return -1;
#define FIELD(i, dst) \
	snprintf(dst, sizeof(dst), "%.*s", (int)(m[i].rm_eo - m[i].rm_so), \
		 line + m[i].rm_so)
	FIELD(1, c->addr);
	FIELD(2, c->time);
	FIELD(3, c->request);
	FIELD(6, c->referer);
	FIELD(7, c->agent);
#undef FIELD
	c->status = atoi(line + m[4].rm_so);
	c->bytes = atoll(line + m[5].rm_so);
	return 0;
}

static void start_logging(struct hr_daemon *d, const char *extra,
			  const char *workers, char *log, size_t loglen)
{
	char conf[256], text[1024], root[200];

	snprintf(root, sizeof(root), "%s/www", d->dir);
	mkdir(root, 0755);
	snprintf(log, loglen, "%s/access.log", d->dir);
	snprintf(text, sizeof(text),
		 "protocol http\ndocroot %s\naccess_log %s\n%s", root, log,
		 extra);
	ht_write_conf(d, "alog.conf", text, conf, sizeof(conf));
	const char *args[] = { "-c", conf, "-w", workers, NULL };

	hr_start_ok(d, args);
}

static void put_file(struct hr_daemon *d, const char *name, const char *body)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/www/%s", d->dir, name);
	ht_write_file(path, body, strlen(body));
}

/* Every kind of line, in combined: a GET with a referer and an agent, a
 * HEAD, a 404, a file sent with sendfile, a range, two refused requests
 * (a bad header, then bytes that are not HTTP at all), each with the
 * status, the body bytes and the request as they were. */
static void test_combined(void **state)
{
	struct hr_daemon *d = *state;
	char log[256], path[256];
	struct ht_response r;
	struct lines l;
	struct combined c;

	start_logging(d, "", "1", log, sizeof(log));
	put_file(d, "a.txt", "hello\n");
	snprintf(path, sizeof(path), "%s/www/big.bin", d->dir);
	ht_sparse_file(path, 200000);

	ht_fetch(d->port,
		 "GET /a.txt?q=1 HTTP/1.1\r\nHost: t\r\nReferer: http://r.example/\r\n"
		 "User-Agent: test \"agent\"\r\n\r\n",
		 &r, 0);
	hr_check_int("GET", 200, r.status);
	free(r.body);
	ht_fetch(d->port, "HEAD /a.txt HTTP/1.1\r\nHost: t\r\n\r\n", &r, 1);
	ht_fetch(d->port, "GET /nope HTTP/1.1\r\nHost: t\r\n\r\n", &r, 0);
	free(r.body);
	ht_fetch(d->port, "GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\n", &r, 0);
	hr_check_int("big", 200000, r.length);
	free(r.body);
	ht_fetch(d->port,
		 "GET /big.bin HTTP/1.1\r\nHost: t\r\nRange: bytes=100-199\r\n\r\n",
		 &r, 0);
	hr_check_int("range", 206, r.status);
	free(r.body);
	ht_fetch(d->port, "GET /x HTTP/1.1\r\nHost: t\r\nBad Header\r\n\r\n",
		 &r, 0);
	hr_check_int("bad header", 400, r.status);
	free(r.body);
	ht_fetch(d->port, "\x16\x03\x01\x02\x7f\x01\r\n", &r, 0);
	hr_check_int("not HTTP", 400, r.status);
	free(r.body);

	l = wait_lines(log, 7);
	hr_check_int("lines", 7, l.n);
	for (int i = 0; i < l.n; i++)
		hr_check(parse_combined(l.v[i], &c) == 0,
			 "line %d is not in the combined format: %s", i, l.v[i]);
	parse_combined(l.v[0], &c);
	hr_check(!strcmp(c.addr, "127.0.0.1") && c.status == 200 && c.bytes == 6 &&
			 !strcmp(c.request, "GET /a.txt?q=1 HTTP/1.1") &&
			 !strcmp(c.referer, "http://r.example/") &&
			 !strcmp(c.agent, "test \\x22agent\\x22"),
		 "the GET: %s", l.v[0]);
	parse_combined(l.v[1], &c);
	hr_check(c.status == 200 && c.bytes == 0 && !strcmp(c.agent, "-") &&
			 !strcmp(c.referer, "-"),
		 "the HEAD carries no body: %s", l.v[1]);
	parse_combined(l.v[2], &c);
	hr_check(c.status == 404, "the 404: %s", l.v[2]);
	parse_combined(l.v[3], &c);
	hr_check(c.status == 200 && c.bytes == 200000,
		 "the file sent with sendfile, all of it: %s", l.v[3]);
	parse_combined(l.v[4], &c);
	hr_check(c.status == 206 && c.bytes == 100, "the range: %s", l.v[4]);
	parse_combined(l.v[5], &c);
	hr_check(c.status == 400 && !strcmp(c.request, "GET /x HTTP/1.1"),
		 "the bad header: %s", l.v[5]);
	parse_combined(l.v[6], &c);
	hr_check(c.status == 400 &&
			 !strcmp(c.request, "\\x16\\x03\\x01\\x02\\x7F\\x01"),
		 "the bytes that are not HTTP, escaped: %s", l.v[6]);
	lines_free(&l);

	json_t *st = hr_query_ok(d, "stats");

	hr_check_int("access_log_lines", 7,
		     hr_jint(st, "totals/access_log_lines"));
	hr_check_int("access_log_dropped", 0,
		     hr_jint(st, "totals/access_log_dropped"));
	json_decref(st);
	hr_check_int("stopped", 0, hr_stop(d, SIGTERM));
}

/* A request with a chunked body is answered once its body is read, when
 * the bytes of its head are gone from the input: its line still shows
 * its request, once, with the answer's status, and so does one whose
 * body is malformed (400). */
static void test_chunked_bodies(void **state)
{
	struct hr_daemon *d = *state;
	char log[256];
	struct ht_response r;
	struct lines l;
	struct combined c;

	start_logging(d, "", "1", log, sizeof(log));
	put_file(d, "a.txt", "hello\n");
	ht_fetch(d->port,
		 "GET /a.txt HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n"
		 "\r\n5\r\nabcde\r\n0\r\n\r\n",
		 &r, 0);
	hr_check_int("chunked GET", 200, r.status);
	free(r.body);
	ht_fetch(d->port,
		 "GET /a.txt?bad HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n"
		 "\r\nzz\r\nabcde\r\n0\r\n\r\n",
		 &r, 0);
	hr_check_int("malformed chunk size", 400, r.status);
	free(r.body);

	l = wait_lines(log, 2);
	hr_check_int("lines", 2, l.n);
	hr_check(parse_combined(l.v[0], &c) == 0 && c.status == 200 &&
			 c.bytes == 6 && !strcmp(c.request, "GET /a.txt HTTP/1.1"),
		 "the chunked request: %s", l.v[0]);
	hr_check(parse_combined(l.v[1], &c) == 0 && c.status == 400 &&
			 !strcmp(c.request, "GET /a.txt?bad HTTP/1.1"),
		 "the malformed body: %s", l.v[1]);
	lines_free(&l);
	hr_check_int("stopped", 0, hr_stop(d, SIGTERM));
}

/* reuseportd -t says what the start would: an access log that cannot
 * be created (its directory is not there) fails the test, naming the
 * path; one that can passes, and -t creates nothing. A mime.types with
 * lines skipped is a warning, with its first bad line. */
static void test_config_test(void **state)
{
	struct hr_daemon *d = *state;
	char conf[256], text[1024], types[256], log[256], out[1024], err[2048];
	struct stat st;

	snprintf(types, sizeof(types), "%s/types", d->dir);
	ht_write_file(types, "text/x-made-up mup\nnot a type\n", 29);
	snprintf(text, sizeof(text),
		 "protocol http\ndocroot %s\nmime_types %s\n"
		 "access_log %s/no-such-dir/access.log\n",
		 d->dir, types, d->dir);
	ht_write_conf(d, "t.conf", text, conf, sizeof(conf));
	const char *args[] = { "-t", "-c", conf, NULL };

	hr_check_int("-t with no directory for the log", 1,
		     hr_run(d, args, 5000, out, sizeof(out), err, sizeof(err)));
	hr_check(strstr(err, "no-such-dir/access.log: No such file or directory"),
		 "-t names the log and why: %s", err);

	snprintf(log, sizeof(log), "%s/access.log", d->dir);
	snprintf(text, sizeof(text),
		 "protocol http\ndocroot %s\nmime_types %s\naccess_log %s\n",
		 d->dir, types, log);
	ht_write_conf(d, "t.conf", text, conf, sizeof(conf));
	hr_check_int("-t with a log it can create", 0,
		     hr_run(d, args, 5000, out, sizeof(out), err, sizeof(err)));
	hr_check(stat(log, &st) < 0, "-t created %s", log);
	hr_check(strstr(err, "warning: MIME types") && strstr(err, "types:2:"),
		 "-t warns of the skipped mime.types line: %s", err);
}

/* A client that leaves in the middle of a file: the line says what was
 * sent, not what was promised. */
static void test_file_cut_short(void **state)
{
	struct hr_daemon *d = *state;
	char log[256], path[256], buf[4096];
	struct ht_client cl;
	struct lines l;
	struct combined c;
	const long long size = 64ll << 20;

	start_logging(d, "", "1", log, sizeof(log));
	snprintf(path, sizeof(path), "%s/www/huge.bin", d->dir);
	ht_sparse_file(path, size);
	ht_open_small(&cl, d->port, 4096);
	ht_request(&cl, "GET /huge.bin HTTP/1.1\r\nHost: t\r\n\r\n");
	hr_check(hr_read_exact(cl.fd, buf, sizeof(buf), 5000) > 0,
		 "the file begins");
	ht_close(&cl);
	l = wait_lines(log, 1);
	hr_check(parse_combined(l.v[0], &c) == 0 && c.status == 200 &&
			 c.bytes > 0 && c.bytes < size,
		 "a file cut short: the bytes sent (%lld of %lld): %s", c.bytes,
		 size, l.v[0]);
	lines_free(&l);
	hr_check_int("stopped", 0, hr_stop(d, SIGTERM));
}

/* The same cut short among more connections than the worker's cache of
 * addresses has places (1024, by fd): another connection whose fd takes
 * the file's place meanwhile must not cost the file's line its address,
 * which a reset client no longer lets getpeername(2) tell. */
static void test_file_cut_short_busy(void **state)
{
	struct hr_daemon *d = *state;
	char log[256], path[256], buf[4096];
	struct ht_client cl, *many;
	struct ht_response r;
	struct lines l;
	struct combined c;
	struct rlimit nofile;
	const int n = 1100;
	int found = 0;

	hr_check(getrlimit(RLIMIT_NOFILE, &nofile) == 0, "getrlimit");
	if (nofile.rlim_cur < (rlim_t)n + 100) {
		nofile.rlim_cur = nofile.rlim_max;
		setrlimit(RLIMIT_NOFILE, &nofile);
	}
	if (nofile.rlim_cur < (rlim_t)n + 100) {
		skip();
		return;
	}
	start_logging(d, "", "1", log, sizeof(log));
	put_file(d, "f.txt", "x");
	snprintf(path, sizeof(path), "%s/www/huge.bin", d->dir);
	ht_sparse_file(path, 64ll << 20);
	ht_open_small(&cl, d->port, 4096);
	ht_request(&cl, "GET /huge.bin HTTP/1.1\r\nHost: t\r\n\r\n");
	hr_check(hr_read_exact(cl.fd, buf, sizeof(buf), 5000) > 0,
		 "the file begins");
	/* Held open: one of them gets the file's fd + 1024 in the worker. */
	many = calloc((size_t)n, sizeof(*many));
	hr_check(many != NULL, "calloc");
	for (int i = 0; i < n; i++) {
		ht_open(&many[i], d->port);
		ht_request(&many[i], "GET /f.txt HTTP/1.1\r\nHost: t\r\n\r\n");
		hr_check(ht_read_response(&many[i], &r, 0) == 0 && r.status == 200,
			 "connection %d answered", i);
		free(r.body);
	}
	ht_close(&cl); /* unread bytes: a reset */
	l = wait_lines(log, n + 1);
	for (int i = 0; i < l.n; i++) {
		if (!strstr(l.v[i], "/huge.bin"))
			continue;
		found++;
		hr_check(parse_combined(l.v[i], &c) == 0 &&
				 !strcmp(c.addr, "127.0.0.1") && c.bytes > 0,
			 "the file's line keeps its address: %s", l.v[i]);
	}
	hr_check_int("the file's lines", 1, found);
	lines_free(&l);
	for (int i = 0; i < n; i++)
		ht_close(&many[i]);
	free(many);
	hr_check_int("stopped", 0, hr_stop(d, SIGTERM));
}

/* --- JSON, two workers --- */

#define CONNS 40
#define PER_CONN 25

static json_t *parse_json(const char *line)
{
	json_error_t e;
	json_t *j = json_loads(line, 0, &e);

	hr_check(j && json_is_object(j), "not a JSON object (%s): %s", e.text,
		 line);
	return j;
}

/* Two workers write into one file: every line is one whole object, each
 * request has exactly its line (with the client's port and the worker
 * that served it), and the count matches the workers' own. */
static void test_json_two_workers(void **state)
{
	struct hr_daemon *d = *state;
	static int seen[CONNS][PER_CONN];
	int ports[CONNS], per_worker[2] = { 0, 0 }, bad = 0;
	char log[256];
	struct lines l;

	start_logging(d, "access_log_format json\n", "2", log, sizeof(log));
	put_file(d, "f.txt", "0123456789");
	for (int i = 0; i < CONNS; i++) {
		struct ht_client cl;
		char local[64], remote[64], req[256];

		ht_open(&cl, d->port);
		hr_endpoints(cl.fd, local, remote, sizeof(local));
		ports[i] = atoi(strrchr(local, ':') + 1);
		for (int k = 0; k < PER_CONN; k++) {
			struct ht_response r;

			snprintf(req, sizeof(req),
				 "GET /f.txt?c=%d&k=%d HTTP/1.1\r\nHost: t\r\n"
				 "User-Agent: w\xc3\xa9\t\xff\r\n\r\n",
				 i, k);
			ht_request(&cl, req);
			hr_check(ht_read_response(&cl, &r, 0) == 0 &&
					 r.status == 200,
				 "request %d/%d", i, k);
			free(r.body);
		}
		ht_close(&cl);
	}
	{
		struct ht_response r;

		ht_fetch(d->port, "GET /\xff HTTP/1.1\r\nHost: t\r\n\r\n", &r, 0);
		hr_check_int("bad target", 400, r.status);
		free(r.body);
	}

	l = wait_lines(log, CONNS * PER_CONN + 1);
	hr_check_int("lines", CONNS * PER_CONN + 1, l.n);
	for (int i = 0; i < l.n; i++) {
		json_t *j = parse_json(l.v[i]);
		int c, k,
			w = (int)json_integer_value(json_object_get(j, "worker"));
		const char *target = json_string_value(
			json_object_get(j, "target"));

		hr_check(w == 0 || w == 1, "worker: %s", l.v[i]);
		per_worker[w]++;
		hr_check(json_string_value(json_object_get(j, "time")) &&
				 strlen(json_string_value(
					 json_object_get(j, "time"))) == 29 &&
				 json_is_integer(
					 json_object_get(j, "request_time_us")),
			 "time and request_time_us: %s", l.v[i]);
		if (json_integer_value(json_object_get(j, "status")) == 400) {
			bad++;
			hr_check(!strcmp(json_string_value(
						 json_object_get(j, "request")),
					 "GET /\xef\xbf\xbd HTTP/1.1"),
				 "the refused request: %s", l.v[i]);
			json_decref(j);
			continue;
		}
		hr_check(target && sscanf(target, "/f.txt?c=%d&k=%d", &c, &k) == 2 &&
				 c >= 0 && c < CONNS && k >= 0 && k < PER_CONN,
			 "target: %s", l.v[i]);
		seen[c][k]++;
		hr_check(!strcmp(json_string_value(json_object_get(j, "addr")),
				 "127.0.0.1") &&
				 json_integer_value(json_object_get(j, "port")) ==
					 ports[c] &&
				 !strcmp(json_string_value(
						 json_object_get(j, "method")),
					 "GET") &&
				 !strcmp(json_string_value(
						 json_object_get(j, "protocol")),
					 "HTTP/1.1") &&
				 json_integer_value(json_object_get(j, "bytes")) ==
					 10 &&
				 !strcmp(json_string_value(
						 json_object_get(j, "user_agent")),
					 "w\xc3\xa9\t\xef\xbf\xbd") &&
				 json_is_null(json_object_get(j, "referer")),
			 "fields (port %d): %s", ports[c], l.v[i]);
		json_decref(j);
	}
	hr_check_int("refused lines", 1, bad);
	for (int c = 0; c < CONNS; c++)
		for (int k = 0; k < PER_CONN; k++)
			hr_check(seen[c][k] == 1, "request %d/%d: %d lines", c,
				 k, seen[c][k]);
	lines_free(&l);

	json_t *st = hr_query_ok(d, "stats");

	for (int w = 0; w < 2; w++) {
		char p[64];

		snprintf(p, sizeof(p), "workers/%d/access_log_lines", w);
		hr_check_int("lines by worker", per_worker[w], hr_jint(st, p));
		hr_check(per_worker[w] > 0, "worker %d wrote none of %d lines",
			 w, CONNS * PER_CONN);
	}
	json_decref(st);
	hr_check_int("stopped", 0, hr_stop(d, SIGTERM));
}

/* --- reopen --- */

static int log_count(struct hr_daemon *d, const char *needle)
{
	char *text = hr_log_read(d);
	int n = 0;

	for (const char *p = text; p && (p = strstr(p, needle)); p++)
		n++;
	free(text);
	return n;
}

static void get_n(int port, int n, const char *tag)
{
	struct ht_client cl;
	char req[128];

	ht_open(&cl, port);
	for (int i = 0; i < n; i++) {
		struct ht_response r;

		snprintf(req, sizeof(req),
			 "GET /f.txt?%s=%d HTTP/1.1\r\nHost: t\r\n\r\n", tag, i);
		ht_request(&cl, req);
		hr_check(ht_read_response(&cl, &r, 0) == 0 && r.status == 200,
			 "%s %d", tag, i);
		free(r.body);
	}
	ht_close(&cl);
}

/* logrotate's way: rename, SIGUSR1 to the master; the lines after it go
 * to the new file, those before stay in the old one. */
static void test_reopen(void **state)
{
	struct hr_daemon *d = *state;
	char log[256], old[300];
	struct lines l;
	int64_t deadline;

	start_logging(d, "log_level debug\n", "2", log, sizeof(log));
	put_file(d, "f.txt", "x");
	get_n(d->port, 10, "before");
	l = wait_lines(log, 10);
	lines_free(&l);
	snprintf(old, sizeof(old), "%s.1", log);
	hr_check(rename(log, old) == 0, "rename: %s", strerror(errno));
	hr_check(kill(d->pid, SIGUSR1) == 0, "SIGUSR1");
	/* Each worker says so (at debug level) once it has reopened. */
	deadline = hr_now_ms() + WAIT_MS;
	while (log_count(d, "access_log reopened") < 2 && hr_now_ms() < deadline)
		usleep(20000);
	hr_check_int("workers reopened", 2, log_count(d, "access_log reopened"));
	get_n(d->port, 10, "after");
	l = wait_lines(log, 10);
	hr_check_int("new file", 10, l.n);
	for (int i = 0; i < l.n; i++)
		hr_check(strstr(l.v[i], "?after="), "new file: %s", l.v[i]);
	lines_free(&l);
	l = read_lines(old);
	hr_check_int("old file", 10, l.n);
	for (int i = 0; i < l.n; i++)
		hr_check(strstr(l.v[i], "?before="), "old file: %s", l.v[i]);
	lines_free(&l);
	hr_check_int("stopped", 0, hr_stop(d, SIGTERM));
}

/* --- a full disk --- */

struct drained {
	json_int_t want;
};

static int all_accounted(json_t *st, void *arg)
{
	struct drained *dr = arg;

	return hr_jint(st, "totals/access_log_lines") +
		       hr_jint(st, "totals/access_log_dropped") >=
	       dr->want;
}

/* The file size limit (RLIMIT_FSIZE, as ulimit -f) stands for a full
 * disk: the writes past it fail with EFBIG (SIGXFSZ is ignored, not
 * fatal). Every request is answered, the lines that did not fit are
 * counted as dropped, the error is logged at most once a second, and
 * the workers live on. */
static void test_file_size_limit(void **state)
{
	struct hr_daemon *d = *state;
	const rlim_t limit = 32 * 1024;
	struct rlimit old, lim;
	char log[256];
	pid_t w0, w1;
	struct stat st;
	int64_t t0;
	const int n = 2000;

	hr_check(getrlimit(RLIMIT_FSIZE, &old) == 0, "getrlimit");
	lim = old;
	lim.rlim_cur = limit;
	hr_check(setrlimit(RLIMIT_FSIZE, &lim) == 0, "setrlimit");
	start_logging(d, "", "2", log, sizeof(log));
	hr_check(setrlimit(RLIMIT_FSIZE, &old) == 0, "setrlimit back");
	put_file(d, "f.txt", "x");
	w0 = ht_worker_pid(d, 0);
	w1 = ht_worker_pid(d, 1);
	t0 = hr_now_ms();
	for (int i = 0; i < 4; i++)
		get_n(d->port, n / 4, "fill");

	struct drained dr = { n };

	hr_check(hr_wait_for(d, all_accounted, &dr, WAIT_MS),
		 "every line written or counted dropped");
	json_t *s = hr_query_ok(d, "stats");

	hr_check_int("requests", n, hr_jint(s, "totals/requests"));
	hr_check_int("lines + dropped", n,
		     hr_jint(s, "totals/access_log_lines") +
			     hr_jint(s, "totals/access_log_dropped"));
	hr_check(hr_jint(s, "totals/access_log_dropped") > 0 &&
			 hr_jint(s, "totals/access_log_lines") > 0,
		 "some lines written, some dropped: %s", hr_jdump(s));
	json_decref(s);
	hr_check(stat(log, &st) == 0 && st.st_size <= (off_t)limit,
		 "the file stopped at the limit: %lld bytes",
		 (long long)st.st_size);
	hr_check(ht_worker_pid(d, 0) == w0 && ht_worker_pid(d, 1) == w1,
		 "the workers live on");
	int errors = log_count(d, "access_log ");
	int64_t secs = (hr_now_ms() - t0) / 1000 + 1;

	hr_check(errors >= 1 && errors <= 2 * (secs + 1),
		 "the error logged at most once a second per worker: %d in %lld s",
		 errors, (long long)secs);
	get_n(d->port, 10, "still");
	hr_check_int("stopped", 0, hr_stop(d, SIGTERM));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_combined, hr_setup,
						hr_teardown),
		cmocka_unit_test_setup_teardown(test_chunked_bodies, hr_setup,
						hr_teardown),
		cmocka_unit_test_setup_teardown(test_config_test, hr_setup,
						hr_teardown),
		cmocka_unit_test_setup_teardown(test_file_cut_short, hr_setup,
						hr_teardown),
		cmocka_unit_test_setup_teardown(test_file_cut_short_busy,
						hr_setup, hr_teardown),
		cmocka_unit_test_setup_teardown(test_json_two_workers, hr_setup,
						hr_teardown),
		cmocka_unit_test_setup_teardown(test_reopen, hr_setup, hr_teardown),
		cmocka_unit_test_setup_teardown(test_file_size_limit, hr_setup,
						hr_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
