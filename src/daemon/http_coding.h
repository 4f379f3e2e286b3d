/* http_coding.h - content codings a client accepts (RFC 9110 12.5.3),
 * for choosing among precompressed copies of a file: which of br and
 * gzip the Accept-Encoding field allows, best first. Pure: bytes in, a
 * choice out, safe on anything a client sends. */
#ifndef RP_HTTP_CODING_H
#define RP_HTTP_CODING_H

#include "http_parser.h"

enum http_coding {
	HTTP_CODING_IDENTITY,
	HTTP_CODING_GZIP,
	HTTP_CODING_BR,
};

/* The codings of ae (an Accept-Encoding field, absent or not) that a
 * precompressed copy may be sent in, best first, into out; returns how
 * many (0..2). A coding is accepted with a q-value above 0, named or
 * through "*"; x-gzip is gzip. The higher q-value comes first, br on a
 * tie. A member with a malformed weight refuses its coding; no field,
 * an empty one or a repeated one accepts nothing: the file is then sent
 * as it is (a client that sends no Accept-Encoding may not decode). */
int http_codings_accepted(const struct http_field *ae, enum http_coding out[2]);

/* "br", "gzip": the Content-Encoding value; NULL for identity. */
const char *http_coding_name(enum http_coding c);

#endif
