/* test_http_resp.c - the upstream response head parser (http_resp.h)
 * and the chunked decoder on response bodies, table-driven.
 *
 * Every head is parsed from a heap block of exactly its length, so that
 * AddressSanitizer (--enable-sanitizers) catches a read past the end; and
 * every head is also given at each of its lengths, since a proxy parses
 * whatever an upstream's read returned: a prefix is "incomplete" or the
 * very answer the whole head gets, never a different one. */
#include "autoconfig.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "http_parser.h"
#include "http_resp.h"

#define N_ELEM(a) (sizeof(a) / sizeof((a)[0]))
#define S(lit) lit, sizeof(lit) - 1

/* http_parse_response on an exact-size copy of raw[0..n), with the
 * limits given or (NULL) the defaults. */
static int resp_parse(const char *raw, size_t n, const struct http_limits *lim,
		      enum http_method m, struct http_response *resp)
{
	struct http_limits def;
	char *exact = malloc(n + !n);
	int r;

	http_limits_default(&def);
	assert_non_null(exact);
	r = http_parse_response(memcpy(exact, raw, n), n, lim ? lim : &def, m,
				resp);
	free(exact);
	return r;
}

static int resp_def(const char *raw, size_t n, enum http_method m,
		    struct http_response *resp)
{
	return resp_parse(raw, n, NULL, m, resp);
}

/* Every proper prefix of raw[0..n) is incomplete (0) or, if want < 0,
 * refused the same way as the whole. */
static void prefixes_agree(const char *raw, size_t n, enum http_method m, int want)
{
	struct http_response resp;
	size_t k;

	for (k = 0; k < n; k++) {
		int r = resp_def(raw, k, m, &resp);

		if (r != 0 && r != want)
			fail_msg("prefix %zu of \"%.*s\": %d, whole: %d", k,
				 (int)n, raw, r, want);
	}
}

/* raw[0..n) gives want, whole and in every prefix; *resp from the whole. */
static void expect_whole(const char *what, const char *raw, size_t n,
			 enum http_method m, int want, struct http_response *resp)
{
	int r = resp_def(raw, n, m, resp);

	if (r != want)
		fail_msg("%s: %d, not %d", what, r, want);
	prefixes_agree(raw, n, m, want);
}

/* --- heads accepted --- */

struct ok_case {
	const char *raw;
	size_t len;
	enum http_method method;
	int status, minor, keep_alive, interim;
	enum http_resp_framing framing;
	uint64_t cl;
};

