/* test_daemon_fcache.c - the open-file cache in the real daemon, over
 * real sockets (issue 14): a hot file answered from the cache, changes on
 * disk (rewritten in place, replaced by rename, removed) seen once the
 * validity time is over, one entry per vhost and per precompressed copy,
 * downloads that outlive their entry, unused entries closed, and the
 * cache cut to the open-files limit. Each test starts its own daemon
 * with one worker; waits poll with a deadline. */
#include "autoconfig.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "http_client.h"

#define DEADLINE_MS 10000

/* DIR/www (or DIR/NAME) made, its path in root. */
static void make_root(struct hr_daemon *d, const char *name, char *root, size_t len)
{
	snprintf(root, len, "%s/%s", d->dir, name);
	hr_check(mkdir(root, 0755) == 0, "mkdir %s: %s", root, strerror(errno));
}

static void put(const char *root, const char *name, const char *text)
{
	char path[PATH_MAX + 64];

	snprintf(path, sizeof(path), "%s/%s", root, name);
	ht_write_file(path, text, strlen(text));
}

/* name replaced by a new file (a new inode) with text, as rsync or a
 * deploy script does. */
static void replace(const char *root, const char *name, const char *text)
{
	char tmp[PATH_MAX], path[PATH_MAX];

	snprintf(tmp, sizeof(tmp), "%s/.replace.new", root);
	snprintf(path, sizeof(path), "%s/%s", root, name);
	ht_write_file(tmp, text, strlen(text));
	hr_check(rename(tmp, path) == 0, "rename %s: %s", path, strerror(errno));
}

/* One worker serving conf_text (after "protocol http"). */
static void start(struct hr_daemon *d, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void start(struct hr_daemon *d, const char *fmt, ...)
{
	char text[2048], conf[256];
	va_list ap;
	int n = snprintf(text, sizeof(text), "protocol http\n");

	va_start(ap, fmt);
	vsnprintf(text + n, sizeof(text) - (size_t)n, fmt, ap);
	va_end(ap);
	ht_write_conf(d, "fcache.conf", text, conf, sizeof(conf));

	const char *args[] = { "-c", conf, "-w", "1", NULL };

	hr_start_ok(d, args);
}

/* GET target with Host: host and extra header lines, on a fresh
 * connection. */
static void get(struct hr_daemon *d, struct ht_response *r, const char *host,
		const char *target, const char *extra)
{
	char req[1024];

	snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: %s\r\n%s\r\n",
		 target, host, extra ? extra : "");
	ht_fetch(d->port, req, r, 0);
}

static int body_is(const struct ht_response *r, const char *text)
{
	return r->length == (long long)strlen(text) && r->body &&
	       !memcmp(r->body, text, strlen(text));
}

static void expect_body(const struct ht_response *r, int status,
			const char *text, const char *what)
{
	hr_check(r->status == status && body_is(r, text),
		 "%s: expected %d \"%s\", seen %d with %lld bytes:\n%s", what,
		 status, text, r->status, r->length, r->head);
}

/* GET target (Host: host) answers status, with the body text when not
 * NULL. */
static void check_get(struct hr_daemon *d, const char *host, const char *target,
		      int status, const char *text, const char *what)
{
	struct ht_response r;

	get(d, &r, host, target, NULL);
	if (text)
		expect_body(&r, status, text, what);
	else
		hr_check(r.status == status, "%s: expected %d, seen %d\n%s",
			 what, status, r.status, r.head);
	free(r.body);
}

/* Polls GET target until its answer is status with body text (NULL: any
 * body), the change the validity time lets through; 1, or 0 at the
 * deadline. The answer seen last is left in r. */
static int wait_answer(struct hr_daemon *d, struct ht_response *r,
		       const char *target, int status, const char *text)
{
	int64_t end = hr_now_ms() + DEADLINE_MS;

	for (;;) {
		get(d, r, "t", target, NULL);
		if (r->status == status && (!text || body_is(r, text)))
			return 1;
		if (hr_now_ms() > end)
			return 0;
		free(r->body);
		r->body = NULL;
		poll(NULL, 0, 20);
	}
}

/* A hot file: the first GET opens it, the next ones on one kept-alive
 * connection are cache hits - no miss more. */
