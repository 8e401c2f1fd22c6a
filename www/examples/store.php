<?php
// Usage: php store.php file.torrent
$client = new SoapClient("{{BASE}}/api/thetorrent.wsdl");
try {
    $hash = $client->storeTorrent(base64_encode(file_get_contents($argv[1])));
    echo $hash, "\n";
} catch (SoapFault $e) {
    fwrite(STDERR, "error: " . $e->getMessage() . "\n");
    exit(1);
}
