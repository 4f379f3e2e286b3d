/* privdrop.h - running the workers as an unprivileged user.
 *
 * The master keeps its privileges (it binds, respawns, reopens logs); a
 * worker drops them right after fork, once it holds its listeners, so
 * ports below 1024 work. Names are resolved once, at start, while the
 * user database is certainly reachable. Every call is a no-op when
 * nothing is configured or the daemon was not started as root. */
#ifndef RP_PRIVDROP_H
#define RP_PRIVDROP_H

#include <stddef.h>
#include <sys/types.h>

struct config;

/* Resolves user, group and stats_socket_group. An unknown name is an
 * error (0, or -1 with the reason in err). Not started as root, user and
 * group are ignored with a warning: the daemon runs as who started it. */
int privdrop_init(const struct config *c, char *err, size_t errlen);
/* 1 if privdrop_apply will change the workers' credentials. */
int privdrop_active(void);
/* 1 if started as root with no user: the workers would keep uid 0, the
 * one thing the daemon should never do by default (the caller warns). */
int privdrop_workers_are_root(void);
/* The group the workers will run as (meaningful when active). */
gid_t privdrop_gid(void);
/* In a worker: setgid, initgroups (or setgroups for a group alone),
 * setuid, each checked, and then checks that root cannot be regained.
 * Keeps the parent-death signal, which the kernel clears when the
 * credentials change. 0, or -1 with the reason: the worker must exit. */
int privdrop_apply(char *err, size_t errlen);
/* Gives the stats socket at path the configured stats_socket_group and
 * stats_socket_mode. 0, or -1 with the reason. */
int privdrop_chown_socket(const char *path, char *err, size_t errlen);

#endif
