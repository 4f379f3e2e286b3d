/* test_cfgfile.c - the config file parser and the command line on top of
 * it: every directive, every error message with its line number, the
 * shipped reuseportd.conf, and the command line overriding the file. */
#include "autoconfig.h"

#include <arpa/inet.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "cfgfile.h"
#include "cli.h"
#include "config.h"
#include "log.h"

#if !defined(SHIPPED_CONF) || !defined(RUNDIR) || !defined(DAEMON_USER)
#error "build with -DSHIPPED_CONF=\"/path/to/the/built/etc/reuseportd.conf\", -DRUNDIR and -DDAEMON_USER (src/ops.am)"
#endif

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

static struct config cfg;
static char err[1024];

static int parse(const char *text)
{
	config_defaults(&cfg);
	err[0] = '\0';
	return cfgfile_parse(&cfg, "test.conf", text, strlen(text), err,
			     sizeof(err));
}

static void parse_ok(const char *text)
{
	if (parse(text) != 0)
		fail_msg("expected '%s' to parse, seen error: %s", text, err);
}

static int port_of(const struct addr *a)
{
	return addr_port(&a->u.sa);
}

/* --- every directive, with a value other than its default --- */

static void test_every_directive(void **state)
{
	(void)state;
	parse_ok("listen 127.0.0.1:8081\n"
		 "listen [::1]:8082\n"
		 "listen 8083\n"
		 "workers 3\n"
		 "protocol http\n"
		 "docroot /srv/www\n"
		 "vhost Example.ORG. /srv/example\n"
		 "vhost *.example.net 'rel dir'\n"
		 "vhost [::1] /srv/v6\n"
		 "return 302 https://example.org/\n"
		 "mime_types /srv/types\n"
		 "default_type text/plain\n"
		 "charset iso-8859-1\n"
		 "precompressed on\n"
		 "open_file_cache 500\n"
		 "open_file_cache_valid 0\n"
		 "open_file_cache_inactive 1m\n"
		 "open_file_cache_content 64k\n"
		 "max_connections 5000\n"
		 "max_connections_per_ip 20\n"
		 "rlimit_nofile 65536\n"
		 "backlog 511\n"
		 "cpu_affinity on\n"
		 "idle_yield on\n"
		 "defer_accept 3\n"
		 "header_timeout 5s\n"
		 "keepalive_timeout 2m\n"
		 "send_timeout 1m30s\n"
		 "shutdown_timeout 0\n"
		 "handover off\n"
		 "watchdog_timeout 3s\n"
		 "stats_timeout 250ms\n"
		 "http_max_request_line 4k\n"
		 "http_max_header_bytes 32k\n"
		 "http_max_headers 100\n"
		 "http_max_body 2m\n"
		 "access_log /var/log/x/access.log\n"
		 "access_log_format json\n"
		 "stats_socket /run/x/stats.sock\n"
		 "stats_socket_mode 0600\n"
		 "stats_socket_group adm\n"
		 "metrics_listen 127.0.0.1:9100\n"
		 "pidfile /run/x.pid\n"
		 "user nobody\n"
		 "group nogroup\n"
		 "log /var/log/x.log\n"
		 "log_level debug\n"
		 "foreground on\n");
	assert_int_equal(cfg.nlisten, 3);
	assert_int_equal(cfg.listen[0].u.sa.sa_family, AF_INET);
	assert_int_equal(port_of(&cfg.listen[0]), 8081);
	assert_int_equal(cfg.listen[1].u.sa.sa_family, AF_INET6);
	assert_int_equal(port_of(&cfg.listen[1]), 8082);
	assert_int_equal(port_of(&cfg.listen[2]), 8083);
	assert_int_equal(cfg.listen[2].u.in4.sin_addr.s_addr, htonl(INADDR_ANY));
	assert_int_equal(cfg.workers, 3);
	assert_int_equal(cfg.protocol, CFG_PROTO_HTTP);
	assert_string_equal(cfg.docroot, "/srv/www");
	assert_int_equal(cfg.nvhosts, 3);
	assert_string_equal(cfg.vhosts[0].name, "example.org");
	assert_string_equal(config_vhost_docroot(&cfg, 0), "/srv/example");
	assert_int_equal(cfg.vhosts[0].line, 7);
	assert_string_equal(cfg.vhosts[1].name, "*.example.net");
	assert_string_equal(config_vhost_docroot(&cfg, 1), "rel dir");
	assert_int_equal(cfg.vhosts[1].line, 8);
	assert_int_equal(cfg.vhosts[1].stat_slot, -1);
	assert_string_equal(cfg.vhosts[2].name, "[::1]");
	assert_int_equal(cfg.has_return, 1);
	assert_int_equal(cfg.return_status, 302);
	assert_string_equal(cfg.return_body, "https://example.org/");
	assert_string_equal(cfg.mime_types, "/srv/types");
	assert_string_equal(cfg.default_type, "text/plain");
	assert_string_equal(cfg.charset, "iso-8859-1");
	assert_int_equal(cfg.precompressed, 1);
	assert_int_equal(cfg.open_file_cache, 500);
	assert_int_equal(cfg.open_file_cache_valid_ms, 0);
	assert_int_equal(cfg.open_file_cache_inactive_ms, 60000);
	assert_int_equal(cfg.open_file_cache_content, 65536);
	assert_int_equal(cfg.max_connections, 5000);
	assert_int_equal(cfg.max_connections_per_ip, 20);
	assert_int_equal(cfg.rlimit_nofile, 65536);
	assert_int_equal(cfg.backlog, 511);
	assert_int_equal(cfg.cpu_affinity, 1);
	assert_int_equal(cfg.idle_yield, 1);
	assert_int_equal(cfg.defer_accept_s, 3);
	assert_int_equal(cfg.header_timeout_ms, 5000);
	assert_int_equal(cfg.keepalive_timeout_ms, 120000);
	assert_int_equal(cfg.send_timeout_ms, 90000);
	assert_int_equal(cfg.shutdown_timeout_ms, 0);
	assert_int_equal(cfg.handover, 0);
	assert_int_equal(cfg.watchdog_timeout_ms, 3000);
	assert_int_equal(cfg.stats_timeout_ms, 250);
	assert_int_equal(cfg.http_max_request_line, 4096);
	assert_int_equal(cfg.http_max_header_bytes, 32768);
	assert_int_equal(cfg.http_max_headers, 100);
	assert_int_equal(cfg.http_max_body, 2 << 20);
	assert_int_equal(cfg.access_log, CFG_ALOG_FILE);
	assert_string_equal(cfg.access_log_file, "/var/log/x/access.log");
	assert_int_equal(cfg.access_log_format, CFG_ALOG_JSON);
	assert_string_equal(cfg.stats_socket, "/run/x/stats.sock");
	assert_int_equal(cfg.stats_socket_mode, 0600);
	assert_string_equal(cfg.stats_socket_group, "adm");
	assert_int_equal(port_of(&cfg.metrics_listen), 9100);
	assert_true(cfg.metrics_listen.len > 0);
	assert_string_equal(cfg.pidfile, "/run/x.pid");
	assert_string_equal(cfg.user, "nobody");
	assert_string_equal(cfg.group, "nogroup");
	assert_int_equal(cfg.log, CFG_LOG_FILE);
	assert_string_equal(cfg.log_file, "/var/log/x.log");
	assert_int_equal(cfg.log_level, LOG_LVL_DEBUG);
	assert_int_equal(cfg.foreground, 1);
}

