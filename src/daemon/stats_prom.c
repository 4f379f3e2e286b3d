/* stats_prom.c - the Prometheus text exposition format (0.0.4) of the
 * stats: a family per counter of stats_fields[] (one # HELP, one # TYPE,
 * then a sample per worker), served by the `prometheus` command and
 * GET /metrics. reuseportctl prints this text as it comes. */
#include "autoconfig.h"

#include <stdio.h>
#include <stdlib.h>

#include "buf.h"
#include "hist.h"
#include "stats_doc.h"

/* The text so far; failed once an allocation failed. */
struct prom_text {
	struct buf b;
	int failed;
};

#define prom_put(t, ...) ((t)->failed |= buf_printf(&(t)->b, __VA_ARGS__) < 0)

static void prom_family(struct prom_text *t, const char *name, const char *type,
			const char *help)
{
	prom_put(t, "# HELP reuseportd_%s %s\n# TYPE reuseportd_%s %s\n", name,
		 help, name, type);
}

static void prom_sample(struct prom_text *t, const char *name,
			const struct stats_worker_view *w, const char *label,
			unsigned long long v)
{
	prom_put(t, "reuseportd_%s{worker=\"%d\",generation=\"%d\"%s} %llu\n",
		 name, w->id, w->generation, label, v);
}

static void prom_daemon(struct prom_text *t, const struct stats_daemon_view *d)
{
	prom_family(t, "build_info", "gauge", "Version of the running daemon.");
	prom_put(t, "reuseportd_build_info{version=\"%s\",protocol=\"%s\"} 1\n",
		 PACKAGE_VERSION, d->protocol);
	prom_family(t, "uptime_seconds", "gauge",
		    "Seconds since the master started.");
	prom_put(t, "reuseportd_uptime_seconds %.3f\n", d->uptime_s);
	prom_family(t, "generation", "gauge", "Worker generation (reloads + 1).");
	prom_put(t, "reuseportd_generation %d\n", d->generation);
}

/* Up: a process exists and the master hears from it. */
static void prom_workers(struct prom_text *t, const struct stats_worker_view *w,
			 int n)
{
	prom_family(t, "worker_up", "gauge",
		    "1 if the worker process runs and answers.");
	for (int i = 0; i < n; i++)
		prom_sample(t, "worker_up", &w[i], "",
			    w[i].pid && w[i].state != STATS_WORKER_UNRESPONSIVE &&
				    w[i].state != STATS_WORKER_EXITED);
	prom_family(t, "worker_restarts_total", "counter",
		    "Times the worker slot was respawned.");
	for (int i = 0; i < n; i++)
		prom_sample(t, "worker_restarts_total", &w[i], "", w[i].restarts);
}

/* --- the upstream servers' detail (STATS_UPSTREAM_DETAIL) --- */

/* A value per server and cause: errors by class, workers down by
 * reason; a sample per worker, as for every counter. */
static void prom_by_cause(struct prom_text *t, const struct stats_field *f,
			  const struct stats_daemon_view *d,
			  const struct stats_worker_view *w, int n)
{
	unsigned ncause = f->kind == STATS_UPSTREAM_ERRORS ? STATS_NERR :
							     STATS_NDOWN;
	char buf[ADDR_STRLEN], label[ADDR_STRLEN + 48];

	for (int i = 0; i < n; i++)
		for (unsigned k = 0; k < STATS_NUPSTREAMS; k++) {
			const char *u = stats_upstream_label(d, k, buf,
							     sizeof(buf));

			for (unsigned c = 0; u && c < ncause; c++) {
				snprintf(label, sizeof(label),
					 ",upstream=\"%s\",reason=\"%s\"", u,
					 f->kind == STATS_UPSTREAM_ERRORS ?
						 stats_err_name(c) :
						 stats_down_name(c));
				prom_sample(t, f->prom, &w[i], label,
					    stats_value(&w[i].c, f,
							k * ncause + c));
			}
		}
}

