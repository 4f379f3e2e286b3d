/* http_parser.c - strict HTTP/1.1 request-head parser (RFC 9112, RFC 9110).
 *
 * The parser is called on whatever bytes have arrived and re-reads them
 * from the start each time; it keeps no state between calls. That costs a
 * re-scan while a head trickles in, but the limits bound it, and it means
 * no partial-parse state can ever go stale. Every byte is looked at once
 * per call, through a table, and never beyond len.
 *
 * Strictness is the point: an origin server behind proxies must not accept
 * anything two implementations could read differently (request smuggling),
 * and must not map any path outside its document root. When in doubt the
 * answer is 400 and a closed connection. */
#include "autoconfig.h"

#include <limits.h>
#include <string.h>

#include "http_lex.h"
#include "http_parser.h"

/* Blank lines tolerated before a request line (RFC 9112 2.2 asks for at
 * least one: some clients send CRLF after a POST body). More is noise. */
#define HTTP_MAX_LEADING_CRLF 4

void http_limits_default(struct http_limits *lim)
{
	lim->max_request_line = 8192;
	lim->max_header_bytes = 16384;
	lim->max_headers = 64;
	lim->max_body = 1024 * 1024;
}

/* --- path normalisation --- */

/* Decodes one segment raw[*i..) up to '/', '?' or rawlen into out[o..),
 * leaving *i on the delimiter. Returns the new end in out, -1 to refuse,
 * -2 if out is full (one byte is always kept for the NUL). */
static long decode_segment(const unsigned char *raw, size_t rawlen, size_t *i,
			   char *out, size_t o, size_t outlen)
{
	size_t k = *i;

	while (k < rawlen && raw[k] != '/' && raw[k] != '?') {
		unsigned char c = raw[k];

		if (!(http_lex_cls[c] & HTTP_LEX_TARGET))
			return -1;
		if (c == '%') {
			int hi, lo;

			if (rawlen - k < 3)
				return -1;
			hi = http_lex_hexval(raw[k + 1]);
			lo = http_lex_hexval(raw[k + 2]);
			if (hi < 0 || lo < 0)
				return -1;
			c = (unsigned char)(hi << 4 | lo);
			/* An encoded '/' would smuggle a separator past the
			 * segment logic; control bytes have no business in a
			 * file name (and CR/LF would reach a Location field). */
			if (c == '/' || c == '\\' || c < 0x20 || c == 0x7f)
				return -1;
			k += 3;
		} else {
			k++;
		}
		if (o + 1 >= outlen)
			return -2;
		out[o++] = (char)c;
	}
	*i = k;
	return (long)o;
}

int http_normalize_path(const char *rawp, size_t rawlen, char *out, size_t outlen)
{
	const unsigned char *raw = (const unsigned char *)rawp;
	size_t i = 1, o = 1;

	if (rawlen == 0 || raw[0] != '/')
		return -1;
	if (outlen > INT_MAX)
		outlen = INT_MAX; /* so that the length returned fits */
	if (outlen < 2)
		return -2;
	out[0] = '/';
	/* Invariant: out[0..o) is "/" or "/seg/.../seg/" or ends in a
	 * segment being decoded; out[o - 1] == '/' between segments. */
	while (i < rawlen && raw[i] != '?') {
		long e = decode_segment(raw, rawlen, &i, out, o, outlen);
		size_t n;

		if (e < 0)
			return (int)e;
		n = (size_t)e - o;
		if (n == 1 && out[o] == '.') {
			/* "." : nothing to keep */
		} else if (n == 2 && out[o] == '.' && out[o + 1] == '.') {
			if (o == 1)
				return -1; /* above the root */
			o -= 1; /* drop the '/' that ends the previous segment */
			while (out[o - 1] != '/')
				o--;
		} else if (n > 0) {
			o += n;
			if (i < rawlen && raw[i] == '/') {
				if (o + 1 >= outlen)
					return -2;
				out[o++] = '/';
			}
		}
		/* n == 0: an empty segment ("//"), merged away. */
		if (i < rawlen && raw[i] == '/')
			i++;
	}
	out[o] = '\0';
	return (int)o;
}

/* A byte a path carries as it is: unreserved, sub-delims, ':', '@' and
 * the '/' between segments (RFC 3986 2.3, 3.3). */
static int path_byte_plain(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') ||
	       (c != '\0' && strchr("-._~!$&'()*+,;=:@/", c) != NULL);
}

