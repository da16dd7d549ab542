#!/usr/bin/python3
"""--reload, for development: a worker restarts when a source file of the
application changes (written in place, or renamed over as editors save),
a module the app imports included, and a rebuilt native .so; a burst of
writes gives a bounded number of restarts; an application that fails to
import leaves the worker answering 500 until the file is fixed; the master
never restarts or backs off.  Without --reload nothing happens."""
import os
import re
import shutil
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness                                           # noqa: E402
# Workers run LeakSanitizer before they exit; with Python's threads in
# them, clang 14's tracer dies on their dynamic TLS ("Tracer caught
# signal 11"), as in test_wsgi_threads.py.  No TLS (OpenSSL keeps its
# per-thread state there) in these tests.
if harness.SANITIZED:
    os.environ["LSAN_OPTIONS"] = os.environ.get("LSAN_OPTIONS", "") + \
        ":use_tls=0"
from harness import (BRIDGE, BUILDDIR, SRCDIR, TempDir, free_port,  # noqa
                     http_request, stop_process, wait_for, wait_port)

ADAPTER = os.path.join(BUILDDIR, "adapters/python/.libs/python.so")
RELOAD_LINE = r"reload: %s changed; restarting worker \d+"

APP = """import helper

def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"%s " + helper.NAME]
"""


def write(path, text):
    with open(path, "w") as f:
        f.write(text)


def replace(path, text):
    """Save as editors do: a new file renamed over the old one."""
    write(path + ".swp", text)
    os.replace(path + ".swp", path)


