/* stats_upstream.c - the upstream servers in the stats documents: the
 * STATS_UPSTREAM_DETAIL counters in `stats`, the `upstreams` document,
 * and the port headroom of each (source range, server) pair that
 * `limits` and the master's warnings use. Latencies are quantiles of the
 * workers' merged histograms (hist.h), never a mean of their quantiles.
 * Like stats_json.c, it names the fields of the protocol. */
#include "autoconfig.h"

#include <jansson.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "addr.h"
#include "config.h"
#include "hist.h"
#include "stats_doc.h"

int stats_source_shown(const struct stats_daemon_view *d, unsigned k)
{
	int v4 = 0, v6 = 0;

	if (k < (unsigned)d->nsources)
		return d->sources != NULL;
	if (k != STATS_SOURCE_KERNEL || !d->upstreams)
		return 0;
	for (int i = 0; i < d->nsources; i++) {
		if (d->sources[i].first.sa.sa_family == AF_INET)
			v4 = 1;
		else
			v6 = 1;
	}
	for (int i = 0; i < d->nupstreams; i++) {
		int fam = d->upstreams[i].addr.u.sa.sa_family;

		if ((fam == AF_INET && !v4) || (fam == AF_INET6 && !v6))
			return 1;
	}
	return 0;
}

const char *stats_source_label(const struct stats_daemon_view *d, unsigned k,
			       char *buf, size_t len)
{
	const struct cfg_source *s;
	union addr_sa last;
	char a[ADDR_STRLEN], b[ADDR_STRLEN];

	if (!stats_source_shown(d, k))
		return NULL;
	if (k == STATS_SOURCE_KERNEL)
		return "(kernel)";
	s = &d->sources[k];
	config_source_addr(s, s->count - 1, &last);
	addr_format_ip(&s->first.sa, a, sizeof(a));
	if (s->count <= 1)
		snprintf(buf, len, "%s", a);
	else
		snprintf(buf, len, "%s-%s", a,
			 addr_format_ip(&last.sa, b, sizeof(b)));
	return buf;
}

static double stats_pct(uint64_t part, uint64_t whole)
{
	double p = whole ? (double)part * 100.0 / (double)whole : 0;

	return (double)(uint64_t)(p * 10 + 0.5) / 10; /* one decimal */
}

int stats_port_uses(const struct stats_daemon_view *d,
		    const struct stats_counters *tot, struct stats_port_use *out)
{
	int n = 0;

	for (unsigned k = 0; k < STATS_NSOURCES; k++) {
		if (!stats_source_shown(d, k))
			continue;
		for (int i = 0; i < d->nupstreams && i < STATS_NUPSTREAMS; i++) {
			struct stats_port_use *u = &out[n++];

			u->source = (int)k;
			u->server = i;
			u->in_use = tot->upstream_ports_in_use[k][i];
			u->available = tot->upstream_ports_available[k];
			u->use_pct = stats_pct(u->in_use, u->available);
		}
	}
	return n;
}

/* {"count": n, "p50": us, "p99": us, "sum": us} */
static json_t *stats_json_hist(const uint64_t *h)
{
	return json_pack("{s:I, s:f, s:f, s:I}", "count",
			 (json_int_t)hist_count(h), "p50",
			 hist_quantile(h, 0.5), "p99", hist_quantile(h, 0.99),
			 "sum", (json_int_t)h[HIST_NBUCKETS]);
}

static json_t *stats_json_errors(const uint64_t *e)
{
	json_t *o = json_object();

	for (unsigned k = 0; k < STATS_NERR; k++)
		json_object_set_new(o, stats_err_name(k),
				    json_integer((json_int_t)e[k]));
	return o;
}

static json_t *stats_json_down(const uint64_t *r)
{
	json_t *o = json_object();

	for (unsigned k = 0; k < STATS_NDOWN; k++)
		json_object_set_new(o, stats_down_name(k),
				    json_integer((json_int_t)r[k]));
	return o;
}

/* The value of a per-server detail for server i. */
static json_t *stats_json_server_detail(const struct stats_counters *c,
					const struct stats_field *f, int i)
{
	const uint64_t *v = (const uint64_t *)(const void *)((const char *)c +
							     f->offset);

	if (f->kind == STATS_UPSTREAM_ERRORS)
		return stats_json_errors(v + (size_t)i * STATS_NERR);
	if (f->kind == STATS_UPSTREAM_DOWN)
		return stats_json_down(v + (size_t)i * STATS_NDOWN);
	return stats_json_hist(v + (size_t)i * STATS_HIST_SLOTS);
}

/* {"SOURCE": {"SERVER": n}} or {"SOURCE": n} */
static json_t *stats_json_sources(const struct stats_counters *c,
				  const struct stats_field *f,
				  const struct stats_daemon_view *d)
{
	json_t *o = json_object();
	char sb[STATS_SOURCE_STRLEN], ub[ADDR_STRLEN];

	for (unsigned k = 0; k < STATS_NSOURCES; k++) {
		const char *src = stats_source_label(d, k, sb, sizeof(sb));
		json_t *per;

		if (!src)
			continue;
		if (f->kind == STATS_SOURCE_GAUGES) {
			json_object_set_new(
				o, src,
				json_integer(
					(json_int_t)c->upstream_ports_available[k]));
			continue;
		}
		per = json_object();
		for (unsigned i = 0; i < STATS_NUPSTREAMS; i++) {
			const char *u = stats_upstream_label(d, i, ub, sizeof(ub));

			if (u)
				json_object_set_new(per, u,
						    json_integer((json_int_t)c->upstream_ports_in_use
									 [k][i]));
		}
		json_object_set_new(o, src, per);
	}
	return o;
}

