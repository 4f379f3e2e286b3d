/* stats.c - the counter table generated from STATS_COUNTERS, the merge
 * rules that follow it, and the names of the worker states. No I/O and no
 * rendering (stats_json.c, stats_prom.c). */
#include "autoconfig.h"

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

		if (f->kind == STATS_GAUGE && !gauges)
			continue;
		for (unsigned k = 0; k < f->n; k++)
			stats_slot(dst, f)[k] += stats_value(src, f, k);
	}
}

void stats_accumulate(struct stats_counters *dst, const struct stats_counters *src)
{
	stats_merge(dst, src, 0);
}

void stats_add(struct stats_counters *dst, const struct stats_counters *src)
{
	stats_merge(dst, src, 1);
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
