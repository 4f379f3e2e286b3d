/* slots.h - the listening sockets of the worker slots and the reuseport
 * steering between them.
 *
 * Listeners belong to slots, not to processes: slot i has one SO_REUSEPORT
 * socket per listen address, opened by the master and kept until it exits.
 * Closing a listener resets the connections waiting in its accept queue,
 * so a respawned or reloaded worker takes over the very same sockets. */
#ifndef RP_SLOTS_H
#define RP_SLOTS_H

#include <stddef.h>

#include "config.h"

struct slots {
	int fd[CFG_MAX_WORKERS][CFG_MAX_LISTEN]; /* -1: not open */
	int nslots;                              /* slots opened, 0..nslots-1 */
	/* Sockets the reuseport group may hold: slots closed by a reload
	 * rolled back stay in it while a failing worker still holds them,
	 * and must get no connection, or it is reset when they go. */
	int peak;
	int nlisten;
	int backlog;
	/* This process sets the group's BPF program (slots_steer). During a
	 * binary upgrade two masters hold the same sockets, and only the
	 * one that serves the service steers: the other's idea of which
	 * slots live is not the group's. */
	int steering;
};

void slots_init(struct slots *s, int nlisten, int backlog);
/* Before anything listens: is every address free? A busy port, even one
 * held by another SO_REUSEPORT group, is one clear error then, never a
 * half-joined group. 0, or -1 with the reason. */
int slots_check_free(const struct addr *listen, int nlisten, char *err,
		     size_t errlen);
/* Opens slots nslots..n-1 for these addresses. With port 0 the first
 * socket ever opened picks the port, written back into listen[], and every
 * later one joins it. On failure the slots opened by this call are closed
 * again; -1 with the reason. */
int slots_open(struct slots *s, struct addr *listen, int n, char *err,
	       size_t errlen);
/* A binary upgrade: the listeners the new master inherits from the old
 * one, fds[i * fd_nlisten + j] for slot i and address j, become slots
 * 0..nslots-1 (the group's indexes are unchanged: they are the very same
 * sockets). Each must be a listening SO_REUSEPORT TCP socket, and the
 * addresses those of listen[0..s->nlisten-1], in order; a port 0 there
 * takes the inherited port. Before any slot is open. 0, or -1 with the
 * reason (nothing taken: the fds stay the caller's). */
int slots_adopt(struct slots *s, struct addr *listen, const int *fds,
		int nslots, int fd_nlisten, char *err, size_t errlen);
/* Closes slots from..nslots-1 (a reload that could not complete). */
void slots_close_from(struct slots *s, int from);
/* Closes every listener (the master stops). */
void slots_close_all(struct slots *s);
/* What a reload may change on listeners that stay open: TCP_DEFER_ACCEPT
 * (config_defer_accept: secs 0 turns it off) and the accept queue's
 * length (listen(2) again on a listening socket sets it; also for the
 * slots opened later). */
void slots_configure(struct slots *s, int defer_secs, int backlog);
/* Steers new connections to the slots in live[] only (ascending): those
 * whose listeners someone accepts on for new work. Others - a slot whose
 * worker is down or still starting, a surplus slot after a reload shrank
 * the count - get none. total is the number of slots the group will
 * have (more than nslots just before a reload opens new ones, so that
 * they get nothing until their workers are up; at least peak); every
 * slot live: the kernel's own hash. A no-op unless steering. */
void slots_steer(struct slots *s, const int *live, int nlive, int total);
/* Steers new connections to slots 0..n-1 only, whoever steers: a new
 * master that gives the service back to the old one, whose workers serve
 * exactly those, before the slots it opened itself close. */
void slots_steer_first(struct slots *s, int n);
/* The listeners the worker of slot i accepts on when nworkers run: its
 * own, and those of every surplus slot j with j % nworkers == i, so that
 * no queue is left without a worker. Fills fds (room for every slot's
 * listeners), returns their number. */
int slots_fds_for(const struct slots *s, int i, int nworkers, int *fds);

#endif
