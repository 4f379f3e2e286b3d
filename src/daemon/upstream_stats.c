/* upstream_stats.c - the hooks by which a proxy protocol counts what its
 * upstream servers cost: connect errors by cause, latency histograms,
 * the ports each source range holds toward each server, and why a
 * server is down (upstream.h). Counts in the worker's shared counters;
 * the master merges them and judges the headroom (stats_upstream.c). */
#include "autoconfig.h"

#include <errno.h>
#include <string.h>

#include "addr.h"
#include "hist.h"
#include "log.h"
#include "stats.h"
#include "upstream.h"

/* A server's index is its counters' index; a source line's, its range's
 * (the last range is the kernel's choice). */
_Static_assert(CFG_MAX_UPSTREAMS <= STATS_NUPSTREAMS,
	       "a counter for every upstream server");
_Static_assert(CFG_MAX_PROXY_SOURCES < STATS_NSOURCES,
	       "a range for every proxy_source line, and the kernel's");
_Static_assert(HIST_NBUCKETS + 1 == STATS_HIST_SLOTS, "the buckets and their sum");

void up_table_count_in(struct up_table *t, struct stats_counters *stats)
{
	t->stats = stats;
}

static int up_counted(const struct up_table *t, int server, int source)
{
	return t->stats && server >= 0 && server < STATS_NUPSTREAMS &&
	       source >= 0 && source < STATS_NSOURCES;
}

static void up_hist_add(uint64_t *h, uint64_t us)
{
	hist_add(h, us);
	h[HIST_NBUCKETS] += us;
}

void up_record_connect(struct up_table *t, int server, int source, uint64_t us,
		       int err)
{
	if (!up_counted(t, server, source))
		return;
	if (err) {
		t->stats->upstream_errors[server][stats_errno_class(err)]++;
		return;
	}
	up_hist_add(t->stats->upstream_connect_us[server], us);
	t->stats->upstream_ports_in_use[source][server]++;
}

void up_record_close(struct up_table *t, int server, int source)
{
	if (up_counted(t, server, source))
		t->stats->upstream_ports_in_use[source][server]--;
}

void up_record_response(struct up_table *t, int server, uint64_t us)
{
	if (up_counted(t, server, 0))
		up_hist_add(t->stats->upstream_response_us[server], us);
}

void up_mark_down(struct up_table *t, int i, uint64_t now_ms, uint64_t ms,
		  int reason)
{
	struct up_server *s = &t->servers[i];

	s->fails = 0;
	s->down_until = now_ms + ms;
	s->down_reason = (uint8_t)reason;
}

uint64_t up_publish_state(struct up_table *t, uint64_t now_ms)
{
	uint64_t next = 0;

	for (int i = 0; i < t->n; i++) {
		const struct up_server *s = &t->servers[i];
		enum up_state st = up_state(t, i, now_ms);
		int down = st != UP_UP;
		/* Checks bring a server back by their own timer; a passive
		 * down ends at down_until, which the caller's timer waits
		 * for. */
		uint64_t left = st == UP_DOWN_PASSIVE ? s->down_until - now_ms : 0;
		int why = st == UP_DOWN_CHECKS ? STATS_DOWN_CHECK : s->down_reason;

		if (left && (next == 0 || left < next))
			next = left;
		if (!t->stats)
			continue;
		t->stats->upstream_down[i] = (uint64_t)down;
		for (int r = 0; r < STATS_NDOWN; r++)
			t->stats->upstream_down_by[i][r] = (uint64_t)(down &&
								      why == r);
	}
	return next;
}

/* The ports this worker's sockets may take: its slice of the
 * per-socket range, which the kernel takes only inside
 * ip_local_port_range (a bound outside it is ignored: Linux's
 * inet_sk_get_local_port_range), or its equal part of
 * ip_local_port_range, so that the workers' figures add up to it. */
static uint64_t up_worker_ports(const struct up_table *t, int worker,
				int nworkers, long sys_lo, long sys_hi)
{
	long lo = sys_lo, hi = sys_hi;
	int slo, shi;
	uint64_t span = (uint64_t)(sys_hi - sys_lo + 1);

	if (sys_lo <= 0 || sys_hi < sys_lo)
		return 0;
	if (t->port_range) {
		long rlo = (long)(t->port_range & 0xffff);
		long rhi = (long)(t->port_range >> 16);

		if (rlo >= sys_lo && rlo <= sys_hi)
			lo = rlo;
		if (rhi >= sys_lo && rhi <= sys_hi)
			hi = rhi;
		return hi >= lo ? (uint64_t)(hi - lo + 1) : 0;
	}
	if (nworkers <= 1)
		return span;
	if (span < (uint64_t)nworkers)
		return worker == 0 ? span : 0;
	up_port_slice((int)lo, (int)hi, worker, nworkers, &slo, &shi);
	return (uint64_t)(shi - slo + 1);
}

void up_publish_ports(struct up_table *t, int worker, int nworkers, long sys_lo,
		      long sys_hi)
{
	uint64_t ports = up_worker_ports(t, worker, nworkers, sys_lo, sys_hi);
	int v4 = 0, v6 = 0;

	if (!t->stats)
		return;
	for (int i = 0; i < t->nsources; i++) {
		t->stats->upstream_ports_available[i] = ports * t->sources[i].count;
		if (t->sources[i].first.sa.sa_family == AF_INET)
			v4 = 1;
		else
			v6 = 1;
	}
	/* The kernel's choice: one address per family toward a server
	 * (the route's), shown only if some server's family needs it. */
	for (int i = 0; i < t->n; i++) {
		int fam = t->servers[i].addr.u.sa.sa_family;

		if ((fam == AF_INET && !v4) || (fam == AF_INET6 && !v6))
			t->stats->upstream_ports_available[STATS_SOURCE_KERNEL] =
				ports;
	}
}

/* A failure that is this host's, not the server's: no local port (the
 * 4-tuples to it are used up), no descriptor, no memory. */
static int up_local_error(int err)
{
	return err == EADDRNOTAVAIL || err == EMFILE || err == ENFILE ||
	       err == ENOBUFS || err == ENOMEM;
}

void up_connect_failed(struct up_table *t, int i, int source, int err,
		       uint64_t now_ms, const char *hint)
{
	char buf[ADDR_STRLEN];

	up_record_connect(t, i, source, 0, err);
	if (t->stats) {
		t->stats->proxy_connect_errors++;
		t->stats->upstream_connect_errors[i]++;
		t->stats->proxy_connect_timeouts += err == ETIMEDOUT;
		t->stats->proxy_port_exhausted += err == EADDRNOTAVAIL;
	}
	if (err == EADDRNOTAVAIL && (now_ms - t->last_exhausted_log >= 1000 ||
				     t->last_exhausted_log == 0)) {
		t->last_exhausted_log = now_ms;
		log_warn("upstream %s: no local port left (EADDRNOTAVAIL): %s",
			 addr_format(&t->servers[i].addr.u.sa, buf, sizeof(buf)),
			 hint);
	}
	if (up_local_error(err) || !up_failed(t, i, now_ms))
		return;
	if (t->stats)
		t->stats->proxy_servers_down++;
	log_warn("upstream %s is down for %llu ms: %s",
		 addr_format(&t->servers[i].addr.u.sa, buf, sizeof(buf)),
		 (unsigned long long)t->servers[i].fail_timeout_ms,
		 strerror(err));
}
