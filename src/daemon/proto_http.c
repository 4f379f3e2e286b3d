/* proto_http.c - the HTTP/1.1 service: persistent connections, pipelined
 * requests answered in order, static files sent with sendfile(2) from a
 * document root, or one fixed response (like nginx's `return`).
 *
 * Memory: a connection between requests holds no HTTP state at all. The
 * state below is allocated when a request is only partly read, a body is
 * being skipped or a file is being sent, and freed when that is done. */
#include "autoconfig.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "config.h"
#include "conn.h"
#include "http_parser.h"
#include "log.h"
#include "util.h"

/* sendfile(2) chunk per call: large enough to be cheap, small enough that
 * one big file does not hold the loop while others wait. */
#define HTTP_SENDFILE_CHUNK (512u * 1024)
/* A body up to this size is read into the batch and leaves with its head
 * in one send; a larger one goes by sendfile(2), which pays for itself
 * only past a few pages. The batch holds at most HTTP_BATCH_MAX of such
 * bodies, so pipelined requests cannot make it grow without bound. */
#define HTTP_SMALL_BODY (16u * 1024)
#define HTTP_BATCH_MAX (64u * 1024)

struct http_conn {
	char *in;           /* unparsed bytes (a partial head, pipelined rest) */
	uint32_t inlen, incap;
	uint64_t body_left; /* request body bytes still to skip */
	int file_fd;        /* -1: no file in flight */
	off_t file_off, file_end;
	uint8_t close_after; /* close once the output is out */
	uint8_t linger;      /* unread input may follow: linger before closing */
	uint8_t lingering;   /* output done, write side shut, reading to EOF */
	uint8_t corked;      /* the last answer was sent with MSG_MORE */
	uint8_t waited;      /* the answer took more than one turn */
};

/* What the answers to one request have in common. */
struct http_answer {
	uint8_t head_only;     /* HEAD: the head without its body */
	uint8_t last;          /* Connection: close, and the connection ends */
	uint8_t keep_alive_10; /* HTTP/1.0 kept open: must say keep-alive */
};

/* The fixed answer's bytes for one second and variant (put_fixed). */
struct http_fixed {
	time_t t;
	int status;
	uint32_t len;
	char bytes[2048 + 1024];
};

/* The worker's HTTP state, its protocol context (conn_proto_ctx). */
struct http_worker {
	const struct config *cfg;
	struct stats_counters *stats;
	struct http_limits limits;
	int docroot_fd; /* -1: the fixed answer */
	int draining;
	struct buf batch; /* the answers to one batch of pipelined requests */
	struct http_conn *spare; /* one freed state, reused (hc_get) */
	time_t date_t;
	char date[40];
	struct http_fixed fixed[8]; /* by variant, see put_fixed */
	char small[HTTP_SMALL_BODY]; /* a small body on its way to the batch */
};

static const char http_default_page[] =
	"<!DOCTYPE html>\n<html><head><title>reuseportd</title></head>\n"
	"<body><h1>reuseportd works</h1>\n"
	"<p>This is the built-in page. Serve files with <code>--docroot DIR</code> "
	"or a fixed answer with <code>--return \"200 text\"</code>.</p>\n"
	"</body></html>\n";

static void http_fini(void *ctx)
{
	struct http_worker *hw = ctx;

	if (hw->docroot_fd >= 0)
		close(hw->docroot_fd);
	buf_free(&hw->batch);
	free(hw->spare);
	free(hw);
}

