/* test_daemon_exhaust.c - the master under resource exhaustion and abuse
 * of its stats socket: out of descriptors it pauses instead of spinning,
 * and says so once, not once per wake-up; too many clients of the metrics
 * endpoint get an HTTP answer; clients that ask for big answers and never
 * read them cannot grow the master's memory past a bound, and the memory
 * goes back once they are gone. */
#include "autoconfig.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"

/* Lines of the daemon's log that contain needle. */
static int log_count(const struct hr_daemon *d, const char *needle)
{
	char *log = hr_log_read(d), *p = log;
	int n = 0;

	hr_check(log != NULL, "log: out of memory");
	while ((p = strstr(p, needle))) {
		n++;
		p += strlen(needle);
	}
	free(log);
	return n;
}

/* VmRSS of pid in KiB, or -1. */
static int log_has_pause(void *arg)
{
	return hr_log_contains(arg, "stats socket: accept: Too many open files");
}

static int log_has_metrics_pause(void *arg)
{
	return hr_log_contains(arg,
			       "metrics endpoint: accept: Too many open files");
}

/* Polls cond(arg) until it holds or the deadline passes. */
static int wait_until(int (*cond)(void *), void *arg, int timeout_ms)
{
	int64_t end = hr_now_ms() + timeout_ms;

	while (!cond(arg)) {
		if (hr_now_ms() > end)
			return 0;
		poll(NULL, 0, 20);
	}
	return 1;
}

/* More stats clients than the master has descriptors for: it stops
 * accepting for a moment instead of spinning on the waiting client, logs
 * it once, and serves again as soon as descriptors come back. */
static void test_stats_socket_out_of_descriptors(void **state)
{
	struct hr_daemon *d = *state;
	enum { N = 60 };
	const char *args[] = { "-w", "1", NULL };
	int fds[N];
	long long t0, used;
	json_t *doc;

	d->nofile = 40;
	hr_start_ok(d, args);
	for (int i = 0; i < N; i++) {
		fds[i] = hr_ctl_connect(d->sock, 5000);
		hr_check(fds[i] >= 0, "client %d: %s", i, strerror(errno));
	}
	hr_check(wait_until(log_has_pause, d, 5000),
		 "expected the master to run out of descriptors and say so");
	t0 = hr_proc_cpu_ticks(d->pid);
	poll(NULL, 0, 1000);
	used = hr_proc_cpu_ticks(d->pid) - t0;
	hr_check(used <= 10,
		 "master CPU while out of descriptors: expected near zero, seen %lld ticks in 1 s",
		 used);
	hr_check(log_count(d, "stats socket: accept:") <= 2,
		 "expected one warning per 10 s, seen %d lines",
		 log_count(d, "stats socket: accept:"));
	hr_close_all(fds, N);
	doc = hr_query(d, "ping");
	hr_check(doc && json_is_true(json_object_get(doc, "pong")),
		 "ping once the descriptors are back: %s", hr_jdump(doc));
	json_decref(doc);
	hr_check_int("exit status after SIGTERM", 0, hr_stop(d, SIGTERM));
}

/* A free TCP port for the metrics endpoint (bound, read, released). */
static int free_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0), port = -1;
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t len = sizeof(a);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&a, &len) == 0)
		port = ntohs(a.sin_port);
	close(fd);
	return port;
}

/* Past its client limit (128) the metrics endpoint answers in HTTP. */
static void test_metrics_endpoint_full(void **state)
{
	struct hr_daemon *d = *state;
	enum { N = 130 };
	char conf[160], resp[512];
	int mp = free_port(), fds[N], extra;
	ssize_t n;
	FILE *f;

	snprintf(conf, sizeof(conf), "%s/m.conf", d->dir);
	f = fopen(conf, "w");
	hr_check(f != NULL, "%s: %s", conf, strerror(errno));
	fprintf(f, "metrics_listen 127.0.0.1:%d\n", mp);
	fclose(f);
	const char *args[] = { "-c", conf, "-w", "1", NULL };

	hr_start_ok(d, args);
	for (int i = 0; i < N; i++) {
		fds[i] = hr_connect_tcp(mp);
		hr_check(fds[i] >= 0, "metrics client %d", i);
	}
	extra = hr_connect_tcp(mp);
	hr_check(extra >= 0, "one more metrics client");
	n = hr_read_until_eof(extra, resp, sizeof(resp) - 1, 5000);
	close(extra);
	hr_check(n > 0, "expected an answer to the client past the limit");
	resp[n] = '\0';
	hr_check(!strncmp(resp, "HTTP/1.1 503 ", 13),
		 "expected an HTTP 503, seen: %.100s", resp);
	hr_close_all(fds, N);
	hr_check_int("exit status after SIGTERM", 0, hr_stop(d, SIGTERM));
}

/* The same for the metrics endpoint: out of descriptors it pauses, says
 * so once, and answers again when descriptors come back. */
