#!/usr/bin/env bash
# apt-ensure.sh PKG… : installs the Debian packages that are missing (tests and benchmarks that
# need a real tool, e.g. upx-ucl, yara, clamav, fapolicyd, call this). Needs root.
set -euo pipefail
missing=()
for p in "$@"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p"); done
[ ${#missing[@]} -eq 0 ] && exit 0
export DEBIAN_FRONTEND=noninteractive
lock=/var/lib/apt/lists/.yamori-updated
if [ ! -f "$lock" ] || [ -n "$(find "$lock" -mmin +360 2>/dev/null)" ]; then apt-get -o DPkg::Lock::Timeout=300 update -qq && touch "$lock"; fi
apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
