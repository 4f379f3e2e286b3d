/* test_proc.c - the worker records' watchdog arithmetic (proc.c): the
 * time a silent worker waited for a CPU is not held against it, and the
 * kernel's count of that time is read right. */
#define _GNU_SOURCE
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "proc.h"

#define MS 1000000ull
/* the worker's CPU time: the same at every look, a starved one */
#define RUN (7 * MS)

/* The first look is the baseline; each later one moves progress_ms by
 * the whole ms waited since, never past now, and keeps the rest. */
static void test_wait_is_excused(void **state)
{
	struct proc p;

	(void)state;
	memset(&p, 0, sizeof(p));
	p.progress_ms = 1000;
	assert_int_equal(proc_excuse_wait(&p, 5000, RUN, 40 * MS), 0);
	assert_int_equal(p.progress_ms, 1000);
	/* 2.5 s waited of the next 3 s: 2,500 ms excused */
	assert_int_equal(proc_excuse_wait(&p, 8000, RUN,
					  40 * MS + 2500 * MS + 400000),
			 2500);
	assert_int_equal(p.progress_ms, 3500);
	/* the 0.4 ms left over counts with the next 0.6 ms */
	assert_int_equal(proc_excuse_wait(&p, 8100, RUN, 40 * MS + 2501 * MS), 1);
	assert_int_equal(p.progress_ms, 3501);
	/* no more waiting: nothing excused */
	assert_int_equal(proc_excuse_wait(&p, 9000, RUN, 40 * MS + 2501 * MS), 0);
	assert_int_equal(p.progress_ms, 3501);
	/* never past now */
	assert_int_equal(proc_excuse_wait(&p, 9000, RUN, 40 * MS + 9000 * MS),
			 6499);
	assert_int_equal(p.progress_ms, 9000);
}

/* A worker that ran 2 s of CPU in its silence without a loop turn or a
 * counter moving spins: however long it also waited (its share of a
 * crowded CPU), nothing is excused from then on. */
static void test_spinning_is_not_excused(void **state)
{
	struct proc p;

	(void)state;
	memset(&p, 0, sizeof(p));
	p.progress_ms = 1000;
	proc_excuse_wait(&p, 2000, 100 * MS, 0);
	/* 1.9 s of CPU, 3 s waited: still a starved one */
	assert_int_equal(proc_excuse_wait(&p, 6000, 2000 * MS, 3000 * MS), 3000);
	assert_int_equal(p.progress_ms, 4000);
	/* 2 s of CPU since the silence began, and more waiting: spinning */
	assert_int_equal(proc_excuse_wait(&p, 12000, 2100 * MS, 8000 * MS), 0);
	assert_int_equal(p.progress_ms, 4000);
}

/* After a reset (the worker spoke, or another process in the slot) the
 * next look is a baseline again: what the counter grew meanwhile was
 * not silence. */
static void test_reset_starts_over(void **state)
{
	struct proc p;

	(void)state;
	memset(&p, 0, sizeof(p));
	p.progress_ms = 100;
	proc_excuse_wait(&p, 200, RUN, 10 * MS);
	proc_starved_reset(&p);
	assert_int_equal(proc_excuse_wait(&p, 5000, RUN, 4000 * MS), 0);
	assert_int_equal(p.progress_ms, 100);
}

static void spin_ms(long ms)
{
	struct timespec t0, t;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	do
		clock_gettime(CLOCK_MONOTONIC, &t);
	while ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000 <
	       ms);
}

static pid_t spinner_on_cpu0(long ms)
{
	pid_t pid = fork();

	if (pid == 0) {
		cpu_set_t one;

		CPU_ZERO(&one);
		CPU_SET(0, &one);
		sched_setaffinity(0, sizeof(one), &one);
		spin_ms(ms);
		_exit(0);
	}
	return pid;
}

/* Two busy processes on one CPU: each waits for it about half the time
 * and runs the other half, and the kernel's counts (schedstat) say so. */
static void test_run_delay_grows_when_sharing_a_cpu(void **state)
{
	uint64_t run, wait;
	pid_t a, b;
	int st;

	(void)state;
	assert_int_equal(proc_sched(getpid(), &run, &wait), 0);
	a = spinner_on_cpu0(600);
	b = spinner_on_cpu0(600);
	assert_true(a > 0 && b > 0);
	/* b's own counts, read while both spin */
	spin_ms(300);
	assert_int_equal(proc_sched(b, &run, &wait), 0);
	assert_int_equal(waitpid(a, &st, 0), a);
	assert_int_equal(waitpid(b, &st, 0), b);
	print_message("# a process sharing a CPU, in its first 300 ms: ran %llu ms, waited %llu ms\n",
		      (unsigned long long)(run / MS),
		      (unsigned long long)(wait / MS));
	assert_true(wait >= 50 * MS);
	assert_true(run >= 10 * MS);
	/* a process that is gone has no counts */
	assert_int_equal(proc_sched(b, &run, &wait), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_wait_is_excused),
		cmocka_unit_test(test_spinning_is_not_excused),
		cmocka_unit_test(test_reset_starts_over),
		cmocka_unit_test(test_run_delay_grows_when_sharing_a_cpu),
	};

	return cmocka_run_group_tests_name("proc", tests, NULL, NULL);
}
