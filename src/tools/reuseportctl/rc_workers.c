/* rc_workers.c - the workers table and its balance line.
 *
 * SO_REUSEPORT spreads connections by a hash of the 4-tuple, so a few
 * clients can land unevenly; max/mean of the active gauge is the quick
 * measure of that (1.00 is perfect, N workers means all on one). */
#include "autoconfig.h"

#include <stdint.h>
#include <string.h>

#include "rc_fmt.h"
#include "rc_render.h"
#include "rc_table.h"

enum {
	RC_W_ID,
	RC_W_PID,
	RC_W_STATE,
	RC_W_GEN,
	RC_W_ACTIVE,
	RC_W_ACCEPTED,
	RC_W_REQUESTS,
	RC_W_IN,
	RC_W_OUT,
	RC_W_RESTARTS,
	RC_W_LAST_EXIT,
	RC_W_NCOLS
};

static const struct rc_col rc_worker_cols[RC_W_NCOLS] = {
	[RC_W_ID] = { "ID", RC_RIGHT },
	[RC_W_PID] = { "PID", RC_RIGHT },
	[RC_W_STATE] = { "STATE", RC_LEFT },
	[RC_W_GEN] = { "GEN", RC_RIGHT },
	[RC_W_ACTIVE] = { "ACTIVE", RC_RIGHT },
	[RC_W_ACCEPTED] = { "ACCEPTED", RC_RIGHT },
	[RC_W_REQUESTS] = { "REQUESTS", RC_RIGHT },
	[RC_W_IN] = { "BYTES IN", RC_RIGHT },
	[RC_W_OUT] = { "BYTES OUT", RC_RIGHT },
	[RC_W_RESTARTS] = { "RESTARTS", RC_RIGHT },
	[RC_W_LAST_EXIT] = { "LAST EXIT", RC_LEFT },
};

struct rc_workers_ctx {
	const json_t *workers; /* array */
	const json_t *totals;  /* object, or NULL: summed here */
};

static void rc_u64_cell(char *cell, uint64_t v)
{
	snprintf(cell, RC_CELL_MAX, "%llu", (unsigned long long)v);
}

/* The daemon's totals when it sends them, else the sum over workers
 * (the protocol defines totals as exactly that sum). */
static uint64_t rc_total(const struct rc_workers_ctx *x, const char *key)
{
	uint64_t sum = 0;
	size_t i;
	const json_t *w;

	if (x->totals && rc_json_has_number(x->totals, key))
		return rc_json_u64(x->totals, key);
	json_array_foreach(x->workers, i, w)
		sum += rc_json_u64(w, key);
	return sum;
}

static void rc_totals_row(const struct rc_workers_ctx *x,
			  char cells[][RC_CELL_MAX])
{
	size_t i, running = 0;
	const json_t *w;
	uint64_t restarts = 0;

	json_array_foreach(x->workers, i, w) {
		running += strcmp(rc_json_str(w, "state", ""), "running") == 0;
		restarts += rc_json_u64(w, "restarts");
	}
	snprintf(cells[RC_W_ID], RC_CELL_MAX, "total");
	snprintf(cells[RC_W_STATE], RC_CELL_MAX, "%zu/%zu up", running,
		 json_array_size(x->workers));
	rc_u64_cell(cells[RC_W_ACTIVE], rc_total(x, "active"));
	rc_u64_cell(cells[RC_W_ACCEPTED], rc_total(x, "accepted"));
	rc_u64_cell(cells[RC_W_REQUESTS], rc_total(x, "requests"));
	rc_fmt_bytes(rc_total(x, "bytes_in"), cells[RC_W_IN], RC_CELL_MAX);
	rc_fmt_bytes(rc_total(x, "bytes_out"), cells[RC_W_OUT], RC_CELL_MAX);
	rc_u64_cell(cells[RC_W_RESTARTS], restarts);
}

