/* rc_prom.h - reuseportctl: the Prometheus text exposition format
 * (version 0.0.4) computed from a `stats` document, for daemons that do
 * not answer the `prometheus` command themselves. Prefix rc_.
 *
 * The metric names and labels are the daemon's own (reuseportd_*, with
 * worker and generation labels), so a scrape gives the same series
 * whichever side rendered it. */
#ifndef RC_PROM_H
#define RC_PROM_H

#include <jansson.h>
#include <stddef.h>
#include <stdio.h>

/* Returns 0, or -1 with a reason in err if doc is not a stats document. */
int rc_prom_render(FILE *out, const json_t *stats, char *err, size_t errlen);

/* Whether an answer to the `prometheus` command is exposition text (and
 * not a JSON error from a daemon that does not know the command). */
int rc_prom_is_text(const char *reply, size_t len);

#endif
