/* fuzz_chan_check.c - libFuzzer target for chan_check(), the rule every
 * master<->worker frame passes before it is delivered. Build: clang -g
 * -O1 -fsanitize=fuzzer,address,undefined; replay.c runs the seeds under
 * make check without libFuzzer.
 *
 * Input: one byte (bit 0: the master's schema, chan_to_master, or the
 * worker's, chan_to_worker), a struct chan_hdr as it is on the wire, then
 * the body. The body is given in a block of exactly the header's length
 * when the input has that much (AddressSanitizer sees a read past it);
 * a longer frame gets the input's bytes followed by zeros.
 *
 * Each verdict is compared with the protocol as channel.h states it,
 * written out again below rather than read from channel.c's tables, so
 * that a table and the messages it describes cannot drift apart:
 *  - a frame is accepted exactly when its type is one the end accepts,
 *    its length is that type's body (plus whole records where the type
 *    has records), its descriptors are within the type's bound (one
 *    per record for HANDOFF), and its body adds up (CONNS, CONN_GROUPS,
 *    HANDOFF: the count is the number of records; FAILED: the reason
 *    ends within its field); the other end's verdict on the same frame
 *    follows that end's rules (HANDOFF and TAKEN go both ways);
 *  - a refusal has a reason: terminated, printable, naming the type, and
 *    the same one cut short in a small buffer;
 *  - the check is pure: same verdict twice, header and body untouched. */
#include "autoconfig.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "channel.h"
#include "config.h"
#include "conn.h"
#include "fuzz_check.h"
#include "listing.h"
#include "stats.h"

#define WHY_REAL 160 /* the decoder's buffer */

struct rule {
	uint16_t type;
	const char *name;
	size_t body;   /* fixed part */
	size_t record; /* 0: no records */
	unsigned max_fds;
	int fd_per_record; /* exactly one descriptor per record */
};

/* Connections changing worker at a reload go through the master, so
 * both ends send and take HANDOFF (a descriptor per connection) and
 * TAKEN. */
#define HANDOFF_RULES \
	{ CHAN_HANDOFF, \
	  "HANDOFF", \
	  sizeof(struct chan_handoff), \
	  sizeof(struct conn_transfer), \
	  CHAN_MAX_FDS, \
	  1 }, \
	{ \
		CHAN_TAKEN, "TAKEN", sizeof(struct chan_handoff), 0, 0, 0 \
	}

/* channel.h: what a worker sends (ALIVE has no body: the counters are
 * in memory the master reads) ... */
static const struct rule to_master[] = {
	{ CHAN_READY, "READY", 0, 0, 0, 0 },
	{ CHAN_ALIVE, "ALIVE", 0, 0, 0, 0 },
	{ CHAN_CONNS, "CONNS", sizeof(struct chan_conns_hdr),
	  sizeof(struct stats_conn), 0, 0 },
	{ CHAN_CONN_GROUPS, "CONN_GROUPS", sizeof(struct chan_conns_hdr),
	  sizeof(struct listing_group_rec), 0, 0 },
	{ CHAN_FAILED, "FAILED", sizeof(struct chan_failed), 0, 0, 0 },
	HANDOFF_RULES,
};

/* ... and what the master sends: ADOPT carries the listeners of one
 * slot. */
static const struct rule to_worker[] = {
	{ CHAN_HEARTBEAT, "HEARTBEAT", 0, 0, 0, 0 },
	{ CHAN_CONNS_REQ, "CONNS_REQ", sizeof(struct chan_conns_req), 0, 0, 0 },
	{ CHAN_DRAIN, "DRAIN", sizeof(struct chan_drain), 0, 0, 0 },
	{ CHAN_ADOPT, "ADOPT", sizeof(struct chan_slot), 0, CFG_MAX_LISTEN, 0 },
	{ CHAN_RELEASE, "RELEASE", sizeof(struct chan_slot), 0, 0, 0 },
	HANDOFF_RULES,
};

static const struct rule *find_rule(const struct rule *r, size_t n, uint16_t type)
{
	for (size_t i = 0; i < n; i++)
		if (r[i].type == type)
			return &r[i];
	return NULL;
}

static int body_adds_up(const struct rule *r, const struct chan_hdr *h,
			const uint8_t *body)
{
	if (r->type == CHAN_CONNS || r->type == CHAN_CONN_GROUPS) {
		struct chan_conns_hdr c;

		memcpy(&c, body, sizeof(c));
		return c.count == (h->len - r->body) / r->record;
	}
	if (r->type == CHAN_HANDOFF) {
		struct chan_handoff c;

		memcpy(&c, body, sizeof(c));
		return c.count == (h->len - r->body) / r->record;
	}
	if (r->type == CHAN_FAILED) {
		const struct chan_failed *f = (const void *)body;

		return strnlen(f->reason, sizeof(f->reason)) < sizeof(f->reason);
	}
	return 1;
}

