#!/usr/bin/env bash
# The one test command (README, .ci/run): installs what the tests need, then runs the checks
# and the whole test suite. Fails when anything fails.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tests/setup.sh
cargo fmt --all -- --check
# The shipped build, then everything with the routes the HTTP layer's tests need (the
# `test-routes` feature: the binary the tests start is built with it).
cargo clippy --all-targets -- -D warnings
cargo clippy --all-targets --features test-routes -- -D warnings
cargo test --all-targets --features test-routes --no-fail-fast
# The Debian package: built, installed, run as its units would, removed (needs root).
bash tests/package.sh
# Every fuzz target for a short fixed time (FUZZ_SECONDS each), so they cannot rot; fails on
# any finding. `fuzz/run.sh 600` is the long run docs/testing.md reports.
bash fuzz/run.sh "${FUZZ_SECONDS:-20}"
