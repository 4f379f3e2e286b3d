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

	return ht_field(r, name, val, sizeof(val));
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

/* The daemon's total of counter name, from `stats`. */
static long long total(struct hr_daemon *d, const char *name)
{
	char path[96];
	json_t *st = hr_query_ok(d, "stats");
	long long v;

	snprintf(path, sizeof(path), "totals/%s", name);
	v = (long long)hr_jint(st, path);
	json_decref(st);
	return v;
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

/* A file's strong entity-tag, as a GET answers it. */
static void etag_of(struct hr_daemon *d, const char *target, char *out, size_t len)
{
	struct ht_response r;

	ask(d, &r, "GET", target, "%s", "");
	hr_check(r.status == 200, "GET %s: %d", target, r.status);
	snprintf(out, len, "%s", field(&r, "ETag"));
	hr_check(out[0] == '"' && out[strlen(out) - 1] == '"',
		 "GET %s: no strong ETag: %s", target, r.head);
	free(r.body);
}

/* If-None-Match and If-Modified-Since (RFC 9110 13.1.2, 13.1.3): a 304
 * carries the validators and no body - the answer after it on the same
 * connection is read whole from the next byte. */
static void test_not_modified(void **state)
{
	struct hr_daemon *d = *state;
	struct ht_response r;
	struct ht_client c;
	struct site s;
	char tag[128], req[512];

	start_site(d, &s, NULL);
	etag_of(d, "/abc.txt", tag, sizeof(tag));
	ht_open(&c, d->port);
	snprintf(req, sizeof(req),
		 "GET /abc.txt HTTP/1.1\r\nHost: t\r\nIf-None-Match: %s\r\n\r\n"
		 "GET /abc.txt HTTP/1.1\r\nHost: t\r\n\r\n",
		 tag);
	ht_request(&c, req);
	hr_check(ht_read_response(&c, &r, 0) == 0, "the 304");
	expect(&r, 304, NULL, "If-None-Match with the ETag");
	hr_check(!strcmp(field(&r, "ETag"), tag) &&
			 !strcmp(field(&r, "Last-Modified"), T2020_DATE),
		 "a 304 without its validators: %s", r.head);
	hr_check(ht_read_response(&c, &r, 0) == 0, "the answer after a 304");
	expect(&r, 200, DIGITS, "the answer after a 304");
	free(r.body);
	ht_close(&c);

	ask(d, &r, "HEAD", "/abc.txt", "If-None-Match: %s\r\n", tag);
	expect(&r, 304, NULL, "HEAD with If-None-Match");
	ask(d, &r, "GET", "/abc.txt", "If-None-Match: W/%s\r\n", tag);
	expect(&r, 304, NULL, "If-None-Match compares weakly");
	ask(d, &r, "GET", "/abc.txt", "If-None-Match: \"a\", %s\r\n", tag);
	expect(&r, 304, NULL, "If-None-Match with a list");
	ask(d, &r, "GET", "/abc.txt", "If-None-Match: *\r\n");
	expect(&r, 304, NULL, "If-None-Match: *");
	ask(d, &r, "GET", "/abc.txt", "If-None-Match: \"a\", \"b\"\r\n");
	expect(&r, 200, DIGITS, "If-None-Match without our tag");
	free(r.body);
	/* If-None-Match wins over If-Modified-Since, either way. */
	ask(d, &r, "GET", "/abc.txt",
	    "If-None-Match: \"a\"\r\nIf-Modified-Since: " T2020_DATE "\r\n");
	expect(&r, 200, DIGITS, "If-None-Match fails, If-Modified-Since holds");
	free(r.body);
	ask(d, &r, "GET", "/abc.txt",
	    "If-None-Match: %s\r\nIf-Modified-Since: " T2019_DATE "\r\n", tag);
	expect(&r, 304, NULL, "If-None-Match holds, If-Modified-Since fails");
	ask(d, &r, "GET", "/abc.txt", "If-Modified-Since: " T2020_DATE "\r\n");
	expect(&r, 304, NULL, "If-Modified-Since, the same date");
	ask(d, &r, "GET", "/abc.txt", "If-Modified-Since: " T2019_DATE "\r\n");
	expect(&r, 200, DIGITS, "If-Modified-Since, an older date");
	free(r.body);
	/* Preconditions do not turn a 404 into anything else. */
	ask(d, &r, "GET", "/none.txt", "If-None-Match: *\r\n");
	expect(&r, 404, NULL, "If-None-Match on a missing file");
	free(r.body);
	hr_check_int("not_modified", 7, total(d, "not_modified"));
	hr_check_int("exit status", 0, hr_stop(d, SIGTERM));
}

/* If-Match and If-Unmodified-Since (13.1.1, 13.1.4): 412 when they fail;
 * If-Match compares strongly and comes first. */
static void test_precondition_failed(void **state)
{
	struct hr_daemon *d = *state;
	struct ht_response r;
	struct site s;
	char tag[128];

	start_site(d, &s, NULL);
	etag_of(d, "/abc.txt", tag, sizeof(tag));
	ask(d, &r, "GET", "/abc.txt", "If-Match: %s\r\n", tag);
	expect(&r, 200, DIGITS, "If-Match with the ETag");
	free(r.body);
	ask(d, &r, "GET", "/abc.txt", "If-Match: *\r\n");
	expect(&r, 200, DIGITS, "If-Match: *");
	free(r.body);
	ask(d, &r, "GET", "/abc.txt", "If-Match: \"x\"\r\n");
	expect(&r, 412, NULL, "If-Match with another tag");
	free(r.body);
	ask(d, &r, "GET", "/abc.txt", "If-Match: W/%s\r\n", tag);
	expect(&r, 412, NULL, "If-Match compares strongly");
	free(r.body);
	ask(d, &r, "HEAD", "/abc.txt", "If-Match: \"x\"\r\n");
	expect(&r, 412, NULL, "HEAD with If-Match");
	ask(d, &r, "GET", "/abc.txt", "If-Unmodified-Since: " T2019_DATE "\r\n");
	expect(&r, 412, NULL, "If-Unmodified-Since, an older date");
	free(r.body);
	ask(d, &r, "GET", "/abc.txt", "If-Unmodified-Since: " T2020_DATE "\r\n");
	expect(&r, 200, DIGITS, "If-Unmodified-Since, the same date");
	free(r.body);
	/* If-Match first: 412, though If-None-Match would say 304. */
	ask(d, &r, "GET", "/abc.txt",
	    "If-None-Match: %s\r\nIf-Match: \"x\"\r\n", tag);
	expect(&r, 412, NULL, "If-Match before If-None-Match");
	free(r.body);
	hr_check_int("precondition_failed", 5, total(d, "precondition_failed"));
	hr_check_int("not_modified", 0, total(d, "not_modified"));
	hr_check_int("exit status", 0, hr_stop(d, SIGTERM));
}

/* A file changed on disk gets a new ETag, even within the same second
 * and size: the old tag then neither validates a range nor a cache.
 * (The open-file cache checks the disk on every use here: by default a
 * change is seen within open_file_cache_valid, test_daemon_fcache.c.) */
static void test_etag_follows_the_file(void **state)
{
	struct hr_daemon *d = *state;
	struct ht_response r;
	struct site s;
	char old[128], now[128];

	start_site(d, &s, "open_file_cache_valid 0\n");
	etag_of(d, "/abc.txt", old, sizeof(old));
	ask(d, &r, "GET", "/abc.txt", "Range: bytes=0-2\r\nIf-Range: %s\r\n", old);
	expect(&r, 206, "012", "If-Range with the ETag");
	free(r.body);
	/* Same size, same second, one nanosecond later. */
	{
		char path[320];
		struct timespec ts[2] = { { T2020, 1 }, { T2020, 1 } };

		snprintf(path, sizeof(path), "%s/abc.txt", s.root);
		ht_write_file(path, DIGITS, strlen(DIGITS));
		hr_check(utimensat(AT_FDCWD, path, ts, 0) == 0, "utimensat");
	}
	etag_of(d, "/abc.txt", now, sizeof(now));
	hr_check(strcmp(old, now) != 0, "the ETag stayed %s", old);
	ask(d, &r, "GET", "/abc.txt", "Range: bytes=0-2\r\nIf-Range: %s\r\n", old);
	expect(&r, 200, DIGITS, "If-Range with the old ETag");
	free(r.body);
	ask(d, &r, "GET", "/abc.txt", "If-None-Match: %s\r\n", old);
	expect(&r, 200, DIGITS, "If-None-Match with the old ETag");
	free(r.body);
	hr_check_int("exit status", 0, hr_stop(d, SIGTERM));
}

/* The Content-Type of each name, on one connection. */
static void expect_types(struct hr_daemon *d, const char *const *names,
			 const char *const *types, size_t n, const char *what)
{
	struct ht_response r;

	for (size_t i = 0; i < n; i++) {
		ask(d, &r, "HEAD", names[i], "%s", "");
		hr_check(r.status == 200 &&
				 !strcmp(field(&r, "Content-Type"), types[i]),
			 "%s: %s: status %d, expected \"%s\", seen \"%s\"", what,
			 names[i], r.status, types[i], field(&r, "Content-Type"));
	}
}

/* mime_types names a file of an admin's types (a made-up extension
 * among them), default_type and charset apply to it; a bad line is
 * skipped with a warning; a reload reads the file again. */
static void test_mime_types_file(void **state)
{
	static const char *const names[] = { "/a.rpdt", "/b.mup", "/c.css", "/d" };
	static const char *const before[] = {
		"application/x-reuseport-test",
		"text/x-made-up; charset=iso-8859-1",
		"text/plain; charset=iso-8859-1",
		"text/plain; charset=iso-8859-1",
	};
	static const char *const after[] = {
		"image/x-reuseport-test", "text/plain; charset=iso-8859-1",
		"text/plain; charset=iso-8859-1", "text/plain; charset=iso-8859-1"
	};
	struct hr_daemon *d = *state;
	struct site s;
	char types[256], extra[512];
	json_int_t gen = 2;

	snprintf(types, sizeof(types), "%s/my.types", d->dir);
	static const char first[] = "# an admin's additions\n"
				    "application/x-reuseport-test\trpdt\n"
				    "not-a-type mup2\n"
				    "text/x-made-up mup\n";
	static const char second[] = "image/x-reuseport-test rpdt\n";

	ht_write_file(types, first, sizeof(first) - 1);
	snprintf(extra, sizeof(extra),
		 "mime_types %s\ndefault_type text/plain\ncharset iso-8859-1\n",
		 types);
	start_site(d, &s, extra);
	for (size_t i = 0; i < 4; i++)
		put_file(&s, names[i] + 1, "x", 0);
	expect_types(d, names, before, 4, "from my.types");
	hr_check(hr_log_contains(d, "MIME types: 2 extensions from") &&
			 hr_log_contains(d, "my.types:3: "),
		 "the log does not say what was loaded");

	ht_write_file(types, second, sizeof(second) - 1);
	kill(d->pid, SIGHUP);
	hr_check(hr_wait_for(d, hr_generation_up, &gen, 20000), "generation 2 up");
	expect_types(d, names, after, 4, "after a reload");
	hr_check(hr_log_contains(d, "MIME types: 1 extension from"),
		 "the reload did not read the file again");
	hr_check_int("exit status", 0, hr_stop(d, SIGTERM));
}

/* A missing file: the built-in table, and the log says so; off: the
 * same without looking, and charset off sends none. */
static void test_mime_types_fallback(void **state)
{
	static const char *const names[] = { "/c.css", "/e.png", "/d" };
	static const char *const builtin[] = {
		"text/css; charset=utf-8", "image/png", "application/octet-stream"
	};
	static const char *const bare[] = { "text/css", "image/png",
					    "application/octet-stream" };
	static const struct {
		const char *conf, *const *types, *log;
	} runs[] = {
		{ "mime_types missing.types\n", builtin,
		  "missing.types: No such file or directory; the built-in table" },
		{ "mime_types off\ncharset off\n", bare,
		  "MIME types: the built-in table" },
	};
	struct hr_daemon *d = *state;
	struct site s;

	for (size_t k = 0; k < 2; k++) {
		if (k > 0) {
			hr_free(d);
			*state = d = hr_new();
		}
		start_site(d, &s, runs[k].conf);
		for (size_t i = 0; i < 3; i++)
			put_file(&s, names[i] + 1, "x", 0);
		expect_types(d, names, runs[k].types, 3, runs[k].conf);
		hr_check(hr_log_contains(d, runs[k].log),
			 "the log does not say \"%s\"", runs[k].log);
		hr_check_int("exit status", 0, hr_stop(d, SIGTERM));
	}
}

#define CSS "body { color: black }\n"
#define CSS_GZ "gzip bytes of style.css, long enough"
#define CSS_BR "brotli bytes of style.css"

/* The site's precompressed copies: style.css in both codings, only.js in
 * gzip, old.txt with a copy older than itself, a directory's index. */
static void put_precompressed(const struct site *s)
{
	put_file(s, "style.css", CSS, T2020);
	put_file(s, "style.css.gz", CSS_GZ, T2020);
	put_file(s, "style.css.br", CSS_BR, T2020 + 1);
	put_file(s, "only.js", "let x;\n", T2020);
	put_file(s, "only.js.gz", "gzip of only.js", T2020);
	put_file(s, "old.txt", "the new text\n", T2020);
	put_file(s, "old.txt.gz", "gzip of the old text", T2020 - 1);
	put_file(s, "sub/index.html.gz", "gzip of sub/index.html", 0);
}

/* GET target with Accept-Encoding ae (NULL: none): the status, body,
 * Content-Encoding ("" for none) and the type of the original. */
static void expect_coding(struct hr_daemon *d, const char *target,
			  const char *ae, const char *body, const char *coding,
			  const char *type, struct ht_response *r)
{
	char hdr[256] = "";

	if (ae)
		snprintf(hdr, sizeof(hdr), "Accept-Encoding: %s\r\n", ae);
	ask(d, r, "GET", target, "%s", hdr);
	expect(r, 200, body, ae ? ae : "(no Accept-Encoding)");
	hr_check(!strcmp(field(r, "Content-Encoding"), coding),
		 "%s with \"%s\": Content-Encoding \"%s\", expected \"%s\"",
		 target, ae ? ae : "", field(r, "Content-Encoding"), coding);
	hr_check(!strcmp(field(r, "Content-Type"), type),
		 "%s with \"%s\": Content-Type \"%s\", expected \"%s\"", target,
		 ae ? ae : "", field(r, "Content-Type"), type);
	hr_check(!strcmp(field(r, "Vary"), "Accept-Encoding"),
		 "%s with \"%s\": no Vary: Accept-Encoding\n%s", target,
		 ae ? ae : "", r->head);
}

/* precompressed on: x.br or x.gz for x when the client accepts it and
 * the copy is not older, br before gzip, q=0 refused; the original's
 * type, Vary on every answer, ranges of the encoded bytes and a tag per
 * coding. */
static void test_precompressed(void **state)
{
	static const char *const type_css = "text/css; charset=utf-8";
	struct hr_daemon *d = *state;
	struct ht_response r;
	struct site s;
	char tag_id[128], tag_gz[128], tag_br[128], want[64];

	start_site(d, &s, "precompressed on\n");
	put_precompressed(&s);
	expect_coding(d, "/style.css", "gzip", CSS_GZ, "gzip", type_css, &r);
	snprintf(tag_gz, sizeof(tag_gz), "%s", field(&r, "ETag"));
	free(r.body);
	expect_coding(d, "/style.css", "gzip, deflate, br", CSS_BR, "br",
		      type_css, &r);
	snprintf(tag_br, sizeof(tag_br), "%s", field(&r, "ETag"));
	free(r.body);
	expect_coding(d, "/style.css", "br;q=0, gzip", CSS_GZ, "gzip", type_css,
		      &r);
	free(r.body);
	expect_coding(d, "/style.css", "gzip;q=1, br;q=0.5", CSS_GZ, "gzip",
		      type_css, &r);
	free(r.body);
	expect_coding(d, "/style.css", "gzip;q=0, br;q=0", CSS, "", type_css, &r);
	free(r.body);
	expect_coding(d, "/style.css", NULL, CSS, "", type_css, &r);
	snprintf(tag_id, sizeof(tag_id), "%s", field(&r, "ETag"));
	free(r.body);
	hr_check(strcmp(tag_id, tag_gz) && strcmp(tag_id, tag_br) &&
			 strcmp(tag_gz, tag_br),
		 "ETags not distinct: %s %s %s", tag_id, tag_gz, tag_br);
	/* Only the codings that exist, and not a stale copy. */
	expect_coding(d, "/only.js", "br, gzip", "gzip of only.js", "gzip",
		      "text/javascript; charset=utf-8", &r);
	free(r.body);
	expect_coding(d, "/old.txt", "gzip", "the new text\n", "",
		      "text/plain; charset=utf-8", &r);
	free(r.body);
	expect_coding(d, "/sub/", "gzip", "gzip of sub/index.html", "gzip",
		      "text/html; charset=utf-8", &r);
	free(r.body);

	/* A range of the encoded bytes. */
	ask(d, &r, "GET", "/style.css",
	    "Accept-Encoding: gzip\r\n"
	    "Range: bytes=5-9\r\n");
	expect(&r, 206, "bytes", "a range of style.css.gz");
	snprintf(want, sizeof(want), "bytes 5-9/%zu", strlen(CSS_GZ));
	hr_check(!strcmp(field(&r, "Content-Range"), want) &&
			 !strcmp(field(&r, "Content-Encoding"), "gzip"),
		 "a range of style.css.gz: %s", r.head);
	free(r.body);
	ask(d, &r, "GET", "/style.css",
	    "Accept-Encoding: gzip\r\nRange: bytes=0-3\r\nIf-Range: %s\r\n",
	    tag_id);
	expect(&r, 200, CSS_GZ, "If-Range with the identity tag, gzip asked");
	free(r.body);

	/* Each coding validates itself only; a 304 says Vary too. */
	ask(d, &r, "GET", "/style.css",
	    "Accept-Encoding: gzip\r\nIf-None-Match: %s\r\n", tag_gz);
	expect(&r, 304, NULL, "If-None-Match with the gzip tag");
	hr_check(!strcmp(field(&r, "Vary"), "Accept-Encoding") &&
			 !strcmp(field(&r, "ETag"), tag_gz),
		 "a 304 of the gzip copy: %s", r.head);
	ask(d, &r, "GET", "/style.css",
	    "Accept-Encoding: gzip\r\nIf-None-Match: %s\r\n", tag_id);
	expect(&r, 200, CSS_GZ, "If-None-Match with the identity tag");
	free(r.body);
	ask(d, &r, "HEAD", "/style.css", "Accept-Encoding: br\r\n");
	hr_check(r.status == 200 && r.length == (long long)strlen(CSS_BR) &&
			 !strcmp(field(&r, "Content-Encoding"), "br"),
		 "HEAD with br: %s", r.head);
	hr_check_int("precompressed", 11, total(d, "precompressed"));
	hr_check_int("exit status", 0, hr_stop(d, SIGTERM));
}

/* Off (the default), copies are plain files: never chosen, no Vary. */
static void test_precompressed_off(void **state)
{
	struct hr_daemon *d = *state;
	struct ht_response r;
	struct site s;

	start_site(d, &s, NULL);
	put_precompressed(&s);
	ask(d, &r, "GET", "/style.css", "Accept-Encoding: gzip, br\r\n");
	expect(&r, 200, CSS, "precompressed off");
	hr_check(!*field(&r, "Content-Encoding") && !*field(&r, "Vary"),
		 "precompressed off: %s", r.head);
	free(r.body);
	hr_check_int("precompressed", 0, total(d, "precompressed"));
	hr_check_int("exit status", 0, hr_stop(d, SIGTERM));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_index_type_is_the_served_files,
						hr_setup, hr_teardown),
		cmocka_unit_test_setup_teardown(test_if_range, hr_setup,
						hr_teardown),
		cmocka_unit_test_setup_teardown(test_not_modified, hr_setup,
						hr_teardown),
		cmocka_unit_test_setup_teardown(test_precondition_failed,
						hr_setup, hr_teardown),
		cmocka_unit_test_setup_teardown(test_etag_follows_the_file,
						hr_setup, hr_teardown),
		cmocka_unit_test_setup_teardown(test_mime_types_file, hr_setup,
						hr_teardown),
		cmocka_unit_test_setup_teardown(test_mime_types_fallback,
						hr_setup, hr_teardown),
		cmocka_unit_test_setup_teardown(test_precompressed, hr_setup,
						hr_teardown),
		cmocka_unit_test_setup_teardown(test_precompressed_off,
						hr_setup, hr_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
