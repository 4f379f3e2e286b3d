/* http_fwd.h - the heads the reverse proxy writes: a client's request
 * head as sent upstream, an upstream's response head as sent to the
 * client. Pure: the caller's buffers in, bytes written out; no I/O, no
 * allocation. Both take heads the strict parsers accepted, so they need
 * not re-check what those already refused. */
#ifndef RP_HTTP_FWD_H
#define RP_HTTP_FWD_H

#include <stddef.h>
#include <sys/socket.h>

#include "http_parser.h"
#include "http_resp.h"

/* How much longer than the head received a head written here can be:
 * for a request, X-Forwarded-For, Forwarded (an IPv6 address each),
 * X-Forwarded-Proto, Connection and the Host of an absolute-form target
 * (which the target loses); for a response, a Connection line and the
 * SP of an empty reason. */
#define HTTP_FWD_REQUEST_GROWTH 200
#define HTTP_FWD_RESPONSE_GROWTH 25

/* Writes to out the request head to send upstream for a request whose
 * head (as received and accepted by http_parse_request, CRLF line ends)
 * is head[0..headlen): the request line with the target as received and
 * version HTTP/1.1 (HTTP/1.0 when the client spoke 1.0, so that the
 * upstream never chunks what a 1.0 client cannot read), every field line
 * except the hop-by-hop ones (Connection and every field it names,
 * Keep-Alive, TE, Trailer, Upgrade, Proxy-Connection and any Proxy-*),
 * X-Forwarded-For with the client's address appended to the values
 * received (one field line), Forwarded with for=ADDR appended (IPv6
 * quoted and bracketed per RFC 7239), X-Forwarded-Proto: http, and for a
 * 1.0 client "Connection: keep-alive". Host is kept as sent; an
 * absolute-form target is sent in origin-form with Host set from it.
 * The head written is at most HTTP_FWD_REQUEST_GROWTH bytes longer than
 * headlen. Returns the length, or -1 if outlen is too small. */
int http_fwd_request(const char *head, size_t headlen,
		     const struct http_request *req,
		     const struct sockaddr *client, char *out, size_t outlen);

/* Writes the response head to send to the client for head[0..headlen)
 * (accepted by http_parse_response): the status line as HTTP/1.1 with
 * the status and reason received, every field line except the hop-by-hop
 * ones (as above), then "Connection: close" when client_keep_alive is 0,
 * or "Connection: keep-alive" for a 1.0 client that keeps it. A
 * close-delimited (HTTP_RESP_CLOSE) answer always gets
 * "Connection: close". An interim (1xx) head gets no Connection field:
 * the final head decides the connection. Content-Length,
 * Transfer-Encoding (and Host in a request) stay even when Connection
 * names them, as dropping them would re-frame the body. The head grows
 * by at most HTTP_FWD_RESPONSE_GROWTH bytes. Returns the length or -1. */
int http_fwd_response(const char *head, size_t headlen,
		      const struct http_response *resp, int client_version_minor,
		      int client_keep_alive, char *out, size_t outlen);

#endif
