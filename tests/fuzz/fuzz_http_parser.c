/* fuzz_http_parser.c - libFuzzer target for the HTTP request parser and
 * its helpers. Build: clang -g -O1 -fsanitize=fuzzer,address,undefined.
 *
 * Beyond "does not crash", it checks properties the server relies on, and
 * aborts when one fails:
 *  - a request is consumed the way proto_http.c does it: heads one after
 *    the other, Content-Length bodies skipped and chunked ones read with
 *    http_chunked_read in between;
 *  - a chunked body gives the same answer, at the same place, whether it
 *    comes whole or in two parts, and never more data than max_body;
 *  - the host taken for the virtual host lies within the input;
 *  - the answer does not depend on how the bytes were split: a prefix of
 *    the input gives "need more" or the same answer;
 *  - a path that came out is inside the root: starts with '/', no "." or
 *    ".." segment, no empty segment, no control byte or backslash;
 *  - a satisfiable range lies within the file; dates round-trip;
 *  - the fields kept for conditional requests and content codings point
 *    into the input, and what http_cond.c and http_coding.c make of
 *    them is one of their answers;
 *  - the head the reverse proxy sends upstream for an accepted request
 *    (http_fwd_request) fits in HTTP_FWD_REQUEST_GROWTH more bytes, is
 *    refused one byte short of its length, and parses as the same
 *    request: method, version, path, host, body framing. */
#include "autoconfig.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <netinet/in.h>

#include "fuzz_check.h"
#include "http_coding.h"
#include "http_cond.h"
#include "http_fwd.h"
#include "http_parser.h"

static void check_path(const char *p, size_t len)
{
	size_t i;

	CHECK(len >= 1 && p[0] == '/' && strlen(p) == len);
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)p[i];

		CHECK(c >= 0x20 && c != 0x7f && c != '\\');
		if (c != '/')
			continue;
		/* Each segment after this '/' is not empty (but may end the
		 * path), ".", or "..". */
		CHECK(p[i + 1] != '/');
		if (p[i + 1] == '.') {
			CHECK(p[i + 2] != '\0' && p[i + 2] != '/');
			if (p[i + 2] == '.')
				CHECK(p[i + 3] != '\0' && p[i + 3] != '/');
		}
	}
}

static void check_range(const char *spec, uint64_t size)
{
	uint64_t s = 0, e = 0;
	int r = http_parse_range(spec, size, &s, &e);

	CHECK(r >= -1 && r <= 1);
	if (r == 1)
		CHECK(s <= e && e < size);
}

static void check_request(const struct http_request *req,
			  const struct http_limits *lim)
{
	CHECK(req->method >= HTTP_GET && req->method <= HTTP_OTHER);
	CHECK(req->version_minor == 0 || req->version_minor == 1);
	CHECK(req->keep_alive == 0 || req->keep_alive == 1);
	CHECK(req->has_transfer_encoding == req->chunked);
	CHECK(!req->chunked || !req->has_content_length);
	CHECK(!req->has_content_length || req->content_length <= lim->max_body);
	CHECK(req->version_minor == 0 || req->has_host);
	CHECK(req->if_modified_since >= 0);
	check_path(req->path, strnlen(req->path, sizeof(req->path)));
	if (req->has_range) {
		CHECK(strnlen(req->range, sizeof(req->range)) <
		      sizeof(req->range));
		check_range(req->range, 0);
		check_range(req->range, 1);
		check_range(req->range, 1000);
		check_range(req->range, UINT64_MAX);
	}
}

/* The host points into d[0..n). */
static void check_host(const struct http_request *req, const uint8_t *d, size_t n)
{
	if (!req->host) {
		CHECK(req->host_len == 0);
		return;
	}
	CHECK((const uint8_t *)req->host >= d &&
	      req->host_len <= n - (size_t)((const uint8_t *)req->host - d));
}

/* A chunked body at d[0..n): read whole, then cut where the input's
 * first byte says; both must agree. Returns the bytes it takes (n when
 * it needs more or fails, as a server then closes). */