static int http_init(const struct config *cfg, struct stats_counters *stats,
		     void **ctx, char *err, size_t errlen)
{
	struct http_worker *hw = calloc(1, sizeof(*hw));

	if (!hw) {
		snprintf(err, errlen, "http: %s", strerror(errno));
		return -1;
	}
	hw->cfg = cfg;
	hw->stats = stats;
	hw->docroot_fd = -1;
	http_limits_default(&hw->limits);
	hw->limits.max_request_line = cfg->http_max_request_line;
	hw->limits.max_header_bytes = cfg->http_max_header_bytes;
	hw->limits.max_headers = cfg->http_max_headers;
	hw->limits.max_body = cfg->http_max_body;
	if (cfg->docroot[0]) {
		hw->docroot_fd = open(cfg->docroot,
				      O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (hw->docroot_fd < 0) {
			snprintf(err, errlen, "docroot %s: %s", cfg->docroot,
				 strerror(errno));
			http_fini(hw);
			return -1;
		}
	}
	*ctx = hw;
	return 0;
}

static const char *http_date(struct http_worker *hw)
{
	time_t now = time(NULL);

	if (now != hw->date_t) {
		hw->date_t = now;
		http_format_date(now, hw->date, sizeof(hw->date));
	}
	return hw->date;
}

static struct http_conn *hc_get(struct http_worker *hw, struct conn *c)
{
	struct http_conn *hc = conn_data(c);

	if (hc)
		return hc;
	/* A keep-alive request that arrives whole takes and gives back the
	 * same struct: the worker keeps one spare instead of a malloc and
	 * a free per request. */
	if (hw->spare) {
		hc = hw->spare;
		hw->spare = NULL;
		memset(hc, 0, sizeof(*hc));
	} else if (!(hc = calloc(1, sizeof(*hc)))) {
		return NULL;
	}
	hc->file_fd = -1;
	conn_set_data(c, hc);
	return hc;
}

static void hc_free(struct http_worker *hw, struct conn *c)
{
	struct http_conn *hc = conn_data(c);

	if (!hc)
		return;
	if (hc->file_fd >= 0)
		close(hc->file_fd);
	free(hc->in);
	if (hw->spare)
		free(hc);
	else
		hw->spare = hc;
	conn_set_data(c, NULL);
}

/* --- building answers --- */

static void count_response(struct http_worker *hw, int status)
{
	hw->stats->requests++;
	if (status >= 100 && status < 600)
		hw->stats->responses[status / 100 - 1]++;
}

/* Appends a status line and the common headers to the batch. */
static int put_head(struct http_worker *hw, const struct http_answer *ans,
		    int status, const char *type, uint64_t length,
		    const char *extra)
{
	char head[2048];
	int n = snprintf(head, sizeof(head),
			 "HTTP/1.1 %d %s\r\nServer: reuseportd/" PACKAGE_VERSION
			 "\r\nDate: %s\r\n%s%s%sContent-Length: %llu\r\n%s%s\r\n",
			 status, http_reason(status), http_date(hw),
			 type ? "Content-Type: " : "", type ? type : "",
			 type ? "\r\n" : "", (unsigned long long)length,
			 extra ? extra : "",
			 ans->last ? "Connection: close\r\n" :
			 ans->keep_alive_10 ? "Connection: keep-alive\r\n" : "");

	count_response(hw, status);
	if (n < 0 || (size_t)n >= sizeof(head))
		return -1;
	return buf_append(&hw->batch, head, (size_t)n);
}

static int put_text(struct http_worker *hw, const struct http_answer *ans,
		    int status, const char *type, const char *body, size_t len,
		    const char *extra)
{
	if (put_head(hw, ans, status, type, len, extra) < 0)
		return -1;
	return ans->head_only ? 0 : buf_append(&hw->batch, body, len);
}

static int put_error(struct http_worker *hw, const struct http_answer *ans,
		     int status)
{
	char body[64];
	int n = snprintf(body, sizeof(body), "%d %s\n", status,
			 http_reason(status));

	return put_text(hw, ans, status, "text/plain; charset=utf-8", body,
			(size_t)n, NULL);
}

/* Sends the batch so far; 0, or -1 if the connection was closed. */
static int flush_batch(struct http_worker *hw, struct conn *c, int flags)
{
	int r = 0;

	if (buf_pending(&hw->batch) > 0)
		r = conn_send_flags(c, buf_head(&hw->batch),
				    buf_pending(&hw->batch), flags);
	hw->batch.off = hw->batch.len = 0;
	return r;
}

/* --- static files --- */

static int open_beneath(int dirfd, const char *path)
{
	struct open_how how = {
		/* O_NONBLOCK: a FIFO must not block the worker in open();
		 * it is then refused as not a regular file. */
		.flags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK,
		/* Every component, symlinks included, must stay below the
		 * document root; /proc magic links are refused too. */
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS,
	};

	return (int)syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
}

static int errno_status(int e)
{
	switch (e) {
	case ENOENT:
	case ENOTDIR:
	case EXDEV:  /* would leave the root: say nothing more */
	case ELOOP:
	case ENAMETOOLONG:
		return 404;
	case EACCES:
	case EPERM:
		return 403;
	default:
		return 500;
	}
}

/* Serves req from the document root. Returns 1 if a file body is now in
 * flight (the batch was flushed), 0 if the answer is in the batch, -1 if
 * the connection is gone. */
static int serve_file(struct http_worker *hw, struct conn *c,
		      struct http_conn *hc, const struct http_request *req,
		      const struct http_answer *ans)
{
	int head_only = ans->head_only;
	const char *rel = req->path[1] ? req->path + 1 : ".";
	struct stat st;
	int fd = open_beneath(hw->docroot_fd, rel);

	if (fd >= 0 && fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
		size_t len = strlen(req->path);
		int ifd;

		if (req->path[len - 1] != '/') {
			char loc[sizeof(req->path) + 16];

			close(fd);
			snprintf(loc, sizeof(loc), "Location: %s/\r\n", req->path);
			return put_text(hw, ans, 301, "text/plain; charset=utf-8",
					"301 Moved Permanently\n", 22, loc);
		}
		ifd = open_beneath(fd, "index.html");
		close(fd);
		if (ifd < 0)
			return put_error(hw, ans, errno == ENOENT ? 403 :
						 errno_status(errno));
		fd = ifd;
		if (fstat(fd, &st) < 0) {
			close(fd);
			return put_error(hw, ans, 500);
		}
	} else if (fd < 0) {
		return put_error(hw, ans, errno_status(errno));
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return put_error(hw, ans, 403);
	}

	char lm[40], extra[256];
	uint64_t start = 0, end = st.st_size ? (uint64_t)st.st_size - 1 : 0;
	int status = 200;

	http_format_date(st.st_mtime, lm, sizeof(lm));
	if (req->if_modified_since > 0 && st.st_mtime <= req->if_modified_since) {
		close(fd);
		snprintf(extra, sizeof(extra), "Last-Modified: %s\r\n", lm);
		return put_head(hw, ans, 304, NULL, (uint64_t)st.st_size, extra);
	}
	if (req->has_range && req->method == HTTP_GET) {
		int r = http_parse_range(req->range, (uint64_t)st.st_size,
					 &start, &end);

		if (r < 0) {
			close(fd);
			snprintf(extra, sizeof(extra),
				 "Content-Range: bytes */%llu\r\n",
				 (unsigned long long)st.st_size);
			return put_text(hw, ans, 416, "text/plain; charset=utf-8",
					"416 Range Not Satisfiable\n", 26, extra);
		}
		if (r > 0)
			status = 206;
	}
	uint64_t length = st.st_size ? end - start + 1 : 0;
	int small = !head_only && length > 0 && length <= HTTP_SMALL_BODY &&
		    buf_pending(&hw->batch) + length <= HTTP_BATCH_MAX;

	if (small) {
		/* Read before the head is written: a file that shrank since
		 * fstat() gets a clean error, not a short body. */
		ssize_t n;

		do
			n = pread(fd, hw->small, (size_t)length, (off_t)start);
		while (n < 0 && errno == EINTR);
		if (n != (ssize_t)length) {
			log_warn("%s: read %zd of %llu bytes (%s)", req->path, n,
				 (unsigned long long)length,
				 n < 0 ? strerror(errno) : "the file shrank");
			close(fd);
			return put_error(hw, ans, 500);
		}
	}

	if (status == 206)
		snprintf(extra, sizeof(extra),
			 "Last-Modified: %s\r\nAccept-Ranges: bytes\r\n"
			 "Content-Range: bytes %llu-%llu/%llu\r\n",
			 lm, (unsigned long long)start, (unsigned long long)end,
			 (unsigned long long)st.st_size);
	else
		snprintf(extra, sizeof(extra),
			 "Last-Modified: %s\r\nAccept-Ranges: bytes\r\n", lm);
	if (put_head(hw, ans, status,
		     http_mime_type(req->path[1] ? req->path : "/index.html"),
		     length, extra) < 0) {
		close(fd);
		return -1;
	}
	if (head_only || length == 0) {
		close(fd);
		return 0;
	}
	if (small) {
		close(fd);
		return buf_append(&hw->batch, hw->small, (size_t)length);
	}
	hc->file_fd = fd;
	hc->file_off = (off_t)start;
	hc->file_end = (off_t)(start + length);
	/* MSG_MORE: the head waits for the body's first bytes, and the two
	 * leave in one segment. */
	return flush_batch(hw, c, MSG_MORE) < 0 ? -1 : 1;
}

/* --- requests --- */

static const char *const allow_hdr = "Allow: GET, HEAD\r\n";
static int put_fixed(struct http_worker *hw, const struct http_answer *ans);

/* Answers one parsed request; returns as serve_file. */
static int handle(struct http_worker *hw, struct conn *c,
		  struct http_conn *hc, const struct http_request *req)
{
	struct http_answer ans = {
		.head_only = req->method == HTTP_HEAD,
		.last = !req->keep_alive || hw->draining,
	};

	if (ans.last)
		hc->close_after = 1;
	/* HTTP/1.0 closes by default: a kept connection must say so. */
	ans.keep_alive_10 = req->version_minor == 0 && !ans.last;
	if (req->method == HTTP_OTHER)
		return put_error(hw, &ans, 501);
	if (req->method != HTTP_GET && req->method != HTTP_HEAD) {
		char body[] = "405 Method Not Allowed\n";

		return put_text(hw, &ans, 405, "text/plain; charset=utf-8",
				body, sizeof(body) - 1, allow_hdr);
	}
	if (hw->docroot_fd >= 0)
		return serve_file(hw, c, hc, req, &ans);
	return put_fixed(hw, &ans);
}

/* The fixed answer (--return, or the built-in page) appended to the batch. */
static int build_fixed(struct http_worker *hw, const struct http_answer *ans)
{
	if (!hw->cfg->has_return)
		return put_text(hw, ans, 200, "text/html; charset=utf-8",
				http_default_page, sizeof(http_default_page) - 1,
				NULL);

	int st = hw->cfg->return_status;
	const char *body = hw->cfg->return_body;

	if (st == 301 || st == 302 || st == 303 || st == 307 || st == 308) {
		char loc[sizeof(hw->cfg->return_body) + 16];
		char msg[64];
		int n = snprintf(msg, sizeof(msg), "%d %s\n", st,
				 http_reason(st));

		snprintf(loc, sizeof(loc), "Location: %s\r\n", body);
		return put_text(hw, ans, st, "text/plain; charset=utf-8", msg,
				(size_t)n, loc);
	}
	/* 1xx, 204 and 304 never carry a body (RFC 9110 6.4.1). */
	if (st < 200 || st == 204 || st == 304)
		return put_head(hw, ans, st, NULL, 0, NULL);
	return put_text(hw, ans, st, "text/plain; charset=utf-8", body,
			strlen(body), NULL);
}

/* The fixed answer changes only with the Date second and three flags,
 * so its bytes are built once per second and variant and copied after
 * that: the hot path of a health check or a benchmark is a memcpy. */
static int put_fixed(struct http_worker *hw, const struct http_answer *ans)
{
	struct http_fixed *f = &hw->fixed[(ans->head_only ? 1 : 0) |
					  (ans->last ? 2 : 0) |
					  (ans->keep_alive_10 ? 4 : 0)];

	http_date(hw); /* refreshes hw->date_t */
	if (f->t != hw->date_t) {
		size_t before = buf_pending(&hw->batch);

		if (build_fixed(hw, ans) < 0)
			return -1;
		size_t n = buf_pending(&hw->batch) - before;

		/* build_fixed counted this response already. */
		if (n <= sizeof(f->bytes)) {
			memcpy(f->bytes, buf_head(&hw->batch) + before, n);
			f->len = (uint32_t)n;
			f->t = hw->date_t;
			f->status = hw->cfg->has_return ? hw->cfg->return_status : 200;
		}
		return 0;
	}
	count_response(hw, f->status);
	return buf_append(&hw->batch, f->bytes, f->len);
}

/* Something could not be built or sent: the answers of this batch are
 * dropped with the connection - never left for the next one to send. */
static void fail(struct http_worker *hw, struct conn *c)
{
	hw->batch.off = hw->batch.len = 0;
	if (conn_is_open(c))
		conn_close(c);
}

/* Keeps buf[off..len) for later (a partial head or requests waiting
 * behind a file); 0, or -1 when out of memory. */
static int keep_rest(struct http_conn *hc, const char *buf, size_t len)
{
	if (len == 0) {
		free(hc->in);
		hc->in = NULL;
		hc->inlen = hc->incap = 0;
		return 0;
	}
	if (buf == hc->in) {
		hc->inlen = (uint32_t)len; /* already at the front */
		return 0;
	}
	if (len > hc->incap) {
		char *p = realloc(hc->in, len);

		if (!p)
			return -1;
		hc->in = p;
		hc->incap = (uint32_t)len;
	}
	memmove(hc->in, buf, len);
	hc->inlen = (uint32_t)len;
	return 0;
}

static void http_finish(struct http_worker *hw, struct conn *c,
			struct http_conn *hc);

/* Once the answers are out, is the connection closed? */
static int closes(const struct http_worker *hw, const struct http_conn *hc)
{
	return hc->close_after ||
	       (hw->draining && hc->inlen == 0 && hc->body_left == 0);
}

/* ... and with a plain close(), nothing left unread to turn it into a
 * reset? */
static int closes_plainly(const struct http_worker *hw,
			  const struct http_conn *hc)
{
	return closes(hw, hc) && !hc->linger && hc->inlen == 0 &&
	       hc->body_left == 0;
}

/* Sends the next chunk of the file in flight. 1: the file is done;
 * 0: waiting for the socket (on_writable comes back); -1: closed. */
static int send_file(struct conn *c, struct http_conn *hc)
{
	for (;;) {
		size_t chunk = (size_t)UTIL_MIN((off_t)HTTP_SENDFILE_CHUNK,
						hc->file_end - hc->file_off);
		ssize_t n = sendfile(conn_fd(c), hc->file_fd, &hc->file_off, chunk);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			/* The socket is full: wait for it, never read the
			 * file ahead into memory. */
			if (conn_timeout_kind(c) != CONN_TMO_SEND)
				conn_timeout(c, CONN_TMO_SEND);
			return conn_want_write(c) < 0 ? -1 : 0;
		}
		if (n <= 0) {
			/* Error, or the file shrank under us: the length we
			 * promised cannot be kept, so the connection ends. */
			conn_close(c);
			return -1;
		}
		conn_count_out(c, (uint64_t)n);
		if (hc->file_off >= hc->file_end) {
			close(hc->file_fd);
			hc->file_fd = -1;
			if (conn_timeout_kind(c) == CONN_TMO_SEND)
				conn_timeout(c, CONN_TMO_NONE);
			return 1;
		}
		/* One chunk per wake-up: a fast reader of a big file must
		 * not keep the other connections of this worker waiting. */
		if (conn_timeout_kind(c) == CONN_TMO_SEND)
			conn_timeout(c, CONN_TMO_SEND); /* progress */
		return conn_want_write(c) < 0 ? -1 : 0;
	}
}

