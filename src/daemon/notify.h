/* notify.h - the systemd readiness protocol (sd_notify(3)), spoken by
 * hand: one datagram of "KEY=VALUE\n" lines to the AF_UNIX socket named
 * by $NOTIFY_SOCKET (a path, or "@name" for the abstract namespace). No
 * libsystemd. Without $NOTIFY_SOCKET every call is a no-op, so the
 * daemon calls these unconditionally. */
#ifndef RP_NOTIFY_H
#define RP_NOTIFY_H

#define NOTIFY_MAX 4096 /* one message, bytes */

/* Sends the formatted message, e.g. "READY=1\nSTATUS=2 workers". 0 (also
 * when there is nowhere to send), or -1 with errno. */
int notify_send(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* While another master of the same service speaks for it (a binary
 * upgrade, upgrade.c), this one says nothing: its READY=1 or STOPPING=1
 * would be taken for the service's. notify_send is then a no-op. */
void notify_mute(int muted);
/* "RELOADING=1" with MONOTONIC_USEC, which Type=notify-reload (systemd
 * 253) requires and older systemd ignores. Send READY=1 when the reload
 * has finished, whether or not it succeeded. */
int notify_reloading(void);

#endif
