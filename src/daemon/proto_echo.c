/* proto_echo.c - the echo service (RFC 862): every byte read is written
 * back. An idle echo connection holds no buffer at all: data is read into
 * the worker's scratch space and written back at once; only what the
 * socket does not take is kept, and the connection is not read again
 * until that is gone (conn_send's back-pressure). */
#include "autoconfig.h"

#include "conn.h"

/* One read per readiness event: a read that filled the scratch space
 * has the connection served again this turn, after its neighbours
 * (conn_repost), so a busy one cannot starve them. */
static void echo_readable(struct conn *c)
{
	char *data;
	ssize_t n = conn_read(c, &data);

	if (n == -2)
		return;
	if (n <= 0) {
		conn_close(c);
		return;
	}
	conn_send(c, data, (size_t)n);
}

/* Between two reads an echo connection holds nothing but what it has not
 * written back, and conn.c hands over none with output queued. */
static int echo_can_hand_over(const struct conn *c)
{
	(void)c;
	return 1;
}

const struct proto proto_echo = {
	.name = "echo",
	.on_readable = echo_readable,
	.can_hand_over = echo_can_hand_over,
};
