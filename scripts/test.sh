#!/usr/bin/env bash
# `npm test`: lint, typecheck, then every test (unit, topology driver, integration on a real broker,
# registry and Postgres). Vitest writes its JSON results to test-results.json for .ci/run's summary line.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
echo "== lint"; eslint .
echo "== typecheck"; tsc --noEmit -p tsconfig.json
echo "== tests"
rm -f test-results.json
vitest run "$@" &
vitest_pid=$!
# Vitest writes its JSON report once every file has finished. A test that leaves a handle open (a socket, a child
# process) can keep a fork worker, and so `vitest run`, alive after that ("Timeout terminating forks worker"):
# give it a minute to exit by itself, then stop it and take the verdict from the report, so a leak can never hang CI.
while kill -0 "$vitest_pid" 2>/dev/null && [ ! -f test-results.json ]; do sleep 2; done
for _ in $(seq 1 60); do kill -0 "$vitest_pid" 2>/dev/null || break; sleep 1; done
if kill -0 "$vitest_pid" 2>/dev/null; then
  echo "test.sh: vitest had not exited 60 s after writing its report (a test left a handle open); stopping it" >&2
  pkill -TERM -P "$vitest_pid" 2>/dev/null || true
  kill -TERM "$vitest_pid" 2>/dev/null || true
  sleep 3
  pkill -KILL -P "$vitest_pid" 2>/dev/null || true
  kill -KILL "$vitest_pid" 2>/dev/null || true
  wait "$vitest_pid" 2>/dev/null || true
  node -e 'const r = require("./test-results.json"); process.exit(r.success && r.numFailedTests === 0 && r.numTotalTests > 0 ? 0 : 1)'
  exit $?
fi
wait "$vitest_pid"
