/* rb_report.c - text, JSON and progress output (see rb_report.h). */
#include "autoconfig.h"

#include <stdio.h>
#include <string.h>

#include "reuseportbench/rb_report.h"

/* Text lists at most this many source addresses; JSON has them all. */
#define TEXT_SOURCES 64

static const double pcts[] = { 50.0, 90.0, 99.0, 99.9 };
static const char *const pct_keys[] = { "p50", "p90", "p99", "p99_9" };
static const char *const pct_text[] = { "p50", "p90", "p99", "p99.9" };

static double per_s(uint64_t n, double s)
{
	return s > 0 ? (double)n / s : 0.0;
}

static const char *unit_name(const struct rb_opts *o)
{
	return o->mode == RB_MODE_HTTP ? "requests" : "messages";
}

/* "7.9 MB": SI units, as network rates are usually given. */
static const char *human_bytes(double b, char *buf, size_t len)
{
	static const char *const u[] = { "B", "kB", "MB", "GB", "TB" };
	int i = 0;

	while (b >= 1000.0 && i < 4) {
		b /= 1000.0;
		i++;
	}
	snprintf(buf, len, i ? "%.1f %s" : "%.0f %s", b, u[i]);
	return buf;
}

void rb_report_progress(FILE *f, const struct rb_opts *o, const char *phase,
			const struct rb_progress *p, double elapsed, double run)
{
	const char *mode = rb_mode_name(o->mode);

	if (!strcmp(phase, "ramp"))
		fprintf(f,
			"\r\033[K[%s ramp] %.1fs  established %llu/%u  "
			"failed %llu  open %llu",
			mode, elapsed, (unsigned long long)p->established,
			o->connections, (unsigned long long)p->failed,
			(unsigned long long)p->open);
	else if (o->mode == RB_MODE_HOLD)
		fprintf(f,
			"\r\033[K[hold] %.1f/%gs  open %llu  dropped %llu  "
			"failed %llu",
			run, o->duration_s, (unsigned long long)p->open,
			(unsigned long long)p->errors,
			(unsigned long long)p->failed);
	else
		fprintf(f,
			"\r\033[K[%s %s] %.1f/%gs  %s %llu (%.0f/s)  "
			"errors %llu  open %llu",
			mode, phase, run, o->duration_s, unit_name(o),
			(unsigned long long)p->messages,
			per_s(p->messages, run), (unsigned long long)p->errors,
			(unsigned long long)p->open);
	fflush(f);
}

void rb_report_progress_clear(FILE *f)
{
	fputs("\r\033[K", f);
	fflush(f);
}

/* ---- text ---- */

static void text_latency(FILE *f, const char *label, const struct rb_hist *h)
{
	size_t i;

	if (h->count == 0) {
		fprintf(f, "           %s: no samples\n", label);
		return;
	}
	fprintf(f, "           %s us:", label);
	for (i = 0; i < sizeof(pcts) / sizeof(pcts[0]); i++)
		fprintf(f, "  %s %llu", pct_text[i],
			(unsigned long long)rb_hist_percentile(h, pcts[i]));
	fprintf(f, "  max %llu  mean %.1f\n", (unsigned long long)h->max,
		rb_hist_mean(h));
}

static void text_errors(FILE *f, const struct rb_result *r)
{
	char nb[32];
	int st, e;

	for (st = 0; st < RB_STAGE_COUNT; st++)
		for (e = 0; e < RB_ERRNO_SLOTS; e++) {
			uint64_t n = r->errs[st][e];

			if (!n)
				continue;
			fprintf(f, "           %llu x %s %s: %s\n",
				(unsigned long long)n,
				rb_stage_name((enum rb_stage)st),
				rb_errno_name(e, nb, sizeof(nb)),
				rb_explain((enum rb_stage)st, e));
		}
	if (r->connect_timeouts)
		fprintf(f,
			"           (%llu of the handshake ETIMEDOUT are "
			"--connect-timeout expiring)\n",
			(unsigned long long)r->connect_timeouts);
}