int http_encode_path(const char *path, char *out, size_t outlen)
{
	static const char hex[] = "0123456789ABCDEF";
	const unsigned char *p = (const unsigned char *)path;
	size_t o = 0;

	if (outlen > INT_MAX)
		outlen = INT_MAX; /* so that the length returned fits */
	for (; *p; p++) {
		int plain = path_byte_plain(*p);

		if (o + (plain ? 1 : 3) >= outlen)
			return -1;
		if (plain) {
			out[o++] = (char)*p;
			continue;
		}
		out[o++] = '%';
		out[o++] = hex[*p >> 4];
		out[o++] = hex[*p & 15];
	}
	if (o >= outlen)
		return -1;
	out[o] = '\0';
	return (int)o;
}

/* --- request line --- */

static enum http_method method_of(const unsigned char *m, size_t n)
{
	static const struct {
		const char *name;
		size_t len;
		enum http_method method;
	} known[] = {
		{ "GET", 3, HTTP_GET },         { "HEAD", 4, HTTP_HEAD },
		{ "POST", 4, HTTP_POST },       { "PUT", 3, HTTP_PUT },
		{ "DELETE", 6, HTTP_DELETE },   { "OPTIONS", 7, HTTP_OPTIONS },
		{ "PATCH", 5, HTTP_PATCH },     { "TRACE", 5, HTTP_TRACE },
		{ "CONNECT", 7, HTTP_CONNECT },
	};
	size_t k;

	/* Methods are case-sensitive (RFC 9110 9.1): "get" is unknown. */
	for (k = 0; k < sizeof(known) / sizeof(known[0]); k++)
		if (known[k].len == n && memcmp(known[k].name, m, n) == 0)
			return known[k].method;
	return HTTP_OTHER;
}

/* "HTTP/1.0" or "HTTP/1.1" -> minor; other 1.x -> 1 (RFC 9110 2.5: answer
 * with the highest minor we support); another major (0, 2..9, also
 * "HTTP/2" without minor) -> -505; anything else -> -400. */
static int parse_version(const unsigned char *v, size_t n)
{
	if (n < 6 || memcmp(v, "HTTP/", 5) != 0 || v[5] < '0' || v[5] > '9')
		return -400;
	if (n == 6)
		return v[5] >= '2' ? -505 : -400;
	if (n != 8 || v[6] != '.' || v[7] < '0' || v[7] > '9')
		return -400;
	if (v[5] != '1')
		return -505;
	return v[7] == '0' ? 0 : 1;
}

/* A Host value or an absolute-form authority: uri-host [":" port]
 * (RFC 9110 7.2, RFC 3986 3.2.2), where uri-host is an IP-literal in
 * brackets or a reg-name (IPv4 is one), with no userinfo; port is up to
 * five digits, possibly none. Returns the length of the host part less
 * one final dot ("example.org." is example.org), or -1 if malformed. */
static long host_part(const unsigned char *v, size_t n)
{
	size_t i = 0, h, k;

	if (n > 0 && v[0] == '[') {
		while (++i < n && v[i] != ']')
			if (http_lex_hexval(v[i]) < 0 && v[i] != ':' &&
			    v[i] != '.')
				return -1;
		if (i == n || i == 1)
			return -1;
		h = ++i;
	} else {
		while (i < n) {
			while (i < n && (http_lex_cls[v[i]] & HTTP_LEX_REGNAME))
				i++;
			if (i == n || v[i] != '%')
				break;
			if (n - i < 3 || http_lex_hexval(v[i + 1]) < 0 ||
			    http_lex_hexval(v[i + 2]) < 0)
				return -1;
			i += 3;
		}
		h = i > 0 && v[i - 1] == '.' ? i - 1 : i;
	}
	if (i == n)
		return (long)h;
	if (v[i] != ':' || n - i - 1 > 5)
		return -1;
	for (k = i + 1; k < n; k++)
		if (v[k] < '0' || v[k] > '9')
			return -1;
	return (long)h;
}

/* The length of an "http://" or "https://" prefix (case ignored), or 0. */
static size_t http_scheme(const unsigned char *t, size_t n)
{
	if (n >= 7 && http_lex_ci_eq(t, 4, "http") && !memcmp(t + 4, "://", 3))
		return 7;
	if (n >= 8 && http_lex_ci_eq(t, 5, "https") && !memcmp(t + 5, "://", 3))
		return 8;
	return 0;
}

/* The request target t[0..n) (RFC 9112 3.2) into req->path, and for the
 * absolute-form, req->host. Authority-form (CONNECT) serves nothing here. */