/* A histogram per server, of the workers' summed buckets (no worker
 * label: a quantile needs the sum, and a series per worker and bucket
 * would be most of the page), in seconds. */
static void prom_hist(struct prom_text *t, const struct stats_field *f,
		      const struct stats_daemon_view *d,
		      const struct stats_worker_view *w, int n)
{
	char buf[ADDR_STRLEN];

	for (unsigned k = 0; k < STATS_NUPSTREAMS; k++) {
		const char *u = stats_upstream_label(d, k, buf, sizeof(buf));
		uint64_t h[STATS_HIST_SLOTS] = { 0 }, cum = 0;

		if (!u)
			continue;
		for (int i = 0; i < n; i++)
			for (unsigned b = 0; b < STATS_HIST_SLOTS; b++)
				h[b] += stats_value(&w[i].c, f,
						    k * STATS_HIST_SLOTS + b);
		for (unsigned b = 0; b < HIST_NBUCKETS; b++) {
			cum += h[b];
			if (b + 1 < HIST_NBUCKETS)
				prom_put(t,
					 "reuseportd_%s_bucket{upstream=\"%s\",le=\"%.6f\"} %llu\n",
					 f->prom, u, (double)hist_upper(b) / 1e6,
					 (unsigned long long)cum);
		}
		prom_put(t,
			 "reuseportd_%s_bucket{upstream=\"%s\",le=\"+Inf\"} %llu\n"
			 "reuseportd_%s_sum{upstream=\"%s\"} %.6f\n"
			 "reuseportd_%s_count{upstream=\"%s\"} %llu\n",
			 f->prom, u, (unsigned long long)cum, f->prom, u,
			 (double)h[HIST_NBUCKETS] / 1e6, f->prom, u,
			 (unsigned long long)cum);
	}
}

/* A value per source range (ports available), or per range and server
 * (ports in use). */
static void prom_sources(struct prom_text *t, const struct stats_field *f,
			 const struct stats_daemon_view *d,
			 const struct stats_worker_view *w, int n)
{
	char sb[STATS_SOURCE_STRLEN], ub[ADDR_STRLEN];
	char label[STATS_SOURCE_STRLEN + ADDR_STRLEN + 32];

	for (int i = 0; i < n; i++)
		for (unsigned k = 0; k < STATS_NSOURCES; k++) {
			const char *src = stats_source_label(d, k, sb, sizeof(sb));

			if (!src)
				continue;
			if (f->kind == STATS_SOURCE_GAUGES) {
				snprintf(label, sizeof(label), ",source=\"%s\"",
					 src);
				prom_sample(t, f->prom, &w[i], label,
					    w[i].c.upstream_ports_available[k]);
				continue;
			}
			for (unsigned u = 0; u < STATS_NUPSTREAMS; u++) {
				if (!stats_upstream_label(d, u, ub, sizeof(ub)))
					continue;
				snprintf(label, sizeof(label),
					 ",source=\"%s\",upstream=\"%s\"", src,
					 ub);
				prom_sample(t, f->prom, &w[i], label,
					    w[i].c.upstream_ports_in_use[k][u]);
			}
		}
}

/* The headroom of each pair, from the workers' sums: what the warning
 * in the log and the limits document judge. */
