/* access_log.h - the HTTP access log: one line per request, in the
 * Apache/nginx combined format or as one JSON object, to a file or to
 * syslog. Prefix alog_.
 *
 * Like log.c's target, the sink is one per process: the worker opens it
 * (alog_open), the HTTP service hands it a request (alog_request), the
 * worker's signal handler reopens it and its exit flushes it. Lines are
 * buffered and written whole with O_APPEND, so the workers' lines never
 * interleave; a write that fails drops the buffer and never blocks or
 * stops the service. The formatting below is pure, for the tests. */
#ifndef RP_ACCESS_LOG_H
#define RP_ACCESS_LOG_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct config;
struct loop;
struct stats_counters;

/* Lines are written when the buffer holds this much, at the latest a
 * second after the first of them, and when the worker exits. */
#define ALOG_BUF_SIZE (64u * 1024)
/* The longest line: the fields that come from the client are cut to
 * what fits (ALOG_CUT_*), so that a line always fits the buffer whole. */
#define ALOG_LINE_MAX (24u * 1024)
/* Escaped bytes kept of each field the client chose; longer ones end
 * in "...". The request line's allows a whole default
 * http_max_request_line (8k) of plain ASCII. */
#define ALOG_CUT_REQUEST (8u * 1024)
#define ALOG_CUT_HEADER (2u * 1024)

enum alog_format { ALOG_COMBINED, ALOG_JSON };

/* A client's address as a line shows it: "-" and port 0 if unknown. */
struct alog_addr {
	uint16_t port;
	char text[INET6_ADDRSTRLEN];
};

/* What a line says of one request, as the HTTP service knows it. */
struct alog_entry {
	/* The request's bytes from its first one: a parsed head, or
	 * whatever arrived of one that was refused (bad). */
	const char *head;
	size_t head_len;
	int bad;
	int status;
	uint64_t bytes;    /* of the body, sent (see README) */
	uint64_t start_us; /* alog_now_us() when its first bytes were read */
	int fd;            /* the connection, for the client's address */
	/* The client's address looked up before (alog_remember); NULL:
	 * fd's, now. */
	const struct alog_addr *addr;
};

/* --- the process's sink --- */

/* Master: creates the file cfg names (http only), with the owner and
 * mode the error log's file gets (log.c), so that workers that no longer
 * run as root can open it; at start, at a reload and before the workers
 * reopen it. 0, or -1 with "access_log PATH: reason" in err. */
int alog_prepare(const struct config *cfg, char *err, size_t errlen);
/* Worker: opens the log cfg names (nothing when off, or for echo); its
 * flush timer runs on loop; lines are counted in stats. 0, or -1 with
 * the reason in err. */
int alog_open(const struct config *cfg, struct loop *loop, int worker,
	      struct stats_counters *stats, char *err, size_t errlen);
/* Is there a log to write to? */
int alog_enabled(void);
/* Monotonic microseconds, for entry.start_us. */
uint64_t alog_now_us(void);
/* Formats e's line into the buffer (or sends it to syslog). */
void alog_request(const struct alog_entry *e);
/* Looks up the client's address of fd now into a, for a line written
 * later (entry.addr): once a client has gone, getpeername(2) no longer
 * tells, and the cache by fd may have given fd's place to another. */
void alog_remember(int fd, struct alog_addr *a);
/* The connection on fd has closed: its cached address is forgotten. */
void alog_forget(int fd);
/* Writes what the buffer holds. */
void alog_flush(void);
/* SIGUSR1: flushes to the old file, then opens the path anew (the master
 * created it). On failure it keeps writing to the old one, and says so. */
void alog_reopen(void);
/* Flushes and closes; alog_enabled() is 0 afterwards. */
void alog_close(void);

/* --- formatting (pure) --- */

/* A request line and the two header fields a line shows, found in a
 * request's bytes; NULL where absent. */
struct alog_fields {
	const char *line, *method, *target, *protocol, *referer, *agent;
	size_t line_len, method_len, target_len, protocol_len, referer_len,
		agent_len;
};

void alog_fields_parse(const char *head, size_t len, struct alog_fields *f);

/* Everything one line holds. */
struct alog_line {
	struct alog_fields f;
	int bad, status, worker;
	uint64_t bytes, time_us;
	const char *addr; /* the client's address, "-" if unknown */
	unsigned port;
	/* combined: "30/Nov/2026:12:00:00 +0100"; json:
	 * "2026-11-30T12:00:00.123+01:00" */
	const char *time;
};

/* The local time of ts in both forms, each with its NUL. */
#define ALOG_TIME_COMBINED_LEN 26
#define ALOG_TIME_ISO_LEN 29
void alog_time_combined(time_t t, char out[ALOG_TIME_COMBINED_LEN + 1]);
void alog_time_iso(const struct timespec *ts, char out[ALOG_TIME_ISO_LEN + 1]);

/* s[0..n) escaped into out as nginx escapes a combined log's fields: '"',
 * '\', the control bytes and every byte from 0x7f up become \xHH. At
 * most cap bytes are written; what does not fit is cut at an escape's
 * boundary and marked "...". Returns the bytes written (no NUL). */
size_t alog_escape_combined(char *out, size_t cap, const char *s, size_t n);
/* s[0..n) as the inside of a JSON string: '"', '\' and the control bytes
 * (DEL too) escaped, valid UTF-8 kept, each byte of an invalid sequence
 * replaced by \ufffd: the result is valid JSON for any input. cap and
 * the cut as above, at a character's boundary. */
size_t alog_escape_json(char *out, size_t cap, const char *s, size_t n);
/* The whole line, its newline included, into out (at least
 * ALOG_LINE_MAX bytes). Returns its length. */
size_t alog_format(enum alog_format fmt, char *out, const struct alog_line *l);

#endif