static void text_ports(FILE *f, const struct rb_opts *o, const struct rb_result *r)
{
	uint16_t lo = UINT16_MAX, hi = 0;
	uint32_t i, shown = 0, nsrc = o->sources.count ? o->sources.count : 1;
	char a[RB_ADDR_TEXT];

	for (i = 0; i < nsrc; i++) {
		if (!r->src[i].conns)
			continue;
		if (r->src[i].port_min < lo)
			lo = r->src[i].port_min;
		if (r->src[i].port_max > hi)
			hi = r->src[i].port_max;
	}
	if (!r->established)
		return;
	fprintf(f, "ports      %llu distinct local ports, %u-%u\n",
		(unsigned long long)rb_result_distinct_ports(r), lo, hi);
	for (i = 0; i < nsrc && shown < TEXT_SOURCES; i++, shown++) {
		rb_src_text(&o->sources, i, a, sizeof(a));
		if (r->src[i].conns)
			fprintf(f,
				"             %-15s %8u connections, ports %u-%u\n",
				a, r->src[i].conns, r->src[i].port_min,
				r->src[i].port_max);
		else
			fprintf(f, "             %-15s %8u connections\n", a, 0u);
	}
	if (nsrc > shown)
		fprintf(f, "             ... %u more addresses (see --json)\n",
			nsrc - shown);
}

static void text_load(FILE *f, const struct rb_opts *o,
		      const struct rb_result *r, const struct rb_run *run)
{
	double t = r->run_s > 0 ? r->run_s : run->run_s;
	char b1[32], b2[32], b3[32];
	int s;

	if (o->rate > 0)
		fprintf(f,
			"load       open loop at %.0f %s/s over %u connections, "
			"%.2f s\n",
			o->rate, unit_name(o), o->connections, t);
	else
		fprintf(f, "load       closed loop over %u connections, %.2f s\n",
			o->connections, t);
	fprintf(f, "           %llu %s (%.0f/s), %s sent (%s/s), %s received\n",
		(unsigned long long)r->messages, unit_name(o),
		per_s(r->messages, t),
		human_bytes((double)r->bytes_sent, b1, sizeof(b1)),
		human_bytes(per_s(r->bytes_sent, t), b2, sizeof(b2)),
		human_bytes((double)r->bytes_received, b3, sizeof(b3)));
	text_latency(f, o->rate > 0 ? "latency (from intended send)" : "latency",
		     &r->latency);
	if (o->rate > 0)
		text_latency(f, "service (from actual send)", &r->service);
	fprintf(f,
		"           errors %llu: resets %llu, short %llu, "
		"mismatched %llu (%llu bytes), protocol %llu, timeouts %llu, "
		"unexpected %llu; unfinished %llu, reconnects %llu, "
		"idle closes %llu, retried %llu\n",
		(unsigned long long)rb_result_load_errors(r),
		(unsigned long long)r->resets, (unsigned long long)r->short_reads,
		(unsigned long long)r->mismatched_msgs,
		(unsigned long long)r->mismatched_bytes,
		(unsigned long long)r->protocol_errors,
		(unsigned long long)r->request_timeouts,
		(unsigned long long)r->unexpected,
		(unsigned long long)r->unfinished,
		(unsigned long long)r->reconnects,
		(unsigned long long)r->dropped, (unsigned long long)r->retried);
	if (o->mode != RB_MODE_HTTP)
		return;
	fprintf(f, "status    ");
	for (s = RB_STATUS_MIN; s <= RB_STATUS_MAX; s++)
		if (r->status[s - RB_STATUS_MIN])
			fprintf(f, " %d: %llu", s,
				(unsigned long long)r->status[s - RB_STATUS_MIN]);
	if (r->status_other)
		fprintf(f, " other: %llu", (unsigned long long)r->status_other);
	fputc('\n', f);
}

