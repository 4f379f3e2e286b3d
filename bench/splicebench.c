/* splicebench.c - does splice(2) through a pipe pay off for tcp_proxy's
 * relay on loopback? Measures the CPU time a relay process spends per MB
 * moved from one TCP connection to another, copying through a buffer
 * (read/write, as tcp_proxy does) or moving pages through a pipe (splice,
 * socket -> pipe -> socket), with the same non-blocking epoll loop and
 * one read per readiness event. Also a plain source and sink, so that
 * bench/splice-cost.sh can time the real daemon the same way.
 *
 *   splicebench relay rw|splice MB [CHUNK]  source -> relay -> sink, here
 *   splicebench sink PORT                    accept, read, discard
 *   splicebench source PORT MB               connect, write MB, close
 *
 * relay prints: mode, MB, relay CPU seconds (user+sys), wall seconds,
 * CPU ms per MB. Loopback only. Not a test: numbers for the README. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void die(const char *what)
{
	perror(what);
	exit(1);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int listen_on(int port, int *bound)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_port = htons((uint16_t)port) };
	socklen_t len = sizeof(a);
	int one = 1, l = socket(AF_INET, SOCK_STREAM, 0);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (l < 0 ||
	    setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(l, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    listen(l, 16) < 0 || getsockname(l, (struct sockaddr *)&a, &len) < 0)
		die("listen");
	*bound = ntohs(a.sin_port);
	return l;
}

static int connect_to(int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_port = htons((uint16_t)port) };
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0)
		die("connect");
	return fd;
}

/* Reads one connection to its end; returns the bytes. */
static long long drain(int fd)
{
	static char buf[1 << 17];
	long long total = 0;
	ssize_t n;

	while ((n = read(fd, buf, sizeof(buf))) > 0)
		total += n;
	return total;
}

static void sink_forever(int l)
{
	for (;;) {
		int fd = accept(l, NULL, NULL);

		if (fd < 0)
			die("accept");
		drain(fd);
		close(fd);
	}
}

static void source(int port, long long mb)
{
	static char buf[1 << 17];
	long long left = mb << 20;
	int fd = connect_to(port);

	memset(buf, 'x', sizeof(buf));
	while (left > 0) {
		ssize_t n = write(fd, buf,
				  left < (long long)sizeof(buf) ? (size_t)left :
								  sizeof(buf));

		if (n < 0)
			die("write");
		left -= n;
	}
	close(fd);
}

static void nonblock(int fd)
{
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

/* The relay: src to dst until src's EOF, then dst's FIN. Level-triggered
 * epoll, src not read while dst is backed up, as in tcp_proxy. */
static void relay(int src, int dst, int use_splice, size_t chunk)
{
	int ep = epoll_create1(0), p[2] = { -1, -1 };
	struct epoll_event ev = { .events = EPOLLIN, .data.fd = src };
	char *buf = malloc(chunk);
	size_t held = 0, off = 0;

	nonblock(src);
	nonblock(dst);
	if (use_splice && (pipe2(p, O_NONBLOCK) < 0 ||
			   fcntl(p[0], F_SETPIPE_SZ, (int)chunk) < 0))
		die("pipe");
	epoll_ctl(ep, EPOLL_CTL_ADD, src, &ev);
	ev = (struct epoll_event){ .events = 0, .data.fd = dst };
	epoll_ctl(ep, EPOLL_CTL_ADD, dst, &ev);
	for (int eof = 0; !eof || held;) {
		struct epoll_event got[2];
		int n = epoll_wait(ep, got, 2, -1);

		for (int i = 0; i < n; i++) {
			ssize_t k;

			if (got[i].data.fd == src && !held) {
				k = use_splice ?
					    splice(src, NULL, p[1], NULL, chunk,
						   SPLICE_F_MOVE |
							   SPLICE_F_NONBLOCK) :
					    read(src, buf, chunk);
				if (k < 0 && errno == EAGAIN)
					continue;
				if (k < 0)
					die("read");
				if (k == 0) {
					eof = 1;
					ev = (struct epoll_event){ 0,
								   { .fd = src } };
					epoll_ctl(ep, EPOLL_CTL_MOD, src, &ev);
					continue;
				}
				held = (size_t)k;
				off = 0;
			}
			/* Write what is held; what dst does not take waits for
			 * EPOLLOUT, and src is not read meanwhile. */
			while (held) {
				k = use_splice ?
					    splice(p[0], NULL, dst, NULL, held,
						   SPLICE_F_MOVE |
							   SPLICE_F_NONBLOCK) :
					    write(dst, buf + off, held);
				if (k < 0 && errno == EAGAIN)
					break;
				if (k < 0)
					die("write");
				held -= (size_t)k;
				off += (size_t)k;
			}
			ev.data.fd = dst;
			ev.events = held ? EPOLLOUT : 0;
			epoll_ctl(ep, EPOLL_CTL_MOD, dst, &ev);
			ev.data.fd = src;
			ev.events = held || eof ? 0 : EPOLLIN;
			epoll_ctl(ep, EPOLL_CTL_MOD, src, &ev);
		}
	}
	shutdown(dst, SHUT_WR);
	drain(src);
}

static void relay_bench(const char *mode, long long mb, size_t chunk)
{
	int use_splice = !strcmp(mode, "splice"), sport, rport;
	int sl = listen_on(0, &sport), rl = listen_on(0, &rport);
	pid_t sink, rel, src;
	struct rusage ru;
	int st;
	double t0;

	if ((sink = fork()) == 0) {
		int fd = accept(sl, NULL, NULL);

		drain(fd);
		_exit(0);
	}
	if ((rel = fork()) == 0) {
		int in = accept(rl, NULL, NULL), out = connect_to(sport);

		relay(in, out, use_splice, chunk);
		_exit(0);
	}
	t0 = now_s();
	if ((src = fork()) == 0) {
		source(rport, mb);
		_exit(0);
	}
	if (wait4(rel, &st, 0, &ru) < 0 || !WIFEXITED(st) || WEXITSTATUS(st))
		die("relay");
	double wall = now_s() - t0;
	double cpu = ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
		     ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;

	waitpid(src, NULL, 0);
	waitpid(sink, NULL, 0);
	printf("%-6s chunk %6zu  %5lld MB  relay cpu %6.3f s (user %.3f sys %.3f)  wall %6.3f s  %.3f ms/MB\n",
	       mode, chunk, mb, cpu,
	       ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6,
	       ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6, wall,
	       cpu * 1000 / (double)mb);
	close(sl);
	close(rl);
}

int main(int argc, char **argv)
{
	signal(SIGPIPE, SIG_IGN);
	if (argc >= 4 && !strcmp(argv[1], "relay")) {
		relay_bench(argv[2], atoll(argv[3]),
			    argc > 4 ? (size_t)atol(argv[4]) : 16384);
		return 0;
	}
	if (argc == 3 && !strcmp(argv[1], "sink")) {
		int port;

		sink_forever(listen_on(atoi(argv[2]), &port));
	}
	if (argc == 4 && !strcmp(argv[1], "source")) {
		source(atoi(argv[2]), atoll(argv[3]));
		return 0;
	}
	fprintf(stderr,
		"usage: splicebench relay rw|splice MB [CHUNK] | sink PORT | source PORT MB\n");
	return 2;
}
