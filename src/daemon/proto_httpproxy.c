/* proto_httpproxy.c - the HTTP/1.1 reverse proxy (protocol http_proxy):
 * each request a client sends goes to an upstream server (upstream.h
 * picks it) over an idle connection from the worker's pool (up_pool.h)
 * or a new one, and its response comes back. Prefix hp_.
 *
 * One request at a time per client: pipelined ones wait in its input and
 * are answered in order. Bodies are streamed both ways, never held whole:
 * a side is read (at most proxy_buffer bytes) only while the other has
 * nothing queued, so an exchange holds at most proxy_buffer bytes per
 * direction. Heads are rewritten by http_fwd.h; responses are parsed by
 * http_resp.h before a byte of them is passed on, and one it refuses
 * never reaches the client (a 502 does). The proxy's own answers (400,
 * 502, 503, 504) are written here.
 *
 * Ownership: the client's state (struct hp_client) lives from its first
 * request byte to the end of its last exchange, and is freed between
 * requests; an upstream connection's (struct hp_up) lives as long as
 * that connection. hc->up and u->cl link them during an exchange; each
 * side's on_close cuts the link before anything else, so neither ever
 * points at a freed one. A send that fails closes its connection at once
 * (conn.c), which may free the exchange: every caller of hp_to_client
 * and hp_to_up returns at once on -1. */
#include "autoconfig.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "config.h"
#include "conn.h"
#include "http_fwd.h"
#include "http_parser.h"
#include "http_resp.h"
#include "log.h"
#include "stats.h"
#include "up_pool.h"
#include "upstream.h"
#include "util.h"

/* Room that http_fwd_request adds to a head at most: X-Forwarded-For,
 * Forwarded and X-Forwarded-Proto with an IPv6 address each, a Host
 * line taken from an absolute-form target, Connection. */
#define HP_FWD_EXTRA 1024
/* The same for a response head: a Connection line. */
#define HP_RESP_EXTRA 64

_Static_assert(CFG_MAX_UPSTREAMS <= STATS_NUPSTREAMS,
	       "a counter for every upstream server");

struct hp_ctx {
	const struct config *cfg;
	struct stats_counters *stats;
	struct http_limits lim;    /* a client's request */
	struct http_limits up_lim; /* a response: no body limit */
	struct up_table up;
	struct upp_pool pools[CFG_MAX_UPSTREAMS];
	int ports_set;
	int draining;
	uint64_t last_exhausted_log;
	struct hp_client *spare; /* one freed client state, reused */
	char *head_out;          /* a response head as written for the client */
	size_t head_out_len;
};

enum hp_state {
	HP_IDLE,     /* reading a request head */
	HP_WAIT_UP,  /* a head is parsed; its upstream connection opens */
	HP_EXCHANGE, /* the request goes up, its response comes down */
	HP_ANSWERED, /* the response is done; its last bytes may wait */
	HP_LINGER    /* closing: our side shut, the client's bytes dropped */
};

struct hp_client;

/* An upstream connection: in the pool (cl NULL, link in a pool), serving
 * an exchange (cl set), or on its way out. */
struct hp_up {
	struct upp_link link;
	struct conn *c;
	struct hp_client *cl;
	int server;
	uint8_t reused;  /* it answered a request before this one */
	uint8_t sending; /* inside hp_to_up: its close is the caller's */
	uint8_t lost;    /* it closed under hp_to_up */
};

