/* http_client.h - an HTTP/1.1 client for the tests of the HTTP service:
 * a connection with its own read buffer, so pipelined answers can be
 * taken one at a time, and the small things those tests share (files,
 * config files, a worker's memory). Prefix ht_. Like the harness, every
 * wait has a deadline and failures print why before failing the test. */
#ifndef RP_TEST_HTTP_CLIENT_H
#define RP_TEST_HTTP_CLIENT_H

#include <stddef.h>
#include <sys/types.h>

struct hr_daemon;

struct ht_client {
	int fd;
	char *buf;
	size_t len, cap;
};

struct ht_response {
	int status;
	long long length; /* Content-Length, -1 if absent */
	char head[4096];
	char *body; /* malloc'd, length bytes; NULL if none */
};

/* A client on a socket already connected. */
void ht_attach(struct ht_client *c, int fd);
/* Connects to 127.0.0.1:port, failing the test if it cannot. */
void ht_open(struct ht_client *c, int port);
/* The same with SO_RCVBUF set to rcvbuf before the connect, so that the
 * window the server sees is small from the start: a slow reader. */
void ht_open_small(struct ht_client *c, int port, int rcvbuf);
void ht_close(struct ht_client *c);
/* Reads at least one more byte into the buffer: 1, 0 on EOF or error,
 * -1 when nothing came within timeout_ms. */
int ht_fill(struct ht_client *c, int timeout_ms);
void ht_consume(struct ht_client *c, size_t n);
/* Sends req whole, failing the test if it cannot within 5 s. */
void ht_request(struct ht_client *c, const char *req);
/* Reads one answer; head_only: it answers a HEAD (no body). 0, or -1 if
 * it is not complete within 10 s. */
int ht_read_response(struct ht_client *c, struct ht_response *r, int head_only);
/* One request on a fresh connection; the answer's body is the caller's. */
void ht_fetch(int port, const char *req, struct ht_response *r, int head_only);

/* The value of header field name in r's head, in val (len bytes); ""
 * if absent. Returns val. */
const char *ht_field(const struct ht_response *r, const char *name, char *val,
		     size_t len);

/* Creates path with these bytes, failing the test if it cannot. */
void ht_write_file(const char *path, const void *data, size_t len);
/* Creates path as a sparse file of size bytes (zeros, no disk used). */
void ht_sparse_file(const char *path, off_t size);
/* Writes DIR/name with the text and returns its path in out. */
void ht_write_conf(struct hr_daemon *d, const char *name, const char *text,
		   char *out, size_t outlen);

/* The pid of worker id, from `stats`; fails the test if there is none. */
pid_t ht_worker_pid(struct hr_daemon *d, int id);

#endif
