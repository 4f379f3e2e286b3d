/* log.c - timestamped lines to stderr or a file, or syslog(LOG_DAEMON),
 * tagged with the process (master, worker N). One write per line, so that
 * the master and the workers can share a file; nothing here allocates. */
#include "autoconfig.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

static struct {
	const char *ident;
	enum log_target target;
	int level;
	int worker;          /* -1 in the master */
	int fd;              /* the file target's descriptor, or -1 */
	char path[PATH_MAX]; /* the file target's path */
	int has_gid;
	gid_t gid;
} lg = { "reuseportd", LOG_TO_STDERR, LOG_LVL_INFO, -1, -1, "", 0, 0 };

static const char *const level_names[] = { "error", "warn", "info", "debug" };

static void syslog_open(void)
{
	/* LOG_NDELAY: connect now, while /dev/log is still reachable
	 * (before any chroot or privilege change could prevent it). */
	openlog(lg.ident, LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

void log_init(const char *ident, enum log_target target, int level)
{
	lg.ident = ident;
	lg.target = target == LOG_TO_FILE && lg.fd < 0 ? LOG_TO_STDERR : target;
	lg.level = level;
	if (lg.target == LOG_TO_SYSLOG)
		syslog_open();
}

/* Gives the file the workers' group, so that they can reopen it after
 * a rotation once they no longer run as root. */
static int file_access(int fd)
{
	if (!lg.has_gid || geteuid() != 0)
		return 0;
	if (fchown(fd, (uid_t)-1, lg.gid) < 0 || fchmod(fd, 0660) < 0)
		return -1;
	return 0;
}

int log_file_open(const char *path)
{
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY,
		      0640);

	if (fd < 0)
		return -1;
	if (file_access(fd) < 0) {
		int e = errno;

		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

int log_open_file(const char *path, char *err, size_t errlen)
{
	int fd;

	if (strlen(path) >= sizeof(lg.path)) {
		snprintf(err, errlen, "log %s: path too long", path);
		return -1;
	}
	fd = log_file_open(path);
	if (fd < 0) {
		snprintf(err, errlen, "log %s: %s", path, strerror(errno));
		return -1;
	}
	if (lg.fd >= 0)
		close(lg.fd);
	lg.fd = fd;
	memcpy(lg.path, path, strlen(path) + 1);
	lg.target = LOG_TO_FILE;
	return 0;
}

void log_set_file_group(gid_t gid)
{
	lg.has_gid = 1;
	lg.gid = gid;
	if (lg.fd >= 0 && file_access(lg.fd) < 0)
		log_warn("log %s: giving it group %ld: %s", lg.path, (long)gid,
			 strerror(errno));
}

int log_reopen(void)
{
	int fd;

	switch (lg.target) {
	case LOG_TO_STDERR:
		log_debug("log reopen: logging to stderr, nothing to reopen");
		return 0;
	case LOG_TO_SYSLOG:
		closelog();
		syslog_open();
		break;
	case LOG_TO_FILE:
		fd = log_file_open(lg.path);
		if (fd < 0) {
			log_error("log reopen: %s: %s; still writing to the old file",
				  lg.path, strerror(errno));
			return -1;
		}
		/* Same number: nothing else needs to learn the new one. */
		if (dup2(fd, lg.fd) < 0) {
			close(lg.fd);
			lg.fd = fd;
		} else {
			close(fd);
		}
		break;
	}
	if (lg.worker >= 0)
		log_debug("log reopened");
	else
		log_info("log reopened%s%s", lg.target == LOG_TO_FILE ? ": " : "",
			 lg.target == LOG_TO_FILE ? lg.path : "");
	return 0;
}

void log_set_worker(int id)
{
	lg.worker = id;
	if (lg.target == LOG_TO_SYSLOG) {
		/* The master closed the connection's descriptor in this
		 * process; glibc does not know, and would otherwise send to
		 * (and then close) whatever reuses that number next. */
		closelog();
		syslog_open();
	} else if (lg.target == LOG_TO_FILE && fcntl(lg.fd, F_GETFD) < 0) {
		lg.fd = log_file_open(lg.path);
		if (lg.fd < 0)
			lg.target = LOG_TO_STDERR;
	}
}

int log_level_parse(const char *name)
{
	for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++)
		if (!strcmp(name, level_names[i]))
			return (int)i;
	return -1;
}

int log_get_level(void)
{
	return lg.level;
}

void log_set_level(int level)
{
	lg.level = level;
}

/* One write per line keeps the lines of several processes that share a
 * file or stderr from interleaving; a failed log write has no better
 * place to be reported, so it is ignored. */
static void write_line(int fd, const char *line, int n)
{
	if (write(fd, line, (size_t)n) < 0)
		return;
}

void log_msg(int level, const char *fmt, ...)
{
	static const int prio[] = { LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG };
	char msg[1024], who[64];
	va_list ap;

	if (level > lg.level || level < 0)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (lg.worker >= 0)
		snprintf(who, sizeof(who), "worker %d pid %ld", lg.worker,
			 (long)getpid());
	else
		snprintf(who, sizeof(who), "master pid %ld", (long)getpid());

	struct timeval tv;
	struct tm tm;
	char ts[32], line[1200];
	int n;

	gettimeofday(&tv, NULL);
	localtime_r(&tv.tv_sec, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%d %H:%M:%S", &tm);
	n = snprintf(line, sizeof(line), "%s.%03ld %s[%s] %s: %s\n", ts,
		     (long)tv.tv_usec / 1000, lg.ident, level_names[level], who,
		     msg);
	if (n > (int)sizeof(line) - 1)
		n = (int)sizeof(line) - 1;

	if (lg.target == LOG_TO_SYSLOG)
		syslog(prio[level], "%s: %s", who, msg);
	else
		write_line(lg.target == LOG_TO_FILE ? lg.fd : STDERR_FILENO,
			   line, n);
	if (lg.target != LOG_TO_STDERR && level == LOG_LVL_ERROR)
		write_line(STDERR_FILENO, line, n);
}
