/* test_ops_install.c - what `make install` puts where, and that the
 * installed pieces fit together: `make install DESTDIR=...` of this build
 * tree into a temp dir, every file checked at the directory configure
 * chose for it (the systemd unit in systemd's unit directory, the init
 * script, the config, logrotate's file); an edited config survives a second install and
 * `make uninstall`, which leaves nothing else behind. The shipped
 * config's stats socket is in the directory the init script and the
 * unit create, and reuseportctl without options finds a daemon started
 * with that config (as root, in a private /run), whose workers do not
 * run as root. */
#include "autoconfig.h"

#include <errno.h>
#include <ftw.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cfgfile.h"
#include "config.h"
#include "harness.h"
#include "ops_harness.h"

#if !defined(OPS_BUILDDIR) || !defined(OPS_MAKE) || !defined(OPS_SBINDIR) || \
	!defined(OPS_SYSCONFDIR) || !defined(OPS_UNITDIR) || \
	!defined(OPS_RUNDIR) || !defined(OPS_LOCALSTATEDIR) || \
	!defined(RC_BIN) || !defined(DAEMON_USER)
#error "build with -DOPS_BUILDDIR, -DOPS_MAKE, -DOPS_SBINDIR, -DOPS_SYSCONFDIR, -DOPS_UNITDIR, -DOPS_RUNDIR, -DOPS_LOCALSTATEDIR, -DRC_BIN and -DDAEMON_USER (src/ops.am)"
#endif

#define BUILT(name) OPS_BUILDDIR "/etc/" name
#define LOGROTATE "/usr/sbin/logrotate"
#define STATS_SOCKET OPS_RUNDIR "/reuseportd.sock"

#define MAKE_MS 120000

static char out[16384], err[16384];

/* `make -C BUILDDIR TARGET DESTDIR=dest`: its exit status. */
static int make(const char *target, const char *dest)
{
	char destdir[160];
	const char *argv[] = { "/bin/sh",
			       "-c",
			       "exec \"$0\" -s -C \"$1\" \"$2\" \"$3\"",
			       OPS_MAKE,
			       OPS_BUILDDIR,
			       target,
			       destdir,
			       NULL };
	int st;

	snprintf(destdir, sizeof(destdir), "DESTDIR=%s", dest);
	st = oh_run(argv, NULL, NULL, 0, MAKE_MS, out, sizeof(out), err,
		    sizeof(err));
	if (st != 0)
		hr_note("make %s %s: exit %d\nstdout: %s\nstderr: %s", target,
			destdir, st, out, err);
	return st;
}

/* dest + dir + "/" + name */
static const char *at(const char *dest, const char *dir, const char *name)
{
	static char path[4][512];
	static int i;

	i = (i + 1) % 4;
	snprintf(path[i], sizeof(path[i]), "%s%s/%s", dest, dir, name);
	return path[i];
}

static int is_file(const char *path, mode_t want_bits)
{
	struct stat sb;

	return stat(path, &sb) == 0 && S_ISREG(sb.st_mode) &&
	       (sb.st_mode & want_bits) == want_bits;
}

/* The regular files under a tree, for the uninstall check. */
static char left[4096];

static int note_file(const char *path, const struct stat *sb, int type,
		     struct FTW *ftw)
{
	(void)sb, (void)ftw;
	if (type == FTW_F || type == FTW_SL) {
		size_t n = strlen(left);

		snprintf(left + n, sizeof(left) - n, "%s\n", path);
	}
	return 0;
}

static const char *files_under(const char *dir)
{
	left[0] = '\0';
	nftw(dir, note_file, 16, FTW_PHYS);
	return left;
}

/* logrotate -d (no action, every message) on file, when logrotate is
 * installed. */
static void check_logrotate_syntax(struct hr_daemon *d, const char *file)
{
	char state[160];
	const char *argv[] = { LOGROTATE, "-d", "-s", state, file, NULL };
	int st;

	if (access(LOGROTATE, X_OK) < 0) {
		hr_note("no %s: the logrotate file's syntax is not checked",
			LOGROTATE);
		return;
	}
	snprintf(state, sizeof(state), "%s/logrotate.state", d->dir);
	st = oh_run(argv, NULL, NULL, 0, 10000, out, sizeof(out), err,
		    sizeof(err));
	hr_check(st == 0 && !strstr(out, "error") && !strstr(err, "error"),
		 "logrotate -d %s: exit %d\n%s%s", file, st, out, err);
}

