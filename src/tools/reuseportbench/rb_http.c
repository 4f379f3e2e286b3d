/* rb_http.c - http load: a fixed GET per process, and the response
 * reader (see rb_http.h). The reader follows RFC 9112 section 6.3 for
 * the body length: 1xx/204/304 have none, then chunked, then
 * Content-Length, else the body runs to the close. */
#include "autoconfig.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "reuseportbench/rb_http.h"
#include "reuseportbench/rb_proto.h"

enum {
	ST_STATUS,
	ST_HEADER,
	ST_BODY,
	ST_BODY_EOF,
	ST_CHUNK_SIZE,
	ST_CHUNK_DATA,
	ST_CHUNK_END,
	ST_TRAILER,
	ST_DONE,
	ST_ERROR,
};

/* Chunk sizes and lengths above this are refused rather than risk
 * overflow; no test response comes near. */
#define RB_RESP_MAX_BODY (UINT64_C(1) << 60)

void rb_resp_init(struct rb_resp *r)
{
	memset(r, 0, sizeof(*r));
	r->state = ST_STATUS;
}

static enum rb_resp_rc fail(struct rb_resp *r, const char *why)
{
	r->state = ST_ERROR;
	r->error = why;
	return RB_RESP_ERROR;
}

static int is_head_state(int st)
{
	return st == ST_STATUS || st == ST_HEADER || st == ST_TRAILER;
}

/* Gathers a line: 1 when one is complete in r->line (CR stripped,
 * NUL-terminated), 0 when all of p was taken and more is needed. */
static int take_line(struct rb_resp *r, const uint8_t *p, size_t len, size_t *i)
{
	const uint8_t *nl = memchr(p + *i, '\n', len - *i);
	size_t n = (nl ? (size_t)(nl - p) : len) - *i;
	size_t room = RB_RESP_LINE - 1 - r->line_len;

	if (is_head_state(r->state))
		r->head_bytes += (uint32_t)(n + (nl != NULL));
	if (n > room) {
		r->line_long = 1;
		memcpy(r->line + r->line_len, p + *i, room);
		r->line_len += (uint16_t)room;
	} else {
		memcpy(r->line + r->line_len, p + *i, n);
		r->line_len += (uint16_t)n;
	}
	*i += n + (nl != NULL);
	if (!nl)
		return 0;
	if (r->line_len && r->line[r->line_len - 1] == '\r' && !r->line_long)
		r->line_len--;
	r->line[r->line_len] = '\0';
	return 1;
}

static void next_line(struct rb_resp *r)
{
	r->line_len = 0;
	r->line_long = 0;
}

static enum rb_resp_rc status_line(struct rb_resp *r)
{
	const char *l = r->line;

	/* "HTTP/1.1 200 OK": the reason phrase may be empty. */
	if (r->line_len < 12 || memcmp(l, "HTTP/1.", 7) != 0 ||
	    (l[7] != '0' && l[7] != '1') || l[8] != ' ' ||
	    !isdigit((unsigned char)l[9]) || !isdigit((unsigned char)l[10]) ||
	    !isdigit((unsigned char)l[11]) || (l[12] != ' ' && l[12] != '\0'))
		return fail(r, "bad status line");
	r->http10 = l[7] == '0';
	r->status = (uint16_t)((l[9] - '0') * 100 + (l[10] - '0') * 10 +
			       (l[11] - '0'));
	if (r->status < 100)
		return fail(r, "bad status code");
	r->state = ST_HEADER;
	return RB_RESP_MORE;
}

/* Does the comma-separated list v hold token t (any case)? */
static int has_token(const char *v, const char *t)
{
	size_t tl = strlen(t);

	while (*v) {
		while (*v == ' ' || *v == '\t' || *v == ',')
			v++;
		if (strncasecmp(v, t, tl) == 0 &&
		    (v[tl] == '\0' || v[tl] == ',' || v[tl] == ' ' ||
		     v[tl] == '\t' || v[tl] == ';'))
			return 1;
		while (*v && *v != ',')
			v++;
	}
	return 0;
}

/* Transfer-Encoding: chunked counts only as the last coding. */
static int ends_chunked(const char *v)
{
	size_t n = strlen(v);

	while (n && (v[n - 1] == ' ' || v[n - 1] == '\t'))
		n--;
	return n >= 7 && strncasecmp(v + n - 7, "chunked", 7) == 0 &&
	       (n == 7 || v[n - 8] == ',' || v[n - 8] == ' ' || v[n - 8] == '\t');
}

static enum rb_resp_rc content_length(struct rb_resp *r, const char *v)
{
	uint64_t n = 0;
	const char *d = v;

