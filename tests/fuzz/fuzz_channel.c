/* fuzz_channel.c - libFuzzer target for the channel's frame decoder, fed
 * as the daemon feeds it: the stream is written into one end of a
 * socketpair (with descriptors, SCM_RIGHTS, at chosen offsets), that end
 * is closed, and a struct chan on the other end reads it all, through
 * chan_read_all() or through its loop. Build: clang -g -O1
 * -fsanitize=fuzzer,address,undefined (LeakSanitizer is on with
 * AddressSanitizer); replay.c runs the seeds under make check.
 *
 * Input: a few bytes of plan, then the stream.
 *   byte 0  bit 0: the schema: chan_to_master (what the master reads) or
 *           chan_to_worker (descriptors come with ADOPT, and with HANDOFF
 *           both ways);
 *           bit 1: read through the loop (chan_io) instead of
 *           chan_read_all; bit 2: on_msg takes every other descriptor of
 *           a frame; bits 3-7: on_msg closes the channel after that many
 *           frames (0: never)
 *   byte 1  bits 0-2: batches of descriptors, each 3 bytes: the stream
 *           offset it leaves with (u16, little-endian) and how many
 *           (u8 % 21); a batch past the end or at an offset already taken
 *           is dropped
 *   rest    the stream, at most STREAM_MAX bytes
 *
 * What the decoder must do, checked against a model of the stream (see
 * model()), aborting on a difference:
 *  - the frames delivered are the stream's frames from the start, in
 *    order, each passing chan_check, its header and body the stream's
 *    bytes, the body inside the channel's input buffer; delivery stops
 *    at the first frame that breaks the rules (too long, refused by the
 *    schema, fewer descriptors come than it announces), at the end of the
 *    stream, or when on_msg closes the channel;
 *  - a frame's descriptors are the next ones sent, in order (identified
 *    by inode), close-on-exec;
 *  - through the loop, on_close is called once, malformed exactly when a
 *    frame broke the rules, with a printable reason; chan_read_all never
 *    calls it and leaves the channel open;
 *  - after chan_close (twice: it is idempotent) nothing is left: no
 *    memory (LeakSanitizer) and no descriptor (/proc/self/fd counted
 *    before and after), whether the descriptors were taken, delivered and
 *    left, or never claimed by a frame. */
#include "autoconfig.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "channel.h"
#include "fuzz_check.h"
#include "loop.h"

/* Small enough that each sendmsg is one skb of the kernel (unix stream
 * sockets cut a write into skbs of at most ~36 KiB) and that the whole
 * stream fits in the socket's send buffer before anything is read. */
#define STREAM_MAX 16384
#define MAX_BATCHES 7
#define MAX_PER_BATCH 20
#define NOBJ 4 /* distinct open files the descriptors are copies of */
#define WHY_MAX 160

struct batch {
	size_t at;
	int n;
};

struct plan {
	const struct chan_schema *schema;
	int via_loop, take, close_after;
	struct batch b[MAX_BATCHES];
	int nb;
	const uint8_t *stream;
	size_t len;
	ino_t ino[MAX_BATCHES * MAX_PER_BATCH]; /* the descriptors, in order */
};

/* What the decoder should do with the plan. */
struct expect {
	size_t frames;
	int malformed; /* stopped at a frame that broke the rules */
	int closed;    /* on_msg closed the channel */
};

/* What it did. */
struct run {
	const struct plan *p;
	size_t frames, next_off, fds_used;
	int closed, closes, malformed;
};

static struct loop *loop;
static int obj[NOBJ];
static ino_t obj_ino[NOBJ];

static void setup_once(void)
{
	struct stat st;
	int pfd[2];

	if (loop)
		return;
	CHECK((loop = loop_new()) != NULL);
	for (int i = 0; i < NOBJ; i++) {
		CHECK(pipe2(pfd, O_CLOEXEC) == 0);
		close(pfd[1]);
		obj[i] = pfd[0];
		CHECK(fstat(obj[i], &st) == 0);
		obj_ino[i] = st.st_ino;
	}
}

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	CHECK(d != NULL);
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

