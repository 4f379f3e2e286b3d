/* closebench.c - what the kernel alone charges for closing idle loopback
 * TCP connections, for comparison with a daemon's shutdown
 * (bench/shutdown-cost.sh). PROCS processes each open PAIRS connections
 * to themselves, then all close their server ends at once, by MODE:
 *   rst   SO_LINGER 0, then close (what reuseportd does at the deadline)
 *   fin   close
 *   shut  shutdown(SHUT_WR), then close
 * Prints the closing processes' own CPU (utime+stime) per connection and
 * the wall time. Loopback only; each process stays under 20,000 fds.
 *
 *   cc -O2 -o closebench bench/closebench.c && ./closebench rst 20 9000
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_PROCS 250

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static double cpu_us(const struct rusage *r)
{
	return (double)(r->ru_utime.tv_sec + r->ru_stime.tv_sec) * 1e6 +
	       (double)(r->ru_utime.tv_usec + r->ru_stime.tv_usec);
}

/* One process: n pairs on 127.10.0.(1+p), clients from 127.20.x.y. */
static void child(const char *mode, int p, int n, int ready, int go, int out)
{
	static const struct linger reset = { 1, 0 };
	struct sockaddr_in a = { .sin_family = AF_INET };
	int *srv = malloc((size_t)n * sizeof(int)), *cli = malloc((size_t)n * sizeof(int));
	socklen_t al = sizeof(a);
	struct rusage r0, r1;
	int l = socket(AF_INET, SOCK_STREAM, 0), one = 1;
	double us;
	char c;

	if (!srv || !cli || l < 0)
		exit(1);
	setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	a.sin_addr.s_addr = htonl(0x7f0a0001u + (unsigned)p);
	if (bind(l, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(l, 4096) < 0 ||
	    getsockname(l, (struct sockaddr *)&a, &al) < 0)
		exit(1);
	for (int i = 0; i < n; i++) {
		struct sockaddr_in s = { .sin_family = AF_INET };

		s.sin_addr.s_addr = htonl(0x7f140001u + (unsigned)(i % 200) + 256u * (unsigned)p);
		cli[i] = socket(AF_INET, SOCK_STREAM, 0);
		if (cli[i] < 0 || bind(cli[i], (struct sockaddr *)&s, sizeof(s)) < 0 ||
		    connect(cli[i], (struct sockaddr *)&a, sizeof(a)) < 0 ||
		    (srv[i] = accept(l, NULL, NULL)) < 0) {
			perror("closebench: a connection");
			exit(1);
		}
	}
	close(l);
	if (write(ready, "r", 1) != 1 || read(go, &c, 1) != 1)
		exit(1);
	getrusage(RUSAGE_SELF, &r0);
	for (int i = 0; i < n; i++) {
		if (!strcmp(mode, "rst"))
			setsockopt(srv[i], SOL_SOCKET, SO_LINGER, &reset, sizeof(reset));
		else if (!strcmp(mode, "shut"))
			shutdown(srv[i], SHUT_WR);
		close(srv[i]);
	}
	getrusage(RUSAGE_SELF, &r1);
	us = cpu_us(&r1) - cpu_us(&r0);
	if (write(out, &us, sizeof(us)) != sizeof(us) || write(ready, "d", 1) != 1)
		exit(1);
	pause();
	exit(0);
}

int main(int argc, char **argv)
{
	int ready[2], go[2], out[2], procs, pairs;
	pid_t kids[MAX_PROCS];
	double t0, t1, us = 0, one;
	char c;

	if (argc != 4 || (strcmp(argv[1], "rst") && strcmp(argv[1], "fin") &&
			  strcmp(argv[1], "shut"))) {
		fprintf(stderr, "usage: closebench rst|fin|shut PROCS PAIRS\n");
		return 2;
	}
	procs = atoi(argv[2]);
	pairs = atoi(argv[3]);
	if (procs < 1 || procs > MAX_PROCS || pairs < 1 || pairs > 9500) {
		fprintf(stderr, "closebench: 1-%d processes of 1-9500 pairs\n", MAX_PROCS);
		return 2;
	}
	if (pipe(ready) < 0 || pipe(go) < 0 || pipe(out) < 0)
		return 1;
	for (int p = 0; p < procs; p++)
		if ((kids[p] = fork()) == 0)
			child(argv[1], p, pairs, ready[1], go[0], out[1]);
	for (int p = 0; p < procs; p++)
		if (read(ready[0], &c, 1) != 1)
			return 1;
	t0 = now();
	for (int p = 0; p < procs; p++)
		if (write(go[1], "g", 1) != 1)
			return 1;
	for (int p = 0; p < procs; p++)
		if (read(ready[0], &c, 1) != 1 || read(out[0], &one, sizeof(one)) != sizeof(one))
			return 1;
		else
			us += one;
	t1 = now();
	printf("%s: %d connections closed in %.2f s; the closing processes' CPU: %.1f us per connection\n",
	       argv[1], procs * pairs, t1 - t0, us / (procs * pairs));
	for (int p = 0; p < procs; p++)
		kill(kids[p], SIGTERM);
	while (wait(NULL) > 0)
		;
	return 0;
}
