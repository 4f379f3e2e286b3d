/* conn.c - connections of one worker: their slots, epoll registration,
 * timeouts, reads into the shared scratch space, writes with
 * back-pressure, connects and closes. It never interprets a byte: that is
 * the protocol's (proto.h), reached through the connection's handler. */
#include "autoconfig.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "conn.h"
#include "util.h"

#ifndef IP_LOCAL_PORT_RANGE
#define IP_LOCAL_PORT_RANGE 51 /* linux/in.h, Linux 6.3 */
#endif

static void tmo_expire(struct loop_timer *t);
static void conn_io(struct loop_watch *w, uint32_t events);

static inline const struct proto *conn_proto(const struct conn_pool *p,
					     const struct conn *c)
{
	return p->handlers[c->handler].proto;
}

/* The worker's counters are the clients' (conn.h): an outbound
 * connection counts only in its own bytes. */
static inline void count_in(struct conn_pool *p, struct conn *c, uint64_t n)
{
	c->bytes_in += n;
	if (!(c->flags & CONN_F_OUTBOUND))
		p->stats->bytes_in += n;
}

static inline void count_out(struct conn_pool *p, struct conn *c, uint64_t n)
{
	c->bytes_out += n;
	if (!(c->flags & CONN_F_OUTBOUND))
		p->stats->bytes_out += n;
}

/* --- the pool --- */

int conn_pool_init(struct conn_pool *p, struct loop *l,
		   struct stats_counters *stats, int nslots, int max_active)
{
	memset(p, 0, sizeof(*p));
	p->loop = l;
	p->stats = stats;
	p->nslots = nslots;
	p->max_active = max_active < nslots ? max_active : nslots;
	/* calloc of a large table maps zero pages: only the pages under
	 * open connections are ever touched, so the table costs memory in
	 * proportion to the connections, not to the fd limit. */
	p->table = calloc(1, sizeof(*p->table) +
				     (size_t)nslots * sizeof(p->table->slots[0]));
	p->scratch_len = CONN_SCRATCH_LEN;
	p->scratch = malloc(p->scratch_len);
	if (!p->table || !p->scratch) {
		free(p->table);
		free(p->scratch);
		memset(p, 0, sizeof(*p));
		return -1;
	}
	p->table->pool = p;
	for (int k = 0; k < CONN_TMO_COUNT; k++)
		p->tmo_lists[k].head = p->tmo_lists[k].tail = -1;
	loop_timer_init(&p->tmo_timer, tmo_expire);
	return 0;
}

int conn_pool_add_handler(struct conn_pool *p, const struct proto *proto,
			  const struct config *cfg, char *err, size_t errlen)
{
	struct conn_handler *h;

	if (p->nhandlers == CONN_MAX_HANDLERS) {
		snprintf(err, errlen, "%s: more than %d protocols in a worker",
			 proto->name, CONN_MAX_HANDLERS);
		return -1;
	}
	h = &p->handlers[p->nhandlers];
	h->proto = proto;
	h->ctx = NULL;
	if (proto->init && proto->init(cfg, p->stats, &h->ctx, err, errlen) < 0)
		return -1;
	return p->nhandlers++;
}

static int conn_drain_one(struct conn *c, void *arg)
{
	const struct proto *proto = conn_proto(arg, c);

	if (proto->on_drain)
		proto->on_drain(c);
	return 0;
}

void conn_pool_drain(struct conn_pool *p)
{
	conn_foreach(p, conn_drain_one, p);
}

unsigned conn_pool_release_fds(struct conn_pool *p)
{
	unsigned n = 0;

	for (int i = 0; i < p->nhandlers; i++)
		if (p->handlers[i].proto->release_fds)
			n += p->handlers[i].proto->release_fds(p->handlers[i].ctx);
	return n;
}

void conn_pool_start(struct conn_pool *p)
{
	for (int i = 0; i < p->nhandlers; i++)
		if (p->handlers[i].proto->start)
			p->handlers[i].proto->start(p->handlers[i].ctx, p);
}

void conn_pool_close_all(struct conn_pool *p)
{
	for (int fd = 0; fd < p->nslots && p->active + p->outbound > 0; fd++)
		if (p->table->slots[fd].w.fn)
			conn_close(&p->table->slots[fd]);
}

