#!/bin/sh
# Installed without the execute bit: must not run.
printf 'Content-Type: text/plain\r\n\r\nnoexec ran\n'
