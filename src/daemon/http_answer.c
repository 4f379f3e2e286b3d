/* http_answer.c - HTTP answers built into the worker's batch: the status
 * line and the common headers, error texts, and the fixed answer with its
 * per-second cache. It counts each answer; it never touches a socket or a
 * file, and never decides whether a connection stays open. */
#include "autoconfig.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "proto_http.h"
#include "stats.h"
#include "util.h"

static const char http_default_page[] =
	"<!DOCTYPE html>\n<html><head><title>reuseportd</title></head>\n"
	"<body><h1>reuseportd works</h1>\n"
	"<p>This is the built-in page. Serve files with <code>--docroot DIR</code> "
	"or a fixed answer with <code>--return \"200 text\"</code>.</p>\n"
	"</body></html>\n";

static const char *http_date(struct http_worker *hw)
{
	time_t now = time(NULL);

	if (now != hw->date_t) {
		hw->date_t = now;
		http_format_date(now, hw->date, sizeof(hw->date));
	}
	return hw->date;
}

static void count_response(struct http_worker *hw, int status)
{
	hw->ans_status = status;
	hw->stats->requests++;
	if (status >= 100 && status < 600)
		hw->stats->responses[status / 100 - 1]++;
}

/* Room for the common headers and an extra one as long as a fully
 * percent-encoded path (a redirect's Location). */
#define HTTP_HEAD_MAX 4096

/* The head's pieces are copied, not printed (util_put): snprintf was the
 * largest cost of the worker's own code on the static keep-alive path
 * (3-4 % of its CPU; the rest is the kernel's). */
int http_put_head(struct http_worker *hw, const struct http_answer *ans,
		  int status, const char *type, uint64_t length, const char *extra)
{
	const char *reason = http_reason(status), *date = http_date(hw);
	const char *conn = ans->last          ? "Connection: close\r\n" :
			   ans->keep_alive_10 ? "Connection: keep-alive\r\n" :
						"";
	size_t rl = strlen(reason), dl = strlen(date), cl = strlen(conn);
	size_t tl = type ? strlen(type) : 0, el = extra ? strlen(extra) : 0;
	/* the fixed text and the numbers, with room to spare */
	size_t max = 160 + rl + dl + cl + tl + el;
	char *start, *p;

	count_response(hw, status);
	/* 1xx, 204 and 304 carry no body whatever their length says. */
	hw->ans_body = ans->head_only || status < 200 || status == 204 ||
				       status == 304 ?
			       0 :
			       length;
	if (status < 100 || status > 999 || max > HTTP_HEAD_MAX)
		return -1;
	start = p = buf_reserve(&hw->batch, max);
	if (!p)
		return -1;
	p = UTIL_PUT_LIT(p, "HTTP/1.1 ");
	p = util_put_u64(p, (uint64_t)status);
	*p++ = ' ';
	p = util_put(p, reason, rl);
	p = UTIL_PUT_LIT(p, "\r\nServer: reuseportd/" PACKAGE_VERSION
			    "\r\nDate: ");
	p = util_put(p, date, dl);
	p = UTIL_PUT_LIT(p, "\r\n");
	if (type) {
		p = UTIL_PUT_LIT(p, "Content-Type: ");
		p = util_put(p, type, tl);
		p = UTIL_PUT_LIT(p, "\r\n");
	}
	p = UTIL_PUT_LIT(p, "Content-Length: ");
	p = util_put_u64(p, length);
	p = UTIL_PUT_LIT(p, "\r\n");
	p = util_put(p, extra ? extra : "", el);
	p = util_put(p, conn, cl);
	p = UTIL_PUT_LIT(p, "\r\n");
	buf_commit(&hw->batch, (size_t)(p - start));
	return 0;
}

int http_put_text(struct http_worker *hw, const struct http_answer *ans,
		  int status, const char *type, const char *body, size_t len,
		  const char *extra)
{
	if (http_put_head(hw, ans, status, type, len, extra) < 0)
		return -1;
	return ans->head_only ? 0 : buf_append(&hw->batch, body, len);
}

int http_put_error(struct http_worker *hw, const struct http_answer *ans,
		   int status)
{
	char body[64];
	int n = snprintf(body, sizeof(body), "%d %s\n", status,
			 http_reason(status));

	return http_put_text(hw, ans, status, "text/plain; charset=utf-8", body,
			     (size_t)n, NULL);
}

/* The fixed answer (--return, or the built-in page) appended to the batch. */
static int build_fixed(struct http_worker *hw, const struct http_answer *ans)
{
	if (!hw->cfg->has_return)
		return http_put_text(hw, ans, 200, "text/html; charset=utf-8",
				     http_default_page,
				     sizeof(http_default_page) - 1, NULL);

	int st = hw->cfg->return_status;
	const char *body = hw->cfg->return_body;

	if (st == 301 || st == 302 || st == 303 || st == 307 || st == 308) {
		char loc[sizeof(hw->cfg->return_body) + 16];
		char msg[64];
		int n = snprintf(msg, sizeof(msg), "%d %s\n", st, http_reason(st));

		snprintf(loc, sizeof(loc), "Location: %s\r\n", body);
		return http_put_text(hw, ans, st, "text/plain; charset=utf-8",
				     msg, (size_t)n, loc);
	}
	/* 1xx, 204 and 304 never carry a body (RFC 9110 6.4.1). */
	if (st < 200 || st == 204 || st == 304)
		return http_put_head(hw, ans, st, NULL, 0, NULL);
	return http_put_text(hw, ans, st, "text/plain; charset=utf-8", body,
			     strlen(body), NULL);
}

/* The fixed answer changes only with the Date second and three flags,
 * so its bytes are built once per second and variant and copied after
 * that: the hot path of a health check or a benchmark is a memcpy. */
int http_put_fixed(struct http_worker *hw, const struct http_answer *ans)
{
	struct http_fixed *f =
		&hw->fixed[(ans->head_only ? 1 : 0) | (ans->last ? 2 : 0) |
			   (ans->keep_alive_10 ? 4 : 0)];

	http_date(hw); /* refreshes hw->date_t */
	if (f->date_t != hw->date_t) {
		size_t before = buf_pending(&hw->batch);

		if (build_fixed(hw, ans) < 0)
			return -1;
		size_t n = buf_pending(&hw->batch) - before;

		/* build_fixed counted this response already. */
		if (n <= sizeof(f->bytes)) {
			memcpy(f->bytes, buf_head(&hw->batch) + before, n);
			f->len = (uint32_t)n;
			f->body = (uint32_t)hw->ans_body;
			f->date_t = hw->date_t;
			f->status = hw->cfg->has_return ? hw->cfg->return_status :
							  200;
		}
		return 0;
	}
	count_response(hw, f->status);
	hw->ans_body = f->body;
	return buf_append(&hw->batch, f->bytes, f->len);
}
