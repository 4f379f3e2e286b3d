/* test_ops_install.c - what `make install` puts where: `make install
 * DESTDIR=...` of this build tree into a temp dir, every file checked at
 * the directory configure chose for it (the systemd unit in systemd's
 * unit directory, the init script, the config); an edited config
 * survives a second install and `make uninstall`, which leaves nothing
 * else behind. */
#include "autoconfig.h"

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "ops_harness.h"

#if !defined(OPS_BUILDDIR) || !defined(OPS_MAKE) || !defined(OPS_SBINDIR) || \
	!defined(OPS_SYSCONFDIR) || !defined(OPS_UNITDIR)
#error "build with -DOPS_BUILDDIR, -DOPS_MAKE, -DOPS_SBINDIR, -DOPS_SYSCONFDIR and -DOPS_UNITDIR (src/ops.am)"
#endif

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
	};

	return cmocka_run_group_tests_name("ops_install", tests, NULL, NULL);
}
