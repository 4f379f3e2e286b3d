/* http_fwd.c - the heads the reverse proxy writes (http_fwd.h).
 *
 * Both writers copy field lines as received, byte for byte, and leave
 * out the hop-by-hop ones: what a field means is the ends' business, what
 * a connection means is each hop's. They never write past outlen and
 * never trust the head beyond what its parser already checked: the lines
 * are walked with the same lexer (http_lex.h). */
#include "autoconfig.h"

#include <arpa/inet.h>
#include <limits.h>
#include <netinet/in.h>
#include <string.h>

#include "http_fwd.h"
#include "http_lex.h"

/* out[0..cap), filled from the start; once something did not fit, the
 * rest is dropped and the whole is refused. */
struct fwd_buf {
	char *p;
	size_t len, cap;
	int over;
};

static void put(struct fwd_buf *b, const void *s, size_t n)
{
	if (b->over || n > b->cap - b->len) {
		b->over = 1;
		return;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
}

static void put_str(struct fwd_buf *b, const char *s)
{
	put(b, s, strlen(s));
}

static int fwd_result(const struct fwd_buf *b)
{
	return b->over || b->len > INT_MAX ? -1 : (int)b->len;
}

/* --- which fields stop at this hop --- */

/* What a field is to the proxy. */
enum fwd_kind {
	FK_END_TO_END, /* passed on as received */
	/* RFC 9110 7.6.1: Connection and the fields it names are for one
	 * connection only, and so are these, whether named or not. */
	FK_CONNECTION,
	FK_HOP,
	/* The fields that frame the message and say where it goes stay,
	 * even if Connection names them: the proxy relays the body as it
	 * is framed, so dropping Content-Length or Transfer-Encoding would
	 * make the next hop frame it differently (a smuggling vector), and
	 * dropping Host would leave an HTTP/1.1 request without one. */
	FK_FRAMING,
	FK_HOST,
	/* Written by the proxy itself in a request, from the client's. */
	FK_XFF,
	FK_FORWARDED,
	FK_XFP
};

static enum fwd_kind fwd_kind_of(const struct http_lex_field *f)
{
	static const struct {
		const char *name;
		size_t len;
		enum fwd_kind kind;
	} known[] = {
		{ "connection", 10, FK_CONNECTION },
		{ "keep-alive", 10, FK_HOP },
		{ "te", 2, FK_HOP },
		{ "trailer", 7, FK_HOP },
		{ "upgrade", 7, FK_HOP },
		{ "content-length", 14, FK_FRAMING },
		{ "transfer-encoding", 17, FK_FRAMING },
		{ "host", 4, FK_HOST },
		{ "x-forwarded-for", 15, FK_XFF },
		{ "forwarded", 9, FK_FORWARDED },
		{ "x-forwarded-proto", 17, FK_XFP },
	};
	size_t k;

	if (f->nl >= 6 && http_lex_ci_eq(f->name, 6, "proxy-"))
		return FK_HOP; /* Proxy-Connection, Proxy-Authorization, ... */
	for (k = 0; k < sizeof(known) / sizeof(known[0]); k++)
		if (known[k].len == f->nl &&
		    http_lex_ci_eq(f->name, f->nl, known[k].name))
			return known[k].kind;
	return FK_END_TO_END;
}

/* The field block of a head being forwarded: head[start..len). */
struct fwd_head {
	const char *p;
	size_t len, start;
	/* A Connection field names something other than close or
	 * keep-alive: only then is a field looked up in it, so that the
	 * usual head is walked a fixed number of times. */
	int options;
	/* X-Forwarded-For, Forwarded lines received: their values are
	 * gathered in another walk only when there are some. */
	unsigned xff, forwarded;
};

static void fwd_fields_begin(const struct fwd_head *h, struct http_lex_block *b)
{
	http_lex_block_init(b, (const unsigned char *)h->p, h->len, h->start,
			    h->len, UINT_MAX);
}

/* Whether the Connection field c names f. */
static int names_field(const struct http_lex_field *c,
		       const struct http_lex_field *f)
{
	size_t pos = 0, a, e;

	while (http_lex_list_next(c->v, c->vl, &pos, &a, &e))
		if (http_lex_ci_same(c->v + a, e - a, f->name, f->nl))
			return 1;
	return 0;
}

/* Whether the Connection field c names anything but close and
 * keep-alive, the options that name no field. */
static int names_options(const struct http_lex_field *c)
{
	size_t pos = 0, a, e;

	while (http_lex_list_next(c->v, c->vl, &pos, &a, &e))
		if (!http_lex_ci_eq(c->v + a, e - a, "close") &&
		    !http_lex_ci_eq(c->v + a, e - a, "keep-alive"))
			return 1;
	return 0;
}

/* Whether a Connection field of the head names f. */
static int named_by_connection(const struct fwd_head *h,
			       const struct http_lex_field *f)
{
	struct http_lex_block b;
	struct http_lex_field c;

	fwd_fields_begin(h, &b);
	while (http_lex_block_next(&b, &c) == HTTP_LEX_FIELD)
		if (http_lex_ci_eq(c.name, c.nl, "connection") &&
		    names_field(&c, f))
			return 1;
	return 0;
}

/* One walk over the head notes what the others need to look for. */
static void fwd_head_init(struct fwd_head *h, const char *head, size_t len,
			  size_t start)
{
	struct http_lex_block b;
	struct http_lex_field f;

	h->p = head;
	h->len = len;
	h->start = start;
	h->options = 0;
	h->xff = h->forwarded = 0;
	fwd_fields_begin(h, &b);
	while (http_lex_block_next(&b, &f) == HTTP_LEX_FIELD) {
		enum fwd_kind k = fwd_kind_of(&f);

		h->xff += k == FK_XFF;
		h->forwarded += k == FK_FORWARDED;
		if (k == FK_CONNECTION)
			h->options |= names_options(&f);
	}
}

static int stops_here(const struct fwd_head *h, const struct http_lex_field *f,
		      enum fwd_kind k)
{
	if (k == FK_CONNECTION || k == FK_HOP)
		return 1;
	return h->options && k != FK_FRAMING && k != FK_HOST &&
	       named_by_connection(h, f);
}

/* The request's fields the proxy writes itself. */
enum { REPLACE_NONE, REPLACE_FORWARDING, REPLACE_HOST };

static int replaced(enum fwd_kind k, int what)
{
	if (what == REPLACE_NONE)
		return 0;
	if (k == FK_XFF || k == FK_FORWARDED || k == FK_XFP)
		return 1;
	return what == REPLACE_HOST && k == FK_HOST;
}

/* Copies the field lines that go on to the next hop, each as
 * received. */
static void put_fields(struct fwd_buf *out, const struct fwd_head *h, int what)
{
	struct http_lex_block b;
	struct http_lex_field f;
	size_t line;

	fwd_fields_begin(h, &b);
	for (line = b.pos; http_lex_block_next(&b, &f) == HTTP_LEX_FIELD;
	     line = b.pos) {
		enum fwd_kind k = fwd_kind_of(&f);

		if (!stops_here(h, &f, k) && !replaced(k, what))
			put(out, h->p + line, b.pos - line);
	}
}

/* The values of every received field of kind k, joined with ", " as
 * one list (RFC 9110 5.3); empty ones are left out, and all of them if
 * Connection names the field. Returns how many. */
static unsigned put_values(struct fwd_buf *out, const struct fwd_head *h,
			   enum fwd_kind k)
{
	struct http_lex_block b;
	struct http_lex_field f;
	unsigned n = 0;

	fwd_fields_begin(h, &b);
	while (http_lex_block_next(&b, &f) == HTTP_LEX_FIELD) {
		if (fwd_kind_of(&f) != k || f.vl == 0 || stops_here(h, &f, k))
			continue;
		if (n++)
			put(out, ", ", 2);
		put(out, f.v, f.vl);
	}
	return n;
}

/* --- the client's address --- */

/* The client's address as text: *v6 set for IPv6 (an IPv4-mapped one is
 * written as the IPv4 address it is); "unknown" (RFC 7239 6.2) for a
 * family without one. */
static void client_addr(const struct sockaddr *sa, char *out, size_t outlen,
			int *v6)
{
	const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
	const void *a = NULL;
	int af = AF_INET;

	*v6 = 0;
	if (sa && sa->sa_family == AF_INET) {
		a = &((const struct sockaddr_in *)sa)->sin_addr;
	} else if (sa && sa->sa_family == AF_INET6 &&
		   IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
		a = &s6->sin6_addr.s6_addr[12];
	} else if (sa && sa->sa_family == AF_INET6) {
		a = &s6->sin6_addr;
		af = AF_INET6;
		*v6 = 1;
	}
	if (!a || !inet_ntop(af, a, out, (socklen_t)outlen)) {
		*v6 = 0;
		strcpy(out, "unknown");
	}
}

static void put_forwarding(struct fwd_buf *out, const struct fwd_head *h,
			   const struct sockaddr *client)
{
	char addr[INET6_ADDRSTRLEN];
	int v6;

	client_addr(client, addr, sizeof(addr), &v6);
	put_str(out, "X-Forwarded-For: ");
	if (h->xff && put_values(out, h, FK_XFF))
		put(out, ", ", 2);
	put_str(out, addr);
	put_str(out, "\r\nForwarded: ");
	if (h->forwarded && put_values(out, h, FK_FORWARDED))
		put(out, ", ", 2);
	/* An IPv6 node is a quoted string in brackets (RFC 7239 6). */
	put_str(out, v6 ? "for=\"[" : "for=");
	put_str(out, addr);
	put_str(out, v6 ? "]\"\r\n" : "\r\n");
	put_str(out, "X-Forwarded-Proto: http\r\n");
}

/* --- the request --- */

/* Writes the absolute-form target t[0..n) ("http://authority/path?q") in
 * origin-form, and its authority as Host. The parser has checked the
 * scheme and authority. */
static void put_origin_form(struct fwd_buf *out, const char *t, size_t n,
			    const char **host, size_t *hostlen)
{
	const char *a = (const char *)memchr(t, ':', n) + 3, *e = a;

	while (e < t + n && *e != '/' && *e != '?')
		e++;
	if (e == t + n || *e == '?')
		put(out, "/", 1);
	put(out, e, (size_t)(t + n - e));
	*host = a;
	*hostlen = (size_t)(e - a);
}

/* The request line of head[0..headlen) (after any empty lines): where
 * it starts, and its target t[0..tn). Returns the offset of the first
 * field line, or 0 if this is no head the parser accepted. */
static size_t request_line(const char *head, size_t headlen, const char **s,
			   const char **t, size_t *tn)
{
	const char *end = head + headlen, *sp1, *sp2, *lf;

	for (*s = head; *s + 1 < end && **s == '\r' && (*s)[1] == '\n'; *s += 2)
		;
	sp1 = memchr(*s, ' ', (size_t)(end - *s));
	sp2 = sp1 ? memchr(sp1 + 1, ' ', (size_t)(end - sp1 - 1)) : NULL;
	lf = sp2 ? memchr(sp2, '\n', (size_t)(end - sp2)) : NULL;
	if (!lf)
		return 0;
	*t = sp1 + 1;
	*tn = (size_t)(sp2 - *t);
	return (size_t)(lf + 1 - head);
}

int http_fwd_request(const char *head, size_t headlen,
		     const struct http_request *req,
		     const struct sockaddr *client, char *out, size_t outlen)
{
	struct fwd_buf b = { out, 0, outlen, 0 };
	const char *s, *t, *host = NULL;
	size_t tn, hostlen = 0, start = request_line(head, headlen, &s, &t, &tn);
	struct fwd_head h;

	if (start == 0)
		return -1;
	put(&b, s, (size_t)(t - s));
	if (req->absolute_form)
		put_origin_form(&b, t, tn, &host, &hostlen);
	else
		put(&b, t, tn);
	put_str(&b, req->version_minor == 0 ? " HTTP/1.0\r\n" : " HTTP/1.1\r\n");
	if (host) {
		put_str(&b, "Host: ");
		put(&b, host, hostlen);
		put(&b, "\r\n", 2);
	}
	fwd_head_init(&h, head, headlen, start);
	put_fields(&b, &h, host ? REPLACE_HOST : REPLACE_FORWARDING);
	put_forwarding(&b, &h, client);
	/* A 1.0 request is persistent only when it says so (RFC 9112 9.3),
	 * and the proxy wants its upstream connection back for the pool. */
	if (req->version_minor == 0)
		put_str(&b, "Connection: keep-alive\r\n");
	put(&b, "\r\n", 2);
	return fwd_result(&b);
}

/* --- the response --- */

static void put_connection(struct fwd_buf *b, const struct http_response *resp,
			   int client_version_minor, int client_keep_alive)
{
	/* A close-delimited body ends the client's connection too: there
	 * is no other way to tell the client where it ends. */
	if (!client_keep_alive || resp->framing == HTTP_RESP_CLOSE)
		put_str(b, "Connection: close\r\n");
	else if (client_version_minor == 0)
		put_str(b, "Connection: keep-alive\r\n");
}

int http_fwd_response(const char *head, size_t headlen,
		      const struct http_response *resp, int client_version_minor,
		      int client_keep_alive, char *out, size_t outlen)
{
	struct fwd_buf b = { out, 0, outlen, 0 };
	const char *cr = headlen > 12 ? memchr(head, '\r', headlen) : NULL;
	struct fwd_head h;
	size_t start;

	/* "HTTP/1.x 200" then " reason" or nothing, as the parser saw it. */
	if (!cr || cr < head + 12 || cr + 1 >= head + headlen)
		return -1;
	start = (size_t)(cr - head) + 2;
	put_str(&b, "HTTP/1.1 ");
	put(&b, head + 9, 3);
	put(&b, " ", 1);
	if (cr > head + 13)
		put(&b, head + 13, (size_t)(cr - head - 13));
	put(&b, "\r\n", 2);
	fwd_head_init(&h, head, headlen, start);
	put_fields(&b, &h, REPLACE_NONE);
	/* An interim head says nothing about the connection: the final
	 * one does. */
	if (!resp->interim)
		put_connection(&b, resp, client_version_minor, client_keep_alive);
	put(&b, "\r\n", 2);
	return fwd_result(&b);
}
