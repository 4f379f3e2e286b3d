/* httpproxy_up.c - the HTTP proxy's upstream side (httpproxy.h): the
 * per-server idle pools, connects and their failures, and the response
 * relayed to the client: parsed strictly (http_resp.h) before a byte of
 * it is passed on, its body passed as it comes, its end found by its
 * framing. What goes up (the request) is proto_httpproxy.c's. */
#include "autoconfig.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "http_fwd.h"
#include "health.h"
#include "http_resp.h"
#include "httpproxy.h"
#include "log.h"
#include "util.h"

/* Refreshes the per-server state gauges (this worker's view), again when
 * the next server down comes back. */
static void hp_gauges(struct hp_ctx *t, uint64_t now)
{
	uint64_t next = up_publish_state(&t->up, now);

	if (next && t->loop)
		loop_timer_arm(t->loop, &t->state_timer, next);
	else if (t->loop)
		loop_timer_disarm(t->loop, &t->state_timer);
}

void hp_state_timer(struct loop_timer *timer)
{
	struct hp_ctx *t = util_container_of(timer, struct hp_ctx, state_timer);

	hp_gauges(t, loop_now(t->loop));
}

static void hp_count_failure(struct hp_ctx *t, int i, int source, int err,
			     uint64_t now)
{
	up_connect_failed(&t->up, i, source, err, now,
			  "add proxy_source addresses, or proxy_pool");
}

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
void hp_drop_up(struct hp_client *hc)
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
void hp_discard_idle(struct conn *c)
{
	static const struct linger reset = { 1, 0 };

	setsockopt(conn_fd(c), SOL_SOCKET, SO_LINGER, &reset, sizeof(reset));
	conn_close(c);
}

/* The exchange is over and the upstream may serve another: into its
 * server's pool, where it is read (to see it close) under the pool's
 * timeout. Beyond proxy_pool, the oldest is given a moment to be taken
 * again before it is closed (up_pool.h: why). */
static void hp_pool_put(struct hp_ctx *t, struct hp_up *u)
{
	struct upp_pool *p = &t->pools[u->server];
	struct hp_up *old;

	u->reused = 1;
	if (upp_put(p, &u->link)) {
		hp_discard_idle(u->c); /* proxy_pool 0 */
		return;
	}
	hp_pool_gauge(t, u->server, 1);
	conn_timeout(u->c, CONN_TMO_POOL);
	hp_set_reading(u->c, 1);
	if (!upp_over(p))
		return;
	old = hp_up_of(upp_oldest(p));
	if (conn_timeout_kind(old->c) != CONN_TMO_TRIM)
		conn_timeout(old->c, CONN_TMO_TRIM);
}

/* The moment is over: the pool keeps its proxy_pool newest, the older
 * ones are closed. */
