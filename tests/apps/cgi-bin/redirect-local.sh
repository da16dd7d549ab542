#!/bin/sh
# Local redirect (RFC 3875 6.2.2): the server fetches the target itself.
printf 'Location: /cgi-bin/env.sh?redirected=1\r\n\r\n'
