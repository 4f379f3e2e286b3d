/* health.c - active health checks (health.h). A check owns one socket
 * for at most health_timeout, watched on the worker's loop directly (not
 * a conn: it is no client's and no relay's, and must not count as
 * either); its verdict goes to the upstream table, its counts to the
 * worker's stats. It never blocks: a check that cannot finish in time
 * fails. */
#include "autoconfig.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "config.h"
#include "conn.h"
#include "health.h"
#include "log.h"
#include "loop.h"
#include "stats.h"
#include "upstream.h"
#include "util.h"

/* Bytes of the answer read, at most: the status line is all a check
 * needs ("HTTP/1.1 200 OK\r\n"), and a server that sends more before
 * its first CRLF is not answering a health check. */
#define HC_READ_MAX 256

enum hc_phase { HC_IDLE, HC_CONNECTING, HC_READING };

struct hc_probe {
	struct loop_watch w;     /* fd -1 while idle */
	struct loop_timer timer; /* the next check, or the running one's
				  * deadline */
	struct hc_set *set;
	int server;
	enum hc_phase phase;
	size_t len;
	char buf[HC_READ_MAX];
};

struct hc_set {
	const struct config *cfg;
	struct up_table *up;
	struct stats_counters *stats;
	struct loop *loop;
	int worker, nworkers;
	uint64_t rng;
	struct hc_probe probe[CFG_MAX_UPSTREAMS];
};

#define container_of(p, type, member) \
	((type *)(void *)((char *)(p)-offsetof(type, member)))

uint64_t hc_next_due(uint64_t now, uint64_t interval, int worker, int nworkers,
		     int server, int nservers)
{
	uint64_t slots = (uint64_t)nworkers * (uint64_t)nservers;
	uint64_t k = (uint64_t)worker * (uint64_t)nservers + (uint64_t)server;
	uint64_t offset = interval * (k % slots) / slots;
	uint64_t due = now - now % interval + offset;

	return due > now ? due : due + interval;
}

int hc_http_status(const char *buf, size_t len)
{
	const char *eol = memchr(buf, '\n', len);
	int st = 0;

	if (!eol)
		return -2;
	/* "HTTP/1.x NNN" then a space or the line's end (RFC 9112 4). */
	if (eol - buf < 12 || memcmp(buf, "HTTP/1.", 7) || buf[8] != ' ')
		return -1;
	for (int i = 9; i < 12; i++) {
		if (buf[i] < '0' || buf[i] > '9')
			return -1;
		st = st * 10 + buf[i] - '0';
	}
	if (st < 100 || (buf[12] != ' ' && buf[12] != '\r' && buf[12] != '\n'))
		return -1;
	return st;
}

size_t hc_http_request(char *buf, size_t len, const char *path,
		       const struct sockaddr *server)
{
	char host[ADDR_STRLEN];
	int n;

	/* Connection: close - the check reads the status line and goes. */
	n = snprintf(buf, len,
		     "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: reuseportd-health-check\r\nConnection: close\r\n\r\n",
		     path, addr_format(server, host, sizeof(host)));
	return n < 0 || (size_t)n >= len ? 0 : (size_t)n;
}

/* xorshift64: the jitter needs spread, not secrecy. */
static uint64_t hc_random(struct hc_set *h)
{
	h->rng ^= h->rng << 13;
	h->rng ^= h->rng >> 7;
	h->rng ^= h->rng << 17;
	return h->rng;
}

/* Arms p's timer for its next slot, a random part of half a slot late. */
static void hc_schedule(struct hc_probe *p)
{
	struct hc_set *h = p->set;
	uint64_t now = util_now_ms(),
		 interval = (uint64_t)h->cfg->health_interval_ms;
	uint64_t slot = interval / ((uint64_t)h->nworkers * (uint64_t)h->up->n);
	uint64_t due = hc_next_due(now, interval, h->worker, h->nworkers,
				   p->server, h->up->n);

	if (slot >= 2)
		due += hc_random(h) % (slot / 2);
	loop_timer_arm(h->loop, &p->timer, due - now);
}