static int parse_target(const unsigned char *t, size_t n, struct http_request *req)
{
	size_t a, e;
	long hl;
	int r;

	if (n == 1 && t[0] == '*') {
		if (req->method != HTTP_OPTIONS)
			return -400;
		req->asterisk = 1;
		memcpy(req->path, "/", 2);
		return 0;
	}
	if (t[0] != '/') {
		a = http_scheme(t, n);
		if (a == 0)
			return -400;
		for (e = a; e < n && t[e] != '/' && t[e] != '?'; e++)
			;
		/* An http URI with an empty host is invalid (RFC 9110
		 * 4.2.1); userinfo ('@') is refused by host_part. */
		hl = host_part(t + a, e - a);
		if (hl <= 0)
			return -400;
		req->absolute_form = 1;
		req->host = (const char *)t + a;
		req->host_len = (size_t)hl;
		t += e;
		n -= e;
		if (n == 0 || t[0] == '?') {
			memcpy(req->path, "/", 2);
			return 0;
		}
	}
	r = http_normalize_path((const char *)t, n, req->path, sizeof(req->path));
	if (r == -2)
		return -414;
	return r < 0 ? -400 : 0;
}

/* Reads the request line from p[s]: method SP request-target SP version
 * CRLF, single spaces, checked byte by byte as they arrive, so that a
 * stray binary or TLS client is refused at its first byte rather than
 * after a timeout. Returns the index of the line's CR (LF follows), 0 if
 * more bytes are needed, or -status. */
static long request_line(const unsigned char *p, size_t len, size_t s,
			 size_t max, struct http_request *req)
{
	size_t stop = http_lex_add_sat(http_lex_add_sat(s, max), 1);
	size_t i = s, t, te;
	int r;

	if (stop > len)
		stop = len;
	while (i < stop && (http_lex_cls[p[i]] & HTTP_LEX_TCHAR))
		i++;
	if (i == stop)
		goto more;
	if (p[i] != ' ' || i == s)
		return -400;
	t = ++i;
	while (i < stop && (http_lex_cls[p[i]] & HTTP_LEX_TARGET))
		i++;
	if (i == stop)
		goto more;
	if (p[i] != ' ' || i == t)
		return -400;
	te = i++;
	while (i < stop && (http_lex_cls[p[i]] & HTTP_LEX_TARGET))
		i++; /* the version, checked below */
	if (i == stop)
		goto more;
	if (p[i] != '\r')
		return -400; /* a second space, bare LF, control byte */
	if (i + 1 == len)
		return 0;
	if (p[i + 1] != '\n')
		return -400;

	req->method = method_of(p + s, t - 1 - s);
	r = parse_version(p + te + 1, i - te - 1);
	if (r < 0)
		return r;
	req->version_minor = r;
	r = parse_target(p + t, te - t, req);
	if (r < 0)
		return r;
	return (long)i;
more:
	/* Out of bytes, or max + 1 of them and still no CR. */
	return i - s > max ? -414 : 0;
}

/* --- header fields --- */

/* What the headers said, before it is checked as a whole. */
struct head_state {
	int dup_range, dup_ims, dup_ius, conn_close, conn_keep_alive;
	struct http_lex_te te; /* over all Transfer-Encoding fields */
};

static int parse_content_length(const unsigned char *v, size_t n,
				struct http_request *req)
{
	uint64_t x;

	/* 1*DIGIT and nothing else: no sign, no space, no hex, no list. */
	if (http_lex_u64(v, n, &x) < 0)
		return -400;
	/* RFC 9112 6.3 lets a recipient accept identical repeats; only a
	 * disagreement is a framing attack. */
	if (req->has_content_length && req->content_length != x)
		return -400;
	req->has_content_length = 1;
	req->content_length = x;
	return 0;
}

/* RFC 9112 3.2: more than one Host, or an invalid one, is a 400. An
 * absolute-form target's host has been taken already and wins. */
static int parse_host(const unsigned char *v, size_t n, struct http_request *req)
{
	long hl;

	if (req->has_host)
		return -400;
	hl = host_part(v, n);
	if (hl < 0)
		return -400;
	req->has_host = 1;
	if (!req->absolute_form) {
		req->host = (const char *)v;
		req->host_len = (size_t)hl;
	}
	return 0;
}

/* Transfer-Encoding: a list of codings (RFC 9112 6.1), each a token; a
 * parameter, an empty element or anything that is not a token is 400
 * here, where two parsers reading it differently smuggle a request. */
static int parse_transfer_encoding(const unsigned char *v, size_t n,
				   struct http_request *req, struct head_state *hs)
{
	req->has_transfer_encoding = 1;
	return http_lex_te(v, n, &hs->te) < 0 ? -400 : 0;
}

/* Expect: a list; only 100-continue is known, anything else beside it
 * makes the whole expectation one that cannot be met. HTTP/1.0 requests'
 * Expect is ignored (RFC 9110 10.1.1). */
