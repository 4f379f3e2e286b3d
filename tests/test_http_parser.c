/* test_http_parser.c - the request-head parser, path normalisation,
 * ranges, dates and MIME types, table-driven.
 *
 * Every input is copied into a heap block of exactly its length, so that
 * AddressSanitizer (--enable-sanitizers) catches a read one byte past the
 * end: the real input is a socket buffer with no NUL after it. */
#include "autoconfig.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "http_parser.h"

#define N_ELEM(a) (sizeof(a) / sizeof((a)[0]))
/* A string literal with its length: some inputs hold NUL bytes. */
#define S(lit) lit, sizeof(lit) - 1

static int parse_n(const char *s, size_t n, const struct http_limits *lim,
		   struct http_request *req)
{
	char *copy = malloc(n ? n : 1);
	int r;

	assert_non_null(copy);
	memcpy(copy, s, n);
	r = http_parse_request(copy, n, lim, req);
	free(copy);
	return r;
}

static int parse_def(const char *s, size_t n, struct http_request *req)
{
	struct http_limits lim;

	http_limits_default(&lim);
	return parse_n(s, n, &lim, req);
}

/* --- valid requests --- */

struct valid_case {
	const char *raw;
	size_t len;
	enum http_method method;
	int minor;
	int keep_alive;
	const char *path;
	int has_cl;
	uint64_t cl;
};

static const struct valid_case valid[] = {
	{ S("GET / HTTP/1.1\r\nHost: a\r\n\r\n"), HTTP_GET, 1, 1, "/", 0, 0 },
	{ S("HEAD /index.html HTTP/1.1\r\nHost: example.com:8080\r\n\r\n"),
	  HTTP_HEAD, 1, 1, "/index.html", 0, 0 },
	{ S("GET /x HTTP/1.0\r\n\r\n"), HTTP_GET, 0, 0, "/x", 0, 0 },
	{ S("GET /x HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"), HTTP_GET, 0,
	  1, "/x", 0, 0 },
	{ S("GET /x HTTP/1.0\r\nConnection: Keep-Alive, close\r\n\r\n"),
	  HTTP_GET, 0, 0, "/x", 0, 0 },
	{ S("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"), HTTP_GET,
	  1, 0, "/", 0, 0 },
	{ S("GET / HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\nconnection: CLOSE\r\n\r\n"),
	  HTTP_GET, 1, 0, "/", 0, 0 },
	{ S("GET / HTTP/1.1\r\nhost: a\r\nCONNECTION:  ,upgrade , keep-alive ,\r\n\r\n"),
	  HTTP_GET, 1, 1, "/", 0, 0 },
	{ S("GET /a/b/../c/./d?x=1&y=/../.. HTTP/1.1\r\nHost: a\r\n\r\n"),
	  HTTP_GET, 1, 1, "/a/c/d", 0, 0 },
	{ S("GET /%7Euser/file%20name.txt HTTP/1.1\r\nHost: a\r\n\r\n"),
	  HTTP_GET, 1, 1, "/~user/file name.txt", 0, 0 },
	{ S("POST /form HTTP/1.1\r\nHost: a\r\nContent-Length: 12\r\n\r\n"),
	  HTTP_POST, 1, 1, "/form", 1, 12 },
	{ S("POST /f HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\ncontent-length:5\r\n\r\n"),
	  HTTP_POST, 1, 1, "/f", 1, 5 },
	{ S("PUT /f HTTP/1.1\r\nHost: a\r\nContent-Length: 0001048576\r\n\r\n"),
	  HTTP_PUT, 1, 1, "/f", 1, 1048576 },
	{ S("\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"), HTTP_GET, 1, 1, "/", 0, 0 },
	{ S("\r\n\r\n\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"), HTTP_GET, 1,
	  1, "/", 0, 0 },
	{ S("BREW /pot HTTP/1.1\r\nHost: a\r\n\r\n"), HTTP_OTHER, 1, 1, "/pot",
	  0, 0 },
	{ S("get / HTTP/1.1\r\nHost: a\r\n\r\n"), HTTP_OTHER, 1, 1, "/", 0, 0 },
	{ S("GET / HTTP/1.1\r\nHost:\r\n\r\n"), HTTP_GET, 1, 1, "/", 0, 0 },
	{ S("GET / HTTP/1.1\r\nHost: [::1]:80\r\nX-Any: \t caf\xc3\xa9 \"q\" \t\r\n\r\n"),
	  HTTP_GET, 1, 1, "/", 0, 0 },
	{ S("GET / HTTP/1.1\r\nHost: a\r\nX-Empty:\r\nX-Ows: \t \r\n\r\n"),
	  HTTP_GET, 1, 1, "/", 0, 0 },
	{ S("GET / HTTP/1.2\r\nHost: a\r\n\r\n"), HTTP_GET, 1, 1, "/", 0, 0 },
	{ S("OPTIONS /x HTTP/1.1\r\nHost: a\r\n\r\n"), HTTP_OPTIONS, 1, 1, "/x",
	  0, 0 },
	{ S("DELETE /x HTTP/1.1\r\nHost: a\r\n\r\n"), HTTP_DELETE, 1, 1, "/x",
	  0, 0 },
	{ S("PATCH /x HTTP/1.1\r\nHost: a\r\n\r\n"), HTTP_PATCH, 1, 1, "/x", 0, 0 },
	{ S("TRACE /x HTTP/1.1\r\nHost: a\r\n\r\n"), HTTP_TRACE, 1, 1, "/x", 0, 0 },
	{ S("CONNECT /x HTTP/1.1\r\nHost: a\r\n\r\n"), HTTP_CONNECT, 1, 1, "/x",
	  0, 0 },
	{ S("GET //x//y/ HTTP/1.1\r\nHost: a\r\n\r\n"), HTTP_GET, 1, 1, "/x/y/",
	  0, 0 },
	/* Names that are near misses of the ones that matter are ignored. */
	{ S("GET /?q HTTP/1.1\r\nHost: a\r\nTransfer_Encoding: chunked\r\n"
	    "X-Transfer-Encodi: chunked\r\nX-Content-Leng: x\r\nX-Rng: 1\r\n"
	    "Connectio: close\r\nX-Connectn: close\r\nHosts: a b\r\n\r\n"),
	  HTTP_GET, 1, 1, "/", 0, 0 },
};

static void test_valid_requests(void **state)
{
	size_t k;

	(void)state;
	for (k = 0; k < N_ELEM(valid); k++) {
		const struct valid_case *v = &valid[k];
		struct http_request req;
		int r = parse_def(v->raw, v->len, &req);

		if (r != (int)v->len)
			print_error("valid[%zu]: got %d for %s\n", k, r, v->raw);
		assert_int_equal(r, (int)v->len);
		assert_int_equal(req.method, v->method);
		assert_int_equal(req.version_minor, v->minor);
		assert_int_equal(req.keep_alive, v->keep_alive);
		assert_string_equal(req.path, v->path);
		assert_int_equal(req.has_content_length, v->has_cl);
		if (v->has_cl)
			assert_true(req.content_length == v->cl);
		assert_int_equal(req.has_transfer_encoding, 0);
		assert_int_equal(req.chunked, 0);
	}
}

/* Whatever the cut, an incomplete valid head asks for more bytes. */
static void test_every_prefix_is_incomplete(void **state)
{
	size_t k, n;

	(void)state;
	for (k = 0; k < N_ELEM(valid); k++) {
		for (n = 0; n < valid[k].len; n++) {
			struct http_request req;
			int r = parse_def(valid[k].raw, n, &req);

			if (r != 0)
				print_error("valid[%zu] prefix %zu: got %d\n",
					    k, n, r);
			assert_int_equal(r, 0);
		}
	}
}

