/* http-heads.c - what the reverse proxy's head functions cost per call
 * on typical heads: the request parser and http_fwd_request on a
 * browser's GET, the response parser and http_fwd_response on a static
 * server's 200. Pure CPU, no sockets; the median of RUNS rounds of
 * CALLS calls each, in ns per call.
 *
 *   make && cc -O2 -I. -Isrc/daemon -o http-heads bench/http-heads.c \
 *	src/libreuseport.a && ./http-heads
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "http_fwd.h"
#include "http_parser.h"
#include "http_resp.h"

#define CALLS 200000
#define RUNS 9

static const char req[] =
	"GET /index.html?x=1 HTTP/1.1\r\nHost: example.org\r\n"
	"User-Agent: Mozilla/5.0 (X11; Linux x86_64)\r\n"
	"Accept: text/html,application/xhtml+xml\r\n"
	"Accept-Language: en-US,en;q=0.5\r\n"
	"Accept-Encoding: gzip, deflate\r\nConnection: keep-alive\r\n"
	"Upgrade-Insecure-Requests: 1\r\n\r\n";
static const char resp[] =
	"HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\n"
	"Date: Mon, 30 Nov 2026 05:00:00 GMT\r\nContent-Type: text/html\r\n"
	"Content-Length: 612\r\n"
	"Last-Modified: Tue, 24 Nov 2026 10:00:00 GMT\r\n"
	"Connection: keep-alive\r\nETag: \"64f1-264\"\r\n"
	"Accept-Ranges: bytes\r\n\r\n";

static struct http_limits lim;
static struct http_request rq;
static struct http_response rs;
static struct sockaddr_in client;
static char out[2048];

static int parse_req(void)
{
	return http_parse_request(req, sizeof(req) - 1, &lim, &rq);
}

static int fwd_req(void)
{
	return http_fwd_request(req, sizeof(req) - 1, &rq,
				(const struct sockaddr *)&client, out,
				sizeof(out));
}

static int parse_resp(void)
{
	return http_parse_response(resp, sizeof(resp) - 1, &lim, HTTP_GET, &rs);
}

static int fwd_resp(void)
{
	return http_fwd_response(resp, sizeof(resp) - 1, &rs, 1, 1, out,
				 sizeof(out));
}

static double now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* The median ns per call of fn; exits if fn ever fails. */
static double median_ns(int (*fn)(void))
{
	double ns[RUNS];
	int r, k;

	for (r = 0; r < RUNS; r++) {
		double t = now_ns();

		for (k = 0; k < CALLS; k++)
			if (fn() <= 0)
				exit(1);
		ns[r] = (now_ns() - t) / CALLS;
	}
	qsort(ns, RUNS, sizeof(ns[0]), cmp);
	return ns[RUNS / 2];
}

int main(void)
{
	http_limits_default(&lim);
	client.sin_family = AF_INET;
	client.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	printf("http_parse_request  %zu-byte head: %5.0f ns\n", sizeof(req) - 1,
	       median_ns(parse_req));
	printf("http_fwd_request    %zu-byte head: %5.0f ns\n", sizeof(req) - 1,
	       median_ns(fwd_req));
	printf("http_parse_response %zu-byte head: %5.0f ns\n",
	       sizeof(resp) - 1, median_ns(parse_resp));
	printf("http_fwd_response   %zu-byte head: %5.0f ns\n",
	       sizeof(resp) - 1, median_ns(fwd_resp));
	return 0;
}
