/* rb_sched.c - the due-time heap (see rb_sched.h). */
#include "autoconfig.h"

#include <stdlib.h>

#include "reuseportbench/rb_sched.h"

int rb_sched_init(struct rb_sched *s, uint32_t n)
{
	uint32_t i;

	s->len = 0;
	s->n = n;
	s->heap = calloc(n ? n : 1, sizeof(*s->heap));
	s->due = calloc(n ? n : 1, sizeof(*s->due));
	s->pos = calloc(n ? n : 1, sizeof(*s->pos));
	if (!s->heap || !s->due || !s->pos) {
		rb_sched_free(s);
		return -1;
	}
	for (i = 0; i < n; i++)
		s->pos[i] = RB_SCHED_NONE;
	return 0;
}

void rb_sched_free(struct rb_sched *s)
{
	free(s->heap);
	free(s->due);
	free(s->pos);
	s->heap = NULL;
	s->due = NULL;
	s->pos = NULL;
	s->len = 0;
}

static void place(struct rb_sched *s, uint32_t i, uint32_t id)
{
	s->heap[i] = id;
	s->pos[id] = i;
}

static void sift_up(struct rb_sched *s, uint32_t i)
{
	uint32_t id = s->heap[i], parent;

	while (i > 0) {
		parent = (i - 1) / 2;
		if (s->due[s->heap[parent]] <= s->due[id])
			break;
		place(s, i, s->heap[parent]);
		i = parent;
	}
	place(s, i, id);
}

static void sift_down(struct rb_sched *s, uint32_t i)
{
	uint32_t id = s->heap[i], child;

	for (;;) {
		child = 2 * i + 1;
		if (child >= s->len)
			break;
		if (child + 1 < s->len &&
		    s->due[s->heap[child + 1]] < s->due[s->heap[child]])
			child++;
		if (s->due[id] <= s->due[s->heap[child]])
			break;
		place(s, i, s->heap[child]);
		i = child;
	}
	place(s, i, id);
}

void rb_sched_set(struct rb_sched *s, uint32_t id, uint64_t due)
{
	uint32_t i;

	if (id >= s->n)
		return;
	s->due[id] = due;
	i = s->pos[id];
	if (i == RB_SCHED_NONE) {
		i = s->len++;
		place(s, i, id);
	}
	sift_up(s, i);
	sift_down(s, s->pos[id]);
}

void rb_sched_remove(struct rb_sched *s, uint32_t id)
{
	uint32_t i, last;

	if (id >= s->n || s->pos[id] == RB_SCHED_NONE)
		return;
	i = s->pos[id];
	s->pos[id] = RB_SCHED_NONE;
	last = s->heap[--s->len];
	if (i == s->len)
		return;
	place(s, i, last);
	sift_up(s, i);
	sift_down(s, s->pos[last]);
}

int rb_sched_peek(const struct rb_sched *s, uint32_t *id, uint64_t *due)
{
	if (s->len == 0)
		return 0;
	*id = s->heap[0];
	*due = s->due[s->heap[0]];
	return 1;
}
