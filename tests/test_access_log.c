/* test_access_log.c - the access log's lines (access_log.h): the combined
 * format byte for byte, JSON that jansson's parser reads back for any
 * input bytes, the cuts that bound a line, the fields found in a head,
 * the times, and the buffer: whole lines, written at its threshold, at
 * its timer and at close, and counted as dropped when the disk refuses
 * them. */
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "../src/daemon/access_log.h"
#include "../src/daemon/config.h"
#include "../src/daemon/loop.h"
#include "../src/daemon/stats.h"

static struct alog_line sample(const char *head, int status, uint64_t bytes)
{
	struct alog_line l;

	memset(&l, 0, sizeof(l));
	alog_fields_parse(head, strlen(head), &l.f);
	l.status = status;
	l.bytes = bytes;
	l.worker = 3;
	l.time_us = 1234;
	l.addr = "192.0.2.7";
	l.port = 50123;
	return l;
}

static void format_str(enum alog_format fmt, const struct alog_line *l, char *out)
{
	size_t n = alog_format(fmt, out, l);

	assert_true(n < ALOG_LINE_MAX);
	out[n] = '\0';
}

/* --- combined --- */

static void test_combined_line(void **state)
{
	static char out[ALOG_LINE_MAX + 1];
	struct alog_line l = sample("GET /a?b=1 HTTP/1.1\r\nHost: x\r\n"
				    "User-Agent: curl/7.88.1\r\n"
				    "Referer: http://e.org/\r\n\r\n",
				    200, 612);

	(void)state;
	l.time = "30/Nov/2026:12:00:00 +0100";
	format_str(ALOG_COMBINED, &l, out);
	assert_string_equal(out, "192.0.2.7 - - [30/Nov/2026:12:00:00 +0100] "
				 "\"GET /a?b=1 HTTP/1.1\" 200 612 \"http://e.org/\" "
				 "\"curl/7.88.1\"\n");
}

/* What is absent is "-"; a refused request's bytes are escaped as nginx
 * does, so that one line stays one line with its quotes balanced. */
static void test_combined_absent_and_bad(void **state)
{
	static char out[ALOG_LINE_MAX + 1];
	struct alog_line l = sample("\x16\x03\x01\"\\x\r\n", 400, 12);

	(void)state;
	l.bad = 1;
	l.addr = "-";
	l.time = "01/Jan/2027:00:00:00 +0000";
	format_str(ALOG_COMBINED, &l, out);
	assert_string_equal(out,
			    "- - - [01/Jan/2027:00:00:00 +0000] "
			    "\"\\x16\\x03\\x01\\x22\\x5Cx\" 400 12 \"-\" \"-\"\n");
	l = sample("", 400, 0);
	l.addr = "::1";
	l.time = "01/Jan/2027:00:00:00 +0000";
	format_str(ALOG_COMBINED, &l, out);
	assert_string_equal(out, "::1 - - [01/Jan/2027:00:00:00 +0000] \"-\" 400 0 "
				 "\"-\" \"-\"\n");
}

/* Escapes and cuts: within cap, at an escape's or a character's
 * boundary, marked "..."; what fits exactly is not cut. */
static void test_escape_cuts(void **state)
{
#define CASE(json, cap, in, out) \
	{ \
		json, cap, in, sizeof(in) - 1, out \
	}
	static const struct {
		int json;
		size_t cap;
		const char *in;
		size_t inlen;
		const char *out;
	} cases[] = {
		CASE(0, 64, "a\"b\\c\n\x7f\xff~ ",
		     "a\\x22b\\x5Cc\\x0A\\x7F\\xFF~ "),
		CASE(0, 10, "abcdef\x01\x02", "abcdef..."),
		CASE(0, 10, "ab\x01\x02\x03", "ab\\x01..."),
		CASE(0, 8, "ab\x01\x02", "ab..."),
		CASE(0, 6, "ab\x01", "ab\\x01"),
		CASE(1, 8, "ab\xe2\x82\xac\xe2\x82\xac",
		     "ab\xe2\x82\xac\xe2\x82\xac"),
		CASE(1, 9, "ab\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac",
		     "ab\xe2\x82\xac..."),
		CASE(1, 10, "abc\x01\x02", "abc..."),
	};
#undef CASE
	char out[64];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t n = cases[i].json ?
				   alog_escape_json(out, cases[i].cap,
						    cases[i].in, cases[i].inlen) :
				   alog_escape_combined(out, cases[i].cap,
							cases[i].in,
							cases[i].inlen);

		assert_true(n <= cases[i].cap);
		assert_int_equal(n, strlen(cases[i].out));
		assert_memory_equal(out, cases[i].out, n);
	}
}

