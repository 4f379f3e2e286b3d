/* rc_term.h - reuseportctl: the terminal for `top`. Prefix rc_.
 *
 * Raw mode (no line buffering, no echo) so a single `q` is read at once;
 * the alternate screen so the shell's scrollback survives; and the promise
 * that the terminal is put back however top ends - q, SIGINT, SIGTERM,
 * SIGHUP or an error. The signals are blocked except while waiting, so
 * they are only ever seen as an interrupted wait, never mid-frame. */
#ifndef RC_TERM_H
#define RC_TERM_H

/* Enters raw mode on stdin (if it is a terminal) and the alternate screen
 * on stdout. Returns 0, or -1 (errno) with the terminal untouched. */
int rc_term_enter(void);
/* Restores whatever rc_term_enter changed; safe to call more than once. */
void rc_term_leave(void);

/* Waits up to timeout_ms for a key. Returns the key (a byte value), 0 on
 * timeout, -1 if a quit signal arrived (SIGINT, SIGTERM, SIGHUP). */
int rc_term_wait_key(int timeout_ms);

/* The window size, or 80x24 when it cannot be read. */
void rc_term_size(int *cols, int *rows);

#endif
