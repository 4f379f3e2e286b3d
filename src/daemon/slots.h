/* slots.h - the listening sockets of the worker slots and the reuseport
 * steering between them.
 *
 * Listeners belong to slots, not to processes: slot i has one SO_REUSEPORT
 * socket per listen address, opened by the master and kept until it exits
 * or a reload removes the address (drained first: master_listen.c).
 * Closing a listener resets the connections waiting in its accept queue,
 * so a respawned or reloaded worker takes over the very same sockets. */
#ifndef RP_SLOTS_H
#define RP_SLOTS_H

#include <stddef.h>

#include "config.h"

/* A reload that changes the listen addresses (slots_relisten), until
 * its generation is up (slots_relisten_commit) or not
 * (slots_relisten_undo): the table as it was, so that a reload that
 * fails leaves nothing half-applied, and which old column each new one
 * keeps. */
struct slots_relisten {
	int active;
	int fd[CFG_MAX_WORKERS][CFG_MAX_LISTEN];
	int wild[CFG_MAX_LISTEN];
	int nlisten, nslots;
	int from[CFG_MAX_LISTEN]; /* new column j: the old one, -1 if added */
};

/* The listeners of the addresses a reload removed, from its commit
 * until they are drained (master_listen.c): gone.fd[slot][k] for the
 * k-th removed address, -1 once closed. */
struct slots_gone {
	int fd[CFG_MAX_WORKERS][CFG_MAX_LISTEN];
	int n, nslots;
};

struct slots {
	int fd[CFG_MAX_WORKERS][CFG_MAX_LISTEN]; /* -1: not open */
	/* The configuration gave column j port 0: a port 0 asked again at
	 * a reload means the port it was given then. */
	int wild[CFG_MAX_LISTEN];
	int nslots; /* slots opened, 0..nslots-1 */
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
	struct slots_relisten re;
	struct slots_gone gone;
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
/* --- a reload that changes the listen addresses --- */

/* Which columns a reload to next[0..n-1] keeps: from[j] is the column of
 * cur[] (the running addresses, ports as chosen) that next[j] names, or
 * -1 for an address to add; a kept address takes the port it runs on.
 * A port 0 in next[] keeps a column configured with port 0 on the same
 * IP. Returns 1 if the table changes (an address added or removed, or
 * the order), else 0. */
int slots_relisten_plan(const struct slots *s, const struct addr *cur,
			struct addr *next, int n, int *from);
/* Applies that plan to the open slots: the kept columns move into place,
 * the added ones get a listener in every open slot (a port 0 learns its
 * port as slots_open does); the removed ones leave the table but stay
 * open (s->re). On failure nothing changed: -1 with the reason (a busy
 * port: the first check, as at start). */
int slots_relisten(struct slots *s, struct addr *next, int n, const int *from,
		   char *err, size_t errlen);
/* The reload's generation did not come up: the added columns close and
 * the table is the one before slots_relisten (close the slots the reload
 * opened first, slots_close_from). */
void slots_relisten_undo(struct slots *s);
/* It came up: the removed columns become s->gone (their listeners still
 * open, to drain). Returns how many addresses were removed. */
int slots_relisten_commit(struct slots *s);
/* No new connection starts on the removed listeners: a socket filter
 * drops every SYN on them, while the handshakes already under way
 * complete into their queues. */
void slots_gone_block(struct slots *s);
/* Connections waiting in the removed listeners' accept queues, or -1
 * if some queue cannot be read. */
int slots_gone_queued(const struct slots *s);
/* Closes this process's references to the removed listeners. */
void slots_gone_close(struct slots *s);

/* Closes slots from..nslots-1 (a reload that could not complete). */
void slots_close_from(struct slots *s, int from);
/* Closes every listener, the removed ones too (the master stops). */
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
