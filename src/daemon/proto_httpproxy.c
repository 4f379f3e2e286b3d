/* proto_httpproxy.c - the HTTP/1.1 reverse proxy (protocol http_proxy),
 * its clients' side: each request a client sends goes to an upstream
 * server over a pooled or new connection (httpproxy_up.c), and its
 * response comes back. Prefix hp_; the shared state is httpproxy.h's.
 *
 * One request at a time per client: pipelined ones wait in its input and
 * are answered in order. Bodies are streamed both ways, never held whole:
 * a side is read (at most proxy_buffer bytes) only while the other has
 * nothing queued, so an exchange holds at most proxy_buffer bytes per
 * direction. Heads are rewritten by http_fwd.h; responses are parsed by
 * http_resp.h before a byte of them is passed on. The proxy's own answers
 * (400, 417, 502, 503, 504) are written here. */
#include "autoconfig.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "health.h"
#include "http_fwd.h"
#include "httpproxy.h"
#include "util.h"

_Static_assert(CFG_MAX_UPSTREAMS <= STATS_NUPSTREAMS,
	       "a counter for every upstream server");

static void hp_fini(void *p)
{
	struct hp_ctx *t = p;

	if (t->loop)
		loop_timer_disarm(t->loop, &t->state_timer);
	hc_free(t->hc);
	free(t->spare);
	free(t->head_out);
	free(t);
}

static int hp_init(const struct config *cfg, struct stats_counters *stats,
		   void **ctx, char *err, size_t errlen)
{
	struct hp_ctx *t = calloc(1, sizeof(*t));

	(void)err;
	(void)errlen;
	if (!t)
		return -1;
	t->cfg = cfg;
	t->stats = stats;
	http_limits_default(&t->lim);
	t->lim.max_request_line = cfg->http_max_request_line;
	t->lim.max_header_bytes = cfg->http_max_header_bytes;
	t->lim.max_headers = cfg->http_max_headers;
	t->lim.max_body = cfg->http_max_body;
	t->up_lim = t->lim;
	t->up_lim.max_body = UINT64_MAX;
	up_table_init(&t->up, cfg);
	up_table_count_in(&t->up, stats);
	loop_timer_init(&t->state_timer, hp_state_timer);
	for (int i = 0; i < CFG_MAX_UPSTREAMS; i++)
		upp_init(&t->pools[i], (unsigned)cfg->proxy_pool);
	/* A response head as rewritten, and room behind it for the body
	 * bytes that came with it (one read: at most proxy_buffer), so that
	 * both leave in one send - one segment, one wake-up of the client. */
	t->head_out_len = cfg->http_max_header_bytes + cfg->http_max_request_line +
			  HTTP_FWD_RESPONSE_GROWTH + cfg->proxy_buffer;
	t->head_out = malloc(t->head_out_len);
	if (!t->head_out || (cfg->health_check != CFG_HEALTH_OFF &&
			     !(t->hc = hc_new(cfg, &t->up, stats)))) {
		free(t->head_out);
		free(t);
		return -1;
	}
	*ctx = t;
	return 0;
}

static struct hp_client *hp_client_get(struct conn *c)
{
	struct hp_ctx *t = ctx_of(c);
	struct hp_client *hc = conn_data(c);

	if (hc)
		return hc;
	if (t->spare) {
		hc = t->spare;
		t->spare = NULL;
		memset(hc, 0, sizeof(*hc));
	} else if (!(hc = calloc(1, sizeof(*hc)))) {
		return NULL;
	}
	hc->c = c;
	hc->avoid = -1;
	hc->server = -1;
	conn_set_data(c, hc);
	return hc;
}

/* What one exchange kept: gone once it is answered. */
static void hp_exchange_free(struct hp_client *hc)
{
	free(hc->fwd);
	hc->fwd = NULL;
	hc->fwdlen = 0;
	free(hc->rh);
	hc->rh = NULL;
	hc->rhlen = hc->rhcap = 0;
}

static void hp_client_free(struct hp_client *hc)
{
	struct hp_ctx *t = ctx_of(hc->c);

	conn_set_data(hc->c, NULL);
	hp_exchange_free(hc);
	free(hc->in);
	if (t->spare)
		free(hc);
	else
		t->spare = hc;
}

