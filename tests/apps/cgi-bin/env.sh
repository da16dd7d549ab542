#!/bin/sh
# The environment the script was given, one NAME=value a line, sorted.
printf 'Content-Type: text/plain\r\n\r\n'
env | LC_ALL=C sort
