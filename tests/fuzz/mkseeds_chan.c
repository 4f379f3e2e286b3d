/* mkseeds_chan.c - writes the seed corpora of fuzz_chan_check and
 * fuzz_channel (tests/fuzz/corpus/chancheck, .../channel) and their
 * dictionaries from the daemon's own structs, so that the seeds are the
 * frames the daemon sends, at the sizes it sends them. Run by hand after
 * a message changes: make fuzz-seeds (it writes into the source tree).
 * The seeds' input formats are described at the top of each target. */
#include "autoconfig.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "channel.h"
#include "config.h"
#include "conn.h"
#include "listing.h"
#include "stats.h"

struct out {
	uint8_t b[8192];
	size_t n;
};

static const char *dir;

static void put(struct out *o, const void *p, size_t n)
{
	if (o->n + n > sizeof(o->b)) {
		fprintf(stderr, "mkseeds_chan: seed too big\n");
		exit(1);
	}
	memcpy(o->b + o->n, p, n);
	o->n += n;
}

static void frame(struct out *o, uint16_t type, uint16_t nfds, const void *body,
		  uint32_t len)
{
	static uint64_t seq;
	struct chan_hdr h = { type, nfds, len, ++seq };

	put(o, &h, sizeof(h));
	put(o, body, len);
}

static void save(const char *corpus, const struct out *o, const char *fmt, ...)
{
	char name[256], path[512];
	va_list ap;
	FILE *f;

	va_start(ap, fmt);
	vsnprintf(name, sizeof(name), fmt, ap);
	va_end(ap);
	snprintf(path, sizeof(path), "%s/corpus/%s/%s", dir, corpus, name);
	if (!(f = fopen(path, "wb")) || fwrite(o->b, 1, o->n, f) != o->n ||
	    fclose(f) != 0) {
		fprintf(stderr, "mkseeds_chan: %s: %s\n", path, strerror(errno));
		exit(1);
	}
}

/* --- chancheck: a selector byte (bit 0: to the worker), a header, a
 * body --- */

static void one(const char *name, int to_worker, uint16_t type, uint16_t nfds,
		const void *body, uint32_t len, size_t given)
{
	struct out o = { .n = 0 };
	struct chan_hdr h = { type, nfds, len, 1 };
	uint8_t sel = (uint8_t)to_worker;

	put(&o, &sel, 1);
	put(&o, &h, sizeof(h));
	put(&o, body, given);
	save("chancheck", &o, "%s", name);
}

/* HANDOFF (a record and a descriptor per connection) and TAKEN, which
 * both ends send and take. */
static void handoff_seeds(void)
{
	struct chan_handoff h = { .count = 3, .origin = 1234 };
	uint8_t b[sizeof(h) + 3 * sizeof(struct conn_transfer)];
	size_t two = sizeof(h) + 2 * sizeof(struct conn_transfer);

	memset(b, 0, sizeof(b));
	memcpy(b, &h, sizeof(h));
	for (int to_worker = 0; to_worker <= 1; to_worker++) {
		const char *d = to_worker ? "w" : "m";
		char name[64];

#define SEED(n, nfds, len) \
	snprintf(name, sizeof(name), "%s-%s", d, n); \
	one(name, to_worker, CHAN_HANDOFF, nfds, b, (uint32_t)(len), len)
		SEED("handoff-3", 3, sizeof(b));
		SEED("bad-handoff-fds-short", 2, sizeof(b));
		SEED("bad-handoff-fds-over", 4, sizeof(b));
		SEED("bad-handoff-count", 2, two);
		SEED("bad-handoff-partial", 3, sizeof(b) - 1);
#undef SEED
		snprintf(name, sizeof(name), "%s-taken", d);
		one(name, to_worker, CHAN_TAKEN, 0, &h, sizeof(h), sizeof(h));
		snprintf(name, sizeof(name), "%s-bad-taken-fds", d);
		one(name, to_worker, CHAN_TAKEN, 1, &h, sizeof(h), sizeof(h));
	}
}