static void test_hot_file_from_cache(void **state)
{
	struct hr_daemon *d = *state;
	char root[PATH_MAX];
	struct ht_client c;
	struct ht_response r;
	long long hits, misses;

	make_root(d, "www", root, sizeof(root));
	put(root, "hot.html", "hot\n");
	start(d, "docroot %s\n", root);
	ht_open(&c, d->port);
	for (int i = 0; i < 50; i++) {
		ht_request(&c, "GET /hot.html HTTP/1.1\r\nHost: t\r\n\r\n");
		hr_check(ht_read_response(&c, &r, 0) == 0, "answer %d", i);
		expect_body(&r, 200, "hot\n", "hot file");
		free(r.body);
	}
	ht_close(&c);
	hits = hr_total(d, "open_file_cache_hits");
	misses = hr_total(d, "open_file_cache_misses");
	hr_note("hits %lld, misses %lld", hits, misses);
	hr_check_int("misses", 1, misses);
	hr_check_int("hits", 49, hits);
	hr_check_int("stopped", 0, hr_stop(d, SIGTERM));
}

/* Changed on disk: rewritten in place (same inode, other bytes and
 * size), then replaced by rename (another inode), then removed - each
 * seen once open_file_cache_valid is over, with a Content-Length, an
 * ETag and bytes that agree. */
static void test_changes_seen_after_validity(void **state)
{
	struct hr_daemon *d = *state;
	char root[PATH_MAX], etag1[128], etag2[128], etag3[128];
	struct ht_response r;

	make_root(d, "www", root, sizeof(root));
	put(root, "f.txt", "version 1\n");
	start(d, "docroot %s\nopen_file_cache_valid 200ms\n", root);
	get(d, &r, "t", "/f.txt", NULL);
	expect_body(&r, 200, "version 1\n", "first");
	ht_field(&r, "ETag", etag1, sizeof(etag1));
	free(r.body);

	put(root, "f.txt", "version 2, longer\n");
	hr_check(wait_answer(d, &r, "/f.txt", 200, "version 2, longer\n"),
		 "rewritten in place: still %d, %lld bytes", r.status, r.length);
	ht_field(&r, "ETag", etag2, sizeof(etag2));
	hr_check(strcmp(etag1, etag2) != 0, "the ETag stayed %s", etag1);
	free(r.body);

	replace(root, "f.txt", "version 3\n");
	hr_check(wait_answer(d, &r, "/f.txt", 200, "version 3\n"),
		 "replaced by rename: still %d, %lld bytes", r.status, r.length);
	ht_field(&r, "ETag", etag3, sizeof(etag3));
	hr_check(strcmp(etag3, etag2) != 0 && strcmp(etag3, etag1) != 0,
		 "the ETag did not change: %s", etag3);
	free(r.body);

	hr_check(unlink(strcat(root, "/f.txt")) == 0, "unlink");
	hr_check(wait_answer(d, &r, "/f.txt", 404, NULL), "removed: still %d",
		 r.status);
	free(r.body);
	hr_check(hr_total(d, "open_file_cache_hits") > 0, "no hit at all");
	hr_check_int("stopped", 0, hr_stop(d, SIGTERM));
}

/* Rewritten in place to another size within the validity time: seen at
 * once, since the read of a cached file asks for a byte past its cached
 * end - the old length and ETag never go out with new bytes. Small files
 * (read into the answer) and large ones (sendfile) alike. Files written
 * just now, as here, are not settled, so the cache keeps no copy of
 * their bytes; one it keeps is served whole as that version until the
 * validity time is over (test_settled_file_from_memory). */
static void test_resized_in_place_seen_at_once(void **state)
{
	struct hr_daemon *d = *state;
	char root[PATH_MAX], path[PATH_MAX + 16], *big;
	struct ht_response r;
	size_t n = 100000;

	make_root(d, "www", root, sizeof(root));
	put(root, "f.txt", "version 1\n");
	snprintf(path, sizeof(path), "%s/big.txt", root);
	big = malloc(n + 1);
	hr_check(big != NULL, "out of memory");
	memset(big, 'a', n);
	ht_write_file(path, big, n);
	start(d, "docroot %s\nopen_file_cache_valid 1h\n", root);
	check_get(d, "t", "/f.txt", 200, "version 1\n", "first");
	get(d, &r, "t", "/big.txt", NULL);
	hr_check(r.status == 200 && r.length == (long long)n, "big: %lld",
		 r.length);
	free(r.body);

	put(root, "f.txt", "version 2, longer\n");
	check_get(d, "t", "/f.txt", 200, "version 2, longer\n", "grown");
	put(root, "f.txt", "v3\n");
	check_get(d, "t", "/f.txt", 200, "v3\n", "shrunk");
	memset(big, 'b', n);
	big[n - 1] = '\0';
	ht_write_file(path, big, n - 1);
	get(d, &r, "t", "/big.txt", NULL);
	hr_check(r.status == 200 && r.length == (long long)n - 1 && r.body &&
			 r.body[0] == 'b',
		 "big rewritten: %d, %lld bytes", r.status, r.length);
	free(r.body);
	free(big);
	hr_check_int("stopped", 0, hr_stop(d, SIGTERM));
}

