#!/bin/sh
# Writes without end as fast as the client takes it; only a client abort
# (or the timeout) stops it.  Pids go to pids-TAG.
sleep 1000 &
echo "$$ $!" > "pids-$QUERY_STRING"
printf 'Content-Type: text/plain\r\n\r\n'
exec yes streaming
