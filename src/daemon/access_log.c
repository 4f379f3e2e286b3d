/* access_log.c - the HTTP access log (access_log.h): a line per request,
 * formatted into a per-process buffer that is written whole, with
 * O_APPEND, when full, a second after its first line, at a reopen and at
 * exit; or sent line by line to syslog. A failed write drops the buffer:
 * the log never holds a request up, never blocks a worker and never ends
 * one. It knows nothing of HTTP but where a head's fields are. */
#include "autoconfig.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <syslog.h>
#include <unistd.h>

#include "access_log.h"
#include "config.h"
#include "log.h"
#include "loop.h"
#include "stats.h"
#include "util.h"

/* Escaped bytes kept of a method or a protocol: only a refused request's
 * can be long, and its whole line is in "request" too. */
#define ALOG_CUT_TOKEN 256u
/* Clients' addresses remembered, by fd: a kept-alive connection's later
 * requests cost no getpeername(2). Entries are forgotten when their
 * connection closes (alog_forget), before the fd can be reused. */
#define ALOG_PEERS 1024u
/* A write error is logged at most this often. */
#define ALOG_ERROR_EVERY_MS 1000u

struct alog_peer {
	int fd; /* -1: empty */
	struct alog_addr a;
};

static struct {
	enum cfg_access_log to; /* CFG_ALOG_OFF: not open */
	enum alog_format fmt;
	int fd;
	char path[PATH_MAX];
	int worker;
	struct stats_counters *stats;
	struct loop *loop;
	struct loop_timer timer; /* a second after the buffer's first line */
	char *buf;
	size_t len;
	uint64_t nlines;      /* in buf */
	time_t sec;           /* the second the time strings below are of */
	uint64_t wall_off_us; /* wall clock - monotonic clock */
	char tcomb[ALOG_TIME_COMBINED_LEN + 1], tiso[ALOG_TIME_ISO_LEN + 1];
	/* The file's size after a write of ours cut a line short, 0 if
	 * none: while the file still ends there, a newline is due. */
	uint64_t cut_size;
	uint64_t err_ms;     /* when a write error was last logged */
	uint64_t err_unsaid; /* lines dropped since */
	struct alog_peer *peers;
} al = { .fd = -1 };

/* --- the fields of a request --- */

static int ci_prefix(const char *s, size_t n, const char *lower, size_t ln)
{
	if (n < ln)
		return 0;
	for (size_t i = 0; i < ln; i++)
		if ((s[i] | 0x20) != lower[i] && s[i] != lower[i])
			return 0;
	return 1;
}

/* method SP target SP protocol, as far as the line has them. */
static void split_line(struct alog_fields *f)
{
	const char *sp1 = memchr(f->line, ' ', f->line_len), *sp2;
	const char *end = f->line + f->line_len;

	if (!sp1)
		return;
	f->method = f->line;
	f->method_len = (size_t)(sp1 - f->line);
	sp2 = end;
	while (sp2 > sp1 && sp2[-1] != ' ')
		sp2--;
	sp2--; /* the last space */
	f->target = sp1 + 1;
	f->target_len = (size_t)(sp2 - f->target);
	if (sp2 > sp1) {
		f->protocol = sp2 + 1;
		f->protocol_len = (size_t)(end - f->protocol);
	} else {
		f->target_len = (size_t)(end - f->target);
	}
	if (f->method_len == 0)
		f->method = NULL;
	if (f->target_len == 0)
		f->target = NULL;
	if (f->protocol_len == 0)
		f->protocol = NULL;
}

/* One header line h[0..n) (no CRLF): Referer or User-Agent, the first of
 * each. */
static void header_line(const char *h, size_t n, struct alog_fields *f)
{
	const char **v;
	size_t *vl, k;

	if (ci_prefix(h, n, "user-agent:", 11)) {
		v = &f->agent;
		vl = &f->agent_len;
		k = 11;
	} else if (ci_prefix(h, n, "referer:", 8)) {
		v = &f->referer;
		vl = &f->referer_len;
		k = 8;
	} else {
		return;
	}
	while (k < n && (h[k] == ' ' || h[k] == '\t'))
		k++;
	while (n > k && (h[n - 1] == ' ' || h[n - 1] == '\t'))
		n--;
	if (*v || n == k)
		return;
	*v = h + k;
	*vl = n - k;
}

