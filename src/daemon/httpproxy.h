/* httpproxy.h - what the two files of the HTTP proxy share: the worker's
 * proxy state, a client's and an upstream connection's, and the calls
 * between proto_httpproxy.c (the clients: requests, the proxy's own
 * answers, the protocol's callbacks) and httpproxy_up.c (the upstream
 * side: pool, connects, the response relayed). Prefix hp_. Only those two
 * include it; the rest of the daemon knows the service as proto_httpproxy
 * (proto.h).
 *
 * Ownership: the client's state (struct hp_client) lives from its first
 * request byte to the end of its last exchange, and is freed between
 * requests; an upstream connection's (struct hp_up) lives as long as
 * that connection. hc->up and u->cl link them during an exchange; each
 * side's on_close cuts the link before anything else, so neither ever
 * points at a freed one. A send that fails closes its connection at once
 * (conn.c), which may free the exchange: every caller of hp_to_client,
 * hp_to_up and hp_answer returns at once on -1. */
#ifndef RP_HTTPPROXY_H
#define RP_HTTPPROXY_H

#include <stddef.h>
#include <stdint.h>

#include "addr.h"
#include "config.h"
#include "conn.h"
#include "http_parser.h"
#include "loop.h"
#include "stats.h"
#include "up_pool.h"
#include "upstream.h"

/* The worker's proxy, its protocol context (conn_proto_ctx). */
struct hp_ctx {
	const struct config *cfg;
	struct stats_counters *stats;
	struct http_limits lim;    /* a client's request */
	struct http_limits up_lim; /* a response: no body limit */
	struct up_table up;
	struct upp_pool pools[CFG_MAX_UPSTREAMS];
	int ports_set;
	int draining;
	/* The loop (known at start) and the timer that brings a server's
	 * state back in the stats when its fail_timeout ends, traffic or
	 * not; the active health checks (NULL: health_check off). */
	struct loop *loop;
	struct loop_timer state_timer;
	struct hc_set *hc;
	struct hp_client *spare; /* one freed client state, reused */
	char *head_out;          /* a response head as written for the client */
	size_t head_out_len;
};

/* Where a client is (struct hp_client's state). */
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
	int8_t source;     /* its proxy_source range (upstream.h) */
	uint8_t port_held; /* established: it holds a port of source */
	uint64_t t0_us;    /* its connect began */
	uint8_t reused;    /* it answered a request before this one */
	uint8_t sending;   /* inside hp_to_up: its close is the caller's */
	uint8_t lost;      /* it closed under hp_to_up */
};

/* A client: its input, the request in flight and its response. */
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
	union addr_sa peer; /* the client's address (AF_UNSPEC: unknown) */
	uint64_t asked_us;  /* the request head went upstream */
	char *fwd;          /* the head as sent upstream, kept until answered */
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

static inline struct hp_ctx *ctx_of(const struct conn *c)
{
	return conn_proto_ctx(c);
}

static inline uint64_t hp_now(const struct conn *c)
{
	return loop_now(conn_pool_loop(conn_pool_of(c)));
}

/* --- proto_httpproxy.c --- */

/* Appends n bytes to a growing buffer; 0, or -1 when out of memory. */
int hp_append(char **b, uint32_t *len, uint32_t *cap, const char *d, size_t n);
/* Reading a duplex connection on (1) or off (lazily: see
 * proto_httpproxy.c). 0, or -1 when resuming failed and c is closed. */
int hp_set_reading(struct conn *c, int on);
/* hc's upstream is read while the client takes what it sent. */
void hp_up_reads(struct hp_client *hc);
/* Sends to the client, or to hc's upstream: 0, or -1 when the send
 * failed and the exchange went on without that side (see above). */
int hp_to_client(struct hp_client *hc, const void *d, size_t n);
int hp_to_up(struct hp_client *hc, const void *d, size_t n);
/* A request answered, by the proxy or by a server. */
void hp_count_answer(struct hp_ctx *t, int status);
/* The proxy's own answer (400, 417, 502, 503, 504...) to hc's request;
 * its upstream, if any, is closed. 0, or -1 when the client closed. */
int hp_answer(struct hp_client *hc, int status);
/* GET, HEAD, OPTIONS, PUT, DELETE, TRACE (RFC 9110 9.2.2). */
int hp_idempotent(int m);
/* More of the request body to the upstream, as far as it takes it. */
void hp_forward_body(struct hp_client *hc);
/* hc's upstream is ready: the request head goes, then its body. */
void hp_send_request(struct hp_client *hc);
/* After an answer has left: the next request, or the close. */
void hp_process(struct hp_client *hc);

/* --- httpproxy_up.c --- */

/* Closes hc's upstream connection, not to be reused. */
void hp_drop_up(struct hp_client *hc);
/* Closes an idle upstream connection with a reset (no TIME_WAIT). */
void hp_discard_idle(struct conn *c);
/* Finds hc's upstream: pooled (unless fresh) or connected anew; with
 * none, the answer is 502 or 503. */
void hp_start_upstream(struct hp_client *hc, int fresh);
/* hc's upstream closed under the exchange: a re-send, a 502, or the
 * client is closed. */
void hp_up_lost(struct hp_client *hc);
/* The worker is set up: its ports are known, the health checks start. */
void hp_start(void *ctx, struct conn_pool *pool);
/* A server's state in the stats, again when the next one comes back. */
void hp_state_timer(struct loop_timer *timer);
/* An upstream connection's callbacks, from the protocol's. */
void hp_connected(struct conn *c, int err);
void hp_up_readable(struct hp_up *u);
void hp_up_writable(struct hp_up *u);
void hp_up_timeout(struct hp_up *u, int kind);
void hp_up_close(struct hp_up *u);

#endif