	if (!isdigit((unsigned char)*d))
		return fail(r, "bad Content-Length");
	for (; isdigit((unsigned char)*d); d++) {
		n = n * 10 + (uint64_t)(*d - '0');
		if (n > RB_RESP_MAX_BODY)
			return fail(r, "Content-Length too large");
	}
	while (*d == ' ' || *d == '\t')
		d++;
	if (*d)
		return fail(r, "bad Content-Length");
	if (r->have_len && r->content_length != n)
		return fail(r, "conflicting Content-Length");
	r->have_len = 1;
	r->content_length = n;
	return RB_RESP_MORE;
}

static enum rb_resp_rc end_of_head(struct rb_resp *r)
{
	if (r->status < 200) {
		/* Interim responses (100 Continue) are followed by the real one;
		 * 101 would switch protocols, which a GET never asked for. */
		if (r->status == 101)
			return fail(r, "unexpected 101 Switching Protocols");
		rb_resp_init(r);
		return RB_RESP_MORE;
	}
	if (r->http10 && !r->keep_alive)
		r->close = 1;
	if (r->status == 204 || r->status == 304) {
		r->state = ST_DONE;
		return RB_RESP_DONE;
	}
	if (r->chunked) {
		r->state = ST_CHUNK_SIZE;
		return RB_RESP_MORE;
	}
	if (r->have_len) {
		r->remaining = r->content_length;
		r->state = r->remaining ? ST_BODY : ST_DONE;
		return r->remaining ? RB_RESP_MORE : RB_RESP_DONE;
	}
	r->close = 1;
	r->state = ST_BODY_EOF;
	return RB_RESP_MORE;
}

static enum rb_resp_rc header_line(struct rb_resp *r)
{
	char *colon, *v, *end;
	int wanted;

	if (r->line_len == 0 && !r->line_long)
		return end_of_head(r);
	if (r->line[0] == ' ' || r->line[0] == '\t')
		return fail(r, "obsolete header line folding");
	colon = strchr(r->line, ':');
	if (!colon || colon == r->line)
		return fail(r, "bad header line");
	*colon = '\0';
	for (v = r->line; *v; v++)
		if (*v == ' ' || *v == '\t')
			return fail(r, "space in header name");
	v = colon + 1;
	while (*v == ' ' || *v == '\t')
		v++;
	end = v + strlen(v);
	while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
		*--end = '\0';
	wanted = !strcasecmp(r->line, "content-length") ||
		 !strcasecmp(r->line, "transfer-encoding") ||
		 !strcasecmp(r->line, "connection");
	if (!wanted)
		return RB_RESP_MORE;
	/* A cut value would be misread: refuse rather than guess. */
	if (r->line_long)
		return fail(r, "header too long");
	if (!strcasecmp(r->line, "content-length"))
		return content_length(r, v);
	if (!strcasecmp(r->line, "transfer-encoding")) {
		if (ends_chunked(v))
			r->chunked = 1;
		else
			r->close = 1; /* unknown coding: read to the close */
		return RB_RESP_MORE;
	}
	if (has_token(v, "close"))
		r->close = 1;
	if (has_token(v, "keep-alive"))
		r->keep_alive = 1;
	return RB_RESP_MORE;
}

static enum rb_resp_rc chunk_size_line(struct rb_resp *r)
{
	uint64_t n = 0;
	const char *d = r->line;
	int digits = 0;

	if (r->line_long)
		return fail(r, "chunk size line too long");
	for (; isxdigit((unsigned char)*d); d++, digits++) {
		n = n * 16 +
		    (uint64_t)(isdigit((unsigned char)*d) ?
				       *d - '0' :
				       (tolower((unsigned char)*d) - 'a' + 10));
		if (n > RB_RESP_MAX_BODY)
			return fail(r, "chunk too large");
	}
	while (*d == ' ' || *d == '\t')
		d++;
	if (!digits || (*d && *d != ';'))
		return fail(r, "bad chunk size");
	if (n == 0) {
		r->state = ST_TRAILER;
		r->head_bytes = 0;
		return RB_RESP_MORE;
	}
	r->remaining = n;
	r->state = ST_CHUNK_DATA;
	return RB_RESP_MORE;
}

static enum rb_resp_rc on_line(struct rb_resp *r)
{
	switch (r->state) {
	case ST_STATUS:
		return status_line(r);
	case ST_HEADER:
		return header_line(r);
	case ST_CHUNK_SIZE:
		return chunk_size_line(r);
	case ST_CHUNK_END:
		if (r->line_len || r->line_long)
			return fail(r, "no CRLF after chunk data");
		r->state = ST_CHUNK_SIZE;
		return RB_RESP_MORE;
	case ST_TRAILER:
		if (r->line_len || r->line_long)
			return RB_RESP_MORE; /* trailer fields are skipped */
		r->state = ST_DONE;
		return RB_RESP_DONE;
	default:
		return fail(r, "internal state");
	}
}

