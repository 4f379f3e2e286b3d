/* test_hist.c - the log-scale latency histograms (hist.h): every value
 * lies inside its bucket's bounds, the bounds grow by at most 1.5x, the
 * quantiles land in the right bucket, and merging buckets is what makes
 * quantiles over several workers right. */
#include "autoconfig.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "hist.h"

/* Each value from 0 to 2^26 (about 67 s), and some above, lies in
 * [lower, upper) of its bucket; buckets are ordered and contiguous. */
static void test_bucket_bounds(void **state)
{
	uint64_t v;

	(void)state;
	for (v = 0; v < (1u << 16); v++) {
		unsigned b = hist_bucket(v);

		assert_true(hist_lower(b) <= v);
		assert_true(v < hist_upper(b));
	}
	for (v = 1u << 16; v < (1ull << 26); v = v * 17 / 16 + 1) {
		unsigned b = hist_bucket(v);

		assert_true(hist_lower(b) <= v);
		assert_true(v < hist_upper(b));
	}
	assert_int_equal(hist_bucket(UINT64_MAX), HIST_NBUCKETS - 1);
	assert_true(hist_upper(HIST_NBUCKETS - 1) == UINT64_MAX);
	for (unsigned b = 0; b + 1 < HIST_NBUCKETS; b++) {
		assert_true(hist_upper(b) == hist_lower(b + 1));
		assert_true(hist_lower(b + 1) > hist_lower(b));
		/* From 4 us on, a bucket is at most half again its start. */
		if (hist_lower(b) >= 4)
			assert_true(hist_upper(b) * 2 <= hist_lower(b) * 3);
	}
	assert_int_equal(hist_lower(2), 2);
	assert_int_equal(hist_lower(3), 3);
	assert_int_equal(hist_lower(4), 4);
	assert_int_equal(hist_lower(5), 6);
	assert_int_equal(hist_lower(13), 96);
}

/* Quantiles: an empty histogram answers 0; a single value answers
 * within its bucket; 1000 values 1..1000 give p50 near 500 and p99 near
 * 990 (within a bucket's width). */
static void test_quantiles(void **state)
{
	uint64_t h[HIST_NBUCKETS] = { 0 };
	double q;

	(void)state;
	assert_true(hist_quantile(h, 0.5) == 0);
	hist_add(h, 700);
	q = hist_quantile(h, 0.99);
	assert_true(q >= 512 && q <= 768);
	memset(h, 0, sizeof(h));
	for (uint64_t v = 1; v <= 1000; v++)
		hist_add(h, v);
	assert_int_equal(hist_count(h), 1000);
	q = hist_quantile(h, 0.5);
	assert_true(q >= 500 * 2 / 3.0 && q <= 500 * 1.5);
	q = hist_quantile(h, 0.99);
	assert_true(q >= 990 * 2 / 3.0 && q <= 990 * 1.5);
	assert_true(hist_quantile(h, 0.99) >= hist_quantile(h, 0.5));
	/* Past the last bound: its lower bound, not a made-up value. */
	memset(h, 0, sizeof(h));
	hist_add(h, 1ull << 40);
	assert_true(hist_quantile(h, 0.5) ==
		    (double)hist_lower(HIST_NBUCKETS - 1));
}

/* Two workers: one fast (99 at 100 us, one at 10 ms), one slow (100 at
 * 1 ms). The median of all 200 is a slow one's (about 1 ms); the mean of
 * the two medians (about 550 us) is no value anybody saw. */
static void test_merge_not_average(void **state)
{
	uint64_t a[HIST_NBUCKETS] = { 0 }, b[HIST_NBUCKETS] = { 0 };
	double p50, p99;

	(void)state;
	for (int i = 0; i < 99; i++)
		hist_add(a, 100);
	hist_add(a, 10000);
	for (int i = 0; i < 100; i++)
		hist_add(b, 1000);
	hist_merge(a, b);
	assert_int_equal(hist_count(a), 200);
	p50 = hist_quantile(a, 0.5);
	assert_true(p50 >= 768 && p50 <= 1024);
	p99 = hist_quantile(a, 0.99);
	assert_true(p99 >= 768 && p99 <= 1024);
	assert_true(hist_quantile(a, 1.0) >= 8192);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bucket_bounds),
		cmocka_unit_test(test_quantiles),
		cmocka_unit_test(test_merge_not_average),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
