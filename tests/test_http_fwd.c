/* test_http_fwd.c - the heads the reverse proxy writes (http_fwd.h).
 *
 * Each input head goes through the real parser first, as in the proxy,
 * and each output is compared whole with the head expected, then parsed
 * again: what the proxy sends must itself be a head the strict parsers
 * accept, saying the same thing. */
#include "autoconfig.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "http_fwd.h"
#include "http_parser.h"
#include "http_resp.h"

#define N_ELEM(a) (sizeof(a) / sizeof((a)[0]))

/* Room for every head written here, and a canary after what is used. */
#define OUT_MAX 2048

static struct sockaddr_storage addr_of(const char *text)
{
	struct sockaddr_storage ss;

	memset(&ss, 0, sizeof(ss));
	if (strchr(text, ':')) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

		s6->sin6_family = AF_INET6;
		assert_int_equal(inet_pton(AF_INET6, text, &s6->sin6_addr), 1);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

		s4->sin_family = AF_INET;
		assert_int_equal(inet_pton(AF_INET, text, &s4->sin_addr), 1);
	}
	return ss;
}

/* The request as the proxy forwards it says what the client's did: the
 * same method, version, path, host and body framing, and it always asks
 * to keep the upstream connection. */
static void same_request(const struct http_request *a,
			 const struct http_request *b)
{
	assert_int_equal(a->method, b->method);
	assert_int_equal(a->version_minor, b->version_minor);
	assert_string_equal(a->path, b->path);
	assert_int_equal(a->host_len, b->host_len);
	assert_memory_equal(a->host, b->host, a->host_len);
	assert_int_equal(a->has_content_length, b->has_content_length);
	assert_true(a->content_length == b->content_length);
	assert_int_equal(a->chunked, b->chunked);
	assert_int_equal(b->keep_alive, 1);
	assert_int_equal(b->absolute_form, 0);
}

struct req_case {
	const char *what, *in, *client, *want;
};

/* The X-Forwarded-* and Forwarded lines every case below ends with. */
#define XF(a) \
	"X-Forwarded-For: " a "\r\nForwarded: for=" a \
	"\r\nX-Forwarded-Proto: http\r\n"

