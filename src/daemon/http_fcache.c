/* http_fcache.c - the open-file cache (http_fcache.h): a hash of entries
 * by (root, path), chained, with a list in order of use for the bound and
 * the inactive time. Every operation is O(1) but the sweeps, which close
 * what they pass. It never opens a file and never decides what a path
 * means: it keeps what http_file.c found, and checks it with fstatat. */
#include "autoconfig.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "http_fcache.h"
#include "stats.h"
#include "util.h"

struct fcache_entry {
	struct fcache_file f;                /* what callers hold */
	struct fcache_entry *hnext, **hprev; /* its hash chain */
	struct fcache_entry *newer, *older;  /* the list in order of use */
	uint64_t checked; /* when f was resolved or last checked */
	uint64_t used;
	uint32_t holds; /* fcache_hold: not closed to make room */
	uint32_t hash;
	int root;
	uint32_t len;
	char path[]; /* len bytes and a NUL */
};

struct fcache {
	struct fcache_entry **buckets;
	uint32_t mask;
	unsigned count, max;
	size_t body_bytes, body_max;
	uint64_t valid_ms, inactive_ms;
	struct fcache_entry *newest, *oldest;
	struct stats_counters *stats;
};

/* FNV-1a over the path, then the root mixed in. */
static uint32_t key_hash(int root, const char *path, size_t len)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < len; i++) {
		h ^= (unsigned char)path[i];
		h *= 16777619u;
	}
	return h ^ ((uint32_t)root * 0x9e3779b1u);
}

struct fcache *fcache_new(unsigned max, size_t body_max, uint64_t valid_ms,
			  uint64_t inactive_ms, struct stats_counters *stats)
{
	struct fcache *fc = calloc(1, sizeof(*fc));
	uint32_t n = 16;

	if (!fc)
		return NULL;
	/* About one entry per bucket when full. */
	while (n < max && n < (1u << 30))
		n <<= 1;
	fc->buckets = calloc(n, sizeof(fc->buckets[0]));
	if (!fc->buckets) {
		free(fc);
		return NULL;
	}
	fc->mask = n - 1;
	fc->max = max ? max : 1;
	fc->body_max = body_max;
	fc->valid_ms = valid_ms;
	fc->inactive_ms = inactive_ms;
	fc->stats = stats;
	return fc;
}

static void list_unlink(struct fcache *fc, struct fcache_entry *e)
{
	if (e->newer)
		e->newer->older = e->older;
	else
		fc->newest = e->older;
	if (e->older)
		e->older->newer = e->newer;
	else
		fc->oldest = e->newer;
}

static void list_push(struct fcache *fc, struct fcache_entry *e)
{
	e->newer = NULL;
	e->older = fc->newest;
	if (fc->newest)
		fc->newest->newer = e;
	else
		fc->oldest = e;
	fc->newest = e;
}

static void body_free(struct fcache *fc, struct fcache_entry *e)
{
	if (!e->f.body)
		return;
	fc->body_bytes -= (size_t)e->f.st.st_size;
	free((char *)e->f.body);
	e->f.body = NULL;
}

/* Out of the table and the list, its descriptor closed. */
static void entry_close(struct fcache *fc, struct fcache_entry *e)
{
	body_free(fc, e);
	*e->hprev = e->hnext;
	if (e->hnext)
		e->hnext->hprev = e->hprev;
	list_unlink(fc, e);
	if (e->f.fd >= 0)
		close(e->f.fd);
	free(e);
	fc->count--;
}

void fcache_free(struct fcache *fc)
{
	if (!fc)
		return;
	while (fc->oldest)
		entry_close(fc, fc->oldest);
	free(fc->buckets);
	free(fc);
}

static struct fcache_entry *find(const struct fcache *fc, int root,
				 const char *path, size_t len, uint32_t h)
{
	for (struct fcache_entry *e = fc->buckets[h & fc->mask]; e; e = e->hnext)
		if (e->hash == h && e->root == root && e->len == len &&
		    !memcmp(e->path, path, len))
			return e;
	return NULL;
}

/* Is the file still the one e holds? fstatat of the path it came from
 * (a directory's index.html for an index) follows symbolic links without
 * RESOLVE_BENEATH, which is safe here: only the inode e's descriptor -
 * opened below the root - is accepted, and anything else is resolved
 * anew by http_file.c. The same inode rewritten in place keeps its
 * descriptor, with the new size and times. */
static int same_time(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec == b->tv_sec && a->tv_nsec == b->tv_nsec;
}

static int still_same(struct fcache *fc, struct fcache_entry *e)
{
	char p[FCACHE_PATH_MAX + sizeof("index.html")];
	struct stat st;

	if (e->f.fd < 0)
		return 0; /* a status: resolved again */
	memcpy(p, e->path, e->len);
	strcpy(p + e->len, e->f.is_index ? "index.html" : "");
	if (fstatat(e->root, p[0] ? p : ".", &st, 0) < 0 ||
	    st.st_ino != e->f.st.st_ino || st.st_dev != e->f.st.st_dev ||
	    st.st_mode != e->f.st.st_mode)
		return 0;
	/* A write changes ctime (a truncate the size too): the kept bytes
	 * are those of another version. */
	if (st.st_size != e->f.st.st_size ||
	    !same_time(&st.st_mtim, &e->f.st.st_mtim) ||
	    !same_time(&st.st_ctim, &e->f.st.st_ctim)) {
		body_free(fc, e);
		e->f.memo_key = 0;
	}
	e->f.st = st;
	return 1;
}

