/* rb_time.h - the one clock every measurement uses. */
#ifndef RB_TIME_H
#define RB_TIME_H

#include <stdint.h>
#include <time.h>

#define RB_NS_PER_S UINT64_C(1000000000)
#define RB_NS_PER_MS UINT64_C(1000000)

/* Monotonic nanoseconds: immune to clock steps during a run. */
static inline uint64_t rb_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * RB_NS_PER_S + (uint64_t)ts.tv_nsec;
}

static inline uint64_t rb_s_to_ns(double s)
{
	return s <= 0 ? 0 : (uint64_t)(s * 1e9);
}

static inline double rb_ns_to_s(uint64_t ns)
{
	return (double)ns / 1e9;
}

/* Milliseconds to wait for something due at 'when', rounded up so a
 * poll() does not wake a little early and spin; 0 when already due. */
static inline int rb_wait_ms(uint64_t now, uint64_t when, int cap)
{
	uint64_t ms;

	if (when <= now)
		return 0;
	ms = (when - now + RB_NS_PER_MS - 1) / RB_NS_PER_MS;
	return ms > (uint64_t)cap ? cap : (int)ms;
}

#endif