void conn_pool_free(struct conn_pool *p)
{
	if (!p->table)
		return; /* never set up, or freed already */
	conn_pool_close_all(p);
	/* After the closes: on_close may still use the state. */
	for (int i = 0; i < p->nhandlers; i++)
		if (p->handlers[i].proto->fini)
			p->handlers[i].proto->fini(p->handlers[i].ctx);
	loop_timer_disarm(p->loop, &p->tmo_timer);
	peers_free(p->peers);
	free(p->table);
	free(p->scratch);
	memset(p, 0, sizeof(*p));
}

/* --- timeouts --- */

static void tmo_unlink(struct conn_pool *p, struct conn *c)
{
	struct conn_tmo_list *l = &p->tmo_lists[c->tmo];

	if (c->tprev >= 0)
		p->table->slots[c->tprev].tnext = c->tnext;
	else
		l->head = c->tnext;
	if (c->tnext >= 0)
		p->table->slots[c->tnext].tprev = c->tprev;
	else
		l->tail = c->tprev;
	c->tmo = CONN_TMO_NONE;
	c->tprev = c->tnext = -1;
}

static void tmo_arm(struct conn_pool *p)
{
	uint64_t first = UINT64_MAX, now = util_now_ms();

	for (int k = 1; k < CONN_TMO_COUNT; k++) {
		int32_t head = p->tmo_lists[k].head;

		if (head >= 0 && p->table->slots[head].deadline < first)
			first = p->table->slots[head].deadline;
	}
	if (first == UINT64_MAX) {
		loop_timer_disarm(p->loop, &p->tmo_timer);
		return;
	}
	/* Re-arm only when the earliest deadline moved earlier; a later
	 * timer firing early just re-arms itself. */
	if (!loop_timer_armed(&p->tmo_timer) || first < p->tmo_timer.when)
		loop_timer_arm(p->loop, &p->tmo_timer,
			       first > now ? first - now : 0);
}

void conn_pool_set_timeout(struct conn_pool *p, enum conn_tmo kind, uint64_t ms)
{
	p->tmo_lists[kind].duration_ms = ms;
}

void conn_timeout(struct conn *c, enum conn_tmo kind)
{
	struct conn_pool *p = conn_pool_of(c);
	struct conn_tmo_list *l;
	int fd = c->w.fd;

	if (c->tmo != CONN_TMO_NONE)
		tmo_unlink(p, c);
	if (kind == CONN_TMO_NONE || p->tmo_lists[kind].duration_ms == 0)
		return;
	l = &p->tmo_lists[kind];
	c->tmo = (uint16_t)kind;
	/* From now, not from the loop's time of this turn: a turn can last
	 * (the worker busy with other connections, or not scheduled by a
	 * loaded host), and bytes the socket took late in it would give
	 * the connection that much less time before tmo_expire, which
	 * reads the clock, cut it. The clock is monotonic, so the lists
	 * stay in deadline order. */
	c->deadline = util_now_ms() + l->duration_ms;
	c->tprev = l->tail;
	c->tnext = -1;
	if (l->tail >= 0)
		p->table->slots[l->tail].tnext = fd;
	else
		l->head = fd;
	l->tail = fd;
	if (c->tprev < 0)
		tmo_arm(p);
}

static void conn_connect_done(struct conn *c, int err);

static void tmo_expire(struct loop_timer *t)
{
	struct conn_pool *p = util_container_of(t, struct conn_pool, tmo_timer);
	uint64_t now = util_now_ms();

	for (int k = 1; k < CONN_TMO_COUNT; k++)
		while (p->tmo_lists[k].head >= 0 &&
		       p->table->slots[p->tmo_lists[k].head].deadline <= now) {
			struct conn *c = &p->table->slots[p->tmo_lists[k].head];
			const struct proto *proto = conn_proto(p, c);

			tmo_unlink(p, c);
			if (k == CONN_TMO_CONNECT)
				conn_connect_done(c, ETIMEDOUT);
			else if (proto->on_timeout)
				proto->on_timeout(c, k);
			else
				conn_close(c);
		}
	tmo_arm(p);
}

/* --- epoll --- */

/* Asks epoll for these events, registering the connection first if it
 * is not yet.
 *
 * Edge-triggered: epoll reports a socket when it wakes (bytes came, room
 * was made, it hung up), not at every wait while it stays ready. Level-
 * triggered, each socket reported is looked at again by the next wait
 * (tcp_poll), ready or not: a second poll per keep-alive request, 4-5 %
 * of a worker's CPU on 4 KiB static answers. The price: a connection
 * that stops reading while bytes wait hears of them only when more come.
 * So a read that fills its buffer posts the connection for another turn
 * (conn_repost), and every change of events (conn_pause_read, the end
 * of a wait to write) makes epoll look at the socket at once. */
