/* rb_hold.h - hold mode in one child process: open its slice of the
 * connections, report READY, keep them open until STOP, and count any
 * the server drops meanwhile. Prefix rb_hold_. */
#ifndef RB_HOLD_H
#define RB_HOLD_H

#include "reuseportbench/rb_fanout.h"

/* An rb_child_fn. */
int rb_hold_child(const struct rb_opts *o, const struct rb_slice *s,
		  const struct rb_chan *c);

/* Writes "Connection i: local IP:PORT -> HOST:PORT" for each connection
 * of the slice (shared with the load modes, which can print too). */
struct rb_pool;
void rb_hold_print_ports(const struct rb_opts *o, const struct rb_slice *s,
			 const struct rb_pool *pool);

#endif
