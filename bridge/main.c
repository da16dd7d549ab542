/*
 * bridge: put an application behind a web server (FastCGI), run it as a
 * CGI program, or serve it directly.  main() only decides which.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "access_log.h"
#include "adapter.h"
#include "body.h"
#include "cgi_mode.h"
#include "config.h"
#include "listen.h"
#include "log.h"
#include "master.h"
#include "module.h"
#include "notify.h"
#include "priv.h"
#include "proctitle.h"
#include "req.h"
#include "static.h"
#include "tls.h"

/*
 * Connections are file descriptors: take the hard limit (as nginx's
 * worker_rlimit_nofile), and keep --max-conns within it.
 */
static void
raise_nofile(void)
{
	struct rlimit rl;
	long room;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
		return;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
		getrlimit(RLIMIT_NOFILE, &rl);
	}
	/* Room for listeners, logs, spool files and the module's own. */
	room = rl.rlim_cur == RLIM_INFINITY ? 1L << 20 :
	    (long)rl.rlim_cur - 64;
	if (room < 16)
		room = 16;
	if (config.max_conns > room) {
		log_warn("--max-conns %d is above the open-file limit; using "
		    "%ld", config.max_conns, room);
		config.max_conns = (int)room;
	}
}

int
bridge_main(int argc, char **argv)
{
	char err[512];
	int nsystemd;

	/* Before anything keeps a pointer into the arguments. */
	argv = proctitle_init(argc, argv);
	master_save_origin(argv[0]);
	config_parse_args(argc, argv);
	/* Before anything is opened or the environment changed. */
	adapter_host(argc, argv);
	/* Gunicorn's --name: what ps -o comm, top and pgrep show (the
	 * kernel keeps 15 bytes), for the master and the workers. */
	if (config.proc_name != NULL)
		prctl(PR_SET_NAME, config.proc_name, 0, 0, 0);
	notify_init();
	if (config.umask >= 0)
		umask((mode_t)config.umask);
	priv_resolve();
	if (!config.check_config)
		priv_refuse_root();
	log_level = config.log_level;
	if (log_open(config.error_log) == -1)
		fatal("--error-log %s: %s", config.error_log,
		    log_open_error());
	body_configure(config.body_buffer, config.tmp_dir);
	raise_nofile();
	if (access_log_format(config.access_log_format, err,
	    sizeof(err)) == -1)
		fatal("%s", err);
	if (config.access_log != NULL &&
	    access_log_open(config.access_log) == -1)
		fatal("--access-log %s: %s", config.access_log,
		    strerror(errno));

	tls_configure();
	/* The application is checked as the workers would load it. */
	if (config.check_config)
		priv_check_config();
	if (config.chdir != NULL && chdir(config.chdir) == -1)
		fatal("--chdir %s: %s", config.chdir, strerror(errno));
	/* DIR is absolute (config.c), from where bridge started. */
	static_init();
	adapter_select();
	/* PEP 3333 wsgi.multithread: true when requests run side by side. */
	req_server.multithread = config.threads > 1;
	if (config.module == NULL)
		fatal("no application: give --module PATH, --wsgi APP, --asgi "
		    "APP or --cgi ROOT (see bridge --help)");
	if (module_load(config.module, err, sizeof(err)) == -1)
		fatal("%s", err);
	/* With --check-config too: a reload checks the new configuration
	 * that way, application included, before it commits to it. */
	if (config.preload && module_init(config.module_arg) == -1)
		fatal("--preload: module %s could not start the application "
		    "(see the error log)", module.m->name);
	if (config.check_config) {
		/* A configuration that serves nothing is a mistake, unless
		 * the sockets come from whoever starts bridge: systemd
		 * (LISTEN_FDS), spawn-fcgi (fd 0), a web server running it
		 * as a CGI program, or the master checking a reload. */
		if (config.nlisten == 0 && getenv("LISTEN_FDS") == NULL &&
		    getenv("BRIDGE_LISTENING") == NULL &&
		    !cgi_mode_detect() && !listen_inherit_fd0())
			fatal("nothing to serve: give --http ADDR, --https "
			    "ADDR or --fastcgi ADDR (a configuration for "
			    "systemd's sockets is checked with LISTEN_FDS=1 "
			    "set)");
		/* Everything is checked that can be without binding. */
		config_print(stdout);
		return 0;
	}

	listen_import();	/* a reload's re-exec hands them over */
	/* systemd's first: a configured address it passed is served on
	 * its socket, not bound again. */
	nsystemd = listen_inherit_systemd();
	if (config.nlisten > 0)
		listen_open_all();
	if (nsystemd > 0) {
		int i;

		for (i = 0; i < nlisteners; i++)
			if (listeners[i].proto == PROTO_HTTPS &&
			    !tls_enabled())
				fatal("%s: an https socket needs --cert and "
				    "--key", listeners[i].name);
	} else if (nlisteners == 0 && !listen_inherit_fd0()) {
		if (cgi_mode_detect())
			return cgi_mode_run(priv_drop());
		fatal("nothing to serve: give --http ADDR, --https ADDR or "
		    "--fastcgi ADDR, or start bridge with a listening socket "
		    "on fd 0 (spawn-fcgi), from systemd's sockets, or as a "
		    "CGI program");
	}
	/* Not in CGI program mode: no master, nothing to report on. */
	if (config.stats != NULL)
		listen_open_stats(config.stats);
	listen_close_inherited();
	/* Once the sockets are bound: a start-up error stays one line. */
	if (adapter_python_note() != NULL)
		log_info("python: %s", adapter_python_note());
	if (config.venv_from_env)
		log_info("using the activated virtualenv %s (VIRTUAL_ENV) as "
		    "--venv", config.venv);
	/* --reload: each worker loads a native module itself, so that a
	 * rebuilt one is read; the master keeps no mapping of a file the
	 * developer is about to overwrite. */
	if (config.reload && config.wsgi_app == NULL &&
	    config.cgi_root == NULL)
		module_unload();
	return master_run(argv);
}

#ifndef BRIDGE_NO_MAIN
int
main(int argc, char **argv)
{
	return bridge_main(argc, argv);
}
#endif