#define GET HTTP_GET
#define HEAD HTTP_HEAD
/* clang-format off */
static const struct ok_case ok[] = {
	{ S("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"), GET, 200, 1, 1, 0, HTTP_RESP_LENGTH, 5 },
	{ S("HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"), GET, 200, 1, 1, 0, HTTP_RESP_LENGTH, 0 },
	{ S("HTTP/1.1 200 OK\r\nContent-Length: 18446744073709551615\r\n\r\n"), GET, 200, 1, 1, 0, HTTP_RESP_LENGTH, UINT64_MAX },
	{ S("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"), GET, 200, 1, 1, 0, HTTP_RESP_CHUNKED, 0 },
	{ S("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, CHUNKED\r\n\r\n"), GET, 200, 1, 1, 0, HTTP_RESP_CHUNKED, 0 },
	{ S("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n"), GET, 200, 1, 1, 0, HTTP_RESP_CHUNKED, 0 },
	/* close-delimited: never kept alive, whatever Connection says */
	{ S("HTTP/1.1 200 OK\r\n\r\n"), GET, 200, 1, 0, 0, HTTP_RESP_CLOSE, 0 },
	{ S("HTTP/1.1 200 OK\r\nConnection: keep-alive\r\n\r\n"), GET, 200, 1, 0, 0, HTTP_RESP_CLOSE, 0 },
	{ S("HTTP/1.0 200 OK\r\n\r\n"), GET, 200, 0, 0, 0, HTTP_RESP_CLOSE, 0 },
	/* keep-alive: 1.1 by default, 1.0 only when asked, close wins */
	{ S("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\n"), GET, 200, 1, 0, 0, HTTP_RESP_LENGTH, 1 },
	{ S("HTTP/1.1 200 OK\r\nConnection: Upgrade ,  CLOSE\r\nContent-Length: 1\r\n\r\n"), GET, 200, 1, 0, 0, HTTP_RESP_LENGTH, 1 },
	{ S("HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\n"), GET, 200, 0, 0, 0, HTTP_RESP_LENGTH, 3 },
	{ S("HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 3\r\n\r\n"), GET, 200, 0, 1, 0, HTTP_RESP_LENGTH, 3 },
	{ S("HTTP/1.0 200 OK\r\nConnection: ,keep-alive,\r\nconnection: close\r\nContent-Length: 3\r\n\r\n"), GET, 200, 0, 0, 0, HTTP_RESP_LENGTH, 3 },
	/* no body, whatever the fields say */
	{ S("HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n"), HEAD, 200, 1, 1, 0, HTTP_RESP_NO_BODY, 0 },
	{ S("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"), HEAD, 200, 1, 1, 0, HTTP_RESP_NO_BODY, 0 },
	{ S("HTTP/1.1 200 OK\r\n\r\n"), HEAD, 200, 1, 1, 0, HTTP_RESP_NO_BODY, 0 },
	{ S("HTTP/1.1 204 No Content\r\n\r\n"), GET, 204, 1, 1, 0, HTTP_RESP_NO_BODY, 0 },
	{ S("HTTP/1.1 304 Not Modified\r\nContent-Length: 1234\r\n\r\n"), GET, 304, 1, 1, 0, HTTP_RESP_NO_BODY, 0 },
	{ S("HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n"), GET, 304, 1, 1, 0, HTTP_RESP_NO_BODY, 0 },
	{ S("HTTP/1.0 304 Not Modified\r\n\r\n"), GET, 304, 0, 0, 0, HTTP_RESP_NO_BODY, 0 },
	/* interim heads */
	{ S("HTTP/1.1 100 Continue\r\n\r\n"), GET, 100, 1, 1, 1, HTTP_RESP_NO_BODY, 0 },
	{ S("HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n"), GET, 103, 1, 1, 1, HTTP_RESP_NO_BODY, 0 },
	/* the status line's reason: any, none, obs-text, HTAB */
	{ S("HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n"), GET, 200, 1, 1, 0, HTTP_RESP_LENGTH, 0 },
	{ S("HTTP/1.1 200 \r\nContent-Length: 0\r\n\r\n"), GET, 200, 1, 1, 0, HTTP_RESP_LENGTH, 0 },
	{ S("HTTP/1.1 599 Very\tOdd \xe9t\xe9 reason!\r\nContent-Length: 0\r\n\r\n"), GET, 599, 1, 1, 0, HTTP_RESP_LENGTH, 0 },
	{ S("HTTP/1.1 404 Not Found\r\nX-Empty:\r\nX-Tab:\tv\t\r\nContent-Length: 0\r\n\r\n"), GET, 404, 1, 1, 0, HTTP_RESP_LENGTH, 0 },
	{ S("HTTP/1.1 502 Bad Gateway\r\nContent-Length:7\r\n\r\n"), HTTP_POST, 502, 1, 1, 0, HTTP_RESP_LENGTH, 7 },
};
/* clang-format on */

static void check_ok(const struct ok_case *c, const struct http_response *r)
{
	assert_int_equal(r->status, c->status);
	assert_int_equal(r->version_minor, c->minor);
	assert_int_equal(r->keep_alive, c->keep_alive);
	assert_int_equal(r->interim, c->interim);
	assert_int_equal(r->framing, c->framing);
	assert_true(r->content_length == c->cl);
}

static void test_accepted(void **state)
{
	size_t k;

	(void)state;
	for (k = 0; k < N_ELEM(ok); k++) {
		struct http_response resp;

		expect_whole(ok[k].raw, ok[k].raw, ok[k].len, ok[k].method,
			     (int)ok[k].len, &resp);
		check_ok(&ok[k], &resp);
	}
}

/* The body and the next response are not the head's: what follows the
 * blank line is left alone, and changes nothing. */
