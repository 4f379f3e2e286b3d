/* backend.c - the upstream server of the HTTP proxy's tests: one process,
 * poll(2), HTTP/1.1 keep-alive, and misbehaviour chosen by the request's
 * path. It listens on 127.0.0.1 (port 0, or -p PORT) and prints its port
 * on stdout. Paths:
 *   /len/N            200, Content-Length N       /chunked/N  200, chunked
 *   /close-delimited/N  200, no length, closes     /conn-id    this TCP connection's number
 *   /slow-head/MS     200 after MS ms              /stall-body head, 10 of 100 bytes, silence
 *   /close-mid        head, 100 of 1000 bytes, close
 *   /close-idle       200, then closes the idle connection 100 ms later
 *   /race-arm         200; the next request on this connection is met
 *                     by a close without an answer (the keep-alive race)
 *   /upstream-close   200 with Connection: close, then closes
 *   /bad/cl-te /bad/dup-cl /bad/chunk-size /bad/bare-lf /bad/status
 *                     /bad/extra (2 bytes beyond the length)
 *   /bad/chunk-late   a chunked head and a good chunk, then 50 ms later
 *                     a chunk size that is not hex
 *   /echo-headers     the request head received, as the body
 *   /echo-body        the request body (de-chunked), as the body
 *   /status/N         an answer with status N (204, 304: no body)
 *   /pause-read/MS    reads nothing more for MS ms after the head, then
 *                     reads the body and answers its length
 *   /stats            "accepted=A open=O requests=R"
 * Expect: 100-continue gets a 100 before the body is read. A HEAD gets
 * the head only. Test code, not shipped: simple over fast. */
#include "autoconfig.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAXC 1024
#define INMAX (16 << 20) /* the largest request, body included */

struct bc {
	int fd;
	unsigned id;
	char *in;
	size_t inlen;
	char *out;
	size_t outlen, outoff, outcap;
	int close_after; /* close once out is sent */
	int drop_next;   /* /race-arm: close at the next request */
	int64_t due_ms;  /* a timer: 0 none */
	int due_kind;    /* 1: answer the slow head, 2: close idle, 3: read on,
			* 4: the late bad chunk */
	int stalled;     /* sent a partial body: ignore it from now */
	int continued;   /* a 100 went for the request being read */
	int paused;      /* /pause-read: the pause was taken */
	char path[256];
	int head_method;
};

static struct bc conns[MAXC];
static struct pollfd pfd[MAXC + 1];
static unsigned accepted, nrequests;
static int nopen;

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Appends to the output, its room doubled when short: a large answer
 * built a kilobyte at a time must not copy itself at every step (under
 * ASan, whose realloc always moves, a 20 MB one took minutes). */
static void out_add(struct bc *b, const char *d, size_t n)
{
	if (b->outlen + n > b->outcap) {
		size_t cap = b->outcap ? b->outcap : 4096;

		while (cap < b->outlen + n)
			cap *= 2;
		b->out = realloc(b->out, cap);
		if (!b->out)
			abort();
		b->outcap = cap;
	}
	memcpy(b->out + b->outlen, d, n);
	b->outlen += n;
}

