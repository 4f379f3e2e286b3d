/* main.c - the configuration (file, then command line), detaching, the
 * pidfile, and the hand-off to the master. */
#include "autoconfig.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cfgfile.h"
#include "cfgtest.h"
#include "access_log.h"
#include "cli.h"
#include "config.h"
#include "log.h"
#include "master.h"
#include "mime.h"
#include "pidfile.h"
#include "privdrop.h"
#include "upgrade.h"

/* The config file read when no -c is given, if it exists (as nginx
 * reads its compiled-in path). */
#ifndef RP_DEFAULT_CONFIG
#error "build with -DRP_DEFAULT_CONFIG=\"$(sysconfdir)/reuseportd.conf\" (src/ops.am)"
#endif

#define EXIT_USAGE 2

static struct cli cli;
/* The running configuration: master_run() replaces it on a reload. */
static struct config cfg;
/* Where relative paths point, for reloads in the detached master. */
static char start_dir[PATH_MAX];
/* The file read at start and at every reload (absolute), or the default
 * one looked for (CLI_CONFIG_NO_DEFAULT); config_src says which. */
static char config_path[PATH_MAX];
static int config_src;
/* What the settings come from besides the command line, for -t:
 * "/etc/reuseportd.conf", "(built-in defaults; no ...)". */
static char config_source[PATH_MAX + 64];
/* A binary upgrade (upgrade.h): the binary to execute - the path we were
 * started as, as nginx does, so that the file replaced there is what
 * runs - and, when this process is the new master, what it inherited. */
static char self_path[PATH_MAX];
static struct upgrade_fds inherited;
static int upgrading;

/* Says why start-up failed: on stderr, and to the old master when this
 * is the new one of an upgrade (its stderr may be /dev/null). */
static int start_failed(int status, const char *msg)
{
	fprintf(stderr, "reuseportd: %s\n", msg);
	if (upgrading)
		upgrade_report_failure(inherited.chan, msg);
	return status;
}

static int config_read(void)
{
	return config_src == CLI_CONFIG_GIVEN || config_src == CLI_CONFIG_DEFAULT;
}

static int bad_usage(const char *what)
{
	char msg[1200];

	snprintf(msg, sizeof(msg), "%s (try 'reuseportd --help')", what);
	return start_failed(EXIT_USAGE, msg);
}

/* self_path = dir/name (name alone if absolute); 0, or -1 if too long. */
static int set_self(const char *dir, const char *name, size_t nl)
{
	size_t dl = name[0] == '/' ? 0 : strlen(dir) + 1;

	for (; dl && nl > 2 && !strncmp(name, "./", 2); nl -= 2)
		name += 2; /* for the log: dir/x, not dir/./x */
	if (dl + nl >= sizeof(self_path))
		return -1;
	if (dl) {
		memcpy(self_path, dir, dl - 1);
		self_path[dl - 1] = '/';
	}
	memcpy(self_path + dl, name, nl);
	self_path[dl + nl] = '\0';
	return 0;
}

/* argv[0] as a path: absolute against the starting directory, or for a
 * bare name the first match in $PATH, as the shell that started us
 * found it. "" if none (an upgrade then says so). */
static void find_self(const char *argv0)
{
	const char *path = getenv("PATH");
	char cand[PATH_MAX];

	if (strchr(argv0, '/')) {
		if (set_self(start_dir, argv0, strlen(argv0)) < 0)
			self_path[0] = '\0';
		return;
	}
	for (const char *p = path ? path : ""; *p;) {
		size_t n = strcspn(p, ":");
		int len = snprintf(cand, sizeof(cand), "%.*s/%s", (int)n, p,
				   argv0);

		if (n > 0 && len > 0 && (size_t)len < sizeof(cand) &&
		    access(cand, X_OK) == 0 &&
		    set_self(start_dir, cand, (size_t)len) == 0)
			return;
		p += n + (p[n] == ':');
	}
	self_path[0] = '\0';
}

/* $REUSEPORTD_CONFIG stands in for the compiled-in default: the test
 * suite points it into its own directory, so that what a host has in
 * its $(sysconfdir) never changes a test. */
static const char *default_config(void)
{
	const char *env = getenv("REUSEPORTD_CONFIG");

	return env && *env ? env : RP_DEFAULT_CONFIG;
}

/* Which file to read, once at start: a reload reads the same one (or
 * none) again. */
static int find_config(char *err, size_t errlen)
{
	config_src = cli_config_file(&cli, default_config(), start_dir,
				     config_path, sizeof(config_path), err,
				     errlen);
	switch (config_src) {
	case CLI_CONFIG_GIVEN:
	case CLI_CONFIG_DEFAULT:
		snprintf(config_source, sizeof(config_source), "%s", config_path);
		return 0;
	case CLI_CONFIG_NO_DEFAULT:
		snprintf(config_source, sizeof(config_source),
			 "(built-in defaults; no %s)", config_path);
		return 0;
	case CLI_CONFIG_NONE:
		snprintf(config_source, sizeof(config_source),
			 "(built-in defaults; -c " CLI_NO_CONFIG ")");
		return 0;
	default:
		return -1;
	}
}

