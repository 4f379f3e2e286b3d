/* rc_conns.c - the netstat/ss view of the `connections` document.
 *
 * The point of the view is port sharing: every worker's listener is bound
 * to the same address:port, so many rows share one local address and are
 * told apart only by the foreign address and port, and by the worker
 * whose socket accepted them. */
#include "autoconfig.h"

#include <stdlib.h>
#include <string.h>

#include "rc_fmt.h"
#include "rc_render.h"
#include "rc_table.h"

enum { RC_C_PROTO, RC_C_LOCAL, RC_C_REMOTE, RC_C_STATE, RC_C_WORKER, RC_C_AGE, RC_C_NCOLS };

static const struct rc_col rc_conn_cols[RC_C_NCOLS] = {
	[RC_C_PROTO] = { "Proto", RC_LEFT },
	[RC_C_LOCAL] = { "Local Address", RC_LEFT },
	[RC_C_REMOTE] = { "Foreign Address", RC_LEFT },
	[RC_C_STATE] = { "State", RC_LEFT },
	[RC_C_WORKER] = { "Worker", RC_RIGHT },
	[RC_C_AGE] = { "Age", RC_RIGHT },
};

static void rc_conn_row(void *ctx, size_t row, char cells[][RC_CELL_MAX])
{
	const json_t *c = json_array_get(ctx, row);
	const char *local = rc_json_str(c, "local", "?");

	/* netstat's habit: tcp6 for sockets of the IPv6 family. */
	snprintf(cells[RC_C_PROTO], RC_CELL_MAX, "%s%s",
		 rc_json_str(c, "protocol", "tcp"), local[0] == '[' ? "6" : "");
	snprintf(cells[RC_C_LOCAL], RC_CELL_MAX, "%s", local);
	snprintf(cells[RC_C_REMOTE], RC_CELL_MAX, "%s", rc_json_str(c, "remote", "?"));
	snprintf(cells[RC_C_STATE], RC_CELL_MAX, "%s", rc_json_str(c, "state", "?"));
	snprintf(cells[RC_C_WORKER], RC_CELL_MAX, "%llu",
		 (unsigned long long)rc_json_u64(c, "worker"));
	rc_fmt_duration_ms(rc_json_u64(c, "age_ms"), cells[RC_C_AGE], RC_CELL_MAX);
}

static int rc_strptr_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Distinct local addresses among the rows: sort pointers, count runs. */
static size_t rc_count_locals(const json_t *conns)
{
	size_t n = json_array_size(conns), distinct = 0;
	const char **v;

	if (n == 0)
		return 0;
	v = malloc(n * sizeof(*v));
	if (!v)
		return 0;
	for (size_t i = 0; i < n; i++)
		v[i] = rc_json_str(json_array_get(conns, i), "local", "?");
	qsort(v, n, sizeof(*v), rc_strptr_cmp);
	for (size_t i = 0; i < n; i++)
		distinct += i == 0 || strcmp(v[i], v[i - 1]) != 0;
	free(v);
	return distinct;
}

/* "by worker: 0: 3, 1: 2" - how the kernel's hash spread these rows.
 * Worker ids past the bound are summed as "other" rather than tracked. */
#define RC_CONN_MAX_WORKER 256
static void rc_print_by_worker(FILE *out, const json_t *conns)
{
	size_t count[RC_CONN_MAX_WORKER] = { 0 }, other = 0, i;
	const json_t *c;
	const char *sep = "";

	json_array_foreach(conns, i, c) {
		uint64_t w = rc_json_u64(c, "worker");

		if (w < RC_CONN_MAX_WORKER)
			count[w]++;
		else
			other++;
	}
	fputs("by worker:", out);
	for (size_t w = 0; w < RC_CONN_MAX_WORKER; w++)
		if (count[w]) {
			fprintf(out, "%s %zu: %zu", sep, w, count[w]);
			sep = ",";
		}
	if (other)
		fprintf(out, "%s other: %zu", sep, other);
	fputc('\n', out);
}

int rc_render_connections(FILE *out, const json_t *doc, char *err, size_t errlen)
{
	const json_t *conns = json_object_get(doc, "connections");
	struct rc_table t = {
		.cols = rc_conn_cols, .ncols = RC_C_NCOLS,
		.row = rc_conn_row, .ctx = (void *)conns,
	};
	size_t shown = json_array_size(conns);

	if (!json_is_array(conns)) {
		snprintf(err, errlen, "the answer has no \"connections\" array");
		return -1;
	}
	t.nrows = shown;
	if (rc_table_print(out, &t) < 0) {
		snprintf(err, errlen, "cannot write the table");
		return -1;
	}
	fprintf(out, "%zu connection%s on %zu local address(es)", shown,
		shown == 1 ? "" : "s", rc_count_locals(conns));
	if (json_is_true(json_object_get(doc, "truncated")))
		fprintf(out, " (truncated: the daemon has %llu; raise the limit with -n)",
			(unsigned long long)rc_json_u64(doc, "total"));
	fputc('\n', out);
	if (shown)
		rc_print_by_worker(out, conns);
	return 0;
}