static void test_body_left(void **state)
{
	static const char raw[] = "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n"
				  "body\nHTTP/1.1 garbage\r\n";
	struct http_response resp;
	size_t head = strstr(raw, "\r\n\r\n") + 4 - raw;

	(void)state;
	assert_int_equal(resp_def(S(raw), HTTP_GET, &resp), (int)head);
	assert_int_equal(resp.framing, HTTP_RESP_LENGTH);
	assert_true(resp.content_length == 4);
}

/* --- heads refused --- */

struct bad_case {
	const char *what, *raw;
	size_t len;
	enum http_method method;
};

/* clang-format off */
static const struct bad_case bad[] = {
	{ "CL with TE", S("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"), GET },
	{ "TE with CL", S("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n"), GET },
	{ "CL+TE on HEAD", S("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n"), HEAD },
	{ "CL twice, equal", S("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n"), GET },
	{ "CL twice, unequal", S("HTTP/1.1 200 OK\r\nContent-Length: 5\r\ncontent-length: 6\r\n\r\n"), GET },
	{ "CL list", S("HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\n\r\n"), GET },
	{ "CL overflow", S("HTTP/1.1 200 OK\r\nContent-Length: 18446744073709551616\r\n\r\n"), GET },
	{ "CL signed +", S("HTTP/1.1 200 OK\r\nContent-Length: +5\r\n\r\n"), GET },
	{ "CL signed -", S("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n"), GET },
	{ "CL empty", S("HTTP/1.1 200 OK\r\nContent-Length: \r\n\r\n"), GET },
	{ "CL hex", S("HTTP/1.1 200 OK\r\nContent-Length: 0x10\r\n\r\n"), GET },
	{ "CL inner space", S("HTTP/1.1 200 OK\r\nContent-Length: 1 0\r\n\r\n"), GET },
	{ "TE not ending in chunked", S("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n"), GET },
	{ "TE gzip alone", S("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n"), GET },
	{ "TE chunked twice", S("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n"), GET },
	{ "TE chunked twice on two lines", S("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n"), GET },
	{ "TE chunked then another line", S("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n\r\n"), GET },
	{ "TE empty element", S("HTTP/1.1 200 OK\r\nTransfer-Encoding: ,chunked\r\n\r\n"), GET },
	{ "TE parameter", S("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked;q=1\r\n\r\n"), GET },
	{ "TE in HTTP/1.0", S("HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"), GET },
	{ "TE not chunked on 304", S("HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: gzip\r\n\r\n"), GET },
	{ "obs-fold", S("HTTP/1.1 200 OK\r\nX-A: a\r\n b\r\nContent-Length: 0\r\n\r\n"), GET },
	{ "obs-fold HTAB", S("HTTP/1.1 200 OK\r\nContent-Length:\r\n\t5\r\n\r\n"), GET },
	{ "whitespace line first", S("HTTP/1.1 200 OK\r\n X: a\r\n\r\n"), GET },
	{ "bare LF after status", S("HTTP/1.1 200 OK\nContent-Length: 0\r\n\r\n"), GET },
	{ "bare LF after field", S("HTTP/1.1 200 OK\r\nContent-Length: 0\n\r\n"), GET },
	{ "bare LF at end", S("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\n"), GET },
	{ "lone CR in status", S("HTTP/1.1 200 O\rK\r\nContent-Length: 0\r\n\r\n"), GET },
	{ "lone CR in value", S("HTTP/1.1 200 OK\r\nX: a\rb\r\nContent-Length: 0\r\n\r\n"), GET },
	{ "lone CR at end", S("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\rX"), GET },
	{ "NUL in value", S("HTTP/1.1 200 OK\r\nX: a\0b\r\nContent-Length: 0\r\n\r\n"), GET },
	{ "control byte in value", S("HTTP/1.1 200 OK\r\nX: a\x01\r\nContent-Length: 0\r\n\r\n"), GET },
	{ "DEL in value", S("HTTP/1.1 200 OK\r\nX: a\x7f\r\nContent-Length: 0\r\n\r\n"), GET },
	{ "NUL in reason", S("HTTP/1.1 200 O\0K\r\nContent-Length: 0\r\n\r\n"), GET },
	{ "space before colon", S("HTTP/1.1 200 OK\r\nContent-Length : 5\r\n\r\n"), GET },
	{ "tab before colon", S("HTTP/1.1 200 OK\r\nTransfer-Encoding\t: chunked\r\n\r\n"), GET },
	{ "empty name", S("HTTP/1.1 200 OK\r\n: x\r\n\r\n"), GET },
	{ "no colon", S("HTTP/1.1 200 OK\r\nX-A\r\n\r\n"), GET },
	{ "name not a token", S("HTTP/1.1 200 OK\r\nX(A): b\r\n\r\n"), GET },
	{ "version 2.0", S("HTTP/2.0 200 OK\r\n\r\n"), GET },
	{ "version 1.2", S("HTTP/1.2 200 OK\r\n\r\n"), GET },
	{ "version 0.9", S("HTTP/0.9 200 OK\r\n\r\n"), GET },
	{ "version lower case", S("http/1.1 200 OK\r\n\r\n"), GET },
	{ "version missing minor", S("HTTP/1 200 OK\r\n\r\n"), GET },
	{ "not HTTP", S("ICY 200 OK\r\n\r\n"), GET },
	{ "leading CRLF", S("\r\nHTTP/1.1 200 OK\r\n\r\n"), GET },
	{ "two spaces before status", S("HTTP/1.1  200 OK\r\n\r\n"), GET },
	{ "2-digit status", S("HTTP/1.1 20 OK\r\n\r\n"), GET },
	{ "2-digit status, no reason", S("HTTP/1.1 20\r\n\r\n"), GET },
	{ "4-digit status", S("HTTP/1.1 2000 OK\r\n\r\n"), GET },
	{ "letter after status", S("HTTP/1.1 200x OK\r\n\r\n"), GET },
	{ "status 099", S("HTTP/1.1 099 Low\r\n\r\n"), GET },
	{ "status 600", S("HTTP/1.1 600 High\r\n\r\n"), GET },
	{ "status 000", S("HTTP/1.1 000 Zero\r\n\r\n"), GET },
	{ "status with sign", S("HTTP/1.1 +20 OK\r\n\r\n"), GET },
	{ "101 Switching Protocols", S("HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n"), GET },
	{ "100 with CL", S("HTTP/1.1 100 Continue\r\nContent-Length: 0\r\n\r\n"), GET },
	{ "103 with TE", S("HTTP/1.1 103 Early Hints\r\nTransfer-Encoding: chunked\r\n\r\n"), GET },
	{ "204 with CL", S("HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n"), GET },
	{ "204 with TE", S("HTTP/1.1 204 No Content\r\nTransfer-Encoding: chunked\r\n\r\n"), GET },
	{ "204 with CL on HEAD", S("HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n"), HEAD },
};
/* clang-format on */

