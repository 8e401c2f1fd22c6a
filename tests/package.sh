#!/usr/bin/env bash
# The Debian package, end to end, on this machine (root; tests/run.sh calls it after setup):
# builds it with `cargo deb`, installs it with `dpkg -i`, checks every file it puts in place,
# runs `systemd-analyze verify` on its units, runs the installed binary the way its units do
# (systemd-socket-activate for the socket, as the user thetorrent, with the unit's ExecStart
# and EnvironmentFile) and stores and fetches a torrent through it, then removes and purges
# the package and checks that the store survived and still opens. Fails at the first check
# that fails, saying which.
#
# It installs a package system-wide, so it refuses to start where thetorrent is installed or
# /var/lib/thetorrent exists (it would mix its data with real data), and at exit it removes
# everything it made (package, data directory, user), pass or fail.
set -euo pipefail
cd "$(dirname "$0")/.."

# A torrent of the corpus and its v1 hash (tests/data/corpus/MANIFEST.tsv).
TORRENT=tests/data/corpus/crates-bendy-0.6.1/examples/torrent_files/debian-9.4.0-amd64-netinst.iso.torrent
HASH=7431A969B347E14BBA641B3517C024F7B40DFB7F
# How long a dpkg run waits for another apt/dpkg (tests/setup.sh, other jobs) to finish.
DPKG_LOCK_WAIT_SECONDS=300
# How long the server gets to answer /healthz after it was started.
START_WAIT_TENTHS=100
PUBLIC_URL=http://torrents.example.test
DATA=/var/lib/thetorrent
UNITS=/usr/lib/systemd/system
ENV_FILE=/etc/thetorrent/thetorrent.env

