#!/bin/sh
# Hop-by-hop header fields are the server's (left out, not a 502).
printf 'Content-Type: text/plain\r\nConnection: close\r\nKeep-Alive: 5\r\n\r\nhop\n'
