#!/usr/bin/env bash
# The test command (README, .ci/run): installs what is missing, then runs
# formatting, lints, unit tests and the integration tests (which start the
# real `sluice` binary on DPDK vdevs, tap interfaces in network namespaces,
# promtool and the Prometheus server). Needs root.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/deps.sh
rustup component list --installed 2>/dev/null | grep -q rustfmt || rustup component add rustfmt clippy

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --all-targets --locked -- -D warnings
echo "== cargo test"
# Integration tests start DPDK processes and tap interfaces: run them one
# test binary at a time and one test at a time inside each.
cargo test --locked --release -- --test-threads=1