static void parse_expect(const unsigned char *v, size_t n, struct http_request *req)
{
	size_t i = 0, a, b;

	if (req->version_minor == 0)
		return;
	while (http_lex_list_next(v, n, &i, &a, &b)) {
		if (http_lex_ci_eq(v + a, b - a, "100-continue")) {
			if (req->expect == HTTP_EXPECT_NONE)
				req->expect = HTTP_EXPECT_CONTINUE;
		} else {
			req->expect = HTTP_EXPECT_OTHER;
		}
	}
}

/* Connection is a comma list of tokens; only two of them matter here. */
static void parse_connection(const unsigned char *v, size_t n,
			     struct head_state *hs)
{
	if (http_lex_list_has(v, n, "close"))
		hs->conn_close = 1;
	if (http_lex_list_has(v, n, "keep-alive"))
		hs->conn_keep_alive = 1;
}

/* A field kept as received, for the caller to read; repeats counted. */
static void keep_field(const unsigned char *v, size_t vl, struct http_field *f)
{
	if (f->lines++ == 0) {
		f->v = (const char *)v;
		f->len = (uint32_t)vl; /* below max_header_bytes */
	}
}

/* A date field: ignored when repeated or unparseable (RFC 9110 13.1.3,
 * 13.1.4). */
static void date_field(const unsigned char *v, size_t vl, time_t *out, int *dup)
{
	time_t t = http_parse_date((const char *)v, vl);

	if (*out || *dup || t <= 0) {
		*dup = 1;
		*out = 0;
	} else {
		*out = t;
	}
}

/* One complete field: name n[0..nl), value v[0..vl) already trimmed. */
static int header_field(const unsigned char *nm, size_t nl,
			const unsigned char *v, size_t vl,
			struct http_request *req, struct head_state *hs)
{
	switch (nl) {
	case 4:
		if (http_lex_ci_eq(nm, nl, "host"))
			return parse_host(v, vl, req);
		break;
	case 5:
		if (http_lex_ci_eq(nm, nl, "range")) {
			if (req->has_range || hs->dup_range ||
			    vl >= sizeof(req->range)) {
				/* Repeated or oversized: ignore it, send 200. */
				hs->dup_range = 1;
				req->has_range = 0;
				break;
			}
			memcpy(req->range, v, vl);
			req->range[vl] = '\0';
			req->has_range = 1;
		}
		break;
	case 6:
		if (http_lex_ci_eq(nm, nl, "expect"))
			parse_expect(v, vl, req);
		break;
	case 8:
		if (http_lex_ci_eq(nm, nl, "if-match"))
			keep_field(v, vl, &req->if_match);
		else if (http_lex_ci_eq(nm, nl, "if-range"))
			keep_field(v, vl, &req->if_range);
		break;
	case 13:
		if (http_lex_ci_eq(nm, nl, "if-none-match"))
			keep_field(v, vl, &req->if_none_match);
		break;
	case 15:
		if (http_lex_ci_eq(nm, nl, "accept-encoding"))
			keep_field(v, vl, &req->accept_encoding);
		break;
	case 19:
		if (http_lex_ci_eq(nm, nl, "if-unmodified-since"))
			date_field(v, vl, &req->if_unmodified_since, &hs->dup_ius);
		break;
	case 10:
		if (http_lex_ci_eq(nm, nl, "connection"))
			parse_connection(v, vl, hs);
		break;
	case 14:
		if (http_lex_ci_eq(nm, nl, "content-length"))
			return parse_content_length(v, vl, req);
		break;
	case 17:
		if (http_lex_ci_eq(nm, nl, "transfer-encoding")) {
			return parse_transfer_encoding(v, vl, req, hs);
		} else if (http_lex_ci_eq(nm, nl, "if-modified-since")) {
			time_t t = http_parse_date((const char *)v, vl);

			if (req->if_modified_since || hs->dup_ims || t <= 0) {
				hs->dup_ims = 1;
				req->if_modified_since = 0;
			} else {
				req->if_modified_since = t;
			}
		}
		break;
	}
	return 0;
}

/* Reads the header lines from p[s] (http_lex.h draws the lines).
 * Returns the index just past the blank line, 0 if more bytes are
 * needed, or -status. */
static long header_block(const unsigned char *p, size_t len, size_t s,
			 const struct http_limits *lim,
			 struct http_request *req, struct head_state *hs)
{
	struct http_lex_block b;
	struct http_lex_field f;
	int r;

	http_lex_block_init(&b, p, len, s, lim->max_header_bytes,
			    lim->max_headers);
	while ((r = http_lex_block_next(&b, &f)) == HTTP_LEX_FIELD) {
		r = header_field(f.name, f.nl, f.v, f.vl, req, hs);
		if (r < 0)
			return r;
	}
	if (r == HTTP_LEX_END)
		return (long)b.pos;
	if (r == HTTP_LEX_MORE)
		return 0;
	return r == HTTP_LEX_LIMIT ? -431 : -400;
}

