#!/bin/sh
# Client redirect (RFC 3875 6.2.3): 302 to an absolute URI.
printf 'Location: http://example.com/elsewhere?x=1\r\n\r\n'
