/* stats_json.c - the JSON documents of the stats socket. The field names
 * here are the protocol that reuseportctl, scripts and users parse: a
 * renamed field is a broken interface. Counters are rendered from
 * stats_fields[], never named one by one. */
#include "autoconfig.h"

#include <jansson.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "config.h"
#include "buf.h"
#include "listing.h"
#include "stats_doc.h"
#include "syslimits.h"
#include "util.h"

/* Serialises doc (stolen); NULL if either is missing. */
static char *stats_dump(json_t *doc)
{
	char *text = doc ? json_dumps(doc, JSON_COMPACT | JSON_REAL_PRECISION(12)) :
			   NULL;

	json_decref(doc);
	return text;
}

static int stats_shown(const struct stats_field *f, enum stats_scope scope)
{
	return stats_scope_shows(f->scope, scope);
}

static json_t *stats_json_classes(const struct stats_counters *c,
				  const struct stats_field *f)
{
	json_t *o = json_object();

	for (unsigned k = 0; k < f->n; k++) {
		char cls[16];

		snprintf(cls, sizeof(cls), "%uxx", k + 1);
		json_object_set_new(o, cls,
				    json_integer((json_int_t)stats_value(c, f, k)));
	}
	return o;
}

const char *stats_upstream_label(const struct stats_daemon_view *d, unsigned k,
				 char *buf, size_t len)
{
	if (!d->upstreams || k >= (unsigned)d->nupstreams)
		return NULL;
	return addr_format(&d->upstreams[k].addr.u.sa, buf, len);
}

const char *stats_value_label(const struct stats_daemon_view *d,
			      const struct stats_field *f, unsigned k,
			      char *buf, size_t len)
{
	if (f->kind == STATS_VHOSTS)
		return stats_vhost_label(d->vhosts, k);
	return stats_upstream_label(d, k, buf, len);
}

/* {"example.org": n, ..., "(other)": n, "(default)": n}, or
 * {"127.0.0.1:8080": n, ...}: a value per vhost or upstream server. */
static json_t *stats_json_labelled(const struct stats_counters *c,
				   const struct stats_field *f,
				   const struct stats_daemon_view *d)
{
	json_t *o = json_object();
	char buf[ADDR_STRLEN];

	for (unsigned k = 0; k < f->n; k++) {
		const char *label = stats_value_label(d, f, k, buf, sizeof(buf));

		if (label)
			json_object_set_new(o, label,
					    json_integer((
						    json_int_t)stats_value(c, f,
									   k)));
	}
	return o;
}

/* Every counter the service has, as members of o. */
static void stats_json_counters(json_t *o, const struct stats_counters *c,
				const struct stats_daemon_view *d)
{
	for (size_t i = 0; i < stats_nfields; i++) {
		const struct stats_field *f = &stats_fields[i];
		json_t *v;

		if (!stats_shown(f, d->scope))
			continue;
		v = stats_json_upstream_field(c, f, d);
		if (v)
			;
		else if (f->kind == STATS_CLASSES)
			v = stats_json_classes(c, f);
		else if (f->kind == STATS_VHOSTS || f->n == STATS_NUPSTREAMS)
			v = stats_json_labelled(c, f, d);
		else
			v = json_integer((json_int_t)stats_value(c, f, 0));
		json_object_set_new(o, f->name, v);
	}
}

static json_t *stats_json_worker(const struct stats_worker_view *w,
				 const struct stats_daemon_view *d)
{
	json_t *o = json_pack("{s:i, s:i, s:s, s:i, s:i, s:I}", "id", w->id,
			      "pid", (int)w->pid, "state",
			      stats_worker_state_name(w->state), "generation",
			      w->generation, "restarts", (int)w->restarts,
			      "silent_ms", (json_int_t)w->silent_ms);

	json_object_set_new(o, "last_exit",
			    w->last_exit ? json_string(w->last_exit) :
					   json_null());
	stats_json_counters(o, &w->c, d);
	return o;
}

/* "totals" and "workers": the sum first (also in *tot), then one entry
 * per worker. */
static void stats_json_add_workers(json_t *doc, const struct stats_daemon_view *d,
				   const struct stats_worker_view *w, int n,
				   struct stats_counters *tot)
{
	json_t *arr = json_array(), *totals = json_object();