/* Rules that need the whole head. */
static int head_checks(const struct http_limits *lim, struct http_request *req,
		       const struct head_state *hs)
{
	if (req->version_minor == 1 && !req->has_host)
		return -400;
	if (req->has_transfer_encoding) {
		/* Both framings at once is the classic smuggling vector; an
		 * HTTP/1.0 message with Transfer-Encoding has faulty framing,
		 * and so has one whose last coding is not chunked (RFC 9112
		 * 6.1, 6.3). A coding under chunked we cannot undo: 501. */
		if (req->has_content_length || req->version_minor == 0 ||
		    !hs->te.chunked_last || hs->te.chunked > 1)
			return -400;
		if (hs->te.other)
			return -501;
		req->chunked = 1;
	}
	if (req->has_content_length && req->content_length > lim->max_body)
		return -413;
	if (hs->conn_close)
		req->keep_alive = 0;
	else
		req->keep_alive = req->version_minor == 1 || hs->conn_keep_alive;
	return 0;
}

static void request_init(struct http_request *req)
{
	req->method = HTTP_OTHER;
	req->version_minor = 1;
	req->keep_alive = 0;
	req->content_length = 0;
	req->has_content_length = 0;
	req->has_transfer_encoding = 0;
	req->chunked = 0;
	req->expect = HTTP_EXPECT_NONE;
	req->asterisk = 0;
	req->absolute_form = 0;
	req->host = NULL;
	req->host_len = 0;
	req->if_modified_since = 0;
	req->if_unmodified_since = 0;
	req->if_match = req->if_none_match = (struct http_field){ 0 };
	req->if_range = req->accept_encoding = (struct http_field){ 0 };
	req->has_range = 0;
	req->range[0] = '\0';
	req->has_host = 0;
	req->path[0] = '\0';
}

int http_parse_request(const char *buf, size_t len,
		       const struct http_limits *lim, struct http_request *req)
{
	const unsigned char *p = (const unsigned char *)buf;
	struct head_state hs = { 0 };
	size_t s = 0;
	unsigned blank = 0;
	long cr, end;
	int r;

	request_init(req);
	while (s < len && p[s] == '\r') {
		if (s + 1 == len)
			return 0;
		if (p[s + 1] != '\n' || ++blank > HTTP_MAX_LEADING_CRLF)
			return -400;
		s += 2;
	}
	cr = request_line(p, len, s, lim->max_request_line, req);
	if (cr <= 0)
		return (int)cr;
	end = header_block(p, len, (size_t)cr + 2, lim, req, &hs);
	if (end <= 0)
		return (int)end;
	r = head_checks(lim, req, &hs);
	if (r < 0)
		return r;
	if (end > INT_MAX)
		return -431; /* only with absurd limits: the result must fit */
	return (int)end;
}

/* --- chunked bodies --- */

/* Where a chunked body's reader stands: each state names the next byte
 * expected. */
enum {
	CK_SIZE0,   /* the first hex digit of a chunk size */
	CK_SIZE,    /* more digits, ';', whitespace before ';', or CR */
	CK_BWS,     /* whitespace after the size: ';' must follow */
	CK_EXT,     /* a chunk extension, skipped up to CR */
	CK_SIZE_LF, /* the LF that ends the size line */
	CK_DATA,    /* chunk data */
	CK_DATA_CR, /* the CRLF after the data */
	CK_DATA_LF,
	CK_FIELD0,     /* a trailer field's first byte, or the final CR */
	CK_FIELD_NAME, /* the rest of its name, up to ':' */
	CK_FIELD_VAL,  /* its value, up to CR */
	CK_FIELD_LF,
	CK_END_LF, /* the LF of the blank line that ends the body */
	CK_DONE
};

void http_chunked_init(struct http_chunked *ck)
{
	memset(ck, 0, sizeof(*ck));
	ck->state = CK_SIZE0;
}

/* One byte of a size line. 0, or -status. */
static int chunk_size_byte(struct http_chunked *ck, unsigned char c,
			   const struct http_limits *lim)
{
	int d;

	if (c != '\r' && ++ck->line > HTTP_CHUNK_LINE_MAX)
		return -400;
	switch (ck->state) {
	case CK_SIZE0:
	case CK_SIZE:
		d = http_lex_hexval(c);
		if (d >= 0) {
			if (ck->left > UINT64_MAX >> 4)
				return -400; /* more than 64 bits */
			ck->left = ck->left << 4 | (uint64_t)d;
			ck->state = CK_SIZE;
			return 0;
		}
		if (ck->state == CK_SIZE0)
			return -400;
		/* The size is whole: is it too much? */
		if (ck->left > lim->max_body - ck->total)
			return -413;
		if (c == '\r')
			ck->state = CK_SIZE_LF;
		else if (c == ';')
			ck->state = CK_EXT;
		else if (http_lex_is_ows(c))
			ck->state = CK_BWS; /* BWS (RFC 9112 7.1.1) */
		else
			return -400;
		return 0;
	case CK_BWS:
		if (c == ';')
			ck->state = CK_EXT;
		else if (!http_lex_is_ows(c))
			return -400;
		return 0;
	default: /* CK_EXT: field-value bytes up to CR, no bare LF */
		if (c == '\r')
			ck->state = CK_SIZE_LF;
		else if (!(http_lex_cls[c] & HTTP_LEX_VALUE))
			return -400;
		return 0;
	}
}

