/* util.c - small helpers shared by every module: the monotonic clock,
 * fd flags, sysctl reads, closing inherited fds in a fresh worker. Leaf:
 * it uses nothing of the daemon. */
#include "autoconfig.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#define UTIL_LSAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UTIL_LSAN 1
#endif
#endif
#ifdef UTIL_LSAN
#include <sanitizer/lsan_interface.h>
#endif

#include "util.h"

uint64_t util_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

uint64_t util_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

int util_set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0)
		return -1;
	return fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

int util_read_sysctl(const char *path, long *a, long *b)
{
	FILE *f = fopen(path, "re");
	int n;

	*a = -1;
	if (b)
		*b = -1;
	if (!f)
		return -1;
	n = b ? fscanf(f, "%ld %ld", a, b) : fscanf(f, "%ld", a);
	fclose(f);
	return n >= 1 ? 0 : -1;
}

static int cmp_int(const void *a, const void *b)
{
	int x = *(const int *)a, y = *(const int *)b;

	return (x > y) - (x < y);
}

void util_close_fds_except(const int *keep, int nkeep)
{
	int *sorted = malloc(sizeof(int) * (size_t)(nkeep > 0 ? nkeep : 1));
	int n = 0, lo = 3;

	if (!sorted)
		abort(); /* a child that cannot shed the master's fds must not run */
	for (int i = 0; i < nkeep; i++)
		if (keep[i] >= 3)
			sorted[n++] = keep[i];
	qsort(sorted, (size_t)n, sizeof(sorted[0]), cmp_int);
	for (int i = 0; i < n; i++) {
		if (sorted[i] > lo)
			close_range((unsigned)lo, (unsigned)sorted[i] - 1, 0);
		lo = sorted[i] + 1;
	}
	close_range((unsigned)lo, ~0u, 0);
	free(sorted);
}

void util_stdio_to_null(void)
{
	int fd = open("/dev/null", O_RDWR | O_CLOEXEC);

	if (fd < 0)
		return;
	for (int i = 0; i < 3; i++)
		if (fd != i)
			dup2(fd, i);
	if (fd > 2)
		close(fd);
}

void *util_map(size_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return NULL;
#ifdef UTIL_LSAN
	__lsan_register_root_region(p, size);
#endif
	return p;
}

void util_unmap(void *p, size_t size)
{
	if (!p)
		return;
#ifdef UTIL_LSAN
	__lsan_unregister_root_region(p, size);
#endif
	munmap(p, size);
}
