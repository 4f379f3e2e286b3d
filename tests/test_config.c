/* test_config.c - the settings module: defaults, the validating setters
 * the command line uses, and config_finish filling in what was left to
 * the machine. */
#include "autoconfig.h"

#include <arpa/inet.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "addr.h"
#include "config.h"

#define N_ELEM(a) (sizeof(a) / sizeof((a)[0]))

static struct config *new_config(void)
{
	/* large (several PATH_MAX buffers): on the heap */
	struct config *c = malloc(sizeof(*c));

	assert_non_null(c);
	config_defaults(c);
	return c;
}

static void test_defaults(void **state)
{
	struct config *c = new_config();

	(void)state;
	assert_int_equal(c->nlisten, 0);
	assert_int_equal(c->workers, 0); /* auto until config_finish */
	assert_int_equal(c->protocol, CFG_PROTO_ECHO);
	assert_string_equal(c->stats_socket, CFG_DEFAULT_STATS_SOCKET);
	assert_string_equal(config_protocol_name(c->protocol), "echo");
	assert_string_equal(config_protocol_name(CFG_PROTO_HTTP), "http");
	free(c);
}

/* --- workers --- */

struct workers_case {
	const char *in;
	int ok;
	int value;
};

static const struct workers_case workers_cases[] = {
	{ "auto", 1, 0 }, { "1", 1, 1 },
	{ "2", 1, 2 },    { "256", 1, CFG_MAX_WORKERS },
	{ "0", 0, 0 },    { "257", 0, 0 },
	{ "-1", 0, 0 },   { "", 0, 0 },
	{ "abc", 0, 0 },  { "4x", 0, 0 },
	{ " 4", 0, 0 },   { "4 ", 0, 0 },
	{ "+4", 0, 0 },   { "0x10", 0, 0 },
	{ "AUTO", 0, 0 }, { "99999999999999999999", 0, 0 },
};

static void test_set_workers(void **state)
{
	(void)state;
	for (size_t i = 0; i < N_ELEM(workers_cases); i++) {
		const struct workers_case *t = &workers_cases[i];
		struct config *c = new_config();
		char err[256] = "";
		int r;

		c->workers = 7; /* a refused value must leave this alone */
		r = config_set_workers(c, t->in, err, sizeof(err));
		if (t->ok) {
			if (r != 0)
				fail_msg("workers '%s' refused: %s", t->in, err);
			assert_int_equal(c->workers, t->value);
		} else {
			if (r != -1)
				fail_msg("workers '%s' accepted", t->in);
			assert_int_equal(c->workers, 7);
			assert_non_null(strstr(err, "workers"));
			assert_non_null(strstr(err, t->in));
			assert_null(strchr(err, '\n'));
		}
		free(c);
	}
}

/* --- protocol --- */

static void test_set_protocol(void **state)
{
	static const struct {
		const char *in;
		int ok;
		enum cfg_protocol p;
	} cases[] = {
		{ "echo", 1, CFG_PROTO_ECHO },
		{ "http", 1, CFG_PROTO_HTTP },
		{ "tcp_proxy", 1, CFG_PROTO_TCP_PROXY },
		{ "http_proxy", 1, CFG_PROTO_HTTP_PROXY },
		{ "", 0, 0 },
		{ "ftp", 0, 0 },
		{ "HTTP", 0, 0 },
		{ "echo ", 0, 0 },
		{ "http/1.1", 0, 0 },
	};

	(void)state;
	for (size_t i = 0; i < N_ELEM(cases); i++) {
		struct config *c = new_config();
		char err[256] = "";
		int r;

		c->protocol = CFG_PROTO_HTTP;
		if (cases[i].ok)
			c->protocol = cases[i].p == CFG_PROTO_HTTP ?
					      CFG_PROTO_ECHO :
					      CFG_PROTO_HTTP;
		r = config_set_protocol(c, cases[i].in, err, sizeof(err));
		if (cases[i].ok) {
			if (r != 0)
				fail_msg("protocol '%s' refused: %s",
					 cases[i].in, err);
			assert_int_equal(c->protocol, cases[i].p);
		} else {
			if (r != -1)
				fail_msg("protocol '%s' accepted", cases[i].in);
			assert_int_equal(c->protocol, CFG_PROTO_HTTP);
			assert_non_null(strstr(err, "protocol"));
			assert_non_null(
				strstr(err,
				       "echo, http, tcp_proxy or http_proxy"));
		}
		free(c);
	}
}

/* --- stats socket --- */