/* One byte of the trailer section. 0, 1 once it has ended, or -status. */
static int chunk_trailer_byte(struct http_chunked *ck, unsigned char c,
			      const struct http_limits *lim)
{
	if (++ck->trailer_bytes > lim->max_header_bytes)
		return -431;
	switch (ck->state) {
	case CK_FIELD0:
		if (c == '\r') {
			ck->state = CK_END_LF;
			return 0;
		}
		/* obs-fold and a nameless field are refused, as in a head. */
		if (!(http_lex_cls[c] & HTTP_LEX_TCHAR))
			return -400;
		if (++ck->trailers > lim->max_headers)
			return -431;
		ck->state = CK_FIELD_NAME;
		return 0;
	case CK_FIELD_NAME:
		if (c == ':')
			ck->state = CK_FIELD_VAL;
		else if (!(http_lex_cls[c] & HTTP_LEX_TCHAR))
			return -400;
		return 0;
	case CK_FIELD_VAL:
		if (c == '\r')
			ck->state = CK_FIELD_LF;
		else if (!(http_lex_cls[c] & HTTP_LEX_VALUE))
			return -400;
		return 0;
	case CK_FIELD_LF:
		if (c != '\n')
			return -400;
		ck->state = CK_FIELD0;
		return 0;
	default: /* CK_END_LF */
		if (c != '\n')
			return -400;
		ck->state = CK_DONE;
		return 1;
	}
}

int http_chunked_read(struct http_chunked *ck, const char *buf, size_t len,
		      const struct http_limits *lim, size_t *used)
{
	const unsigned char *p = (const unsigned char *)buf;
	size_t i = 0;
	int r = 0;

	while (i < len && r == 0) {
		unsigned char c = p[i];

		switch (ck->state) {
		case CK_DATA: {
			size_t n = (size_t)(ck->left < len - i ? ck->left :
								 len - i);

			ck->left -= n;
			ck->total += n;
			i += n;
			if (ck->left == 0)
				ck->state = CK_DATA_CR;
			continue;
		}
		case CK_SIZE_LF:
			if (c != '\n') {
				r = -400;
				break;
			}
			ck->line = 0;
			ck->state = ck->left ? CK_DATA : CK_FIELD0;
			break;
		case CK_DATA_CR:
		case CK_DATA_LF:
			if (c != (ck->state == CK_DATA_CR ? '\r' : '\n'))
				r = -400;
			else
				ck->state = ck->state == CK_DATA_CR ? CK_DATA_LF :
								      CK_SIZE0;
			break;
		case CK_DONE:
			r = 1;
			continue;
		default:
			r = ck->state >= CK_FIELD0 ?
				    chunk_trailer_byte(ck, c, lim) :
				    chunk_size_byte(ck, c, lim);
			break;
		}
		i++;
	}
	*used = i;
	if (r == 0 && ck->state == CK_DONE)
		r = 1;
	return r;
}

/* --- ranges --- */

/* Reads 1*DIGIT at *s, saturating at UINT64_MAX. -1 if no digit. */
static int read_u64(const char **s, uint64_t *out)
{
	const char *q = *s;
	uint64_t x = 0;

	if (*q < '0' || *q > '9')
		return -1;
	for (; *q >= '0' && *q <= '9'; q++) {
		unsigned d = (unsigned)(*q - '0');

		x = x > (UINT64_MAX - d) / 10 ? UINT64_MAX : x * 10 + d;
	}
	*s = q;
	*out = x;
	return 0;
}

