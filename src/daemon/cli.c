/* cli.c - the command line: getopt_long options recorded as directives,
 * applied over the config file at start and at every reload. It sets
 * nothing itself: config.c gives each value its meaning and its error. */
#include "autoconfig.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"

enum { OPT_DOCROOT = 256, OPT_RETURN, OPT_IDLE_YIELD };

static const struct option opts[] = {
	{ "config", required_argument, NULL, 'c' },
	{ "test-config", no_argument, NULL, 't' },
	{ "listen", required_argument, NULL, 'l' },
	{ "workers", required_argument, NULL, 'w' },
	{ "protocol", required_argument, NULL, 'P' },
	{ "stats-socket", required_argument, NULL, 's' },
	{ "pidfile", required_argument, NULL, 'p' },
	{ "user", required_argument, NULL, 'u' },
	{ "group", required_argument, NULL, 'g' },
	{ "docroot", required_argument, NULL, OPT_DOCROOT },
	{ "return", required_argument, NULL, OPT_RETURN },
	{ "idle-yield", no_argument, NULL, OPT_IDLE_YIELD },
	{ "foreground", no_argument, NULL, 'f' },
	{ "verbose", no_argument, NULL, 'v' },
	{ "version", no_argument, NULL, 'V' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

void cli_usage(FILE *out, const char *dflt)
{
	fprintf(out,
		"Usage: reuseportd [OPTION]...\n"
		"A multi-process TCP server: N workers share one port with SO_REUSEPORT.\n"
		"\n"
		"  -c, --config FILE|none     read settings from FILE; options given here\n"
		"                             override it. Default: %s\n"
		"                             if it exists; none: the built-in defaults\n"
		"  -t, --test-config          check the configuration and exit (0 ok, 1 not);\n"
		"                             with -v also report the system limits\n"
		"  -l, --listen ADDR:PORT     listen address, repeatable: 0.0.0.0:8080,\n"
		"                             [::1]:8080, 8080; port 0 picks a free port\n"
		"                             (default %s)\n"
		"  -w, --workers N|auto       worker processes (default auto: one per CPU)\n"
		"  -P, --protocol echo|http|tcp_proxy|http_proxy\n"
		"                             the service (default echo)\n"
		"      --docroot DIR          http: serve the files under DIR\n"
		"      --return 'STATUS TEXT' http: answer every request with this\n"
		"      --idle-yield           workers yield the CPU once before sleeping\n"
		"                             (idle_yield on; see reuseportd.conf(5))\n"
		"  -s, --stats-socket PATH    stats socket (default ./%s)\n"
		"  -p, --pidfile FILE         write the master's pid to FILE, locked\n"
		"  -u, --user USER            run the workers as USER (when started as root)\n"
		"  -g, --group GROUP          ... and as GROUP (default: USER's group)\n"
		"  -f, --foreground           do not detach; log to stderr\n"
		"  -v, --verbose              debug logging\n"
		"  -V, --version              print the version and exit\n"
		"  -h, --help                 print this help and exit\n"
		"\n"
		"Signals to the master: TERM/QUIT graceful stop, INT fast stop, HUP reload,\n"
		"USR1 reopen the log file. See reuseportd(8) and reuseportd.conf(5).\n"
		"Query a running daemon: echo stats | nc -U %s\n",
		dflt, CFG_DEFAULT_LISTEN, CFG_DEFAULT_STATS_SOCKET,
		CFG_DEFAULT_STATS_SOCKET);
}

static const char *directive_of(int opt)
{
	switch (opt) {
	case 'l':
		return "listen";
	case 'w':
		return "workers";
	case 'P':
		return "protocol";
	case 's':
		return "stats_socket";
	case 'p':
		return "pidfile";
	case 'u':
		return "user";
	case 'g':
		return "group";
	case OPT_DOCROOT:
		return "docroot";
	case OPT_RETURN:
		return "return";
	case OPT_IDLE_YIELD:
		return "idle_yield";
	case 'f':
		return "foreground";
	case 'v':
		return "log_level";
	default:
		return NULL;
	}
}

static int record(struct cli *out, const char *name, const char *value,
		  char *err, size_t errlen)
{
	if (out->nset == CLI_MAX_SETTINGS) {
		snprintf(err, errlen, "more than %d options", CLI_MAX_SETTINGS);
		return -1;
	}
	out->set[out->nset].name = name;
	out->set[out->nset].value = value;
	out->nset++;
	return 0;
}

int cli_parse(int argc, char **argv, struct cli *out, char *err, size_t errlen)
{
	int c;

	memset(out, 0, sizeof(*out));
	opterr = 0;
	optind = 0; /* GNU: start over, even if getopt ran before */
	while ((c = getopt_long(argc, argv, ":c:tl:w:P:s:p:u:g:fvVh", opts,
				NULL)) != -1) {
		const char *name = directive_of(c);

		switch (c) {
		case 'c':
			if (!*optarg) {
				snprintf(err, errlen,
					 "-c: an empty file name (for no config file: -c " CLI_NO_CONFIG
					 ")");
				return -1;
			}
			out->config_file = optarg;
			continue;
		case 't':
			out->test = 1;
			continue;
		case 'V':
			out->action = CLI_VERSION;
			return 0;
		case 'h':
			out->action = CLI_HELP;
			return 0;
		case ':':
			snprintf(err, errlen, "missing argument for option '%s'",
				 argv[optind - 1]);
			return -1;
		case '?':
			snprintf(err, errlen, "unknown option '%s'",
				 argv[optind - 1]);
			return -1;
		default:
			break;
		}
		if (c == 'v')
			out->verbose = 1;
		if (!name) {
			snprintf(err, errlen, "unhandled option '%s'",
				 argv[optind - 1]);
			return -1;
		}
		if (record(out, name,
			   c == 'f' || c == OPT_IDLE_YIELD ? "on" :
			   c == 'v'                        ? "debug" :
							     optarg,
			   err, errlen) < 0)
			return -1;
	}
	if (optind < argc) {
		snprintf(err, errlen, "unexpected argument '%s'", argv[optind]);
		return -1;
	}
	return 0;
}

int cli_apply(const struct cli *cli, struct config *c, char *err, size_t errlen)
{
	int listen_reset = 0;

	for (int i = 0; i < cli->nset; i++) {
		if (!strcmp(cli->set[i].name, "listen") && !listen_reset) {
			/* Replace, not add to, the file's addresses. */
			config_clear_listen(c);
			listen_reset = 1;
		}
		if (config_set(c, cli->set[i].name, cli->set[i].value, err,
			       errlen) < 0)
			return -1;
	}
	return 0;
}

int cli_config_file(const struct cli *cli, const char *dflt, const char *base,
		    char *path, size_t len, char *err, size_t errlen)
{
	const char *f = cli->config_file ? cli->config_file : dflt;
	int rel = f[0] != '/', n;
	struct stat sb;

	if (cli->config_file && !strcmp(f, CLI_NO_CONFIG)) {
		snprintf(path, len, "%s", "");
		return CLI_CONFIG_NONE;
	}
	n = snprintf(path, len, "%s%s%s", rel ? base : "", rel ? "/" : "", f);
	if (n < 0 || (size_t)n >= len) {
		snprintf(err, errlen, "%s: path too long", f);
		return -1;
	}
	if (cli->config_file)
		return CLI_CONFIG_GIVEN;
	/* lstat: a link to nowhere is a file that cannot be read, which
	 * the administrator wants to hear about. */
	if (lstat(path, &sb) == 0)
		return CLI_CONFIG_DEFAULT;
	if (errno == ENOENT)
		return CLI_CONFIG_NO_DEFAULT;
	snprintf(err, errlen, "%s: %s", path, strerror(errno));
	return -1;
}
