/* cfgtest.h - `reuseportd -t`: is this configuration one the daemon can
 * start with? Checks what parsing could not (the docroot is a directory,
 * the users and groups exist) and, verbose, reports the kernel and
 * process limits against the configured load. It never opens a socket:
 * a listener on the service port, however short-lived, would join the
 * running daemon's SO_REUSEPORT group and take connections from it. */
#ifndef RP_CFGTEST_H
#define RP_CFGTEST_H

#include <stdio.h>

#include "config.h"

/* Prints "configuration SOURCE is ok" on out, or the problem on errout;
 * with verbose, the limits report on out. source says what was checked:
 * the config file, or that there was none. Returns the exit status: 0
 * ok, 1 not. */
int cfgtest_run(const struct config *c, const char *source, int verbose,
		FILE *out, FILE *errout);

#endif
