/* proto_tcpproxy.c - the TCP proxy (protocol tcp_proxy): each accepted
 * connection gets one connection to an upstream server (upstream.h picks
 * it), and bytes are relayed both ways. Prefix tp_.
 *
 * Both sides of a pair are duplex connections of one handler (conn.h):
 * a side is read while its own output waits. Back-pressure per
 * direction: a read takes at most proxy_buffer bytes and hands them to
 * the other side's conn_send; what that socket does not take stays
 * queued there, and the side they came from is not read until it has
 * gone - so a pair holds at most proxy_buffer bytes per direction, and
 * an idle pair none. A FIN is passed on as shutdown(SHUT_WR) once what
 * came before it is out, the other direction flowing on; a reset or an
 * error is passed on as a reset (SO_LINGER 0). The relay never
 * interprets a byte; with proxy_protocol it writes one header of its own
 * to the server, before the client's first byte and in the same segment
 * when that byte is there already (proxyproto.h). */
#include "autoconfig.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "config.h"
#include "conn.h"
#include "health.h"
#include "log.h"
#include "proxyproto.h"
#include "stats.h"
#include "syslimits.h"
#include "upstream.h"
#include "util.h"

/* The worker's proxy: its upstream table and settings. */
struct tp_ctx {
	const struct config *cfg;
	struct stats_counters *stats;
	struct up_table up;
	struct hc_set *hc; /* active health checks; NULL: health_check off */
	int ports_set;     /* up_set_ports ran (it needs the worker's id) */
	/* Fires when a server down comes back, so that its state shows
	 * without waiting for a connection to try it. */
	struct loop_timer state_timer;
	struct loop *loop; /* the worker's, known with the first client */
};

enum { TP_CLIENT, TP_UP };

/* One proxied connection: the client's side and the server's. */
struct tp_pair {
	struct conn *side[2];
	uint32_t held[2];  /* bytes queued on side[i], for proxy_buffered */
	uint8_t eof[2];    /* side i sent its FIN: not read any more */
	uint8_t shut[2];   /* shutdown(SHUT_WR) done on side i */
	uint8_t closing;   /* the proxy ends the pair itself: no reset */
	uint8_t tries;     /* connects started for it */
	int8_t server;     /* side[TP_UP]'s server in the table; -1: none */
	int8_t source;     /* its source range (up_next_source_in) */
	uint8_t port_held; /* established: counted in the source's ports */
	uint8_t asked;     /* the client's first byte went up */
	uint8_t answered;  /* the server's first byte came */
	uint8_t has_peer;  /* peer is known (balance hash, proxy_protocol) */
	uint8_t header;    /* the PROXY header is still to be sent */
	uint64_t last_ms;  /* a byte was last relayed, either way */
	/* The connect's start; once connected, the moment the server was
	 * asked (the connect, or the client's first byte if it spoke
	 * first): what its first byte's time is counted from. */
	uint64_t t0_us;
	union addr_sa peer; /* the client's address */
};

static void tp_state_timer(struct loop_timer *timer);

static int tp_init(const struct config *cfg, struct stats_counters *stats,
		   void **ctx, char *err, size_t errlen)
{
	struct tp_ctx *t = calloc(1, sizeof(*t));

	(void)err;
	(void)errlen;
	if (!t)
		return -1;
	t->cfg = cfg;
	t->stats = stats;
	up_table_init(&t->up, cfg);
	up_table_count_in(&t->up, stats);
	loop_timer_init(&t->state_timer, tp_state_timer);
	if (cfg->health_check != CFG_HEALTH_OFF &&
	    !(t->hc = hc_new(cfg, &t->up, stats))) {
		free(t);
		return -1;
	}
	*ctx = t;
	return 0;
}

static void tp_fini(void *ctx)
{
	struct tp_ctx *t = ctx;

	if (t->loop)
		loop_timer_disarm(t->loop, &t->state_timer);
	hc_free(t->hc);
	free(t);
}

