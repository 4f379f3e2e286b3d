/* cfgtest.c - reuseportd -t: checks what parsing cannot (docroot, users,
 * groups) and, with -v, reports the limits against the configured load.
 * It must never open a listening socket (see cfgtest.h). */
#include "autoconfig.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cfgtest.h"
#include "mime.h"
#include "privdrop.h"
#include "syslimits.h"
#include "upstream.h"
#include "util.h"

/* dir is a directory this process can reach (and, with access_too,
 * read and enter); what names it ("docroot", "FILE:LINE: vhost NAME:
 * docroot"), who (may be "") follows the reason, as in "... for the
 * workers' user nobody". */
static int check_dir(const char *what, const char *dir, const char *who,
		     int access_too, char *err, size_t errlen)
{
	struct stat st;

	if (stat(dir, &st) < 0 ||
	    (access_too && S_ISDIR(st.st_mode) && access(dir, R_OK | X_OK) < 0)) {
		snprintf(err, errlen, "%s %s: %s%s", what, dir, strerror(errno),
			 who);
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "%s %s: not a directory", what, dir);
		return -1;
	}
	return 0;
}

/* The docroot and every vhost's docroot. */
static int check_docroot(const struct config *c, const char *who,
			 int access_too, char *err, size_t errlen)
{
	char what[CFG_VHOST_NAME_MAX + PATH_MAX + 64];

	if (c->docroot[0] &&
	    check_dir("docroot", c->docroot, who, access_too, err, errlen) < 0)
		return -1;
	for (int i = 0; i < c->nvhosts; i++) {
		if (c->vhosts[i].line > 0 && c->config_file[0])
			snprintf(what, sizeof(what), "%s:%d: vhost %s: docroot",
				 c->config_file, c->vhosts[i].line,
				 c->vhosts[i].name);
		else
			snprintf(what, sizeof(what), "vhost %s: docroot",
				 c->vhosts[i].name);
		if (check_dir(what, config_vhost_docroot(c, i), who, access_too,
			      err, errlen) < 0)
			return -1;
	}
	return 0;
}

/* The workers open the docroot after dropping privileges, and only they
 * do: it is checked as they see it. A directory root can read may still
 * be closed to them; one closed to root (a parent directory of the
 * workers' user's own, under a unit without CAP_DAC_OVERRIDE) may be
 * open to them. A child that drops them as a worker would checks it. */
static int check_docroot_as_worker(const struct config *c, char *err, size_t errlen)
{
	char msg[PATH_MAX * 3] = "", who[96];
	int p[2], status = 0;
	ssize_t n;
	pid_t pid;

	if (!c->docroot[0] && c->nvhosts == 0)
		return 0;
	if (!privdrop_active())
		return check_docroot(c, "", 0, err, errlen);
	snprintf(who, sizeof(who), " for the workers' user %s",
		 c->user[0] ? c->user : c->group);
	if (pipe(p) < 0 || (pid = fork()) < 0) {
		snprintf(err, errlen,
			 "checking the docroot as the workers' user: %s",
			 strerror(errno));
		return -1;
	}
	if (pid == 0) {
		close(p[0]);
		if (privdrop_apply(msg, sizeof(msg)) < 0 ||
		    check_docroot(c, who, 1, msg, sizeof(msg)) < 0) {
			if (write(p[1], msg, strlen(msg)) < 0)
				_exit(2);
			_exit(1);
		}
		_exit(0);
	}
	close(p[1]);
	n = read(p[0], msg, sizeof(msg) - 1);
	close(p[0]);
	waitpid(pid, &status, 0);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	msg[n > 0 ? n : 0] = '\0';
	snprintf(err, errlen, "%s",
		 msg[0] ? msg : "docroot: the check as the workers' user failed");
	return -1;
}

/* The master creates the access log (and fails to start if it cannot):
 * checked here without creating it. A file that is there must be
 * writable; else its directory must be there and writable. */
static int check_access_log(const struct config *c, char *err, size_t errlen)
{
	char dir[PATH_MAX];
	const char *slash;

	if (c->protocol != CFG_PROTO_HTTP || c->access_log != CFG_ALOG_FILE)
		return 0;
	if (access(c->access_log_file, F_OK) == 0) {
		if (access(c->access_log_file, W_OK) == 0)
			return 0;
	} else {
		slash = strrchr(c->access_log_file, '/');
		snprintf(dir, sizeof(dir), "%.*s",
			 slash ? (int)(slash - c->access_log_file) : 1,
			 slash ? c->access_log_file : ".");
		if (!dir[0])
			snprintf(dir, sizeof(dir), "/");
		if (access(dir, W_OK | X_OK) == 0)
			return 0;
	}
	snprintf(err, errlen, "access_log %s: %s", c->access_log_file,
		 strerror(errno));
	return -1;
}

enum verdict { WARNING, OK, INFO };

static void row(FILE *out, int *problems, enum verdict ok, const char *name,
		const char *value, const char *fmt, ...)
	__attribute__((format(printf, 6, 7)));

