/* test_daemon_vhost.c - virtual hosts of the real daemon over real
 * sockets: the Host field (case, port, final dot) or an absolute-form
 * target's host picks the document root, exact names before wildcards,
 * the longest wildcard first, the default docroot for the rest; Host
 * missing, repeated or malformed is a 400; the counts per vhost; a
 * reload that changes the vhosts; a docroot that is not there. */
#include "autoconfig.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "http_client.h"

/* DIR/NAME/who.txt saying NAME. */
static void site(struct hr_daemon *d, const char *name)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/%s", d->dir, name);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/%s/who.txt", d->dir, name);
	ht_write_file(path, name, strlen(name));
}

static void write_conf(struct hr_daemon *d, char *conf, size_t len,
		       const char *vhosts)
{
	char text[2048];

	snprintf(text, sizeof(text),
		 "protocol http\nworkers 2\ndocroot %s/default\n%s", d->dir,
		 vhosts);
	ht_write_conf(d, "vh.conf", text, conf, len);
}

/* The vhosts of the first configuration, relative to DIR (the daemon's
 * working directory and so the base of relative docroots). */
static const char vhosts1[] = "vhost a.example a\n"
			      "vhost *.example wild\n"
			      "vhost *.x.example deep\n"
			      "vhost b.x.example exact\n"
			      "vhost [::1] v6\n";

static void start(struct hr_daemon *d, char *conf, size_t len)
{
	static const char *const names[] = { "default", "a",     "wild",
					     "deep",    "exact", "v6" };

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		site(d, names[i]);
	write_conf(d, conf, len, vhosts1);

	const char *args[] = { "-c", conf, NULL };

	hr_check(hr_start(d, args) == 0, "the daemon did not start");
}

/* Which site answers req (sent on a fresh connection). */
static void served_by(int port, const char *req, const char *want)
{
	struct ht_response r;

	ht_fetch(port, req, &r, 0);
	hr_check(r.status == 200 && r.length == (long long)strlen(want) &&
			 !memcmp(r.body, want, strlen(want)),
		 "%s: want %s, got %d %.*s", req, want, r.status,
		 (int)(r.length > 0 ? r.length : 0), r.body ? r.body : "");
	free(r.body);
}

static void served_for_host(int port, const char *host, const char *want)
{
	char req[512];

	snprintf(req, sizeof(req), "GET /who.txt HTTP/1.1\r\nHost: %s\r\n\r\n",
		 host);
	served_by(port, req, want);
}

static void test_vhost_selection(void **state)
{
	static const struct {
		const char *host, *site;
	} cases[] = {
		{ "a.example", "a" },
		{ "A.Example:8080", "a" },    /* case and port ignored */
		{ "a.example.", "a" },        /* the final dot too */
		{ "z.example", "wild" },      /* a wildcard */
		{ "q.z.example:1", "wild" },  /* any depth */
		{ "example", "default" },     /* *.example is subdomains only */
		{ "y.x.example", "deep" },    /* the longest wildcard */
		{ "B.X.EXAMPLE", "exact" },   /* exact wins over wildcards */
		{ "x.example", "wild" },      /* *.x.example: not x.example */
		{ "[::1]:80", "v6" },         /* an IPv6 literal */
		{ "other.test", "default" },  /* no vhost: the docroot */
		{ "127.0.0.1:9", "default" }, /* an address */
		{ "", "default" },            /* empty Host (RFC 9112 3.2) */
	};
	struct hr_daemon *d = *state;
	char conf[256];

	start(d, conf, sizeof(conf));
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		served_for_host(d->port, cases[i].host, cases[i].site);
	/* absolute-form: its host wins over Host (RFC 9112 3.2.2). */
	served_by(d->port,
		  "GET http://a.example:8080/who.txt HTTP/1.1\r\nHost: z.example\r\n\r\n",
		  "a");
	served_by(d->port,
		  "GET HTTP://Other.Test/who.txt HTTP/1.1\r\nHost: a.example\r\n\r\n",
		  "default");
	/* HTTP/1.0 without Host: the default. */
	served_by(d->port, "GET /who.txt HTTP/1.0\r\n\r\n", "default");
	/* One connection, several hosts: each request on its own. */
	struct ht_client c;
	struct ht_response r;

	ht_open(&c, d->port);
	ht_request(&c, "GET /who.txt HTTP/1.1\r\nHost: a.example\r\n\r\n"
		       "GET /who.txt HTTP/1.1\r\nHost: z.example\r\n\r\n");
	hr_check(ht_read_response(&c, &r, 0) == 0 && r.length == 1 &&
			 r.body[0] == 'a',
		 "first pipelined: %s", r.head);
	free(r.body);
	hr_check(ht_read_response(&c, &r, 0) == 0 && r.length == 4 &&
			 !memcmp(r.body, "wild", 4),
		 "second pipelined: %s", r.head);
	free(r.body);
	ht_close(&c);

	/* Counted per vhost: 17 requests above, as listed. */
	json_t *st = hr_query_ok(d, "stats");
	char why[256];

	hr_check_int("a.example", 5,
		     hr_jint(st, "totals/vhost_requests/a.example"));
	hr_check_int("*.example", 4,
		     hr_jint(st, "totals/vhost_requests/*.example"));
	hr_check_int("*.x.example", 1,
		     hr_jint(st, "totals/vhost_requests/*.x.example"));
	hr_check_int("b.x.example", 1,
		     hr_jint(st, "totals/vhost_requests/b.x.example"));
	hr_check_int("[::1]", 1, hr_jint(st, "totals/vhost_requests/[::1]"));
	hr_check_int("(default)", 6,
		     hr_jint(st, "totals/vhost_requests/(default)"));
	hr_check_int("(other)", 0, hr_jint(st, "totals/vhost_requests/(other)"));
	hr_check(hr_jint(st, "workers/0/vhost_requests/a.example") +
				 hr_jint(st, "workers/1/vhost_requests/a.example") ==
			 5,
		 "workers' counts add up: %s", hr_jdump(st));
	hr_check(hr_totals_are_sum(st, why, sizeof(why)) == 0, "%s", why);
	json_decref(st);
	hr_check_int("stopped", 0, hr_stop(d, SIGTERM));
}

