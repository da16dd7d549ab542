#!/bin/sh
# The request body back, streamed by head(1): it writes while it reads,
# so a server that feeds the whole body before reading deadlocks.
printf 'Content-Type: application/octet-stream\r\n\r\n'
exec head -c "${CONTENT_LENGTH:-0}"
