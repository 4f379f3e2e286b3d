/* rc_stats.c - the small views: the `stats` summary, `limits`, `ping`. */
#include "autoconfig.h"

#include <string.h>

#include "rc_fmt.h"
#include "rc_render.h"
#include "rc_table.h"

static void rc_print_listen(FILE *out, const json_t *listen)
{
	size_t i;
	const json_t *l;
	char ep[RC_CELL_MAX];

	fputs("listen      ", out);
	if (json_array_size(listen) == 0)
		fputs("-", out);
	json_array_foreach(listen, i, l) {
		rc_fmt_endpoint(rc_json_str(l, "address", "?"),
				rc_json_u64(l, "port"), ep, sizeof(ep));
		fprintf(out, "%s%s", i ? ", " : "", ep);
	}
	fputc('\n', out);
}

static void rc_print_totals(FILE *out, const json_t *tot)
{
	char in[32], outb[32];

	rc_fmt_bytes(rc_json_u64(tot, "bytes_in"), in, sizeof(in));
	rc_fmt_bytes(rc_json_u64(tot, "bytes_out"), outb, sizeof(outb));
	fprintf(out,
		"connections accepted %llu, active %llu, closed %llu, rejected %llu, lost %llu\n"
		"traffic     requests %llu, in %s, out %s\n",
		(unsigned long long)rc_json_u64(tot, "accepted"),
		(unsigned long long)rc_json_u64(tot, "active"),
		(unsigned long long)rc_json_u64(tot, "closed"),
		(unsigned long long)rc_json_u64(tot, "rejected"),
		(unsigned long long)rc_json_u64(tot, "lost"),
		(unsigned long long)rc_json_u64(tot, "requests"), in, outb);
}

/* "vhosts      a.example 12, (default) 3": each virtual host's requests,
 * in the daemon's order (its config's), when it serves vhosts. */
static void rc_print_vhosts(FILE *out, const json_t *tot)
{
	const json_t *vh = json_object_get(tot, "vhost_requests"), *v;
	const char *name;
	int first = 1;

	if (!json_is_object(vh) || json_object_size(vh) == 0)
		return;
	fputs("vhosts      ", out);
	json_object_foreach((json_t *)vh, name, v) {
		fprintf(out, "%s%s %llu", first ? "" : ", ", name,
			(unsigned long long)(json_is_integer(v) ?
						     json_integer_value(v) :
						     0));
		first = 0;
	}
	fputc('\n', out);
}

int rc_render_stats(FILE *out, const json_t *doc, char *err, size_t errlen)
{
	const json_t *workers = json_object_get(doc, "workers");
	size_t i, running = 0;
	const json_t *w;
	char up[32];

	if (!json_is_object(doc) || !json_is_array(workers)) {
		snprintf(err, errlen, "the answer has no \"workers\" array");
		return -1;
	}
	json_array_foreach(workers, i, w)
		running += strcmp(rc_json_str(w, "state", ""), "running") == 0;
	rc_fmt_duration_ms(rc_json_seconds_ms(doc, "uptime_s"), up, sizeof(up));
	fprintf(out, "reuseportd %s, pid %llu, up %s\n",
		rc_json_str(doc, "version", "?"),
		(unsigned long long)rc_json_u64(doc, "pid"), up);
	fprintf(out, "protocol    %s\n", rc_json_str(doc, "protocol", "?"));
	rc_print_listen(out, json_object_get(doc, "listen"));
	fprintf(out,
		"workers     %zu running of %llu configured, generation %llu\n",
		running,
		(unsigned long long)rc_json_u64(doc, "workers_configured"),
		(unsigned long long)rc_json_u64(doc, "generation"));
	rc_print_totals(out, json_object_get(doc, "totals"));
	rc_print_vhosts(out, json_object_get(doc, "totals"));
	fputc('\n', out);
	return rc_render_workers(out, doc, err, errlen);
}

/* --- limits --- */

static const struct rc_col rc_limit_cols[2] = {
	{ "LIMIT", RC_LEFT },
	{ "VALUE", RC_RIGHT },
};

struct rc_limits_ctx {
	const json_t *limits;
	const char *keys[64]; /* bounded: more keys than this are not shown */
	size_t n;
};

/* Arrays (ip_local_port_range) print as /proc/sys shows them. */
static void rc_value_cell(const json_t *v, char *cell)
{
	size_t i, used = 0;
	const json_t *e;

	if (json_is_integer(v))
		snprintf(cell, RC_CELL_MAX, "%lld",
			 (long long)json_integer_value(v));
	else if (json_is_real(v))
		snprintf(cell, RC_CELL_MAX, "%g", json_real_value(v));
	else if (json_is_string(v))
		snprintf(cell, RC_CELL_MAX, "%s", json_string_value(v));
	else if (json_is_boolean(v))
		snprintf(cell, RC_CELL_MAX, "%s", json_is_true(v) ? "yes" : "no");
	else if (json_is_array(v))
		json_array_foreach(v, i, e) {
			char one[RC_CELL_MAX];

			rc_value_cell(e, one);
			used += (size_t)snprintf(cell + used, RC_CELL_MAX - used,
						 "%s%s", i ? " " : "", one);
			if (used >= RC_CELL_MAX)
				break;
		}
	else
		snprintf(cell, RC_CELL_MAX, "-");
}

