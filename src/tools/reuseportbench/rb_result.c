/* rb_result.c - counting, merging and naming failures (see rb_result.h). */
#include "autoconfig.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "reuseportbench/rb_result.h"

void rb_result_init(struct rb_result *r)
{
	uint32_t i;

	memset(r, 0, sizeof(*r));
	for (i = 0; i < RB_MAX_SOURCES; i++)
		r->src[i].port_min = UINT16_MAX;
	rb_hist_init(&r->connect_lat);
	rb_hist_init(&r->latency);
	rb_hist_init(&r->service);
}

static double dmax(double a, double b)
{
	return a > b ? a : b;
}

void rb_result_merge(struct rb_result *d, const struct rb_result *s)
{
	size_t i, j;

	d->attempted += s->attempted;
	d->established += s->established;
	d->ramp_established += s->ramp_established;
	d->connect_failed += s->connect_failed;
	d->connect_timeouts += s->connect_timeouts;
	/* Children hold their connections at the same time (they all get
	 * "go" together), so their peaks add up. */
	d->peak_open += s->peak_open;
	d->open_at_go += s->open_at_go;
	d->open_at_stop += s->open_at_stop;
	d->dropped += s->dropped;
	d->retried += s->retried;
	d->echo_ok += s->echo_ok;
	d->echo_failed += s->echo_failed;
	d->messages += s->messages;
	d->bytes_sent += s->bytes_sent;
	d->bytes_received += s->bytes_received;
	d->resets += s->resets;
	d->short_reads += s->short_reads;
	d->mismatched_msgs += s->mismatched_msgs;
	d->mismatched_bytes += s->mismatched_bytes;
	d->protocol_errors += s->protocol_errors;
	d->request_timeouts += s->request_timeouts;
	d->unexpected += s->unexpected;
	d->unfinished += s->unfinished;
	d->reconnects += s->reconnects;
	for (i = 0; i < sizeof(d->status) / sizeof(d->status[0]); i++)
		d->status[i] += s->status[i];
	d->status_other += s->status_other;
	d->ramp_s = dmax(d->ramp_s, s->ramp_s);
	d->run_s = dmax(d->run_s, s->run_s);
	for (i = 0; i < RB_STAGE_COUNT; i++)
		for (j = 0; j < RB_ERRNO_SLOTS; j++)
			d->errs[i][j] += s->errs[i][j];
	for (i = 0; i < RB_MAX_SOURCES; i++) {
		if (s->src[i].conns == 0)
			continue;
		d->src[i].conns += s->src[i].conns;
		if (s->src[i].port_min < d->src[i].port_min)
			d->src[i].port_min = s->src[i].port_min;
		if (s->src[i].port_max > d->src[i].port_max)
			d->src[i].port_max = s->src[i].port_max;
	}
	for (i = 0; i < sizeof(d->port_seen); i++)
		d->port_seen[i] |= s->port_seen[i];
	rb_hist_merge(&d->connect_lat, &s->connect_lat);
	rb_hist_merge(&d->latency, &s->latency);
	rb_hist_merge(&d->service, &s->service);
}

void rb_result_error(struct rb_result *r, enum rb_stage st, int err)
{
	if (err < 0 || err >= RB_ERRNO_SLOTS)
		err = 0; /* "unknown": errno never is 0 on a real failure */
	r->errs[st][err]++;
}

void rb_result_port(struct rb_result *r, uint32_t src_idx, uint16_t port)
{
	struct rb_src_stat *s;

	if (src_idx >= RB_MAX_SOURCES)
		return;
	s = &r->src[src_idx];
	s->conns++;
	if (port < s->port_min)
		s->port_min = port;
	if (port > s->port_max)
		s->port_max = port;
	r->port_seen[port >> 3] |= (uint8_t)(1u << (port & 7));
}

void rb_result_status(struct rb_result *r, int status)
{
	if (status >= RB_STATUS_MIN && status <= RB_STATUS_MAX)
		r->status[status - RB_STATUS_MIN]++;
	else
		r->status_other++;
}

uint64_t rb_result_distinct_ports(const struct rb_result *r)
{
	uint64_t n = 0;
	size_t i;

	for (i = 0; i < sizeof(r->port_seen); i++)
		n += (uint64_t)__builtin_popcount(r->port_seen[i]);
	return n;
}

uint64_t rb_result_load_errors(const struct rb_result *r)
{
	return r->resets + r->short_reads + r->mismatched_msgs +
	       r->protocol_errors + r->request_timeouts + r->unexpected;
}

uint64_t rb_result_bad_statuses(const struct rb_result *r)
{
	uint64_t n = r->status_other;
	int s;

	for (s = RB_STATUS_MIN; s <= RB_STATUS_MAX; s++)
		if (s < 200 || s > 399)
			n += r->status[s - RB_STATUS_MIN];
	return n;
}

const char *rb_stage_name(enum rb_stage st)
{
	static const char *const names[RB_STAGE_COUNT] = {
		"socket", "bind", "connect", "handshake", "read", "write",
	};

	return (unsigned)st < RB_STAGE_COUNT ? names[st] : "?";
}

const char *rb_errno_name(int err, char *buf, size_t len)
{
	const char *n = err ? strerrorname_np(err) : NULL;

	if (n)
		return n;
	snprintf(buf, len, err ? "E%d" : "unknown", err);
	return buf;
}

const char *rb_explain(enum rb_stage st, int err)
{
	switch (err) {
	case EADDRNOTAVAIL:
		if (st == RB_STAGE_BIND)
			return "the source address is not configured on this host";
		return "no free local port left for this source address "
		       "(ephemeral ports exhausted: add addresses with --source "
		       "or widen net.ipv4.ip_local_port_range)";
	case EAGAIN:
		return "no free local port left (ephemeral ports exhausted)";
	case EADDRINUSE:
		return "local address and port already in use";
	case ECONNREFUSED:
		return "refused: nothing listens on the target port, or its "
		       "accept queue overflowed with tcp_abort_on_overflow";
	case ETIMEDOUT:
		return "no answer to the SYN in time (accept queue or SYN "
		       "backlog full, or packets dropped)";
	case ECONNRESET:
		return "connection reset by the server";
	case EPIPE:
		return "the server closed the connection while we wrote";
	case EMFILE:
		return "per-process open-files limit reached (use more "
		       "processes: -p, or a lower --per-process)";
	case ENFILE:
		return "system-wide open-files limit reached (fs.file-max)";
	case ENOBUFS:
	case ENOMEM:
		return "the kernel is out of socket memory";
	case ENETUNREACH:
	case EHOSTUNREACH:
		return "no route to the target";
	case EINVAL:
		if (st == RB_STAGE_BIND)
			return "the source address family does not match the target";
		break;
	default:
		break;
	}
	return err ? strerror(err) : "unknown error";
}
