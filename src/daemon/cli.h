/* cli.h - the command line. Options are recorded, not applied, so that
 * they can be applied on top of the config file - at start and again on
 * every reload, when the file is read anew. */
#ifndef RP_CLI_H
#define RP_CLI_H

#include <stddef.h>
#include <stdio.h>

#include "config.h"

#define CLI_MAX_SETTINGS 64

enum cli_action { CLI_RUN, CLI_HELP, CLI_VERSION };

/* -c none: no config file, not even the default one. */
#define CLI_NO_CONFIG "none"

/* Where the settings come from besides the command line. */
enum cli_config {
	CLI_CONFIG_GIVEN,      /* -c FILE */
	CLI_CONFIG_DEFAULT,    /* no -c; the default file exists */
	CLI_CONFIG_NO_DEFAULT, /* no -c; the default file does not exist */
	CLI_CONFIG_NONE,       /* -c none */
};

struct cli {
	enum cli_action action;
	const char *config_file; /* -c, or NULL (see cli_config_file) */
	int test;                /* -t */
	int verbose;             /* -v */
	int nset;
	struct {
		const char *name;  /* a config directive */
		const char *value; /* points into argv */
	} set[CLI_MAX_SETTINGS];
};

/* Reads argv (permuting it, as getopt does). 0, or -1 with a one-line
 * reason in err; the values themselves are checked by cli_apply. */
int cli_parse(int argc, char **argv, struct cli *out, char *err, size_t errlen);
/* Applies the recorded options on top of c, in their order. Listen
 * addresses on the command line replace those of the config file.
 * 0, or -1 with the reason. */
int cli_apply(const struct cli *cli, struct config *c, char *err, size_t errlen);
/* The config file to read: -c FILE, made absolute against base (the
 * starting directory); none for -c none; without -c, dflt (the
 * compiled-in $(sysconfdir)/reuseportd.conf; made absolute too) if there is
 * anything at that path - a dangling symlink or a directory there is an
 * error when it is read, not "no file" - and none if nothing is. The
 * path read, or for CLI_CONFIG_NO_DEFAULT the one looked for, goes to
 * path ("" for -c none). Returns the source, or -1 with the reason in
 * err (the default path unreadable for another reason than not being
 * there, a path too long). */
int cli_config_file(const struct cli *cli, const char *dflt, const char *base,
		    char *path, size_t len, char *err, size_t errlen);
/* dflt: the config file read when no -c is given. */
void cli_usage(FILE *out, const char *dflt);

#endif
