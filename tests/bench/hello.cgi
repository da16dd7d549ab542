#!/bin/sh
# The CGI peer of tests/bench/run.sh --group cgi: the smallest CGI script,
# run by bridge --cgi and by fcgiwrap alike, so the benchmark compares the
# gateways (fork, exec, pipes, framing), not the script.
printf 'Content-Type: text/plain\r\n\r\nhello\n'
