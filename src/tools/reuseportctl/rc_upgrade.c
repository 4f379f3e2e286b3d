/* rc_upgrade.c - see rc_upgrade.h. */
#include "autoconfig.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "rc_upgrade.h"

#define RC_UPGRADE_POLL_MS 20

static long long rc_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Without pidfds (Linux before 5.3): signal by pid, and look for it
 * until it is gone (a zombie no reaper has collected yet counts as
 * running: the wait may then run to the deadline). */
static int rc_finish_by_pid(pid_t pid, int timeout_ms, char *err, size_t errlen)
{
	long long end = rc_now_ms() + timeout_ms;

	if (kill(pid, SIGQUIT) < 0) {
		snprintf(err, errlen, "cannot signal the old master (pid %ld): %s",
			 (long)pid, strerror(errno));
		return -1;
	}
	while (kill(pid, 0) == 0) {
		if (rc_now_ms() >= end) {
			snprintf(err, errlen,
				 "the old master (pid %ld) is still draining after %d ms",
				 (long)pid, timeout_ms);
			return -1;
		}
		poll(NULL, 0, RC_UPGRADE_POLL_MS);
	}
	return 0;
}

int rc_upgrade_finish(pid_t pid, int timeout_ms, char *err, size_t errlen)
{
	/* A pidfd names this process, not whichever takes its pid later. */
	int fd = (int)syscall(SYS_pidfd_open, pid, 0U), r;
	struct pollfd p;

	if (fd < 0 && errno == ENOSYS)
		return rc_finish_by_pid(pid, timeout_ms, err, errlen);
	if (fd < 0) {
		if (errno == ESRCH)
			return 0; /* gone already */
		snprintf(err, errlen, "the old master (pid %ld): %s", (long)pid,
			 strerror(errno));
		return -1;
	}
	if (syscall(SYS_pidfd_send_signal, fd, SIGQUIT, NULL, 0U) < 0 &&
	    errno != ESRCH) {
		snprintf(err, errlen, "cannot signal the old master (pid %ld): %s",
			 (long)pid, strerror(errno));
		close(fd);
		return -1;
	}
	p = (struct pollfd){ fd, POLLIN, 0 };
	do
		r = poll(&p, 1, timeout_ms);
	while (r < 0 && errno == EINTR);
	close(fd);
	if (r == 1)
		return 0;
	snprintf(err, errlen,
		 "the old master (pid %ld) is still draining after %d ms",
		 (long)pid, timeout_ms);
	return -1;
}
