#!/usr/bin/env bash
# `make test`: a PostgreSQL for the tests (a private one unless BULWARK_TEST_DATABASE_URL is set), the
# Swift test suite against it, then the format lint.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
if [ -z "${BULWARK_TEST_DATABASE_URL:-}" ]; then
    base=$(scripts/local-postgres.sh bulwark_test)
    export BULWARK_TEST_DATABASE_URL="$base/bulwark_test"
    export BULWARK_TEST_ADMIN_URL="$base/postgres"
    # The servers the tests start log in as the service role (the migrations give it LOGIN).
    export BULWARK_TEST_SERVICE_DATABASE_URL="${base/postgres@/bulwark_app@}/bulwark_test"
fi
export BULWARK_HOME="$root"
swift build --build-tests >&2
log=$(mktemp)
trap 'rm -f "$log"' EXIT
swift test --skip-build "$@" 2>&1 | tee "$log"
echo "swift format lint …" >&2
swift format lint --strict --recursive Sources Tests Package.swift bench/scoring-bench
# One plain closing line with the Swift Testing count (XCTest's own line above counts only XCTest cases).
passed=$(sed -n 's/.*Test run with \([0-9]*\) tests\{0,1\} in .* passed after.*/\1/p' "$log" | tail -n 1)
[ -n "$passed" ] || { echo "tests: no Swift Testing summary found" >&2; exit 1; }
echo "tests: $passed passed, 0 failed"