struct hp_client {
	struct conn *c;
	struct hp_up *up;
	char *in; /* unparsed input: a head, body bytes, pipelined requests */
	uint32_t inlen, incap;
	uint8_t state;
	uint8_t processing; /* hp_process runs: hp_next loops, not recurses */
	/* the request */
	uint8_t method;
	uint8_t version_minor;
	uint8_t keep_alive;
	uint8_t has_body;
	uint8_t chunked;
	uint8_t req_done;    /* all of the request went upstream */
	uint8_t tries;       /* connects started for this request */
	uint8_t resent;      /* re-sent once after a pooled connection closed */
	int8_t avoid;        /* the server that failed it last; -1: none */
	int8_t server;       /* the server of hc->up, kept past its close */
	uint8_t reused;      /* hc->up came from the pool */
	uint8_t close_after; /* the client closes after this response */
	uint64_t body_left;
	struct http_chunked ck;
	char *fwd; /* the head as sent upstream, kept until answered */
	uint32_t fwdlen;
	/* the response */
	uint8_t up_spoke;  /* a byte of the response came */
	uint8_t head_sent; /* the client has part of the response */
	uint8_t resp_keep; /* the upstream may be asked again */
	uint8_t junk;      /* bytes beyond the response: not reusable */
	uint8_t framing;   /* enum http_resp_framing */
	int status;
	uint64_t resp_left;
	struct http_chunked rck;
	char *rh; /* a response head arriving in pieces */
	uint32_t rhlen, rhcap;
};

static void hp_process(struct hp_client *hc);
static void hp_start_upstream(struct hp_client *hc, int fresh);

static struct hp_ctx *ctx_of(const struct conn *c)
{
	return conn_proto_ctx(c);
}

static uint64_t hp_now(const struct conn *c)
{
	return loop_now(conn_pool_loop(conn_pool_of(c)));
}

/* --- the worker's state --- */

static void hp_fini(void *p)
{
	struct hp_ctx *t = p;

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
	for (int i = 0; i < CFG_MAX_UPSTREAMS; i++)
		upp_init(&t->pools[i], (unsigned)cfg->proxy_pool);
	t->head_out_len = cfg->http_max_header_bytes +
			  cfg->http_max_request_line + HP_RESP_EXTRA;
	t->head_out = malloc(t->head_out_len);
	if (!t->head_out) {
		free(t);
		return -1;
	}
	*ctx = t;
	return 0;
}

/* --- a client's state --- */

static struct hp_client *hc_get(struct conn *c)
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
static void hc_exchange_free(struct hp_client *hc)
{
	free(hc->fwd);
	hc->fwd = NULL;
	hc->fwdlen = 0;
	free(hc->rh);
	hc->rh = NULL;
	hc->rhlen = hc->rhcap = 0;
}

static void hc_free(struct hp_client *hc)
{
	struct hp_ctx *t = ctx_of(hc->c);

	conn_set_data(hc->c, NULL);
	hc_exchange_free(hc);
	free(hc->in);
	if (t->spare)
		free(hc);
	else
		t->spare = hc;
}

/* Appends n bytes to a growing buffer; 0, or -1 when out of memory. */
static int append(char **b, uint32_t *len, uint32_t *cap, const char *d, size_t n)
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

/* --- reading, on and off --- */

/* Duplex connections both (conn.h): the proxy decides when each side is
 * read. A client is read while a head arrives, and while its body goes
 * up as fast as the upstream takes it; an upstream is read while its
 * client takes what it sent, and while it idles in the pool (to see it
 * close). A taken-over client was not opened here: made duplex on its
 * first read. */
static void hp_set_reading(struct conn *c, int on)
{
	if (conn_read_paused(c) == !on)
		return;
	conn_pause_read(c, !on);
}

static void hp_client_reads(struct hp_client *hc)
{
	int on;

	switch (hc->state) {
	case HP_IDLE:
	case HP_LINGER:
		on = 1;
		break;
	case HP_EXCHANGE:
		on = !hc->req_done && hc->up && !conn_has_output(hc->up->c);
		break;
	default:
		on = 0;
	}
	hp_set_reading(hc->c, on);
}

static void hp_up_reads(struct hp_client *hc)
{
	if (hc->up)
		hp_set_reading(hc->up->c, !conn_has_output(hc->c));
}

/* --- sends that may end the exchange --- */

/* To the client: 0, or -1 when it failed and the client is closed (its
 * state, and the exchange's, are gone). */