json_t *stats_json_upstream_field(const struct stats_counters *c,
				  const struct stats_field *f,
				  const struct stats_daemon_view *d)
{
	json_t *o;
	char ub[ADDR_STRLEN];

	switch (f->kind) {
	case STATS_SOURCE_GAUGES:
	case STATS_PAIR_GAUGES:
		return stats_json_sources(c, f, d);
	case STATS_UPSTREAM_ERRORS:
	case STATS_UPSTREAM_DOWN:
	case STATS_UPSTREAM_HIST:
		break;
	default:
		return NULL;
	}
	o = json_object();
	for (unsigned i = 0; i < STATS_NUPSTREAMS; i++) {
		const char *u = stats_upstream_label(d, i, ub, sizeof(ub));

		if (u)
			json_object_set_new(o, u,
					    stats_json_server_detail(c, f, (int)i));
	}
	return o;
}

/* The workers that run (a process, not exited). */
static int stats_live(const struct stats_worker_view *w, int n)
{
	int live = 0;

	for (int i = 0; i < n; i++)
		live += w[i].pid != 0 && w[i].state != STATS_WORKER_EXITED;
	return live;
}

/* up: no worker holds it down; down: every running one does; partial:
 * some do (passive health is each worker's own view). */
static const char *stats_server_state(uint64_t down, int live)
{
	if (down == 0)
		return "up";
	return down >= (uint64_t)live ? "down" : "partial";
}

static json_t *stats_json_server_ports(const struct stats_daemon_view *d,
				       const struct stats_port_use *u, int nu,
				       int server)
{
	json_t *arr = json_array();
	char sb[STATS_SOURCE_STRLEN];

	for (int j = 0; j < nu; j++) {
		if (u[j].server != server)
			continue;
		json_array_append_new(
			arr,
			json_pack("{s:s, s:I, s:I, s:f, s:f, s:b}", "source",
				  stats_source_label(d, (unsigned)u[j].source,
						     sb, sizeof(sb)),
				  "in_use", (json_int_t)u[j].in_use,
				  "available", (json_int_t)u[j].available,
				  "use_pct", u[j].use_pct, "headroom_pct",
				  u[j].available ? 100.0 - u[j].use_pct : 0.0,
				  "high", u[j].use_pct > STATS_PORTS_WARN_PCT));
	}
	return arr;
}

static json_t *stats_json_server(const struct stats_daemon_view *d,
				 const struct stats_counters *tot, int live,
				 const struct stats_port_use *u, int nu, int i)
{
	char ub[ADDR_STRLEN];
	uint64_t errors = 0;
	json_t *e = stats_json_errors(tot->upstream_errors[i]);

	for (unsigned k = 0; k < STATS_NERR; k++)
		errors += tot->upstream_errors[i][k];
	json_object_set_new(e, "total", json_integer((json_int_t)errors));
	/* The HTTP proxy's pool (0 for the TCP proxy, which has none):
	 * requests sent, how many went on a reused connection, and the
	 * connections idle in the pools now. */
	return json_pack(
		"{s:s, s:s, s:I, s:o, s:I, s:I, s:o, s:o, s:o, s:o, "
		"s:I, s:I, s:I, s:f}",
		"server", stats_upstream_label(d, (unsigned)i, ub, sizeof(ub)),
		"state", stats_server_state(tot->upstream_down[i], live),
		"down_workers", (json_int_t)tot->upstream_down[i],
		"down_reasons", stats_json_down(tot->upstream_down_by[i]),
		"active", (json_int_t)tot->upstream_active[i], "connects",
		(json_int_t)tot->upstream_connects[i], "errors", e,
		"connect_us", stats_json_hist(tot->upstream_connect_us[i]),
		"response_us", stats_json_hist(tot->upstream_response_us[i]),
		"sources", stats_json_server_ports(d, u, nu, i), "requests",
		(json_int_t)tot->upstream_requests[i], "reuses",
		(json_int_t)tot->upstream_reuses[i], "pool_idle",
		(json_int_t)tot->upstream_pool_idle[i], "reuse_pct",
		tot->upstream_requests[i] ?
			100.0 * (double)tot->upstream_reuses[i] /
				(double)tot->upstream_requests[i] :
			0.0);
}

char *stats_json_upstreams(const struct stats_daemon_view *d,
			   const struct stats_worker_view *w, int n)
{
	struct stats_counters *tot = calloc(1, sizeof(*tot));
	struct stats_port_use *u = calloc(STATS_NSOURCES * STATS_NUPSTREAMS,
					  sizeof(*u));
	json_t *arr = json_array(), *doc;
	int live = stats_live(w, n), nu;
	char *text = NULL;

	if (!tot || !u || !arr)
		goto out;
	for (int i = 0; i < n; i++)
		stats_add(tot, &w[i].c);
	nu = stats_port_uses(d, tot, u);
	for (int i = 0; i < d->nupstreams && i < STATS_NUPSTREAMS; i++)
		json_array_append_new(arr,
				      stats_json_server(d, tot, live, u, nu, i));
	doc = json_pack("{s:o, s:i, s:i}", "upstreams", arr, "workers", live,
			"warn_pct", STATS_PORTS_WARN_PCT);
	arr = NULL;
	text = doc ? json_dumps(doc, JSON_COMPACT | JSON_REAL_PRECISION(12)) :
		     NULL;
	json_decref(doc);
out:
	json_decref(arr);
	free(u);
	free(tot);
	return text;
}
