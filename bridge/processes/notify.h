/*
 * systemd service notifications (sd_notify(3) protocol, without
 * libsystemd): datagrams of "KEY=value" lines to $NOTIFY_SOCKET.
 * Does nothing when bridge does not run under Type=notify.
 */
#ifndef BRIDGE_NOTIFY_H
#define BRIDGE_NOTIFY_H

#include <stdint.h>

/* Read NOTIFY_SOCKET and WATCHDOG_USEC, then hide them from children. */
void notify_init(void);

/* Under Type=notify (NOTIFY_SOCKET was set)? */
int notify_enabled(void);

/* Send one message; returns 0, or -1 (also when not under systemd). */
int notify(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Put NOTIFY_SOCKET (and the watchdog) back into the environment, for
 * the image a reload executes. */
void notify_env_restore(void);

/* Watchdog interval in ms as systemd asked, 0 when none. */
uint64_t notify_watchdog_ms(void);

#endif /* BRIDGE_NOTIFY_H */
