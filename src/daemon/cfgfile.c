/* cfgfile.c - the config file parser: words, quotes, comments, and the
 * rules about them (how many values, which directive may repeat). What a
 * value means is config.c's business. */
#include "autoconfig.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cfgfile.h"

/* More directives than this would need a bigger "seen" table. */
#define CFGFILE_MAX_DIRECTIVES 64
/* Words longer than this get no "did you mean": no directive is. */
#define SUGGEST_MAX 48

struct cfg_line {
	int argc;
	char *argv[CFGFILE_MAX_ARGS];
	char buf[CFGFILE_MAX_LINE + 1]; /* the words, unquoted, NUL-separated */
};

static int why(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int why(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

static int is_blank(char ch)
{
	return ch == ' ' || ch == '\t';
}

/* A quoted word from p[*i] (the opening quote) into *out. */
static int quoted(const char *p, size_t len, size_t *i, char **out, char *err,
		  size_t errlen)
{
	char q = p[(*i)++];

	for (;;) {
		if (*i == len)
			return why(err, errlen, "unterminated %s quote",
				   q == '"' ? "double" : "single");
		if (p[*i] == q)
			break;
		if (q == '"' && p[*i] == '\\') {
			if (++*i == len)
				return why(err, errlen,
					   "unterminated double quote");
			if (p[*i] != '"' && p[*i] != '\\')
				return why(err, errlen,
					   "unknown escape '\\%c' (only \\\" and \\\\)",
					   p[*i]);
		}
		*(*out)++ = p[(*i)++];
	}
	(*i)++;
	if (*i < len && !is_blank(p[*i]))
		return why(err, errlen, "text right after a closing quote");
	return 0;
}

/* Splits one line (no newline) into words. */
static int split(const char *p, size_t len, struct cfg_line *ln, char *err,
		 size_t errlen)
{
	char *out = ln->buf;
	size_t i = 0;

	ln->argc = 0;
	for (size_t k = 0; k < len; k++) {
		unsigned char ch = (unsigned char)p[k];

		if ((ch < 0x20 && ch != '\t') || ch == 0x7f)
			return why(err, errlen, "control character 0x%02x", ch);
	}
	for (;;) {
		while (i < len && is_blank(p[i]))
			i++;
		if (i == len || p[i] == '#')
			return 0;
		if (ln->argc == CFGFILE_MAX_ARGS)
			return why(err, errlen, "more than %d words on one line",
				   CFGFILE_MAX_ARGS);
		ln->argv[ln->argc++] = out;
		if (p[i] == '"' || p[i] == '\'') {
			if (quoted(p, len, &i, &out, err, errlen) < 0)
				return -1;
		} else {
			while (i < len && !is_blank(p[i])) {
				if (p[i] == '"' || p[i] == '\'')
					return why(err, errlen,
						   "a quote inside a word (quote the whole value)");
				*out++ = p[i++];
			}
		}
		*out++ = '\0';
	}
}

/* Optimal string alignment distance: edits, with a swap of two
 * neighbours counting as one ("listne" is one away from "listen"). */
static size_t edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	unsigned char d[SUGGEST_MAX + 1][SUGGEST_MAX + 1];

	if (la > SUGGEST_MAX || lb > SUGGEST_MAX)
		return (size_t)-1;
	for (size_t i = 0; i <= la; i++)
		d[i][0] = (unsigned char)i;
	for (size_t j = 0; j <= lb; j++)
		d[0][j] = (unsigned char)j;
	for (size_t i = 1; i <= la; i++)
		for (size_t j = 1; j <= lb; j++) {
			size_t cost = a[i - 1] != b[j - 1];
			size_t v = d[i - 1][j - 1] + cost;

			if ((size_t)d[i - 1][j] + 1 < v)
				v = d[i - 1][j] + 1;
			if ((size_t)d[i][j - 1] + 1 < v)
				v = d[i][j - 1] + 1;
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] &&
			    a[i - 2] == b[j - 1] &&
			    (size_t)d[i - 2][j - 2] + 1 < v)
				v = d[i - 2][j - 2] + 1;
			d[i][j] = (unsigned char)v;
		}
	return d[la][lb];
}

const char *cfgfile_suggest(const char *word)
{
	char low[SUGGEST_MAX + 1];
	const struct config_directive *d, *best = NULL, *prefix = NULL;
	size_t n = strlen(word), best_dist = (size_t)-1;
	int nprefix = 0;

	if (n == 0 || n >= sizeof(low))
		return NULL;
	/* Case and the command line's dashes are the likeliest slips. */
	for (size_t i = 0; i <= n; i++)
		low[i] = word[i] == '-' ? '_' :
					  (char)tolower((unsigned char)word[i]);
	for (size_t i = 0; (d = config_directive_at(i)); i++) {
		size_t dist = edit_distance(low, d->name);

		if (dist < best_dist) {
			best_dist = dist;
			best = d;
		}
		if (n >= 3 && !strncmp(d->name, low, n)) {
			prefix = d;
			nprefix++;
		}
	}
	/* Close enough to be a typo, not just another short word. */
	if (best && best_dist <= 2 && best_dist < n)
		return best->name;
	if (nprefix == 1)
		return prefix->name; /* "keepalive" -> keepalive_timeout */
	return NULL;
}

