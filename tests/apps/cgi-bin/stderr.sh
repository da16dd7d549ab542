#!/bin/sh
# A line on stderr, tagged with the query, then a normal answer.
echo "stderr line from the script tag=$QUERY_STRING" >&2
printf 'Content-Type: text/plain\r\n\r\nok\n'