/* Appends n bytes to a growing buffer; 0, or -1 when out of memory. */
int hp_append(char **b, uint32_t *len, uint32_t *cap, const char *d, size_t n)
{
	if (n == 0)
		return 0; /* nothing, and *b may be NULL */
	if ((uint64_t)*len + n > UINT32_MAX / 2)
		return -1;
	if (*len + n > *cap) {
		uint32_t want = (uint32_t)(*len + n);
		char *p = realloc(*b, want);

		if (!p)
			return -1;
		*b = p;
		*cap = want;
	}
	memcpy(*b + *len, d, n);
	*len += (uint32_t)n;
	return 0;
}

static void consume_in(struct hp_client *hc, size_t n)
{
	memmove(hc->in, hc->in + n, hc->inlen - n);
	hc->inlen -= (uint32_t)n;
}

/* Duplex connections both (conn.h): the proxy decides when each side is
 * read. A client is read while a head arrives, and while its body goes
 * up as fast as the upstream takes it; an upstream is read while its
 * client takes what it sent, and while it idles in the pool (to see it
 * close). A taken-over client was not opened here: made duplex on its
 * first read.
 *
 * Stopping is lazy: a side that is not to be read stays registered for
 * input and is paused only when input comes while it is not wanted
 * (hp_readable). Between a request and its response a client sends
 * nothing, as a rule, so the two epoll_ctl calls per request that an
 * eager pause and resume cost are saved; a pipelining client, or a body
 * held back by a slow upstream, pays them as before. */
int hp_set_reading(struct conn *c, int on)
{
	return on && conn_read_paused(c) ? conn_pause_read(c, 0) : 0;
}

/* Whether hc's client is to be read now. */
static int hp_client_wants(const struct hp_client *hc)
{
	switch (hc->state) {
	case HP_IDLE:
	case HP_LINGER:
		return 1;
	case HP_EXCHANGE:
		return !hc->req_done && hc->up && !conn_has_output(hc->up->c);
	default:
		return 0;
	}
}

static void hp_client_reads(struct hp_client *hc)
{
	hp_set_reading(hc->c, hp_client_wants(hc));
}

/* Whether u, an upstream connection, is to be read now: in the pool (to
 * see it close), or while its client has taken what it sent. */
static int hp_up_wants(const struct hp_up *u)
{
	return !u->cl || !conn_has_output(u->cl->c);
}

void hp_up_reads(struct hp_client *hc)
{
	if (hc->up)
		hp_set_reading(hc->up->c, hp_up_wants(hc->up));
}

/* To the client: 0, or -1 when it failed and the client is closed (its
 * state, and the exchange's, are gone). */
int hp_to_client(struct hp_client *hc, const void *d, size_t n)
{
	return conn_send(hc->c, d, n);
}

/* To the upstream: 0, or -1 when it failed, the upstream is closed and
 * the exchange went on without it (a re-send, a 502, or the client
 * closed): the caller returns at once. */
int hp_to_up(struct hp_client *hc, const void *d, size_t n)
{
	struct hp_up *u = hc->up;

	u->sending = 1;
	if (conn_send(u->c, d, n) == 0) {
		u->sending = 0;
		return 0;
	}
	/* u is freed: hp_up_close saw sending, unlinked it and left the
	 * rest to here. */
	hp_up_lost(hc);
	return -1;
}

void hp_count_answer(struct hp_ctx *t, int status)
{
	t->stats->requests++;
	if (status >= 100 && status < 600)
		t->stats->responses[status / 100 - 1]++;
}

/* Writes status as the answer to hc's request; the request's upstream,
 * if any, is closed. The connection is kept only when the request was
 * read whole and both ends want it. 0, or -1 when the client closed. */
int hp_answer(struct hp_client *hc, int status)
{
	struct hp_ctx *t = ctx_of(hc->c);
	const char *reason = http_reason(status);
	int last = hc->close_after || !hc->keep_alive || t->draining ||
		   (hc->has_body && !hc->req_done) || hc->state == HP_IDLE;
	char head[512], body[80], *p = head;
	size_t bl = (size_t)snprintf(body, sizeof(body), "%d %s\n", status,
				     reason);

	hp_drop_up(hc);
	if (status == 502)
		t->stats->http_proxy_502++;
	else if (status == 503)
		t->stats->http_proxy_503++;
	else if (status == 504)
		t->stats->http_proxy_504++;
	hp_count_answer(t, status);
	p = UTIL_PUT_LIT(p, "HTTP/1.1 ");
	p = util_put_u64(p, (uint64_t)status);
	*p++ = ' ';
	p = util_put(p, reason, strlen(reason));
	p = UTIL_PUT_LIT(p, "\r\nServer: reuseportd/" PACKAGE_VERSION
			    "\r\nContent-Type: text/plain; charset=utf-8"
			    "\r\nContent-Length: ");
	p = util_put_u64(p, bl);
	p = UTIL_PUT_LIT(p, "\r\n");
	if (last)
		p = UTIL_PUT_LIT(p, "Connection: close\r\n");
	else if (hc->version_minor == 0)
		p = UTIL_PUT_LIT(p, "Connection: keep-alive\r\n");
	p = UTIL_PUT_LIT(p, "\r\n");
	if (hc->method != HTTP_HEAD)
		p = util_put(p, body, bl);
	hc->close_after = (uint8_t)last;
	hc->state = HP_ANSWERED;
	hc->head_sent = 1;
	if (hp_to_client(hc, head, (size_t)(p - head)) < 0)
		return -1;
	if (!hc->processing && !conn_has_output(hc->c))
		hp_process(hc);
	return 0;
}