	memset(tot, 0, sizeof(*tot));
	for (int i = 0; i < n; i++) {
		json_array_append_new(arr, stats_json_worker(&w[i], d));
		stats_add(tot, &w[i].c);
	}
	stats_json_counters(totals, tot, d);
	json_object_set_new(doc, "totals", totals);
	json_object_set_new(doc, "workers", arr);
}

/* "upstreams": each proxied server's state as the workers see it, read
 * from the summed gauges: "up" (no worker has it down), "down" (every
 * running worker has), or "partly down" (each worker judges by what it
 * saw); why: "checks" (active health checks failed), "passive" (failed
 * connects), or both. */
static json_t *stats_json_upstream_states(const struct stats_daemon_view *d,
					  const struct stats_worker_view *w,
					  int n, const struct stats_counters *tot)
{
	json_t *o = json_object();
	int running = 0;

	for (int i = 0; i < n; i++)
		running += w[i].state == STATS_WORKER_RUNNING;
	for (int k = 0; k < d->nupstreams && k < STATS_NUPSTREAMS; k++) {
		uint64_t down = tot->upstream_down[k];
		uint64_t checks = tot->upstream_down_by[k][STATS_DOWN_CHECK];
		uint64_t passive = tot->upstream_down_by[k][STATS_DOWN_FAILURES];
		char name[ADDR_STRLEN];

		json_object_set_new(
			o,
			stats_upstream_label(d, (unsigned)k, name, sizeof(name)),
			json_pack("{s:s, s:s, s:I}", "state",
				  down == 0                 ? "up" :
				  down >= (uint64_t)running ? "down" :
							      "partly down",
				  "why",
				  checks && passive ? "checks, passive" :
				  checks            ? "checks" :
				  passive           ? "passive" :
						      "",
				  "workers_down", (json_int_t)down));
	}
	return o;
}

static json_t *stats_json_listen(const struct stats_daemon_view *d)
{
	json_t *listen = json_array();
	char ip[ADDR_STRLEN];

	for (int i = 0; i < d->nlisten; i++) {
		const struct sockaddr *sa = &d->listen[i].u.sa;

		json_array_append_new(listen,
				      json_pack("{s:s, s:i}", "address",
						addr_format_ip(sa, ip, sizeof(ip)),
						"port", addr_port(sa)));
	}
	return listen;
}

static json_t *stats_json_limits_obj(const struct limits *lim)
{
	return json_pack("{s:I, s:I, s:I, s:I, s:I, s:[I, I], s:I, s:I}",
			 "nofile_soft", (json_int_t)lim->nofile_soft,
			 "nofile_hard", (json_int_t)lim->nofile_hard,
			 "max_connections_per_worker",
			 (json_int_t)lim->max_connections_per_worker, "somaxconn",
			 (json_int_t)lim->somaxconn, "tcp_max_syn_backlog",
			 (json_int_t)lim->tcp_max_syn_backlog,
			 "ip_local_port_range", (json_int_t)lim->port_lo,
			 (json_int_t)lim->port_hi, "tcp_migrate_req",
			 (json_int_t)lim->tcp_migrate_req, "backlog",
			 (json_int_t)lim->backlog);
}

char *stats_json_stats(const struct stats_daemon_view *d,
		       const struct stats_worker_view *w, int n)
{
	json_t *doc = json_pack("{s:s, s:i, s:f, s:s, s:i}", "version",
				PACKAGE_VERSION, "pid", (int)d->pid, "uptime_s",
				d->uptime_s, "protocol", d->protocol,
				"generation", d->generation);

	json_object_set_new(doc, "listen", stats_json_listen(d));
	struct stats_counters tot;

	json_object_set_new(doc, "workers_configured",
			    json_integer(d->workers_configured));
	stats_json_add_workers(doc, d, w, n, &tot);
	if (stats_scope_shows(STATS_PROXY, d->scope) && d->upstreams &&
	    d->nupstreams > 0)
		json_object_set_new(doc, "upstreams",
				    stats_json_upstream_states(d, w, n, &tot));
	json_object_set_new(doc, "limits", stats_json_limits_obj(d->limits));
	return stats_dump(doc);
}

char *stats_json_workers(const struct stats_daemon_view *d,
			 const struct stats_worker_view *w, int n)
{
	json_t *doc = json_object();
	struct stats_counters tot;

	stats_json_add_workers(doc, d, w, n, &tot);
	return stats_dump(doc);
}

