/* http_fcache.h - a worker's open-file cache: what a path below a
 * document root resolved to (a file's descriptor and fstat, or the status
 * it was answered with), kept so that a hot file costs no openat2, fstat
 * or close. Bounded (least recently used out first), trusted for a
 * validity time and then checked with one fstatat; entries unused for the
 * inactive time are closed. It opens nothing itself: http_file.c
 * resolves, the cache keeps. Prefix fcache_. */
#ifndef RP_HTTP_FCACHE_H
#define RP_HTTP_FCACHE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <time.h>

struct stats_counters;

/* Longest path kept; longer ones are resolved every time. */
#define FCACHE_PATH_MAX 1100
/* Largest file whose bytes an entry keeps (fcache_keep_body): the size
 * of the bodies an answer copies after its head instead of sending them
 * with sendfile (proto_http.h's HTTP_SMALL_BODY). */
#define FCACHE_BODY_MAX (16u * 1024)
/* A file whose status last changed less than this many seconds ago may
 * be written again within the same timestamp (the kernel's file times
 * are coarse): its bytes are not kept, lest a second write leave a
 * stale copy with a stat that still matches. Git's "racily clean" rule. */
#define FCACHE_SETTLE_SECONDS 2

/* Room for an entry's memo (struct fcache_file). */
#define FCACHE_MEMO_MAX 112

/* What a path resolved to. */
struct fcache_file {
	int fd;       /* the file, O_RDONLY; -1: none, status says why */
	int status;   /* 0 for a file, else its answer: 404, 403, 301 */
	int is_index; /* fd is the index.html of the directory path names */
	struct stat st;
	/* The whole file as of st (st.st_size bytes), once fcache_keep_body
	 * took it; NULL: read it from fd. Dropped when a check finds the
	 * file's size or times changed. */
	const char *body;
	/* What an answer makes of st alone (http_file.c: the validators and
	 * the type), kept by fcache_keep_memo under a key of the caller's;
	 * memo_key 0: none. Dropped with the body. */
	unsigned memo_key;
	_Alignas(8) unsigned char memo[FCACHE_MEMO_MAX];
};

struct fcache;

/* A cache of at most max entries (max > 0), keeping at most body_max
 * bytes of small files' contents (0: none); times in milliseconds.
 * hits, misses and evictions are counted in stats. NULL: out of memory. */
struct fcache *fcache_new(unsigned max, size_t body_max, uint64_t valid_ms,
			  uint64_t inactive_ms, struct stats_counters *stats);
/* Closes every descriptor it holds. NULL is allowed. */
void fcache_free(struct fcache *fc);

/* The entry of path[0..len) below the root whose descriptor is root (a
 * root is told apart by its descriptor, which lives as long as the
 * worker), as of now. One checked longer than valid_ms ago is checked
 * first: a file by fstatat(root, its path) - the same inode keeps its
 * descriptor with the new stat, another (replaced, removed) drops the
 * entry; a status is dropped. NULL when there is none (a miss); the entry
 * stays the cache's, valid until the next call that may close one
 * (fcache_get, fcache_put, fcache_drop, fcache_expire, fcache_shrink). */
const struct fcache_file *fcache_get(struct fcache *fc, int root,
				     const char *path, size_t len, uint64_t now);
/* Keeps what path resolved to, checked now; takes f->fd on success. The
 * least recently used entry is closed if the cache is full. Returns the
 * stored copy, or NULL (out of memory, path too long): f->fd stays the
 * caller's. */
const struct fcache_file *fcache_put(struct fcache *fc, int root,
				     const char *path, size_t len,
				     const struct fcache_file *f, uint64_t now);
/* An answer holds the entry f (from fcache_get or fcache_put) while it
 * uses it: until fcache_release, nothing closes it to make room for
 * another (fcache_put, fcache_shrink, fcache_expire) - a file found is
 * kept while its precompressed copies are looked up. The holder does
 * not look its entry up again meanwhile (a check could close it). A
 * fcache_put into a cache whose every entry is held stores nothing. */
void fcache_hold(struct fcache *fc, const struct fcache_file *f);
void fcache_release(struct fcache *fc, const struct fcache_file *f);
/* Closes the entry f, held or not (its holder's own call): what it says
 * is known to be out of date. */
void fcache_drop(struct fcache *fc, const struct fcache_file *f);
/* Closes the entries unused for inactive_ms. Returns the milliseconds
 * until the next one will be (inactive_ms when only held ones are left),
 * or 0 when the cache is empty. */
uint64_t fcache_expire(struct fcache *fc, uint64_t now);
/* Out of descriptors: closes the least recently used half of the entries
 * no answer holds (one, when one is all there is). Returns how many were
 * closed. */
unsigned fcache_shrink(struct fcache *fc);
/* The entry f (the caller's, from fcache_get or fcache_put) keeps a copy
 * of data[0..len), just read from its descriptor, so that its next
 * answers need no read: only the whole of a file of at most
 * FCACHE_BODY_MAX bytes (len == st_size), settled (its ctime at least
 * FCACHE_SETTLE_SECONDS before now_wall), within the budget. Returns 1
 * when kept, else 0 (the answer reads, as before). Until the next check
 * of the entry its answers come from the copy: a change on disk is seen
 * within the validity time, as every other change is. */
int fcache_keep_body(struct fcache *fc, const struct fcache_file *f,
		     const char *data, size_t len, time_t now_wall);
/* The entry f (as for fcache_keep_body) keeps len bytes of data, a
 * function of f->st, under key (not 0; len <= FCACHE_MEMO_MAX) until a
 * check finds the file's size or times changed: its next answers need
 * not make them again. */
void fcache_keep_memo(struct fcache *fc, const struct fcache_file *f,
		      unsigned key, const void *data, size_t len);
/* Bytes of file contents kept now. */
size_t fcache_body_bytes(const struct fcache *fc);
/* Entries held now. */
unsigned fcache_count(const struct fcache *fc);

#endif
