/* http_parser.h - strict HTTP/1.1 request-head parser and the small pieces
 * of HTTP the server needs around it (paths, ranges, dates, reasons).
 *
 * Nothing here allocates, keeps state between calls or reads the clock
 * (except http_parse_date for two-digit years), so every function is safe
 * to call from any worker on untrusted bytes. Inputs are (pointer, length)
 * and need not be NUL-terminated unless stated. */
#ifndef RP_HTTP_PARSER_H
#define RP_HTTP_PARSER_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* What a client may send before it is refused. Exceeding one is reported
 * as soon as the bytes received prove it, even if the head is incomplete,
 * so that a client can never make the server hold more than these. */
struct http_limits {
	size_t max_request_line; /* bytes before CRLF; 8192 -> 414 */
	size_t max_header_bytes; /* header lines + their CRLFs + the final CRLF; 16384 -> 431 */
	unsigned max_headers; /* header lines; 64 -> 431 */
	uint64_t max_body; /* Content-Length, or a chunked body's data; 1 MiB -> 413 */
};

void http_limits_default(struct http_limits *lim);

enum http_method {
	HTTP_GET,
	HTTP_HEAD,
	HTTP_POST,
	HTTP_PUT,
	HTTP_DELETE,
	HTTP_OPTIONS,
	HTTP_PATCH,
	HTTP_TRACE,
	HTTP_CONNECT,
	HTTP_OTHER
};

/* What an Expect field asks for (RFC 9110 10.1.1); only in HTTP/1.1
 * requests, a 1.0 server is not expected to know the field. */
enum http_expect {
	HTTP_EXPECT_NONE,
	HTTP_EXPECT_CONTINUE, /* "100-continue" */
	HTTP_EXPECT_OTHER     /* anything else, alone or with it: 417 */
};

/* Room for a normalised path, NUL included; longer paths get 414. */
#define HTTP_PATH_MAX 1024
/* Room for a Range value, NUL included; longer ones are ignored (200). */
#define HTTP_RANGE_MAX 64

/* A field's value as received, OWS trimmed, pointing into the buffer
 * given to http_parse_request: valid as long as those bytes are. */
struct http_field {
	const char *v; /* NULL if absent */
	uint32_t len;
	uint32_t lines; /* field lines seen; more than 1: repeated */
};

struct http_request {
	enum http_method method; /* HTTP_OTHER: a valid token we do not know (501) */
	int version_minor;       /* 0 or 1 */
	int keep_alive;          /* version default, then Connection applied */
	uint64_t content_length; /* valid if has_content_length */
	int has_content_length;
	int has_transfer_encoding;
	int chunked; /* the body is chunked: the only coding taken (7.1) */
	enum http_expect expect;
	int asterisk;      /* "OPTIONS *": path is "/" but names no file */
	int absolute_form; /* "http://host/path": host came from the target */
	time_t if_modified_since;   /* 0 if absent, repeated or unparseable */
	time_t if_unmodified_since; /* the same */
	/* What a file's answer depends on (http_cond.h, http_file.c). */
	struct http_field if_match, if_none_match, if_range, accept_encoding;
	int has_range;              /* one Range field that fitted in range[] */
	char range[HTTP_RANGE_MAX]; /* raw value for http_parse_range */
	int has_host;
	/* The host that selects the virtual host: the absolute-form target's
	 * if there was one (RFC 9112 3.2.2), else the Host field's; without
	 * the port and one final dot, case as sent. Points into the buffer
	 * parsed (valid as long as it is); host_len 0 for an empty Host. */
	const char *host;
	size_t host_len;
	/* Percent-decoded, dot-segments removed, repeated '/' merged, query
	 * dropped. Always starts with '/', NUL-terminated, contains no "."
	 * or ".." segment, no control byte, no backslash. */
	char path[HTTP_PATH_MAX];
};

/* Parses one request head from buf[0..len) (not NUL-terminated).
 *  > 0: bytes consumed (optional leading empty lines, request line,
 *       header lines and the blank line); *req is filled in. Any body
 *       (req->content_length bytes, or a chunked one for
 *       http_chunked_read) follows and is the caller's business.
 *    0: incomplete; call again with more bytes. No limit is exceeded.
 *  < 0: -status to answer before closing: 400, 413, 414, 431, 501, 505.
 *       req->method and req->version_minor are meaningful once the request
 *       line was read (HTTP_OTHER/1 before that); the rest is not.
 * Bare LF line endings are refused (400) everywhere, as is a CR not
 * followed by LF: one rule for every line, so no two parsers in a chain
 * can disagree on where a header ends. The request target may be in
 * origin-form, absolute-form ("http://host:port/path", whose host wins
 * over Host), or "*" for OPTIONS; Host must be there (HTTP/1.1), once,
 * and be a host with an optional port. Transfer-Encoding is taken only as
 * a lone "chunked" without Content-Length: a coding before it is 501;
 * chunked not last, twice, or next to Content-Length is 400. */
