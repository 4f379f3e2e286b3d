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

enum {
	RC_C_PROTO,
	RC_C_LOCAL,
	RC_C_REMOTE,
	RC_C_STATE,
	RC_C_WORKER,
	RC_C_AGE,
	RC_C_NCOLS
};

static const struct rc_col rc_conn_cols[RC_C_NCOLS] = {
	[RC_C_PROTO] = { "Proto", RC_LEFT },
	[RC_C_LOCAL] = { "Local Address", RC_LEFT },
	[RC_C_REMOTE] = { "Foreign Address", RC_LEFT },
	[RC_C_STATE] = { "State", RC_LEFT },
	[RC_C_WORKER] = { "Worker", RC_RIGHT },
	[RC_C_AGE] = { "Age", RC_RIGHT },
};

/* The rows of a `connections` answer, found in its text without parsing
 * it whole: a listing of a million rows is ~180 MB of text, and as JSON
 * objects several times that. Each row is a flat object, parsed when the
 * table asks for it. */
struct rc_rows {
	const char *text;
	size_t *off, *len; /* each row's place in text */
	size_t n;
};

/* The rows of the "connections" array; the rest of the document (totals)
 * parsed into *doc. 0, or -1 with the reason. */
static int rc_rows_scan(const char *text, size_t tlen, struct rc_rows *rows,
			json_t **doc, char *err, size_t errlen)
{
	const char *key = strstr(text, "\"connections\"");
	const char *p, *end = text + tlen, *open;
	size_t cap = 0;
	char *rest;

	memset(rows, 0, sizeof(*rows));
	rows->text = text;
	if (!key || !(open = strchr(key, '['))) {
		snprintf(err, errlen, "the answer has no \"connections\" array");
		return -1;
	}
	for (p = open + 1; p < end;) {
		const char *close;

		while (p < end && (*p == ',' || *p == ' ' || *p == '\n'))
			p++;
		if (p >= end || *p != '{')
			break;
		if (!(close = memchr(p, '}', (size_t)(end - p))))
			break;
		if (rows->n == cap) {
			cap = cap ? cap * 2 : 1024;
			size_t *o = realloc(rows->off, cap * sizeof(*o));
			size_t *l = o ? realloc(rows->len, cap * sizeof(*l)) :
					NULL;

			if (o)
				rows->off = o;
			if (!l) {
				snprintf(err, errlen, "out of memory");
				return -1;
			}
			rows->len = l;
		}
		rows->off[rows->n] = (size_t)(p - text);
		rows->len[rows->n++] = (size_t)(close + 1 - p);
		p = close + 1;
	}
	if (p >= end || *p != ']') {
		snprintf(err, errlen, "the connections array does not end");
		return -1;
	}
	/* The document without its rows: the totals, small. */
	if (!(rest = malloc((size_t)(open + 1 - text) + (size_t)(end - p) + 1))) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	memcpy(rest, text, (size_t)(open + 1 - text));
	memcpy(rest + (open + 1 - text), p, (size_t)(end - p));
	rest[(open + 1 - text) + (end - p)] = '\0';
	*doc = json_loads(rest, 0, NULL);
	free(rest);
	if (!*doc) {
		snprintf(err, errlen, "the answer is not JSON");
		return -1;
	}
	return 0;
}

static json_t *rc_row_json(const struct rc_rows *rows, size_t i)
{
	return json_loadb(rows->text + rows->off[i], rows->len[i], 0, NULL);
}

static void rc_rows_free(struct rc_rows *rows)
{
	free(rows->off);
	free(rows->len);
}

static void rc_conn_row(void *ctx, size_t row, char cells[][RC_CELL_MAX])
{
	json_t *c = rc_row_json(ctx, row);
	const char *local = rc_json_str(c, "local", "?");

	/* netstat's habit: tcp6 for sockets of the IPv6 family. */
	snprintf(cells[RC_C_PROTO], RC_CELL_MAX, "%s%s",
		 rc_json_str(c, "protocol", "tcp"), local[0] == '[' ? "6" : "");
	snprintf(cells[RC_C_LOCAL], RC_CELL_MAX, "%s", local);
	snprintf(cells[RC_C_REMOTE], RC_CELL_MAX, "%s",
		 rc_json_str(c, "remote", "?"));
	snprintf(cells[RC_C_STATE], RC_CELL_MAX, "%s",
		 rc_json_str(c, "state", "?"));
	snprintf(cells[RC_C_WORKER], RC_CELL_MAX, "%llu",
		 (unsigned long long)rc_json_u64(c, "worker"));
	rc_fmt_duration_ms(rc_json_u64(c, "age_ms"), cells[RC_C_AGE], RC_CELL_MAX);
	json_decref(c);
}

/* Distinct local addresses among the rows (few: the listen addresses, or
 * the loopback addresses clients came to), and the rows per worker. */
#define RC_CONN_MAX_LOCALS 64
#define RC_CONN_MAX_WORKER 256

struct rc_conn_summary {
	char locals[RC_CONN_MAX_LOCALS][64];
	size_t nlocals;
	int many_locals;
	size_t by_worker[RC_CONN_MAX_WORKER], other;
};