/* --- JSON --- */

static json_t *parse_line(const char *line)
{
	json_error_t e;
	json_t *j = json_loads(line, JSON_ALLOW_NUL | JSON_DECODE_ANY, &e);

	if (!j)
		fail_msg("not JSON (%s at %d): %s", e.text, e.position, line);
	return j;
}

static void test_json_line(void **state)
{
	static char out[ALOG_LINE_MAX + 1];
	struct alog_line l = sample("HEAD /x%20y HTTP/1.0\r\n"
				    "user-agent:   Mozilla/5.0 (X11) \r\n\r\n",
				    304, 0);
	json_t *j;

	(void)state;
	l.time = "2026-11-30T12:00:00.123+01:00";
	format_str(ALOG_JSON, &l, out);
	assert_int_equal(strchr(out, '\n') - out, (long)strlen(out) - 1);
	j = parse_line(out);
	assert_string_equal(json_string_value(json_object_get(j, "time")),
			    "2026-11-30T12:00:00.123+01:00");
	assert_string_equal(json_string_value(json_object_get(j, "addr")),
			    "192.0.2.7");
	assert_int_equal(json_integer_value(json_object_get(j, "port")), 50123);
	assert_int_equal(json_integer_value(json_object_get(j, "worker")), 3);
	assert_string_equal(json_string_value(json_object_get(j, "method")),
			    "HEAD");
	assert_string_equal(json_string_value(json_object_get(j, "target")),
			    "/x%20y");
	assert_string_equal(json_string_value(json_object_get(j, "protocol")),
			    "HTTP/1.0");
	assert_int_equal(json_integer_value(json_object_get(j, "status")), 304);
	assert_int_equal(json_integer_value(json_object_get(j, "bytes")), 0);
	assert_int_equal(json_integer_value(json_object_get(j, "request_time_us")),
			 1234);
	assert_true(json_is_null(json_object_get(j, "referer")));
	assert_string_equal(json_string_value(json_object_get(j, "user_agent")),
			    "Mozilla/5.0 (X11)");
	assert_null(json_object_get(j, "request"));
	json_decref(j);
}

/* A refused request: whatever its bytes, the line is JSON, says what it
 * can and carries the line as it came. */
static void test_json_bad_request(void **state)
{
	static char out[ALOG_LINE_MAX + 1];
	struct alog_line l = sample("G\x01T /\xff\xfe \"x\\\r\nzz", 400, 12);
	json_t *j;

	(void)state;
	l.bad = 1;
	l.addr = "-";
	l.time = "2026-11-30T12:00:00.123+00:00";
	format_str(ALOG_JSON, &l, out);
	j = parse_line(out);
	assert_true(json_is_null(json_object_get(j, "addr")));
	assert_string_equal(json_string_value(json_object_get(j, "method")),
			    "G\x01T");
	assert_string_equal(json_string_value(json_object_get(j, "target")),
			    "/\xef\xbf\xbd\xef\xbf\xbd");
	assert_string_equal(json_string_value(json_object_get(j, "protocol")),
			    "\"x\\");
	assert_string_equal(json_string_value(json_object_get(j, "request")),
			    "G\x01T /\xef\xbf\xbd\xef\xbf\xbd \"x\\");
	json_decref(j);
	l = sample("GARBAGE", 400, 0);
	l.addr = "-";
	l.time = "2026-11-30T12:00:00.123+00:00";
	format_str(ALOG_JSON, &l, out);
	j = parse_line(out);
	assert_true(json_is_null(json_object_get(j, "method")));
	assert_true(json_is_null(json_object_get(j, "target")));
	assert_true(json_is_null(json_object_get(j, "protocol")));
	json_decref(j);
}

/* "s" escaped, in quotes, read back by jansson. */
static json_t *json_roundtrip(const char *s, size_t n, size_t cap)
{
	static char buf[1 << 16];
	size_t o;

	buf[0] = '"';
	o = 1 + alog_escape_json(buf + 1, cap, s, n);
	assert_true(o <= cap + 1);
	buf[o++] = '"';
	buf[o] = '\0';
	return parse_line(buf);
}

/* want: a string literal (its length is its size). */
#define expect_json(in, n, want) expect_json_n(in, n, want, sizeof(want) - 1)