static void test_pipelined(void **state)
{
	static const char two[] =
		"GET /one HTTP/1.1\r\nHost: a\r\n\r\n"
		"HEAD /two HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
		"GET /thr";
	const size_t first = strlen("GET /one HTTP/1.1\r\nHost: a\r\n\r\n");
	const size_t second = strlen(
		"HEAD /two HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
	struct http_request req;
	size_t off = 0;
	int r;

	(void)state;
	r = parse_def(two, sizeof(two) - 1, &req);
	assert_int_equal(r, (int)first);
	assert_string_equal(req.path, "/one");
	assert_int_equal(req.keep_alive, 1);
	off += (size_t)r;
	r = parse_def(two + off, sizeof(two) - 1 - off, &req);
	assert_int_equal(r, (int)second);
	assert_int_equal(req.method, HTTP_HEAD);
	assert_string_equal(req.path, "/two");
	assert_int_equal(req.keep_alive, 0);
	off += (size_t)r;
	r = parse_def(two + off, sizeof(two) - 1 - off, &req);
	assert_int_equal(r, 0);
}

/* A body follows the head and is not consumed by the parser. */
static void test_body_not_consumed(void **state)
{
	static const char in[] =
		"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\nbodyGET";
	struct http_request req;

	(void)state;
	assert_int_equal(parse_def(S(in), &req), (int)sizeof(in) - 1 - 7);
	assert_true(req.content_length == 4);
}

/* --- malformed requests --- */

struct bad_case {
	const char *raw;
	size_t len;
	int status;
};

#define H11 " HTTP/1.1\r\nHost: a\r\n"

static const struct bad_case bad[] = {
	/* request line */
	{ S("GET  / HTTP/1.1\r\nHost: a\r\n\r\n"), 400 },
	{ S("GET /  HTTP/1.1\r\nHost: a\r\n\r\n"), 400 },
	{ S("GET / HTTP/1.1 \r\nHost: a\r\n\r\n"), 400 },
	{ S(" GET / HTTP/1.1\r\nHost: a\r\n\r\n"), 400 },
	{ S("GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n"), 400 },
	{ S("GET /\tHTTP/1.1\r\nHost: a\r\n\r\n"), 400 },
	{ S("G@T / HTTP/1.1\r\nHost: a\r\n\r\n"), 400 },
	{ S("GET\r\n\r\n"), 400 },
	{ S("GET /\r\n\r\n"), 400 },
	{ S("GET / \r\n\r\n"), 400 },
	{ S("GET / http/1.1\r\nHost: a\r\n\r\n"), 400 },
	{ S("GET / HTTPS/1.1\r\nHost: a\r\n\r\n"), 400 },
	{ S("GET / HTTP/1\r\nHost: a\r\n\r\n"), 400 },
	{ S("GET / HTTP/1.\r\nHost: a\r\n\r\n"), 400 },
	{ S("GET / HTTP/1.1x\r\nHost: a\r\n\r\n"), 400 },
	{ S("GET / HTTP/11.1\r\nHost: a\r\n\r\n"), 400 },
	{ S("GET / HTTP/1.x\r\nHost: a\r\n\r\n"), 400 },
	{ S("GET * HTTP/1.1\r\nHost: a\r\n\r\n"), 400 },
	{ S("OPTIONS *x HTTP/1.1\r\nHost: a\r\n\r\n"), 400 },
	{ S("OPTIONS ** HTTP/1.1\r\nHost: a\r\n\r\n"), 400 },
	/* absolute-form: http(s) only, a host, no userinfo, a clean path */
	{ S("GET ftp://a/ HTTP/1.1\r\nHost: a\r\n\r\n"), 400 },
	{ S("GET http:/a/ HTTP/1.1\r\nHost: a\r\n\r\n"), 400 },
	{ S("GET http:// HTTP/1.1\r\nHost: a\r\n\r\n"), 400 },
	{ S("GET http:///x HTTP/1.1\r\nHost: a\r\n\r\n"), 400 },
	{ S("GET http://:80/x HTTP/1.1\r\nHost: a\r\n\r\n"), 400 },
	{ S("GET http://u@a/ HTTP/1.1\r\nHost: a\r\n\r\n"), 400 },
	{ S("GET http://a:b/ HTTP/1.1\r\nHost: a\r\n\r\n"), 400 },
	{ S("GET http://a:123456/ HTTP/1.1\r\nHost: a\r\n\r\n"), 400 },
	{ S("GET http://[::1/ HTTP/1.1\r\nHost: a\r\n\r\n"), 400 },
	{ S("GET http://a/../x HTTP/1.1\r\nHost: a\r\n\r\n"), 400 },
	{ S("GET http://a/b HTTP/1.1\r\n\r\n"), 400 },
	{ S("GET http://a/b HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n"), 400 },
	{ S("CONNECT a:443 HTTP/1.1\r\nHost: a\r\n\r\n"), 400 },
	{ S("GET a/b HTTP/1.1\r\nHost: a\r\n\r\n"), 400 },
	{ S("GET /a#frag HTTP/1.1\r\nHost: a\r\n\r\n"), 400 },
	{ S("GET /a\x01 HTTP/1.1\r\nHost: a\r\n\r\n"), 400 },
	{ S("GET /a\x7f HTTP/1.1\r\nHost: a\r\n\r\n"), 400 },
	{ S("GET /\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n"), 400 },
	{ S("GET /a\0b HTTP/1.1\r\nHost: a\r\n\r\n"), 400 },
	{ S("\r\n\r\n\r\n\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"), 400 },
	{ S("\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"), 400 },
	{ S("\r\rGET / HTTP/1.1\r\nHost: a\r\n\r\n"), 400 },
	/* line endings: bare LF and lone CR are refused everywhere */
	{ S("GET / HTTP/1.1\nHost: a\n\n"), 400 },
	{ S("GET / HTTP/1.1\r\nHost: a\n\r\n"), 400 },
	{ S("GET / HTTP/1.1\r\nHost: a\r\n\n"), 400 },
	{ S("GET / HTTP/1.1\rHost: a\r\n\r\n"), 400 },
	{ S("GET / HTTP/1.1\r\nHost: a\r\r\n\r\n"), 400 },
	{ S("GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n"), 400 },
	{ S("GET / HTTP/1.1\r\nHost: a\r\n\rX"), 400 },
	/* header fields */
	{ S("GET / HTTP/1.1\r\n\r\n"), 400 },
	{ S("GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n"), 400 },
	{ S("GET / HTTP/1.1\r\nHost: a b\r\n\r\n"), 400 },
	{ S("GET / HTTP/1.1\r\nHost: a/b\r\n\r\n"), 400 },
	{ S("GET / HTTP/1.1\r\nHost: a@b\r\n\r\n"), 400 },
	{ S("GET / HTTP/1.1\r\nHost: a:b\r\n\r\n"), 400 },
	{ S("GET / HTTP/1.1\r\nHost: a:80:80\r\n\r\n"), 400 },
	{ S("GET / HTTP/1.1\r\nHost: a:123456\r\n\r\n"), 400 },
	{ S("GET / HTTP/1.1\r\nHost: ::1\r\n\r\n"), 400 },
	{ S("GET / HTTP/1.1\r\nHost: [::1\r\n\r\n"), 400 },
	{ S("GET / HTTP/1.1\r\nHost: []\r\n\r\n"), 400 },
	{ S("GET / HTTP/1.1\r\nHost: [::1]x\r\n\r\n"), 400 },
	{ S("GET / HTTP/1.1\r\nHost: [v1.x]\r\n\r\n"), 400 },
	{ S("GET / HTTP/1.1\r\nHost: a]b\r\n\r\n"), 400 },
	{ S("GET / HTTP/1.1\r\nHost: a%zzb\r\n\r\n"), 400 },
	{ S("GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n"), 400 },
	{ S("GET / HTTP/1.1\r\nHost : a\r\n\r\n"), 400 },
	{ S("GET / HTTP/1.1\r\nHost\t: a\r\n\r\n"), 400 },
	{ S("GET /" H11 ": value\r\n\r\n"), 400 },
	{ S("GET /" H11 "Foo bar: x\r\n\r\n"), 400 },
	{ S("GET /" H11 "NoColon\r\n\r\n"), 400 },
	{ S("GET /" H11 "X(y): z\r\n\r\n"), 400 },
	{ S("GET /" H11 "X: a\x01"
	    "b\r\n\r\n"),
	  400 },
	{ S("GET /" H11 "X: a\x7f"
	    "b\r\n\r\n"),
	  400 },
	{ S("GET /" H11 "X: a\0b\r\n\r\n"), 400 },
	{ S("GET /" H11 "X: a\x1b[2J\r\n\r\n"), 400 },
	/* obs-fold, and whitespace before the first field */
	{ S("GET /" H11 "X: a\r\n b\r\n\r\n"), 400 },
	{ S("GET /" H11 "X: a\r\n\tb\r\n\r\n"), 400 },
	{ S("GET / HTTP/1.1\r\n Host: a\r\n\r\n"), 400 },
	/* paths */
	{ S("GET /../etc/passwd HTTP/1.1\r\nHost: a\r\n\r\n"), 400 },
	{ S("GET /a/../../b HTTP/1.1\r\nHost: a\r\n\r\n"), 400 },
	{ S("GET /%2e%2e/x HTTP/1.1\r\nHost: a\r\n\r\n"), 400 },
	{ S("GET /a%2fb HTTP/1.1\r\nHost: a\r\n\r\n"), 400 },
	{ S("GET /a%00b HTTP/1.1\r\nHost: a\r\n\r\n"), 400 },
	{ S("GET /a%zz HTTP/1.1\r\nHost: a\r\n\r\n"), 400 },
	{ S("GET /a%4 HTTP/1.1\r\nHost: a\r\n\r\n"), 400 },
	{ S("GET /a\\..\\b HTTP/1.1\r\nHost: a\r\n\r\n"), 400 },
	{ S("GET /a%0d%0aSet-Cookie:x HTTP/1.1\r\nHost: a\r\n\r\n"), 400 },
	/* smuggling: Content-Length */
	{ S("POST /" H11 "Content-Length: 5\r\nContent-Length: 6\r\n\r\n"), 400 },
	{ S("POST /" H11 "Content-Length: 5, 5\r\n\r\n"), 400 },
	{ S("POST /" H11 "Content-Length: 5,6\r\n\r\n"), 400 },
	{ S("POST /" H11 "Content-Length: -1\r\n\r\n"), 400 },
	{ S("POST /" H11 "Content-Length: +5\r\n\r\n"), 400 },
	{ S("POST /" H11 "Content-Length: 0x10\r\n\r\n"), 400 },
	{ S("POST /" H11 "Content-Length: 1e3\r\n\r\n"), 400 },
	{ S("POST /" H11 "Content-Length: 1 0\r\n\r\n"), 400 },
	{ S("POST /" H11 "Content-Length:\r\n\r\n"), 400 },
	{ S("POST /" H11 "Content-Length: 18446744073709551616\r\n\r\n"), 400 },
	{ S("POST /" H11 "Content-Length: 99999999999999999999999999\r\n\r\n"),
	  400 },
	{ S("POST /" H11 "Content-Length : 5\r\n\r\n"), 400 },
	{ S("POST /" H11 "Content-Length: \x0b"
	    "5\r\n\r\n"),
	  400 },
	/* smuggling: Transfer-Encoding */
	{ S("POST /" H11 "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n"),
	  400 },
	{ S("POST /" H11 "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"),
	  400 },
	{ S("POST /" H11
	    "Content-Length: 5\r\ntransfer-encoding:\tCHUNKED\r\n\r\n"),
	  400 },
	{ S("POST /" H11
	    "Content-Length: 5\r\nTransfer-Encoding: identity\r\n\r\n"),
	  400 },
	{ S("POST /" H11
	    "Content-Length: 5\r\nTransfer-Encoding : chunked\r\n\r\n"),
	  400 },
	{ S("POST /" H11 "Transfer-Encoding\r\n : chunked\r\n\r\n"), 400 },
	{ S("POST /" H11 "Transfer-Encoding: x\r\n chunked\r\n\r\n"), 400 },
	{ S("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"), 400 },
	/* chunked must be the last coding, once (RFC 9112 6.3) */
	{ S("POST /" H11 "Transfer-Encoding: xchunked\r\n\r\n"), 400 },
	{ S("POST /" H11 "Transfer-Encoding: chunked, gzip\r\n\r\n"), 400 },
	{ S("POST /" H11
	    "Transfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n\r\n"),
	  400 },
	{ S("POST /" H11
	    "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n"),
	  400 },
	{ S("POST /" H11 "Transfer-Encoding: chunked, chunked\r\n\r\n"), 400 },
	{ S("POST /" H11 "Transfer-Encoding: identity\r\n\r\n"), 400 },
	/* a list element that is not a plain token */
	{ S("POST /" H11 "Transfer-Encoding:\r\n\r\n"), 400 },
	{ S("POST /" H11 "Transfer-Encoding: chunked,\r\n\r\n"), 400 },
	{ S("POST /" H11 "Transfer-Encoding: , chunked\r\n\r\n"), 400 },
	{ S("POST /" H11 "Transfer-Encoding: chunked;x=1\r\n\r\n"), 400 },
	{ S("POST /" H11 "Transfer-Encoding: \"chunked\"\r\n\r\n"), 400 },
	{ S("POST /" H11 "Transfer-Encoding: chunked chunked\r\n\r\n"), 400 },
	/* a coding under chunked we do not undo */
	{ S("POST /" H11 "Transfer-Encoding: gzip, chunked\r\n\r\n"), 501 },
	{ S("POST /" H11
	    "Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n"),
	  501 },
	/* body size */
	{ S("POST /" H11 "Content-Length: 1048577\r\n\r\n"), 413 },
	{ S("POST /" H11 "Content-Length: 18446744073709551615\r\n\r\n"), 413 },
	/* versions */
	{ S("GET / HTTP/2.0\r\nHost: a\r\n\r\n"), 505 },
	{ S("GET / HTTP/2\r\nHost: a\r\n\r\n"), 505 },
	{ S("GET / HTTP/3.0\r\nHost: a\r\n\r\n"), 505 },
	{ S("GET / HTTP/0.9\r\nHost: a\r\n\r\n"), 505 },
	{ S("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), 505 },
	/* a TLS ClientHello is refused at its first byte */
	{ S("\x16\x03\x01\x02\x00\x01"), 400 },
};

static void test_bad_requests(void **state)
{
	size_t k;

	(void)state;
	for (k = 0; k < N_ELEM(bad); k++) {
		struct http_request req;
		int r = parse_def(bad[k].raw, bad[k].len, &req);

		if (r != -bad[k].status)
			print_error("bad[%zu]: got %d, want %d: %s\n", k, r,
				    -bad[k].status, bad[k].raw);
		assert_int_equal(r, -bad[k].status);
	}
}

/* A 400 must not depend on how the bytes were split: for every bad case,
 * a prefix either asks for more or gives the same answer (limits aside). */
static void test_bad_prefixes_consistent(void **state)
{
	size_t k, n;

	(void)state;
	for (k = 0; k < N_ELEM(bad); k++) {
		for (n = 0; n < bad[k].len; n++) {
			struct http_request req;
			int r = parse_def(bad[k].raw, n, &req);

			if (r > 0 && bad[k].status == 400)
				continue; /* a valid head, then garbage: fine */
			if (r != 0 && r != -bad[k].status)
				print_error("bad[%zu] prefix %zu: got %d\n", k,
					    n, r);
			assert_true(r == 0 || r == -bad[k].status);
		}
	}
}

/* --- limits --- */

static struct http_limits small_limits(void)
{
	struct http_limits lim;

	http_limits_default(&lim);
	lim.max_request_line = 32;
	lim.max_header_bytes = 64;
	lim.max_headers = 4;
	lim.max_body = 100;
	return lim;
}

/* "GET /aaa... HTTP/1.1" of exactly n bytes, then CRLF and Host. */
static size_t long_line(char *out, size_t n, int complete)
{
	size_t path = n - strlen("GET / HTTP/1.1");
	size_t o = 0;

	memcpy(out, "GET /", 5);
	o = 5;
	memset(out + o, 'a', path);
	o += path;
	memcpy(out + o, " HTTP/1.1", 9);
	o += 9;
	if (complete) {
		memcpy(out + o, "\r\nHost: a\r\n\r\n", 13);
		o += 13;
	}
	return o;
}

static void test_limit_request_line(void **state)
{
	struct http_limits lim = small_limits();
	struct http_request req;
	char b[256];
	size_t n;

	(void)state;
	n = long_line(b, 32, 1);
	assert_int_equal(parse_n(b, n, &lim, &req), (int)n);
	n = long_line(b, 33, 1);
	assert_int_equal(parse_n(b, n, &lim, &req), -414);
	/* Known before the line ends: 33 bytes and no CR yet. */
	n = long_line(b, 33, 0);
	assert_int_equal(parse_n(b, n, &lim, &req), -414);
	/* 32 bytes without CR is still possibly fine, so is 32 + CR. */
	n = long_line(b, 32, 0);
	assert_int_equal(parse_n(b, n, &lim, &req), 0);
	b[n] = '\r';
	assert_int_equal(parse_n(b, n + 1, &lim, &req), 0);
	/* Any 33 bytes without a line end, even a lone method. */
	memset(b, 'G', 40);
	assert_int_equal(parse_n(b, 33, &lim, &req), -414);
	assert_int_equal(parse_n(b, 32, &lim, &req), 0);
	/* A path too long for HTTP_PATH_MAX is 414 with default limits. */
	http_limits_default(&lim);
	{
		char big[HTTP_PATH_MAX + 64];
		size_t o;

		memcpy(big, "GET /", 5);
		memset(big + 5, 'x', HTTP_PATH_MAX);
		o = 5 + HTTP_PATH_MAX;
		memcpy(big + o, " HTTP/1.1\r\nHost: a\r\n\r\n", 22);
		o += 22;
		assert_int_equal(parse_n(big, o, &lim, &req), -414);
		/* 1023 bytes of path fit with the NUL. */
		memmove(big + 5 + HTTP_PATH_MAX - 2, big + 5 + HTTP_PATH_MAX, 22);
		o -= 2;
		assert_int_equal(parse_n(big, o, &lim, &req), (int)o);
		assert_int_equal(strlen(req.path), HTTP_PATH_MAX - 1);
	}
}

static void test_limit_header_bytes(void **state)
{
	struct http_limits lim = small_limits();
	struct http_request req;
	/* The block after the request line: "Host: a\r\n" (9) + "X: " + v +
	 * "\r\n" + "\r\n": 16 + |v| bytes. */
	char b[256];
	size_t n, vlen;

	(void)state;
	for (vlen = 40; vlen <= 60; vlen++) {
		size_t block = 16 + vlen;
		int want;

		n = 0;
		memcpy(b, "GET / HTTP/1.1\r\nHost: a\r\nX: ", 28);
		n = 28;
		memset(b + n, 'v', vlen);
		n += vlen;
		memcpy(b + n, "\r\n\r\n", 4);
		n += 4;
		want = block <= 64 ? (int)n : -431;
		assert_int_equal(parse_n(b, n, &lim, &req), want);
	}
	/* Known early: 64 header bytes and no end in sight. */
	memcpy(b, "GET / HTTP/1.1\r\nX: ", 19);
	memset(b + 19, 'v', 100);
	assert_int_equal(parse_n(b, 16 + 64, &lim, &req), -431);
	assert_int_equal(parse_n(b, 16 + 63, &lim, &req), 0);
}

static void test_limit_header_count(void **state)
{
	struct http_limits lim = small_limits();
	struct http_request req;
	static const char four[] =
		"GET / HTTP/1.1\r\nHost: a\r\nA:\r\nB:\r\nC:\r\n\r\n";
	static const char five[] =
		"GET / HTTP/1.1\r\nHost: a\r\nA:\r\nB:\r\nC:\r\nD:\r\n\r\n";

	(void)state;
	lim.max_header_bytes = 1000;
	assert_int_equal(parse_n(S(four), &lim, &req), (int)sizeof(four) - 1);
	assert_int_equal(parse_n(S(five), &lim, &req), -431);
	/* Known at the first byte of the fifth field. */
	assert_int_equal(parse_n(five, sizeof(five) - 1 - 5, &lim, &req), -431);
	assert_int_equal(parse_n(five, sizeof(five) - 1 - 6, &lim, &req), 0);
}

static void test_limit_body(void **state)
{
	struct http_limits lim = small_limits();
	struct http_request req;

	(void)state;
	assert_int_equal(parse_n(S("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\n"),
				 &lim, &req),
			 49);
	assert_true(req.content_length == 100);
	assert_int_equal(parse_n(S("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 101\r\n\r\n"),
				 &lim, &req),
			 -413);
	/* The default is 1 MiB, inclusive. */
	assert_true(parse_def(S("POST /" H11 "Content-Length: 1048576\r\n\r\n"),
			      &req) > 0);
}

/* --- other fields --- */

static void test_fields(void **state)
{
	struct http_request req;

	(void)state;
	assert_true(
		parse_def(S("GET /f HTTP/1.1\r\nHost: a\r\nRange:  bytes=0-9 \r\n"
			    "If-Modified-Since: Sun, 06 Nov 1994 08:49:37 GMT\r\n"
			    "Expect: 100-Continue\r\n\r\n"),
			  &req) > 0);
	assert_int_equal(req.has_range, 1);
	assert_string_equal(req.range, "bytes=0-9");
	assert_int_equal((long)req.if_modified_since, 784111777L);
	assert_int_equal(req.expect, HTTP_EXPECT_CONTINUE);
	assert_int_equal(req.has_host, 1);

	/* Repeated Range or If-Modified-Since: ignored, not guessed. */
	assert_true(
		parse_def(S("GET /f" H11 "Range: bytes=0-1\r\nRange: bytes=2-3\r\n"
			    "If-Modified-Since: Sun, 06 Nov 1994 08:49:37 GMT\r\n"
			    "If-Modified-Since: Sun, 06 Nov 1994 08:49:37 GMT\r\n\r\n"),
			  &req) > 0);
	assert_int_equal(req.has_range, 0);
	assert_int_equal((long)req.if_modified_since, 0L);

	/* Unparseable date, oversized Range: ignored. */
	assert_true(parse_def(S("GET /f" H11 "If-Modified-Since: yesterday\r\n"
				"Range: bytes=0-1,2-3,4-5,6-7,8-9,10-11,12-13,14-15,16-17,18-19,20-21,22-23,24-25\r\n"
				"Expect: something\r\n\r\n"),
			      &req) > 0);
	assert_int_equal(req.has_range, 0);
	assert_int_equal((long)req.if_modified_since, 0L);
	assert_int_equal(req.expect, HTTP_EXPECT_OTHER);

	/* HTTP/1.0 needs no Host. */
	assert_true(parse_def(S("GET / HTTP/1.0\r\n\r\n"), &req) > 0);
	assert_int_equal(req.has_host, 0);
}

/* Expect: 100-continue alone (case ignored, listed or repeated) is
 * HTTP_EXPECT_CONTINUE; any other member makes it HTTP_EXPECT_OTHER; an
 * HTTP/1.0 request's is ignored. */
static void test_expect(void **state)
{
	static const struct {
		const char *field;
		int minor;
		enum http_expect want;
	} cases[] = {
		{ "Expect: 100-continue\r\n", 1, HTTP_EXPECT_CONTINUE },
		{ "Expect: 100-CONTINUE \r\n", 1, HTTP_EXPECT_CONTINUE },
		{ "Expect: 100-continue, 100-continue\r\n", 1,
		  HTTP_EXPECT_CONTINUE },
		{ "Expect:\r\n", 1, HTTP_EXPECT_NONE },
		{ "Expect: , \r\n", 1, HTTP_EXPECT_NONE },
		{ "Expect: 100-continue, x\r\n", 1, HTTP_EXPECT_OTHER },
		{ "Expect: x\r\nExpect: 100-continue\r\n", 1, HTTP_EXPECT_OTHER },
		{ "Expect: 200-ok\r\n", 1, HTTP_EXPECT_OTHER },
		{ "Expect: 100-continue\r\n", 0, HTTP_EXPECT_NONE },
		{ "Expect: x\r\n", 0, HTTP_EXPECT_NONE },
	};
	char b[256];

	(void)state;
	for (size_t k = 0; k < N_ELEM(cases); k++) {
		struct http_request req;
		int n = snprintf(b, sizeof(b),
				 "GET / HTTP/1.%d\r\nHost: a\r\n%s\r\n",
				 cases[k].minor, cases[k].field);

		assert_int_equal(parse_def(b, (size_t)n, &req), n);
		if (req.expect != cases[k].want)
			print_error("case %zu: %s", k, cases[k].field);
		assert_int_equal(req.expect, cases[k].want);
	}
}

/* Which host selects the virtual host: Host without its port and final
 * dot, or the absolute-form target's, which wins (RFC 9112 3.2.2); the
 * target's path is then taken as in origin-form. */
static void test_host_and_target_forms(void **state)
{
	static const struct {
		const char *raw;
		const char *host; /* NULL: none */
		const char *path;
		int absolute, asterisk;
	} cases[] = {
		{ "GET /x HTTP/1.1\r\nHost: Example.ORG\r\n\r\n", "Example.ORG",
		  "/x", 0, 0 },
		{ "GET /x HTTP/1.1\r\nHost: a.b:8080\r\n\r\n", "a.b", "/x", 0, 0 },
		{ "GET /x HTTP/1.1\r\nHost: a.b.:\r\n\r\n", "a.b", "/x", 0, 0 },
		{ "GET /x HTTP/1.1\r\nHost: [::1]:80\r\n\r\n", "[::1]", "/x", 0,
		  0 },
		{ "GET /x HTTP/1.1\r\nHost: 10.0.0.1\r\n\r\n", "10.0.0.1", "/x",
		  0, 0 },
		{ "GET /x HTTP/1.1\r\nHost: a%41b\r\n\r\n", "a%41b", "/x", 0, 0 },
		{ "GET /x HTTP/1.1\r\nHost:\r\n\r\n", "", "/x", 0, 0 },
		{ "GET /x HTTP/1.0\r\n\r\n", NULL, "/x", 0, 0 },
		{ "GET http://v.example:81/a/../b?q HTTP/1.1\r\nHost: other\r\n\r\n",
		  "v.example", "/b", 1, 0 },
		{ "GET HTTPS://V.example HTTP/1.1\r\nHost: other\r\n\r\n",
		  "V.example", "/", 1, 0 },
		{ "GET http://v?x=/y HTTP/1.1\r\nHost: v\r\n\r\n", "v", "/", 1, 0 },
		{ "GET http://[::1]:8080/%7e HTTP/1.1\r\nHost: v\r\n\r\n",
		  "[::1]", "/~", 1, 0 },
		{ "GET http://v/ HTTP/1.0\r\n\r\n", "v", "/", 1, 0 },
		{ "OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n", "h", "/", 0, 1 },
	};

	(void)state;
	for (size_t k = 0; k < N_ELEM(cases); k++) {
		struct http_request req;
		size_t n = strlen(cases[k].raw);
		char *copy = malloc(n);
		struct http_limits lim;
		int r;

		assert_non_null(copy);
		memcpy(copy, cases[k].raw, n);
		http_limits_default(&lim);
		r = http_parse_request(copy, n, &lim, &req);
		if (r != (int)n)
			print_error("case %zu: %d\n", k, r);
		assert_int_equal(r, (int)n);
		assert_string_equal(req.path, cases[k].path);
		assert_int_equal(req.absolute_form, cases[k].absolute);
		assert_int_equal(req.asterisk, cases[k].asterisk);
		if (!cases[k].host) {
			assert_null(req.host);
		} else {
			/* Into the buffer parsed, not a copy. */
			assert_true(req.host >= copy && req.host < copy + n);
			assert_int_equal(req.host_len, strlen(cases[k].host));
			assert_memory_equal(req.host, cases[k].host, req.host_len);
		}
		free(copy);
	}
}

/* Transfer-Encoding: chunked alone is taken (case ignored, OWS around). */
static void test_chunked_head(void **state)
{
	struct http_request req;

	(void)state;
	assert_true(
		parse_def(S("POST /" H11 "Transfer-Encoding:  Chunked \r\n\r\n"),
			  &req) > 0);
	assert_int_equal(req.chunked, 1);
	assert_int_equal(req.has_content_length, 0);
	assert_true(parse_def(S("POST /" H11 "Content-Length: 3\r\n\r\n"), &req) >
		    0);
	assert_int_equal(req.chunked, 0);
}

/* --- chunked bodies --- */

struct chunk_case {
	const char *raw;
	size_t len;
	int want;       /* 1: complete, else -status */
	size_t used;    /* bytes of the body, when complete */
	uint64_t total; /* its data bytes */
};

static const struct chunk_case chunk_valid[] = {
	{ S("0\r\n\r\n"), 1, 5, 0 },
	{ S("5\r\nhello\r\n0\r\n\r\n"), 1, 15, 5 },
	{ S("5\r\nhello\r\n0\r\n\r\nGET / HTTP/1.1\r\n"), 1, 15, 5 },
	{ S("3\r\nabc\r\nA\r\n0123456789\r\n000\r\n\r\n"), 1, 30, 13 },
	/* data that looks like the end is data */
	{ S("a\r\n0\r\n\r\n0\r\n\r\n\r\n0\r\n\r\n"), 1, 20, 10 },
	{ S("1;a=b;c=\"d;e\"\r\nx\r\n0;last\r\n\r\n"), 1, 28, 1 },
	{ S("1 ;a\r\nx\r\n0\t; b = c\r\n\r\n"), 1, 22, 1 },
	{ S("00000001\r\nx\r\n0\r\nX-Sum: 1\r\nY:\r\n\r\n"), 1, 32, 1 },
	{ S("FfFfF\r\n"), 0, 0, 0 },
};

static const struct chunk_case chunk_bad[] = {
	{ S("\r\n"), -400, 0, 0 },
	{ S(";x\r\n"), -400, 0, 0 },
	{ S("-1\r\n"), -400, 0, 0 },
	{ S("+1\r\n"), -400, 0, 0 },
	{ S("0x1\r\n"), -400, 0, 0 },
	{ S("g\r\n"), -400, 0, 0 },
	{ S(" 1\r\n"), -400, 0, 0 },
	{ S("1 \r\nx\r\n"), -400, 0, 0 },
	{ S("1 x\r\n"), -400, 0, 0 },
	{ S("1\nx\r\n0\r\n\r\n"), -400, 0, 0 },
	{ S("1\rx"), -400, 0, 0 },
	{ S("1\r\nxy\r\n"), -400, 0, 0 },
	{ S("1\r\nx\n0\r\n\r\n"), -400, 0, 0 },
	{ S("1\r\nx0\r\n\r\n"), -400, 0, 0 },
	{ S("1;a\nb\r\nx\r\n"), -400, 0, 0 },
	{ S("1;a\x01\r\nx\r\n"), -400, 0, 0 },
	/* 17 hex digits: more than 64 bits, before any limit */
	{ S("10000000000000000\r\n"), -400, 0, 0 },
	{ S("FFFFFFFFFFFFFFFFF\r\n"), -400, 0, 0 },
	/* trailer section */
	{ S("0\r\nX: a\nY: b\r\n\r\n"), -400, 0, 0 },
	{ S("0\r\nX: a\r\n b\r\n\r\n"), -400, 0, 0 },
	{ S("0\r\n: a\r\n\r\n"), -400, 0, 0 },
	{ S("0\r\nX a\r\n\r\n"), -400, 0, 0 },
	{ S("0\r\nX: \x7f\r\n\r\n"), -400, 0, 0 },
	{ S("0\r\n\rX"), -400, 0, 0 },
	{ S("0\r\n\n"), -400, 0, 0 },
	/* over the body limit (1 MiB) */
	{ S("100001\r\n"), -413, 0, 0 },
	{ S("FFFFFFFFFFFFFFFF\r\n"), -413, 0, 0 },
	{ S("100001;x\r\n"), -413, 0, 0 },
	{ S("100000\r\n"), 0, 0, 0 },
};

static int chunk_feed(const char *raw, size_t len, const size_t *cuts,
		      size_t ncuts, const struct http_limits *lim, size_t *used,
		      uint64_t *total)
{
	struct http_chunked ck;
	size_t off = 0;
	int r = 0;

	http_chunked_init(&ck);
	for (size_t k = 0; k <= ncuts && r == 0; k++) {
		size_t end = k < ncuts ? cuts[k] : len, u = 0;
		char *copy = malloc(end - off ? end - off : 1);

		assert_non_null(copy);
		memcpy(copy, raw + off, end - off);
		r = http_chunked_read(&ck, copy, end - off, lim, &u);
		free(copy);
		if (r == 0)
			assert_int_equal(u, end - off);
		off += u;
	}
	*used = off;
	*total = ck.total;
	return r;
}

static void check_chunks(const struct chunk_case *cases, size_t n)
{
	struct http_limits lim;

	http_limits_default(&lim);
	for (size_t k = 0; k < n; k++) {
		const struct chunk_case *c = &cases[k];
		size_t used;
		uint64_t total;
		int r = chunk_feed(c->raw, c->len, NULL, 0, &lim, &used, &total);

		if (r != c->want)
			print_error("case %zu: got %d, want %d: %s\n", k, r,
				    c->want, c->raw);
		assert_int_equal(r, c->want);
		if (r == 1) {
			assert_int_equal(used, c->used);
			assert_true(total == c->total);
		}
		/* Split in two at every byte, and one byte at a time: the
		 * same answer, at the same place. */
		for (size_t cut = 0; cut <= c->len; cut++) {
			size_t u2;
			uint64_t t2;

			assert_int_equal(chunk_feed(c->raw, c->len, &cut, 1,
						    &lim, &u2, &t2),
					 r);
			if (r == 1)
				assert_int_equal(u2, used);
		}
		{
			size_t cuts[512], u3;
			uint64_t t3;

			assert_true(c->len <= N_ELEM(cuts));
			for (size_t i = 0; i < c->len; i++)
				cuts[i] = i;
			assert_int_equal(chunk_feed(c->raw, c->len, cuts,
						    c->len, &lim, &u3, &t3),
					 r);
			if (r == 1)
				assert_int_equal(u3, used);
		}
	}
}

static void test_chunked_valid(void **state)
{
	(void)state;
	check_chunks(chunk_valid, N_ELEM(chunk_valid));
}

static void test_chunked_malformed(void **state)
{
	(void)state;
	check_chunks(chunk_bad, N_ELEM(chunk_bad));
}

/* max_body counts the data of all chunks, inclusive; the trailer section
 * is bounded like a head (431); a size line by HTTP_CHUNK_LINE_MAX. */
static void test_chunked_limits(void **state)
{
	struct http_limits lim = small_limits(); /* body 100, 64 bytes, 4 fields */
	char b[HTTP_CHUNK_LINE_MAX + 64];
	size_t used, n;
	uint64_t total;

	(void)state;
	assert_int_equal(chunk_feed(S("32\r\n"
				      "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
				      "\r\n32\r\n"
				      "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
				      "\r\n0\r\n\r\n"),
				    NULL, 0, &lim, &used, &total),
			 1);
	assert_true(total == 100);
	assert_int_equal(chunk_feed(S("32\r\n"
				      "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
				      "\r\n33\r\n"),
				    NULL, 0, &lim, &used, &total),
			 -413);
	assert_int_equal(chunk_feed(S("0\r\nA:\r\nB:\r\nC:\r\nD:\r\n\r\n"),
				    NULL, 0, &lim, &used, &total),
			 1);
	assert_int_equal(chunk_feed(S("0\r\nA:\r\nB:\r\nC:\r\nD:\r\nE:\r\n\r\n"),
				    NULL, 0, &lim, &used, &total),
			 -431);
	n = (size_t)snprintf(b, sizeof(b), "0\r\nX: %060d\r\n\r\n", 0);
	assert_int_equal(chunk_feed(b, n, NULL, 0, &lim, &used, &total), -431);
	/* A size line with its extension: HTTP_CHUNK_LINE_MAX bytes before
	 * the CR, no more. */
	http_limits_default(&lim);
	memset(b, 'x', sizeof(b));
	memcpy(b, "1;", 2);
	memcpy(b + HTTP_CHUNK_LINE_MAX, "\r\nx\r\n0\r\n\r\n", 10);
	assert_int_equal(chunk_feed(b, HTTP_CHUNK_LINE_MAX + 10, NULL, 0, &lim,
				    &used, &total),
			 1);
	b[HTTP_CHUNK_LINE_MAX] = 'x';
	memcpy(b + HTTP_CHUNK_LINE_MAX + 1, "\r\nx\r\n0\r\n\r\n", 10);
	assert_int_equal(chunk_feed(b, HTTP_CHUNK_LINE_MAX + 11, NULL, 0, &lim,
				    &used, &total),
			 -400);
	/* Leading zeros count against the line, not the value. */
	memset(b, '0', HTTP_CHUNK_LINE_MAX + 1);
	assert_int_equal(chunk_feed(b, HTTP_CHUNK_LINE_MAX + 1, NULL, 0, &lim,
				    &used, &total),
			 -400);
}

/* The method is known even when the request fails, for HEAD answers. */
static void test_method_on_error(void **state)
{
	struct http_request req;

	(void)state;
	assert_int_equal(parse_def(S("HEAD / HTTP/1.1\r\n\r\n"), &req), -400);
	assert_int_equal(req.method, HTTP_HEAD);
}

/* --- path normalisation --- */

struct path_case {
	const char *raw;
	size_t len;
	const char *want; /* NULL: refused */
};

static const struct path_case paths[] = {
	{ S("/"), "/" },
	{ S("/a/b"), "/a/b" },
	{ S("/a/b/"), "/a/b/" },
	{ S("/a/./b"), "/a/b" },
	{ S("/a/../b"), "/b" },
	{ S("/a/b/.."), "/a/" },
	{ S("/a/b/."), "/a/b/" },
	{ S("/."), "/" },
	{ S("/./"), "/" },
	{ S("//x"), "/x" }, /* merged: no empty segment reaches openat2 */
	{ S("/a//b///c//"), "/a/b/c/" },
	{ S("/..."), "/..." },
	{ S("/a..b/..c/c.."), "/a..b/..c/c.." },
	{ S("/.hidden"), "/.hidden" },
	{ S("/%41%62c%7e"), "/Abc~" },
	{ S("/a%2e/b"), "/a./b" },
	{ S("/a/%2e/b"), "/a/b" },
	{ S("/a/%2e%2e/b"), "/b" }, /* decoded dots are dots, still inside */
	{ S("/a/b/%2E%2E/%2e%2E/c"), "/c" },
	{ S("/a?x/../../.."), "/a" },
	{ S("/a/..?x"), "/" },
	{ S("/%C3%A9t%c3%a9"), "/\xc3\xa9t\xc3\xa9" },
	{ S("/a%20b;c=d@e:f"), "/a b;c=d@e:f" },
	/* everything below tries to leave the root or is malformed */
	{ S("/.."), NULL },
	{ S("/../"), NULL },
	{ S("/../etc/passwd"), NULL },
	{ S("/a/../../b"), NULL },
	{ S("/a/b/../../../c"), NULL },
	{ S("/a/./../.."), NULL },
	{ S("//.."), NULL },
	{ S("/%2e%2e/x"), NULL },
	{ S("/%2E%2e/"), NULL },
	{ S("/.%2e/"), NULL },
	{ S("/%2e./"), NULL },
	{ S("/a/%2e%2e/%2e%2e/b"), NULL },
	{ S("/a%2fb"), NULL },
	{ S("/a%2Fb"), NULL },
	{ S("/..%2f..%2fetc"), NULL },
	{ S("/a%00b"), NULL },
	{ S("/a\\..\\b"), NULL },
	{ S("/a%5c..%5cb"), NULL },
	{ S("/..\\"), NULL },
	{ S("/a%0d%0aX:y"), NULL },
	{ S("/a%09"), NULL },
	{ S("/a%7f"), NULL },
	{ S("/a%"), NULL },
	{ S("/a%2"), NULL },
	{ S("/a%g0"), NULL },
	{ S("/a%0g"), NULL },
	{ S("/a%%30"), NULL },
	{ S("a/b"), NULL },
	{ S(""), NULL },
	{ S("http://x/"), NULL },
	{ S("/a b"), NULL },
	{ S("/a\x7f"), NULL },
	{ S("/a#b"), NULL },
	{ S("/\x80"), NULL },
	{ S("/a\0b"), NULL },
};

static void test_normalize_path(void **state)
{
	size_t k;

	(void)state;
	for (k = 0; k < N_ELEM(paths); k++) {
		char out[HTTP_PATH_MAX];
		char *copy = malloc(paths[k].len ? paths[k].len : 1);
		int r;

		assert_non_null(copy);
		memcpy(copy, paths[k].raw, paths[k].len);
		r = http_normalize_path(copy, paths[k].len, out, sizeof(out));
		free(copy);
		if (paths[k].want) {
			if (r < 0)
				print_error("paths[%zu] %s: refused\n", k,
					    paths[k].raw);
			assert_int_equal(r, (int)strlen(paths[k].want));
			assert_string_equal(out, paths[k].want);
		} else {
			if (r != -1)
				print_error("paths[%zu] %s: got %d\n", k,
					    paths[k].raw, r);
			assert_int_equal(r, -1);
		}
	}
}

static void test_normalize_path_space(void **state)
{
	char out[8];

	(void)state;
	assert_int_equal(http_normalize_path(S("/abcdef"), out, 8), 7);
	assert_string_equal(out, "/abcdef");
	assert_int_equal(http_normalize_path(S("/abcdefg"), out, 8), -2);
	assert_int_equal(http_normalize_path(S("/abcdef/"), out, 8), -2);
	/* Room is counted on the output, not the input. */
	assert_int_equal(http_normalize_path(S("/%41%42%43%44%45%46"), out, 8), 7);
	assert_string_equal(out, "/ABCDEF");
	assert_int_equal(http_normalize_path(S("/"), out, 1), -2);
	assert_int_equal(http_normalize_path(S("/"), out, 2), 1);
}

/* A decoded path goes back into a URL with what would change its meaning
 * encoded, and decodes to itself again. */
static void test_encode_path(void **state)
{
	static const struct {
		const char *path, *want;
	} cases[] = {
		{ "/", "/" },
		{ "/sub/index.html", "/sub/index.html" },
		{ "/q?dir", "/q%3Fdir" },
		{ "/h#dir", "/h%23dir" },
		{ "/sp ace/x", "/sp%20ace/x" },
		{ "/pct%dir", "/pct%25dir" },
		{ "/caf\xc3\xa9", "/caf%C3%A9" },
		{ "/a\"<>^`{|}[]", "/a%22%3C%3E%5E%60%7B%7C%7D%5B%5D" },
		{ "/-._~!$&'()*+,;=:@", "/-._~!$&'()*+,;=:@" },
	};
	char out[3 * HTTP_PATH_MAX], back[HTTP_PATH_MAX];

	(void)state;
	for (size_t k = 0; k < N_ELEM(cases); k++) {
		int n = http_encode_path(cases[k].path, out, sizeof(out));

		assert_int_equal(n, (int)strlen(cases[k].want));
		assert_string_equal(out, cases[k].want);
		assert_int_equal(http_normalize_path(out, (size_t)n, back,
						     sizeof(back)),
				 (int)strlen(cases[k].path));
		assert_string_equal(back, cases[k].path);
	}
	/* room: the NUL counts, and a %XY is never cut */
	assert_int_equal(http_encode_path("/ab", out, 4), 3);
	assert_int_equal(http_encode_path("/ab", out, 3), -1);
	assert_int_equal(http_encode_path("/a?", out, 5), -1);
	assert_int_equal(http_encode_path("/a?", out, 6), 5);
	/* the longest path there is, every byte encoded, fits */
	memset(back, 0xff, sizeof(back) - 1);
	back[0] = '/';
	back[sizeof(back) - 1] = '\0';
	assert_int_equal(http_encode_path(back, out, sizeof(out)),
			 1 + 3 * (HTTP_PATH_MAX - 2));
}

/* --- ranges --- */

struct range_case {
	const char *spec;
	uint64_t size;
	int r;
	uint64_t start, end;
};

static const struct range_case ranges[] = {
	{ "bytes=0-499", 1000, 1, 0, 499 },
	{ "bytes=500-", 1000, 1, 500, 999 },
	{ "bytes=-200", 1000, 1, 800, 999 },
	{ "bytes=-2000", 1000, 1, 0, 999 },
	{ "bytes=0-0", 1000, 1, 0, 0 },
	{ "bytes=999-999", 1000, 1, 999, 999 },
	{ "bytes=990-5000", 1000, 1, 990, 999 },
	{ "Bytes=1-2", 1000, 1, 1, 2 },
	{ " bytes=1-2 ", 1000, 1, 1, 2 },
	{ "bytes=1000-", 1000, -1, 0, 0 },
	{ "bytes=1000-2000", 1000, -1, 0, 0 },
	{ "bytes=-0", 1000, -1, 0, 0 },
	{ "bytes=5-4", 1000, 0, 0, 0 },
	{ "bytes=0-1,5-6", 1000, 0, 0, 0 },
	{ "bytes=0-1, 5-6", 1000, 0, 0, 0 },
	{ "bytes=a-b", 1000, 0, 0, 0 },
	{ "bytes=", 1000, 0, 0, 0 },
	{ "bytes=-", 1000, 0, 0, 0 },
	{ "bytes=--1", 1000, 0, 0, 0 },
	{ "bytes=1-2-3", 1000, 0, 0, 0 },
	{ "bytes=0-1x", 1000, 0, 0, 0 },
	{ "bytes=+1-2", 1000, 0, 0, 0 },
	{ "bytes 0-1", 1000, 0, 0, 0 },
	{ "bytes = 0-1", 1000, 0, 0, 0 },
	{ "items=0-1", 1000, 0, 0, 0 },
	{ "byte=0-1", 1000, 0, 0, 0 },
	{ "", 1000, 0, 0, 0 },
	/* numbers beyond 64 bits saturate */
	{ "bytes=99999999999999999999999-", 1000, -1, 0, 0 },
	{ "bytes=18446744073709551615-", UINT64_MAX, -1, 0, 0 },
	{ "bytes=0-99999999999999999999999", 1000, 1, 0, 999 },
	{ "bytes=-99999999999999999999999", 1000, 1, 0, 999 },
	{ "bytes=18446744073709551614-", UINT64_MAX, 1, UINT64_MAX - 1,
	  UINT64_MAX - 1 },
	/* an empty file: nothing to cut */
	{ "bytes=0-", 0, 0, 0, 0 },
	{ "bytes=-5", 0, 0, 0, 0 },
};

static void test_ranges(void **state)
{
	size_t k;

	(void)state;
	for (k = 0; k < N_ELEM(ranges); k++) {
		uint64_t s = 7, e = 7;
		int r = http_parse_range(ranges[k].spec, ranges[k].size, &s, &e);

		if (r != ranges[k].r)
			print_error("ranges[%zu] %s: got %d\n", k,
				    ranges[k].spec, r);
		assert_int_equal(r, ranges[k].r);
		if (r == 1) {
			assert_true(s == ranges[k].start);
			assert_true(e == ranges[k].end);
			assert_true(s <= e && e < ranges[k].size);
		}
	}
}

/* --- dates --- */

static void test_format_date(void **state)
{
	char out[HTTP_DATE_LEN + 1];

	(void)state;
	assert_int_equal(http_format_date(784111777, out, sizeof(out)),
			 HTTP_DATE_LEN);
	assert_string_equal(out, "Sun, 06 Nov 1994 08:49:37 GMT");
	assert_int_equal(http_format_date(0, out, sizeof(out)), HTTP_DATE_LEN);
	assert_string_equal(out, "Thu, 01 Jan 1970 00:00:00 GMT");
	assert_int_equal(http_format_date(951782400, out, sizeof(out)),
			 HTTP_DATE_LEN);
	assert_string_equal(out, "Tue, 29 Feb 2000 00:00:00 GMT");
	assert_int_equal(http_format_date(4133980799, out, sizeof(out)),
			 HTTP_DATE_LEN);
	assert_string_equal(out, "Fri, 31 Dec 2100 23:59:59 GMT");
	assert_int_equal(http_format_date(253402300799, out, sizeof(out)),
			 HTTP_DATE_LEN);
	assert_string_equal(out, "Fri, 31 Dec 9999 23:59:59 GMT");
	assert_int_equal(http_format_date(253402300800, out, sizeof(out)), 0);
	assert_int_equal(http_format_date(-1, out, sizeof(out)), 0);
	assert_int_equal(http_format_date(0, out, HTTP_DATE_LEN), 0);
	assert_string_equal(out, "");
}

struct date_case {
	const char *s;
	time_t t; /* -1: refused */
};

static const struct date_case dates[] = {
	{ "Sun, 06 Nov 1994 08:49:37 GMT", 784111777 },
	{ "Sunday, 06-Nov-94 08:49:37 GMT", 784111777 },
	{ "Sun Nov  6 08:49:37 1994", 784111777 },
	{ "Sun Nov 06 08:49:37 1994", 784111777 },
	{ "sun, 06 nov 1994 08:49:37 GMT", 784111777 },
	{ "Thu, 01 Jan 1970 00:00:00 GMT", 0 },
	{ "Thu, 29 Feb 2024 12:00:00 GMT", 1709208000 },
	{ "Tue, 29 Feb 2000 00:00:00 GMT", 951782400 },
	{ "Wednesday, 31-Dec-97 23:59:59 GMT", 883612799 },
	{ "Sat, 31 Dec 2016 23:59:60 GMT", 1483228800 },
	{ "Sun, 06 Nov 1994 08:49:37 UTC", -1 },
	{ "Sun, 06 Nov 1994 08:49:37 gmt", -1 },
	{ "Sun, 31 Feb 1994 08:49:37 GMT", -1 },
	{ "Wed, 29 Feb 2023 08:49:37 GMT", -1 },
	{ "Mon, 29 Feb 2100 08:49:37 GMT", -1 },
	{ "Sun, 00 Nov 1994 08:49:37 GMT", -1 },
	{ "Sun, 06 Nov 1994 24:00:00 GMT", -1 },
	{ "Sun, 06 Nov 1994 08:60:00 GMT", -1 },
	{ "Sun, 06 Nov 1994 08:49:61 GMT", -1 },
	{ "Sun, 06 Xyz 1994 08:49:37 GMT", -1 },
	{ "Xyz, 06 Nov 1994 08:49:37 GMT", -1 },
	{ "Sun, 6 Nov 1994 08:49:37 GMT", -1 },
	{ "Sun, 06 Nov 1994 8:49:37 GMT ", -1 },
	{ "Sun,  06 Nov 1994 08:49:37 GMT", -1 },
	{ "Sun, 06 Nov 1969 08:49:37 GMT", -1 },
	{ "Sun, 06 Nov -994 08:49:37 GMT", -1 },
	{ "Sun, 06 Nov 1994 08-49-37 GMT", -1 },
	{ "Sunday, 06 Nov 94 08:49:37 GMT", -1 },
	{ "Sun Nov  6 08:49:37 1994 ", -1 },
	{ "Sun Nov 6  08:49:37 1994", -1 },
	{ "", -1 },
	{ "yesterday", -1 },
};

static void test_parse_date(void **state)
{
	size_t k;

	(void)state;
	for (k = 0; k < N_ELEM(dates); k++) {
		size_t n = strlen(dates[k].s);
		char *copy = malloc(n ? n : 1);
		time_t t;

		assert_non_null(copy);
		memcpy(copy, dates[k].s, n);
		t = http_parse_date(copy, n);
		free(copy);
		if (t != dates[k].t)
			print_error("dates[%zu] %s: got %ld\n", k, dates[k].s,
				    (long)t);
		assert_int_equal((long)t, (long)dates[k].t);
	}
}

static void test_date_round_trip(void **state)
{
	time_t t;

	(void)state;
	/* A step that is prime to 60, 3600 and 86400 visits every field. */
	for (t = 0; t < (time_t)253402300799; t += 1234567897) {
		char out[HTTP_DATE_LEN + 1];

		assert_int_equal(http_format_date(t, out, sizeof(out)),
				 HTTP_DATE_LEN);
		assert_int_equal((long)http_parse_date(out, HTTP_DATE_LEN),
				 (long)t);
	}
}

/* --- reasons --- */

static void test_reasons(void **state)
{
	(void)state;
	assert_string_equal(http_reason(100), "Continue");
	assert_string_equal(http_reason(200), "OK");
	assert_string_equal(http_reason(301), "Moved Permanently");
	assert_string_equal(http_reason(400), "Bad Request");
	assert_string_equal(http_reason(405), "Method Not Allowed");
	assert_string_equal(http_reason(413), "Content Too Large");
	assert_string_equal(http_reason(416), "Range Not Satisfiable");
	assert_string_equal(http_reason(501), "Not Implemented");
	assert_string_equal(http_reason(206), "Partial Content");
	assert_string_equal(http_reason(304), "Not Modified");
	assert_string_equal(http_reason(404), "Not Found");
	assert_string_equal(http_reason(414), "URI Too Long");
	assert_string_equal(http_reason(431), "Request Header Fields Too Large");
	assert_string_equal(http_reason(505), "HTTP Version Not Supported");
	assert_string_equal(http_reason(299), "Success");
	assert_string_equal(http_reason(499), "Client Error");
	assert_string_equal(http_reason(999), "Unknown");
	assert_string_equal(http_reason(-1), "Unknown");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid_requests),
		cmocka_unit_test(test_every_prefix_is_incomplete),
		cmocka_unit_test(test_pipelined),
		cmocka_unit_test(test_body_not_consumed),
		cmocka_unit_test(test_bad_requests),
		cmocka_unit_test(test_bad_prefixes_consistent),
		cmocka_unit_test(test_limit_request_line),
		cmocka_unit_test(test_limit_header_bytes),
		cmocka_unit_test(test_limit_header_count),
		cmocka_unit_test(test_limit_body),
		cmocka_unit_test(test_fields),
		cmocka_unit_test(test_method_on_error),
		cmocka_unit_test(test_expect),
		cmocka_unit_test(test_host_and_target_forms),
		cmocka_unit_test(test_chunked_head),
		cmocka_unit_test(test_chunked_valid),
		cmocka_unit_test(test_chunked_malformed),
		cmocka_unit_test(test_chunked_limits),
		cmocka_unit_test(test_normalize_path),
		cmocka_unit_test(test_normalize_path_space),
		cmocka_unit_test(test_encode_path),
		cmocka_unit_test(test_ranges),
		cmocka_unit_test(test_format_date),
		cmocka_unit_test(test_parse_date),
		cmocka_unit_test(test_date_round_trip),
		cmocka_unit_test(test_reasons),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
