/* log.h - one line per event an operator cares about.
 *
 * Lines go to stderr (timestamped), to syslog (LOG_DAEMON), or to a file
 * (timestamped, O_APPEND so that the master and the workers can share
 * it). When the target is not stderr, errors are also written to stderr,
 * so that whoever starts the daemon sees why it failed; once detached,
 * stderr is /dev/null and this costs nothing. */
#ifndef RP_LOG_H
#define RP_LOG_H

#include <stddef.h>
#include <sys/types.h>

enum log_level { LOG_LVL_ERROR, LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_DEBUG };

enum log_target { LOG_TO_STDERR, LOG_TO_SYSLOG, LOG_TO_FILE };

/* LOG_TO_FILE here means stderr until log_open_file() names the file. */
void log_init(const char *ident, enum log_target target, int level);
/* Opens path for appending (created 0640) and makes it the target.
 * 0, or -1 with the reason in err; the target is then unchanged. */
int log_open_file(const char *path, char *err, size_t errlen);
/* The workers of a privilege-dropping daemon must be able to reopen the
 * file after a rotation: when running as root, every file opened from
 * now on (and the current one) gets this group and mode 0660. */
void log_set_file_group(gid_t gid);
/* Opens path for appending (created 0640; with the group and mode
 * log_set_file_group gives), as the log file is opened: for another log
 * the workers reopen too (access_log.c). The fd, or -1 with errno. */
int log_file_open(const char *path);
/* SIGUSR1: the file target is opened again by its path (logrotate has
 * renamed the old one), keeping the descriptor number; syslog reconnects.
 * Logs one line saying so (info in the master, debug in a worker).
 * 0, or -1 (logged to the old target, which stays in use). */
int log_reopen(void);
/* Tags the lines of this process "worker ID pid PID". Call it first in a
 * freshly forked worker, after the master's descriptors were closed and
 * before any new one is opened: it reopens the log file and the syslog
 * connection, whose descriptors were among those closed. */
void log_set_worker(int id);
int log_get_level(void);
/* "error", "warn", "info", "debug" as a level; -1 for any other name. */
int log_level_parse(const char *name);
void log_set_level(int level);
void log_msg(int level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define log_error(...) log_msg(LOG_LVL_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_LVL_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...) \
	do { \
		if (log_get_level() >= LOG_LVL_DEBUG) \
			log_msg(LOG_LVL_DEBUG, __VA_ARGS__); \
	} while (0)

#endif