static void hp_pool_trim(struct hp_ctx *t, int i)
{
	struct upp_pool *p = &t->pools[i];

	while (upp_over(p)) {
		struct hp_up *old = hp_up_of(upp_oldest(p));

		t->stats->http_proxy_pool_closed++;
		hp_discard_idle(old->c); /* out of the pool: hp_up_close */
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

/* Opens a connection to server i from the next source address (its
 * range in *source): the connection's state, or NULL with errno. */
static struct hp_up *hp_connect_to(struct hp_ctx *t, struct conn *client, int i,
				   int *source)
{
	const struct addr *a = &t->up.servers[i].addr;
	struct conn_source src = { .port_range = t->up.port_range };
	struct hp_up *u = calloc(1, sizeof(*u));
	union addr_sa local;
	socklen_t len;
	int e;

	*source = STATS_SOURCE_KERNEL;
	if (!u)
		return NULL;
	if (up_next_source_in(&t->up, a->u.sa.sa_family, &local, &len, source) ==
	    0) {
		src.sa = &local.sa;
		src.len = len;
	}
	u->server = i;
	u->source = (int8_t)*source;
	u->t0_us = util_now_us();
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

/* The worker's slice of the ports, once its id is known (at start, or
 * at the first request of a pool never started: the unit tests'). */
static void hp_ports(struct hp_ctx *t, struct conn_pool *pool)
{
	long lo = -1, hi = -1;
	int id = pool->worker_id;

	t->ports_set = 1;
	t->loop = conn_pool_loop(pool);
	util_read_sysctl("/proc/sys/net/ipv4/ip_local_port_range", &lo, &hi);
	if (t->cfg->proxy_port_range != CFG_PORTS_OFF && up_port_range_supported())
		up_set_ports(&t->up, t->cfg, id, t->cfg->workers, lo, hi);
	up_publish_ports(&t->up, id, t->cfg->workers, lo, hi);
}

void hp_start(void *ctx, struct conn_pool *pool)
{
	struct hp_ctx *t = ctx;

	hp_ports(t, pool);
	if (t->hc)
		hc_start(t->hc, conn_pool_loop(pool), pool->worker_id,
			 t->cfg->workers);
}

/* Finds hc's upstream: a pooled connection to the server round robin
 * picks (unless fresh: a re-send goes on a new one), else a new
 * connection, tried on another server once when it fails at once. With
 * none, the answer is 502 (503 when no local port is left). */
void hp_start_upstream(struct hp_client *hc, int fresh)
{
	struct hp_ctx *t = ctx_of(hc->c);
	uint64_t now = hp_now(hc->c);

	if (!t->ports_set)
		hp_ports(t, conn_pool_of(hc->c));
	for (;;) {
		int i = up_pick(&t->up, now, hc->avoid,
				hc->peer.sa.sa_family != AF_UNSPEC ?
					&hc->peer.sa :
					NULL),
		    err, source;
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
		u = hp_connect_to(t, hc->c, i, &source);
		if (u) {
			hc->up = u;
			u->cl = hc;
			return; /* hp_connected goes on */
		}
		err = errno;
		hp_count_failure(t, i, source, err, now);
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
void hp_up_lost(struct hp_client *hc)
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
		t->stats->upstream_gateway_errors[hc->server]++;
	if (hc->head_sent) {
		t->stats->http_proxy_aborted++;
		conn_close(hc->c);
		return;
	}
	hp_answer(hc, 502);
}

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

/* How much of n response body bytes at d belongs to the response
 * (*take), and whether they end it (*done). 0, or -1 when a chunk size
 * the parser refuses lost the framing (counted here). */
static int hp_body_take(struct hp_client *hc, const char *d, size_t n,
			size_t *take, int *done)
{
	struct hp_ctx *t = ctx_of(hc->c);

	*take = 0;
	*done = 0;
	switch (hc->framing) {
	case HTTP_RESP_LENGTH:
		*take = (size_t)UTIL_MIN(hc->resp_left, (uint64_t)n);
		hc->resp_left -= *take;
		*done = hc->resp_left == 0;
		break;
	case HTTP_RESP_CHUNKED: {
		int r = http_chunked_read(&hc->rck, d, n, &t->up_lim, take);

		if (r < 0) {
			t->stats->http_proxy_bad_responses++;
			t->stats->upstream_gateway_errors[hc->server]++;
			return -1;
		}
		*done = r > 0;
		break;
	}
	case HTTP_RESP_CLOSE:
		*take = n;
		break;
	default:
		*done = 1;
	}
	t->stats->proxy_bytes_down += *take;
	return 0;
}

/* After take of n body bytes went to the client: bytes beyond the
 * response keep its connection out of the pool; the end of it ends the
 * exchange. 0, or -1 when the exchange ended. */
static int hp_body_sent(struct hp_client *hc, size_t take, size_t n, int done)
{
	if (take < n)
		hc->junk = 1; /* more than the response: not reused */
	if (done) {
		hp_response_done(hc);
		return -1;
	}
	hp_up_reads(hc);
	return 0;
}

/* n response body bytes at d, the part of them that belongs to it goes
 * to the client. 0, or -1 when the exchange ended. */
static int hp_response_body(struct hp_client *hc, const char *d, size_t n)
{
	size_t take;
	int done;

	if (hp_body_take(hc, d, n, &take, &done) < 0) {
		/* The client has the head already: it is cut off. */
		ctx_of(hc->c)->stats->http_proxy_aborted++;
		conn_close(hc->c);
		return -1;
	}
	if (take && hp_to_client(hc, d, take) < 0)
		return -1;
	return hp_body_sent(hc, take, n, done);
}

/* A final head was parsed at h (r bytes): its rewritten form is written
 * to t->head_out, and its length returned (-1: answered with 502). The
 * client is kept only when its request went up whole (or the rest of it
 * could not be told from the next request) and neither side said
 * close. */
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
	return n;
}

/* The head just written to t->head_out (hn bytes) and the body bytes
 * that came with it, d[0..n), go to the client: in one send when they
 * fit behind the head (they do up to proxy_buffer), else one after the
 * other. A chunk size refused in them is a 502 still: nothing has left.
 * 0, or -1 when the exchange ended. */
static int hp_head_and_body(struct hp_client *hc, size_t hn, const char *d,
			    size_t n)
{
	struct hp_ctx *t = ctx_of(hc->c);
	size_t take;
	int done;

	if (hp_body_take(hc, d, n, &take, &done) < 0) {
		hp_answer(hc, 502);
		return -1;
	}
	hc->head_sent = 1;
	if (hn + take <= t->head_out_len) {
		memcpy(t->head_out + hn, d, take);
		if (hp_to_client(hc, t->head_out, hn + take) < 0)
			return -1;
	} else if (hp_to_client(hc, t->head_out, hn) < 0 ||
		   (take && hp_to_client(hc, d, take) < 0)) {
		return -1;
	}
	return hp_body_sent(hc, take, n, done);
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
	return hp_append(&hc->rh, &hc->rhlen, &hc->rhcap, d, n);
}

/* Parses response heads from d (n bytes): interim ones pass, the final
 * one is rewritten, and what follows it is body. A head in pieces is
 * kept (hc->rh) until it is whole; the parser bounds it. 0, or -1 when
 * the exchange ended. */
static int hp_response_heads(struct hp_client *hc, const char *d, size_t n)
{
	struct hp_ctx *t = ctx_of(hc->c);

	if (hc->rhlen) {
		if (hp_append(&hc->rh, &hc->rhlen, &hc->rhcap, d, n) < 0) {
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
			t->stats->upstream_gateway_errors[hc->server]++;
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
		int hn = hp_response_head(hc, d, (size_t)r, &resp);

		if (hn < 0)
			return -1;
		/* The rest is body, in the scratch space or hc->rh: either
		 * stays put while it is passed on. */
		hc->rhlen = 0;
		return hp_head_and_body(hc, (size_t)hn, d + r, n - (size_t)r);
	}
}

void hp_up_readable(struct hp_up *u)
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
	if (!hc->up_spoke)
		up_record_response(&t->up, u->server,
				   util_now_us() - hc->asked_us);
	hc->up_spoke = 1;
	conn_timeout(u->c, CONN_TMO_READ);
	if (hc->head_sent)
		hp_response_body(hc, d, (size_t)n);
	else
		hp_response_heads(hc, d, (size_t)n);
}

/* The upstream took what was queued for it: more of the body, or the
 * wait for the response begins. */
void hp_up_writable(struct hp_up *u)
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

void hp_connected(struct conn *c, int err)
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
		hp_count_failure(t, i, u->source, err, now);
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
	up_record_connect(&t->up, i, u->source, util_now_us() - u->t0_us, 0);
	u->port_held = 1;
	t->stats->proxy_connects++;
	t->stats->upstream_connects[i]++;
	hp_send_request(hc);
}

/* A late upstream: a 504 if the client has nothing of the response yet,
 * else the client is closed. An upstream held back by a slow client is
 * not late: the client's send timeout rules then. */
void hp_up_timeout(struct hp_up *u, int kind)
{
	struct hp_ctx *t = ctx_of(u->c);
	struct hp_client *hc = u->cl;

	if (kind == CONN_TMO_TRIM && upp_pooled(&u->link)) {
		if (upp_over(&t->pools[u->server]))
			hp_pool_trim(t, u->server);
		else
			conn_timeout(u->c, CONN_TMO_POOL);
		return;
	}
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
		t->stats->upstream_gateway_errors[hc->server]++;
	if (hc->head_sent) {
		t->stats->http_proxy_aborted++;
		conn_close(hc->c);
		return;
	}
	hp_answer(hc, 504);
}

/* An upstream connection closes: out of its pool, or out of its
 * exchange, which goes on without it (hp_up_lost) unless the close was
 * the exchange's own doing (it unlinked first) or a send's (hp_to_up
 * goes on). */
void hp_up_close(struct hp_up *u)
{
	struct hp_ctx *t = ctx_of(u->c);
	struct hp_client *hc = u->cl;

	conn_set_data(u->c, NULL);
	if (upp_pooled(&u->link)) {
		upp_remove(&t->pools[u->server], &u->link);
		hp_pool_gauge(t, u->server, -1);
	}
	if (u->port_held)
		up_record_close(&t->up, u->server, u->source);
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
