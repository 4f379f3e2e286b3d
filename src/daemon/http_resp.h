/* http_resp.h - strict parser for the head of an upstream's HTTP/1.x
 * response, for the reverse proxy. Pure like http_parser.h: no I/O, no
 * allocation, safe on any bytes an upstream sends. It is strict because
 * the proxy re-frames what it passes on: a head two parsers could read
 * differently (response smuggling) is refused, never forwarded. */
#ifndef RP_HTTP_RESP_H
#define RP_HTTP_RESP_H

#include <stddef.h>
#include <stdint.h>

#include "http_parser.h"

/* How the body after the head is delimited (RFC 9112 6.3). */
enum http_resp_framing {
	HTTP_RESP_NO_BODY, /* HEAD request, 1xx, 204, 304: the head is all */
	HTTP_RESP_LENGTH,  /* Content-Length: content_length bytes follow */
	HTTP_RESP_CHUNKED, /* Transfer-Encoding ends in chunked: use
			      http_chunked_read with no size limit to find
			      its end */
	HTTP_RESP_CLOSE    /* neither: the body ends when the upstream
			      closes */
};

struct http_response {
	int status;        /* 100..599 */
	int version_minor; /* HTTP/1.0 or 1.1 */
	/* The upstream connection may carry another request after this
	 * response (version default, then Connection; 0 whenever framing
	 * is HTTP_RESP_CLOSE). */
	int keep_alive;
	enum http_resp_framing framing;
	uint64_t content_length; /* HTTP_RESP_LENGTH */
	/* A 1xx other than 101: a final head follows on the same
	 * connection. */
	int interim;
};

/* Parses one response head from buf[0..len) (not NUL-terminated).
 * head_method: the method of the request it answers (HEAD has no body).
 *  > 0: bytes consumed (status line, fields, blank line); *resp filled in.
 *    0: incomplete, no limit exceeded yet.
 *   -1: malformed (the proxy answers 502 and closes the upstream
 *       connection, never passes any of it on).
 *   -2: a limit exceeded (status line > lim->max_request_line, head >
 *       lim->max_header_bytes, > lim->max_headers fields): also 502.
 * Refused as malformed (RFC 9112 sections 4, 5, 6.1, 6.3, 7.1): a line
 * not ended by CRLF (bare LF, lone CR); a status line other than
 * "HTTP/1.0" or "HTTP/1.1", SP, three digits 100..599, then optionally SP
 * and a reason of visible ASCII, SP, HTAB or obs-text; a field name that
 * is not a token or has whitespace before its colon; obs-fold; a control
 * byte in a value; a Content-Length that is not 1*DIGIT or overflows, or
 * that appears on two lines (even equal); Content-Length with
 * Transfer-Encoding; a Transfer-Encoding whose last coding is not
 * chunked, or with chunked twice or not last (RFC 9112 would read such a
 * body to the close; a proxy refuses it), or in an HTTP/1.0 response
 * (faulty framing, RFC 9112 6.1); 101 Switching Protocols, since
 * nothing is upgraded through the proxy; a 1xx or 204 carrying
 * Content-Length or Transfer-Encoding. 1xx, 204, 304 and answers to HEAD
 * have no body whatever their other fields say. */
int http_parse_response(const char *buf, size_t len, const struct http_limits *lim,
			enum http_method head_method, struct http_response *resp);

#endif