checks=0
ok() { checks=$((checks + 1)); echo "package: ok - $*"; }
fail() { echo "package: FAILED - $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || fail "needs root (dpkg -i, a system user, systemd-socket-activate)"
for tool in cargo-deb dpkg man systemd-analyze systemd-socket-activate setpriv runuser curl python3; do
  command -v "$tool" >/dev/null || fail "$tool is missing (tests/setup.sh installs it)"
done
if dpkg-query -W -f '${Status}' thetorrent 2>/dev/null | grep -qv 'not-installed'; then
  fail "a thetorrent package is installed here; this test installs and purges its own (dpkg -P thetorrent first, keeping $DATA)"
fi
[ ! -e "$DATA" ] || fail "$DATA exists; this test would mix its data with it (move it away first)"
user_existed=0
getent passwd thetorrent >/dev/null && user_existed=1

work="$(mktemp -d /tmp/thetorrent-package.XXXXXX)"
server_pid=""
cleanup() {
  [ -z "$server_pid" ] || kill -KILL "$server_pid" 2>/dev/null || true
  if dpkg-query -W -f '${Status}' thetorrent 2>/dev/null | grep -qv 'not-installed'; then
    dpkg_run -P thetorrent >/dev/null 2>&1 || true
  fi
  rm -rf "$DATA" "$work"
  if [ "$user_existed" = 0 ] && getent passwd thetorrent >/dev/null; then
    userdel thetorrent 2>/dev/null || true
    ! getent group thetorrent >/dev/null || groupdel thetorrent 2>/dev/null || true
  fi
}
trap cleanup EXIT

# dpkg, waiting while another dpkg or apt holds the lock.
dpkg_run() {
  local waited=0 out
  while true; do
    if out="$(dpkg "$@" 2>&1)"; then printf '%s\n' "$out"; return 0; fi
    if grep -q 'lock' <<<"$out" && [ "$waited" -lt "$DPKG_LOCK_WAIT_SECONDS" ]; then
      sleep 2; waited=$((waited + 2)); continue
    fi
    printf '%s\n' "$out" >&2
    return 1
  done
}

# --- Build and install.
# cargo deb prints the path of each file it made: the package and its -dbgsym .ddeb.
deb="$(nice cargo deb 2>"$work/cargo-deb.log" | grep '\.deb$')" || { cat "$work/cargo-deb.log" >&2; fail "cargo deb"; }
[ -f "$deb" ] || fail "cargo deb printed no package path (got: $deb)"
ok "cargo deb built $deb"
# --path-include: slim Debian images exclude /usr/share/man and /usr/share/doc in dpkg.cfg.d.
dpkg_run -i --path-include='/usr/share/man/*' --path-include='/usr/share/doc/thetorrent/*' "$deb" \
  >"$work/dpkg-i.log" || fail "dpkg -i $deb"
ok "dpkg -i"

# --- The files it put in place.
version="$(dpkg-query -W -f '${Version}' thetorrent)"
[ "$(command -v thetorrent)" = /usr/bin/thetorrent ] || fail "thetorrent is not /usr/bin/thetorrent"
[ "$(thetorrent --version)" = "thetorrent ${version%-*}" ] \
  || fail "thetorrent --version says '$(thetorrent --version)', the package is $version"
ok "/usr/bin/thetorrent --version: $(thetorrent --version)"
# Gzipped, as Debian's policy has it (cargo-deb compresses the pages committed in packaging/).
[ "$(man -w thetorrent)" = /usr/share/man/man1/thetorrent.1.gz ] || fail "man -w thetorrent: $(man -w thetorrent 2>&1)"
# The subcommands: the lines of --help's "Commands:" list that start with a name.
commands="$(thetorrent --help | sed -n '/^Commands:/,/^$/p' | grep -E '^  [a-z][a-z0-9-]*( |$)' \
  | awk '$1 != "help" { print $1 }')"
[ -n "$commands" ] || fail "no subcommands in thetorrent --help"
for c in $commands; do
  man -w "thetorrent-$c" >/dev/null 2>&1 || fail "no man page thetorrent-$c(1)"
done
MANWIDTH=200 man thetorrent-serve 2>/dev/null | grep -q -- '--public-url' \
  || fail "thetorrent-serve(1) does not describe --public-url"
MANWIDTH=200 man thetorrent 2>/dev/null | grep -q '^EXIT STATUS' \
  || fail "thetorrent(1) has no EXIT STATUS section"
! man -w thetorrent-generate >/dev/null 2>&1 || fail "the hidden command generate has a man page"
ok "man pages (gzipped): thetorrent(1) with EXIT STATUS and thetorrent-{$(echo $commands | tr ' ' ',')}(1)"
bash_completion=/usr/share/bash-completion/completions/thetorrent
[ -f "$bash_completion" ] || fail "no bash completion at $bash_completion"
completed="$(bash -c 'source "$1"; COMP_WORDS=(thetorrent se); COMP_CWORD=1; COMP_LINE="thetorrent se"; COMP_POINT=${#COMP_LINE}
  _thetorrent thetorrent se thetorrent; printf "%s\n" "${COMPREPLY[@]}"' _ "$bash_completion")"
grep -qx serve <<<"$completed" || fail "bash completion of 'thetorrent se' gave: $completed"
completed="$(bash -c 'source "$1"; COMP_WORDS=(thetorrent g); COMP_CWORD=1; COMP_LINE="thetorrent g"; COMP_POINT=${#COMP_LINE}
  _thetorrent thetorrent g thetorrent; printf "%s\n" "${COMPREPLY[@]}"' _ "$bash_completion")"
[ -z "$completed" ] || fail "bash completion of 'thetorrent g' offers the hidden command: $completed"
head -n 1 /usr/share/zsh/vendor-completions/_thetorrent | grep -q '^#compdef thetorrent' \
  || fail "no zsh completion at /usr/share/zsh/vendor-completions/_thetorrent"
grep -q '^complete -c thetorrent ' /usr/share/fish/vendor_completions.d/thetorrent.fish \
  || fail "no fish completion at /usr/share/fish/vendor_completions.d/thetorrent.fish"
ok "completions: bash (completes 'thetorrent se' to serve, hides generate), zsh, fish"
for f in "$UNITS/thetorrent.socket" "$UNITS/thetorrent.service" /usr/lib/sysusers.d/thetorrent.conf; do
  [ -f "$f" ] || fail "missing $f"
done
[ "$(stat -c '%U:%G %a' "$ENV_FILE")" = "root:root 600" ] \
  || fail "$ENV_FILE: $(stat -c '%U:%G %a' "$ENV_FILE" 2>&1), expected root:root 600 (it may hold S3 credentials)"
dpkg-query -W -f '${Conffiles}\n' thetorrent | grep -q " $ENV_FILE " || fail "$ENV_FILE is not a conffile"
grep -q '^#AWS_SECRET_ACCESS_KEY=' "$ENV_FILE" && grep -q 'ProtectHome' "$ENV_FILE" \
  || fail "$ENV_FILE does not explain the S3 credentials"
ok "units, sysusers.d, $ENV_FILE (conffile, root-only)"
IFS=: read -r _ _ uid _ _ home shell < <(getent passwd thetorrent) || fail "no user thetorrent"
[ "$uid" -lt 1000 ] && [ "$home" = "$DATA" ] && [ "$shell" = /usr/sbin/nologin ] \
  || fail "user thetorrent: uid $uid, home $home, shell $shell; expected a system user at $DATA without login"
[ "$(stat -c '%U:%G %a' "$DATA")" = "thetorrent:thetorrent 750" ] \
  || fail "$DATA: $(stat -c '%U:%G %a' "$DATA"), expected thetorrent:thetorrent 750"
ok "system user thetorrent (uid $uid), $DATA owned by it"
verify="$(systemd-analyze verify "$UNITS/thetorrent.socket" "$UNITS/thetorrent.service" 2>&1)" \
  || fail "systemd-analyze verify: $verify"
[ -z "$verify" ] || fail "systemd-analyze verify warns: $verify"
ok "systemd-analyze verify thetorrent.socket thetorrent.service"

# --- Run it as the units would. From the installed units: User=, Group=, StateDirectory=,
# EnvironmentFile=, ExecStart=, UMask= (the sandboxing and resource limits need systemd). systemd-socket-activate stands in for the socket (binding as
# root, like systemd, on a free port instead of ListenStream=) and execs setpriv, which
# execs the binary as the user: one process, so LISTEN_PID stays right.
unit_value() { sed -n "s/^$1=//p" "$UNITS/thetorrent.service" | tail -n 1; }
user="$(unit_value User)"; group="$(unit_value Group)"; state="$(unit_value StateDirectory)"
env_file="$(unit_value EnvironmentFile)"; env_file="${env_file#-}"
exec_start="$(unit_value ExecStart)"
[ "$user" = thetorrent ] && [ "$group" = thetorrent ] && [ "$state" = thetorrent ] \
  && [ "$env_file" = "$ENV_FILE" ] && [ -n "$exec_start" ] \
  || fail "thetorrent.service: User=$user Group=$group StateDirectory=$state EnvironmentFile=$env_file ExecStart=$exec_start"
# An administrator's setting, through the env file the unit reads.
echo "THETORRENT_OPTIONS=--public-url $PUBLIC_URL --access-log -" >>"$ENV_FILE"
# The service's environment: systemd's STATE_DIRECTORY plus the env file's NAME=value lines.
service_env=("PATH=/usr/sbin:/usr/bin:/sbin:/bin" "STATE_DIRECTORY=/var/lib/$state")
while IFS= read -r line; do service_env+=("$line"); done \
  < <(grep -E '^[A-Za-z_][A-Za-z0-9_]*=' "$env_file")
# ExecStart's words as systemd makes them here: ${VAR} and $VAR from that environment, $VAR
# split at spaces (none of these values holds a space inside a word).
argv="$(env -i "${service_env[@]}" bash -c 'eval "printf \"%s\\n\" $1"' _ "$exec_start")"
mapfile -t argv <<<"$argv"
[ "${argv[0]}" = /usr/bin/thetorrent ] || fail "ExecStart does not run /usr/bin/thetorrent: ${argv[*]}"
port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
base="http://127.0.0.1:$port"
umask_value="$(unit_value UMask)"
[ -n "$umask_value" ] || fail "thetorrent.service: no UMask="
(
  umask "$umask_value"
  exec env -i "${service_env[@]}" systemd-socket-activate -l "127.0.0.1:$port" \
    setpriv --reuid="$user" --regid="$group" --init-groups --no-new-privs --inh-caps=-all "${argv[@]}"
) >"$work/server.log" 2>&1 &
server_pid=$!
for _ in $(seq "$START_WAIT_TENTHS"); do
  curl -fsS "$base/healthz" >/dev/null 2>&1 && break
  kill -0 "$server_pid" 2>/dev/null || { cat "$work/server.log" >&2; fail "the server exited at start"; }
  sleep 0.1
done
curl -fsS "$base/healthz" >/dev/null || { cat "$work/server.log" >&2; fail "no answer on $base/healthz"; }
[ "$(awk '/^Uid:/ { print $2 }' "/proc/$server_pid/status")" = "$uid" ] \
  || fail "the server does not run as thetorrent (uid $uid)"
grep -q 'socket activation' "$work/server.log" || { cat "$work/server.log" >&2; fail "the server did not take the passed socket"; }
ok "serving as thetorrent: ${argv[*]} (socket from systemd-socket-activate on $base)"
curl -fsS "$base/api/thetorrent.wsdl" | grep -q "location=\"$PUBLIC_URL/api/soap\"" \
  || fail "THETORRENT_OPTIONS in $ENV_FILE did not reach the server (WSDL address is not $PUBLIC_URL)"
ok "$ENV_FILE's THETORRENT_OPTIONS reached the server (--public-url)"
curl -fsS -D "$work/upload.head" -o "$work/upload.body" -F "torrent=@$TORRENT" "$base/api/upload" \
  || fail "POST /api/upload"
grep -qi "^X-Thetorrent-Result: stored" "$work/upload.head" && grep -qx "$HASH" "$work/upload.body" \
  || fail "upload answered: $(cat "$work/upload.head" "$work/upload.body")"
curl -fsS -o "$work/download.torrent" "$base/torrent/$HASH.torrent" || fail "GET /torrent/$HASH.torrent"
cmp "$TORRENT" "$work/download.torrent" || fail "the downloaded torrent differs from the uploaded one"
stored="$DATA/torrents/${HASH:0:2}/${HASH:2:2}/$HASH.torrent"
[ "$(stat -c '%U %a' "$stored" 2>/dev/null)" = "thetorrent 640" ] \
  || fail "$stored: $(stat -c '%U %a' "$stored" 2>&1), expected thetorrent 640 (UMask=$umask_value)"
ok "upload (multipart field torrent) and download give the same bytes; stored as $stored"
code="$(curl -sS -o /dev/null -w '%{http_code}' -X POST --data-binary x "$base/__test/echo")"
[ "$code" = 405 ] || fail "POST /__test/echo answered $code: the packaged binary has the test routes"
ok "the packaged binary has no test routes (POST /__test/echo: 405)"
kill -TERM "$server_pid"
status=0; wait "$server_pid" || status=$?
server_pid=""
[ "$status" = 0 ] || { cat "$work/server.log" >&2; fail "the server exited with $status on SIGTERM"; }
ok "SIGTERM: the server stopped with status 0"

# --- Remove, then purge: the store stays and still opens.
dpkg_run -r thetorrent >"$work/dpkg-r.log" || fail "dpkg -r thetorrent"
[ ! -e /usr/bin/thetorrent ] || fail "dpkg -r left /usr/bin/thetorrent"
[ -f "$ENV_FILE" ] || fail "dpkg -r removed the conffile $ENV_FILE"
cmp "$TORRENT" "$stored" || fail "after dpkg -r, $stored is gone or changed"
ok "dpkg -r: program gone, $ENV_FILE and the store kept"
dpkg_run -P thetorrent >"$work/dpkg-p.log" || fail "dpkg -P thetorrent"
[ ! -e "$ENV_FILE" ] || fail "dpkg -P left $ENV_FILE"
cmp "$TORRENT" "$stored" || fail "after dpkg -P, $stored is gone or changed"
grep -q "rm -rf $DATA" "$work/dpkg-p.log" || fail "dpkg -P did not say how to delete the kept store"
ok "dpkg -P: configuration gone, the store kept (and the purge says how to delete it)"
dpkg_run -i "$deb" >>"$work/dpkg-i.log" || fail "dpkg -i $deb again"
[ "$(runuser -u thetorrent -- thetorrent --data "$DATA" count)" = 1 ] \
  || fail "after reinstalling, thetorrent count on $DATA is not 1"
runuser -u thetorrent -- thetorrent --data "$DATA" verify >"$work/verify.log" 2>&1 \
  || { cat "$work/verify.log" >&2; fail "after reinstalling, thetorrent verify on $DATA failed"; }
ok "reinstalled: the kept store opens as thetorrent (count 1, verify clean)"
echo "package: all $checks checks passed"
