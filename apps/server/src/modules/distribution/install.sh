#!/usr/bin/env bash
# Installs or upgrades the Yamori agent on this endpoint from its management server, and enrolls it.
# The server serves this file at /install.sh; the console and `yamori admin enroll-token add` print
# the one-line command that fetches it over TLS pinned to the server's CA and runs it as root:
#
#   … | sudo env YAMORI_ENROLL_TOKEN='ymr1.…' bash …
#
# What it does: checks that it runs as root on x86_64 Linux with glibc (the agent package is the
# server's own platform: its Node binary and native addons); reads the server URL and the CA
# fingerprint from the enrollment token; fetches the server's CA and checks it against that
# fingerprint; downloads the agent package over TLS with that CA only and checks its sha256;
# unpacks it to /opt/yamori/VERSION, points /opt/yamori/current at it and links
# /usr/local/bin/yamori; enrolls (`yamori agent enroll`, unless already enrolled with this server);
# installs and (re)starts the systemd unit (`yamori agent install`). Running it again upgrades or
# repairs an installation; the previous version stays beside the current one.
#
# Environment:
#   YAMORI_ENROLL_TOKEN  the enrollment token (required; never put it on a command line of its own)
#   YAMORI_INSTALL_ROOT  install under this directory instead of / (image builds, tests): the unit
#                        is written there and no service is started
#   YAMORI_STATE_DIR     the agent's state directory (default /var/lib/yamori under the root)
set -euo pipefail
umask 022

say() { printf 'yamori install: %s\n' "$*"; }
die() {
  printf 'yamori install: %s\n' "$*" >&2
  exit 1
}

