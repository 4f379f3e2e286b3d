/* rc_upgrade.h - reuseportctl upgrade: after the daemon has answered that
 * its new master serves, the old master is told to finish (SIGQUIT: its
 * workers drain) and waited for. Prefix rc_. */
#ifndef RC_UPGRADE_H
#define RC_UPGRADE_H

#include <stddef.h>
#include <sys/types.h>

/* Sends SIGQUIT to pid and waits until it has exited, at most
 * timeout_ms. 0, or -1 with the reason in err. */
int rc_upgrade_finish(pid_t pid, int timeout_ms, char *err, size_t errlen);

#endif