static void test_set_stats_socket(void **state)
{
	struct config *c = new_config();
	char err[256] = "";
	char longest[sizeof(c->stats_socket)];
	char too_long[sizeof(c->stats_socket) + 1];

	(void)state;
	assert_int_equal(config_set_stats_socket(c, "/run/rp.sock", err,
						 sizeof(err)),
			 0);
	assert_string_equal(c->stats_socket, "/run/rp.sock");

	/* sun_path holds 107 characters and the NUL */
	memset(longest, 'a', sizeof(longest) - 1);
	longest[0] = '/';
	longest[sizeof(longest) - 1] = '\0';
	assert_int_equal(config_set_stats_socket(c, longest, err, sizeof(err)), 0);
	assert_string_equal(c->stats_socket, longest);

	memset(too_long, 'b', sizeof(too_long) - 1);
	too_long[sizeof(too_long) - 1] = '\0';
	assert_int_equal(config_set_stats_socket(c, too_long, err, sizeof(err)),
			 -1);
	assert_non_null(strstr(err, "stats_socket"));
	assert_string_equal(c->stats_socket, longest); /* unchanged */

	err[0] = '\0';
	assert_int_equal(config_set_stats_socket(c, "", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "stats_socket"));
	assert_string_equal(c->stats_socket, longest);
	free(c);
}

/* --- listen addresses --- */

static void test_add_listen(void **state)
{
	struct config *c = new_config();
	char err[256] = "", out[ADDR_STRLEN];

	(void)state;
	assert_int_equal(config_add_listen(c, "127.0.0.1:0", err, sizeof(err)), 0);
	assert_int_equal(config_add_listen(c, "[::1]:9000", err, sizeof(err)), 0);
	assert_int_equal(config_add_listen(c, "8080", err, sizeof(err)), 0);
	assert_int_equal(c->nlisten, 3);
	assert_string_equal(addr_format(&c->listen[0].u.sa, out, sizeof(out)),
			    "127.0.0.1:0");
	assert_string_equal(addr_format(&c->listen[1].u.sa, out, sizeof(out)),
			    "[::1]:9000");
	assert_string_equal(addr_format(&c->listen[2].u.sa, out, sizeof(out)),
			    "0.0.0.0:8080");

	/* a refused address is not counted and the reason is addr_parse's */
	assert_int_equal(config_add_listen(c, "::1:80", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "[ADDR]:PORT"));
	assert_int_equal(config_add_listen(c, "1.2.3.4:70000", err, sizeof(err)),
			 -1);
	assert_non_null(strstr(err, "1.2.3.4:70000"));
	assert_int_equal(c->nlisten, 3);

	/* the same address and port again, however written */
	assert_int_equal(config_add_listen(c, "*:8080", err, sizeof(err)), -1);
	assert_string_equal(
		err,
		"duplicate listen address 0.0.0.0:8080 (given twice on the command line)");
	assert_int_equal(config_add_listen(c, "[0::1]:9000", err, sizeof(err)),
			 -1);
	assert_int_equal(c->nlisten, 3);
	/* another port of an address listed is another address */
	assert_int_equal(config_add_listen(c, "127.0.0.1:1", err, sizeof(err)), 0);
	config_clear_listen(c);
	assert_int_equal(c->nlisten, 0);
	assert_int_equal(config_add_listen(c, "8080", err, sizeof(err)), 0);
	free(c);
}

static void test_add_listen_bounded(void **state)
{
	struct config *c = new_config();
	char err[256] = "", s[32];

	(void)state;
	for (int i = 0; i < CFG_MAX_LISTEN; i++) {
		snprintf(s, sizeof(s), "127.0.0.%d:%d", i + 1, 1000 + i);
		assert_int_equal(config_add_listen(c, s, err, sizeof(err)), 0);
	}
	assert_int_equal(config_add_listen(c, "127.0.0.99:99", err, sizeof(err)),
			 -1);
	assert_non_null(strstr(err, "at most"));
	assert_int_equal(c->nlisten, CFG_MAX_LISTEN);
	free(c);
}

/* --- config_finish --- */

static long online_cpus(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	return n < 1 ? 1 : n > CFG_MAX_WORKERS ? CFG_MAX_WORKERS : n;
}