static void test_install_uninstall(void **state)
{
	struct hr_daemon *d = *state;
	char dest[128], *text, edited[600];
	const char *conf, *unit;

	snprintf(dest, sizeof(dest), "%s/root", d->dir);
	hr_check_int("make install DESTDIR=...", 0, make("install", dest));

	hr_check(is_file(at(dest, OPS_SBINDIR, "reuseportd"), 0755),
		 "the daemon in sbindir: %s",
		 at(dest, OPS_SBINDIR, "reuseportd"));
	hr_check(is_file(at(dest, OPS_SYSCONFDIR, "init.d/reuseportd"), 0755),
		 "the init script: %s",
		 at(dest, OPS_SYSCONFDIR, "init.d/reuseportd"));
	conf = at(dest, OPS_SYSCONFDIR, "reuseportd.conf");
	hr_check(is_file(conf, 0644), "the config file: %s", conf);

	/* logrotate's file, naming the log the config's comment proposes
	 * and the init script it signals through; logrotate (if here)
	 * accepts it. */
	{
		const char *lr = at(dest, OPS_SYSCONFDIR,
				    "logrotate.d/reuseportd");

		hr_check(is_file(lr, 0644), "the logrotate file: %s", lr);
		text = oh_read(lr);
		hr_check(strstr(text, "\n" OPS_LOCALSTATEDIR
				      "/log/reuseportd/reuseportd.log {\n") &&
				 strstr(text, OPS_SYSCONFDIR
					"/init.d/reuseportd rotate"),
			 "the logrotate file names the log and the init script: %s",
			 text);
		free(text);
		check_logrotate_syntax(d, lr);
	}

	/* The unit, where configure's systemd unit directory says, naming
	 * the installed binary and config. */
	if (OPS_UNITDIR[0]) {
		unit = at(dest, OPS_UNITDIR, "reuseportd.service");
		hr_check(is_file(unit, 0644), "the systemd unit: %s", unit);
		text = oh_read(unit);
		hr_check(strstr(text, "ExecStart=" OPS_SBINDIR
				      "/reuseportd -f -c " OPS_SYSCONFDIR
				      "/reuseportd.conf\n"),
			 "the unit's ExecStart names the installed files: %s",
			 text);
		free(text);
	} else {
		hr_note("configured --without-systemdsystemunitdir: no unit");
	}

	/* The administrator edits the config; a second install keeps the
	 * edit and puts the new file beside it. */
	text = oh_read(conf);
	snprintf(edited, sizeof(edited), "%.400s\nworkers 3\n", text);
	free(text);
	oh_write(conf, "%s", edited);
	hr_check_int("make install over an edited config", 0,
		     make("install", dest));
	text = oh_read(conf);
	hr_check(!strcmp(text, edited), "the edited config is kept: %s", text);
	free(text);
	hr_check(is_file(at(dest, OPS_SYSCONFDIR, "reuseportd.conf.dist"), 0644),
		 "the new config beside it as reuseportd.conf.dist");

	/* Uninstall: only the edited config is left. */
	hr_check_int("make uninstall DESTDIR=...", 0, make("uninstall", dest));
	{
		char want[600];

		snprintf(want, sizeof(want), "%s\n", conf);
		hr_check(!strcmp(files_under(dest), want),
			 "after uninstall: expected only %s, seen:\n%s", conf,
			 left);
	}
}

/* The shipped config's stats socket, the init script's RUNDIR, the
 * unit's RuntimeDirectory and reuseportctl's default are one place. */
static void test_paths_agree(void **state)
{
	static struct config cfg;
	const char *rc[] = { RC_BIN, "--help", NULL };
	char cerr[512], want[256], *text;

	(void)state;
	config_defaults(&cfg);
	hr_check(cfgfile_load(&cfg, BUILT("reuseportd.conf"), cerr,
			      sizeof(cerr)) == 0,
		 "the shipped config: %s", cerr);
	hr_check(!strcmp(cfg.stats_socket, STATS_SOCKET),
		 "its stats socket: expected %s, seen %s", STATS_SOCKET,
		 cfg.stats_socket);

	text = oh_read(BUILT("init.d/reuseportd"));
	hr_check(strstr(text, "\nRUNDIR=" OPS_RUNDIR "\n"),
		 "the init script creates RUNDIR=%s: %s", OPS_RUNDIR, text);
	free(text);

	if (OPS_UNITDIR[0]) {
		text = oh_read(BUILT("reuseportd.service"));
		snprintf(want, sizeof(want), "\nRuntimeDirectory=%s\n",
			 OPS_RUNDIR + strlen("/run/"));
		hr_check(!strncmp(OPS_RUNDIR, "/run/", 5) && strstr(text, want),
			 "the unit creates %s: expected '%s' in:\n%s",
			 OPS_RUNDIR, want + 1, text);
		free(text);
	}

	hr_check_int("reuseportctl --help", 0,
		     oh_run(rc, NULL, NULL, 0, 10000, out, sizeof(out), err,
			    sizeof(err)));
	hr_check(strstr(out, STATS_SOCKET), "reuseportctl's default: %s", out);
}

