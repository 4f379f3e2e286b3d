/* upgrade.c - a binary upgrade's state on both masters, the channel
 * between them, and the fork+exec of the new one (see upgrade.h). What
 * each step means for the sockets, the pidfile and systemd is
 * master_upgrade.c's. */
#include "autoconfig.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "upgrade.h"
#include "util.h"

extern char **environ;

/* --- the variable --- */

int upgrade_format(const struct upgrade_fds *f, char *buf, size_t len)
{
	size_t off;
	int n = snprintf(buf, len,
			 "1:old=%ld:chan=%d:stats=%d:metrics=%d:slots=%d:listen=%d:fds=",
			 (long)f->old_pid, f->chan, f->stats, f->metrics,
			 f->nslots, f->nlisten);

	if (n < 0 || (size_t)n >= len)
		return -1;
	off = (size_t)n;
	for (int i = 0; i < f->nslots * f->nlisten; i++) {
		n = snprintf(buf + off, len - off, "%s%d", i ? "," : "",
			     f->lst[i]);
		if (n < 0 || (size_t)n >= len - off)
			return -1;
		off += (size_t)n;
	}
	return 0;
}

/* "key=NUMBER" at *p, up to the next ':' (or ',' in a list), lo..hi. */
static int upgrade_num(const char **p, const char *key, long lo, long hi,
		       long *v, char *err, size_t errlen)
{
	size_t kl = strlen(key);
	char *end;

	if (key[0] && (strncmp(*p, key, kl) != 0 || (*p)[kl] != '=')) {
		snprintf(err, errlen, UPGRADE_ENV ": expected '%s=' at '%.20s'",
			 key, *p);
		return -1;
	}
	*p += key[0] ? kl + 1 : 0;
	errno = 0;
	*v = strtol(*p, &end, 10);
	if (end == *p || errno || *v < lo || *v > hi ||
	    (*end && *end != ':' && *end != ',')) {
		snprintf(err, errlen, UPGRADE_ENV ": bad %s at '%.20s'",
			 key[0] ? key : "descriptor", *p);
		return -1;
	}
	*p = *end ? end + 1 : end;
	return 0;
}

int upgrade_parse(const char *text, struct upgrade_fds *f, char *err, size_t errlen)
{
	const char *p = text;
	long v[7];
	static const struct {
		const char *key;
		long lo, hi;
	} keys[] = {
		{ "old", 1, INT_MAX },
		{ "chan", 3, INT_MAX },
		{ "stats", -1, INT_MAX },
		{ "metrics", -1, INT_MAX },
		{ "slots", 1, CFG_MAX_WORKERS },
		{ "listen", 1, CFG_MAX_LISTEN },
	};

	memset(f, 0, sizeof(*f));
	if (strncmp(p, "1:", 2) != 0) {
		snprintf(err, errlen,
			 UPGRADE_ENV
			 ": not version 1 ('%.20s'): the old master is of another kind",
			 text);
		return -1;
	}
	p += 2;
	for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++)
		if (upgrade_num(&p, keys[k].key, keys[k].lo, keys[k].hi, &v[k],
				err, errlen) < 0)
			return -1;
	f->old_pid = (pid_t)v[0];
	f->chan = (int)v[1];
	f->stats = (int)v[2];
	f->metrics = (int)v[3];
	f->nslots = (int)v[4];
	f->nlisten = (int)v[5];
	if (strncmp(p, "fds=", 4) != 0) {
		snprintf(err, errlen,
			 UPGRADE_ENV ": expected 'fds=' at '%.20s'", p);
		return -1;
	}
	p += 4;
	for (int i = 0; i < f->nslots * f->nlisten; i++) {
		if (!*p) {
			snprintf(err, errlen,
				 UPGRADE_ENV
				 ": %d descriptors for %d slots of %d listeners, expected %d",
				 i, f->nslots, f->nlisten,
				 f->nslots * f->nlisten);
			return -1;
		}
		if (upgrade_num(&p, "", 3, INT_MAX, &v[6], err, errlen) < 0)
			return -1;
		f->lst[i] = (int)v[6];
	}
	if (*p) {
		snprintf(err, errlen,
			 UPGRADE_ENV
			 ": more descriptors than %d slots of %d listeners",
			 f->nslots, f->nlisten);
		return -1;
	}
	return 0;
}

/* Each inherited descriptor is open, and ours alone from now on: exec
 * cleared close-on-exec for it. */
static int upgrade_claim(int fd, char *err, size_t errlen)
{
	if (fd < 0)
		return 0;
	if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) {
		snprintf(err, errlen, UPGRADE_ENV ": descriptor %d: %s", fd,
			 strerror(errno));
		return -1;
	}
	return 0;
}

