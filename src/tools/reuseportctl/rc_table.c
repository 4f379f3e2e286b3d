/* rc_table.c - two-pass aligned tables. */
#include "autoconfig.h"

#include <errno.h>
#include <string.h>

#include "rc_fmt.h"
#include "rc_table.h"

/* Two spaces between columns, as ss(8) and ps(1) do. */
#define RC_GAP 2

static void rc_table_measure(const struct rc_table *t, size_t *width)
{
	char cells[RC_TABLE_MAX_COLS][RC_CELL_MAX];

	for (size_t c = 0; c < t->ncols; c++)
		width[c] = t->no_header ? 0 : strlen(t->cols[c].title);
	for (size_t r = 0; r < t->nrows; r++) {
		memset(cells, 0, sizeof(cells));
		t->row(t->ctx, r, cells);
		for (size_t c = 0; c < t->ncols; c++) {
			size_t n = strnlen(cells[c], RC_CELL_MAX - 1);

			if (n > width[c])
				width[c] = n;
		}
	}
}

/* One line, built in a buffer so trailing blanks (an empty last cell)
 * can be cut before it is written. */
static void rc_table_line(FILE *out, const struct rc_table *t,
			  const size_t *width, const char *const *text)
{
	char line[RC_TABLE_MAX_COLS * (RC_CELL_MAX + RC_GAP) + 2];
	size_t used = 0;

	for (size_t c = 0; c < t->ncols; c++) {
		int w = (int)width[c];
		int n = snprintf(line + used, sizeof(line) - used,
				 t->cols[c].align == RC_RIGHT ? "%*s%*s" : "%*s%-*s",
				 c > 0 ? RC_GAP : 0, "", w, text[c]);

		if (n < 0)
			return;
		used += (size_t)n;
		if (used >= sizeof(line))
			used = sizeof(line) - 1;
	}
	while (used > 0 && line[used - 1] == ' ')
		used--;
	line[used] = '\0';
	fprintf(out, "%s\n", line);
}

static void rc_table_rule(FILE *out, const struct rc_table *t, const size_t *width)
{
	size_t total = 0;

	for (size_t c = 0; c < t->ncols; c++)
		total += width[c] + (c > 0 ? RC_GAP : 0);
	for (size_t i = 0; i < total; i++)
		fputc('-', out);
	fputc('\n', out);
}

int rc_table_print(FILE *out, const struct rc_table *t)
{
	size_t width[RC_TABLE_MAX_COLS];
	const char *text[RC_TABLE_MAX_COLS];
	char cells[RC_TABLE_MAX_COLS][RC_CELL_MAX];

	if (t->ncols == 0 || t->ncols > RC_TABLE_MAX_COLS ||
	    t->nfooter > t->nrows) {
		errno = EINVAL;
		return -1;
	}
	rc_table_measure(t, width);
	if (!t->no_header) {
		for (size_t c = 0; c < t->ncols; c++)
			text[c] = t->cols[c].title;
		rc_table_line(out, t, width, text);
	}
	for (size_t r = 0; r < t->nrows; r++) {
		if (t->nfooter && r == t->nrows - t->nfooter)
			rc_table_rule(out, t, width);
		memset(cells, 0, sizeof(cells));
		t->row(t->ctx, r, cells);
		for (size_t c = 0; c < t->ncols; c++) {
			cells[c][RC_CELL_MAX - 1] = '\0';
			rc_fmt_printable(cells[c]);
			text[c] = cells[c];
		}
		rc_table_line(out, t, width, text);
	}
	return ferror(out) ? -1 : 0;
}
