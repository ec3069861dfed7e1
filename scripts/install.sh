#!/usr/bin/env bash
# Installs Yamori from this checkout on Debian: Node.js 24 LTS (from the npm registry), the
# dependencies (native parts build against Node's own headers), and the `yamori` command in
# /usr/local/bin. With --up it then starts the all-in-one server (`yamori up`) in the foreground.
# Run as root.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" != 0 ]; then echo "install.sh: run as root (sudo bash scripts/install.sh)" >&2; exit 1; fi
need=()
for t in make g++ python3 git; do command -v "$t" >/dev/null || need+=("$t"); done
if [ ${#need[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq make g++ python3 git >/dev/null
fi
# Debian parts: libyara for the YARA engine's addon; bubblewrap and strace for the sandbox;
# nftables for host isolation.
bash scripts/apt-ensure.sh libyara-dev bubblewrap strace nftables
bash scripts/setup-node.sh
export PATH=/usr/local/bin:$PATH
npm ci --no-audit --no-fund
ln -sf "$PWD/apps/cli/bin/yamori.js" /usr/local/bin/yamori
echo "installed: $(command -v yamori) on Node $(node --version)"
if [ "${1:-}" = "--up" ]; then
  shift
  exec /usr/local/bin/yamori up "$@"
fi
