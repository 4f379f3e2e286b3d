/* stats.c - counters and their JSON documents. */
#include "autoconfig.h"

#include <netinet/tcp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

#include "stats.h"
#include "util.h"

/* The counters by name, so that totals, JSON and the cumulative rule
 * follow one table. */
static const struct {
	const char *name;
	size_t off;
	int gauge;
	int http_only;
} stats_fields[] = {
	{ "accepted", offsetof(struct stats_counters, accepted), 0, 0 },
	{ "active", offsetof(struct stats_counters, active), 1, 0 },
	{ "closed", offsetof(struct stats_counters, closed), 0, 0 },
	{ "rejected", offsetof(struct stats_counters, rejected), 0, 0 },
	{ "lost", offsetof(struct stats_counters, lost), 0, 0 },
	{ "bytes_in", offsetof(struct stats_counters, bytes_in), 0, 0 },
	{ "bytes_out", offsetof(struct stats_counters, bytes_out), 0, 0 },
	{ "requests", offsetof(struct stats_counters, requests), 0, 0 },
	{ "accept_paused", offsetof(struct stats_counters, accept_paused), 0, 0 },
	{ "forced_closes", offsetof(struct stats_counters, forced_closes), 0, 0 },
	{ "timeouts_header", offsetof(struct stats_counters, timeouts_header), 0, 1 },
	{ "timeouts_keepalive", offsetof(struct stats_counters, timeouts_keepalive), 0, 1 },
	{ "timeouts_send", offsetof(struct stats_counters, timeouts_send), 0, 1 },
};

#define FIELD(c, i) (*(uint64_t *)(void *)((char *)(c) + stats_fields[i].off))
#define CFIELD(c, i) \
	(*(const uint64_t *)(const void *)((const char *)(c) + stats_fields[i].off))

void stats_accumulate(struct stats_counters *dst,
		      const struct stats_counters *src)
{
	for (size_t i = 0; i < UTIL_ARRAY_LEN(stats_fields); i++)
		if (!stats_fields[i].gauge)
			FIELD(dst, i) += CFIELD(src, i);
	for (size_t i = 0; i < UTIL_ARRAY_LEN(dst->responses); i++)
		dst->responses[i] += src->responses[i];
}

void stats_add(struct stats_counters *dst, const struct stats_counters *src)
{
	stats_accumulate(dst, src);
	dst->active += src->active;
}

json_t *stats_json_counters(const struct stats_counters *c, int http)
{
	json_t *o = json_object();

	for (size_t i = 0; i < UTIL_ARRAY_LEN(stats_fields); i++)
		if (http || !stats_fields[i].http_only)
			json_object_set_new(o, stats_fields[i].name,
					    json_integer((json_int_t)CFIELD(c, i)));
	if (http) {
		static const char *const cls[] = { "1xx", "2xx", "3xx", "4xx", "5xx" };
		json_t *r = json_object();

		for (size_t i = 0; i < UTIL_ARRAY_LEN(cls); i++)
			json_object_set_new(r, cls[i],
					    json_integer((json_int_t)c->responses[i]));
		json_object_set_new(o, "responses", r);
	}
	return o;
}

static json_t *worker_json(const struct stats_worker_view *w, int http)
{
	json_t *o = json_object();

	json_object_set_new(o, "id", json_integer(w->id));
	json_object_set_new(o, "pid", json_integer(w->pid));
	json_object_set_new(o, "state", json_string(w->state));
	json_object_set_new(o, "generation", json_integer(w->generation));
	json_object_set_new(o, "restarts", json_integer(w->restarts));
	json_object_set_new(o, "silent_ms", json_integer((json_int_t)w->silent_ms));
	json_object_set_new(o, "last_exit",
			    w->last_exit ? json_string(w->last_exit) : json_null());
	json_t *c = stats_json_counters(&w->c, http);

	json_object_update(o, c);
	json_decref(c);
	return o;
}

static void add_workers(json_t *doc, const struct stats_daemon_view *d,
			const struct stats_worker_view *w, int n)
{
	int http = d->protocol && d->protocol[0] == 'h';
	struct stats_counters tot = { 0 };
	json_t *arr = json_array();

	for (int i = 0; i < n; i++) {
		json_t *o = worker_json(&w[i], http);

		json_array_append_new(arr, o);
		stats_add(&tot, &w[i].c);
	}
	json_object_set_new(doc, "totals", stats_json_counters(&tot, http));
	json_object_set_new(doc, "workers", arr);
}