/* The error a parsed request gets from the proxy itself, or 0: CONNECT
 * would need a tunnel, which the proxy does not make; an expectation
 * other than 100-continue cannot be met (RFC 9110 10.1.1). */
static int hp_refusal(const struct http_request *req)
{
	if (req->expect == HTTP_EXPECT_OTHER)
		return 417;
	if (req->method == HTTP_CONNECT)
		return 501;
	return 0;
}

int hp_idempotent(int m)
{
	return m == HTTP_GET || m == HTTP_HEAD || m == HTTP_OPTIONS ||
	       m == HTTP_PUT || m == HTTP_DELETE || m == HTTP_TRACE;
}

/* The head at hc->in (r bytes) is parsed into req: the head to send
 * upstream is written, the head leaves the input, and its upstream is
 * found. */
static void hp_begin(struct hp_client *hc, const struct http_request *req,
		     size_t r)
{
	socklen_t plen = sizeof(hc->peer);
	size_t cap = r + HTTP_FWD_REQUEST_GROWTH;
	int n;

	hc->method = (uint8_t)req->method;
	hc->version_minor = (uint8_t)req->version_minor;
	hc->keep_alive = (uint8_t)req->keep_alive;
	hc->chunked = (uint8_t)req->chunked;
	hc->body_left = req->chunked ? 0 : req->content_length;
	hc->has_body = req->chunked || req->content_length > 0;
	hc->req_done = 0;
	hc->tries = hc->resent = hc->reused = 0;
	hc->avoid = hc->server = -1;
	hc->up_spoke = hc->head_sent = hc->junk = 0;
	hc->resp_keep = 0;
	if (req->chunked)
		http_chunked_init(&hc->ck);
	/* The client's address, for X-Forwarded-For and balance hash. */
	memset(&hc->peer, 0, sizeof(hc->peer));
	if (getpeername(conn_fd(hc->c), &hc->peer.sa, &plen) < 0)
		hc->peer.sa.sa_family = AF_UNSPEC;
	hc->fwd = malloc(cap);
	n = hc->fwd ?
		    http_fwd_request(hc->in, r, req, &hc->peer.sa, hc->fwd, cap) :
		    -1;
	consume_in(hc, r);
	hc->state = HP_WAIT_UP;
	if (n < 0) {
		hp_answer(hc, 500);
		return;
	}
	hc->fwdlen = (uint32_t)n;
	hp_client_reads(hc);
	conn_timeout(hc->c, CONN_TMO_NONE);
	hp_start_upstream(hc, 0);
}

/* Bad input from the client: its status, then the close. */
static void hp_bad_request(struct hp_client *hc, int status)
{
	hc->close_after = 1;
	hc->keep_alive = 0;
	hp_answer(hc, status);
}

/* Parses the next request in hc's input, if it is all there. */
static void hp_next_request(struct hp_client *hc)
{
	struct http_request req;
	int r = http_parse_request(hc->in, hc->inlen, &ctx_of(hc->c)->lim, &req);

	if (r == 0) {
		/* The header timeout runs from a head's first byte, and is
		 * not restarted by more (slowloris). */
		if (conn_timeout_kind(hc->c) != CONN_TMO_HEADER)
			conn_timeout(hc->c, CONN_TMO_HEADER);
		hp_client_reads(hc);
		return;
	}
	if (r < 0) {
		hc->method = (uint8_t)req.method;
		hc->version_minor = (uint8_t)req.version_minor;
		hp_bad_request(hc, -r);
		return;
	}
	if (hp_refusal(&req)) {
		hc->method = (uint8_t)req.method;
		hc->version_minor = (uint8_t)req.version_minor;
		consume_in(hc, (size_t)r);
		hp_bad_request(hc, hp_refusal(&req));
		return;
	}
	hp_begin(hc, &req, (size_t)r);
}

