/* stats.c - the counter table generated from STATS_COUNTERS, the merge
 * rules that follow it, and the names of the worker states. No I/O and no
 * rendering (stats_json.c, stats_prom.c). */
#include "autoconfig.h"

#include <errno.h>
#include <string.h>

#include "stats.h"
#include "util.h"

#define STATS_ENTRY(name_, kind_, scope_, prom_, help_) \
	{ .name = #name_, \
	  .kind = kind_, \
	  .scope = scope_, \
	  .prom = prom_, \
	  .help = help_, \
	  .offset = offsetof(struct stats_counters, name_), \
	  .n = sizeof(((struct stats_counters *)0)->name_) / sizeof(uint64_t) },

const struct stats_field stats_fields[] = { STATS_COUNTERS(STATS_ENTRY) };
const size_t stats_nfields = UTIL_ARRAY_LEN(stats_fields);

static inline uint64_t *stats_slot(struct stats_counters *c,
				   const struct stats_field *f)
{
	return (uint64_t *)(void *)((char *)c + f->offset);
}

static void stats_merge(struct stats_counters *dst,
			const struct stats_counters *src, int gauges)
{
	for (size_t i = 0; i < stats_nfields; i++) {
		const struct stats_field *f = &stats_fields[i];

		if (stats_kind_is_gauge(f->kind) && !gauges)
			continue;
		/* A zero is not added: the pages of dst that only zeros
		 * would reach (an echo worker's upstream histograms) stay
		 * untouched, in the master and in the workers it forks. */
		for (unsigned k = 0; k < f->n; k++) {
			uint64_t v = stats_value(src, f, k);

			if (v)
				stats_slot(dst, f)[k] += v;
		}
	}
}

void stats_clear(struct stats_counters *c)
{
	uint64_t *w = (uint64_t *)(void *)c;

	for (size_t i = 0; i < sizeof(*c) / sizeof(*w); i++)
		if (w[i])
			w[i] = 0;
}

void stats_accumulate(struct stats_counters *dst, const struct stats_counters *src)
{
	stats_merge(dst, src, 0);
}

void stats_add(struct stats_counters *dst, const struct stats_counters *src)
{
	stats_merge(dst, src, 1);
}

unsigned stats_vhost_slot(struct stats_vhost_names *t, const char *name)
{
	unsigned k, free_slot = STATS_VHOST_OTHER;

	if (strlen(name) > STATS_VHOST_NAME_MAX)
		return STATS_VHOST_OTHER;
	for (k = 0; k < STATS_NVHOSTS; k++) {
		if (!strcmp(t->name[k], name))
			return k;
		if (!t->name[k][0] && free_slot == STATS_VHOST_OTHER)
			free_slot = k;
	}
	if (free_slot != STATS_VHOST_OTHER)
		memcpy(t->name[free_slot], name, strlen(name) + 1);
	return free_slot;
}

const char *stats_vhost_label(const struct stats_vhost_names *t, unsigned k)
{
	if (k == STATS_VHOST_OTHER)
		return "(other)";
	if (k == STATS_VHOST_DEFAULT)
		return "(default)";
	if (!t || k >= STATS_NVHOSTS || !t->name[k][0])
		return NULL;
	return t->name[k];
}

const char *stats_worker_state_name(enum stats_worker_state s)
{
#define STATS_STATE_NAME(id, name) [id] = name,
	static const char *const names[] = { STATS_WORKER_STATES(
		STATS_STATE_NAME) };
#undef STATS_STATE_NAME

	if ((size_t)s >= UTIL_ARRAY_LEN(names))
		return "unknown";
	return names[s];
}

enum stats_err_class stats_errno_class(int err)
{
	switch (err) {
	case ECONNREFUSED:
		return STATS_ERR_REFUSED;
	case ETIMEDOUT:
		return STATS_ERR_TIMEOUT;
	case ENETUNREACH:
	case EHOSTUNREACH:
	case ENETDOWN:
	case EHOSTDOWN:
		return STATS_ERR_UNREACHABLE;
	case EADDRNOTAVAIL: /* connect(2): no ephemeral port left */
		return STATS_ERR_NO_PORT;
	default:
		return STATS_ERR_OTHER;
	}
}

#define STATS_NAME_ENTRY(id, name) [id] = name,
const char *stats_err_name(unsigned k)
{
	static const char *const names[] = { STATS_ERR_CLASSES(STATS_NAME_ENTRY) };

	return k < UTIL_ARRAY_LEN(names) ? names[k] : "unknown";
}

const char *stats_down_name(unsigned k)
{
	static const char *const names[] = { STATS_DOWN_REASONS(STATS_NAME_ENTRY) };

	return k < UTIL_ARRAY_LEN(names) ? names[k] : "unknown";
}
#undef STATS_NAME_ENTRY
