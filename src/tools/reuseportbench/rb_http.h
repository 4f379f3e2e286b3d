/* rb_http.h - the HTTP/1.x response reader the http load uses: status
 * line, headers (Content-Length, Transfer-Encoding: chunked, Connection)
 * and a body that is skipped, never stored. Incremental: bytes can come
 * in any pieces. Bounded: 64 KiB of head, 128-byte lines kept (longer
 * lines are cut, and refused where their value matters). Prefix rb_resp_. */
#ifndef RB_HTTP_H
#define RB_HTTP_H

#include <stddef.h>
#include <stdint.h>

#define RB_RESP_LINE 128
#define RB_RESP_HEAD_MAX 65536u

enum rb_resp_rc { RB_RESP_MORE, RB_RESP_DONE, RB_RESP_ERROR };

struct rb_resp {
	uint8_t state;
	uint8_t chunked;
	uint8_t close; /* the server will close after this response */
	uint8_t have_len;
	uint8_t http10;
	uint8_t keep_alive;
	uint8_t line_long; /* the line in 'line' was cut */
	uint16_t status;
	uint16_t line_len;
	uint32_t head_bytes;
	uint64_t remaining; /* body or chunk bytes still to skip */
	uint64_t content_length;
	const char *error; /* why it failed, for messages and tests */
	char line[RB_RESP_LINE];
};

void rb_resp_init(struct rb_resp *r);
/* Reads up to len bytes; *used says how many belong to this response
 * (all of them unless it returns DONE). */
enum rb_resp_rc rb_resp_feed(struct rb_resp *r, const uint8_t *p, size_t len,
			     size_t *used);
/* The connection ended: DONE when the body was delimited by the close. */
enum rb_resp_rc rb_resp_eof(struct rb_resp *r);

#endif
