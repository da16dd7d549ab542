#!/usr/bin/python3
# The request body back in 64 KiB pieces, and its length in a header
# only known after reading: so it writes a big body first and reads
# after (the other order from echo.pl).
import os
import sys

n = int(os.environ.get("CONTENT_LENGTH") or 0)
out = sys.stdout.buffer
out.write(b"Content-Type: application/octet-stream\r\n\r\n")
out.write(b"x" * (1 << 20))
out.flush()
while n > 0:
    chunk = sys.stdin.buffer.read(min(n, 65536))
    if not chunk:
        break
    out.write(chunk)
    n -= len(chunk)
out.flush()