/* A /run of our own (this process and its children, for the rest of
 * the program): the daemon's socket goes where the installed one's
 * would, and the host's /run is left alone. */
static int private_run(char *why, size_t len)
{
	if (geteuid() != 0) {
		snprintf(why, len, "needs root (a mount namespace)");
		return -1;
	}
	if (strncmp(OPS_RUNDIR, "/run/", 5) != 0) {
		snprintf(why, len, "the run directory %s is not under /run",
			 OPS_RUNDIR);
		return -1;
	}
	if (unshare(CLONE_NEWNS) < 0 ||
	    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
	    mount("tmpfs", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755") <
		    0) {
		snprintf(why, len, "a private /run: %s", strerror(errno));
		return -1;
	}
	/* What the init script and systemd do before the start. */
	if (mkdir(OPS_RUNDIR, 0755) < 0) {
		snprintf(why, len, "mkdir %s: %s", OPS_RUNDIR, strerror(errno));
		return -1;
	}
	return 0;
}

/* The shipped config started as the init script or the unit starts it
 * (but on a free loopback port): reuseportctl with no -s and no
 * $REUSEPORTD_SOCKET talks to it. */
static void test_ctl_finds_installed_daemon(void **state)
{
	struct hr_daemon *d = *state;
	const char *args[] = { "-f", "-c",          BUILT("reuseportd.conf"),
			       "-l", "127.0.0.1:0", "-w",
			       "2",  NULL };
	const char *ping[] = { RC_BIN, "ping", NULL },
		   *workers[] = { RC_BIN, "workers", NULL };
	char why[256], want[64];
	int st;

	if (private_run(why, sizeof(why)) < 0) {
		print_message("# %s; skipped\n", why);
		skip();
	}
	snprintf(d->sock, sizeof(d->sock), "%s", STATS_SOCKET);
	hr_check(hr_spawn(d, args) == 0, "spawn");
	hr_check(hr_wait_for(d, hr_all_running, NULL, HR_START_MS),
		 "the daemon answers on %s", STATS_SOCKET);

	/* Started as root, the shipped config runs no worker as root. */
	{
		struct passwd *pw = getpwnam(DAEMON_USER);
		json_t *doc = hr_query_ok(d, "stats");
		pid_t wpid = (pid_t)hr_jint(doc, "workers/0/pid");
		long ids[4] = { -1, -1, -1, -1 };

		json_decref(doc);
		hr_check(pw && oh_proc_ids(wpid, "Uid:", ids) == 0 &&
				 ids[1] == (long)pw->pw_uid,
			 "worker %ld: expected uid %ld (" DAEMON_USER
			 "), seen %ld",
			 (long)wpid, pw ? (long)pw->pw_uid : -1L, ids[1]);
		hr_check(!hr_log_contains(d, "the workers run as root"),
			 "no warning about root workers");
	}

	unsetenv("REUSEPORTD_SOCKET");
	st = oh_run(ping, NULL, d->dir, 0, 10000, out, sizeof(out), err,
		    sizeof(err));
	snprintf(want, sizeof(want), "pong from pid %ld", (long)d->pid);
	hr_check(st == 0 && strstr(out, want),
		 "reuseportctl ping: expected exit 0 and '%s', seen %d: %s%s",
		 want, st, out, err);
	st = oh_run(workers, NULL, d->dir, 0, 10000, out, sizeof(out), err,
		    sizeof(err));
	hr_check(st == 0 && strstr(out, "balance"),
		 "reuseportctl workers: exit %d: %s%s", st, out, err);
	hr_check_int("exit status", 0, hr_stop(d, SIGTERM));
	hr_check(access(STATS_SOCKET, F_OK) < 0, "the socket removed on exit");
}

static int setup(void **state)
{
	*state = hr_new();
	return *state ? 0 : -1;
}

static int teardown(void **state)
{
	hr_free(*state);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_install_uninstall, setup,
						teardown),
		cmocka_unit_test(test_paths_agree),
		/* Last: it leaves this process in its own mount namespace. */
		cmocka_unit_test_setup_teardown(test_ctl_finds_installed_daemon,
						setup, teardown),
	};

	return cmocka_run_group_tests_name("ops_install", tests, NULL, NULL);
}
