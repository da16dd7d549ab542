/*
 * --reload: watch the files an application was loaded from with inotify,
 * and tell the worker once one of them has changed.
 *
 * Directories are watched, not the files: an editor that saves by
 * writing a new file and renaming it over the old one replaces the
 * inode a file watch would be on.  Events are kept only for the names
 * asked for.
 */
#ifndef BRIDGE_WATCH_H
#define BRIDGE_WATCH_H

#include <time.h>

#include "loop.h"

/* A burst of changes (an editor writing a file several times) is over
 * once it has been quiet this long, or has lasted WATCH_BURST_MS. */
#define WATCH_QUIET_MS 200
#define WATCH_BURST_MS 1000
#define WATCH_FILES_MAX 4096

/*
 * The gateway's watch_file(): remember path and, once watch_start() has
 * run, watch it at once.  Any thread.  Returns 0, or -1 (logged) when
 * the file cannot be watched or past WATCH_FILES_MAX files.
 */
int watch_file(const char *path);

/*
 * Watch every file named so far, and those named later, on loop l.  A
 * file whose status changed after since (CLOCK_REALTIME, taken before
 * the application started loading) may have been read half-way and
 * counts as changed.  When a burst of changes is over, changed(path)
 * runs on the loop thread, once, with the first file that changed.
 * Returns 0, or -1 with errno (no inotify instance left).
 */
int watch_start(struct loop *l, void (*changed)(const char *path),
    const struct timespec *since);

#endif /* BRIDGE_WATCH_H */