static int hp_to_client(struct hp_client *hc, const void *d, size_t n)
{
	return conn_send(hc->c, d, n);
}

static void hp_up_lost(struct hp_client *hc);

/* To the upstream: 0, or -1 when it failed, the upstream is closed and
 * the exchange went on without it (a re-send, a 502, or the client
 * closed): the caller returns at once. */
static int hp_to_up(struct hp_client *hc, const void *d, size_t n)
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

/* --- counting --- */

static void hp_gauges(struct hp_ctx *t, uint64_t now)
{
	for (int i = 0; i < t->up.n; i++)
		t->stats->upstream_down[i] = (uint64_t)up_is_down(&t->up, i, now);
}

/* A failure that is this host's, not the server's (proto_tcpproxy.c). */
static int hp_local_error(int err)
{
	return err == EADDRNOTAVAIL || err == EMFILE || err == ENFILE ||
	       err == ENOBUFS || err == ENOMEM;
}

static void hp_count_failure(struct hp_ctx *t, int i, int err, uint64_t now)
{
	char buf[ADDR_STRLEN];

	t->stats->proxy_connect_errors++;
	t->stats->upstream_connect_errors[i]++;
	if (err == ETIMEDOUT)
		t->stats->proxy_connect_timeouts++;
	if (err == EADDRNOTAVAIL) {
		t->stats->proxy_port_exhausted++;
		if (now - t->last_exhausted_log >= 1000 ||
		    t->last_exhausted_log == 0) {
			t->last_exhausted_log = now;
			log_warn("upstream %s: no local port left (EADDRNOTAVAIL): add proxy_source addresses, or proxy_pool",
				 addr_format(&t->up.servers[i].addr.u.sa, buf,
					     sizeof(buf)));
		}
	}
	if (hp_local_error(err) || !up_failed(&t->up, i, now))
		return;
	t->stats->proxy_servers_down++;
	log_warn("upstream %s is down for %llu ms: %s",
		 addr_format(&t->up.servers[i].addr.u.sa, buf, sizeof(buf)),
		 (unsigned long long)t->up.servers[i].fail_timeout_ms,
		 strerror(err));
}

static void hp_count_answer(struct hp_ctx *t, int status)
{
	t->stats->requests++;
	if (status >= 100 && status < 600)
		t->stats->responses[status / 100 - 1]++;
}

/* --- upstream connections --- */

static struct hp_up *hp_up_of(struct upp_link *l)
{
	return util_container_of(l, struct hp_up, link);
}

static void hp_pool_gauge(struct hp_ctx *t, int i, int delta)
{
	t->stats->http_proxy_pool_idle += (uint64_t)(int64_t)delta;
	t->stats->upstream_pool_idle[i] += (uint64_t)(int64_t)delta;
}

/* Cuts the link between hc and its upstream (which stays open). */
static struct hp_up *hp_detach(struct hp_client *hc)
{
	struct hp_up *u = hc->up;

	if (!u)
		return NULL;
	hc->up = NULL;
	u->cl = NULL;
	return u;
}

/* Closes hc's upstream connection, not to be reused. */
static void hp_drop_up(struct hp_client *hc)
{
	struct hp_up *u = hp_detach(hc);

	if (u)
		conn_close(u->c);
}

/* Closes an idle upstream connection the proxy no longer wants (pool
 * full, idle too long, a drain) with a reset (SO_LINGER 0): nothing is
 * in flight on it, and a FIN would leave the socket in TIME_WAIT on the
 * proxy's side for a minute, holding a local port towards that server -
 * the very ports the pool is there to spare (issue 15). */
static void hp_discard_idle(struct conn *c)
{
	static const struct linger reset = { 1, 0 };

	setsockopt(conn_fd(c), SOL_SOCKET, SO_LINGER, &reset, sizeof(reset));
	conn_close(c);
}

