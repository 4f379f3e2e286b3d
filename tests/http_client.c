/* http_client.c - see http_client.h. */
#include "autoconfig.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"
#include "http_client.h"

void ht_attach(struct ht_client *c, int fd)
{
	c->fd = fd;
	c->cap = 1 << 16;
	c->len = 0;
	c->buf = malloc(c->cap);
	hr_check(c->buf != NULL, "client buffer: out of memory");
}

void ht_open(struct ht_client *c, int port)
{
	int fd = hr_connect_tcp(port);

	hr_check(fd >= 0, "connect to port %d: %s", port, strerror(errno));
	ht_attach(c, fd);
}

void ht_open_small(struct ht_client *c, int port, int rcvbuf)
{
	struct sockaddr_in sin = { .sin_family = AF_INET,
				   .sin_port = htons((uint16_t)port),
				   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	/* Before connect(): the window scale is agreed in the handshake
	 * (tcp(7), SO_RCVBUF). */
	hr_check(fd >= 0 &&
			 setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf,
				    sizeof(rcvbuf)) == 0 &&
			 connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0,
		 "client with a %d-byte receive buffer: %s", rcvbuf,
		 strerror(errno));
	ht_attach(c, fd);
}

void ht_close(struct ht_client *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	free(c->buf);
	c->buf = NULL;
}

int ht_fill(struct ht_client *c, int timeout_ms)
{
	struct pollfd p = { c->fd, POLLIN, 0 };
	ssize_t n;

	if (c->len == c->cap) {
		c->cap *= 2;
		c->buf = realloc(c->buf, c->cap);
		hr_check(c->buf != NULL, "client buffer: out of memory");
	}
	if (poll(&p, 1, timeout_ms) <= 0)
		return -1;
	n = recv(c->fd, c->buf + c->len, c->cap - c->len, MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return 1; /* woken for nothing: the caller looks again */
	if (n <= 0)
		return 0;
	c->len += (size_t)n;
	return 1;
}

void ht_consume(struct ht_client *c, size_t n)
{
	memmove(c->buf, c->buf + n, c->len - n);
	c->len -= n;
}

void ht_request(struct ht_client *c, const char *req)
{
	size_t len = strlen(req);

	hr_check(hr_write_all(c->fd, req, len, 5000) == (ssize_t)len,
		 "send request: %s", strerror(errno));
}

int ht_read_response(struct ht_client *c, struct ht_response *r, int head_only)
{
	char *end;
	int64_t deadline = hr_now_ms() + 10000;

	memset(r, 0, sizeof(*r));
	r->length = -1;
	while (!(c->len >= 4 && (end = memmem(c->buf, c->len, "\r\n\r\n", 4))))
		if (hr_now_ms() > deadline || ht_fill(c, 1000) == 0)
			return -1;
	size_t hlen = (size_t)(end - c->buf) + 4;

	if (hlen >= sizeof(r->head))
		return -1;
	memcpy(r->head, c->buf, hlen);
	r->head[hlen] = '\0';
	ht_consume(c, hlen);
	if (sscanf(r->head, "HTTP/1.1 %d", &r->status) != 1)
		return -1;
	char *cl = strcasestr(r->head, "\r\nContent-Length:");

	if (cl)
		r->length = atoll(cl + 17);
	if (head_only || r->status == 304 || r->length <= 0)
		return 0;
	while (c->len < (size_t)r->length) {
		if (c->cap < (size_t)r->length) {
			c->cap = (size_t)r->length;
			c->buf = realloc(c->buf, c->cap);
			hr_check(c->buf != NULL, "client buffer: out of memory");
		}
		if (hr_now_ms() > deadline || ht_fill(c, 1000) <= 0)
			return -1;
	}
	r->body = malloc((size_t)r->length);
	hr_check(r->body != NULL, "body: out of memory");
	memcpy(r->body, c->buf, (size_t)r->length);
	ht_consume(c, (size_t)r->length);
	return 0;
}

void ht_fetch(int port, const char *req, struct ht_response *r, int head_only)
{
	struct ht_client c;

	ht_open(&c, port);
	ht_request(&c, req);
	hr_check(ht_read_response(&c, r, head_only) == 0,
		 "no response to: %.60s", req);
	ht_close(&c);
}

const char *ht_field(const struct ht_response *r, const char *name, char *val,
		     size_t len)
{
	char key[80];
	const char *p;

	snprintf(key, sizeof(key), "\r\n%s:", name);
	val[0] = '\0';
	p = strcasestr(r->head, key);
	if (p) {
		p += strlen(key);
		p += strspn(p, " \t");
		snprintf(val, len, "%.*s", (int)strcspn(p, "\r"), p);
	}
	return val;
}

void ht_write_file(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	hr_check(fd >= 0, "create %s: %s", path, strerror(errno));
	hr_check(write(fd, data, len) == (ssize_t)len, "write %s", path);
	close(fd);
}

void ht_sparse_file(const char *path, off_t size)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	hr_check(fd >= 0 && ftruncate(fd, size) == 0, "sparse %s: %s", path,
		 strerror(errno));
	close(fd);
}

void ht_write_conf(struct hr_daemon *d, const char *name, const char *text,
		   char *out, size_t outlen)
{
	snprintf(out, outlen, "%s/%s", d->dir, name);
	ht_write_file(out, text, strlen(text));
}

pid_t ht_worker_pid(struct hr_daemon *d, int id)
{
	json_t *st = hr_query_ok(d, "stats");
	json_int_t pid = hr_jint(hr_worker(st, id), "pid");

	json_decref(st);
	hr_check(pid > 0, "worker %d: no pid in stats", id);
	return (pid_t)pid;
}