/* Parses and answers what buf holds, in order. buf is the worker's
 * scratch space or hc->in. A file body is sent at once when the socket
 * takes it, and parsing goes on behind it, in this loop rather than by
 * recursion however many files are pipelined. */
static void process(struct http_worker *hw, struct conn *c, const char *buf,
		    size_t len)
{
	struct http_conn *hc = conn_data(c);
	struct http_request req;

	for (;;) {
		size_t off = 0;
		int inflight = 0, parsed = 0;

		while (off < len && !hc->close_after && !inflight) {
			if (hc->body_left) {
				size_t skip = (size_t)UTIL_MIN(hc->body_left,
							       (uint64_t)(len - off));

				off += skip;
				hc->body_left -= skip;
				continue;
			}
			int r = http_parse_request(buf + off, len - off,
						   &hw->limits, &req);

			if (r == 0)
				break;
			if (r < 0) {
				/* Bad input: a clear status, then the
				 * connection closes; nothing after it can be
				 * trusted, and what follows it is unread. */
				struct http_answer bad = {
					.head_only = req.method == HTTP_HEAD,
					.last = 1,
				};

				if (put_error(hw, &bad, -r) < 0) {
					fail(hw, c);
					return;
				}
				hc->close_after = 1;
				hc->linger = 1;
				off = len;
				break;
			}
			off += (size_t)r;
			parsed++;
			if (req.has_content_length)
				hc->body_left = req.content_length;
			r = handle(hw, c, hc, &req);
			if (r < 0) {
				fail(hw, c);
				return;
			}
			inflight = r > 0;
		}
		/* A new request has begun behind the ones answered: its
		 * header timeout starts now. */
		if (parsed && off < len && !hc->close_after)
			conn_timeout(c, CONN_TMO_HEADER);
		if (keep_rest(hc, buf + off, len - off) < 0) {
			conn_close(c);
			return;
		}
		if (!inflight) {
			/* When a plain close follows, MSG_MORE holds the
			 * answer back for the FIN that shutdown() adds to
			 * it: one segment instead of two, for both ends. If
			 * the socket is full the rest is flushed without it. */
			int cork = closes_plainly(hw, hc);

			if (flush_batch(hw, c, cork ? MSG_MORE : 0) < 0)
				return;
			hc->corked = (uint8_t)cork;
			if (!conn_has_output(c))
				http_finish(hw, c, hc);
			return; /* else on_writable goes on */
		}
		if (conn_has_output(c)) {
			/* The head is still queued: the body follows it. */
			return;
		}
		if (send_file(c, hc) <= 0)
			return;
		buf = hc->in;
		len = hc->inlen;
		if (len == 0 || hc->close_after) {
			http_finish(hw, c, hc);
			return;
		}
	}
}

