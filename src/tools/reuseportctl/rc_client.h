/* rc_client.h - reuseportctl: one exchange on the daemon's stats socket.
 * Prefix rc_.
 *
 * The protocol: connect, send one command line, read one answer until the
 * daemon closes. Everything, connect included, happens before a single
 * deadline, so a hung daemon costs the caller at most timeout_ms. */
#ifndef RC_CLIENT_H
#define RC_CLIENT_H

#include <jansson.h>
#include <stddef.h>

#define RC_CLIENT_TIMEOUT_MS 5000
/* connections 1000000 is ~200 MB of JSON; anything past this is refused. */
#define RC_CLIENT_MAX_REPLY (256u << 20)

struct rc_reply {
	char *text; /* NUL-terminated, malloc'd */
	size_t len;
};

/* Sends cmd (no newline) to the socket at path and reads the whole answer.
 * Returns 0, or -1 with a one-line reason in err that names the path (e.g.
 * "cannot connect to ./reuseportd.sock: No such file or directory (is
 * reuseportd running?)"). */
int rc_client_query(const char *path, const char *cmd, int timeout_ms,
		    struct rc_reply *reply, char *err, size_t errlen);
void rc_reply_free(struct rc_reply *reply);

/* Parses an answer as one JSON document. NULL (reason in err) if it is
 * not JSON. A document carrying "error" is returned like any other; the
 * caller decides what a daemon-side error means. */
json_t *rc_client_parse(const char *path, const struct rc_reply *reply,
			char *err, size_t errlen);

/* query + parse. */
json_t *rc_client_request(const char *path, const char *cmd, int timeout_ms,
			  char *err, size_t errlen);

#endif
