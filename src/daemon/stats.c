/* stats.c - counters and their JSON documents. */
#include "autoconfig.h"

#include <netinet/tcp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stats.h"
#include "util.h"

/* The counters by name, so that totals, JSON and the cumulative rule
 * follow one table. */
static const struct {
	const char *name;
	size_t off;
	int gauge;
	int http_only;
	const char *prom; /* Prometheus metric name */
	const char *help;
} stats_fields[] = {
#define F(n) #n, offsetof(struct stats_counters, n)
	{ F(accepted), 0, 0, "connections_accepted_total", "Connections accepted." },
	{ F(active), 1, 0, "connections_active", "Connections open now." },
	{ F(closed), 0, 0, "connections_closed_total", "Connections closed." },
	{ F(rejected), 0, 0, "connections_rejected_total", "Connections accepted and closed at once for lack of a slot." },
	{ F(lost), 0, 0, "connections_lost_total", "Connections open in a worker when it died." },
	{ F(bytes_in), 0, 0, "received_bytes_total", "Bytes read from clients." },
	{ F(bytes_out), 0, 0, "sent_bytes_total", "Bytes written to clients." },
	{ F(requests), 0, 0, "requests_total", "HTTP requests answered." },
	{ F(accept_paused), 0, 0, "accept_pauses_total", "Times a worker stopped accepting (connection cap or out of descriptors)." },
	{ F(forced_closes), 0, 0, "forced_closes_total", "Connections closed at a drain deadline." },
	{ F(timeouts_header), 0, 1, "timeouts_header_total", "Connections closed by the header timeout." },
	{ F(timeouts_keepalive), 0, 1, "timeouts_keepalive_total", "Connections closed by the keep-alive timeout." },
	{ F(timeouts_send), 0, 1, "timeouts_send_total", "Connections closed by the send timeout." },
#undef F
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
	return json_pack("{s:[s, s, s, s, s, s, s]}", "commands", "stats",
			 "workers", "connections [LIMIT]", "limits", "ping",
			 "prometheus", "help");
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

/* Appends to a growing string; on failure the text is dropped (NULL). */
static void prom_put(char **text, size_t *len, size_t *cap, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void prom_put(char **text, size_t *len, size_t *cap, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (!*text)
		return;
	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(*text + *len, *cap - *len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			free(*text);
			*text = NULL;
			return;
		}
		if ((size_t)n < *cap - *len)
			break;
		char *p = realloc(*text, *cap * 2 + (size_t)n);

		if (!p) {
			free(*text);
			*text = NULL;
			return;
		}
		*text = p;
		*cap = *cap * 2 + (size_t)n;
	}
	*len += (size_t)n;
}

char *stats_prometheus(const struct stats_daemon_view *d,
		       const struct stats_worker_view *w, int n)
{
	int http = d->protocol && d->protocol[0] == 'h';
	size_t len = 0, cap = 8192;
	char *t = malloc(cap);

	if (!t)
		return NULL;
	t[0] = '\0';
	prom_put(&t, &len, &cap,
		 "# HELP reuseportd_build_info Version of the running daemon.\n"
		 "# TYPE reuseportd_build_info gauge\n"
		 "reuseportd_build_info{version=\"%s\",protocol=\"%s\"} 1\n"
		 "# HELP reuseportd_uptime_seconds Seconds since the master started.\n"
		 "# TYPE reuseportd_uptime_seconds gauge\n"
		 "reuseportd_uptime_seconds %.3f\n"
		 "# HELP reuseportd_generation Worker generation (reloads + 1).\n"
		 "# TYPE reuseportd_generation gauge\n"
		 "reuseportd_generation %d\n",
		 PACKAGE_VERSION, d->protocol, d->uptime_s, d->generation);
	prom_put(&t, &len, &cap,
		 "# HELP reuseportd_worker_up 1 if the worker process runs and answers.\n"
		 "# TYPE reuseportd_worker_up gauge\n");
	for (int i = 0; i < n; i++)
		prom_put(&t, &len, &cap,
			 "reuseportd_worker_up{worker=\"%d\",generation=\"%d\"} %d\n",
			 w[i].id, w[i].generation,
			 w[i].pid && strcmp(w[i].state, "unresponsive") != 0);
	prom_put(&t, &len, &cap,
		 "# HELP reuseportd_worker_restarts_total Times the worker slot was respawned.\n"
		 "# TYPE reuseportd_worker_restarts_total counter\n");
	for (int i = 0; i < n; i++)
		prom_put(&t, &len, &cap,
			 "reuseportd_worker_restarts_total{worker=\"%d\",generation=\"%d\"} %u\n",
			 w[i].id, w[i].generation, w[i].restarts);
	for (size_t f = 0; f < UTIL_ARRAY_LEN(stats_fields); f++) {
		if (stats_fields[f].http_only && !http)
			continue;
		prom_put(&t, &len, &cap, "# HELP reuseportd_%s %s\n# TYPE reuseportd_%s %s\n",
			 stats_fields[f].prom, stats_fields[f].help,
			 stats_fields[f].prom,
			 stats_fields[f].gauge ? "gauge" : "counter");
		for (int i = 0; i < n; i++)
			prom_put(&t, &len, &cap,
				 "reuseportd_%s{worker=\"%d\",generation=\"%d\"} %llu\n",
				 stats_fields[f].prom, w[i].id, w[i].generation,
				 (unsigned long long)CFIELD(&w[i].c, f));
	}
	if (http) {
		prom_put(&t, &len, &cap,
			 "# HELP reuseportd_responses_total HTTP responses by status class.\n"
			 "# TYPE reuseportd_responses_total counter\n");
		for (int i = 0; i < n; i++)
			for (int k = 0; k < 5; k++)
				prom_put(&t, &len, &cap,
					 "reuseportd_responses_total{worker=\"%d\",generation=\"%d\",code=\"%dxx\"} %llu\n",
					 w[i].id, w[i].generation, k + 1,
					 (unsigned long long)w[i].c.responses[k]);
	}
	return t;
}
