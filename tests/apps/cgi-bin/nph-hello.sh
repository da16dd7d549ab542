#!/bin/sh
# Non-parsed header script (RFC 3875 section 5): the HTTP status line and
# header are its own.
printf 'HTTP/1.1 201 Created\r\nContent-Type: text/plain\r\nX-Nph: yes\r\n\r\nnph body\n'
