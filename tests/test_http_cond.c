/* test_http_cond.c - http_cond.c: the preconditions of RFC 9110 section
 * 13 in the order of 13.2.2, each rule and each pair that order decides
 * between, on request heads parsed by http_parser.c as the daemon parses
 * them; and the entity-tags files get. */
#include "autoconfig.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "http_cond.h"

/* The file's validators: 2020-01-01T00:00:00Z, and a tag. */
#define MTIME 1577836800
#define MTIME_DATE "Wed, 01 Jan 2020 00:00:00 GMT"
#define BEFORE_DATE "Tue, 31 Dec 2019 23:59:59 GMT"
#define AFTER_DATE "Wed, 01 Jan 2020 00:00:01 GMT"
#define TAG "\"1f-2a-abc\""
#define NOW (MTIME + 3600)

static const struct http_validators file = {
	.etag = TAG,
	.etag_len = sizeof(TAG) - 1,
	.last_modified = MTIME,
};

/* Parses "METHOD / HTTP/1.1", Host and the given header lines, then
 * evaluates them against v at now. */
static enum http_cond eval_at(const char *method, const char *lines,
			      const struct http_validators *v, time_t now)
{
	static char head[2048];
	struct http_limits lim;
	struct http_request req;
	int n;

	http_limits_default(&lim);
	snprintf(head, sizeof(head), "%s / HTTP/1.1\r\nHost: t\r\n%s\r\n",
		 method, lines);
	n = http_parse_request(head, strlen(head), &lim, &req);
	if (n <= 0)
		fail_msg("the head did not parse (%d): %s", n, head);
	return http_cond_evaluate(&req, v, now);
}

/* GET with these header lines, and the answer it must get. */
struct cond_case {
	const char *lines;
	enum http_cond want;
};

static void run_get(const struct cond_case *c, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		enum http_cond got = eval_at("GET", c[i].lines, &file, NOW);

		if (got != c[i].want)
			fail_msg("case %zu: expected %d, seen %d for:\n%s", i,
				 c[i].want, got, c[i].lines);
	}
}

static void test_no_precondition(void **state)
{
	static const struct cond_case cases[] = {
		{ "", HTTP_COND_RANGE },
		{ "Range: bytes=0-1\r\n", HTTP_COND_RANGE },
	};

	(void)state;
	run_get(cases, sizeof(cases) / sizeof(cases[0]));
}

/* 13.1.1: "*" or a strong match; a weak tag never matches strongly. */
static void test_if_match(void **state)
{
	static const struct cond_case cases[] = {
		{ "If-Match: *\r\n", HTTP_COND_RANGE },
		{ "If-Match: " TAG "\r\n", HTTP_COND_RANGE },
		{ "If-Match: \"x\", " TAG ", \"y\"\r\n", HTTP_COND_RANGE },
		{ "If-Match: \"x\" ,," TAG "\r\n", HTTP_COND_RANGE },
		{ "If-Match: \"x\"\r\n", HTTP_COND_FAILED },
		{ "If-Match: W/" TAG "\r\n", HTTP_COND_FAILED },
		/* Not entity-tags: nothing matches. */
		{ "If-Match: 1f-2a-abc\r\n", HTTP_COND_FAILED },
		{ "If-Match: \"1f-2a-abc\r\n", HTTP_COND_FAILED },
		{ "If-Match: \"x\" junk, " TAG "\r\n", HTTP_COND_FAILED },
		{ "If-Match: *, " TAG "\r\n", HTTP_COND_FAILED },
		/* Repeated field lines are not combined: fails closed. */
		{ "If-Match: \"x\"\r\nIf-Match: " TAG "\r\n", HTTP_COND_FAILED },
	};

	(void)state;
	run_get(cases, sizeof(cases) / sizeof(cases[0]));
}

/* 13.1.4: modified after the date fails; ignored beside If-Match, and
 * when it is no date. */
static void test_if_unmodified_since(void **state)
{
	static const struct cond_case cases[] = {
		{ "If-Unmodified-Since: " MTIME_DATE "\r\n", HTTP_COND_RANGE },
		{ "If-Unmodified-Since: " AFTER_DATE "\r\n", HTTP_COND_RANGE },
		{ "If-Unmodified-Since: " BEFORE_DATE "\r\n", HTTP_COND_FAILED },
		{ "If-Match: " TAG "\r\nIf-Unmodified-Since: " BEFORE_DATE "\r\n",
		  HTTP_COND_RANGE },
		{ "If-Unmodified-Since: yesterday\r\n", HTTP_COND_RANGE },
		{ "If-Unmodified-Since: " BEFORE_DATE
		  "\r\nIf-Unmodified-Since: " BEFORE_DATE "\r\n",
		  HTTP_COND_RANGE },
	};

	(void)state;
	run_get(cases, sizeof(cases) / sizeof(cases[0]));
}

