/* fuzz_http_resp.c - libFuzzer target for the upstream response parser,
 * the chunked decoder on response bodies and the response head the
 * proxy writes. Build: clang -g -O1 -fsanitize=fuzzer,address,undefined.
 *
 * The input's first byte says what the proxy asked (HEAD if it is 'H'),
 * how the client spoke (bits 3 and 4: HTTP/1.0, keep-alive) and the size
 * of the pieces a body arrives in; the rest is what the upstream sent,
 * read as the proxy reads it: heads one after the other, each body
 * skipped by its framing. Beyond "does not crash", it aborts when one of
 * these fails:
 *  - the answer is one of the documented ones, consumed <= len;
 *  - a head accepted is accepted identically from an exact-size copy, and
 *    every shorter prefix of it is "incomplete"; a head refused is
 *    refused the same way, or found incomplete, from any prefix;
 *  - the framing fields agree with each other and with the status;
 *  - a chunked body read in pieces ends where it ends read whole;
 *  - http_fwd_response on an accepted head fits where it should, never
 *    writes past outlen (an exact-size buffer; one byte short is -1),
 *    and its output parses as a response with the same status and
 *    framing. */
#include "autoconfig.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_check.h"
#include "http_fwd.h"
#include "http_parser.h"
#include "http_resp.h"

/* What the proxy knows of the exchange, from the input's first byte. */
struct exchange {
	enum http_method method;
	int client_minor, client_keep_alive;
	size_t piece; /* 1..8: bytes per read of a chunked body */
};

/* http_parse_response on an exact-size copy of d[0..n). */
static int parse_exact(const uint8_t *d, size_t n, const struct http_limits *lim,
		       enum http_method m, struct http_response *resp)
{
	char *copy = malloc(n + !n);
	int r;

	CHECK(copy != NULL);
	r = http_parse_response(memcpy(copy, d, n), n, lim, m, resp);
	free(copy);
	return r;
}

static int same_response(const struct http_response *a,
			 const struct http_response *b)
{
	return a->status == b->status && a->version_minor == b->version_minor &&
	       a->keep_alive == b->keep_alive && a->framing == b->framing &&
	       a->content_length == b->content_length && a->interim == b->interim;
}

static void check_response(const struct http_response *r, enum http_method m)
{
	CHECK(r->status >= 100 && r->status <= 599 && r->status != 101);
	CHECK(r->version_minor == 0 || r->version_minor == 1);
	CHECK(r->keep_alive == 0 || r->keep_alive == 1);
	CHECK(r->interim == (r->status < 200));
	CHECK(r->framing >= HTTP_RESP_NO_BODY && r->framing <= HTTP_RESP_CLOSE);
	CHECK(r->framing != HTTP_RESP_CLOSE || !r->keep_alive);
	CHECK(r->framing == HTTP_RESP_LENGTH || r->content_length == 0);
	CHECK(r->framing != HTTP_RESP_CHUNKED || r->version_minor == 1);
	if (r->status < 200 || r->status == 204 || r->status == 304 ||
	    m == HTTP_HEAD)
		CHECK(r->framing == HTTP_RESP_NO_BODY);
	else
		CHECK(r->framing != HTTP_RESP_NO_BODY);
}

/* Prefixes of an answered head: each shorter one is incomplete, or for
 * a refusal, the same refusal. Every length up to 300 bytes, then 300
 * spread over the rest, to keep an execution short. */
static void check_prefixes(const uint8_t *d, size_t n,
			   const struct http_limits *lim, enum http_method m,
			   int whole)
{
	size_t k, step = n > 300 ? n / 300 : 1;

	for (k = 0; k < n; k += k < 300 ? 1 : step) {
		struct http_response resp;
		int r = parse_exact(d, k, lim, m, &resp);

		CHECK(r == 0 || (whole < 0 && r == whole));
	}
}

/* The head the client gets: it fits in HTTP_FWD_RESPONSE_GROWTH bytes
 * more than the head, not one byte less than it needs, and says the
 * same. */
