/* hist.c - log-scale histograms of microseconds (hist.h). */
#include "autoconfig.h"

#include "hist.h"

/* Values 0 and 1 have a bucket each; from 2 on, a power of two 2^o
 * starts bucket 2o and 1.5 * 2^o starts bucket 2o + 1. */
unsigned hist_bucket(uint64_t us)
{
	unsigned o, b;

	if (us < 2)
		return (unsigned)us;
	o = 63u - (unsigned)__builtin_clzll(us);
	b = 2 * o + (unsigned)((us >> (o - 1)) & 1);
	return b < HIST_NBUCKETS ? b : HIST_NBUCKETS - 1;
}

uint64_t hist_lower(unsigned b)
{
	if (b < 2)
		return b;
	if (b >= HIST_NBUCKETS)
		return UINT64_MAX;
	return (b & 1) ? 3ull << (b / 2 - 1) : 1ull << (b / 2);
}

uint64_t hist_upper(unsigned b)
{
	return hist_lower(b + 1);
}

void hist_add(uint64_t *h, uint64_t us)
{
	h[hist_bucket(us)]++;
}

void hist_merge(uint64_t *dst, const uint64_t *src)
{
	for (unsigned b = 0; b < HIST_NBUCKETS; b++)
		dst[b] += src[b];
}

uint64_t hist_count(const uint64_t *h)
{
	uint64_t n = 0;

	for (unsigned b = 0; b < HIST_NBUCKETS; b++)
		n += h[b];
	return n;
}

double hist_quantile(const uint64_t *h, double q)
{
	uint64_t n = hist_count(h), rank, seen = 0;

	if (n == 0)
		return 0;
	rank = (uint64_t)(q * (double)n); /* ceil, without libm */
	if ((double)rank < q * (double)n || rank < 1)
		rank++;
	for (unsigned b = 0; b < HIST_NBUCKETS; b++) {
		double lo = (double)hist_lower(b);

		if (seen + h[b] < rank) {
			seen += h[b];
			continue;
		}
		if (b == HIST_NBUCKETS - 1)
			return lo;
		/* The bucket's values taken as evenly spread over it: the
		 * k-th of its m values sits at lo + width * k / m. */
		return lo + ((double)hist_upper(b) - lo) *
				    (double)(rank - seen) / (double)h[b];
	}
	return (double)hist_lower(HIST_NBUCKETS - 1);
}
