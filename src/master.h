/* master.h - the supervisor: opens the listeners, forks the workers,
 * respawns them, answers the stats socket from their channels. */
#ifndef RP_MASTER_H
#define RP_MASTER_H

#include "config.h"

/* Runs the master until it is told to stop; returns the exit status.
 * ready_fd (or -1): a pipe written once, when every worker is ready, so
 * that a detaching parent can exit with the start-up's outcome. */
int master_run(struct config *cfg, int ready_fd);

#endif
