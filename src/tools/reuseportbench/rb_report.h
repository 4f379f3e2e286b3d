/* rb_report.h - what a run found, for people (text, progress line) and
 * programs (one JSON object), and whether it counts as a failure. Only
 * this module knows the report's field names. Prefix rb_report_. */
#ifndef RB_REPORT_H
#define RB_REPORT_H

#include <jansson.h>
#include <stdio.h>

#include "reuseportbench/rb_fanout.h"
#include "reuseportbench/rb_opts.h"
#include "reuseportbench/rb_result.h"

/* One status line, overwritten in place (for a TTY). 'elapsed' counts
 * from the start, 'run' from GO (0 before). */
void rb_report_progress(FILE *f, const struct rb_opts *o, const char *phase,
			const struct rb_progress *p, double elapsed, double run);
void rb_report_progress_clear(FILE *f);

void rb_report_text(FILE *f, const struct rb_opts *o, const struct rb_result *r,
		    const struct rb_run *run);
/* A new reference; NULL only when out of memory. */
json_t *rb_report_json(const struct rb_opts *o, const struct rb_result *r,
		       const struct rb_run *run);

/* 1 when the run failed: nothing got through, a child was lost, or (unless
 * --allow-failures) any connect, drop or request failed. */
int rb_report_failed(const struct rb_opts *o, const struct rb_result *r,
		     const struct rb_run *run);

#endif
