/* pidfile.h - the master's pid in a file, written atomically and locked
 * for the master's lifetime, so that a second instance with the same
 * pidfile can tell that the first one still runs (the lock, not the pid
 * in the file, is the proof: a pid may be reused after a crash). */
#ifndef RP_PIDFILE_H
#define RP_PIDFILE_H

#include <stddef.h>

/* What PATH becomes while an upgrade's new master runs. */
#define PIDFILE_OLDBIN ".oldbin"

/* Writes getpid() to path (through a temporary file and rename) and
 * keeps it locked (flock) until pidfile_release or exit. A file left by
 * a crashed instance is taken over; one still locked is an error that
 * names the running pid. 0, or -1 with the reason in err. */
int pidfile_create(const char *path, char *err, size_t errlen);
/* Removes the file, if this process created it and it is still the
 * file at its path. A no-op in any other process (a forked worker), or
 * without a pidfile. */
void pidfile_release(void);
/* A binary upgrade (upgrade.c): the old master's file moves to `to`
 * (PATH.oldbin, as nginx names it), still locked, so that the new master
 * can create its own at PATH; a rollback moves it back, over whatever is
 * at PATH then. If our file is no longer where we left it (removed by
 * hand), a new one is written at `to`. From then on pidfile_release
 * removes the file at `to`. 0, or -1 with the reason in err. */
int pidfile_move(const char *to, char *err, size_t errlen);
/* Where this process's pidfile is now ("" without one). */
const char *pidfile_path(void);
/* The pid written in path: > 0, or 0 if none is readable. */
long pidfile_read(const char *path);

#endif