static int directive_index(const struct config_directive *d)
{
	const struct config_directive *x;

	for (int i = 0; (x = config_directive_at((size_t)i)); i++)
		if (x == d)
			return i;
	return -1;
}

/* Applies one split line. seen[i]: the line directive i was first set
 * on, 0 if not yet. */
static int apply(struct config *c, struct cfg_line *ln, int lineno, int *seen,
		 char *err, size_t errlen)
{
	const char *name = ln->argv[0];
	const struct config_directive *d = config_directive_find(name);
	char value[CFGFILE_MAX_LINE + 1];
	size_t off = 0;
	int nval = ln->argc - 1, idx, nlisten, nvhosts, nup;

	if (!d) {
		const char *s = cfgfile_suggest(name);

		if (s)
			return why(err, errlen,
				   "unknown directive '%s' (did you mean '%s'?)",
				   name, s);
		return why(err, errlen, "unknown directive '%s'", name);
	}
	if (nval == 0)
		return why(err, errlen, "'%s' needs a value", name);
	if (nval > d->max_args)
		return why(err, errlen, "'%s' takes %s%d value%s, %d given",
			   name, d->max_args > 1 ? "at most " : "", d->max_args,
			   d->max_args > 1 ? "s" : "", nval);
	idx = directive_index(d);
	if (idx < 0 || idx >= CFGFILE_MAX_DIRECTIVES)
		return why(err, errlen, "'%s': internal error", name);
	if (!d->repeatable && seen[idx])
		return why(err, errlen, "duplicate '%s' (first set on line %d)",
			   name, seen[idx]);
	/* Several values are one setting, e.g. return's status and text. */
	for (int i = 1; i < ln->argc; i++) {
		size_t l = strlen(ln->argv[i]);

		if (i > 1)
			value[off++] = ' ';
		memcpy(value + off, ln->argv[i], l);
		off += l;
	}
	value[off] = '\0';
	nlisten = c->nlisten;
	nvhosts = c->nvhosts;
	nup = c->nupstreams;
	if (d->set(c, value, err, errlen) < 0)
		return -1;
	seen[idx] = lineno;
	/* Where each address or vhost came from, for a later duplicate's
	 * message and the workers' errors. */
	for (int i = nlisten; i < c->nlisten; i++)
		c->listen_line[i] = lineno;
	for (int i = nvhosts; i < c->nvhosts; i++)
		c->vhosts[i].line = lineno;
	for (int i = nup; i < c->nupstreams; i++)
		c->upstreams[i].line = lineno;
	return 0;
}

int cfgfile_parse(struct config *c, const char *name, const char *text,
		  size_t len, char *err, size_t errlen)
{
	static struct cfg_line ln; /* over 4 KB: kept off the stack */
	int seen[CFGFILE_MAX_DIRECTIVES] = { 0 };
	char msg[512];
	size_t pos = 0;
	int lineno = 0;

	/* An editor's UTF-8 byte order mark is not a directive. */
	if (len >= 3 && !memcmp(text, "\xef\xbb\xbf", 3))
		pos = 3;
	while (pos < len) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t end = nl ? (size_t)(nl - text) : len;
		size_t l = end - pos;

		lineno++;
		if (l > 0 && text[end - 1] == '\r')
			l--; /* written on Windows */
		if (l > CFGFILE_MAX_LINE) {
			snprintf(err, errlen, "%s:%d: line longer than %d bytes",
				 name, lineno, CFGFILE_MAX_LINE);
			return -1;
		}
		if (split(text + pos, l, &ln, msg, sizeof(msg)) < 0 ||
		    (ln.argc > 0 &&
		     apply(c, &ln, lineno, seen, msg, sizeof(msg)) < 0)) {
			snprintf(err, errlen, "%s:%d: %s", name, lineno, msg);
			return -1;
		}
		pos = end + 1;
	}
	return 0;
}

int cfgfile_load(struct config *c, const char *path, char *err, size_t errlen)
{
	struct stat st;
	char *text;
	ssize_t n;
	size_t got = 0;
	int fd, r;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return why(err, errlen, "%s: %s", path, strerror(errno));
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    st.st_size > CFGFILE_MAX_SIZE) {
		r = fstat(fd, &st) < 0 ?
			    why(err, errlen, "%s: %s", path, strerror(errno)) :
		    !S_ISREG(st.st_mode) ?
			    why(err, errlen, "%s: not a regular file", path) :
			    why(err, errlen, "%s: larger than %d bytes", path,
				CFGFILE_MAX_SIZE);
		close(fd);
		return r;
	}
	text = malloc((size_t)st.st_size + 1);
	if (!text) {
		close(fd);
		return why(err, errlen, "%s: out of memory", path);
	}
	/* Read what fstat promised, no more: a file growing meanwhile is
	 * read as it was. */
	while (got < (size_t)st.st_size &&
	       (n = read(fd, text + got, (size_t)st.st_size - got)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = why(err, errlen, "%s: %s", path, strerror(errno));
			free(text);
			close(fd);
			return r;
		}
		got += (size_t)n;
	}
	close(fd);
	r = cfgfile_parse(c, path, text, got, err, errlen);
	free(text);
	return r;
}
