/* rb_opts.h - what one reuseportbench run was asked to do. Filled by
 * rb_main.c, read (never written) by every other module. */
#ifndef RB_OPTS_H
#define RB_OPTS_H

#include <stdint.h>

#include "reuseportbench/rb_addr.h"

enum rb_mode { RB_MODE_HOLD, RB_MODE_ECHO, RB_MODE_HTTP };

#define RB_MAX_CONNECTIONS 10000000u
#define RB_MAX_PROCESSES 1024u
#define RB_MAX_SIZE (16u << 20)
#define RB_MAX_PATH 1024u
#define RB_MAX_DURATION 86400.0

struct rb_opts {
	enum rb_mode mode;
	struct rb_target target;
	struct rb_sources sources;
	uint32_t connections;
	double duration_s;    /* hold time, or load time */
	uint64_t requests;    /* echo/http: stop after this many (0: none) */
	uint32_t size;        /* echo message size */
	double rate;          /* per second over the whole run; 0: closed loop
				 * (hold: connects per second; 0: unpaced) */
	const char *path;     /* http */
	int close_each;       /* http: one connection per request */
	uint32_t processes;   /* at least this many */
	uint32_t per_process; /* at most this many connections each */
	uint32_t inflight;    /* connects in progress at once, per process */
	double connect_timeout_s;
	double request_timeout_s;
	double drain_timeout_s;
	int json;
	int print_ports;
	int echo_check; /* hold: at the end, one byte each must echo back */
	int allow_failures;
	int progress; /* progress line on stderr */
};

static inline const char *rb_mode_name(enum rb_mode m)
{
	return m == RB_MODE_HOLD ? "hold" : m == RB_MODE_ECHO ? "echo" : "http";
}

#endif
