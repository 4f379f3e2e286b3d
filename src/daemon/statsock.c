/* statsock.c - the stats socket server: accepts, reads one command (or
 * one HTTP request on the metrics endpoint), hands it to the master and
 * writes back the document it is given. Every client is bounded in time
 * and in what it may send; none can block or end the master. */
#include "autoconfig.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "addr.h"
#include "buf.h"
#include "statsock.h"
#include "log.h"
#include "stats_doc.h"
#include "util.h"

/* A client that says nothing is dropped after this long. */
#define STATSOCK_READ_TIMEOUT_MS 5000
/* After the answer, unread input is drained for at most this long and
 * this much before the close: closing with unread input would send a
 * reset that can destroy the answer before the client has read it. */
#define STATSOCK_LINGER_MS 1000
#define STATSOCK_LINGER_BYTES (4u << 20)
#define STATSOCK_MAX_CLIENTS 128
/* Out of descriptors, accepting waits this long: epoll is level-triggered
 * and would report the waiting client again at once, forever. */
#define STATSOCK_RETRY_MS 250
#define STATSOCK_WARN_EVERY_MS 10000
/* Answers written but not yet read, over all clients: past this, a new
 * answer (unless it is the only one) is refused as busy. The master's
 * heap is what every worker it forks starts with. */
#define STATSOCK_OUT_BUDGET (8u << 20)
/* Freeing an answer this big gives the memory back to the system. */
#define STATSOCK_TRIM_BYTES (1u << 20)

enum statsock_state {
	STATSOCK_READING,
	STATSOCK_WAITING,
	STATSOCK_STREAMING, /* an answer written as it is made */
	STATSOCK_WRITING,   /* the whole answer is queued: flush, then close */
	STATSOCK_LINGERING,
};

struct statsock_client {
	struct loop_watch w;
	struct loop_timer timer;
	struct statsock *server;
	enum statsock_state state;
	struct buf in, out;
	size_t drained;
	int gone; /* hung up while its answer was being prepared */
	statsock_stream_fn stream_fn; /* STREAMING: its owner */
	void *stream_arg;
	struct statsock_client *prev, *next;
};

struct statsock {
	struct loop_watch w;
	struct loop *loop;
	int http; /* the metrics endpoint: HTTP requests, not command lines */
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	statsock_handler fn;
	void *arg;
	struct statsock_client *clients;
	int nclients;
	struct loop_timer retry; /* accepting paused: out of descriptors */
	int suspended;           /* another master answers (statsock_suspend) */
	int keep_file; /* another master serves the path (statsock_keep_file) */
	uint64_t warned_ms;
	unsigned pauses; /* since the last warning */
};

/* --- command parsing --- */

static const struct {
	const char *name;
	enum statsock_kind kind;
} statsock_commands[] = {
	{ "stats", STATSOCK_STATS },
	{ "workers", STATSOCK_WORKERS },
	{ "upstreams", STATSOCK_UPSTREAMS },
	{ "connections", STATSOCK_CONNECTIONS },
	{ "limits", STATSOCK_LIMITS },
	{ "ping", STATSOCK_PING },
	{ "help", STATSOCK_HELP },
	{ "prometheus", STATSOCK_PROMETHEUS },
	{ "reload", STATSOCK_RELOAD },
	{ "upgrade", STATSOCK_UPGRADE },
};

/* A printable, bounded copy of untrusted text for an error message. */
static void statsock_quote(const char *s, size_t len, char *out, size_t outlen)
{
	size_t j = 0;

	for (size_t i = 0; i < len && j + 5 < outlen; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (isprint(ch) && ch != '\'' && ch != '\\')
			out[j++] = (char)ch;
		else
			j += (size_t)snprintf(out + j, outlen - j, "\\x%02x", ch);
	}
	out[j] = '\0';
}

/* The next word of line[*i..len): its start and length; *i moves past
 * it and the blanks after it. */
static size_t statsock_word(const char *line, size_t len, size_t *i, size_t *start)
{
	size_t n = 0;

	*start = *i;
	while (*i < len && line[*i] != ' ' && line[*i] != '\t') {
		(*i)++;
		n++;
	}
	while (*i < len && (line[*i] == ' ' || line[*i] == '\t'))
		(*i)++;
	return n;
}

