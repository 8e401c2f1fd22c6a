# Upload: -D - prints the answer's headers, then the body (the hash or the error)
curl -F torrent=@file.torrent {{BASE}}/api/upload -D -

# Upload the raw file as the body
curl --data-binary @file.torrent -H 'Content-Type: application/x-bittorrent' {{BASE}}/api/upload

# Download a stored file by its info hash
curl -fO {{BASE}}/torrent/7431A969B347E14BBA641B3517C024F7B40DFB7F.torrent