static int expected(const struct rule *r, const struct chan_hdr *h,
		    const uint8_t *body)
{
	if (!r || h->nfds > r->max_fds || h->len < r->body)
		return 0;
	if (r->record ? (h->len - r->body) % r->record != 0 : h->len != r->body)
		return 0;
	if (r->fd_per_record && h->nfds != (h->len - r->body) / r->record)
		return 0;
	return body_adds_up(r, h, body);
}

static void check_why(const char *why, const struct rule *r,
		      const struct chan_hdr *h)
{
	char want[64];

	for (const char *p = why; *p; p++)
		CHECK(*p >= 0x20 && *p <= 0x7e);
	if (r)
		snprintf(want, sizeof(want), "%s message", r->name);
	else
		snprintf(want, sizeof(want), "message type %u ", h->type);
	CHECK(strncmp(why, want, strlen(want)) == 0);
}

/* chan_check with a reason buffer of exactly whylen bytes. */
static int check(const struct chan_schema *s, const struct chan_hdr *h,
		 const uint8_t *body, char *out, size_t whylen)
{
	char *why = malloc(whylen);
	int r;

	CHECK(why != NULL);
	memset(why, 0x7f, whylen);
	r = chan_check(s, h, body, why, whylen);
	CHECK(r == 0 || r == -1);
	if (r < 0) {
		CHECK(memchr(why, '\0', whylen) != NULL);
		memcpy(out, why, strlen(why) + 1);
	}
	free(why);
	return r;
}

/* A frame longer than the input: its body in 4 GiB of untouched zero
 * pages (reserved once, never committed), so that any header length is
 * backed by memory as chan_check's contract requires. */
static uint8_t *big_body(void)
{
	static uint8_t *big;

	if (!big) {
		big = mmap(NULL, (size_t)UINT32_MAX + 1, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		CHECK(big != MAP_FAILED);
	}
	return big;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const size_t small[] = { 1, 9, 33 };
	int worker = size > 0 && (data[0] & 1);
	const struct chan_schema *s = worker ? &chan_to_worker : &chan_to_master;
	size_t nmaster = sizeof(to_master) / sizeof(to_master[0]);
	size_t nworker = sizeof(to_worker) / sizeof(to_worker[0]);
	const struct rule *rules = worker ? to_worker : to_master;
	size_t nrules = worker ? nworker : nmaster;
	struct chan_hdr h = { 0 }, h0;
	const uint8_t *in = size > 0 ? data + 1 : data;
	size_t avail = size > 0 ? size - 1 : 0, given;
	uint8_t *body, *copy;
	char why[WHY_REAL], why2[WHY_REAL];
	const struct rule *rule;
	int r, want;

	memcpy(&h, in, avail < sizeof(h) ? avail : sizeof(h));
	in += avail < sizeof(h) ? avail : sizeof(h);
	avail -= avail < sizeof(h) ? avail : sizeof(h);
	h0 = h;
	given = h.len <= avail ? h.len : avail;
	body = h.len <= avail ? malloc(given ? given : 1) : big_body();
	copy = malloc(given ? given : 1);
	CHECK(body != NULL && copy != NULL);
	memcpy(body, in, given);
	memcpy(copy, in, given);

	rule = find_rule(rules, nrules, h.type);
	want = expected(rule, &h, body);
	r = check(s, &h, body, why, sizeof(why));
	CHECK((r == 0) == want);
	if (r < 0)
		check_why(why, rule, &h);
	CHECK(check(s, &h, body, why2, sizeof(why2)) == r);
	CHECK(r == 0 || strcmp(why, why2) == 0);
	for (size_t i = 0; i < sizeof(small) / sizeof(small[0]); i++) {
		CHECK(check(s, &h, body, why2, small[i]) == r);
		if (r < 0) {
			size_t n = strlen(why);

			if (n > small[i] - 1)
				n = small[i] - 1;
			CHECK(strlen(why2) == n && strncmp(why, why2, n) == 0);
		}
	}
	/* The other end's verdict on the same frame follows its own rules
	 * (HANDOFF and TAKEN go both ways; the other types one way). */
	rule = worker ? find_rule(to_master, nmaster, h.type) :
			find_rule(to_worker, nworker, h.type);
	r = chan_check(worker ? &chan_to_master : &chan_to_worker, &h, body,
		       why2, sizeof(why2));
	CHECK((r == 0) == expected(rule, &h, body));

	CHECK(memcmp(&h, &h0, sizeof(h)) == 0);
	CHECK(memcmp(copy, body, given) == 0);
	free(copy);
	if (h.len <= avail)
		free(body);
	else
		memset(body, 0, given); /* zeros again for the next input */
	return 0;
}
