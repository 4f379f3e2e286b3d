/* rc_table.h - reuseportctl: aligned text tables. Prefix rc_.
 *
 * Rows are not stored: the printer asks a callback for each row twice,
 * once to measure the columns and once to print them, so a table of a
 * million connections costs no more memory than a table of two. Cells are
 * fixed-size and longer text is cut. */
#ifndef RC_TABLE_H
#define RC_TABLE_H

#include <stddef.h>
#include <stdio.h>

#define RC_TABLE_MAX_COLS 20
#define RC_CELL_MAX 96

enum rc_align { RC_LEFT, RC_RIGHT };

struct rc_col {
	const char *title;
	enum rc_align align;
};

/* Fills cells[0..ncols-1] (each RC_CELL_MAX bytes, zeroed beforehand) for
 * row number row. Must give the same text on both calls. */
typedef void (*rc_row_fn)(void *ctx, size_t row, char cells[][RC_CELL_MAX]);

struct rc_table {
	const struct rc_col *cols;
	size_t ncols; /* 1..RC_TABLE_MAX_COLS */
	size_t nrows;
	size_t nfooter; /* the last nfooter rows are set off by a rule */
	int no_header;
	rc_row_fn row;
	void *ctx;
};

/* Returns 0, or -1 (errno set) if the table is malformed or output fails. */
int rc_table_print(FILE *out, const struct rc_table *t);

#endif