static void test_finish_defaults(void **state)
{
	struct config *c = new_config();
	char err[256] = "", out[ADDR_STRLEN], cwd[PATH_MAX], want[PATH_MAX + 32];

	(void)state;
	assert_int_equal(config_finish(c, err, sizeof(err)), 0);
	assert_int_equal(c->nlisten, 1);
	assert_string_equal(addr_format(&c->listen[0].u.sa, out, sizeof(out)),
			    "0.0.0.0:8080");
	assert_int_equal(c->workers, online_cpus());

	/* the relative default socket is made absolute against the cwd, so
	 * a daemon that changes directory still finds it */
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	snprintf(want, sizeof(want), "%s/%s", cwd, CFG_DEFAULT_STATS_SOCKET);
	if (strlen(want) < sizeof(c->stats_socket))
		assert_string_equal(c->stats_socket, want);
	free(c);
}

static void test_finish_keeps_what_was_set(void **state)
{
	struct config *c = new_config();
	char err[256] = "", out[ADDR_STRLEN];

	(void)state;
	assert_int_equal(config_add_listen(c, "[::1]:0", err, sizeof(err)), 0);
	assert_int_equal(config_set_workers(c, "3", err, sizeof(err)), 0);
	assert_int_equal(config_set_stats_socket(c, "/tmp/x/rp.sock", err,
						 sizeof(err)),
			 0);
	assert_int_equal(config_finish(c, err, sizeof(err)), 0);
	assert_int_equal(c->nlisten, 1); /* no default added */
	assert_string_equal(addr_format(&c->listen[0].u.sa, out, sizeof(out)),
			    "[::1]:0");
	assert_int_equal(c->workers, 3);
	assert_string_equal(c->stats_socket, "/tmp/x/rp.sock");
	free(c);
}

static void test_finish_relative_against_base(void **state)
{
	struct config *c = new_config();
	char err[256] = "";

	(void)state;
	snprintf(c->base_dir, sizeof(c->base_dir), "/srv/rp");
	assert_int_equal(config_set_stats_socket(c, "run/ctl.sock", err,
						 sizeof(err)),
			 0);
	assert_int_equal(config_finish(c, err, sizeof(err)), 0);
	assert_string_equal(c->stats_socket, "/srv/rp/run/ctl.sock");
	free(c);
}

/* A relative socket path that does not fit sun_path once absolute: a
 * daemon that detaches (and so moves to "/") cannot use it; one in the
 * foreground keeps it relative. */
static void test_finish_stats_socket_too_long(void **state)
{
	struct config *c = new_config();
	char err[256] = "";

	(void)state;
	c->base_dir[0] = '/';
	memset(c->base_dir + 1, 'd', 150);
	c->base_dir[151] = '\0';
	assert_int_equal(config_finish(c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "stats_socket"));
	assert_non_null(strstr(err, "too long"));

	config_defaults(c);
	memset(c->base_dir, 0, sizeof(c->base_dir));
	c->base_dir[0] = '/';
	memset(c->base_dir + 1, 'd', 150);
	c->foreground = 1;
	assert_int_equal(config_finish(c, err, sizeof(err)), 0);
	assert_string_equal(c->stats_socket, CFG_DEFAULT_STATS_SOCKET);
	free(c);
}

/* Every directive refuses control bytes, however it is set: a --return
 * with CR LF would put a header of the user's into every answer. */
static void test_set_refuses_control_bytes(void **state)
{
	static const char *const bad[] = {
		"302 http://x/\r\nSet-Cookie: evil=1",
		"200 a\nb",
		"200 \x7f",
		"200 \x01",
	};
	struct config c;
	char err[256];

	(void)state;
	config_defaults(&c);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(config_set(&c, "return", bad[i], err, sizeof(err)),
				 -1);
		assert_non_null(strstr(err, "return: control character 0x"));
	}
	assert_int_equal(config_set(&c, "docroot", "/tmp/a\nb", err, sizeof(err)),
			 -1);
	assert_int_equal(c.has_return, 0);
	/* a tab is text */
	assert_int_equal(config_set(&c, "return", "200 a\tb", err, sizeof(err)),
			 0);
	assert_string_equal(c.return_body, "a\tb");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_set_workers),
		cmocka_unit_test(test_set_protocol),
		cmocka_unit_test(test_set_stats_socket),
		cmocka_unit_test(test_add_listen),
		cmocka_unit_test(test_add_listen_bounded),
		cmocka_unit_test(test_finish_defaults),
		cmocka_unit_test(test_finish_keeps_what_was_set),
		cmocka_unit_test(test_finish_relative_against_base),
		cmocka_unit_test(test_finish_stats_socket_too_long),
		cmocka_unit_test(test_set_refuses_control_bytes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
