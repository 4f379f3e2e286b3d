/* log.c - timestamped lines to stderr, or syslog(LOG_DAEMON) when detached. */
#include "autoconfig.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

static struct {
	const char *ident;
	enum log_target target;
	int level;
	int worker; /* -1 in the master */
} lg = { "reuseportd", LOG_TO_STDERR, LOG_LVL_INFO, -1 };

static const char *const level_names[] = { "error", "warn", "info", "debug" };

void log_init(const char *ident, enum log_target target, int level)
{
	lg.ident = ident;
	lg.target = target;
	lg.level = level;
	if (target == LOG_TO_SYSLOG)
		openlog(ident, LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

void log_set_worker(int id)
{
	lg.worker = id;
}

int log_get_level(void)
{
	return lg.level;
}

void log_msg(int level, const char *fmt, ...)
{
	static const int prio[] = { LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG };
	char msg[1024], who[64];
	va_list ap;

	if (level > lg.level)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (lg.worker >= 0)
		snprintf(who, sizeof(who), "worker %d pid %ld", lg.worker,
			 (long)getpid());
	else
		snprintf(who, sizeof(who), "master pid %ld", (long)getpid());

	if (lg.target == LOG_TO_SYSLOG) {
		syslog(prio[level], "%s: %s", who, msg);
		return;
	}
	struct timeval tv;
	struct tm tm;
	char ts[32];

	gettimeofday(&tv, NULL);
	localtime_r(&tv.tv_sec, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%d %H:%M:%S", &tm);
	char line[1200];
	int n = snprintf(line, sizeof(line), "%s.%03ld %s[%s] %s: %s\n", ts,
			 (long)tv.tv_usec / 1000, lg.ident, level_names[level],
			 who, msg);

	if (n > (int)sizeof(line) - 1)
		n = (int)sizeof(line) - 1;
	/* One write per line keeps the lines of several workers that share
	 * stderr from interleaving; a failed log write has no better place
	 * to be reported, so it is ignored. */
	if (write(STDERR_FILENO, line, (size_t)n) < 0)
		return;
}
