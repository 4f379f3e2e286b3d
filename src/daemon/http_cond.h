/* http_cond.h - conditional requests (RFC 9110 section 13): a file's
 * entity-tag, and the request's preconditions evaluated against the
 * representation chosen to answer it, in the order of 13.2.2. Pure: no
 * I/O, no allocation, no clock (the caller says what time it is), so it
 * is tested on its own and safe on any bytes a client sends. */
#ifndef RP_HTTP_COND_H
#define RP_HTTP_COND_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "http_parser.h"

/* Room for an entity-tag from http_etag, quotes and NUL included. */
#define HTTP_ETAG_MAX 64

/* What the representation being answered with is validated by. */
struct http_validators {
	const char *etag; /* strong, quotes included; NULL: none */
	size_t etag_len;
	time_t last_modified; /* seconds; its Last-Modified field */
};

/* What the preconditions call for. */
enum http_cond {
	HTTP_COND_RANGE,        /* go on: a Range, if any, applies */
	HTTP_COND_FULL,         /* go on, ignoring Range: If-Range failed */
	HTTP_COND_NOT_MODIFIED, /* 304 */
	HTTP_COND_FAILED,       /* 412 */
};

/* Evaluates req's preconditions against v, for a request whose answer
 * without them would be a 2xx (RFC 9110 13.2.1: else they are ignored).
 * now: the current second; a Last-Modified date is a strong validator
 * for If-Range only once its second is over (8.8.2.2).
 *
 * A repeated If-Match, If-None-Match or If-Range is not combined:
 * If-Match then fails, the others are ignored. Both err on the side of
 * sending the whole current representation. */
enum http_cond http_cond_evaluate(const struct http_request *req,
				  const struct http_validators *v, time_t now);

/* Writes the strong entity-tag of a file version, quotes included, into
 * out (HTTP_ETAG_MAX bytes): from its inode, size and modification time
 * in nanoseconds, and tag, which tells apart representations of one
 * file (a content coding: "br", "gz"; "" for the file as it is).
 * Returns its length. */
size_t http_etag(char *out, uint64_t ino, uint64_t size,
		 const struct timespec *mtime, const char *tag);

#endif
