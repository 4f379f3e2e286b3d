/* proto_http.h - what the three files of the HTTP service share: the
 * worker's HTTP state, a connection's HTTP state and the answer being
 * built. Only proto_http.c, http_answer.c and http_file.c include it; the
 * rest of the daemon knows the service as proto_http (proto.h). */
#ifndef RP_PROTO_HTTP_H
#define RP_PROTO_HTTP_H

#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "access_log.h"
#include "buf.h"
#include "http_parser.h"
#include "loop.h"

struct config;
struct conn;
struct fcache;
struct http_vhost;
struct http_vhosts;
struct mime_table;
struct stats_counters;

/* A body up to this size is read into the batch and leaves with its head
 * in one send; a larger one goes by sendfile(2), which pays for itself
 * only past a few pages. */
#define HTTP_SMALL_BODY (16u * 1024)
/* The answers to pipelined requests leave together, but once the batch
 * holds this much no more request is parsed until it has gone: what the
 * socket refuses of it is queued on the connection (conn_send), so this
 * bounds the output one connection can leave in the worker - with the
 * answer that crossed it, at most HTTP_SMALL_BODY and a head more. */
#define HTTP_BATCH_MAX (16u * 1024)
/* At most this much is read at a time: bytes read that cannot be
 * answered yet are kept (struct http_conn's in), the rest waits in the
 * kernel. A head larger than one read is joined over several, up to the
 * parser's limits. */
#define HTTP_READ_MAX (16u * 1024)

/* A request whose answer waits for its chunked body: a malformed or
 * oversized body must still be answered with its 400 or 413. */
struct http_pending {
	struct http_chunked ck;
	struct http_request req;     /* req.host is NULL: the input moved on */
	const struct http_vhost *vh; /* chosen by the head's host */
	char *log_head; /* the access log's copy of the head; NULL: none */
	uint32_t log_head_len;
};

/* A connection's HTTP state, allocated only while a request is partly
 * read, a body is being skipped or a file is being sent. */
struct http_conn {
	char *in; /* unparsed bytes (a partial head, pipelined rest) */
	uint32_t inlen, incap;
	uint64_t body_left;           /* request body bytes still to skip */
	struct http_pending *pending; /* a chunked body is being read */
	int file_fd;                  /* -1: no file in flight */
	off_t file_off, file_end;
	uint8_t close_after; /* close once the output is out */
	uint8_t linger;    /* unread input may follow: linger before closing */
	uint8_t lingering; /* output done, write side shut, reading to EOF */
	uint8_t corked;    /* the last answer was sent with MSG_MORE */
	uint8_t waited;    /* the answer took more than one turn */
	/* The access log (alog): when the request's first bytes were
	 * read; a file answer's line, written once the file is sent. */
	uint64_t log_start_us;
	struct http_log_due *log_due; /* NULL: none due */
	int log_status;
	off_t log_file_start;
};

/* A file answer's line, due once its body has gone: the client's address
 * as it was when the file began, and a copy of the request's head. */
struct http_log_due {
	struct alog_addr addr;
	uint32_t head_len;
	char head[];
};

/* What the answers to one request have in common. */
struct http_answer {
	uint8_t head_only;     /* HEAD: the head without its body */
	uint8_t last;          /* Connection: close, and the connection ends */
	uint8_t keep_alive_10; /* HTTP/1.0 kept open: must say keep-alive */
};

/* The fixed answer's bytes for one second and variant (http_put_fixed). */
struct http_fixed {
	time_t date_t; /* the Date second they were built in */
	int status;
	uint32_t len, body;
	char bytes[2048 + 1024];
};

/* The worker's HTTP state, its protocol context (conn_proto_ctx). */
struct http_worker {
	const struct config *cfg;
	struct stats_counters *stats;
	struct http_limits limits;
	/* The document root of the request being answered, which
	 * http_file_serve reads: the vhost's, or default_fd. */
	int docroot_fd;
	int default_fd;             /* docroot's; -1: the fixed answer */
	struct http_vhosts *vhosts; /* NULL: no vhost configured */
	/* Content-Types: the configuration's, else own_mime, built here. */
	const struct mime_table *mime;
	struct mime_table *own_mime;
	/* The open-file cache (http_fcache.h; NULL: off) and its timer,
	 * which closes unused entries, on the worker's loop (known from the
	 * first request, hc_get; NULL before). */
	struct fcache *fcache;
	struct loop_timer fcache_timer;
	struct loop *loop;
	int draining;
	struct buf batch; /* the answers to one batch of pipelined requests */
	/* The body of the batch's last answer when it is a cached file's
	 * bytes (http_file.c): sent after the batch from where they are,
	 * in the same sendmsg, not copied into it - the copy was the
	 * largest of the worker's own costs on 4 KiB keep-alive answers.
	 * The cache may drop them at its next lookup, and nothing may come
	 * between them and the batch: the next request's answer copies
	 * them in first (http_batch_settle). NULL: none. */
	const char *tail;
	size_t tail_len;
	struct http_conn *spare; /* one freed state, reused (hc_get) */
	/* The last answer built: its status and the body bytes it carries
	 * (the access log's). */
	int ans_status;
	uint64_t ans_body;
	time_t date_t;
	char date[40];
	struct http_fixed fixed[8]; /* by variant, see http_put_fixed */
	/* A small body on its way to the batch, and a byte to tell that a
	 * cached file grew (http_file.c, read_small). */
	char small[HTTP_SMALL_BODY + 1];
};

/* Copies hw->tail into the batch: 0, or -1 when out of memory. */
int http_batch_settle(struct http_worker *hw);

/* http_answer.c: each appends one answer to hw->batch and counts it;
 * 0, or -1 when it cannot be built. */
int http_put_head(struct http_worker *hw, const struct http_answer *ans,
		  int status, const char *type, uint64_t length,
		  const char *extra);
int http_put_text(struct http_worker *hw, const struct http_answer *ans,
		  int status, const char *type, const char *body, size_t len,
		  const char *extra);
int http_put_error(struct http_worker *hw, const struct http_answer *ans,
		   int status);
/* The configured fixed answer (--return, or the built-in page). */
int http_put_fixed(struct http_worker *hw, const struct http_answer *ans);

/* http_file.c: answers req from the document root. 1: the head is in the
 * batch and the body is to follow it from hc->file_fd (the caller sends
 * the batch, then http_file_send); 0: the whole answer is in the batch;
 * -1: it could not be built. */
int http_file_serve(struct http_worker *hw, struct http_conn *hc,
		    const struct http_request *req, const struct http_answer *ans);
/* The worker's open-file cache, sized for cfg and the open-files limit
 * (syslimits.h); 0, or -1 with the reason in err. */
int http_file_init(struct http_worker *hw, char *err, size_t errlen);
void http_file_fini(struct http_worker *hw);
/* Out of descriptors: the cache closes the older half of its entries;
 * how many. */
unsigned http_file_release_fds(struct http_worker *hw);
/* Sends the next chunk of the file in flight. 1: the file is done;
 * 0: waiting for the socket (on_writable comes back); -1: closed. */
int http_file_send(struct conn *c, struct http_conn *hc);

#endif