static void chancheck_seeds(void)
{
	static uint8_t zero[4096];
	struct chan_conns_hdr ch = { .active = 2,
				     .matched = 2,
				     .next = CHAN_CONNS_END,
				     .count = 2 };
	uint8_t conns[sizeof(ch) + 2 * sizeof(struct stats_conn)];
	uint8_t groups[sizeof(ch) + 2 * sizeof(struct listing_group_rec)];
	struct chan_failed f;
	struct chan_drain d = { 10000, 0, 0 };
	struct chan_slot s = { 1, 0 };
	struct chan_conns_req r = { .cursor = 0, .max_rows = 1000 };

	r.filter.worker = r.filter.state = -1;
	memset(conns, 0, sizeof(conns));
	memcpy(conns, &ch, sizeof(ch));
	memset(groups, 0, sizeof(groups));
	memcpy(groups, &ch, sizeof(ch));
	memset(&f, 0, sizeof(f));
	snprintf(f.reason, sizeof(f.reason),
		 "docroot /srv/www: Permission denied");

	one("m-ready", 0, CHAN_READY, 0, NULL, 0, 0);
	one("m-alive", 0, CHAN_ALIVE, 0, NULL, 0, 0);
	one("m-conns-2", 0, CHAN_CONNS, 0, conns, sizeof(conns), sizeof(conns));
	one("m-conns-0", 0, CHAN_CONNS, 0, zero, sizeof(ch), sizeof(ch));
	one("m-groups-2", 0, CHAN_CONN_GROUPS, 0, groups, sizeof(groups),
	    sizeof(groups));
	one("bad-m-groups-as-conns", 0, CHAN_CONNS, 0, groups, sizeof(groups),
	    sizeof(groups));
	one("m-failed", 0, CHAN_FAILED, 0, &f, sizeof(f), sizeof(f));
	one("w-heartbeat", 1, CHAN_HEARTBEAT, 0, NULL, 0, 0);
	one("w-conns-req", 1, CHAN_CONNS_REQ, 0, &r, sizeof(r), sizeof(r));
	one("w-drain", 1, CHAN_DRAIN, 0, &d, sizeof(d), sizeof(d));
	one("w-adopt", 1, CHAN_ADOPT, 2, &s, sizeof(s), sizeof(s));
	one("w-adopt-max-fds", 1, CHAN_ADOPT, CFG_MAX_LISTEN, &s, sizeof(s),
	    sizeof(s));
	one("w-release", 1, CHAN_RELEASE, 0, &s, sizeof(s), sizeof(s));
	/* refused */
	one("bad-m-alive-body", 0, CHAN_ALIVE, 0, zero, 8, 8);
	one("bad-m-conns-count", 0, CHAN_CONNS, 0, zero, sizeof(conns),
	    sizeof(conns));
	one("bad-m-conns-partial", 0, CHAN_CONNS, 0, conns, sizeof(conns) - 1,
	    sizeof(conns) - 1);
	memset(f.reason, 'x', sizeof(f.reason));
	one("bad-m-failed-unterminated", 0, CHAN_FAILED, 0, &f, sizeof(f),
	    sizeof(f));
	one("bad-m-ready-fds", 0, CHAN_READY, 1, NULL, 0, 0);
	one("bad-m-heartbeat", 0, CHAN_HEARTBEAT, 0, NULL, 0, 0);
	one("bad-w-ready", 1, CHAN_READY, 0, NULL, 0, 0);
	one("bad-w-adopt-fds", 1, CHAN_ADOPT, CFG_MAX_LISTEN + 1, &s, sizeof(s),
	    sizeof(s));
	one("bad-w-unknown-type", 1, 0xffff, 0, NULL, 0, 0);
	one("bad-m-type-0", 0, 0, 0, NULL, 0, 0);
	handoff_seeds();
	/* longer than the input: the body is zeros after the bytes given */
	{
		struct chan_conns_hdr big = { .active = 1000000,
					      .matched = 1000000,
					      .next = CHAN_CONNS_END,
					      .count = 1000000 };

		one("m-conns-huge", 0, CHAN_CONNS, 0, &big,
		    (uint32_t)(sizeof(big) + 1000000 * sizeof(struct stats_conn)),
		    sizeof(big));
	}
	one("bad-m-len-max", 0, CHAN_FAILED, 0, NULL, UINT32_MAX, 0);
}

/* --- channel: the plan (flags, batches of descriptors), then the
 * stream --- */

struct batch {
	uint16_t at;
	uint8_t n;
};

