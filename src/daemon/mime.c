/* mime.c - Content-Types by extension: the loader of mime.types files,
 * the built-in list it falls back on, and the open-addressing hash table
 * both fill. Building allocates; a lookup never does, and never fails.
 * It knows nothing of HTTP but the shape of a media type. */
#include "autoconfig.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mime.h"

/* Debian's file is 74 KB; anything far larger is not a mime.types. */
#define MIME_FILE_MAX (4u << 20)
/* Room for a type and its parameters. */
#define MIME_TYPE_MAX 255
/* Strings go in chunks of this size, mapped and unmapped whole. */
#define ARENA_CHUNK (64u * 1024)

/* The list used without a file: what a static site commonly holds. */
static const struct {
	const char *ext, *type;
} builtin[] = {
	{ "html", "text/html" },
	{ "htm", "text/html" },
	{ "css", "text/css" },
	{ "js", "text/javascript" },
	{ "mjs", "text/javascript" },
	{ "json", "application/json" },
	{ "map", "application/json" },
	{ "txt", "text/plain" },
	{ "md", "text/markdown" },
	{ "csv", "text/csv" },
	{ "xml", "application/xml" },
	{ "svg", "image/svg+xml" },
	{ "png", "image/png" },
	{ "jpg", "image/jpeg" },
	{ "jpeg", "image/jpeg" },
	{ "gif", "image/gif" },
	{ "webp", "image/webp" },
	{ "avif", "image/avif" },
	{ "ico", "image/vnd.microsoft.icon" },
	{ "pdf", "application/pdf" },
	{ "wasm", "application/wasm" },
	{ "woff", "font/woff" },
	{ "woff2", "font/woff2" },
	{ "ttf", "font/ttf" },
	{ "otf", "font/otf" },
	{ "mp4", "video/mp4" },
	{ "webm", "video/webm" },
	{ "mp3", "audio/mpeg" },
	{ "ogg", "audio/ogg" },
	{ "wav", "audio/wav" },
	{ "zip", "application/zip" },
	{ "gz", "application/gzip" },
	{ "br", "application/x-brotli" },
	{ "tar", "application/x-tar" },
};

struct mime_slot {
	const char *ext; /* lower case; NULL: empty */
	const char *type;
	uint32_t hash;
	uint32_t len;
};

/* Strings live in chunks freed with the table. Chunks and slots are
 * mapped, not taken from the heap: the master frees a table at a reload
 * and its memory must go back to the system then, not stay behind as
 * holes in the heap that its RSS keeps. */
struct arena_chunk {
	struct arena_chunk *next;
	size_t used;
	char data[ARENA_CHUNK - 2 * sizeof(size_t)];
};

struct mime_table {
	struct mime_slot *slots;
	uint32_t mask; /* slots - 1, a power of two minus one */
	uint32_t count;
	const char *default_type;
	const char *charset; /* NULL: none */
	struct arena_chunk *arena;
	unsigned bad_lines, duplicates;
	char origin[512];
	struct mime_table *next; /* every table of this process */
};

/* The tables made in this process (mime_tables_keep): only the master
 * makes more than one, a configuration at a time. */
static struct mime_table *tables;

static void *map(size_t n)
{
	void *p = mmap(NULL, n, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

static char *arena_copy(struct mime_table *t, const char *s, size_t n)
{
	struct arena_chunk *c = t->arena;
	char *p;

	if (n + 1 > sizeof(c->data))
		return NULL;
	if (!c || c->used + n + 1 > sizeof(c->data)) {
		c = map(sizeof(*c));
		if (!c)
			return NULL;
		c->next = t->arena;
		c->used = 0;
		t->arena = c;
	}
	p = c->data + c->used;
	memcpy(p, s, n);
	p[n] = '\0';
	c->used += n + 1;
	return p;
}

/* FNV-1a, 32 bits: short keys, no adversary (the keys are the admin's). */
static uint32_t hash_of(const char *s, size_t n)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)s[i]) * 16777619u;
	return h;
}

static struct mime_slot *probe(const struct mime_table *t, const char *ext,
			       size_t n, uint32_t h)
{
	for (uint32_t i = h & t->mask;; i = (i + 1) & t->mask) {
		struct mime_slot *s = &t->slots[i];

		if (!s->ext ||
		    (s->hash == h && s->len == n && !memcmp(s->ext, ext, n)))
			return s;
	}
}

/* Doubles the slots; 0, or -1 when out of memory. */
static int grow(struct mime_table *t)
{
	uint32_t cap = t->slots ? (t->mask + 1) * 2 : 64;
	struct mime_slot *old = t->slots;
	uint32_t oldcap = old ? t->mask + 1 : 0;

	t->slots = map(cap * sizeof(*t->slots)); /* zeroed */
	if (!t->slots) {
		t->slots = old;
		return -1;
	}
	t->mask = cap - 1;
	for (uint32_t i = 0; i < oldcap; i++)
		if (old[i].ext)
			*probe(t, old[i].ext, old[i].len, old[i].hash) = old[i];
	if (old)
		munmap(old, oldcap * sizeof(*old));
	return 0;
}