void rb_report_text(FILE *f, const struct rb_opts *o, const struct rb_result *r,
		    const struct rb_run *run)
{
	char a[RB_ADDR_TEXT], b[RB_ADDR_TEXT];

	fprintf(f, "reuseportbench %s %s: %u connections over %u process%s",
		rb_mode_name(o->mode), o->target.text, o->connections,
		run->nprocs, run->nprocs == 1 ? "" : "es");
	if (o->sources.count) {
		rb_src_text(&o->sources, 0, a, sizeof(a));
		rb_src_text(&o->sources, o->sources.count - 1, b, sizeof(b));
		fprintf(f, ", sources %s-%s (%u)", a, b, o->sources.count);
	}
	fputc('\n', f);
	fprintf(f,
		"connect    %llu established, %llu failed of %llu attempted, "
		"ramp %.2f s (%.0f/s)\n",
		(unsigned long long)r->established,
		(unsigned long long)r->connect_failed,
		(unsigned long long)r->attempted, r->ramp_s,
		per_s(r->ramp_established, r->ramp_s));
	text_latency(f, "connect latency", &r->connect_lat);
	text_errors(f, r);
	text_ports(f, o, r);
	if (o->mode == RB_MODE_HOLD)
		fprintf(f,
			"hold       %llu open at start, %llu at end, held "
			"%.2f s, %llu dropped by the server\n",
			(unsigned long long)r->open_at_go,
			(unsigned long long)r->open_at_stop, run->run_s,
			(unsigned long long)r->dropped);
	if (o->mode == RB_MODE_HOLD && o->echo_check)
		fprintf(f, "echo check %llu echoed, %llu did not\n",
			(unsigned long long)r->echo_ok,
			(unsigned long long)r->echo_failed);
	else
		text_load(f, o, r, run);
	if (run->lost)
		fprintf(f, "processes  %u of %u ended without a result\n",
			run->lost, run->nprocs);
	if (run->interrupted)
		fprintf(f, "interrupted\n");
	fprintf(f, "result     %s\n",
		rb_report_failed(o, r, run) ? "FAILED" : "OK");
}

/* ---- JSON ---- */

static json_t *json_latency(const struct rb_hist *h)
{
	json_t *j = json_object();
	size_t i;

	json_object_set_new(j, "count", json_integer((json_int_t)h->count));
	json_object_set_new(j, "min",
			    json_integer(h->count ? (json_int_t)h->min : 0));
	json_object_set_new(j, "mean", json_real(rb_hist_mean(h)));
	for (i = 0; i < sizeof(pcts) / sizeof(pcts[0]); i++)
		json_object_set_new(
			j, pct_keys[i],
			json_integer((json_int_t)rb_hist_percentile(h, pcts[i])));
	json_object_set_new(j, "max", json_integer((json_int_t)h->max));
	return j;
}

static json_t *json_u(uint64_t v)
{
	return json_integer((json_int_t)v);
}

static json_t *json_errors(const struct rb_result *r)
{
	json_t *a = json_array();
	char nb[32];
	int st, e;

	for (st = 0; st < RB_STAGE_COUNT; st++)
		for (e = 0; e < RB_ERRNO_SLOTS; e++) {
			json_t *o;

			if (!r->errs[st][e])
				continue;
			o = json_object();
			json_object_set_new(o, "stage",
					    json_string(rb_stage_name(
						    (enum rb_stage)st)));
			json_object_set_new(o, "errno", json_integer(e));
			json_object_set_new(o, "name",
					    json_string(rb_errno_name(e, nb,
								      sizeof(nb))));
			json_object_set_new(o, "count", json_u(r->errs[st][e]));
			json_object_set_new(o, "explanation",
					    json_string(rb_explain((enum rb_stage)st,
								   e)));
			json_array_append_new(a, o);
		}
	return a;
}