static int conn_watch(struct conn *c, uint32_t events)
{
	struct conn_pool *p = conn_pool_of(c);

	/* A duplex connection's events follow from its state alone. */
	if (c->flags & CONN_F_DUPLEX) {
		events = (c->flags & CONN_F_NO_READ) ? 0u : (uint32_t)EPOLLIN;
		if (c->out || (c->flags & (CONN_F_WANT_WRITE | CONN_F_CONNECTING)))
			events |= EPOLLOUT;
	}
	/* A FIN that comes with the last bytes wakes the socket once: a
	 * short read then does not mean the socket has nothing more to say
	 * (conn_read_max reads on to the 0). */
	if (events & EPOLLIN)
		events |= EPOLLRDHUP;
	events |= EPOLLET;
	if (c->flags & CONN_F_WATCHED)
		return loop_mod(p->loop, &c->w, events);
	if (loop_add(p->loop, &c->w, c->w.fd, events, conn_io) < 0)
		return -1;
	c->flags |= CONN_F_WATCHED;
	return 0;
}

void conn_close_timed_out(struct conn *c, int kind)
{
	struct stats_counters *st = conn_pool_of(c)->stats;

	switch (kind) {
	case CONN_TMO_HEADER:
		st->timeouts_header++;
		break;
	case CONN_TMO_BODY:
		st->timeouts_body++;
		break;
	case CONN_TMO_KEEPALIVE:
		st->timeouts_keepalive++;
		break;
	case CONN_TMO_SEND:
		st->timeouts_send++;
		break;
	default:
		break;
	}
	conn_close(c);
}

void conn_set_duplex(struct conn *c)
{
	c->flags |= CONN_F_DUPLEX;
}

int conn_pause_read(struct conn *c, int paused)
{
	if (paused)
		c->flags |= CONN_F_NO_READ;
	else
		c->flags &= (uint16_t)~CONN_F_NO_READ;
	/* Not registered: connecting, or parked (conn_io_duplex). A
	 * connection still connecting is registered when it completes. */
	if ((c->flags & CONN_F_CONNECTING) ||
	    (paused && !(c->flags & CONN_F_WATCHED)))
		return 0;
	if (conn_watch(c, 0) < 0) {
		conn_close(c);
		return -1;
	}
	return 0;
}

int conn_want_write(struct conn *c)
{
	c->flags |= CONN_F_WANT_WRITE;
	if (conn_watch(c, EPOLLOUT) < 0) {
		conn_close(c);
		return -1;
	}
	/* Waiting for the socket: the send timeout, started when the wait
	 * began, is restarted only when the socket takes bytes. */
	if (c->tmo != CONN_TMO_SEND)
		conn_timeout(c, CONN_TMO_SEND);
	return 0;
}

/* --- opening and closing --- */

/* Takes the slot of fd for a connection served by handler. */
static struct conn *conn_slot_fill(struct conn_pool *p, int fd, int handler)
{
	struct conn *c = &p->table->slots[fd];

	memset(c, 0, sizeof(*c));
	c->tprev = c->tnext = -1;
	c->handler = (uint8_t)handler;
	c->w.fn = conn_io;
	c->w.fd = fd;
	c->start_ms = loop_now(p->loop);
	return c;
}

int conn_pool_limit_peers(struct conn_pool *p, uint32_t limit)
{
	/* At most one address per connection slot. */
	p->peers = peers_new((uint32_t)p->nslots, limit);
	return p->peers ? 0 : -1;
}

/* The per-address limit refuses fd: it is reset on close (conn.h). */
static int conn_refuse_peer(struct conn_pool *p, int fd)
{
	static const struct linger reset = { 1, 0 };

	p->stats->rejected_per_ip++;
	setsockopt(fd, SOL_SOCKET, SO_LINGER, &reset, sizeof(reset));
	return -1;
}

int conn_open(struct conn_pool *p, int fd, int handler)
{
	return conn_open_from(p, fd, handler, NULL, 0);
}

