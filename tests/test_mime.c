/* test_mime.c - mime.c: loading a mime.types file (comments, blank and
 * bad lines, repeated extensions, case), falling back to the built-in
 * list, the charset and the default type, and lookups by name. */
#include "autoconfig.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "mime.h"

#define OCTETS "application/octet-stream"

struct fixture {
	char dir[64];
	char path[128];
};

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));

	if (!fx)
		return -1;
	snprintf(fx->dir, sizeof(fx->dir), "/tmp/rpd-mime.XXXXXX");
	if (!mkdtemp(fx->dir))
		return -1;
	snprintf(fx->path, sizeof(fx->path), "%s/mime.types", fx->dir);
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;

	unlink(fx->path);
	rmdir(fx->dir);
	free(fx);
	return 0;
}

static void write_types(const struct fixture *fx, const char *text)
{
	FILE *f = fopen(fx->path, "we");

	assert_non_null(f);
	assert_true(fputs(text, f) >= 0);
	assert_int_equal(fclose(f), 0);
}

/* The format of Debian's media-types: comments, blank lines, a type
 * alone, a type with several extensions separated by tabs or blanks. */
static void test_file_format(void **state)
{
	struct fixture *fx = *state;
	struct mime_table *t;

	write_types(fx, "# comment\n"
			"\n"
			"   \t\n"
			"application/1d-interleaved-parityfec\n"
			"text/html\t\t\t\thtml htm shtml\n"
			"image/png png # a comment after the extensions\n"
			"application/x-made-up\t  rpdx\r\n"
			"font/woff2 woff2"); /* no final newline */
	t = mime_table_new(fx->path, OCTETS, "utf-8");
	assert_non_null(t);
	assert_string_equal(mime_type(t, "/a/index.html"),
			    "text/html; charset=utf-8");
	assert_string_equal(mime_type(t, "/x.shtml"), "text/html; charset=utf-8");
	assert_string_equal(mime_type(t, "/x.png"), "image/png");
	assert_string_equal(mime_type(t, "/x.rpdx"), "application/x-made-up");
	assert_string_equal(mime_type(t, "/x.woff2"), "font/woff2");
	/* Only the file's types: nothing of the built-in list. */
	assert_string_equal(mime_type(t, "/x.css"), OCTETS);
	assert_false(mime_table_has_bad_lines(t));
	assert_non_null(strstr(mime_table_origin(t), "6 extensions from"));
	mime_table_free(t);
}

/* A bad line is skipped, the rest still loads, and the first one is
 * named with its line number. */
static void test_bad_lines(void **state)
{
	struct fixture *fx = *state;
	struct mime_table *t;

	write_types(fx,
		    "text/plain txt\n"
		    "notatype foo\n"
		    "text/ bar\n"
		    "/html baz\n"
		    "te xt/html qux\n"
		    "image/gif gif ab/cd thisextensionislongerthanthirtyonebytes\n"
		    "image/jpeg jpg\n");
	t = mime_table_new(fx->path, OCTETS, "utf-8");
	assert_non_null(t);
	assert_true(mime_table_has_bad_lines(t));
	assert_non_null(strstr(mime_table_origin(t), "mime.types:2: "));
	assert_string_equal(mime_type(t, "/a.txt"), "text/plain; charset=utf-8");
	assert_string_equal(mime_type(t, "/a.gif"), "image/gif");
	assert_string_equal(mime_type(t, "/a.jpg"), "image/jpeg");
	assert_string_equal(mime_type(t, "/a.foo"), OCTETS);
	assert_string_equal(mime_type(t, "/a.bar"), OCTETS);
	assert_string_equal(mime_type(t, "/a.baz"), OCTETS);
	assert_string_equal(mime_type(t, "/a.qux"), OCTETS);
	assert_string_equal(mime_type(t, "/a.cd"), OCTETS);
	mime_table_free(t);
}

/* An extension given twice takes the later type (an admin's line at the
 * end overrides the package's); case is ignored both in the file and in
 * names. */
static void test_duplicates_and_case(void **state)
{
	struct fixture *fx = *state;
	struct mime_table *t;

	write_types(fx, "application/x-sh sh\n"
			"text/x-sh sh\n"
			"audio/AMR AMR\n"
			"application/x-ab Ab\n"
			"application/x-ab2 aB\n");
	t = mime_table_new(fx->path, OCTETS, "utf-8");
	assert_non_null(t);
	assert_string_equal(mime_type(t, "/run.sh"), "text/x-sh; charset=utf-8");
	assert_string_equal(mime_type(t, "/v.amr"), "audio/AMR");
	assert_string_equal(mime_type(t, "/v.AmR"), "audio/AMR");
	assert_string_equal(mime_type(t, "/x.ab"), "application/x-ab2");
	assert_false(mime_table_has_bad_lines(t));
	mime_table_free(t);
}

/* Without a file, or with one that cannot be read: the built-in list,
 * and the origin says why. */