static json_t *json_ports(const struct rb_opts *o, const struct rb_result *r)
{
	json_t *j = json_object(), *per = json_array();
	uint32_t i, nsrc = o->sources.count ? o->sources.count : 1;
	uint16_t lo = UINT16_MAX, hi = 0;
	char a[RB_ADDR_TEXT];

	for (i = 0; i < nsrc; i++) {
		json_t *s = json_object();

		rb_src_text(&o->sources, i, a, sizeof(a));
		json_object_set_new(s, "address", json_string(a));
		json_object_set_new(s, "connections", json_u(r->src[i].conns));
		json_object_set_new(s, "port_min",
				    r->src[i].conns ?
					    json_integer(r->src[i].port_min) :
					    json_null());
		json_object_set_new(s, "port_max",
				    r->src[i].conns ?
					    json_integer(r->src[i].port_max) :
					    json_null());
		json_array_append_new(per, s);
		if (r->src[i].conns && r->src[i].port_min < lo)
			lo = r->src[i].port_min;
		if (r->src[i].conns && r->src[i].port_max > hi)
			hi = r->src[i].port_max;
	}
	json_object_set_new(j, "distinct", json_u(rb_result_distinct_ports(r)));
	json_object_set_new(j, "min",
			    r->established ? json_integer(lo) : json_null());
	json_object_set_new(j, "max",
			    r->established ? json_integer(hi) : json_null());
	json_object_set_new(j, "per_source", per);
	return j;
}

static json_t *json_connect(const struct rb_result *r)
{
	json_t *j = json_object();

	json_object_set_new(j, "attempted", json_u(r->attempted));
	json_object_set_new(j, "established", json_u(r->established));
	json_object_set_new(j, "failed", json_u(r->connect_failed));
	json_object_set_new(j, "timeouts", json_u(r->connect_timeouts));
	json_object_set_new(j, "ramp_s", json_real(r->ramp_s));
	json_object_set_new(j, "ramp_established", json_u(r->ramp_established));
	json_object_set_new(j, "ramp_per_s",
			    json_real(per_s(r->ramp_established, r->ramp_s)));
	json_object_set_new(j, "peak_open", json_u(r->peak_open));
	json_object_set_new(j, "latency_us", json_latency(&r->connect_lat));
	return j;
}

static json_t *json_load(const struct rb_opts *o, const struct rb_result *r,
			 const struct rb_run *run)
{
	double t = r->run_s > 0 ? r->run_s : run->run_s;
	json_t *j = json_object(), *e = json_object();
	const char *unit = unit_name(o);
	char key[32];

	json_object_set_new(j, "loop",
			    json_string(o->rate > 0 ? "open" : "closed"));
	json_object_set_new(j, "rate",
			    o->rate > 0 ? json_real(o->rate) : json_null());
	json_object_set_new(j, "elapsed_s", json_real(t));
	json_object_set_new(j, unit, json_u(r->messages));
	snprintf(key, sizeof(key), "%s_per_s", unit);
	json_object_set_new(j, key, json_real(per_s(r->messages, t)));
	json_object_set_new(j, "bytes_sent", json_u(r->bytes_sent));
	json_object_set_new(j, "bytes_received", json_u(r->bytes_received));
	json_object_set_new(j, "bytes_per_s", json_real(per_s(r->bytes_sent, t)));
	/* Which clock latency_us ran from: open loop (--rate), the time
	 * each request was due (no coordinated omission); closed loop, the
	 * send. service_latency_us is always from the send. */
	json_object_set_new(j, "latency_clock",
			    json_string(o->rate > 0 ? "intended send" : "send"));
	json_object_set_new(j, "latency_us", json_latency(&r->latency));
	json_object_set_new(j, "service_latency_us", json_latency(&r->service));
	json_object_set_new(e, "total", json_u(rb_result_load_errors(r)));
	json_object_set_new(e, "resets", json_u(r->resets));
	json_object_set_new(e, "short", json_u(r->short_reads));
	json_object_set_new(e, "mismatched", json_u(r->mismatched_msgs));
	json_object_set_new(e, "mismatched_bytes", json_u(r->mismatched_bytes));
	json_object_set_new(e, "protocol", json_u(r->protocol_errors));
	json_object_set_new(e, "timeouts", json_u(r->request_timeouts));
	json_object_set_new(e, "unexpected", json_u(r->unexpected));
	json_object_set_new(j, "errors", e);
	json_object_set_new(j, "unfinished", json_u(r->unfinished));
	json_object_set_new(j, "reconnects", json_u(r->reconnects));
	json_object_set_new(j, "idle_closes", json_u(r->dropped));
	json_object_set_new(j, "retried", json_u(r->retried));
	return j;
}