/* Printable text only: a control byte is a client speaking the wrong
 * protocol (or binary garbage), answered with what it sent, quoted. */
static int statsock_printable(const char *line, size_t len, char *err,
			      size_t errlen)
{
	char q[48];

	for (size_t k = 0; k < len; k++)
		if (!isprint((unsigned char)line[k]) && line[k] != '\t') {
			statsock_quote(line, len < 16 ? len : 16, q, sizeof(q));
			snprintf(err, errlen,
				 "malformed command '%s': not printable text (try 'help')",
				 q);
			return -1;
		}
	return 0;
}

/* connections [LIMIT]: 1..STATSOCK_CONNECTIONS_MAX, the default without. */
static int statsock_parse_limit(const char *arg, size_t al, uint64_t *limit,
				char *err, size_t errlen)
{
	char buf[32], *end;
	unsigned long long v;

	*limit = STATSOCK_CONNECTIONS_DEFAULT;
	if (al == 0)
		return 0;
	if (al < sizeof(buf) && isdigit((unsigned char)arg[0])) {
		memcpy(buf, arg, al);
		buf[al] = '\0';
		errno = 0;
		v = strtoull(buf, &end, 10);
		if (!*end && !errno && v >= 1 && v <= STATSOCK_CONNECTIONS_MAX) {
			*limit = v;
			return 0;
		}
	}
	snprintf(err, errlen, "connections: LIMIT must be a number 1..%d",
		 STATSOCK_CONNECTIONS_MAX);
	return -1;
}

static int statsock_lookup(const char *word, size_t wl)
{
	for (size_t c = 0; c < UTIL_ARRAY_LEN(statsock_commands); c++)
		if (strlen(statsock_commands[c].name) == wl &&
		    strncasecmp(word, statsock_commands[c].name, wl) == 0)
			return (int)c;
	return -1;
}

/* connections [LIMIT] [KEY=VALUE]...: the arguments after the word. */
static int statsock_parse_listing(const char *line, size_t len, size_t i,
				  struct statsock_cmd *cmd, char *err,
				  size_t errlen)
{
	int have_limit = 0;

	cmd->limit = STATSOCK_CONNECTIONS_DEFAULT;
	listing_filter_init(&cmd->filter);
	cmd->group = LISTING_ROWS;
	while (i < len) {
		char arg[96];
		size_t as, al = statsock_word(line, len, &i, &as);
		int r;

		if (al >= sizeof(arg)) {
			snprintf(err, errlen,
				 "connections: an argument is too long");
			return -1;
		}
		memcpy(arg, line + as, al);
		arg[al] = '\0';
		r = listing_parse_arg(arg, &cmd->filter, &cmd->group, err, errlen);
		if (r < 0)
			return -1;
		if (r == 0)
			continue;
		if (have_limit++) {
			snprintf(err, errlen, "connections: too many arguments");
			return -1;
		}
		if (statsock_parse_limit(arg, al, &cmd->limit, err, errlen) < 0)
			return -1;
	}
	return 0;
}

int statsock_parse(const char *line, size_t len, struct statsock_cmd *cmd,
		   char *err, size_t errlen)
{
	size_t i = 0, ws, wl, as;
	char q[48];
	int c;

	memset(cmd, 0, sizeof(*cmd));
	while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == ' ' ||
			   line[len - 1] == '\t'))
		len--;
	if (statsock_printable(line, len, err, errlen) < 0)
		return -1;
	while (i < len && (line[i] == ' ' || line[i] == '\t'))
		i++;
	wl = statsock_word(line, len, &i, &ws);
	if (wl == 0) {
		cmd->kind = STATSOCK_STATS; /* an empty line asks for stats */
		return 0;
	}
	if ((c = statsock_lookup(line + ws, wl)) < 0) {
		statsock_quote(line + ws, wl, q, sizeof(q));
		snprintf(err, errlen, "unknown command '%s' (try 'help')", q);
		return -1;
	}
	cmd->kind = statsock_commands[c].kind;
	if (cmd->kind == STATSOCK_CONNECTIONS)
		return statsock_parse_listing(line, len, i, cmd, err, errlen);
	if (i < len) {
		statsock_word(line, len, &i, &as);
		snprintf(err, errlen, "%s: %s", statsock_commands[c].name,
			 i < len ? "too many arguments" : "takes no argument");
		return -1;
	}
	return 0;
}

