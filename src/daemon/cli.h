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

struct cli {
	enum cli_action action;
	const char *config_file; /* -c, or NULL */
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
void cli_usage(FILE *out);

#endif