static int by_offset(const void *a, const void *b)
{
	const struct batch *x = a, *y = b;

	return x->at < y->at ? -1 : x->at > y->at;
}

/* Descriptors of batch k, i-th: a copy of obj[(k + i) % NOBJ]. */
static int plan_read(struct plan *p, const uint8_t *data, size_t size)
{
	size_t i = 2, nb, g = 0;

	if (size < 2)
		return -1;
	p->schema = data[0] & 1 ? &chan_to_worker : &chan_to_master;
	p->via_loop = !!(data[0] & 2);
	p->take = !!(data[0] & 4);
	p->close_after = data[0] >> 3;
	nb = data[1] & 7;
	if (size < 2 + 3 * nb)
		return -1;
	p->stream = data + 2 + 3 * nb;
	p->len = size - 2 - 3 * nb;
	if (p->len > STREAM_MAX)
		p->len = STREAM_MAX;
	p->nb = 0;
	for (; nb > 0; nb--, i += 3) {
		struct batch b = { (size_t)(data[i] | data[i + 1] << 8),
				   data[i + 2] % (MAX_PER_BATCH + 1) };
		int dup = 0;

		for (int k = 0; k < p->nb; k++)
			dup |= p->b[k].at == b.at;
		if (b.at < p->len && b.n > 0 && !dup)
			p->b[p->nb++] = b;
	}
	qsort(p->b, (size_t)p->nb, sizeof(p->b[0]), by_offset);
	for (int k = 0; k < p->nb; k++)
		for (int j = 0; j < p->b[k].n; j++)
			p->ino[g++] = obj_ino[(k + j) % NOBJ];
	return 0;
}

/* Writes the stream: a sendmsg per stretch, each batch of descriptors
 * with the first byte of its stretch. Returns the reading end. */
static int plan_send(const struct plan *p)
{
	union {
		char buf[CMSG_SPACE(MAX_PER_BATCH * sizeof(int))];
		struct cmsghdr align;
	} cm;
	int sv[2];
	size_t from = 0;

	CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
	for (int k = -1; k < p->nb; k++) {
		size_t to = k + 1 < p->nb ? p->b[k + 1].at : p->len;
		struct iovec iov = { (void *)(p->stream + from), to - from };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

		if (to == from)
			continue;
		if (k >= 0) {
			struct cmsghdr *c;
			int fds[MAX_PER_BATCH];

			for (int j = 0; j < p->b[k].n; j++)
				fds[j] = obj[(k + j) % NOBJ];
			mh.msg_control = cm.buf;
			mh.msg_controllen = CMSG_SPACE(
				(size_t)p->b[k].n * sizeof(int));
			c = CMSG_FIRSTHDR(&mh);
			c->cmsg_level = SOL_SOCKET;
			c->cmsg_type = SCM_RIGHTS;
			c->cmsg_len = CMSG_LEN((size_t)p->b[k].n * sizeof(int));
			memcpy(CMSG_DATA(c), fds, (size_t)p->b[k].n * sizeof(int));
		}
		CHECK(sendmsg(sv[0], &mh, MSG_NOSIGNAL) == (ssize_t)(to - from));
		from = to;
	}
	close(sv[0]);
	return sv[1];
}

/* The decoder reads the stream in recvmsg calls, and after each one
 * delivers every whole frame it has. Linux's unix stream sockets end a
 * recvmsg after the data of a write that carried descriptors
 * (unix_stream_read_generic: "if (scm.fp) break"), so the reads end
 * where each batch's stretch ends, and the descriptors a frame may claim
 * are those of the batches read so far. */