int conn_open_from(struct conn_pool *p, int fd, int handler,
		   const struct sockaddr *peer, socklen_t peerlen)
{
	const struct proto *proto;
	struct conn *c;
	long ref = 0;

	if (fd >= p->nslots || p->active >= p->max_active ||
	    (unsigned)handler >= (unsigned)p->nhandlers) {
		p->stats->rejected++;
		return -1;
	}
	if (p->peers && (ref = peers_acquire(p->peers, peer, peerlen, 0)) < 0)
		return conn_refuse_peer(p, fd);
	proto = p->handlers[handler].proto;
	c = conn_slot_fill(p, fd, handler);
	c->peer = (uint32_t)ref;
	/* Counted before any system call: a worker killed from here on has
	 * the connection in its active count, which the master books as
	 * lost. */
	p->active++;
	p->stats->accepted++;
	p->stats->active = (uint64_t)p->active;
	/* The protocol may serve (and even close) the connection right
	 * away; only one that is left waiting is registered with epoll. */
	if (proto->on_open)
		proto->on_open(c);
	if (conn_is_open(c) && !(c->flags & CONN_F_WATCHED) &&
	    conn_watch(c, EPOLLIN) < 0)
		conn_close(c);
	return 0;
}

/* A non-blocking connect(2) that does not complete at once fails with
 * EINPROGRESS (EINTR: it goes on all the same); the socket becomes
 * writable when it ends, and SO_ERROR says how (connect(2), "EINPROGRESS").
 * A connect that does complete at once is reported the same way, since
 * epoll reports the socket writable straight away. */
static int connect_started(int fd, const struct sockaddr *sa, socklen_t salen)
{
	return connect(fd, sa, salen) == 0 || errno == EINPROGRESS ||
	       errno == EINTR;
}

/* Binds fd to src before its connect: 0, or -1 with errno. */
static int conn_bind_source(int fd, const struct conn_source *src)
{
	static const int on = 1;

	/* Best effort: a kernel before 6.3 refuses it (ENOPROTOOPT), and
	 * the socket keeps the system's range. */
	if (src->port_range)
		setsockopt(fd, IPPROTO_IP, IP_LOCAL_PORT_RANGE,
			   &src->port_range, sizeof(src->port_range));
	if (!src->sa)
		return 0;
	if (setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &on, sizeof(on)) <
	    0)
		return -1;
	return bind(fd, src->sa, src->len);
}

int conn_socket_connect(const struct sockaddr *sa, socklen_t salen,
			const struct conn_source *src)
{
	int fd = socket(sa->sa_family,
			SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0),
	    e;

	if (fd < 0)
		return -1;
	if ((!src || conn_bind_source(fd, src) == 0) &&
	    connect_started(fd, sa, salen))
		return fd;
	e = errno;
	close(fd);
	errno = e;
	return -1;
}

struct conn *conn_connect(struct conn_pool *p, const struct sockaddr *sa,
			  socklen_t salen, int handler, void *data)
{
	return conn_connect_src(p, sa, salen, NULL, handler, data);
}

struct conn *conn_connect_src(struct conn_pool *p, const struct sockaddr *sa,
			      socklen_t salen, const struct conn_source *src,
			      int handler, void *data)
{
	struct conn *c;
	int fd, e;

	if ((unsigned)handler >= (unsigned)p->nhandlers) {
		errno = EINVAL;
		return NULL;
	}
	fd = conn_socket_connect(sa, salen, src);
	if (fd < 0)
		return NULL;
	if (fd >= p->nslots) {
		close(fd);
		errno = EMFILE;
		return NULL;
	}
	c = conn_slot_fill(p, fd, handler);
	c->flags = CONN_F_OUTBOUND | CONN_F_CONNECTING;
	c->proto_data = data;
	if (conn_watch(c, EPOLLOUT) < 0) {
		c->w.fn = NULL;
		goto fail;
	}
	p->outbound++;
	conn_timeout(c, CONN_TMO_CONNECT);
	return c;
fail:
	e = errno;
	close(fd);
	errno = e;
	return NULL;
}

/* The connect ended: err 0, or why it failed. A failed connection is
 * closed after the protocol has heard of it. */
static void conn_connect_done(struct conn *c, int err)
{
	const struct proto *proto = conn_proto(conn_pool_of(c), c);

	c->flags &= (uint16_t)~CONN_F_CONNECTING;
	if (c->tmo == CONN_TMO_CONNECT)
		conn_timeout(c, CONN_TMO_NONE);
	if (!err && conn_watch(c, EPOLLIN) < 0)
		err = errno;
	if (proto->on_connect)
		proto->on_connect(c, err);
	if (err)
		conn_close(c);
}