/* The TCP proxy's directives (test_upstream.c has their parsers' edge
 * cases): values, the lines of the upstreams, and the errors that name
 * a line. */
static void test_proxy_directives(void **state)
{
	(void)state;
	parse_ok("protocol tcp_proxy\n"
		 "upstream 127.0.0.1:8081\n"
		 "# a comment\n"
		 "upstream [::1]:8082 weight=3 max_fails=0 fail_timeout=30s\n"
		 "proxy_source 127.0.0.2-127.0.0.11\n"
		 "proxy_source ::1\n"
		 "proxy_port_range 20000-29999\n"
		 "proxy_connect_timeout 2s\n"
		 "proxy_idle_timeout 0\n"
		 "proxy_buffer 32k\n");
	assert_int_equal(cfg.protocol, CFG_PROTO_TCP_PROXY);
	assert_int_equal(cfg.nupstreams, 2);
	assert_int_equal(port_of(&cfg.upstreams[0].addr), 8081);
	assert_int_equal(cfg.upstreams[0].line, 2);
	assert_int_equal(cfg.upstreams[0].weight, 1);
	assert_int_equal(cfg.upstreams[0].max_fails, 1);
	assert_int_equal(cfg.upstreams[0].fail_timeout_ms, 10000);
	assert_int_equal(cfg.upstreams[1].line, 4);
	assert_int_equal(cfg.upstreams[1].weight, 3);
	assert_int_equal(cfg.upstreams[1].max_fails, 0);
	assert_int_equal(cfg.upstreams[1].fail_timeout_ms, 30000);
	assert_int_equal(cfg.nproxy_sources, 2);
	assert_int_equal(cfg.proxy_sources[0].count, 10);
	assert_int_equal(cfg.proxy_port_range, CFG_PORTS_RANGE);
	assert_int_equal(cfg.proxy_port_lo, 20000);
	assert_int_equal(cfg.proxy_port_hi, 29999);
	assert_int_equal(cfg.proxy_connect_timeout_ms, 2000);
	assert_int_equal(cfg.proxy_idle_timeout_ms, 0);
	assert_int_equal(cfg.proxy_buffer, 32768);
	parse_ok("proxy_port_range auto");
	assert_int_equal(cfg.proxy_port_range, CFG_PORTS_AUTO);
	parse_ok("protocol http_proxy\n"
		 "upstream 127.0.0.1:8081\n"
		 "proxy_pool 0\n"
		 "proxy_pool_timeout 5s\n"
		 "proxy_read_timeout 2m\n");
	assert_int_equal(cfg.protocol, CFG_PROTO_HTTP_PROXY);
	assert_int_equal(cfg.proxy_pool, 0);
	assert_int_equal(cfg.proxy_pool_timeout_ms, 5000);
	assert_int_equal(cfg.proxy_read_timeout_ms, 120000);
	assert_int_equal(parse("workers 1\nproxy_read_timeout 0\n"), -1);
	assert_string_equal(
		err,
		"test.conf:2: proxy_read_timeout: '0' is not a duration 1ms..1d (like 500ms, 60s, 2m)");

	assert_int_equal(parse("workers 1\nupstream 127.0.0.1:80 weight=0\n"), -1);
	assert_string_equal(err,
			    "test.conf:2: upstream: weight '0' is not a number 1..1000");
	assert_int_equal(parse("upstream 127.0.0.1:80\nupstream 127.0.0.1:80\n"),
			 -1);
	assert_string_equal(err, "test.conf:2: upstream: duplicate 127.0.0.1:80");
	assert_int_equal(parse("upstream 0.0.0.0:80\n"), -1);
	assert_non_null(
		strstr(err,
		       "test.conf:1: upstream: '0.0.0.0:80' is not a server's address"));
	assert_int_equal(parse("proxy_buffer 1m\n"), -1);
	assert_string_equal(
		err,
		"test.conf:1: proxy_buffer: '1m' is not a size 1024..65536 (like 512, 16k, 1m)");
}

/* balance, proxy_protocol and the health checks: values from a file,
 * the defaults, errors with their line. */
static void test_balance_health_directives(void **state)
{
	(void)state;
	parse_ok("protocol tcp_proxy\n");
	assert_int_equal(cfg.balance, CFG_BALANCE_RR);
	assert_int_equal(cfg.proxy_protocol, CFG_PP_OFF);
	assert_int_equal(cfg.health_check, CFG_HEALTH_OFF);
	assert_int_equal(cfg.health_interval_ms, 5000);
	assert_int_equal(cfg.health_timeout_ms, 2000);
	assert_int_equal(cfg.health_rise, 2);
	assert_int_equal(cfg.health_fall, 3);
	parse_ok("balance least_conn\n"
		 "proxy_protocol v2\n"
		 "health_check http /healthz?full=1\n"
		 "health_interval 1s\n"
		 "health_timeout 300ms\n"
		 "health_rise 1\n"
		 "health_fall 5\n");
	assert_int_equal(cfg.balance, CFG_BALANCE_LEAST_CONN);
	assert_int_equal(cfg.proxy_protocol, CFG_PP_V2);
	assert_int_equal(cfg.health_check, CFG_HEALTH_HTTP);
	assert_string_equal(cfg.health_path, "/healthz?full=1");
	assert_int_equal(cfg.health_interval_ms, 1000);
	assert_int_equal(cfg.health_timeout_ms, 300);
	assert_int_equal(cfg.health_rise, 1);
	assert_int_equal(cfg.health_fall, 5);
	parse_ok("balance hash\nproxy_protocol v1\nhealth_check tcp\n");
	assert_int_equal(cfg.balance, CFG_BALANCE_HASH);
	assert_int_equal(cfg.proxy_protocol, CFG_PP_V1);
	assert_int_equal(cfg.health_check, CFG_HEALTH_TCP);
	assert_string_equal(cfg.health_path, "");

	assert_int_equal(parse("workers 1\nbalance random\n"), -1);
	assert_string_equal(
		err,
		"test.conf:2: balance: 'random' is not round_robin, least_conn or hash");
	assert_int_equal(parse("health_check http\n"), -1);
	assert_non_null(
		strstr(err,
		       "test.conf:1: health_check: 'http' is not off, tcp or http PATH"));
	assert_int_equal(parse("health_check http healthz\n"), -1);
	assert_int_equal(parse("health_rise 0\n"), -1);
	assert_string_equal(err,
			    "test.conf:1: health_rise: '0' is not a number 1..100");
	assert_int_equal(parse("health_interval 50ms\n"), -1);
	assert_int_equal(parse("proxy_protocol v3\n"), -1);
	assert_string_equal(err,
			    "test.conf:1: proxy_protocol: 'v3' is not off, v1 or v2");
}

