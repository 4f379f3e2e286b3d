/* test_daemon_upstreams.c - what the TCP proxy tells of its servers, end
 * to end: the real daemon between real clients and a real echo server
 * (a second reuseportd), asked over its stats socket: per-server state
 * and why, errors by cause, latency histograms merged over the workers,
 * and the ports each source range holds toward each server, up to the
 * wall where the kernel has none left (EADDRNOTAVAIL). */
#include "autoconfig.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"

#define T_MS 10000
#define NCLIENTS 12

/* The proxy with `workers` workers and these directives besides
 * "protocol tcp_proxy". */
static void start_proxy(struct hr_daemon *d, const char *workers, const char *fmt,
			...) __attribute__((format(printf, 3, 4)));

static void start_proxy(struct hr_daemon *d, const char *workers,
			const char *fmt, ...)
{
	const char *const extra[] = { "-w", workers, NULL };
	va_list ap;

	va_start(ap, fmt);
	hr_start_conf(d, extra, "protocol tcp_proxy\n", fmt, ap);
	va_end(ap);
}

/* Waits until totals/PATH of `stats` is (at least) want. */
static void wait_total(struct hr_daemon *d, const char *path, json_int_t want,
		       int at_least)
{
	char full[192];

	snprintf(full, sizeof(full), "totals/%s", path);
	hr_wait_int(d, full, want, at_least, T_MS);
}

/* One byte-checked round trip through the proxy. */
static int echo_once(int fd, const char *msg)
{
	char got[64];
	size_t len = strlen(msg);

	if (hr_write_all(fd, msg, len, T_MS) != (ssize_t)len ||
	    hr_read_exact(fd, got, len, T_MS) != (ssize_t)len)
		return -1;
	return memcmp(got, msg, len) == 0 ? 0 : -1;
}

/* The server row of `upstreams` for addr (the test fails without it). */
static json_t *server_row(json_t *doc, const char *addr)
{
	json_t *ups = json_object_get(doc, "upstreams"), *row;
	size_t i;

	json_array_foreach(ups, i, row)
		if (!strcmp(hr_jstr(row, "server"), addr))
			return row;
	hr_check(0, "no row for %s in %s", addr, hr_jdump(doc));
	return NULL;
}

/* A raw `prometheus` answer (text, not JSON). */
static void prometheus(struct hr_daemon *d, char *buf, size_t cap)
{
	hr_check(hr_ctl_raw(d->sock, "prometheus\n", 11, 0, buf, cap, T_MS) > 0,
		 "a prometheus answer");
}

/* `reuseportctl upstreams` against the daemon, its output in buf. */
static void ctl_upstreams(struct hr_daemon *d, char *buf, size_t cap)
{
	char cmd[512];
	FILE *p;
	size_t n;

	snprintf(cmd, sizeof(cmd), "'%s' -s '%s' upstreams", RC_BIN, d->sock);
	p = popen(cmd, "r");
	hr_check(p != NULL, "popen: %s", strerror(errno));
	n = fread(buf, 1, cap - 1, p);
	buf[n] = '\0';
	hr_check_int("reuseportctl upstreams exits 0", 0, pclose(p));
}

/* Two workers in front of an echo server and a port that refuses, the
 * connections leaving from 127.0.0.2-127.0.0.4. After 12 clients echo
 * through: the echo server is up with 12 connects, 12 connect times and
 * 12 answer times (merged over both workers), and 12 ports in use of
 * 3 x ip_local_port_range; the refusing one is down for "failures",
 * its refusals counted as refused. Prometheus says the same. When the
 * clients go, the ports are free again. */
