/* listener.h - SO_REUSEPORT listening sockets and accepting with overload
 * handling.
 *
 * The master opens one listening socket per worker slot and listen
 * address and keeps its own reference; a worker only accepts on the one
 * it inherits. Closing the last reference of a listener resets every
 * connection waiting in its accept queue, so the master's reference is
 * what lets a respawned worker take over the same queue without a loss. */
#ifndef RP_LISTENER_H
#define RP_LISTENER_H

#include "addr.h"
#include "loop.h"
struct stats_counters;

/* Fails with EADDRINUSE if anything already holds addr, including another
 * SO_REUSEPORT group (which a plain SO_REUSEPORT bind would silently join
 * and steal connections from). Binds without listening: it never enters a
 * group. */
int lst_check_free(const struct addr *a, char *err, size_t errlen);
/* A listening SO_REUSEPORT socket on a (port 0: the kernel picks one, read
 * it back with getsockname). Returns the fd, or -1 with a reason. */
int lst_open(const struct addr *a, int backlog, char *err, size_t errlen);

struct lst_set;

/* One listening socket being accepted on; tag -1: the worker's own, else
 * the slot it was adopted from. */
struct lst {
	struct loop_watch w;
	struct lst_set *set;
	struct lst *next;
	int tag;
};

struct lst_set {
	struct loop *loop;
	struct lst *items; /* a list: adopted ones come and go */
	int paused;        /* accepting stopped: at the cap or out of fds */
	int stopped;       /* for good (draining or exiting) */
	int taking;        /* lst_set_stop is accepting what is queued */
	struct loop_timer retry;
	uint64_t warned_ms; /* out-of-descriptor warnings, one per interval */
	unsigned pauses;    /* since the last warning */
	struct stats_counters *stats;
	/* 1 when one more connection can be taken */
	int (*can_accept)(void *arg);
	/* takes the fd (0) or refuses it (-1: the set closes it); peer is
	 * the client's address as accept4 gave it */
	int (*on_accept)(void *arg, int fd, const struct sockaddr *peer,
			 socklen_t peerlen);
	/* accept4 ran out of descriptors (EMFILE, ENFILE): the owner may
	 * close some it keeps for itself. How many it closed: then
	 * accepting goes on, else it pauses. NULL (lst_set_start's):
	 * pause. */
	unsigned (*out_of_fds)(void *arg);
	void *arg;
};

int lst_set_start(struct lst_set *s, struct loop *l, const int *fds, int n,
		  struct stats_counters *stats, int (*can_accept)(void *),
		  int (*on_accept)(void *, int, const struct sockaddr *, socklen_t),
		  void *arg);
/* A connection slot freed up: accept again if paused for that. */
void lst_set_resume(struct lst_set *s);
/* Also accepts on these listeners of another slot (its worker is down:
 * its queue would wait for the respawn) until lst_set_release(tag).
 * Takes the fds (closed on failure too). 0, or -1. */
int lst_set_adopt(struct lst_set *s, int tag, int *fds, int n);
/* Stops accepting on what was adopted under tag and closes it (the
 * slot's own worker is back; the master still holds the socket). With
 * take_queue, first accepts what is queued (as far as the cap allows):
 * this close may be the listener's last. */
void lst_set_release(struct lst_set *s, int tag, int take_queue);
/* Stops accepting and closes this process's references; with
 * take_queue, first accepts what is already queued (as far as the cap
 * allows), since a listener's last close resets its queue. */
void lst_set_stop(struct lst_set *s, int take_queue);

#endif