json_t *stats_json_stats(const struct stats_daemon_view *d,
			 const struct stats_worker_view *w, int n)
{
	json_t *doc = json_object(), *listen = json_array();
	char ip[ADDR_STRLEN];

	json_object_set_new(doc, "version", json_string(PACKAGE_VERSION));
	json_object_set_new(doc, "pid", json_integer(d->pid));
	json_object_set_new(doc, "uptime_s", json_real(d->uptime_s));
	json_object_set_new(doc, "protocol", json_string(d->protocol));
	json_object_set_new(doc, "generation", json_integer(d->generation));
	for (int i = 0; i < d->nlisten; i++) {
		const struct sockaddr *sa = &d->listen[i].u.sa;

		json_array_append_new(listen,
			json_pack("{s:s, s:i}", "address",
				  addr_format_ip(sa, ip, sizeof(ip)), "port",
				  addr_port(sa)));
	}
	json_object_set_new(doc, "listen", listen);
	json_object_set_new(doc, "workers_configured",
			    json_integer(d->workers_configured));
	add_workers(doc, d, w, n);
	json_object_set_new(doc, "limits", stats_json_limits(d->limits));
	return doc;
}

json_t *stats_json_workers(const struct stats_daemon_view *d,
			   const struct stats_worker_view *w, int n)
{
	json_t *doc = json_object();

	add_workers(doc, d, w, n);
	return doc;
}

const char *stats_tcp_state_name(int state)
{
	static const char *const names[] = {
		[TCP_ESTABLISHED] = "ESTABLISHED", [TCP_SYN_SENT] = "SYN_SENT",
		[TCP_SYN_RECV] = "SYN_RECV",       [TCP_FIN_WAIT1] = "FIN_WAIT1",
		[TCP_FIN_WAIT2] = "FIN_WAIT2",     [TCP_TIME_WAIT] = "TIME_WAIT",
		[TCP_CLOSE] = "CLOSE",             [TCP_CLOSE_WAIT] = "CLOSE_WAIT",
		[TCP_LAST_ACK] = "LAST_ACK",       [TCP_LISTEN] = "LISTEN",
		[TCP_CLOSING] = "CLOSING",
	};

	if (state < 0 || (size_t)state >= UTIL_ARRAY_LEN(names) || !names[state])
		return "UNKNOWN";
	return names[state];
}

json_t *stats_json_connections(const struct stats_conn *c, size_t n,
			       uint64_t total, int truncated)
{
	json_t *doc = json_object(), *arr = json_array();
	char l[ADDR_STRLEN], r[ADDR_STRLEN];

	for (size_t i = 0; i < n; i++)
		json_array_append_new(arr, json_pack(
			"{s:i, s:s, s:s, s:s, s:s, s:I, s:I, s:I}",
			"worker", (int)c[i].worker,
			"local", addr_format(&c[i].local.sa, l, sizeof(l)),
			"remote", addr_format(&c[i].remote.sa, r, sizeof(r)),
			"protocol", "tcp",
			"state", stats_tcp_state_name(c[i].tcp_state),
			"age_ms", (json_int_t)c[i].age_ms,
			"bytes_in", (json_int_t)c[i].bytes_in,
			"bytes_out", (json_int_t)c[i].bytes_out));
	json_object_set_new(doc, "total", json_integer((json_int_t)total));
	json_object_set_new(doc, "truncated", json_boolean(truncated));
	json_object_set_new(doc, "connections", arr);
	return doc;
}

json_t *stats_json_limits(const struct limits *lim)
{
	return json_pack("{s:I, s:I, s:I, s:I, s:I, s:[I, I], s:I, s:I}",
			 "nofile_soft", (json_int_t)lim->nofile_soft,
			 "nofile_hard", (json_int_t)lim->nofile_hard,
			 "max_connections_per_worker",
			 (json_int_t)lim->max_connections_per_worker,
			 "somaxconn", (json_int_t)lim->somaxconn,
			 "tcp_max_syn_backlog", (json_int_t)lim->tcp_max_syn_backlog,
			 "ip_local_port_range", (json_int_t)lim->port_lo,
			 (json_int_t)lim->port_hi,
			 "tcp_migrate_req", (json_int_t)lim->tcp_migrate_req,
			 "backlog", (json_int_t)lim->backlog);
}

json_t *stats_json_limits_doc(const struct limits *lim)
{
	json_t *w = json_array();

	for (int i = 0; i < lim->nwarnings; i++)
		json_array_append_new(w, json_string(lim->warnings[i]));
	return json_pack("{s:o, s:o}", "limits", stats_json_limits(lim),
			 "warnings", w);
}

json_t *stats_json_ping(const struct stats_daemon_view *d)
{
	return json_pack("{s:b, s:i, s:f}", "pong", 1, "pid", (int)d->pid,
			 "uptime_s", d->uptime_s);
}

json_t *stats_json_help(void)
{
	return json_pack("{s:[s, s, s, s, s, s]}", "commands", "stats",
			 "workers", "connections [LIMIT]", "limits", "ping",
			 "help");
}

json_t *stats_json_error(const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return json_pack("{s:s}", "error", msg);
}