/* Has the client sent bytes not read yet? Asked only after an answer that
 * took more than one turn: the worker does not read while its output
 * waits, and a close() with unread input resets the connection and drops
 * what is still queued for the client. */
static int input_waits(struct conn *c)
{
	char b;

	return recv(conn_fd(c), &b, 1, MSG_PEEK | MSG_DONTWAIT) > 0;
}

/* Nothing is being written: choose between waiting, closing and freeing. */
static void http_finish(struct http_worker *hw, struct conn *c,
			struct http_conn *hc)
{
	if (closes(hw, hc)) {
		if (closes_plainly(hw, hc) && !(hc->waited && input_waits(c))) {
			/* Everything the client sent was read: a plain close
			 * sends a FIN, and the answer is safe. A corked answer
			 * leaves first, with the FIN, by shutdown(): should
			 * bytes arrive before close(), the reset that close()
			 * then sends must not destroy an answer never sent. */
			if (hc->corked)
				shutdown(conn_fd(c), SHUT_WR);
			conn_close(c);
			return;
		}
		/* Unread input may follow: shut our side and read what the
		 * client still sends, so the close does not turn into a
		 * reset that destroys the answer. */
		hc->lingering = 1;
		free(hc->in);
		hc->in = NULL;
		hc->inlen = hc->incap = 0;
		shutdown(conn_fd(c), SHUT_WR);
		conn_timeout(c, CONN_TMO_LINGER);
		return;
	}
	if (hc->inlen > 0 || hc->body_left > 0) {
		/* A request has begun: the header timeout runs from its first
		 * byte and is not restarted by more bytes (slowloris). */
		if (conn_timeout_kind(c) != CONN_TMO_HEADER)
			conn_timeout(c, CONN_TMO_HEADER);
		return;
	}
	conn_timeout(c, CONN_TMO_KEEPALIVE);
	hc_free(hw, c);
}