int http_parse_range(const char *spec, uint64_t size, uint64_t *start,
		     uint64_t *end)
{
	const char *s = spec;
	uint64_t a = 0, b = UINT64_MAX;
	int suffix = 0;

	while (*s == ' ' || *s == '\t')
		s++;
	if (!http_lex_ci_eq((const unsigned char *)s, 5, "bytes") || s[5] != '=')
		return 0; /* another unit: ignore (RFC 9110 14.2) */
	s += 6;
	if (*s == '-') {
		/* suffix-range: the last b bytes */
		s++;
		suffix = 1;
		if (read_u64(&s, &b) < 0)
			return 0;
	} else {
		if (read_u64(&s, &a) < 0 || *s != '-')
			return 0;
		s++;
		if (*s >= '0' && *s <= '9') {
			read_u64(&s, &b);
			if (b < a)
				return 0; /* invalid range-spec: ignore */
		}
	}
	while (*s == ' ' || *s == '\t')
		s++;
	if (*s != '\0')
		return 0; /* a list (multi-range) or trailing junk */
	/* An empty file has no byte to point at: no Content-Range could
	 * describe any answer but the whole (empty) file. */
	if (size == 0)
		return 0;
	if (suffix) {
		if (b == 0)
			return -1;
		*start = b >= size ? 0 : size - b;
		*end = size - 1;
		return 1;
	}
	if (a >= size)
		return -1;
	*start = a;
	*end = b >= size ? size - 1 : b;
	return 1;
}

/* --- dates --- */

static const char wkday[7][4] = { "Sun", "Mon", "Tue", "Wed",
				  "Thu", "Fri", "Sat" };
static const char *const weekday_long[7] = {
	"sunday",   "monday", "tuesday", "wednesday",
	"thursday", "friday", "saturday"
};
static const char month_name[12][4] = { "Jan", "Feb", "Mar", "Apr",
					"May", "Jun", "Jul", "Aug",
					"Sep", "Oct", "Nov", "Dec" };

/* Days since 1970-01-01 of a proleptic Gregorian date, and back (the
 * era-based algorithms: exact for any year, no tables, no libc TZ). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	int64_t era;
	unsigned yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = (unsigned)(y - era * 400);
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
	int64_t era;
	unsigned doe, yoe, doy, mp;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = (unsigned)(z - era * 146097);
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static void put2(char *o, unsigned v)
{
	o[0] = (char)('0' + v / 10);
	o[1] = (char)('0' + v % 10);
}

size_t http_format_date(time_t t, char *out, size_t outlen)
{
	/* 9999-12-31T23:59:59Z: the last instant with a 4-digit year. */
	const int64_t last = INT64_C(253402300799);
	int64_t days, y, sec = (int64_t)t;
	unsigned m, d, sod;

	if (outlen > 0)
		out[0] = '\0';
	if (outlen < HTTP_DATE_LEN + 1 || sec < 0 || sec > last)
		return 0;
	days = sec / 86400;
	sod = (unsigned)(sec % 86400);
	civil_from_days(days, &y, &m, &d);
	memcpy(out, wkday[(days + 4) % 7], 3); /* 1970-01-01 was a Thursday */
	memcpy(out + 3, ", ", 2);
	put2(out + 5, d);
	out[7] = ' ';
	memcpy(out + 8, month_name[m - 1], 3);
	out[11] = ' ';
	put2(out + 12, (unsigned)(y / 100));
	put2(out + 14, (unsigned)(y % 100));
	out[16] = ' ';
	put2(out + 17, sod / 3600);
	out[19] = ':';
	put2(out + 20, sod / 60 % 60);
	out[22] = ':';
	put2(out + 23, sod % 60);
	memcpy(out + 25, " GMT", 5); /* with the NUL */
	return HTTP_DATE_LEN;
}

