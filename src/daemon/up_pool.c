/* up_pool.c - idle upstream connections kept for reuse (up_pool.h): a
 * circular list around a head, newest first. */
#include "autoconfig.h"

#include "up_pool.h"

void upp_init(struct upp_pool *p, unsigned max)
{
	p->head.prev = p->head.next = &p->head;
	p->n = 0;
	p->max = max;
}

static void unlink_one(struct upp_pool *p, struct upp_link *l)
{
	l->prev->next = l->next;
	l->next->prev = l->prev;
	l->prev = l->next = NULL;
	p->n--;
}

struct upp_link *upp_put(struct upp_pool *p, struct upp_link *l)
{
	if (p->max == 0)
		return l;
	l->prev = &p->head;
	l->next = p->head.next;
	p->head.next->prev = l;
	p->head.next = l;
	p->n++;
	return NULL;
}

struct upp_link *upp_oldest(struct upp_pool *p)
{
	return p->n ? p->head.prev : NULL;
}

struct upp_link *upp_get(struct upp_pool *p)
{
	struct upp_link *l = p->head.next;

	if (l == &p->head)
		return NULL;
	unlink_one(p, l);
	return l;
}

void upp_remove(struct upp_pool *p, struct upp_link *l)
{
	if (upp_pooled(l))
		unlink_one(p, l);
}