int http_parse_request(const char *buf, size_t len,
		       const struct http_limits *lim, struct http_request *req);

/* A chunked request body being read (RFC 9112 7.1), from one read to the
 * next: it may be split anywhere. Chunk extensions are skipped (their
 * line is bounded by HTTP_CHUNK_LINE_MAX), the trailer section is checked
 * like a header block and dropped (bounded by max_header_bytes and
 * max_headers). */
#define HTTP_CHUNK_LINE_MAX 4096
struct http_chunked {
	uint64_t left;  /* data bytes still to come in this chunk */
	uint64_t total; /* data bytes so far, against max_body */
	uint32_t line;  /* bytes of the line being read */
	uint32_t trailer_bytes;
	uint32_t trailers;
	uint8_t state;
};

void http_chunked_init(struct http_chunked *ck);

/* Reads the body on from buf[0..len) (the bytes after the head, then
 * whatever arrives next). *used: how many bytes belong to the body.
 *    1: the body is complete (last chunk and trailer section read); what
 *       follows buf + *used is the next request.
 *    0: every byte is the body's and it goes on; call again with more.
 *  < 0: -status to answer before closing: 400 (a size that is not hex,
 *       overflows 64 bits or is followed by anything but an extension,
 *       a missing CRLF, a malformed trailer field or extension), 413
 *       (data beyond max_body), 431 (trailer section beyond the limits).
 * The data itself is not kept: the server answers without it. A reader
 * with no size limit (a proxy reading a response: max_body UINT64_MAX)
 * still gets 413 when the chunk sizes add up past 2^64 - 1 bytes, a
 * body no server sends: one more malformed body. */
int http_chunked_read(struct http_chunked *ck, const char *buf, size_t len,
		      const struct http_limits *lim, size_t *used);

/* Normalises the path of an origin-form request target raw[0..rawlen)
 * into out (NUL-terminated): stops at '?', percent-decodes, merges
 * repeated '/', removes dot-segments (RFC 3986 5.2.4; decoded dots count
 * as dots). Returns the length of out, or
 *   -1: refused: not starting with '/', invalid %XY, a ".." above the root
 *       (in any spelling: "..", "%2e%2e", ".%2E", ...), an encoded '/',
 *       a backslash raw or encoded, a decoded NUL or other control byte,
 *       a raw byte that is not visible ASCII;
 *   -2: the result does not fit in outlen bytes. */
int http_normalize_path(const char *raw, size_t rawlen, char *out, size_t outlen);

/* Percent-encodes a normalised path (NUL-terminated) for use in a URL,
 * such as a Location field: every byte but the unreserved ones, the
 * sub-delims, ':', '@' and '/' (RFC 3986 3.3) becomes %XY, so that a
 * '?', '#', '%', space or non-ASCII byte of a file name stays part of
 * the path. Returns the length of out (NUL-terminated), or -1 if it does
 * not fit in outlen bytes; 3 * HTTP_PATH_MAX always suffices. */
int http_encode_path(const char *path, char *out, size_t outlen);

/* A Range value (NUL-terminated) against a representation of size bytes:
 *  1: one satisfiable range: *start..*end inclusive, within the file;
 *  0: ignore the field and send the whole file (malformed, not "bytes",
 *     several ranges, or an empty file);
 * -1: unsatisfiable (416). Numbers too big for 64 bits saturate, so a
 *     huge first position is unsatisfiable and a huge last one clamps. */
int http_parse_range(const char *spec, uint64_t size, uint64_t *start,
		     uint64_t *end);

/* Writes t as an IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT") with its
 * NUL; needs HTTP_DATE_LEN + 1 bytes. Returns HTTP_DATE_LEN, or 0 if out
 * is too small or t is before 1970 or after 9999. */
#define HTTP_DATE_LEN 29
size_t http_format_date(time_t t, char *out, size_t outlen);

/* Parses s[0..len) in IMF-fixdate, RFC 850 or asctime form (RFC 9110
 * 5.6.7); -1 if it is none of them or before 1970. */
time_t http_parse_date(const char *s, size_t len);

/* Reason phrase for a status code; a generic one per class if unknown. */
const char *http_reason(int status);

#endif