static void test_refused(void **state)
{
	const struct bad_case *c;
	struct http_response resp;

	(void)state;
	for (c = bad; c < bad + N_ELEM(bad); c++)
		expect_whole(c->what, c->raw, c->len, c->method, -1, &resp);
}

/* Nothing but a complete head makes an answer: the empty input, and
 * heads cut anywhere before their blank line, including in the middle
 * of the CRLF that ends it. */
static void test_incomplete(void **state)
{
	static const char *const cut[] = {
		"",
		"H",
		"HTTP/1.",
		"HTTP/1.1",
		"HTTP/1.1 ",
		"HTTP/1.1 20",
		"HTTP/1.1 200",
		"HTTP/1.1 200 OK",
		"HTTP/1.1 200 OK\r",
		"HTTP/1.1 200 OK\r\n",
		"HTTP/1.1 200 OK\r\nContent-Len",
		"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r",
	};
	struct http_limits lim;
	struct http_response resp;
	size_t k;

	(void)state;
	http_limits_default(&lim);
	assert_int_equal(http_parse_response(NULL, 0, &lim, GET, &resp), 0);
	for (k = 0; k < N_ELEM(cut); k++)
		assert_int_equal(resp_def(cut[k], strlen(cut[k]), GET, &resp), 0);
}

/* --- limits, at the boundary and one past --- */

/* The default limits but the three a head is held to. */
static struct http_limits head_limits(size_t line, size_t bytes, unsigned fields)
{
	struct http_limits lim;

	http_limits_default(&lim);
	lim.max_request_line = line;
	lim.max_header_bytes = bytes;
	lim.max_headers = fields;
	return lim;
}

