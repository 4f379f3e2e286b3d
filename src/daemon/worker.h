/* worker.h - one worker's life: accept on its listeners, serve its
 * connections in its own epoll loop, answer the master on its channel. */
#ifndef RP_WORKER_H
#define RP_WORKER_H

#include <sys/types.h>

struct config;
struct limits;
struct stats_counters;

struct worker_args {
	const struct config *cfg;
	const struct limits *lim;
	int id;
	int generation;
	pid_t master_pid;
	const int *lst_fds; /* this slot's listeners, one per listen address */
	int nlst;
	int chan_fd;
	/* The worker's counters, in memory shared with the master: the
	 * channel is how the master asks a live worker, this is how it
	 * learns, exactly, what a worker that died had counted - the
	 * connections it still held among them. */
	struct stats_counters *stats;
};

/* Runs in the forked child; returns the process exit status. */
int worker_main(const struct worker_args *a);
/* The same, then exits the process with that status. */
void worker_cycle(const struct worker_args *a) __attribute__((noreturn));

#endif
