#!/usr/bin/env bash
# The main job on the shipped example: prepare the inputs (Debian's
# busybox-static and cloud kernel, fetched with apt-get download), then
# `measured build examples/service-vm.toml`: a bootable VHD, VM definitions,
# predicted PCR17/18/19 and a sealing policy in out/svc/.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/example-inputs.sh
: "${SOURCE_DATE_EPOCH:=1700000000}"
export SOURCE_DATE_EPOCH
exec cargo run --release -q -p measured -- build examples/service-vm.toml "$@"