/* The test above must not miss a directive added later. */
static void test_table_is_covered(void **state)
{
	static const char *const covered[] = {
		"listen",
		"workers",
		"protocol",
		"upstream",
		"proxy_source",
		"proxy_port_range",
		"proxy_connect_timeout",
		"proxy_idle_timeout",
		"proxy_buffer",
		"proxy_pool",
		"proxy_pool_timeout",
		"proxy_read_timeout",
		"balance",
		"proxy_protocol",
		"health_check",
		"health_interval",
		"health_timeout",
		"health_rise",
		"health_fall",
		"docroot",
		"vhost",
		"return",
		"mime_types",
		"default_type",
		"charset",
		"precompressed",
		"open_file_cache",
		"open_file_cache_valid",
		"open_file_cache_inactive",
		"open_file_cache_content",
		"max_connections",
		"max_connections_per_ip",
		"rlimit_nofile",
		"backlog",
		"cpu_affinity",
		"idle_yield",
		"defer_accept",
		"header_timeout",
		"keepalive_timeout",
		"send_timeout",
		"shutdown_timeout",
		"handover",
		"watchdog_timeout",
		"stats_timeout",
		"http_max_request_line",
		"http_max_header_bytes",
		"http_max_headers",
		"http_max_body",
		"access_log",
		"access_log_format",
		"stats_socket",
		"stats_socket_mode",
		"stats_socket_group",
		"metrics_listen",
		"pidfile",
		"user",
		"group",
		"log",
		"log_level",
		"foreground",
	};
	const struct config_directive *d;
	size_t n = 0;

	(void)state;
	for (size_t i = 0; (d = config_directive_at(i)); i++, n++) {
		size_t k = 0;

		while (k < NELEM(covered) && strcmp(covered[k], d->name))
			k++;
		if (k == NELEM(covered))
			fail_msg("directive '%s' has no test in test_every_directive",
				 d->name);
	}
	assert_int_equal(n, NELEM(covered));
}

/* Other accepted spellings of values. */
static void test_value_forms(void **state)
{
	/* clang-format off */
	static const struct {
		const char *text;
		size_t off;   /* an int field of struct config */
		int expected;
	} cases[] = {
		{ "workers auto", offsetof(struct config, workers), 0 },
		{ "workers 256", offsetof(struct config, workers), 256 },
		{ "protocol echo", offsetof(struct config, protocol), CFG_PROTO_ECHO },
		{ "max_connections auto", offsetof(struct config, max_connections), 0 },
		{ "max_connections_per_ip off", offsetof(struct config, max_connections_per_ip), 0 },
		{ "max_connections_per_ip 0", offsetof(struct config, max_connections_per_ip), 0 },
		{ "backlog auto", offsetof(struct config, backlog), 0 },
		{ "cpu_affinity yes", offsetof(struct config, cpu_affinity), 1 },
		{ "cpu_affinity false", offsetof(struct config, cpu_affinity), 0 },
		{ "idle_yield yes", offsetof(struct config, idle_yield), 1 },
		{ "handover on", offsetof(struct config, handover), 1 },
		{ "foreground off", offsetof(struct config, foreground), 0 },
		{ "header_timeout 500ms", offsetof(struct config, header_timeout_ms), 500 },
		{ "header_timeout 10", offsetof(struct config, header_timeout_ms), 10000 },
		{ "header_timeout 1h", offsetof(struct config, header_timeout_ms), 3600000 },
		{ "keepalive_timeout 24h", offsetof(struct config, keepalive_timeout_ms), 86400000 },
		{ "shutdown_timeout 1m1s1ms", offsetof(struct config, shutdown_timeout_ms), 61001 },
		{ "log stderr", offsetof(struct config, log), CFG_LOG_STDERR },
		{ "log syslog", offsetof(struct config, log), CFG_LOG_SYSLOG },
		{ "log ./relative.log", offsetof(struct config, log), CFG_LOG_FILE },
		{ "log_level error", offsetof(struct config, log_level), LOG_LVL_ERROR },
		{ "log_level warn", offsetof(struct config, log_level), LOG_LVL_WARN },
		{ "log_level info", offsetof(struct config, log_level), LOG_LVL_INFO },
		{ "stats_socket_mode 660", offsetof(struct config, stats_socket_mode), 0660 },
		{ "http_max_headers 1", offsetof(struct config, http_max_headers), 1 },
	};
	/* clang-format on */

	(void)state;
	for (size_t i = 0; i < NELEM(cases); i++) {
		int v;

		parse_ok(cases[i].text);
		memcpy(&v, (char *)&cfg + cases[i].off, sizeof(v));
		if (v != cases[i].expected)
			fail_msg("'%s': expected %d, seen %d", cases[i].text,
				 cases[i].expected, v);
	}
	parse_ok("rlimit_nofile auto");
	assert_int_equal(cfg.rlimit_nofile, 0);
	parse_ok("http_max_body 0");
	assert_int_equal(cfg.http_max_body, 0);
	parse_ok("http_max_body 1G");
	assert_int_equal(cfg.http_max_body, 1ULL << 30);
	parse_ok("metrics_listen off");
	assert_int_equal(cfg.metrics_listen.len, 0);
	parse_ok("return 200");
	assert_int_equal(cfg.return_status, 200);
	assert_string_equal(cfg.return_body, "");
	parse_ok("return 204");
	parse_ok("return 503 down for   maintenance");
	assert_string_equal(cfg.return_body, "down for maintenance");
	parse_ok("return 200 \"two  blanks\"");
	assert_string_equal(cfg.return_body, "two  blanks");
}

/* --- the syntax --- */

static void test_syntax(void **state)
{
	(void)state;
	/* Comments, blank lines, tabs, CRLF, a byte order mark. */
	parse_ok("\xef\xbb\xbf# reuseportd\r\n"
		 "\r\n"
		 "   \t\n"
		 "\tworkers\t2   # two\r\n"
		 "#workers 3\n"
		 "listen 127.0.0.1:1 #listen 127.0.0.1:2\n"
		 "listen 127.0.0.1:3");
	assert_int_equal(cfg.workers, 2);
	assert_int_equal(cfg.nlisten, 2);
	assert_int_equal(port_of(&cfg.listen[1]), 3);

	/* Quotes; a '#' inside a word or quotes is no comment. */
	parse_ok("docroot \"/srv/my site\"\n"
		 "log '/var/log/a#b \\n.log'\n"
		 "pidfile /run/x#1.pid\n"
		 "return 200 \"say \\\"hi\\\" \\\\ # not a comment\"\n");
	assert_string_equal(cfg.docroot, "/srv/my site");
	assert_string_equal(cfg.log_file, "/var/log/a#b \\n.log");
	assert_string_equal(cfg.pidfile, "/run/x#1.pid");
	assert_string_equal(cfg.return_body, "say \"hi\" \\ # not a comment");

	/* The empty file and a file without a final newline. */
	parse_ok("");
	assert_int_equal(cfg.nlisten, 0);
	parse_ok("workers 5");
	assert_int_equal(cfg.workers, 5);
}

/* --- every error, with its line --- */

