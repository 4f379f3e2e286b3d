/* harness.h - drives the real reuseportd binary for the integration
 * tests: start it in a private temp dir, ask its stats socket, signal and
 * reap it, and be real TCP clients of it. Prefix hr_.
 *
 * Every wait has a deadline and is a loop on an event (poll on a socket,
 * a pidfd, or a retried query), never a bare sleep. Functions return -1
 * (or NULL, or 0 for "did not happen") and print why as a "# " line, so
 * an assertion on the result already has the story printed above it. */
#ifndef RP_TEST_HARNESS_H
#define RP_TEST_HARNESS_H

#include <jansson.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <sys/types.h>

#include <cmocka.h>

#define HR_MAX_LISTEN 8
#define HR_START_MS 10000      /* start-up: until every worker runs */
#define HR_STOP_MS 10000       /* signal to exit */
#define HR_QUERY_MS 5000       /* one stats socket exchange */
#define HR_PORT0_WAIT_MS 45000 /* for a free ephemeral port (see hr_start) */

struct hr_daemon {
	pid_t pid; /* master pid (also its process group); 0 if none */
	int port;  /* listen[0].port once started */
	int ports[HR_MAX_LISTEN];
	int nlisten;
	int workers;    /* workers_configured */
	int reaped;     /* the master was waited for */
	int status;     /* its exit status (see hr_wait_exit) once reaped */
	int clean;      /* the test stopped it and it exited 0 */
	int pidfd;      /* -1 if the kernel has no pidfd_open */
	int nofile;     /* if > 0: RLIMIT_NOFILE (soft = hard) for the daemon */
	char dir[64];   /* private temp dir, removed by hr_free */
	char sock[108]; /* DIR/stats.sock (fits sun_path) */
	char log[128];  /* DIR/daemon.log: the daemon's stdout + stderr */
	/* DIR/etc-reuseportd.conf: the file the daemon reads when given no
	 * -c, in place of $(sysconfdir)/reuseportd.conf ($REUSEPORTD_CONFIG,
	 * set by hr_new); absent unless a test writes it. */
	char default_conf[128];
};

/* Prints a note for the test's log: each line of it as a TAP comment,
 * "# " first (see the Makefile.am's LOG_DRIVER). */
void hr_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* --- the daemon --- */

/* A fresh temp dir, nothing running. Also raises RLIMIT_NOFILE, ignores
 * SIGPIPE and sets REUSEPORTD_CONFIG (see default_conf) in the test
 * process, so that no file of the host's changes a test. */
struct hr_daemon *hr_new(void);
/* Kills whatever of the daemon is left (its whole process group), prints
 * its log if the test did not stop it cleanly, removes the temp dir. */
void hr_free(struct hr_daemon *d);
/* Another daemon beside the test's own: reuseportd's echo service with
 * its built-in defaults and one worker, on a port of its own (a backend
 * for the proxies' tests). hr_stop_free checks that it stops cleanly
 * (SIGTERM, exit status 0) and frees it. */
struct hr_daemon *hr_echo_daemon(void);
void hr_stop_free(struct hr_daemon *e);

/* cmocka fixtures: a fresh hr_daemon per test, freed (and anything left
 * of the daemon killed) after it. */
int hr_setup(void **state);
int hr_teardown(void **state);

/* Starts `reuseportd -f -s DIR/stats.sock [-l 127.0.0.1:0] [-w 2] ARGS...`
 * (the bracketed defaults only when ARGS has no -l / -w of its own) and
 * waits until `stats` answers with every configured worker "running".
 * Fills port, ports, nlisten, workers. args: NULL-terminated, may be NULL.
 * If port 0 fails only because the host has no free ephemeral port (mass
 * TIME_WAIT from an earlier run), waits for one and starts again. */
int hr_start(struct hr_daemon *d, const char *const *args);
/* Starts the binary with exactly these arguments (after argv[0]), output
 * to DIR/daemon.log, cwd DIR; does not wait for anything. */
int hr_spawn(struct hr_daemon *d, const char *const *args);
/* The same with another binary (bin is its argv[0] too): a copy that a
 * binary upgrade test replaces. */
int hr_spawn_bin(struct hr_daemon *d, const char *bin, const char *const *args);
/* Runs the binary with exactly these arguments to completion (killed at
 * the deadline). Returns its exit status as hr_wait_exit does; its
 * stdout and stderr land in out and err (NUL-terminated, may be NULL). */
int hr_run(struct hr_daemon *d, const char *const *args, int timeout_ms,
	   char *out, size_t outlen, char *err, size_t errlen);

