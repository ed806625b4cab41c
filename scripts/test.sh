#!/usr/bin/env bash
# `npm test`: lint, typecheck, then every test (unit, topology driver, integration on a real broker,
# registry and Postgres). Vitest writes its JSON results to test-results.json for .ci/run's summary line.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
echo "== lint"; eslint .
echo "== typecheck"; tsc --noEmit -p tsconfig.json
echo "== tests"; vitest run "$@"
