/* rb_load.h - the echo and http load of one child process: keep its
 * connections busy with one request outstanding each, closed loop (the
 * next request as soon as the answer is in) or open loop (--rate: each
 * connection sends on a fixed schedule, and latency counts from the
 * intended send time, so a stalled server shows in the tail instead of
 * just slowing the senders down). Prefix rb_load_. */
#ifndef RB_LOAD_H
#define RB_LOAD_H

#include "reuseportbench/rb_fanout.h"
#include "reuseportbench/rb_proto.h"

/* An rb_child_fn for echo and http (the protocol follows o->mode). */
int rb_load_child(const struct rb_opts *o, const struct rb_slice *s,
		  const struct rb_chan *c);

#endif
