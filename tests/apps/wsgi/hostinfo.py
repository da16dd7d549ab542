"""What the interpreter running the application looks like, as JSON:
the executable, sys.argv, sys.path, the signals ignored and caught,
the process name; test_python_exe.py compares the two ways bridge runs Python."""
import json
import os
import sys


def application(environ, start_response):
    with open("/proc/self/comm") as f:
        comm = f.read().strip()
    # Signals ignored and caught by this process, as the kernel has them.
    with open("/proc/self/status") as f:
        masks = dict(line.split(":\t") for line in f
                     if line.startswith(("SigIgn", "SigCgt")))
    masks = {k: int(v, 16) for k, v in masks.items()}
    with open("/proc/self/maps") as f:
        libpython = "libpython" in f.read()
    body = json.dumps({
        "exe": os.readlink("/proc/self/exe"),
        "executable": sys.executable,
        "argv": sys.argv,
        "path": sys.path,
        "sigign": masks["SigIgn"],
        "sigcgt": masks["SigCgt"],
        "comm": comm,
        "pid": os.getpid(),
        "libpython": libpython,
        "environ_host": "BRIDGE_PYTHON_HOST_PID" in os.environ,
        "mark": os.environ.get("BRIDGE_TEST_MARK"),
    }).encode()
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(body)))])
    return [body]
