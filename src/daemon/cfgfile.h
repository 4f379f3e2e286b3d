/* cfgfile.h - the config file: one "directive value..." per line.
 *
 *   # a comment (a '#' that starts a word starts a comment)
 *   listen 127.0.0.1:8080
 *   listen [::1]:8080          # listen is the one repeatable directive
 *   return 200 "hello, world"  # "..." with \" and \\, or '...' as is
 *
 * Directives are the ones of config.h's table, set through config_set()
 * exactly as the command line sets them. Errors read "FILE:LINE: what",
 * the first one ends the parse. */
#ifndef RP_CFGFILE_H
#define RP_CFGFILE_H

#include <stddef.h>

#include "config.h"

#define CFGFILE_MAX_LINE 4096      /* bytes, without the newline */
#define CFGFILE_MAX_SIZE (1 << 20) /* bytes in a file */
#define CFGFILE_MAX_ARGS 64        /* words on one line */

/* Reads path and applies it on top of c. 0, or -1 with the reason in
 * err ("PATH:LINE: ..." or "PATH: ..."). */
int cfgfile_load(struct config *c, const char *path, char *err, size_t errlen);
/* The same for text in memory; name stands for the file in messages. */
int cfgfile_parse(struct config *c, const char *name, const char *text,
		  size_t len, char *err, size_t errlen);
/* The directive word most likely meant (for "did you mean"), or NULL if
 * none is close. */
const char *cfgfile_suggest(const char *word);

#endif