/* The least recently used entry no answer holds, or NULL. */
static struct fcache_entry *oldest_free(const struct fcache *fc)
{
	struct fcache_entry *e = fc->oldest;

	while (e && e->holds)
		e = e->newer;
	return e;
}

const struct fcache_file *fcache_get(struct fcache *fc, int root,
				     const char *path, size_t len, uint64_t now)
{
	uint32_t h = key_hash(root, path, len);
	struct fcache_entry *e = find(fc, root, path, len, h);

	if (e && now - e->checked >= fc->valid_ms) {
		if (!still_same(fc, e)) {
			entry_close(fc, e);
			e = NULL;
		} else {
			e->checked = now;
		}
	}
	if (!e) {
		fc->stats->open_file_cache_misses++;
		return NULL;
	}
	fc->stats->open_file_cache_hits++;
	e->used = now;
	if (fc->newest != e) {
		list_unlink(fc, e);
		list_push(fc, e);
	}
	return &e->f;
}

const struct fcache_file *fcache_put(struct fcache *fc, int root,
				     const char *path, size_t len,
				     const struct fcache_file *f, uint64_t now)
{
	uint32_t h = key_hash(root, path, len);
	struct fcache_entry *e, *old, **b;

	if (len > FCACHE_PATH_MAX)
		return NULL;
	old = find(fc, root, path, len, h);
	if (old)
		entry_close(fc, old);
	e = malloc(sizeof(*e) + len + 1);
	if (!e)
		return NULL;
	if (fc->count >= fc->max) {
		struct fcache_entry *v = oldest_free(fc);

		if (!v) { /* every entry is held */
			free(e);
			return NULL;
		}
		fc->stats->open_file_cache_evictions++;
		entry_close(fc, v);
	}
	e->f = *f;
	e->f.body = NULL;
	e->f.memo_key = 0;
	e->holds = 0;
	e->checked = e->used = now;
	e->hash = h;
	e->root = root;
	e->len = (uint32_t)len;
	memcpy(e->path, path, len);
	e->path[len] = '\0';
	b = &fc->buckets[h & fc->mask];
	e->hnext = *b;
	if (*b)
		(*b)->hprev = &e->hnext;
	e->hprev = b;
	*b = e;
	list_push(fc, e);
	fc->count++;
	return &e->f;
}

void fcache_hold(struct fcache *fc, const struct fcache_file *f)
{
	(void)fc;
	util_container_of(f, struct fcache_entry, f)->holds++;
}

void fcache_release(struct fcache *fc, const struct fcache_file *f)
{
	(void)fc;
	util_container_of(f, struct fcache_entry, f)->holds--;
}

void fcache_drop(struct fcache *fc, const struct fcache_file *f)
{
	entry_close(fc, util_container_of(f, struct fcache_entry, f));
}

uint64_t fcache_expire(struct fcache *fc, uint64_t now)
{
	struct fcache_entry *e = fc->oldest, *next;

	for (; e && now - e->used >= fc->inactive_ms; e = next) {
		next = e->newer;
		if (!e->holds)
			entry_close(fc, e);
	}
	if (!fc->oldest)
		return 0;
	e = oldest_free(fc);
	return e && now - e->used < fc->inactive_ms ?
		       e->used + fc->inactive_ms - now :
		       fc->inactive_ms;
}

unsigned fcache_shrink(struct fcache *fc)
{
	unsigned n = fc->count > 1 ? fc->count / 2 : fc->count, done = 0;
	struct fcache_entry *e;

	while (done < n && (e = oldest_free(fc))) {
		entry_close(fc, e);
		done++;
	}
	fc->stats->open_file_cache_evictions += done;
	return done;
}

int fcache_keep_body(struct fcache *fc, const struct fcache_file *f,
		     const char *data, size_t len, time_t now_wall)
{
	struct fcache_entry *e = util_container_of(f, struct fcache_entry, f);
	char *copy;

	if (e->f.body || e->f.fd < 0 || len != (size_t)e->f.st.st_size ||
	    len == 0 || len > FCACHE_BODY_MAX ||
	    len > fc->body_max - UTIL_MIN(fc->body_max, fc->body_bytes) ||
	    e->f.st.st_ctim.tv_sec > now_wall - FCACHE_SETTLE_SECONDS)
		return 0;
	copy = malloc(len);
	if (!copy)
		return 0;
	memcpy(copy, data, len);
	e->f.body = copy;
	fc->body_bytes += len;
	return 1;
}

void fcache_keep_memo(struct fcache *fc, const struct fcache_file *f,
		      unsigned key, const void *data, size_t len)
{
	struct fcache_entry *e = util_container_of(f, struct fcache_entry, f);

	(void)fc;
	if (key == 0 || len > sizeof(e->f.memo))
		return;
	memcpy(e->f.memo, data, len);
	e->f.memo_key = key;
}

size_t fcache_body_bytes(const struct fcache *fc)
{
	return fc->body_bytes;
}

unsigned fcache_count(const struct fcache *fc)
{
	return fc->count;
}
