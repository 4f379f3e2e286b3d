/* rc_fmt.c - reading the daemon's JSON and formatting values. */
#include "autoconfig.h"

#include <stdio.h>
#include <string.h>

#include "rc_fmt.h"

uint64_t rc_json_u64(const json_t *obj, const char *key)
{
	const json_t *v = json_object_get(obj, key);

	if (json_is_integer(v))
		return json_integer_value(v) > 0 ?
			       (uint64_t)json_integer_value(v) :
			       0;
	if (json_is_real(v) && json_real_value(v) > 0)
		return (uint64_t)json_real_value(v);
	return 0;
}

int rc_json_has_number(const json_t *obj, const char *key)
{
	return json_is_number(json_object_get(obj, key));
}

double rc_json_real(const json_t *obj, const char *key)
{
	return json_number_value(json_object_get(obj, key));
}

uint64_t rc_json_seconds_ms(const json_t *obj, const char *key)
{
	double s = rc_json_real(obj, key);

	if (!(s > 0))
		return 0;
	if (s > 1e9)
		s = 1e9;
	return (uint64_t)(s * 1000.0);
}

const char *rc_json_str(const json_t *obj, const char *key, const char *dflt)
{
	const char *s = json_string_value(json_object_get(obj, key));

	return s ? s : dflt;
}

void rc_fmt_bytes(uint64_t v, char *out, size_t len)
{
	static const char *const units[] = { "KiB", "MiB", "GiB",
					     "TiB", "PiB", "EiB" };
	double d = (double)v;
	size_t u = 0;

	if (v < 1024) {
		snprintf(out, len, "%llu B", (unsigned long long)v);
		return;
	}
	d /= 1024.0;
	/* 1023.96 KiB would print as "1024.0 KiB": move up a unit instead. */
	while (d >= 1023.95 && u + 1 < sizeof(units) / sizeof(units[0])) {
		d /= 1024.0;
		u++;
	}
	snprintf(out, len, "%.1f %s", d, units[u]);
}

void rc_fmt_byte_rate(double v, char *out, size_t len)
{
	char b[32];

	if (v < 0) {
		snprintf(out, len, "-");
		return;
	}
	rc_fmt_bytes((uint64_t)(v + 0.5), b, sizeof(b));
	snprintf(out, len, "%s/s", b);
}

void rc_fmt_rate(double v, char *out, size_t len)
{
	if (v < 0)
		snprintf(out, len, "-");
	else
		snprintf(out, len, "%.1f", v);
}

void rc_fmt_duration_ms(uint64_t ms, char *out, size_t len)
{
	uint64_t s = ms / 1000;

	if (ms < 1000)
		snprintf(out, len, "%llums", (unsigned long long)ms);
	else if (s < 60)
		snprintf(out, len, "%.1fs", (double)ms / 1000.0);
	else if (s < 3600)
		snprintf(out, len, "%llum%02llus", (unsigned long long)(s / 60),
			 (unsigned long long)(s % 60));
	else if (s < 86400)
		snprintf(out, len, "%lluh%02llum", (unsigned long long)(s / 3600),
			 (unsigned long long)(s % 3600 / 60));
	else
		snprintf(out, len, "%llud%02lluh",
			 (unsigned long long)(s / 86400),
			 (unsigned long long)(s % 86400 / 3600));
}

void rc_fmt_printable(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			*s = '?';
}

void rc_fmt_endpoint(const char *address, uint64_t port, char *out, size_t len)
{
	if (strchr(address, ':'))
		snprintf(out, len, "[%s]:%llu", address, (unsigned long long)port);
	else
		snprintf(out, len, "%s:%llu", address, (unsigned long long)port);
}