static void rc_limit_row(void *ctx, size_t row, char cells[][RC_CELL_MAX])
{
	const struct rc_limits_ctx *x = ctx;

	snprintf(cells[0], RC_CELL_MAX, "%s", x->keys[row]);
	rc_value_cell(json_object_get(x->limits, x->keys[row]), cells[1]);
}

/* The source/server pairs above the daemon's threshold of port use. */
static void rc_port_warnings(FILE *out, const json_t *ports)
{
	const json_t *p;
	size_t i;

	json_array_foreach(ports, i, p) {
		char line[512];

		snprintf(line, sizeof(line),
			 "  ! upstream %s from %s: %llu of %llu local ports in use (%.1f%%)",
			 rc_json_str(p, "server", "?"),
			 rc_json_str(p, "source", "?"),
			 (unsigned long long)rc_json_u64(p, "in_use"),
			 (unsigned long long)rc_json_u64(p, "available"),
			 rc_json_real(p, "use_pct"));
		rc_fmt_printable(line);
		fprintf(out, "%s\n", line);
	}
}

int rc_render_limits(FILE *out, const json_t *doc, char *err, size_t errlen)
{
	struct rc_limits_ctx x = { .limits = json_object_get(doc, "limits") };
	struct rc_table t = { .cols = rc_limit_cols,
			      .ncols = 2,
			      .row = rc_limit_row,
			      .ctx = &x };
	const json_t *warnings = json_object_get(doc, "warnings"), *v;
	const char *key;
	size_t i;

	if (!json_is_object(x.limits)) {
		snprintf(err, errlen, "the answer has no \"limits\" object");
		return -1;
	}
	json_object_foreach((json_t *)x.limits, key, v) {
		if (x.n == sizeof(x.keys) / sizeof(x.keys[0]))
			break;
		x.keys[x.n++] = key;
	}
	t.nrows = x.n;
	if (rc_table_print(out, &t) < 0) {
		snprintf(err, errlen, "cannot write the table");
		return -1;
	}
	rc_port_warnings(out, json_object_get(doc, "upstream_ports"));
	if (json_array_size(warnings) == 0) {
		fputs("no warnings\n", out);
		return 0;
	}
	fprintf(out, "%zu warning%s:\n", json_array_size(warnings),
		json_array_size(warnings) == 1 ? "" : "s");
	json_array_foreach(warnings, i, v)
		fprintf(out, "  ! %s\n",
			json_is_string(v) ? json_string_value(v) : "?");
	return 0;
}

/* --- ping --- */

int rc_render_ping(FILE *out, const json_t *doc, char *err, size_t errlen)
{
	char up[32];

	if (!json_is_true(json_object_get(doc, "pong"))) {
		snprintf(err, errlen, "the answer is not a pong");
		return -1;
	}
	rc_fmt_duration_ms(rc_json_seconds_ms(doc, "uptime_s"), up, sizeof(up));
	fprintf(out, "pong from pid %llu (uptime %s)\n",
		(unsigned long long)rc_json_u64(doc, "pid"), up);
	return 0;
}

/* --- reload --- */

/* One kind of change: " added A B" (nothing if none). */
static int rc_render_addrs(FILE *out, const json_t *arr, const char *what,
			   int first)
{
	const json_t *a;
	size_t i;

	if (!json_is_array(arr) || json_array_size(arr) == 0)
		return 0;
	fprintf(out, "%s %s", first ? "; listen:" : ",", what);
	json_array_foreach(arr, i, a)
		fprintf(out, " %s",
			json_is_string(a) ? json_string_value(a) : "?");
	return 1;
}

/* "; listen: added A, removed B" when the reload changed the addresses
 * (a daemon before that change says nothing of them). */
static void rc_render_listen_change(FILE *out, const json_t *l)
{
	int said = rc_render_addrs(out, json_object_get(l, "added"), "added", 1);

	rc_render_addrs(out, json_object_get(l, "removed"), "removed", !said);
}

int rc_render_reload(FILE *out, const json_t *doc, char *err, size_t errlen)
{
	const json_t *r = json_object_get(doc, "reload");

	if (!json_is_string(r) || strcmp(json_string_value(r), "done")) {
		snprintf(err, errlen, "the answer is not a reload's");
		return -1;
	}
	fprintf(out, "reloaded: generation %llu, %llu workers",
		(unsigned long long)rc_json_u64(doc, "generation"),
		(unsigned long long)rc_json_u64(doc, "workers"));
	rc_render_listen_change(out, json_object_get(doc, "listen"));
	fputc('\n', out);
	return 0;
}

/* --- upgrade --- */

int rc_render_upgrade(FILE *out, const json_t *doc, char *err, size_t errlen)
{
	const json_t *r = json_object_get(doc, "upgrade");

	if (!json_is_string(r) || strcmp(json_string_value(r), "done") ||
	    !rc_json_u64(doc, "pid") || !rc_json_u64(doc, "old_pid")) {
		snprintf(err, errlen, "the answer is not an upgrade's");
		return -1;
	}
	fprintf(out, "upgraded: new master pid %llu (was %llu)\n",
		(unsigned long long)rc_json_u64(doc, "pid"),
		(unsigned long long)rc_json_u64(doc, "old_pid"));
	return 0;
}