/* Asks for target until an answer comes from the cache's copy of its
 * bytes (the file settled: http_fcache.h), which is text. */
static void wait_from_memory(struct hr_daemon *d, const char *target,
			     const char *text)
{
	int64_t end = hr_now_ms() + DEADLINE_MS;

	while (hr_total(d, "open_file_cache_body_hits") == 0) {
		hr_check(hr_now_ms() < end, "no answer from memory in %d ms",
			 DEADLINE_MS);
		check_get(d, "t", target, 200, text, "settling");
		poll(NULL, 0, 50);
	}
}

/* A settled small file's bytes are kept in memory (open_file_cache_content):
 * once its status is FCACHE_SETTLE_SECONDS old, answers are copied from
 * the cache (open_file_cache_body_hits), ranges of it too. Rewritten in
 * place to the same size, every answer is one version whole - its bytes
 * with its own ETag - and the new one shows within the validity time. */
static void test_settled_file_from_memory(void **state)
{
	struct hr_daemon *d = *state;
	char root[PATH_MAX], etag1[128], etag[128];
	struct ht_response r;
	int64_t end;
	int v1_after = 0;

	make_root(d, "www", root, sizeof(root));
	put(root, "s.txt", "settled v1\n");
	start(d, "docroot %s\nworkers 1\nopen_file_cache_valid 300ms\n", root);
	wait_from_memory(d, "/s.txt", "settled v1\n");
	get(d, &r, "t", "/s.txt", NULL);
	expect_body(&r, 200, "settled v1\n", "from memory");
	ht_field(&r, "ETag", etag1, sizeof(etag1));
	free(r.body);
	get(d, &r, "t", "/s.txt", "Range: bytes=2-5\r\n");
	expect_body(&r, 206, "ttle", "a range from memory");
	free(r.body);

	put(root, "s.txt", "settled v2\n");
	end = hr_now_ms() + DEADLINE_MS;
	for (;;) {
		get(d, &r, "t", "/s.txt", NULL);
		ht_field(&r, "ETag", etag, sizeof(etag));
		if (body_is(&r, "settled v2\n")) {
			hr_check(strcmp(etag, etag1) != 0,
				 "new bytes with the old ETag %s", etag);
			free(r.body);
			break;
		}
		expect_body(&r, 200, "settled v1\n", "the kept version");
		hr_check(!strcmp(etag, etag1), "old bytes with ETag %s, not %s",
			 etag, etag1);
		v1_after++;
		free(r.body);
		hr_check(hr_now_ms() < end, "the rewrite not seen in %d ms",
			 DEADLINE_MS);
		poll(NULL, 0, 20);
	}
	hr_note("%d answers of the kept version after the rewrite", v1_after);
	hr_check(hr_total(d, "open_file_cache_body_hits") >= 2,
		 "body hits: %lld", hr_total(d, "open_file_cache_body_hits"));
	hr_check_int("stopped", 0, hr_stop(d, SIGTERM));
}

/* Answers from memory leave from the cache's copy, after their head,
 * without being copied into the batch (proto_http.h's tail). Pipelined
 * behind such an answer, another request's lookup can close the entry
 * that copy belongs to: with a cache of one entry, every other request
 * here does. Each answer must still arrive whole and in order (and,
 * under AddressSanitizer, from live memory). */