/* A status line of exactly n bytes before its CRLF. */
static size_t status_of(char *out, size_t n)
{
	memcpy(out, "HTTP/1.1 200 ", 13);
	memset(out + 13, 'r', n - 13);
	memcpy(out + n, "\r\n", 2);
	return n + 2;
}

static void test_limit_status_line(void **state)
{
	struct http_limits lim = head_limits(100, 16384, 64);
	struct http_response resp;
	char buf[256];
	size_t n;

	(void)state;
	n = status_of(buf, 100);
	memcpy(buf + n, "Content-Length: 0\r\n\r\n", 21);
	assert_int_equal(resp_parse(buf, n + 21, &lim, GET, &resp), (int)n + 21);
	/* max + 1 bytes and no CR: refused before the line ends */
	n = status_of(buf, 101);
	assert_int_equal(resp_parse(buf, 101, &lim, GET, &resp), -2);
	assert_int_equal(resp_parse(buf, n, &lim, GET, &resp), -2);
	assert_int_equal(resp_parse(buf, 100, &lim, GET, &resp), 0);
	/* a limit shorter than the version itself */
	lim.max_request_line = 5;
	assert_int_equal(resp_parse(S("HTTP/1.1 200 OK\r\n\r\n"), &lim, GET, &resp),
			 -2);
	assert_int_equal(resp_parse(S("HTTP/"), &lim, GET, &resp), 0);
}

/* A head whose field section (fields, their CRLFs, the final CRLF) is
 * exactly n bytes: "X: vvv\r\n" padding, then the blank line. */
static size_t head_of(char *out, size_t n)
{
	static const char sl[] = "HTTP/1.1 204 No Content\r\n";
	size_t o = sizeof(sl) - 1;

	memcpy(out, sl, o);
	memcpy(out + o, "X: ", 3);
	memset(out + o + 3, 'v', n - 7);
	memcpy(out + o + n - 4, "\r\n\r\n", 4);
	return o + n;
}

static void test_limit_header_bytes(void **state)
{
	struct http_limits lim = head_limits(8192, 300, 64);
	char buf[512];
	size_t n = head_of(buf, 300);
	struct http_response resp;

	(void)state;
	assert_int_equal(resp_parse(buf, n, &lim, GET, &resp), (int)n);
	n = head_of(buf, 301);
	assert_int_equal(resp_parse(buf, n, &lim, GET, &resp), -2);
	/* known as soon as the bytes prove it, the head unfinished */
	assert_int_equal(resp_parse(buf, n - 1, &lim, GET, &resp), -2);
	assert_int_equal(resp_parse(buf, n - 2, &lim, GET, &resp), 0);
}

static void test_limit_header_count(void **state)
{
	struct http_limits lim = head_limits(8192, 16384, 10);
	struct http_response resp;
	char buf[512];
	size_t n;
	unsigned k;

	(void)state;
	memcpy(buf, "HTTP/1.1 200 OK\r\n", 17);
	n = 17;
	for (k = 0; k < 10; k++) {
		memcpy(buf + n, "A: b\r\n", 6);
		n += 6;
	}
	memcpy(buf + n, "\r\n", 2);
	assert_int_equal(resp_parse(buf, n + 2, &lim, HEAD, &resp), (int)n + 2);
	memcpy(buf + n, "A: b\r\n\r\n", 8);
	assert_int_equal(resp_parse(buf, n + 8, &lim, HEAD, &resp), -2);
	/* the 11th line is refused from its first byte */
	assert_int_equal(resp_parse(buf, n + 1, &lim, HEAD, &resp), -2);
	assert_int_equal(resp_parse(buf, n, &lim, HEAD, &resp), 0);
}

/* --- chunked response bodies --- */

/* A response body has no size limit but its framing: the proxy streams
 * it. http_chunked_read with max_body = UINT64_MAX must take sizes up to
 * 64 bits and a total over any request limit. */
static void no_body_limit(struct http_limits *lim)
{
	http_limits_default(lim);
	lim->max_body = UINT64_MAX;
}

