#!/usr/bin/perl
# The environment, from Perl, plus the argument count (RFC 3875 4.4:
# bridge builds no command line from the query).
use strict;
use warnings;
print "Content-Type: text/plain\n\n";
print "ARGC=", scalar(@ARGV), "\n";
print "$_=$ENV{$_}\n" for sort keys %ENV;