static void test_memory_answers_pipelined(void **state)
{
	struct hr_daemon *d = *state;
	static const char *const order[] = { "a", "a", "b", "b", "a",
					     "a", "x", "a", "b", "a" };
	enum { N = sizeof(order) / sizeof(order[0]) };
	char root[PATH_MAX], req[N * 64], *p = req;
	struct ht_client c;
	struct ht_response r;

	make_root(d, "www", root, sizeof(root));
	put(root, "a.txt", "the bytes of a\n");
	put(root, "b.txt", "b, with other bytes\n");
	start(d, "docroot %s\nworkers 1\nopen_file_cache 1\n", root);
	/* settled: an entry kept (a then a again) answers from memory */
	wait_from_memory(d, "/a.txt", "the bytes of a\n");
	for (int i = 0; i < N; i++)
		p += sprintf(p, "GET /%s.txt HTTP/1.1\r\nHost: t\r\n\r\n",
			     order[i]);
	ht_open(&c, d->port);
	ht_request(&c, req);
	for (int i = 0; i < N; i++) {
		const char *want = order[i][0] == 'a' ? "the bytes of a\n" :
				   order[i][0] == 'b' ? "b, with other bytes\n" :
							NULL;

		hr_check(ht_read_response(&c, &r, 0) == 0, "answer %d", i);
		if (want)
			expect_body(&r, 200, want, order[i]);
		else
			hr_check(r.status == 404, "answer %d: %d", i, r.status);
		free(r.body);
	}
	ht_close(&c);
	hr_check(hr_total(d, "open_file_cache_body_hits") >= 3,
		 "body hits: %lld", hr_total(d, "open_file_cache_body_hits"));
	hr_check_int("stopped", 0, hr_stop(d, SIGTERM));
}

/* A file added where a 404 was cached is seen too, and a directory's
 * index (/sub/ -> sub/index.html) is its own entry, checked by its
 * index. */
static void test_missing_then_added_and_index(void **state)
{
	struct hr_daemon *d = *state;
	char root[PATH_MAX], sub[PATH_MAX + 8];
	struct ht_response r;

	make_root(d, "www", root, sizeof(root));
	snprintf(sub, sizeof(sub), "%s/sub", root);
	hr_check(mkdir(sub, 0755) == 0, "mkdir sub");
	put(root, "sub/index.html", "<p>sub 1</p>\n");
	start(d, "docroot %s\nopen_file_cache_valid 200ms\n", root);
	check_get(d, "t", "/new.txt", 404, NULL, "before it exists");
	check_get(d, "t", "/new.txt", 404, NULL, "again");
	put(root, "new.txt", "new\n");
	hr_check(wait_answer(d, &r, "/new.txt", 200, "new\n"),
		 "added: still %d", r.status);
	free(r.body);

	check_get(d, "t", "/sub/", 200, "<p>sub 1</p>\n", "index");
	check_get(d, "t", "/sub", 301, NULL, "without its slash");
	replace(root, "sub/index.html", "<p>sub 2</p>\n");
	hr_check(wait_answer(d, &r, "/sub/", 200, "<p>sub 2</p>\n"),
		 "index replaced: still %d", r.status);
	free(r.body);
	check_get(d, "t", "/sub", 301, NULL, "still without its slash");
	hr_check_int("stopped", 0, hr_stop(d, SIGTERM));
}

/* Two vhosts with the same paths: each gets its own files, from its own
 * entries, however the requests alternate. */
static void test_vhosts_apart(void **state)
{
	struct hr_daemon *d = *state;
	char a[PATH_MAX], b[PATH_MAX];

	make_root(d, "a", a, sizeof(a));
	make_root(d, "b", b, sizeof(b));
	put(a, "index.html", "site a\n");
	put(a, "x.txt", "x of a\n");
	put(b, "index.html", "site b\n");
	put(b, "x.txt", "x of b\n");
	start(d, "vhost a.test %s\nvhost b.test %s\n", a, b);
	for (int i = 0; i < 4; i++) {
		check_get(d, "a.test", "/", 200, "site a\n", "a /");
		check_get(d, "b.test", "/", 200, "site b\n", "b /");
		check_get(d, "b.test", "/x.txt", 200, "x of b\n", "b /x.txt");
		check_get(d, "a.test", "/x.txt", 200, "x of a\n", "a /x.txt");
	}
	hr_check_int("misses: one per vhost and path", 4,
		     hr_total(d, "open_file_cache_misses"));
	hr_check_int("hits", 12, hr_total(d, "open_file_cache_hits"));
	hr_check_int("stopped", 0, hr_stop(d, SIGTERM));
}

/* With precompressed on, x.css and x.css.gz are two entries: each answer
 * the one its Accept-Encoding asks for, its ETag its own; a copy that
 * does not exist (.br) is remembered as such. */