static void test_chunked_unlimited(void **state)
{
	static const char big[] = "ffffffffffffffff\r\n";
	struct http_limits lim;
	struct http_chunked ck;
	char data[4096];
	size_t used;
	uint64_t fed = 0;
	int k;

	(void)state;
	no_body_limit(&lim);
	http_chunked_init(&ck);
	assert_int_equal(http_chunked_read(&ck, S(big), &lim, &used), 0);
	assert_int_equal(used, sizeof(big) - 1);
	memset(data, 'x', sizeof(data));
	for (k = 0; k < 1024; k++) {
		assert_int_equal(http_chunked_read(&ck, data, sizeof(data),
						   &lim, &used),
				 0);
		assert_int_equal(used, sizeof(data));
		fed += sizeof(data);
	}
	assert_true(ck.total == fed && ck.left == UINT64_MAX - fed);
	/* Sizes adding up past 64 bits: 413 even with no limit (found by
	 * fuzz_http_resp); leading zeros are no overflow. */
	http_chunked_init(&ck);
	assert_int_equal(http_chunked_read(&ck,
					   S("5\r\nhello\r\n0ffffffffffffffff\r\n"),
					   &lim, &used),
			 -413);
	http_chunked_init(&ck);
	assert_int_equal(http_chunked_read(&ck,
					   S("000000000000000000000003\r\nabc\r\n"
					     "0\r\n\r\n"),
					   &lim, &used),
			 1);
	/* 17 hex digits are more than 64 bits, limit or not */
	http_chunked_init(&ck);
	assert_int_equal(http_chunked_read(&ck, S("10000000000000000\r\n"),
					   &lim, &used),
			 -400);
}

/* Several chunks adding up past the request parser's 1 MiB, read to the
 * end and the next response left alone; the default limit refuses it. */
static void test_chunked_over_request_limit(void **state)
{
	struct http_limits lim;
	struct http_chunked ck;
	static char body[3 * (0x80000 + 9) + 64];
	size_t n = 0, used, off = 0;
	int k, r = 0;

	(void)state;
	for (k = 0; k < 3; k++) {
		memcpy(body + n, "80000\r\n", 7);
		memset(body + n + 7, 'y', 0x80000);
		memcpy(body + n + 7 + 0x80000, "\r\n", 2);
		n += 0x80000 + 9;
	}
	memcpy(body + n, "0\r\nX-T: 1\r\n\r\nHTTP/1.1", 21);
	no_body_limit(&lim);
	http_chunked_init(&ck);
	/* in uneven pieces, as reads return them */
	while (off < n + 21 && r == 0) {
		size_t piece = n + 21 - off < 7777 ? n + 21 - off : 7777;

		r = http_chunked_read(&ck, body + off, piece, &lim, &used);
		off += used;
	}
	assert_int_equal(r, 1);
	assert_int_equal(off, n + 13);
	assert_true(ck.total == 3 * 0x80000);
	http_limits_default(&lim);
	http_chunked_init(&ck);
	assert_int_equal(http_chunked_read(&ck, body, n, &lim, &used), -413);
}

/* A small chunked body split at every byte: the same end, same place. */
static void test_chunked_every_split(void **state)
{
	static const char b[] = "5;ext=1\r\nhello\r\nA\r\n0123456789\r\n0\r\n\r\nNEXT";
	size_t whole = sizeof(b) - 1 - 4, k;
	struct http_limits lim;

	(void)state;
	no_body_limit(&lim);
	for (k = 0; k <= whole; k++) {
		struct http_chunked ck;
		size_t u1 = 0, u2 = 0;
		int r;

		http_chunked_init(&ck);
		r = http_chunked_read(&ck, b, k, &lim, &u1);
		assert_true(r == 0 || (r == 1 && k == whole));
		assert_int_equal(u1, k);
		if (r == 1)
			continue;
		r = http_chunked_read(&ck, b + k, sizeof(b) - 1 - k, &lim, &u2);
		assert_int_equal(r, 1);
		assert_int_equal(u1 + u2, whole);
		assert_true(ck.total == 15);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_accepted),
		cmocka_unit_test(test_body_left),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_incomplete),
		cmocka_unit_test(test_limit_status_line),
		cmocka_unit_test(test_limit_header_bytes),
		cmocka_unit_test(test_limit_header_count),
		cmocka_unit_test(test_chunked_unlimited),
		cmocka_unit_test(test_chunked_over_request_limit),
		cmocka_unit_test(test_chunked_every_split),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