/* clang-format off */
static const struct {
	const char *text;
	const char *expected;
} errors[] = {
	/* unknown directives, with and without a suggestion */
	{ "worker 4\n", "test.conf:1: unknown directive 'worker' (did you mean 'workers'?)" },
	{ "\n# listen\n\nlistne 80\n", "test.conf:4: unknown directive 'listne' (did you mean 'listen'?)" },
	{ "workers 2\nstats-socket /x\n", "test.conf:2: unknown directive 'stats-socket' (did you mean 'stats_socket'?)" },
	{ "Workers 2\n", "test.conf:1: unknown directive 'Workers' (did you mean 'workers'?)" },
	{ "keepalive 5s\n", "test.conf:1: unknown directive 'keepalive' (did you mean 'keepalive_timeout'?)" },
	{ "pidfle /x.pid\n", "test.conf:1: unknown directive 'pidfle' (did you mean 'pidfile'?)" },
	{ "frobnicate 1\n", "test.conf:1: unknown directive 'frobnicate'" },
	{ "x 1\n", "test.conf:1: unknown directive 'x'" },
	/* arity and repetition */
	{ "workers\n", "test.conf:1: 'workers' needs a value" },
	{ "workers 2\n\nlisten   # nothing\n", "test.conf:3: 'listen' needs a value" },
	{ "workers 2 3\n", "test.conf:1: 'workers' takes 1 value, 2 given" },
	{ "log /a /b\n", "test.conf:1: 'log' takes 1 value, 2 given" },
	{ "workers 2\nprotocol echo\nworkers 3\n", "test.conf:3: duplicate 'workers' (first set on line 1)" },
	{ "user a\nuser a\n", "test.conf:2: duplicate 'user' (first set on line 1)" },
	/* bad values, one per directive */
	{ "listen 300.1.1.1:80\n", "test.conf:1: listen: '300.1.1.1:80': bad IPv4 address" },
	{ "listen 127.0.0.1:70000\n", "test.conf:1: listen: '127.0.0.1:70000': port must be 0..65535" },
	{ "listen [::1\n", "test.conf:1: listen: '[::1': expected [IPv6]:PORT" },
	{ "workers lots\n", "test.conf:1: workers: 'lots' is not 'auto' or a number 1..256" },
	{ "workers 0\n", "test.conf:1: workers: '0' is not 'auto' or a number 1..256" },
	{ "workers 257\n", "test.conf:1: workers: '257' is not 'auto' or a number 1..256" },
	{ "protocol gopher\n", "test.conf:1: protocol: 'gopher' is not echo, http, tcp_proxy or http_proxy" },
	{ "docroot \"\"\n", "test.conf:1: docroot: must be 1..4095 bytes long" },
	{ "vhost example.org\n", "test.conf:1: vhost: 'example.org' needs a NAME and a DOCROOT" },
	{ "vhost a /x /y\n", "test.conf:1: 'vhost' takes at most 2 values, 3 given" },
	{ "vhost ex_ample..org /x\n", "test.conf:1: vhost: 'ex_ample..org' is not a host name (like example.org, *.example.org or [::1])" },
	{ "vhost *example.org /x\n", "test.conf:1: vhost: '*example.org' is not a host name (like example.org, *.example.org or [::1])" },
	{ "vhost *.*.org /x\n", "test.conf:1: vhost: '*.*.org' is not a host name (like example.org, *.example.org or [::1])" },
	{ "vhost a.b:80 /x\n", "test.conf:1: vhost: 'a.b:80' is not a host name (like example.org, *.example.org or [::1])" },
	{ "vhost [::1 /x\n", "test.conf:1: vhost: '[::1' is not a host name (like example.org, *.example.org or [::1])" },
	{ "vhost '' /x\n", "test.conf:1: vhost: '' is not a host name (like example.org, *.example.org or [::1])" },
	{ "vhost a.b /x\n\nvhost A.B. /y\n", "test.conf:3: vhost: duplicate 'a.b' (first at line 1)" },
	{ "return 99 x\n", "test.conf:1: return: status '99' is not a number 200..599" },
	{ "return abc\n", "test.conf:1: return: status 'abc' is not a number 200..599" },
	{ "return 301\n", "test.conf:1: return: a 301 redirect needs a URL" },
	{ "mime_types ''\n", "test.conf:1: mime_types: must be 1..4095 bytes long" },
	{ "default_type html\n", "test.conf:1: default_type: 'html' is not a media type (type/subtype, like text/plain)" },
	{ "default_type \"text/plain; charset=utf-8\"\n", "test.conf:1: default_type: 'text/plain; charset=utf-8' is not a media type (type/subtype, like text/plain)" },
	{ "precompressed gzip\n", "test.conf:1: precompressed: 'gzip' is not on or off" },
	{ "open_file_cache max=1000\n", "test.conf:1: open_file_cache: 'max=1000' is not off or a number 0..1000000 (0: off)" },
	{ "open_file_cache_valid -1\n", "test.conf:1: open_file_cache_valid: '-1' is not a duration 0ms..24h (like 500ms, 10s, 2m)" },
	{ "open_file_cache_inactive 0\n", "test.conf:1: open_file_cache_inactive: '0' is not a duration 1ms..24h (like 500ms, 10s, 2m)" },
	{ "open_file_cache_content 2g\n", "test.conf:1: open_file_cache_content: '2g' is not a size 0..1073741824 (like 512, 16k, 1m)" },
	{ "charset \"utf 8\"\n", "test.conf:1: charset: 'utf 8' is not off or a charset name (like utf-8)" },
	{ "max_connections -1\n", "test.conf:1: max_connections: '-1' is not 'auto' or a number 1..10000000" },
	{ "\nmax_connections_per_ip -1\n", "test.conf:2: max_connections_per_ip: '-1' is not off or a number 0..10000000 (0: off)" },
	{ "max_connections_per_ip auto\n", "test.conf:1: max_connections_per_ip: 'auto' is not off or a number 0..10000000 (0: off)" },
	{ "rlimit_nofile 10\n", "test.conf:1: rlimit_nofile: '10' is not 'auto' or a number 64..1073741824" },
	{ "backlog 0\n", "test.conf:1: backlog: '0' is not 'auto' or a number 1..2147483647" },
	{ "cpu_affinity maybe\n", "test.conf:1: cpu_affinity: 'maybe' is not on or off" },
	{ "header_timeout 0\n", "test.conf:1: header_timeout: '0' is not a duration 1ms..24h (like 500ms, 10s, 2m)" },
	{ "keepalive_timeout 10 s\n", "test.conf:1: 'keepalive_timeout' takes 1 value, 2 given" },
	{ "keepalive_timeout 25h\n", "test.conf:1: keepalive_timeout: '25h' is not a duration 1ms..24h (like 500ms, 10s, 2m)" },
	{ "send_timeout 10x\n", "test.conf:1: send_timeout: '10x' is not a duration 1ms..24h (like 500ms, 10s, 2m)" },
	{ "shutdown_timeout -1s\n", "test.conf:1: shutdown_timeout: '-1s' is not a duration 0ms..24h (like 500ms, 10s, 2m)" },
	{ "watchdog_timeout 1s\n", "test.conf:1: watchdog_timeout: '1s' is not a duration 2000ms..24h (like 500ms, 10s, 2m)" },
	{ "stats_timeout 1.5s\n", "test.conf:1: stats_timeout: '1.5s' is not a duration 1ms..24h (like 500ms, 10s, 2m)" },
	{ "http_max_request_line 100\n", "test.conf:1: http_max_request_line: '100' is not a size 256..1048576 (like 512, 16k, 1m)" },
	{ "http_max_header_bytes 1t\n", "test.conf:1: http_max_header_bytes: '1t' is not a size 1024..16777216 (like 512, 16k, 1m)" },
	{ "http_max_headers 0\n", "test.conf:1: http_max_headers: '0' is not a number 1..10000" },
	{ "http_max_body 2kk\n", "test.conf:1: http_max_body: '2kk' is not a size 0..1099511627776 (like 512, 16k, 1m)" },
	{ "stats_socket ''\n", "test.conf:1: stats_socket: must be 1..107 bytes long" },
	{ "stats_socket_mode 0999\n", "test.conf:1: stats_socket_mode: '0999' is not an octal mode 0000..0777" },
	{ "stats_socket_mode 01777\n", "test.conf:1: stats_socket_mode: '01777' is not an octal mode 0000..0777" },
	{ "stats_socket_group ''\n", "test.conf:1: stats_socket_group: must be 1..63 bytes long" },
	{ "metrics_listen nowhere:x\n", "test.conf:1: metrics_listen: 'nowhere:x': bad IPv4 address" },
	{ "pidfile \"\"\n", "test.conf:1: pidfile: must be 1..4095 bytes long" },
	{ "user ''\n", "test.conf:1: user: must be 1..63 bytes long" },
	{ "group \"\"\n", "test.conf:1: group: must be 1..63 bytes long" },
	{ "log sylog\n", "test.conf:1: log: 'sylog' is not stderr, syslog or a file path (with a '/')" },
	{ "access_log on\n", "test.conf:1: access_log: 'on' is not off, syslog or a file path (with a '/')" },
	{ "access_log_format common\n", "test.conf:1: access_log_format: 'common' is not combined or json" },
	{ "log_level verbose\n", "test.conf:1: log_level: 'verbose' is not error, warn, info or debug" },
	{ "foreground 1\n", "test.conf:1: foreground: '1' is not on or off" },
	/* syntax */
	{ "workers 2\ndocroot \"/srv\n", "test.conf:2: unterminated double quote" },
	{ "docroot '/srv\n", "test.conf:1: unterminated single quote" },
	{ "docroot \"/srv\\\n", "test.conf:1: unterminated double quote" },
	{ "docroot \"/s\\rv\"\n", "test.conf:1: unknown escape '\\r' (only \\\" and \\\\)" },
	{ "docroot \"/srv\"/www\n", "test.conf:1: text right after a closing quote" },
	{ "docroot /srv\"www\"\n", "test.conf:1: a quote inside a word (quote the whole value)" },
	{ "workers 2\x01\n", "test.conf:1: control character 0x01" },
	{ "\n\nworkers\x7f 2\n", "test.conf:3: control character 0x7f" },
	/* the same address and port twice, however spelt */
	{ "listen 0.0.0.0:8080\nworkers 2\nlisten *:8080\n", "test.conf:3: duplicate listen address 0.0.0.0:8080 (first at line 1)" },
	{ "listen 8080\nlisten 0.0.0.0:8080\n", "test.conf:2: duplicate listen address 0.0.0.0:8080 (first at line 1)" },
	{ "listen [::1]:80\n\nlisten [0:0::1]:80\n", "test.conf:3: duplicate listen address [::1]:80 (first at line 1)" },
	{ "listen 127.0.0.1:0\nlisten 127.0.0.1:0\n", "test.conf:2: duplicate listen address 127.0.0.1:0 (first at line 1)" },
	{ "listen 127.0.0.1:1\nlisten 127.0.0.2:1\nlisten 127.0.0.1:1\n", "test.conf:3: duplicate listen address 127.0.0.1:1 (first at line 1)" },
	/* a host name must look like one: no lookup otherwise */
	{ "listen bad_host:80\n", "test.conf:1: listen: 'bad_host:80': 'bad_host' is not an IP address or a host name" },
	{ "listen localhost:80000\n", "test.conf:1: listen: 'localhost:80000': port must be 0..65535" },
};
/* clang-format on */

