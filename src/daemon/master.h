/* master.h - the supervisor: main.c hands it the configuration and it runs
 * until told to stop (master.c: the cycle; proc.c, slots.c, query.c,
 * statsock.c: what it owns). */
#ifndef RP_MASTER_H
#define RP_MASTER_H

#include <stddef.h>

struct config;
struct upgrade_fds;
struct upgrade_exec;

/* Builds the configuration a reload should apply (re-reading the config
 * file and re-applying the command line). 0, or -1 with a reason. */
typedef int (*master_reload_fn)(struct config *out, char *err, size_t errlen);

/* Without one, a reload re-applies the running configuration: a fresh
 * generation of workers with the same settings. */
void master_set_reload(master_reload_fn fn);

/* What a binary upgrade executes (upgrade.h); without it, SIGUSR2 is
 * refused. The strings must outlive the master. */
void master_set_upgrade(const struct upgrade_exec *x);

/* Runs the master until it is told to stop; returns the exit status.
 * *ready_fd (or -1): a pipe written once, when every worker is ready or
 * start-up failed, so that a detaching parent can exit with the
 * start-up's outcome; the parent exits when the pipe closes. The master
 * closes it (and sets *ready_fd to -1) after a successful start only:
 * after a failed one it is left open, for the caller to close once it
 * has removed what the start created (the pidfile), so that nothing the
 * failed start made is left when the parent's exit says it failed.
 * in: the sockets inherited as the new master of a binary upgrade, or
 * NULL. */
int master_run(struct config *cfg, int *ready_fd, const struct upgrade_fds *in);

#endif
