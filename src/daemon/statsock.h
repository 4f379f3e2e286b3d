/* statsock.h - the stats socket server: one command line in, one
 * document out; and the Prometheus endpoint, the same server speaking just
 * enough HTTP for GET /metrics.
 *
 * A client connects to the AF_UNIX stream socket, sends one line, gets one
 * JSON document and a newline, and the server closes. Answers that need
 * the workers are asynchronous: the handler keeps the client and calls one
 * statsock_reply*() when it has the document (it must, eventually, exactly
 * once). The documents come ready-made (stats_doc.h): this file never
 * builds JSON. */
#ifndef RP_STATSOCK_H
#define RP_STATSOCK_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "listing.h"
#include "loop.h"

#define STATSOCK_MAX_LINE 4096
#define STATSOCK_CONNECTIONS_DEFAULT 1000
#define STATSOCK_CONNECTIONS_MAX 100000000

enum statsock_kind {
	STATSOCK_STATS,
	STATSOCK_WORKERS,
	STATSOCK_CONNECTIONS,
	STATSOCK_LIMITS,
	STATSOCK_PING,
	STATSOCK_HELP,
	STATSOCK_PROMETHEUS,
	STATSOCK_RELOAD,  /* answered once the new generation runs, or not */
	STATSOCK_UPGRADE, /* answered once the new master serves, or not */
	STATSOCK_UPSTREAMS,
};

struct statsock_cmd {
	enum statsock_kind kind;
	uint64_t limit;               /* connections: rows at most */
	struct listing_filter filter; /* connections: which ones */
	enum listing_group group;     /* connections: rows, or counts */
};

/* Parses one command line (without its newline). 0, or -1 with an error
 * message fit to be sent back in err. */
int statsock_parse(const char *line, size_t len, struct statsock_cmd *cmd,
		   char *err, size_t errlen);

struct statsock;
struct statsock_client;
typedef void (*statsock_handler)(void *arg, struct statsock_client *cl,
				 const struct statsock_cmd *cmd);

/* Binds and listens on path with the given mode. A file left by a crashed
 * run is replaced; a live server at that path is an error. */
struct statsock *statsock_open(struct loop *l, const char *path, unsigned mode,
			       statsock_handler fn, void *arg, char *err,
			       size_t errlen);
/* Each sends text (stolen, malloc'd; NULL: out of memory, the client is
 * dropped) and closes the client: a JSON document, a JSON error document
 * (HTTP clients get a 400), or Prometheus text. */
void statsock_reply(struct statsock_client *cl, char *json);
void statsock_reply_error(struct statsock_client *cl, char *json);
void statsock_reply_prom(struct statsock_client *cl, char *text);
/* The client's user (SO_PEERCRED): 0, or -1 when it cannot be known (the
 * metrics endpoint's TCP clients). */
int statsock_peer_uid(const struct statsock_client *cl, uid_t *uid);

/* An answer written as it is made (a listing of any size): start, put
 * text as it comes, end. fn(arg, 1) is called when the client goes (it
 * hung up, or stopped reading for STATSOCK_STREAM_STALL_MS): the client
 * is gone and must not be used again; fn(arg, 0) when what was put has
 * drained below STATSOCK_STREAM_LOW and more is welcome. */
#define STATSOCK_STREAM_LOW (64u << 10)
typedef void (*statsock_stream_fn)(void *arg, int gone);
void statsock_stream_start(struct statsock_client *cl, statsock_stream_fn fn,
			   void *arg);
/* 0, or -1 if the client is gone (fn was called). */
int statsock_stream_put(struct statsock_client *cl, const char *text, size_t len);
/* Bytes put but not yet taken by the client. */
size_t statsock_stream_pending(const struct statsock_client *cl);
/* The answer is complete: it is flushed and the client closed. */
void statsock_stream_end(struct statsock_client *cl);

struct addr;
/* The Prometheus endpoint: a TCP listener speaking just enough HTTP/1.1
 * for `GET /metrics`, whose answer comes from the same handler as the
 * stats socket's `prometheus` command. */
struct statsock *statsock_open_metrics(struct loop *l, const struct addr *a,
				       statsock_handler fn, void *arg,
				       char *err, size_t errlen);
/* A binary upgrade (upgrade.c): the listening socket a new master
 * inherits from the old one, so that the path never lacks a server. fd
 * (taken: closed on failure) must be a listening AF_UNIX stream socket
 * bound to a path (the stats socket), or for http a listening TCP socket
 * (the metrics endpoint). NULL with the reason on failure. */
struct statsock *statsock_adopt(struct loop *l, int fd, int http,
				statsock_handler fn, void *arg, char *err,
				size_t errlen);
/* Stops accepting (another master answers on the same socket), or
 * accepts again. Clients already accepted are answered either way;
 * clients that arrive meanwhile wait in the listen queue. */
void statsock_suspend(struct statsock *c, int suspended);
/* keep: statsock_close leaves the socket file (another master still
 * serves it); else it removes it. */
void statsock_keep_file(struct statsock *c, int keep);
/* The listening descriptor (-1 without a server), and the path ("" for
 * the metrics endpoint). */
int statsock_fd(const struct statsock *c);
const char *statsock_path(const struct statsock *c);
/* Stops listening, removes the socket file (unless kept), drops the
 * clients. */
void statsock_close(struct statsock *c);

#endif
