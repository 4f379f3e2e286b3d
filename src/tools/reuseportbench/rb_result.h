/* rb_result.h - everything one process measured, in one fixed-size,
 * pointer-free struct: a child sends it to the parent as bytes over a
 * pipe and the parent adds the children up with rb_result_merge().
 * Prefix rb_result_ / rb_stage_. */
#ifndef RB_RESULT_H
#define RB_RESULT_H

#include <stdint.h>

#include "reuseportbench/rb_addr.h"
#include "reuseportbench/rb_hist.h"

/* Where a socket call failed: the same errno means different things at
 * different steps (EADDRNOTAVAIL from bind() is "not our address", from
 * connect() "no free port left"). */
enum rb_stage {
	RB_STAGE_SOCKET,
	RB_STAGE_BIND,
	RB_STAGE_CONNECT,   /* connect() itself */
	RB_STAGE_HANDSHAKE, /* SO_ERROR after a non-blocking connect */
	RB_STAGE_READ,
	RB_STAGE_WRITE,
	RB_STAGE_COUNT
};

#define RB_ERRNO_SLOTS 256
#define RB_STATUS_MIN 100
#define RB_STATUS_MAX 599

struct rb_src_stat {
	uint32_t conns;
	uint16_t port_min;
	uint16_t port_max;
};

struct rb_result {
	/* connects */
	uint64_t attempted;
	uint64_t established;
	uint64_t ramp_established; /* of those, during the ramp */
	uint64_t connect_failed;   /* includes connect_timeouts */
	uint64_t connect_timeouts; /* no answer within --connect-timeout */
	uint64_t peak_open;
	uint64_t open_at_go;   /* open when the load/hold phase began */
	uint64_t open_at_stop; /* open when it ended */
	uint64_t dropped;      /* open and idle, then closed by the peer */
	uint64_t echo_ok, echo_failed; /* hold --echo-check */
	uint64_t retried;              /* idempotent requests sent again: their
				     * kept-alive connection closed before any
				     * byte of the answer */
	/* load */
	uint64_t messages; /* completed requests or echoed messages */
	uint64_t bytes_sent;
	uint64_t bytes_received;
	uint64_t resets;          /* reset or broken pipe mid-message */
	uint64_t short_reads;     /* EOF before the whole echo/response */
	uint64_t mismatched_msgs; /* echo: messages with a wrong byte */
	uint64_t mismatched_bytes;
	uint64_t protocol_errors;  /* http: unparsable response */
	uint64_t request_timeouts; /* no complete answer within --timeout */
	uint64_t unexpected;       /* bytes with no request outstanding */
	uint64_t unfinished;       /* still in flight when the drain ended */
	uint64_t reconnects;       /* new connections after a clean close */
	uint64_t status[RB_STATUS_MAX - RB_STATUS_MIN + 1];
	uint64_t status_other;
	/* phase times, seconds, as this process saw them */
	double ramp_s;
	double run_s;
	uint64_t errs[RB_STAGE_COUNT][RB_ERRNO_SLOTS];
	/* local port spread; index 0 stands for "auto" without --source */
	struct rb_src_stat src[RB_MAX_SOURCES];
	uint8_t port_seen[65536 / 8];
	struct rb_hist connect_lat; /* us, SYN to established */
	struct rb_hist latency;     /* us, from the intended send time */
	struct rb_hist service;     /* us, from the actual send time */
};

void rb_result_init(struct rb_result *r);
void rb_result_merge(struct rb_result *dst, const struct rb_result *src);

void rb_result_error(struct rb_result *r, enum rb_stage st, int err);
void rb_result_port(struct rb_result *r, uint32_t src_idx, uint16_t port);
void rb_result_status(struct rb_result *r, int status);

uint64_t rb_result_distinct_ports(const struct rb_result *r);
/* Errors of the load phase (not connects, not non-2xx statuses). */
uint64_t rb_result_load_errors(const struct rb_result *r);
/* Responses with a status outside 200-399. */
uint64_t rb_result_bad_statuses(const struct rb_result *r);

const char *rb_stage_name(enum rb_stage st);
/* "ECONNREFUSED", or "E123" when the C library has no name. */
const char *rb_errno_name(int err, char *buf, size_t len);
/* What an operator should make of err at st, in one phrase. */
const char *rb_explain(enum rb_stage st, int err);

#endif
