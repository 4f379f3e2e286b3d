/* http_file.c - static files below the document root: resolving the path
 * (a directory's index.html, the redirect to its final slash) through the
 * open-file cache, validators and ranges, precompressed copies, the head,
 * a small body read into the batch and a large one
 * sent with sendfile(2). It never parses a request and never decides
 * whether the connection stays open: proto_http.c does both; nor does it
 * judge preconditions: http_cond.c does. */
#include "autoconfig.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <string.h>
#include <limits.h>
#include <sys/resource.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "conn.h"
#include "http_coding.h"
#include "http_cond.h"
#include "http_fcache.h"
#include "log.h"
#include "loop.h"
#include "mime.h"
#include "proto_http.h"
#include "syslimits.h"
#include "util.h"

/* sendfile(2) chunk per call: large enough to be cheap, small enough that
 * one big file does not hold the loop while others wait. */
#define HTTP_SENDFILE_CHUNK (512u * 1024)

/* What an answer makes of its file's stat and name alone: made once for
 * each version of a cached file (fcache_keep_memo), not for each answer -
 * the dates' and the entity-tag's printing and the type's lookup were a
 * tenth of the worker's own code on the static keep-alive path. */
struct file_memo {
	char last_modified[HTTP_DATE_LEN + 1];
	char etag[HTTP_ETAG_MAX];
	size_t etag_len;
	const char *type; /* the worker's MIME table's, which outlives it */
};
_Static_assert(sizeof(struct file_memo) <= FCACHE_MEMO_MAX,
	       "struct file_memo must fit an entry's memo");

/* The part of a file an answer carries, and what its head says of it. */
struct file_part {
	int status; /* 200 or 206 */
	uint64_t start, end, length;
	enum http_coding coding; /* a precompressed copy's, or identity */
	int vary; /* precompressed is on: Vary: Accept-Encoding */
	const struct file_memo *id;
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

/* What a path resolved to, for one answer: an entry of the open-file
 * cache, which the answer holds until target_done, or its own when the
 * cache is off or did not keep it (own.fd is then closed there). */
struct target {
	const struct fcache_file *f; /* &own, or the cache's */
	struct fcache_file own;
	int hit; /* f was cached before this answer: its stat may be old */
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

/* Out of descriptors: may the call be made once more, now that the
 * open-file cache has closed some of its own? */
static int retry_fds(struct http_worker *hw)
{
	return (errno == EMFILE || errno == ENFILE) && hw->fcache &&
	       fcache_shrink(hw->fcache) > 0;
}

/* open_beneath; out of descriptors, once more after the open-file cache
 * has given some of its own back. */
static int open_below(struct http_worker *hw, int dirfd, const char *path)
{
	int fd = open_beneath(dirfd, path);

	if (fd < 0 && retry_fds(hw))
		fd = open_beneath(dirfd, path);
	return fd;
}

/* A directory stands for its index.html, when named with its final
 * slash. Takes over dirfd. Returns the index's fd with *st filled, or
 * minus the status to answer with. */
static int open_index(struct http_worker *hw, int dirfd, const char *path,
		      struct stat *st)
{
	int fd, e;

	if (path[strlen(path) - 1] != '/') {
		close(dirfd);
		return -301;
	}
	fd = open_below(hw, dirfd, "index.html");
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
static int open_target(struct http_worker *hw, const char *path,
		       struct stat *st, int *is_index)
{
	int fd = open_below(hw, hw->docroot_fd, path[1] ? path + 1 : ".");

