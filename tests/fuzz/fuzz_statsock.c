/* fuzz_statsock.c - libFuzzer target for the stats socket's command line
 * parser, statsock_parse(), and the `connections` filter arguments it
 * hands to listing_parse_arg(). Build: clang -g -O1
 * -fsanitize=fuzzer,address,undefined; without libFuzzer, replay.c feeds
 * it the seed corpus under make check.
 *
 * The input is one line as statsock_read() hands it over: no NUL after
 * it. Beyond "does not crash", it checks what the server, the workers
 * and the clients rely on, and aborts when one fails:
 *  - an error message is terminated inside the caller's buffer, printable
 *    ASCII (it goes into a JSON string and onto a terminal), and a smaller
 *    buffer gets the same message cut short, never overrun;
 *  - an accepted command has a known kind, and its first word (if any)
 *    names that kind; a command other than connections leaves limit,
 *    filter and grouping zero;
 *  - connections: limit is the number given (or the default) within
 *    1..STATSOCK_CONNECTIONS_MAX; the filter is one a worker can apply
 *    (a worker index, a known TCP state, a prefix length within its
 *    family, a local port with "any IP" only in its own form) and says
 *    what the line said: written back as a command line (the canonical
 *    form of each argument) it parses to the same filter;
 *  - parsing is a function of the bytes: a second parse agrees;
 *  - the command word is case-insensitive: with it upper-cased the line
 *    parses to the same result; the whole line upper-cased, if it still
 *    parses, to the same kind. */
#include "autoconfig.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config.h"
#include "fuzz_check.h"
#include "listing.h"
#include "statsock.h"
#include "stats_doc.h"

/* The error buffer statsock_command() passes. */
#define ERR_REAL 160

static const char *const names[] = {
	[STATSOCK_STATS] = "stats",
	[STATSOCK_WORKERS] = "workers",
	[STATSOCK_CONNECTIONS] = "connections",
	[STATSOCK_LIMITS] = "limits",
	[STATSOCK_PING] = "ping",
	[STATSOCK_HELP] = "help",
	[STATSOCK_PROMETHEUS] = "prometheus",
	[STATSOCK_RELOAD] = "reload",
	[STATSOCK_UPGRADE] = "upgrade",
	[STATSOCK_UPSTREAMS] = "upstreams",
};
/* Every command has its name here (STATSOCK_UPSTREAMS is the last
 * kind): upgrade and upstreams were missing, and the fuzzer took their
 * lines for failures of the parser. */
_Static_assert(sizeof(names) / sizeof(names[0]) == STATSOCK_UPSTREAMS + 1,
	       "a name for every statsock command");

struct result {
	int r;
	struct statsock_cmd cmd;
	char err[ERR_REAL];
};

/* Parses from a heap copy of exactly size bytes (AddressSanitizer sees a
 * read past the line) with an error buffer of exactly errlen bytes. */
static void parse(const uint8_t *data, size_t size, size_t errlen,
		  struct result *res)
{
	char *line = malloc(size ? size : 1);
	char *err = malloc(errlen);

	CHECK(line && err && errlen <= sizeof(res->err));
	memcpy(line, data, size);
	memset(err, 0x7f, errlen); /* not text: a missing NUL shows */
	memset(res, 0, sizeof(*res));
	res->r = statsock_parse(line, size, &res->cmd, err, errlen);
	if (res->r < 0) {
		CHECK(memchr(err, '\0', errlen) != NULL);
		memcpy(res->err, err, strlen(err) + 1);
	}
	free(err);
	free(line);
}

static void check_error(const char *err)
{
	static const char *const starts[] = {
		"malformed command '",
		"unknown command '",
		"connections: ",
	};
	size_t i;

	CHECK(err[0] != '\0');
	for (const char *p = err; *p; p++)
		CHECK(*p >= 0x20 && *p <= 0x7e);
	for (i = 0; i < sizeof(starts) / sizeof(starts[0]); i++)
		if (strncmp(err, starts[i], strlen(starts[i])) == 0)
			return;
	/* "NAME: too many arguments", "NAME: takes no argument" */
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		size_t n = strlen(names[i]);

		if (strncmp(err, names[i], n) == 0 && err[n] == ':')
			return;
	}
	CHECK(0);
}

/* The words of the line, split the way a reader of the protocol would:
 * blanks are spaces and tabs, a trailing CR is not part of the line. */