void alog_fields_parse(const char *head, size_t len, struct alog_fields *f)
{
	size_t i = 0, e;

	memset(f, 0, sizeof(*f));
	while (i + 1 < len && head[i] == '\r' && head[i + 1] == '\n')
		i += 2;
	for (e = i; e < len && head[e] != '\r' && head[e] != '\n'; e++)
		;
	if (e > i) {
		f->line = head + i;
		f->line_len = e - i;
		split_line(f);
	}
	/* The header lines that are complete; the blank one ends them. */
	for (;;) {
		const char *nl = memchr(head + e, '\n', len - e);
		size_t s, n;

		if (!nl)
			return;
		s = (size_t)(nl - head) + 1;
		nl = memchr(head + s, '\n', len - s);
		if (!nl)
			return;
		n = (size_t)(nl - head) - s;
		if (n > 0 && head[s + n - 1] == '\r')
			n--;
		if (n == 0)
			return;
		header_line(head + s, n, f);
		e = s + n;
	}
}

/* --- escaping --- */

static const char hex_upper[] = "0123456789ABCDEF";
static const char hex_lower[] = "0123456789abcdef";

/* Ends an output cut at safe (where "..." still fits). */
static size_t cut(char *out, size_t cap, size_t safe)
{
	if (cap < 3)
		return 0;
	memcpy(out + safe, "...", 3);
	return safe + 3;
}

/* Printable ASCII but the quote and the backslash: the bytes both
 * formats keep as they are. */
static int plain(unsigned char c)
{
	return (unsigned char)(c - 0x20) < 0x5f && c != '"' && c != '\\';
}

/* The fast path of both escapes: copies the plain bytes from s[*i] while
 * "..." still fits after them, so that every byte copied is a place to
 * cut. Returns the new output length. */
static size_t copy_plain(char *out, size_t o, size_t cap, const char *s,
			 size_t *i, size_t n)
{
	size_t k = *i, end;

	if (o + 3 > cap)
		return o;
	end = k + UTIL_MIN(n - k, cap - 3 - o);
	while (k < end && plain((unsigned char)s[k]))
		k++;
	memcpy(out + o, s + *i, k - *i);
	o += k - *i;
	*i = k;
	return o;
}

size_t alog_escape_combined(char *out, size_t cap, const char *s, size_t n)
{
	size_t o = 0, safe = 0, i = 0;

	while (i < n) {
		o = copy_plain(out, o, cap, s, &i, n);
		if (i == n)
			break;

		unsigned char c = (unsigned char)s[i];
		size_t u = plain(c) ? 1 : 4;

		if (o + 3 <= cap)
			safe = o;
		if (o + u > cap)
			return cut(out, cap, safe);
		i++;
		if (u == 1) {
			out[o++] = (char)c;
			continue;
		}
		out[o++] = '\\';
		out[o++] = 'x';
		out[o++] = hex_upper[c >> 4];
		out[o++] = hex_upper[c & 15];
	}
	return o;
}

/* The length of the valid UTF-8 sequence of two or more bytes at p
 * (RFC 3629: no overlong form, no surrogate, nothing past U+10FFFF), or
 * 0 if there is none. */
static size_t utf8_len(const unsigned char *p, size_t n)
{
	unsigned char lo = 0x80, hi = 0xbf;
	size_t k;

	if (p[0] >= 0xc2 && p[0] <= 0xdf) {
		k = 2;
	} else if (p[0] >= 0xe0 && p[0] <= 0xef) {
		k = 3;
		lo = p[0] == 0xe0 ? 0xa0 : 0x80;
		hi = p[0] == 0xed ? 0x9f : 0xbf;
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		k = 4;
		lo = p[0] == 0xf0 ? 0x90 : 0x80;
		hi = p[0] == 0xf4 ? 0x8f : 0xbf;
	} else {
		return 0;
	}
	if (n < k || p[1] < lo || p[1] > hi)
		return 0;
	for (size_t j = 2; j < k; j++)
		if ((p[j] & 0xc0) != 0x80)
			return 0;
	return k;
}

