/* buf.c - a growable byte queue (append at the tail, consume at the head,
 * compact when the head has moved far), with reads and writes on a
 * non-blocking fd. It never blocks and never frees behind the caller. */
#include "autoconfig.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"

char *buf_reserve(struct buf *b, size_t n)
{
	if (b->off == b->len)
		b->off = b->len = 0;
	if (b->cap - b->len >= n)
		return b->data + b->len;
	/* Slide the pending bytes to the front before growing: a queue that
	 * is drained as fast as it fills never grows. */
	if (b->off > 0) {
		memmove(b->data, b->data + b->off, b->len - b->off);
		b->len -= b->off;
		b->off = 0;
		if (b->cap - b->len >= n)
			return b->data + b->len;
	}
	size_t cap = b->cap ? b->cap : 1024;

	while (cap - b->len < n) {
		if (cap > ((size_t)-1) / 2)
			return NULL;
		cap *= 2;
	}
	char *p = realloc(b->data, cap);

	if (!p)
		return NULL;
	b->data = p;
	b->cap = cap;
	return b->data + b->len;
}

void buf_commit(struct buf *b, size_t n)
{
	b->len += n;
}

int buf_append(struct buf *b, const void *p, size_t n)
{
	char *t = buf_reserve(b, n);

	if (!t)
		return -1;
	if (n)
		memcpy(t, p, n);
	b->len += n;
	return 0;
}

void buf_consume(struct buf *b, size_t n)
{
	b->off += n;
	if (b->off >= b->len)
		b->off = b->len = 0;
}

void buf_free(struct buf *b)
{
	free(b->data);
	memset(b, 0, sizeof(*b));
}

int buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(b->data ? b->data + b->len : NULL,
		      b->data ? b->cap - b->len : 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -1;
	if (b->data && (size_t)n < b->cap - b->len) {
		b->len += (size_t)n;
		return 0;
	}
	/* Did not fit: make room (and the NUL vsnprintf writes), again. */
	if (!buf_reserve(b, (size_t)n + 1))
		return -1;
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return 0;
}

char *buf_take_str(struct buf *b)
{
	char *s;

	if (!buf_reserve(b, 1)) {
		buf_free(b);
		return NULL;
	}
	b->data[b->len] = '\0';
	if (b->off > 0)
		memmove(b->data, b->data + b->off, b->len - b->off + 1);
	s = b->data;
	memset(b, 0, sizeof(*b));
	return s;
}

ssize_t buf_write_fd(struct buf *b, int fd)
{
	ssize_t n;

	if (buf_pending(b) == 0)
		return 0;
	do
		n = write(fd, buf_head(b), buf_pending(b));
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return (errno == EAGAIN || errno == EWOULDBLOCK) ? 0 : -1;
	buf_consume(b, (size_t)n);
	return n;
}

ssize_t buf_read_fd(struct buf *b, int fd, size_t max)
{
	char *t = buf_reserve(b, max);
	ssize_t n;

	if (!t) {
		errno = ENOMEM;
		return -1;
	}
	do
		n = read(fd, t, max);
	while (n < 0 && errno == EINTR);
	if (n > 0)
		b->len += (size_t)n;
	return n;
}
