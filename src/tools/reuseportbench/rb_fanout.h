/* rb_fanout.h - one run over several processes. An open-files limit of
 * 20000 per process caps what one process can hold, so the parent forks
 * enough children, gives each a contiguous slice of the connections, and
 * steps them through the run together over two pipes each:
 *
 *   child:  ramp (connect its slice)      -> READY
 *   parent: all READY -> [PRINT, one child at a time] -> GO to all
 *   child:  hold / load ...
 *   parent: on SIGUSR1 (hold --echo-check) -> CHECK to all
 *   child:  a byte on each connection, count the echoes -> CHECKED
 *   parent: after --duration (or when all are done) -> STOP to all
 *   child:  drain, close                   -> RESULT, exit
 *
 * Children also send PROGRESS a few times a second for the parent's
 * progress line. Prefix rb_fanout_ (parent side), rb_chan_ (child side). */
#ifndef RB_FANOUT_H
#define RB_FANOUT_H

#include <stddef.h>
#include <stdint.h>

#include "reuseportbench/rb_opts.h"
#include "reuseportbench/rb_result.h"

enum rb_msg_type {
	RB_MSG_PROGRESS = 1,
	RB_MSG_READY,
	RB_MSG_PRINTED,
	RB_MSG_RESULT,
	RB_MSG_CHECKED, /* struct rb_check */
};

/* Control bytes, parent to child. */
#define RB_CTL_PRINT 'P'
#define RB_CTL_GO 'G'
#define RB_CTL_STOP 'S'
#define RB_CTL_CHECK 'C'

/* One echo check while holding: what this child's connections said. */
struct rb_check {
	uint64_t ok, failed;
};

struct rb_progress {
	uint64_t attempted;
	uint64_t established;
	uint64_t failed;
	uint64_t open;
	uint64_t messages;
	uint64_t errors;
};

/* The part of the run one child does. */
struct rb_slice {
	uint32_t index; /* child number */
	uint32_t nprocs;
	uint64_t first;    /* global number of its first connection */
	uint32_t count;    /* connections */
	uint64_t requests; /* its share of --requests, if given */
};

/* The child's ends of its two pipes. */
struct rb_chan {
	int up;   /* child -> parent messages */
	int down; /* parent -> child control bytes (non-blocking) */
};

typedef int (*rb_child_fn)(const struct rb_opts *o, const struct rb_slice *s,
			   const struct rb_chan *c);

struct rb_run {
	uint32_t nprocs;
	uint32_t per_process;
	uint32_t lost;   /* children that ended without a result */
	int interrupted; /* SIGINT/SIGTERM cut the run short */
	double ramp_s;   /* start until every child was ready */
	double run_s;    /* GO until STOP */
	double total_s;
};

/* How many processes a run needs: at least o->processes, and enough that
 * none holds more than o->per_process connections. */
uint32_t rb_fanout_plan(const struct rb_opts *o);
/* Child k's slice of a run over nprocs processes. */
void rb_fanout_slice(const struct rb_opts *o, uint32_t nprocs, uint32_t k,
		     struct rb_slice *s);

/* Runs fn in each child and adds their results into total. Returns 0, or
 * -1 with errno if the children could not be started at all. */
int rb_fanout_run(const struct rb_opts *o, rb_child_fn fn,
		  struct rb_result *total, struct rb_run *run);

int rb_chan_send(const struct rb_chan *c, uint32_t type, const void *p,
		 size_t len);
/* The next control byte, 0 when none is waiting, -1 when the parent is
 * gone (then the child should stop). */
int rb_chan_control(const struct rb_chan *c);

/* What the parent has asked so far; a child clears 'print' once done. */
struct rb_ctl {
	int print;
	int go;
	int stop;
	int check;
};
/* Reads every waiting control byte into ctl; the parent gone means stop. */
void rb_chan_read_control(const struct rb_chan *c, struct rb_ctl *ctl);

#endif