/* --- clients --- */

static void statsock_client_free(struct statsock_client *cl)
{
	struct statsock *c = cl->server;
	int big;

	/* A stream's owner learns first that its client is gone. */
	if (cl->state == STATSOCK_STREAMING && cl->stream_fn)
		cl->stream_fn(cl->stream_arg, 1);
	loop_timer_disarm(c->loop, &cl->timer);
	/* Deregister before closing: the master forks, and a child that
	 * has not yet shed its copy of this fd keeps the registration - and
	 * its pointer to this freed client - alive in the master's epoll. */
	if (!cl->gone)
		loop_del(c->loop, &cl->w);
	close(cl->w.fd);
	buf_free(&cl->in);
	big = cl->out.cap >= STATSOCK_TRIM_BYTES;
	buf_free(&cl->out);
	if (cl->prev)
		cl->prev->next = cl->next;
	else
		c->clients = cl->next;
	if (cl->next)
		cl->next->prev = cl->prev;
	c->nclients--;
	free(cl);
	/* A big answer's pages go back to the system, and so does what a
	 * burst of clients left in the heap once the last one is gone: every
	 * worker forked later starts with the master's heap. */
	if (big || c->nclients == 0)
		malloc_trim(0);
}

int statsock_peer_uid(const struct statsock_client *cl, uid_t *uid)
{
	struct ucred cr;
	socklen_t len = sizeof(cr);

	if (cl->server->http ||
	    getsockopt(cl->w.fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) < 0)
		return -1;
	*uid = cr.uid;
	return 0;
}

static void statsock_linger(struct statsock_client *cl)
{
	shutdown(cl->w.fd, SHUT_WR);
	cl->state = STATSOCK_LINGERING;
	loop_mod(cl->server->loop, &cl->w, EPOLLIN);
	loop_timer_arm(cl->server->loop, &cl->timer, STATSOCK_LINGER_MS);
}

static void statsock_flush(struct statsock_client *cl)
{
	while (buf_pending(&cl->out) > 0) {
		ssize_t n = buf_write_fd(&cl->out, cl->w.fd);

		if (n < 0) {
			statsock_client_free(cl);
			return;
		}
		if (n == 0) {
			loop_mod(cl->server->loop, &cl->w, EPOLLOUT);
			return;
		}
	}
	statsock_linger(cl);
}

/* Bytes of answers written to clients but not yet taken by them. */
static size_t statsock_queued(const struct statsock *c)
{
	size_t n = 0;

	for (const struct statsock_client *cl = c->clients; cl; cl = cl->next)
		n += buf_pending(&cl->out);
	return n;
}

static const char *statsock_reason(int status)
{
	return status == 200 ? "OK" :
	       status == 503 ? "Service Unavailable" :
	       status == 404 ? "Not Found" :
	       status == 405 ? "Method Not Allowed" :
	       status == 431 ? "Request Header Fields Too Large" :
			       "Bad Request";
}

static void statsock_send(struct statsock_client *cl, char *text, int status,
			  const char *type, const char *tail)
{
	char head[256];

	if (cl->gone || !text) {
		free(text);
		statsock_client_free(cl);
		return;
	}
	size_t len = strlen(text) + strlen(tail);
	size_t queued = statsock_queued(cl->server);

	if (queued > 0 && queued + len > STATSOCK_OUT_BUDGET) {
		free(text);
		text = stats_json_error("busy: %zu KiB of answers are waiting to be read by other clients; try again",
					queued >> 10);
		if (!text)
			goto fail;
		len = strlen(text) + strlen(tail);
		status = 503;
	}
	if (cl->server->http) {
		int n = snprintf(head, sizeof(head),
				 "HTTP/1.1 %d %s\r\nContent-Type: %s\r\n"
				 "Content-Length: %zu\r\nConnection: close\r\n\r\n",
				 status, statsock_reason(status), type, len);

		if (buf_append(&cl->out, head, (size_t)n) < 0)
			goto fail;
	}
	if (buf_append(&cl->out, text, strlen(text)) < 0 ||
	    buf_append(&cl->out, tail, strlen(tail)) < 0)
		goto fail;
	free(text);
	cl->state = STATSOCK_WRITING;
	/* The answer's own deadline: a client that stops reading is dropped. */
	loop_timer_arm(cl->server->loop, &cl->timer, STATSOCK_READ_TIMEOUT_MS);
	statsock_flush(cl);
	return;
fail:
	free(text);
	statsock_client_free(cl);
}

