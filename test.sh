#!/usr/bin/env bash
# Runs the whole test suite the way CI does: installs the independent
# checker tools when missing, then formatting, lints and every test.
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
