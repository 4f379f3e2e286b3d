/* rc_upstreams.c - reuseportctl: the proxy's servers, from the
 * `upstreams` document (a table) or from the totals of a `stats`
 * document (the section of `top`): state, connections, errors by cause,
 * connect times and the headroom of the source ports toward each. */
#include "autoconfig.h"

#include <stdio.h>
#include <string.h>

#include "rc_fmt.h"
#include "rc_render.h"
#include "rc_table.h"

/* "850us", "12.5ms", "1.20s"; "-" when nothing was measured. */
void rc_fmt_us(double us, int known, char *out, size_t len)
{
	if (!known)
		snprintf(out, len, "-");
	else if (us < 1000)
		snprintf(out, len, "%.0fus", us);
	else if (us < 1e6)
		snprintf(out, len, "%.1fms", us / 1e3);
	else
		snprintf(out, len, "%.2fs", us / 1e6);
}

/* The headroom of each source: "127.0.0.2-127.0.0.11 53.1% free", the
 * sources joined, "!" before one above the warning threshold. */
static void rc_headroom_cell(const json_t *sources, char *cell)
{
	size_t i, used = 0;
	const json_t *s;

	if (json_array_size(sources) == 0) {
		snprintf(cell, RC_CELL_MAX, "-");
		return;
	}
	json_array_foreach(sources, i, s) {
		char src[RC_CELL_MAX];
		int n;

		snprintf(src, sizeof(src), "%s", rc_json_str(s, "source", "?"));
		n = snprintf(cell + used, RC_CELL_MAX - used,
			     "%s%s%s %.1f%% free (%llu/%llu)", i ? ", " : "",
			     json_is_true(json_object_get(s, "high")) ? "!" : "",
			     src, rc_json_real(s, "headroom_pct"),
			     (unsigned long long)rc_json_u64(s, "in_use"),
			     (unsigned long long)rc_json_u64(s, "available"));
		if (n < 0 || (size_t)n >= RC_CELL_MAX - used)
			break;
		used += (size_t)n;
	}
}

static const struct rc_col rc_up_cols[] = {
	{ "SERVER", RC_LEFT },       { "STATE", RC_LEFT },
	{ "ACTIVE", RC_RIGHT },      { "CONNECTS", RC_RIGHT },
	{ "REQUESTS", RC_RIGHT },    { "IDLE", RC_RIGHT },
	{ "REUSED", RC_RIGHT },      { "REFUSED", RC_RIGHT },
	{ "TIMEOUT", RC_RIGHT },     { "UNREACH", RC_RIGHT },
	{ "NO_PORT", RC_RIGHT },     { "OTHER", RC_RIGHT },
	{ "CONN p50", RC_RIGHT },    { "CONN p99", RC_RIGHT },
	{ "RESP p50", RC_RIGHT },    { "RESP p99", RC_RIGHT },
	{ "SOURCE PORTS", RC_LEFT },
};
#define RC_UP_NCOLS (sizeof(rc_up_cols) / sizeof(rc_up_cols[0]))

static void rc_latency_cells(const json_t *h, char *p50, char *p99)
{
	int known = rc_json_u64(h, "count") > 0;

	rc_fmt_us(rc_json_real(h, "p50"), known, p50, RC_CELL_MAX);
	rc_fmt_us(rc_json_real(h, "p99"), known, p99, RC_CELL_MAX);
}

static void rc_up_row(void *ctx, size_t row, char cells[][RC_CELL_MAX])
{
	const json_t *u = json_array_get(ctx, row);
	const json_t *e = json_object_get(u, "errors");
	static const char *const causes[] = {
		"refused", "timeout", "unreachable", "no_port", "other"
	};
	const char *state = rc_json_str(u, "state", "?");

	snprintf(cells[0], RC_CELL_MAX, "%s", rc_json_str(u, "server", "?"));
	if (strcmp(state, "up") != 0 &&
	    rc_json_u64(json_object_get(u, "down_reasons"), "check") > 0)
		snprintf(cells[1], RC_CELL_MAX, "%s (check)", state);
	else if (strcmp(state, "up") != 0)
		snprintf(cells[1], RC_CELL_MAX, "%s (failures)", state);
	else
		snprintf(cells[1], RC_CELL_MAX, "%s", state);
	snprintf(cells[2], RC_CELL_MAX, "%llu",
		 (unsigned long long)rc_json_u64(u, "active"));
	snprintf(cells[3], RC_CELL_MAX, "%llu",
		 (unsigned long long)rc_json_u64(u, "connects"));
	/* The HTTP proxy's pool: requests, idle connections, and the share
	 * of requests that went on a reused one ("-": no request). */
	snprintf(cells[4], RC_CELL_MAX, "%llu",
		 (unsigned long long)rc_json_u64(u, "requests"));
	snprintf(cells[5], RC_CELL_MAX, "%llu",
		 (unsigned long long)rc_json_u64(u, "pool_idle"));
	if (rc_json_u64(u, "requests"))
		snprintf(cells[6], RC_CELL_MAX, "%.1f%%",
			 rc_json_real(u, "reuse_pct"));
	else
		snprintf(cells[6], RC_CELL_MAX, "-");
	for (size_t k = 0; k < 5; k++)
		snprintf(cells[7 + k], RC_CELL_MAX, "%llu",
			 (unsigned long long)rc_json_u64(e, causes[k]));
	rc_latency_cells(json_object_get(u, "connect_us"), cells[12], cells[13]);
	rc_latency_cells(json_object_get(u, "response_us"), cells[14], cells[15]);
	rc_headroom_cell(json_object_get(u, "sources"), cells[16]);
}