void statsock_reply_prom(struct statsock_client *cl, char *text)
{
	statsock_send(cl, text, 200, "text/plain; version=0.0.4; charset=utf-8",
		      "");
}

void statsock_reply(struct statsock_client *cl, char *json)
{
	statsock_send(cl, json, 200, "application/json", "\n");
}

void statsock_reply_error(struct statsock_client *cl, char *json)
{
	statsock_send(cl, json, 400, "application/json", "\n");
}

static void statsock_error(struct statsock_client *cl, const char *msg)
{
	statsock_reply_error(cl, stats_json_error("%s", msg));
}

static void statsock_command(struct statsock_client *cl, const char *line,
			     size_t len)
{
	struct statsock_cmd cmd;
	char err[160];

	loop_timer_disarm(cl->server->loop, &cl->timer);
	if (statsock_parse(line, len, &cmd, err, sizeof(err)) < 0) {
		statsock_error(cl, err);
		return;
	}
	cl->state = STATSOCK_WAITING;
	/* Nothing is read while the answer is prepared. */
	loop_mod(cl->server->loop, &cl->w, 0);
	cl->server->fn(cl->server->arg, cl, &cmd);
}

/* The metrics endpoint: wait for a whole request head, then answer
 * GET /metrics (or /) with the prometheus document. */
static void statsock_read_http(struct statsock_client *cl, ssize_t n)
{
	const char *p = buf_head(&cl->in);
	size_t len = buf_pending(&cl->in);
	struct statsock_cmd cmd = { .kind = STATSOCK_PROMETHEUS };

	if (!memmem(p, len, "\r\n\r\n", 4) && !memmem(p, len, "\n\n", 2)) {
		if (n == 0)
			statsock_client_free(cl);
		else if (len > STATSOCK_MAX_LINE)
			statsock_send(cl, strdup("request too large\n"), 431,
				      "text/plain", "");
		return;
	}
	loop_timer_disarm(cl->server->loop, &cl->timer);
	if (strncmp(p, "GET ", 4) != 0) {
		statsock_send(cl, strdup("only GET\n"), 405, "text/plain", "");
		return;
	}
	if (strncmp(p + 4, "/metrics ", 9) != 0 && strncmp(p + 4, "/ ", 2) != 0) {
		statsock_send(cl, strdup("not found: try /metrics\n"), 404,
			      "text/plain", "");
		return;
	}
	cl->state = STATSOCK_WAITING;
	loop_mod(cl->server->loop, &cl->w, 0);
	cl->server->fn(cl->server->arg, cl, &cmd);
}

static void statsock_read(struct statsock_client *cl)
{
	ssize_t n = buf_read_fd(&cl->in, cl->w.fd,
				STATSOCK_MAX_LINE + 1 - buf_pending(&cl->in));

	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return;
	if (n < 0) {
		statsock_client_free(cl);
		return;
	}
	if (cl->server->http) {
		statsock_read_http(cl, n);
		return;
	}
	const char *line = buf_head(&cl->in);
	const char *nl = memchr(line, '\n', buf_pending(&cl->in));

	if (nl) {
		statsock_command(cl, line, (size_t)(nl - line));
		return;
	}
	if (n == 0) {
		/* EOF ends the line too, so `printf stats | nc -U` works. */
		if (buf_pending(&cl->in) == 0) {
			statsock_client_free(cl);
			return;
		}
		statsock_command(cl, line, buf_pending(&cl->in));
		return;
	}
	if (buf_pending(&cl->in) > STATSOCK_MAX_LINE)
		statsock_error(cl, "command too long");
}

static void statsock_discard(struct statsock_client *cl)
{
	char tmp[4096];
	ssize_t n = read(cl->w.fd, tmp, sizeof(tmp));

	if (n > 0)
		cl->drained += (size_t)n;
	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR) ||
	    cl->drained > STATSOCK_LINGER_BYTES)
		statsock_client_free(cl);
}

/* --- streams --- */

