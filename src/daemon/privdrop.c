/* privdrop.c - the workers' credentials: names resolved once at start,
 * dropped in each worker right after fork (gid, groups, then uid, and
 * checked that root cannot come back), and the stats socket's group. */
#include "autoconfig.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "privdrop.h"

/* getpwnam_r/getgrnam_r scratch: large enough for a group with many
 * members; ERANGE beyond it is reported, not retried. */
#define PRIVDROP_BUF 16384

static struct {
	int active;
	int root_workers; /* root, and no user to drop to */
	int has_user;
	uid_t uid;
	gid_t gid;
	char user[64];
	int has_sock_group;
	gid_t sock_gid;
	unsigned sock_mode;
} pd;

static int lookup_user(const char *name, uid_t *uid, gid_t *gid, char *err,
		       size_t errlen)
{
	static char buf[PRIVDROP_BUF];
	struct passwd pw, *res = NULL;
	int r = getpwnam_r(name, &pw, buf, sizeof(buf), &res);

	if (r != 0 || !res) {
		snprintf(err, errlen, "user '%s' does not exist%s%s", name,
			 r ? ": " : "", r ? strerror(r) : "");
		return -1;
	}
	*uid = pw.pw_uid;
	*gid = pw.pw_gid;
	return 0;
}

static int lookup_group(const char *what, const char *name, gid_t *gid,
			char *err, size_t errlen)
{
	static char buf[PRIVDROP_BUF];
	struct group gr, *res = NULL;
	int r = getgrnam_r(name, &gr, buf, sizeof(buf), &res);

	if (r != 0 || !res) {
		snprintf(err, errlen, "%s '%s' does not exist%s%s", what, name,
			 r ? ": " : "", r ? strerror(r) : "");
		return -1;
	}
	*gid = gr.gr_gid;
	return 0;
}

int privdrop_init(const struct config *c, char *err, size_t errlen)
{
	memset(&pd, 0, sizeof(pd));
	pd.sock_mode = c->stats_socket_mode;
	if (c->user[0]) {
		if (lookup_user(c->user, &pd.uid, &pd.gid, err, errlen) < 0)
			return -1;
		pd.has_user = 1;
		snprintf(pd.user, sizeof(pd.user), "%s", c->user);
	}
	/* A group of its own overrides the user's primary group. */
	if (c->group[0] &&
	    lookup_group("group", c->group, &pd.gid, err, errlen) < 0)
		return -1;
	if (c->stats_socket_group[0]) {
		if (lookup_group("stats_socket_group", c->stats_socket_group,
				 &pd.sock_gid, err, errlen) < 0)
			return -1;
		pd.has_sock_group = 1;
	}
	pd.root_workers = !c->user[0] && geteuid() == 0;
	if (!c->user[0] && !c->group[0])
		return 0;
	if (geteuid() == 0) {
		pd.active = 1;
		return 0;
	}
	/* Only root may change its credentials; anyone else simply runs the
	 * workers as itself. */
	if ((pd.has_user && pd.uid != geteuid()) ||
	    (c->group[0] && pd.gid != getegid()))
		log_warn("not started as root: ignoring user/group; the workers run as uid %ld gid %ld",
			 (long)geteuid(), (long)getegid());
	return 0;
}

int privdrop_active(void)
{
	return pd.active;
}

int privdrop_workers_are_root(void)
{
	return pd.root_workers;
}

gid_t privdrop_gid(void)
{
	return pd.gid;
}

int privdrop_apply(char *err, size_t errlen)
{
	int pdeath = 0;

	if (!pd.active)
		return 0;
	prctl(PR_GET_PDEATHSIG, &pdeath);
	/* Group first: once the uid is gone, so is the right to change it. */
	if (setgid(pd.gid) < 0) {
		snprintf(err, errlen, "setgid(%ld): %s", (long)pd.gid,
			 strerror(errno));
		return -1;
	}
	/* Supplementary groups: the user's own, or none but the group;
	 * otherwise root's (group 0 among them) would survive. */
	if (pd.has_user ? initgroups(pd.user, pd.gid) < 0 :
			  setgroups(1, &pd.gid) < 0) {
		snprintf(err, errlen, "%s: %s",
			 pd.has_user ? "initgroups" : "setgroups",
			 strerror(errno));
		return -1;
	}
	if (pd.has_user && setuid(pd.uid) < 0) {
		snprintf(err, errlen, "setuid(%ld): %s", (long)pd.uid,
			 strerror(errno));
		return -1;
	}
	if (getgid() != pd.gid || getegid() != pd.gid ||
	    (pd.has_user && (getuid() != pd.uid || geteuid() != pd.uid))) {
		snprintf(err, errlen,
			 "credentials not as asked: uid %ld/%ld gid %ld/%ld",
			 (long)getuid(), (long)geteuid(), (long)getgid(),
			 (long)getegid());
		return -1;
	}
	if (pd.has_user && pd.uid != 0 && setuid(0) == 0) {
		snprintf(err, errlen, "could become root again after setuid(%ld)",
			 (long)pd.uid);
		return -1;
	}
	if (pdeath)
		prctl(PR_SET_PDEATHSIG, pdeath);
	return 0;
}

int privdrop_chown_socket(const char *path, char *err, size_t errlen)
{
	if (!pd.has_sock_group)
		return 0;
	if (chown(path, (uid_t)-1, pd.sock_gid) < 0 ||
	    chmod(path, pd.sock_mode) < 0) {
		snprintf(err, errlen, "stats socket %s: group %ld: %s", path,
			 (long)pd.sock_gid, strerror(errno));
		return -1;
	}
	return 0;
}