static int tp_side_of(const struct tp_pair *pr, const struct conn *c)
{
	return pr->side[TP_UP] == c ? TP_UP : TP_CLIENT;
}

/* The pair ends without a reset: each side is closed (a FIN, or a reset
 * by the kernel where input was left unread). */
static void tp_finish(struct tp_pair *pr)
{
	struct conn *c = pr->side[TP_CLIENT] ? pr->side[TP_CLIENT] :
					       pr->side[TP_UP];

	pr->closing = 1;
	conn_close(c); /* tp_close closes the other */
}

/* The worker's slice of the ports, once its id is known (the pool's,
 * set after the protocol's init). */
static void tp_ports(struct tp_ctx *t, struct conn_pool *pool)
{
	long lo = -1, hi = -1;
	int id = pool->worker_id;

	t->ports_set = 1;
	t->loop = conn_pool_loop(pool);
	util_read_sysctl("/proc/sys/net/ipv4/ip_local_port_range", &lo, &hi);
	if (t->cfg->proxy_port_range == CFG_PORTS_OFF) {
		; /* the whole ip_local_port_range */
	} else if (!up_port_range_supported()) {
		log_warn("proxy_port_range: this kernel has no IP_LOCAL_PORT_RANGE (Linux 6.3+): every worker uses the whole ip_local_port_range");
	} else {
		up_set_ports(&t->up, t->cfg, id, t->cfg->workers, lo, hi);
		log_debug("upstream ports %u-%u", t->up.port_range & 0xffff,
			  t->up.port_range >> 16);
	}
	up_publish_ports(&t->up, id, t->cfg->workers, lo, hi);
}

/* The worker is set up: its ports are known, and the health checks
 * (which leave from them) start. */
static void tp_start(void *ctx, struct conn_pool *pool)
{
	struct tp_ctx *t = ctx;

	tp_ports(t, pool);
	if (t->hc)
		hc_start(t->hc, conn_pool_loop(pool), pool->worker_id,
			 t->cfg->workers);
}

/* Refreshes the per-server state gauges (this worker's view), again when
 * the next server down comes back. */
static void tp_gauges(struct tp_ctx *t, uint64_t now)
{
	uint64_t next = up_publish_state(&t->up, now);

	if (next && t->loop)
		loop_timer_arm(t->loop, &t->state_timer, next);
	else if (t->loop)
		loop_timer_disarm(t->loop, &t->state_timer);
}

static void tp_state_timer(struct loop_timer *timer)
{
	struct tp_ctx *t = util_container_of(timer, struct tp_ctx, state_timer);

	tp_gauges(t, loop_now(t->loop));
}

static void tp_count_failure(struct tp_ctx *t, struct tp_pair *pr, int i,
			     int err, uint64_t now)
{
	up_connect_failed(&t->up, i, pr->source, err, now,
			  "add proxy_source addresses");
}

static void tp_server_gone(struct tp_ctx *t, struct tp_pair *pr)
{
	if (pr->server < 0)
		return;
	if (pr->port_held)
		up_record_close(&t->up, pr->server, pr->source);
	pr->port_held = 0;
	t->up.servers[pr->server].active--;
	t->stats->upstream_active[pr->server]--;
	pr->server = -1;
}

/* Starts a connect to server i from the next source address: the
 * connection, or NULL with errno. */
static struct conn *tp_connect_to(struct tp_ctx *t, struct conn *client,
				  struct tp_pair *pr, int i)
{
	const struct addr *a = &t->up.servers[i].addr;
	struct conn_source src = { .port_range = t->up.port_range };
	union addr_sa local;
	socklen_t len;
	struct conn *up;
	int range;

	if (up_next_source_in(&t->up, a->u.sa.sa_family, &local, &len, &range) ==
	    0) {
		src.sa = &local.sa;
		src.len = len;
	}
	pr->source = (int8_t)range;
	pr->t0_us = util_now_us();
	up = conn_connect_src(conn_pool_of(client), &a->u.sa, a->len, &src,
			      conn_handler(client), pr);
	if (up)
		conn_set_duplex(up);
	return up;
}