static const struct req_case req_cases[] = {
	{ "plain",
	  "GET /a/b?q=1 HTTP/1.1\r\nHost: example.org\r\n"
	  "User-Agent: t/1\r\nAccept: */*\r\n\r\n",
	  "192.0.2.1",
	  "GET /a/b?q=1 HTTP/1.1\r\nHost: example.org\r\n"
	  "User-Agent: t/1\r\nAccept: */*\r\n" XF("192.0.2.1") "\r\n" },
	/* Every hop-by-hop field goes, in any case, and so does every field
	 * Connection names (a list with OWS and empty elements, over two
	 * lines); the fields that frame the body and Host stay even when
	 * named. */
	{ "hop-by-hop",
	  "POST /u HTTP/1.1\r\nHost: h\r\nConnection: X-Foo ,  x-bar,,\r\n"
	  "KEEP-ALIVE: timeout=5\r\nTE: trailers\r\nTrailer: X-T\r\n"
	  "Upgrade: h2c\r\nProxy-Connection: keep-alive\r\n"
	  "Proxy-Authorization: Basic Zm9v\r\nx-foo: 1\r\nX-BAR: 2\r\n"
	  "connection: content-length, HOST,X-Last\r\n"
	  "X-Baz: 3\r\nContent-Length: 4\r\nX-Last: 4\r\n"
	  "X-Proxy-Ok: 5\r\n\r\n",
	  "192.0.2.7",
	  "POST /u HTTP/1.1\r\nHost: h\r\nX-Baz: 3\r\nContent-Length: 4\r\n"
	  "X-Proxy-Ok: 5\r\n" XF("192.0.2.7") "\r\n" },
	{ "chunked named by Connection",
	  "PUT /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\nHost: h\r\n"
	  "Connection: Transfer-Encoding\r\n\r\n",
	  "192.0.2.7",
	  "PUT /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\nHost: h\r\n" XF(
		  "192.0.2.7") "\r\n" },
	/* X-Forwarded-For and Forwarded: one line each, the values received
	 * first (over several lines, empty ones dropped), the client last;
	 * a client's X-Forwarded-Proto is replaced. */
	{ "forwarding appended",
	  "GET / HTTP/1.1\r\nX-Forwarded-For: 198.51.100.1\r\n"
	  "Host: h\r\nForwarded: for=198.51.100.1;proto=https\r\n"
	  "x-forwarded-for: 198.51.100.2, 198.51.100.3\r\n"
	  "X-Forwarded-For:\r\nX-Forwarded-Proto: https\r\n\r\n",
	  "203.0.113.9",
	  "GET / HTTP/1.1\r\nHost: h\r\n"
	  "X-Forwarded-For: 198.51.100.1, 198.51.100.2, 198.51.100.3, "
	  "203.0.113.9\r\n"
	  "Forwarded: for=198.51.100.1;proto=https, for=203.0.113.9\r\n"
	  "X-Forwarded-Proto: http\r\n\r\n" },
	/* RFC 7239 6: an IPv6 node is quoted and bracketed in Forwarded;
	 * X-Forwarded-For has it bare. */
	{ "IPv6 client",
	  "GET / HTTP/1.1\r\nHost: h\r\nForwarded: for=\"[2001:db8::2]\"\r\n\r\n",
	  "2001:db8::1",
	  "GET / HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: 2001:db8::1\r\n"
	  "Forwarded: for=\"[2001:db8::2]\", for=\"[2001:db8::1]\"\r\n"
	  "X-Forwarded-Proto: http\r\n\r\n" },
	/* An IPv4-mapped address is the IPv4 client it is. */
	{ "IPv4-mapped client", "GET / HTTP/1.1\r\nHost: h\r\n\r\n",
	  "::ffff:192.0.2.33",
	  "GET / HTTP/1.1\r\nHost: h\r\n" XF("192.0.2.33") "\r\n" },
	/* An absolute-form target goes in origin-form, its authority as
	 * Host in place of the one received. */
	{ "absolute-form",
	  "GET http://Example.org:8080/a/b?c=d HTTP/1.1\r\nHost: other\r\n"
	  "Accept: */*\r\n\r\n",
	  "192.0.2.1",
	  "GET /a/b?c=d HTTP/1.1\r\nHost: Example.org:8080\r\n"
	  "Accept: */*\r\n" XF("192.0.2.1") "\r\n" },
	{ "absolute-form, query only",
	  "OPTIONS http://h.example?x=1 HTTP/1.1\r\nHost: h.example\r\n\r\n",
	  "192.0.2.1",
	  "OPTIONS /?x=1 HTTP/1.1\r\nHost: h.example\r\n" XF("192.0.2.1") "\r\n" },
	{ "absolute-form, 1.0, no path", "GET HTTP://h HTTP/1.0\r\n\r\n",
	  "192.0.2.1",
	  "GET / HTTP/1.0\r\nHost: h\r\n" XF(
		  "192.0.2.1") "Connection: keep-alive\r\n\r\n" },
	/* A 1.0 client's request goes as 1.0, so that the upstream does
	 * not chunk the answer, and asks to keep the upstream connection;
	 * the client's own Connection is its business with the proxy.
	 * Empty lines before the request line are not passed on. */
	{ "HTTP/1.0 client",
	  "\r\nGET /old HTTP/1.0\r\nConnection: close\r\nUser-Agent: u\r\n\r\n",
	  "192.0.2.5",
	  "GET /old HTTP/1.0\r\nUser-Agent: u\r\n" XF(
		  "192.0.2.5") "Connection: keep-alive\r\n\r\n" },
	{ "OPTIONS *", "OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n", "192.0.2.1",
	  "OPTIONS * HTTP/1.1\r\nHost: h\r\n" XF("192.0.2.1") "\r\n" },
};

static void test_request_cases(void **state)
{
	const struct req_case *c;
	struct http_limits lim;

	(void)state;
	http_limits_default(&lim);
	for (c = req_cases; c < req_cases + N_ELEM(req_cases); c++) {
		struct sockaddr_storage ss = addr_of(c->client);
		struct http_request req, again;
		size_t inlen = strlen(c->in);
		char out[OUT_MAX];
		int n;

		assert_int_equal(http_parse_request(c->in, inlen, &lim, &req),
				 (int)inlen);
		n = http_fwd_request(c->in, inlen, &req, (struct sockaddr *)&ss,
				     out, sizeof(out));
		if (n != (int)strlen(c->want) ||
		    memcmp(out, c->want, strlen(c->want)))
			fail_msg("%s: got %d:\n%.*s\nwant:\n%s", c->what, n,
				 n > 0 ? n : 0, out, c->want);
		assert_int_equal(http_parse_request(out, (size_t)n, &lim, &again),
				 n);
		same_request(&req, &again);
	}
}