static void test_precompressed_apart(void **state)
{
	struct hr_daemon *d = *state;
	char root[PATH_MAX], plain[128], gz[128], val[64];
	struct ht_response r;
	struct timespec old[2] = { { 1577836800, 0 }, { 1577836800, 0 } };
	char path[PATH_MAX + 8];

	make_root(d, "www", root, sizeof(root));
	put(root, "x.css", "body{}\n");
	snprintf(path, sizeof(path), "%s/x.css", root);
	hr_check(utimensat(AT_FDCWD, path, old, 0) == 0, "utimensat");
	put(root, "x.css.gz", "GZIPPED");
	start(d, "docroot %s\nprecompressed on\n", root);
	for (int i = 0; i < 3; i++) {
		get(d, &r, "t", "/x.css", "Accept-Encoding: br, gzip\r\n");
		expect_body(&r, 200, "GZIPPED", "gzip accepted");
		hr_check(!strcmp(ht_field(&r, "Content-Encoding", val, sizeof(val)),
				 "gzip"),
			 "Content-Encoding: %s", val);
		ht_field(&r, "ETag", gz, sizeof(gz));
		free(r.body);
		get(d, &r, "t", "/x.css", NULL);
		expect_body(&r, 200, "body{}\n", "no Accept-Encoding");
		ht_field(&r, "ETag", plain, sizeof(plain));
		hr_check(!ht_field(&r, "Content-Encoding", val, sizeof(val))[0],
			 "Content-Encoding: %s", val);
		free(r.body);
		hr_check(strcmp(gz, plain) != 0, "one ETag for both: %s", gz);
	}
	/* Three lookups per gzip answer (x.css, x.css.br - none -,
	 * x.css.gz) and one per plain one; the first three were misses. */
	hr_check_int("misses", 3, hr_total(d, "open_file_cache_misses"));
	hr_check_int("hits", 3 * 4 - 3, hr_total(d, "open_file_cache_hits"));
	hr_check_int("precompressed", 3, hr_total(d, "precompressed"));
	/* The copy asked for by its own name: the same entry as the gzip
	 * answers' but another answer - its own type and ETag, not the
	 * ones those answers left with the entry, and theirs after it. */
	for (int i = 0; i < 2; i++) {
		get(d, &r, "t", "/x.css.gz", NULL);
		expect_body(&r, 200, "GZIPPED", "the copy by its name");
		ht_field(&r, "Content-Type", val, sizeof(val));
		hr_check(strncmp(val, "text/css", 8) != 0, "Content-Type: %s",
			 val);
		hr_check(!ht_field(&r, "Content-Encoding", val, sizeof(val))[0],
			 "Content-Encoding: %s", val);
		ht_field(&r, "ETag", plain, sizeof(plain));
		hr_check(strcmp(gz, plain) != 0, "the gzip answer's ETag: %s", gz);
		free(r.body);
		get(d, &r, "t", "/x.css", "Accept-Encoding: gzip\r\n");
		expect_body(&r, 200, "GZIPPED", "gzip accepted, after");
		ht_field(&r, "Content-Type", val, sizeof(val));
		hr_check(strncmp(val, "text/css", 8) == 0, "Content-Type: %s",
			 val);
		ht_field(&r, "ETag", val, sizeof(val));
		hr_check(strcmp(gz, val) == 0, "ETag %s, not %s", val, gz);
		free(r.body);
	}
	hr_check_int("stopped", 0, hr_stop(d, SIGTERM));
}

/* The byte at off of the big file: a pattern, so that a byte from
 * another file or offset shows. */
static unsigned char big_byte(size_t off, int version)
{
	return (unsigned char)((off * 31 + off / 4093 + (size_t)version * 7) &
			       0xff);
}

#define BIG_SIZE (16u << 20)

static void put_big(const char *root, const char *name, int version)
{
	char path[PATH_MAX], tmp[PATH_MAX];
	unsigned char *b = malloc(BIG_SIZE);

	hr_check(b != NULL, "out of memory");
	for (size_t i = 0; i < BIG_SIZE; i++)
		b[i] = big_byte(i, version);
	snprintf(tmp, sizeof(tmp), "%s/.big.new", root);
	snprintf(path, sizeof(path), "%s/%s", root, name);
	ht_write_file(tmp, b, BIG_SIZE);
	hr_check(rename(tmp, path) == 0, "rename");
	free(b);
}