static void conn_connect_ready(struct conn *c)
{
	int err = 0;
	socklen_t len = sizeof(err);

	if (getsockopt(c->w.fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
	conn_connect_done(c, err);
}

/* c no longer counts for its address. */
static void conn_release_peer(struct conn_pool *p, struct conn *c)
{
	if (p->peers)
		peers_release(p->peers, c->peer);
	c->peer = 0;
}

void conn_close(struct conn *c)
{
	const struct proto *proto;
	struct conn_pool *p;

	if (!c->w.fn)
		return;
	p = conn_pool_of(c);
	proto = conn_proto(p, c);
	if (proto->on_close)
		proto->on_close(c);
	if (c->tmo != CONN_TMO_NONE)
		tmo_unlink(p, c);
	free(c->out);
	c->out = NULL;
	/* close() takes a socket out of epoll only when it drops the last
	 * reference to its file. For a connection that came from another
	 * worker it is not always the last one at that moment (seen under
	 * reloads 40 ms apart: the registration outlived close(), and the
	 * next epoll_wait reported the freed slot - a NULL call), so those
	 * are deleted first. For an accepted one close() is the last
	 * reference, and the system call is saved. */
	if (c->flags & CONN_F_TAKEN)
		loop_del(p->loop, &c->w);
	else
		loop_forget(p->loop, &c->w);
	close(c->w.fd);
	c->w.fn = NULL;
	if (c->flags & CONN_F_OUTBOUND) {
		p->outbound--;
	} else {
		conn_release_peer(p, c);
		p->active--;
		p->stats->closed++;
		p->stats->active = (uint64_t)p->active;
	}
	/* Either kind frees an fd, which a listener paused on EMFILE
	 * waits for. */
	if (p->on_slot_free)
		p->on_slot_free(p->slot_free_arg);
}

/* --- I/O --- */

/* Sends what is queued; 0 when all of it went, 1 when the socket is
 * full again, -1 on error. */
static int conn_flush(struct conn_pool *p, struct conn *c)
{
	struct conn_out *o = c->out;

	while (o->off < o->len) {
		ssize_t n = send(c->w.fd, o->data + o->off, o->len - o->off,
				 MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 1;
			return -1;
		}
		o->off += (uint32_t)n;
		count_out(p, c, (uint64_t)n);
	}
	free(o);
	c->out = NULL;
	return 0;
}

/* The socket can take more while the connection waits to write: flush
 * what is queued, and once nothing is, read again and let the protocol
 * go on. The send timeout measures the time since the socket last took
 * bytes: restarted by each flush that sends some, stopped when the wait
 * ends (the protocol sets what comes next, and may wait again). */
static void conn_io_writable(struct conn_pool *p, struct conn *c)
{
	const struct proto *proto;

	if (c->out) {
		uint64_t before = c->bytes_out;
		int r = conn_flush(p, c);

		if (r < 0) {
			conn_close(c);
			return;
		}
		if (r > 0) {
			if (c->bytes_out != before)
				conn_timeout(c, CONN_TMO_SEND);
			return;
		}
	}
	c->flags &= (uint16_t)~CONN_F_WANT_WRITE;
	if (c->tmo == CONN_TMO_SEND)
		conn_timeout(c, CONN_TMO_NONE);
	if (conn_watch(c, EPOLLIN) < 0) {
		conn_close(c);
		return;
	}
	proto = conn_proto(p, c);
	if (proto->on_writable)
		proto->on_writable(c);
}

/* A duplex connection: writable and readable each on its own. */
static void conn_io_duplex(struct conn_pool *p, struct conn *c, uint32_t events)
{
	if (c->flags & CONN_F_CONNECTING) {
		if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))
			conn_connect_ready(c);
		return;
	}
	if ((c->out || (c->flags & CONN_F_WANT_WRITE)) &&
	    (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
		conn_io_writable(p, c);
		if (!conn_is_open(c))
			return;
	}
	if (!(events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
		return;
	if (!(c->flags & CONN_F_NO_READ)) {
		conn_proto(p, c)->on_readable(c);
		return;
	}
	/* Paused, and the socket hung up or failed: epoll would report it
	 * at every wait. It rests out of epoll until conn_pause_read(c, 0);
	 * output waiting for it could not go anyway. */
	if (events & (EPOLLHUP | EPOLLERR)) {
		loop_del(p->loop, &c->w);
		c->flags &= (uint16_t)~CONN_F_WATCHED;
	}
}

static void conn_io_dispatch(struct conn_pool *p, struct conn *c, uint32_t events)
{
	if (c->flags & CONN_F_DUPLEX) {
		conn_io_duplex(p, c, events);
		return;
	}

	/* While output waits, or a connect, only writability matters; not
	 * reading meanwhile is the back-pressure. */
	if (c->out || (c->flags & (CONN_F_WANT_WRITE | CONN_F_CONNECTING))) {
		if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
			return;
		if (c->flags & CONN_F_CONNECTING)
			conn_connect_ready(c);
		else
			conn_io_writable(p, c);
		return;
	}
	if (events & (EPOLLIN | EPOLLHUP | EPOLLERR))
		conn_proto(p, c)->on_readable(c);
}

/* Marks the events of a posted call (conn_repost): a bit epoll never
 * reports for a socket. */
#define CONN_EV_POSTED ((uint32_t)EPOLLMSG)

static void conn_io(struct loop_watch *w, uint32_t events)
{
	struct conn *c = util_container_of(w, struct conn, w);

	/* Only the posted call ends the post: one from epoll meanwhile
	 * leaves it pending, or a socket kept full would be posted once
	 * more every turn (a read more per turn, every turn). */
	if (events & CONN_EV_POSTED)
		c->flags &= (uint16_t)~CONN_F_POSTED;
	if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))
		c->flags |= CONN_F_PEER_DONE;
	conn_io_dispatch(conn_pool_of(c), c, events);
}

/* Edge-triggered (conn_watch), a connection whose read filled its buffer
 * may have more waiting that epoll will not report again: it is run once
 * more this turn, after the others, as level-triggered epoll would have
 * run it next turn. Whatever it does meanwhile (pause, wait to write)
 * conn_io_dispatch takes the posted EPOLLIN as it would epoll's. One not
 * registered yet (read by on_open) needs none: epoll looks at a socket
 * when it is added. 0, or -1 when the connection cannot be watched. */
static int conn_repost(struct conn_pool *p, struct conn *c)
{
	if ((c->flags & CONN_F_POSTED) || !(c->flags & CONN_F_WATCHED))
		return 0;
	if (loop_post(p->loop, &c->w, EPOLLIN | CONN_EV_POSTED) == 0) {
		c->flags |= CONN_F_POSTED;
		return 0;
	}
	/* Out of memory for the list: epoll looks again instead. */
	return loop_rearm(p->loop, &c->w);
}

ssize_t conn_read(struct conn *c, char **data)
{
	return conn_read_max(c, data, SIZE_MAX);
}

ssize_t conn_read_max(struct conn *c, char **data, size_t max)
{
	struct conn_pool *p = conn_pool_of(c);
	size_t want = UTIL_MIN(max, p->scratch_len);
	ssize_t n;

	do
		n = recv(c->w.fd, p->scratch, want, 0);
	while (n < 0 && errno == EINTR);
	c->flags &= (uint16_t)~CONN_F_READ_FULL;
	if (n < 0)
		return (errno == EAGAIN || errno == EWOULDBLOCK) ? -2 : -1;
	/* Only a read that took all it asked for may leave bytes behind:
	 * a shorter one emptied the socket, unless the peer's FIN is there
	 * too, which a read returning 0 has yet to report. */
	if (n > 0 && (size_t)n == want)
		c->flags |= CONN_F_READ_FULL;
	if (n > 0 && (c->flags & (CONN_F_READ_FULL | CONN_F_PEER_DONE)) &&
	    conn_repost(p, c) < 0)
		return -1;
	count_in(p, c, (uint64_t)n);
	*data = p->scratch;
	return n;
}

int conn_send(struct conn *c, const void *data, size_t len)
{
	return conn_send_flags(c, data, len, 0);
}

/* Writes what the socket takes now of a and then b (blen may be 0): the
 * bytes sent, or -1 on an error other than a full socket. Two parts go
 * in one sendmsg(2); one in a send(2), which costs the kernel less. */
static ssize_t conn_send_now(struct conn_pool *p, struct conn *c, const char *a,
			     size_t alen, const char *b, size_t blen, int flags)
{
	size_t done = 0, len = alen + blen;

	while (done < len) {
		ssize_t n;

		if (done < alen && blen > 0) {
			struct iovec iov[2] = {
				{ (char *)a + done, alen - done },
				{ (char *)b, blen },
			};
			struct msghdr m = { .msg_iov = iov, .msg_iovlen = 2 };

			n = sendmsg(c->w.fd, &m, MSG_NOSIGNAL | flags);
		} else {
			const char *at = done < alen ? a + done :
						       b + (done - alen);

			n = send(c->w.fd, at, len - done, MSG_NOSIGNAL | flags);
		}
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			return -1;
		}
		done += (size_t)n;
		count_out(p, c, (uint64_t)n);
	}
	return (ssize_t)done;
}