static void prom_headroom(struct prom_text *t, const struct stats_daemon_view *d,
			  const struct stats_worker_view *w, int n)
{
	struct stats_counters *tot = calloc(1, sizeof(*tot));
	struct stats_port_use *u = calloc(STATS_NSOURCES * STATS_NUPSTREAMS,
					  sizeof(*u));
	char sb[STATS_SOURCE_STRLEN], ub[ADDR_STRLEN];
	int nu;

	if (!tot || !u) {
		t->failed = 1;
		goto out;
	}
	for (int i = 0; i < n; i++)
		stats_add(tot, &w[i].c);
	nu = stats_port_uses(d, tot, u);
	prom_family(t, "upstream_source_ports_headroom_ratio", "gauge",
		    "Share of a source range's ports toward a server still "
		    "free, over all workers (a warning below 0.2).");
	for (int j = 0; j < nu; j++)
		prom_put(t,
			 "reuseportd_upstream_source_ports_headroom_ratio{source=\"%s\",upstream=\"%s\"} %.4f\n",
			 stats_source_label(d, (unsigned)u[j].source, sb,
					    sizeof(sb)),
			 stats_upstream_label(d, (unsigned)u[j].server, ub,
					      sizeof(ub)),
			 u[j].available ? 1.0 - (double)u[j].in_use /
							  (double)u[j].available :
					  0.0);
out:
	free(u);
	free(tot);
}

/* 1 if f is one of the upstream details, rendered here. */
static int prom_upstream_detail(struct prom_text *t, const struct stats_field *f,
				const struct stats_daemon_view *d,
				const struct stats_worker_view *w, int n)
{
	switch (f->kind) {
	case STATS_UPSTREAM_ERRORS:
	case STATS_UPSTREAM_DOWN:
		prom_family(t, f->prom,
			    f->kind == STATS_UPSTREAM_ERRORS ? "counter" : "gauge",
			    f->help);
		prom_by_cause(t, f, d, w, n);
		return 1;
	case STATS_UPSTREAM_HIST:
		prom_family(t, f->prom, "histogram", f->help);
		prom_hist(t, f, d, w, n);
		return 1;
	case STATS_SOURCE_GAUGES:
		prom_family(t, f->prom, "gauge", f->help);
		prom_sources(t, f, d, w, n);
		return 1;
	case STATS_PAIR_GAUGES:
		prom_family(t, f->prom, "gauge", f->help);
		prom_sources(t, f, d, w, n);
		prom_headroom(t, d, w, n);
		return 1;
	default:
		return 0;
	}
}

static void prom_counter(struct prom_text *t, const struct stats_field *f,
			 const struct stats_daemon_view *d,
			 const struct stats_worker_view *w, int n)
{
	if (prom_upstream_detail(t, f, d, w, n))
		return;
	prom_family(t, f->prom,
		    stats_kind_is_gauge(f->kind) ? "gauge" : "counter", f->help);
	for (int i = 0; i < n; i++)
		for (unsigned k = 0; k < f->n; k++) {
			/* A vhost name needs no escaping: config.c allows
			 * letters, digits, "-_.*[]:" only; nor does an
			 * address. */
			char label[STATS_VHOST_NAME_MAX + 16] = "";
			char buf[ADDR_STRLEN];
			const char *name = NULL;

			if (f->kind == STATS_CLASSES)
				snprintf(label, sizeof(label), ",code=\"%uxx\"",
					 k + 1);
			else if (f->kind == STATS_VHOSTS ||
				 f->n == STATS_NUPSTREAMS) {
				name = stats_value_label(d, f, k, buf,
							 sizeof(buf));
				if (!name)
					continue;
				snprintf(label, sizeof(label), ",%s=\"%s\"",
					 f->kind == STATS_VHOSTS ? "vhost" :
								   "upstream",
					 name);
			}
			prom_sample(t, f->prom, &w[i], label,
				    stats_value(&w[i].c, f, k));
		}
}

char *stats_prom_text(const struct stats_daemon_view *d,
		      const struct stats_worker_view *w, int n)
{
	struct prom_text t = { { 0 }, 0 };

	prom_daemon(&t, d);
	prom_workers(&t, w, n);
	for (size_t i = 0; i < stats_nfields; i++)
		if (stats_scope_shows(stats_fields[i].scope, d->scope))
			prom_counter(&t, &stats_fields[i], d, w, n);
	if (t.failed) {
		buf_free(&t.b);
		return NULL;
	}
	return buf_take_str(&t.b);
}
