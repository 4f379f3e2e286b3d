/* rc_top.c - the live view: samples, rates, frames and the loop. */
#include "autoconfig.h"

#include <math.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "rc_client.h"
#include "rc_fmt.h"
#include "rc_render.h"
#include "rc_term.h"
#include "rc_top.h"

/* Longest line a frame writes; wider terminals get no more than this. */
#define RC_TOP_LINE_MAX 512

/* --- rates --- */

static double rc_rate(const json_t *prev, const json_t *cur, const char *key,
		      double dt)
{
	uint64_t a, b;

	if (!prev || !(dt > 0) || !rc_json_has_number(prev, key) ||
	    !rc_json_has_number(cur, key))
		return -1;
	a = rc_json_u64(prev, key);
	b = rc_json_u64(cur, key);
	return b < a ? -1 : (double)(b - a) / dt;
}

/* Another daemon (or a restarted one) answered: nothing to compare. */
static int rc_same_daemon(const json_t *prev, const json_t *cur)
{
	return prev && rc_json_u64(prev, "pid") == rc_json_u64(cur, "pid");
}

void rc_top_rates(const json_t *prev, const json_t *cur, double dt,
		  struct rc_rates *r)
{
	const json_t *pt = rc_same_daemon(prev, cur) ?
				   json_object_get(prev, "totals") :
				   NULL;
	const json_t *ct = json_object_get(cur, "totals");

	r->accepts = rc_rate(pt, ct, "accepted", dt);
	r->requests = rc_rate(pt, ct, "requests", dt);
	r->bytes_in = rc_rate(pt, ct, "bytes_in", dt);
	r->bytes_out = rc_rate(pt, ct, "bytes_out", dt);
}

double rc_top_worker_rate(const json_t *prev, const json_t *w, double dt,
			  const char *key)
{
	size_t i;
	const json_t *p;

	json_array_foreach(json_object_get(prev, "workers"), i, p)
		if (rc_json_u64(p, "id") == rc_json_u64(w, "id"))
			return rc_rate(p, w, key, dt);
	return -1;
}

static size_t rc_running(const json_t *cur)
{
	size_t i, n = 0;
	const json_t *w;

	json_array_foreach(json_object_get(cur, "workers"), i, w)
		n += strcmp(rc_json_str(w, "state", ""), "running") == 0;
	return n;
}

/* --- line forms --- */

void rc_top_line(FILE *out, const json_t *cur, const struct rc_rates *r, time_t now)
{
	char ts[16], acc[32], req[32], in[32], outb[32];
	struct tm tm;

	localtime_r(&now, &tm);
	strftime(ts, sizeof(ts), "%H:%M:%S", &tm);
	rc_fmt_rate(r->accepts, acc, sizeof(acc));
	rc_fmt_rate(r->requests, req, sizeof(req));
	rc_fmt_byte_rate(r->bytes_in, in, sizeof(in));
	rc_fmt_byte_rate(r->bytes_out, outb, sizeof(outb));
	fprintf(out,
		"%s accepts/s %s  requests/s %s  in %s  out %s  active %llu  workers %zu/%zu\n",
		ts, acc, req, in, outb,
		(unsigned long long)rc_json_u64(json_object_get(cur, "totals"),
						"active"),
		rc_running(cur),
		json_array_size(json_object_get(cur, "workers")));
}

static json_t *rc_rate_json(double v)
{
	return v < 0 ? json_null() : json_real(v);
}

void rc_top_json_line(FILE *out, const json_t *prev, const json_t *cur,
		      double dt, time_t now)
{
	struct rc_rates r;
	json_t *o = json_object(), *ws = json_array();
	const json_t *w;
	size_t i;
	char *text;

	rc_top_rates(prev, cur, dt, &r);
	json_object_set_new(o, "time", json_integer((json_int_t)now));
	json_object_set_new(o, "accepts_per_s", rc_rate_json(r.accepts));
	json_object_set_new(o, "requests_per_s", rc_rate_json(r.requests));
	json_object_set_new(o, "bytes_in_per_s", rc_rate_json(r.bytes_in));
	json_object_set_new(o, "bytes_out_per_s", rc_rate_json(r.bytes_out));
	json_object_set_new(o, "active",
			    json_integer((json_int_t)rc_json_u64(
				    json_object_get(cur, "totals"), "active")));
	json_array_foreach(json_object_get(cur, "workers"), i, w)
		json_array_append_new(
			ws,
			json_pack("{s:I, s:s, s:I, s:o}", "id",
				  (json_int_t)rc_json_u64(w, "id"), "state",
				  rc_json_str(w, "state", "?"), "active",
				  (json_int_t)rc_json_u64(w, "active"),
				  "accepts_per_s",
				  rc_rate_json(
					  rc_same_daemon(prev, cur) ?
						  rc_top_worker_rate(prev, w, dt,
								     "accepted") :
						  -1)));
	json_object_set_new(o, "workers", ws);
	text = json_dumps(o, JSON_COMPACT);
	if (text)
		fprintf(out, "%s\n", text);
	free(text);
	json_decref(o);
}