/* RFC 9112 3.2: an HTTP/1.1 request without Host, with two, or with one
 * that is not a host is a 400, whatever the vhosts. */
static void test_bad_host(void **state)
{
	static const char *const reqs[] = {
		"GET /who.txt HTTP/1.1\r\n\r\n",
		"GET /who.txt HTTP/1.1\r\nHost: a.example\r\nHost: a.example\r\n\r\n",
		"GET /who.txt HTTP/1.1\r\nHost: a.example\r\nhost: z.example\r\n\r\n",
		"GET /who.txt HTTP/1.1\r\nHost: a example\r\n\r\n",
		"GET /who.txt HTTP/1.1\r\nHost: user@a.example\r\n\r\n",
		"GET /who.txt HTTP/1.1\r\nHost: a.example:x\r\n\r\n",
		"GET /who.txt HTTP/1.1\r\nHost: a.example/x\r\n\r\n",
		"GET http://a.example/who.txt HTTP/1.1\r\n\r\n",
		"GET http://u@a.example/who.txt HTTP/1.1\r\nHost: a.example\r\n\r\n",
	};
	struct hr_daemon *d = *state;
	struct ht_response r;
	char conf[256];

	start(d, conf, sizeof(conf));
	for (size_t i = 0; i < sizeof(reqs) / sizeof(reqs[0]); i++) {
		ht_fetch(d->port, reqs[i], &r, 0);
		hr_check(r.status == 400 && strstr(r.head, "Connection: close"),
			 "%s: %d %s", reqs[i], r.status, r.head);
		free(r.body);
	}
	hr_check_int("stopped", 0, hr_stop(d, SIGTERM));
}

/* A reload picks up vhost changes; a name keeps its count across it,
 * wherever its line moved. */
static void test_vhost_reload(void **state)
{
	struct hr_daemon *d = *state;
	json_int_t gen2 = 2;
	char conf[256];
	json_t *st;

	start(d, conf, sizeof(conf));
	served_for_host(d->port, "a.example", "a");
	served_for_host(d->port, "new.test", "default");
	site(d, "new");
	/* a.example now comes second, served from another directory;
	 * new.test is added; *.example is gone. */
	write_conf(d, conf, sizeof(conf),
		   "vhost new.test new\nvhost a.example exact\n");
	kill(d->pid, SIGHUP);
	hr_check(hr_wait_for(d, hr_generation_up, &gen2, 15000), "generation 2");
	served_for_host(d->port, "a.example", "exact");
	served_for_host(d->port, "new.test", "new");
	served_for_host(d->port, "z.example", "default");
	st = hr_query_ok(d, "stats");
	hr_check_int("a.example, before and after", 2,
		     hr_jint(st, "totals/vhost_requests/a.example"));
	hr_check_int("new.test", 1, hr_jint(st, "totals/vhost_requests/new.test"));
	hr_check_int("*.example, gone, keeps its 0", 0,
		     hr_jint(st, "totals/vhost_requests/*.example"));
	hr_check_int("(default)", 2,
		     hr_jint(st, "totals/vhost_requests/(default)"));
	json_decref(st);
	hr_check_int("stopped", 0, hr_stop(d, SIGTERM));
}

static int logged_missing(json_t *st, void *arg)
{
	(void)st;
	return hr_log_contains(arg, "vhost a.example: docroot /nonexistent/x");
}

/* A vhost whose docroot is not there: -t names its line; a reload to it
 * fails and the old vhosts serve on. */
static void test_vhost_missing_docroot(void **state)
{
	struct hr_daemon *d = *state;
	char conf[256], want[512], out[1024], err[2048];

	site(d, "default");
	write_conf(d, conf, sizeof(conf), "vhost a.example /nonexistent/x\n");
	const char *test[] = { "-t", "-c", conf, NULL };

	hr_check_int("-t fails", 1,
		     hr_run(d, test, 5000, out, sizeof(out), err, sizeof(err)));
	snprintf(want, sizeof(want),
		 "%s:4: vhost a.example: docroot /nonexistent/x: No such file or directory",
		 conf);
	hr_check(strstr(err, want) != NULL, "-t: want '%s' in: %s", want, err);

	site(d, "a");
	write_conf(d, conf, sizeof(conf), "vhost a.example a\n");
	const char *args[] = { "-c", conf, NULL };

	hr_check(hr_start(d, args) == 0, "the daemon did not start");
	write_conf(d, conf, sizeof(conf), "vhost a.example /nonexistent/x\n");
	kill(d->pid, SIGHUP);
	hr_check(hr_wait_for(d, logged_missing, d, 15000),
		 "the reload's failure is logged");
	served_for_host(d->port, "a.example", "a");
	hr_check_int("stopped", 0, hr_stop(d, SIGTERM));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_vhost_selection, hr_setup,
						hr_teardown),
		cmocka_unit_test_setup_teardown(test_bad_host, hr_setup,
						hr_teardown),
		cmocka_unit_test_setup_teardown(test_vhost_reload, hr_setup,
						hr_teardown),
		cmocka_unit_test_setup_teardown(test_vhost_missing_docroot,
						hr_setup, hr_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
