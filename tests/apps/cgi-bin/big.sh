#!/bin/sh
# 10 MiB of output without reading the request body at all.
printf 'Content-Type: application/octet-stream\r\n\r\n'
exec head -c 10485760 /dev/zero
