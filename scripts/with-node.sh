#!/usr/bin/env bash
# Runs a command with the project's pinned Node first on PATH, installing it and the npm packages
# on first use, so `npm run demo` and `npm test` work on a fresh clone whatever Node the machine has.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/node-env.sh
. "$root/scripts/node-env.sh"
major="$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)"
if [ "$major" -lt 24 ]; then
  echo "flextask needs Node >= 24.6 (found $(node --version 2>/dev/null || echo none))." >&2
  echo "Run '. scripts/node-env.sh' to fetch it into .tools/, or install Node 24 and retry." >&2
  exit 1
fi
if [ ! -d "$root/node_modules/@platformatic/kafka" ]; then
  echo "with-node: installing npm packages (npm ci)" >&2
  (cd "$root" && npm ci --no-audit --no-fund)
fi
export PATH="$root/node_modules/.bin:$PATH"
exec "$@"