static void expect_json_n(const char *in, size_t n, const char *want, size_t wn)
{
	json_t *j = json_roundtrip(in, n, 1 << 12);

	assert_int_equal(json_string_length(j), wn);
	assert_memory_equal(json_string_value(j), want, wn);
	json_decref(j);
}

/* RFC 3629: what is valid stays as it is; each byte of what is not
 * becomes U+FFFD. */
static void test_escape_json_vectors(void **state)
{
	(void)state;
	expect_json("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 9,
		    "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80");
	expect_json("\xc0\xaf", 2, "\xef\xbf\xbd\xef\xbf\xbd"); /* overlong */
	expect_json("\xed\xa0\x80", 3, /* a surrogate */
		    "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
	expect_json("\xf4\x90\x80\x80", 4, /* past U+10FFFF */
		    "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
	expect_json("\xe2\x82", 2, "\xef\xbf\xbd\xef\xbf\xbd"); /* truncated */
	expect_json("a\0b\x1f\x7f\t\"\\", 8, "a\0b\x1f\x7f\t\"\\");
}

/* Random bytes, biased to the interesting ones: the escaped text is
 * always valid JSON, and gives back the input whenever the input is
 * valid UTF-8 (jansson's json_stringn says so, independently). */
static void test_escape_json_random(void **state)
{
	static const char *const pieces[] = {
		"a",
		" ",
		"\"",
		"\\",
		"\n",
		"\x01",
		"\x7f",
		"\xc3\xa9",
		"\xe2\x82\xac",
		"\xf0\x9f\x98\x80",
		"\xed\xa0\x80",
		"\xc0",
		"\x80",
		"\xff",
		"\xf4\x8f\xbf\xbf",
		"\xe0\xa0\x80",
		"\0",
	};
	char in[256];
	unsigned seed = 14;

	(void)state;
	for (int round = 0; round < 20000; round++) {
		size_t n = 0, want = (size_t)rand_r(&seed) % 64;

		while (n < want) {
			unsigned r = (unsigned)rand_r(&seed);

			if (r % 4 == 0) {
				in[n++] = (char)(r >> 8);
				continue;
			}
			const char *p = pieces[(r >> 8) % (sizeof(pieces) /
							   sizeof(pieces[0]))];
			size_t k = *p ? strlen(p) : 1;

			memcpy(in + n, p, k);
			n += k;
		}
		/* Sometimes cut short, at any cap. */
		size_t cap = round % 3 == 0 ? (size_t)rand_r(&seed) % 64 + 3 :
					      1 << 12;
		json_t *j = json_roundtrip(in, n, cap);
		json_t *ref = json_stringn(in, n);

		assert_non_null(j);
		if (cap == 1 << 12 && ref) {
			assert_int_equal(json_string_length(j), n);
			assert_memory_equal(json_string_value(j), in, n);
		}
		json_decref(ref);
		json_decref(j);
	}
}

/* --- fields --- */

static void test_fields(void **state)
{
	struct alog_fields f;
	const char *h = "\r\nGET / HTTP/1.1\r\nREFERER: r1\r\nReferer: r2\r\n"
			"X-User-Agent: no\r\nUser-agent:\tua \t\r\n\r\n"
			"User-Agent: body\r\n";

	(void)state;
	alog_fields_parse(h, strlen(h), &f);
	assert_int_equal(f.line_len, 14);
	assert_memory_equal(f.line, "GET / HTTP/1.1", 14);
	assert_memory_equal(f.method, "GET", f.method_len);
	assert_int_equal(f.target_len, 1);
	assert_memory_equal(f.protocol, "HTTP/1.1", f.protocol_len);
	assert_int_equal(f.referer_len, 2);
	assert_memory_equal(f.referer, "r1", 2);
	assert_int_equal(f.agent_len, 2);
	assert_memory_equal(f.agent, "ua", 2);
	/* Two fields, no protocol; a header line not complete is not read. */
	h = "GET /only\r\nUser-Agent: cut";
	alog_fields_parse(h, strlen(h), &f);
	assert_int_equal(f.target_len, 5);
	assert_null(f.protocol);
	assert_null(f.agent);
	/* An empty field is absent. */
	h = "GET / HTTP/1.1\r\nReferer: \r\n\r\n";
	alog_fields_parse(h, strlen(h), &f);
	assert_null(f.referer);
}

/* --- time --- */

/* Local time with its offset from UTC, whole and half hours, east and
 * west (POSIX TZ: the sign is west's). */
static void test_times(void **state)
{
	static const struct {
		const char *tz, *combined, *iso;
	} zones[] = {
		{ "UTC0", "30/Nov/2026:12:00:00 +0000",
		  "2026-11-30T12:00:00.007+00:00" },
		{ "IST-5:30", "30/Nov/2026:17:30:00 +0530",
		  "2026-11-30T17:30:00.007+05:30" },
		{ "NST3:30", "30/Nov/2026:08:30:00 -0330",
		  "2026-11-30T08:30:00.007-03:30" },
	};
	char c[ALOG_TIME_COMBINED_LEN + 1], iso[ALOG_TIME_ISO_LEN + 1];
	struct timespec ts = { 1796040000, 7000000 }; /* 2026-11-30 12:00 UTC */

	(void)state;
	for (size_t i = 0; i < sizeof(zones) / sizeof(zones[0]); i++) {
		setenv("TZ", zones[i].tz, 1);
		tzset();
		alog_time_combined(ts.tv_sec, c);
		assert_string_equal(c, zones[i].combined);
		alog_time_iso(&ts, iso);
		assert_string_equal(iso, zones[i].iso);
	}
	unsetenv("TZ");
	tzset();
}

/* --- the buffer --- */

struct sink {
	char dir[64], path[128];
	struct config cfg;
	struct stats_counters stats;
	struct loop *loop;
};

static int sink_setup(void **state)
{
	struct sink *s = calloc(1, sizeof(*s));

	strcpy(s->dir, "/tmp/test_access_log.XXXXXX");
	assert_non_null(mkdtemp(s->dir));
	snprintf(s->path, sizeof(s->path), "%s/access.log", s->dir);
	config_defaults(&s->cfg);
	s->cfg.protocol = CFG_PROTO_HTTP;
	s->cfg.access_log = CFG_ALOG_FILE;
	strcpy(s->cfg.access_log_file, s->path);
	s->loop = loop_new();
	assert_non_null(s->loop);
	*state = s;
	return 0;
}

static int sink_teardown(void **state)
{
	struct sink *s = *state;

	alog_close();
	loop_free(s->loop);
	unlink(s->path);
	rmdir(s->dir);
	free(s);
	return 0;
}

static off_t file_size(const char *path)
{
	struct stat st;

	return stat(path, &st) < 0 ? -1 : st.st_size;
}

static void log_one(int i)
{
	char head[128];
	int n = snprintf(head, sizeof(head),
			 "GET /%d HTTP/1.1\r\nHost: h\r\n\r\n", i);
	struct alog_entry e = { .head = head,
				.head_len = (size_t)n,
				.status = 200,
				.bytes = 5,
				.start_us = alog_now_us(),
				.fd = -1 };

	alog_request(&e);
}

/* Nothing is written per line: the buffer goes out when one more line
 * might not fit, in whole lines; the rest at close. */
static void test_buffer_threshold(void **state)
{
	struct sink *s = *state;
	char err[256];
	int i;

	assert_int_equal(alog_open(&s->cfg, s->loop, 0, &s->stats, err,
				   sizeof(err)),
			 0);
	assert_true(alog_enabled());
	for (i = 0; file_size(s->path) == 0; i++) {
		assert_true(i < 100000);
		log_one(i);
	}
	off_t first = file_size(s->path);

	assert_true(first >= (off_t)(ALOG_BUF_SIZE - ALOG_LINE_MAX));
	assert_true(first <= (off_t)ALOG_BUF_SIZE);
	assert_int_equal(s->stats.access_log_lines, (uint64_t)i - 1);
	alog_close();
	assert_false(alog_enabled());
	assert_int_equal(s->stats.access_log_lines, (uint64_t)i);

	FILE *f = fopen(s->path, "r");
	char line[256];
	int k = 0;

	while (fgets(line, sizeof(line), f)) {
		char want[64];

		snprintf(want, sizeof(want), "\"GET /%d HTTP/1.1\" 200 5 ", k);
		assert_non_null(strstr(line, want));
		assert_int_equal(line[strlen(line) - 1], '\n');
		k++;
	}
	fclose(f);
	assert_int_equal(k, i);
}

/* A line waits at most a second: the loop's timer writes it. */
static void test_buffer_timer(void **state)
{
	struct sink *s = *state;
	char err[256];
	uint64_t t0 = alog_now_us();

	s->cfg.access_log_format = CFG_ALOG_JSON;
	assert_int_equal(alog_open(&s->cfg, s->loop, 1, &s->stats, err,
				   sizeof(err)),
			 0);
	log_one(1);
	assert_int_equal(file_size(s->path), 0);
	while (file_size(s->path) == 0 && alog_now_us() - t0 < 3000000)
		loop_run_once(s->loop, 100);
	assert_true(file_size(s->path) > 0);
	assert_true(alog_now_us() - t0 >= 900000);
	assert_int_equal(s->stats.access_log_lines, 1);
}

/* A disk that refuses the write (/dev/full: ENOSPC) costs the lines,
 * counted, and nothing else. */
static void test_buffer_dropped(void **state)
{
	struct sink *s = *state;
	char err[256];

	strcpy(s->cfg.access_log_file, "/dev/full");
	assert_int_equal(alog_open(&s->cfg, s->loop, 0, &s->stats, err,
				   sizeof(err)),
			 0);
	for (int i = 0; i < 2000; i++)
		log_one(i);
	alog_flush();
	assert_int_equal(s->stats.access_log_lines, 0);
	assert_int_equal(s->stats.access_log_dropped, 2000);
	alog_close();
}

/* A write cut short (the file size limit, as a full disk would) leaves
 * part of a line at the end of the file; the next write begins with a
 * newline, so that its first line is not glued to that part. */
static void test_buffer_cut_short(void **state)
{
	struct sink *s = *state;
	struct rlimit old, lim;
	char err[256], line[512];
	int whole = 0;
	FILE *f;

	signal(SIGXFSZ, SIG_IGN);
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	assert_int_equal(alog_open(&s->cfg, s->loop, 0, &s->stats, err,
				   sizeof(err)),
			 0);
	for (int i = 0; i < 20; i++)
		log_one(i);
	lim = old;
	lim.rlim_cur = 1000;
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	alog_flush(); /* 1000 bytes of it, ending inside a line */
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	signal(SIGXFSZ, SIG_DFL);
	assert_int_equal(file_size(s->path), 1000);
	assert_true(
		s->stats.access_log_lines > 0 && s->stats.access_log_dropped > 0 &&
		s->stats.access_log_lines + s->stats.access_log_dropped == 20);
	for (int i = 500; i < 503; i++)
		log_one(i);
	alog_close();
	assert_int_equal(s->stats.access_log_lines + s->stats.access_log_dropped,
			 23);

	f = fopen(s->path, "r");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f)) {
		if (!strstr(line, "\"GET /50"))
			continue;
		/* One line's beginning, at the beginning. */
		assert_memory_equal(line, "- - - [", 7);
		assert_null(strstr(line + 1, "- - - ["));
		whole++;
	}
	fclose(f);
	assert_int_equal(whole, 3);
}

