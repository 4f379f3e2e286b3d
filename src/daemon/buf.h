/* buf.h - a growable byte queue: append at the tail, consume at the head.
 * Used where output can be larger than one write (channel frames, stats
 * documents); connections use their own smaller buffers (conn.c). */
#ifndef RP_BUF_H
#define RP_BUF_H

#include <stddef.h>
#include <sys/types.h>

struct buf {
	char *data;
	size_t off; /* first unconsumed byte */
	size_t len; /* end of valid data */
	size_t cap;
};

static inline size_t buf_pending(const struct buf *b)
{
	return b->len - b->off;
}

static inline const char *buf_head(const struct buf *b)
{
	return b->data + b->off;
}

/* Makes room for n more bytes at the tail; returns the tail or NULL. */
char *buf_reserve(struct buf *b, size_t n);
int buf_append(struct buf *b, const void *p, size_t n);
void buf_commit(struct buf *b, size_t n);
void buf_consume(struct buf *b, size_t n);
void buf_free(struct buf *b);
/* Appends printf-style text; 0, or -1 (nothing appended) when out of
 * memory. */
int buf_printf(struct buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* The pending bytes as a malloc'd string, NUL-terminated; b is left
 * empty. NULL (and b freed) when out of memory. */
char *buf_take_str(struct buf *b);
/* Writes what is pending; returns bytes written, 0 on EAGAIN, -1 on error. */
ssize_t buf_write_fd(struct buf *b, int fd);
/* Reads up to max bytes; returns bytes read, 0 on EOF, -1 with errno. */
ssize_t buf_read_fd(struct buf *b, int fd, size_t max);

#endif