/* 13.1.2: "*" or a weak match is 304 for GET and HEAD, 412 otherwise. */
static void test_if_none_match(void **state)
{
	static const struct cond_case cases[] = {
		{ "If-None-Match: *\r\n", HTTP_COND_NOT_MODIFIED },
		{ "If-None-Match: " TAG "\r\n", HTTP_COND_NOT_MODIFIED },
		{ "If-None-Match: W/" TAG "\r\n", HTTP_COND_NOT_MODIFIED },
		{ "If-None-Match: \"a\", W/\"b\",\t" TAG "\r\n",
		  HTTP_COND_NOT_MODIFIED },
		{ "If-None-Match: \"a\", W/\"b\"\r\n", HTTP_COND_RANGE },
		{ "If-None-Match: \"1f-2a-ab\"\r\n", HTTP_COND_RANGE },
		/* Repeated: not combined, and the answer is the whole file. */
		{ "If-None-Match: \"a\"\r\nIf-None-Match: " TAG "\r\n",
		  HTTP_COND_RANGE },
	};

	(void)state;
	run_get(cases, sizeof(cases) / sizeof(cases[0]));
	assert_int_equal(eval_at("HEAD", "If-None-Match: " TAG "\r\n", &file, NOW),
			 HTTP_COND_NOT_MODIFIED);
	assert_int_equal(eval_at("POST",
				 "If-None-Match: " TAG "\r\nContent-Length: 0\r\n",
				 &file, NOW),
			 HTTP_COND_FAILED);
}

/* 13.1.3: not modified since the date is 304; only for GET and HEAD. */
static void test_if_modified_since(void **state)
{
	static const struct cond_case cases[] = {
		{ "If-Modified-Since: " MTIME_DATE "\r\n", HTTP_COND_NOT_MODIFIED },
		{ "If-Modified-Since: " AFTER_DATE "\r\n", HTTP_COND_NOT_MODIFIED },
		{ "If-Modified-Since: " BEFORE_DATE "\r\n", HTTP_COND_RANGE },
		{ "If-Modified-Since: not a date\r\n", HTTP_COND_RANGE },
	};

	(void)state;
	run_get(cases, sizeof(cases) / sizeof(cases[0]));
	assert_int_equal(eval_at("POST",
				 "If-Modified-Since: " MTIME_DATE
				 "\r\nContent-Length: 0\r\n",
				 &file, NOW),
			 HTTP_COND_RANGE);
}

/* 13.2.2's order decides between fields that disagree. */
static void test_precedence(void **state)
{
	static const struct cond_case cases[] = {
		/* If-None-Match wins over If-Modified-Since, both ways. */
		{ "If-None-Match: \"other\"\r\n"
		  "If-Modified-Since: " MTIME_DATE "\r\n",
		  HTTP_COND_RANGE },
		{ "If-Modified-Since: " BEFORE_DATE "\r\n"
		  "If-None-Match: " TAG "\r\n",
		  HTTP_COND_NOT_MODIFIED },
		/* If-Match before If-None-Match: 412, not 304. */
		{ "If-None-Match: " TAG "\r\nIf-Match: \"x\"\r\n",
		  HTTP_COND_FAILED },
		{ "If-Unmodified-Since: " BEFORE_DATE "\r\n"
		  "If-None-Match: *\r\n",
		  HTTP_COND_FAILED },
		/* If-Match holds, If-None-Match matches: 304. */
		{ "If-Match: " TAG "\r\nIf-None-Match: " TAG "\r\n",
		  HTTP_COND_NOT_MODIFIED },
		/* 304 before If-Range is looked at. */
		{ "Range: bytes=0-1\r\nIf-Range: \"x\"\r\n"
		  "If-None-Match: " TAG "\r\n",
		  HTTP_COND_NOT_MODIFIED },
	};

	(void)state;
	run_get(cases, sizeof(cases) / sizeof(cases[0]));
}

/* 13.1.5: a strong tag match, or the exact date once its second is
 * over; anything else sends the whole file. */