/* Off, or another protocol: nothing is opened. */
static void test_off(void **state)
{
	struct sink *s = *state;
	char err[256];

	s->cfg.protocol = CFG_PROTO_ECHO;
	assert_int_equal(alog_open(&s->cfg, s->loop, 0, &s->stats, err,
				   sizeof(err)),
			 0);
	assert_false(alog_enabled());
	assert_int_equal(alog_prepare(&s->cfg, err, sizeof(err)), 0);
	assert_int_equal(file_size(s->path), -1);
	s->cfg.protocol = CFG_PROTO_HTTP;
	strcpy(s->cfg.access_log_file, "/nonexistent-dir/access.log");
	assert_int_equal(alog_prepare(&s->cfg, err, sizeof(err)), -1);
	assert_string_equal(err, "access_log /nonexistent-dir/access.log: "
				 "No such file or directory");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_combined_line),
		cmocka_unit_test(test_combined_absent_and_bad),
		cmocka_unit_test(test_escape_cuts),
		cmocka_unit_test(test_json_line),
		cmocka_unit_test(test_json_bad_request),
		cmocka_unit_test(test_escape_json_vectors),
		cmocka_unit_test(test_escape_json_random),
		cmocka_unit_test(test_fields),
		cmocka_unit_test(test_times),
		cmocka_unit_test_setup_teardown(test_buffer_threshold,
						sink_setup, sink_teardown),
		cmocka_unit_test_setup_teardown(test_buffer_timer, sink_setup,
						sink_teardown),
		cmocka_unit_test_setup_teardown(test_buffer_dropped, sink_setup,
						sink_teardown),
		cmocka_unit_test_setup_teardown(test_buffer_cut_short,
						sink_setup, sink_teardown),
		cmocka_unit_test_setup_teardown(test_off, sink_setup,
						sink_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