static void rc_conn_summarize(const struct rc_rows *rows,
			      struct rc_conn_summary *s)
{
	memset(s, 0, sizeof(*s));
	for (size_t i = 0; i < rows->n; i++) {
		json_t *c = rc_row_json(rows, i);
		const char *local = rc_json_str(c, "local", "?");
		uint64_t w = rc_json_u64(c, "worker");
		size_t k;

		for (k = 0; k < s->nlocals && strcmp(s->locals[k], local); k++)
			;
		if (k == s->nlocals && k < RC_CONN_MAX_LOCALS)
			snprintf(s->locals[s->nlocals++], sizeof(s->locals[0]),
				 "%s", local);
		else if (k == s->nlocals)
			s->many_locals = 1;
		if (w < RC_CONN_MAX_WORKER)
			s->by_worker[w]++;
		else
			s->other++;
		json_decref(c);
	}
}

/* "by worker: 0: 3, 1: 2" - how the kernel's hash spread these rows. */
static void rc_print_by_worker(FILE *out, const struct rc_conn_summary *s)
{
	const char *sep = "";

	fputs("by worker:", out);
	for (size_t w = 0; w < RC_CONN_MAX_WORKER; w++)
		if (s->by_worker[w]) {
			fprintf(out, "%s %zu: %zu", sep, w, s->by_worker[w]);
			sep = ",";
		}
	if (s->other)
		fprintf(out, "%s other: %zu", sep, s->other);
	fputc('\n', out);
}

/* A listing the daemon could not complete: say so, and why. */
static void rc_print_partial(FILE *out, const json_t *doc)
{
	size_t i;
	const json_t *m;

	if (!json_is_true(json_object_get(doc, "partial")))
		return;
	fprintf(out, "partial: ");
	json_array_foreach(json_object_get(doc, "missing"), i, m)
		fprintf(out, "%sworker %llu %s", i ? "; " : "",
			(unsigned long long)rc_json_u64(m, "worker"),
			rc_json_str(m, "reason", "?"));
	fputc('\n', out);
}

int rc_render_connections_text(FILE *out, const char *text, size_t len,
			       char *err, size_t errlen)
{
	struct rc_rows rows;
	struct rc_conn_summary sum;
	json_t *doc = NULL;
	struct rc_table t = {
		.cols = rc_conn_cols,
		.ncols = RC_C_NCOLS,
		.row = rc_conn_row,
		.ctx = &rows,
	};
	int r = -1;

	if (rc_rows_scan(text, len, &rows, &doc, err, errlen) < 0)
		goto done;
	t.nrows = rows.n;
	if (rc_table_print(out, &t) < 0) {
		snprintf(err, errlen, "cannot write the table");
		goto done;
	}
	rc_conn_summarize(&rows, &sum);
	fprintf(out, "%zu connection%s on %s%zu local address(es)", rows.n,
		rows.n == 1 ? "" : "s", sum.many_locals ? "more than " : "",
		sum.nlocals);
	if (json_is_true(json_object_get(doc, "truncated")))
		fprintf(out,
			" (truncated: the daemon has %llu; raise the limit with -n)",
			(unsigned long long)rc_json_u64(doc, "total"));
	fputc('\n', out);
	if (rows.n)
		rc_print_by_worker(out, &sum);
	rc_print_partial(out, doc);
	r = 0;
done:
	json_decref(doc);
	rc_rows_free(&rows);
	return r;
}

int rc_render_connections(FILE *out, const json_t *doc, char *err, size_t errlen)
{
	char *text = json_dumps(doc, JSON_COMPACT);
	int r;

	if (!text) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	r = rc_render_connections_text(out, text, strlen(text), err, errlen);
	free(text);
	return r;
}

/* `connections count-by=...`: a row per group, largest first. */
int rc_render_groups(FILE *out, const json_t *doc, char *err, size_t errlen)
{
	const json_t *groups = json_object_get(doc, "groups"), *g;
	const char *by = rc_json_str(doc, "count_by", "remote");
	size_t i;

	if (!json_is_array(groups)) {
		snprintf(err, errlen, "the answer has no \"groups\" array");
		return -1;
	}
	fprintf(out, "%-40s %12s\n",
		!strcmp(by, "remote") ? "Foreign Address" :
		!strcmp(by, "state")  ? "State" :
					"Worker",
		"Connections");
	json_array_foreach(groups, i, g) {
		char key[64];

		if (!strcmp(by, "worker"))
			snprintf(key, sizeof(key), "%llu",
				 (unsigned long long)rc_json_u64(g, "worker"));
		else
			snprintf(key, sizeof(key), "%s", rc_json_str(g, by, "?"));
		rc_fmt_printable(key);
		fprintf(out, "%-40s %12llu\n", key,
			(unsigned long long)rc_json_u64(g, "connections"));
	}
	fprintf(out, "%llu connections in %zu group%s\n",
		(unsigned long long)rc_json_u64(doc, "total"),
		json_array_size(groups), json_array_size(groups) == 1 ? "" : "s");
	rc_print_partial(out, doc);
	return 0;
}
