/* http_file.c - static files below the document root: resolving the path
 * (a directory's index.html, the redirect to its final slash), validators
 * and ranges, precompressed copies, the head, a small body read into the
 * batch and a large one
 * sent with sendfile(2). It never parses a request and never decides
 * whether the connection stays open: proto_http.c does both; nor does it
 * judge preconditions: http_cond.c does. */
#include "autoconfig.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "conn.h"
#include "http_coding.h"
#include "http_cond.h"
#include "log.h"
#include "mime.h"
#include "proto_http.h"
#include "util.h"

/* sendfile(2) chunk per call: large enough to be cheap, small enough that
 * one big file does not hold the loop while others wait. */
#define HTTP_SENDFILE_CHUNK (512u * 1024)

/* The part of a file an answer carries, and what its head says of it. */
struct file_part {
	int status; /* 200 or 206 */
	uint64_t start, end, length;
	enum http_coding coding; /* a precompressed copy's, or identity */
	int vary; /* precompressed is on: Vary: Accept-Encoding */
	char last_modified[HTTP_DATE_LEN + 1];
	char etag[HTTP_ETAG_MAX];
};

/* The precompressed copies of a file: its name with these suffixes. */
static const char *const coding_suffix[] = {
	[HTTP_CODING_IDENTITY] = "",
	[HTTP_CODING_GZIP] = ".gz",
	[HTTP_CODING_BR] = ".br",
};
/* What tells their entity-tags apart (the copy is another file, but a
 * hard link could make it the same one). */
static const char *const coding_tag[] = {
	[HTTP_CODING_IDENTITY] = "",
	[HTTP_CODING_GZIP] = "gz",
	[HTTP_CODING_BR] = "br",
};

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
	case EXDEV: /* would leave the root: say nothing more */
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

/* A directory stands for its index.html, when named with its final
 * slash. Takes over dirfd. Returns the index's fd with *st filled, or
 * minus the status to answer with. */
static int open_index(int dirfd, const char *path, struct stat *st)
{
	int fd, e;

	if (path[strlen(path) - 1] != '/') {
		close(dirfd);
		return -301;
	}
	fd = open_beneath(dirfd, "index.html");
	e = errno;
	close(dirfd);
	if (fd < 0) /* a directory without an index is not listed */
		return e == ENOENT ? -403 : -errno_status(e);
	if (fstat(fd, st) < 0) {
		close(fd);
		return -500;
	}
	return fd;
}

/* Opens the regular file path names below the document root. Returns its
 * fd with *st filled and *is_index set when it is a directory's index, or
 * minus the status to answer with (301: a directory named without its
 * final slash). */
static int open_target(int docroot_fd, const char *path, struct stat *st,
		       int *is_index)
{
	int fd = open_beneath(docroot_fd, path[1] ? path + 1 : ".");

	if (fd < 0)
		return -errno_status(errno);
	if (fstat(fd, st) < 0) {
		close(fd);
		return -500;
	}
	*is_index = S_ISDIR(st->st_mode);
	if (*is_index) {
		fd = open_index(fd, path, st);
		if (fd < 0)
			return fd;
	}
	if (!S_ISREG(st->st_mode)) {
		close(fd);
		return -403;
	}
	return fd;
}

static int older(const struct stat *a, const struct stat *b)
{
	return a->st_mtim.tv_sec < b->st_mtim.tv_sec ||
	       (a->st_mtim.tv_sec == b->st_mtim.tv_sec &&
		a->st_mtim.tv_nsec < b->st_mtim.tv_nsec);
}

/* With precompressed on: the copy of the file (name, below the root) in
 * the best coding the request accepts that exists, is a regular file
 * and is not older than the file - a stale copy is never sent. It takes
 * the place of *fd and *st; returns its coding, or identity. One openat2
 * per coding tried, and only codings the client accepts are tried. */
static enum http_coding open_precompressed(
	int docroot_fd, const struct http_request *req, const char *name,
	int *fd, struct stat *st)
{
	enum http_coding want[2];
	int n = http_codings_accepted(&req->accept_encoding, want);
	char path[HTTP_PATH_MAX + 16];

	for (int i = 0; i < n; i++) {
		struct stat cst;
		int cfd;

		snprintf(path, sizeof(path), "%s%s", name, coding_suffix[want[i]]);
		cfd = open_beneath(docroot_fd, path);
		if (cfd < 0)
			continue;
		if (fstat(cfd, &cst) == 0 && S_ISREG(cst.st_mode) &&
		    !older(&cst, st)) {
			close(*fd);
			*fd = cfd;
			*st = cst;
			return want[i];
		}
		close(cfd);
	}
	return HTTP_CODING_IDENTITY;
}

