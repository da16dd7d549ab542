#!/bin/sh
# Status: from the query string, e.g. ?418%20I'm%20a%20teapot
code=$(printf '%s' "$QUERY_STRING" | sed 's/%20/ /g')
printf 'Status: %s\r\nContent-Type: text/plain\r\nX-Script: status\r\n\r\n' "$code"
printf 'status %s\n' "$code"
