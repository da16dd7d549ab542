#!/usr/bin/perl
# The request body back in 64 KiB pieces, writing each before reading on.
use strict;
use warnings;
binmode STDIN;
binmode STDOUT;
$| = 1;
my $left = $ENV{CONTENT_LENGTH} || 0;
print "Content-Type: application/octet-stream\r\n\r\n";
while ($left > 0) {
    my $n = read(STDIN, my $buf, $left < 65536 ? $left : 65536);
    die "read: $!" unless defined $n;
    last if $n == 0;
    print $buf;
    $left -= $n;
}
