/* main.c - the command line, detaching, and the hand-off to the master. */
#include "autoconfig.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "master.h"
#include "util.h"

#define EXIT_USAGE 2

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: reuseportd [OPTION]...\n"
		"A multi-process TCP server: N workers share one port with SO_REUSEPORT.\n"
		"\n"
		"  -l, --listen ADDR:PORT     listen address, repeatable: 0.0.0.0:8080,\n"
		"                             [::1]:8080, 8080; port 0 picks a free port\n"
		"                             (default %s)\n"
		"  -w, --workers N|auto       worker processes (default auto: one per CPU)\n"
		"  -P, --protocol echo        the service (default echo)\n"
		"  -s, --stats-socket PATH    stats socket (default ./%s)\n"
		"  -f, --foreground           do not detach; log to stderr\n"
		"  -v, --verbose              debug logging\n"
		"  -V, --version              print the version and exit\n"
		"  -h, --help                 print this help and exit\n"
		"\n"
		"Query a running daemon: echo stats | nc -U %s\n",
		CFG_DEFAULT_LISTEN, CFG_DEFAULT_STATS_SOCKET,
		CFG_DEFAULT_STATS_SOCKET);
}

static int bad_usage(const char *what, const char *arg)
{
	fprintf(stderr, "reuseportd: %s%s%s%s (try 'reuseportd --help')\n", what,
		arg ? " '" : "", arg ? arg : "", arg ? "'" : "");
	return EXIT_USAGE;
}

/* Returns -1 to go on, or an exit status. */
static int parse_args(int argc, char **argv, struct config *cfg)
{
	static const struct option opts[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "workers", required_argument, NULL, 'w' },
		{ "protocol", required_argument, NULL, 'P' },
		{ "stats-socket", required_argument, NULL, 's' },
		{ "foreground", no_argument, NULL, 'f' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	char err[256];
	int c, r = 0;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":l:w:P:s:fvVh", opts, NULL)) != -1) {
		switch (c) {
		case 'l':
			r = config_add_listen(cfg, optarg, err, sizeof(err));
			break;
		case 'w':
			r = config_set_workers(cfg, optarg, err, sizeof(err));
			break;
		case 'P':
			r = config_set_protocol(cfg, optarg, err, sizeof(err));
			if (r == 0 && cfg->protocol == CFG_PROTO_HTTP) {
				snprintf(err, sizeof(err),
					 "protocol: http is not available in this version");
				r = -1;
			}
			break;
		case 's':
			r = config_set_stats_socket(cfg, optarg, err, sizeof(err));
			break;
		case 'f':
			cfg->foreground = 1;
			break;
		case 'v':
			cfg->log_level = LOG_LVL_DEBUG;
			break;
		case 'V':
			printf("reuseportd %s\n", PACKAGE_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		case ':':
			return bad_usage("missing argument for option",
					 argv[optind - 1]);
		default:
			return bad_usage("unknown option", argv[optind - 1]);
		}
		if (r < 0)
			return bad_usage(err, NULL);
	}
	if (optind < argc)
		return bad_usage("unexpected argument", argv[optind]);
	return -1;
}

/* fork, setsid, fork: the daemon is no session leader and can never get
 * a controlling terminal back. The first parent waits on a pipe and exits
 * only once every worker listens, with 0, or 1 if start-up failed, so an
 * init script can tell. */
static int detach(int *ready_fd)
{
	int p[2];
	pid_t pid;
	char c;

	if (pipe2(p, O_CLOEXEC) < 0)
		return -1;
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid > 0) {
		close(p[1]);
		ssize_t n;

		do
			n = read(p[0], &c, 1);
		while (n < 0 && errno == EINTR);
		waitpid(pid, NULL, 0);
		_exit(n == 1 ? 0 : 1);
	}
	close(p[0]);
	if (setsid() < 0)
		return -1;
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid > 0)
		_exit(0);
	if (chdir("/") < 0)
		return -1;
	umask(022);
	*ready_fd = p[1];
	return 0;
}

int main(int argc, char **argv)
{
	struct config cfg;
	char err[512];
	int r, ready_fd = -1;

	config_defaults(&cfg);
	r = parse_args(argc, argv, &cfg);
	if (r >= 0)
		return r;
	log_init("reuseportd", LOG_TO_STDERR, cfg.log_level);
	if (config_finish(&cfg, err, sizeof(err)) < 0) {
		fprintf(stderr, "reuseportd: %s\n", err);
		return 1;
	}
	if (!cfg.foreground && detach(&ready_fd) < 0) {
		fprintf(stderr, "reuseportd: cannot detach: %s\n", strerror(errno));
		return 1;
	}
	return master_run(&cfg, ready_fd);
}