/* The escape of an ASCII byte that needs one, into e; its length. */
static size_t json_escape_ascii(unsigned char c, char *e)
{
	e[0] = '\\';
	switch (c) {
	case '"':
	case '\\':
		e[1] = (char)c;
		return 2;
	case '\n':
		e[1] = 'n';
		return 2;
	case '\r':
		e[1] = 'r';
		return 2;
	case '\t':
		e[1] = 't';
		return 2;
	default:
		memcpy(e + 1, "u00", 3);
		e[4] = hex_lower[c >> 4];
		e[5] = hex_lower[c & 15];
		return 6;
	}
}

size_t alog_escape_json(char *out, size_t cap, const char *str, size_t n)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t o = 0, safe = 0, i = 0;

	while (i < n) {
		o = copy_plain(out, o, cap, str, &i, n);
		if (i == n)
			break;

		unsigned char c = s[i];
		char e[6];
		const char *src = (const char *)s + i;
		size_t u, take;

		if (plain(c)) {
			u = take = 1;
		} else if (c < 0x80) {
			u = json_escape_ascii(c, e);
			src = e;
			take = 1;
		} else if ((take = utf8_len(s + i, n - i)) > 0) {
			u = take;
		} else {
			memcpy(e, "\\ufffd", 6);
			src = e;
			u = 6;
			take = 1;
		}
		if (o + 3 <= cap)
			safe = o;
		if (o + u > cap)
			return cut(out, cap, safe);
		memcpy(out + o, src, u);
		o += u;
		i += take;
	}
	return o;
}

/* --- the line --- */

/* A cursor into a line being built; room was checked by the caps. */
struct out {
	char *p;
};

static void put(struct out *o, const char *s, size_t n)
{
	o->p = util_put(o->p, s, n);
}

#define PUT_LIT(o, lit) put((o), (lit), sizeof(lit) - 1)

static void put_u64(struct out *o, uint64_t v)
{
	o->p = util_put_u64(o->p, v);
}

/* A combined field in quotes: "-" when absent. */
static void put_quoted_combined(struct out *o, const char *s, size_t n, size_t cap)
{
	*o->p++ = '"';
	if (s)
		o->p += alog_escape_combined(o->p, cap, s, n);
	else
		*o->p++ = '-';
	*o->p++ = '"';
}

/* ,"key":"value" or ,"key":null; key is a literal. */
#define put_json_str(o, key, s, n, cap) \
	put_json_str_((o), ",\"" key "\":", sizeof(key) + 3, (s), (n), (cap))
#define put_json_u64(o, key, v) \
	put_json_u64_((o), ",\"" key "\":", sizeof(key) + 3, (v))

static void put_json_str_(struct out *o, const char *key, size_t keylen,
			  const char *s, size_t n, size_t cap)
{
	put(o, key, keylen);
	if (!s) {
		PUT_LIT(o, "null");
		return;
	}
	*o->p++ = '"';
	o->p += alog_escape_json(o->p, cap, s, n);
	*o->p++ = '"';
}

static void put_json_u64_(struct out *o, const char *key, size_t keylen, uint64_t v)
{
	put(o, key, keylen);
	put_u64(o, v);
}

/* $remote_addr - - [$time_local] "$request" $status $body_bytes_sent
 * "$http_referer" "$http_user_agent" */
static void format_combined(struct out *o, const struct alog_line *l)
{
	put(o, l->addr, strlen(l->addr));
	PUT_LIT(o, " - - [");
	put(o, l->time, ALOG_TIME_COMBINED_LEN);
	PUT_LIT(o, "] ");
	put_quoted_combined(o, l->f.line, l->f.line_len, ALOG_CUT_REQUEST);
	*o->p++ = ' ';
	put_u64(o, (uint64_t)l->status);
	*o->p++ = ' ';
	put_u64(o, l->bytes);
	*o->p++ = ' ';
	put_quoted_combined(o, l->f.referer, l->f.referer_len, ALOG_CUT_HEADER);
	*o->p++ = ' ';
	put_quoted_combined(o, l->f.agent, l->f.agent_len, ALOG_CUT_HEADER);
}