static void test_upstreams_view(void **state)
{
	struct hr_daemon *d = *state, *e = hr_echo_daemon();
	char good[32], bad[32], key[160];
	int fds[NCLIENTS], badport, rs = hr_refusing_port(&badport);
	json_t *doc, *row, *src;
	long lo = 0, hi = 0;
	FILE *f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "r");
	char *text = malloc(1 << 20);

	hr_check(f && fscanf(f, "%ld %ld", &lo, &hi) == 2, "the port range");
	fclose(f);
	snprintf(good, sizeof(good), "127.0.0.1:%d", e->port);
	snprintf(bad, sizeof(bad), "127.0.0.1:%d", badport);
	start_proxy(d, "2",
		    "upstream %s\nupstream %s max_fails=1 fail_timeout=1h\n"
		    "proxy_source 127.0.0.2-127.0.0.4\n",
		    good, bad);
	for (int i = 0; i < NCLIENTS; i++) {
		fds[i] = hr_connect_tcp(d->port);
		hr_check(fds[i] >= 0, "client %d connects", i);
		/* A refused connect is retried on the echo server. */
		hr_check(echo_once(fds[i], "ping") == 0, "client %d echoes", i);
	}
	snprintf(key, sizeof(key),
		 "upstream_ports_in_use/127.0.0.2-127.0.0.4/%s", good);
	wait_total(d, key, NCLIENTS, 0);

	doc = hr_query_ok(d, "upstreams");
	hr_check_int("workers", 2, hr_jint(doc, "workers"));
	row = server_row(doc, good);
	hr_check(!strcmp(hr_jstr(row, "state"), "up"), "%s", hr_jdump(row));
	hr_check_int("active", NCLIENTS, hr_jint(row, "active"));
	hr_check_int("connects", NCLIENTS, hr_jint(row, "connects"));
	hr_check_int("connect times", NCLIENTS, hr_jint(row, "connect_us/count"));
	hr_check_int("answer times", NCLIENTS, hr_jint(row, "response_us/count"));
	hr_check(json_real_value(hr_jget(row, "connect_us/p99")) >=
				 json_real_value(hr_jget(row, "connect_us/p50")) &&
			 json_real_value(hr_jget(row, "connect_us/p50")) > 0,
		 "p50 <= p99: %s", hr_jdump(row));
	hr_check_int("no errors", 0, hr_jint(row, "errors/total"));
	src = json_array_get(json_object_get(row, "sources"), 0);
	hr_check(!strcmp(hr_jstr(src, "source"), "127.0.0.2-127.0.0.4"), "%s",
		 hr_jdump(src));
	hr_check_int("ports in use", NCLIENTS, hr_jint(src, "in_use"));
	hr_check_int("ports available", 3 * (hi - lo + 1),
		     hr_jint(src, "available"));
	hr_check(json_is_false(json_object_get(src, "high")), "%s", hr_jdump(src));

	row = server_row(doc, bad);
	hr_check(!strcmp(hr_jstr(row, "state"), "down") ||
			 !strcmp(hr_jstr(row, "state"), "partial"),
		 "the refusing server is down: %s", hr_jdump(row));
	hr_check(hr_jint(row, "down_reasons/failures") >= 1, "%s", hr_jdump(row));
	hr_check_int("no check", 0, hr_jint(row, "down_reasons/check"));
	hr_check(hr_jint(row, "errors/refused") >= 1 &&
			 hr_jint(row, "errors/refused") ==
				 hr_jint(row, "errors/total"),
		 "refusals by cause: %s", hr_jdump(row));
	json_decref(doc);

	prometheus(d, text, 1 << 20);
	snprintf(key, sizeof(key),
		 "reuseportd_upstream_connect_seconds_count{upstream=\"%s\"} %d\n",
		 good, NCLIENTS);
	hr_check(strstr(text, key), "%s in the Prometheus text", key);
	snprintf(key, sizeof(key),
		 "reuseportd_upstream_source_ports_headroom_ratio{source=\"127.0.0.2-127.0.0.4\",upstream=\"%s\"}",
		 good);
	hr_check(strstr(text, key), "%s in the Prometheus text", key);
	snprintf(key, sizeof(key), "upstream=\"%s\",reason=\"refused\"} 1\n", bad);
	hr_check(strstr(text, key), "%s in the Prometheus text", key);

	ctl_upstreams(d, text, 1 << 20);
	hr_check(strstr(text, "SOURCE PORTS") && strstr(text, good) &&
			 strstr(text, "127.0.0.2-127.0.0.4 100.0% free (12/"),
		 "reuseportctl upstreams shows it: %s", text);

	hr_close_all(fds, NCLIENTS);
	snprintf(key, sizeof(key),
		 "upstream_ports_in_use/127.0.0.2-127.0.0.4/%s", good);
	wait_total(d, key, 0, 0);
	free(text);
	close(rs);
	hr_check_int("stopped", 0, hr_stop(d, SIGTERM));
	hr_stop_free(e);
}

