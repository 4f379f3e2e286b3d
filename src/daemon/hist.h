/* hist.h - fixed-size log-scale histograms of durations in microseconds,
 * for latencies that workers count and the master merges. Prefix hist_.
 *
 * Two buckets per power of two (bounds 1, 2, 3, 4, 6, 8, 12, 16, 24 ...
 * us): a value is known to within a factor of 1.5, whatever its size,
 * in HIST_NBUCKETS counters. Merging is adding bucket by bucket, so the
 * quantiles of several workers come from their summed buckets, never
 * from their own quantiles (which cannot be combined). No allocation,
 * no I/O. */
#ifndef RP_HIST_H
#define RP_HIST_H

#include <stdint.h>

/* Bucket 51 holds [2^25 * 1.5 us, ...): everything from about 50 s. */
#define HIST_NBUCKETS 52

/* The bucket of a value (clamped into the last one). */
unsigned hist_bucket(uint64_t us);
/* The lower bound of bucket b, in us; hist_upper(b) = hist_lower(b + 1)
 * (UINT64_MAX for the last bucket). */
uint64_t hist_lower(unsigned b);
uint64_t hist_upper(unsigned b);
/* h[hist_bucket(us)]++ */
void hist_add(uint64_t *h, uint64_t us);
/* dst[b] += src[b] for every bucket. */
void hist_merge(uint64_t *dst, const uint64_t *src);
uint64_t hist_count(const uint64_t *h);
/* The q-quantile (0 < q <= 1) in us: the value of rank ceil(q * count),
 * placed by linear interpolation inside its bucket (the last bucket
 * answers its lower bound). 0 for an empty histogram. */
double hist_quantile(const uint64_t *h, double q);

#endif