static void format_json(struct out *o, const struct alog_line *l)
{
	PUT_LIT(o, "{\"time\":\"");
	put(o, l->time, ALOG_TIME_ISO_LEN);
	*o->p++ = '"';
	if (strcmp(l->addr, "-"))
		put_json_str(o, "addr", l->addr, strlen(l->addr),
			     INET6_ADDRSTRLEN);
	else
		put_json_str(o, "addr", NULL, 0, 0);
	put_json_u64(o, "port", l->port);
	put_json_u64(o, "worker", (uint64_t)l->worker);
	put_json_str(o, "method", l->f.method, l->f.method_len, ALOG_CUT_TOKEN);
	put_json_str(o, "target", l->f.target, l->f.target_len, ALOG_CUT_REQUEST);
	put_json_str(o, "protocol", l->f.protocol, l->f.protocol_len,
		     ALOG_CUT_TOKEN);
	put_json_u64(o, "status", (uint64_t)l->status);
	put_json_u64(o, "bytes", l->bytes);
	put_json_u64(o, "request_time_us", l->time_us);
	put_json_str(o, "referer", l->f.referer, l->f.referer_len,
		     ALOG_CUT_HEADER);
	put_json_str(o, "user_agent", l->f.agent, l->f.agent_len, ALOG_CUT_HEADER);
	/* A refused request's line as it came: what a parsed one's three
	 * fields say. */
	if (l->bad)
		put_json_str(o, "request", l->f.line, l->f.line_len,
			     ALOG_CUT_REQUEST);
	*o->p++ = '}';
}

size_t alog_format(enum alog_format fmt, char *out, const struct alog_line *l)
{
	struct out o = { out };

	if (fmt == ALOG_JSON)
		format_json(&o, l);
	else
		format_combined(&o, l);
	*o.p++ = '\n';
	return (size_t)(o.p - out);
}

/* --- time --- */

static void zone(const struct tm *tm, char *out, int colon)
{
	long off = tm->tm_gmtoff / 60;
	char sign = off < 0 ? '-' : '+';

	if (off < 0)
		off = -off;
	if (colon)
		snprintf(out, 7, "%c%02ld:%02ld", sign, off / 60 % 100, off % 60);
	else
		snprintf(out, 6, "%c%02ld%02ld", sign, off / 60 % 100, off % 60);
}

void alog_time_combined(time_t t, char out[ALOG_TIME_COMBINED_LEN + 1])
{
	static const char mon[][4] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
				       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	struct tm tm;
	char z[6];

	localtime_r(&t, &tm);
	zone(&tm, z, 0);
	snprintf(out, ALOG_TIME_COMBINED_LEN + 1,
		 "%02d/%s/%04d:%02d:%02d:%02d %s", tm.tm_mday,
		 mon[tm.tm_mon % 12], (tm.tm_year + 1900) % 10000, tm.tm_hour,
		 tm.tm_min, tm.tm_sec, z);
}

void alog_time_iso(const struct timespec *ts, char out[ALOG_TIME_ISO_LEN + 1])
{
	struct tm tm;
	char z[7], s[64];

	localtime_r(&ts->tv_sec, &tm);
	zone(&tm, z, 1);
	snprintf(s, sizeof(s), "%04d-%02d-%02dT%02d:%02d:%02d.%03ld%s",
		 (tm.tm_year + 1900) % 10000, tm.tm_mon + 1, tm.tm_mday,
		 tm.tm_hour, tm.tm_min, tm.tm_sec, ts->tv_nsec / 1000000 % 1000,
		 z);
	memcpy(out, s, ALOG_TIME_ISO_LEN);
	out[ALOG_TIME_ISO_LEN] = '\0';
}

/* The time of a line, from the monotonic clock read for its duration
 * and the wall clock's offset from it: the wall clock is read, and the
 * strings made, once a second (a step of the clock shows within it).
 * The JSON string gets its milliseconds on every line. */
static const char *line_time(uint64_t now_us)
{
	uint64_t wall = now_us + al.wall_off_us;
	long ms;

	if ((time_t)(wall / 1000000u) != al.sec) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		wall = (uint64_t)ts.tv_sec * 1000000u +
		       (uint64_t)ts.tv_nsec / 1000u;
		al.wall_off_us = wall - now_us;
		al.sec = ts.tv_sec;
		alog_time_combined(ts.tv_sec, al.tcomb);
		alog_time_iso(&ts, al.tiso);
	}
	if (al.fmt == ALOG_COMBINED)
		return al.tcomb;
	ms = (long)(wall / 1000u % 1000u);
	al.tiso[20] = (char)('0' + ms / 100);
	al.tiso[21] = (char)('0' + ms / 10 % 10);
	al.tiso[22] = (char)('0' + ms % 10);
	return al.tiso;
}

uint64_t alog_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* --- the client's address --- */