static void test_errors(void **state)
{
	(void)state;
	for (size_t i = 0; i < NELEM(errors); i++) {
		if (parse(errors[i].text) == 0)
			fail_msg("'%s': expected the error \"%s\", seen it accepted",
				 errors[i].text, errors[i].expected);
		if (strcmp(err, errors[i].expected))
			fail_msg("'%s':\n  expected \"%s\"\n  seen     \"%s\"",
				 errors[i].text, errors[i].expected, err);
	}
}

/* Errors that need text too long to write in the table. */
static void test_error_limits(void **state)
{
	char *text = malloc(CFGFILE_MAX_LINE * 2 + 64);
	size_t n = 0;

	(void)state;
	assert_non_null(text);
	/* 17 listen lines: the 17th is one too many. */
	for (int i = 1; i <= CFG_MAX_LISTEN + 1; i++)
		n += (size_t)sprintf(text + n, "listen 127.0.0.1:%d\n", i);
	assert_int_equal(parse(text), -1);
	assert_string_equal(err,
			    "test.conf:17: listen: at most 16 listen addresses");

	/* A line one byte too long; the longest one is fine. */
	n = (size_t)sprintf(text, "workers 2\n# ");
	memset(text + n, 'a', CFGFILE_MAX_LINE - 1);
	strcpy(text + n + CFGFILE_MAX_LINE - 1, "\nworkers 3\n");
	assert_int_equal(parse(text), -1);
	assert_string_equal(err, "test.conf:2: line longer than 4096 bytes");
	strcpy(text + n + CFGFILE_MAX_LINE - 2, "\nworkers 3\n");
	assert_int_equal(parse(text), -1);
	assert_string_equal(err,
			    "test.conf:3: duplicate 'workers' (first set on line 1)");

	/* 65 words. */
	n = (size_t)sprintf(text, "return 200");
	for (int i = 0; i < CFGFILE_MAX_ARGS - 1; i++)
		n += (size_t)sprintf(text + n, " w");
	assert_int_equal(parse(text), -1);
	assert_string_equal(err, "test.conf:1: more than 64 words on one line");
	/* A NUL byte is a control character. */
	assert_int_equal(cfgfile_parse(&cfg, "nul.conf", "workers 2\nwork\0ers 2\n",
				       21, err, sizeof(err)),
			 -1);
	assert_string_equal(err, "nul.conf:2: control character 0x00");
	free(text);
}

static void test_suggest(void **state)
{
	(void)state;
	assert_string_equal(cfgfile_suggest("workes"), "workers");
	assert_string_equal(cfgfile_suggest("LISTEN"), "listen");
	assert_string_equal(cfgfile_suggest("log-level"), "log_level");
	assert_string_equal(cfgfile_suggest("loglevel"), "log_level");
	assert_string_equal(cfgfile_suggest("rlimit_nofiles"), "rlimit_nofile");
	assert_null(cfgfile_suggest("http_max")); /* the prefix of four */
	assert_null(cfgfile_suggest("ab"));
	assert_null(cfgfile_suggest("zzzzzzzz"));
	assert_null(cfgfile_suggest(""));
}

/* --- files --- */