static const char *hc_name(const struct hc_probe *p, char *buf, size_t len)
{
	return addr_format(&p->set->up->servers[p->server].addr.u.sa, buf, len);
}

/* The check ended: good (why NULL) or not, and why. The socket goes with
 * a reset (SO_LINGER 0): a check's connection has nothing left to say,
 * and a FIN would leave this side a TIME_WAIT, holding for a minute a
 * local port that the traffic to this server may need. */
static void hc_done(struct hc_probe *p, const char *why)
{
	static const struct linger reset = { 1, 0 };
	struct hc_set *h = p->set;
	int i = p->server, change;
	char name[ADDR_STRLEN];

	if (p->w.fd >= 0) {
		setsockopt(p->w.fd, SOL_SOCKET, SO_LINGER, &reset, sizeof(reset));
		loop_del(h->loop, &p->w);
		close(p->w.fd);
		p->w.fd = -1;
	}
	p->phase = HC_IDLE;
	h->stats->upstream_checks[i]++;
	if (why)
		h->stats->upstream_checks_failed[i]++;
	change = up_check_result(h->up, i, why == NULL);
	if (change < 0)
		log_warn("upstream %s is down: %d health checks failed in a row (%s)",
			 hc_name(p, name, sizeof(name)), h->cfg->health_fall,
			 why);
	else if (change > 0)
		log_warn("upstream %s is up: %d health checks passed in a row",
			 hc_name(p, name, sizeof(name)), h->cfg->health_rise);
	else if (why)
		log_debug("upstream %s: health check failed (%s)",
			  hc_name(p, name, sizeof(name)), why);
	up_publish_state(h->up, util_now_ms());
	hc_schedule(p);
}

static void hc_fail_errno(struct hc_probe *p, int err)
{
	hc_done(p, strerror(err));
}

/* Connected: a TCP check is done; an HTTP one sends its request, which
 * a fresh socket's buffer takes whole (anything less is a failure). */
static void hc_connected(struct hc_probe *p)
{
	struct hc_set *h = p->set;
	const struct addr *a = &h->up->servers[p->server].addr;
	char req[CFG_HEALTH_PATH_MAX + 256];
	size_t n;

	if (h->cfg->health_check == CFG_HEALTH_TCP) {
		hc_done(p, NULL);
		return;
	}
	n = hc_http_request(req, sizeof(req), h->cfg->health_path, &a->u.sa);
	if (send(p->w.fd, req, n, MSG_NOSIGNAL) != (ssize_t)n) {
		hc_done(p, "the request could not be sent");
		return;
	}
	p->phase = HC_READING;
	p->len = 0;
	if (loop_mod(h->loop, &p->w, EPOLLIN) < 0)
		hc_fail_errno(p, errno);
}

/* Reads what the server answered, up to the end of its status line. */
static void hc_readable(struct hc_probe *p)
{
	char why[64];
	ssize_t n = read(p->w.fd, p->buf + p->len, sizeof(p->buf) - p->len);
	int st;

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n < 0) {
		hc_fail_errno(p, errno);
		return;
	}
	p->len += (size_t)n;
	st = hc_http_status(p->buf, p->len);
	if (st == -2 && n > 0 && p->len < sizeof(p->buf))
		return;
	if (st >= 200 && st < 400) {
		hc_done(p, NULL);
		return;
	}
	if (st > 0)
		snprintf(why, sizeof(why), "status %d", st);
	else
		snprintf(why, sizeof(why), "%s",
			 st == -1 ? "not an HTTP status line" :
			 n == 0   ? "closed before a status line" :
				    "no status line in the first 256 bytes");
	hc_done(p, why);
}