int upgrade_from_env(struct upgrade_fds *f, char *err, size_t errlen)
{
	const char *v = getenv(UPGRADE_ENV);
	char text[8192];
	int r;

	if (!v)
		return 0;
	snprintf(text, sizeof(text), "%s", v);
	unsetenv(UPGRADE_ENV);
	if (upgrade_parse(text, f, err, errlen) < 0)
		return -1;
	if (getppid() != f->old_pid) {
		snprintf(err, errlen,
			 UPGRADE_ENV
			 ": the old master it names (pid %ld) is not our parent (pid %ld)",
			 (long)f->old_pid, (long)getppid());
		return -1;
	}
	r = upgrade_claim(f->chan, err, errlen) |
	    upgrade_claim(f->stats, err, errlen) |
	    upgrade_claim(f->metrics, err, errlen);
	for (int i = 0; i < f->nslots * f->nlisten; i++)
		r |= upgrade_claim(f->lst[i], err, errlen);
	return r ? -1 : 1;
}

/* --- the channel --- */

static void upgrade_send(struct upgrade *u, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void upgrade_send(struct upgrade *u, const char *fmt, ...)
{
	char msg[UPGRADE_MSG_MAX];
	va_list ap;
	int n;

	if (u->chan.fd < 0)
		return;
	va_start(ap, fmt);
	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if (send(u->chan.fd, msg, UTIL_MIN((size_t)n, sizeof(msg) - 1),
		 MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
		log_warn("upgrade: telling pid %ld '%s': %s", (long)u->peer,
			 msg, strerror(errno));
}

void upgrade_report_failure(int chan, const char *why)
{
	char msg[UPGRADE_MSG_MAX];
	int n = snprintf(msg, sizeof(msg), "failed %s", why);

	if (chan >= 0 && n > 0 &&
	    send(chan, msg, UTIL_MIN((size_t)n, sizeof(msg) - 1),
		 MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
		log_debug("upgrade: telling the old master: %s", strerror(errno));
}

static void upgrade_close_chan(struct upgrade *u)
{
	if (u->chan.fd < 0)
		return;
	loop_del(u->loop, &u->chan);
	close(u->chan.fd);
	u->chan.fd = -1;
}

static void upgrade_read(struct loop_watch *w, uint32_t events);

static int upgrade_open_chan(struct upgrade *u, int fd)
{
	if (util_set_nonblock(fd) < 0 ||
	    loop_add(u->loop, &u->chan, fd, EPOLLIN, upgrade_read) < 0) {
		close(fd);
		return -1;
	}
	return 0;
}

/* --- the old master --- */

static void upgrade_deadline(struct loop_timer *t);

void upgrade_init(struct upgrade *u, struct loop *l,
		  const struct upgrade_ops *ops, void *arg)
{
	memset(u, 0, sizeof(*u));
	u->loop = l;
	u->ops = ops;
	u->arg = arg;
	u->chan.fd = -1;
	loop_timer_init(&u->deadline, upgrade_deadline);
}

void upgrade_cleanup(struct upgrade *u)
{
	loop_timer_disarm(u->loop, &u->deadline);
	upgrade_close_chan(u);
}

int upgrade_check(const struct upgrade *u, char *err, size_t errlen)
{
	switch (u->state) {
	case UPGRADE_NONE:
		if (!u->child)
			return 0;
		snprintf(err, errlen,
			 "the new master of the last upgrade (pid %ld) has not exited yet; try again in a moment",
			 (long)u->peer);
		return -1;
	case UPGRADE_STARTING:
		snprintf(err, errlen,
			 "an upgrade is under way: the new master (pid %ld) is starting",
			 (long)u->peer);
		return -1;
	case UPGRADE_HANDED:
	case UPGRADE_TAKING_BACK:
		snprintf(err, errlen,
			 "this master handed over to pid %ld: stop this one (SIGQUIT) to finish that upgrade, or SIGHUP it to roll back",
			 (long)u->peer);
		return -1;
	case UPGRADE_WAITING:
	case UPGRADE_GIVEN_BACK:
	case UPGRADE_SERVING:
		snprintf(err, errlen,
			 "the old master (pid %ld) still runs: stop it (SIGQUIT) to finish this upgrade first, or roll back",
			 (long)u->peer);
		return -1;
	}
	return 0;
}

int upgrade_reload_check(const struct upgrade *u, char *err, size_t errlen)
{
	switch (u->state) {
	case UPGRADE_STARTING:
	case UPGRADE_WAITING:
		snprintf(err, errlen,
			 "an upgrade is under way; try again once it is done");
		return -1;
	case UPGRADE_HANDED:
	case UPGRADE_TAKING_BACK:
		snprintf(err, errlen,
			 "this master handed over to pid %ld (reload that one; SIGHUP here rolls back)",
			 (long)u->peer);
		return -1;
	case UPGRADE_GIVEN_BACK:
		snprintf(err, errlen,
			 "this master gave the service back to pid %ld",
			 (long)u->peer);
		return -1;
	default:
		/* Its workers may still hold the slots it opened, which are in
		 * the group: a reload's steering would not know them. */
		if (!u->child)
			return 0;
		snprintf(err, errlen,
			 "the new master of the last upgrade (pid %ld) is still finishing; try again in a moment",
			 (long)u->peer);
		return -1;
	}
}

/* The environment of the new master: ours, with the variable set. */
static char **upgrade_environ(const char *value)
{
	size_t n = 0, k = 0, vl = strlen(UPGRADE_ENV);
	char **env;

	while (environ[n])
		n++;
	env = calloc(n + 2, sizeof(*env));
	if (!env)
		return NULL;
	for (size_t i = 0; i < n; i++)
		if (strncmp(environ[i], UPGRADE_ENV "=", vl + 1) != 0)
			env[k++] = environ[i];
	env[k++] = (char *)value;
	env[k] = NULL;
	return env;
}

/* In the child: the passed descriptors survive exec, nothing else of
 * ours does (everything else is close-on-exec). This process has one
 * thread, so what it calls between fork and exec is safe; the signal
 * mask is kept: a SIGTERM sent to the new master before its signalfd
 * exists waits for it, rather than killing it half-started. */
static void upgrade_child(const struct upgrade_exec *x,
			  const struct upgrade_fds *f, char **env)
{
	char msg[UPGRADE_MSG_MAX];

	fcntl(f->chan, F_SETFD, 0);
	if (f->stats >= 0)
		fcntl(f->stats, F_SETFD, 0);
	if (f->metrics >= 0)
		fcntl(f->metrics, F_SETFD, 0);
	for (int i = 0; i < f->nslots * f->nlisten; i++)
		fcntl(f->lst[i], F_SETFD, 0);
	if (chdir(x->dir) < 0)
		snprintf(msg, sizeof(msg),
			 "failed cannot enter the starting directory %s: %s",
			 x->dir, strerror(errno));
	else if (execve(x->path, x->argv, env) < 0)
		snprintf(msg, sizeof(msg), "failed cannot execute %s: %s",
			 x->path, strerror(errno));
	if (send(f->chan, msg, strlen(msg), MSG_NOSIGNAL) < 0)
		_exit(126);
	_exit(127);
}

pid_t upgrade_start(struct upgrade *u, const struct upgrade_exec *x,
		    struct upgrade_fds *f, char *err, size_t errlen)
{
	char value[sizeof(UPGRADE_ENV) + 128 + sizeof(f->lst) / sizeof(f->lst[0]) * 12];
	size_t pl = strlen(UPGRADE_ENV "=");
	char **env;
	int sv[2];
	pid_t pid;

	if (!x->path || !x->path[0]) {
		snprintf(err, errlen,
			 "cannot tell which binary to execute: started as '%s', which is not in $PATH",
			 x->argv && x->argv[0] ? x->argv[0] : "?");
		return -1;
	}
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		snprintf(err, errlen, "socketpair: %s", strerror(errno));
		return -1;
	}
	f->old_pid = getpid();
	f->chan = sv[1];
	memcpy(value, UPGRADE_ENV "=", pl);
	if (upgrade_format(f, value + pl, sizeof(value) - pl) < 0 ||
	    !(env = upgrade_environ(value))) {
		snprintf(err, errlen, "out of memory");
		close(sv[0]);
		close(sv[1]);
		return -1;
	}
	pid = fork();
	if (pid == 0)
		upgrade_child(x, f, env);
	free(env);
	close(sv[1]);
	if (pid < 0) {
		snprintf(err, errlen, "fork: %s", strerror(errno));
		close(sv[0]);
		return -1;
	}
	if (upgrade_open_chan(u, sv[0]) < 0)
		log_error("upgrade: the channel to pid %ld: %s; it will time out",
			  (long)pid, strerror(errno));
	u->state = UPGRADE_STARTING;
	u->peer = pid;
	u->child = 1;
	loop_timer_arm(u->loop, &u->deadline, UPGRADE_START_MS);
	return pid;
}

/* The old master: the attempt is over without a hand-over. */
static void upgrade_failed(struct upgrade *u, const char *why)
{
	loop_timer_disarm(u->loop, &u->deadline);
	upgrade_close_chan(u);
	u->state = UPGRADE_NONE;
	u->ops->failed(u->arg, u->peer, why);
}

/* The old master: the service is ours again. */
static void upgrade_back(struct upgrade *u, const char *why)
{
	loop_timer_disarm(u->loop, &u->deadline);
	u->state = UPGRADE_NONE;
	u->ops->take_back(u->arg, u->peer, why);
}

int upgrade_take_back(struct upgrade *u)
{
	if (u->state != UPGRADE_HANDED)
		return 0;
	u->state = UPGRADE_TAKING_BACK;
	upgrade_send(u, "back");
	loop_timer_arm(u->loop, &u->deadline, UPGRADE_BACK_MS);
	return 1;
}

static void upgrade_deadline(struct loop_timer *t)
{
	struct upgrade *u = util_container_of(t, struct upgrade, deadline);
	char why[160];

	if (u->state == UPGRADE_STARTING) {
		snprintf(why, sizeof(why),
			 "the new master (pid %ld) was not up within %d s; stopping it",
			 (long)u->peer, UPGRADE_START_MS / 1000);
		kill(u->peer, SIGTERM);
		upgrade_failed(u, why);
	} else if (u->state == UPGRADE_TAKING_BACK) {
		snprintf(why, sizeof(why),
			 "SIGHUP; pid %ld did not say within %d s that it gave the service back: taken anyway",
			 (long)u->peer, UPGRADE_BACK_MS / 1000);
		upgrade_back(u, why);
	}
}

/* "status N" or "signal N (name)". */
static void upgrade_status(int status, char *buf, size_t len)
{
	if (WIFSIGNALED(status))
		snprintf(buf, len, "signal %d (%s)", WTERMSIG(status),
			 strsignal(WTERMSIG(status)));
	else
		snprintf(buf, len, "status %d", WEXITSTATUS(status));
}

static void upgrade_read_all(struct upgrade *u);

int upgrade_reaped(struct upgrade *u, pid_t pid, int status)
{
	char st[64], why[200];

	if (!u->child || pid != u->peer)
		return 0;
	/* What it said before it went (why it failed) comes first. */
	upgrade_read_all(u);
	upgrade_status(status, st, sizeof(st));
	u->child = 0;
	upgrade_close_chan(u);
	switch (u->state) {
	case UPGRADE_STARTING:
		snprintf(why, sizeof(why),
			 "the new master (pid %ld) exited with %s before it was up (see the log)",
			 (long)pid, st);
		upgrade_failed(u, why);
		break;
	case UPGRADE_HANDED:
	case UPGRADE_TAKING_BACK:
		snprintf(why, sizeof(why),
			 "the new master (pid %ld) exited with %s", (long)pid,
			 st);
		upgrade_back(u, why);
		break;
	default:
		log_info("upgrade: the new master of the last attempt (pid %ld) exited with %s",
			 (long)pid, st);
		break;
	}
	u->peer = u->state == UPGRADE_NONE ? 0 : u->peer;
	return 1;
}

/* --- the new master --- */

int upgrade_attach(struct upgrade *u, const struct upgrade_fds *f)
{
	u->peer = f->old_pid;
	u->state = UPGRADE_WAITING;
	return upgrade_open_chan(u, f->chan);
}

static void upgrade_own(struct upgrade *u)
{
	u->state = u->chan.fd >= 0 ? UPGRADE_SERVING : UPGRADE_NONE;
	u->ops->take_over(u->arg, u->peer);
	if (u->chan.fd >= 0)
		upgrade_send(u, "taken");
}

void upgrade_ready(struct upgrade *u)
{
	u->ready = 1;
	if (u->state != UPGRADE_WAITING)
		return;
	if (u->orphaned) {
		log_warn("upgrade: the old master (pid %ld) left before it handed over; this master takes the service",
			 (long)u->peer);
		upgrade_own(u);
		return;
	}
	upgrade_send(u, "ready");
}

void upgrade_fail(struct upgrade *u, const char *why)
{
	if (u->state != UPGRADE_WAITING)
		return;
	upgrade_send(u, "failed %s", why);
	upgrade_close_chan(u);
	u->state = UPGRADE_NONE;
	u->stopping = 1;
	u->old_serves = !u->orphaned;
}

/* The old master's end closed: it exited (or crashed). */
static void upgrade_old_gone(struct upgrade *u)
{
	upgrade_close_chan(u);
	switch (u->state) {
	case UPGRADE_WAITING:
		u->orphaned = 1;
		if (u->ready && !u->stopping)
			upgrade_ready(u);
		break;
	case UPGRADE_SERVING:
		log_info("upgrade: the old master (pid %ld) has exited; the upgrade is complete",
			 (long)u->peer);
		u->state = UPGRADE_NONE;
		break;
	case UPGRADE_GIVEN_BACK:
		u->state = UPGRADE_NONE;
		if (u->stopping)
			break;
		log_warn("upgrade: the old master (pid %ld), which had taken the service back, has exited; this master takes it again",
			 (long)u->peer);
		u->ops->take_over(u->arg, u->peer);
		break;
	default:
		break;
	}
}

/* --- both --- */

static void upgrade_message(struct upgrade *u, const char *msg)
{
	const char *reason = !strncmp(msg, "failed ", 7) ? msg + 7 : NULL;

	switch (u->state) {
	case UPGRADE_STARTING:
		if (!strcmp(msg, "ready")) {
			loop_timer_disarm(u->loop, &u->deadline);
			u->state = UPGRADE_HANDED;
			u->ops->hand_over(u->arg, u->peer);
			upgrade_send(u, "go");
			return;
		}
		if (reason || !strcmp(msg, "stopping")) {
			upgrade_failed(u,
				       reason ? reason :
						"the new master was stopped before it was up");
			return;
		}
		break;
	case UPGRADE_HANDED:
	case UPGRADE_TAKING_BACK:
		if (!strcmp(msg, "taken")) {
			if (u->state == UPGRADE_HANDED)
				u->ops->upgraded(u->arg, u->peer);
			return;
		}
		if (!strcmp(msg, "given") || !strcmp(msg, "stopping")) {
			upgrade_back(u, msg[0] == 'g' ?
						"rolled back on SIGHUP" :
						"the new master is stopping");
			return;
		}
		break;
	case UPGRADE_WAITING:
		if (!strcmp(msg, "go")) {
			upgrade_own(u);
			return;
		}
		break;
	case UPGRADE_SERVING:
		if (!strcmp(msg, "back")) {
			u->state = UPGRADE_GIVEN_BACK;
			u->ops->give_back(u->arg, u->peer);
			upgrade_send(u, "given");
			return;
		}
		break;
	default:
		break;
	}
	log_warn("upgrade: unexpected '%.60s' from pid %ld (state %d); ignored",
		 msg, (long)u->peer, (int)u->state);
}

/* One message; 0 when none waits, -1 when the other end closed. */
static int upgrade_read_one(struct upgrade *u)
{
	char msg[UPGRADE_MSG_MAX + 1];
	ssize_t n = recv(u->chan.fd, msg, sizeof(msg) - 1, MSG_DONTWAIT);

	if (n < 0)
		return errno == EAGAIN || errno == EINTR ? 0 : -1;
	if (n == 0)
		return -1;
	msg[n] = '\0';
	upgrade_message(u, msg);
	return 1;
}

static void upgrade_read_all(struct upgrade *u)
{
	int r;

	while (u->chan.fd >= 0 && (r = upgrade_read_one(u)) != 0)
		if (r < 0) {
			/* The old master waits for the reap, which says how
			 * the new one ended; the new master acts now. */
			if (u->state >= UPGRADE_WAITING)
				upgrade_old_gone(u);
			else
				upgrade_close_chan(u);
		}
}

static void upgrade_read(struct loop_watch *w, uint32_t events)
{
	struct upgrade *u = util_container_of(w, struct upgrade, chan);

	(void)events;
	upgrade_read_all(u);
}

int upgrade_stopping(struct upgrade *u)
{
	u->stopping = 1;
	switch (u->state) {
	case UPGRADE_STARTING:
		/* Stopping is stopping the service: the attempt goes too. */
		kill(u->peer, SIGTERM);
		upgrade_failed(u, "the daemon is stopping");
		return 0;
	case UPGRADE_HANDED:
	case UPGRADE_TAKING_BACK:
		return 1;
	case UPGRADE_WAITING:
		upgrade_send(u, "stopping");
		return u->chan.fd >= 0;
	case UPGRADE_SERVING:
		/* A rollback: the old master serves again. */
		u->state = UPGRADE_GIVEN_BACK;
		u->ops->give_back(u->arg, u->peer);
		upgrade_send(u, "stopping");
		return 1;
	case UPGRADE_GIVEN_BACK:
		return u->chan.fd >= 0;
	default:
		return u->old_serves;
	}
}

int upgrade_owner(const struct upgrade *u)
{
	switch (u->state) {
	case UPGRADE_HANDED:
	case UPGRADE_TAKING_BACK:
	case UPGRADE_WAITING:
	case UPGRADE_GIVEN_BACK:
		return 0;
	default:
		return 1;
	}
}
