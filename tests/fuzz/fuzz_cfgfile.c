/* fuzz_cfgfile.c - libFuzzer target for the config file parser. Build:
 * clang -g -O1 -fsanitize=fuzzer,address,undefined.
 *
 * Beyond "does not crash", it checks what the daemon relies on after a
 * successful parse, and aborts when one fails:
 *  - every value is within its directive's documented range, and every
 *    string is terminated inside its buffer;
 *  - an error message starts with "fuzz.conf:LINE: " and LINE is a line
 *    of the input;
 *  - parsing is a function of the text: a second parse of the same bytes
 *    gives the same settings, or the same error. */
#include "autoconfig.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cfgfile.h"
#include "config.h"
#include "fuzz_check.h"

#define TERMINATED(buf) CHECK(memchr((buf), '\0', sizeof(buf)) != NULL)

static void check_config(const struct config *c)
{
	CHECK(c->nlisten >= 0 && c->nlisten <= CFG_MAX_LISTEN);
	CHECK(c->workers >= 0 && c->workers <= CFG_MAX_WORKERS);
	CHECK(c->protocol == CFG_PROTO_ECHO || c->protocol == CFG_PROTO_HTTP);
	CHECK(c->max_connections >= 0 && c->max_connections <= 10000000);
	CHECK(c->rlimit_nofile == 0 ||
	      (c->rlimit_nofile >= 64 && c->rlimit_nofile <= 1L << 30));
	CHECK(c->backlog >= 0);
	CHECK(c->header_timeout_ms >= 1 && c->keepalive_timeout_ms >= 1 &&
	      c->send_timeout_ms >= 1 && c->shutdown_timeout_ms >= 0 &&
	      c->watchdog_timeout_ms >= 2000 && c->stats_timeout_ms >= 1);
	CHECK(c->stats_socket_mode <= 0777);
	CHECK(c->log_level >= 0 && c->log_level <= 3);
	CHECK(!c->has_return ||
	      (c->return_status >= 200 && c->return_status <= 599));
	CHECK(c->http_max_request_line >= 256 && c->http_max_headers >= 1);
	TERMINATED(c->docroot);
	TERMINATED(c->return_body);
	TERMINATED(c->stats_socket);
	TERMINATED(c->stats_socket_group);
	TERMINATED(c->pidfile);
	TERMINATED(c->user);
	TERMINATED(c->group);
	TERMINATED(c->log_file);
	CHECK(c->log != CFG_LOG_FILE || strchr(c->log_file, '/'));
}

static void check_error(const char *err, const uint8_t *data, size_t size)
{
	size_t lines = 1;
	char *end;
	long line;

	CHECK(strncmp(err, "fuzz.conf:", 10) == 0);
	line = strtol(err + 10, &end, 10);
	CHECK(end > err + 10 && strncmp(end, ": ", 2) == 0 && end[2] != '\0');
	for (size_t i = 0; i < size; i++)
		lines += data[i] == '\n';
	CHECK(line >= 1 && (size_t)line <= lines);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct config a, b;
	static char ea[1024], eb[1024];
	int ra, rb;

	if (size > CFGFILE_MAX_SIZE)
		return 0;
	config_defaults(&a);
	config_defaults(&b);
	ra = cfgfile_parse(&a, "fuzz.conf", (const char *)data, size, ea,
			   sizeof(ea));
	rb = cfgfile_parse(&b, "fuzz.conf", (const char *)data, size, eb,
			   sizeof(eb));
	CHECK(ra == rb);
	if (ra == 0) {
		check_config(&a);
		CHECK(memcmp(&a, &b, sizeof(a)) == 0);
	} else {
		check_error(ea, data, size);
		CHECK(strcmp(ea, eb) == 0);
	}
	return 0;
}
