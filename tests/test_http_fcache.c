/* test_http_fcache.c - the open-file cache on its own (http_fcache.h),
 * with real files in a temp dir and the clock injected: what it keeps and
 * by which key, the order it closes entries in, when it checks the disk
 * again and what a check finds, and that an entry an answer holds is
 * never closed under it. */
#include "autoconfig.h"

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "http_fcache.h"
#include "stats.h"

struct fixture {
	char dir[64];
	int root, root2; /* two descriptors of dir: two document roots */
	struct stats_counters stats;
	struct fcache *fc;
};

static void write_file(const struct fixture *fx, const char *name, const char *text)
{
	char path[160];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", fx->dir, name);
	f = fopen(path, "we");
	assert_non_null(f);
	assert_true(fputs(text, f) >= 0);
	assert_int_equal(fclose(f), 0);
}

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));
	char path[160];

	if (!fx)
		return -1;
	snprintf(fx->dir, sizeof(fx->dir), "/tmp/rpd-fcache.XXXXXX");
	if (!mkdtemp(fx->dir))
		return -1;
	snprintf(path, sizeof(path), "%s/sub", fx->dir);
	if (mkdir(path, 0755) < 0)
		return -1;
	write_file(fx, "a", "aaaa");
	write_file(fx, "b", "bb");
	write_file(fx, "sub/index.html", "<p>");
	fx->root = open(fx->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	fx->root2 = open(fx->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fx->root < 0 || fx->root2 < 0)
		return -1;
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;
	char cmd[128];

	fcache_free(fx->fc);
	close(fx->root);
	close(fx->root2);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", fx->dir);
	if (system(cmd) != 0)
		return -1;
	free(fx);
	return 0;
}

static void new_cache(struct fixture *fx, unsigned max, uint64_t valid,
		      uint64_t inactive)
{
	fx->fc = fcache_new(max, 64 * 1024, valid, inactive, &fx->stats);
	assert_non_null(fx->fc);
}

/* What http_file.c would have found for name: the file, opened, with its
 * fstat. */
static struct fcache_file open_file(const struct fixture *fx, const char *name,
				    int is_index)
{
	struct fcache_file f = { .is_index = is_index };

	f.fd = openat(fx->root, name, O_RDONLY | O_CLOEXEC);
	assert_true(f.fd >= 0);
	assert_int_equal(fstat(f.fd, &f.st), 0);
	return f;
}

/* Puts key -> the file name at now; the cache takes its descriptor. */
static const struct fcache_file *put(struct fixture *fx, int root,
				     const char *key, const char *name,
				     int is_index, uint64_t now)
{
	struct fcache_file f = open_file(fx, name, is_index);
	const struct fcache_file *c = fcache_put(fx->fc, root, key, strlen(key),
						 &f, now);

	assert_non_null(c);
	assert_int_equal(c->fd, f.fd);
	return c;
}

static const struct fcache_file *get(struct fixture *fx, int root,
				     const char *key, uint64_t now)
{
	return fcache_get(fx->fc, root, key, strlen(key), now);
}

static int fd_open(int fd)
{
	return fcntl(fd, F_GETFD) >= 0;
}

static void replace_by_rename(struct fixture *fx, const char *name,
			      const char *text)
{
	char tmp[160], path[160];

	write_file(fx, "tmp.new", text);
	snprintf(tmp, sizeof(tmp), "%s/tmp.new", fx->dir);
	snprintf(path, sizeof(path), "%s/%s", fx->dir, name);
	assert_int_equal(rename(tmp, path), 0);
}

/* A key is the root and the path: the same path below another root, or
 * another path, is another entry; hits and misses are counted. */
static void test_key_is_root_and_path(void **state)
{
	struct fixture *fx = *state;
	const struct fcache_file *a;

	new_cache(fx, 8, 1000, 60000);
	assert_null(get(fx, fx->root, "a", 0));
	a = put(fx, fx->root, "a", "a", 0, 0);
	assert_ptr_equal(get(fx, fx->root, "a", 1), a);
	assert_int_equal(a->st.st_size, 4);
	assert_null(get(fx, fx->root2, "a", 1));
	assert_null(get(fx, fx->root, "a.gz", 1));
	assert_null(get(fx, fx->root, "", 1));
	assert_int_equal(fx->stats.open_file_cache_hits, 1);
	assert_int_equal(fx->stats.open_file_cache_misses, 4);
	assert_int_equal(fcache_count(fx->fc), 1);
}