static int state_is_up(json_t *st, void *arg)
{
	return hr_jint(st, (const char *)arg) == 0;
}

/* A server marked down by failed connects shows up again once its
 * fail_timeout has passed, with no connection to try it: the state is
 * not left as the last connect saw it. */
static void test_down_then_up_without_traffic(void **state)
{
	struct hr_daemon *d = *state;
	int badport, rs = hr_refusing_port(&badport), fd;
	char bad[32], key[96];
	json_t *doc;
	int64_t t0;

	snprintf(bad, sizeof(bad), "127.0.0.1:%d", badport);
	start_proxy(d, "1", "upstream %s max_fails=1 fail_timeout=3s\n", bad);
	t0 = hr_now_ms();
	fd = hr_connect_tcp(d->port);
	hr_check(fd >= 0, "a client");
	hr_check(hr_wait_closed(fd, T_MS), "closed: no server takes it");
	close(fd);
	snprintf(key, sizeof(key), "totals/upstream_down/%s", bad);
	doc = hr_query_ok(d, "upstreams");
	/* Down for 3 s from the refusal: a look within 2.5 s of the client's
	 * connect must see it so (a starved machine may look later). */
	if (hr_now_ms() - t0 < 2500)
		hr_check(!strcmp(hr_jstr(server_row(doc, bad), "state"), "down") &&
				 hr_jint(server_row(doc, bad),
					 "down_reasons/failures") == 1,
			 "down after a refusal: %s", hr_jdump(doc));
	else
		hr_note("the first look came after the fail_timeout");
	json_decref(doc);
	hr_check(hr_wait_for(d, state_is_up, key, T_MS),
		 "up again after fail_timeout");
	doc = hr_query_ok(d, "upstreams");
	hr_check(!strcmp(hr_jstr(server_row(doc, bad), "state"), "up"), "%s",
		 hr_jdump(doc));
	hr_check(hr_jint(server_row(doc, bad), "errors/refused") >= 1,
		 "the refusal stays counted: %s", hr_jdump(doc));
	json_decref(doc);
	close(rs);
	hr_check_int("stopped", 0, hr_stop(d, SIGTERM));
}

/* IP_LOCAL_PORT_RANGE (Linux 6.3): without it a small port range
 * cannot be given to the proxy alone. */
static int port_range_supported(void)
{
	uint32_t v = 40000u << 16 | 30000u;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), ok;

	ok = fd >= 0 && setsockopt(fd, IPPROTO_IP, 51, &v, sizeof(v)) == 0;
	if (fd >= 0)
		close(fd);
	return ok;
}

/* A reset close: the proxy resets the server's side too, so that its
 * port is free at once (no TIME_WAIT). */
static void close_reset(int fd)
{
	struct linger l = { 1, 0 };

	setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
	close(fd);
}

#define WALL 8

/* 1 if local port port cannot carry a new connection to port dst: a
 * socket on it is listening or only bound (a port taken with bind() is
 * skipped by a connect's port search whatever its address), or is
 * connected to dst already (the same 4-tuple). Sockets on it toward
 * other ports, TIME_WAIT ones included, leave it free for dst: a port
 * a connect chose is shared by 4-tuple - and the machine may hold tens
 * of thousands of them in TIME_WAIT from other tests. */
