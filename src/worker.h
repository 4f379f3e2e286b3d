/* worker.h - one worker's life: accept on its listeners, serve its
 * connections in its own epoll loop, answer the master on its channel. */
#ifndef RP_WORKER_H
#define RP_WORKER_H

#include <sys/types.h>

#include "config.h"
#include "syslimits.h"

struct worker_args {
	const struct config *cfg;
	const struct limits *lim;
	int id;
	int generation;
	pid_t master_pid;
	const int *lst_fds; /* this slot's listeners, one per listen address */
	int nlst;
	int chan_fd;
};

/* Runs in the forked child; returns the process exit status. */
int worker_main(const struct worker_args *a);

#endif