/* A download of the big file begun on a client that reads slowly: its
 * head and first bytes are read, the rest waits on the server. */
static void begin_download(struct hr_daemon *d, struct ht_client *c)
{
	char *end;

	ht_open_small(c, d->port, 4096);
	ht_request(c, "GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\n");
	while (!(end = memmem(c->buf, c->len, "\r\n\r\n", 4)))
		hr_check(ht_fill(c, 5000) == 1, "no head for the download");
	hr_check(!strncmp(c->buf, "HTTP/1.1 200", 12), "download: %.40s", c->buf);
	ht_consume(c, (size_t)(end - c->buf) + 4);
}

/* The rest of the download, every byte checked against version 1. */
static void finish_download(struct ht_client *c)
{
	size_t got = 0;

	for (;;) {
		for (size_t i = 0; i < c->len; i++)
			hr_check(big_byte(got + i, 1) == (unsigned char)c->buf[i],
				 "byte %zu of the download differs", got + i);
		got += c->len;
		c->len = 0;
		if (got >= BIG_SIZE)
			break;
		hr_check(ht_fill(c, 5000) == 1, "download cut at %zu of %u",
			 got, BIG_SIZE);
	}
	hr_check_int("download length", BIG_SIZE, got);
}

/* A cache of one entry: while a 16 MiB download goes on, other files
 * take its entry - the download goes on from its own descriptor. */
static void test_download_outlives_eviction(void **state)
{
	struct hr_daemon *d = *state;
	char root[PATH_MAX], name[32];
	struct ht_client c;

	make_root(d, "www", root, sizeof(root));
	put_big(root, "big.bin", 1);
	for (int i = 0; i < 3; i++) {
		snprintf(name, sizeof(name), "f%d.txt", i);
		put(root, name, name);
	}
	start(d, "docroot %s\nopen_file_cache 1\n", root);
	begin_download(d, &c);
	for (int i = 0; i < 3; i++) {
		char target[40];

		snprintf(name, sizeof(name), "f%d.txt", i);
		snprintf(target, sizeof(target), "/%s", name);
		check_get(d, "t", target, 200, name, "another file");
	}
	hr_check(hr_total(d, "open_file_cache_evictions") >= 3,
		 "evictions: %lld", hr_total(d, "open_file_cache_evictions"));
	finish_download(&c);
	ht_close(&c);
	hr_check_int("stopped", 0, hr_stop(d, SIGTERM));
}

/* While a download goes on, its file is replaced and the new one served
 * to others (its entry found changed and closed): the download ends with
 * the bytes of the file it began with. */
static void test_download_outlives_invalidation(void **state)
{
	struct hr_daemon *d = *state;
	char root[PATH_MAX];
	struct ht_client c;
	struct ht_response r;
	int64_t end = hr_now_ms() + DEADLINE_MS;

	make_root(d, "www", root, sizeof(root));
	put_big(root, "big.bin", 1);
	start(d, "docroot %s\nopen_file_cache_valid 200ms\n", root);
	begin_download(d, &c);
	put_big(root, "big.bin", 2);
	/* HEAD: the new file's ETag without 16 MiB more. */
	for (;;) {
		char req[] = "HEAD /big.bin HTTP/1.1\r\nHost: t\r\n\r\n";
		struct ht_response h1;
		struct stat st;
		char etag[128], want[PATH_MAX + 16];

		ht_fetch(d->port, req, &h1, 1);
		snprintf(want, sizeof(want), "%s/big.bin", root);
		hr_check(stat(want, &st) == 0, "stat");
		ht_field(&h1, "ETag", etag, sizeof(etag));
		snprintf(want, sizeof(want), "\"%llx-",
			 (unsigned long long)st.st_ino);
		if (!strncmp(etag, want, strlen(want)))
			break;
		hr_check(hr_now_ms() < end,
			 "the new file's ETag never came: %s", etag);
		poll(NULL, 0, 20);
	}
	get(d, &r, "t", "/big.bin", NULL);
	hr_check(r.length == BIG_SIZE && r.body &&
			 (unsigned char)r.body[12345] == big_byte(12345, 2),
		 "the new file: %lld bytes", r.length);
	free(r.body);
	finish_download(&c);
	ht_close(&c);
	hr_check_int("stopped", 0, hr_stop(d, SIGTERM));
}