static json_t *json_status(const struct rb_result *r)
{
	json_t *j = json_object();
	char key[16];
	int s;

	for (s = RB_STATUS_MIN; s <= RB_STATUS_MAX; s++) {
		if (!r->status[s - RB_STATUS_MIN])
			continue;
		snprintf(key, sizeof(key), "%d", s);
		json_object_set_new(j, key, json_u(r->status[s - RB_STATUS_MIN]));
	}
	if (r->status_other)
		json_object_set_new(j, "other", json_u(r->status_other));
	return j;
}

json_t *rb_report_json(const struct rb_opts *o, const struct rb_result *r,
		       const struct rb_run *run)
{
	json_t *j = json_object(), *h;

	if (!j)
		return NULL;
	json_object_set_new(j, "mode", json_string(rb_mode_name(o->mode)));
	json_object_set_new(j, "target", json_string(o->target.text));
	json_object_set_new(j, "connections", json_integer(o->connections));
	json_object_set_new(j, "processes", json_integer(run->nprocs));
	json_object_set_new(j, "per_process", json_integer(run->per_process));
	json_object_set_new(j, "duration_s", json_real(o->duration_s));
	json_object_set_new(j, "elapsed_s", json_real(run->total_s));
	json_object_set_new(j, "connect", json_connect(r));
	json_object_set_new(j, "connect_errors", json_errors(r));
	json_object_set_new(j, "ports", json_ports(o, r));
	if (o->mode == RB_MODE_HOLD) {
		h = json_object();
		json_object_set_new(h, "held_s", json_real(run->run_s));
		json_object_set_new(h, "open_at_start", json_u(r->open_at_go));
		json_object_set_new(h, "open_at_end", json_u(r->open_at_stop));
		json_object_set_new(h, "dropped", json_u(r->dropped));
		if (o->echo_check) {
			json_object_set_new(h, "echo_ok", json_u(r->echo_ok));
			json_object_set_new(h, "echo_failed",
					    json_u(r->echo_failed));
		}
		json_object_set_new(j, "hold", h);
	} else {
		json_object_set_new(j, "load", json_load(o, r, run));
	}
	if (o->mode == RB_MODE_HTTP)
		json_object_set_new(j, "status", json_status(r));
	json_object_set_new(j, "lost_processes", json_integer(run->lost));
	json_object_set_new(j, "interrupted", json_boolean(run->interrupted));
	json_object_set_new(j, "ok", json_boolean(!rb_report_failed(o, r, run)));
	return j;
}

int rb_report_failed(const struct rb_opts *o, const struct rb_result *r,
		     const struct rb_run *run)
{
	uint64_t bad;

	if (run->lost)
		return 1;
	if (o->mode == RB_MODE_HOLD) {
		if (r->established == 0)
			return 1;
		bad = r->connect_failed + r->dropped;
	} else {
		if (r->messages == 0)
			return 1;
		bad = r->connect_failed + rb_result_load_errors(r) +
		      rb_result_bad_statuses(r);
	}
	return bad && !o->allow_failures;
}
