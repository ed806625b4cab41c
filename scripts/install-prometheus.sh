#!/usr/bin/env bash
# Puts Debian's Prometheus server and promtool (static Go binaries) into the git-ignored .tools/prometheus/,
# without installing the package: `apt-get download` + `dpkg -x` (no systemd unit, no adduser, a few seconds).
# Idempotent: does nothing when .tools/prometheus/usr/bin/prometheus already runs. Prints the bin directory.
# Used by .ci/run and by the Prometheus tests (test/integration/prometheus-scrape.test.ts).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
home="$root/.tools/prometheus"
bin="$home/usr/bin"
if [ -x "$bin/prometheus" ] && "$bin/prometheus" --version >/dev/null 2>&1; then
  echo "$bin"
  exit 0
fi
command -v apt-get >/dev/null || { echo "install-prometheus: apt-get not found (Debian or Ubuntu needed)" >&2; exit 1; }
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
# (As root, apt warns that the download ran unsandboxed: _apt cannot write to the mktemp dir. Harmless.)
if ! (cd "$tmp" && apt-get download prometheus >&2); then
  echo "install-prometheus: apt-get download failed; running apt-get update once and retrying" >&2
  apt-get update -qq >&2
  (cd "$tmp" && apt-get download prometheus >&2)
fi
mkdir -p "$home"
dpkg -x "$tmp"/prometheus_*.deb "$home"
"$bin/prometheus" --version >&2
echo "$bin"