/* The Content-Types of the files served (mime.h), read here in the
 * master so that every worker inherits the one table and a reload reads
 * the file again. A missing or unreadable file is no error: the
 * built-in table serves instead, and log_mime says so. */
static int load_mime(struct config *c, char *err, size_t errlen)
{
	struct mime_table *t;

	/* Files are served from the docroot or a vhost's. */
	if (c->protocol != CFG_PROTO_HTTP || (!c->docroot[0] && !c->nvhosts))
		return 0;
	t = mime_table_new(c->mime_types[0] ? c->mime_types : NULL,
			   c->default_type, c->charset);
	if (!t) {
		snprintf(err, errlen, "MIME types: out of memory");
		return -1;
	}
	c->mime = t;
	return 0;
}

static void log_mime(const struct config *c)
{
	if (!c->mime)
		return;
	if (mime_table_has_bad_lines(c->mime))
		log_warn("%s", mime_table_origin(c->mime));
	else
		log_info("%s", mime_table_origin(c->mime));
}

/* Defaults, then the file, then the command line: the order every
 * reload repeats. */
static int build_config(struct config *c, char *err, size_t errlen)
{
	config_defaults(c);
	memcpy(c->base_dir, start_dir, sizeof(c->base_dir));
	if (config_read()) {
		if (cfgfile_load(c, config_path, err, errlen) < 0)
			return -1;
		memcpy(c->config_file, config_path, sizeof(c->config_file));
	}
	if (cli_apply(&cli, c, err, errlen) < 0 ||
	    config_finish(c, err, errlen) < 0)
		return -1;
	return load_mime(c, err, errlen);
}

/* Settings that are acted on once, at start: the files and sockets the
 * master opened, the credentials, the open-files limit. A reload keeps
 * the running values and says so. (max_connections and backlog are
 * derived again at each reload: syslimits.c, slots_configure.) */
#define FIXED(field, name, is_str) \
	{ \
		name, offsetof(struct config, field), \
			sizeof(((struct config *)0)->field), is_str \
	}

static const struct {
	const char *name;
	size_t off, len;
	int is_str;
} fixed[] = {
	FIXED(foreground, "foreground", 0),
	FIXED(pidfile, "pidfile", 1),
	FIXED(user, "user", 1),
	FIXED(group, "group", 1),
	FIXED(log, "log", 0),
	FIXED(log_file, "log", 1),
	FIXED(stats_socket, "stats_socket", 1),
	FIXED(stats_socket_mode, "stats_socket_mode", 0),
	FIXED(stats_socket_group, "stats_socket_group", 1),
	FIXED(metrics_listen, "metrics_listen", 0),
	FIXED(rlimit_nofile, "rlimit_nofile", 0),
};

static void keep_fixed(struct config *next)
{
	for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) {
		char *a = (char *)next + fixed[i].off;
		const char *b = (const char *)&cfg + fixed[i].off;
		int same = fixed[i].is_str ? strcmp(a, b) == 0 :
					     memcmp(a, b, fixed[i].len) == 0;

		if (!same)
			log_warn("reload: '%s' changes only on restart; keeping the running value",
				 fixed[i].name);
		memcpy(a, b, fixed[i].len);
	}
}

/* The master calls this on SIGHUP: the config file is read anew and the
 * command line applied over it again. */
static int reload_config(struct config *next, char *err, size_t errlen)
{
	if (build_config(next, err, errlen) < 0)
		return -1;
	keep_fixed(next);
	/* The new workers open the access log as the config now names it. */
	if (alog_prepare(next, err, errlen) < 0)
		return -1;
	log_set_level(next->log_level);
	log_mime(next);
	return 0;
}

/* In the foreground, stderr; detached, syslog unless a file is named
 * (stderr is /dev/null then). */
static int setup_log(const struct config *c, char *err, size_t errlen)
{
	enum cfg_log t = c->log;

	if (!c->foreground && t == CFG_LOG_STDERR)
		t = CFG_LOG_SYSLOG;
	log_init("reuseportd", t == CFG_LOG_SYSLOG ? LOG_TO_SYSLOG : LOG_TO_STDERR,
		 c->log_level);
	if (t == CFG_LOG_FILE)
		return log_open_file(c->log_file, err, errlen);
	return 0;
}

/* fork, setsid, fork: the daemon is no session leader and can never get
 * a controlling terminal back. The first parent waits on a pipe and exits
 * only once every worker listens, with 0, or 1 if start-up failed, so an
 * init script can tell. */
/* The first process of a detaching start waits for the master's word:
 * "1" when every worker runs, or "0" and why start-up failed (also in the
 * log, which may be syslog: the one who started us sees it here), or
 * nothing if the master died. Its exit status is the start-up's. */