static size_t chunked_body(const uint8_t *d, size_t n,
			   const struct http_limits *lim)
{
	struct http_chunked a, b;
	size_t ua = 0, u1 = 0, u2 = 0, cut = n ? d[0] % (n + 1) : 0;
	int ra, rb;

	http_chunked_init(&a);
	ra = http_chunked_read(&a, (const char *)d, n, lim, &ua);
	CHECK(ra == 1 || ra == 0 || ra == -400 || ra == -413 || ra == -431);
	CHECK(ua <= n && a.total <= lim->max_body);
	CHECK(ra != 0 || ua == n);
	http_chunked_init(&b);
	rb = http_chunked_read(&b, (const char *)d, cut, lim, &u1);
	if (rb == 0)
		rb = http_chunked_read(&b, (const char *)d + cut, n - cut, lim,
				       &u2);
	CHECK(rb == ra);
	if (ra == 1)
		CHECK(u1 + u2 == ua && a.total == b.total);
	return ra == 1 ? ua : n;
}

static void check_field(const struct http_field *f, const uint8_t *d, size_t n)
{
	if (!f->v) {
		CHECK(f->lines == 0);
		return;
	}
	CHECK(f->lines >= 1);
	CHECK((const uint8_t *)f->v >= d &&
	      (const uint8_t *)f->v + f->len <= d + n);
}

/* The kept fields, and what the modules that read them answer. */
static void check_fields(const struct http_request *req, const uint8_t *d, size_t n)
{
	static const char tag[] = "\"1-2-3\"";
	struct http_validators v = { tag, sizeof(tag) - 1, 1577836800 };
	enum http_coding c[2];
	enum http_cond r;
	int k;

	check_field(&req->if_match, d, n);
	check_field(&req->if_none_match, d, n);
	check_field(&req->if_range, d, n);
	check_field(&req->accept_encoding, d, n);
	CHECK(req->if_unmodified_since >= 0);
	r = http_cond_evaluate(req, &v, 1577836800 + 60);
	CHECK(r >= HTTP_COND_RANGE && r <= HTTP_COND_FAILED);
	k = http_codings_accepted(&req->accept_encoding, c);
	CHECK(k >= 0 && k <= 2);
	CHECK(k < 1 || c[0] == HTTP_CODING_GZIP || c[0] == HTTP_CODING_BR);
	CHECK(k < 2 || (c[1] != c[0] &&
			(c[1] == HTTP_CODING_GZIP || c[1] == HTTP_CODING_BR)));
}

static int parse(const uint8_t *d, size_t n, const struct http_limits *lim)
{
	struct http_request req;
	int r = http_parse_request((const char *)d, n, lim, &req);

	CHECK(r == 0 || r == -400 || r == -413 || r == -414 || r == -431 ||
	      r == -501 || r == -505 || (r > 0 && (size_t)r <= n));
	if (r > 0) {
		check_request(&req, lim);
		check_host(&req, d, n);
		check_fields(&req, d, n);
	}
	return r;
}

/* The request forwarded by the proxy, from the longest IPv6 address or
 * an IPv4 one, says what the client's did. */
static void check_forward(const uint8_t *d, size_t n,
			  const struct http_request *req,
			  const struct http_limits *lim)
{
	struct sockaddr_in6 s6 = { .sin6_family = AF_INET6 };
	struct sockaddr_in s4 = { .sin_family = AF_INET };
	const struct sockaddr *sa = n % 2 ? (const struct sockaddr *)&s6 :
					    (const struct sockaddr *)&s4;
	struct http_limits big = *lim;
	struct http_request again;
	char *out = malloc(n + HTTP_FWD_REQUEST_GROWTH);
	int w;

	CHECK(out != NULL);
	memset(&s6.sin6_addr, 0xff, sizeof(s6.sin6_addr));
	s4.sin_addr.s_addr = htonl(0xc0000201);
	w = http_fwd_request((const char *)d, n, req, sa, out,
			     n + HTTP_FWD_REQUEST_GROWTH);
	CHECK(w > 0 && (size_t)w <= n + HTTP_FWD_REQUEST_GROWTH);
	CHECK(http_fwd_request((const char *)d, n, req, sa, out, (size_t)w - 1) ==
	      -1);
	big.max_request_line = big.max_header_bytes = (size_t)w;
	big.max_headers = (unsigned)w;
	CHECK(http_parse_request(out, (size_t)w, &big, &again) == w);
	CHECK(again.method == req->method &&
	      again.version_minor == req->version_minor &&
	      strcmp(again.path, req->path) == 0 && again.keep_alive == 1 &&
	      !again.absolute_form && again.chunked == req->chunked &&
	      again.has_content_length == req->has_content_length &&
	      again.content_length == req->content_length &&
	      again.host_len == req->host_len &&
	      (req->host_len == 0 ||
	       memcmp(again.host, req->host, req->host_len) == 0));
	free(out);
}