/* Sends what the client's input holds of the request body, as long as
 * the upstream takes it; the rest waits for it (hp_up_writable). A
 * chunked body goes as received, its end found by http_chunked_read. */
void hp_forward_body(struct hp_client *hc)
{
	struct hp_ctx *t = ctx_of(hc->c);

	while (!hc->req_done && hc->inlen > 0 && !conn_has_output(hc->up->c)) {
		size_t n;

		if (hc->chunked) {
			int r = http_chunked_read(&hc->ck, hc->in, hc->inlen,
						  &t->lim, &n);

			if (r < 0) {
				if (hc->head_sent) {
					conn_close(hc->c);
					return;
				}
				hp_bad_request(hc, -r);
				return;
			}
			hc->req_done = r > 0;
		} else {
			n = (size_t)UTIL_MIN(hc->body_left, (uint64_t)hc->inlen);
			hc->body_left -= n;
			hc->req_done = hc->body_left == 0;
		}
		t->stats->proxy_bytes_up += n;
		if (n && hp_to_up(hc, hc->in, n) < 0)
			return;
		consume_in(hc, n);
	}
	if (hc->req_done && !conn_has_output(hc->up->c))
		conn_timeout(hc->up->c, CONN_TMO_READ);
	/* A body that stops coming is cut by the body timeout, which runs
	 * only while the client is read: held back by an upstream that
	 * does not take the body, it is not late (the upstream's send
	 * timeout runs then), and once the body is all read the upstream's
	 * timeouts decide. */
	conn_timeout(hc->c, !hc->req_done && !conn_has_output(hc->up->c) ?
				    CONN_TMO_BODY :
				    CONN_TMO_NONE);
	hp_client_reads(hc);
}

/* hc's upstream is connected, or came from the pool: the head goes. */
void hp_send_request(struct hp_client *hc)
{
	struct hp_ctx *t = ctx_of(hc->c);
	int i = hc->up->server;

	hc->state = HP_EXCHANGE;
	hc->server = (int8_t)i;
	hc->reused = hc->up->reused;
	if (!hc->resent) {
		t->stats->http_proxy_requests++;
		t->stats->upstream_requests[i]++;
	}
	if (hc->reused) {
		t->stats->http_proxy_reuses++;
		t->stats->upstream_reuses[i]++;
	}
	/* The server's response time runs from here (upstream_stats.c). */
	hc->asked_us = util_now_us();
	if (hp_to_up(hc, hc->fwd, hc->fwdlen) < 0)
		return;
	/* A request with a body is never sent twice: its body is not
	 * kept. */
	if (hc->has_body) {
		free(hc->fwd);
		hc->fwd = NULL;
	} else {
		hc->req_done = 1;
	}
	/* A failed resume closed the upstream, and its close went on with
	 * the exchange (hp_up_lost): nothing here is ours any more. */
	if (hp_set_reading(hc->up->c, 1) < 0)
		return;
	if (!hc->has_body) {
		if (!conn_has_output(hc->up->c))
			conn_timeout(hc->up->c, CONN_TMO_READ);
		hp_client_reads(hc);
		return;
	}
	hp_forward_body(hc);
}

static void hp_client_readable(struct hp_client *hc)
{
	struct hp_ctx *t = ctx_of(hc->c);
	char *d;
	ssize_t n = conn_read_max(hc->c, &d, t->cfg->proxy_buffer);

	if (n == -2)
		return;
	if (n <= 0) {
		/* An EOF in the middle of an upload is an abort: the
		 * upstream goes with it (hp_close). */
		conn_close(hc->c);
		return;
	}
	if (hc->state == HP_LINGER)
		return;
	if (hp_append(&hc->in, &hc->inlen, &hc->incap, d, (size_t)n) < 0) {
		conn_close(hc->c);
		return;
	}
	if (hc->state == HP_IDLE)
		hp_process(hc);
	else if (hc->state == HP_EXCHANGE && hc->up)
		hp_forward_body(hc);
	else
		hp_client_reads(hc);
}

static void hp_readable(struct conn *c)
{
	struct hp_client *hc;

	if (conn_is_outbound(c)) {
		struct hp_up *u = conn_data(c);

		if (u && !hp_up_wants(u))
			conn_pause_read(c, 1); /* see hp_set_reading */
		else if (u)
			hp_up_readable(u);
		return;
	}
	conn_set_duplex(c);
	if ((hc = conn_data(c)) && !hp_client_wants(hc)) {
		conn_pause_read(c, 1);
		return;
	}
	hc = hp_client_get(c);
	if (!hc) {
		conn_close(c);
		return;
	}
	hp_client_readable(hc);
}

