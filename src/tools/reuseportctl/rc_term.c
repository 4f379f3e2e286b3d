/* rc_term.c - raw mode, the alternate screen and their undoing. */
#include "autoconfig.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "rc_term.h"

/* ?1049h: alternate screen; ?25l: hide the cursor. */
#define RC_TERM_ON "\033[?1049h\033[?25l"
#define RC_TERM_OFF "\033[?25h\033[?1049l"

static struct {
	int active;
	int raw; /* stdin's termios was changed */
	struct termios saved;
	sigset_t wait_mask; /* the mask to wait with: quit signals open */
	sigset_t saved_mask;
	struct sigaction saved_act[3];
} rc_term;

static const int rc_quit_signals[3] = { SIGINT, SIGTERM, SIGHUP };
static volatile sig_atomic_t rc_term_quit;

static void rc_term_on_signal(int sig)
{
	rc_term_quit = sig;
}

static void rc_term_write(const char *s)
{
	size_t len = strlen(s);

	while (len > 0) {
		ssize_t n = write(STDOUT_FILENO, s, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;
		s += n;
		len -= (size_t)n;
	}
}

/* Catch the quit signals, but keep them blocked outside rc_term_wait_key. */
static void rc_term_signals(void)
{
	struct sigaction sa;
	sigset_t block;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = rc_term_on_signal;
	sigemptyset(&sa.sa_mask);
	sigemptyset(&block);
	for (size_t i = 0; i < 3; i++) {
		sigaction(rc_quit_signals[i], &sa, &rc_term.saved_act[i]);
		sigaddset(&block, rc_quit_signals[i]);
	}
	sigprocmask(SIG_BLOCK, &block, &rc_term.saved_mask);
	rc_term.wait_mask = rc_term.saved_mask;
	for (size_t i = 0; i < 3; i++)
		sigdelset(&rc_term.wait_mask, rc_quit_signals[i]);
}

int rc_term_enter(void)
{
	struct termios raw;

	if (rc_term.active)
		return 0;
	if (isatty(STDIN_FILENO)) {
		if (tcgetattr(STDIN_FILENO, &rc_term.saved) < 0)
			return -1;
		raw = rc_term.saved;
		/* Keep ISIG (Ctrl-C still signals) and OPOST ("\n" still
		 * moves to the start of the next line). */
		raw.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
		raw.c_cc[VMIN] = 0;
		raw.c_cc[VTIME] = 0;
		if (tcsetattr(STDIN_FILENO, TCSAFLUSH, &raw) < 0)
			return -1;
		rc_term.raw = 1;
	}
	rc_term_signals();
	rc_term.active = 1;
	atexit(rc_term_leave);
	rc_term_write(RC_TERM_ON);
	return 0;
}

void rc_term_leave(void)
{
	if (!rc_term.active)
		return;
	rc_term.active = 0;
	fflush(stdout);
	rc_term_write(RC_TERM_OFF);
	if (rc_term.raw)
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &rc_term.saved);
	rc_term.raw = 0;
	for (size_t i = 0; i < 3; i++)
		sigaction(rc_quit_signals[i], &rc_term.saved_act[i], NULL);
	sigprocmask(SIG_SETMASK, &rc_term.saved_mask, NULL);
}

int rc_term_wait_key(int timeout_ms)
{
	struct pollfd p = { .fd = STDIN_FILENO, .events = POLLIN };
	struct timespec ts = { .tv_sec = timeout_ms / 1000,
			       .tv_nsec = (long)(timeout_ms % 1000) * 1000000L };
	unsigned char ch;
	int n;

	if (rc_term_quit)
		return -1;
	/* Quit signals are deliverable only inside ppoll: no lost wake-up. */
	n = ppoll(&p, rc_term.raw ? 1 : 0, &ts, &rc_term.wait_mask);
	if (n < 0)
		return errno == EINTR && rc_term_quit ? -1 : 0;
	if (n == 0)
		return 0;
	if (read(STDIN_FILENO, &ch, 1) != 1) {
		/* The terminal went away: treat as quit rather than spin. */
		return (p.revents & (POLLHUP | POLLERR)) ? -1 : 0;
	}
	return ch ? ch : 0;
}

void rc_term_size(int *cols, int *rows)
{
	struct winsize ws;

	*cols = 80;
	*rows = 24;
	if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0 &&
	    ws.ws_row > 0) {
		*cols = ws.ws_col;
		*rows = ws.ws_row;
	}
}
