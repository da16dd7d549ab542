/*
 * Process titles: the command line ps, top and /proc/PID/cmdline show.
 * "bridge: master ARGS", "bridge: worker N", "bridge: worker N
 * (stopping)", "bridge: stats"; --name NAME replaces "bridge".  An
 * operator tells the master (the process to signal) from its workers,
 * as with nginx and Gunicorn, also when bridge runs inside python3.X
 * (--python-exe), whose long command line ps would show otherwise.
 */
#ifndef BRIDGE_PROCTITLE_H
#define BRIDGE_PROCTITLE_H

/*
 * First thing in main(): moves the arguments and the environment
 * strings out of the area the kernel shows, so that titles may
 * overwrite it.  Returns the copy of argv to use from then on (argv
 * itself when titles cannot be set).
 */
char **proctitle_init(int argc, char **argv);

/* Set the title: the process name, ": ", then fmt.  Truncated to the
 * area's size; nothing when proctitle_init() found no area. */
void proctitle_set(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

#endif /* BRIDGE_PROCTITLE_H */
