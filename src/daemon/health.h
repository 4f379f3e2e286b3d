/* health.h - active health checks of a worker's upstream servers
 * (health_check tcp | http PATH): at each health_interval a connect to
 * the server, then for http a GET of PATH whose status line is read
 * (2xx and 3xx are good), all within health_timeout, from the proxy's
 * source addresses and port range like the traffic. The verdict goes
 * into the worker's upstream table (up_check_result: health_fall bad
 * results in a row take a server down, health_rise good ones bring it
 * back). Prefix hc_.
 *
 * Who checks: every worker, each its own servers' verdict (the table is
 * per worker, like passive health), at times that never coincide. The
 * interval is cut into workers x servers slots on the monotonic clock,
 * which all processes share; worker w checks server s in slot
 * w * servers + s, plus a random delay of under half a slot. A server
 * thus gets its N checks an interval evenly spread (interval / N apart)
 * rather than N at once, a worker's checks of its servers are spread
 * too, and a respawned worker falls back into its own slots. The price
 * of this over one checking worker is N checks per interval instead of
 * one; what it buys is that no worker's view depends on another's
 * messages. */
#ifndef RP_HEALTH_H
#define RP_HEALTH_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct config;
struct loop;
struct stats_counters;
struct up_table;

struct hc_set;

/* The checks of the servers in up (which must outlive them), counted in
 * stats; nothing runs before hc_start. NULL (ENOMEM). */
struct hc_set *hc_new(const struct config *cfg, struct up_table *up,
		      struct stats_counters *stats);
/* Starts the checks on loop, as worker (of nworkers). 0, or -1 (a timer
 * could not be armed). */
int hc_start(struct hc_set *h, struct loop *loop, int worker, int nworkers);
/* Stops every check (a running one is closed) and frees h; NULL is fine. */
void hc_free(struct hc_set *h);

/* When worker (of nworkers) next checks server (of nservers): the first
 * time after now (monotonic ms) in its slot of the interval. */
uint64_t hc_next_due(uint64_t now, uint64_t interval, int worker, int nworkers,
		     int server, int nservers);
/* The status of an HTTP response whose first len bytes are buf: 100..599
 * once the status line is complete, -2 while it is not, -1 if it is not
 * "HTTP/1.x NNN ..." */
int hc_http_status(const char *buf, size_t len);
/* The check's request for path to server (its address is the Host), in
 * buf (len bytes): its length, or 0 if it does not fit. */
size_t hc_http_request(char *buf, size_t len, const char *path,
		       const struct sockaddr *server);

#endif