/* The exchange is over and the upstream may serve another: into its
 * server's pool, where it is read (to see it close) under the pool's
 * timeout; the pool may hand back its oldest to close. */
static void hp_pool_put(struct hp_ctx *t, struct hp_up *u)
{
	struct upp_link *out;

	u->reused = 1;
	out = upp_put(&t->pools[u->server], &u->link);
	if (out == &u->link) {
		hp_discard_idle(u->c);
		return;
	}
	hp_pool_gauge(t, u->server, 1);
	conn_timeout(u->c, CONN_TMO_POOL);
	hp_set_reading(u->c, 1);
	if (out) {
		hp_pool_gauge(t, u->server, -1);
		t->stats->http_proxy_pool_closed++;
		hp_discard_idle(hp_up_of(out)->c);
	}
}

/* An idle connection to server i, taken from its pool; NULL: none. */
static struct hp_up *hp_pool_get(struct hp_ctx *t, int i)
{
	struct upp_link *l = upp_get(&t->pools[i]);
	struct hp_up *u;

	if (!l)
		return NULL;
	u = hp_up_of(l);
	hp_pool_gauge(t, i, -1);
	conn_timeout(u->c, CONN_TMO_NONE);
	return u;
}

/* Opens a connection to server i from the next source address: the
 * connection's state, or NULL with errno. */
static struct hp_up *hp_connect_to(struct hp_ctx *t, struct conn *client, int i)
{
	const struct addr *a = &t->up.servers[i].addr;
	struct conn_source src = { .port_range = t->up.port_range };
	struct hp_up *u = calloc(1, sizeof(*u));
	union addr_sa local;
	socklen_t len;
	int e;

	if (!u)
		return NULL;
	if (up_next_source(&t->up, a->u.sa.sa_family, &local, &len) == 0) {
		src.sa = &local.sa;
		src.len = len;
	}
	u->server = i;
	u->c = conn_connect_src(conn_pool_of(client), &a->u.sa, a->len, &src,
				conn_handler(client), u);
	if (!u->c) {
		e = errno;
		free(u);
		errno = e;
		return NULL;
	}
	conn_set_duplex(u->c);
	t->up.servers[i].active++;
	t->stats->upstream_active[i]++;
	return u;
}

/* The worker's slice of the ports, once its id is known. */
static void hp_ports(struct hp_ctx *t, struct conn *c)
{
	long lo = -1, hi = -1;

	t->ports_set = 1;
	if (t->cfg->proxy_port_range == CFG_PORTS_OFF ||
	    !up_port_range_supported())
		return;
	util_read_sysctl("/proc/sys/net/ipv4/ip_local_port_range", &lo, &hi);
	up_set_ports(&t->up, t->cfg, conn_pool_of(c)->worker_id,
		     t->cfg->workers, lo, hi);
}

/* --- the proxy's own answers --- */

/* Writes status as the answer to hc's request; the request's upstream,
 * if any, is closed. The connection is kept only when the request was
 * read whole and both ends want it. 0, or -1 when the client closed. */
static int hp_answer(struct hp_client *hc, int status)
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

/* --- the request --- */

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

static int hp_idempotent(int m)
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
	union addr_sa peer;
	socklen_t plen = sizeof(peer);
	size_t cap = r + HP_FWD_EXTRA;
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
	memset(&peer, 0, sizeof(peer));
	if (getpeername(conn_fd(hc->c), &peer.sa, &plen) < 0)
		peer.sa.sa_family = AF_UNSPEC;
	hc->fwd = malloc(cap);
	n = hc->fwd ? http_fwd_request(hc->in, r, req, &peer.sa, hc->fwd, cap) :
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
static void hp_forward_body(struct hp_client *hc)
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
	/* A body that stops coming is cut by the body timeout; once it is
	 * all read, the upstream's timeouts decide. */
	conn_timeout(hc->c, hc->req_done ? CONN_TMO_NONE : CONN_TMO_BODY);
	hp_client_reads(hc);
}