static void hc_io(struct loop_watch *w, uint32_t events)
{
	struct hc_probe *p = container_of(w, struct hc_probe, w);
	int err = 0;
	socklen_t len = sizeof(err);

	(void)events;
	if (p->phase == HC_READING) {
		hc_readable(p);
		return;
	}
	if (getsockopt(w->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
	if (err)
		hc_fail_errno(p, err);
	else
		hc_connected(p);
}

/* A failure of this host's, not the server's (as tcp_proxy counts them):
 * no descriptor, no memory, no local port. It says nothing of the
 * server, so the check is skipped rather than failed - an exhausted
 * proxy must not also mark every server down. */
static int hc_local_error(int err)
{
	return err == EMFILE || err == ENFILE || err == ENOBUFS ||
	       err == ENOMEM || err == EADDRNOTAVAIL;
}

/* Opens the check's socket the way the traffic's are (proxy_source,
 * the worker's port range) and waits for its connect. */
static void hc_begin(struct hc_probe *p)
{
	struct hc_set *h = p->set;
	const struct addr *a = &h->up->servers[p->server].addr;
	struct conn_source src = { .port_range = h->up->port_range };
	union addr_sa local;
	socklen_t len;
	int fd;

	if (up_next_source(h->up, a->u.sa.sa_family, &local, &len) == 0) {
		src.sa = &local.sa;
		src.len = len;
	}
	p->phase = HC_CONNECTING;
	loop_timer_arm(h->loop, &p->timer, (uint64_t)h->cfg->health_timeout_ms);
	fd = conn_socket_connect(&a->u.sa, a->len, &src);
	if (fd < 0 && hc_local_error(errno)) {
		char name[ADDR_STRLEN];

		log_debug("upstream %s: health check skipped: %s",
			  hc_name(p, name, sizeof(name)), strerror(errno));
		p->phase = HC_IDLE;
		hc_schedule(p);
		return;
	}
	if (fd < 0) {
		loop_timer_disarm(h->loop, &p->timer);
		hc_fail_errno(p, errno);
		return;
	}
	if (loop_add(h->loop, &p->w, fd, EPOLLOUT, hc_io) < 0) {
		int e = errno;

		close(fd);
		p->w.fd = -1; /* loop_add set it: hc_done must not close it */
		loop_timer_disarm(h->loop, &p->timer);
		hc_fail_errno(p, e);
	}
}

/* The timer: the next check is due, or the running one took too long. */
static void hc_timer(struct loop_timer *t)
{
	struct hc_probe *p = container_of(t, struct hc_probe, timer);

	if (p->phase == HC_IDLE)
		hc_begin(p);
	else
		hc_done(p, "timed out");
}

struct hc_set *hc_new(const struct config *cfg, struct up_table *up,
		      struct stats_counters *stats)
{
	struct hc_set *h = calloc(1, sizeof(*h));

	if (!h)
		return NULL;
	h->cfg = cfg;
	h->up = up;
	h->stats = stats;
	for (int i = 0; i < CFG_MAX_UPSTREAMS; i++) {
		struct hc_probe *p = &h->probe[i];

		p->set = h;
		p->server = i;
		p->w.fd = -1;
		loop_timer_init(&p->timer, hc_timer);
	}
	return h;
}

int hc_start(struct hc_set *h, struct loop *loop, int worker, int nworkers)
{
	h->loop = loop;
	h->worker = worker;
	h->nworkers = nworkers > 0 ? nworkers : 1;
	h->rng = (uint64_t)getpid() * 0x9e3779b97f4a7c15ULL | 1;
	for (int i = 0; i < h->up->n; i++)
		hc_schedule(&h->probe[i]);
	return 0;
}

void hc_free(struct hc_set *h)
{
	if (!h)
		return;
	for (int i = 0; i < CFG_MAX_UPSTREAMS && h->loop; i++) {
		struct hc_probe *p = &h->probe[i];

		loop_timer_disarm(h->loop, &p->timer);
		if (p->w.fd >= 0) {
			loop_del(h->loop, &p->w);
			close(p->w.fd);
		}
	}
	free(h);
}