const char *stats_tcp_state_name(int state)
{
	static const char *const names[] = {
		[TCP_ESTABLISHED] = "ESTABLISHED",
		[TCP_SYN_SENT] = "SYN_SENT",
		[TCP_SYN_RECV] = "SYN_RECV",
		[TCP_FIN_WAIT1] = "FIN_WAIT1",
		[TCP_FIN_WAIT2] = "FIN_WAIT2",
		[TCP_TIME_WAIT] = "TIME_WAIT",
		[TCP_CLOSE] = "CLOSE",
		[TCP_CLOSE_WAIT] = "CLOSE_WAIT",
		[TCP_LAST_ACK] = "LAST_ACK",
		[TCP_LISTEN] = "LISTEN",
		[TCP_CLOSING] = "CLOSING",
	};

	if (state < 0 || (size_t)state >= UTIL_ARRAY_LEN(names) || !names[state])
		return "UNKNOWN";
	return names[state];
}

/* One row as text: addresses and state names need no escaping, and a
 * listing of a million rows must not cost a million JSON objects. */
int stats_json_conn_row(struct buf *b, const struct stats_conn *c, int first)
{
	char l[ADDR_STRLEN], r[ADDR_STRLEN];

	return buf_printf(b,
			  "%s{\"worker\":%d,\"local\":\"%s\",\"remote\":\"%s\","
			  "\"protocol\":\"tcp\",\"state\":\"%s\",\"age_ms\":%llu,"
			  "\"bytes_in\":%llu,\"bytes_out\":%llu}",
			  first ? "" : ",", (int)c->worker,
			  addr_format(&c->local.sa, l, sizeof(l)),
			  addr_format(&c->remote.sa, r, sizeof(r)),
			  stats_tcp_state_name(c->tcp_state),
			  (unsigned long long)c->age_ms,
			  (unsigned long long)c->bytes_in,
			  (unsigned long long)c->bytes_out);
}

/* ,"partial":false, or true and who is missing and why. */
static int stats_json_partial(struct buf *b, const struct stats_missing *m, int n)
{
	int r = buf_printf(b, ",\"partial\":%s", n ? "true" : "false");

	if (n == 0 || r < 0)
		return r;
	r = buf_printf(b, ",\"missing\":[");
	for (int i = 0; i < n && r == 0; i++) {
		json_t *reason = json_string(m[i].reason);
		char *q = reason ? json_dumps(reason, JSON_ENCODE_ANY) : NULL;

		r = q ? buf_printf(b, "%s{\"worker\":%d,\"pid\":%ld,\"reason\":%s}",
				   i ? "," : "", m[i].worker, (long)m[i].pid, q) :
			-1;
		free(q);
		json_decref(reason);
	}
	return r < 0 ? r : buf_printf(b, "]");
}

int stats_json_conns_end(struct buf *b, uint64_t total, int truncated,
			 const struct stats_missing *m, int nmissing)
{
	if (buf_printf(b, "],\"total\":%llu,\"truncated\":%s",
		       (unsigned long long)total,
		       truncated ? "true" : "false") < 0 ||
	    stats_json_partial(b, m, nmissing) < 0)
		return -1;
	return buf_printf(b, "}");
}

char *stats_json_connections(const struct stats_conn *c, size_t n,
			     uint64_t total, int truncated)
{
	struct buf b = { 0 };
	int failed = buf_printf(&b, "{\"connections\":[") < 0;

	for (size_t i = 0; i < n && !failed; i++)
		failed = stats_json_conn_row(&b, &c[i], i == 0) < 0;
	if (failed || stats_json_conns_end(&b, total, truncated, NULL, 0) < 0) {
		buf_free(&b);
		return NULL;
	}
	return buf_take_str(&b);
}

static const char *stats_group_name(enum listing_group g)
{
	return g == LISTING_BY_STATE  ? "state" :
	       g == LISTING_BY_WORKER ? "worker" :
					"remote";
}

static int stats_json_group(struct buf *b, enum listing_group kind,
			    const struct listing_group_rec *g, int first)
{
	char ip[ADDR_STRLEN];
	const char *sep = first ? "" : ",";

	if (kind == LISTING_BY_STATE)
		return buf_printf(b, "%s{\"state\":\"%s\",\"connections\":%llu}",
				  sep, stats_tcp_state_name(g->state),
				  (unsigned long long)g->count);
	if (kind == LISTING_BY_WORKER)
		return buf_printf(b, "%s{\"worker\":%d,\"connections\":%llu}",
				  sep, g->worker, (unsigned long long)g->count);
	return buf_printf(b, "%s{\"remote\":\"%s\",\"connections\":%llu}", sep,
			  addr_format_ip(&g->remote.sa, ip, sizeof(ip)),
			  (unsigned long long)g->count);
}