int rc_render_upstreams(FILE *out, const json_t *doc, char *err, size_t errlen)
{
	const json_t *ups = json_object_get(doc, "upstreams");
	struct rc_table t = { .cols = rc_up_cols,
			      .ncols = RC_UP_NCOLS,
			      .row = rc_up_row,
			      .ctx = (void *)ups };

	if (!json_is_array(ups)) {
		snprintf(err, errlen,
			 "the answer has no \"upstreams\" array (not a proxy?)");
		return -1;
	}
	t.nrows = json_array_size(ups);
	if (t.nrows == 0) {
		fputs("no upstream servers\n", out);
		return 0;
	}
	if (rc_table_print(out, &t) < 0) {
		snprintf(err, errlen, "cannot write the table");
		return -1;
	}
	fprintf(out,
		"state over %llu running workers (partial: some hold it down); "
		"'!': a source above %llu%% of its ports\n",
		(unsigned long long)rc_json_u64(doc, "workers"),
		(unsigned long long)rc_json_u64(doc, "warn_pct"));
	return 0;
}

/* --- the same rows from a `stats` document (top) --- */

static uint64_t rc_err_total(const json_t *e)
{
	const char *k;
	const json_t *v;
	uint64_t n = 0;

	json_object_foreach((json_t *)e, k, v)
		n += json_is_integer(v) ? (uint64_t)json_integer_value(v) : 0;
	return n;
}

/* The least headroom of any source toward server, in %; -1: none. */
static double rc_least_headroom(const json_t *tot, const char *server,
				uint64_t *in_use, uint64_t *avail)
{
	const json_t *use = json_object_get(tot, "upstream_ports_in_use");
	const json_t *av = json_object_get(tot, "upstream_ports_available");
	const char *src;
	const json_t *per;
	double least = -1;

	json_object_foreach((json_t *)use, src, per) {
		uint64_t u = rc_json_u64(per, server), a = rc_json_u64(av, src);
		double h = a ? 100.0 - (double)u * 100.0 / (double)a : 0;

		if (a == 0)
			continue;
		if (least < 0 || h < least) {
			least = h;
			*in_use = u;
			*avail = a;
		}
	}
	return least;
}

size_t rc_upstream_lines(const json_t *stats, size_t max, size_t running,
			 char lines[][RC_UPSTREAM_LINE_MAX])
{
	const json_t *tot = json_object_get(stats, "totals");
	const json_t *connects = json_object_get(tot, "upstream_connects");
	const char *server;
	const json_t *v;
	size_t n = 0;

	json_object_foreach((json_t *)connects, server, v) {
		const json_t *h =
			json_object_get(json_object_get(tot, "upstream_connect_us"),
					server);
		uint64_t down = rc_json_u64(json_object_get(tot, "upstream_down"),
					    server);
		uint64_t use = 0, avail = 0;
		double room = rc_least_headroom(tot, server, &use, &avail);
		char p50[32], p99[32], head[64];

		if (n == max)
			break;
		rc_latency_cells(h, p50, p99);
		if (room < 0)
			snprintf(head, sizeof(head), "-");
		else
			snprintf(head, sizeof(head), "%.1f%% (%llu/%llu)", room,
				 (unsigned long long)use,
				 (unsigned long long)avail);
		snprintf(lines[n++], RC_UPSTREAM_LINE_MAX,
			 "%-22s %-8s %8llu %10llu %8llu %9s %9s  %s", server,
			 down == 0                 ? "up" :
			 down >= (uint64_t)running ? "down" :
						     "partial",
			 (unsigned long long)
				 rc_json_u64(json_object_get(tot, "upstream_active"),
					     server),
			 (unsigned long long)json_integer_value(v),
			 (unsigned long long)rc_err_total(json_object_get(
				 json_object_get(tot, "upstream_errors"), server)),
			 p50, p99, head);
	}
	return n;
}