void statsock_stream_start(struct statsock_client *cl, statsock_stream_fn fn,
			   void *arg)
{
	cl->state = STATSOCK_STREAMING;
	cl->stream_fn = fn;
	cl->stream_arg = arg;
	/* A hang-up is reported without asking; EPOLLOUT only while output
	 * waits. The timer is the stall deadline: it restarts with progress. */
	loop_mod(cl->server->loop, &cl->w, 0);
	loop_timer_arm(cl->server->loop, &cl->timer, STATSOCK_READ_TIMEOUT_MS);
}

/* Writes what the socket takes; -1 if the client is gone (freed). */
static int statsock_stream_flush(struct statsock_client *cl)
{
	int progress = 0;

	while (buf_pending(&cl->out) > 0) {
		ssize_t n = buf_write_fd(&cl->out, cl->w.fd);

		if (n < 0) {
			statsock_client_free(cl);
			return -1;
		}
		if (n == 0)
			break;
		progress = 1;
	}
	if (progress)
		loop_timer_arm(cl->server->loop, &cl->timer,
			       STATSOCK_READ_TIMEOUT_MS);
	loop_mod(cl->server->loop, &cl->w, buf_pending(&cl->out) ? EPOLLOUT : 0);
	return 0;
}

int statsock_stream_put(struct statsock_client *cl, const char *text, size_t len)
{
	if (buf_append(&cl->out, text, len) < 0) {
		statsock_client_free(cl);
		return -1;
	}
	return statsock_stream_flush(cl);
}

size_t statsock_stream_pending(const struct statsock_client *cl)
{
	return buf_pending(&cl->out);
}

void statsock_stream_end(struct statsock_client *cl)
{
	cl->stream_fn = NULL;
	cl->state = STATSOCK_WRITING;
	loop_timer_arm(cl->server->loop, &cl->timer, STATSOCK_READ_TIMEOUT_MS);
	statsock_flush(cl);
}

static void statsock_stream_io(struct statsock_client *cl, uint32_t events)
{
	if (events & (EPOLLERR | EPOLLHUP)) {
		statsock_client_free(cl);
		return;
	}
	if (statsock_stream_flush(cl) == 0 &&
	    buf_pending(&cl->out) < STATSOCK_STREAM_LOW && cl->stream_fn)
		cl->stream_fn(cl->stream_arg, 0);
}

static void statsock_client_io(struct loop_watch *w, uint32_t events)
{
	struct statsock_client *cl = util_container_of(w, struct statsock_client,
						       w);

	switch (cl->state) {
	case STATSOCK_READING:
		statsock_read(cl);
		break;
	case STATSOCK_STREAMING:
		statsock_stream_io(cl, events);
		break;
	case STATSOCK_WRITING:
		if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))
			statsock_flush(cl);
		break;
	case STATSOCK_LINGERING:
		statsock_discard(cl);
		break;
	case STATSOCK_WAITING:
		/* Only a hang-up or an error can wake us here (no events are
		 * asked for). The handler still owns the client and will
		 * reply; stop the level-triggered reports until then. */
		loop_del(cl->server->loop, &cl->w);
		cl->gone = 1;
		break;
	}
}

static void statsock_client_timeout(struct loop_timer *t)
{
	struct statsock_client *cl = util_container_of(t, struct statsock_client,
						       timer);

	if (cl->state == STATSOCK_READING)
		log_debug("stats socket: client sent no command in %d ms",
			  STATSOCK_READ_TIMEOUT_MS);
	/* A client still waiting for the workers keeps its slot: the
	 * handler's own deadline answers it. */
	if (cl->state != STATSOCK_WAITING)
		statsock_client_free(cl);
}

static void statsock_resume(struct loop_timer *t)
{
	struct statsock *c = util_container_of(t, struct statsock, retry);

	if (!c->suspended)
		loop_mod(c->loop, &c->w, EPOLLIN);
}

/* No descriptor for a new client: stop accepting for a while (the clients
 * wait in the listen queue) and say so, at most once per interval. */
static void statsock_pause(struct statsock *c, int err)
{
	uint64_t now = util_now_ms();

	loop_mod(c->loop, &c->w, 0);
	loop_timer_arm(c->loop, &c->retry, STATSOCK_RETRY_MS);
	c->pauses++;
	if (c->warned_ms && now - c->warned_ms < STATSOCK_WARN_EVERY_MS)
		return;
	log_warn("%s: accept: %s; not accepting for %d ms (%u times since the last warning)",
		 c->http ? "metrics endpoint" : "stats socket", strerror(err),
		 STATSOCK_RETRY_MS, c->pauses);
	c->warned_ms = now;
	c->pauses = 0;
}