/* n digits at s, or -1. */
static int digits(const char *s, size_t n)
{
	int v = 0;
	size_t i;

	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

/* s[0..3) against a capitalised three-letter name, ASCII case ignored. */
static int name3_eq(const char *s, const char *name)
{
	return ((unsigned char)s[0] | 0x20) == ((unsigned char)name[0] | 0x20) &&
	       ((unsigned char)s[1] | 0x20) == (unsigned char)name[1] &&
	       ((unsigned char)s[2] | 0x20) == (unsigned char)name[2];
}

static int month_of(const char *s)
{
	int k;

	for (k = 0; k < 12; k++)
		if (name3_eq(s, month_name[k]))
			return k + 1;
	return -1;
}

static int short_weekday_ok(const char *s)
{
	int k;

	for (k = 0; k < 7; k++)
		if (name3_eq(s, wkday[k]))
			return 1;
	return 0;
}

/* "HH:MM:SS" at s -> seconds of the day, or -1. A leap second (60) is
 * accepted and rolls into the next minute. */
static long time_of_day(const char *s)
{
	int h = digits(s, 2), mi = digits(s + 3, 2), se = digits(s + 6, 2);

	if (s[2] != ':' || s[5] != ':' || h < 0 || mi < 0 || se < 0 || h > 23 ||
	    mi > 59 || se > 60)
		return -1;
	return (long)h * 3600 + mi * 60 + se;
}

static time_t make_time(int64_t y, int mon, int day, long tod)
{
	static const unsigned char mdays[12] = { 31, 29, 31, 30, 31, 30,
						 31, 31, 30, 31, 30, 31 };
	int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	int64_t t;

	if (mon < 1 || day < 1 || day > mdays[mon - 1] || tod < 0 ||
	    (mon == 2 && day == 29 && !leap) || y < 1970 || y > 9999)
		return -1;
	t = days_from_civil(y, (unsigned)mon, (unsigned)day) * 86400 + tod;
	if ((int64_t)(time_t)t != t)
		return -1;
	return (time_t)t;
}

/* RFC 9110 5.6.7: a two-digit year more than 50 years in the future is
 * the most recent past year with those digits. Taking the year nearest to
 * now does that, and also lets "00" mean the coming century late in this
 * one. */
static int64_t expand_year(int yy)
{
	int64_t cy, y;
	unsigned m, d;

	civil_from_days((int64_t)time(NULL) / 86400, &cy, &m, &d);
	y = cy - cy % 100 + yy;
	if (y > cy + 50)
		y -= 100;
	else if (y <= cy - 50)
		y += 100;
	return y;
}

time_t http_parse_date(const char *s, size_t len)
{
	size_t k;

	/* IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT" */
	if (len == 29 && s[3] == ',') {
		if (!short_weekday_ok(s) || s[4] != ' ' || s[7] != ' ' ||
		    s[11] != ' ' || s[16] != ' ' || memcmp(s + 25, " GMT", 4))
			return -1;
		return make_time(digits(s + 12, 4), month_of(s + 8),
				 digits(s + 5, 2), time_of_day(s + 17));
	}
	/* asctime: "Sun Nov  6 08:49:37 1994" */
	if (len == 24 && s[3] == ' ') {
		int day = s[8] == ' ' ? digits(s + 9, 1) : digits(s + 8, 2);

		if (!short_weekday_ok(s) || s[7] != ' ' || s[10] != ' ' ||
		    s[19] != ' ')
			return -1;
		return make_time(digits(s + 20, 4), month_of(s + 4), day,
				 time_of_day(s + 11));
	}
	/* RFC 850: "Sunday, 06-Nov-94 08:49:37 GMT" */
	for (k = 0; k < 7; k++) {
		size_t wl = strlen(weekday_long[k]);
		const char *r = s + wl;
		int yy;

		if (len != wl + 24 || !http_lex_ci_eq((const unsigned char *)s,
						      wl, weekday_long[k]))
			continue;
		if (r[0] != ',' || r[1] != ' ' || r[4] != '-' || r[8] != '-' ||
		    r[11] != ' ' || memcmp(r + 20, " GMT", 4))
			return -1;
		yy = digits(r + 9, 2);
		if (yy < 0)
			return -1;
		return make_time(expand_year(yy), month_of(r + 5),
				 digits(r + 2, 2), time_of_day(r + 12));
	}
	return -1;
}

/* --- reasons --- */

const char *http_reason(int status)
{
	switch (status) {
	case 100:
		return "Continue";
	case 101:
		return "Switching Protocols";
	case 200:
		return "OK";
	case 201:
		return "Created";
	case 202:
		return "Accepted";
	case 204:
		return "No Content";
	case 206:
		return "Partial Content";
	case 301:
		return "Moved Permanently";
	case 302:
		return "Found";
	case 303:
		return "See Other";
	case 304:
		return "Not Modified";
	case 307:
		return "Temporary Redirect";
	case 308:
		return "Permanent Redirect";
	case 400:
		return "Bad Request";
	case 401:
		return "Unauthorized";
	case 403:
		return "Forbidden";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 408:
		return "Request Timeout";
	case 409:
		return "Conflict";
	case 410:
		return "Gone";
	case 411:
		return "Length Required";
	case 412:
		return "Precondition Failed";
	case 413:
		return "Content Too Large";
	case 414:
		return "URI Too Long";
	case 415:
		return "Unsupported Media Type";
	case 416:
		return "Range Not Satisfiable";
	case 417:
		return "Expectation Failed";
	case 429:
		return "Too Many Requests";
	case 431:
		return "Request Header Fields Too Large";
	case 500:
		return "Internal Server Error";
	case 501:
		return "Not Implemented";
	case 502:
		return "Bad Gateway";
	case 503:
		return "Service Unavailable";
	case 504:
		return "Gateway Timeout";
	case 505:
		return "HTTP Version Not Supported";
	}
	switch (status / 100) {
	case 1:
		return "Informational";
	case 2:
		return "Success";
	case 3:
		return "Redirection";
	case 4:
		return "Client Error";
	case 5:
		return "Server Error";
	}
	return "Unknown";
}
