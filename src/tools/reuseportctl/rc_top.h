/* rc_top.h - reuseportctl: `top`, a live view of the daemon. Prefix rc_.
 *
 * Rates are differences of the cumulative counters between two `stats`
 * samples divided by the time between them; a daemon restart (new pid) or
 * a counter that went backwards makes a rate unknown for one interval
 * rather than negative or huge. */
#ifndef RC_TOP_H
#define RC_TOP_H

#include <jansson.h>
#include <stdio.h>
#include <time.h>

struct rc_top_opts {
	const char *path;
	int timeout_ms;  /* per stats exchange */
	double interval; /* seconds between samples */
	long count;      /* updates to show; 0: until q or a signal */
	int json;        /* one JSON object per update instead of text */
	int force_lines; /* line mode even on a terminal */
};

/* Per-second rates; a negative value means unknown. */
struct rc_rates {
	double accepts, requests, bytes_in, bytes_out;
};

/* Rates between two stats documents dt seconds apart (prev may be NULL). */
void rc_top_rates(const json_t *prev, const json_t *cur, double dt,
		  struct rc_rates *r);
/* A worker's accept rate, matched by id in prev; negative if unknown. */
double rc_top_worker_rate(const json_t *prev, const json_t *w, double dt,
			  const char *key);

/* The one-line form (for pipes): time, rates, active, workers up. */
void rc_top_line(FILE *out, const json_t *cur, const struct rc_rates *r,
		 time_t now);
/* The same as one compact JSON object on a line. */
void rc_top_json_line(FILE *out, const json_t *prev, const json_t *cur,
		      double dt, time_t now);
/* A full-screen frame for a terminal of cols x rows (ANSI: home, clear
 * to end of line/screen); lines never wrap. */
void rc_top_frame(FILE *out, const json_t *prev, const json_t *cur, double dt,
		  int cols, int rows);

/* Runs the view. Returns 0 when done (count reached, q, signal) or -1 with
 * a reason in err (the daemon went away, or answered an error). */
int rc_top_run(const struct rc_top_opts *o, char *err, size_t errlen);

#endif
