/* http_cond.c - conditional requests: entity-tags and the preconditions
 * of RFC 9110 section 13, evaluated in the order of 13.2.2. It decides
 * which answer a request's validators call for and builds none: the
 * caller (http_file.c) does. */
#include "autoconfig.h"

#include <string.h>

#include "http_cond.h"

static int is_ows(char c)
{
	return c == ' ' || c == '\t';
}

/* etagc = %x21 / %x23-7E / obs-text: visible ASCII but DQUOTE, and
 * bytes past ASCII. */
static int is_etagc(unsigned char c)
{
	return c == 0x21 || (c >= 0x23 && c != 0x7f);
}

/* Reads one entity-tag at s[*i] (RFC 9110 8.8.3). Returns the length of
 * its opaque-tag (quotes included) with *start where it begins and *weak
 * set, or 0 if what is there is none. */
static size_t read_etag(const char *s, size_t n, size_t *i, size_t *start,
			int *weak)
{
	size_t k = *i;

	*weak = n - k >= 2 && s[k] == 'W' && s[k + 1] == '/';
	if (*weak)
		k += 2;
	if (k >= n || s[k] != '"')
		return 0;
	*start = k++;
	while (k < n && is_etagc((unsigned char)s[k]))
		k++;
	if (k >= n || s[k] != '"')
		return 0;
	*i = ++k;
	return k - *start;
}

static int same_tag(const char *s, size_t len, const struct http_validators *v)
{
	return v->etag && len == v->etag_len && !memcmp(s, v->etag, len);
}

/* Does f, a list of entity-tags (#entity-tag), hold ours? weak: the weak
 * comparison (a W/ on theirs is ignored), else the strong one (a weak
 * tag never matches). A malformed list holds nothing. */
static int list_has(const struct http_field *f, const struct http_validators *v,
		    int weak)
{
	const char *s = f->v;
	size_t n = f->len, i = 0;

	while (i < n) {
		size_t start, len;
		int w;

		if (s[i] == ',' || is_ows(s[i])) {
			i++;
			continue;
		}
		len = read_etag(s, n, &i, &start, &w);
		if (len == 0)
			return 0;
		if ((weak || !w) && same_tag(s + start, len, v))
			return 1;
		while (i < n && is_ows(s[i]))
			i++;
		if (i < n && s[i] != ',')
			return 0;
	}
	return 0;
}

static int is_star(const struct http_field *f)
{
	return f->len == 1 && f->v[0] == '*';
}

/* If-Match (13.1.1): true if "*" (the file exists) or a tag matches
 * strongly. */
static int if_match_holds(const struct http_field *f,
			  const struct http_validators *v)
{
	if (f->lines > 1)
		return 0;
	return is_star(f) || list_has(f, v, 0);
}

/* If-None-Match (13.1.2): false if "*" or a tag matches weakly. */
static int if_none_match_holds(const struct http_field *f,
			       const struct http_validators *v)
{
	if (f->lines > 1)
		return 1;
	return !is_star(f) && !list_has(f, v, 1);
}

/* If-Range (13.1.5): an entity-tag that matches strongly, or the exact
 * Last-Modified date once it is a strong validator: a second that is
 * over, in which the file cannot change again unseen. */
static int if_range_holds(const struct http_field *f,
			  const struct http_validators *v, time_t now)
{
	size_t i = 0, start, len;
	int weak;
	time_t t;

	if (f->lines > 1)
		return 0;
	/* "W/" or a quote starts a tag; a date starts with a day name,
	 * which may be "Wed". */
	if (f->len > 1 && (f->v[0] == '"' || (f->v[0] == 'W' && f->v[1] == '/'))) {
		len = read_etag(f->v, f->len, &i, &start, &weak);
		return len > 0 && i == f->len && !weak &&
		       same_tag(f->v + start, len, v);
	}
	t = http_parse_date(f->v, f->len);
	return t > 0 && t == v->last_modified && v->last_modified < now;
}

enum http_cond http_cond_evaluate(const struct http_request *req,
				  const struct http_validators *v, time_t now)
{
	int get_head = req->method == HTTP_GET || req->method == HTTP_HEAD;

	/* 1, 2: If-Match, else If-Unmodified-Since (ignored with it). */
	if (req->if_match.v) {
		if (!if_match_holds(&req->if_match, v))
			return HTTP_COND_FAILED;
	} else if (req->if_unmodified_since > 0 &&
		   v->last_modified > req->if_unmodified_since) {
		return HTTP_COND_FAILED;
	}
	/* 3, 4: If-None-Match, else If-Modified-Since (ignored with it,
	 * and for methods other than GET and HEAD). */
	if (req->if_none_match.v) {
		if (!if_none_match_holds(&req->if_none_match, v))
			return get_head ? HTTP_COND_NOT_MODIFIED :
					  HTTP_COND_FAILED;
	} else if (get_head && req->if_modified_since > 0 &&
		   v->last_modified <= req->if_modified_since) {
		return HTTP_COND_NOT_MODIFIED;
	}
	/* 5: If-Range, only with a Range on a GET. */
	if (req->method == HTTP_GET && req->has_range && req->if_range.v &&
	    !if_range_holds(&req->if_range, v, now))
		return HTTP_COND_FULL;
	return HTTP_COND_RANGE;
}

/* Lower-case hex of x, no leading zeros (one digit for 0), at out;
 * returns the digits written (at most 16). */
static size_t put_hex(char *out, uint64_t x)
{
	static const char hex[] = "0123456789abcdef";
	char tmp[16];
	size_t n = 0, k;

	do {
		tmp[n++] = hex[x & 15];
		x >>= 4;
	} while (x);
	for (k = 0; k < n; k++)
		out[k] = tmp[n - 1 - k];
	return n;
}

size_t http_etag(char *out, uint64_t ino, uint64_t size,
		 const struct timespec *mtime, const char *tag)
{
	uint64_t ns = (uint64_t)mtime->tv_sec * 1000000000u +
		      (uint64_t)mtime->tv_nsec;
	size_t n = 0, tl = strnlen(tag, 8);

	/* 3 * 16 digits, 3 separators, 8 of tag, 2 quotes, NUL: 62. */
	out[n++] = '"';
	n += put_hex(out + n, ino);
	out[n++] = '-';
	n += put_hex(out + n, size);
	out[n++] = '-';
	n += put_hex(out + n, ns);
	if (tl) {
		out[n++] = '-';
		memcpy(out + n, tag, tl);
		n += tl;
	}
	out[n++] = '"';
	out[n] = '\0';
	return n;
}