/* ext (lower case, 1..MIME_EXT_MAX bytes) now means type; the later of
 * two types for one extension wins. 0, or -1 when out of memory. */
static int add(struct mime_table *t, const char *ext, size_t n, const char *type)
{
	uint32_t h = hash_of(ext, n);
	struct mime_slot *s;

	if ((t->count + 1) * 2 > t->mask + 1 && grow(t) < 0)
		return -1;
	s = probe(t, ext, n, h);
	if (s->ext) {
		t->duplicates++;
		s->type = type;
		return 0;
	}
	s->ext = arena_copy(t, ext, n);
	if (!s->ext)
		return -1;
	s->type = type;
	s->hash = h;
	s->len = (uint32_t)n;
	t->count++;
	return 0;
}

/* A type as answers carry it: text types with the charset. */
static const char *intern_type(struct mime_table *t, const char *type, size_t n)
{
	char buf[MIME_TYPE_MAX + 80];
	int m;

	if (t->charset && n > 5 && !strncasecmp(type, "text/", 5) &&
	    !memchr(type, ';', n))
		m = snprintf(buf, sizeof(buf), "%.*s; charset=%s", (int)n, type,
			     t->charset);
	else
		m = snprintf(buf, sizeof(buf), "%.*s", (int)n, type);
	if (m < 0 || (size_t)m >= sizeof(buf))
		return NULL;
	return arena_copy(t, buf, (size_t)m);
}

/* RFC 9110 5.6.2 tchar. */
static int is_tchar(unsigned char c)
{
	return (c >= '0' && c <= '9') ||
	       ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') ||
	       (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* type "/" subtype, both tokens. */
static int is_media_type(const char *s, size_t n)
{
	const char *slash = memchr(s, '/', n);
	size_t i;

	if (!slash || slash == s || slash == s + n - 1 || n > MIME_TYPE_MAX)
		return 0;
	for (i = 0; i < n; i++)
		if (s + i != slash && !is_tchar((unsigned char)s[i]))
			return 0;
	return 1;
}

/* An extension: visible ASCII but '/', not too long. */
static int is_ext(const char *s, size_t n)
{
	if (n == 0 || n > MIME_EXT_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] <= ' ' || (unsigned char)s[i] >= 0x7f ||
		    s[i] == '/')
			return 0;
	return 1;
}

static void note_bad(struct mime_table *t, const char *path, unsigned lineno,
		     const char *why, char *first, size_t firstlen)
{
	if (t->bad_lines++ == 0)
		snprintf(first, firstlen, "%s:%u: %s", path, lineno, why);
}

static int is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

/* One line, comment already cut: "type ext ext...". 0, or -1 when out
 * of memory. */
static int load_line(struct mime_table *t, const char *p, size_t n,
		     const char *path, unsigned lineno, char *first,
		     size_t firstlen)
{
	size_t i = 0, a;
	const char *type;
	char ext[MIME_EXT_MAX];

	while (i < n && is_space(p[i]))
		i++;
	if (i == n)
		return 0; /* blank */
	for (a = i; i < n && !is_space(p[i]); i++)
		;
	if (!is_media_type(p + a, i - a)) {
		note_bad(t, path, lineno, "not a media type (type/subtype)",
			 first, firstlen);
		return 0;
	}
	type = intern_type(t, p + a, i - a);
	if (!type)
		return -1;
	for (;;) {
		while (i < n && is_space(p[i]))
			i++;
		if (i == n)
			return 0;
		for (a = i; i < n && !is_space(p[i]); i++)
			;
		if (!is_ext(p + a, i - a)) {
			note_bad(t, path, lineno,
				 "an extension too long or with a '/' or a control byte",
				 first, firstlen);
			continue;
		}
		for (size_t k = a; k < i; k++)
			ext[k - a] = (char)((p[k] >= 'A' && p[k] <= 'Z') ?
						    p[k] | 0x20 :
						    p[k]);
		if (add(t, ext, i - a, type) < 0)
			return -1;
	}
}

/* Reads what fstat promised of fd into buf; 0, or -1 with why. */
static int read_all(int fd, char *buf, size_t size, char *why, size_t whylen)
{
	size_t got = 0;

	while (got < size) {
		ssize_t n = read(fd, buf + got, size - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			snprintf(why, whylen, "%s",
				 n < 0 ? strerror(errno) : "shrank while read");
			return -1;
		}
		got += (size_t)n;
	}
	return 0;
}

/* The text of path in anonymous memory (*len bytes; NULL and 0 for an
 * empty file), or -1 with why. Read, not the file mapped: a file
 * truncated meanwhile would kill the master with SIGBUS. */
static int read_text(const char *path, char **text, size_t *len, char *why,
		     size_t whylen)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC), r = -1;

	*text = NULL;
	*len = 0;
	if (fd < 0) {
		snprintf(why, whylen, "%s", strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) < 0) {
		snprintf(why, whylen, "%s", strerror(errno));
	} else if (!S_ISREG(st.st_mode)) {
		snprintf(why, whylen, "not a regular file");
	} else if ((uint64_t)st.st_size > MIME_FILE_MAX) {
		snprintf(why, whylen, "larger than 4 MiB");
	} else if (st.st_size == 0) {
		r = 0;
	} else if (!(*text = map((size_t)st.st_size))) {
		snprintf(why, whylen, "out of memory");
	} else if (read_all(fd, *text, (size_t)st.st_size, why, whylen) < 0) {
		munmap(*text, (size_t)st.st_size);
		*text = NULL;
	} else {
		*len = (size_t)st.st_size;
		r = 0;
	}
	close(fd);
	return r;
}