static void test_if_range(void **state)
{
	static const struct cond_case cases[] = {
		{ "Range: bytes=0-1\r\nIf-Range: " TAG "\r\n", HTTP_COND_RANGE },
		{ "Range: bytes=0-1\r\nIf-Range: \"x\"\r\n", HTTP_COND_FULL },
		{ "Range: bytes=0-1\r\nIf-Range: W/" TAG "\r\n", HTTP_COND_FULL },
		{ "Range: bytes=0-1\r\nIf-Range: " TAG ", " TAG "\r\n",
		  HTTP_COND_FULL },
		/* A date spelled with "Wed" is still a date. */
		{ "Range: bytes=0-1\r\nIf-Range: " MTIME_DATE "\r\n",
		  HTTP_COND_RANGE },
		{ "Range: bytes=0-1\r\nIf-Range: " AFTER_DATE "\r\n",
		  HTTP_COND_FULL },
		{ "Range: bytes=0-1\r\nIf-Range: " BEFORE_DATE "\r\n",
		  HTTP_COND_FULL },
		{ "Range: bytes=0-1\r\nIf-Range: soon\r\n", HTTP_COND_FULL },
		{ "Range: bytes=0-1\r\nIf-Range:\r\n", HTTP_COND_FULL },
		/* Modified within the current second: the date is weak. */
		/* Repeated: fails, the whole file. */
		{ "Range: bytes=0-1\r\nIf-Range: " TAG "\r\nIf-Range: " TAG "\r\n",
		  HTTP_COND_FULL },
		/* Without Range, or on HEAD, If-Range means nothing. */
		{ "If-Range: \"x\"\r\n", HTTP_COND_RANGE },
	};

	(void)state;
	run_get(cases, sizeof(cases) / sizeof(cases[0]));
	assert_int_equal(eval_at("GET",
				 "Range: bytes=0-1\r\nIf-Range: " MTIME_DATE "\r\n",
				 &file, MTIME),
			 HTTP_COND_FULL);
	assert_int_equal(eval_at("HEAD", "Range: bytes=0-1\r\nIf-Range: \"x\"\r\n",
				 &file, NOW),
			 HTTP_COND_RANGE);
}

/* A representation with no entity-tag matches no tag but "*". */
static void test_without_etag(void **state)
{
	static const struct http_validators bare = { .last_modified = MTIME };

	(void)state;
	assert_int_equal(eval_at("GET", "If-Match: " TAG "\r\n", &bare, NOW),
			 HTTP_COND_FAILED);
	assert_int_equal(eval_at("GET", "If-Match: *\r\n", &bare, NOW),
			 HTTP_COND_RANGE);
	assert_int_equal(eval_at("GET", "If-None-Match: " TAG "\r\n", &bare, NOW),
			 HTTP_COND_RANGE);
}

/* Inode, size and nanoseconds, each in hex, and a tag per coding. */
static void test_etag_format(void **state)
{
	char a[HTTP_ETAG_MAX], b[HTTP_ETAG_MAX];
	struct timespec t = { .tv_sec = 1, .tv_nsec = 5 };
	struct timespec big = { .tv_sec = INT64_C(253402300799),
				.tv_nsec = 999999999 };

	(void)state;
	assert_int_equal(http_etag(a, 0x1f, 0x2a, &t, ""), 16);
	assert_string_equal(a, "\"1f-2a-3b9aca05\"");
	http_etag(b, 0x1f, 0x2a, &t, "gz");
	assert_string_equal(b, "\"1f-2a-3b9aca05-gz\"");
	http_etag(b, 0x1f, 0x2a, &t, "br");
	assert_string_equal(b, "\"1f-2a-3b9aca05-br\"");
	http_etag(a, 0, 0, &(struct timespec){ 0, 0 }, "");
	assert_string_equal(a, "\"0-0-0\"");
	/* The longest: every number with 16 digits. */
	assert_true(http_etag(a, UINT64_MAX, UINT64_MAX, &big, "12345678") <
		    HTTP_ETAG_MAX);
	/* One nanosecond apart is another version. */
	http_etag(a, 7, 7, &(struct timespec){ 9, 1 }, "");
	http_etag(b, 7, 7, &(struct timespec){ 9, 2 }, "");
	assert_string_not_equal(a, b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_no_precondition),
		cmocka_unit_test(test_if_match),
		cmocka_unit_test(test_if_unmodified_since),
		cmocka_unit_test(test_if_none_match),
		cmocka_unit_test(test_if_modified_since),
		cmocka_unit_test(test_precedence),
		cmocka_unit_test(test_if_range),
		cmocka_unit_test(test_without_etag),
		cmocka_unit_test(test_etag_format),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
