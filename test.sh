#!/usr/bin/env bash
# Runs the whole test suite the way CI does: installs the independent
# checker tools when missing, then formatting, lints, every test, and a
# short smoke run of every fuzz target (MEASURED_FUZZ_SECONDS each).
set -euo pipefail
cd "$(dirname "$0")"
if [ "$(id -u)" = 0 ]; then
  bash ci/install-oracles.sh
else
  sudo bash ci/install-oracles.sh
fi
bash ci/fetch-testdata.sh
bash ci/build-tboot.sh
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
cargo test --workspace --no-fail-fast "$@"
bash scripts/fuzz.sh "${MEASURED_FUZZ_SECONDS:-5}"