/* hc's upstream is connected, or came from the pool: the head goes. */
static void hp_send_request(struct hp_client *hc)
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
	hp_set_reading(hc->up->c, 1);
	if (!hc->has_body) {
		if (!conn_has_output(hc->up->c))
			conn_timeout(hc->up->c, CONN_TMO_READ);
		hp_client_reads(hc);
		return;
	}
	hp_forward_body(hc);
}

/* Finds hc's upstream: a pooled connection to the server round robin
 * picks (unless fresh: a re-send goes on a new one), else a new
 * connection, tried on another server once when it fails at once. With
 * none, the answer is 502 (503 when no local port is left). */
static void hp_start_upstream(struct hp_client *hc, int fresh)
{
	struct hp_ctx *t = ctx_of(hc->c);
	uint64_t now = hp_now(hc->c);

	if (!t->ports_set)
		hp_ports(t, hc->c);
	for (;;) {
		int i = up_pick(&t->up, now, hc->avoid), err;
		struct hp_up *u;

		hp_gauges(t, now);
		if (i < 0)
			break;
		if (!fresh && (u = hp_pool_get(t, i))) {
			hc->up = u;
			u->cl = hc;
			hp_send_request(hc);
			return;
		}
		hc->tries++;
		u = hp_connect_to(t, hc->c, i);
		if (u) {
			hc->up = u;
			u->cl = hc;
			return; /* hp_connected goes on */
		}
		err = errno;
		hp_count_failure(t, i, err, now);
		if (err == EADDRNOTAVAIL) {
			hp_answer(hc, 503);
			return;
		}
		if (hc->tries >= 2 || t->up.n < 2)
			break;
		t->stats->proxy_retries++;
		hc->avoid = (int8_t)i;
	}
	t->stats->proxy_no_upstream++;
	hp_answer(hc, 502);
}

/* The upstream closed under the exchange (an EOF, a reset, a failed
 * send) where the response could not end. A request without a body on
 * a pooled connection that closed before any response byte met the
 * keep-alive race: it goes once more, on a new connection, if it is
 * idempotent (RFC 9110 9.2.2). Otherwise a 502, or, when the client has
 * part of the response, the client is closed. */
static void hp_up_lost(struct hp_client *hc)
{
	struct hp_ctx *t = ctx_of(hc->c);

	hc->up = NULL;
	if (hc->state == HP_EXCHANGE && !hc->up_spoke && hc->reused &&
	    !hc->has_body && !hc->resent && hc->fwd && hp_idempotent(hc->method)) {
		hc->resent = 1;
		hc->tries = 0;
		t->stats->http_proxy_resends++;
		hp_start_upstream(hc, 1);
		return;
	}
	if (hc->server >= 0)
		t->stats->upstream_errors[hc->server]++;
	if (hc->head_sent) {
		t->stats->http_proxy_aborted++;
		conn_close(hc->c);
		return;
	}
	hp_answer(hc, 502);
}

/* --- the response --- */

/* The response is all in (or all the client gets of it): the upstream
 * goes back to its pool when it may serve again, and the client moves
 * on once the response has left (hp_process). */
static void hp_response_done(struct hp_client *hc)
{
	struct hp_ctx *t = ctx_of(hc->c);
	struct hp_up *u = hp_detach(hc);

	hp_count_answer(t, hc->status);
	hc->state = HP_ANSWERED;
	if (!hc->req_done)
		hc->close_after = 1;
	if (u) {
		if (hc->req_done && hc->resp_keep && !hc->junk && !t->draining)
			hp_pool_put(t, u);
		else
			conn_close(u->c);
	}
	if (!conn_has_output(hc->c))
		hp_process(hc);
}

/* n response body bytes at d, the part of them that belongs to it goes
 * to the client. 0, or -1 when the exchange ended. */
