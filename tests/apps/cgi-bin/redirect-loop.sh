#!/bin/sh
# A local redirect to itself: must stop after a few.
printf 'Location: /cgi-bin/redirect-loop.sh\r\n\r\n'