	if (fd < 0)
		return -errno_status(errno);
	if (fstat(fd, st) < 0) {
		close(fd);
		return -500;
	}
	*is_index = S_ISDIR(st->st_mode);
	if (*is_index) {
		fd = open_index(hw, fd, path, st);
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

/* The open-file cache's clock: the loop's, read once per turn; without
 * a loop (a worker state driven by a unit test), the clock's. */
static uint64_t cache_now(const struct http_worker *hw)
{
	return hw->loop ? loop_now(hw->loop) : util_now_ms();
}

/* Closes the entries unused for open_file_cache_inactive, and comes back
 * for the next ones - not before a second, so that entries close in
 * batches rather than a timer each. */
static void cache_tick(struct loop_timer *t)
{
	struct http_worker *hw = util_container_of(t, struct http_worker,
						   fcache_timer);
	uint64_t inactive = (uint64_t)hw->cfg->open_file_cache_inactive_ms;
	uint64_t next = fcache_expire(hw->fcache, loop_now(hw->loop));

	if (next)
		loop_timer_arm(hw->loop, t,
			       UTIL_MAX(next, UTIL_MIN(1000, inactive)));
}

/* Looks key up in the cache into t: 1 when found (and then held). */
static int target_cached(struct http_worker *hw, const char *key, size_t len,
			 struct target *t)
{
	t->hit = 0;
	t->f = &t->own;
	if (!hw->fcache || !(t->f = fcache_get(hw->fcache, hw->docroot_fd, key,
					       len, cache_now(hw)))) {
		t->f = &t->own;
		memset(&t->own, 0, sizeof(t->own));
		return 0;
	}
	fcache_hold(hw->fcache, t->f);
	t->hit = 1;
	return 1;
}

/* t->own, just resolved, goes into the cache when it takes it. */
static void target_keep(struct http_worker *hw, const char *key, size_t len,
			struct target *t)
{
	const struct fcache_file *c;

	if (!hw->fcache)
		return;
	c = fcache_put(hw->fcache, hw->docroot_fd, key, len, &t->own,
		       cache_now(hw));
	if (!c)
		return;
	t->f = c;
	fcache_hold(hw->fcache, c);
	if (hw->loop && !loop_timer_armed(&hw->fcache_timer))
		loop_timer_arm(hw->loop, &hw->fcache_timer,
			       (uint64_t)hw->cfg->open_file_cache_inactive_ms);
}

/* The answer is done with t: the cache's entry released, its own file
 * closed. */
static void target_done(struct http_worker *hw, struct target *t)
{
	if (t->f != &t->own)
		fcache_release(hw->fcache, t->f);
	else if (t->own.fd >= 0)
		close(t->own.fd);
	t->f = &t->own;
	t->own.fd = -1;
}

static void target_move(struct target *to, struct target *from)
{
	*to = *from;
	if (from->f == &from->own)
		to->f = &to->own;
	from->f = &from->own;
	from->own.fd = -1;
}

/* The request's path, from the cache or the disk: a file, or the
 * status to answer with; every status but 500 is cached too. */
static void find_target(struct http_worker *hw, const char *path, struct target *t)
{
	size_t len = strlen(path + 1);
	int fd;

	if (target_cached(hw, path + 1, len, t))
		return;
	fd = open_target(hw, path, &t->own.st, &t->own.is_index);
	t->own.fd = fd >= 0 ? fd : -1;
	t->own.status = fd >= 0 ? 0 : -fd;
	if (t->own.status != 500)
		target_keep(hw, path + 1, len, t);
}

/* A precompressed copy, name below the root, as find_target for it:
 * open when it is a regular file, else a status. Only "no such file" is
 * cached besides files: a directory or a FIFO of that name is no copy to
 * send, but its 403 would not be the answer a request for it gets. */
static void find_copy(struct http_worker *hw, const char *name, size_t len,
		      struct target *t)
{
	int fd;

	if (target_cached(hw, name, len, t))
		return;
	t->own.fd = -1;
	fd = open_below(hw, hw->docroot_fd, name);
	if (fd < 0) {
		t->own.status = errno_status(errno);
		if (t->own.status == 404)
			target_keep(hw, name, len, t);
		return;
	}
	if (fstat(fd, &t->own.st) < 0 || !S_ISREG(t->own.st.st_mode)) {
		close(fd);
		t->own.status = 403;
		return;
	}
	t->own.fd = fd;
	target_keep(hw, name, len, t);
}

/* With precompressed on: the copy of the file (name, below the root) in
 * the best coding the request accepts that exists, is a regular file
 * and is not older than the file - a stale copy is never sent. It takes
 * the place of *t; returns its coding, or identity. Only codings the
 * client accepts are tried: one lookup each, in the cache or on disk
 * (openat2, and fstat when the copy exists). */
static enum http_coding find_precompressed(struct http_worker *hw,
					   const struct http_request *req,
					   const char *name, struct target *t)
{
	enum http_coding want[2];
	int n = http_codings_accepted(&req->accept_encoding, want);
	char path[HTTP_PATH_MAX + 16];

	for (int i = 0; i < n; i++) {
		struct target c;
		int len = snprintf(path, sizeof(path), "%s%s", name,
				   coding_suffix[want[i]]);

		find_copy(hw, path, (size_t)len, &c);
		if (c.f->fd >= 0 && !older(&c.f->st, &t->f->st)) {
			target_done(hw, t);
			target_move(t, &c);
			return want[i];
		}
		target_done(hw, &c);
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
	p = stpcpy(p, part->id->last_modified);
	p = stpcpy(p, "\r\nETag: ");
	p = stpcpy(p, part->id->etag);
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
	struct http_validators v = { .etag = part->id->etag,
				     .etag_len = part->id->etag_len,
				     .last_modified = st->st_mtime };
	uint64_t size = (uint64_t)st->st_size;
	enum http_cond c;
	char extra[128];

	part->status = 200;
	part->start = 0;
	part->end = size ? size - 1 : 0;
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

/* A cached stat found out of date while the file was answered from it:
 * the file was rewritten in place within the validity time. Nothing of
 * the answer is in the batch yet; it is built again from the disk. */
#define FILE_STALE (-2)

/* Reads a small body into hw->small before its head is written, so a file
 * that shrank since fstat() gets a clean error, not a short body. From a
 * cached file whose stat may be old (t->hit), a read to the end asks for
 * one byte more: a file rewritten in place to another size is then seen
 * at no cost (FILE_STALE) before a head with its old length and ETag
 * leaves with its new bytes. */
static int read_small(struct http_worker *hw, const struct target *t,
		      const struct file_part *part, const char *path)
{
	size_t want = (size_t)part->length;
	ssize_t n;

	if (t->hit && part->end + 1 == (uint64_t)t->f->st.st_size)
		want++;
	do
		n = pread(t->f->fd, hw->small, want, (off_t)part->start);
	while (n < 0 && errno == EINTR);
	if (n == (ssize_t)part->length)
		return 0;
	if (t->hit && n >= 0)
		return FILE_STALE;
	log_warn("%s: read %zd of %llu bytes (%s)", path, n,
		 (unsigned long long)part->length,
		 n < 0 ? strerror(errno) : "the file shrank");
	return -1;
}

/* The same for a cached file sent with sendfile: one fstat, little beside
 * the send, tells whether it changed in place. */
static int large_stale(const struct target *t)
{
	struct stat st;

	return t->hit && fstat(t->f->fd, &st) == 0 &&
	       (st.st_size != t->f->st.st_size ||
		st.st_mtim.tv_sec != t->f->st.st_mtim.tv_sec ||
		st.st_mtim.tv_nsec != t->f->st.st_mtim.tv_nsec);
}

/* The descriptor a large body is sent from, which the connection closes
 * once it is sent: the answer's own, or a duplicate of the cache's - a
 * slow download outlives its entry (evicted, found changed), and never
 * holds the cache's descriptor. -1 when none can be had. */
static int send_fd(struct http_worker *hw, struct target *t)
{
	int fd;

	if (t->f == &t->own) {
		fd = t->own.fd;
		t->own.fd = -1;
		return fd;
	}
	fd = fcntl(t->f->fd, F_DUPFD_CLOEXEC, 0);
	if (fd < 0 && retry_fds(hw))
		fd = fcntl(t->f->fd, F_DUPFD_CLOEXEC, 0);
	return fd;
}

/* The head of the file (its type is the memo's: from the file served,
 * not the request's path). */
static int put_file_head(struct http_worker *hw, const struct http_answer *ans,
			 const struct stat *st, const struct file_part *part)
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
	return http_put_head(hw, ans, part->status, part->id->type,
			     part->length, extra);
}

/* The head and the body of part of t's file (path for the log): a small body in
 * the batch after the head (0), a large one left for http_file_send in
 * hc (1); -1, or FILE_STALE with nothing in the batch. */
static int put_file(struct http_worker *hw, struct http_conn *hc,
		    const struct http_answer *ans, struct target *t,
		    const struct file_part *part, const char *path)
{
	int body = !ans->head_only && part->length > 0;
	int small = body && part->length <= HTTP_SMALL_BODY;
	const char *bytes = hw->small;
	int r, fd = -1;

	if (small && t->f->body) {
		bytes = t->f->body + part->start;
		hw->stats->open_file_cache_body_hits++;
	} else if (small) {
		if ((r = read_small(hw, t, part, path)) < 0)
			return r == FILE_STALE ? r : http_put_error(hw, ans, 500);
		/* The whole of a cached file: its next answers copy it. */
		if (t->f != &t->own && part->start == 0)
			fcache_keep_body(hw->fcache, t->f, hw->small,
					 (size_t)part->length, time(NULL));
	}
	if (body && !small) {
		if (large_stale(t))
			return FILE_STALE;
		if ((fd = send_fd(hw, t)) < 0) {
			log_warn("%s: %s", path, strerror(errno));
			return http_put_error(hw, ans, 500);
		}
	}
	if (put_file_head(hw, ans, &t->f->st, part) < 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	if (!body)
		return 0;
	/* The cache's copy is sent from where it is (hw->tail). */
	if (small && bytes != hw->small) {
		hw->tail = bytes;
		hw->tail_len = (size_t)part->length;
		return 0;
	}
	if (small)
		return buf_append(&hw->batch, bytes, (size_t)part->length);
	hc->file_fd = fd;
	hc->file_off = (off_t)part->start;
	hc->file_end = (off_t)(part->start + part->length);
	return 1;
}

/* The memo of t's file, sent with coding and typed by name: the cached
 * entry's, made now if it has none for this coding, or *own. For a given
 * entry and coding the name is always the same file's (the entry's own,
 * or, for a copy, the file it is a copy of). */
static const struct file_memo *file_memo(
	struct http_worker *hw, const struct target *t, enum http_coding coding,
	const char *name, struct file_memo *own)
{
	const struct stat *st = &t->f->st;
	unsigned key = (unsigned)coding + 1;

	if (t->f != &t->own && t->f->memo_key == key)
		return (const struct file_memo *)(const void *)t->f->memo;
	http_format_date(st->st_mtime, own->last_modified,
			 sizeof(own->last_modified));
	own->etag_len = http_etag(own->etag, (uint64_t)st->st_ino,
				  (uint64_t)st->st_size, &st->st_mtim,
				  coding_tag[coding]);
	own->type = mime_type(hw->mime, name);
	if (t->f != &t->own)
		fcache_keep_memo(hw->fcache, t->f, key, own, sizeof(*own));
	return own;
}

/* One attempt at the answer; the coding of the copy chosen in *coding.
 * last: a stale cached stat gets a 500 rather than FILE_STALE. */
static int serve(struct http_worker *hw, struct http_conn *hc,
		 const struct http_request *req, const struct http_answer *ans,
		 int last, enum http_coding *coding)
{
	struct file_part part = { .coding = HTTP_CODING_IDENTITY };
	struct target t;
	struct file_memo memo;
	int is_index, r;
	char name[HTTP_PATH_MAX + 16];

	find_target(hw, req->path, &t);
	if (t.f->fd < 0) {
		r = put_unservable(hw, ans, req->path, t.f->status);
		target_done(hw, &t);
		return r;
	}
	is_index = t.f->is_index;
	if (hw->cfg->precompressed) {
		part.vary = 1;
		snprintf(name, sizeof(name), "%s%s", req->path + 1,
			 is_index ? "index.html" : "");
		part.coding = find_precompressed(hw, req, name, &t);
	}
	*coding = part.coding;
	part.id = file_memo(hw, &t, part.coding,
			    is_index ? "index.html" : req->path, &memo);
	r = choose_part(hw, req, ans, &t.f->st, &part);
	if (r > 0)
		r = put_file(hw, hc, ans, &t, &part, req->path);
	if (r == FILE_STALE) {
		/* Only a cached file is found stale: held, it is dropped. */
		fcache_drop(hw->fcache, t.f);
		t.f = &t.own;
		t.own.fd = -1;
		if (last)
			r = http_put_error(hw, ans, 500);
	}
	target_done(hw, &t);
	return r;
}

int http_file_serve(struct http_worker *hw, struct http_conn *hc,
		    const struct http_request *req, const struct http_answer *ans)
{
	enum http_coding coding = HTTP_CODING_IDENTITY;
	int r, tries = 0;

	/* A stale entry is dropped each time: the file and its copies are
	 * at most three. */
	do
		r = serve(hw, hc, req, ans, ++tries == 3, &coding);
	while (r == FILE_STALE);
	hw->stats->precompressed += coding != HTTP_CODING_IDENTITY;
	return r;
}

int http_file_init(struct http_worker *hw, char *err, size_t errlen)
{
	struct rlimit rl;
	long n;

	loop_timer_init(&hw->fcache_timer, cache_tick);
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		rl.rlim_cur = 1024;
	n = limits_open_file_cache(hw->cfg, rl.rlim_cur == RLIM_INFINITY ?
						    LONG_MAX :
						    (long)rl.rlim_cur);
	if (n <= 0)
		return 0;
	hw->fcache = fcache_new((unsigned)n,
				(size_t)hw->cfg->open_file_cache_content,
				(uint64_t)hw->cfg->open_file_cache_valid_ms,
				(uint64_t)hw->cfg->open_file_cache_inactive_ms,
				hw->stats);
	if (!hw->fcache) {
		snprintf(err, errlen, "open_file_cache: out of memory");
		return -1;
	}
	return 0;
}

unsigned http_file_release_fds(struct http_worker *hw)
{
	return hw->fcache ? fcache_shrink(hw->fcache) : 0;
}

void http_file_fini(struct http_worker *hw)
{
	if (hw->loop && loop_timer_armed(&hw->fcache_timer))
		loop_timer_disarm(hw->loop, &hw->fcache_timer);
	fcache_free(hw->fcache);
	hw->fcache = NULL;
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