static const struct alog_addr unknown = { 0, "-" };

static const struct alog_addr *peer_of(int fd)
{
	struct alog_peer *p = &al.peers[(unsigned)fd % ALOG_PEERS];
	union {
		struct sockaddr sa;
		struct sockaddr_in in4;
		struct sockaddr_in6 in6;
	} u;
	socklen_t len = sizeof(u);

	if (fd < 0)
		return &unknown;
	if (p->fd == fd)
		return &p->a;
	if (getpeername(fd, &u.sa, &len) < 0)
		return &unknown;
	if (u.sa.sa_family == AF_INET) {
		inet_ntop(AF_INET, &u.in4.sin_addr, p->a.text, sizeof(p->a.text));
		p->a.port = ntohs(u.in4.sin_port);
	} else if (u.sa.sa_family == AF_INET6) {
		inet_ntop(AF_INET6, &u.in6.sin6_addr, p->a.text,
			  sizeof(p->a.text));
		p->a.port = ntohs(u.in6.sin6_port);
	} else {
		return &unknown;
	}
	p->fd = fd;
	return &p->a;
}

void alog_remember(int fd, struct alog_addr *a)
{
	*a = al.peers ? *peer_of(fd) : unknown;
}

void alog_forget(int fd)
{
	if (al.peers && fd >= 0 && al.peers[(unsigned)fd % ALOG_PEERS].fd == fd)
		al.peers[(unsigned)fd % ALOG_PEERS].fd = -1;
}

/* --- the sink --- */

/* At most once a second, whatever the rate of failures. */
static void write_failed(const char *why, uint64_t dropped)
{
	uint64_t now = util_now_ms();

	al.stats->access_log_dropped += dropped;
	al.err_unsaid += dropped;
	if (al.err_ms && now - al.err_ms < ALOG_ERROR_EVERY_MS)
		return;
	log_error("access_log %s: %s; %llu lines dropped", al.path, why,
		  (unsigned long long)al.err_unsaid);
	al.err_ms = now;
	al.err_unsaid = 0;
}

static uint64_t count_lines(const char *p, size_t n)
{
	uint64_t k = 0;
	const char *e = p + n;

	while ((p = memchr(p, '\n', (size_t)(e - p))) != NULL) {
		k++;
		p++;
	}
	return k;
}

/* The file's size, 0 if unknown. */
static uint64_t file_size(void)
{
	struct stat st;

	return fstat(al.fd, &st) == 0 ? (uint64_t)st.st_size : 0;
}

/* Does the file still end in the part of a line that a write cut short
 * left (no other worker has written since, no rotation either)? */
static int cut_line_at_end(void)
{
	if (al.cut_size && file_size() != al.cut_size)
		al.cut_size = 0;
	return al.cut_size != 0;
}

/* One write of whole lines: on a regular file opened with O_APPEND, the
 * kernel puts it at the end of the file in one piece, whatever the other
 * workers write meanwhile (write(2), "O_APPEND"). It is never retried: a
 * full disk or a file size limit (SIGXFSZ is ignored, EFBIG comes back)
 * costs the lines, not the service. One cut short leaves part of a line,
 * which the next write ends with a newline first, unless another worker
 * has written behind it meanwhile. */
void alog_flush(void)
{
	struct iovec iov[2] = { { (void *)"\n", 1 }, { al.buf, al.len } };
	int nl;
	ssize_t n;

	if (al.len == 0)
		return;
	nl = cut_line_at_end();
	do
		n = writev(al.fd, iov + !nl, 1 + nl);
	while (n < 0 && errno == EINTR);
	if (nl && n > 0) {
		al.cut_size = 0;
		n--;
	}
	if (n > 0 && n < (ssize_t)al.len && al.buf[n - 1] != '\n')
		al.cut_size = file_size();
	if (n == (ssize_t)al.len) {
		al.stats->access_log_lines += al.nlines;
	} else {
		uint64_t done = n > 0 ? count_lines(al.buf, (size_t)n) : 0;
		char why[96];

		if (n < 0)
			snprintf(why, sizeof(why), "%s", strerror(errno));
		else
			snprintf(why, sizeof(why), "wrote %zd of %zu bytes", n,
				 al.len);
		al.stats->access_log_lines += done;
		write_failed(why, al.nlines - done);
	}
	al.len = 0;
	al.nlines = 0;
}

