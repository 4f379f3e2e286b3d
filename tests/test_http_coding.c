/* test_http_coding.c - http_coding.c: which of br and gzip an
 * Accept-Encoding field allows, and in which order, as browsers, curl
 * and odd clients spell it. */
#include "autoconfig.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "http_coding.h"

#define ID HTTP_CODING_IDENTITY
#define GZ HTTP_CODING_GZIP
#define BR HTTP_CODING_BR

static void test_fields(void **state)
{
	static const struct {
		const char *value;        /* NULL: no field */
		enum http_coding want[2]; /* ID: no more */
	} cases[] = {
		{ NULL, { ID, ID } },
		{ "", { ID, ID } },
		{ "identity", { ID, ID } },
		{ "gzip", { GZ, ID } },
		{ "br", { BR, ID } },
		{ "x-gzip", { GZ, ID } },
		{ "GZip, BR", { BR, GZ } },
		/* browsers: equal weights, br first */
		{ "gzip, deflate, br, zstd", { BR, GZ } },
		{ "gzip, deflate", { GZ, ID } },
		/* q-values decide before the preference */
		{ "gzip;q=1.0, br;q=0.5", { GZ, BR } },
		{ "br;q=0.5, gzip;q=0.501", { GZ, BR } },
		{ "gzip;q=0.5, br;q=0.5", { BR, GZ } },
		{ "gzip ; Q=0.8 ,br;q=0.9", { BR, GZ } },
		/* q=0 refuses */
		{ "br;q=0, gzip", { GZ, ID } },
		{ "br;q=0.000, gzip;q=0", { ID, ID } },
		{ "gzip;q=0", { ID, ID } },
		/* "*" stands for what is not named */
		{ "*", { BR, GZ } },
		{ "*;q=0.1, gzip", { GZ, BR } },
		{ "*;q=0, gzip", { GZ, ID } },
		{ "br;q=0, *", { GZ, ID } },
		/* the first mention counts */
		{ "gzip;q=0, gzip", { ID, ID } },
		/* malformed weights refuse their coding only */
		{ "br;q=2, gzip", { GZ, ID } },
		{ "br;q=1.5, gzip", { GZ, ID } },
		{ "br;q=0.1234, gzip", { GZ, ID } },
		{ "br;level=1, gzip", { GZ, ID } },
		{ "br q=1, gzip", { GZ, ID } },
		{ "br;q=, gzip", { GZ, ID } },
		{ "gzip;q=1.000", { GZ, ID } },
		{ " , ,gzip,, ", { GZ, ID } },
		{ ";q=1, gzip", { GZ, ID } },
		{ "brotli, gzipx, xgzip", { ID, ID } },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct http_field f = { 0 };
		enum http_coding got[2] = { ID, ID };
		int n;

		if (cases[i].value) {
			f.v = cases[i].value;
			f.len = (uint32_t)strlen(cases[i].value);
			f.lines = 1;
		}
		n = http_codings_accepted(&f, got);
		for (int k = 0; k < 2; k++) {
			enum http_coding seen = k < n ? got[k] : ID;

			if (seen != cases[i].want[k])
				fail_msg("\"%s\": choice %d: expected %d, seen %d",
					 cases[i].value ? cases[i].value : "(none)",
					 k, cases[i].want[k], seen);
		}
	}
}

/* Repeated field lines are not combined: nothing is accepted. */
static void test_repeated(void **state)
{
	struct http_field f = { .v = "gzip", .len = 4, .lines = 2 };
	enum http_coding got[2];

	(void)state;
	assert_int_equal(http_codings_accepted(&f, got), 0);
}

static void test_names(void **state)
{
	(void)state;
	assert_null(http_coding_name(ID));
	assert_string_equal(http_coding_name(GZ), "gzip");
	assert_string_equal(http_coding_name(BR), "br");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fields),
		cmocka_unit_test(test_repeated),
		cmocka_unit_test(test_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
