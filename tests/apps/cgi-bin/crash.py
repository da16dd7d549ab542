#!/usr/bin/python3
# Raises before writing anything: exit status 1 and a traceback on stderr.
raise RuntimeError("crash.py failed on purpose")
