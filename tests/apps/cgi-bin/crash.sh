#!/bin/sh
# Dies of SIGSEGV before writing anything.
kill -SEGV $$