/* A status is kept like a file, and forgotten once its validity is over
 * (resolving it again is the check). */
static void test_status_entry(void **state)
{
	struct fixture *fx = *state;
	struct fcache_file f = { .fd = -1, .status = 404 };
	const struct fcache_file *c;

	new_cache(fx, 8, 100, 60000);
	assert_non_null(fcache_put(fx->fc, fx->root, "nope", 4, &f, 0));
	c = get(fx, fx->root, "nope", 99);
	assert_non_null(c);
	assert_int_equal(c->status, 404);
	assert_int_equal(c->fd, -1);
	assert_null(get(fx, fx->root, "nope", 100));
	assert_int_equal(fcache_count(fx->fc), 0);
}

/* Full: the least recently used entry goes, its descriptor closed. */
static void test_lru_eviction(void **state)
{
	struct fixture *fx = *state;
	const struct fcache_file *a, *b;
	int bfd;

	new_cache(fx, 2, 1000, 60000);
	a = put(fx, fx->root, "a", "a", 0, 0);
	b = put(fx, fx->root, "b", "b", 0, 1);
	bfd = b->fd;
	assert_ptr_equal(get(fx, fx->root, "a", 2), a); /* b is older now */
	put(fx, fx->root, "sub/", "sub/index.html", 1, 3);
	assert_int_equal(fcache_count(fx->fc), 2);
	assert_false(fd_open(bfd));
	assert_null(get(fx, fx->root, "b", 4));
	assert_non_null(get(fx, fx->root, "a", 4));
	assert_non_null(get(fx, fx->root, "sub/", 4));
	assert_int_equal(fx->stats.open_file_cache_evictions, 1);
}

/* Within the validity time the disk is not asked: a file replaced by
 * rename is still the old one. Past it, the check finds the new inode
 * and drops the entry (its descriptor closed). */
static void test_replaced_seen_after_validity(void **state)
{
	struct fixture *fx = *state;
	const struct fcache_file *a;
	int fd;

	new_cache(fx, 8, 200, 60000);
	a = put(fx, fx->root, "a", "a", 0, 1000);
	fd = a->fd;
	replace_by_rename(fx, "a", "new content");
	a = get(fx, fx->root, "a", 1199);
	assert_non_null(a);
	assert_int_equal(a->st.st_size, 4);
	assert_null(get(fx, fx->root, "a", 1200));
	assert_false(fd_open(fd));
	assert_int_equal(fcache_count(fx->fc), 0);
}

/* Rewritten in place: the same inode keeps its descriptor, with the new
 * stat, and is trusted for another validity time. */
static void test_rewritten_in_place(void **state)
{
	struct fixture *fx = *state;
	const struct fcache_file *a, *again;

	new_cache(fx, 8, 200, 60000);
	a = put(fx, fx->root, "a", "a", 0, 0);
	write_file(fx, "a", "longer than before");
	again = get(fx, fx->root, "a", 250);
	assert_ptr_equal(again, a);
	assert_int_equal(again->st.st_size, 18);
	assert_int_equal(fx->stats.open_file_cache_hits, 1);
}

/* Removed: the check drops it. For a directory's index the check is on
 * its index.html. */
static void test_removed_and_index(void **state)
{
	struct fixture *fx = *state;
	char path[160];

	new_cache(fx, 8, 200, 60000);
	put(fx, fx->root, "b", "b", 0, 0);
	put(fx, fx->root, "sub/", "sub/index.html", 1, 0);
	snprintf(path, sizeof(path), "%s/b", fx->dir);
	assert_int_equal(unlink(path), 0);
	assert_null(get(fx, fx->root, "b", 300));
	/* Only the index, not the directory, is checked. */
	assert_non_null(get(fx, fx->root, "sub/", 300));
	replace_by_rename(fx, "sub/index.html", "<p>new");
	assert_non_null(get(fx, fx->root, "sub/", 499));
	assert_null(get(fx, fx->root, "sub/", 500));
}

