# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_thetorrent_global_optspecs
    string join \n data= max-torrent-size= store= s3-endpoint= s3-credentials= s3-no-conditional-put s3-create-bucket s3-cache-mb= s3-miss-ttl= s3-list-ttl= node-id= s3-timeout= h/help V/version
end

function __fish_thetorrent_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_thetorrent_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_thetorrent_using_subcommand
    set -l cmd (__fish_thetorrent_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c thetorrent -n "__fish_thetorrent_needs_command" -l data -d 'Data directory' -r -F
complete -c thetorrent -n "__fish_thetorrent_needs_command" -l max-torrent-size -d 'Largest torrent file accepted (a size: `10MiB`, `16M`, or bytes)' -r
complete -c thetorrent -n "__fish_thetorrent_needs_command" -l store -d 'Where torrents live: `s3://bucket` or `s3://bucket/prefix` for an S3 bucket (default: the local `--data` directory)' -r
complete -c thetorrent -n "__fish_thetorrent_needs_command" -l s3-endpoint -d 'The S3 endpoint, e.g. `http://127.0.0.1:8333` (needed with an `s3://` store)' -r
complete -c thetorrent -n "__fish_thetorrent_needs_command" -l s3-credentials -d 'Credentials file (`~/.aws/credentials` format); `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and `AWS_REGION` win over it' -r -F
complete -c thetorrent -n "__fish_thetorrent_needs_command" -l s3-cache-mb -d 'Read cache of downloaded torrents, MiB (0: none)' -r
complete -c thetorrent -n "__fish_thetorrent_needs_command" -l s3-miss-ttl -d 'Seconds a miss (404) is remembered' -r
complete -c thetorrent -n "__fish_thetorrent_needs_command" -l s3-list-ttl -d 'Seconds between re-readings of the shared lists and blocklist' -r
complete -c thetorrent -n "__fish_thetorrent_needs_command" -l node-id -d 'This front end\'s name in list segments (`[a-z0-9]`, at most 32); default: random' -r
complete -c thetorrent -n "__fish_thetorrent_needs_command" -l s3-timeout -d 'Seconds the object store gets to answer a request (plus 1 s per MiB sent). One that takes longer marks the store down: requests then fail at once (503, Retry-After) until a probe finds it answering again' -r
complete -c thetorrent -n "__fish_thetorrent_needs_command" -l s3-no-conditional-put -d 'For stores that ignore `If-None-Match: *`: HEAD, then PUT (racy, but safe: the key is the content\'s hash; two front ends may then both list one upload)'
complete -c thetorrent -n "__fish_thetorrent_needs_command" -l s3-create-bucket -d 'Create the bucket when it does not exist'
complete -c thetorrent -n "__fish_thetorrent_needs_command" -s h -l help -d 'Print help'
complete -c thetorrent -n "__fish_thetorrent_needs_command" -s V -l version -d 'Print version'
complete -c thetorrent -n "__fish_thetorrent_needs_command" -f -a "serve" -d 'Serve the store over HTTP'
complete -c thetorrent -n "__fish_thetorrent_needs_command" -f -a "add" -d 'Store .torrent files; prints `<HASH>  <name>` per file, or its error (for folders, use `import`)'
complete -c thetorrent -n "__fish_thetorrent_needs_command" -f -a "import" -d 'Store every file under the given folders (recursively) and files, in parallel'
complete -c thetorrent -n "__fish_thetorrent_needs_command" -f -a "count" -d 'Print the number of stored torrents'
complete -c thetorrent -n "__fish_thetorrent_needs_command" -f -a "verify" -d 'Check every stored file\'s bytes (whole-file checksum and info hash) and report each damaged or missing one; with `--repair-from URL`, replace it from another instance'
complete -c thetorrent -n "__fish_thetorrent_needs_command" -f -a "block" -d 'Take a torrent down: downloads answer 451, uploads are refused'
complete -c thetorrent -n "__fish_thetorrent_needs_command" -f -a "unblock" -d 'Lift a takedown (exit 1 when the hash is not blocked)'
complete -c thetorrent -n "__fish_thetorrent_needs_command" -f -a "reindex" -d 'Rebuild the day lists (and so the count and /sync/) by walking the whole tree; with `--store s3://…`, list the torrents no list segment names'
complete -c thetorrent -n "__fish_thetorrent_needs_command" -f -a "mirror" -d 'Fetch what another instance lists under /sync/ and this store does not have'
complete -c thetorrent -n "__fish_thetorrent_needs_command" -f -a "migrate" -d 'Copy a store into another: a local data directory into an S3 bucket or back (resumable, verifies every file\'s hash)'
complete -c thetorrent -n "__fish_thetorrent_needs_command" -f -a "fetch" -d 'Fetch torrents from their swarm (DHT, a magnet link\'s trackers and peers) into the store; prints `<HASH>  <name>` per stored torrent, the reason per failed one (stderr)'
complete -c thetorrent -n "__fish_thetorrent_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c thetorrent -n "__fish_thetorrent_using_subcommand serve" -l listen -d 'Address to listen on (IPv4 `1.2.3.4:80` or IPv6 `[::1]:80`), may be repeated. Ignored when systemd passes sockets (`LISTEN_FDS`)' -r
complete -c thetorrent -n "__fish_thetorrent_using_subcommand serve" -l public-url -d 'Public base URL (e.g. `https://torrents.example.org`), used in links and the WSDL; default: built from the request\'s Host header' -r
complete -c thetorrent -n "__fish_thetorrent_using_subcommand serve" -l access-log -d 'Access log in combined log format: a file to append to (its folder must exist), or `-` for stdout (off if unset)' -r
complete -c thetorrent -n "__fish_thetorrent_using_subcommand serve" -l workers -d 'Worker threads of may, the coroutine runtime that runs the connections (0: one per core)' -r
complete -c thetorrent -n "__fish_thetorrent_using_subcommand serve" -l max-head-bytes -d 'Largest request head (431 over it)' -r
complete -c thetorrent -n "__fish_thetorrent_using_subcommand serve" -l max-headers -d 'Most header lines in a request (431 over it)' -r
complete -c thetorrent -n "__fish_thetorrent_using_subcommand serve" -l max-body-bytes -d 'Largest request body (413 over it). Default: what a SOAP upload of the largest torrent (`--max-torrent-size`) takes, base64 and envelope included; at least 16 MiB' -r
complete -c thetorrent -n "__fish_thetorrent_using_subcommand serve" -l body-budget -d 'Memory for request bodies in flight, all connections together (a size: 256M): a body that does not fit waits up to 5 s for room, then is answered 503 with Retry-After (a SOAP body counts 1.75 times: its decoded copy is held beside it). Default: 256 MiB, or twice the body limit when that is larger' -r
complete -c thetorrent -n "__fish_thetorrent_using_subcommand serve" -l max-connections -d 'Most open connections' -r
complete -c thetorrent -n "__fish_thetorrent_using_subcommand serve" -l head-timeout -d 'Seconds allowed to send a request head' -r
complete -c thetorrent -n "__fish_thetorrent_using_subcommand serve" -l idle-timeout -d 'Seconds an idle kept-alive connection stays open' -r
complete -c thetorrent -n "__fish_thetorrent_using_subcommand serve" -l body-grace -d 'Seconds a body sender gets before the rate floor applies' -r
complete -c thetorrent -n "__fish_thetorrent_using_subcommand serve" -l body-min-rate -d 'Slowest accepted body upload, bytes per second (a size: `1K` is 1024 bytes a second; 0: no floor), judged over a sliding window (`--body-rate-window`)' -r
complete -c thetorrent -n "__fish_thetorrent_using_subcommand serve" -l body-rate-window -d 'Seconds the body rate is judged over: a sender that stops is cut this long after it fell under the floor rate, however much it sent before' -r
complete -c thetorrent -n "__fish_thetorrent_using_subcommand serve" -l write-timeout -d 'Seconds a slow reader gets to take each 64 KiB of an answer' -r
complete -c thetorrent -n "__fish_thetorrent_using_subcommand serve" -l shutdown-grace -d 'Seconds requests in flight get to finish after SIGTERM' -r
complete -c thetorrent -n "__fish_thetorrent_using_subcommand serve" -l upload-rate -d 'Torrent files per second allowed per client address (IPv6: per /64; each file of a multipart upload counts); 0 turns limiting off' -r
complete -c thetorrent -n "__fish_thetorrent_using_subcommand serve" -l upload-burst -d 'Files an idle address may upload at once before the rate applies' -r
complete -c thetorrent -n "__fish_thetorrent_using_subcommand serve" -l writer-nice -d 'Nice value of the upload committer thread (lower runs first; 0, the default: leave it as is). Ahead of the request workers it slows downloads under upload load' -r
complete -c thetorrent -n "__fish_thetorrent_using_subcommand serve" -l fetch-wait -d 'Seconds a request for a torrent being fetched waits for it; after that the answer is 503 with Retry-After' -r
complete -c thetorrent -n "__fish_thetorrent_using_subcommand serve" -l dht-listen -d 'UDP address of the DHT node, IPv4 (default 0.0.0.0:6881, or a free port when 6881 is taken)' -r
complete -c thetorrent -n "__fish_thetorrent_using_subcommand serve" -l dht-bootstrap -d 'A DHT node to bootstrap from, HOST:PORT; may be repeated (default: the public routers router.bittorrent.com, router.utorrent.com, dht.transmissionbt.com, dht.libtorrent.org)' -r
complete -c thetorrent -n "__fish_thetorrent_using_subcommand serve" -l fetch-timeout -d 'One fetch\'s whole budget, in seconds' -r
complete -c thetorrent -n "__fish_thetorrent_using_subcommand serve" -l fetch-jobs -d 'Fetches running at once (each slot also queues 4 waiting ones)' -r
complete -c thetorrent -n "__fish_thetorrent_using_subcommand serve" -l fetch-miss-ttl -d 'Seconds a failed hash is answered from memory before it is searched again' -r
complete -c thetorrent -n "__fish_thetorrent_using_subcommand serve" -l file-cache -d 'Open torrent files kept for downloads (0: no cache)' -r
complete -c thetorrent -n "__fish_thetorrent_using_subcommand serve" -l stat-cache -d 'Stored files whose length and modification time are remembered, so that reopening one that is no longer open needs no `stat` (0: none)' -r
complete -c thetorrent -n "__fish_thetorrent_using_subcommand serve" -l data -d 'Data directory' -r -F
complete -c thetorrent -n "__fish_thetorrent_using_subcommand serve" -l max-torrent-size -d 'Largest torrent file accepted (a size: `10MiB`, `16M`, or bytes)' -r
complete -c thetorrent -n "__fish_thetorrent_using_subcommand serve" -l store -d 'Where torrents live: `s3://bucket` or `s3://bucket/prefix` for an S3 bucket (default: the local `--data` directory)' -r
complete -c thetorrent -n "__fish_thetorrent_using_subcommand serve" -l s3-endpoint -d 'The S3 endpoint, e.g. `http://127.0.0.1:8333` (needed with an `s3://` store)' -r
complete -c thetorrent -n "__fish_thetorrent_using_subcommand serve" -l s3-credentials -d 'Credentials file (`~/.aws/credentials` format); `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and `AWS_REGION` win over it' -r -F
complete -c thetorrent -n "__fish_thetorrent_using_subcommand serve" -l s3-cache-mb -d 'Read cache of downloaded torrents, MiB (0: none)' -r
complete -c thetorrent -n "__fish_thetorrent_using_subcommand serve" -l s3-miss-ttl -d 'Seconds a miss (404) is remembered' -r
complete -c thetorrent -n "__fish_thetorrent_using_subcommand serve" -l s3-list-ttl -d 'Seconds between re-readings of the shared lists and blocklist' -r
complete -c thetorrent -n "__fish_thetorrent_using_subcommand serve" -l node-id -d 'This front end\'s name in list segments (`[a-z0-9]`, at most 32); default: random' -r
complete -c thetorrent -n "__fish_thetorrent_using_subcommand serve" -l s3-timeout -d 'Seconds the object store gets to answer a request (plus 1 s per MiB sent). One that takes longer marks the store down: requests then fail at once (503, Retry-After) until a probe finds it answering again' -r
complete -c thetorrent -n "__fish_thetorrent_using_subcommand serve" -l rate-limit-loopback -d 'Rate-limit loopback clients too (off by default: a local reverse proxy or script)'
complete -c thetorrent -n "__fish_thetorrent_using_subcommand serve" -l publish-takedown-reasons -d 'Publish the reasons of takedowns in `/sync/takedowns.txt` (default: hashes only)'
complete -c thetorrent -n "__fish_thetorrent_using_subcommand serve" -l fetch -d 'Fetch a torrent that is not stored from its swarm (DHT, a magnet link\'s trackers and peers) when it is asked for, and store it. Off by default: no outbound traffic'
complete -c thetorrent -n "__fish_thetorrent_using_subcommand serve" -l no-dht -d 'No DHT: search only the trackers (tr=) and peers (x.pe=) a magnet link names'
complete -c thetorrent -n "__fish_thetorrent_using_subcommand serve" -l fetch-allow-private -d 'Accept loopback, private and link-local addresses as peers, trackers and DHT nodes (tests, LANs); refused by default'
complete -c thetorrent -n "__fish_thetorrent_using_subcommand serve" -l s3-no-conditional-put -d 'For stores that ignore `If-None-Match: *`: HEAD, then PUT (racy, but safe: the key is the content\'s hash; two front ends may then both list one upload)'
complete -c thetorrent -n "__fish_thetorrent_using_subcommand serve" -l s3-create-bucket -d 'Create the bucket when it does not exist'
complete -c thetorrent -n "__fish_thetorrent_using_subcommand serve" -s h -l help -d 'Print help'
complete -c thetorrent -n "__fish_thetorrent_using_subcommand serve" -s V -l version -d 'Print version'
complete -c thetorrent -n "__fish_thetorrent_using_subcommand add" -l data -d 'Data directory' -r -F
complete -c thetorrent -n "__fish_thetorrent_using_subcommand add" -l max-torrent-size -d 'Largest torrent file accepted (a size: `10MiB`, `16M`, or bytes)' -r
complete -c thetorrent -n "__fish_thetorrent_using_subcommand add" -l store -d 'Where torrents live: `s3://bucket` or `s3://bucket/prefix` for an S3 bucket (default: the local `--data` directory)' -r
complete -c thetorrent -n "__fish_thetorrent_using_subcommand add" -l s3-endpoint -d 'The S3 endpoint, e.g. `http://127.0.0.1:8333` (needed with an `s3://` store)' -r
complete -c thetorrent -n "__fish_thetorrent_using_subcommand add" -l s3-credentials -d 'Credentials file (`~/.aws/credentials` format); `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and `AWS_REGION` win over it' -r -F
complete -c thetorrent -n "__fish_thetorrent_using_subcommand add" -l s3-cache-mb -d 'Read cache of downloaded torrents, MiB (0: none)' -r
complete -c thetorrent -n "__fish_thetorrent_using_subcommand add" -l s3-miss-ttl -d 'Seconds a miss (404) is remembered' -r
complete -c thetorrent -n "__fish_thetorrent_using_subcommand add" -l s3-list-ttl -d 'Seconds between re-readings of the shared lists and blocklist' -r
complete -c thetorrent -n "__fish_thetorrent_using_subcommand add" -l node-id -d 'This front end\'s name in list segments (`[a-z0-9]`, at most 32); default: random' -r
complete -c thetorrent -n "__fish_thetorrent_using_subcommand add" -l s3-timeout -d 'Seconds the object store gets to answer a request (plus 1 s per MiB sent). One that takes longer marks the store down: requests then fail at once (503, Retry-After) until a probe finds it answering again' -r
complete -c thetorrent -n "__fish_thetorrent_using_subcommand add" -l s3-no-conditional-put -d 'For stores that ignore `If-None-Match: *`: HEAD, then PUT (racy, but safe: the key is the content\'s hash; two front ends may then both list one upload)'
complete -c thetorrent -n "__fish_thetorrent_using_subcommand add" -l s3-create-bucket -d 'Create the bucket when it does not exist'
complete -c thetorrent -n "__fish_thetorrent_using_subcommand add" -s h -l help -d 'Print help'
complete -c thetorrent -n "__fish_thetorrent_using_subcommand add" -s V -l version -d 'Print version'
complete -c thetorrent -n "__fish_thetorrent_using_subcommand import" -l report -d 'Write one line per rejected file (`path<TAB>reason`) to this file' -r -F
complete -c thetorrent -n "__fish_thetorrent_using_subcommand import" -l jobs -d 'Worker threads (default: one per core)' -r
complete -c thetorrent -n "__fish_thetorrent_using_subcommand import" -l data -d 'Data directory' -r -F
complete -c thetorrent -n "__fish_thetorrent_using_subcommand import" -l max-torrent-size -d 'Largest torrent file accepted (a size: `10MiB`, `16M`, or bytes)' -r
complete -c thetorrent -n "__fish_thetorrent_using_subcommand import" -l store -d 'Where torrents live: `s3://bucket` or `s3://bucket/prefix` for an S3 bucket (default: the local `--data` directory)' -r
complete -c thetorrent -n "__fish_thetorrent_using_subcommand import" -l s3-endpoint -d 'The S3 endpoint, e.g. `http://127.0.0.1:8333` (needed with an `s3://` store)' -r
complete -c thetorrent -n "__fish_thetorrent_using_subcommand import" -l s3-credentials -d 'Credentials file (`~/.aws/credentials` format); `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and `AWS_REGION` win over it' -r -F
complete -c thetorrent -n "__fish_thetorrent_using_subcommand import" -l s3-cache-mb -d 'Read cache of downloaded torrents, MiB (0: none)' -r
complete -c thetorrent -n "__fish_thetorrent_using_subcommand import" -l s3-miss-ttl -d 'Seconds a miss (404) is remembered' -r
complete -c thetorrent -n "__fish_thetorrent_using_subcommand import" -l s3-list-ttl -d 'Seconds between re-readings of the shared lists and blocklist' -r
complete -c thetorrent -n "__fish_thetorrent_using_subcommand import" -l node-id -d 'This front end\'s name in list segments (`[a-z0-9]`, at most 32); default: random' -r
complete -c thetorrent -n "__fish_thetorrent_using_subcommand import" -l s3-timeout -d 'Seconds the object store gets to answer a request (plus 1 s per MiB sent). One that takes longer marks the store down: requests then fail at once (503, Retry-After) until a probe finds it answering again' -r
complete -c thetorrent -n "__fish_thetorrent_using_subcommand import" -l quiet -d 'No progress bar'
complete -c thetorrent -n "__fish_thetorrent_using_subcommand import" -l s3-no-conditional-put -d 'For stores that ignore `If-None-Match: *`: HEAD, then PUT (racy, but safe: the key is the content\'s hash; two front ends may then both list one upload)'
complete -c thetorrent -n "__fish_thetorrent_using_subcommand import" -l s3-create-bucket -d 'Create the bucket when it does not exist'
complete -c thetorrent -n "__fish_thetorrent_using_subcommand import" -s h -l help -d 'Print help'
complete -c thetorrent -n "__fish_thetorrent_using_subcommand import" -s V -l version -d 'Print version'
complete -c thetorrent -n "__fish_thetorrent_using_subcommand count" -l data -d 'Data directory' -r -F
complete -c thetorrent -n "__fish_thetorrent_using_subcommand count" -l max-torrent-size -d 'Largest torrent file accepted (a size: `10MiB`, `16M`, or bytes)' -r
complete -c thetorrent -n "__fish_thetorrent_using_subcommand count" -l store -d 'Where torrents live: `s3://bucket` or `s3://bucket/prefix` for an S3 bucket (default: the local `--data` directory)' -r
complete -c thetorrent -n "__fish_thetorrent_using_subcommand count" -l s3-endpoint -d 'The S3 endpoint, e.g. `http://127.0.0.1:8333` (needed with an `s3://` store)' -r
complete -c thetorrent -n "__fish_thetorrent_using_subcommand count" -l s3-credentials -d 'Credentials file (`~/.aws/credentials` format); `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and `AWS_REGION` win over it' -r -F
complete -c thetorrent -n "__fish_thetorrent_using_subcommand count" -l s3-cache-mb -d 'Read cache of downloaded torrents, MiB (0: none)' -r
complete -c thetorrent -n "__fish_thetorrent_using_subcommand count" -l s3-miss-ttl -d 'Seconds a miss (404) is remembered' -r
complete -c thetorrent -n "__fish_thetorrent_using_subcommand count" -l s3-list-ttl -d 'Seconds between re-readings of the shared lists and blocklist' -r
complete -c thetorrent -n "__fish_thetorrent_using_subcommand count" -l node-id -d 'This front end\'s name in list segments (`[a-z0-9]`, at most 32); default: random' -r
complete -c thetorrent -n "__fish_thetorrent_using_subcommand count" -l s3-timeout -d 'Seconds the object store gets to answer a request (plus 1 s per MiB sent). One that takes longer marks the store down: requests then fail at once (503, Retry-After) until a probe finds it answering again' -r
complete -c thetorrent -n "__fish_thetorrent_using_subcommand count" -l s3-no-conditional-put -d 'For stores that ignore `If-None-Match: *`: HEAD, then PUT (racy, but safe: the key is the content\'s hash; two front ends may then both list one upload)'
complete -c thetorrent -n "__fish_thetorrent_using_subcommand count" -l s3-create-bucket -d 'Create the bucket when it does not exist'
complete -c thetorrent -n "__fish_thetorrent_using_subcommand count" -s h -l help -d 'Print help'
complete -c thetorrent -n "__fish_thetorrent_using_subcommand count" -s V -l version -d 'Print version'
complete -c thetorrent -n "__fish_thetorrent_using_subcommand verify" -l repair-from -d 'Replace each damaged or missing file with the same torrent fetched from another thetorrent instance (`URL/torrent/<HASH>.torrent`; `http://` or `https://`), once the fetched bytes match the checksum recorded here (without one: once their info hash is the file\'s name)' -r
complete -c thetorrent -n "__fish_thetorrent_using_subcommand verify" -l ca-file -d 'With an `https://` `--repair-from`: trust only the certificates in this PEM file (a private CA, a self-signed certificate) instead of the built-in web roots' -r -F
complete -c thetorrent -n "__fish_thetorrent_using_subcommand verify" -l data -d 'Data directory' -r -F
complete -c thetorrent -n "__fish_thetorrent_using_subcommand verify" -l max-torrent-size -d 'Largest torrent file accepted (a size: `10MiB`, `16M`, or bytes)' -r
complete -c thetorrent -n "__fish_thetorrent_using_subcommand verify" -l store -d 'Where torrents live: `s3://bucket` or `s3://bucket/prefix` for an S3 bucket (default: the local `--data` directory)' -r
complete -c thetorrent -n "__fish_thetorrent_using_subcommand verify" -l s3-endpoint -d 'The S3 endpoint, e.g. `http://127.0.0.1:8333` (needed with an `s3://` store)' -r
complete -c thetorrent -n "__fish_thetorrent_using_subcommand verify" -l s3-credentials -d 'Credentials file (`~/.aws/credentials` format); `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and `AWS_REGION` win over it' -r -F
complete -c thetorrent -n "__fish_thetorrent_using_subcommand verify" -l s3-cache-mb -d 'Read cache of downloaded torrents, MiB (0: none)' -r
complete -c thetorrent -n "__fish_thetorrent_using_subcommand verify" -l s3-miss-ttl -d 'Seconds a miss (404) is remembered' -r
complete -c thetorrent -n "__fish_thetorrent_using_subcommand verify" -l s3-list-ttl -d 'Seconds between re-readings of the shared lists and blocklist' -r
complete -c thetorrent -n "__fish_thetorrent_using_subcommand verify" -l node-id -d 'This front end\'s name in list segments (`[a-z0-9]`, at most 32); default: random' -r
complete -c thetorrent -n "__fish_thetorrent_using_subcommand verify" -l s3-timeout -d 'Seconds the object store gets to answer a request (plus 1 s per MiB sent). One that takes longer marks the store down: requests then fail at once (503, Retry-After) until a probe finds it answering again' -r
complete -c thetorrent -n "__fish_thetorrent_using_subcommand verify" -l s3-no-conditional-put -d 'For stores that ignore `If-None-Match: *`: HEAD, then PUT (racy, but safe: the key is the content\'s hash; two front ends may then both list one upload)'
complete -c thetorrent -n "__fish_thetorrent_using_subcommand verify" -l s3-create-bucket -d 'Create the bucket when it does not exist'
complete -c thetorrent -n "__fish_thetorrent_using_subcommand verify" -s h -l help -d 'Print help'
complete -c thetorrent -n "__fish_thetorrent_using_subcommand verify" -s V -l version -d 'Print version'
complete -c thetorrent -n "__fish_thetorrent_using_subcommand block" -l reason -r
complete -c thetorrent -n "__fish_thetorrent_using_subcommand block" -l data -d 'Data directory' -r -F
complete -c thetorrent -n "__fish_thetorrent_using_subcommand block" -l max-torrent-size -d 'Largest torrent file accepted (a size: `10MiB`, `16M`, or bytes)' -r
complete -c thetorrent -n "__fish_thetorrent_using_subcommand block" -l store -d 'Where torrents live: `s3://bucket` or `s3://bucket/prefix` for an S3 bucket (default: the local `--data` directory)' -r
complete -c thetorrent -n "__fish_thetorrent_using_subcommand block" -l s3-endpoint -d 'The S3 endpoint, e.g. `http://127.0.0.1:8333` (needed with an `s3://` store)' -r
complete -c thetorrent -n "__fish_thetorrent_using_subcommand block" -l s3-credentials -d 'Credentials file (`~/.aws/credentials` format); `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and `AWS_REGION` win over it' -r -F
complete -c thetorrent -n "__fish_thetorrent_using_subcommand block" -l s3-cache-mb -d 'Read cache of downloaded torrents, MiB (0: none)' -r
complete -c thetorrent -n "__fish_thetorrent_using_subcommand block" -l s3-miss-ttl -d 'Seconds a miss (404) is remembered' -r
complete -c thetorrent -n "__fish_thetorrent_using_subcommand block" -l s3-list-ttl -d 'Seconds between re-readings of the shared lists and blocklist' -r
complete -c thetorrent -n "__fish_thetorrent_using_subcommand block" -l node-id -d 'This front end\'s name in list segments (`[a-z0-9]`, at most 32); default: random' -r
complete -c thetorrent -n "__fish_thetorrent_using_subcommand block" -l s3-timeout -d 'Seconds the object store gets to answer a request (plus 1 s per MiB sent). One that takes longer marks the store down: requests then fail at once (503, Retry-After) until a probe finds it answering again' -r
complete -c thetorrent -n "__fish_thetorrent_using_subcommand block" -l s3-no-conditional-put -d 'For stores that ignore `If-None-Match: *`: HEAD, then PUT (racy, but safe: the key is the content\'s hash; two front ends may then both list one upload)'
complete -c thetorrent -n "__fish_thetorrent_using_subcommand block" -l s3-create-bucket -d 'Create the bucket when it does not exist'
complete -c thetorrent -n "__fish_thetorrent_using_subcommand block" -s h -l help -d 'Print help'
complete -c thetorrent -n "__fish_thetorrent_using_subcommand block" -s V -l version -d 'Print version'
complete -c thetorrent -n "__fish_thetorrent_using_subcommand unblock" -l data -d 'Data directory' -r -F
complete -c thetorrent -n "__fish_thetorrent_using_subcommand unblock" -l max-torrent-size -d 'Largest torrent file accepted (a size: `10MiB`, `16M`, or bytes)' -r
complete -c thetorrent -n "__fish_thetorrent_using_subcommand unblock" -l store -d 'Where torrents live: `s3://bucket` or `s3://bucket/prefix` for an S3 bucket (default: the local `--data` directory)' -r
complete -c thetorrent -n "__fish_thetorrent_using_subcommand unblock" -l s3-endpoint -d 'The S3 endpoint, e.g. `http://127.0.0.1:8333` (needed with an `s3://` store)' -r
complete -c thetorrent -n "__fish_thetorrent_using_subcommand unblock" -l s3-credentials -d 'Credentials file (`~/.aws/credentials` format); `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and `AWS_REGION` win over it' -r -F
complete -c thetorrent -n "__fish_thetorrent_using_subcommand unblock" -l s3-cache-mb -d 'Read cache of downloaded torrents, MiB (0: none)' -r
complete -c thetorrent -n "__fish_thetorrent_using_subcommand unblock" -l s3-miss-ttl -d 'Seconds a miss (404) is remembered' -r
complete -c thetorrent -n "__fish_thetorrent_using_subcommand unblock" -l s3-list-ttl -d 'Seconds between re-readings of the shared lists and blocklist' -r
complete -c thetorrent -n "__fish_thetorrent_using_subcommand unblock" -l node-id -d 'This front end\'s name in list segments (`[a-z0-9]`, at most 32); default: random' -r
complete -c thetorrent -n "__fish_thetorrent_using_subcommand unblock" -l s3-timeout -d 'Seconds the object store gets to answer a request (plus 1 s per MiB sent). One that takes longer marks the store down: requests then fail at once (503, Retry-After) until a probe finds it answering again' -r
complete -c thetorrent -n "__fish_thetorrent_using_subcommand unblock" -l s3-no-conditional-put -d 'For stores that ignore `If-None-Match: *`: HEAD, then PUT (racy, but safe: the key is the content\'s hash; two front ends may then both list one upload)'
complete -c thetorrent -n "__fish_thetorrent_using_subcommand unblock" -l s3-create-bucket -d 'Create the bucket when it does not exist'
complete -c thetorrent -n "__fish_thetorrent_using_subcommand unblock" -s h -l help -d 'Print help'
complete -c thetorrent -n "__fish_thetorrent_using_subcommand unblock" -s V -l version -d 'Print version'
complete -c thetorrent -n "__fish_thetorrent_using_subcommand reindex" -l data -d 'Data directory' -r -F
complete -c thetorrent -n "__fish_thetorrent_using_subcommand reindex" -l max-torrent-size -d 'Largest torrent file accepted (a size: `10MiB`, `16M`, or bytes)' -r
complete -c thetorrent -n "__fish_thetorrent_using_subcommand reindex" -l store -d 'Where torrents live: `s3://bucket` or `s3://bucket/prefix` for an S3 bucket (default: the local `--data` directory)' -r
complete -c thetorrent -n "__fish_thetorrent_using_subcommand reindex" -l s3-endpoint -d 'The S3 endpoint, e.g. `http://127.0.0.1:8333` (needed with an `s3://` store)' -r
complete -c thetorrent -n "__fish_thetorrent_using_subcommand reindex" -l s3-credentials -d 'Credentials file (`~/.aws/credentials` format); `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and `AWS_REGION` win over it' -r -F
complete -c thetorrent -n "__fish_thetorrent_using_subcommand reindex" -l s3-cache-mb -d 'Read cache of downloaded torrents, MiB (0: none)' -r
complete -c thetorrent -n "__fish_thetorrent_using_subcommand reindex" -l s3-miss-ttl -d 'Seconds a miss (404) is remembered' -r
complete -c thetorrent -n "__fish_thetorrent_using_subcommand reindex" -l s3-list-ttl -d 'Seconds between re-readings of the shared lists and blocklist' -r
complete -c thetorrent -n "__fish_thetorrent_using_subcommand reindex" -l node-id -d 'This front end\'s name in list segments (`[a-z0-9]`, at most 32); default: random' -r
complete -c thetorrent -n "__fish_thetorrent_using_subcommand reindex" -l s3-timeout -d 'Seconds the object store gets to answer a request (plus 1 s per MiB sent). One that takes longer marks the store down: requests then fail at once (503, Retry-After) until a probe finds it answering again' -r
complete -c thetorrent -n "__fish_thetorrent_using_subcommand reindex" -l s3-no-conditional-put -d 'For stores that ignore `If-None-Match: *`: HEAD, then PUT (racy, but safe: the key is the content\'s hash; two front ends may then both list one upload)'
complete -c thetorrent -n "__fish_thetorrent_using_subcommand reindex" -l s3-create-bucket -d 'Create the bucket when it does not exist'
complete -c thetorrent -n "__fish_thetorrent_using_subcommand reindex" -s h -l help -d 'Print help'
complete -c thetorrent -n "__fish_thetorrent_using_subcommand reindex" -s V -l version -d 'Print version'
complete -c thetorrent -n "__fish_thetorrent_using_subcommand mirror" -l from -d 'Base URL of the other instance: `http://…` or `https://…`, e.g. `https://torrents.example.org`' -r
complete -c thetorrent -n "__fish_thetorrent_using_subcommand mirror" -l since -d 'First day (UTC) to copy, `YYYYMMDD` (default: every day the source lists)' -r
complete -c thetorrent -n "__fish_thetorrent_using_subcommand mirror" -l ca-file -d 'For an `https://` source: trust only the certificates in this PEM file (a private CA, a self-signed certificate) instead of the built-in web roots' -r -F
complete -c thetorrent -n "__fish_thetorrent_using_subcommand mirror" -l data -d 'Data directory' -r -F
complete -c thetorrent -n "__fish_thetorrent_using_subcommand mirror" -l max-torrent-size -d 'Largest torrent file accepted (a size: `10MiB`, `16M`, or bytes)' -r
complete -c thetorrent -n "__fish_thetorrent_using_subcommand mirror" -l store -d 'Where torrents live: `s3://bucket` or `s3://bucket/prefix` for an S3 bucket (default: the local `--data` directory)' -r
complete -c thetorrent -n "__fish_thetorrent_using_subcommand mirror" -l s3-endpoint -d 'The S3 endpoint, e.g. `http://127.0.0.1:8333` (needed with an `s3://` store)' -r
complete -c thetorrent -n "__fish_thetorrent_using_subcommand mirror" -l s3-credentials -d 'Credentials file (`~/.aws/credentials` format); `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and `AWS_REGION` win over it' -r -F
complete -c thetorrent -n "__fish_thetorrent_using_subcommand mirror" -l s3-cache-mb -d 'Read cache of downloaded torrents, MiB (0: none)' -r
complete -c thetorrent -n "__fish_thetorrent_using_subcommand mirror" -l s3-miss-ttl -d 'Seconds a miss (404) is remembered' -r
complete -c thetorrent -n "__fish_thetorrent_using_subcommand mirror" -l s3-list-ttl -d 'Seconds between re-readings of the shared lists and blocklist' -r
complete -c thetorrent -n "__fish_thetorrent_using_subcommand mirror" -l node-id -d 'This front end\'s name in list segments (`[a-z0-9]`, at most 32); default: random' -r
complete -c thetorrent -n "__fish_thetorrent_using_subcommand mirror" -l s3-timeout -d 'Seconds the object store gets to answer a request (plus 1 s per MiB sent). One that takes longer marks the store down: requests then fail at once (503, Retry-After) until a probe finds it answering again' -r
complete -c thetorrent -n "__fish_thetorrent_using_subcommand mirror" -l follow-takedowns -d 'Apply the source\'s takedowns here: block every hash its `/sync/takedowns.txt` lists (blocks here are never lifted by it; `thetorrent unblock` does that)'
complete -c thetorrent -n "__fish_thetorrent_using_subcommand mirror" -l quiet -d 'No progress bar'
complete -c thetorrent -n "__fish_thetorrent_using_subcommand mirror" -l s3-no-conditional-put -d 'For stores that ignore `If-None-Match: *`: HEAD, then PUT (racy, but safe: the key is the content\'s hash; two front ends may then both list one upload)'
complete -c thetorrent -n "__fish_thetorrent_using_subcommand mirror" -l s3-create-bucket -d 'Create the bucket when it does not exist'
complete -c thetorrent -n "__fish_thetorrent_using_subcommand mirror" -s h -l help -d 'Print help'
complete -c thetorrent -n "__fish_thetorrent_using_subcommand mirror" -s V -l version -d 'Print version'
complete -c thetorrent -n "__fish_thetorrent_using_subcommand migrate" -l from -d 'Source: a data directory, or `s3://bucket[/prefix]` (with `--s3-endpoint`)' -r
complete -c thetorrent -n "__fish_thetorrent_using_subcommand migrate" -l to -d 'Destination: `s3://bucket[/prefix]`, or a data directory' -r
complete -c thetorrent -n "__fish_thetorrent_using_subcommand migrate" -l jobs -d 'Parallel requests to the object store' -r
complete -c thetorrent -n "__fish_thetorrent_using_subcommand migrate" -l data -d 'Data directory' -r -F
complete -c thetorrent -n "__fish_thetorrent_using_subcommand migrate" -l max-torrent-size -d 'Largest torrent file accepted (a size: `10MiB`, `16M`, or bytes)' -r
complete -c thetorrent -n "__fish_thetorrent_using_subcommand migrate" -l store -d 'Where torrents live: `s3://bucket` or `s3://bucket/prefix` for an S3 bucket (default: the local `--data` directory)' -r
complete -c thetorrent -n "__fish_thetorrent_using_subcommand migrate" -l s3-endpoint -d 'The S3 endpoint, e.g. `http://127.0.0.1:8333` (needed with an `s3://` store)' -r
complete -c thetorrent -n "__fish_thetorrent_using_subcommand migrate" -l s3-credentials -d 'Credentials file (`~/.aws/credentials` format); `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and `AWS_REGION` win over it' -r -F
complete -c thetorrent -n "__fish_thetorrent_using_subcommand migrate" -l s3-cache-mb -d 'Read cache of downloaded torrents, MiB (0: none)' -r
complete -c thetorrent -n "__fish_thetorrent_using_subcommand migrate" -l s3-miss-ttl -d 'Seconds a miss (404) is remembered' -r
complete -c thetorrent -n "__fish_thetorrent_using_subcommand migrate" -l s3-list-ttl -d 'Seconds between re-readings of the shared lists and blocklist' -r
complete -c thetorrent -n "__fish_thetorrent_using_subcommand migrate" -l node-id -d 'This front end\'s name in list segments (`[a-z0-9]`, at most 32); default: random' -r
complete -c thetorrent -n "__fish_thetorrent_using_subcommand migrate" -l s3-timeout -d 'Seconds the object store gets to answer a request (plus 1 s per MiB sent). One that takes longer marks the store down: requests then fail at once (503, Retry-After) until a probe finds it answering again' -r
complete -c thetorrent -n "__fish_thetorrent_using_subcommand migrate" -l quiet -d 'No progress bar'
complete -c thetorrent -n "__fish_thetorrent_using_subcommand migrate" -l s3-no-conditional-put -d 'For stores that ignore `If-None-Match: *`: HEAD, then PUT (racy, but safe: the key is the content\'s hash; two front ends may then both list one upload)'
complete -c thetorrent -n "__fish_thetorrent_using_subcommand migrate" -l s3-create-bucket -d 'Create the bucket when it does not exist'
complete -c thetorrent -n "__fish_thetorrent_using_subcommand migrate" -s h -l help -d 'Print help'
complete -c thetorrent -n "__fish_thetorrent_using_subcommand migrate" -s V -l version -d 'Print version'
complete -c thetorrent -n "__fish_thetorrent_using_subcommand fetch" -l dht-listen -d 'UDP address of the DHT node, IPv4 (default 0.0.0.0:6881, or a free port when 6881 is taken)' -r
complete -c thetorrent -n "__fish_thetorrent_using_subcommand fetch" -l dht-bootstrap -d 'A DHT node to bootstrap from, HOST:PORT; may be repeated (default: the public routers router.bittorrent.com, router.utorrent.com, dht.transmissionbt.com, dht.libtorrent.org)' -r
complete -c thetorrent -n "__fish_thetorrent_using_subcommand fetch" -l fetch-timeout -d 'One fetch\'s whole budget, in seconds' -r
complete -c thetorrent -n "__fish_thetorrent_using_subcommand fetch" -l fetch-jobs -d 'Fetches running at once (each slot also queues 4 waiting ones)' -r
complete -c thetorrent -n "__fish_thetorrent_using_subcommand fetch" -l fetch-miss-ttl -d 'Seconds a failed hash is answered from memory before it is searched again' -r
complete -c thetorrent -n "__fish_thetorrent_using_subcommand fetch" -l data -d 'Data directory' -r -F
complete -c thetorrent -n "__fish_thetorrent_using_subcommand fetch" -l max-torrent-size -d 'Largest torrent file accepted (a size: `10MiB`, `16M`, or bytes)' -r
complete -c thetorrent -n "__fish_thetorrent_using_subcommand fetch" -l store -d 'Where torrents live: `s3://bucket` or `s3://bucket/prefix` for an S3 bucket (default: the local `--data` directory)' -r
complete -c thetorrent -n "__fish_thetorrent_using_subcommand fetch" -l s3-endpoint -d 'The S3 endpoint, e.g. `http://127.0.0.1:8333` (needed with an `s3://` store)' -r
complete -c thetorrent -n "__fish_thetorrent_using_subcommand fetch" -l s3-credentials -d 'Credentials file (`~/.aws/credentials` format); `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and `AWS_REGION` win over it' -r -F
complete -c thetorrent -n "__fish_thetorrent_using_subcommand fetch" -l s3-cache-mb -d 'Read cache of downloaded torrents, MiB (0: none)' -r
complete -c thetorrent -n "__fish_thetorrent_using_subcommand fetch" -l s3-miss-ttl -d 'Seconds a miss (404) is remembered' -r
complete -c thetorrent -n "__fish_thetorrent_using_subcommand fetch" -l s3-list-ttl -d 'Seconds between re-readings of the shared lists and blocklist' -r
complete -c thetorrent -n "__fish_thetorrent_using_subcommand fetch" -l node-id -d 'This front end\'s name in list segments (`[a-z0-9]`, at most 32); default: random' -r
complete -c thetorrent -n "__fish_thetorrent_using_subcommand fetch" -l s3-timeout -d 'Seconds the object store gets to answer a request (plus 1 s per MiB sent). One that takes longer marks the store down: requests then fail at once (503, Retry-After) until a probe finds it answering again' -r
complete -c thetorrent -n "__fish_thetorrent_using_subcommand fetch" -l no-dht -d 'No DHT: search only the trackers (tr=) and peers (x.pe=) a magnet link names'
complete -c thetorrent -n "__fish_thetorrent_using_subcommand fetch" -l fetch-allow-private -d 'Accept loopback, private and link-local addresses as peers, trackers and DHT nodes (tests, LANs); refused by default'
complete -c thetorrent -n "__fish_thetorrent_using_subcommand fetch" -l s3-no-conditional-put -d 'For stores that ignore `If-None-Match: *`: HEAD, then PUT (racy, but safe: the key is the content\'s hash; two front ends may then both list one upload)'
complete -c thetorrent -n "__fish_thetorrent_using_subcommand fetch" -l s3-create-bucket -d 'Create the bucket when it does not exist'
complete -c thetorrent -n "__fish_thetorrent_using_subcommand fetch" -s h -l help -d 'Print help'
complete -c thetorrent -n "__fish_thetorrent_using_subcommand fetch" -s V -l version -d 'Print version'
complete -c thetorrent -n "__fish_thetorrent_using_subcommand help; and not __fish_seen_subcommand_from serve add import count verify block unblock reindex mirror migrate fetch help" -f -a "serve" -d 'Serve the store over HTTP'
complete -c thetorrent -n "__fish_thetorrent_using_subcommand help; and not __fish_seen_subcommand_from serve add import count verify block unblock reindex mirror migrate fetch help" -f -a "add" -d 'Store .torrent files; prints `<HASH>  <name>` per file, or its error (for folders, use `import`)'
complete -c thetorrent -n "__fish_thetorrent_using_subcommand help; and not __fish_seen_subcommand_from serve add import count verify block unblock reindex mirror migrate fetch help" -f -a "import" -d 'Store every file under the given folders (recursively) and files, in parallel'
complete -c thetorrent -n "__fish_thetorrent_using_subcommand help; and not __fish_seen_subcommand_from serve add import count verify block unblock reindex mirror migrate fetch help" -f -a "count" -d 'Print the number of stored torrents'
complete -c thetorrent -n "__fish_thetorrent_using_subcommand help; and not __fish_seen_subcommand_from serve add import count verify block unblock reindex mirror migrate fetch help" -f -a "verify" -d 'Check every stored file\'s bytes (whole-file checksum and info hash) and report each damaged or missing one; with `--repair-from URL`, replace it from another instance'
complete -c thetorrent -n "__fish_thetorrent_using_subcommand help; and not __fish_seen_subcommand_from serve add import count verify block unblock reindex mirror migrate fetch help" -f -a "block" -d 'Take a torrent down: downloads answer 451, uploads are refused'
complete -c thetorrent -n "__fish_thetorrent_using_subcommand help; and not __fish_seen_subcommand_from serve add import count verify block unblock reindex mirror migrate fetch help" -f -a "unblock" -d 'Lift a takedown (exit 1 when the hash is not blocked)'
complete -c thetorrent -n "__fish_thetorrent_using_subcommand help; and not __fish_seen_subcommand_from serve add import count verify block unblock reindex mirror migrate fetch help" -f -a "reindex" -d 'Rebuild the day lists (and so the count and /sync/) by walking the whole tree; with `--store s3://…`, list the torrents no list segment names'
complete -c thetorrent -n "__fish_thetorrent_using_subcommand help; and not __fish_seen_subcommand_from serve add import count verify block unblock reindex mirror migrate fetch help" -f -a "mirror" -d 'Fetch what another instance lists under /sync/ and this store does not have'
complete -c thetorrent -n "__fish_thetorrent_using_subcommand help; and not __fish_seen_subcommand_from serve add import count verify block unblock reindex mirror migrate fetch help" -f -a "migrate" -d 'Copy a store into another: a local data directory into an S3 bucket or back (resumable, verifies every file\'s hash)'
complete -c thetorrent -n "__fish_thetorrent_using_subcommand help; and not __fish_seen_subcommand_from serve add import count verify block unblock reindex mirror migrate fetch help" -f -a "fetch" -d 'Fetch torrents from their swarm (DHT, a magnet link\'s trackers and peers) into the store; prints `<HASH>  <name>` per stored torrent, the reason per failed one (stderr)'
complete -c thetorrent -n "__fish_thetorrent_using_subcommand help; and not __fish_seen_subcommand_from serve add import count verify block unblock reindex mirror migrate fetch help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
