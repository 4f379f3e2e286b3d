/* http_resp.c - the upstream response head parser (http_resp.h).
 *
 * Like the request parser it keeps no state between calls and re-reads
 * the head from its start; the field lines go through the same lexer
 * (http_lex.h). It refuses rather than repairs: the proxy re-frames the
 * body from what this says, so any head another parser could frame
 * differently is a 502, and the upstream connection is closed. */
#include "autoconfig.h"

#include <limits.h>
#include <string.h>

#include "http_lex.h"
#include "http_resp.h"

/* What the fields said, checked once the head is whole. */
struct resp_state {
	int has_cl, has_te, conn_close, conn_keep_alive;
	struct http_lex_te te;
};

/* The version at p[0..n) as far as it has arrived: 0 or 1 for a whole
 * "HTTP/1.0" or "HTTP/1.1", 2 for a prefix of one, -1 otherwise. */
static int status_version(const unsigned char *p, size_t n)
{
	static const char v[] = "HTTP/1.";

	if (n > 8)
		n = 8;
	if (memcmp(p, v, n < 7 ? n : 7) != 0)
		return -1;
	if (n < 8)
		return 2;
	if (p[7] != '0' && p[7] != '1')
		return -1;
	return p[7] - '0';
}

/* Reads the status line "HTTP/1.x SP 3DIGIT [SP reason]" CRLF, each byte
 * checked as it arrives. Returns the index of its CR, 0 if more bytes are
 * needed, -1 if malformed, -2 if longer than max. */
static long status_line(const unsigned char *p, size_t len, size_t max,
			struct http_response *resp)
{
	size_t stop = http_lex_add_sat(max, 1), i;
	int v;

	if (stop > len)
		stop = len;
	v = status_version(p, stop);
	if (v < 0)
		return -1;
	for (i = 8; v < 2 && i < stop && i < 12; i++)
		if (i == 8 ? p[i] != ' ' : p[i] < '0' || p[i] > '9')
			return -1;
	/* After the code, SP and the reason, or the CR at once: a missing
	 * reason, with or without its SP, is accepted (RFC 9112 4 has a
	 * client ignore the reason). */
	if (i == 12 && i < stop && p[i] != ' ' && p[i] != '\r')
		return -1;
	while (i >= 12 && i < stop && (http_lex_cls[p[i]] & HTTP_LEX_VALUE))
		i++;
	if (v == 2 || i >= stop)
		return stop > max ? -2 : 0;
	if (p[i] != '\r')
		return -1; /* a bare LF or a control byte */
	if (i + 1 == len)
		return 0;
	if (p[i + 1] != '\n')
		return -1;
	resp->version_minor = v;
	resp->status = (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');
	return resp->status < 100 || resp->status > 599 ? -1 : (long)i;
}

/* One field line; -1 refuses the response. */
static int resp_field(const struct http_lex_field *f,
		      struct http_response *resp, struct resp_state *st)
{
	switch (f->nl) {
	case 10:
		if (http_lex_ci_eq(f->name, f->nl, "connection")) {
			if (http_lex_list_has(f->v, f->vl, "close"))
				st->conn_close = 1;
			if (http_lex_list_has(f->v, f->vl, "keep-alive"))
				st->conn_keep_alive = 1;
		}
		return 0;
	case 14:
		if (!http_lex_ci_eq(f->name, f->nl, "content-length"))
			return 0;
		/* RFC 9112 6.3 lets a recipient take identical repeats; a
		 * proxy that re-frames takes no chances: one line only. */
		if (st->has_cl++)
			return -1;
		return http_lex_u64(f->v, f->vl, &resp->content_length);
	case 17:
		if (!http_lex_ci_eq(f->name, f->nl, "transfer-encoding"))
			return 0;
		st->has_te = 1;
		return http_lex_te(f->v, f->vl, &st->te);
	}
	return 0;
}

/* The framing rules of RFC 9112 6.1 and 6.3, strictest reading. */
static int resp_framing(enum http_method head_method,
			struct http_response *resp, const struct resp_state *st)
{
	int s = resp->status;

	if (s == 101)
		return -1; /* no protocol is switched through the proxy */
	if ((s < 200 || s == 204) && (st->has_cl || st->has_te))
		return -1;
	if (st->has_te) {
		/* Both framings at once is the smuggling vector; a 1.0
		 * message with Transfer-Encoding has faulty framing; a last
		 * coding other than chunked would end at the close, which a
		 * proxy keeping connections cannot tell from a truncation. */
		if (st->has_cl || resp->version_minor == 0 ||
		    !st->te.chunked_last || st->te.chunked > 1)
			return -1;
	}
	resp->interim = s < 200;
	if (s < 200 || s == 204 || s == 304 || head_method == HTTP_HEAD)
		resp->framing = HTTP_RESP_NO_BODY;
	else if (st->has_te)
		resp->framing = HTTP_RESP_CHUNKED;
	else if (st->has_cl)
		resp->framing = HTTP_RESP_LENGTH;
	else
		resp->framing = HTTP_RESP_CLOSE;
	if (resp->framing != HTTP_RESP_LENGTH)
		resp->content_length = 0;
	if (st->conn_close || resp->framing == HTTP_RESP_CLOSE)
		resp->keep_alive = 0;
	else
		resp->keep_alive = resp->version_minor == 1 || st->conn_keep_alive;
	return 0;
}

int http_parse_response(const char *buf, size_t len, const struct http_limits *lim,
			enum http_method head_method, struct http_response *resp)
{
	const unsigned char *p = (const unsigned char *)buf;
	struct resp_state st = { 0 };
	struct http_lex_block b;
	struct http_lex_field f;
	long cr;
	int r;

	memset(resp, 0, sizeof(*resp));
	if (len == 0)
		return 0; /* and buf may be NULL */
	cr = status_line(p, len, lim->max_request_line, resp);
	if (cr <= 0)
		return (int)cr;
	http_lex_block_init(&b, p, len, (size_t)cr + 2, lim->max_header_bytes,
			    lim->max_headers);
	while ((r = http_lex_block_next(&b, &f)) == HTTP_LEX_FIELD)
		if (resp_field(&f, resp, &st) < 0)
			return -1;
	if (r != HTTP_LEX_END)
		return r == HTTP_LEX_MORE ? 0 : r == HTTP_LEX_LIMIT ? -2 : -1;
	if (resp_framing(head_method, resp, &st) < 0)
		return -1;
	if (b.pos > INT_MAX)
		return -2; /* only with absurd limits: the result must fit */
	return (int)b.pos;
}