/* The answer when no file is served: an error, or the redirect to the
 * directory's name with its slash. path is decoded (http_parser.h): a
 * directory named "q?dir" must be sent back as /q%3Fdir/, or the client
 * asks for /q with a query. */
static int put_unservable(struct http_worker *hw, const struct http_answer *ans,
			  const char *path, int status)
{
	char enc[3 * HTTP_PATH_MAX], loc[sizeof(enc) + 16];

	if (status != 301)
		return http_put_error(hw, ans, status);
	if (http_encode_path(path, enc, sizeof(enc)) < 0)
		return -1; /* cannot be: any path fits thrice */
	snprintf(loc, sizeof(loc), "Location: %s/\r\n", enc);
	return http_put_text(hw, ans, 301, "text/plain; charset=utf-8",
			     "301 Moved Permanently\n", 22, loc);
}

/* Appends the header lines that identify the version of the file an
 * answer is about, the same on 200, 206 and 304 (RFC 9110 15.4.5), at
 * p; returns the end. Copies, not snprintf: this is every answer's
 * work. out needs HTTP_DATE_LEN + HTTP_ETAG_MAX + 64 bytes. */
static char *put_validators(char *p, const struct file_part *part)
{
	p = stpcpy(p, "Last-Modified: ");
	p = stpcpy(p, part->last_modified);
	p = stpcpy(p, "\r\nETag: ");
	p = stpcpy(p, part->etag);
	p = stpcpy(p, "\r\n");
	if (part->vary)
		p = stpcpy(p, "Vary: Accept-Encoding\r\n");
	return p;
}

/* The answer the request's preconditions call for instead of the file
 * (RFC 9110 13.2.2), in the batch: 304 with the validators, or 412. */
static int put_unmet(struct http_worker *hw, const struct http_answer *ans,
		     enum http_cond c, uint64_t size, const struct file_part *part)
{
	char extra[256];

	if (c == HTTP_COND_FAILED) {
		hw->stats->precondition_failed++;
		return http_put_error(hw, ans, 412);
	}
	hw->stats->not_modified++;
	put_validators(extra, part);
	return http_put_head(hw, ans, 304, NULL, size, extra);
}

/* Applies the request's preconditions and range to the file. 1: *part
 * says what to send; else the whole answer (304, 412, 416) is in the
 * batch: 0, or -1 when it could not be built. */
static int choose_part(struct http_worker *hw, const struct http_request *req,
		       const struct http_answer *ans, const struct stat *st,
		       struct file_part *part)
{
	struct http_validators v = { .etag = part->etag,
				     .last_modified = st->st_mtime };
	uint64_t size = (uint64_t)st->st_size;
	enum http_cond c;
	char extra[128];

	part->status = 200;
	part->start = 0;
	part->end = size ? size - 1 : 0;
	http_format_date(st->st_mtime, part->last_modified,
			 sizeof(part->last_modified));
	v.etag_len = http_etag(part->etag, (uint64_t)st->st_ino, size,
			       &st->st_mtim, coding_tag[part->coding]);
	/* The clock only for If-Range's date (vDSO, but every request). */
	c = http_cond_evaluate(req, &v, req->if_range.v ? time(NULL) : 0);
	if (c == HTTP_COND_NOT_MODIFIED || c == HTTP_COND_FAILED)
		return put_unmet(hw, ans, c, size, part);
	if (c == HTTP_COND_RANGE && req->has_range && req->method == HTTP_GET) {
		int r = http_parse_range(req->range, size, &part->start,
					 &part->end);

		if (r < 0) {
			snprintf(extra, sizeof(extra),
				 "Content-Range: bytes */%llu\r\n",
				 (unsigned long long)size);
			return http_put_text(hw, ans, 416,
					     "text/plain; charset=utf-8",
					     "416 Range Not Satisfiable\n", 26,
					     extra);
		}
		if (r > 0)
			part->status = 206;
	}
	part->length = size ? part->end - part->start + 1 : 0;
	return 1;
}

/* Reads a small body into hw->small before its head is written, so a file
 * that shrank since fstat() gets a clean error, not a short body. */
