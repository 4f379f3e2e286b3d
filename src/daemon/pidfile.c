/* pidfile.c - a locked pidfile, replaced atomically.
 *
 * The lock is flock(2) on the file that is at the path: it belongs to the
 * open file description, so it is neither dropped when some other
 * descriptor of the file is closed (as an fcntl lock would be) nor lost
 * by a forked worker closing its copy. The path is only ever replaced by
 * a process holding the lock on the file currently there, and the new
 * file is locked before it is renamed into place, so at every moment
 * whatever is at the path is locked by the running instance, if any. */
#include "autoconfig.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "pidfile.h"

/* Another instance holds the lock but has not written its pid yet: ask
 * again this many times, PIDFILE_WAIT_MS apart, to be able to name it. */
#define PIDFILE_TRIES 50
#define PIDFILE_WAIT_MS 20

static struct {
	int fd;
	pid_t owner;
	dev_t dev;
	ino_t ino;
	char path[PATH_MAX];
} pf = { -1, 0, 0, 0, "" };

static long pid_of_fd(int fd)
{
	char buf[32];
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
	char *end;
	long pid;

	if (n <= 0)
		return 0;
	buf[n] = '\0';
	errno = 0;
	pid = strtol(buf, &end, 10);
	if (errno || end == buf || (*end && *end != '\n') || pid <= 0)
		return 0;
	return pid;
}

long pidfile_read(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	long pid;

	if (fd < 0)
		return 0;
	pid = pid_of_fd(fd);
	close(fd);
	return pid;
}

/* Opens and locks the file at path (creating an empty one if there is
 * none). Returns its fd, or -1 with err set. */
static int lock_current(const char *path, char *err, size_t errlen)
{
	for (int tries = 0; tries < PIDFILE_TRIES; tries++) {
		struct stat a, b;
		int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW,
			      0644);

		if (fd < 0) {
			snprintf(err, errlen, "pidfile %s: %s", path,
				 strerror(errno));
			return -1;
		}
		if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
			int e = errno;
			long pid = pid_of_fd(fd);

			close(fd);
			if (e != EWOULDBLOCK) {
				snprintf(err, errlen, "pidfile %s: lock: %s",
					 path, strerror(e));
				return -1;
			}
			if (pid > 0) {
				snprintf(err, errlen,
					 "pidfile %s: reuseportd is already running as pid %ld",
					 path, pid);
				return -1;
			}
			poll(NULL, 0, PIDFILE_WAIT_MS); /* it is starting */
			continue;
		}
		/* Locked; but another instance may have renamed its own file
		 * over this one between our open and our lock. */
		if (fstat(fd, &a) == 0 && stat(path, &b) == 0 &&
		    a.st_dev == b.st_dev && a.st_ino == b.st_ino)
			return fd;
		close(fd);
	}
	snprintf(err, errlen,
		 "pidfile %s: locked by another process that wrote no pid", path);
	return -1;
}

/* A new file next to path holding our pid, locked. Returns its fd. */
static int write_temp(const char *path, char *tmp, size_t tmplen, char *err,
		      size_t errlen)
{
	char line[32];
	int fd, n;

	if ((size_t)snprintf(tmp, tmplen, "%s.XXXXXX", path) >= tmplen) {
		snprintf(err, errlen, "pidfile %s: path too long", path);
		return -1;
	}
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errlen, "pidfile %s: %s", tmp, strerror(errno));
		return -1;
	}
	n = snprintf(line, sizeof(line), "%ld\n", (long)getpid());
	if (flock(fd, LOCK_EX | LOCK_NB) < 0 || fchmod(fd, 0644) < 0 ||
	    write(fd, line, (size_t)n) != n) {
		snprintf(err, errlen, "pidfile %s: %s", tmp, strerror(errno));
		close(fd);
		unlink(tmp);
		return -1;
	}
	return fd;
}

int pidfile_create(const char *path, char *err, size_t errlen)
{
	char tmp[PATH_MAX];
	struct stat st;
	long stale;
	int cur, fd;

	if (pf.fd >= 0) {
		snprintf(err, errlen, "pidfile %s: already created", pf.path);
		return -1;
	}
	if (strlen(path) >= sizeof(pf.path)) {
		snprintf(err, errlen, "pidfile %s: path too long", path);
		return -1;
	}
	cur = lock_current(path, err, errlen);
	if (cur < 0)
		return -1;
	stale = pid_of_fd(cur);
	fd = write_temp(path, tmp, sizeof(tmp), err, errlen);
	if (fd < 0) {
		close(cur);
		return -1;
	}
	if (rename(tmp, path) < 0 || fstat(fd, &st) < 0) {
		snprintf(err, errlen, "pidfile %s: rename: %s", path,
			 strerror(errno));
		unlink(tmp);
		close(fd);
		close(cur);
		return -1;
	}
	/* The old file is unlinked now; dropping its lock lets nobody in. */
	close(cur);
	if (stale > 0 && stale != (long)getpid())
		log_info("pidfile %s: taking over from pid %ld, which no longer holds it",
			 path, stale);
	pf.fd = fd;
	pf.owner = getpid();
	pf.dev = st.st_dev;
	pf.ino = st.st_ino;
	memcpy(pf.path, path, strlen(path) + 1);
	return 0;
}

/* Is the file at pf.path still the one we created and hold? */
static int pidfile_ours(void)
{
	struct stat st;

	return stat(pf.path, &st) == 0 && st.st_dev == pf.dev &&
	       st.st_ino == pf.ino;
}

int pidfile_move(const char *to, char *err, size_t errlen)
{
	if (pf.fd < 0 || getpid() != pf.owner) {
		snprintf(err, errlen, "pidfile: none to move to %s", to);
		return -1;
	}
	if (strlen(to) >= sizeof(pf.path)) {
		snprintf(err, errlen, "pidfile %s: path too long", to);
		return -1;
	}
	/* rename() keeps the inode, and with it our lock: at every moment
	 * the file at `to` is held by its running master. */
	if (pidfile_ours()) {
		if (rename(pf.path, to) < 0) {
			snprintf(err, errlen, "pidfile %s: rename to %s: %s",
				 pf.path, to, strerror(errno));
			return -1;
		}
		memcpy(pf.path, to, strlen(to) + 1);
		return 0;
	}
	/* Gone (an administrator's rm): a new file at the new place. */
	log_warn("pidfile %s is no longer ours; writing %s anew", pf.path, to);
	close(pf.fd);
	pf.fd = -1;
	return pidfile_create(to, err, errlen);
}

const char *pidfile_path(void)
{
	return pf.fd >= 0 && getpid() == pf.owner ? pf.path : "";
}

void pidfile_release(void)
{
	if (pf.fd < 0 || getpid() != pf.owner)
		return;
	/* Unlink while still holding the lock, so that no new instance can
	 * lock this file and then see it vanish. */
	if (pidfile_ours() && unlink(pf.path) < 0)
		log_warn("pidfile %s: %s", pf.path, strerror(errno));
	close(pf.fd);
	pf.fd = -1;
}
