#!/bin/sh
# Never answers, ignores SIGTERM (so only SIGKILL ends it) and starts a
# child that does the same.  Pids go to pids-TAG in its directory.
trap '' TERM
sleep 1000 &
echo "$$ $!" > "pids-$QUERY_STRING"
while :; do sleep 1; done
