/* rc_prom.c - Prometheus exposition text from the stats JSON.
 * Format: https://prometheus.io/docs/instrumenting/exposition_formats/
 * (each family: one # HELP, one # TYPE, then its samples; counters end
 * in _total; label values escape backslash, quote and newline). */
#include "autoconfig.h"

#include <string.h>

#include "rc_fmt.h"
#include "rc_prom.h"

/* Per-worker counters: JSON field, metric name, type, help. Families whose
 * field no worker carries (e.g. HTTP timeouts under echo) are left out. */
static const struct {
	const char *field;
	const char *metric;
	int gauge;
	const char *help;
} rc_prom_fields[] = {
	{ "accepted", "connections_accepted_total", 0, "Connections accepted." },
	{ "active", "connections_active", 1, "Connections open now." },
	{ "closed", "connections_closed_total", 0, "Connections closed." },
	{ "rejected", "connections_rejected_total", 0,
	  "Connections accepted and closed at once for lack of a slot." },
	{ "lost", "connections_lost_total", 0, "Connections open in a worker when it died." },
	{ "bytes_in", "received_bytes_total", 0, "Bytes read from clients." },
	{ "bytes_out", "sent_bytes_total", 0, "Bytes written to clients." },
	{ "requests", "requests_total", 0, "HTTP requests answered." },
	{ "accept_paused", "accept_pauses_total", 0,
	  "Times a worker stopped accepting (connection cap or out of descriptors)." },
	{ "forced_closes", "forced_closes_total", 0, "Connections closed at a drain deadline." },
	{ "timeouts_header", "timeouts_header_total", 0,
	  "Connections closed by the header timeout." },
	{ "timeouts_keepalive", "timeouts_keepalive_total", 0,
	  "Connections closed by the keep-alive timeout." },
	{ "timeouts_send", "timeouts_send_total", 0, "Connections closed by the send timeout." },
};

#define RC_PROM_NFIELDS (sizeof(rc_prom_fields) / sizeof(rc_prom_fields[0]))

static void rc_prom_family(FILE *out, const char *metric, const char *type,
			   const char *help)
{
	fprintf(out, "# HELP reuseportd_%s %s\n# TYPE reuseportd_%s %s\n", metric,
		help, metric, type);
}

/* A label value with the three escapes the format defines. */
static void rc_prom_label_value(FILE *out, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\' || *s == '"')
			fprintf(out, "\\%c", *s);
		else if (*s == '\n')
			fputs("\\n", out);
		else
			fputc(*s, out);
	}
}

static void rc_prom_sample(FILE *out, const char *metric, const json_t *w,
			   const char *extra, unsigned long long v)
{
	fprintf(out, "reuseportd_%s{worker=\"%llu\",generation=\"%llu\"%s} %llu\n",
		metric, (unsigned long long)rc_json_u64(w, "id"),
		(unsigned long long)rc_json_u64(w, "generation"), extra, v);
}

static void rc_prom_daemon(FILE *out, const json_t *doc)
{
	rc_prom_family(out, "build_info", "gauge", "Version of the running daemon.");
	fputs("reuseportd_build_info{version=\"", out);
	rc_prom_label_value(out, rc_json_str(doc, "version", "unknown"));
	fputs("\",protocol=\"", out);
	rc_prom_label_value(out, rc_json_str(doc, "protocol", "unknown"));
	fputs("\"} 1\n", out);
	rc_prom_family(out, "uptime_seconds", "gauge", "Seconds since the master started.");
	fprintf(out, "reuseportd_uptime_seconds %.3f\n", rc_json_real(doc, "uptime_s"));
	rc_prom_family(out, "generation", "gauge", "Worker generation (reloads + 1).");
	fprintf(out, "reuseportd_generation %llu\n",
		(unsigned long long)rc_json_u64(doc, "generation"));
}

/* Up: a process exists and the master hears from it. */
static int rc_prom_worker_up(const json_t *w)
{
	const char *state = rc_json_str(w, "state", "");

	return rc_json_u64(w, "pid") > 0 && strcmp(state, "unresponsive") != 0 &&
	       strcmp(state, "exited") != 0;
}

static void rc_prom_workers(FILE *out, const json_t *workers)
{
	size_t i;
	const json_t *w;

	rc_prom_family(out, "worker_up", "gauge", "1 if the worker process runs and answers.");
	json_array_foreach(workers, i, w)
		rc_prom_sample(out, "worker_up", w, "", (unsigned long long)rc_prom_worker_up(w));
	rc_prom_family(out, "worker_restarts_total", "counter",
		       "Times the worker slot was respawned.");
	json_array_foreach(workers, i, w)
		rc_prom_sample(out, "worker_restarts_total", w, "",
			       (unsigned long long)rc_json_u64(w, "restarts"));
}

static int rc_prom_any_has(const json_t *workers, const char *field)
{
	size_t i;
	const json_t *w;

	json_array_foreach(workers, i, w)
		if (rc_json_has_number(w, field))
			return 1;
	return 0;
}

static void rc_prom_counters(FILE *out, const json_t *workers)
{
	size_t i;
	const json_t *w;

	for (size_t f = 0; f < RC_PROM_NFIELDS; f++) {
		if (!rc_prom_any_has(workers, rc_prom_fields[f].field))
			continue;
		rc_prom_family(out, rc_prom_fields[f].metric,
			       rc_prom_fields[f].gauge ? "gauge" : "counter",
			       rc_prom_fields[f].help);
		json_array_foreach(workers, i, w)
			if (rc_json_has_number(w, rc_prom_fields[f].field))
				rc_prom_sample(out, rc_prom_fields[f].metric, w, "",
					       (unsigned long long)rc_json_u64(
						       w, rc_prom_fields[f].field));
	}
}

/* HTTP responses by status class: {"responses":{"2xx":N,...}}. */
static void rc_prom_responses(FILE *out, const json_t *workers)
{
	size_t i;
	const json_t *w, *v;
	const char *code;
	int header = 0;

	json_array_foreach(workers, i, w) {
		json_t *r = json_object_get(w, "responses");

		if (!json_is_object(r))
			continue;
		if (!header++)
			rc_prom_family(out, "responses_total", "counter",
				       "HTTP responses by status class.");
		json_object_foreach(r, code, v) {
			char extra[64];

			/* Only well-formed classes: the value goes in a label. */
			if (strlen(code) != 3 || code[0] < '1' || code[0] > '5' ||
			    strcmp(code + 1, "xx") != 0)
				continue;
			snprintf(extra, sizeof(extra), ",code=\"%s\"", code);
			rc_prom_sample(out, "responses_total", w, extra,
				       (unsigned long long)rc_json_u64(r, code));
		}
	}
}

int rc_prom_render(FILE *out, const json_t *stats, char *err, size_t errlen)
{
	const json_t *workers = json_object_get(stats, "workers");

	if (!json_is_array(workers)) {
		snprintf(err, errlen, "the answer has no \"workers\" array");
		return -1;
	}
	rc_prom_daemon(out, stats);
	rc_prom_workers(out, workers);
	rc_prom_counters(out, workers);
	rc_prom_responses(out, workers);
	if (ferror(out)) {
		snprintf(err, errlen, "cannot write the metrics");
		return -1;
	}
	return 0;
}

int rc_prom_is_text(const char *reply, size_t len)
{
	size_t i = 0;

	while (i < len && (reply[i] == ' ' || reply[i] == '\n' || reply[i] == '\r' ||
			   reply[i] == '\t'))
		i++;
	/* Exposition text starts with a comment or a metric name; the JSON
	 * documents of the protocol are objects. */
	return i < len && reply[i] != '{';
}