/* Waits for the master to exit. Returns its exit code, 128+N if killed by
 * signal N, or -1 on timeout (the group is then SIGKILLed and reaped) or
 * when the log holds a sanitizer report. */
int hr_wait_exit(struct hr_daemon *d, int timeout_ms);
/* kill(master, sig) and hr_wait_exit(d, HR_STOP_MS). */
int hr_stop(struct hr_daemon *d, int sig);
/* Waits until pid, a master of d's service (d->pid, or one a binary
 * upgrade started), is gone: hr_wait_exit for d->pid; for another, its
 * pidfd, then reaps it if it is ours (a master whose parent exited is
 * re-parented to us, the subreaper). Its exit status (0 if its parent
 * reaped it), or -1 at the deadline (the log is printed). */
int hr_wait_pid(struct hr_daemon *d, pid_t pid, int timeout_ms);
/* VmRSS of pid in KiB, or -1. */
long hr_rss_kib(pid_t pid);
/* Live (non-zombie) processes in the daemon's process group. */
int hr_group_alive(const struct hr_daemon *d);

/* The whole log as a malloc'd string ("" if none); NULL only on ENOMEM. */
char *hr_log_read(const struct hr_daemon *d);
int hr_log_contains(const struct hr_daemon *d, const char *needle);
/* Writes text to DIR/name, a config file for -c (or a reload), and puts
 * its path in path (len bytes); the test fails if it cannot. */
void hr_write_conf(const struct hr_daemon *d, const char *name,
		   const char *text, char *path, size_t len);
void hr_log_dump(const struct hr_daemon *d, const char *why);
/* Writes DIR/daemon.conf as head followed by fmt's text and starts the
 * daemon with -c on it and the extra arguments (NULL-terminated, may be
 * NULL); fails the test if it does not come up. */
void hr_start_conf(struct hr_daemon *d, const char *const *extra,
		   const char *head, const char *fmt, va_list ap);

/* --- the stats socket --- */

/* Sends "cmd\n", reads to EOF, parses one JSON document. NULL (and a
 * printed reason) on any failure, including a missing final newline. */
json_t *hr_query(struct hr_daemon *d, const char *cmd);
/* hr_query, failing the test if there is no document. */
json_t *hr_query_ok(struct hr_daemon *d, const char *cmd);
/* totals/COUNTER of a fresh `stats` (the test fails without one). */
json_int_t hr_total(struct hr_daemon *d, const char *counter);
/* Raw exchange with any Unix stream socket path: writes req (len bytes)
 * while reading, optionally shuts down the write side afterwards, reads
 * until EOF. Stops writing quietly if the server closes first. Returns
 * the response length (NUL-terminated in resp) or -1. */
ssize_t hr_ctl_raw(const char *path, const void *req, size_t len, int shut_wr,
		   char *resp, size_t cap, int timeout_ms);
/* A connected, non-blocking client of the stats socket (or -1). */
int hr_ctl_connect(const char *path, int timeout_ms);

typedef int (*hr_pred)(json_t *st, void *arg);
/* Polls `stats` until pred(doc, arg) holds: 1, or 0 at the deadline
 * (after printing the last document seen). */
int hr_wait_for(struct hr_daemon *d, hr_pred pred, void *arg, int timeout_ms);
/* Waits until the integer at path of `stats` is at least want (at_least)
 * or exactly want; fails the test at the deadline. */
void hr_wait_int(struct hr_daemon *d, const char *path, json_int_t want,
		 int at_least, int timeout_ms);
/* The predicate hr_start waits on: every configured worker runs. */
int hr_all_running(json_t *st, void *arg);
/* Generation *(json_int_t *)arg is current and all its workers run
 * (older ones may still be draining). */
int hr_generation_up(json_t *st, void *arg);

/* --- JSON helpers --- */

/* Member by path, "totals/accepted", "workers/0/pid", "listen/0/port". */
json_t *hr_jget(json_t *doc, const char *path);
/* Integer at path, or -1 if missing or not an integer. */
json_int_t hr_jint(json_t *doc, const char *path);
/* String at path, or "" if missing. */
const char *hr_jstr(json_t *doc, const char *path);
/* The worker object with this id (the newest generation if several). */
json_t *hr_worker(json_t *doc, int id);
/* 0 if every integer in doc.totals equals the sum of that field over
 * doc.workers; otherwise -1 and which field differs, in why. */
int hr_totals_are_sum(json_t *doc, char *why, size_t len);
/* A compact, bounded rendering for messages (static buffer). */
const char *hr_jdump(json_t *doc);

/* --- TCP clients --- */