static void skip_body(struct rb_resp *r, size_t len, size_t *i)
{
	uint64_t n = len - *i;

	if (n > r->remaining)
		n = r->remaining;
	r->remaining -= n;
	*i += (size_t)n;
	if (r->remaining == 0)
		r->state = r->state == ST_CHUNK_DATA ? ST_CHUNK_END : ST_DONE;
}

enum rb_resp_rc rb_resp_feed(struct rb_resp *r, const uint8_t *p, size_t len,
			     size_t *used)
{
	enum rb_resp_rc rc = RB_RESP_MORE;
	size_t i = 0;

	while (i < len && rc == RB_RESP_MORE) {
		switch (r->state) {
		case ST_BODY:
		case ST_CHUNK_DATA:
			skip_body(r, len, &i);
			if (r->state == ST_DONE)
				rc = RB_RESP_DONE;
			break;
		case ST_BODY_EOF:
			i = len;
			break;
		case ST_DONE:
			rc = RB_RESP_DONE;
			break;
		case ST_ERROR:
			rc = RB_RESP_ERROR;
			break;
		default:
			if (!take_line(r, p, len, &i))
				break;
			if (is_head_state(r->state) &&
			    r->head_bytes > RB_RESP_HEAD_MAX)
				rc = fail(r, "response head too large");
			else
				rc = on_line(r);
			next_line(r);
			break;
		}
		if (rc == RB_RESP_MORE && is_head_state(r->state) &&
		    r->head_bytes > RB_RESP_HEAD_MAX)
			rc = fail(r, "response head too large");
	}
	*used = i;
	if (rc == RB_RESP_MORE && r->state == ST_ERROR)
		rc = RB_RESP_ERROR;
	return rc;
}

enum rb_resp_rc rb_resp_eof(struct rb_resp *r)
{
	if (r->state == ST_BODY_EOF) {
		r->state = ST_DONE;
		return RB_RESP_DONE;
	}
	if (r->state == ST_DONE)
		return RB_RESP_DONE;
	return fail(r, "connection closed before the response was complete");
}

/* ---- the http load protocol ---- */

#define HTTP_REQUEST \
	"GET %s HTTP/1.1\r\nHost: %s\r\n" \
	"User-Agent: reuseportbench/" PACKAGE_VERSION "\r\n%s\r\n"

struct http_ctx {
	int close_each;
	size_t len;
	char req[];
};

static void *http_setup(const struct rb_opts *o)
{
	const char *conn = o->close_each ? "Connection: close\r\n" : "";
	int n = snprintf(NULL, 0, HTTP_REQUEST, o->path, o->target.text, conn);
	struct http_ctx *c;

	if (n < 0)
		return NULL;
	c = malloc(sizeof(*c) + (size_t)n + 1);
	if (!c)
		return NULL;
	snprintf(c->req, (size_t)n + 1, HTTP_REQUEST, o->path, o->target.text,
		 conn);
	c->len = (size_t)n;
	c->close_each = o->close_each;
	return c;
}

static void http_teardown(void *ctx)
{
	free(ctx);
}

static void http_begin(void *ctx, void *st, uint64_t gidx, uint64_t seq,
		       const uint8_t **req, size_t *len)
{
	struct http_ctx *c = ctx;

	(void)gidx;
	(void)seq;
	rb_resp_init(st);
	*req = (const uint8_t *)c->req;
	*len = c->len;
}

static enum rb_feed http_feed(void *ctx, void *st, const uint8_t *p, size_t len,
			      size_t *used, int *close, struct rb_result *r)
{
	struct http_ctx *c = ctx;
	struct rb_resp *resp = st;

	switch (rb_resp_feed(resp, p, len, used)) {
	case RB_RESP_DONE:
		rb_result_status(r, resp->status);
		*close = resp->close || c->close_each;
		return RB_FEED_DONE;
	case RB_RESP_ERROR:
		r->protocol_errors++;
		*close = 1;
		return RB_FEED_ERROR;
	default:
		*close = 0;
		return RB_FEED_MORE;
	}
}

static enum rb_feed http_eof(void *ctx, void *st, struct rb_result *r)
{
	struct rb_resp *resp = st;

	(void)ctx;
	if (rb_resp_eof(resp) == RB_RESP_DONE) {
		rb_result_status(r, resp->status);
		return RB_FEED_DONE;
	}
	r->short_reads++;
	return RB_FEED_ERROR;
}

const struct rb_proto rb_proto_http = {
	.name = "http",
	.unit = "requests",
	.idempotent = 1, /* GET */
	.state_size = sizeof(struct rb_resp),
	.setup = http_setup,
	.teardown = http_teardown,
	.begin = http_begin,
	.feed = http_feed,
	.eof = http_eof,
};
