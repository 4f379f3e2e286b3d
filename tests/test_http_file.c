/* test_http_file.c - http_file.c where the kernel fails it: an fstat()
 * that fails, on a file or on a directory's index, is answered with a
 * 500 and leaves no descriptor open, rather than a head built from a
 * struct stat never filled. fstat cannot be made to fail on a real open
 * file, so it is wrapped (-Wl,--wrap=fstat), which catches the calls
 * http_file.o makes into libc. */
#include "autoconfig.h"

#include <dirent.h>
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

#include "config.h"
#include "proto.h"
#include "proto_http.h"
#include "stats.h"

/* The fstat call (counted from 1) that fails with EIO; 0: none. */
static int fail_call, calls;

int __real_fstat(int fd, struct stat *st);
int __wrap_fstat(int fd, struct stat *st);

int __wrap_fstat(int fd, struct stat *st)
{
	if (fail_call && ++calls == fail_call) {
		errno = EIO;
		return -1;
	}
	return __real_fstat(fd, st);
}

struct fixture {
	char root[64];
	struct config cfg;
	struct stats_counters stats;
	struct http_worker *hw;
};

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "we");

	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
}

/* A document root with a.txt and sub/index.html, and the HTTP service's
 * worker state for it. */
static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));
	char path[128], err[256];
	void *ctx = NULL;

	if (!fx)
		return -1;
	snprintf(fx->root, sizeof(fx->root), "/tmp/rpd-http-file.XXXXXX");
	if (!mkdtemp(fx->root))
		return -1;
	snprintf(path, sizeof(path), "%s/a.txt", fx->root);
	write_file(path, "hello\n");
	snprintf(path, sizeof(path), "%s/sub", fx->root);
	assert_int_equal(mkdir(path, 0755), 0);
	snprintf(path, sizeof(path), "%s/sub/index.html", fx->root);
	write_file(path, "<h1>sub</h1>\n");
	config_defaults(&fx->cfg);
	fx->cfg.protocol = CFG_PROTO_HTTP;
	snprintf(fx->cfg.docroot, sizeof(fx->cfg.docroot), "%s", fx->root);
	if (proto_http.init(&fx->cfg, &fx->stats, &ctx, err, sizeof(err)) < 0) {
		print_error("init: %s\n", err);
		return -1;
	}
	fx->hw = ctx;
	fail_call = calls = 0;
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;
	char path[128];

	proto_http.fini(fx->hw);
	snprintf(path, sizeof(path), "%s/sub/index.html", fx->root);
	unlink(path);
	snprintf(path, sizeof(path), "%s/sub", fx->root);
	rmdir(path);
	snprintf(path, sizeof(path), "%s/a.txt", fx->root);
	unlink(path);
	rmdir(fx->root);
	free(fx);
	return 0;
}

/* Descriptors open in this process. */
static int open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	assert_non_null(d);
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

/* Serves "GET path" into the batch; returns http_file_serve's result. */
static int serve(struct fixture *fx, const char *path, struct http_conn *hc)
{
	char raw[256];
	struct http_request req;
	struct http_answer ans = { 0 };
	int n = snprintf(raw, sizeof(raw), "GET %s HTTP/1.1\r\nHost: t\r\n\r\n",
			 path);

	assert_int_equal(http_parse_request(raw, (size_t)n, &fx->hw->limits, &req),
			 n);
	memset(hc, 0, sizeof(*hc));
	hc->file_fd = -1;
	fx->hw->batch.off = fx->hw->batch.len = 0;
	return http_file_serve(fx->hw, hc, &req, &ans);
}

static int batch_starts(struct fixture *fx, const char *prefix)
{
	return buf_pending(&fx->hw->batch) >= strlen(prefix) &&
	       !memcmp(buf_head(&fx->hw->batch), prefix, strlen(prefix));
}

/* Nothing failing: the file, whole, in the batch (the control case). */
static void test_served(void **state)
{
	struct fixture *fx = *state;
	struct http_conn hc;

	assert_int_equal(serve(fx, "/a.txt", &hc), 0);
	assert_true(batch_starts(fx, "HTTP/1.1 200 "));
	assert_int_equal(serve(fx, "/sub/", &hc), 0);
	assert_true(batch_starts(fx, "HTTP/1.1 200 "));
	assert_int_equal(fx->stats.responses[1], 2);
}

/* fstat of the file fails: 500, and the file is closed. */
static void test_fstat_fails_on_file(void **state)
{
	struct fixture *fx = *state;
	struct http_conn hc;
	int before = open_fds();

	fail_call = 1;
	assert_int_equal(serve(fx, "/a.txt", &hc), 0);
	assert_int_equal(calls, 1);
	assert_true(batch_starts(fx, "HTTP/1.1 500 "));
	assert_int_equal(hc.file_fd, -1);
	assert_int_equal(fx->stats.responses[4], 1);
	assert_int_equal(open_fds(), before);
}

/* The directory's fstat succeeds, its index's fails: 500, both closed. */
static void test_fstat_fails_on_index(void **state)
{
	struct fixture *fx = *state;
	struct http_conn hc;
	int before = open_fds();

	fail_call = 2;
	assert_int_equal(serve(fx, "/sub/", &hc), 0);
	assert_int_equal(calls, 2);
	assert_true(batch_starts(fx, "HTTP/1.1 500 "));
	assert_int_equal(hc.file_fd, -1);
	assert_int_equal(fx->stats.responses[4], 1);
	assert_int_equal(open_fds(), before);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_served, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fstat_fails_on_file, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_fstat_fails_on_index,
						setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
