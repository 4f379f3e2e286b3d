/* rb_hist.c - log-linear histogram (see rb_hist.h).
 *
 * Values below 2*SUB are their own bucket. Above that, a value whose top
 * bit is bit m falls in "half-octave" e = m - SUB_BITS, and keeps only
 * its top SUB_BITS+1 bits (v >> e, in [SUB, 2*SUB)); the bucket is
 * (e + 1) * SUB + (v >> e) - SUB. Buckets are contiguous, so a linear
 * scan walks the values in order. */
#include "autoconfig.h"

#include <string.h>

#include "reuseportbench/rb_hist.h"

void rb_hist_init(struct rb_hist *h)
{
	memset(h, 0, sizeof(*h));
	h->min = UINT64_MAX;
}

size_t rb_hist_index(uint64_t v)
{
	unsigned msb, e;

	if (v > RB_HIST_MAX_VALUE)
		v = RB_HIST_MAX_VALUE;
	if (v < 2 * RB_HIST_SUB)
		return (size_t)v;
	msb = 63u - (unsigned)__builtin_clzll(v);
	e = msb - RB_HIST_SUB_BITS;
	return (size_t)(e + 1) * RB_HIST_SUB + (size_t)((v >> e) - RB_HIST_SUB);
}

uint64_t rb_hist_lowest(size_t idx)
{
	unsigned e;
	uint64_t sub;

	if (idx < 2 * RB_HIST_SUB)
		return idx;
	e = (unsigned)(idx / RB_HIST_SUB) - 1;
	sub = idx % RB_HIST_SUB + RB_HIST_SUB;
	return sub << e;
}

uint64_t rb_hist_highest(size_t idx)
{
	unsigned e;

	if (idx < 2 * RB_HIST_SUB)
		return idx;
	e = (unsigned)(idx / RB_HIST_SUB) - 1;
	return rb_hist_lowest(idx) + ((UINT64_C(1) << e) - 1);
}

void rb_hist_record(struct rb_hist *h, uint64_t v)
{
	if (v > RB_HIST_MAX_VALUE)
		h->saturated++;
	h->b[rb_hist_index(v)]++;
	h->count++;
	h->sum += v;
	if (v < h->min)
		h->min = v;
	if (v > h->max)
		h->max = v;
}

void rb_hist_merge(struct rb_hist *dst, const struct rb_hist *src)
{
	size_t i;

	if (src->count == 0)
		return;
	for (i = 0; i < RB_HIST_BUCKETS; i++)
		dst->b[i] += src->b[i];
	dst->count += src->count;
	dst->sum += src->sum;
	dst->saturated += src->saturated;
	if (src->min < dst->min)
		dst->min = src->min;
	if (src->max > dst->max)
		dst->max = src->max;
}

uint64_t rb_hist_percentile(const struct rb_hist *h, double p)
{
	uint64_t want, seen = 0, v;
	double exact;
	size_t i;

	if (h->count == 0)
		return 0;
	if (p <= 0.0)
		return h->min;
	if (p >= 100.0)
		return h->max;
	/* The rank of the sample wanted, rounded up: p99 of 10 samples is the
	 * 10th, never the 9th, so a single outlier is not hidden. */
	exact = p / 100.0 * (double)h->count;
	want = (uint64_t)exact;
	if ((double)want < exact)
		want++;
	if (want == 0)
		want = 1;
	for (i = 0; i < RB_HIST_BUCKETS; i++) {
		seen += h->b[i];
		if (seen >= want)
			break;
	}
	/* The last bucket has no upper bound once values were clamped. */
	if (i >= RB_HIST_BUCKETS || (i == RB_HIST_BUCKETS - 1 && h->saturated))
		return h->max;
	v = rb_hist_highest(i);
	if (v > h->max)
		v = h->max;
	if (v < h->min)
		v = h->min;
	return v;
}

double rb_hist_mean(const struct rb_hist *h)
{
	return h->count ? (double)h->sum / (double)h->count : 0.0;
}
