/* test_http_static.c - static-file semantics of the real daemon over real
 * sockets (issue 14): the type of what is served, conditional requests
 * (If-Range, and the validators RFC 9110 section 13 orders). Each test
 * starts its own daemon with one worker on a site of small files whose
 * modification times it sets, so every date it sends is known. */
#include "autoconfig.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "http_client.h"

/* 2020-01-01T00:00:00Z and the way a Last-Modified field spells it. */
#define T2020 1577836800
#define T2020_DATE "Wed, 01 Jan 2020 00:00:00 GMT"
#define T2019_DATE "Tue, 01 Jan 2019 00:00:00 GMT"

#define DIGITS "0123456789abcdefghijklmnopqrstuvwxyz"

struct site {
	char root[160];
};

/* root/name with text, its modification time set to mtime (0: now). */
static void put_file(const struct site *s, const char *name, const char *text,
		     time_t mtime)
{
	char path[320];

	snprintf(path, sizeof(path), "%s/%s", s->root, name);
	ht_write_file(path, text, strlen(text));
	if (mtime) {
		struct timespec ts[2] = { { mtime, 0 }, { mtime, 0 } };

		hr_check(utimensat(AT_FDCWD, path, ts, 0) == 0,
			 "utimensat %s: %s", path, strerror(errno));
	}
}

static void put_dir(const struct site *s, const char *name)
{
	char path[320];

	snprintf(path, sizeof(path), "%s/%s", s->root, name);
	hr_check(mkdir(path, 0755) == 0, "mkdir %s: %s", path, strerror(errno));
}

/* DIR/www with an index, a directory with its index and one whose name
 * looks like a file's, and a text file of known bytes and date. */
static void make_site(struct hr_daemon *d, struct site *s)
{
	snprintf(s->root, sizeof(s->root), "%s/www", d->dir);
	hr_check(mkdir(s->root, 0755) == 0, "mkdir %s", s->root);
	put_dir(s, "sub");
	put_dir(s, "dir.bin");
	put_file(s, "index.html", "<h1>root</h1>\n", 0);
	put_file(s, "sub/index.html", "<h1>sub</h1>\n", 0);
	put_file(s, "dir.bin/index.html", "<h1>dir.bin</h1>\n", 0);
	put_file(s, "abc.txt", DIGITS, T2020);
}

/* One worker serving the site, with extra config lines after docroot. */
static void start_site(struct hr_daemon *d, struct site *s, const char *extra)
{
	char text[1024], conf[256];

	make_site(d, s);
	snprintf(text, sizeof(text), "protocol http\ndocroot %s\n%s", s->root,
		 extra ? extra : "");
	ht_write_conf(d, "static.conf", text, conf, sizeof(conf));

	const char *args[] = { "-c", conf, "-w", "1", NULL };

	hr_start_ok(d, args);
}

/* GET or HEAD of target on a fresh connection, with extra header lines
 * (each ending in CRLF, or ""). */
