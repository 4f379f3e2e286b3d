/* ctl.h - the stats socket: one command line in, one JSON document out.
 *
 * A client connects to the AF_UNIX stream socket, sends one line, gets one
 * JSON document and a newline, and the server closes. Answers that need
 * the workers are asynchronous: the handler keeps the client and calls
 * ctl_reply() when it has the document (it must, eventually, exactly once). */
#ifndef RP_CTL_H
#define RP_CTL_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "loop.h"

#define CTL_MAX_LINE 4096
#define CTL_CONNECTIONS_DEFAULT 1000
#define CTL_CONNECTIONS_MAX 1000000

enum ctl_kind {
	CTL_STATS,
	CTL_WORKERS,
	CTL_CONNECTIONS,
	CTL_LIMITS,
	CTL_PING,
	CTL_HELP,
	CTL_PROMETHEUS,
};

struct ctl_cmd {
	enum ctl_kind kind;
	uint64_t limit; /* connections */
};

/* Parses one command line (without its newline). 0, or -1 with an error
 * message fit to be sent back in err. */
int ctl_parse(const char *line, size_t len, struct ctl_cmd *cmd, char *err,
	      size_t errlen);

struct ctl;
struct ctl_client;
typedef void (*ctl_handler)(void *arg, struct ctl_client *cl,
			    const struct ctl_cmd *cmd);

/* Binds and listens on path with the given mode. A file left by a crashed
 * run is replaced; a live server at that path is an error. */
struct ctl *ctl_open(struct loop *l, const char *path, unsigned mode,
		     ctl_handler fn, void *arg, char *err, size_t errlen);
/* Sends doc (stolen) and closes the client. */
void ctl_reply(struct ctl_client *cl, json_t *doc);
/* Sends text (stolen, malloc'd; NULL: out of memory) as is. */
void ctl_reply_text(struct ctl_client *cl, char *text);

struct addr;
/* The Prometheus endpoint: a TCP listener speaking just enough HTTP/1.1
 * for `GET /metrics`, whose answer comes from the same handler as the
 * stats socket's `prometheus` command. */
struct ctl *ctl_open_metrics(struct loop *l, const struct addr *a,
			     ctl_handler fn, void *arg, char *err,
			     size_t errlen);
/* Stops listening, removes the socket file, drops the clients. */
void ctl_close(struct ctl *c);

#endif