static char tmpdir[64];

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void test_load(void **state)
{
	char path[128], expect[256];

	(void)state;
	snprintf(path, sizeof(path), "%s/a.conf", tmpdir);
	write_file(path, "workers 2\n\nprotocol http\nworkers 3\n");
	config_defaults(&cfg);
	assert_int_equal(cfgfile_load(&cfg, path, err, sizeof(err)), -1);
	snprintf(expect, sizeof(expect),
		 "%s:4: duplicate 'workers' (first set on line 1)", path);
	assert_string_equal(err, expect);

	snprintf(path, sizeof(path), "%s/missing.conf", tmpdir);
	assert_int_equal(cfgfile_load(&cfg, path, err, sizeof(err)), -1);
	snprintf(expect, sizeof(expect), "%s: No such file or directory", path);
	assert_string_equal(err, expect);

	assert_int_equal(cfgfile_load(&cfg, tmpdir, err, sizeof(err)), -1);
	snprintf(expect, sizeof(expect), "%s: not a regular file", tmpdir);
	assert_string_equal(err, expect);

	/* Over 1 MiB of comments. */
	snprintf(path, sizeof(path), "%s/big.conf", tmpdir);
	{
		FILE *f = fopen(path, "w");

		assert_non_null(f);
		for (int i = 0; i < (CFGFILE_MAX_SIZE / 64) + 1; i++)
			fprintf(f, "# %061d\n", i);
		fclose(f);
	}
	assert_int_equal(cfgfile_load(&cfg, path, err, sizeof(err)), -1);
	snprintf(expect, sizeof(expect), "%s: larger than 1048576 bytes", path);
	assert_string_equal(err, expect);

	snprintf(path, sizeof(path), "%s/ok.conf", tmpdir);
	write_file(path, "workers 7\n");
	config_defaults(&cfg);
	assert_int_equal(cfgfile_load(&cfg, path, err, sizeof(err)), 0);
	assert_int_equal(cfg.workers, 7);
}

/* The shipped file (made from etc/reuseportd.conf.in): it parses, shows
 * every directive, and its active lines are the built-in defaults but
 * for the stats socket's place, configure's run directory, the workers'
 * user (never root by default) and the access log. */
static void test_shipped_conf(void **state)
{
	static struct config dflt;
	const char *path = SHIPPED_CONF;
	const struct config_directive *d;
	FILE *f = fopen(path, "r");
	char *text;
	long len;

	(void)state;
	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	len = ftell(f);
	rewind(f);
	text = calloc(1, (size_t)len + 1);
	assert_non_null(text);
	assert_int_equal(fread(text, 1, (size_t)len, f), (size_t)len);
	fclose(f);

	for (size_t i = 0; (d = config_directive_at(i)); i++) {
		char on[80], off[80];

		snprintf(on, sizeof(on), "\n%s ", d->name);
		snprintf(off, sizeof(off), "\n#%s ", d->name);
		if (!strstr(text, on) && !strstr(text, off))
			fail_msg("%s: directive '%s' is missing", path, d->name);
	}
	config_defaults(&cfg);
	assert_int_equal(cfgfile_load(&cfg, path, err, sizeof(err)), 0);
	assert_string_equal(cfg.stats_socket, RUNDIR "/reuseportd.sock");
	assert_string_equal(cfg.user, DAEMON_USER);
	/* The access log is on, in the log directory (README: why). */
	assert_int_equal(cfg.access_log, CFG_ALOG_FILE);
	assert_non_null(strstr(cfg.access_log_file, "/log/reuseportd/access.log"));
	config_defaults(&dflt);
	strcpy(dflt.stats_socket, cfg.stats_socket);
	strcpy(dflt.user, cfg.user);
	dflt.access_log = cfg.access_log;
	strcpy(dflt.access_log_file, cfg.access_log_file);
	strcpy(cfg.base_dir, "/");
	strcpy(dflt.base_dir, "/");
	assert_int_equal(config_finish(&cfg, err, sizeof(err)), 0);
	assert_int_equal(config_finish(&dflt, err, sizeof(err)), 0);
	/* Its listen line is the default address, but given on a line. */
	assert_int_equal(cfg.nlisten, 1);
	assert_true(cfg.listen_line[0] > 0);
	dflt.listen_line[0] = cfg.listen_line[0];
	assert_memory_equal(&cfg, &dflt, sizeof(cfg));
	free(text);
}

/* --- finishing --- */

static void test_finish_paths(void **state)
{
	(void)state;
	parse_ok("pidfile run/x.pid\nlog ./log/x.log\ndocroot www\nstats_socket s.sock\n"
		 "vhost a /abs\nvhost b rel/b\nvhost c c\nmime_types etc/types\n");
	strcpy(cfg.base_dir, "/srv/base");
	assert_int_equal(config_finish(&cfg, err, sizeof(err)), 0);
	assert_string_equal(config_vhost_docroot(&cfg, 0), "/abs");
	assert_string_equal(config_vhost_docroot(&cfg, 1), "/srv/base/rel/b");
	assert_string_equal(config_vhost_docroot(&cfg, 2), "/srv/base/c");
	assert_string_equal(cfg.pidfile, "/srv/base/run/x.pid");
	assert_string_equal(cfg.log_file, "/srv/base/./log/x.log");
	assert_string_equal(cfg.docroot, "/srv/base/www");
	assert_string_equal(cfg.mime_types, "/srv/base/etc/types");
	assert_string_equal(cfg.stats_socket, "/srv/base/s.sock");
	assert_int_equal(cfg.nlisten, 1); /* the default address */
	assert_int_equal(port_of(&cfg.listen[0]), 8080);
	assert_true(cfg.workers >= 1);
}

/* Copies of a configuration share its vhost table; the master keeps
 * the tables of the two it may still use and frees the others (a
 * reload's refused configuration, the one before the last). */
static void test_vhost_tables_kept(void **state)
{
	struct config a, b;

	(void)state;
	parse_ok("vhost a.example /a\nvhost b.example /b\n");
	a = cfg;
	parse_ok("vhost c.example /c\n");
	b = cfg;
	assert_ptr_not_equal(a.vhosts, b.vhosts);
	config_vhosts_keep(&a, NULL); /* b's goes */
	assert_int_equal(a.nvhosts, 2);
	assert_string_equal(a.vhosts[1].name, "b.example");
	assert_string_equal(config_vhost_docroot(&a, 1), "/b");
	/* one without vhosts has no table to keep */
	parse_ok("workers 2\n");
	assert_null(cfg.vhosts);
	config_vhosts_keep(&cfg, &a);
	assert_string_equal(a.vhosts[0].name, "a.example");
	config_vhosts_keep(NULL, NULL); /* ASan: nothing left behind */
	config_defaults(&cfg);
}

static void test_parse_helpers(void **state)
{
	long long ms;
	unsigned long long b;

	(void)state;
	assert_int_equal(config_parse_duration("1h1m1s1ms", 100000000, &ms), 0);
	assert_int_equal(ms, 3661001);
	assert_int_equal(config_parse_duration("3", 10000, &ms), 0);
	assert_int_equal(ms, 3000);
	assert_int_equal(config_parse_duration("11", 10000, &ms), -1);
	assert_int_equal(config_parse_duration("99999999999999999999s", 1000, &ms),
			 -1);
	assert_int_equal(config_parse_duration("", 1000, &ms), -1);
	assert_int_equal(config_parse_duration("s", 1000, &ms), -1);
	assert_int_equal(config_parse_duration("1s2", 10000, &ms), -1);
	assert_int_equal(config_parse_duration("1 s", 10000, &ms), -1);
	assert_int_equal(config_parse_size("16k", &b), 0);
	assert_int_equal(b, 16384);
	assert_int_equal(config_parse_size("3M", &b), 0);
	assert_int_equal(b, 3 << 20);
	assert_int_equal(config_parse_size("99999999999g", &b), -1);
	assert_int_equal(config_parse_size("k", &b), -1);
	assert_int_equal(config_parse_size("-1", &b), -1);
}