/* Connects pr to a server other than avoid (-1: any), trying the next
 * one once if a connect fails at once. With none left, the client is
 * closed: 0 then, or 1 with a connect under way. */
static int tp_connect(struct tp_ctx *t, struct tp_pair *pr, int avoid)
{
	struct conn *client = pr->side[TP_CLIENT];
	uint64_t now = loop_now(conn_pool_loop(conn_pool_of(client)));

	if (!t->ports_set)
		tp_ports(t, conn_pool_of(client));
	for (;;) {
		int i = up_pick(&t->up, now, avoid,
				pr->has_peer ? &pr->peer.sa : NULL),
		    err;
		struct conn *up;

		tp_gauges(t, now);
		if (i < 0)
			break;
		pr->tries++;
		up = tp_connect_to(t, client, pr, i);
		if (up) {
			pr->side[TP_UP] = up;
			pr->server = (int8_t)i;
			t->up.servers[i].active++;
			t->stats->upstream_active[i]++;
			return 1;
		}
		err = errno;
		tp_count_failure(t, pr, i, err, now);
		if (pr->tries >= 2)
			break;
		t->stats->proxy_retries++;
		avoid = i;
	}
	tp_gauges(t, now);
	t->stats->proxy_no_upstream++;
	tp_finish(pr);
	return 0;
}

/* A client: reading it waits for its server. Its address is asked for
 * only when something needs it. */
static void tp_open(struct conn *c)
{
	struct tp_pair *pr = calloc(1, sizeof(*pr));
	struct tp_ctx *t = conn_proto_ctx(c);
	socklen_t len = sizeof(pr->peer);

	if (!pr) {
		conn_close(c);
		return;
	}
	pr->side[TP_CLIENT] = c;
	pr->server = -1;
	if (t->cfg->balance == CFG_BALANCE_HASH ||
	    t->cfg->proxy_protocol != CFG_PP_OFF)
		pr->has_peer = getpeername(conn_fd(c), &pr->peer.sa, &len) == 0;
	pr->header = t->cfg->proxy_protocol != CFG_PP_OFF;
	conn_set_data(c, pr);
	conn_set_duplex(c);
	conn_pause_read(c, 1);
	tp_connect(conn_proto_ctx(c), pr, -1);
}

static void tp_readable(struct conn *c);

/* Sends the PROXY header to the server: the client's address and the one
 * it connected to. more: the client's first bytes follow at once
 * (MSG_MORE: the kernel sends both in one segment). 0, or -1 when the
 * pair has ended. */
static int tp_send_header(struct tp_ctx *t, struct tp_pair *pr, int more)
{
	struct conn *client = pr->side[TP_CLIENT];
	union addr_sa local;
	socklen_t len = sizeof(local);
	unsigned char hdr[PP_MAX];
	size_t n;

	pr->header = 0;
	if (!pr->has_peer || getsockname(conn_fd(client), &local.sa, &len) < 0)
		local.sa.sa_family = pr->peer.sa.sa_family = AF_UNSPEC;
	if (t->cfg->proxy_protocol == CFG_PP_V1)
		n = pp_encode_v1((char *)hdr, &pr->peer.sa, &local.sa);
	else
		n = pp_encode_v2(hdr, &pr->peer.sa, &local.sa);
	return conn_send_flags(pr->side[TP_UP], hdr, n, more ? MSG_MORE : 0);
}

/* The connect's time is counted, and the server's answer is timed from
 * now unless the client speaks first (tp_timed_relay). */
static void tp_timed_connect(struct tp_ctx *t, struct tp_pair *pr)
{
	uint64_t now = util_now_us();

	up_record_connect(&t->up, pr->server, pr->source, now - pr->t0_us, 0);
	pr->port_held = 1;
	pr->t0_us = now;
}

/* Bytes relayed from side i: the first from the client starts the
 * server's clock (if it has not spoken yet), the first from the server
 * stops it. */
