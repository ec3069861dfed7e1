#!/usr/bin/env bash
# Installs Node.js 24 LTS from the npm registry (the node package ships the binary and its
# headers), and points native builds at those headers so node-gyp never downloads anything.
set -euo pipefail
if ! command -v node >/dev/null || [ "$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null)" != 24 ]; then
  if ! command -v npm >/dev/null; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq nodejs npm >/dev/null
  fi
  npm install -g --prefix /usr/local node@24 >/dev/null
  hash -r
fi
[ "$(/usr/local/bin/node -p 'process.versions.node.split(".")[0]' 2>/dev/null || node -p 'process.versions.node.split(".")[0]')" = 24 ] || {
  echo "setup-node: Node.js 24 did not install; check that the npm registry is reachable" >&2; exit 1; }
