/* http_lex.c - the lexical layer of HTTP/1.1 shared by the parsers and
 * head writers (http_lex.h). It decides what a field line is; what a
 * field means is its callers' business. */
#include "autoconfig.h"

#include "http_lex.h"

/* The classes of http_lex.h, a bit each: TCHAR 1, TARGET 2, VALUE 4,
 * REGNAME 8. */

/* clang-format off */
const unsigned char http_lex_cls[256] = {
	/* 00 */  0,  0,  0,  0,  0,  0,  0,  0,  0,  4,  0,  0,  0,  0,  0,  0,
	/* 10 */  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,
	/* 20 */  4, 15,  6,  5, 15,  7, 15, 15, 14, 14, 15, 15, 14, 15, 15,  6,
	/* 30 */ 15, 15, 15, 15, 15, 15, 15, 15, 15, 15,  6, 14,  6, 14,  6,  6,
	/* 40 */  6, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15,
	/* 50 */ 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15,  6,  4,  6,  7, 15,
	/* 60 */  7, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15,
	/* 70 */ 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15,  6,  7,  6, 15,  0,
	/* 80 */  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,
	/* 90 */  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,
	/* a0 */  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,
	/* b0 */  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,
	/* c0 */  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,
	/* d0 */  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,
	/* e0 */  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,
	/* f0 */  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,
};
/* clang-format on */

size_t http_lex_add_sat(size_t a, size_t b)
{
	return a > SIZE_MAX - b ? SIZE_MAX : a + b;
}

/* Folding with |0x20 is exact for letters; only control bytes (never
 * passed here: the callers' input has been through the byte classes)
 * fold onto a digit or '-'. */
int http_lex_ci_eq(const unsigned char *s, size_t n, const char *lower)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (lower[i] == '\0' || (s[i] | 0x20) != (unsigned char)lower[i])
			return 0;
	return lower[n] == '\0';
}

static unsigned char ascii_lower(unsigned char c)
{
	return c >= 'A' && c <= 'Z' ? (unsigned char)(c | 0x20) : c;
}

int http_lex_ci_same(const unsigned char *a, size_t an, const unsigned char *b,
		     size_t bn)
{
	size_t i;

	if (an != bn)
		return 0;
	for (i = 0; i < an; i++)
		if (ascii_lower(a[i]) != ascii_lower(b[i]))
			return 0;
	return 1;
}

int http_lex_hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c |= 0x20;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

int http_lex_u64(const unsigned char *v, size_t n, uint64_t *out)
{
	uint64_t x = 0;
	size_t i;

	if (n == 0)
		return -1;
	for (i = 0; i < n; i++) {
		unsigned d = (unsigned)v[i] - '0';

		if (d > 9 || x > (UINT64_MAX - d) / 10)
			return -1;
		x = x * 10 + d;
	}
	*out = x;
	return 0;
}

int http_lex_list_next(const unsigned char *v, size_t n, size_t *pos, size_t *a,
		       size_t *b)
{
	size_t i = *pos, e;

	for (;;) {
		while (i < n && (http_lex_is_ows(v[i]) || v[i] == ','))
			i++;
		if (i == n) {
			*pos = i;
			return 0;
		}
		*a = i;
		while (i < n && v[i] != ',')
			i++;
		for (e = i; e > *a && http_lex_is_ows(v[e - 1]); e--)
			;
		*b = e;
		*pos = i;
		return 1;
	}
}

int http_lex_list_has(const unsigned char *v, size_t n, const char *lower)
{
	size_t pos = 0, a, b;

	while (http_lex_list_next(v, n, &pos, &a, &b))
		if (http_lex_ci_eq(v + a, b - a, lower))
			return 1;
	return 0;
}

int http_lex_te(const unsigned char *v, size_t n, struct http_lex_te *te)
{
	size_t i = 0, a;

	for (;;) {
		while (i < n && http_lex_is_ows(v[i]))
			i++;
		for (a = i; i < n && (http_lex_cls[v[i]] & HTTP_LEX_TCHAR); i++)
			;
		if (i == a)
			return -1;
		if (http_lex_ci_eq(v + a, i - a, "chunked")) {
			te->chunked++;
			te->chunked_last = 1;
		} else {
			te->other = 1;
			te->chunked_last = 0;
		}
		while (i < n && http_lex_is_ows(v[i]))
			i++;
		if (i == n)
			return 0;
		if (v[i++] != ',')
			return -1;
	}
}

void http_lex_block_init(struct http_lex_block *b, const unsigned char *p,
			 size_t len, size_t start, size_t max_bytes,
			 unsigned max_fields)
{
	b->p = p;
	b->len = len;
	b->pos = start;
	b->limit = http_lex_add_sat(start, max_bytes);
	b->fields = 0;
	b->max_fields = max_fields;
}

/* The value after the colon at p[i] up to its CRLF. Returns the index of
 * the CR, or 0 if stop came first (i is never 0 here), or -1. */
static long field_value(const unsigned char *p, size_t i, size_t stop)
{
	while (i < stop && (http_lex_cls[p[i]] & HTTP_LEX_VALUE))
		i++;
	if (i >= stop)
		return 0;
	if (p[i] != '\r')
		return -1; /* bare LF or a control byte */
	if (i + 1 >= stop)
		return 0;
	return p[i + 1] == '\n' ? (long)i : -1;
}

/* Out of bytes at or before stop: over the limit if stop reached it. */
static int block_more(const struct http_lex_block *b, size_t stop)
{
	return stop >= b->limit ? HTTP_LEX_LIMIT : HTTP_LEX_MORE;
}

int http_lex_block_next(struct http_lex_block *b, struct http_lex_field *f)
{
	const unsigned char *p = b->p;
	size_t stop = b->len < b->limit ? b->len : b->limit;
	size_t i = b->pos, colon, v, ve;
	long cr;

	if (i >= stop)
		return block_more(b, stop);
	if (p[i] == '\r') {
		if (i + 1 >= stop)
			return block_more(b, stop);
		if (p[i + 1] != '\n')
			return HTTP_LEX_BAD;
		b->pos = i + 2;
		return HTTP_LEX_END;
	}
	/* A line starting with whitespace is obs-fold (RFC 9112 5.2). */
	if (p[i] == ' ' || p[i] == '\t' || p[i] == '\n')
		return HTTP_LEX_BAD;
	if (++b->fields > b->max_fields)
		return HTTP_LEX_LIMIT;
	while (i < stop && (http_lex_cls[p[i]] & HTTP_LEX_TCHAR))
		i++;
	if (i >= stop) {
		b->fields--; /* counted again when the line is read whole */
		return block_more(b, stop);
	}
	/* No whitespace before the colon (RFC 9112 5.1). */
	if (p[i] != ':' || i == b->pos)
		return HTTP_LEX_BAD;
	colon = i;
	cr = field_value(p, colon + 1, stop);
	if (cr <= 0) {
		b->fields--;
		return cr < 0 ? HTTP_LEX_BAD : block_more(b, stop);
	}
	for (v = colon + 1, ve = (size_t)cr; v < ve && http_lex_is_ows(p[v]); v++)
		;
	while (ve > v && http_lex_is_ows(p[ve - 1]))
		ve--;
	f->name = p + b->pos;
	f->nl = colon - b->pos;
	f->v = p + v;
	f->vl = ve - v;
	b->pos = (size_t)cr + 2;
	return HTTP_LEX_FIELD;
}
