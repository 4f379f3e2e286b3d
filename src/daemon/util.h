/* util.h - small helpers shared by every module (a leaf: it uses nothing
 * of the daemon): array length, min/max, container_of, the monotonic clock,
 * fd flags, sysctl reads, and the fd hygiene of a freshly forked worker. */
#ifndef RP_UTIL_H
#define RP_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define UTIL_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define UTIL_MIN(a, b) ((a) < (b) ? (a) : (b))
#define UTIL_MAX(a, b) ((a) > (b) ? (a) : (b))
#define util_container_of(ptr, type, member) \
	((type *)(void *)((char *)(ptr)-offsetof(type, member)))

/* Text built by copying, not printing (an answer's head, a log line):
 * each writes at p, which has room, and returns the end. */
static inline char *util_put(char *p, const char *s, size_t n)
{
	memcpy(p, s, n);
	return p + n;
}

#define UTIL_PUT_LIT(p, lit) util_put((p), (lit), sizeof(lit) - 1)

/* v in decimal: at most 20 bytes. */
static inline char *util_put_u64(char *p, uint64_t v)
{
	char d[20];
	size_t n = 0;

	do
		d[n++] = (char)('0' + v % 10);
	while ((v /= 10) != 0);
	while (n)
		*p++ = d[--n];
	return p;
}

uint64_t util_now_ms(void);
/* The same clock in microseconds (latencies). */
uint64_t util_now_us(void);
int util_set_nonblock(int fd);
/* Reads the first (and second) integer of a /proc file (a sysctl, a
 * process's schedstat); -1 if absent. */
int util_read_sysctl(const char *path, long *a, long *b);
/* Closes every descriptor >= 3 that is not in keep[]: a forked worker
 * must not hold the master's sockets (a client of the stats socket would
 * never see EOF, an old listener would never really close). */
void util_close_fds_except(const int *keep, int nkeep);

/* Points stdin, stdout and stderr at /dev/null. */
void util_stdio_to_null(void);

/* size bytes of fresh zeroed pages (MAP_PRIVATE | MAP_ANONYMOUS), or
 * NULL: memory whose untouched pages cost nothing, in this process or in
 * a child forked later. Under LeakSanitizer the region is a root, so
 * that what it points to on the heap is not reported as leaked (LSan
 * scans the heap and the globals, not anonymous mappings). */
void *util_map(size_t size);
void util_unmap(void *p, size_t size);

#endif