/* One line of the report: name, value, and "ok: ...", "warning: ..." or
 * "info: ..." (no requirement, just what it means). */
static void row(FILE *out, int *problems, enum verdict ok, const char *name,
		const char *value, const char *fmt, ...)
{
	char verdict[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(verdict, sizeof(verdict), fmt, ap);
	va_end(ap);
	fprintf(out, "  %-29s %-20s %s: %s\n", name, value,
		ok == OK   ? "ok" :
		ok == INFO ? "info" :
			     "warning",
		verdict);
	if (ok == WARNING)
		(*problems)++;
}

static const char *num(char *buf, size_t len, long v)
{
	if (v < 0)
		snprintf(buf, len, "unknown");
	else
		snprintf(buf, len, "%ld", v);
	return buf;
}

/* The report. limits_init() does to this process what the daemon will
 * do to itself (raise RLIMIT_NOFILE) and derives the per-worker cap the
 * same way, so the numbers are the ones the daemon would get. */
/* Descriptors: the process limit, the kernel's ceilings for it. */
static void report_files(const struct config *c, const struct limits *lim,
			 FILE *out, int *problems)
{
	long nr_open = -1, file_max = -1;
	long per = lim->max_connections_per_worker;
	/* What every worker keeps open besides connections, as counted by
	 * syslimits.c. */
	long conn_fds = per * lim->fds_per_connection + lim->open_file_cache +
			lim->proxy_idle_fds;
	long reserve = lim->nofile_soft > conn_fds ? lim->nofile_soft - conn_fds :
						     0;
	long long need = (long long)c->workers * (conn_fds + reserve);
	char v[96], w[32], h[32], cached[64] = "";

	if (lim->open_file_cache > 0)
		snprintf(cached, sizeof(cached), " + %ld (open_file_cache)",
			 lim->open_file_cache);
	else if (lim->proxy_idle_fds > 0)
		snprintf(cached, sizeof(cached), " + %ld (pools, checks)",
			 lim->proxy_idle_fds);
	util_read_sysctl("/proc/sys/fs/nr_open", &nr_open, NULL);
	util_read_sysctl("/proc/sys/fs/file-max", &file_max, NULL);
	snprintf(v, sizeof(v), "%s (hard %s)",
		 num(w, sizeof(w), lim->nofile_soft),
		 lim->nofile_hard < 0 ? "unlimited" :
					num(h, sizeof(h), lim->nofile_hard));
	if (c->max_connections > 0 && per < c->max_connections)
		row(out, problems, WARNING, "open files (RLIMIT_NOFILE)", v,
		    "max_connections %d does not fit; each worker gets %ld (raise rlimit_nofile)",
		    c->max_connections, per);
	else if (c->rlimit_nofile > 0 && lim->nofile_soft != c->rlimit_nofile)
		row(out, problems, WARNING, "open files (RLIMIT_NOFILE)", v,
		    "rlimit_nofile %ld not obtained", c->rlimit_nofile);
	else
		row(out, problems, OK, "open files (RLIMIT_NOFILE)", v,
		    "%ld connections x %ld%s + %ld other files per worker", per,
		    lim->fds_per_connection, cached, reserve);
	if (nr_open >= 0 && c->rlimit_nofile > nr_open)
		row(out, problems, WARNING, "fs.nr_open",
		    num(v, sizeof(v), nr_open),
		    "rlimit_nofile %ld is above it; the kernel refuses that",
		    c->rlimit_nofile);
	else
		row(out, problems, OK, "fs.nr_open", num(v, sizeof(v), nr_open),
		    "the ceiling for rlimit_nofile");
	row(out, problems, file_max < 0 || need <= file_max ? OK : WARNING,
	    "fs.file-max", num(v, sizeof(v), file_max),
	    "%lld files for all the workers", need);
}

/* The accept queues and the SYN backlog. */
static void report_queues(const struct limits *lim, FILE *out, int *problems)
{
	char v[96];

	if (lim->somaxconn >= 0 && lim->somaxconn < lim->backlog)
		row(out, problems, WARNING, "net.core.somaxconn",
		    num(v, sizeof(v), lim->somaxconn),
		    "backlog %ld is cut to it", lim->backlog);
	else if (lim->somaxconn >= 0 && lim->somaxconn < 1024)
		row(out, problems, WARNING, "net.core.somaxconn",
		    num(v, sizeof(v), lim->somaxconn),
		    "low: bursts of connections will overflow the accept queues");
	else
		row(out, problems, OK, "net.core.somaxconn",
		    num(v, sizeof(v), lim->somaxconn),
		    "backlog %ld per listener", lim->backlog);
	row(out, problems, INFO, "net.ipv4.tcp_max_syn_backlog",
	    num(v, sizeof(v), lim->tcp_max_syn_backlog), "half-open connections");
	row(out, problems, INFO, "net.ipv4.tcp_migrate_req",
	    num(v, sizeof(v), lim->tcp_migrate_req), "%s",
	    lim->tcp_migrate_req > 0 ?
		    "on: a closing listener's queue moves to the others" :
		    "off; the master keeps the listeners open, so only a stop drops queued connections");
}

/* The TCP proxy's local ports: how many connections each server can
 * take, and whether the per-worker slices (IP_LOCAL_PORT_RANGE) are in
 * use. */
static void report_proxy_ports(const struct config *c, const struct limits *lim,
			       FILE *out, int *problems)
{
	long lo = lim->port_lo, hi = lim->port_hi, addrs = 0;
	char v[64];

	if (!config_is_proxy(c->protocol))
		return;
	for (int i = 0; i < c->nproxy_sources; i++)
		addrs += c->proxy_sources[i].count;
	if (c->proxy_port_range == CFG_PORTS_RANGE) {
		lo = c->proxy_port_lo;
		hi = c->proxy_port_hi;
	}
	snprintf(v, sizeof(v), "%ld-%ld", lo, hi);
	row(out, problems, INFO, "upstream source ports", v,
	    "%ld source address%s x %ld ports: connections to each server, at most",
	    addrs ? addrs : 1, addrs > 1 ? "es" : "", hi - lo + 1);
	if (c->proxy_port_range == CFG_PORTS_OFF)
		row(out, problems, INFO, "proxy_port_range", "off",
		    "every worker searches the whole range");
	else if (!up_port_range_supported())
		row(out, problems, WARNING, "proxy_port_range", "unsupported",
		    "this kernel has no IP_LOCAL_PORT_RANGE (Linux 6.3+): every worker searches the whole range");
	else
		row(out, problems, OK, "proxy_port_range", "IP_LOCAL_PORT_RANGE",
		    "a slice of about %ld ports per worker",
		    (hi - lo + 1) / (c->workers > 0 ? c->workers : 1));
	/* The HTTP proxy's idle connections hold descriptors beside the
	 * clients' pairs. */
	if (c->protocol == CFG_PROTO_HTTP_PROXY)
		row(out, problems, INFO, "proxy_pool",
		    num(v, sizeof(v), c->proxy_pool),
		    "idle upstream connections per server and worker: up to %ld descriptors per worker",
		    (long)c->proxy_pool * c->nupstreams);
}

/* The active health checks: what one server receives, all workers
 * together (health.h: each worker in its own slot), and the descriptor
 * each worker holds for a check while it runs. */
static void report_health(const struct config *c, FILE *out, int *problems)
{
	int w = c->workers > 0 ? c->workers : 1;

	if (!config_is_proxy(c->protocol))
		return;
	if (c->health_check == CFG_HEALTH_OFF) {
		row(out, problems, INFO, "health_check", "off",
		    "passive health only (max_fails)");
		return;
	}
	row(out, problems, INFO, "health_check",
	    c->health_check == CFG_HEALTH_TCP ? "tcp" : "http",
	    "each server: a check every %d ms (%d workers, each every %d ms, never at once); up to %d descriptors per worker",
	    c->health_interval_ms / w, w, c->health_interval_ms, c->nupstreams);
}

static int report_limits(const struct config *c, FILE *out)
{
	struct limits lim;
	int problems = 0;

	limits_init(&lim, c);
	fprintf(out,
		"limits for %d workers x %ld connections = %lld connections:\n",
		c->workers, lim.max_connections_per_worker,
		(long long)c->workers * lim.max_connections_per_worker);
	report_files(c, &lim, out, &problems);
	report_queues(&lim, out, &problems);
	report_proxy_ports(c, &lim, out, &problems);
	report_health(c, out, &problems);
	if (problems)
		fprintf(out, "%d warning%s\n", problems, problems > 1 ? "s" : "");
	return problems;
}

int cfgtest_run(const struct config *c, const char *what, int verbose,
		FILE *out, FILE *errout)
{
	char err[PATH_MAX * 3];

	if (privdrop_init(c, err, sizeof(err)) < 0 ||
	    check_docroot_as_worker(c, err, sizeof(err)) < 0 ||
	    check_access_log(c, err, sizeof(err)) < 0) {
		fprintf(errout, "reuseportd: %s\n", err);
		fprintf(errout, "reuseportd: configuration %s test failed\n",
			what);
		return 1;
	}
	if (c->protocol != CFG_PROTO_HTTP && (c->docroot[0] || c->has_return))
		fprintf(errout,
			"reuseportd: warning: docroot and return apply to protocol http only\n");
	if (privdrop_workers_are_root())
		fprintf(errout,
			"reuseportd: warning: the workers would run as root: no 'user' is set\n");
	/* A mime.types with lines skipped, or none read, serves; said as the
	 * start would log it. */
	if (c->mime && mime_table_has_bad_lines(c->mime))
		fprintf(errout, "reuseportd: warning: %s\n",
			mime_table_origin(c->mime));
	fprintf(out, "reuseportd: configuration %s is ok\n", what);
	if (verbose)
		report_limits(c, out);
	fflush(out);
	return 0;
}
