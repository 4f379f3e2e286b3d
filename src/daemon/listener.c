/* listener.c - SO_REUSEPORT listening sockets (opened by the master) and
 * accepting in a worker: batches of accept4, a pause instead of a spin at
 * the connection cap or out of descriptors, and the last take of the queue
 * when a worker stops. It never reads from a connection. */
#include "autoconfig.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "listener.h"
#include "log.h"
#include "stats.h"
#include "util.h"

/* Connections taken per readiness event before the loop moves on. */
#define LST_ACCEPT_BATCH 64
/* How long to wait before accepting again when out of descriptors. */
#define LST_RETRY_MS 100
#define LST_WARN_EVERY_MS 10000

static int lst_socket(const struct addr *a, int reuseport, char *err, size_t errlen)
{
	char name[ADDR_STRLEN];
	int one = 1;
	int fd = socket(a->u.sa.sa_family,
			SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	addr_format(&a->u.sa, name, sizeof(name));
	if (fd < 0) {
		snprintf(err, errlen, "socket for %s: %s", name, strerror(errno));
		return -1;
	}
	/* SO_REUSEADDR: a restart must not wait for the TIME_WAIT of the
	 * previous run's connections. IPV6_V6ONLY: [::]:P and 0.0.0.0:P are
	 * two listen addresses, as in nginx. TCP_NODELAY is inherited by the
	 * accepted sockets, which saves a syscall per connection. */
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    (reuseport &&
	     setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0) ||
	    (a->u.sa.sa_family == AF_INET6 &&
	     setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0) ||
	    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0) {
		snprintf(err, errlen, "setsockopt on %s: %s", name,
			 strerror(errno));
		close(fd);
		return -1;
	}
	if (bind(fd, &a->u.sa, a->len) < 0) {
		int e = errno;

		snprintf(err, errlen, "cannot listen on %s: %s%s", name,
			 strerror(e),
			 e == EADDRINUSE && addr_port(&a->u.sa) == 0 ?
				 " (no free port left in net.ipv4.ip_local_port_range)" :
			 e == EADDRINUSE ? " (another process holds this port)" :
			 e == EACCES     ? " (ports below 1024 need root)" :
					   "");
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

int lst_check_free(const struct addr *a, char *err, size_t errlen)
{
	int fd = lst_socket(a, 0, err, errlen);

	if (fd < 0)
		return -1;
	close(fd);
	return 0;
}

int lst_open(const struct addr *a, int backlog, char *err, size_t errlen)
{
	char name[ADDR_STRLEN];
	int fd = lst_socket(a, 1, err, errlen);

	if (fd < 0)
		return -1;
	if (listen(fd, backlog) < 0) {
		snprintf(err, errlen, "listen on %s: %s",
			 addr_format(&a->u.sa, name, sizeof(name)),
			 strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

static void lst_pause(struct lst_set *s)
{
	if (s->paused)
		return;
	s->paused = 1;
	s->stats->accept_paused++;
	for (struct lst *ls = s->items; ls; ls = ls->next)
		loop_mod(s->loop, &ls->w, 0);
}

void lst_set_resume(struct lst_set *s)
{
	if (!s->paused || s->stopped || !s->can_accept(s->arg))
		return;
	s->paused = 0;
	loop_timer_disarm(s->loop, &s->retry);
	for (struct lst *ls = s->items; ls; ls = ls->next)
		loop_mod(s->loop, &ls->w, EPOLLIN);
}

static void lst_retry(struct loop_timer *t)
{
	struct lst_set *s = util_container_of(t, struct lst_set, retry);

	lst_set_resume(s);
}

/* Out of descriptors or memory: spinning on a ready listener would burn
 * the CPU, so stop and retry shortly (the connection waits in the queue),
 * and say so once per interval, with how often it happened. */
static void lst_out_of_fds(struct lst_set *s, int err)
{
	uint64_t now = util_now_ms();

	lst_pause(s);
	loop_timer_arm(s->loop, &s->retry, LST_RETRY_MS);
	s->pauses++;
	if (s->warned_ms && now - s->warned_ms < LST_WARN_EVERY_MS)
		return;
	log_warn("accept: %s; pausing %d ms at a time (%u times since the last warning)",
		 strerror(err), LST_RETRY_MS, s->pauses);
	s->warned_ms = now;
	s->pauses = 0;
}

static void lst_accept_n(struct loop_watch *w, int batch)
{
	struct lst *ls = util_container_of(w, struct lst, w);
	struct lst_set *s = ls->set;

	for (int i = 0; i < batch; i++) {
		if (!s->can_accept(s->arg)) {
			/* At the cap: leave the rest queued in the kernel
			 * until a connection closes (lst_set_resume). */
			lst_pause(s);
			return;
		}
		union addr_sa peer;
		socklen_t peerlen = sizeof(peer);
		int fd = accept4(w->fd, &peer.sa, &peerlen,
				 SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd >= 0) {
			if (s->on_accept(s->arg, fd, &peer.sa, peerlen) < 0)
				close(fd);
			continue;
		}
		switch (errno) {
		case EAGAIN:
		case EINTR:
			return;
		case ECONNABORTED:
		case EPROTO:
		case EPERM:
		case ENETDOWN:
		case ENOPROTOOPT:
		case EHOSTDOWN:
		case ENONET:
		case EHOSTUNREACH:
		case EOPNOTSUPP:
		case ENETUNREACH:
			continue; /* that connection failed, not the listener */
		case EMFILE:
		case ENFILE: {
			int e = errno;

			if (s->out_of_fds && s->out_of_fds(s->arg) > 0)
				continue;
			lst_out_of_fds(s, e);
			return;
		}
		case ENOBUFS:
		case ENOMEM:
			lst_out_of_fds(s, errno);
			return;
		default:
			log_error("accept: %s", strerror(errno));
			return;
		}
	}
}

static void lst_accept(struct loop_watch *w, uint32_t events)
{
	(void)events;
	lst_accept_n(w, LST_ACCEPT_BATCH);
}

/* Watches fd as one more listener of the set; takes the fd. */
static int lst_add(struct lst_set *s, int fd, int tag)
{
	struct lst *ls = calloc(1, sizeof(*ls));

	if (!ls || loop_add(s->loop, &ls->w, fd, s->paused ? 0 : EPOLLIN,
			    lst_accept) < 0) {
		free(ls);
		close(fd);
		return -1;
	}
	ls->set = s;
	ls->tag = tag;
	ls->next = s->items;
	s->items = ls;
	return 0;
}

static void lst_free(struct lst *ls)
{
	loop_del(ls->set->loop, &ls->w);
	close(ls->w.fd);
	free(ls);
}

int lst_set_start(struct lst_set *s, struct loop *l, const int *fds, int n,
		  struct stats_counters *stats, int (*can_accept)(void *),
		  int (*on_accept)(void *, int, const struct sockaddr *, socklen_t),
		  void *arg)
{
	memset(s, 0, sizeof(*s));
	s->loop = l;
	s->stats = stats;
	s->can_accept = can_accept;
	s->on_accept = on_accept;
	s->arg = arg;
	loop_timer_init(&s->retry, lst_retry);
	for (int i = 0; i < n; i++)
		if (lst_add(s, fds[i], -1) < 0)
			return -1;
	return 0;
}

int lst_set_adopt(struct lst_set *s, int tag, int *fds, int n)
{
	int r = 0;

	for (int i = 0; i < n; i++)
		if (s->stopped) {
			close(fds[i]);
		} else if (lst_add(s, fds[i], tag) < 0) {
			r = -1;
		}
	return r;
}

void lst_set_release(struct lst_set *s, int tag, int take_queue)
{
	struct lst **pp = &s->items;

	/* taking: as in lst_set_stop, nothing is freed under the accepts. */
	if (take_queue && tag >= 0 && !s->taking) {
		s->taking = 1;
		for (struct lst *ls = s->items; ls; ls = ls->next)
			if (ls->tag == tag)
				lst_accept_n(&ls->w, INT32_MAX);
		s->taking = 0;
	}

	while (*pp) {
		struct lst *ls = *pp;

		if (ls->tag != tag || tag < 0) {
			pp = &ls->next;
			continue;
		}
		*pp = ls->next;
		lst_free(ls);
	}
}

void lst_set_stop(struct lst_set *s, int take_queue)
{
	/* Re-entry while taking the queue (a connection served and closed
	 * at once can make the owner stop again) must not free the items
	 * under the accept loop. */
	if (s->stopped || s->taking)
		return;
	s->paused = 0;
	s->taking = 1;
	for (struct lst *ls = s->items; ls && take_queue; ls = ls->next)
		lst_accept_n(&ls->w, INT32_MAX);
	s->taking = 0;
	s->stopped = 1;
	loop_timer_disarm(s->loop, &s->retry);
	while (s->items) {
		struct lst *ls = s->items;

		s->items = ls->next;
		lst_free(ls);
	}
}