/* A held entry is never the one closed to make room; a cache whose
 * every entry is held stores nothing, and the caller keeps its fd. */
static void test_held_entry_survives(void **state)
{
	struct fixture *fx = *state;
	const struct fcache_file *a, *b;
	struct fcache_file f;

	new_cache(fx, 1, 1000, 60000);
	a = put(fx, fx->root, "a", "a", 0, 0);
	fcache_hold(fx->fc, a);
	f = open_file(fx, "b", 0);
	assert_null(fcache_put(fx->fc, fx->root, "b", 1, &f, 1));
	assert_true(fd_open(f.fd) && fd_open(a->fd));
	close(f.fd);
	assert_int_equal(fcache_shrink(fx->fc), 0);
	assert_int_equal(fcache_expire(fx->fc, 100000), 60000);
	assert_ptr_equal(get(fx, fx->root, "a", 2), a);
	fcache_release(fx->fc, a);
	b = put(fx, fx->root, "b", "b", 0, 3);
	assert_null(get(fx, fx->root, "a", 4));
	assert_ptr_equal(get(fx, fx->root, "b", 4), b);
}

/* Entries unused for the inactive time are closed, the oldest first;
 * the answer says when the next one will be. */
static void test_inactive_expire(void **state)
{
	struct fixture *fx = *state;

	new_cache(fx, 8, 1000, 100);
	assert_int_equal(fcache_expire(fx->fc, 0), 0);
	put(fx, fx->root, "a", "a", 0, 0);
	put(fx, fx->root, "b", "b", 0, 50);
	assert_int_equal(fcache_expire(fx->fc, 60), 40);
	assert_non_null(get(fx, fx->root, "a", 70)); /* used: kept longer */
	assert_int_equal(fcache_expire(fx->fc, 160), 10);
	assert_null(get(fx, fx->root, "b", 160));
	assert_int_equal(fcache_expire(fx->fc, 170), 0);
	assert_int_equal(fcache_count(fx->fc), 0);
	/* Not counted as evictions: nothing needed the room. */
	assert_int_equal(fx->stats.open_file_cache_evictions, 0);
}

/* Out of descriptors: half of the entries go, the least recently used. */
static void test_shrink_half(void **state)
{
	struct fixture *fx = *state;
	const char *keys[] = { "k0", "k1", "k2", "k3" };

	new_cache(fx, 8, 1000, 60000);
	for (int i = 0; i < 4; i++)
		put(fx, fx->root, keys[i], "a", 0, (uint64_t)i);
	assert_int_equal(fcache_shrink(fx->fc), 2);
	assert_null(get(fx, fx->root, "k0", 5));
	assert_null(get(fx, fx->root, "k1", 5));
	assert_non_null(get(fx, fx->root, "k2", 5));
	assert_non_null(get(fx, fx->root, "k3", 5));
	assert_int_equal(fx->stats.open_file_cache_evictions, 2);
}

/* Many keys at once, in a table smaller than them: each found, each the
 * one it was put as; the bound holds. */
static void test_many_keys(void **state)
{
	struct fixture *fx = *state;
	const struct fcache_file *kept[300];
	struct fcache_file f = { .fd = -1, .status = 404 };
	char key[32];

	new_cache(fx, 300, 1000, 60000);
	for (int i = 0; i < 300; i++) {
		int n = snprintf(key, sizeof(key), "dir/%d.html", i);

		f.status = 400 + i;
		kept[i] = fcache_put(fx->fc, i % 2 ? fx->root : fx->root2, key,
				     (size_t)n, &f, 0);
		assert_non_null(kept[i]);
	}
	for (int i = 0; i < 300; i++) {
		int n = snprintf(key, sizeof(key), "dir/%d.html", i);
		const struct fcache_file *c =
			fcache_get(fx->fc, i % 2 ? fx->root : fx->root2, key,
				   (size_t)n, 1);

		assert_ptr_equal(c, kept[i]);
		assert_int_equal(c->status, 400 + i);
		assert_null(fcache_get(fx->fc, i % 2 ? fx->root2 : fx->root,
				       key, (size_t)n, 1));
	}
	f.status = 404;
	assert_non_null(fcache_put(fx->fc, fx->root, "one more", 8, &f, 2));
	assert_int_equal(fcache_count(fx->fc), 300);
}

