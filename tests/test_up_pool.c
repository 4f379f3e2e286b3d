/* test_up_pool.c - the idle pool of upstream connections (up_pool.h):
 * newest reused first, past its bound keeping all but telling the excess,
 * removal from anywhere, and a pool of size 0 that keeps nothing. */
#include "autoconfig.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "up_pool.h"

static void test_empty_pool_gives_nothing(void **state)
{
	struct upp_pool p;

	(void)state;
	upp_init(&p, 4);
	assert_null(upp_get(&p));
	assert_int_equal(upp_count(&p), 0);
}

/* LIFO: the connection used last is reused first. */
static void test_newest_is_reused_first(void **state)
{
	struct upp_link l[3] = { { 0 } };
	struct upp_pool p;

	(void)state;
	upp_init(&p, 4);
	for (int i = 0; i < 3; i++)
		assert_null(upp_put(&p, &l[i]));
	assert_int_equal(upp_count(&p), 3);
	assert_ptr_equal(upp_get(&p), &l[2]);
	assert_ptr_equal(upp_get(&p), &l[1]);
	assert_false(upp_pooled(&l[1]));
	assert_true(upp_pooled(&l[0]));
	assert_ptr_equal(upp_get(&p), &l[0]);
	assert_null(upp_get(&p));
	assert_int_equal(upp_count(&p), 0);
}

/* Past max, a put still keeps the connection (a turn's burst of
 * returns is taken again next turn), and the pool says by how much it is
 * over and which one is oldest, for the caller to close later. */
static void test_over_max_keeps_and_tells(void **state)
{
	struct upp_link l[4] = { { 0 } };
	struct upp_pool p;

	(void)state;
	upp_init(&p, 2);
	assert_null(upp_put(&p, &l[0]));
	assert_null(upp_put(&p, &l[1]));
	assert_int_equal(upp_over(&p), 0);
	assert_null(upp_put(&p, &l[2]));
	assert_null(upp_put(&p, &l[3]));
	assert_int_equal(upp_count(&p), 4);
	assert_int_equal(upp_over(&p), 2);
	assert_ptr_equal(upp_oldest(&p), &l[0]);
	upp_remove(&p, &l[0]);
	assert_ptr_equal(upp_oldest(&p), &l[1]);
	assert_int_equal(upp_over(&p), 1);
	assert_ptr_equal(upp_get(&p), &l[3]); /* the newest still first */
	assert_int_equal(upp_over(&p), 0);
	assert_ptr_equal(upp_get(&p), &l[2]);
	assert_ptr_equal(upp_get(&p), &l[1]);
	assert_null(upp_oldest(&p));
}

/* proxy_pool 0: whatever is put is handed straight back. */
static void test_pool_of_zero_keeps_none(void **state)
{
	struct upp_link l = { 0 };
	struct upp_pool p;

	(void)state;
	upp_init(&p, 0);
	assert_ptr_equal(upp_put(&p, &l), &l);
	assert_false(upp_pooled(&l));
	assert_int_equal(upp_count(&p), 0);
	assert_null(upp_get(&p));
}

/* A connection that closed or expired leaves from the middle, the ends
 * or alone; removing one not pooled changes nothing. */
static void test_remove_from_anywhere(void **state)
{
	struct upp_link l[3] = { { 0 } }, stray = { 0 };
	struct upp_pool p;

	(void)state;
	upp_init(&p, 8);
	for (int i = 0; i < 3; i++)
		upp_put(&p, &l[i]);
	upp_remove(&p, &l[1]);
	assert_false(upp_pooled(&l[1]));
	assert_int_equal(upp_count(&p), 2);
	upp_remove(&p, &l[1]);
	upp_remove(&p, &stray);
	assert_int_equal(upp_count(&p), 2);
	upp_remove(&p, &l[0]); /* the oldest */
	assert_ptr_equal(upp_get(&p), &l[2]);
	assert_null(upp_get(&p));
	upp_put(&p, &l[1]);
	upp_remove(&p, &l[1]); /* the only one */
	assert_null(upp_get(&p));
	assert_int_equal(upp_count(&p), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty_pool_gives_nothing),
		cmocka_unit_test(test_newest_is_reused_first),
		cmocka_unit_test(test_over_max_keeps_and_tells),
		cmocka_unit_test(test_pool_of_zero_keeps_none),
		cmocka_unit_test(test_remove_from_anywhere),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
