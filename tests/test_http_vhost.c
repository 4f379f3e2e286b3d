/* test_http_vhost.c - a worker's vhost table: which vhost a host gets
 * (exact before wildcard, the longest wildcard, case ignored), with
 * enough names that the hash table's collisions are walked, and the
 * counter each vhost counts in. Docroots are real directories. */
#include "autoconfig.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cfgfile.h"
#include "config.h"
#include "http_vhost.h"
#include "stats.h"

static struct config cfg;

static const struct http_vhost *find(const struct http_vhosts *vh, const char *host)
{
	return http_vhosts_find(vh, host, strlen(host));
}

/* The index of the vhost named name in cfg, by its counter (each of the
 * first STATS_NVHOSTS has its own: position, as no master assigned). */
static unsigned slot_of(const char *name)
{
	for (int i = 0; i < cfg.nvhosts; i++)
		if (!strcmp(cfg.vhosts[i].name, name))
			return i < STATS_NVHOSTS ? (unsigned)i : STATS_VHOST_OTHER;
	fail_msg("no vhost %s", name);
	return 0;
}

static void test_lookup(void **state)
{
	static char text[64 * 1024];
	struct http_vhosts *vh;
	char err[512];
	size_t n = 0;

	(void)state;
	config_defaults(&cfg);
	/* 200 exact names first, so the ones below fall past the first 64
	 * counters into "(other)", and the table is crowded. */
	for (int i = 0; i < 200; i++)
		n += (size_t)snprintf(text + n, sizeof(text) - n,
				      "vhost h%d.test /\n", i);
	n += (size_t)snprintf(text + n, sizeof(text) - n,
			      "vhost a.example /\n"
			      "vhost *.example /\n"
			      "vhost *.x.example /\n"
			      "vhost b.x.example /\n"
			      "vhost *.test /\n"
			      "vhost [::1] /\n");
	assert_int_equal(cfgfile_parse(&cfg, "t.conf", text, n, err, sizeof(err)),
			 0);
	assert_int_equal(http_vhosts_open(&cfg, &vh, err, sizeof(err)), 0);
	assert_non_null(vh);
	for (int i = 0; i < 200; i++) {
		char h[32];

		snprintf(h, sizeof(h), "H%d.Test", i);
		assert_non_null(find(vh, h));
		assert_int_equal(find(vh, h)->slot,
				 i < STATS_NVHOSTS ? (unsigned)i :
						     STATS_VHOST_OTHER);
	}
	assert_int_equal(find(vh, "a.example")->slot, slot_of("a.example"));
	assert_int_equal(find(vh, "A.EXAMPLE")->slot, slot_of("a.example"));
	assert_int_equal(find(vh, "z.example")->slot, slot_of("*.example"));
	assert_int_equal(find(vh, "p.q.example")->slot, slot_of("*.example"));
	assert_int_equal(find(vh, "y.x.example")->slot, slot_of("*.x.example"));
	assert_int_equal(find(vh, "b.x.example")->slot, slot_of("b.x.example"));
	assert_int_equal(find(vh, "x.example")->slot, slot_of("*.example"));
	assert_int_equal(find(vh, "h999.test")->slot, slot_of("*.test"));
	assert_int_equal(find(vh, "[::1]")->slot, slot_of("[::1]"));
	assert_null(find(vh, "example"));
	assert_null(find(vh, ".example"));
	assert_null(find(vh, "example."));
	assert_null(find(vh, "a.example.org"));
	assert_null(find(vh, ""));
	assert_null(find(vh, "test"));
	/* Only len bytes count (the host is not NUL-terminated): a port
	 * or what follows is not looked at, a prefix is no match. */
	assert_int_equal(http_vhosts_find(vh, "a.example:80", 9)->slot,
			 slot_of("a.example"));
	assert_null(http_vhosts_find(vh, "a.example", 8));
	http_vhosts_close(vh);
}

/* None configured: no table at all, so a request costs one test. */
static void test_none(void **state)
{
	struct http_vhosts *vh = (struct http_vhosts *)&vh;
	char err[64];

	(void)state;
	config_defaults(&cfg);
	assert_int_equal(http_vhosts_open(&cfg, &vh, err, sizeof(err)), 0);
	assert_null(vh);
}

/* A docroot that cannot be opened: the file and line, the name, why. */
static void test_open_error(void **state)
{
	static const char text[] =
		"vhost a.example /\n\nvhost b.example /nonexistent\n";
	struct http_vhosts *vh;
	char err[512];

	(void)state;
	config_defaults(&cfg);
	assert_int_equal(cfgfile_parse(&cfg, "t.conf", text, sizeof(text) - 1,
				       err, sizeof(err)),
			 0);
	strcpy(cfg.config_file, "/etc/t.conf");
	assert_int_equal(http_vhosts_open(&cfg, &vh, err, sizeof(err)), -1);
	assert_null(vh);
	assert_string_equal(err, "/etc/t.conf:3: vhost b.example: docroot "
				 "/nonexistent: No such file or directory");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lookup),
		cmocka_unit_test(test_none),
		cmocka_unit_test(test_open_error),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