static void stream(const char *name, uint8_t flags, const struct batch *b,
		   int nb, const struct out *s)
{
	struct out o = { .n = 0 };
	uint8_t n = (uint8_t)nb;

	put(&o, &flags, 1);
	put(&o, &n, 1);
	for (int i = 0; i < nb; i++) {
		uint8_t at[2] = { (uint8_t)(b[i].at & 0xff),
				  (uint8_t)(b[i].at >> 8) };

		put(&o, at, 2);
		put(&o, &b[i].n, 1);
	}
	put(&o, s->b, s->n);
	save("channel", &o, "%s", name);
}

#define TO_WORKER 1
#define VIA_LOOP 2
#define TAKE 4
#define CLOSE_AFTER(n) ((uint8_t)((n) << 3))

static void channel_seeds(void)
{
	struct chan_conns_hdr ch = { .active = 1,
				     .matched = 1,
				     .next = CHAN_CONNS_END,
				     .count = 1 };
	uint8_t conns[sizeof(ch) + sizeof(struct stats_conn)];
	uint8_t groups[sizeof(ch) + sizeof(struct listing_group_rec)];
	struct chan_failed f;
	struct chan_drain d = { 10000, 0, 0 };
	struct chan_slot sl = { 0, 0 };
	struct chan_conns_req r = { .cursor = 0, .max_rows = 1000 };
	struct out w = { .n = 0 }, m = { .n = 0 }, s;
	struct batch b[7];
	size_t at;

	r.filter.worker = r.filter.state = -1;
	memset(conns, 0, sizeof(conns));
	memcpy(conns, &ch, sizeof(ch));
	memset(groups, 0, sizeof(groups));
	memcpy(groups, &ch, sizeof(ch));
	memset(&f, 0, sizeof(f));
	snprintf(f.reason, sizeof(f.reason), "listen: Address already in use");

	/* A worker's life, as the master reads it. */
	frame(&w, CHAN_READY, 0, NULL, 0);
	frame(&w, CHAN_ALIVE, 0, NULL, 0);
	frame(&w, CHAN_CONNS, 0, conns, sizeof(conns));
	frame(&w, CHAN_CONN_GROUPS, 0, groups, sizeof(groups));
	frame(&w, CHAN_ALIVE, 0, NULL, 0);
	stream("m-life", 0, NULL, 0, &w);
	stream("m-life-loop", VIA_LOOP, NULL, 0, &w);
	stream("m-life-close-2", CLOSE_AFTER(2), NULL, 0, &w);
	s = w;
	s.n -= 5; /* the last frame cut short: end of file, not malformed */
	stream("m-life-cut", VIA_LOOP, NULL, 0, &s);
	s = w;
	frame(&s, CHAN_HEARTBEAT, 0, NULL, 0); /* the master's own type */
	frame(&s, CHAN_READY, 0, NULL, 0);
	stream("m-life-wrong-type", VIA_LOOP, NULL, 0, &s);
	s = w;
	frame(&s, CHAN_ALIVE, 0, conns, 4); /* ALIVE has no body */
	stream("m-life-alive-body", 0, NULL, 0, &s);
	s = w;
	frame(&s, CHAN_CONNS, 0, &ch, sizeof(ch)); /* count 1, no record */
	stream("m-life-conns-count", VIA_LOOP, NULL, 0, &s);
	s = (struct out){ .n = 0 };
	frame(&s, CHAN_FAILED, 0, &f, sizeof(f));
	stream("m-failed", VIA_LOOP, NULL, 0, &s);
	/* Descriptors a worker never sends: refused, and closed unclaimed. */
	b[0] = (struct batch){ 0, 2 };
	stream("m-fds-on-ready", VIA_LOOP, b, 1, &w);
	b[0] = (struct batch){ (uint16_t)(sizeof(struct chan_hdr) + 3), 3 };
	stream("m-fds-mid-frame", 0, b, 1, &w);
	/* A header that announces more than CHAN_MAX_FRAME. */
	s = (struct out){ .n = 0 };
	frame(&s, CHAN_READY, 0, NULL, 0);
	{
		struct chan_hdr h = { CHAN_CONNS, 0, CHAN_MAX_FRAME + 1, 9 };

		put(&s, &h, sizeof(h));
	}
	stream("m-frame-too-long", VIA_LOOP, NULL, 0, &s);
	/* A worker hands two connections over: two records, two
	 * descriptors with the frame; the master says TAKEN. */
	{
		struct chan_handoff h = { .count = 2 };
		uint8_t body[sizeof(h) + 2 * sizeof(struct conn_transfer)];
		struct out t = { .n = 0 };

		memset(body, 0, sizeof(body));
		memcpy(body, &h, sizeof(h));
		frame(&t, CHAN_READY, 0, NULL, 0);
		at = t.n;
		frame(&t, CHAN_HANDOFF, 2, body, sizeof(body));
		frame(&t, CHAN_ALIVE, 0, NULL, 0);
		b[0] = (struct batch){ (uint16_t)at, 2 };
		stream("m-handoff", VIA_LOOP, b, 1, &t);
		stream("m-handoff-take", TAKE, b, 1, &t);
		b[0].n = 1;
		stream("m-handoff-fds-short", VIA_LOOP, b, 1, &t);
		/* The master passes them on to the new generation's
		 * worker, and says TAKEN to the one that handed them. */
		s = (struct out){ .n = 0 };
		frame(&s, CHAN_HANDOFF, 2, body, sizeof(body));
		frame(&s, CHAN_TAKEN, 0, &h, sizeof(h));
		b[0] = (struct batch){ 0, 2 };
		stream("w-handoff-taken", TO_WORKER | VIA_LOOP | TAKE, b, 1, &s);
	}

	/* The master's messages, as a worker reads them: ADOPT with its
	 * listeners, the others without. */
	frame(&m, CHAN_HEARTBEAT, 0, NULL, 0);
	frame(&m, CHAN_CONNS_REQ, 0, &r, sizeof(r));
	at = m.n;
	sl.slot = 1;
	frame(&m, CHAN_ADOPT, 2, &sl, sizeof(sl));
	frame(&m, CHAN_RELEASE, 0, &sl, sizeof(sl));
	size_t at2 = m.n;
	sl.slot = 2;
	frame(&m, CHAN_ADOPT, 3, &sl, sizeof(sl));
	frame(&m, CHAN_DRAIN, 0, &d, sizeof(d));
	b[0] = (struct batch){ (uint16_t)at, 2 };
	b[1] = (struct batch){ (uint16_t)at2, 3 };
	stream("w-adopt", TO_WORKER, b, 2, &m);
	stream("w-adopt-loop-take", TO_WORKER | VIA_LOOP | TAKE, b, 2, &m);
	stream("w-adopt-close-4", TO_WORKER | TAKE | CLOSE_AFTER(4), b, 2, &m);
	/* Both batches with the first frame: the first ADOPT takes two,
	 * the second the other three. */
	b[0] = (struct batch){ 0, 5 };
	stream("w-adopt-fds-early", TO_WORKER | VIA_LOOP, b, 1, &m);
	/* The second ADOPT's descriptors come one short. */
	b[0] = (struct batch){ (uint16_t)at, 2 };
	b[1] = (struct batch){ (uint16_t)at2, 2 };
	stream("w-adopt-fds-short", TO_WORKER | VIA_LOOP, b, 2, &m);
	/* The first ADOPT's come after it, in a later read: too late. */
	b[0] = (struct batch){ 0, 1 };
	b[1] = (struct batch){
		(uint16_t)(at + sizeof(struct chan_hdr) + sizeof(sl)), 1
	};
	stream("w-adopt-fds-late", TO_WORKER | VIA_LOOP, b, 2, &m);
	/* Descriptors left over for no frame, closed by chan_close. */
	b[0] = (struct batch){ (uint16_t)at, 2 };
	b[1] = (struct batch){ (uint16_t)at2, 3 };
	b[2] = (struct batch){ (uint16_t)(m.n - 1), 4 };
	stream("w-adopt-fds-extra", TO_WORKER, b, 3, &m);
	/* Too many for one ADOPT. */
	s = (struct out){ .n = 0 };
	frame(&s, CHAN_ADOPT, CFG_MAX_LISTEN + 1, &sl, sizeof(sl));
	b[0] = (struct batch){ 0, CFG_MAX_LISTEN + 1 };
	stream("w-adopt-too-many", TO_WORKER | VIA_LOOP, b, 1, &s);
	/* A worker's frames sent to a worker. */
	stream("w-reads-m-life", TO_WORKER | VIA_LOOP, NULL, 0, &w);
	s = (struct out){ .n = 0 };
	stream("empty", VIA_LOOP, NULL, 0, &s);
}

