#!/usr/bin/python3
# The environment, from Python, plus the working directory.
import os
import sys

out = ["Content-Type: text/plain", "", "CWD=" + os.getcwd()]
out += ["%s=%s" % kv for kv in sorted(os.environ.items())]
sys.stdout.write("\n".join(out) + "\n")