static void flush_timer(struct loop_timer *t)
{
	(void)t;
	alog_flush();
}

void alog_request(const struct alog_entry *e)
{
	const struct alog_addr *p;
	struct alog_line l;
	uint64_t now;

	if (al.to == CFG_ALOG_OFF)
		return;
	alog_fields_parse(e->head, e->head_len, &l.f);
	p = e->addr ? e->addr : peer_of(e->fd);
	now = alog_now_us();
	l.bad = e->bad;
	l.status = e->status;
	l.worker = al.worker;
	l.bytes = e->bytes;
	l.time_us = now > e->start_us ? now - e->start_us : 0;
	l.addr = p->text;
	l.port = p->port;
	l.time = line_time(now);
	if (al.to == CFG_ALOG_SYSLOG) {
		size_t n = alog_format(al.fmt, al.buf, &l);

		syslog(LOG_INFO | LOG_DAEMON, "%.*s", (int)n - 1, al.buf);
		al.stats->access_log_lines++;
		return;
	}
	if (al.len + ALOG_LINE_MAX > ALOG_BUF_SIZE)
		alog_flush();
	if (al.len == 0 && !loop_timer_armed(&al.timer))
		loop_timer_arm(al.loop, &al.timer, 1000);
	al.len += alog_format(al.fmt, al.buf + al.len, &l);
	al.nlines++;
}

int alog_enabled(void)
{
	return al.to != CFG_ALOG_OFF;
}

static int open_file(const char *path)
{
	return open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY,
		    0640);
}

int alog_prepare(const struct config *cfg, char *err, size_t errlen)
{
	int fd;

	if (cfg->protocol != CFG_PROTO_HTTP || cfg->access_log != CFG_ALOG_FILE)
		return 0;
	fd = log_file_open(cfg->access_log_file);
	if (fd < 0) {
		snprintf(err, errlen, "access_log %s: %s", cfg->access_log_file,
			 strerror(errno));
		return -1;
	}
	close(fd);
	return 0;
}

int alog_open(const struct config *cfg, struct loop *loop, int worker,
	      struct stats_counters *stats, char *err, size_t errlen)
{
	if (cfg->protocol != CFG_PROTO_HTTP || cfg->access_log == CFG_ALOG_OFF)
		return 0;
	al.buf = malloc(ALOG_BUF_SIZE);
	al.peers = malloc(ALOG_PEERS * sizeof(*al.peers));
	if (!al.buf || !al.peers) {
		snprintf(err, errlen, "access_log: %s", strerror(errno));
		alog_close();
		return -1;
	}
	for (size_t i = 0; i < ALOG_PEERS; i++)
		al.peers[i].fd = -1;
	if (cfg->access_log == CFG_ALOG_FILE) {
		snprintf(al.path, sizeof(al.path), "%s", cfg->access_log_file);
		al.fd = open_file(al.path);
		if (al.fd < 0) {
			snprintf(err, errlen, "access_log %s: %s", al.path,
				 strerror(errno));
			alog_close();
			return -1;
		}
	}
	tzset();
	al.sec = 0;
	al.to = cfg->access_log;
	al.fmt = cfg->access_log_format == CFG_ALOG_JSON ? ALOG_JSON :
							   ALOG_COMBINED;
	al.worker = worker;
	al.stats = stats;
	al.loop = loop;
	loop_timer_init(&al.timer, flush_timer);
	return 0;
}

void alog_reopen(void)
{
	int fd;

	if (al.to != CFG_ALOG_FILE)
		return;
	alog_flush();
	fd = open_file(al.path);
	if (fd < 0) {
		log_error("access_log reopen: %s: %s; still writing to the old file",
			  al.path, strerror(errno));
		return;
	}
	close(al.fd);
	al.fd = fd;
	log_debug("access_log reopened");
}

void alog_close(void)
{
	if (al.to == CFG_ALOG_FILE)
		alog_flush();
	if (al.loop && loop_timer_armed(&al.timer))
		loop_timer_disarm(al.loop, &al.timer);
	if (al.fd >= 0)
		close(al.fd);
	free(al.buf);
	free(al.peers);
	al.fd = -1;
	al.buf = NULL;
	al.peers = NULL;
	al.len = 0;
	al.nlines = 0;
	al.cut_size = 0;
	al.loop = NULL;
	al.to = CFG_ALOG_OFF;
}
