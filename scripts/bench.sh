#!/usr/bin/env bash
# Times measured against its peer tool on the same input, in one run, and
# prints one line per comparison: name, our time, the peer's time, ratio.
# Usage: scripts/bench.sh [FILTER]   (FILTER picks bench.d files by name)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cargo build --release -q --manifest-path "$root/Cargo.toml" -p measured
# Release binaries: .cargo/config.toml names the host as the build target.
RELEASE_DIR="${CARGO_TARGET_DIR:-$root/target}/$(rustc -vV | sed -n 's/^host: //p')/release"
export RELEASE_DIR MEASURED="$RELEASE_DIR/measured"
export BENCH_DIR=${BENCH_DIR:-$(mktemp -d /var/tmp/measured-bench.XXXXXX)}
trap 'rm -rf "$BENCH_DIR"' EXIT
# shellcheck source=scripts/bench-lib.sh
source "$root/scripts/bench-lib.sh"
printf '%-40s %10s %10s %7s\n' name ours peer ratio
for f in "$root"/scripts/bench.d/*.sh; do
  [ -e "$f" ] || continue
  case "$(basename "$f")" in *"${1:-}"*) ;; *) continue ;; esac
  # shellcheck source=/dev/null
  source "$f"
done