/* The client is closed after its answer: at once when it sent nothing
 * more, else after shutting our side and reading what it still sends
 * (a close with unread input is a reset, which could destroy the answer
 * on its way). */
static void hp_close_client(struct hp_client *hc)
{
	char b;

	if (hc->inlen == 0 &&
	    recv(conn_fd(hc->c), &b, 1, MSG_PEEK | MSG_DONTWAIT) <= 0) {
		conn_close(hc->c);
		return;
	}
	hc->state = HP_LINGER;
	hc->inlen = 0;
	shutdown(conn_fd(hc->c), SHUT_WR);
	conn_timeout(hc->c, CONN_TMO_LINGER);
	hp_client_reads(hc);
}

/* After an answer has left, the next request in the input, in a loop
 * rather than by recursion however many are pipelined; between
 * requests the client keeps no state. */
void hp_process(struct hp_client *hc)
{
	struct hp_ctx *t = ctx_of(hc->c);
	struct conn *c = hc->c;

	if (hc->processing)
		return;
	hc->processing = 1;
	for (;;) {
		if (hc->state == HP_ANSWERED) {
			if (conn_has_output(c))
				break;
			hp_exchange_free(hc);
			if (hc->close_after) {
				hc->processing = 0;
				hp_close_client(hc);
				return;
			}
			hc->state = HP_IDLE;
		}
		if (hc->state != HP_IDLE)
			break;
		if (hc->inlen == 0) {
			hc->processing = 0;
			hp_client_free(hc);
			if (t->draining && !conn_pool_of(c)->drain_keep_idle) {
				conn_close(c);
				return;
			}
			conn_timeout(c, CONN_TMO_KEEPALIVE);
			hp_set_reading(c, 1);
			return;
		}
		hp_next_request(hc);
		if (!conn_is_open(c))
			return; /* hc is gone with it */
		if (hc->state == HP_IDLE)
			break; /* a head is incomplete */
	}
	hc->processing = 0;
}

static void hp_client_writable(struct hp_client *hc)
{
	if (hc->state == HP_ANSWERED) {
		hp_process(hc);
		return;
	}
	/* Part of the response left: the upstream is read again. The send
	 * timeout that ran meanwhile is done (conn.c). */
	hp_up_reads(hc);
}

static void hp_writable(struct conn *c)
{
	if (!conn_data(c))
		return;
	if (conn_is_outbound(c))
		hp_up_writable(conn_data(c));
	else
		hp_client_writable(conn_data(c));
}

static void hp_timeout(struct conn *c, int kind)
{
	if (!conn_is_outbound(c))
		conn_close_timed_out(c, kind);
	else if (conn_data(c))
		hp_up_timeout(conn_data(c), kind);
	else
		conn_close(c);
}

static void hp_open(struct conn *c)
{
	conn_set_duplex(c);
	conn_timeout(c, CONN_TMO_HEADER);
}

static void hp_close(struct conn *c)
{
	struct hp_client *hc;

	if (!conn_data(c))
		return;
	if (conn_is_outbound(c)) {
		hp_up_close(conn_data(c));
		return;
	}
	hc = conn_data(c);
	/* The client goes first: its upstream, mid-exchange, cannot be
	 * reused (part of a request or response is in flight). */
	hp_drop_up(hc);
	hp_client_free(hc);
}

static void hp_drain(struct conn *c)
{
	struct hp_ctx *t = ctx_of(c);
	struct hp_up *u = conn_data(c);

	t->draining = 1;
	if (conn_is_outbound(c)) {
		if (u && !u->cl)
			hp_discard_idle(c); /* pooled: nothing in flight */
		return;
	}
	/* Busy: the exchange finishes, its answer says close. Idle after
	 * an answer: closed now, unless another master serves the port
	 * (conn_pool's drain_keep_idle). */
	if (conn_data(c) || conn_has_output(c))
		return;
	if (conn_bytes_in(c) > 0 && !conn_pool_of(c)->drain_keep_idle)
		conn_close(c);
}

const struct proto proto_httpproxy = {
	.name = "http_proxy",
	.init = hp_init,
	.start = hp_start,
	.fini = hp_fini,
	.on_open = hp_open,
	.on_connect = hp_connected,
	.on_readable = hp_readable,
	.on_writable = hp_writable,
	.on_timeout = hp_timeout,
	.on_drain = hp_drain,
	.can_hand_over = conn_between_requests,
	.on_close = hp_close,
};
