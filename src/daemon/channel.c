/* channel.c - framed, typed master<->worker messages on a socketpair. It
 * frames, checks and queues; what a message means is its owner's business
 * (master.c, worker.c). */
#include "autoconfig.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "channel.h"
#include "config.h"
#include "conn.h"
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

static int chan_groups_ok(const void *body, size_t len)
{
	struct chan_conns_hdr h;

	memcpy(&h, body, sizeof(h));
	return h.count == (len - sizeof(h)) / sizeof(struct listing_group_rec);
}

/* As many records as announced, and (chan_check) a descriptor each. */
static int chan_handoff_ok(const void *body, size_t len)
{
	struct chan_handoff h;

	memcpy(&h, body, sizeof(h));
	return h.count == (len - sizeof(h)) / sizeof(struct conn_transfer);
}

/* A reason is a string: it ends within its field. */
static int chan_failed_ok(const void *body, size_t len)
{
	return memchr(body, '\0', len) != NULL;
}

/* Designated initializers: a field added to chan_msg_spec is 0 where not
 * given. The name is the type's, without "CHAN_". */
#define MSG(t, f, i) .type = (t), .name = #t + 5, .fixed = (f), .item = (i)

static const struct chan_msg_spec chan_worker_msgs[] = {
	{ MSG(CHAN_READY, 0, 0) },
	{ MSG(CHAN_ALIVE, 0, 0) },
	{ MSG(CHAN_CONNS, sizeof(struct chan_conns_hdr), sizeof(struct stats_conn)),
	  .check = chan_conns_ok },
	{ MSG(CHAN_CONN_GROUPS, sizeof(struct chan_conns_hdr),
	      sizeof(struct listing_group_rec)),
	  .check = chan_groups_ok },
	{ MSG(CHAN_FAILED, sizeof(struct chan_failed), 0),
	  .check = chan_failed_ok },
	{ MSG(CHAN_HANDOFF, sizeof(struct chan_handoff),
	      sizeof(struct conn_transfer)),
	  .max_fds = CHAN_MAX_FDS, .fd_per_item = 1, .check = chan_handoff_ok },
	{ MSG(CHAN_TAKEN, sizeof(struct chan_handoff), 0) },
};

static const struct chan_msg_spec chan_master_msgs[] = {
	{ MSG(CHAN_HEARTBEAT, 0, 0) },
	{ MSG(CHAN_CONNS_REQ, sizeof(struct chan_conns_req), 0) },
	{ MSG(CHAN_DRAIN, sizeof(struct chan_drain), 0) },
	{ MSG(CHAN_ADOPT, sizeof(struct chan_slot), 0), .max_fds = CFG_MAX_LISTEN },
	{ MSG(CHAN_RELEASE, sizeof(struct chan_slot), 0) },
	{ MSG(CHAN_HANDOFF, sizeof(struct chan_handoff),
	      sizeof(struct conn_transfer)),
	  .max_fds = CHAN_MAX_FDS, .fd_per_item = 1, .check = chan_handoff_ok },
	{ MSG(CHAN_TAKEN, sizeof(struct chan_handoff), 0) },
};

const struct chan_schema chan_to_master = { chan_worker_msgs,
					    UTIL_ARRAY_LEN(chan_worker_msgs) };
const struct chan_schema chan_to_worker = { chan_master_msgs,
					    UTIL_ARRAY_LEN(chan_master_msgs) };

