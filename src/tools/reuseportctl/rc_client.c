/* rc_client.c - the stats socket client. */
#include "autoconfig.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "rc_client.h"

static int64_t rc_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits for events on fd until the deadline. 1: ready, 0: timed out,
 * -1: poll failed (errno). */
static int rc_wait(int fd, short events, int64_t deadline)
{
	struct pollfd p = { .fd = fd, .events = events };

	for (;;) {
		int64_t left = deadline - rc_now_ms();
		int n;

		if (left <= 0)
			return 0;
		n = poll(&p, 1, (int)left);
		if (n > 0)
			return 1;
		if (n < 0 && errno != EINTR)
			return -1;
	}
}

/* A blocking connect whose wait (a full listen backlog) is bounded by
 * SO_SNDTIMEO, then the socket turns non-blocking for the exchange. */
static int rc_connect(const char *path, int64_t deadline, char *err, size_t errlen)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int64_t left = deadline - rc_now_ms();
	struct timeval tv;
	int fd;

	/* A zero SO_SNDTIMEO would mean "wait forever". */
	if (left < 1)
		left = 1;
	tv.tv_sec = left / 1000;
	tv.tv_usec = (left % 1000) * 1000;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		snprintf(err, errlen,
			 "cannot connect to %s: socket path longer than %zu bytes",
			 path, sizeof(sa.sun_path) - 1);
		return -1;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	if (setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0 ||
	    connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno;

		snprintf(err, errlen, "cannot connect to %s: %s%s", path,
			 e == EAGAIN || e == EINPROGRESS ? "timed out" :
							   strerror(e),
			 e == ENOENT || e == ECONNREFUSED ?
				 " (is reuseportd running?)" :
				 "");
		close(fd);
		return -1;
	}
	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0) {
		snprintf(err, errlen, "%s: fcntl: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

static int rc_send_all(int fd, const char *path, const char *buf, size_t len,
		       int64_t deadline, char *err, size_t errlen)
{
	while (len > 0) {
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
		int r;

		if (n > 0) {
			buf += n;
			len -= (size_t)n;
			continue;
		}
		if (n < 0 && errno != EAGAIN && errno != EINTR) {
			snprintf(err, errlen, "%s: sending the command: %s",
				 path, strerror(errno));
			return -1;
		}
		r = rc_wait(fd, POLLOUT, deadline);
		if (r <= 0) {
			snprintf(err, errlen, "%s: sending the command: %s",
				 path, r == 0 ? "timed out" : strerror(errno));
			return -1;
		}
	}
	return 0;
}

/* Grows the reply buffer geometrically up to the reply bound. */
static int rc_reserve(struct rc_reply *r, size_t *cap, size_t want)
{
	size_t ncap = *cap ? *cap : 16384;
	char *p;

	if (want <= *cap)
		return 0;
	while (ncap < want)
		ncap *= 2;
	if (ncap > RC_CLIENT_MAX_REPLY + 1)
		ncap = RC_CLIENT_MAX_REPLY + 1;
	if (ncap < want)
		return -1;
	p = realloc(r->text, ncap);
	if (!p)
		return -1;
	r->text = p;
	*cap = ncap;
	return 0;
}

/* The deadline measures progress: a long answer that keeps coming (a
 * listing of a million connections) is read to its end; one that stops
 * for the timeout is given up. */
static int rc_recv_all(int fd, const char *path, struct rc_reply *r,
		       int64_t deadline, char *err, size_t errlen)
{
	int64_t patience = deadline - rc_now_ms();
	size_t cap = 0;

	for (;;) {
		ssize_t n;
		int w;

		if (rc_reserve(r, &cap, r->len + 4096 + 1) < 0) {
			snprintf(err, errlen,
				 "%s: the answer is larger than %u MiB", path,
				 RC_CLIENT_MAX_REPLY >> 20);
			return -1;
		}
		n = recv(fd, r->text + r->len, cap - r->len - 1, 0);
		if (n > 0) {
			r->len += (size_t)n;
			deadline = rc_now_ms() + patience;
			continue;
		}
		if (n == 0)
			break;
		if (errno != EAGAIN && errno != EINTR) {
			snprintf(err, errlen, "%s: reading the answer: %s",
				 path, strerror(errno));
			return -1;
		}
		w = rc_wait(fd, POLLIN, deadline);
		if (w <= 0) {
			snprintf(err, errlen, "%s: reading the answer: %s",
				 path, w == 0 ? "timed out" : strerror(errno));
			return -1;
		}
	}
	r->text[r->len] = '\0';
	if (r->len == 0) {
		snprintf(err, errlen, "%s: the daemon closed without an answer",
			 path);
		return -1;
	}
	return 0;
}

int rc_client_query(const char *path, const char *cmd, int timeout_ms,
		    struct rc_reply *reply, char *err, size_t errlen)
{
	int64_t deadline = rc_now_ms() + timeout_ms;
	char line[256];
	int fd, n, rc = -1;

	memset(reply, 0, sizeof(*reply));
	n = snprintf(line, sizeof(line), "%s\n", cmd);
	if (n < 0 || (size_t)n >= sizeof(line)) {
		snprintf(err, errlen, "command too long");
		return -1;
	}
	fd = rc_connect(path, deadline, err, errlen);
	if (fd < 0)
		return -1;
	/* No shutdown(SHUT_WR) after the line: the newline ends the command,
	 * and a half-close could read as a client that went away. */
	if (rc_send_all(fd, path, line, (size_t)n, deadline, err, errlen) == 0 &&
	    rc_recv_all(fd, path, reply, deadline, err, errlen) == 0)
		rc = 0;
	close(fd);
	if (rc < 0)
		rc_reply_free(reply);
	return rc;
}

void rc_reply_free(struct rc_reply *reply)
{
	free(reply->text);
	reply->text = NULL;
	reply->len = 0;
}

json_t *rc_client_parse(const char *path, const struct rc_reply *reply,
			char *err, size_t errlen)
{
	json_error_t je;
	json_t *doc = json_loadb(reply->text, reply->len, 0, &je);

	if (!doc)
		snprintf(err, errlen, "%s: the answer is not JSON: %s (line %d)",
			 path, je.text, je.line);
	return doc;
}

json_t *rc_client_request(const char *path, const char *cmd, int timeout_ms,
			  char *err, size_t errlen)
{
	struct rc_reply r;
	json_t *doc;

	if (rc_client_query(path, cmd, timeout_ms, &r, err, errlen) < 0)
		return NULL;
	doc = rc_client_parse(path, &r, err, errlen);
	rc_reply_free(&r);
	return doc;
}