/* Too many clients: one answer, in the client's protocol, then close. */
static void statsock_refuse(struct statsock *c, int fd)
{
	static const char json[] = "{\"error\":\"too many stats clients\"}\n";
	static const char http[] =
		"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\n"
		"Content-Length: 17\r\nConnection: close\r\n\r\ntoo many clients\n";
	const char *msg = c->http ? http : json;

	if (write(fd, msg, strlen(msg)) < 0)
		log_debug("stats socket: busy answer lost");
	close(fd);
}

static int statsock_add_client(struct statsock *c, int fd)
{
	struct statsock_client *cl = calloc(1, sizeof(*cl));

	if (!cl)
		return -1;
	cl->server = c;
	cl->state = STATSOCK_READING;
	loop_timer_init(&cl->timer, statsock_client_timeout);
	if (loop_add(c->loop, &cl->w, fd, EPOLLIN, statsock_client_io) < 0) {
		free(cl);
		return -1;
	}
	cl->next = c->clients;
	if (c->clients)
		c->clients->prev = cl;
	c->clients = cl;
	c->nclients++;
	loop_timer_arm(c->loop, &cl->timer, STATSOCK_READ_TIMEOUT_MS);
	return 0;
}

static void statsock_accept(struct loop_watch *w, uint32_t events)
{
	struct statsock *c = util_container_of(w, struct statsock, w);

	(void)events;
	for (int i = 0; i < 16; i++) {
		int fd = accept4(w->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE ||
			    errno == ENOBUFS || errno == ENOMEM)
				statsock_pause(c, errno);
			return;
		}
		if (c->nclients >= STATSOCK_MAX_CLIENTS)
			statsock_refuse(c, fd);
		else if (statsock_add_client(c, fd) < 0)
			close(fd);
	}
}

/* Wraps a listening fd (taken: closed on failure) into a server. */
static struct statsock *statsock_new(struct loop *l, int fd, statsock_handler fn,
				     void *arg, const char *what,
				     const char *name, char *err, size_t errlen)
{
	struct statsock *c = calloc(1, sizeof(*c));

	if (!c || loop_add(l, &c->w, fd, EPOLLIN, statsock_accept) < 0) {
		snprintf(err, errlen, "%s %s: %s", what, name,
			 strerror(errno ? errno : ENOMEM));
		close(fd);
		free(c);
		return NULL;
	}
	c->loop = l;
	c->fn = fn;
	c->arg = arg;
	loop_timer_init(&c->retry, statsock_resume);
	return c;
}

/* A socket file is stale when nothing accepts on it any more. */
static int statsock_path_in_use(const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), r;

	if (fd < 0)
		return 0;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	r = connect(fd, (struct sockaddr *)&sun, sizeof(sun));
	close(fd);
	return r == 0;
}

struct statsock *statsock_open(struct loop *l, const char *path, unsigned mode,
			       statsock_handler fn, void *arg, char *err,
			       size_t errlen)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct stat st;
	struct statsock *c;
	int fd;

	if (strlen(path) >= sizeof(sun.sun_path)) {
		snprintf(err, errlen, "stats socket %s: path too long", path);
		return NULL;
	}
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			snprintf(err, errlen,
				 "stats socket %s: exists and is not a socket",
				 path);
			return NULL;
		}
		if (statsock_path_in_use(path)) {
			snprintf(err, errlen,
				 "stats socket %s: another server is answering there (is reuseportd already running?)",
				 path);
			return NULL;
		}
		unlink(path); /* left by a run that crashed */
	}
	memcpy(sun.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 ||
	    chmod(path, mode) < 0 || listen(fd, 64) < 0) {
		snprintf(err, errlen, "stats socket %s: %s", path,
			 strerror(errno));
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	c = statsock_new(l, fd, fn, arg, "stats socket", path, err, errlen);
	if (!c) {
		unlink(path);
		return NULL;
	}
	memcpy(c->path, path, strlen(path) + 1);
	return c;
}

