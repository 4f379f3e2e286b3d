/* replay.c - a libFuzzer target's corpus, run without libFuzzer: every
 * file named, and every file in every directory named (REPLAY_CORPUS when
 * none is), is given once to LLVMFuzzerTestOneInput, in name order. With
 * it make check runs each target's seeds under any compiler, and a crash
 * file from a fuzzing run replays under gdb. It speaks TAP, a line per
 * input: the target aborts on a broken invariant, which the driver
 * reports with the last input named; an input that cannot be read is
 * "not ok", and no input at all is a bail-out (a corpus gone missing must
 * not pass). The exit status is the number of "not ok" lines. */
#include "autoconfig.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Reads the whole file into a block of exactly its size, so that
 * AddressSanitizer sees a read past the input as libFuzzer would. */
static int replay_file(const char *path)
{
	struct stat st;
	uint8_t *data = NULL;
	size_t got = 0;
	int fd;

	errno = 0;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0 ||
	    !(data = malloc(st.st_size ? (size_t)st.st_size : 1)))
		goto fail;
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, data + got, (size_t)st.st_size - got);

		if (n <= 0)
			goto fail;
		got += (size_t)n;
	}
	close(fd);
	LLVMFuzzerTestOneInput(data, got);
	free(data);
	return 0;
fail:
	printf("# %s: %s\n", path, errno ? strerror(errno) : "short read");
	if (fd >= 0)
		close(fd);
	free(data);
	return -1;
}

struct list {
	char **path;
	size_t n, cap;
};

static void list_add(struct list *l, const char *dir, const char *name)
{
	size_t len = strlen(dir) + strlen(name) + 2;
	char *p = malloc(len);

	if (l->n == l->cap) {
		l->cap = l->cap ? 2 * l->cap : 64;
		l->path = realloc(l->path, l->cap * sizeof(*l->path));
	}
	if (!p || !l->path) {
		printf("Bail out! out of memory\n");
		exit(99);
	}
	snprintf(p, len, "%s%s%s", dir, *dir && *name ? "/" : "", name);
	l->path[l->n++] = p;
}

static int not_hidden(const struct dirent *d)
{
	return d->d_name[0] != '.';
}

/* The regular files of a directory in name order, or the file itself. */
static void list_path(struct list *l, const char *path)
{
	struct dirent **ents;
	struct stat st;
	int n;

	if (stat(path, &st) < 0) {
		printf("Bail out! %s: %s\n", path, strerror(errno));
		exit(99);
	}
	if (!S_ISDIR(st.st_mode)) {
		list_add(l, path, "");
		return;
	}
	if ((n = scandir(path, &ents, not_hidden, alphasort)) < 0) {
		printf("Bail out! %s: %s\n", path, strerror(errno));
		exit(99);
	}
	for (int i = 0; i < n; i++) {
		size_t before = l->n;

		list_add(l, path, ents[i]->d_name);
		if (stat(l->path[before], &st) < 0 || !S_ISREG(st.st_mode))
			free(l->path[--l->n]);
		free(ents[i]);
	}
	free(ents);
}

/* An input as the test report names it: its directory and file name. */
static const char *short_name(const char *path)
{
	const char *end = strrchr(path, '/'), *p;

	if (!end)
		return path;
	for (p = end; p > path && p[-1] != '/'; p--)
		;
	return p;
}

int main(int argc, char **argv)
{
	char *deflt[] = { argv[0], REPLAY_CORPUS, NULL };
	struct list l = { NULL, 0, 0 };
	int failed = 0;

	if (argc < 2) {
		argv = deflt;
		argc = 2;
	}
	for (int i = 1; i < argc; i++)
		list_path(&l, argv[i]);
	if (l.n == 0) {
		printf("Bail out! no input in %s%s\n", argv[1],
		       argc > 2 ? " ..." : "");
		return 99;
	}
	printf("1..%zu\n", l.n);
	for (size_t i = 0; i < l.n; i++) {
		/* Named before it runs: an abort leaves this as the last line. */
		printf("# %s\n", l.path[i]);
		fflush(stdout);
		if (replay_file(l.path[i]) < 0) {
			printf("not ok %zu - %s\n", i + 1, short_name(l.path[i]));
			failed++;
		} else {
			printf("ok %zu - %s\n", i + 1, short_name(l.path[i]));
		}
		free(l.path[i]);
	}
	free(l.path);
	return failed > 255 ? 255 : failed;
}