# base64url (no padding) to bytes
b64url_decode() {
  local s
  s=$(printf '%s' "$1" | tr '_-' '/+')
  case $((${#s} % 4)) in
    2) s="$s==" ;;
    3) s="$s=" ;;
  esac
  printf '%s' "$s" | base64 -d 2>/dev/null
}

main() {
  [ "$(id -u)" = 0 ] || die "run this as root (the install command does it with sudo)"
  [ "$(uname -s)" = Linux ] || die "the Yamori agent runs on Linux only"
  local machine arch
  machine=$(uname -m)
  case "$machine" in
    x86_64 | amd64) arch=x64 ;;
    *) die "this machine is $machine: the agent package is built for x86_64 (amd64) Linux, the management server's own platform; install from a checkout instead (scripts/install.sh, then yamori agent enroll)" ;;
  esac
  getconf GNU_LIBC_VERSION >/dev/null 2>&1 ||
    die "the agent package needs glibc (Debian, Ubuntu, RHEL, SUSE…); musl-based systems such as Alpine are not supported"
  local t
  for t in curl tar gzip sha256sum base64 sed tr mktemp readlink; do
    command -v "$t" >/dev/null || die "$t is missing: install it (on Debian and Ubuntu: apt-get install curl coreutils tar gzip sed) and run the install command again"
  done

  # Where to go and whom to trust: from the enrollment token (ymr1. + base64url of JSON).
  local token=${YAMORI_ENROLL_TOKEN:-}
  [ -n "$token" ] || die "no enrollment token: run the whole install command as shown in the console (Agents → Enrollment tokens); it passes YAMORI_ENROLL_TOKEN"
  [[ $token =~ ^ymr1\.[A-Za-z0-9_-]+$ ]] || die "YAMORI_ENROLL_TOKEN is not an enrollment token (ymr1.…): copy the whole install command again"
  local payload url pin
  payload=$(b64url_decode "${token#ymr1.}") || die "YAMORI_ENROLL_TOKEN does not decode: copy the whole install command again"
  url=$(printf '%s' "$payload" | sed -n 's/.*"url":"\([^"]*\)".*/\1/p')
  pin=$(printf '%s' "$payload" | sed -n 's/.*"caSha256":"\([0-9a-f]*\)".*/\1/p')
  url=${url%/}
  if [[ $url =~ ^http:// ]]; then
    die "the token's server ($url) runs without TLS (development only): there is nothing to pin, so this installer does not use it; install from a checkout and run yamori agent enroll"
  fi
  [[ $url =~ ^https://([A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(:[0-9]{1,5})?(/[A-Za-z0-9._~/-]*)?$ ]] ||
    die "the token's server URL ($url) is not one this installer accepts: use yamori agent enroll --url URL from a checkout"
  [[ $pin =~ ^[0-9a-f]{64}$ ]] || die "the token carries no CA fingerprint: create a new enrollment token on the server"

  local root=${YAMORI_INSTALL_ROOT:-/}
  root=${root%/}
  if [ -n "$root" ]; then
    [[ $root == /* ]] || die "YAMORI_INSTALL_ROOT must be an absolute path (got $root)"
    export YAMORI_STATE_DIR=${YAMORI_STATE_DIR:-$root/var/lib/yamori}
  fi

  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT

  # The CA comes over an unverified connection, then is trusted only if its fingerprint is the token's.
  curl -fsS --proto '=https' --insecure --max-time 30 -o "$work/ca.pem" "$url/api/agent/v1/ca" ||
    die "cannot fetch the CA from $url: is the server running, and reachable from here (firewall, proxy, DNS)?"
  local got
  got=$(sed '/^-----/d' "$work/ca.pem" | base64 -d 2>/dev/null | sha256sum | cut -c1-64)
  [ "$got" = "$pin" ] ||
    die "the server at $url presented CA $got, but the token pins $pin: someone may be intercepting the connection, or the token belongs to another server. Nothing was installed."
  fetch() { curl -fsS --proto '=https' --cacert "$work/ca.pem" --retry 3 --max-time 600 "$@"; }

  fetch -o "$work/package.sha256" "$url/downloads/agent-linux-$arch.sha256" ||
    die "the server has no agent package for linux-$arch (see its log)"
  local sum file
  read -r sum file <"$work/package.sha256" || true
  [[ $sum =~ ^[0-9a-f]{64}$ && $file =~ ^yamori-agent-[A-Za-z0-9.+_-]+-linux-$arch\.tar\.gz$ ]] ||
    die "the server's package checksum is malformed: is it a Yamori server of the same version as this installer?"
  local version=${file#yamori-agent-}
  version=${version%-linux-"$arch".tar.gz}
  say "downloading $file from $url"
  fetch -o "$work/$file" "$url/downloads/$file" || die "the download of $file failed: run the install command again"
  (cd "$work" && sha256sum -c --quiet package.sha256 >/dev/null 2>&1) ||
    die "$file does not match its sha256 $sum: run the install command again; if it fails again, the server's package cache may be damaged (remove DATA/agent-packages on the server)"

  local opt="$root/opt/yamori"
  local dest="$opt/$version" fresh="$opt/.$version.new"
  mkdir -p "$opt"
  rm -rf "$fresh"
  mkdir -m 0755 "$fresh"
  tar -xzf "$work/$file" -C "$fresh" --no-same-owner || die "unpacking $file into $fresh failed (disk full?)"
  "$fresh/bin/node" -e '' ||
    die "the packaged Node.js does not run on this machine (its glibc may be older than the server's): run the agent from a checkout instead"
  local previous=
  [ -L "$opt/current" ] && previous=$(readlink "$opt/current")
  rm -rf "$dest"
  mv "$fresh" "$dest"
  ln -sfn "$version" "$opt/.current.new"
  mv -T "$opt/.current.new" "$opt/current"
  mkdir -p "$root/usr/local/bin"
  ln -sfn "$opt/current/bin/yamori" "$root/usr/local/bin/yamori"
  say "installed $version in $dest"

  local yamori="$dest/bin/yamori" status
  status=$("$yamori" agent status --json 2>/dev/null || true)
  if printf '%s' "$status" | grep -qF "\"server\": \"$url\""; then
    say "already enrolled with $url (to enroll again: yamori agent enroll)"
  else
    "$yamori" agent enroll || die "enrollment failed (see above): the package is installed; with a new token, run the install command again or: sudo env YAMORI_ENROLL_TOKEN=… yamori agent enroll"
  fi

  if [ -n "$root" ]; then
    "$yamori" agent install --prefix "$root" --no-start
  elif [ -d /run/systemd/system ] && command -v systemctl >/dev/null; then
    local was_active=no
    systemctl is-active --quiet yamori-agent.service && was_active=yes
    "$yamori" agent install || die "the service did not start: see journalctl -u yamori-agent"
    # an upgrade: the running agent still runs the previous version
    if [ "$was_active" = yes ]; then systemctl restart yamori-agent.service || die "the service did not restart: see journalctl -u yamori-agent"; fi
  else
    "$yamori" agent install --no-start
    say "no systemd here: start the agent with your init system as: yamori agent run"
  fi

  # Keep the current and the previous version; older ones go.
  local d
  for d in "$opt"/*; do
    if [ ! -d "$d" ] || [ -L "$d" ]; then continue; fi
    case "${d##*/}" in "$version" | "$previous") ;; *) rm -rf "$d" ;; esac
  done
  say "done: yamori agent status shows the agent's state"
}

# Everything runs from here, on the last line: a truncated download runs nothing.
main "$@"