/* The socket is full: keep the rest behind what is already queued, and
 * stop reading until it has gone, so one slow reader holds at most what
 * it was sent. sent: the socket took bytes of this send just now. 0, or
 * -1 when it cannot be kept. */
static int conn_queue(struct conn *c, const char *rest, size_t len, int sent)
{
	size_t have = c->out ? c->out->len - c->out->off : 0;
	struct conn_out *o;

	if (have + len > UINT32_MAX)
		return -1;
	o = malloc(sizeof(*o) + have + len);
	if (!o)
		return -1;
	if (have)
		memcpy(o->data, c->out->data + c->out->off, have);
	memcpy(o->data + have, rest, len);
	o->off = 0;
	o->len = (uint32_t)(have + len);
	free(c->out);
	c->out = o;
	if (conn_watch(c, EPOLLOUT) < 0)
		return -1;
	/* Whatever timeout ran gives way to the send timeout while output
	 * waits (a long download is not a slow request head). More output
	 * behind a queue that did not move does not restart it. */
	if (sent || c->tmo != CONN_TMO_SEND)
		conn_timeout(c, CONN_TMO_SEND);
	return 0;
}

int conn_send_flags(struct conn *c, const void *data, size_t len, int flags)
{
	return conn_send2(c, data, len, NULL, 0, flags);
}