static int port_taken(int port, int dst)
{
	static const char *const files[] = { "/proc/net/tcp", "/proc/net/tcp6" };
	char line[512];

	for (size_t i = 0; i < 2; i++) {
		FILE *f = fopen(files[i], "r");

		while (f && fgets(line, sizeof(line), f)) {
			unsigned lport, rport, st;

			/* "  N: ADDR:PORT REMADDR:PORT ST ..." */
			if (sscanf(line,
				   "%*d: %*[0-9A-Fa-f]:%x %*[0-9A-Fa-f]:%x %x",
				   &lport, &rport, &st) != 3 ||
			    (int)lport != port)
				continue;
			/* 0A: LISTEN, 07: CLOSE (bound, not connected) */
			if (st == 0x0a || st == 0x07 || (int)rport == dst) {
				fclose(f);
				return 1;
			}
		}
		if (f)
			fclose(f);
	}
	return 0;
}

/* 1 if a connect to 127.0.0.1:dst can leave from local port port now,
 * tried as the proxy will: IP_BIND_ADDRESS_NO_PORT and a one-port
 * IP_LOCAL_PORT_RANGE. A socket's state cannot tell it: a port bound
 * once with bind() (a listener on port 0 takes one from the range) stays
 * closed to connects while any socket of it lingers in TIME_WAIT. The
 * probe is reset, so it leaves no TIME_WAIT of its own. */
static int port_usable(int port, int dst)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_port = htons((uint16_t)dst),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct sockaddr_in l = { .sin_family = AF_INET,
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(l);
	uint32_t range = (uint32_t)port << 16 | (uint32_t)port;
	int one = 1, ok;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	ok = fd >= 0 &&
	     setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one,
			sizeof(one)) == 0 &&
	     setsockopt(fd, IPPROTO_IP, 51, &range, sizeof(range)) == 0 &&
	     bind(fd, (struct sockaddr *)&l, sizeof(l)) == 0 &&
	     connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
	     getsockname(fd, (struct sockaddr *)&l, &len) == 0 &&
	     ntohs(l.sin_port) == port;
	if (fd >= 0)
		close_reset(fd);
	return ok;
}

/* WALL consecutive ports of ip_local_port_range (lo..hi) free for a
 * connection to port dst now (port_taken; other tests share the range,
 * and one of them uses up the whole range for a while), from a random
 * place; 0 if none. */
static int free_ports_in(long lo, long hi, int dst)
{
	long span = (hi - lo + 1) / WALL, start = (long)(hr_now_us() % 7919);

	for (long k = 0; k < span; k++) {
		int base = (int)(lo + ((start + k) % span) * WALL), p = base;

		while (p < base + WALL && !port_taken(p, dst))
			p++;
		if (p == base + WALL)
			for (p = base; p < base + WALL && port_usable(p, dst);)
				p++;
		if (p == base + WALL)
			return base;
	}
	return 0;
}

/* The same, waiting up to T_MS for a block to come free. */
static int free_ports(int dst)
{
	int64_t end = hr_now_ms() + 3 * T_MS;
	long lo = 0, hi = 0;
	FILE *f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "r");
	int base;

	hr_check(f && fscanf(f, "%ld %ld", &lo, &hi) == 2, "the port range");
	fclose(f);
	while (!(base = free_ports_in(lo, hi, dst)) && hr_now_ms() < end)
		poll(NULL, 0, 500); /* TIME_WAIT of others: seconds */
	return base;
}

static struct hr_daemon *the_daemon;

static int log_says(json_t *st, void *arg)
{
	(void)st;
	return hr_log_contains(the_daemon, arg);
}