static void detach_wait(int fd, pid_t pid)
{
	char msg[512];
	size_t len = 0;
	ssize_t n;

	while (len < sizeof(msg) - 1 &&
	       ((n = read(fd, msg + len, sizeof(msg) - 1 - len)) > 0 ||
		(n < 0 && errno == EINTR)))
		len += n > 0 ? (size_t)n : 0;
	msg[len] = '\0';
	waitpid(pid, NULL, 0);
	if (len > 0 && msg[0] == '1')
		_exit(0);
	if (len > 1)
		fprintf(stderr, "reuseportd: start-up failed: %s\n", msg + 1);
	else
		fprintf(stderr, "reuseportd: start-up failed (see the log)\n");
	_exit(1);
}

static int detach(int *ready_fd)
{
	int p[2];
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) < 0)
		return -1;
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid > 0) {
		close(p[1]);
		detach_wait(p[0], pid);
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

/* The arguments a binary upgrade passes on: ours. */
static char *const *exec_argv;

static int run(void)
{
	char err[1024];
	int ready_fd = -1, r;

	if (setup_log(&cfg, err, sizeof(err)) < 0)
		return start_failed(1, err);
	/* Which file, if any: the one line that tells an administrator
	 * whether the installed config was used. */
	if (config_read())
		log_info("config file %s", config_path);
	else if (config_src == CLI_CONFIG_NO_DEFAULT)
		log_info("no config file (%s does not exist): built-in defaults",
			 config_path);
	else
		log_info("no config file (-c " CLI_NO_CONFIG
			 "): built-in defaults");
	log_mime(&cfg);
	if (privdrop_init(&cfg, err, sizeof(err)) < 0) {
		log_error("%s", err);
		if (upgrading)
			upgrade_report_failure(inherited.chan, err);
		return 1;
	}
	if (privdrop_active())
		log_set_file_group(privdrop_gid());
	if (alog_prepare(&cfg, err, sizeof(err)) < 0) {
		log_error("%s", err);
		if (upgrading)
			upgrade_report_failure(inherited.chan, err);
		return 1;
	}
	if (privdrop_workers_are_root())
		log_warn("the workers run as root: no 'user' is set; name an unprivileged one (user www-data in the config file, or -u USER)");
	/* The new master of an upgrade is detached already (the old one's
	 * child, in its session); it writes the pidfile once the service is
	 * handed over to it (master_upgrade.c). */
	if (upgrading) {
		if (!cfg.foreground && chdir("/") < 0)
			log_warn("chdir /: %s", strerror(errno));
	} else if (!cfg.foreground && detach(&ready_fd) < 0) {
		log_error("cannot detach: %s", strerror(errno));
		return 1;
	}
	/* After detaching: the pid to write is the master's. */
	if (!upgrading && cfg.pidfile[0] &&
	    pidfile_create(cfg.pidfile, err, sizeof(err)) < 0) {
		log_error("%s", err);
		return 1;
	}
	master_set_reload(reload_config);
	master_set_upgrade(
		&(struct upgrade_exec){ self_path, exec_argv, start_dir });
	r = master_run(&cfg, &ready_fd, upgrading ? &inherited : NULL);
	pidfile_release();
	/* A start that failed: the detaching parent, which exits when this
	 * closes, exits 1 only now that neither the pidfile nor the stats
	 * socket is left. */
	if (ready_fd >= 0)
		close(ready_fd);
	return r;
}

int main(int argc, char **argv)
{
	static struct config scratch;
	char err[1024];

	log_init("reuseportd", LOG_TO_STDERR, LOG_LVL_INFO);
	/* Before anything else can fail: a failure is then told to the old
	 * master too. The variable is gone afterwards either way. */
	switch (upgrade_from_env(&inherited, err, sizeof(err))) {
	case 1:
		upgrading = 1;
		break;
	case -1:
		fprintf(stderr, "reuseportd: %s\n", err);
		return 1;
	}
	exec_argv = argv;
	if (cli_parse(argc, argv, &cli, err, sizeof(err)) < 0)
		return bad_usage(err);
	if (cli.action == CLI_HELP) {
		cli_usage(stdout, RP_DEFAULT_CONFIG);
		return 0;
	}
	if (cli.action == CLI_VERSION) {
		printf("reuseportd %s\n", PACKAGE_VERSION);
		return 0;
	}
	/* A bad option value is a usage error (2) whatever the file says;
	 * check the options alone before reading it. */
	config_defaults(&scratch);
	if (cli_apply(&cli, &scratch, err, sizeof(err)) < 0)
		return bad_usage(err);

	if (!getcwd(start_dir, sizeof(start_dir))) {
		snprintf(err, sizeof(err), "getcwd: %s", strerror(errno));
		return start_failed(1, err);
	}
	find_self(argv[0]);
	if (find_config(err, sizeof(err)) < 0 ||
	    build_config(&cfg, err, sizeof(err)) < 0)
		return start_failed(1, err);
	if (cli.test)
		return cfgtest_run(&cfg, config_source, cli.verbose, stdout,
				   stderr);
	return run();
}