static void rc_worker_row(void *ctx, size_t row, char cells[][RC_CELL_MAX])
{
	const struct rc_workers_ctx *x = ctx;
	const json_t *w = json_array_get(x->workers, row);

	if (row == json_array_size(x->workers)) {
		rc_totals_row(x, cells);
		return;
	}
	rc_u64_cell(cells[RC_W_ID], rc_json_u64(w, "id"));
	/* A slot between exit and respawn has no process. */
	if (rc_json_u64(w, "pid"))
		rc_u64_cell(cells[RC_W_PID], rc_json_u64(w, "pid"));
	else
		snprintf(cells[RC_W_PID], RC_CELL_MAX, "-");
	snprintf(cells[RC_W_STATE], RC_CELL_MAX, "%s",
		 rc_json_str(w, "state", "?"));
	rc_u64_cell(cells[RC_W_GEN], rc_json_u64(w, "generation"));
	rc_u64_cell(cells[RC_W_ACTIVE], rc_json_u64(w, "active"));
	rc_u64_cell(cells[RC_W_ACCEPTED], rc_json_u64(w, "accepted"));
	rc_u64_cell(cells[RC_W_REQUESTS], rc_json_u64(w, "requests"));
	rc_fmt_bytes(rc_json_u64(w, "bytes_in"), cells[RC_W_IN], RC_CELL_MAX);
	rc_fmt_bytes(rc_json_u64(w, "bytes_out"), cells[RC_W_OUT], RC_CELL_MAX);
	rc_u64_cell(cells[RC_W_RESTARTS], rc_json_u64(w, "restarts"));
	snprintf(cells[RC_W_LAST_EXIT], RC_CELL_MAX, "%s",
		 rc_json_str(w, "last_exit", "-"));
}

void rc_balance_of(const json_t *workers, const char *key, struct rc_balance *b)
{
	size_t i;
	const json_t *w;
	uint64_t sum = 0;

	memset(b, 0, sizeof(*b));
	json_array_foreach(workers, i, w) {
		uint64_t v = rc_json_u64(w, key);

		if (b->n == 0 || v < b->min)
			b->min = v;
		if (v > b->max)
			b->max = v;
		sum += v;
		b->n++;
	}
	if (b->n == 0)
		return;
	b->mean = (double)sum / (double)b->n;
	b->ratio = b->mean > 0 ? (double)b->max / b->mean : 0;
}

static void rc_balance_part(FILE *out, const json_t *workers, const char *key)
{
	struct rc_balance b;

	rc_balance_of(workers, key, &b);
	if (b.mean <= 0)
		fprintf(out, "%s max/mean - (none yet)", key);
	else
		fprintf(out, "%s max/mean %.2f (min %llu, max %llu, mean %.1f)",
			key, b.ratio, (unsigned long long)b.min,
			(unsigned long long)b.max, b.mean);
}

int rc_render_workers(FILE *out, const json_t *doc, char *err, size_t errlen)
{
	struct rc_workers_ctx x = {
		.workers = json_object_get(doc, "workers"),
		.totals = json_object_get(doc, "totals"),
	};
	struct rc_table t = {
		.cols = rc_worker_cols,
		.ncols = RC_W_NCOLS,
		.nfooter = 1,
		.row = rc_worker_row,
		.ctx = &x,
	};

	if (!json_is_array(x.workers)) {
		snprintf(err, errlen, "the answer has no \"workers\" array");
		return -1;
	}
	if (!json_is_object(x.totals))
		x.totals = NULL;
	t.nrows = json_array_size(x.workers) + 1;
	if (rc_table_print(out, &t) < 0) {
		snprintf(err, errlen, "cannot write the table");
		return -1;
	}
	fputs("balance: ", out);
	rc_balance_part(out, x.workers, "active");
	fputs("; ", out);
	rc_balance_part(out, x.workers, "accepted");
	fputc('\n', out);
	return 0;
}