static void http_readable(struct conn *c)
{
	struct http_worker *hw = conn_proto_ctx(c);
	struct http_conn *hc = conn_data(c);
	char *data;
	ssize_t n = conn_read(c, &data);

	if (n == -2)
		return;
	if (n <= 0) {
		conn_close(c);
		return;
	}
	if (hc && hc->lingering)
		return; /* discarded; EOF or the linger timeout closes */
	if (!hc && !(hc = hc_get(hw, c))) {
		conn_close(c);
		return;
	}
	/* A read that filled the buffer may have left more behind. */
	if (conn_read_filled(c))
		hc->linger = 1;
	if (hc->inlen == 0) {
		process(hw, c, data, (size_t)n);
		return;
	}
	/* Joins the bytes kept from before; the limits bound hc->in, since
	 * the parser refuses a head longer than max_header_bytes. */
	if ((uint64_t)hc->inlen + (uint64_t)n > UINT32_MAX) {
		conn_close(c);
		return;
	}
	if ((size_t)hc->inlen + (size_t)n > hc->incap) {
		char *p = realloc(hc->in, (size_t)hc->inlen + (size_t)n);

		if (!p) {
			conn_close(c);
			return;
		}
		hc->in = p;
		hc->incap = hc->inlen + (uint32_t)n;
	}
	memcpy(hc->in + hc->inlen, data, (size_t)n);
	hc->inlen += (uint32_t)n;
	process(hw, c, hc->in, hc->inlen);
}

