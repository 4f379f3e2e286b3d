/* rb_sched.h - when each connection next has something to do: a binary
 * min-heap of connection ids keyed by a monotonic time, with each id's
 * position kept so it can be moved or removed in O(log n). Open-loop
 * load (--rate) puts every connection's next intended send time here,
 * and retries after a failed connect wait here too. Prefix rb_sched_. */
#ifndef RB_SCHED_H
#define RB_SCHED_H

#include <stdint.h>

#define RB_SCHED_NONE UINT32_MAX

struct rb_sched {
	uint32_t *heap; /* ids, earliest first */
	uint64_t *due;  /* by id */
	uint32_t *pos;  /* by id: index in heap, RB_SCHED_NONE if absent */
	uint32_t len;
	uint32_t n; /* ids are 0..n-1 */
};

int rb_sched_init(struct rb_sched *s, uint32_t n);
void rb_sched_free(struct rb_sched *s);

/* Schedules id at 'due', or moves it there if already scheduled. */
void rb_sched_set(struct rb_sched *s, uint32_t id, uint64_t due);
void rb_sched_remove(struct rb_sched *s, uint32_t id);
/* The earliest id and its time; 0 when empty. */
int rb_sched_peek(const struct rb_sched *s, uint32_t *id, uint64_t *due);
static inline int rb_sched_has(const struct rb_sched *s, uint32_t id)
{
	return s->pos[id] != RB_SCHED_NONE;
}

#endif