static int hp_response_body(struct hp_client *hc, const char *d, size_t n)
{
	struct hp_ctx *t = ctx_of(hc->c);
	size_t take = 0;
	int done = 0;

	switch (hc->framing) {
	case HTTP_RESP_LENGTH:
		take = (size_t)UTIL_MIN(hc->resp_left, (uint64_t)n);
		hc->resp_left -= take;
		done = hc->resp_left == 0;
		break;
	case HTTP_RESP_CHUNKED: {
		int r = http_chunked_read(&hc->rck, d, n, &t->up_lim, &take);

		if (r < 0) {
			/* A chunk size the parser refuses: the framing is
			 * lost, and the client has the head already. */
			t->stats->http_proxy_bad_responses++;
			t->stats->http_proxy_aborted++;
			t->stats->upstream_errors[hc->server]++;
			conn_close(hc->c);
			return -1;
		}
		done = r > 0;
		break;
	}
	case HTTP_RESP_CLOSE:
		take = n;
		break;
	default:
		done = 1;
	}
	if (take) {
		t->stats->proxy_bytes_down += take;
		if (hp_to_client(hc, d, take) < 0)
			return -1;
	}
	if (take < n)
		hc->junk = 1; /* more than the response: not reused */
	if (done) {
		hp_response_done(hc);
		return -1;
	}
	hp_up_reads(hc);
	return 0;
}

/* A final head was parsed at h (r bytes): its rewritten form goes to the
 * client. The client is kept only when its request went up whole (or the
 * rest of it could not be told from the next request) and neither side
 * said close. */
static int hp_response_head(struct hp_client *hc, const char *h, size_t r,
			    const struct http_response *resp)
{
	struct hp_ctx *t = ctx_of(hc->c);
	int keep = hc->keep_alive && !t->draining && !hc->close_after &&
		   hc->req_done && resp->framing != HTTP_RESP_CLOSE;
	int n = http_fwd_response(h, r, resp, hc->version_minor, keep,
				  t->head_out, t->head_out_len);

	if (n < 0) {
		t->stats->http_proxy_bad_responses++;
		hp_answer(hc, 502);
		return -1;
	}
	hc->close_after = (uint8_t)!keep;
	hc->status = resp->status;
	hc->framing = (uint8_t)resp->framing;
	hc->resp_left = resp->content_length;
	hc->resp_keep = (uint8_t)resp->keep_alive;
	if (resp->framing == HTTP_RESP_CHUNKED)
		http_chunked_init(&hc->rck);
	hc->head_sent = 1;
	return hp_to_client(hc, t->head_out, (size_t)n);
}

/* An interim answer (1xx) goes to a client that speaks 1.1; a 1.0
 * client must not get one (RFC 9110 15.2). */
static int hp_interim(struct hp_client *hc, const char *h, size_t r,
		      const struct http_response *resp)
{
	struct hp_ctx *t = ctx_of(hc->c);
	int n;

	if (hc->version_minor == 0)
		return 0;
	n = http_fwd_response(h, r, resp, 1, 1, t->head_out, t->head_out_len);
	if (n < 0)
		return 0;
	t->stats->responses[0]++;
	return hp_to_client(hc, t->head_out, (size_t)n);
}

/* Keeps the start of a head, d[0..n), until the rest comes; d may lie
 * in hc->rh already. 0, or -1 when out of memory. */
static int hp_keep_head(struct hp_client *hc, const char *d, size_t n)
{
	if (hc->rh && d >= hc->rh && d < hc->rh + hc->rhcap) {
		memmove(hc->rh, d, n);
		hc->rhlen = (uint32_t)n;
		return 0;
	}
	hc->rhlen = 0;
	return append(&hc->rh, &hc->rhlen, &hc->rhcap, d, n);
}

/* Parses response heads from d (n bytes): interim ones pass, the final
 * one is rewritten, and what follows it is body. A head in pieces is
 * kept (hc->rh) until it is whole; the parser bounds it. 0, or -1 when
 * the exchange ended. */
