#!/bin/sh
# Answers with 2 MiB at once (past any buffering in the server, so the
# client sees the response start), then keeps it open forever, writing a
# line every 0.2 s.  Pids go to pids-TAG.
sleep 1000 &
echo "$$ $!" > "pids-$QUERY_STRING"
printf 'Content-Type: text/plain\r\n\r\n'
head -c 2097152 /dev/zero
while :; do echo tick; sleep 0.2; done