/* A path longer than the cache keeps is not kept. */
static void test_long_path_not_kept(void **state)
{
	struct fixture *fx = *state;
	struct fcache_file f = { .fd = -1, .status = 404 };
	static char key[FCACHE_PATH_MAX + 1];

	new_cache(fx, 8, 1000, 60000);
	memset(key, 'x', sizeof(key));
	assert_null(fcache_put(fx->fc, fx->root, key, sizeof(key), &f, 0));
	assert_non_null(fcache_put(fx->fc, fx->root, key, sizeof(key) - 1, &f, 0));
}

/* Rewrites name in place (same inode) with text, its mtime set far
 * apart (1000000 s) so the change shows whatever the clock's
 * granularity. */
static void rewrite_in_place(struct fixture *fx, const char *name, const char *text)
{
	struct timespec ts[2] = { { 1000000, 0 }, { 1000000, 0 } };
	char path[160];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", fx->dir, name);
	fd = open(path, O_WRONLY | O_TRUNC);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	assert_int_equal(futimens(fd, ts), 0);
	close(fd);
}

/* The bytes of a file settled for FCACHE_SETTLE_SECONDS are kept once,
 * whole; not those of a file whose status changed just now (a second
 * write could land in the same timestamp), nor a part of one. */
static void test_body_kept_when_settled(void **state)
{
	struct fixture *fx = *state;
	const struct fcache_file *c;
	time_t ctime_s;

	new_cache(fx, 8, 1000, 60000);
	write_file(fx, "a.txt", "twelve bytes");
	c = put(fx, fx->root, "a.txt", "a.txt", 0, 0);
	ctime_s = c->st.st_ctim.tv_sec;
	assert_null(c->body);
	assert_int_equal(fcache_keep_body(fx->fc, c, "twelve bytes", 12,
					  ctime_s + FCACHE_SETTLE_SECONDS - 1),
			 0);
	assert_int_equal(fcache_keep_body(fx->fc, c, "twelve", 6,
					  ctime_s + FCACHE_SETTLE_SECONDS),
			 0);
	assert_int_equal(fcache_body_bytes(fx->fc), 0);
	assert_int_equal(fcache_keep_body(fx->fc, c, "twelve bytes", 12,
					  ctime_s + FCACHE_SETTLE_SECONDS),
			 1);
	assert_non_null(c->body);
	assert_memory_equal(c->body, "twelve bytes", 12);
	assert_int_equal(fcache_body_bytes(fx->fc), 12);
	/* Kept once: a second copy is refused, the first stays. */
	assert_int_equal(fcache_keep_body(fx->fc, c, "TWELVE BYTES", 12,
					  ctime_s + 10),
			 0);
	assert_memory_equal(get(fx, fx->root, "a.txt", 1)->body, "twelve bytes",
			    12);
	fcache_drop(fx->fc, c);
	assert_int_equal(fcache_body_bytes(fx->fc), 0);
}

/* The budget bounds the bytes kept in all, and a file over
 * FCACHE_BODY_MAX is never kept; closing an entry gives its bytes back. */
static void test_body_budget(void **state)
{
	struct fixture *fx = *state;
	const struct fcache_file *a, *b, *big;
	char *text = malloc(FCACHE_BODY_MAX + 2);
	time_t later;

	assert_non_null(text);
	fx->fc = fcache_new(8, 20, 1000, 60000, &fx->stats);
	assert_non_null(fx->fc);
	write_file(fx, "a.txt", "0123456789ab");
	write_file(fx, "b.txt", "0123456789ab");
	memset(text, 'x', FCACHE_BODY_MAX + 1);
	text[FCACHE_BODY_MAX + 1] = '\0';
	write_file(fx, "big.txt", text);
	a = put(fx, fx->root, "a.txt", "a.txt", 0, 0);
	b = put(fx, fx->root, "b.txt", "b.txt", 0, 0);
	big = put(fx, fx->root, "big.txt", "big.txt", 0, 0);
	later = a->st.st_ctim.tv_sec + 60;
	assert_int_equal(fcache_keep_body(fx->fc, a, "0123456789ab", 12, later),
			 1);
	assert_int_equal(fcache_keep_body(fx->fc, b, "0123456789ab", 12, later),
			 0);
	assert_int_equal(fcache_body_bytes(fx->fc), 12);
	fcache_free(fx->fc);
	fx->fc = fcache_new(8, 1 << 20, 1000, 60000, &fx->stats);
	assert_non_null(fx->fc);
	big = put(fx, fx->root, "big.txt", "big.txt", 0, 0);
	assert_int_equal(fcache_keep_body(fx->fc, big, text,
					  FCACHE_BODY_MAX + 1, later),
			 0);
	assert_null(big->body);
	free(text);
}

