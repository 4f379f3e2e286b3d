/* loadgen.h - a test client that opens new connections continuously and
 * checks every echoed byte, in a thread, while the test reloads, kills or
 * stops the daemon. It counts what it saw, so a failure says what was
 * lost. Prefix lg_. */
#ifndef RP_TEST_LOADGEN_H
#define RP_TEST_LOADGEN_H

#include <pthread.h>
#include <stdint.h>

struct lg_counts {
	uint64_t done;         /* connections fully echoed and closed */
	uint64_t connect_fail; /* refused, timed out, unreachable */
	uint64_t resets;       /* ECONNRESET / EPIPE after connecting */
	uint64_t short_echo;   /* EOF before every byte came back */
	uint64_t mismatch;     /* a byte came back wrong */
	uint64_t timeouts;     /* no progress for the per-connection limit */
};

struct lg {
	uint32_t ip; /* IPv4, host order: 127.0.0.1 unless lg_start_ip */
	int port;
	int inflight;    /* connections open at once */
	int size;        /* bytes sent per connection */
	uint64_t target; /* stop after this many connections... */
	int max_ms;      /* ...or after this long */
	pthread_t thread;
	volatile int stop;
	volatile uint64_t progress; /* connections finished so far (any outcome) */
	struct lg_counts c;
	char first_error[160];
};

/* Starts the load in a thread. */
int lg_start(struct lg *g, int port, int inflight, int size, uint64_t target,
	     int max_ms);
/* The same towards another loopback address (127.0.0.2...). */
int lg_start_ip(struct lg *g, uint32_t ip, int port, int inflight, int size,
		uint64_t target, int max_ms);
/* Waits for the thread (sets stop first if asked). */
void lg_join(struct lg *g, int stop_now);
/* "done=... connect_fail=..." for messages. */
const char *lg_describe(const struct lg *g, char *buf, size_t len);
uint64_t lg_failures(const struct lg_counts *c);

#endif
