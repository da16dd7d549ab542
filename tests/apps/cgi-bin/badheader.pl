#!/usr/bin/perl
# A header line without a colon.
print "Content-Type text/plain\n\nbody\n";
