/* rb_hist.h - a log-linear latency histogram in the spirit of HdrHistogram:
 * 128 linear sub-buckets per power of two, so any recorded value is known
 * to better than 1% (two significant digits) from 0 up to ~19 hours of
 * microseconds, in a fixed 30 KiB that merges by addition. Prefix rb_hist_. */
#ifndef RB_HIST_H
#define RB_HIST_H

#include <stddef.h>
#include <stdint.h>

#define RB_HIST_SUB_BITS 7
#define RB_HIST_SUB (1u << RB_HIST_SUB_BITS)
/* Values at or above 2^RB_HIST_MAX_BITS are clamped into the last bucket
 * (and counted in 'saturated'); max still keeps the true value. */
#define RB_HIST_MAX_BITS 36
#define RB_HIST_MAX_VALUE ((UINT64_C(1) << RB_HIST_MAX_BITS) - 1)
#define RB_HIST_BUCKETS \
	((RB_HIST_MAX_BITS - RB_HIST_SUB_BITS + 1) * RB_HIST_SUB)

struct rb_hist {
	uint64_t count;
	uint64_t sum;
	uint64_t min;
	uint64_t max;
	uint64_t saturated;
	uint64_t b[RB_HIST_BUCKETS];
};

void rb_hist_init(struct rb_hist *h);
void rb_hist_record(struct rb_hist *h, uint64_t v);
void rb_hist_merge(struct rb_hist *dst, const struct rb_hist *src);

/* The value at percentile p (0..100): the highest value equivalent to
 * the bucket holding the ceil(p% of count)-th smallest sample, but never
 * above the true max nor below the true min. 0 when empty. */
uint64_t rb_hist_percentile(const struct rb_hist *h, double p);
double rb_hist_mean(const struct rb_hist *h);

/* Bucket arithmetic, exposed for the unit tests. */
size_t rb_hist_index(uint64_t v);
uint64_t rb_hist_lowest(size_t idx);
uint64_t rb_hist_highest(size_t idx);

#endif