static int read_small(struct http_worker *hw, int fd,
		      const struct file_part *part, const char *path)
{
	ssize_t n;

	do
		n = pread(fd, hw->small, (size_t)part->length, (off_t)part->start);
	while (n < 0 && errno == EINTR);
	if (n == (ssize_t)part->length)
		return 0;
	log_warn("%s: read %zd of %llu bytes (%s)", path, n,
		 (unsigned long long)part->length,
		 n < 0 ? strerror(errno) : "the file shrank");
	return -1;
}

/* The head of the file named name (its type comes from there: the file
 * served, not the request's path). */
static int put_file_head(struct http_worker *hw, const struct http_answer *ans,
			 const char *name, const struct stat *st,
			 const struct file_part *part)
{
	char extra[512];
	char *p = stpcpy(put_validators(extra, part), "Accept-Ranges: bytes\r\n");

	if (part->coding) {
		p = stpcpy(p, "Content-Encoding: ");
		p = stpcpy(p, http_coding_name(part->coding));
		p = stpcpy(p, "\r\n");
	}
	if (part->status == 206)
		snprintf(p, sizeof(extra) - (size_t)(p - extra),
			 "Content-Range: bytes %llu-%llu/%llu\r\n",
			 (unsigned long long)part->start,
			 (unsigned long long)part->end,
			 (unsigned long long)st->st_size);
	return http_put_head(hw, ans, part->status, mime_type(hw->mime, name),
			     part->length, extra);
}

int http_file_serve(struct http_worker *hw, struct http_conn *hc,
		    const struct http_request *req, const struct http_answer *ans)
{
	struct file_part part = { .coding = HTTP_CODING_IDENTITY };
	struct stat st;
	int is_index, r, small;
	int fd = open_target(hw->docroot_fd, req->path, &st, &is_index);
	char name[HTTP_PATH_MAX + 16];

	if (fd < 0)
		return put_unservable(hw, ans, req->path, -fd);
	if (hw->cfg->precompressed) {
		part.vary = 1;
		snprintf(name, sizeof(name), "%s%s", req->path + 1,
			 is_index ? "index.html" : "");
		part.coding = open_precompressed(hw->docroot_fd, req, name, &fd,
						 &st);
		hw->stats->precompressed += part.coding != HTTP_CODING_IDENTITY;
	}
	r = choose_part(hw, req, ans, &st, &part);
	if (r <= 0) {
		close(fd);
		return r;
	}
	small = !ans->head_only && part.length > 0 &&
		part.length <= HTTP_SMALL_BODY;
	if (small && read_small(hw, fd, &part, req->path) < 0) {
		close(fd);
		return http_put_error(hw, ans, 500);
	}
	if (put_file_head(hw, ans, is_index ? "index.html" : req->path, &st,
			  &part) < 0) {
		close(fd);
		return -1;
	}
	if (ans->head_only || part.length == 0 || small) {
		close(fd);
		return small ? buf_append(&hw->batch, hw->small,
					  (size_t)part.length) :
			       0;
	}
	hc->file_fd = fd;
	hc->file_off = (off_t)part.start;
	hc->file_end = (off_t)(part.start + part.length);
	return 1;
}

int http_file_send(struct conn *c, struct http_conn *hc)
{
	for (;;) {
		size_t chunk = (size_t)UTIL_MIN((off_t)HTTP_SENDFILE_CHUNK,
						hc->file_end - hc->file_off);
		ssize_t n = sendfile(conn_fd(c), hc->file_fd, &hc->file_off,
				     chunk);

		if (n < 0 && errno == EINTR)
			continue;
		/* The socket is full: wait for it, never read the file ahead
		 * into memory. conn.c runs the send timeout meanwhile. */
		if (n < 0 && errno == EAGAIN)
			return conn_want_write(c) < 0 ? -1 : 0;
		if (n <= 0) {
			/* Error, or the file shrank under us: the length we
			 * promised cannot be kept, so the connection ends. */
			conn_close(c);
			return -1;
		}
		/* Progress: it restarts the send timeout. */
		conn_count_out(c, (uint64_t)n);
		if (hc->file_off >= hc->file_end) {
			close(hc->file_fd);
			hc->file_fd = -1;
			return 1;
		}
		/* One chunk per wake-up: a fast reader of a big file must
		 * not keep the other connections of this worker waiting. */
		return conn_want_write(c) < 0 ? -1 : 0;
	}
}
