#!/usr/bin/env bash
# Installs Debian's Chromium for the browser tests (playwright-core drives it; `npx playwright install` cannot
# download browsers here). Idempotent: does nothing when /usr/bin/chromium runs. About 1-2 minutes and 400 MB
# the first time. Used by .ci/run and by test/e2e (which skips nothing: it fails without a browser).
set -euo pipefail
if [ -x /usr/bin/chromium ] && /usr/bin/chromium --version >/dev/null 2>&1; then
  exit 0
fi
command -v apt-get >/dev/null || { echo "install-chromium: apt-get not found (Debian or Ubuntu needed)" >&2; exit 1; }
export DEBIAN_FRONTEND=noninteractive
apt-get install -y --no-install-recommends chromium >&2 || { apt-get update -qq >&2 && apt-get install -y --no-install-recommends chromium >&2; }
/usr/bin/chromium --version >&2
