/* loadgen.c - continuous connect/echo/close load with verification. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "loadgen.h"

#define LG_CONN_TIMEOUT_MS 25000

struct lg_conn {
	int fd;
	int sent, got;
	uint32_t id;
	uint64_t start_ms;
};

static uint64_t lg_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Byte i of connection id: different per connection and position, so a
 * byte echoed on the wrong connection or out of order is caught. */
static unsigned char lg_byte(uint32_t id, int i)
{
	return (unsigned char)((id * 2654435761u + (uint32_t)i * 40503u) >> 13);
}

static void lg_note(struct lg *g, const char *what, uint32_t id, int err)
{
	if (g->first_error[0])
		return;
	snprintf(g->first_error, sizeof(g->first_error), "connection %u: %s%s%s",
		 id, what, err ? ": " : "", err ? strerror(err) : "");
}

static int lg_open(struct lg *g, int ep, struct lg_conn *c, uint32_t id)
{
	struct sockaddr_in sin = { .sin_family = AF_INET,
				   .sin_port = htons((uint16_t)g->port) };
	struct epoll_event ev = { .events = EPOLLOUT, .data.ptr = c };

	sin.sin_addr.s_addr = htonl(g->ip);
	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		return -1;
	c->sent = c->got = 0;
	c->id = id;
	c->start_ms = lg_now();
	if (connect(c->fd, (struct sockaddr *)&sin, sizeof(sin)) < 0 &&
	    errno != EINPROGRESS) {
		g->c.connect_fail++;
		lg_note(g, "connect", id, errno);
		close(c->fd);
		c->fd = -1;
		return 0;
	}
	epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
	return 0;
}

static void lg_end(struct lg *g, int ep, struct lg_conn *c)
{
	/* Close with a reset, not a FIN: tens of thousands of client ports
	 * in TIME_WAIT would exhaust the ephemeral range that the tests
	 * running beside this one (and their port-0 listeners) share. */
	struct linger lin = { 1, 0 };

	setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lin, sizeof(lin));
	epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	c->fd = -1;
	g->progress++;
}

static void lg_fail(struct lg *g, int ep, struct lg_conn *c, int err)
{
	if (c->sent == 0 && c->got == 0 &&
	    (err == ECONNREFUSED || err == ETIMEDOUT || err == EHOSTUNREACH)) {
		g->c.connect_fail++;
		lg_note(g, "connect", c->id, err);
	} else if (err == ECONNRESET || err == EPIPE) {
		g->c.resets++;
		lg_note(g, "reset", c->id, err);
	} else {
		g->c.short_echo++;
		lg_note(g, "short echo", c->id, err);
	}
	lg_end(g, ep, c);
}

static void lg_step(struct lg *g, int ep, struct lg_conn *c, uint32_t events)
{
	unsigned char buf[4096];

	if (c->sent < g->size && (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
		int err = 0;
		socklen_t el = sizeof(err);

		getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el);
		if (err) {
			lg_fail(g, ep, c, err);
			return;
		}
		while (c->sent < g->size) {
			int n = g->size - c->sent < (int)sizeof(buf) ?
					g->size - c->sent :
					(int)sizeof(buf);

			for (int i = 0; i < n; i++)
				buf[i] = lg_byte(c->id, c->sent + i);
			ssize_t w = send(c->fd, buf, (size_t)n, MSG_NOSIGNAL);

			if (w < 0 && errno == EAGAIN)
				break;
			if (w < 0) {
				lg_fail(g, ep, c, errno);
				return;
			}
			c->sent += (int)w;
		}
		struct epoll_event ev = {
			.events = EPOLLIN | (c->sent < g->size ? EPOLLOUT : 0u),
			.data.ptr = c
		};

		epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
	}
	if (!(events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
		return;
	for (;;) {
		ssize_t n = recv(c->fd, buf, sizeof(buf), 0);

		if (n < 0 && errno == EAGAIN)
			return;
		if (n < 0) {
			lg_fail(g, ep, c, errno);
			return;
		}
		if (n == 0) {
			lg_fail(g, ep, c, 0);
			return;
		}
		for (ssize_t i = 0; i < n; i++)
			if (buf[i] != lg_byte(c->id, c->got + (int)i)) {
				g->c.mismatch++;
				lg_note(g, "mismatched byte", c->id, 0);
				lg_end(g, ep, c);
				return;
			}
		c->got += (int)n;
		if (c->got >= g->size) {
			g->c.done++;
			lg_end(g, ep, c);
			return;
		}
	}
}

static void *lg_main(void *arg)
{
	struct lg *g = arg;
	int ep = epoll_create1(EPOLL_CLOEXEC);
	struct lg_conn *conns = calloc((size_t)g->inflight, sizeof(*conns));
	struct epoll_event evs[256];
	uint64_t started = 0, end = lg_now() + (uint64_t)g->max_ms;
	uint32_t next_id = 1;

	if (ep < 0 || !conns) {
		lg_note(g, "setup", 0, errno);
		free(conns);
		return NULL;
	}
	for (int i = 0; i < g->inflight; i++)
		conns[i].fd = -1;
	for (;;) {
		uint64_t now = lg_now();
		int open = 0;

		for (int i = 0; i < g->inflight; i++) {
			struct lg_conn *c = &conns[i];

			if (c->fd >= 0 && now - c->start_ms > LG_CONN_TIMEOUT_MS) {
				g->c.timeouts++;
				lg_note(g, "no progress", c->id, 0);
				lg_end(g, ep, c);
			}
			if (c->fd < 0 && !g->stop && started < g->target &&
			    now < end) {
				started++;
				lg_open(g, ep, c, next_id++);
			}
			open += c->fd >= 0;
		}
		if (open == 0 && (g->stop || started >= g->target || now >= end))
			break;
		int n = epoll_wait(ep, evs, 256, 100);

		for (int i = 0; i < n; i++)
			lg_step(g, ep, evs[i].data.ptr, evs[i].events);
	}
	close(ep);
	free(conns);
	return NULL;
}

int lg_start(struct lg *g, int port, int inflight, int size, uint64_t target,
	     int max_ms)
{
	return lg_start_ip(g, INADDR_LOOPBACK, port, inflight, size, target,
			   max_ms);
}

int lg_start_ip(struct lg *g, uint32_t ip, int port, int inflight, int size,
		uint64_t target, int max_ms)
{
	memset(g, 0, sizeof(*g));
	g->ip = ip;
	g->port = port;
	g->inflight = inflight;
	g->size = size;
	g->target = target;
	g->max_ms = max_ms;
	return pthread_create(&g->thread, NULL, lg_main, g) == 0 ? 0 : -1;
}

void lg_join(struct lg *g, int stop_now)
{
	if (stop_now)
		g->stop = 1;
	pthread_join(g->thread, NULL);
}

uint64_t lg_failures(const struct lg_counts *c)
{
	return c->connect_fail + c->resets + c->short_echo + c->mismatch +
	       c->timeouts;
}

const char *lg_describe(const struct lg *g, char *buf, size_t len)
{
	snprintf(buf, len,
		 "done=%llu connect_fail=%llu resets=%llu short=%llu mismatch=%llu timeouts=%llu%s%s",
		 (unsigned long long)g->c.done,
		 (unsigned long long)g->c.connect_fail,
		 (unsigned long long)g->c.resets,
		 (unsigned long long)g->c.short_echo,
		 (unsigned long long)g->c.mismatch,
		 (unsigned long long)g->c.timeouts,
		 g->first_error[0] ? "; first: " : "", g->first_error);
	return buf;
}