static void ask(struct hr_daemon *d, struct ht_response *r, const char *method,
		const char *target, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

static void ask(struct hr_daemon *d, struct ht_response *r, const char *method,
		const char *target, const char *fmt, ...)
{
	char hdrs[1024], req[1400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(hdrs, sizeof(hdrs), fmt, ap);
	va_end(ap);
	snprintf(req, sizeof(req), "%s %s HTTP/1.1\r\nHost: t\r\n%s\r\n",
		 method, target, hdrs);
	ht_fetch(d->port, req, r, !strcmp(method, "HEAD"));
}

/* The value of header name in r's head, or "" if absent (static buffer,
 * one at a time). */
static const char *field(const struct ht_response *r, const char *name)
{
	static char val[512];
	char key[80];
	const char *p;

	snprintf(key, sizeof(key), "\r\n%s:", name);
	val[0] = '\0';
	p = strcasestr(r->head, key);
	if (p) {
		p += strlen(key);
		p += strspn(p, " \t");
		snprintf(val, sizeof(val), "%.*s", (int)strcspn(p, "\r"), p);
	}
	return val;
}

/* The status, and the body when one is expected. */
static void expect(const struct ht_response *r, int status, const char *body,
		   const char *what)
{
	hr_check(r->status == status, "%s: expected %d, seen %d\n%s", what,
		 status, r->status, r->head);
	if (!body)
		return;
	hr_check(r->length == (long long)strlen(body) && r->body &&
			 memcmp(r->body, body, strlen(body)) == 0,
		 "%s: expected the body \"%s\", seen %lld bytes", what, body,
		 r->length);
}

/* A directory's index is typed by its own name, index.html, not by the
 * request's path: a browser must show it, not download it. */
static void test_index_type_is_the_served_files(void **state)
{
	static const char *const dirs[] = { "/", "/sub/", "/dir.bin/" };
	struct hr_daemon *d = *state;
	struct ht_response r;
	struct site s;

	start_site(d, &s, NULL);
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		ask(d, &r, "GET", dirs[i], "%s", "");
		hr_check(r.status == 200 && !strcmp(field(&r, "Content-Type"),
						    "text/html; charset=utf-8"),
			 "%s: status %d, Content-Type \"%s\"", dirs[i],
			 r.status, field(&r, "Content-Type"));
		free(r.body);
		ask(d, &r, "HEAD", dirs[i], "%s", "");
		hr_check(!strcmp(field(&r, "Content-Type"),
				 "text/html; charset=utf-8"),
			 "HEAD %s: Content-Type \"%s\"", dirs[i],
			 field(&r, "Content-Type"));
	}
	hr_check_int("exit status", 0, hr_stop(d, SIGTERM));
}

/* If-Range (RFC 9110 13.1.5): the range only if the validator is the
 * file's current one, else the whole file with 200 - a resumed download
 * of a file changed since must not splice old and new bytes. */
static void test_if_range(void **state)
{
	struct hr_daemon *d = *state;
	struct ht_response r;
	struct site s;

	start_site(d, &s, NULL);
	ask(d, &r, "GET", "/abc.txt", "Range: bytes=10-14\r\n");
	expect(&r, 206, "abcde", "Range alone");
	free(r.body);
	ask(d, &r, "GET", "/abc.txt",
	    "Range: bytes=10-14\r\nIf-Range: " T2020_DATE "\r\n");
	expect(&r, 206, "abcde", "If-Range with the Last-Modified date");
	free(r.body);
	ask(d, &r, "GET", "/abc.txt",
	    "Range: bytes=10-14\r\nIf-Range: " T2019_DATE "\r\n");
	expect(&r, 200, DIGITS, "If-Range with an older date");
	hr_check(!*field(&r, "Content-Range"), "a 200 with Content-Range: %s",
		 r.head);
	free(r.body);
	ask(d, &r, "GET", "/abc.txt",
	    "If-Range: \"not-the-tag\"\r\nRange: bytes=10-14\r\n");
	expect(&r, 200, DIGITS, "If-Range with another entity-tag");
	free(r.body);
	ask(d, &r, "GET", "/abc.txt",
	    "Range: bytes=10-14\r\nIf-Range: W/\"weak\"\r\n");
	expect(&r, 200, DIGITS, "If-Range with a weak entity-tag");
	free(r.body);
	ask(d, &r, "GET", "/abc.txt",
	    "Range: bytes=10-14\r\nIf-Range: yesterday\r\n");
	expect(&r, 200, DIGITS, "If-Range that is neither tag nor date");
	free(r.body);
	/* Without Range, If-Range means nothing. */
	ask(d, &r, "GET", "/abc.txt", "If-Range: " T2019_DATE "\r\n");
	expect(&r, 200, DIGITS, "If-Range without Range");
	free(r.body);
	hr_check_int("exit status", 0, hr_stop(d, SIGTERM));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_index_type_is_the_served_files,
						hr_setup, hr_teardown),
		cmocka_unit_test_setup_teardown(test_if_range, hr_setup,
						hr_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