void statsock_close(struct statsock *c)
{
	if (!c)
		return;
	while (c->clients)
		statsock_client_free(c->clients);
	loop_timer_disarm(c->loop, &c->retry);
	loop_del(c->loop, &c->w);
	close(c->w.fd);
	if (c->path[0] && !c->keep_file)
		unlink(c->path);
	free(c);
}

/* Is fd a listening stream socket of the kind wanted? Fills its address. */
static int statsock_check_inherited(int fd, int http, union addr_sa *a,
				    socklen_t *alen, struct sockaddr_un *un,
				    socklen_t *unlen)
{
	int listening = 0, type = 0, domain = 0;
	socklen_t l1 = sizeof(listening), l2 = sizeof(type), l3 = sizeof(domain);

	if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &l1) < 0 ||
	    getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &l2) < 0 ||
	    getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &l3) < 0)
		return -1;
	if (!listening || type != SOCK_STREAM ||
	    (http ? domain != AF_INET && domain != AF_INET6 : domain != AF_UNIX)) {
		errno = EINVAL;
		return -1;
	}
	if (http)
		return getsockname(fd, &a->sa, alen);
	return getsockname(fd, (struct sockaddr *)un, unlen);
}

struct statsock *statsock_adopt(struct loop *l, int fd, int http,
				statsock_handler fn, void *arg, char *err,
				size_t errlen)
{
	const char *what = http ? "metrics_listen" : "stats socket";
	struct sockaddr_un un = { .sun_family = AF_UNIX };
	socklen_t alen = sizeof(union addr_sa), unlen = sizeof(un);
	char name[ADDR_STRLEN] = "", path[sizeof(un.sun_path) + 1] = "";
	union addr_sa a;
	struct statsock *c;

	if (statsock_check_inherited(fd, http, &a, &alen, &un, &unlen) < 0) {
		snprintf(err, errlen, "inherited %s (fd %d): %s", what, fd,
			 errno == EINVAL ?
				 (http ? "not a listening TCP socket" :
					 "not a listening Unix stream socket") :
				 strerror(errno));
		close(fd);
		return NULL;
	}
	if (http) {
		addr_format(&a.sa, name, sizeof(name));
	} else {
		size_t n = unlen > offsetof(struct sockaddr_un, sun_path) ?
				   unlen - offsetof(struct sockaddr_un, sun_path) :
				   0;

		memcpy(path, un.sun_path, n);
		path[n] = '\0';
		if (path[0] != '/' || strlen(path) >= sizeof(un.sun_path)) {
			snprintf(err, errlen,
				 "inherited %s (fd %d): not bound to a path",
				 what, fd);
			close(fd);
			return NULL;
		}
	}
	if (util_set_nonblock(fd) < 0 || fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) {
		snprintf(err, errlen, "inherited %s (fd %d): %s", what, fd,
			 strerror(errno));
		close(fd);
		return NULL;
	}
	c = statsock_new(l, fd, fn, arg, what, http ? name : path, err, errlen);
	if (!c)
		return NULL;
	c->http = http;
	memcpy(c->path, path, strlen(path) + 1);
	return c;
}

void statsock_suspend(struct statsock *c, int suspended)
{
	if (!c)
		return;
	c->suspended = suspended;
	loop_timer_disarm(c->loop, &c->retry);
	loop_mod(c->loop, &c->w, suspended ? 0 : EPOLLIN);
}

void statsock_keep_file(struct statsock *c, int keep)
{
	if (c)
		c->keep_file = keep;
}

int statsock_fd(const struct statsock *c)
{
	return c ? c->w.fd : -1;
}

const char *statsock_path(const struct statsock *c)
{
	return c ? c->path : "";
}

struct statsock *statsock_open_metrics(struct loop *l, const struct addr *a,
				       statsock_handler fn, void *arg,
				       char *err, size_t errlen)
{
	char name[ADDR_STRLEN];
	int one = 1;
	int fd = socket(a->u.sa.sa_family,
			SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	struct statsock *c;

	addr_format(&a->u.sa, name, sizeof(name));
	if (fd < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(fd, &a->u.sa, a->len) < 0 || listen(fd, 64) < 0) {
		snprintf(err, errlen, "metrics_listen %s: %s", name,
			 strerror(errno));
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	c = statsock_new(l, fd, fn, arg, "metrics_listen", name, err, errlen);
	if (c)
		c->http = 1;
	return c;
}
