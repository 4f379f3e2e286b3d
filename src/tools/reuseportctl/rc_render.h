/* rc_render.h - reuseportctl: the readable form of each stats socket
 * document (see the stats socket protocol in the daemon's docs). Prefix rc_.
 *
 * Each renderer takes a parsed answer and writes text to out. It returns 0,
 * or -1 with a reason in err when the document lacks what the view is built
 * from (e.g. no "workers" array); fields it does not know are ignored and
 * fields it misses read as 0, so small protocol drift still renders. */
#ifndef RC_RENDER_H
#define RC_RENDER_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* `stats`: daemon summary, then the workers table. */
int rc_render_stats(FILE *out, const json_t *doc, char *err, size_t errlen);
/* `workers` (or `stats`): a row per worker, a totals row, a balance line. */
int rc_render_workers(FILE *out, const json_t *doc, char *err, size_t errlen);
/* `connections`: the netstat view, then how many local addresses. */
int rc_render_connections(FILE *out, const json_t *doc, char *err, size_t errlen);
/* The same from the answer's text, which is never parsed whole: a
 * million rows cost the text and an index of where each row is. */
int rc_render_connections_text(FILE *out, const char *text, size_t len,
			       char *err, size_t errlen);
/* `connections count-by=...`: a row per group, largest first. */
int rc_render_groups(FILE *out, const json_t *doc, char *err, size_t errlen);
/* `limits`: key/value table and the daemon's warnings. */
int rc_render_limits(FILE *out, const json_t *doc, char *err, size_t errlen);
/* `ping`: "pong from pid N (uptime ...)". */
int rc_render_ping(FILE *out, const json_t *doc, char *err, size_t errlen);
/* "reloaded: generation N, W workers". */
int rc_render_reload(FILE *out, const json_t *doc, char *err, size_t errlen);
/* `upgrade`: "upgraded: new master pid N (was M)". */
int rc_render_upgrade(FILE *out, const json_t *doc, char *err, size_t errlen);

/* Balance of one per-worker quantity across workers. */
struct rc_balance {
	size_t n;
	double mean;
	uint64_t min, max;
	double ratio; /* max/mean, or 0 when mean is 0 */
};

/* Over the field key of every object in the workers array. */
void rc_balance_of(const json_t *workers, const char *key, struct rc_balance *b);

#endif