/* A client that is no IP address (a Unix socket) is "unknown". */
static void test_request_unknown_client(void **state)
{
	static const char in[] = "GET / HTTP/1.1\r\nHost: h\r\n\r\n";
	static const char want[] =
		"GET / HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: unknown\r\n"
		"Forwarded: for=unknown\r\nX-Forwarded-Proto: http\r\n\r\n";
	struct sockaddr sa = { .sa_family = AF_UNIX };
	struct http_limits lim;
	struct http_request req;
	char out[OUT_MAX];

	(void)state;
	http_limits_default(&lim);
	assert_true(http_parse_request(in, sizeof(in) - 1, &lim, &req) > 0);
	assert_int_equal(http_fwd_request(in, sizeof(in) - 1, &req, &sa, out,
					  sizeof(out)),
			 (int)sizeof(want) - 1);
	assert_memory_equal(out, want, sizeof(want) - 1);
	assert_int_equal(http_fwd_request(in, sizeof(in) - 1, &req, NULL, out,
					  sizeof(out)),
			 (int)sizeof(want) - 1);
}

/* Every outlen short of the head's length is -1 and writes nothing past
 * outlen; the exact length is enough. */
static void test_request_out_too_small(void **state)
{
	static const char in[] = "GET / HTTP/1.1\r\nHost: h\r\nX-A: 1\r\n"
				 "X-Forwarded-For: 1.2.3.4\r\n\r\n";
	struct sockaddr_storage ss = addr_of("2001:db8::1");
	struct http_limits lim;
	struct http_request req;
	char out[OUT_MAX];
	int need, k;

	(void)state;
	http_limits_default(&lim);
	assert_true(http_parse_request(in, sizeof(in) - 1, &lim, &req) > 0);
	need = http_fwd_request(in, sizeof(in) - 1, &req,
				(struct sockaddr *)&ss, out, sizeof(out));
	assert_true(need > 0);
	for (k = 0; k <= need; k++) {
		memset(out, '#', sizeof(out));
		assert_int_equal(http_fwd_request(in, sizeof(in) - 1, &req,
						  (struct sockaddr *)&ss, out,
						  (size_t)k),
				 k == need ? need : -1);
		assert_int_equal(out[k], '#');
	}
}

/* The most a request head grows: an absolute-form target without a
 * path from a 1.0 client at the longest IPv6 address, every line added. */
static void test_request_growth(void **state)
{
	static const char in[] = "GET http://h HTTP/1.0\r\n\r\n";
	struct sockaddr_storage ss = addr_of(
		"ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe");
	struct http_limits lim;
	struct http_request req;
	char out[OUT_MAX];
	int n;

	(void)state;
	http_limits_default(&lim);
	assert_true(http_parse_request(in, sizeof(in) - 1, &lim, &req) > 0);
	n = http_fwd_request(in, sizeof(in) - 1, &req, (struct sockaddr *)&ss,
			     out, sizeof(out));
	assert_true(n > 0);
	assert_in_range((size_t)n - (sizeof(in) - 1), 150,
			HTTP_FWD_REQUEST_GROWTH);
}

/* --- responses --- */

/* http_fwd_response for the response head in (answering method m),
 * whose output must be want; the output re-parses with the same status
 * and framing. */
static void fwd_resp(const char *in, enum http_method m, int minor, int ka,
		     const char *want)
{
	struct http_limits lim;
	struct http_response resp, again;
	char out[OUT_MAX];
	int n;

	http_limits_default(&lim);
	assert_int_equal(http_parse_response(in, strlen(in), &lim, m, &resp),
			 (int)strlen(in));
	n = http_fwd_response(in, strlen(in), &resp, minor, ka, out, sizeof(out));
	assert_int_equal(n, (int)strlen(want));
	if (memcmp(out, want, (size_t)n) != 0)
		fail_msg("got:\n%.*s\nwant:\n%s", n, out, want);
	assert_int_equal(http_parse_response(out, (size_t)n, &lim, m, &again), n);
	assert_int_equal(again.status, resp.status);
	assert_int_equal(again.framing, resp.framing);
	assert_true(again.content_length == resp.content_length);
}