static int hp_response_heads(struct hp_client *hc, const char *d, size_t n)
{
	struct hp_ctx *t = ctx_of(hc->c);

	if (hc->rhlen) {
		if (append(&hc->rh, &hc->rhlen, &hc->rhcap, d, n) < 0) {
			hp_answer(hc, 502);
			return -1;
		}
		d = hc->rh;
		n = hc->rhlen;
	}
	for (;;) {
		struct http_response resp;
		int r = n ? http_parse_response(d, n, &t->up_lim,
						(enum http_method)hc->method,
						&resp) :
			    0;

		if (r == 0) {
			if (hp_keep_head(hc, d, n) < 0) {
				hp_answer(hc, 502);
				return -1;
			}
			return 0;
		}
		if (r < 0) {
			t->stats->http_proxy_bad_responses++;
			t->stats->upstream_errors[hc->server]++;
			hp_answer(hc, 502);
			return -1;
		}
		if (resp.interim) {
			if (hp_interim(hc, d, (size_t)r, &resp) < 0)
				return -1;
			d += r;
			n -= (size_t)r;
			continue;
		}
		if (hp_response_head(hc, d, (size_t)r, &resp) < 0)
			return -1;
		/* The rest is body, in the scratch space or hc->rh: either
		 * stays put while it is passed on. */
		hc->rhlen = 0;
		return hp_response_body(hc, d + r, n - (size_t)r);
	}
}

/* --- the callbacks --- */

