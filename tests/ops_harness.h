/* ops_harness.h - what the operations tests need beyond tests/harness.h:
 * running a command to completion (the daemon detaching, -t, the init
 * script) while reaping the daemons that detach from it, and a few file
 * helpers. Prefix oh_.
 *
 * hr_new() makes the test process a child subreaper, so a daemon that
 * detaches (fork, setsid, fork) ends up as our child when its parents
 * exit. oh_run and oh_wait_gone reap every exited child meanwhile
 * (init scripts wait for a stopped daemon to disappear, and a zombie
 * does not): use them only while no hr_start/hr_spawn daemon runs, whose
 * status the harness reaps itself. */
#ifndef RP_TEST_OPS_HARNESS_H
#define RP_TEST_OPS_HARNESS_H

#include <stddef.h>
#include <sys/types.h>

/* Kill the command with SIGSYS if it ever calls bind(2) or listen(2). */
#define OH_NO_BIND 1

/* Runs argv (argv[0] a path) with env ("K=V", NULL-terminated, may be
 * NULL) added to ours, in dir (or the current one), stdin /dev/null,
 * stdout and stderr captured into out and err (NUL-terminated, may be
 * NULL). Returns the exit status (128+N if killed by signal N), or -1
 * at the deadline (it is then killed). */
int oh_run(const char *const *argv, const char *const *env, const char *dir,
	   int flags, int timeout_ms, char *out, size_t outlen, char *err,
	   size_t errlen);
/* Reaps the exited children, remembering their statuses. */
void oh_reap(void);
/* Waits until pid is gone (reaping it if it is ours). Its exit status,
 * 0 if it was not ours to learn, or -1 if still alive at the deadline. */
int oh_wait_gone(pid_t pid, int timeout_ms);
/* 1 if pid exists and is not a zombie. */
int oh_alive(pid_t pid);
/* A test that failed half-way may leave a detached daemon behind (it is
 * in no process group the harness knows): SIGKILLs the live process
 * named in pidfile and its children, and waits for them. */
void oh_kill_pidfile(const char *pidfile);

/* Writes text (printf-style) to path, replacing it. */
void oh_write(const char *path, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* The file's contents (malloc'd, "" if absent); free() it. */
char *oh_read(const char *path);
/* 1 once path contains every needle (NULL-terminated list), 0 at the
 * deadline. */
int oh_wait_contains(const char *path, const char *const *needles, int timeout_ms);
/* The pid written in a pidfile, 0 if none. */
long oh_pidfile(const char *path);
/* The four numbers of a /proc/PID/status line ("Uid:" or "Gid:"):
 * real, effective, saved, filesystem. 0, or -1. */
int oh_proc_ids(pid_t pid, const char *key, long ids[4]);

#endif