char *stats_json_groups(const struct listing_groups *g, uint64_t total,
			const struct stats_missing *m, int nmissing)
{
	struct buf b = { 0 };
	int failed = buf_printf(&b, "{\"count_by\":\"%s\",\"groups\":[",
				stats_group_name(g->kind)) < 0;

	for (size_t i = 0; i < g->cap && !failed; i++)
		failed = stats_json_group(&b, g->kind, &g->recs[i], i == 0) < 0;
	if (failed ||
	    buf_printf(&b, "],\"total\":%llu", (unsigned long long)total) < 0 ||
	    stats_json_partial(&b, m, nmissing) < 0 || buf_printf(&b, "}") < 0) {
		buf_free(&b);
		return NULL;
	}
	return buf_take_str(&b);
}

char *stats_json_limits(const struct limits *lim,
			const struct stats_daemon_view *d,
			const struct stats_port_use *high, int nhigh)
{
	json_t *w = json_array(), *ports = json_array();
	char sb[STATS_SOURCE_STRLEN], ub[ADDR_STRLEN];

	for (int i = 0; i < lim->nwarnings; i++)
		json_array_append_new(w, json_string(lim->warnings[i]));
	for (int i = 0; i < nhigh && d; i++)
		json_array_append_new(
			ports,
			json_pack("{s:s?, s:s?, s:I, s:I, s:f}", "source",
				  stats_source_label(d, (unsigned)high[i].source,
						     sb, sizeof(sb)),
				  "server",
				  stats_upstream_label(d, (unsigned)high[i].server,
						       ub, sizeof(ub)),
				  "in_use", (json_int_t)high[i].in_use,
				  "available", (json_int_t)high[i].available,
				  "use_pct", high[i].use_pct));
	return stats_dump(
		json_pack("{s:o, s:o, s:b, s:i, s:o}", "limits",
			  stats_json_limits_obj(lim), "warnings", w,
			  "upstream_ports_high", nhigh > 0,
			  "upstream_ports_warn_pct", STATS_PORTS_WARN_PCT,
			  "upstream_ports", ports));
}

char *stats_json_ping(const struct stats_daemon_view *d)
{
	return stats_dump(json_pack("{s:b, s:i, s:f}", "pong", 1, "pid",
				    (int)d->pid, "uptime_s", d->uptime_s));
}

char *stats_json_help(void)
{
	return stats_dump(
		json_pack("{s:[s, s, s, s, s, s, s, s, s, s]}", "commands",
			  "stats", "workers", "upstreams",
			  "connections [LIMIT] [worker=N] [remote=IP[/BITS]] "
			  "[local=[IP:]PORT] [state=NAME] [min_age=MS] "
			  "[count-by=remote|state|worker]",
			  "limits", "ping", "prometheus", "reload", "upgrade",
			  "help"));
}

static json_t *stats_json_addrs(const struct addr *a, int n)
{
	json_t *arr = json_array();
	char buf[ADDR_STRLEN];

	for (int i = 0; i < n; i++)
		json_array_append_new(arr,
				      json_string(addr_format(&a[i].u.sa, buf,
							      sizeof(buf))));
	return arr;
}

char *stats_json_reload(int generation, int workers, const struct addr *added,
			int nadded, const struct addr *removed, int nremoved)
{
	return stats_dump(
		json_pack("{s:s, s:i, s:i, s:{s:o, s:o}}", "reload", "done",
			  "generation", generation, "workers", workers,
			  "listen", "added", stats_json_addrs(added, nadded),
			  "removed", stats_json_addrs(removed, nremoved)));
}

char *stats_json_upgrade(int pid, int old_pid)
{
	return stats_dump(json_pack("{s:s, s:i, s:i}", "upgrade", "done", "pid",
				    pid, "old_pid", old_pid));
}

char *stats_json_error(const char *fmt, ...)
{
	char msg[640];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return stats_dump(json_pack("{s:s}", "error", msg));
}