int chan_check(const struct chan_schema *s, const struct chan_hdr *h,
	       const void *body, char *why, size_t whylen)
{
	const struct chan_msg_spec *m = NULL;

	for (size_t i = 0; i < s->n && !m; i++)
		if (s->msgs[i].type == h->type)
			m = &s->msgs[i];
	if (!m) {
		snprintf(why, whylen,
			 "message type %u is not one this end accepts", h->type);
		return -1;
	}
	if (h->len < m->fixed ||
	    (m->item ? (h->len - m->fixed) % m->item != 0 : h->len != m->fixed)) {
		snprintf(why, whylen, "%s message of %u bytes (%u%s expected)",
			 m->name, h->len, m->fixed, m->item ? " + records" : "");
		return -1;
	}
	if (m->fd_per_item && m->item &&
	    h->nfds != (h->len - m->fixed) / m->item) {
		snprintf(why, whylen,
			 "%s message with %u records and %u descriptors",
			 m->name, (h->len - m->fixed) / m->item, h->nfds);
		return -1;
	}
	if (h->nfds > m->max_fds) {
		snprintf(why, whylen,
			 "%s message with %u descriptors (at most %u)", m->name,
			 h->nfds, m->max_fds);
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

/* --- descriptors --- */

union chan_cmsg {
	char buf[CMSG_SPACE(CHAN_MAX_FDS * sizeof(int))];
	struct cmsghdr align;
};

static void chan_close_fds(const int *fds, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (fds[i] >= 0)
			close(fds[i]);
}

static int chan_rx_push(struct chan *ch, const int *fds, size_t n)
{
	if (ch->nrx + n > ch->caprx) {
		size_t cap = ch->caprx ? ch->caprx * 2 : CHAN_MAX_FDS;
		int *p;

		while (cap < ch->nrx + n)
			cap *= 2;
		if (!(p = realloc(ch->rx, cap * sizeof(*p))))
			return -1;
		ch->rx = p;
		ch->caprx = cap;
	}
	memcpy(ch->rx + ch->nrx, fds, n * sizeof(*fds));
	ch->nrx += n;
	return 0;
}

/* Drops the first n received descriptors (given to a frame). */
static void chan_rx_drop(struct chan *ch, size_t n)
{
	if (n == 0)
		return; /* rx may be NULL: no descriptor ever came */
	memmove(ch->rx, ch->rx + n, (ch->nrx - n) * sizeof(*ch->rx));
	ch->nrx -= n;
}

/* Keeps fds to leave with the next byte queued: duplicates of them, or
 * (own) the descriptors themselves. */
static int chan_tx_push(struct chan *ch, const int *fds, int n, int own)
{
	struct chan_fd_batch *b, *p = realloc(ch->tx, (ch->ntx + 1) * sizeof(*p));

	if (!p)
		return -1;
	ch->tx = p;
	b = &ch->tx[ch->ntx];
	b->at = ch->out_base + buf_pending(&ch->out);
	if (own) {
		memcpy(b->fd, fds, (size_t)n * sizeof(*fds));
		b->n = n;
		ch->ntx++;
		return 0;
	}
	for (b->n = 0; b->n < n; b->n++)
		if ((b->fd[b->n] = fcntl(fds[b->n], F_DUPFD_CLOEXEC, 0)) < 0) {
			chan_close_fds(b->fd, (size_t)b->n);
			return -1;
		}
	ch->ntx++;
	return 0;
}

static void chan_tx_pop(struct chan *ch)
{
	chan_close_fds(ch->tx[0].fd, (size_t)ch->tx[0].n);
	memmove(ch->tx, ch->tx + 1, (ch->ntx - 1) * sizeof(*ch->tx));
	ch->ntx--;
}

/* --- the stream --- */

/* One sendmsg of what is queued, up to the next byte that carries
 * descriptors; the descriptors go with that byte, which starts a frame.
 * Bytes written, 0 when the socket is full, -1 on error. */
static ssize_t chan_write_some(struct chan *ch)
{
	size_t len = buf_pending(&ch->out);
	struct chan_fd_batch *b = ch->ntx ? &ch->tx[0] : NULL;
	struct iovec iov;
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	union chan_cmsg cm;
	ssize_t n;

	if (b && b->at > ch->out_base)
		len = UTIL_MIN(len, (size_t)(b->at - ch->out_base));
	if (b && b->at == ch->out_base) {
		struct cmsghdr *c;

		if (ch->ntx > 1)
			len = UTIL_MIN(len, (size_t)(ch->tx[1].at - ch->out_base));
		memset(&cm, 0, sizeof(cm));
		mh.msg_control = cm.buf;
		mh.msg_controllen = CMSG_SPACE((size_t)b->n * sizeof(int));
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN((size_t)b->n * sizeof(int));
		memcpy(CMSG_DATA(c), b->fd, (size_t)b->n * sizeof(int));
	}
	iov = (struct iovec){ (void *)buf_head(&ch->out), len };
	do
		n = sendmsg(ch->w.fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return (errno == EAGAIN || errno == EWOULDBLOCK) ? 0 : -1;
	if (mh.msg_control)
		chan_tx_pop(ch); /* the kernel has its own copies now */
	buf_consume(&ch->out, (size_t)n);
	ch->out_base += (uint64_t)n;
	return n;
}

static int chan_flush(struct chan *ch)
{
	while (buf_pending(&ch->out) > 0) {
		ssize_t n = chan_write_some(ch);

		if (n < 0)
			return -1;
		if (n == 0)
			break;
	}
	return loop_mod(ch->loop, &ch->w,
			EPOLLIN | (buf_pending(&ch->out) ? EPOLLOUT : 0u));
}

/* One recvmsg: bytes into in, descriptors into rx. As many bytes as
 * read, 0 at EOF, -1 with errno; EPROTO when descriptors were lost (the
 * kernel drops what does not fit the open-files limit). */
static ssize_t chan_recv(struct chan *ch)
{
	char *t = buf_reserve(&ch->in, CHAN_READ_CHUNK);
	struct iovec iov = { t, CHAN_READ_CHUNK };
	union chan_cmsg cm;
	struct msghdr mh = { .msg_iov = &iov,
			     .msg_iovlen = 1,
			     .msg_control = cm.buf,
			     .msg_controllen = sizeof(cm.buf) };
	ssize_t n;

	if (!t) {
		errno = ENOMEM;
		return -1;
	}
	do
		n = recvmsg(ch->w.fd, &mh, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -1;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
		size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		if (chan_rx_push(ch, (const int *)(const void *)CMSG_DATA(c), k) <
		    0) {
			chan_close_fds((const int *)(const void *)CMSG_DATA(c), k);
			errno = ENOMEM;
			return -1;
		}
	}
	ch->in.len += (size_t)n;
	if (mh.msg_flags & MSG_CTRUNC) {
		errno = EPROTO;
		return -1;
	}
	return n;
}

/* Hands one complete frame to the owner with its descriptors, and closes
 * the descriptors it did not take. */
static int chan_deliver(struct chan *ch, const struct chan_hdr *h,
			const char *body, char *why, size_t whylen)
{
	if (ch->nrx < h->nfds) {
		snprintf(why, whylen,
			 "a frame announces %u descriptors, %zu came", h->nfds,
			 ch->nrx);
		return -1;
	}
	ch->frame_fds = ch->rx;
	ch->frame_nfds = h->nfds;
	ch->on_msg(ch, h, body);
	if (!ch->open)
		return 0; /* chan_close closed the rest */
	chan_close_fds(ch->rx, h->nfds);
	chan_rx_drop(ch, h->nfds);
	ch->frame_fds = NULL;
	ch->frame_nfds = 0;
	buf_consume(&ch->in, sizeof(*h) + h->len);
	return 0;
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
		if (chan_check(ch->schema, &h, body, why, whylen) < 0 ||
		    chan_deliver(ch, &h, body, why, whylen) < 0)
			return -1;
	}
	return 0;
}

/* An empty input buffer goes back once the reads of a wake-up are done.
 * Each read reserves a whole chunk, the last one (EAGAIN) included, and a
 * listing fills it: kept, it is 64 KiB per worker in the master (7.5 MiB
 * with 118 workers), forked into every worker it spawns later. A malloc
 * per wake-up of a channel costs nothing next to its reads. */
static void chan_shrink(struct chan *ch)
{
	if (ch->open && buf_pending(&ch->in) == 0 && ch->in.cap > 0)
		buf_free(&ch->in);
}

int *chan_frame_fds(struct chan *ch, int *nfds)
{
	*nfds = ch->frame_nfds;
	return ch->frame_fds;
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
		ssize_t n = chan_recv(ch);

		if (n == 0 || (n < 0 && errno != EAGAIN)) {
			chan_fail(ch, 0,
				  n == 0 ? "end of file" :
				  errno == EPROTO ?
					   "descriptors lost (out of descriptors?)" :
					   strerror(errno));
			return;
		}
		if (n < 0)
			break;
		if (chan_dispatch(ch, why, sizeof(why)) < 0) {
			chan_fail(ch, 1, why);
			return;
		}
	}
	chan_shrink(ch);
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

/* A frame to queue: a body in two parts, and descriptors that are
 * duplicated, or (own) handed over. */
struct chan_out_frame {
	const void *p1, *p2;
	size_t l1, l2;
	const int *fds;
	int nfds, own;
};

/* Queues one frame; descriptors, if any, leave with its first byte. On
 * failure nothing is queued and the descriptors are as they were. */
static int chan_queue(struct chan *ch, const struct chan_hdr *h,
		      const struct chan_out_frame *f)
{
	size_t before = buf_pending(&ch->out);

	if (h->nfds && chan_tx_push(ch, f->fds, h->nfds, f->own) < 0)
		return -1;
	if (buf_append(&ch->out, h, sizeof(*h)) < 0 ||
	    buf_append(&ch->out, f->p1, f->l1) < 0 ||
	    buf_append(&ch->out, f->p2, f->l2) < 0) {
		ch->out.len = ch->out.off + before; /* not a half frame */
		if (h->nfds) {
			if (!f->own)
				chan_close_fds(ch->tx[ch->ntx - 1].fd, h->nfds);
			ch->ntx--;
		}
		return -1;
	}
	return 0;
}

/* 0 sent or queued; -1 not queued; 1 queued, but the channel failed
 * writing it (closed now, and the frame with it). */
static int chan_send_frame(struct chan *ch, uint32_t type, uint64_t seq,
			   const struct chan_out_frame *f)
{
	struct chan_hdr h = { (uint16_t)type, (uint16_t)f->nfds,
			      (uint32_t)(f->l1 + f->l2), seq };

	if (!ch->open || f->l1 + f->l2 > CHAN_MAX_FRAME || f->nfds < 0 ||
	    f->nfds > CHAN_MAX_FDS || chan_queue(ch, &h, f) < 0)
		return -1;
	if (chan_flush(ch) < 0) {
		chan_fail(ch, 0, strerror(errno));
		return 1;
	}
	return 0;
}

int chan_send_records(struct chan *ch, uint32_t type, uint64_t seq,
		      const void *fixed, size_t fixed_len, const void *records,
		      size_t records_len)
{
	struct chan_out_frame f = { .p1 = fixed,
				    .l1 = fixed_len,
				    .p2 = records,
				    .l2 = records_len };

	return chan_send_frame(ch, type, seq, &f) ? -1 : 0;
}

int chan_send(struct chan *ch, uint32_t type, uint64_t seq, const void *body,
	      size_t len)
{
	struct chan_out_frame f = { .p1 = body, .l1 = len };

	return chan_send_frame(ch, type, seq, &f) ? -1 : 0;
}

int chan_send_fds(struct chan *ch, uint32_t type, uint64_t seq,
		  const void *body, size_t len, const int *fds, int nfds)
{
	struct chan_out_frame f = { .p1 = body, .l1 = len, .fds = fds, .nfds = nfds };

	return chan_send_frame(ch, type, seq, &f) ? -1 : 0;
}

int chan_give_fds(struct chan *ch, uint32_t type, uint64_t seq,
		  const void *fixed, size_t fixed_len, const void *records,
		  size_t records_len, const int *fds, int nfds)
{
	struct chan_out_frame f = { .p1 = fixed,
				    .l1 = fixed_len,
				    .p2 = records,
				    .l2 = records_len,
				    .fds = fds,
				    .nfds = nfds,
				    .own = 1 };

	/* Queued, they are the channel's, even if it then failed. */
	return chan_send_frame(ch, type, seq, &f) < 0 ? -1 : 0;
}

void chan_read_all(struct chan *ch)
{
	char why[160];

	while (ch->open) {
		ssize_t n = chan_recv(ch);

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
	while (ch->ntx)
		chan_tx_pop(ch);
	free(ch->tx);
	ch->tx = NULL;
	chan_close_fds(ch->rx, ch->nrx);
	free(ch->rx);
	ch->rx = NULL;
	ch->nrx = ch->caprx = 0;
	ch->frame_fds = NULL;
	ch->frame_nfds = 0;
}