/* --- the command line over the file --- */

static int cli_run(struct cli *cl, const char *const *args)
{
	static char *argv[32];
	int argc = 0;

	argv[argc++] = (char *)"reuseportd";
	while (*args)
		argv[argc++] = (char *)*args++;
	argv[argc] = NULL;
	return cli_parse(argc, argv, cl, err, sizeof(err));
}

static void test_cli_overrides(void **state)
{
	static struct cli cl;
	const char *args[] = {
		"-c",        "x.conf",
		"-w",        "2",
		"-l",        "127.0.0.1:0",
		"--listen",  "[::1]:0",
		"-p",        "/run/cli.pid",
		"-u",        "daemon",
		"-g",        "daemon",
		"--docroot", "/cli",
		"--return",  "201 made by the command line",
		"-s",        "/tmp/cli.sock",
		"-f",        "-v",
		"-t",        "--idle-yield",
		NULL
	};

	(void)state;
	parse_ok("workers 6\n"
		 "listen 10.0.0.1:80\nlisten 10.0.0.2:80\nlisten 10.0.0.3:80\n"
		 "protocol http\n"
		 "pidfile /run/file.pid\n"
		 "user nobody\n"
		 "keepalive_timeout 5s\n"
		 "log_level warn\n");
	assert_int_equal(cli_run(&cl, args), 0);
	assert_string_equal(cl.config_file, "x.conf");
	assert_int_equal(cl.test, 1);
	assert_int_equal(cl.verbose, 1);
	assert_int_equal(cl.action, CLI_RUN);
	assert_int_equal(cli_apply(&cl, &cfg, err, sizeof(err)), 0);
	/* The command line wins... */
	assert_int_equal(cfg.workers, 2);
	assert_int_equal(cfg.nlisten, 2); /* replaced, not appended */
	assert_int_equal(cfg.listen[0].u.sa.sa_family, AF_INET);
	assert_int_equal(cfg.listen[1].u.sa.sa_family, AF_INET6);
	assert_string_equal(cfg.pidfile, "/run/cli.pid");
	assert_string_equal(cfg.user, "daemon");
	assert_string_equal(cfg.group, "daemon");
	assert_string_equal(cfg.docroot, "/cli");
	assert_int_equal(cfg.return_status, 201);
	assert_string_equal(cfg.return_body, "made by the command line");
	assert_string_equal(cfg.stats_socket, "/tmp/cli.sock");
	assert_int_equal(cfg.foreground, 1);
	assert_int_equal(cfg.idle_yield, 1);
	assert_int_equal(cfg.log_level, LOG_LVL_DEBUG);
	/* ...and what it does not say, the file says. */
	assert_int_equal(cfg.protocol, CFG_PROTO_HTTP);
	assert_int_equal(cfg.keepalive_timeout_ms, 5000);

	/* Applying twice (a reload) gives the same result. */
	parse_ok("workers 6\nlisten 10.0.0.1:80\n");
	assert_int_equal(cli_apply(&cl, &cfg, err, sizeof(err)), 0);
	assert_int_equal(cfg.workers, 2);
	assert_int_equal(cfg.nlisten, 2);

	/* Without -l the file's addresses stay. */
	const char *no_listen[] = { "-P", "echo", NULL };

	parse_ok("listen 10.0.0.1:80\nlisten 10.0.0.2:80\nprotocol http\n");
	assert_int_equal(cli_run(&cl, no_listen), 0);
	assert_int_equal(cli_apply(&cl, &cfg, err, sizeof(err)), 0);
	assert_int_equal(cfg.nlisten, 2);
	assert_int_equal(cfg.protocol, CFG_PROTO_ECHO);
}

static void test_cli_errors(void **state)
{
	static const struct {
		const char *args[4];
		int parse_fails;
		const char *expected;
	} cases[] = {
		{ { "--nope" }, 1, "unknown option '--nope'" },
		{ { "-w" }, 1, "missing argument for option '-w'" },
		{ { "--config" }, 1, "missing argument for option '--config'" },
		{ { "stray" }, 1, "unexpected argument 'stray'" },
		{ { "-w", "many" },
		  0,
		  "workers: 'many' is not 'auto' or a number 1..256" },
		{ { "--return", "ok" },
		  0,
		  "return: status 'ok' is not a number 200..599" },
		{ { "-P", "gopher" },
		  0,
		  "protocol: 'gopher' is not echo, http, tcp_proxy or http_proxy" },
		{ { "-l", "1.2.3.4" },
		  0,
		  "listen: '1.2.3.4': port must be 0..65535" },
	};
	static struct cli cl;

	(void)state;
	for (size_t i = 0; i < NELEM(cases); i++) {
		int r = cli_run(&cl, cases[i].args);

		if (cases[i].parse_fails) {
			assert_int_equal(r, -1);
		} else {
			assert_int_equal(r, 0);
			config_defaults(&cfg);
			assert_int_equal(cli_apply(&cl, &cfg, err, sizeof(err)),
					 -1);
		}
		assert_string_equal(err, cases[i].expected);
	}
	const char *help[] = { "-w", "2", "--help", NULL },
		   *ver[] = { "-V", NULL };

	assert_int_equal(cli_run(&cl, help), 0);
	assert_int_equal(cl.action, CLI_HELP);
	assert_int_equal(cli_run(&cl, ver), 0);
	assert_int_equal(cl.action, CLI_VERSION);
}

/* Which config file: -c FILE, -c none, or the default if anything is at
 * its path. */
