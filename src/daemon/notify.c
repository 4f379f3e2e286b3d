/* notify.c - sd_notify(3) without libsystemd: one datagram to
 * $NOTIFY_SOCKET per state change; a no-op when systemd did not start us. */
#include "autoconfig.h"

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "notify.h"

/* Fills sa from $NOTIFY_SOCKET. Returns the address length, 0 if the
 * variable is unset or empty, -1 (EINVAL) if it is no usable address. */
static socklen_t notify_addr(struct sockaddr_un *sa)
{
	const char *p = getenv("NOTIFY_SOCKET");
	size_t n;

	if (!p || !*p)
		return 0;
	n = strlen(p);
	if ((p[0] != '/' && p[0] != '@') || n >= sizeof(sa->sun_path) || n < 2) {
		errno = EINVAL;
		return (socklen_t)-1;
	}
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	memcpy(sa->sun_path, p, n);
	if (p[0] == '@') {
		/* Abstract: a leading NUL, and the length counts exactly
		 * the name's bytes (no terminator). */
		sa->sun_path[0] = '\0';
		return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
	}
	return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
}

static int notify_send_buf(const char *msg, size_t len)
{
	struct sockaddr_un sa;
	socklen_t salen = notify_addr(&sa);
	ssize_t r;
	int fd, e;

	if (salen == 0)
		return 0;
	if (salen == (socklen_t)-1)
		return -1;
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	r = sendto(fd, msg, len, MSG_NOSIGNAL, (struct sockaddr *)&sa, salen);
	e = errno;
	close(fd);
	errno = e;
	if (r < 0)
		return -1;
	if ((size_t)r != len) {
		errno = EMSGSIZE;
		return -1;
	}
	return 0;
}

static int notify_muted;

void notify_mute(int muted)
{
	notify_muted = muted;
}

int notify_send(const char *fmt, ...)
{
	char msg[NOTIFY_MAX];
	va_list ap;
	int n;

	if (notify_muted || !getenv("NOTIFY_SOCKET"))
		return 0;
	va_start(ap, fmt);
	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (n < 0)
		return -1;
	if ((size_t)n >= sizeof(msg)) {
		errno = EMSGSIZE;
		return -1;
	}
	return notify_send_buf(msg, (size_t)n);
}

int notify_reloading(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return notify_send("RELOADING=1\nMONOTONIC_USEC=%llu",
			   (unsigned long long)ts.tv_sec * 1000000ULL +
				   (unsigned long long)ts.tv_nsec / 1000ULL);
}
