/* upgrade.h - a binary upgrade without a refused or reset connection,
 * nginx's way. On SIGUSR2 (or `upgrade` on the stats socket) the master
 * fork+execs its binary anew - the path it was started as, so that a
 * binary replaced on disk is the one that runs - passing its listening
 * sockets, its stats socket and one end of a socket pair, the upgrade
 * channel, in $REUSEPORTD_UPGRADE. The new master reads its
 * configuration, adopts the sockets (the same reuseport group, the same
 * accept queues: nothing is closed), starts its workers on them and says
 * "ready". Only then does the old master hand the service over - the
 * pidfile (to PATH.oldbin), the stats socket, the group's steering,
 * systemd's MAINPID - and it keeps its own workers until it is told to
 * stop (SIGQUIT or SIGTERM: they drain) or to take the service back
 * (SIGHUP: the rollback; stopping the new master rolls back too). A new
 * master that cannot start says why on the channel and exits; the old
 * one serves on.
 *
 * The channel is a SOCK_SEQPACKET pair, one message per packet:
 *   new -> old: "ready", "failed REASON", "taken", "stopping", "given"
 *   old -> new: "go", "back"
 * This file keeps the state and speaks the protocol; what each step does
 * to the master's sockets, pidfile and notifications is the master's
 * (struct upgrade_ops, master_upgrade.c). */
#ifndef RP_UPGRADE_H
#define RP_UPGRADE_H

#include <stddef.h>
#include <sys/types.h>

#include "config.h"
#include "loop.h"

#define UPGRADE_ENV "REUSEPORTD_UPGRADE"
/* The new master must be up by then, or it is stopped. */
#define UPGRADE_START_MS 30000
/* A rollback asked of a new master that does not answer: taken anyway. */
#define UPGRADE_BACK_MS 5000
/* The longest message (a failure's reason). */
#define UPGRADE_MSG_MAX 512

/* What a new master inherits, as $REUSEPORTD_UPGRADE says. */
struct upgrade_fds {
	pid_t old_pid;
	int chan;    /* the new master's end of the channel */
	int stats;   /* the stats socket's listener, -1: none */
	int metrics; /* the metrics endpoint's listener, -1: none */
	int nslots, nlisten;
	int lst[CFG_MAX_WORKERS * CFG_MAX_LISTEN]; /* lst[i * nlisten + j] */
};

/* "1:old=PID:chan=FD:stats=FD:metrics=FD:slots=N:listen=N:fds=FD,FD...":
 * the variable's value for f, in buf. 0, or -1 if it does not fit. */
int upgrade_format(const struct upgrade_fds *f, char *buf, size_t len);
/* The reverse, checked: every number in range, as many fds as slots
 * times listeners. 0, or -1 with the reason. Pure. */
int upgrade_parse(const char *text, struct upgrade_fds *f, char *err,
		  size_t errlen);
/* At start: 1 if $REUSEPORTD_UPGRADE made this process the new master of
 * an upgrade (f filled, the descriptors checked open and made
 * close-on-exec, the old master checked to be our parent), 0 if not, -1
 * with the reason. The variable is removed either way: it is for this
 * process only. */
int upgrade_from_env(struct upgrade_fds *f, char *err, size_t errlen);
/* A new master that cannot start tells the old one why (best effort;
 * chan < 0: a no-op). */
void upgrade_report_failure(int chan, const char *why);

/* What the master does at each step (master_upgrade.c). pid: the other
 * master. */
struct upgrade_ops {
	/* The old master. The new one is up: let the service go. */
	void (*hand_over)(void *arg, pid_t pid);
	/* It has taken the service over. */
	void (*upgraded)(void *arg, pid_t pid);
	/* It could not start (or took too long): we serve on. */
	void (*failed)(void *arg, pid_t pid, const char *why);
	/* It gave the service back, is stopping or died: own it again. */
	void (*take_back)(void *arg, pid_t pid, const char *why);
	/* The new master. The old one let go (or died): own the service. */
	void (*take_over)(void *arg, pid_t pid);
	/* Let it go: the old master owns the service again. */
	void (*give_back)(void *arg, pid_t pid);
};

enum upgrade_state {
	UPGRADE_NONE, /* no other master */
	/* the old master */
	UPGRADE_STARTING,    /* the new one starts; we serve */
	UPGRADE_HANDED,      /* it serves; we keep our workers */
	UPGRADE_TAKING_BACK, /* we asked it to give the service back */
	/* the new master */
	UPGRADE_WAITING,    /* the old one serves; our workers start */
	UPGRADE_SERVING,    /* we serve; the old one still runs */
	UPGRADE_GIVEN_BACK, /* the old one serves again */
};

/* The binary a new master runs, with the old one's arguments, in the
 * directory it was started in (relative paths on its command line). */
struct upgrade_exec {
	const char *path; /* "": unknown (started by a bare name not in $PATH) */
	char *const *argv;
	const char *dir;
};

struct upgrade {
	struct loop *loop;
	const struct upgrade_ops *ops;
	void *arg;
	enum upgrade_state state;
	pid_t peer;     /* the other master, 0: none */
	int child;      /* the old master: peer is our child, not reaped */
	int ready;      /* the new master: our workers are up */
	int orphaned;   /* the new master: the old one left before handing
			  * over; we own the service once ready */
	int stopping;   /* this master stops: it takes nothing over */
	int old_serves; /* the new master failed: the old one serves on */
	struct loop_watch chan; /* fd -1: no channel */
	struct loop_timer deadline;
};

void upgrade_init(struct upgrade *u, struct loop *l,
		  const struct upgrade_ops *ops, void *arg);
/* Closes the channel (the other master sees it end). */
void upgrade_cleanup(struct upgrade *u);

/* The old master: may an upgrade start now, as far as one under way
 * goes? 0, or -1 with the reason. */
int upgrade_check(const struct upgrade *u, char *err, size_t errlen);
/* The old master: forks and executes x, passing f's descriptors (f's
 * old_pid and chan are filled here). The child's pid, or -1 with the
 * reason (nothing started). A binary that cannot be executed is a
 * failure reported later, through ops->failed, like any other. */
pid_t upgrade_start(struct upgrade *u, const struct upgrade_exec *x,
		    struct upgrade_fds *f, char *err, size_t errlen);
/* The old master, on SIGHUP while the new one serves: asks it to give
 * the service back (ops->take_back follows). 1 if so, 0 if no upgrade is
 * there to roll back. */
int upgrade_take_back(struct upgrade *u);
/* The old master: a child was reaped. 1 if it was the new master. */
int upgrade_reaped(struct upgrade *u, pid_t pid, int status);

/* The new master: the inherited channel to the old one. 0, or -1. */
int upgrade_attach(struct upgrade *u, const struct upgrade_fds *f);
/* The new master: our workers are up (ops->take_over follows when the
 * old master lets go). */
void upgrade_ready(struct upgrade *u);
/* The new master: our workers could not start; the old one is told why. */
void upgrade_fail(struct upgrade *u, const char *why);

/* Either master stops. Returns 1 if the other goes on serving the port
 * (so this one's workers keep their idle connections for one last
 * request, and nothing of the service is removed). The new master gives
 * the service back first if it had it. */
int upgrade_stopping(struct upgrade *u);
/* Does this master own the service (serve the stats socket, steer, speak
 * to systemd)? */
int upgrade_owner(const struct upgrade *u);
/* Why a reload cannot be done now because of an upgrade: 0, or -1 with
 * the reason. */
int upgrade_reload_check(const struct upgrade *u, char *err, size_t errlen);

#endif