/* Does pid hold a descriptor of path? */
static int holds_file(pid_t pid, const char *path)
{
	char dir[64], link[PATH_MAX + 64], target[PATH_MAX];
	struct dirent *e;
	DIR *dp;
	int found = 0;

	snprintf(dir, sizeof(dir), "/proc/%d/fd", (int)pid);
	dp = opendir(dir);
	hr_check(dp != NULL, "%s: %s", dir, strerror(errno));
	while (!found && (e = readdir(dp))) {
		ssize_t n;

		snprintf(link, sizeof(link), "%s/%s", dir, e->d_name);
		n = readlink(link, target, sizeof(target) - 1);
		if (n <= 0)
			continue;
		target[n] = '\0';
		found = !strcmp(target, path);
	}
	closedir(dp);
	return found;
}

/* An entry unused for open_file_cache_inactive is closed by the worker
 * without any request: a removed file's space is not held for long. */
static void test_inactive_closed(void **state)
{
	struct hr_daemon *d = *state;
	char root[PATH_MAX], path[PATH_MAX + 16];
	pid_t w;
	int64_t end;

	make_root(d, "www", root, sizeof(root));
	put(root, "cold.txt", "cold\n");
	snprintf(path, sizeof(path), "%s/cold.txt", root);
	start(d, "docroot %s\nopen_file_cache_inactive 300ms\n", root);
	w = ht_worker_pid(d, 0);
	check_get(d, "t", "/cold.txt", 200, "cold\n", "cold file");
	hr_check(holds_file(w, path), "the worker holds no descriptor of %s",
		 path);
	end = hr_now_ms() + DEADLINE_MS;
	while (holds_file(w, path)) {
		hr_check(hr_now_ms() < end, "%s still open in the worker", path);
		poll(NULL, 0, 20);
	}
	hr_check_int("stopped", 0, hr_stop(d, SIGTERM));
}

/* A low open-files limit: the cache is cut to a quarter of what a
 * worker has, with a warning, and many files are still served. */
static void test_cut_to_fd_limit(void **state)
{
	struct hr_daemon *d = *state;
	char root[PATH_MAX], name[32], target[40];

	make_root(d, "www", root, sizeof(root));
	for (int i = 0; i < 60; i++) {
		snprintf(name, sizeof(name), "%d.txt", i);
		put(root, name, name);
	}
	start(d, "docroot %s\nrlimit_nofile 128\nopen_file_cache 1000\n", root);
	hr_check(hr_log_contains(d, "open_file_cache 1000 exceeds a quarter"),
		 "no warning of the cut");
	for (int round = 0; round < 2; round++)
		for (int i = 0; i < 60; i++) {
			snprintf(name, sizeof(name), "%d.txt", i);
			snprintf(target, sizeof(target), "/%s", name);
			check_get(d, "t", target, 200, name, "a file");
		}
	/* (128 - 32) / 4 = 24 entries: 60 files do not fit. */
	hr_check(hr_total(d, "open_file_cache_evictions") >= 60,
		 "evictions: %lld", hr_total(d, "open_file_cache_evictions"));
	hr_check_int("stopped", 0, hr_stop(d, SIGTERM));
}

/* The lowest descriptor number pid does not use. */
static int lowest_free_fd(pid_t pid)
{
	char dir[64];
	static char used[65536];
	struct dirent *e;
	DIR *dp;
	int n = 0;

	memset(used, 0, sizeof(used));
	snprintf(dir, sizeof(dir), "/proc/%d/fd", (int)pid);
	dp = opendir(dir);
	hr_check(dp != NULL, "%s: %s", dir, strerror(errno));
	while ((e = readdir(dp))) {
		long fd = strtol(e->d_name, NULL, 10);

		if (e->d_name[0] != '.' && fd >= 0 && fd < (long)sizeof(used))
			used[fd] = 1;
	}
	closedir(dp);
	while (used[n])
		n++;
	return n;
}

/* A worker whose open-files limit leaves no descriptor free (another
 * process lowered it, as prlimit does): accept4 fails with EMFILE, and
 * the worker closes half of its open-file cache rather than leave new
 * connections waiting while cached files hold the descriptors. The files
 * are asked for on one kept-alive connection, so that the connection
 * and the cached files hold every number up to the limit, with no gap
 * an accept could take. */