static size_t words(const uint8_t *d, size_t n, const uint8_t *w[3], size_t wl[3])
{
	size_t i = 0, k = 0;

	while (n > 0 && (d[n - 1] == '\r' || d[n - 1] == ' ' || d[n - 1] == '\t'))
		n--;
	while (i < n) {
		while (i < n && (d[i] == ' ' || d[i] == '\t'))
			i++;
		if (i == n)
			break;
		if (k < 3)
			w[k] = d + i;
		while (i < n && d[i] != ' ' && d[i] != '\t')
			i++;
		if (k < 3)
			wl[k] = (size_t)(d + i - w[k]);
		k++;
	}
	return k;
}

/* connections: the argument made of digits alone, as a number (capped
 * past the maximum), or the default when there is none. */
static uint64_t given_limit(const uint8_t *d, size_t n)
{
	size_t i = 0, k = 0;

	while (n > 0 && (d[n - 1] == '\r' || d[n - 1] == ' ' || d[n - 1] == '\t'))
		n--;
	while (i < n) {
		size_t start;
		int digits = 1;
		uint64_t v = 0;

		while (i < n && (d[i] == ' ' || d[i] == '\t'))
			i++;
		for (start = i; i < n && d[i] != ' ' && d[i] != '\t'; i++) {
			digits &= isdigit(d[i]) != 0;
			if (digits && v <= STATSOCK_CONNECTIONS_MAX)
				v = v * 10 + (uint64_t)(d[i] - '0');
		}
		if (i > start && k++ > 0 && digits)
			return v;
	}
	return STATSOCK_CONNECTIONS_DEFAULT;
}

static void check_prefix(const union addr_sa *a, unsigned bits)
{
	CHECK(a->sa.sa_family == AF_UNSPEC || a->sa.sa_family == AF_INET ||
	      a->sa.sa_family == AF_INET6);
	CHECK(bits <= (a->sa.sa_family == AF_INET  ? 32u :
		       a->sa.sa_family == AF_INET6 ? 128u :
						     0u));
}

static void check_filter(const struct statsock_cmd *cmd)
{
	const struct listing_filter *f = &cmd->filter;
	static const uint8_t zero[sizeof(f->pad)];

	CHECK(cmd->group >= LISTING_ROWS && cmd->group <= LISTING_BY_WORKER);
	CHECK(f->worker >= -1 && f->worker < CFG_MAX_WORKERS);
	CHECK(f->state == -1 ||
	      (f->state >= 0 &&
	       listing_state_number(stats_tcp_state_name(f->state)) == f->state));
	check_prefix(&f->remote, f->remote_bits);
	CHECK(f->remote.sa.sa_family != AF_UNSPEC || f->remote_bits == 0);
	check_prefix(&f->local, 0);
	/* "local=PORT": IPv4's family, no address, a port. */
	CHECK(f->local_any_ip <= 1);
	CHECK(!f->local_any_ip ||
	      (f->local.sa.sa_family == AF_INET &&
	       f->local.in4.sin_addr.s_addr == 0 && f->local.in4.sin_port != 0));
	CHECK(memcmp(f->pad, zero, sizeof(zero)) == 0);
}

static void put_ip(char *out, size_t outlen, const union addr_sa *a)
{
	const void *ip = a->sa.sa_family == AF_INET ?
				 (const void *)&a->in4.sin_addr :
				 (const void *)&a->in6.sin6_addr;

	CHECK(inet_ntop(a->sa.sa_family, ip, out, (socklen_t)outlen) != NULL);
}

/* The command line that asks for cmd, each argument in its canonical
 * form: what an operator reading the filter back would type. */
static size_t render(const struct statsock_cmd *cmd, char *out, size_t outlen)
{
	static const char *const groups[] = { "", "remote", "state", "worker" };
	const struct listing_filter *f = &cmd->filter;
	char ip[INET6_ADDRSTRLEN];
	int n = snprintf(out, outlen, "connections %llu",
			 (unsigned long long)cmd->limit);

#define PUT(...) n += snprintf(out + n, outlen - (size_t)n, __VA_ARGS__)
	if (f->worker >= 0)
		PUT(" worker=%d", (int)f->worker);
	if (f->state >= 0)
		PUT(" state=%s", stats_tcp_state_name(f->state));
	if (f->min_age_ms)
		PUT(" min_age=%llu", (unsigned long long)f->min_age_ms);
	if (f->remote.sa.sa_family != AF_UNSPEC) {
		put_ip(ip, sizeof(ip), &f->remote);
		PUT(" remote=%s/%u", ip, (unsigned)f->remote_bits);
	}
	if (f->local_any_ip) {
		PUT(" local=%u", (unsigned)ntohs(f->local.in4.sin_port));
	} else if (f->local.sa.sa_family != AF_UNSPEC) {
		unsigned port = ntohs(f->local.sa.sa_family == AF_INET ?
					      f->local.in4.sin_port :
					      f->local.in6.sin6_port);

		put_ip(ip, sizeof(ip), &f->local);
		if (port == 0)
			PUT(" local=%s", ip);
		else if (f->local.sa.sa_family == AF_INET)
			PUT(" local=%s:%u", ip, port);
		else
			PUT(" local=[%s]:%u", ip, port);
	}
	if (cmd->group != LISTING_ROWS)
		PUT(" count-by=%s", groups[cmd->group]);
#undef PUT
	CHECK(n > 0 && (size_t)n < outlen);
	return (size_t)n;
}

