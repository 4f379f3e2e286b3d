/* channel.c - framed master<->worker messages. */
#include "autoconfig.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "channel.h"
#include "util.h"

#define CHAN_READ_CHUNK 65536

static void chan_fail(struct chan *ch)
{
	chan_close(ch);
	if (ch->on_close)
		ch->on_close(ch);
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

/* Delivers every complete frame in the input buffer. The callback may
 * close the channel, so it is checked after each frame. */
static int chan_dispatch(struct chan *ch)
{
	while (ch->open && buf_pending(&ch->in) >= sizeof(struct chan_hdr)) {
		struct chan_hdr h;

		memcpy(&h, buf_head(&ch->in), sizeof(h));
		if (h.len > CHAN_MAX_FRAME)
			return -1;
		if (buf_pending(&ch->in) < sizeof(h) + h.len)
			break;
		ch->on_msg(ch, &h, buf_head(&ch->in) + sizeof(h));
		if (ch->open)
			buf_consume(&ch->in, sizeof(h) + h.len);
	}
	return 0;
}

static void chan_io(struct loop_watch *w, uint32_t events)
{
	struct chan *ch = util_container_of(w, struct chan, w);

	if (events & EPOLLOUT && chan_flush(ch) < 0) {
		chan_fail(ch);
		return;
	}
	if (!(events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
		return;
	/* Bounded reads per wake-up: a chatty peer must not starve the
	 * other fds of this loop. */
	for (int i = 0; i < 16 && ch->open; i++) {
		ssize_t n = buf_read_fd(&ch->in, ch->w.fd, CHAN_READ_CHUNK);

		if (n == 0 || (n < 0 && errno != EAGAIN)) {
			chan_fail(ch);
			return;
		}
		if (n < 0)
			break;
		if (chan_dispatch(ch) < 0) {
			chan_fail(ch);
			return;
		}
	}
}

int chan_open(struct chan *ch, struct loop *l, int fd, chan_msg_fn on_msg,
	      chan_close_fn on_close, void *arg)
{
	memset(ch, 0, sizeof(*ch));
	ch->loop = l;
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

int chan_send2(struct chan *ch, uint32_t type, uint64_t seq, const void *p1,
	       size_t len1, const void *p2, size_t len2)
{
	struct chan_hdr h = { type, (uint32_t)(len1 + len2), seq };

	if (!ch->open || len1 + len2 > CHAN_MAX_FRAME)
		return -1;
	if (buf_append(&ch->out, &h, sizeof(h)) < 0 ||
	    buf_append(&ch->out, p1, len1) < 0 ||
	    buf_append(&ch->out, p2, len2) < 0)
		return -1;
	if (chan_flush(ch) < 0) {
		chan_fail(ch);
		return -1;
	}
	return 0;
}

int chan_send(struct chan *ch, uint32_t type, uint64_t seq, const void *p,
	      size_t len)
{
	return chan_send2(ch, type, seq, p, len, NULL, 0);
}

void chan_read_all(struct chan *ch)
{
	while (ch->open) {
		ssize_t n = buf_read_fd(&ch->in, ch->w.fd, CHAN_READ_CHUNK);

		if (n <= 0 || chan_dispatch(ch) < 0)
			return;
	}
}

void chan_close(struct chan *ch)
{
	if (!ch->open)
		return;
	ch->open = 0;
	/* Not just forget: a process that forks must deregister before it
	 * closes (see ctl_client_free). */
	loop_del(ch->loop, &ch->w);
	close(ch->w.fd);
	buf_free(&ch->in);
	buf_free(&ch->out);
}
