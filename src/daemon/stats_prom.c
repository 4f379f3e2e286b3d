/* stats_prom.c - the Prometheus text exposition format (0.0.4) of the
 * stats: a family per counter of stats_fields[] (one # HELP, one # TYPE,
 * then a sample per worker), served by the `prometheus` command and
 * GET /metrics. reuseportctl prints this text as it comes. */
#include "autoconfig.h"

#include <stdio.h>
#include <stdlib.h>

#include "buf.h"
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

static void prom_counter(struct prom_text *t, const struct stats_field *f,
			 const struct stats_daemon_view *d,
			 const struct stats_worker_view *w, int n)
{
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
