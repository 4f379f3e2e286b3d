/* http_lex.h - the lexical layer of HTTP/1.1 (RFC 9110 5.6, RFC 9112 5)
 * that the request parser, the response parser and the head writers
 * share: byte classes, names compared without case, comma lists and the
 * field block. One copy, so that every parser in the daemon draws the
 * line between a field and the body in exactly the same place. Pure: no
 * I/O, no allocation, never a byte read past the length given. */
#ifndef RP_HTTP_LEX_H
#define RP_HTTP_LEX_H

#include <stddef.h>
#include <stdint.h>

/* Byte classes, bits of http_lex_cls[]. TCHAR: token (RFC 9110 5.6.2),
 * for methods, field names and codings. TARGET: allowed raw in a request
 * target: visible ASCII except '\' (a path separator elsewhere) and '#'
 * (a fragment is never sent). VALUE: field-value bytes: HTAB, SP, visible
 * ASCII, obs-text; the control bytes, DEL included, are not. REGNAME: a
 * reg-name's bytes but '%' (unreserved and sub-delims, RFC 3986 3.2.2). */
enum {
	HTTP_LEX_TCHAR = 1,
	HTTP_LEX_TARGET = 2,
	HTTP_LEX_VALUE = 4,
	HTTP_LEX_REGNAME = 8
};
extern const unsigned char http_lex_cls[256];

static inline int http_lex_is_ows(unsigned char c)
{
	return c == ' ' || c == '\t';
}

/* a + b, or SIZE_MAX if that overflows. */
size_t http_lex_add_sat(size_t a, size_t b);

/* ASCII case-insensitive compare of s[0..n) with lower, a NUL-terminated
 * string of lower-case letters, digits and '-'. */
int http_lex_ci_eq(const unsigned char *s, size_t n, const char *lower);

/* Whether a[0..an) and b[0..bn) are the same name, ASCII case ignored:
 * for names that come from the message itself (a Connection option). */
int http_lex_ci_same(const unsigned char *a, size_t an, const unsigned char *b,
		     size_t bn);

/* The value of a hex digit, or -1. */
int http_lex_hexval(unsigned char c);

/* v[0..n) as 1*DIGIT (no sign, space, list or hex) into *out: 0, or -1
 * if it is not that or overflows 64 bits. */
int http_lex_u64(const unsigned char *v, size_t n, uint64_t *out);

/* The next element of a comma list v[0..n) (RFC 9110 5.6.1) from *pos:
 * 1 and v[*a..*b) the element, OWS trimmed; 0 at the end. Empty elements
 * are skipped, as the RFC asks of a recipient. */
int http_lex_list_next(const unsigned char *v, size_t n, size_t *pos, size_t *a,
		       size_t *b);

/* Whether the comma list v[0..n) holds the element lower (case ignored). */
int http_lex_list_has(const unsigned char *v, size_t n, const char *lower);

/* Transfer-Encoding codings (RFC 9112 6.1), added up over all its lines. */
struct http_lex_te {
	int chunked;      /* how often chunked was named */
	int chunked_last; /* the last coding so far is chunked */
	int other;        /* a coding other than chunked was named */
};

/* Adds the codings of one Transfer-Encoding value v[0..n) to *te. -1 if
 * it is not a list of bare tokens (a parameter, an empty element): where
 * two parsers read framing differently, a message is smuggled. */
int http_lex_te(const unsigned char *v, size_t n, struct http_lex_te *te);

/* One field line: name[0..nl) before the colon, value v[0..vl) with OWS
 * trimmed, both pointing into the block read. */
struct http_lex_field {
	const unsigned char *name, *v;
	size_t nl, vl;
};

/* A field block (header or trailer section) being read from p[pos..len):
 * field lines, then an empty line. The bytes from where it started are
 * bounded by max_bytes (final CRLF included), the lines by max_fields. */
struct http_lex_block {
	const unsigned char *p;
	size_t len, pos, limit;
	unsigned fields, max_fields;
};

enum {
	HTTP_LEX_LIMIT = -2, /* max_bytes or max_fields exceeded */
	HTTP_LEX_BAD = -1,   /* malformed */
	HTTP_LEX_MORE = 0,   /* out of bytes: none of the above yet */
	HTTP_LEX_FIELD = 1,  /* a field line was read */
	HTTP_LEX_END = 2     /* the empty line: b->pos is just past it */
};

void http_lex_block_init(struct http_lex_block *b, const unsigned char *p,
			 size_t len, size_t start, size_t max_bytes,
			 unsigned max_fields);

/* Reads the next line: one of the HTTP_LEX_ values. Each line is checked
 * as its bytes are seen, so garbage is refused without waiting for the
 * rest. Only CRLF ends a line: a bare LF or a CR without LF is
 * malformed, as are obs-fold (a line starting with SP or HTAB), a name
 * that is not a token, whitespace before the colon and a control byte in
 * a value. */
int http_lex_block_next(struct http_lex_block *b, struct http_lex_field *f);

#endif
