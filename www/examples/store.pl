# Usage: perl store.pl file.torrent
use strict;
use warnings;
use SOAP::Lite;
use MIME::Base64 qw(encode_base64);

my $wsdl = "{{BASE}}/api/thetorrent.wsdl";
my $s = SOAP::Lite->service($wsdl);
# on_fault goes on the object service() returns: set elsewhere, a Fault just returns undef.
$s->on_fault(sub { my ($soap, $res) = @_; die ref $res ? $res->faultstring : $soap->transport->status, "\n" });

my $file = shift or die "usage: perl store.pl file.torrent\n";
open my $fh, '<:raw', $file or die "$file: $!\n";
my $torrent = do { local $/; <$fh> };
print $s->storeTorrent(encode_base64($torrent)), "\n";