static void hp_up_readable(struct hp_up *u)
{
	struct hp_ctx *t = ctx_of(u->c);
	struct hp_client *hc = u->cl;
	char *d;
	ssize_t n;

	if (!hc) {
		/* Idle in the pool: a close, or bytes nobody asked for.
		 * Either way it cannot serve a request. */
		t->stats->http_proxy_pool_closed++;
		conn_close(u->c);
		return;
	}
	n = conn_read_max(u->c, &d, t->cfg->proxy_buffer);
	if (n == -2)
		return;
	if (n <= 0) {
		if (hc->head_sent && hc->framing == HTTP_RESP_CLOSE &&
		    hc->state == HP_EXCHANGE) {
			hc->resp_keep = 0;
			hp_response_done(hc); /* closes u */
			return;
		}
		hp_detach(hc);
		conn_close(u->c);
		hp_up_lost(hc);
		return;
	}
	hc->up_spoke = 1;
	conn_timeout(u->c, CONN_TMO_READ);
	if (hc->head_sent)
		hp_response_body(hc, d, (size_t)n);
	else
		hp_response_heads(hc, d, (size_t)n);
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
	if (append(&hc->in, &hc->inlen, &hc->incap, d, (size_t)n) < 0) {
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
		if (conn_data(c))
			hp_up_readable(conn_data(c));
		return;
	}
	conn_set_duplex(c);
	hc = hc_get(c);
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
static void hp_process(struct hp_client *hc)
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
			hc_exchange_free(hc);
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
			hc_free(hc);
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

/* The upstream took what was queued for it: more of the body, or the
 * wait for the response begins. */
static void hp_up_writable(struct hp_up *u)
{
	struct hp_client *hc = u->cl;

	if (!hc)
		return;
	if (!hc->req_done) {
		hp_forward_body(hc);
		return;
	}
	conn_timeout(u->c, CONN_TMO_READ);
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

static void hp_connected(struct conn *c, int err)
{
	struct hp_ctx *t = ctx_of(c);
	struct hp_up *u = conn_data(c);
	struct hp_client *hc = u ? u->cl : NULL;
	uint64_t now = hp_now(c);
	int i;

	if (!hc)
		return;
	i = u->server;
	if (err) {
		/* conn.c closes c when this returns: nothing was sent, so
		 * another server may take the request. */
		hp_detach(hc);
		hp_count_failure(t, i, err, now);
		if (hc->tries >= 2 || t->up.n < 2) {
			hp_gauges(t, now);
			t->stats->proxy_no_upstream++;
			hp_answer(hc, 502);
			return;
		}
		t->stats->proxy_retries++;
		hc->avoid = (int8_t)i;
		hp_start_upstream(hc, hc->resent);
		return;
	}
	up_succeeded(&t->up, i);
	t->stats->proxy_connects++;
	t->stats->upstream_connects[i]++;
	hp_send_request(hc);
}

/* A late upstream: a 504 if the client has nothing of the response yet,
 * else the client is closed. An upstream held back by a slow client is
 * not late: the client's send timeout rules then. */
static void hp_up_timeout(struct hp_up *u, int kind)
{
	struct hp_ctx *t = ctx_of(u->c);
	struct hp_client *hc = u->cl;

	if (kind == CONN_TMO_POOL || !hc) {
		t->stats->http_proxy_pool_closed++;
		hp_discard_idle(u->c);
		return;
	}
	if (kind == CONN_TMO_READ && conn_has_output(hc->c)) {
		conn_timeout(u->c, CONN_TMO_READ);
		return;
	}
	if (hc->server >= 0)
		t->stats->upstream_errors[hc->server]++;
	if (hc->head_sent) {
		t->stats->http_proxy_aborted++;
		conn_close(hc->c);
		return;
	}
	hp_answer(hc, 504);
}

static void hp_timeout(struct conn *c, int kind)
{
	struct hp_ctx *t = ctx_of(c);

	if (conn_is_outbound(c)) {
		if (conn_data(c))
			hp_up_timeout(conn_data(c), kind);
		else
			conn_close(c);
		return;
	}
	switch (kind) {
	case CONN_TMO_HEADER:
		t->stats->timeouts_header++;
		break;
	case CONN_TMO_BODY:
		t->stats->timeouts_body++;
		break;
	case CONN_TMO_KEEPALIVE:
		t->stats->timeouts_keepalive++;
		break;
	case CONN_TMO_SEND:
		t->stats->timeouts_send++;
		break;
	default:
		break;
	}
	conn_close(c);
}

static void hp_open(struct conn *c)
{
	conn_set_duplex(c);
	conn_timeout(c, CONN_TMO_HEADER);
}

/* An upstream connection closes: out of its pool, or out of its
 * exchange, which goes on without it (hp_up_lost) unless the close was
 * the exchange's own doing (it unlinked first) or a send's (hp_to_up
 * goes on). */
static void hp_up_close(struct hp_up *u)
{
	struct hp_ctx *t = ctx_of(u->c);
	struct hp_client *hc = u->cl;

	conn_set_data(u->c, NULL);
	if (upp_pooled(&u->link)) {
		upp_remove(&t->pools[u->server], &u->link);
		hp_pool_gauge(t, u->server, -1);
	}
	t->up.servers[u->server].active--;
	t->stats->upstream_active[u->server]--;
	if (hc) {
		hc->up = NULL;
		u->cl = NULL;
		if (!u->sending)
			hp_up_lost(hc);
	}
	free(u);
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
	hc_free(hc);
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

/* Between requests with nothing kept and no upstream in use (a pooled
 * one is the worker's, not the client's). */
static int hp_can_hand_over(const struct conn *c)
{
	if (conn_data(c))
		return 0;
	switch (conn_timeout_kind(c)) {
	case CONN_TMO_KEEPALIVE:
		return 1;
	case CONN_TMO_HEADER:
		return conn_bytes_in(c) == 0;
	default:
		return 0;
	}
}

const struct proto proto_httpproxy = {
	.name = "http_proxy",
	.init = hp_init,
	.fini = hp_fini,
	.on_open = hp_open,
	.on_connect = hp_connected,
	.on_readable = hp_readable,
	.on_writable = hp_writable,
	.on_timeout = hp_timeout,
	.on_drain = hp_drain,
	.can_hand_over = hp_can_hand_over,
	.on_close = hp_close,
};