static void test_metrics_out_of_descriptors(void **state)
{
	struct hr_daemon *d = *state;
	enum { N = 60 };
	char conf[160], resp[4096];
	int mp = free_port(), fds[N], fd;
	long long t0, used;
	ssize_t n;
	FILE *f;

	snprintf(conf, sizeof(conf), "%s/m.conf", d->dir);
	f = fopen(conf, "w");
	hr_check(f != NULL, "%s: %s", conf, strerror(errno));
	fprintf(f, "metrics_listen 127.0.0.1:%d\n", mp);
	fclose(f);
	const char *args[] = { "-c", conf, "-w", "1", NULL };

	d->nofile = 40;
	hr_start_ok(d, args);
	for (int i = 0; i < N; i++) {
		fds[i] = hr_connect_tcp(mp);
		hr_check(fds[i] >= 0, "metrics client %d", i);
	}
	hr_check(wait_until(log_has_metrics_pause, d, 5000),
		 "expected the master to run out of descriptors on the metrics endpoint");
	t0 = hr_proc_cpu_ticks(d->pid);
	poll(NULL, 0, 1000);
	used = hr_proc_cpu_ticks(d->pid) - t0;
	hr_check(used <= 10,
		 "master CPU while out of descriptors: %lld ticks in 1 s", used);
	hr_check(log_count(d, "metrics endpoint: accept:") <= 2,
		 "one warning per 10 s");
	hr_close_all(fds, N);
	static const char get[] = "GET /metrics HTTP/1.1\r\n\r\n";

	fd = hr_connect_tcp(mp);
	hr_check(fd >= 0 && hr_write_all(fd, get, sizeof(get) - 1, 2000) ==
				    (ssize_t)sizeof(get) - 1,
		 "a scrape once the descriptors are back");
	n = hr_read_until_eof(fd, resp, sizeof(resp) - 1, 5000);
	close(fd);
	hr_check(n > 12 && !strncmp(resp, "HTTP/1.1 200", 12), "scrape answered");
	hr_check_int("exit status after SIGTERM", 0, hr_stop(d, SIGTERM));
}

/* Clients that ask for big answers and never read them: what the master
 * holds for them stays under its budget (8 MiB), later ones are told it
 * is busy, and the memory goes back once they are gone. */
static void test_unread_answers_are_bounded(void **state)
{
	struct hr_daemon *d = *state;
	/* A listing of CONNS rows (about 145 bytes each, 2 MB) is more
	 * than the master queues for one client (1 MiB) plus what a Unix
	 * socket buffers (under 0.5 MiB): a client that does not read keeps
	 * its listing running, whatever the timing. */
	enum { CONNS = 14000, CLIENTS = 40, LAST = 5 };
	static int conns[CONNS], clients[CLIENTS];
	const char *args[] = { "-w", "2", NULL };
	char err[256], buf[512];
	long base, peak = 0, after;
	int busy = 0;

	hr_start_ok(d, args);
	hr_check(hr_connect_many(AF_INET, d->port, CONNS, 256, 20000, conns,
				 err, sizeof(err)) == 0,
		 "connect: %s", err);
	base = hr_rss_kib(d->pid);
	for (int i = 0; i < CLIENTS; i++) {
		struct pollfd p;

		clients[i] = hr_ctl_connect(d->sock, 5000);
		hr_check(clients[i] >= 0, "stats client %d", i);
		hr_check(hr_write_all(clients[i], "connections 100000\n", 19,
				      2000) == 19,
			 "send");
		/* Its answer has begun to arrive: the next one may ask. */
		p = (struct pollfd){ .fd = clients[i], .events = POLLIN };
		hr_check(poll(&p, 1, 4000) == 1, "client %d: no answer", i);
		if (hr_rss_kib(d->pid) > peak)
			peak = hr_rss_kib(d->pid);
	}
	for (int i = CLIENTS - LAST; i < CLIENTS; i++) {
		ssize_t n = recv(clients[i], buf, sizeof(buf) - 1, MSG_DONTWAIT);

		buf[n > 0 ? n : 0] = '\0';
		if (n > 0 && !strncmp(buf, "{\"error\":\"busy: ", 16))
			busy++;
		else
			printf("# client %d: %.100s\n", i, buf);
	}
	hr_check_int("of the last clients, told the master is busy", LAST, busy);
	hr_check(peak - base < 24 * 1024,
		 "master RSS: expected under its 8 MiB budget plus the answer being built, seen %ld KiB over %ld",
		 peak - base, base);
	hr_close_all(clients, CLIENTS);
	json_decref(hr_query_ok(d, "ping"));
	after = hr_rss_kib(d->pid);
	printf("# master RSS: %ld KiB at rest, %ld KiB at the peak, %ld KiB after\n",
	       base, peak, after);
#ifndef __SANITIZE_ADDRESS__
	/* (AddressSanitizer keeps freed memory in quarantine: the figures
	 * are printed, not held to.) */
	hr_check(after - base < 8 * 1024,
		 "master RSS once the clients are gone: expected back near %ld KiB, seen %ld",
		 base, after);
#endif
	hr_close_all(conns, CONNS);
	hr_check_int("exit status after SIGTERM", 0, hr_stop(d, SIGTERM));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_stats_socket_out_of_descriptors,
						hr_setup, hr_teardown),
		cmocka_unit_test_setup_teardown(test_metrics_endpoint_full,
						hr_setup, hr_teardown),
		cmocka_unit_test_setup_teardown(test_metrics_out_of_descriptors,
						hr_setup, hr_teardown),
		cmocka_unit_test_setup_teardown(test_unread_answers_are_bounded,
						hr_setup, hr_teardown),
	};

	return cmocka_run_group_tests_name("daemon_exhaust", tests, NULL, NULL);
}