static void test_cli_config_file(void **state)
{
	static struct cli cl;
	char dflt[256], path[PATH_MAX], want[PATH_MAX], notdir[300];
	const char *none[] = { NULL }, *given[] = { "-c", "x.conf", NULL },
		   *abs[] = { "-c", "/etc/y.conf", NULL },
		   *off[] = { "-c", "none", NULL },
		   *here[] = { "-c", "./none", NULL },
		   *empty[] = { "-c", "", NULL };

	(void)state;
	snprintf(dflt, sizeof(dflt), "%s/default.conf", tmpdir);
	unlink(dflt);

	/* No -c, nothing at the default path: the built-in defaults, and
	 * the path that was looked for. */
	assert_int_equal(cli_run(&cl, none), 0);
	assert_int_equal(cli_config_file(&cl, dflt, "/base", path, sizeof(path),
					 err, sizeof(err)),
			 CLI_CONFIG_NO_DEFAULT);
	assert_string_equal(path, dflt);
	/* Something there: read it. */
	write_file(dflt, "workers 2\n");
	assert_int_equal(cli_config_file(&cl, dflt, "/base", path, sizeof(path),
					 err, sizeof(err)),
			 CLI_CONFIG_DEFAULT);
	assert_string_equal(path, dflt);
	/* A link to nowhere is there too: reading it will say why not. */
	unlink(dflt);
	assert_int_equal(symlink("/nonexistent/reuseportd.conf", dflt), 0);
	assert_int_equal(cli_config_file(&cl, dflt, "/base", path, sizeof(path),
					 err, sizeof(err)),
			 CLI_CONFIG_DEFAULT);
	config_defaults(&cfg);
	assert_int_equal(cfgfile_load(&cfg, path, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s: No such file or directory", dflt);
	assert_string_equal(err, want);
	unlink(dflt);
	/* A default path that cannot be looked at is an error, not "none". */
	write_file(dflt, "");
	snprintf(notdir, sizeof(notdir), "%s/reuseportd.conf", dflt);
	assert_int_equal(cli_config_file(&cl, notdir, "/base", path,
					 sizeof(path), err, sizeof(err)),
			 -1);
	snprintf(want, sizeof(want), "%s: Not a directory", notdir);
	assert_string_equal(err, want);
	unlink(dflt);
	/* A relative default ($REUSEPORTD_CONFIG) is taken from base. */
	assert_int_equal(cli_config_file(&cl, "rel/d.conf", "/base", path,
					 sizeof(path), err, sizeof(err)),
			 CLI_CONFIG_NO_DEFAULT);
	assert_string_equal(path, "/base/rel/d.conf");

	/* -c FILE: that file, made absolute, whether it exists or not. */
	assert_int_equal(cli_run(&cl, given), 0);
	assert_int_equal(cli_config_file(&cl, dflt, "/base", path, sizeof(path),
					 err, sizeof(err)),
			 CLI_CONFIG_GIVEN);
	assert_string_equal(path, "/base/x.conf");
	assert_int_equal(cli_run(&cl, abs), 0);
	assert_int_equal(cli_config_file(&cl, dflt, "/base", path, sizeof(path),
					 err, sizeof(err)),
			 CLI_CONFIG_GIVEN);
	assert_string_equal(path, "/etc/y.conf");
	/* -c none: no file even when the default exists; ./none is a
	 * file called none. */
	write_file(dflt, "workers 2\n");
	assert_int_equal(cli_run(&cl, off), 0);
	assert_int_equal(cli_config_file(&cl, dflt, "/base", path, sizeof(path),
					 err, sizeof(err)),
			 CLI_CONFIG_NONE);
	assert_string_equal(path, "");
	assert_int_equal(cli_run(&cl, here), 0);
	assert_int_equal(cli_config_file(&cl, dflt, "/base", path, sizeof(path),
					 err, sizeof(err)),
			 CLI_CONFIG_GIVEN);
	assert_string_equal(path, "/base/./none");
	unlink(dflt);
	/* -c '' is a usage error that says what to write instead. */
	assert_int_equal(cli_run(&cl, empty), -1);
	assert_string_equal(err,
			    "-c: an empty file name (for no config file: -c none)");
	/* Too long once made absolute. */
	assert_int_equal(cli_run(&cl, given), 0);
	assert_int_equal(cli_config_file(&cl, dflt, "/base", path, 10, err,
					 sizeof(err)),
			 -1);
	assert_string_equal(err, "x.conf: path too long");
}

/* 1 if getaddrinfo gives 127.0.0.1 for localhost here (as /etc/hosts
 * says everywhere the suite runs). */
static int localhost_is_127(void)
{
	struct addr a[CFG_MAX_LISTEN];
	int n = addr_resolve("localhost:1", a, CFG_MAX_LISTEN, err, sizeof(err));

	for (int i = 0; i < n; i++)
		if (a[i].u.sa.sa_family == AF_INET &&
		    a[i].u.in4.sin_addr.s_addr == htonl(INADDR_LOOPBACK))
			return 1;
	return 0;
}

/* A host name is resolved: each of its addresses is a listen address,
 * recorded with its line; the same address again, by name or number,
 * is a duplicate. The command line's addresses replace the file's, so
 * they never clash with them, but not with each other. */
static void test_listen_host_names(void **state)
{
	static struct cli cl;
	char a[ADDR_STRLEN];
	int n;

	(void)state;
	parse_ok("workers 1\nlisten localhost:8081\nlisten 127.0.0.2:8081\n");
	n = cfg.nlisten;
	assert_true(n >= 2);
	for (int i = 0; i < n - 1; i++) {
		addr_format(&cfg.listen[i].u.sa, a, sizeof(a));
		if (strcmp(a, "127.0.0.1:8081") && strcmp(a, "[::1]:8081"))
			fail_msg("localhost:8081 gave %s", a);
		assert_int_equal(cfg.listen_line[i], 2);
	}
	addr_format(&cfg.listen[n - 1].u.sa, a, sizeof(a));
	assert_string_equal(a, "127.0.0.2:8081");
	assert_int_equal(cfg.listen_line[n - 1], 3);

	if (localhost_is_127()) {
		assert_int_equal(parse("listen localhost:8081\nworkers 1\n"
				       "listen 127.0.0.1:8081\n"),
				 -1);
		assert_string_equal(
			err,
			"test.conf:3: duplicate listen address 127.0.0.1:8081 (first at line 1)");
	} else {
		print_message("# localhost is not 127.0.0.1 here\n");
	}

	/* The command line replaces the file's list... */
	const char *same[] = { "-l", "0.0.0.0:8080", NULL },
		   *twice[] = { "-l", "8080", "-l", "*:8080", NULL };

	parse_ok("listen 0.0.0.0:8080\nlisten 127.0.0.1:9\n");
	assert_int_equal(cli_run(&cl, same), 0);
	assert_int_equal(cli_apply(&cl, &cfg, err, sizeof(err)), 0);
	assert_int_equal(cfg.nlisten, 1);
	assert_int_equal(cfg.listen_line[0], 0);
	/* ...and may not say the same thing twice itself. */
	parse_ok("");
	assert_int_equal(cli_run(&cl, twice), 0);
	assert_int_equal(cli_apply(&cl, &cfg, err, sizeof(err)), -1);
	assert_string_equal(
		err,
		"duplicate listen address 0.0.0.0:8080 (given twice on the command line)");
}

static int setup_dir(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_cfgfile.XXXXXX");
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown_dir(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_directive),
		cmocka_unit_test(test_table_is_covered),
		cmocka_unit_test(test_value_forms),
		cmocka_unit_test(test_syntax),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_error_limits),
		cmocka_unit_test(test_suggest),
		cmocka_unit_test(test_load),
		cmocka_unit_test(test_shipped_conf),
		cmocka_unit_test(test_proxy_directives),
		cmocka_unit_test(test_balance_health_directives),
		cmocka_unit_test(test_finish_paths),
		cmocka_unit_test(test_vhost_tables_kept),
		cmocka_unit_test(test_parse_helpers),
		cmocka_unit_test(test_cli_overrides),
		cmocka_unit_test(test_cli_errors),
		cmocka_unit_test(test_cli_config_file),
		cmocka_unit_test(test_listen_host_names),
	};

	return cmocka_run_group_tests_name("cfgfile", tests, setup_dir,
					   teardown_dir);
}