/* Fills t from the text of a mime.types file. 0, or -1 when out of
 * memory. */
static int load_text(struct mime_table *t, const char *path, const char *text,
		     size_t len, char *first, size_t firstlen)
{
	unsigned lineno = 0;
	size_t pos = 0;

	while (pos < len) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t end = nl ? (size_t)(nl - text) : len;
		const char *hash = memchr(text + pos, '#', end - pos);
		size_t cut = hash ? (size_t)(hash - text) : end;

		lineno++;
		if (load_line(t, text + pos, cut - pos, path, lineno, first,
			      firstlen) < 0)
			return -1;
		pos = end + 1;
	}
	return 0;
}

static int load_builtin(struct mime_table *t)
{
	for (size_t i = 0; i < sizeof(builtin) / sizeof(builtin[0]); i++) {
		const char *type = intern_type(t, builtin[i].type,
					       strlen(builtin[i].type));

		if (!type ||
		    add(t, builtin[i].ext, strlen(builtin[i].ext), type) < 0)
			return -1;
	}
	return 0;
}

/* Fills t from path, or the built-in list; origin says which. */
static int load(struct mime_table *t, const char *path)
{
	char why[256] = "", first[300] = "";
	char *text;
	size_t len;
	int r;

	if (!path) {
		snprintf(t->origin, sizeof(t->origin),
			 "MIME types: the built-in table (%u extensions)",
			 (unsigned)(sizeof(builtin) / sizeof(builtin[0])));
		return load_builtin(t);
	}
	if (read_text(path, &text, &len, why, sizeof(why)) < 0) {
		snprintf(t->origin, sizeof(t->origin),
			 "MIME types: %s: %s; the built-in table instead", path,
			 why);
		return load_builtin(t);
	}
	r = load_text(t, path, text, len, first, sizeof(first));
	if (text)
		munmap(text, len);
	if (r < 0)
		return -1;
	snprintf(t->origin, sizeof(t->origin),
		 "MIME types: %u extension%s from %s%s%s%s", t->count,
		 t->count == 1 ? "" : "s", path,
		 t->bad_lines ? "; lines skipped, the first: " : "", first,
		 t->bad_lines > 1 ? " (and more)" : "");
	return 0;
}

struct mime_table *mime_table_new(const char *path, const char *default_type,
				  const char *charset)
{
	struct mime_table *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	if (charset && *charset &&
	    !(t->charset = arena_copy(t, charset, strlen(charset))))
		goto fail;
	if (grow(t) < 0 || load(t, path) < 0)
		goto fail;
	t->default_type = intern_type(t, default_type, strlen(default_type));
	if (!t->default_type)
		goto fail;
	t->next = tables;
	tables = t;
	return t;
fail:
	mime_table_free(t);
	return NULL;
}

void mime_table_free(struct mime_table *t)
{
	struct mime_table **pp;

	if (!t)
		return;
	for (pp = &tables; *pp; pp = &(*pp)->next)
		if (*pp == t) {
			*pp = t->next;
			break;
		}
	while (t->arena) {
		struct arena_chunk *c = t->arena;

		t->arena = c->next;
		munmap(c, sizeof(*c));
	}
	if (t->slots)
		munmap(t->slots, (t->mask + 1) * sizeof(*t->slots));
	free(t);
}

const char *mime_table_origin(const struct mime_table *t)
{
	return t->origin;
}

int mime_table_has_bad_lines(const struct mime_table *t)
{
	return t->bad_lines > 0;
}

const char *mime_type(const struct mime_table *t, const char *name)
{
	const char *dot = NULL, *q;
	char ext[MIME_EXT_MAX];
	size_t n;

	for (q = name; *q; q++) {
		if (*q == '/')
			dot = NULL;
		else if (*q == '.')
			dot = q;
	}
	n = dot ? (size_t)(q - dot - 1) : 0;
	if (n == 0 || n > MIME_EXT_MAX)
		return t->default_type;
	for (size_t i = 0; i < n; i++) {
		char c = dot[1 + i];

		ext[i] = (char)(c >= 'A' && c <= 'Z' ? c | 0x20 : c);
	}
	const struct mime_slot *s = probe(t, ext, n, hash_of(ext, n));

	return s->ext ? s->type : t->default_type;
}

int mime_valid_type(const char *s)
{
	return is_media_type(s, strlen(s));
}

void mime_tables_keep(const struct mime_table *keep, const struct mime_table *keep2)
{
	struct mime_table *t = tables, *next;

	for (; t; t = next) {
		next = t->next;
		if (t != keep && t != keep2)
			mime_table_free(t);
	}
}