/* --- the frame --- */

/* One frame line, cut to the terminal width, old text after it erased. */
static void rc_top_put(FILE *out, int cols, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void rc_top_put(FILE *out, int cols, const char *fmt, ...)
{
	char line[RC_TOP_LINE_MAX];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	if (cols > 0 && n > cols && (size_t)cols < sizeof(line))
		line[cols] = '\0';
	rc_fmt_printable(line);
	fprintf(out, "%s\033[K\n", line);
}

static void rc_top_header(FILE *out, const json_t *cur,
			  const struct rc_rates *r, int cols)
{
	char up[32], acc[32], req[32], in[32], outb[32], ep[RC_TOP_LINE_MAX / 4];
	const json_t *l = json_array_get(json_object_get(cur, "listen"), 0);
	struct rc_balance b;

	rc_fmt_duration_ms(rc_json_seconds_ms(cur, "uptime_s"), up, sizeof(up));
	if (l)
		rc_fmt_endpoint(rc_json_str(l, "address", "?"),
				rc_json_u64(l, "port"), ep, sizeof(ep));
	else
		snprintf(ep, sizeof(ep), "-");
	rc_top_put(out, cols,
		   "reuseportd %s  pid %llu  up %s  %s on %s   (q quits)",
		   rc_json_str(cur, "version", "?"),
		   (unsigned long long)rc_json_u64(cur, "pid"), up,
		   rc_json_str(cur, "protocol", "?"), ep);
	rc_fmt_rate(r->accepts, acc, sizeof(acc));
	rc_fmt_rate(r->requests, req, sizeof(req));
	rc_fmt_byte_rate(r->bytes_in, in, sizeof(in));
	rc_fmt_byte_rate(r->bytes_out, outb, sizeof(outb));
	rc_top_put(out, cols, "accepts/s %-10s requests/s %-10s in %-14s out %s",
		   acc, req, in, outb);
	rc_balance_of(json_object_get(cur, "workers"), "active", &b);
	rc_top_put(out, cols,
		   "active %-12llu accepted %-12llu workers %zu/%zu running   "
		   "balance %.2f",
		   (unsigned long long)rc_json_u64(json_object_get(cur, "totals"),
						   "active"),
		   (unsigned long long)rc_json_u64(json_object_get(cur, "totals"),
						   "accepted"),
		   rc_running(cur),
		   json_array_size(json_object_get(cur, "workers")), b.ratio);
	rc_top_put(out, cols, "%s", "");
}

/* The proxy's servers, if it has any: up to a third of the screen. The
 * rows the workers' table may take, less these, are returned. */
#define RC_TOP_UPSTREAMS_MAX 16
static int rc_top_upstreams(FILE *out, const json_t *cur, int cols, int rows)
{
	char lines[RC_TOP_UPSTREAMS_MAX][RC_UPSTREAM_LINE_MAX];
	size_t max = (size_t)(rows > 9 ? (rows - 3) / 3 : 1), n;

	if (max > RC_TOP_UPSTREAMS_MAX)
		max = RC_TOP_UPSTREAMS_MAX;
	n = rc_upstream_lines(cur, max, rc_running(cur), lines);
	if (n == 0)
		return rows;
	rc_top_put(out, cols, "%s", RC_UPSTREAM_HEADER);
	for (size_t i = 0; i < n; i++)
		rc_top_put(out, cols, "%s", lines[i]);
	rc_top_put(out, cols, "%s", "");
	return rows - (int)n - 2;
}

/* "#####" scaled so the busiest worker fills width; never empty when the
 * worker has at least one connection. */
static void rc_top_bar(char *bar, size_t barlen, uint64_t v, uint64_t max,
		       int width)
{
	size_t n = 0;

	if (max > 0 && width > 0) {
		n = (size_t)llround((double)v * width / (double)max);
		if (n == 0 && v > 0)
			n = 1;
	}
	if (n >= barlen)
		n = barlen - 1;
	memset(bar, '#', n);
	bar[n] = '\0';
}

/* The fixed part of a worker row; the bar takes the rest of the width. */
#define RC_TOP_ROW_FMT "%4s %8s %-12s %9s %10s  "
#define RC_TOP_ROW_WIDTH (4 + 1 + 8 + 1 + 12 + 1 + 9 + 1 + 10 + 2)

static void rc_top_workers(FILE *out, const json_t *prev, const json_t *cur,
			   double dt, int cols, int rows)
{
	const json_t *workers = json_object_get(cur, "workers"), *w;
	struct rc_balance b;
	int width = cols - RC_TOP_ROW_WIDTH, room = rows - 6;
	size_t i;

	rc_balance_of(workers, "active", &b);
	if (width < 10)
		width = 10;
	rc_top_put(out, cols, RC_TOP_ROW_FMT "%s", "ID", "PID", "STATE",
		   "ACTIVE", "ACCEPTS/S", "ACTIVE CONNECTIONS");
	json_array_foreach(workers, i, w) {
		char id[24], pid[24], act[24], rate[32], bar[RC_TOP_LINE_MAX];

		if ((int)i >= room && i + 1 < json_array_size(workers)) {
			rc_top_put(out, cols, "... %zu more workers",
				   json_array_size(workers) - i);
			break;
		}
		snprintf(id, sizeof(id), "%llu",
			 (unsigned long long)rc_json_u64(w, "id"));
		snprintf(pid, sizeof(pid), "%llu",
			 (unsigned long long)rc_json_u64(w, "pid"));
		snprintf(act, sizeof(act), "%llu",
			 (unsigned long long)rc_json_u64(w, "active"));
		rc_fmt_rate(rc_same_daemon(prev, cur) ?
				    rc_top_worker_rate(prev, w, dt, "accepted") :
				    -1,
			    rate, sizeof(rate));
		rc_top_bar(bar, sizeof(bar), rc_json_u64(w, "active"), b.max,
			   width);
		rc_top_put(out, cols, RC_TOP_ROW_FMT "%s", id, pid,
			   rc_json_str(w, "state", "?"), act, rate, bar);
	}
}

void rc_top_frame(FILE *out, const json_t *prev, const json_t *cur, double dt,
		  int cols, int rows)
{
	struct rc_rates r;

	rc_top_rates(prev, cur, dt, &r);
	fputs("\033[H", out);
	rc_top_header(out, cur, &r, cols);
	rows = rc_top_upstreams(out, cur, cols, rows);
	rc_top_workers(out, prev, cur, dt, cols, rows);
	fputs("\033[J", out);
}

/* --- the loop --- */

static double rc_now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static json_t *rc_top_sample(const struct rc_top_opts *o, char *err, size_t errlen)
{
	json_t *doc = rc_client_request(o->path, "stats", o->timeout_ms, err,
					errlen);

	if (doc && json_object_get(doc, "error")) {
		snprintf(err, errlen, "error from reuseportd: %s",
			 rc_json_str(doc, "error", "?"));
		json_decref(doc);
		return NULL;
	}
	if (doc && !json_is_array(json_object_get(doc, "workers"))) {
		snprintf(err, errlen, "%s: the answer has no \"workers\" array",
			 o->path);
		json_decref(doc);
		return NULL;
	}
	return doc;
}

/* Sleeps until the monotonic time `until`; on a terminal, a key or a quit
 * signal may end it early. Returns 1 to stop (q or signal), 0 to go on. */
static int rc_top_wait(int tty, double until)
{
	for (;;) {
		double left = until - rc_now_s();
		int key;

		if (left <= 0)
			return 0;
		if (!tty) {
			poll(NULL, 0, (int)ceil(left * 1000));
			continue;
		}
		key = rc_term_wait_key((int)ceil(left * 1000));
		if (key < 0 || key == 'q' || key == 'Q')
			return 1;
	}
}

static void rc_top_show(const struct rc_top_opts *o, int tty,
			const json_t *prev, const json_t *cur, double dt)
{
	struct rc_rates r;
	int cols, rows;

	if (o->json) {
		rc_top_json_line(stdout, prev, cur, dt, time(NULL));
	} else if (tty) {
		rc_term_size(&cols, &rows);
		rc_top_frame(stdout, prev, cur, dt, cols, rows);
	} else {
		rc_top_rates(prev, cur, dt, &r);
		rc_top_line(stdout, cur, &r, time(NULL));
	}
	fflush(stdout);
}

int rc_top_run(const struct rc_top_opts *o, char *err, size_t errlen)
{
	int tty = !o->json && !o->force_lines && isatty(STDOUT_FILENO);
	json_t *prev = NULL, *cur;
	double tprev = 0, next = rc_now_s();
	long shown = 0;
	int rc = 0;

	if (tty && rc_term_enter() < 0)
		tty = 0;
	for (;;) {
		double now;

		cur = rc_top_sample(o, err, errlen);
		if (!cur) {
			rc = -1;
			break;
		}
		now = rc_now_s();
		/* A pipe gets no rate-less first line: that sample is only
		 * the baseline. A terminal shows the daemon at once. */
		if (prev || tty) {
			rc_top_show(o, tty, prev, cur, now - tprev);
			shown++;
		}
		json_decref(prev);
		prev = cur;
		tprev = now;
		if (o->count > 0 && shown >= o->count)
			break;
		next += o->interval;
		if (next < now) /* fell behind (slow daemon): do not burst */
			next = now + o->interval;
		if (rc_top_wait(tty, next))
			break;
	}
	json_decref(prev);
	if (tty)
		rc_term_leave();
	return rc;
}
