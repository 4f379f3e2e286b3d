/* proto_http.c - the HTTP/1.1 service behind proto.h: a connection's
 * state from its first byte to its close (persistent connections,
 * pipelined requests answered in order, the lingering close, timeouts,
 * drain) and the worker's HTTP state. It builds no header and opens no
 * file itself: answers come from http_answer.c and http_file.c.
 *
 * Memory: a connection between requests holds no HTTP state at all. Its
 * struct http_conn exists while a request is only partly read, a body is
 * being skipped or a file is being sent, and is freed when that is done. */
#include "autoconfig.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "access_log.h"
#include "config.h"
#include "conn.h"
#include "http_vhost.h"
#include "mime.h"
#include "proto_http.h"
#include "stats.h"
#include "util.h"

static const char *const allow_hdr = "Allow: GET, HEAD, OPTIONS\r\n";

static void http_fini(void *ctx)
{
	struct http_worker *hw = ctx;

	http_file_fini(hw);
	if (hw->default_fd >= 0)
		close(hw->default_fd);
	http_vhosts_close(hw->vhosts);
	mime_table_free(hw->own_mime);
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
	hw->default_fd = -1;
	http_limits_default(&hw->limits);
	hw->limits.max_request_line = cfg->http_max_request_line;
	hw->limits.max_header_bytes = cfg->http_max_header_bytes;
	hw->limits.max_headers = cfg->http_max_headers;
	hw->limits.max_body = cfg->http_max_body;
	hw->mime = cfg->mime;
	if (!hw->mime && (cfg->docroot[0] || cfg->nvhosts)) {
		hw->mime = hw->own_mime = mime_table_new(NULL, cfg->default_type,
							 cfg->charset);
		if (!hw->mime) {
			snprintf(err, errlen, "http: out of memory");
			http_fini(hw);
			return -1;
		}
	}
	if (cfg->docroot[0]) {
		hw->default_fd = open(cfg->docroot,
				      O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (hw->default_fd < 0) {
			snprintf(err, errlen, "docroot %s: %s", cfg->docroot,
				 strerror(errno));
			http_fini(hw);
			return -1;
		}
	}
	hw->docroot_fd = hw->default_fd;
	if (http_vhosts_open(cfg, &hw->vhosts, err, errlen) < 0 ||
	    http_file_init(hw, err, errlen) < 0) {
		http_fini(hw);
		return -1;
	}
	*ctx = hw;
	return 0;
}

static struct http_conn *hc_get(struct http_worker *hw, struct conn *c)
{
	struct http_conn *hc = conn_data(c);

	if (hc)
		return hc;
	/* The open-file cache's clock and timer (http_file.c): a request
	 * begins, on an accepted or a taken-over connection. */
	hw->loop = conn_pool_of(c)->loop;
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

/* --- the access log --- */

static void log_line(struct conn *c, const struct http_conn *hc,
		     const char *head, size_t len, int bad, int status,
		     uint64_t bytes, const struct alog_addr *addr)
{
	struct alog_entry e = {
		.head = head,
		.head_len = len,
		.bad = bad,
		.status = status,
		.bytes = bytes,
		.start_us = hc->log_start_us,
		.fd = conn_fd(c),
		.addr = addr,
	};

	alog_request(&e);
}

/* The request at head has been answered. A file's body is yet to go:
 * its line waits for it (log_file_sent), with the bytes actually sent,
 * and keeps a copy of the head meanwhile - an allocation only on the
 * path of large files. */
static void log_answer(struct http_worker *hw, struct conn *c,
		       struct http_conn *hc, const char *head, size_t len,
		       int file)
{
	if (!file) {
		log_line(c, hc, head, len, 0, hw->ans_status, hw->ans_body, NULL);
		return;
	}
	hc->log_due = malloc(sizeof(*hc->log_due) + len);
	if (!hc->log_due)
		return;
	alog_remember(conn_fd(c), &hc->log_due->addr);
	memcpy(hc->log_due->head, head, len);
	hc->log_due->head_len = (uint32_t)len;
	hc->log_status = hw->ans_status;
	hc->log_file_start = hc->file_off;
}

/* The file answer's line: once it is sent, or when the connection ends
 * before, with what was sent of it. */
static void log_file_sent(struct conn *c, struct http_conn *hc)
{
	log_line(c, hc, hc->log_due->head, hc->log_due->head_len, 0,
		 hc->log_status, (uint64_t)(hc->file_off - hc->log_file_start),
		 &hc->log_due->addr);
	free(hc->log_due);
	hc->log_due = NULL;
}

/* A chunked request's head, kept for its access-log line until its body
 * is read; a copy, since the input moves on meanwhile. */
static void pending_keep_head(struct http_pending *pd, const char *head, size_t len)
{
	pd->log_head = malloc(len);
	if (!pd->log_head)
		return;
	memcpy(pd->log_head, head, len);
	pd->log_head_len = (uint32_t)len;
}

static void pending_free(struct http_pending *pd)
{
	if (pd)
		free(pd->log_head);
	free(pd);
}

static void hc_free(struct http_worker *hw, struct conn *c)
{
	struct http_conn *hc = conn_data(c);

	if (!hc)
		return;
	if (hc->log_due)
		log_file_sent(c, hc);
	if (hc->file_fd >= 0)
		close(hc->file_fd);
	pending_free(hc->pending);
	free(hc->in);
	if (hw->spare)
		free(hc);
	else
		hw->spare = hc;
	conn_set_data(c, NULL);
}

/* Sends the batch so far; 0, or -1 if the connection was closed. */
static int flush_batch(struct http_worker *hw, struct conn *c, int flags)
{
	int r = 0;

	if (hw->tail)
		r = conn_send2(c, buf_head(&hw->batch), buf_pending(&hw->batch),
			       hw->tail, hw->tail_len, flags);
	else if (buf_pending(&hw->batch) > 0)
		r = conn_send_flags(c, buf_head(&hw->batch),
				    buf_pending(&hw->batch), flags);
	hw->batch.off = hw->batch.len = 0;
	hw->tail = NULL;
	return r;
}

int http_batch_settle(struct http_worker *hw)
{
	const char *t = hw->tail;

	if (!t)
		return 0;
	hw->tail = NULL;
	return buf_append(&hw->batch, t, hw->tail_len);
}

/* Something could not be built or sent: the answers of this batch are
 * dropped with the connection - never left for the next one to send. */
static void fail(struct http_worker *hw, struct conn *c)
{
	hw->batch.off = hw->batch.len = 0;
	hw->tail = NULL;
	if (conn_is_open(c))
		conn_close(c);
}

/* --- requests --- */

/* The error a request gets whatever its target and body, or 0. */
static int refusal(const struct http_request *req)
{
	if (req->expect == HTTP_EXPECT_OTHER)
		return 417; /* RFC 9110 10.1.1 */
	switch (req->method) {
	case HTTP_GET:
	case HTTP_HEAD:
	case HTTP_OPTIONS:
		return 0;
	case HTTP_OTHER:
		return 501;
	default:
		return 405;
	}
}

/* The vhost the request's host names (absolute-form target, else Host),
 * or NULL for the default docroot. With no vhost configured, a test. */
static const struct http_vhost *choose_vhost(const struct http_worker *hw,
					     const struct http_request *req)
{
	if (!hw->vhosts || !req->host)
		return NULL;
	return http_vhosts_find(hw->vhosts, req->host, req->host_len);
}

/* Answers one parsed request, from vh's docroot (NULL: the default one).
 * 1: a file body is to follow (its head has been sent ahead of it); 0:
 * the answer is in the batch; -1: failed. */
static int handle(struct http_worker *hw, struct conn *c, struct http_conn *hc,
		  const struct http_request *req, const struct http_vhost *vh)
{
	int refused = refusal(req);
	struct http_answer ans = {
		.head_only = req->method == HTTP_HEAD,
		.last = !req->keep_alive || hw->draining,
	};
	int r;

	hw->stats->vhost_requests[vh ? vh->slot : STATS_VHOST_DEFAULT]++;
	if (ans.last)
		hc->close_after = 1;
	/* HTTP/1.0 closes by default: a kept connection must say so. */
	ans.keep_alive_10 = req->version_minor == 0 && !ans.last;
	if (refused == 405) {
		char body[] = "405 Method Not Allowed\n";

		return http_put_text(hw, &ans, 405, "text/plain; charset=utf-8",
				     body, sizeof(body) - 1, allow_hdr);
	}
	if (refused)
		return http_put_error(hw, &ans, refused);
	/* OPTIONS, for the server ("*") or a path: the same methods go
	 * everywhere (RFC 9110 9.3.7). */
	if (req->method == HTTP_OPTIONS)
		return http_put_head(hw, &ans, 200, NULL, 0, allow_hdr);
	hw->docroot_fd = vh ? vh->fd : hw->default_fd;
	if (hw->docroot_fd < 0)
		return http_put_fixed(hw, &ans);
	r = http_file_serve(hw, hc, req, &ans);
	/* MSG_MORE: the head waits for the body's first bytes, and the two
	 * leave in one segment. */
	if (r > 0 && flush_batch(hw, c, MSG_MORE) < 0)
		return -1;
	return r;
}

/* Bad input: a clear status, then the connection closes; nothing after
 * it can be trusted, and what follows it is unread. */
static int answer_bad_request(struct http_worker *hw, struct http_conn *hc,
			      const struct http_request *req, int status)
{
	struct http_answer bad = {
		.head_only = req->method == HTTP_HEAD,
		.last = 1,
	};

	if (http_put_error(hw, &bad, status) < 0)
		return -1;
	hc->close_after = 1;
	hc->linger = 1;
	return 0;
}

/* The interim answer that asks the client for its body. It is no answer
 * to the request: counted as a 1xx response, not as a request. */
static int put_continue(struct http_worker *hw)
{
	static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";

	hw->stats->responses[0]++;
	return buf_append(&hw->batch, cont, sizeof(cont) - 1);
}

/* A head has been parsed; body_here: bytes follow it already. Answers
 * now, or once a chunked body has been read (hc->pending). Returns as
 * handle().
 *
 * Expect, with a body not yet sent: a request refused whatever its body
 * (405, 501, and 417 for an expectation other than 100-continue) gets its
 * answer at once and the connection closes after it, since the client
 * may never send the body it announced (RFC 9110 10.1.1); any other gets
 * 100 Continue first, and its body is read (and dropped) so that the
 * connection goes on. */
static int begin_request(struct http_worker *hw, struct conn *c,
			 struct http_conn *hc, struct http_request *req,
			 int body_here)
{
	int body = req->chunked || req->content_length > 0;
	const struct http_vhost *vh = choose_vhost(hw, req);

	if (body && !body_here && req->expect != HTTP_EXPECT_NONE) {
		if (refusal(req)) {
			req->keep_alive = 0;
			hc->linger = 1;
			return handle(hw, c, hc, req, vh);
		}
		if (put_continue(hw) < 0)
			return -1;
	}
	if (req->chunked) {
		hc->pending = calloc(1, sizeof(*hc->pending));
		if (!hc->pending)
			return -1;
		http_chunked_init(&hc->pending->ck);
		hc->pending->req = *req;
		hc->pending->req.host = NULL;
		hc->pending->vh = vh;
		return 0;
	}
	hc->body_left = req->content_length;
	return handle(hw, c, hc, req, vh);
}

/* Reads the chunked body of hc->pending among the avail bytes at buf;
 * *used: how many were its. Answers the request once the body is whole,
 * or with 400/413/431 when it is not what it should be. Returns as
 * handle(). */
static int read_chunked(struct http_worker *hw, struct conn *c,
			struct http_conn *hc, const char *buf, size_t avail,
			size_t *used)
{
	struct http_pending *pd = hc->pending;
	int r = http_chunked_read(&pd->ck, buf, avail, &hw->limits, used);

	if (r == 0)
		return 0;
	hc->pending = NULL;
	if (r < 0) {
		*used = avail;
		r = answer_bad_request(hw, hc, &pd->req, -r);
	} else {
		r = handle(hw, c, hc, &pd->req, pd->vh);
	}
	/* The line of a request whose body was bad says its status (400,
	 * 413, 431) with its head as it came: the head itself was good. */
	if (pd->log_head && r >= 0)
		log_answer(hw, c, hc, pd->log_head, pd->log_head_len, r > 0);
	pending_free(pd);
	return r;
}

/* Skips what is left of a request body among the avail bytes at hand. */
static size_t skip_body(struct http_conn *hc, size_t avail)
{
	size_t skip = (size_t)UTIL_MIN(hc->body_left, (uint64_t)avail);

	hc->body_left -= skip;
	return skip;
}

/* How a batch of answers ended (answer_requests). */
enum batch_end {
	BATCH_FAILED = -1, /* an answer could not be built or sent */
	BATCH_DONE, /* the bytes ran out, or the connection is to close */
	BATCH_FILE, /* a file body follows the head just sent */
	BATCH_FULL, /* HTTP_BATCH_MAX reached: the rest waits for it */
};

/* Parses and answers the requests in buf[0..len) into the batch, until
 * the bytes run out, the connection is to close, a file body is in
 * flight or the batch is full; req is room for one parsed request.
 * *used: how far it got. */
static enum batch_end answer_requests(
	struct http_worker *hw, struct conn *c, struct http_conn *hc,
	const char *buf, size_t len, struct http_request *req, size_t *used)
{
	enum batch_end end = BATCH_DONE;
	size_t off = 0, head_len;
	int parsed = 0;

	while (off < len && !hc->close_after && end == BATCH_DONE) {
		size_t n;
		int r;

		/* Before this request's answer looks the cache up, or adds
		 * to the batch. */
		if (http_batch_settle(hw) < 0)
			return BATCH_FAILED;
		if (hc->body_left) {
			off += skip_body(hc, len - off);
			continue;
		}
		if (hc->pending) {
			r = read_chunked(hw, c, hc, buf + off, len - off, &n);
			off += n;
			if (r < 0)
				return BATCH_FAILED;
			if (r > 0)
				end = BATCH_FILE;
			continue;
		}
		if (buf_pending(&hw->batch) >= HTTP_BATCH_MAX) {
			end = BATCH_FULL;
			break;
		}
		const char *head = buf + off;

		r = http_parse_request(buf + off, len - off, &hw->limits, req);

		if (r == 0)
			break;
		if (r < 0) {
			if (answer_bad_request(hw, hc, req, -r) < 0)
				return BATCH_FAILED;
			if (alog_enabled())
				log_line(c, hc, head, len - off, 1,
					 hw->ans_status, hw->ans_body, NULL);
			off = len;
			break;
		}
		off += (size_t)r;
		head_len = (size_t)r;
		parsed++;
		r = begin_request(hw, c, hc, req, off < len);
		if (r < 0)
			return BATCH_FAILED;
		/* A chunked body is read before the answer: its line waits
		 * with it (read_chunked). */
		if (alog_enabled() && hc->pending)
			pending_keep_head(hc->pending, head, head_len);
		else if (alog_enabled())
			log_answer(hw, c, hc, head, head_len, r > 0);
		if (r > 0)
			end = BATCH_FILE;
	}
	/* A new request has begun behind the ones answered: its header
	 * timeout starts now - unless an answer already waits for the
	 * socket: the send timeout runs until it has gone, and http_finish
	 * starts the header timeout after it. */
	if (parsed && off < len && !hc->close_after &&
	    conn_timeout_kind(c) != CONN_TMO_SEND)
		conn_timeout(c, CONN_TMO_HEADER);
	*used = off;
	return end;
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

/* --- after the answers --- */

/* Once the answers are out, is the connection closed? */
static int closes(const struct http_worker *hw, const struct http_conn *hc)
{
	return hc->close_after || (hw->draining && hc->inlen == 0 &&
				   hc->body_left == 0 && !hc->pending);
}

/* ... and with a plain close(), nothing left unread to turn it into a
 * reset? */
static int closes_plainly(const struct http_worker *hw, const struct http_conn *hc)
{
	return closes(hw, hc) && !hc->linger && hc->inlen == 0 &&
	       hc->body_left == 0 && !hc->pending;
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

/* The connection closes after its answers. */
static void http_close_after_answers(struct http_worker *hw, struct conn *c,
				     struct http_conn *hc)
{
	if (closes_plainly(hw, hc) && !(hc->waited && input_waits(c))) {
		/* Everything the client sent was read: a plain close sends
		 * a FIN, and the answer is safe. A corked answer leaves
		 * first, with the FIN, by shutdown(): should bytes arrive
		 * before close(), the reset that close() then sends must
		 * not destroy an answer never sent. */
		if (hc->corked)
			shutdown(conn_fd(c), SHUT_WR);
		conn_close(c);
		return;
	}
	/* Unread input may follow: shut our side and read what the client
	 * still sends, so the close does not turn into a reset that
	 * destroys the answer. */
	hc->lingering = 1;
	free(hc->in);
	hc->in = NULL;
	hc->inlen = hc->incap = 0;
	shutdown(conn_fd(c), SHUT_WR);
	conn_timeout(c, CONN_TMO_LINGER);
}

/* Nothing is being written: choose between waiting, closing and freeing. */
static void http_finish(struct http_worker *hw, struct conn *c,
			struct http_conn *hc)
{
	if (closes(hw, hc)) {
		http_close_after_answers(hw, c, hc);
		return;
	}
	if (hc->body_left > 0 || hc->pending) {
		/* A body is arriving (all the input so far is part of it):
		 * its timeout runs from its last bytes, so a body that keeps
		 * coming is never cut, whatever its length, and one that
		 * stops is closed. */
		conn_timeout(c, CONN_TMO_BODY);
		return;
	}
	if (hc->inlen > 0) {
		/* A request has begun: the header timeout runs from its first
		 * byte and is not restarted by more bytes (slowloris). */
		if (conn_timeout_kind(c) != CONN_TMO_HEADER)
			conn_timeout(c, CONN_TMO_HEADER);
		return;
	}
	conn_timeout(c, CONN_TMO_KEEPALIVE);
	hc_free(hw, c);
}

/* Sends the batch, and finishes once it is out (else on_writable goes
 * on). When a plain close follows, MSG_MORE holds the answer back for
 * the FIN that shutdown() adds to it: one segment instead of two, for
 * both ends. If the socket is full the rest is flushed without it. */
static void send_answers(struct http_worker *hw, struct conn *c,
			 struct http_conn *hc)
{
	int cork = closes_plainly(hw, hc);

	if (flush_batch(hw, c, cork ? MSG_MORE : 0) < 0)
		return;
	hc->corked = (uint8_t)cork;
	if (!conn_has_output(c))
		http_finish(hw, c, hc);
}

/* The next piece of the file in flight (http_file_send), and its line in
 * the access log once it is all sent. */
static int send_file(struct conn *c, struct http_conn *hc)
{
	int r = http_file_send(c, hc);

	if (r > 0 && hc->log_due)
		log_file_sent(c, hc);
	return r;
}

/* Parses and answers what buf holds, in order. buf is the worker's
 * scratch space or hc->in. A file body is sent at once when the socket
 * takes it, and a full batch too; parsing goes on behind them, in this
 * loop rather than by recursion however many requests are pipelined,
 * or, when the socket is full, once it has taken them (on_writable). */
static void process(struct http_worker *hw, struct conn *c, const char *buf,
		    size_t len)
{
	struct http_conn *hc = conn_data(c);
	/* Here rather than in answer_requests, whose frame would then be too
	 * large for the compiler to inline it: this is the hot path. */
	struct http_request req;

	for (;;) {
		size_t used;
		enum batch_end end = answer_requests(hw, c, hc, buf, len, &req,
						     &used);

		if (end == BATCH_FAILED) {
			fail(hw, c);
			return;
		}
		/* The batch (and its tail, which points into the open-file
		 * cache) goes with the connection: never to the next one. */
		if (keep_rest(hc, buf + used, len - used) < 0) {
			fail(hw, c);
			return;
		}
		if (end == BATCH_DONE) {
			send_answers(hw, c, hc);
			return;
		}
		if (end == BATCH_FULL) {
			if (flush_batch(hw, c, 0) < 0 || conn_has_output(c))
				return;
		} else if (conn_has_output(c) || send_file(c, hc) <= 0) {
			/* While the head is still queued, the body waits
			 * behind it (on_writable). */
			return;
		}
		buf = hc->in;
		len = hc->inlen;
		if (len == 0 || hc->close_after) {
			http_finish(hw, c, hc);
			return;
		}
	}
}

/* --- the protocol's callbacks --- */

/* Appends n bytes to those kept from before; the limits bound hc->in,
 * since the parser refuses a head longer than max_header_bytes. 0, or -1
 * when out of memory. */
static int join_input(struct http_conn *hc, const char *data, size_t n)
{
	if ((uint64_t)hc->inlen + (uint64_t)n > UINT32_MAX)
		return -1;
	if ((size_t)hc->inlen + n > hc->incap) {
		char *p = realloc(hc->in, (size_t)hc->inlen + n);

		if (!p)
			return -1;
		hc->in = p;
		hc->incap = hc->inlen + (uint32_t)n;
	}
	memcpy(hc->in + hc->inlen, data, n);
	hc->inlen += (uint32_t)n;
	return 0;
}

static void http_readable(struct conn *c)
{
	struct http_worker *hw = conn_proto_ctx(c);
	struct http_conn *hc = conn_data(c);
	char *data;
	ssize_t n = conn_read_max(c, &data, HTTP_READ_MAX);

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
	/* A request begins with these bytes: its time runs from here. */
	if (hc->inlen == 0 && hc->body_left == 0 && alog_enabled())
		hc->log_start_us = alog_now_us();
	if (hc->inlen == 0) {
		process(hw, c, data, (size_t)n);
		return;
	}
	if (join_input(hc, data, (size_t)n) < 0) {
		conn_close(c);
		return;
	}
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

	hw->draining = 1;
	if (conn_data(c) || conn_has_output(c)) {
		/* Busy: the answer in flight is finished, any request
		 * already begun is answered with Connection: close, then
		 * http_finish closes. */
		return;
	}
	/* Between requests, or not yet read: a request may already wait in
	 * the socket (a connection just taken from the queue always has
	 * one), so read before deciding. It is answered with Connection:
	 * close. */
	http_readable(c);
	if (!conn_is_open(c) || conn_data(c) || conn_has_output(c))
		return;
	/* Nothing there. A connection that never sent anything gets its
	 * header timeout to do so; an idle kept-alive one is closed now -
	 * unless another master serves the port (conn_pool's
	 * drain_keep_idle): then its next request is answered with
	 * Connection: close, and the client reconnects there cleanly. Its
	 * keep-alive timeout and the drain deadline still bound the wait. */
	if (conn_bytes_in(c) > 0 && !conn_pool_of(c)->drain_keep_idle)
		conn_close(c);
}

static unsigned http_release_fds(void *ctx)
{
	return http_file_release_fds(ctx);
}

static void http_close(struct conn *c)
{
	hc_free(conn_proto_ctx(c), c);
	alog_forget(conn_fd(c));
}

const struct proto proto_http = {
	.name = "http",
	.init = http_init,
	.fini = http_fini,
	.on_open = http_open,
	.on_readable = http_readable,
	.on_writable = http_writable,
	.on_timeout = conn_close_timed_out,
	.on_drain = http_drain,
	.can_hand_over = conn_between_requests,
	.on_close = http_close,
	.release_fds = http_release_fds,
};