static void http_writable(struct conn *c)
{
	struct http_worker *hw = conn_proto_ctx(c);
	struct http_conn *hc = conn_data(c);

	if (!hc) {
		if (hw->draining)
			conn_close(c);
		else
			conn_timeout(c, CONN_TMO_KEEPALIVE);
		return;
	}
	hc->waited = 1;
	if (hc->file_fd >= 0 && send_file(c, hc) <= 0)
		return;
	if (hc->inlen > 0 && !hc->close_after) {
		/* Requests pipelined behind the one just answered. */
		process(hw, c, hc->in, hc->inlen);
		return;
	}
	http_finish(hw, c, hc);
}

static void http_timeout(struct conn *c, int kind)
{
	struct stats_counters *stats =
		((struct http_worker *)conn_proto_ctx(c))->stats;

	switch (kind) {
	case CONN_TMO_HEADER:
		stats->timeouts_header++;
		break;
	case CONN_TMO_KEEPALIVE:
		stats->timeouts_keepalive++;
		break;
	case CONN_TMO_SEND:
		stats->timeouts_send++;
		break;
	default:
		break;
	}
	conn_close(c);
}

static void http_open(struct conn *c)
{
	/* A new connection must send its first request within the header
	 * timeout, like any later one. */
	conn_timeout(c, CONN_TMO_HEADER);
	/* The listener defers accept until data arrives (TCP_DEFER_ACCEPT,
	 * set by the master for HTTP), so the request is usually here
	 * already: read it now instead of after another epoll round. */
	http_readable(c);
}

static void http_drain(struct conn *c)
{
	struct http_worker *hw = conn_proto_ctx(c);
	struct http_conn *hc = conn_data(c);

	hw->draining = 1;
	if (!hc && !conn_has_output(c)) {
		/* Between requests, or not yet read: a request may already
		 * wait in the socket (a connection just taken from the
		 * queue always has one), so read before deciding. It is
		 * answered with Connection: close. */
		http_readable(c);
		if (!conn_is_open(c) || conn_data(c) || conn_has_output(c))
			return;
		/* Nothing there. A connection that never sent anything
		 * gets its header timeout to do so; an idle kept-alive one
		 * is closed now. */
		if (conn_bytes_in(c) > 0)
			conn_close(c);
		return;
	}
	/* Busy: the answer in flight is finished, any request already
	 * begun is answered with Connection: close, then http_finish
	 * closes. */
}

static void http_close(struct conn *c)
{
	hc_free(conn_proto_ctx(c), c);
}

const struct proto proto_http = {
	.name = "http",
	.init = http_init,
	.fini = http_fini,
	.on_open = http_open,
	.on_readable = http_readable,
	.on_writable = http_writable,
	.on_timeout = http_timeout,
	.on_drain = http_drain,
	.on_close = http_close,
};