static void test_fallback(void **state)
{
	struct fixture *fx = *state;
	struct mime_table *t;

	t = mime_table_new(NULL, OCTETS, "utf-8");
	assert_non_null(t);
	assert_non_null(strstr(mime_table_origin(t), "built-in"));
	assert_string_equal(mime_type(t, "/x.css"), "text/css; charset=utf-8");
	assert_string_equal(mime_type(t, "/x.JPEG"), "image/jpeg");
	assert_string_equal(mime_type(t, "/x.tar.gz"), "application/gzip");
	mime_table_free(t);

	t = mime_table_new(fx->path, OCTETS, "utf-8"); /* not written */
	assert_non_null(t);
	assert_non_null(strstr(mime_table_origin(t), "No such file"));
	assert_non_null(strstr(mime_table_origin(t), "built-in"));
	assert_string_equal(mime_type(t, "/x.html"), "text/html; charset=utf-8");
	mime_table_free(t);

	write_types(fx, ""); /* empty: no types but the default */
	t = mime_table_new(fx->path, OCTETS, "utf-8");
	assert_non_null(t);
	assert_non_null(strstr(mime_table_origin(t), "0 extensions from"));
	assert_string_equal(mime_type(t, "/x.html"), OCTETS);
	mime_table_free(t);

	t = mime_table_new(fx->dir, OCTETS, "utf-8"); /* a directory */
	assert_non_null(t);
	assert_non_null(strstr(mime_table_origin(t), "not a regular file"));
	assert_string_equal(mime_type(t, "/x.png"), "image/png");
	mime_table_free(t);
}

/* The charset goes on text types only, and off means none; the default
 * type serves names without a known extension, charset included. */
static void test_charset_and_default(void **state)
{
	struct mime_table *t;

	(void)state;
	t = mime_table_new(NULL, "text/plain", "iso-8859-1");
	assert_non_null(t);
	assert_string_equal(mime_type(t, "/x.html"),
			    "text/html; charset=iso-8859-1");
	assert_string_equal(mime_type(t, "/x.json"), "application/json");
	assert_string_equal(mime_type(t, "/README"),
			    "text/plain; charset=iso-8859-1");
	mime_table_free(t);
	t = mime_table_new(NULL, OCTETS, NULL);
	assert_non_null(t);
	assert_string_equal(mime_type(t, "/x.html"), "text/html");
	assert_string_equal(mime_type(t, "/x.unknown"), OCTETS);
	mime_table_free(t);
	t = mime_table_new(NULL, OCTETS, "");
	assert_non_null(t);
	assert_string_equal(mime_type(t, "/x.css"), "text/css");
	mime_table_free(t);
}

/* The extension is what follows the last '.' of the last segment. */
static void test_names(void **state)
{
	struct mime_table *t = mime_table_new(NULL, OCTETS, "utf-8");

	(void)state;
	assert_non_null(t);
	assert_string_equal(mime_type(t, "/dir.html/file"), OCTETS);
	assert_string_equal(mime_type(t, "/file"), OCTETS);
	assert_string_equal(mime_type(t, "/file."), OCTETS);
	assert_string_equal(mime_type(t, "/x.htmlx"), OCTETS);
	assert_string_equal(mime_type(t, "/x.ht"), OCTETS);
	assert_string_equal(mime_type(t, "/"), OCTETS);
	assert_string_equal(mime_type(t, ""), OCTETS);
	assert_string_equal(mime_type(t, "index.html"),
			    "text/html; charset=utf-8");
	assert_string_equal(mime_type(t, "/s/app.js"),
			    "text/javascript; charset=utf-8");
	assert_string_equal(mime_type(t, "/x.aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"),
			    OCTETS);
	mime_table_free(t);
}

/* Many extensions: the table grows and every one is still found. */
static void test_many(void **state)
{
	struct fixture *fx = *state;
	struct mime_table *t;
	FILE *f = fopen(fx->path, "we");
	char name[32], type[48];

	(void)state;
	assert_non_null(f);
	for (int i = 0; i < 5000; i++)
		fprintf(f, "application/x-t%d e%d E%dx\n", i, i, i);
	assert_int_equal(fclose(f), 0);
	t = mime_table_new(fx->path, OCTETS, "utf-8");
	assert_non_null(t);
	assert_non_null(strstr(mime_table_origin(t), "10000 extensions"));
	for (int i = 0; i < 5000; i++) {
		snprintf(name, sizeof(name), "/f.E%d", i);
		snprintf(type, sizeof(type), "application/x-t%d", i);
		assert_string_equal(mime_type(t, name), type);
		snprintf(name, sizeof(name), "/f.e%dX", i);
		assert_string_equal(mime_type(t, name), type);
	}
	mime_table_free(t);
}

/* The master's reloads: every table but the kept ones goes (ASan would
 * see a use after free or a leak). */
static void test_keep(void **state)
{
	struct mime_table *a = mime_table_new(NULL, OCTETS, "utf-8");
	struct mime_table *b = mime_table_new(NULL, OCTETS, "utf-8");
	struct mime_table *c = mime_table_new(NULL, "text/plain", "utf-8");

	(void)state;
	assert_true(a && b && c);
	mime_tables_keep(c, NULL);
	assert_string_equal(mime_type(c, "/x"), "text/plain; charset=utf-8");
	mime_tables_keep(NULL, NULL);
}

static void test_valid_type(void **state)
{
	(void)state;
	assert_true(mime_valid_type("text/plain"));
	assert_true(mime_valid_type("application/vnd.ms-excel"));
	assert_true(mime_valid_type("image/svg+xml"));
	assert_false(mime_valid_type("text"));
	assert_false(mime_valid_type("text/"));
	assert_false(mime_valid_type("/plain"));
	assert_false(mime_valid_type("text/plain; charset=utf-8"));
	assert_false(mime_valid_type("te xt/plain"));
	assert_false(mime_valid_type("a/b/c"));
	assert_false(mime_valid_type(""));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_file_format, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_lines, setup, teardown),
		cmocka_unit_test_setup_teardown(test_duplicates_and_case, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_fallback, setup, teardown),
		cmocka_unit_test(test_charset_and_default),
		cmocka_unit_test(test_names),
		cmocka_unit_test_setup_teardown(test_many, setup, teardown),
		cmocka_unit_test(test_keep),
		cmocka_unit_test(test_valid_type),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