static void check_forward(const uint8_t *d, size_t n,
			  const struct http_response *resp,
			  const struct exchange *x)
{
	struct http_limits lim;
	struct http_response again;
	size_t room = n + HTTP_FWD_RESPONSE_GROWTH;
	char *out = malloc(room);
	int w, r;

	CHECK(out != NULL);
	w = http_fwd_response((const char *)d, n, resp, x->client_minor,
			      x->client_keep_alive, out, room);
	CHECK(w > 0 && (size_t)w <= room);
	/* a fresh block of exactly w - 1 bytes: one short */
	free(out);
	out = malloc((size_t)w);
	CHECK(out != NULL);
	CHECK(http_fwd_response((const char *)d, n, resp, x->client_minor,
				x->client_keep_alive, out, (size_t)w - 1) == -1);
	CHECK(http_fwd_response((const char *)d, n, resp, x->client_minor,
				x->client_keep_alive, out, (size_t)w) == w);
	http_limits_default(&lim);
	lim.max_request_line = (size_t)w;
	lim.max_header_bytes = (size_t)w;
	lim.max_headers = (unsigned)w;
	r = parse_exact((const uint8_t *)out, (size_t)w, &lim, x->method, &again);
	CHECK(r == w);
	CHECK(again.status == resp->status && again.framing == resp->framing &&
	      again.content_length == resp->content_length);
	CHECK(again.version_minor == 1);
	free(out);
}

/* A chunked body at d[0..n), read whole and in pieces, with no size
 * limit as the proxy reads it. Returns the bytes it takes (n when it
 * needs more or is refused: the proxy then closes). */
static size_t chunked_body(const uint8_t *d, size_t n, size_t piece)
{
	struct http_limits lim;
	struct http_chunked a, b;
	size_t ua = 0, off = 0, u;
	int ra, rb = 0;

	http_limits_default(&lim);
	lim.max_body = UINT64_MAX;
	http_chunked_init(&a);
	ra = http_chunked_read(&a, (const char *)d, n, &lim, &ua);
	/* -413 even so: chunk sizes adding up past 64 bits */
	CHECK(ra == 1 || ra == 0 || ra == -400 || ra == -413 || ra == -431);
	CHECK(ra != -413 || a.left > UINT64_MAX - a.total);
	CHECK(ua <= n && (ra != 0 || ua == n));
	http_chunked_init(&b);
	while (off < n && rb == 0) {
		size_t len = n - off < piece ? n - off : piece;

		rb = http_chunked_read(&b, (const char *)d + off, len, &lim, &u);
		CHECK(u <= len);
		off += u;
	}
	CHECK(rb == ra);
	if (ra == 1)
		CHECK(off == ua && a.total == b.total);
	return ra == 1 ? ua : n;
}

/* The bytes after a head that its body takes. */
static size_t body(const uint8_t *d, size_t n, const struct http_response *r,
		   const struct exchange *x)
{
	switch (r->framing) {
	case HTTP_RESP_LENGTH:
		return r->content_length < n ? (size_t)r->content_length : n;
	case HTTP_RESP_CHUNKED:
		return chunked_body(d, n, x->piece);
	case HTTP_RESP_CLOSE:
		return n;
	default:
		return 0;
	}
}

/* Reads the upstream's bytes as the proxy would, with the limits given;
 * the fuller checks (prefixes, forwarding) with with_fwd set. */
static void read_upstream(const uint8_t *d, size_t n,
			  const struct http_limits *lim,
			  const struct exchange *x, int with_fwd)
{
	size_t off = 0;

	while (off < n) {
		struct http_response resp, copy;
		int r = http_parse_response((const char *)d + off, n - off, lim,
					    x->method, &resp);

		CHECK(r >= -2 && (r <= 0 || (size_t)r <= n - off));
		if (r > 0) {
			check_response(&resp, x->method);
			CHECK(parse_exact(d + off, (size_t)r, lim, x->method,
					  &copy) == r);
			CHECK(same_response(&resp, &copy));
		}
		if (with_fwd && r != 0)
			check_prefixes(d + off, r > 0 ? (size_t)r : n - off,
				       lim, x->method, r);
		if (r <= 0)
			return;
		if (with_fwd)
			check_forward(d + off, (size_t)r, &resp, x);
		off += (size_t)r;
		off += body(d + off, n - off, &resp, x);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct http_limits lim;
	struct exchange x;

	if (size == 0)
		return 0;
	x.method = data[0] == 'H' ? HTTP_HEAD : HTTP_GET;
	x.client_minor = !(data[0] & 8);
	x.client_keep_alive = !!(data[0] & 16);
	x.piece = (size_t)(data[0] % 8) + 1;
	http_limits_default(&lim);
	read_upstream(data + 1, size - 1, &lim, &x, 1);
	/* Small limits reach the -2 paths with small inputs. */
	lim.max_request_line = 30;
	lim.max_header_bytes = 60;
	lim.max_headers = 3;
	read_upstream(data + 1, size - 1, &lim, &x, 1);
	return 0;
}