static void dict(const char *name, int frames)
{
	static const struct {
		const char *name;
		uint16_t type;
	} types[] = {
		{ "READY", CHAN_READY },
		{ "HEARTBEAT", CHAN_HEARTBEAT },
		{ "ALIVE", CHAN_ALIVE },
		{ "CONNS_REQ", CHAN_CONNS_REQ },
		{ "CONNS", CHAN_CONNS },
		{ "CONN_GROUPS", CHAN_CONN_GROUPS },
		{ "DRAIN", CHAN_DRAIN },
		{ "ADOPT", CHAN_ADOPT },
		{ "HANDOFF", CHAN_HANDOFF },
		{ "TAKEN", CHAN_TAKEN },
		{ "RELEASE", CHAN_RELEASE },
		{ "FAILED", CHAN_FAILED },
	};
	const struct {
		const char *name;
		uint32_t v;
	} lens[] = {
		{ "conns_hdr", sizeof(struct chan_conns_hdr) },
		{ "conn", sizeof(struct stats_conn) },
		{ "conns_1",
		  sizeof(struct chan_conns_hdr) + sizeof(struct stats_conn) },
		{ "conns_2",
		  sizeof(struct chan_conns_hdr) + 2 * sizeof(struct stats_conn) },
		{ "group", sizeof(struct listing_group_rec) },
		{ "groups_1", sizeof(struct chan_conns_hdr) +
				      sizeof(struct listing_group_rec) },
		{ "failed", sizeof(struct chan_failed) },
		{ "drain", sizeof(struct chan_drain) },
		{ "slot", sizeof(struct chan_slot) },
		{ "conns_req", sizeof(struct chan_conns_req) },
		{ "handoff", sizeof(struct chan_handoff) },
		{ "transfer", sizeof(struct conn_transfer) },
		{ "max_frame", CHAN_MAX_FRAME },
		{ "max_frame_1", CHAN_MAX_FRAME + 1 },
		{ "all_ones", UINT32_MAX },
	};
	static const uint16_t nfds[] = { 1, CFG_MAX_LISTEN, CFG_MAX_LISTEN + 1,
					 CHAN_MAX_FDS };
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s.dict", dir, name);
	if (!(f = fopen(path, "w"))) {
		fprintf(stderr, "mkseeds_chan: %s: %s\n", path, strerror(errno));
		exit(1);
	}
	fprintf(f,
		"# %s.dict - libFuzzer dictionary for the channel's frames,\n"
		"# written by mkseeds_chan.c (make fuzz-seeds) from the daemon's\n"
		"# structs: header fields as on the wire (little-endian).\n",
		name);
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		fprintf(f, "type_%s=\"\\x%02x\\x%02x\"\n", types[i].name,
			types[i].type & 0xff, types[i].type >> 8);
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++)
		fprintf(f, "len_%s=\"\\x%02x\\x%02x\\x%02x\\x%02x\"\n",
			lens[i].name, lens[i].v & 0xff, (lens[i].v >> 8) & 0xff,
			(lens[i].v >> 16) & 0xff, lens[i].v >> 24);
	for (size_t i = 0; i < sizeof(nfds) / sizeof(nfds[0]); i++)
		fprintf(f, "nfds_%u=\"\\x%02x\\x%02x\"\n", nfds[i],
			nfds[i] & 0xff, nfds[i] >> 8);
	fprintf(f, "count_1=\"\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x00\"\n");
	if (frames)
		for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
			if (types[i].type != CHAN_READY &&
			    types[i].type != CHAN_HEARTBEAT &&
			    types[i].type != CHAN_ALIVE)
				continue;
			fprintf(f,
				"frame_%s=\"\\x%02x\\x00\\x00\\x00\\x00\\x00\\x00\\x00"
				"\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x00\"\n",
				types[i].name, types[i].type);
		}
	if (fclose(f) != 0)
		exit(1);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: mkseeds_chan TESTS_FUZZ_DIR\n");
		return 2;
	}
	dir = argv[1];
	chancheck_seeds();
	channel_seeds();
	dict("chancheck", 0);
	dict("channel", 1);
	return 0;
}
