/* mime.h - the Content-Type of a file, by the extension of its name: a
 * hash table built once, in the master when it loads the configuration,
 * from a mime.types file (Debian's media-types format: a type, then the
 * extensions it stands for) or from the built-in list, with the charset
 * and the default type applied. Workers inherit it across fork() and
 * only read it: a lookup is a hash and a probe or two, no allocation. */
#ifndef RP_MIME_H
#define RP_MIME_H

#include <stddef.h>

struct mime_table;

/* Longest extension looked up or loaded; a longer one is no extension. */
#define MIME_EXT_MAX 31

/* Builds a table from the file at path, or from the built-in list when
 * path is NULL or the file cannot be read. Text types (text/...) get
 * "; charset=CHARSET" unless charset is NULL or empty; names without a
 * known extension get default_type (charset applied the same way).
 * Lines that are not "type/subtype ext..." are skipped, a '#' starts a
 * comment, and an extension given twice takes the later type. NULL only
 * when out of memory. mime_table_origin() tells what happened. */
struct mime_table *mime_table_new(const char *path, const char *default_type,
				  const char *charset);
void mime_table_free(struct mime_table *t);

/* One line for the log: where the types came from and how many, or why
 * the built-in list is used; then the first bad line, if any. */
const char *mime_table_origin(const struct mime_table *t);
/* Nonzero when lines of the file were skipped (mime_table_origin says
 * which first). */
int mime_table_has_bad_lines(const struct mime_table *t);

/* The Content-Type for the extension of name's last path segment (after
 * its last '.'; ASCII case ignored), or the default type. Never NULL. */
const char *mime_type(const struct mime_table *t, const char *name);

/* 1 if s is a media type a table can hold: "type/subtype", two tokens
 * (RFC 9110 8.3.1), no parameters. */
int mime_valid_type(const char *s);

/* Frees every table made in this process but keep and keep2 (either
 * may be NULL): the master calls it when a reload has replaced the
 * configurations that referred to the others. */
void mime_tables_keep(const struct mime_table *keep,
		      const struct mime_table *keep2);

#endif