int64_t hr_now_ms(void);
int64_t hr_now_us(void);
/* A connected non-blocking socket to 127.0.0.1 (AF_INET) or ::1 (AF_INET6). */
int hr_connect(int family, int port, int timeout_ms);
int hr_connect_tcp(int port); /* AF_INET, 5 s */
/* A socket bound to a free 127.0.0.1 port that refuses connections (it
 * does not listen, and holds the port from others); its port in *port. */
int hr_refusing_port(int *port);
/* Whether this kernel has IP_LOCAL_PORT_RANGE (6.3 and later), which the
 * proxies' port tests need. */
int hr_have_port_range(void);
ssize_t hr_write_all(int fd, const void *buf, size_t len, int timeout_ms);
/* Reads exactly len bytes (or -1 on EOF/error/timeout, with a note). */
ssize_t hr_read_exact(int fd, void *buf, size_t len, int timeout_ms);
/* Reads until EOF; returns bytes read, -1 on error/timeout or overflow. */
ssize_t hr_read_until_eof(int fd, void *buf, size_t cap, int timeout_ms);
/* 1 once the peer closed (EOF or reset; data before it is discarded),
 * 0 if still open at the deadline. */
int hr_wait_closed(int fd, int timeout_ms);
/* One HTTP/1.1 answer with a Content-Length, read whole: 1 if it is a 200
 * that keeps the connection alive, 2 a 200 with Connection: close, 0
 * anything else, a close, or nothing within timeout_ms. */
int hr_http_response(int fd, int timeout_ms);

/* The byte at offset off of connection id's payload in round seed: a
 * hash, so a byte that went to the wrong connection shows. */
uint8_t hr_payload_byte(uint32_t seed, uint32_t id, size_t off);
/* Opens n connections with at most inflight connects pending at once;
 * fds[0..n-1] filled. Returns 0, or -1 with the reason in err (the fds
 * opened so far are closed). */
int hr_connect_many(int family, int port, int n, int inflight, int timeout_ms,
		    int *fds, char *err, size_t errlen);
/* On every fd at once (epoll): write lens[i] bytes of payload (seed, i)
 * and read them back, verifying every byte. The sockets stay open.
 * Returns 0, or -1 with the first problem in err. */
int hr_echo_many(const int *fds, int n, const size_t *lens, uint32_t seed,
		 int timeout_ms, char *err, size_t errlen);
void hr_close_all(int *fds, int n);

/* "127.0.0.1:5" or "[::1]:5"; -1 for other families. */
int hr_sockaddr_str(const void *sa, char *buf, size_t len);
/* This socket's local and remote endpoints as above. */
int hr_endpoints(int fd, char *local, char *remote, size_t len);

/* --- /proc --- */

/* Inodes of the LISTEN sockets on port in /proc/net/tcp (AF_INET) or
 * /proc/net/tcp6 (AF_INET6). Returns how many (may exceed max). */
int hr_proc_listeners(int family, int port, unsigned long *inodes, int max);
/* Socket inodes held open by pid. Returns how many (-1 if unreadable). */
int hr_proc_socket_inodes(pid_t pid, unsigned long *inodes, int max);
/* How many of a[] appear in b[]; the last such in *which. */
int hr_count_common(const unsigned long *a, int na, const unsigned long *b,
		    int nb, unsigned long *which);
/* CPU time (user + system) pid has used, in clock ticks; -1 if gone. */
long long hr_proc_cpu_ticks(pid_t pid);
/* getsockopt(level, name) on the socket with this inode inside process
 * pid (pidfd_getfd). -1 with errno (EPERM, ENOSYS...) if not possible. */
int hr_remote_sockopt(pid_t pid, unsigned long inode, int level, int name,
		      int *val);

/* --- assertions that say expected vs seen --- */

#define hr_check(cond, ...) \
	do { \
		if (!(cond)) { \
			print_error("%s:%d: check failed: %s\n", __FILE__, \
				    __LINE__, #cond); \
			print_error("    " __VA_ARGS__); \
			print_error("\n"); \
			fail(); \
		} \
	} while (0)

/* Integers: "what: expected E, seen S". */
#define hr_check_int(what, expected, seen) \
	do { \
		long long hr_e_ = (long long)(expected); \
		long long hr_s_ = (long long)(seen); \
		hr_check(hr_e_ == hr_s_, "%s: expected %lld, seen %lld", \
			 (what), hr_e_, hr_s_); \
	} while (0)

/* hr_start, failing the test (the notes above say why) if it does not
 * come up. */
#define hr_start_ok(d, args) \
	hr_check(hr_start((d), (args)) == 0, \
		 "start-up: expected the daemon running with every worker, seen a failure (notes above)")

#endif