static void out_fmt(struct bc *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void out_fmt(struct bc *b, const char *fmt, ...)
{
	char buf[4096];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	out_add(b, buf, (size_t)n);
}

static void bc_close(struct bc *b)
{
	close(b->fd);
	free(b->in);
	free(b->out);
	memset(b, 0, sizeof(*b));
	b->fd = -1;
	nopen--;
}

/* A 200 with body d[0..n) (not sent for HEAD). */
static void answer(struct bc *b, int status, const char *d, size_t n)
{
	out_fmt(b, "HTTP/1.1 %d X\r\nContent-Length: %zu\r\n%s\r\n", status, n,
		b->close_after ? "Connection: close\r\n" : "");
	if (!b->head_method && status != 204 && status != 304)
		out_add(b, d, n);
}

static void fill(struct bc *b, size_t n)
{
	char chunk[1000];

	memset(chunk, 'x', sizeof(chunk));
	while (n) {
		size_t k = n < sizeof(chunk) ? n : sizeof(chunk);

		out_add(b, chunk, k);
		n -= k;
	}
}

/* Decodes a chunked body at p (len bytes) into out; the bytes it took,
 * 0 if incomplete, -1 if malformed. */
static long dechunk(const char *p, size_t len, char *out, size_t *outlen)
{
	size_t off = 0;

	*outlen = 0;
	for (;;) {
		const char *e = memmem(p + off, len - off, "\r\n", 2);
		char *end;
		unsigned long sz;

		if (!e)
			return 0;
		sz = strtoul(p + off, &end, 16);
		if (end == p + off)
			return -1;
		off = (size_t)(e - p) + 2;
		if (sz == 0) {
			/* trailers: up to an empty line */
			for (;;) {
				e = memmem(p + off, len - off, "\r\n", 2);
				if (!e)
					return 0;
				if (e == p + off)
					return (long)(off + 2);
				off = (size_t)(e - p) + 2;
			}
		}
		if (len - off < sz + 2)
			return 0;
		memcpy(out + *outlen, p + off, sz);
		*outlen += sz;
		off += sz + 2;
	}
}

static const char *field(const char *head, size_t hl, const char *name,
			 char *val, size_t vlen)
{
	size_t nl = strlen(name);

	for (const char *p = head; p < head + hl;) {
		const char *e = memmem(p, (size_t)(head + hl - p), "\r\n", 2);

		if (!e)
			break;
		if ((size_t)(e - p) > nl + 1 && !strncasecmp(p, name, nl) &&
		    p[nl] == ':') {
			const char *v = p + nl + 1;

			while (*v == ' ')
				v++;
			snprintf(val, vlen, "%.*s", (int)(e - v), v);
			return val;
		}
		p = e + 2;
	}
	return NULL;
}

/* Answers the request whose head is head[0..hl) and body body[0..bl). */
static void respond(struct bc *b, const char *head, size_t hl, const char *body,
		    size_t bl)
{
	const char *p = b->path;
	char buf[256];
	unsigned long n;

	nrequests++;
	if (!strncmp(p, "/len/", 5)) {
		n = strtoul(p + 5, NULL, 10);
		out_fmt(b, "HTTP/1.1 200 OK\r\nContent-Length: %lu\r\n\r\n", n);
		if (!b->head_method)
			fill(b, n);
	} else if (!strncmp(p, "/chunked/", 9)) {
		n = strtoul(p + 9, NULL, 10);
		out_fmt(b,
			"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
		if (b->head_method)
			return;
		while (n) {
			unsigned long k = n < 1000 ? n : 1000;

			out_fmt(b, "%lx;ext=1\r\n", k);
			fill(b, k);
			out_fmt(b, "\r\n");
			n -= k;
		}
		out_fmt(b, "0\r\nX-Trailer: t\r\n\r\n");
	} else if (!strncmp(p, "/close-delimited/", 17)) {
		n = strtoul(p + 17, NULL, 10);
		out_fmt(b, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n");
		fill(b, n);
		b->close_after = 1;
	} else if (!strcmp(p, "/conn-id")) {
		snprintf(buf, sizeof(buf), "%u", b->id);
		answer(b, 200, buf, strlen(buf));
	} else if (!strncmp(p, "/slow-head/", 11)) {
		b->due_ms = now_ms() + (int64_t)strtoul(p + 11, NULL, 10);
		b->due_kind = 1;
	} else if (!strcmp(p, "/stall-body")) {
		out_fmt(b, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n");
		fill(b, 10);
		b->stalled = 1;
	} else if (!strcmp(p, "/close-mid")) {
		out_fmt(b, "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n");
		fill(b, 100);
		b->close_after = 1;
	} else if (!strcmp(p, "/close-idle")) {
		answer(b, 200, "idle", 4);
		b->due_ms = now_ms() + 100;
		b->due_kind = 2;
	} else if (!strcmp(p, "/race-arm")) {
		answer(b, 200, "armed", 5);
		b->drop_next = 1;
	} else if (!strcmp(p, "/upstream-close")) {
		b->close_after = 1;
		answer(b, 200, "bye", 3);
	} else if (!strcmp(p, "/bad/cl-te")) {
		out_fmt(b,
			"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n");
	} else if (!strcmp(p, "/bad/dup-cl")) {
		out_fmt(b,
			"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello");
	} else if (!strcmp(p, "/bad/chunk-size")) {
		out_fmt(b,
			"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n");
	} else if (!strcmp(p, "/bad/chunk-late")) {
		out_fmt(b,
			"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n");
		b->due_ms = now_ms() + 50;
		b->due_kind = 4;
	} else if (!strcmp(p, "/bad/bare-lf")) {
		out_fmt(b, "HTTP/1.1 200 OK\nContent-Length: 5\n\nhello");
	} else if (!strcmp(p, "/bad/status")) {
		out_fmt(b, "HTTP/1.1 2000 OK\r\nContent-Length: 5\r\n\r\nhello");
	} else if (!strcmp(p, "/bad/extra")) {
		out_fmt(b, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloXX");
	} else if (!strcmp(p, "/echo-headers")) {
		answer(b, 200, head, hl);
	} else if (!strcmp(p, "/echo-body")) {
		answer(b, 200, body, bl);
	} else if (!strncmp(p, "/status/", 8)) {
		int st = atoi(p + 8);

		if (st == 304)
			out_fmt(b,
				"HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\nETag: \"e\"\r\n\r\n");
		else if (st == 204)
			out_fmt(b, "HTTP/1.1 204 No Content\r\n\r\n");
		else
			answer(b, st, "status\n", 7);
	} else if (!strncmp(p, "/pause-read/", 12)) {
		snprintf(buf, sizeof(buf), "%zu", bl);
		answer(b, 200, buf, strlen(buf));
	} else if (!strcmp(p, "/stats")) {
		snprintf(buf, sizeof(buf), "accepted=%u open=%d requests=%u",
			 accepted, nopen, nrequests);
		answer(b, 200, buf, strlen(buf));
	} else {
		answer(b, 404, "no such path\n", 13);
	}
}

/* Handles the complete requests in b->in; 0, or -1 to close. */
static int serve(struct bc *b)
{
	static char body[INMAX];

	while (!b->stalled && !b->due_ms) {
		char *he = memmem(b->in, b->inlen, "\r\n\r\n", 4), val[64];
		size_t hl, bl = 0, used;
		char method[16];

		if (!he)
			return 0;
		hl = (size_t)(he - b->in) + 4;
		if (b->drop_next)
			return -1;
		if (sscanf(b->in, "%15s %255s", method, b->path) != 2)
			return -1;
		b->head_method = !strcmp(method, "HEAD");
		if (field(b->in, hl, "Connection", val, sizeof(val)) &&
		    !strcasecmp(val, "close"))
			b->close_after = 1;
		if (!strncmp(b->path, "/pause-read/", 12) && !b->paused) {
			b->paused = 1;
			b->due_ms = now_ms() +
				    (int64_t)strtoul(b->path + 12, NULL, 10);
			b->due_kind = 3;
			return 0;
		}
		if (!b->continued &&
		    field(b->in, hl, "Expect", val, sizeof(val)) &&
		    !strcasecmp(val, "100-continue")) {
			out_fmt(b, "HTTP/1.1 100 Continue\r\n\r\n");
			b->continued = 1;
		}
		if (field(b->in, hl, "Content-Length", val, sizeof(val))) {
			size_t cl = strtoul(val, NULL, 10);

			if (b->inlen - hl < cl)
				return 0;
			memcpy(body, b->in + hl, cl);
			bl = cl;
			used = hl + cl;
		} else if (field(b->in, hl, "Transfer-Encoding", val,
				 sizeof(val))) {
			long r = dechunk(b->in + hl, b->inlen - hl, body, &bl);

			if (r < 0)
				return -1;
			if (r == 0)
				return 0;
			used = hl + (size_t)r;
		} else {
			used = hl;
		}
		b->continued = 0;
		b->paused = 0;
		respond(b, b->in, hl, body, bl);
		memmove(b->in, b->in + used, b->inlen - used);
		b->inlen -= used;
		if (b->close_after)
			return 0;
	}
	return 0;
}

/* Sends what is queued; -1 on an error. */
static int flush(struct bc *b)
{
	while (b->outoff < b->outlen) {
		ssize_t n = send(b->fd, b->out + b->outoff,
				 b->outlen - b->outoff, MSG_NOSIGNAL);

		if (n < 0)
			return errno == EAGAIN ? 0 : -1;
		b->outoff += (size_t)n;
	}
	b->outoff = b->outlen = 0;
	return 0;
}

static void on_io(struct bc *b, short rev)
{
	if (rev & (POLLIN | POLLHUP | POLLERR)) {
		ssize_t n;

		if (!b->in)
			b->in = malloc(INMAX);
		n = b->inlen < INMAX ?
			    read(b->fd, b->in + b->inlen, INMAX - b->inlen) :
			    -1;
		if (n <= 0) {
			bc_close(b);
			return;
		}
		b->inlen += (size_t)n;
		if (!b->close_after && serve(b) < 0) {
			bc_close(b);
			return;
		}
	}
	if (flush(b) < 0 || (b->close_after && b->outlen == 0 && !b->due_ms)) {
		bc_close(b);
		return;
	}
}

static void on_timer(struct bc *b)
{
	int kind = b->due_kind;

	b->due_ms = 0;
	b->due_kind = 0;
	if (kind == 2) {
		bc_close(b);
		return;
	}
	if (kind == 4) {
		out_fmt(b, "zz\r\nhello\r\n0\r\n\r\n");
		if (flush(b) < 0)
			bc_close(b);
		return;
	}
	if (kind == 3) { /* the pause is over: read on */
		if (serve(b) < 0 || flush(b) < 0)
			bc_close(b);
		return;
	}
	answer(b, 200, "slow", 4);
	if (serve(b) < 0 || flush(b) < 0)
		bc_close(b);
}

int main(int argc, char **argv)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t len = sizeof(a);
	int l = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int one = 1, bound = 0;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (argc == 3 && !strcmp(argv[1], "-p"))
		a.sin_port = htons((uint16_t)atoi(argv[2]));
	setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	/* Port 0 finds none free while another load holds the ephemeral
	 * range (the harness waits the same way, hr_start): tried again for
	 * up to 45 s. */
	for (int k = 0; k < 450; k++) {
		struct timespec ts = { 0, 100 * 1000 * 1000 };

		if (bind(l, (struct sockaddr *)&a, sizeof(a)) == 0) {
			bound = 1;
			break;
		}
		if (errno != EADDRINUSE || a.sin_port != 0)
			break;
		nanosleep(&ts, NULL);
	}
	if (l < 0 || !bound || listen(l, 512) < 0 ||
	    getsockname(l, (struct sockaddr *)&a, &len) < 0) {
		perror("backend: listen");
		return 1;
	}
	printf("%d\n", ntohs(a.sin_port));
	fflush(stdout);
	for (int i = 0; i < MAXC; i++)
		conns[i].fd = -1;
	for (;;) {
		int64_t now = now_ms(), next = -1;
		int n = 0;

		pfd[n++] = (struct pollfd){ l, POLLIN, 0 };
		for (int i = 0; i < MAXC; i++) {
			struct bc *b = &conns[i];

			pfd[n] = (struct pollfd){ -1, 0, 0 };
			if (b->fd >= 0) {
				pfd[n].fd = b->fd;
				pfd[n].events = (short)(POLLIN |
							(b->outlen ? POLLOUT : 0));
				if (b->stalled || b->due_ms)
					pfd[n].events &= (short)~POLLIN;
				if (b->due_ms &&
				    (next < 0 || b->due_ms - now < next))
					next = b->due_ms > now ? b->due_ms - now :
								 0;
			}
			n++;
		}
		if (poll(pfd, (nfds_t)n, (int)next) < 0 && errno != EINTR)
			return 1;
		if (pfd[0].revents & POLLIN) {
			int fd = accept4(l, NULL, NULL,
					 SOCK_NONBLOCK | SOCK_CLOEXEC);

			for (int i = 0; fd >= 0 && i < MAXC; i++)
				if (conns[i].fd < 0) {
					conns[i].fd = fd;
					conns[i].id = ++accepted;
					nopen++;
					fd = -1;
				}
			if (fd >= 0)
				close(fd);
		}
		now = now_ms();
		for (int i = 0; i < MAXC; i++) {
			struct bc *b = &conns[i];

			if (b->fd < 0 || pfd[i + 1].fd != b->fd)
				continue;
			if (pfd[i + 1].revents)
				on_io(b, pfd[i + 1].revents);
			if (b->fd >= 0 && b->due_ms && b->due_ms <= now)
				on_timer(b);
		}
	}
}