static void model(const struct plan *p, struct expect *e)
{
	size_t off = 0, fds = 0, used = 0;

	memset(e, 0, sizeof(*e));
	for (int k = p->nb ? 0 : -1; k < p->nb; k++) {
		size_t end = k >= 0 && k + 1 < p->nb ? p->b[k + 1].at : p->len;

		if (k >= 0)
			fds += (size_t)p->b[k].n;
		while (end - off >= sizeof(struct chan_hdr)) {
			struct chan_hdr h;
			char why[WHY_MAX];

			memcpy(&h, p->stream + off, sizeof(h));
			if (h.len > CHAN_MAX_FRAME) {
				e->malformed = 1;
				return;
			}
			if (end - off < sizeof(h) + h.len)
				break;
			if (chan_check(p->schema, &h, p->stream + off + sizeof(h),
				       why, sizeof(why)) < 0 ||
			    fds - used < h.nfds) {
				e->malformed = 1;
				return;
			}
			used += h.nfds;
			off += sizeof(h) + h.len;
			if (++e->frames == (size_t)p->close_after) {
				e->closed = 1;
				return;
			}
		}
	}
}

static void on_msg(struct chan *ch, const struct chan_hdr *h, const void *body)
{
	struct run *r = ch->arg;
	const struct plan *p = r->p;
	const uint8_t *at = p->stream + r->next_off;
	char why[WHY_MAX];
	int n, *fds;

	CHECK(ch->open && !r->closed);
	CHECK(chan_check(ch->schema, h, body, why, sizeof(why)) == 0);
	CHECK((const char *)body == buf_head(&ch->in) + sizeof(*h) &&
	      sizeof(*h) + h->len <= buf_pending(&ch->in));
	CHECK(r->next_off + sizeof(*h) + h->len <= p->len);
	CHECK(memcmp(at, h, sizeof(*h)) == 0);
	CHECK(memcmp(at + sizeof(*h), body, h->len) == 0);
	fds = chan_frame_fds(ch, &n);
	CHECK(n == h->nfds && (n == 0 || fds != NULL));
	for (int i = 0; i < n; i++) {
		struct stat st;

		CHECK(fds[i] >= 0 && fcntl(fds[i], F_GETFD) == FD_CLOEXEC);
		CHECK(fstat(fds[i], &st) == 0 &&
		      st.st_ino == p->ino[r->fds_used + (size_t)i]);
		if (p->take && i % 2 == 0) {
			close(fds[i]);
			fds[i] = -1;
		}
	}
	r->fds_used += (size_t)n;
	r->next_off += sizeof(*h) + h->len;
	if (++r->frames == (size_t)p->close_after) {
		chan_close(ch);
		r->closed = 1;
	}
}

static void on_close(struct chan *ch, int malformed, const char *why)
{
	struct run *r = ch->arg;
	size_t n = strnlen(why, WHY_MAX);

	CHECK(!ch->open && !r->closed);
	CHECK(n > 0 && n < WHY_MAX);
	for (size_t i = 0; i < n; i++)
		CHECK(why[i] >= 0x20 && why[i] <= 0x7e);
	r->closes++;
	r->malformed = malformed;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct plan p;
	struct expect e;
	struct run r = { &p, 0, 0, 0, 0, 0, 0 };
	struct chan ch;
	int before;

	setup_once();
	if (plan_read(&p, data, size) < 0)
		return 0;
	model(&p, &e);
	before = count_fds();
	CHECK(chan_open(&ch, loop, plan_send(&p), p.schema, on_msg, on_close,
			&r) == 0);
	if (p.via_loop) {
		for (int turn = 0; ch.open && turn < 100; turn++)
			CHECK(loop_run_once(loop, 0) >= 0);
		CHECK(!ch.open); /* the end of the stream closes it */
		CHECK(r.closes == !e.closed);
		CHECK(r.closes == 0 || r.malformed == e.malformed);
	} else {
		chan_read_all(&ch);
		CHECK(r.closes == 0 && ch.open == !e.closed);
	}
	CHECK(r.frames == e.frames && r.closed == e.closed);
	chan_close(&ch);
	chan_close(&ch);
	CHECK(!ch.open && !ch.rx && ch.nrx == 0 && !ch.tx && ch.ntx == 0 &&
	      !ch.in.data && !ch.out.data && !ch.frame_fds);
	CHECK(count_fds() == before);
	return 0;
}