int conn_send2(struct conn *c, const void *a, size_t alen, const void *b,
	       size_t blen, int flags)
{
	struct conn_pool *p = conn_pool_of(c);
	size_t done = 0;
	int r;

	if (!c->out) {
		ssize_t n = conn_send_now(p, c, a, alen, b, blen, flags);

		if (n < 0) {
			conn_close(c);
			return -1;
		}
		done = (size_t)n;
		if (done == alen + blen)
			return 0;
	}
	/* Behind queued output nothing may jump the queue: all of it is
	 * queued then, else what the socket did not take (conn_queue
	 * appends). */
	if (done < alen)
		r = conn_queue(c, (const char *)a + done, alen - done,
			       done > 0) < 0 ||
		    (blen > 0 && conn_queue(c, b, blen, 0) < 0);
	else
		r = conn_queue(c, (const char *)b + (done - alen),
			       blen - (done - alen), done > 0) < 0;
	if (r) {
		conn_close(c);
		return -1;
	}
	return 0;
}

void conn_count_out(struct conn *c, uint64_t n)
{
	count_out(conn_pool_of(c), c, n);
	/* The socket took bytes: progress for the send timeout. */
	if (c->tmo == CONN_TMO_SEND)
		conn_timeout(c, CONN_TMO_SEND);
}

/* --- the handover at a reload --- */

int conn_between_requests(const struct conn *c)
{
	if (c->proto_data)
		return 0;
	switch (c->tmo) {
	case CONN_TMO_KEEPALIVE:
		return 1;
	case CONN_TMO_HEADER:
		return c->bytes_in == 0;
	default:
		return 0;
	}
}

int conn_can_hand_over(const struct conn *c)
{
	const struct proto *proto;

	if (!c->w.fn || c->out ||
	    (c->flags & (CONN_F_WANT_WRITE | CONN_F_OUTBOUND | CONN_F_CONNECTING)))
		return 0;
	proto = conn_proto(conn_pool_of(c), c);
	return proto->can_hand_over && proto->can_hand_over(c);
}

