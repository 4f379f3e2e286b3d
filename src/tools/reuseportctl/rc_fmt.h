/* rc_fmt.h - reuseportctl: reading values out of the daemon's JSON and
 * writing them for people (bytes, durations, addresses). Prefix rc_.
 *
 * The readers never fail: a missing or mistyped field reads as 0 or as
 * the given default, so that a daemon newer or older than this tool still
 * gets a table, with blanks where the fields differ. */
#ifndef RC_FMT_H
#define RC_FMT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* A non-negative integer field (reals are truncated, anything else is 0). */
uint64_t rc_json_u64(const json_t *obj, const char *key);
/* Whether obj has key with a number in it. */
int rc_json_has_number(const json_t *obj, const char *key);
/* A number field as a double (0 if absent). */
double rc_json_real(const json_t *obj, const char *key);
/* A number of seconds as milliseconds, clamped to 0..~30 years so that a
 * bogus value cannot overflow the conversion. */
uint64_t rc_json_seconds_ms(const json_t *obj, const char *key);
/* A string field, or dflt if absent or not a string. */
const char *rc_json_str(const json_t *obj, const char *key, const char *dflt);

/* "512 B", "1.5 KiB", "3.0 MiB"... (binary units, one decimal). */
void rc_fmt_bytes(uint64_t v, char *out, size_t len);
/* The same for a rate: "1.5 KiB/s". Negative means unknown: "-". */
void rc_fmt_byte_rate(double v, char *out, size_t len);
/* A per-second rate with one decimal, or "-" when negative (unknown). */
void rc_fmt_rate(double v, char *out, size_t len);
/* "850ms", "12.3s", "5m02s", "2h03m", "3d04h". */
void rc_fmt_duration_ms(uint64_t ms, char *out, size_t len);
/* Replaces control characters (an escape sequence in a daemon string
 * must not reach the terminal) with '?', in place. */
void rc_fmt_printable(char *s);
/* ADDRESS:PORT, with IPv6 addresses in brackets ("[::1]:80"). */
void rc_fmt_endpoint(const char *address, uint64_t port, char *out, size_t len);

#endif
