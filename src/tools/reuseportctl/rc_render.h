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

/* `upstreams`: a row per server of the proxy: state, connections,
 * connect errors by cause, connect and response p50/p99, and the ports
 * of each source toward it (headroom). */
int rc_render_upstreams(FILE *out, const json_t *doc, char *err, size_t errlen);
/* The section of `top`: up to max lines (RC_UPSTREAM_LINE_MAX bytes
 * each) from the totals of a `stats` document, one per server; running:
 * the workers that run (a server all of them hold down is "down").
 * Returns how many; 0 for a service without upstream servers. */
#define RC_UPSTREAM_LINE_MAX 256
#define RC_UPSTREAM_HEADER \
	"UPSTREAM               STATE      ACTIVE   CONNECTS   ERRORS  CONN p50  CONN p99  LEAST HEADROOM"
size_t rc_upstream_lines(const json_t *stats, size_t max, size_t running,
			 char lines[][RC_UPSTREAM_LINE_MAX]);
/* "850us", "12.5ms", "1.20s"; "-" when not known. */
void rc_fmt_us(double us, int known, char *out, size_t len);

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