/* The wall, small: 8 local ports (proxy_port_range: 8 that no socket
 * uses) toward one server. 8 clients take them all: 100 % in use, flagged in
 * `upstreams` and `limits`, warned of in the log. The 9th is closed for
 * want of a port (EADDRNOTAVAIL: no_port, proxy_port_exhausted) and the
 * proxy goes on: once one of the 8 is gone, a new client echoes. */
static void test_port_wall(void **state)
{
	struct hr_daemon *d = *state, *e;
	int fds[WALL], extra, base;
	char good[32], key[160];
	json_t *doc, *src, *lim;

	if (!port_range_supported()) {
		hr_note("no IP_LOCAL_PORT_RANGE (Linux 6.3+): skipped");
		skip();
	}
	e = hr_echo_daemon();
	the_daemon = d;
	base = free_ports(e->port);
	hr_check(base > 0, "%d free ports in a row", WALL);
	snprintf(good, sizeof(good), "127.0.0.1:%d", e->port);
	start_proxy(d, "1", "upstream %s max_fails=0\nproxy_port_range %d-%d\n",
		    good, base, base + WALL - 1);
	for (int i = 0; i < WALL; i++) {
		fds[i] = hr_connect_tcp(d->port);
		hr_check(fds[i] >= 0 && echo_once(fds[i], "x") == 0,
			 "client %d echoes", i);
	}
	snprintf(key, sizeof(key), "upstream_ports_in_use/(kernel)/%s", good);
	wait_total(d, key, WALL, 0);
	doc = hr_query_ok(d, "upstreams");
	src = json_array_get(json_object_get(server_row(doc, good), "sources"), 0);
	hr_check(!strcmp(hr_jstr(src, "source"), "(kernel)"), "%s", hr_jdump(src));
	hr_check_int("available", WALL, hr_jint(src, "available"));
	hr_check(json_real_value(json_object_get(src, "use_pct")) == 100.0 &&
			 json_is_true(json_object_get(src, "high")),
		 "all in use, flagged: %s", hr_jdump(src));
	json_decref(doc);
	lim = hr_query_ok(d, "limits");
	hr_check(json_is_true(json_object_get(lim, "upstream_ports_high")),
		 "limits flags it: %s", hr_jdump(lim));
	hr_check(!strcmp(hr_jstr(lim, "upstream_ports/0/server"), good), "%s",
		 hr_jdump(lim));
	json_decref(lim);

	/* One more: no port left. */
	extra = hr_connect_tcp(d->port);
	hr_check(extra >= 0, "the 9th client is accepted");
	hr_check(hr_wait_closed(extra, T_MS), "and closed: no port for it");
	close(extra);
	wait_total(d, "proxy_port_exhausted", 1, 1);
	doc = hr_query_ok(d, "upstreams");
	hr_check(hr_jint(server_row(doc, good), "errors/no_port") >= 1, "%s",
		 hr_jdump(doc));
	hr_check(!strcmp(hr_jstr(server_row(doc, good), "state"), "up"),
		 "a local shortage does not mark the server down: %s",
		 hr_jdump(doc));
	json_decref(doc);
	/* The master looks once a second. */
	hr_check(hr_wait_for(d, log_says, "local ports in use", T_MS),
		 "the log warns");

	/* A port freed: the proxy serves a new client. */
	close_reset(fds[0]);
	wait_total(d, key, WALL - 1, 0);
	fds[0] = hr_connect_tcp(d->port);
	hr_check(fds[0] >= 0 && echo_once(fds[0], "again") == 0,
		 "a new client echoes after the wall");
	for (int i = 0; i < WALL; i++)
		close(fds[i]);
	hr_check_int("stopped", 0, hr_stop(d, SIGTERM));
	hr_stop_free(e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_upstreams_view, hr_setup,
						hr_teardown),
		cmocka_unit_test_setup_teardown(test_down_then_up_without_traffic,
						hr_setup, hr_teardown),
		cmocka_unit_test_setup_teardown(test_port_wall, hr_setup,
						hr_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