static void test_accept_out_of_fds_takes_from_cache(void **state)
{
	struct hr_daemon *d = *state;
	char root[PATH_MAX], name[32], req[128];
	struct rlimit old, low;
	struct ht_client c;
	struct ht_response r;
	pid_t w;

	make_root(d, "www", root, sizeof(root));
	for (int i = 0; i < 40; i++) {
		snprintf(name, sizeof(name), "%d.txt", i);
		put(root, name, name);
	}
	start(d, "docroot %s\n", root);
	w = ht_worker_pid(d, 0);
	ht_open(&c, d->port);
	for (int i = 0; i < 40; i++) {
		snprintf(name, sizeof(name), "%d.txt", i);
		snprintf(req, sizeof(req),
			 "GET /%s HTTP/1.1\r\nHost: t\r\n\r\n", name);
		ht_request(&c, req);
		hr_check(ht_read_response(&c, &r, 0) == 0, "answer %d", i);
		expect_body(&r, 200, name, "fill the cache");
		free(r.body);
	}
	hr_check(prlimit(w, RLIMIT_NOFILE, NULL, &old) == 0, "prlimit: %s",
		 strerror(errno));
	low.rlim_cur = (rlim_t)lowest_free_fd(w);
	low.rlim_max = old.rlim_max;
	hr_check(prlimit(w, RLIMIT_NOFILE, &low, NULL) == 0, "prlimit: %s",
		 strerror(errno));
	hr_note("worker %d: open-files limit %llu, its lowest free number",
		(int)w, (unsigned long long)low.rlim_cur);
	for (int i = 0; i < 5; i++)
		check_get(d, "t", "/39.txt", 200, "39.txt",
			  "a new connection with no descriptor free");
	hr_check(prlimit(w, RLIMIT_NOFILE, &old, NULL) == 0, "prlimit restore");
	hr_check(hr_total(d, "open_file_cache_evictions") >= 20,
		 "evictions: %lld", hr_total(d, "open_file_cache_evictions"));
	ht_close(&c);
	hr_check_int("stopped", 0, hr_stop(d, SIGTERM));
}

/* open_file_cache off: every request is resolved on disk, nothing is
 * counted. */
static void test_off(void **state)
{
	struct hr_daemon *d = *state;
	char root[PATH_MAX];

	make_root(d, "www", root, sizeof(root));
	put(root, "f.txt", "one\n");
	start(d, "docroot %s\nopen_file_cache off\n", root);
	check_get(d, "t", "/f.txt", 200, "one\n", "first");
	put(root, "f.txt", "two\n");
	check_get(d, "t", "/f.txt", 200, "two\n", "at once");
	hr_check_int("hits", 0, hr_total(d, "open_file_cache_hits"));
	hr_check_int("misses", 0, hr_total(d, "open_file_cache_misses"));
	hr_check_int("stopped", 0, hr_stop(d, SIGTERM));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_hot_file_from_cache,
						hr_setup, hr_teardown),
		cmocka_unit_test_setup_teardown(test_changes_seen_after_validity,
						hr_setup, hr_teardown),
		cmocka_unit_test_setup_teardown(test_resized_in_place_seen_at_once,
						hr_setup, hr_teardown),
		cmocka_unit_test_setup_teardown(test_missing_then_added_and_index,
						hr_setup, hr_teardown),
		cmocka_unit_test_setup_teardown(test_vhosts_apart, hr_setup,
						hr_teardown),
		cmocka_unit_test_setup_teardown(test_precompressed_apart,
						hr_setup, hr_teardown),
		cmocka_unit_test_setup_teardown(test_download_outlives_eviction,
						hr_setup, hr_teardown),
		cmocka_unit_test_setup_teardown(test_download_outlives_invalidation,
						hr_setup, hr_teardown),
		cmocka_unit_test_setup_teardown(test_inactive_closed, hr_setup,
						hr_teardown),
		cmocka_unit_test_setup_teardown(test_cut_to_fd_limit, hr_setup,
						hr_teardown),
		cmocka_unit_test_setup_teardown(test_accept_out_of_fds_takes_from_cache,
						hr_setup, hr_teardown),
		cmocka_unit_test_setup_teardown(test_settled_file_from_memory,
						hr_setup, hr_teardown),
		cmocka_unit_test_setup_teardown(test_memory_answers_pipelined,
						hr_setup, hr_teardown),
		cmocka_unit_test_setup_teardown(test_off, hr_setup, hr_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