/* Reads the input as a connection would deliver it. */
static void parse_stream(const uint8_t *data, size_t size,
			 const struct http_limits *lim)
{
	size_t off = 0;

	while (off < size) {
		struct http_request req;
		int r = http_parse_request((const char *)data + off, size - off,
					   lim, &req);
		int again;

		if (r <= 0)
			break;
		check_request(&req, lim);
		/* The head ends where it ends: no shorter prefix is whole. */
		CHECK(parse(data + off, (size_t)r - 1, lim) == 0);
		again = parse(data + off, size - off, lim);
		CHECK(again == r);
		check_forward(data + off, (size_t)r, &req, lim);
		off += (size_t)r;
		if (req.chunked)
			off += chunked_body(data + off, size - off, lim);
		else if (req.has_content_length)
			off += req.content_length < size - off ?
				       (size_t)req.content_length :
				       size - off;
	}
	if (off < size) {
		int full = parse(data + off, size - off, lim);
		int half = parse(data + off, (size - off) / 2, lim);

		/* A split may only hide an answer, never change it. */
		CHECK(half == 0 || half == full);
	}
}

static void fuzz_paths(const uint8_t *data, size_t size)
{
	char big[HTTP_PATH_MAX], small[16];
	int rb = http_normalize_path((const char *)data, size, big, sizeof(big));
	int rs = http_normalize_path((const char *)data, size, small,
				     sizeof(small));
	size_t i;

	CHECK(rb >= -2);
	if (rb < 0) {
		CHECK(rs < 0);
		return;
	}
	check_path(big, (size_t)rb);
	CHECK(rs == rb || rs == -2);
	if (rs >= 0)
		CHECK(strcmp(small, big) == 0);
	/* A normalised plain path is a fixed point. */
	for (i = 0; i < (size_t)rb; i++) {
		unsigned char c = (unsigned char)big[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '/' || c == '.' ||
		      c == '-' || c == '_' || c == '~'))
			return;
	}
	{
		char again[HTTP_PATH_MAX];

		CHECK(http_normalize_path(big, (size_t)rb, again, sizeof(again)) ==
		      rb);
		CHECK(strcmp(again, big) == 0);
	}
}

static void fuzz_dates(const uint8_t *data, size_t size)
{
	char out[HTTP_DATE_LEN + 1];
	time_t t = http_parse_date((const char *)data, size);
	int64_t raw = 0;

	if (t >= 0) {
		CHECK(http_format_date(t, out, sizeof(out)) == HTTP_DATE_LEN);
		CHECK(http_parse_date(out, HTTP_DATE_LEN) == t);
	}
	if (size >= sizeof(raw)) {
		memcpy(&raw, data, sizeof(raw));
		if (http_format_date((time_t)raw, out, sizeof(out)) ==
		    HTTP_DATE_LEN) {
			CHECK(strlen(out) == HTTP_DATE_LEN);
			CHECK(http_parse_date(out, HTTP_DATE_LEN) == (time_t)raw);
		}
	}
}

static void fuzz_strings(const uint8_t *data, size_t size)
{
	char s[128];
	size_t n = size < sizeof(s) - 1 ? size : sizeof(s) - 1;
	uint64_t fsize = 0;

	memcpy(s, data, n);
	s[n] = '\0';
	if (size >= 8)
		memcpy(&fsize, data + size - 8, 8);
	check_range(s, 0);
	check_range(s, 1000);
	check_range(s, fsize);
	CHECK(http_reason((int)(fsize % 1000)) != NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct http_limits lim;

	http_limits_default(&lim);
	parse_stream(data, size, &lim);
	/* Small limits reach the 414/431/413 paths with small inputs. */
	lim.max_request_line = 40;
	lim.max_header_bytes = 80;
	lim.max_headers = 3;
	lim.max_body = 10;
	parse_stream(data, size, &lim);
	fuzz_paths(data, size);
	fuzz_dates(data, size);
	fuzz_strings(data, size);
	return 0;
}