int conn_hand_over(struct conn *c, struct conn_transfer *t)
{
	struct conn_pool *p = conn_pool_of(c);
	const struct proto *proto = conn_proto(p, c);

	memset(t, 0, sizeof(*t));
	t->bytes_in = c->bytes_in;
	t->bytes_out = c->bytes_out;
	t->age_ms = loop_now(p->loop) - c->start_ms;
	t->tmo = c->tmo;
	if (proto->on_close)
		proto->on_close(c);
	if (c->tmo != CONN_TMO_NONE)
		tmo_unlink(p, c);
	/* Deleted from epoll, not just forgotten: the socket lives on in
	 * another process, and this epoll would go on watching it (an
	 * epoll registration lasts as long as the open file, not the fd). */
	if (c->flags & CONN_F_WATCHED)
		loop_del(p->loop, &c->w);
	c->w.fn = NULL;
	conn_release_peer(p, c);
	p->active--;
	p->stats->handed_over++;
	p->stats->active = (uint64_t)p->active;
	return c->w.fd;
}

/* A connection taken over is counted for its address (conn.h): the
 * record does not carry the address, so it is asked for. A peer gone
 * meanwhile (getpeername fails with ENOTCONN once the socket is closed
 * by a reset) leaves it uncounted; it is about to close anyway. */
static void conn_count_peer(struct conn_pool *p, struct conn *c)
{
	union addr_sa sa;
	socklen_t len = sizeof(sa);
	long ref;

	if (!p->peers || getpeername(c->w.fd, &sa.sa, &len) < 0)
		return;
	ref = peers_acquire(p->peers, &sa.sa, len, 1);
	c->peer = ref > 0 ? (uint32_t)ref : 0;
}

int conn_take_over(struct conn_pool *p, int fd, int handler,
		   const struct conn_transfer *t)
{
	struct conn *c;

	if (fd >= p->nslots || (unsigned)handler >= (unsigned)p->nhandlers)
		return -1;
	c = conn_slot_fill(p, fd, handler);
	c->flags = CONN_F_TAKEN;
	c->bytes_in = t->bytes_in;
	c->bytes_out = t->bytes_out;
	c->start_ms = loop_now(p->loop) - UTIL_MIN(t->age_ms, c->start_ms);
	if (conn_watch(c, EPOLLIN) < 0) {
		c->w.fn = NULL;
		return -1;
	}
	conn_count_peer(p, c);
	p->active++;
	p->stats->taken_over++;
	p->stats->active = (uint64_t)p->active;
	/* Input that came meanwhile waits in the socket: epoll reports it
	 * at once, the registration being new. */
	if (t->tmo > CONN_TMO_NONE && t->tmo < CONN_TMO_COUNT &&
	    t->tmo != CONN_TMO_CONNECT)
		conn_timeout(c, (enum conn_tmo)t->tmo);
	return 0;
}

/* --- the stats socket's view --- */

void conn_describe(const struct conn *c, uint64_t now_ms, struct stats_conn *rec)
{
	struct conn_pool *p = conn_pool_of(c);
	socklen_t len = sizeof(rec->local);
	struct tcp_info ti;
	socklen_t tlen = sizeof(ti);

	memset(rec, 0, sizeof(*rec));
	getsockname(c->w.fd, &rec->local.sa, &len);
	len = sizeof(rec->remote);
	getpeername(c->w.fd, &rec->remote.sa, &len);
	rec->tcp_state = getsockopt(c->w.fd, IPPROTO_TCP, TCP_INFO, &ti,
				    &tlen) == 0 ?
				 ti.tcpi_state :
				 -1;
	rec->worker = p->worker_id;
	rec->age_ms = now_ms - c->start_ms;
	rec->bytes_in = c->bytes_in;
	rec->bytes_out = c->bytes_out;
}

void conn_foreach_from(struct conn_pool *p, int from,
		       int (*fn)(struct conn *c, void *arg), void *arg)
{
	/* fn may close connections, or hand them over. Past the last open
	 * one the walk stops; from 0, that is after as many as are open. */
	int seen = 0, n = p->active + p->outbound;

	for (int fd = from < 0 ? 0 : from; fd < p->nslots; fd++) {
		struct conn *c = &p->table->slots[fd];

		if (from <= 0 && seen == n)
			return;
		if (!c->w.fn)
			continue;
		seen++;
		if (fn(c, arg))
			return;
	}
}

void conn_foreach(struct conn_pool *p, int (*fn)(struct conn *c, void *arg),
		  void *arg)
{
	conn_foreach_from(p, 0, fn, arg);
}