class ReloadDevTest(unittest.TestCase):
    def setUp(self):
        self.tmp = TempDir(self, "bridge-reload-dev-")
        self.app = self.tmp.join("app.py")
        self.helper = self.tmp.join("helper.py")
        write(self.app, APP % "v1")
        write(self.helper, 'NAME = b"h1"\n')

    def start(self, *args, reload=True, workers=1):
        # A file changed while a worker loads it counts as changed (it
        # may have been read half-way): let the fixtures age past that.
        files = [self.app, self.helper]
        wait_for(lambda: all(time.time() - os.stat(f).st_ctime > 0.1
                             for f in files if os.path.exists(f)), 2)
        self.port = free_port()
        self.log_path = self.tmp.join("bridge.log")
        argv = [BRIDGE, "--http", "127.0.0.1:%d" % self.port,
                "--error-log", self.log_path, "-w", str(workers)]
        argv += ["--reload"] if reload else []
        self.out = open(self.tmp.join("stdout"), "wb")
        self.addCleanup(self.out.close)
        self.proc = subprocess.Popen(argv + list(args) +
                                     harness.user_args(),
                                     stdin=subprocess.DEVNULL,
                                     stdout=self.out,
                                     stderr=subprocess.STDOUT)
        self.addCleanup(self.stop)
        wait_port("127.0.0.1", self.port, proc=self.proc)
        self.assertTrue(wait_for(lambda: "serving on" in self.log(), 5),
                        self.log())

    def start_wsgi(self, **kw):
        self.start("--wsgi", "app", "--chdir", self.tmp.path, **kw)

    def stop(self):
        rc = stop_process(self.proc)
        self.assertEqual(rc, 0, "bridge did not stop cleanly:\n"
                         + self.log())

    def log(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def get(self):
        try:
            st, _, body = http_request(self.port, timeout=5)
            return st, body
        except OSError as e:
            return None, repr(e).encode()

    def wait_body(self, want, status=200, timeout=10):
        """Poll until `rounds` answers in a row are (status, want)."""
        seen = []

        def ok():
            got = self.get()
            seen.append(got)
            return all(g == (status, want) for g in seen[-3:]) and \
                len(seen) >= 3
        if not wait_for(ok, timeout, 0.1):
            self.fail("never got %r %r; last %r; log:\n%s"
                      % (status, want, seen[-3:], self.log()))

    def reloads(self, name):
        return len(re.findall(RELOAD_LINE % re.escape(name), self.log()))

    def assert_master_kept(self):
        self.assertIsNone(self.proc.poll(), self.log())
        log = self.log()
        self.assertEqual(log.count("serving on"), 1, log)
        # Restarts are not crashes: no back-off, no "respawning".
        self.assertNotIn("respawning", log)
        self.assertNotIn("could not start the application", log)

    # --- Python ------------------------------------------------------

    @unittest.skipUnless(os.path.exists(ADAPTER), "Python adapter not built")
    def test_write_in_place_reloads(self):
        self.start_wsgi(workers=2)
        pid = self.proc.pid
        self.wait_body(b"v1 h1")
        write(self.app, APP % "v2")
        self.wait_body(b"v2 h1")
        self.assertEqual(self.proc.pid, pid)
        self.assertGreaterEqual(self.reloads(self.app), 1, self.log())
        self.assert_master_kept()

    @unittest.skipUnless(os.path.exists(ADAPTER), "Python adapter not built")
    def test_save_by_rename_reloads(self):
        self.start_wsgi()
        self.wait_body(b"v1 h1")
        replace(self.app, APP % "v2")
        self.wait_body(b"v2 h1")
        self.assertGreaterEqual(self.reloads(self.app), 1, self.log())
        # The new file is watched in turn.
        replace(self.app, APP % "v3")
        self.wait_body(b"v3 h1")
        self.assert_master_kept()

    @unittest.skipUnless(os.path.exists(ADAPTER), "Python adapter not built")
    def test_imported_module_reloads(self):
        self.start_wsgi()
        self.wait_body(b"v1 h1")
        write(self.helper, 'NAME = b"h2"\n')
        self.wait_body(b"v1 h2")
        self.assertGreaterEqual(self.reloads(self.helper), 1, self.log())
        self.assert_master_kept()

    @unittest.skipUnless(os.path.exists(ADAPTER), "Python adapter not built")
    def test_module_imported_by_a_request_reloads(self):
        # Imported on the first request, on an application thread: named
        # to the server after that request.
        write(self.app, "def application(environ, start_response):\n"
              "    import lazy\n"
              "    start_response('200 OK', [])\n"
              "    return [lazy.NAME]\n")
        lazy = self.tmp.join("lazy.py")
        write(lazy, 'NAME = b"l1"\n')
        self.start("--wsgi", "app", "--chdir", self.tmp.path, "--threads",
                   "2")
        self.wait_body(b"l1")
        write(lazy, 'NAME = b"l2"\n')
        self.wait_body(b"l2")
        self.assertGreaterEqual(self.reloads(lazy), 1, self.log())
        self.assert_master_kept()

    @unittest.skipUnless(os.path.exists(ADAPTER), "Python adapter not built")
    def test_burst_of_writes_restarts_a_bounded_number_of_times(self):
        self.start_wsgi()
        self.wait_body(b"v1 h1")
        before = self.reloads(self.app)
        for i in range(2, 7):
            write(self.app, APP % ("v%d" % i))
            time.sleep(0.03)    # an editor writing in pieces
        self.wait_body(b"v6 h1")
        # Whatever else would come comes within the debounce bounds
        # (quiet 0.2 s, burst 1 s); wait past them for more restarts.
        more = wait_for(lambda: self.reloads(self.app) - before > 2, 2)
        n = self.reloads(self.app) - before
        self.assertFalse(more, "%d restarts for one burst:\n%s"
                         % (n, self.log()))
        self.assertGreaterEqual(n, 1)
        self.assert_master_kept()

    @unittest.skipUnless(os.path.exists(ADAPTER), "Python adapter not built")
    def test_syntax_error_answers_500_until_fixed(self):
        self.start_wsgi(workers=2)
        self.wait_body(b"v1 h1")
        write(self.app, APP % "v2" + "\ndef broken(:\n")
        self.wait_body(b"application failed to load; see the error log\n",
                       500)
        log = self.log()
        self.assertIn("SyntaxError", log)
        self.assertIn('File "%s", line 7' % self.app, log)
        self.assertIn("answering 500 until a watched file changes", log)
        # The error in an imported module: its file is watched too.
        write(self.app, APP % "v3")
        write(self.helper, "NAME = b'h2' +\n")
        self.wait_body(b"application failed to load; see the error log\n",
                       500)
        write(self.helper, "NAME = b'h3'\n")
        self.wait_body(b"v3 h3")
        self.assert_master_kept()

    @unittest.skipUnless(os.path.exists(ADAPTER), "Python adapter not built")
    def test_broken_at_start_serves_500_then_recovers(self):
        write(self.app, "import helper\nraise RuntimeError('not yet')\n")
        self.start_wsgi()
        self.wait_body(b"application failed to load; see the error log\n",
                       500)
        self.assertIn("RuntimeError: not yet", self.log())
        write(self.app, APP % "v2")
        self.wait_body(b"v2 h1")
        self.assert_master_kept()

    @unittest.skipUnless(os.path.exists(ADAPTER), "Python adapter not built")
    def test_missing_module_is_waited_for(self):
        os.unlink(self.app)
        self.start_wsgi()
        self.wait_body(b"application failed to load; see the error log\n",
                       500)
        self.assertIn("ModuleNotFoundError", self.log())
        replace(self.app, APP % "v1")
        self.wait_body(b"v1 h1")
        self.assert_master_kept()

    @unittest.skipUnless(os.path.exists(ADAPTER), "Python adapter not built")
    def test_without_reload_nothing_changes(self):
        self.start_wsgi(reload=False)
        self.wait_body(b"v1 h1")
        write(self.app, APP % "v2")
        replace(self.helper, 'NAME = b"h2"\n')
        # Past the time a --reload restart takes (see above): still v1.
        changed = wait_for(lambda: self.get() != (200, b"v1 h1"), 1.5, 0.1)
        self.assertFalse(changed, self.log())
        self.assertNotIn("reload:", self.log())

    # --- native module -----------------------------------------------

    def build_so(self, version):
        cc = shutil.which("cc")
        if cc is None:
            self.skipTest("no C compiler")
        src = self.tmp.join("ver.c")
        write(src, NATIVE)
        # The linker removes and recreates its output: a running worker
        # keeps its mapping of the old file.
        out = self.tmp.join("ver.so")
        subprocess.run([cc, "-shared", "-fPIC", "-I", SRCDIR,
                        "-DVERSION=\"%s\"" % version, "-o", out, src],
                       check=True, timeout=60)
        return out

    def test_native_module_rebuilt_reloads(self):
        so = self.build_so("n1")
        self.app = so
        self.helper = self.tmp.join("ver.conf")
        write(self.helper, "one\n")
        self.start("--module", so, "--module-arg", self.helper, workers=2)
        self.wait_body(b"n1")
        self.build_so("n2")
        self.wait_body(b"n2")
        self.assertGreaterEqual(self.reloads(so), 1, self.log())
        # A file the module named with watch_file().
        before = self.reloads(self.helper)
        replace(self.helper, "two\n")
        self.assertTrue(wait_for(lambda: self.reloads(self.helper) > before),
                        self.log())
        self.wait_body(b"n2")
        self.assert_master_kept()

    # --- configuration -----------------------------------------------

    def test_reload_with_preload_is_refused(self):
        r = subprocess.run([BRIDGE, "--http", "127.0.0.1:%d" % free_port(),
                            "--wsgi", "app", "--chdir", self.tmp.path,
                            "--reload", "--preload"] + harness.user_args(),
                           capture_output=True, timeout=10)
        self.assertEqual(r.returncode, 2)
        err = r.stderr.decode()
        self.assertEqual(err.count("\n"), 1, err)
        self.assertIn("--reload cannot go with --preload", err)

    def test_reload_is_a_config_key(self):
        if not os.path.exists(ADAPTER):
            self.skipTest("Python adapter not built")
        conf = self.tmp.join("bridge.conf")
        write(conf, "http = 127.0.0.1:8000\nwsgi = app\nreload = yes\n")
        r = subprocess.run([BRIDGE, "--config", conf, "--chdir",
                            self.tmp.path, "--check-config"]
                           + harness.user_args(),
                           capture_output=True, timeout=20)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(b"\nreload = yes\n", r.stdout)
        r = subprocess.run([BRIDGE, "--check-config", "--wsgi", "app",
                            "--chdir", self.tmp.path] + harness.user_args(),
                           capture_output=True, timeout=20)
        self.assertNotIn(b"\nreload = ", r.stdout)


NATIVE = r"""
#include <stddef.h>

#include <bridge/gateway.h>

static const struct bg_server *srv;

static int
ver_init(const struct bg_server *s, const char *arg, void **ctx)
{
	srv = s;
	*ctx = 0;
	/* A file the module reads: watched through the gateway. */
	if (arg != NULL && s->size > offsetof(struct bg_server, watch_file) &&
	    s->watch_file != NULL)
		return s->watch_file(arg) == 0 ? 0 : -1;
	return 0;
}

static int
ver_handle(void *ctx, bg_request *r)
{
	static const char body[] = VERSION;

	(void)ctx;
	if (srv->start_response(r, 200, 0, 0, 0, 0) == -1)
		return BG_ERROR;
	return srv->write(r, body, sizeof(body) - 1) == 0 ? BG_OK : BG_ERROR;
}

static const struct bg_module ver_module = {
	.abi_version = BG_ABI_VERSION,
	.size = sizeof(struct bg_module),
	.name = "ver",
	.init = ver_init,
	.handle = ver_handle,
};

const struct bg_module *
bg_module_entry(void)
{
	return &ver_module;
}
"""

if __name__ == "__main__":
    harness.main()