static void tp_timed_relay(struct tp_ctx *t, struct tp_pair *pr, int i)
{
	if (pr->answered)
		return;
	if (i == TP_UP) {
		pr->answered = 1;
		up_record_response(&t->up, pr->server, util_now_us() - pr->t0_us);
	} else if (!pr->asked) {
		pr->asked = 1;
		pr->t0_us = util_now_us();
	}
}

static void tp_connected(struct conn *up, int err)
{
	struct tp_pair *pr = conn_data(up);
	struct tp_ctx *t = conn_proto_ctx(up);
	uint64_t now = loop_now(conn_pool_loop(conn_pool_of(up)));
	int i;

	if (!pr)
		return;
	i = pr->server;
	/* The server took the connection and reset it before its connect
	 * was seen done (a RST right behind the SYN-ACK): the stream was
	 * cut, not refused. As with any reset, conn.c closes up when this
	 * returns and tp_close resets the client; the server answered, so
	 * it is neither retried nor held as failing. */
	if (err == ECONNRESET || err == EPIPE) {
		t->stats->proxy_connects++;
		t->stats->upstream_connects[i]++;
		up_record_connect(&t->up, i, pr->source,
				  util_now_us() - pr->t0_us, 0);
		pr->port_held = 1;
		return;
	}
	if (err) {
		/* conn.c closes up when this returns: it is no longer the
		 * pair's. Nothing was sent: another server may take it. */
		conn_set_data(up, NULL);
		pr->side[TP_UP] = NULL;
		tp_server_gone(t, pr);
		tp_count_failure(t, pr, i, err, now);
		if (pr->tries >= 2) {
			tp_gauges(t, now);
			t->stats->proxy_no_upstream++;
			tp_finish(pr);
			return;
		}
		t->stats->proxy_retries++;
		tp_connect(t, pr, i);
		return;
	}
	up_succeeded(&t->up, i);
	t->stats->proxy_connects++;
	t->stats->upstream_connects[i]++;
	tp_timed_connect(t, pr);
	pr->last_ms = now;
	conn_timeout(up, CONN_TMO_IDLE);
	conn_timeout(pr->side[TP_CLIENT], CONN_TMO_IDLE);
	if (conn_pause_read(pr->side[TP_CLIENT], 0) < 0)
		return;
	/* The header goes now, with what the client has sent already if
	 * anything (tp_readable), or alone: a server that speaks first
	 * (SMTP, MySQL) waits for it before its greeting. */
	if (pr->header)
		tp_readable(pr->side[TP_CLIENT]);
}

/* shutdown(SHUT_WR) on side i: its peer sees our FIN. Returns 1 when
 * that ended the pair (both ways are done), else 0. */
static int tp_shut(struct tp_pair *pr, int i)
{
	shutdown(conn_fd(pr->side[i]), SHUT_WR);
	pr->shut[i] = 1;
	if (!pr->shut[!i])
		return 0;
	tp_finish(pr);
	return 1;
}

/* Side i sent its FIN: it is not read again, and the other side gets a
 * FIN once what it is owed is out (tp_writable otherwise). */
static void tp_eof(struct tp_pair *pr, int i)
{
	struct conn *c = pr->side[i];

	pr->eof[i] = 1;
	if (conn_pause_read(c, 1) < 0)
		return;
	if (!conn_has_output(pr->side[!i]))
		tp_shut(pr, !i);
}

/* One read per readiness event: a read that filled the buffer has the
 * side served again after its neighbours (conn_repost). */
