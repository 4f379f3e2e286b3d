/* http_coding.c - the Accept-Encoding field read for br and gzip: q-values
 * parsed exactly (RFC 9110 12.4.2), "*" and x-gzip understood, nothing
 * else kept. */
#include "autoconfig.h"

#include <string.h>

#include "http_coding.h"

static int is_ows(char c)
{
	return c == ' ' || c == '\t';
}

static int lower(char c)
{
	return c >= 'A' && c <= 'Z' ? c | 0x20 : c;
}

static int name_is(const char *s, size_t n, const char *name)
{
	size_t k;

	if (n != strlen(name))
		return 0;
	for (k = 0; k < n; k++)
		if (lower(s[k]) != name[k])
			return 0;
	return 1;
}

/* qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] ), in
 * thousandths; -1 if s[0..n) is none. */
static int qvalue(const char *s, size_t n)
{
	int q, scale = 100;
	size_t i;

	if (n == 0 || (s[0] != '0' && s[0] != '1') || n > 5 ||
	    (n > 1 && s[1] != '.'))
		return -1;
	q = (s[0] - '0') * 1000;
	for (i = 2; i < n; i++, scale /= 10) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		q += (s[i] - '0') * scale;
	}
	return q > 1000 ? -1 : q;
}

/* The weight after a coding: nothing (1000), or ";" "q=" qvalue with
 * optional whitespace around the ";". -1 if malformed. */
static int weight(const char *s, size_t n)
{
	size_t i = 0;

	while (i < n && is_ows(s[i]))
		i++;
	if (i == n)
		return 1000;
	if (s[i++] != ';')
		return -1;
	while (i < n && is_ows(s[i]))
		i++;
	if (n - i < 2 || lower(s[i]) != 'q' || s[i + 1] != '=')
		return -1;
	i += 2;
	while (n > i && is_ows(s[n - 1]))
		n--;
	return qvalue(s + i, n - i);
}

/* q-values of br, gzip and "*" as named in the field (-1: not named; a
 * second mention of one is ignored, a malformed weight is q=0). */
static void read_field(const char *s, size_t n, int q[3])
{
	size_t i = 0;

	while (i < n) {
		size_t a, e, t;
		int w, which;

		if (s[i] == ',' || is_ows(s[i])) {
			i++;
			continue;
		}
		a = i;
		while (i < n && s[i] != ',')
			i++;
		e = i;
		for (t = a; t < e && s[t] != ';' && !is_ows(s[t]); t++)
			;
		w = weight(s + t, e - t);
		if (w < 0)
			w = 0;
		if (name_is(s + a, t - a, "br"))
			which = 0;
		else if (name_is(s + a, t - a, "gzip") ||
			 name_is(s + a, t - a, "x-gzip"))
			which = 1;
		else if (t - a == 1 && s[a] == '*')
			which = 2;
		else
			continue;
		if (q[which] < 0)
			q[which] = w;
	}
}

int http_codings_accepted(const struct http_field *ae, enum http_coding out[2])
{
	int q[3] = { -1, -1, -1 }, qbr, qgz, n = 0;

	if (!ae->v || ae->lines != 1)
		return 0;
	read_field(ae->v, ae->len, q);
	qbr = q[0] >= 0 ? q[0] : q[2];
	qgz = q[1] >= 0 ? q[1] : q[2];
	if (qbr > 0 && qbr >= qgz)
		out[n++] = HTTP_CODING_BR;
	if (qgz > 0)
		out[n++] = HTTP_CODING_GZIP;
	if (qbr > 0 && qbr < qgz)
		out[n++] = HTTP_CODING_BR;
	return n;
}

const char *http_coding_name(enum http_coding c)
{
	return c == HTTP_CODING_BR   ? "br" :
	       c == HTTP_CODING_GZIP ? "gzip" :
				       NULL;
}