/* A check that finds the file's size or times changed drops the bytes
 * (the descriptor stays: the same inode); one that finds them the same
 * keeps them. */
static void test_body_dropped_on_change(void **state)
{
	struct fixture *fx = *state;
	const struct fcache_file *c;

	new_cache(fx, 8, 1000, 60000);
	write_file(fx, "a.txt", "version 1\n");
	c = put(fx, fx->root, "a.txt", "a.txt", 0, 0);
	assert_int_equal(fcache_keep_body(fx->fc, c, "version 1\n", 10,
					  c->st.st_ctim.tv_sec + 60),
			 1);
	c = get(fx, fx->root, "a.txt", 1000); /* checked: unchanged */
	assert_non_null(c);
	assert_non_null(c->body);
	/* Rewritten in place, same size; its mtime set apart so the change
	 * shows whatever the clock's granularity. */
	rewrite_in_place(fx, "a.txt", "version 2\n");
	c = get(fx, fx->root, "a.txt", 1500); /* within the validity time */
	assert_non_null(c->body);
	c = get(fx, fx->root, "a.txt", 2000);
	assert_non_null(c);
	assert_null(c->body);
	assert_int_equal(c->st.st_mtim.tv_sec, 1000000);
	assert_int_equal(fcache_body_bytes(fx->fc), 0);
}

/* An entry's memo (what answers make of its stat) is kept under its
 * key, survives a check that finds the file unchanged, and goes when a
 * check finds it rewritten; a new entry has none. */
static void test_memo_dropped_on_change(void **state)
{
	struct fixture *fx = *state;
	const struct fcache_file *c;
	char big[FCACHE_MEMO_MAX + 1] = { 0 };

	new_cache(fx, 8, 1000, 60000);
	write_file(fx, "a.txt", "version 1\n");
	c = put(fx, fx->root, "a.txt", "a.txt", 0, 0);
	assert_int_equal(c->memo_key, 0);
	fcache_keep_memo(fx->fc, c, 3, "etag-1", 7);
	assert_int_equal(c->memo_key, 3);
	assert_string_equal((const char *)c->memo, "etag-1");
	/* too long for the room, or key 0: not kept, the memo stays */
	fcache_keep_memo(fx->fc, c, 4, big, sizeof(big));
	fcache_keep_memo(fx->fc, c, 0, "x", 2);
	assert_int_equal(c->memo_key, 3);
	c = get(fx, fx->root, "a.txt", 1000); /* checked: unchanged */
	assert_non_null(c);
	assert_int_equal(c->memo_key, 3);
	rewrite_in_place(fx, "a.txt", "version 2\n");
	c = get(fx, fx->root, "a.txt", 2000);
	assert_non_null(c);
	assert_int_equal(c->memo_key, 0);
	assert_int_equal(c->st.st_mtim.tv_sec, 1000000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_key_is_root_and_path,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_status_entry, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lru_eviction, setup, teardown),
		cmocka_unit_test_setup_teardown(test_replaced_seen_after_validity,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_rewritten_in_place, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_removed_and_index, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_held_entry_survives, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_inactive_expire, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_shrink_half, setup, teardown),
		cmocka_unit_test_setup_teardown(test_many_keys, setup, teardown),
		cmocka_unit_test_setup_teardown(test_body_kept_when_settled,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_body_budget, setup, teardown),
		cmocka_unit_test_setup_teardown(test_memo_dropped_on_change,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_body_dropped_on_change,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_long_path_not_kept, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