static void tp_readable(struct conn *c)
{
	struct tp_pair *pr = conn_data(c);
	struct tp_ctx *t = conn_proto_ctx(c);
	int i = tp_side_of(pr, c);
	struct conn *peer = pr->side[!i];
	char *data;
	ssize_t n;

	if (!peer) /* still connecting: not read (tp_open) */
		return;
	n = conn_read_max(c, &data, t->cfg->proxy_buffer);
	if (n < 0 && n != -2) {
		conn_close(c); /* a reset, or worse: tp_close passes it on */
		return;
	}
	/* Only the client's side has a header pending (tp_connected). */
	if (pr->header && i == TP_CLIENT && tp_send_header(t, pr, n > 0) < 0)
		return;
	if (n == -2)
		return;
	if (n == 0) {
		tp_eof(pr, i);
		return;
	}
	pr->last_ms = loop_now(conn_pool_loop(conn_pool_of(c)));
	tp_timed_relay(t, pr, i);
	if (i == TP_CLIENT)
		t->stats->proxy_bytes_up += (uint64_t)n;
	else
		t->stats->proxy_bytes_down += (uint64_t)n;
	if (conn_send(peer, data, (size_t)n) < 0)
		return; /* peer failed: tp_close ended the pair */
	if (!conn_has_output(peer))
		return;
	/* The other side is full: this one waits for it (tp_writable). */
	pr->held[!i] = (uint32_t)conn_output_len(peer);
	t->stats->proxy_buffered += pr->held[!i];
	conn_pause_read(c, 1);
}

/* c's queued output is all out: the side that fed it may go on, or its
 * FIN follows. */
static void tp_writable(struct conn *c)
{
	struct tp_pair *pr = conn_data(c);
	struct tp_ctx *t = conn_proto_ctx(c);
	int i = tp_side_of(pr, c);

	t->stats->proxy_buffered -= pr->held[i];
	pr->held[i] = 0;
	/* The send timeout ran while output waited (conn.c); the idle one
	 * takes over again. */
	if (conn_timeout_kind(c) == CONN_TMO_NONE)
		conn_timeout(c, CONN_TMO_IDLE);
	if (pr->eof[!i]) {
		if (!pr->shut[i])
			tp_shut(pr, i);
		return;
	}
	conn_pause_read(pr->side[!i], 0);
}

/* The idle timeout, or the send timeout of a side whose output waits:
 * a pair that moved bytes either way since is given another period
 * (so it closes between one and two periods after its last byte). */
static void tp_timeout(struct conn *c, int kind)
{
	struct tp_pair *pr = conn_data(c);
	struct tp_ctx *t = conn_proto_ctx(c);
	uint64_t now = loop_now(conn_pool_loop(conn_pool_of(c)));

	if (now - pr->last_ms < (uint64_t)t->cfg->proxy_idle_timeout_ms) {
		conn_timeout(c, (enum conn_tmo)kind);
		return;
	}
	t->stats->proxy_timeouts_idle++;
	tp_finish(pr);
}

/* Either side closes: the other goes too. Closed by the proxy
 * (tp_finish), it is an ordinary close; closed on an error (a reset
 * read, a failed send: conn.c), the other side is reset too, so that
 * its peer learns the stream was cut. */
static void tp_close(struct conn *c)
{
	static const struct linger reset = { 1, 0 };
	struct tp_pair *pr = conn_data(c);
	struct tp_ctx *t = conn_proto_ctx(c);
	struct conn *other;
	int i;

	if (!pr)
		return;
	i = tp_side_of(pr, c);
	conn_set_data(c, NULL);
	pr->side[i] = NULL;
	t->stats->proxy_buffered -= pr->held[i];
	pr->held[i] = 0;
	if (i == TP_UP)
		tp_server_gone(t, pr);
	other = pr->side[!i];
	if (!other) {
		free(pr);
		return;
	}
	if (!pr->closing) {
		t->stats->proxy_resets++;
		setsockopt(conn_fd(other), SOL_SOCKET, SO_LINGER, &reset,
			   sizeof(reset));
	}
	pr->closing = 1;
	conn_close(other); /* frees pr */
}

const struct proto proto_tcpproxy = {
	.name = "tcp_proxy",
	.init = tp_init,
	.start = tp_start,
	.fini = tp_fini,
	.on_open = tp_open,
	.on_connect = tp_connected,
	.on_readable = tp_readable,
	.on_writable = tp_writable,
	.on_timeout = tp_timeout,
	.on_close = tp_close,
};