static void test_response_plain(void **state)
{
	(void)state;
	fwd_resp("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nServer: b\r\n\r\n",
		 HTTP_GET, 1, 1,
		 "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nServer: b\r\n\r\n");
	/* the reason as received, or none */
	fwd_resp("HTTP/1.1 404 Gone Fishing\t!\r\nContent-Length: 0\r\n\r\n",
		 HTTP_GET, 1, 1,
		 "HTTP/1.1 404 Gone Fishing\t!\r\nContent-Length: 0\r\n\r\n");
	fwd_resp("HTTP/1.1 204\r\n\r\n", HTTP_GET, 1, 1, "HTTP/1.1 204 \r\n\r\n");
	fwd_resp("HTTP/1.1 204 \r\n\r\n", HTTP_GET, 1, 1, "HTTP/1.1 204 \r\n\r\n");
}

static void test_response_hop_by_hop(void **state)
{
	(void)state;
	fwd_resp("HTTP/1.1 200 OK\r\nConnection: keep-alive, X-Hop\r\n"
		 "Keep-Alive: timeout=5, max=100\r\nX-HOP: 1\r\n"
		 "Proxy-Authenticate: Basic\r\nTrailer: X-T\r\n"
		 "Transfer-Encoding: chunked\r\nUpgrade: h2c\r\n"
		 "Connection: transfer-encoding\r\nX-Kept: 2\r\n\r\n",
		 HTTP_GET, 1, 1,
		 "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
		 "X-Kept: 2\r\n\r\n");
}

/* Connection toward the client: close when the client's connection
 * ends, or when the body is close-delimited; keep-alive for a 1.0 client
 * that keeps its connection; nothing on an interim head. */
static void test_response_connection(void **state)
{
	(void)state;
	fwd_resp("HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\n", HTTP_GET, 1, 1,
		 "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n");
	fwd_resp("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n", HTTP_GET, 1, 0,
		 "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nConnection: close\r\n\r\n");
	fwd_resp("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nConnection: close\r\n\r\n",
		 HTTP_GET, 0, 1,
		 "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n"
		 "Connection: keep-alive\r\n\r\n");
	fwd_resp("HTTP/1.0 200 OK\r\nX: y\r\n\r\n", HTTP_GET, 1, 1,
		 "HTTP/1.1 200 OK\r\nX: y\r\nConnection: close\r\n\r\n");
	fwd_resp("HTTP/1.1 200 OK\r\n\r\n", HTTP_GET, 0, 1,
		 "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n");
	fwd_resp("HTTP/1.1 100 Continue\r\n\r\n", HTTP_PUT, 1, 0,
		 "HTTP/1.1 100 Continue\r\n\r\n");
	fwd_resp("HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\n\r\n", HTTP_GET,
		 0, 0,
		 "HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\n"
		 "Connection: close\r\n\r\n");
	fwd_resp("HTTP/1.1 200 OK\r\n\r\n", HTTP_HEAD, 1, 1,
		 "HTTP/1.1 200 OK\r\n\r\n");
}

static void test_response_out_too_small(void **state)
{
	static const char in[] = "HTTP/1.0 200 OK\r\nContent-Length: 1\r\n"
				 "Keep-Alive: 1\r\nX-A: 1\r\n\r\n";
	struct http_limits lim;
	struct http_response resp;
	char out[OUT_MAX];
	int need, k;

	(void)state;
	http_limits_default(&lim);
	assert_true(http_parse_response(in, sizeof(in) - 1, &lim, HTTP_GET,
					&resp) > 0);
	need = http_fwd_response(in, sizeof(in) - 1, &resp, 1, 0, out,
				 sizeof(out));
	assert_int_equal(need,
			 (int)strlen("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n"
				     "X-A: 1\r\nConnection: close\r\n\r\n"));
	for (k = 0; k <= need; k++) {
		memset(out, '#', sizeof(out));
		assert_int_equal(http_fwd_response(in, sizeof(in) - 1, &resp, 1,
						   0, out, (size_t)k),
				 k == need ? need : -1);
		assert_int_equal(out[k], '#');
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_request_cases),
		cmocka_unit_test(test_request_unknown_client),
		cmocka_unit_test(test_request_out_too_small),
		cmocka_unit_test(test_request_growth),
		cmocka_unit_test(test_response_plain),
		cmocka_unit_test(test_response_hop_by_hop),
		cmocka_unit_test(test_response_connection),
		cmocka_unit_test(test_response_out_too_small),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
