/* channel.c - framed, typed master<->worker messages on a socketpair. It
 * frames, checks and queues; what a message means is its owner's business
 * (master.c, worker.c). */
#include "autoconfig.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "channel.h"
#include "stats.h"
#include "util.h"

#define CHAN_READ_CHUNK 65536

/* The records announced are the records sent. */
static int chan_conns_ok(const void *body, size_t len)
{
	struct chan_conns_hdr h;

	memcpy(&h, body, sizeof(h));
	return h.count == (len - sizeof(h)) / sizeof(struct stats_conn);
}

static const struct chan_msg_spec chan_worker_msgs[] = {
	{ CHAN_READY, "READY", 0, 0, NULL },
	{ CHAN_ALIVE, "ALIVE", sizeof(struct stats_counters), 0, NULL },
	{ CHAN_STATS, "STATS", sizeof(struct stats_counters), 0, NULL },
	{ CHAN_CONNS, "CONNS", sizeof(struct chan_conns_hdr),
	  sizeof(struct stats_conn), chan_conns_ok },
};

static const struct chan_msg_spec chan_master_msgs[] = {
	{ CHAN_HEARTBEAT, "HEARTBEAT", 0, 0, NULL },
	{ CHAN_STATS_REQ, "STATS_REQ", 0, 0, NULL },
	{ CHAN_CONNS_REQ, "CONNS_REQ", sizeof(struct chan_conns_req), 0, NULL },
	{ CHAN_DRAIN, "DRAIN", sizeof(struct chan_drain), 0, NULL },
};

const struct chan_schema chan_to_master = {
	chan_worker_msgs, UTIL_ARRAY_LEN(chan_worker_msgs)
};
const struct chan_schema chan_to_worker = {
	chan_master_msgs, UTIL_ARRAY_LEN(chan_master_msgs)
};

int chan_check(const struct chan_schema *s, const struct chan_hdr *h,
	       const void *body, char *why, size_t whylen)
{
	const struct chan_msg_spec *m = NULL;

	for (size_t i = 0; i < s->n && !m; i++)
		if (s->msgs[i].type == h->type)
			m = &s->msgs[i];
	if (!m) {
		snprintf(why, whylen, "message type %u is not one this end accepts",
			 h->type);
		return -1;
	}
	if (h->len < m->fixed ||
	    (m->item ? (h->len - m->fixed) % m->item != 0 : h->len != m->fixed)) {
		snprintf(why, whylen, "%s message of %u bytes (%u%s expected)",
			 m->name, h->len, m->fixed, m->item ? " + records" : "");
		return -1;
	}
	if (m->check && !m->check(body, h->len)) {
		snprintf(why, whylen, "%s message: its body does not add up",
			 m->name);
		return -1;
	}
	return 0;
}

static void chan_fail(struct chan *ch, int malformed, const char *why)
{
	chan_close(ch);
	if (ch->on_close)
		ch->on_close(ch, malformed, why);
}

static int chan_flush(struct chan *ch)
{
	while (buf_pending(&ch->out) > 0) {
		ssize_t n = buf_write_fd(&ch->out, ch->w.fd);

		if (n < 0)
			return -1;
		if (n == 0)
			break;
	}
	return loop_mod(ch->loop, &ch->w,
			EPOLLIN | (buf_pending(&ch->out) ? EPOLLOUT : 0u));
}

/* Delivers every complete frame in the input buffer; -1 with the reason
 * at the first one that breaks the rules. The callback may close the
 * channel, so it is checked after each frame. */
static int chan_dispatch(struct chan *ch, char *why, size_t whylen)
{
	while (ch->open && buf_pending(&ch->in) >= sizeof(struct chan_hdr)) {
		struct chan_hdr h;
		const char *body = buf_head(&ch->in) + sizeof(h);

		memcpy(&h, buf_head(&ch->in), sizeof(h));
		if (h.len > CHAN_MAX_FRAME) {
			snprintf(why, whylen, "a frame of %u bytes", h.len);
			return -1;
		}
		if (buf_pending(&ch->in) < sizeof(h) + h.len)
			break;
		if (chan_check(ch->schema, &h, body, why, whylen) < 0)
			return -1;
		ch->on_msg(ch, &h, body);
		if (ch->open)
			buf_consume(&ch->in, sizeof(h) + h.len);
	}
	return 0;
}

static void chan_io(struct loop_watch *w, uint32_t events)
{
	struct chan *ch = util_container_of(w, struct chan, w);
	char why[160];

	if (events & EPOLLOUT && chan_flush(ch) < 0) {
		chan_fail(ch, 0, strerror(errno));
		return;
	}
	if (!(events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
		return;
	/* Bounded reads per wake-up: a chatty peer must not starve the
	 * other fds of this loop. */
	for (int i = 0; i < 16 && ch->open; i++) {
		ssize_t n = buf_read_fd(&ch->in, ch->w.fd, CHAN_READ_CHUNK);

		if (n == 0 || (n < 0 && errno != EAGAIN)) {
			chan_fail(ch, 0, n == 0 ? "end of file" : strerror(errno));
			return;
		}
		if (n < 0)
			break;
		if (chan_dispatch(ch, why, sizeof(why)) < 0) {
			chan_fail(ch, 1, why);
			return;
		}
	}
}

int chan_open(struct chan *ch, struct loop *l, int fd,
	      const struct chan_schema *schema, chan_msg_fn on_msg,
	      chan_close_fn on_close, void *arg)
{
	memset(ch, 0, sizeof(*ch));
	ch->loop = l;
	ch->schema = schema;
	ch->on_msg = on_msg;
	ch->on_close = on_close;
	ch->arg = arg;
	if (util_set_nonblock(fd) < 0 ||
	    loop_add(l, &ch->w, fd, EPOLLIN, chan_io) < 0) {
		close(fd);
		return -1;
	}
	ch->open = 1;
	return 0;
}

int chan_send_records(struct chan *ch, uint32_t type, uint64_t seq,
		      const void *fixed, size_t fixed_len, const void *records,
		      size_t records_len)
{
	struct chan_hdr h = { type, (uint32_t)(fixed_len + records_len), seq };

	if (!ch->open || fixed_len + records_len > CHAN_MAX_FRAME)
		return -1;
	if (buf_append(&ch->out, &h, sizeof(h)) < 0 ||
	    buf_append(&ch->out, fixed, fixed_len) < 0 ||
	    buf_append(&ch->out, records, records_len) < 0)
		return -1;
	if (chan_flush(ch) < 0) {
		chan_fail(ch, 0, strerror(errno));
		return -1;
	}
	return 0;
}

int chan_send(struct chan *ch, uint32_t type, uint64_t seq, const void *body,
	      size_t len)
{
	return chan_send_records(ch, type, seq, body, len, NULL, 0);
}

void chan_read_all(struct chan *ch)
{
	char why[160];

	while (ch->open) {
		ssize_t n = buf_read_fd(&ch->in, ch->w.fd, CHAN_READ_CHUNK);

		/* A malformed frame among the last words ends them: the
		 * sender is gone and what follows cannot be trusted. */
		if (n <= 0 || chan_dispatch(ch, why, sizeof(why)) < 0)
			return;
	}
}

void chan_close(struct chan *ch)
{
	if (!ch->open)
		return;
	ch->open = 0;
	/* Not just forget: a process that forks must deregister before it
	 * closes (see statsock_client_free). */
	loop_del(ch->loop, &ch->w);
	close(ch->w.fd);
	buf_free(&ch->in);
	buf_free(&ch->out);
}