static void check_command(const struct statsock_cmd *cmd, const uint8_t *data,
			  size_t size)
{
	const uint8_t *w[3];
	size_t wl[3], nw = words(data, size, w, wl);

	CHECK(cmd->kind < sizeof(names) / sizeof(names[0]));
	if (nw == 0) {
		CHECK(cmd->kind == STATSOCK_STATS); /* an empty line */
	} else {
		const char *name = names[cmd->kind];

		CHECK(wl[0] == strlen(name) &&
		      strncasecmp((const char *)w[0], name, wl[0]) == 0);
	}
	if (cmd->kind != STATSOCK_CONNECTIONS) {
		struct statsock_cmd zero;

		memset(&zero, 0, sizeof(zero));
		zero.kind = cmd->kind;
		CHECK(nw <= 1 && memcmp(cmd, &zero, sizeof(zero)) == 0);
		return;
	}
	CHECK(cmd->limit >= 1 && cmd->limit <= STATSOCK_CONNECTIONS_MAX);
	CHECK(cmd->limit == given_limit(data, size));
	check_filter(cmd);
	{
		char line[512], err[ERR_REAL];
		struct statsock_cmd again;
		size_t n = render(cmd, line, sizeof(line));

		CHECK(statsock_parse(line, n, &again, err, sizeof(err)) == 0);
		CHECK(memcmp(&again, cmd, sizeof(again)) == 0);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const size_t small[] = { 1, 2, 7, 20, 47 };
	struct result a, b;
	uint8_t *upper;

	parse(data, size, ERR_REAL, &a);
	CHECK(a.r == 0 || a.r == -1);
	if (a.r == 0)
		check_command(&a.cmd, data, size);
	else
		check_error(a.err);

	parse(data, size, ERR_REAL, &b);
	CHECK(memcmp(&a, &b, sizeof(a)) == 0);

	/* A short buffer: the same answer, the message cut to fit. */
	for (size_t i = 0; i < sizeof(small) / sizeof(small[0]); i++) {
		parse(data, size, small[i], &b);
		CHECK(b.r == a.r);
		CHECK(memcmp(&b.cmd, &a.cmd, sizeof(a.cmd)) == 0);
		if (a.r < 0) {
			size_t n = strlen(a.err);

			if (n > small[i] - 1)
				n = small[i] - 1;
			CHECK(strlen(b.err) == n && strncmp(b.err, a.err, n) == 0);
		}
	}

	/* The command word upper-cased: the same result. */
	upper = malloc(size ? size : 1);
	CHECK(upper != NULL);
	memcpy(upper, data, size);
	{
		size_t i = 0;

		while (i < size && (upper[i] == ' ' || upper[i] == '\t'))
			i++;
		for (; i < size && upper[i] != ' ' && upper[i] != '\t'; i++)
			upper[i] = (uint8_t)toupper(upper[i]);
	}
	parse(upper, size, ERR_REAL, &b);
	CHECK(b.r == a.r);
	CHECK(memcmp(&b.cmd, &a.cmd, sizeof(a.cmd)) == 0);
	/* All of it: argument values may differ in case (durations), but a
	 * line that still parses asks for the same thing. */
	for (size_t i = 0; i < size; i++)
		upper[i] = (uint8_t)toupper(data[i]);
	parse(upper, size, ERR_REAL, &b);
	free(upper);
	if (a.r == 0 && b.r == 0)
		CHECK(b.cmd.kind == a.cmd.kind);
	if (a.r == 0 && a.cmd.kind != STATSOCK_CONNECTIONS)
		CHECK(b.r == 0 && memcmp(&b.cmd, &a.cmd, sizeof(a.cmd)) == 0);
	return 0;
}
