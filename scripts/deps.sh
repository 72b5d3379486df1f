#!/usr/bin/env bash
# Installs what Sluice needs to build, run and test on Debian/Ubuntu (run as root).
# Idempotent: packages already present are skipped, so a second run costs seconds.
set -euo pipefail

pkgs=(
  dpdk dpdk-dev libdpdk-dev      # DPDK 22.11+: libraries, PMDs, dpdk-testpmd, dpdk-devbind.py
  pkg-config clang libclang-dev  # bindgen in sys/ (libclang) and the C shim
  iproute2 iputils-ping iperf3   # demo and tap tests: namespaces, ping, iperf3
  prometheus                     # promtool (metrics tests) and the Prometheus server (scrape test)
  curl python3                   # demo output, traffic generators
  openvswitch-switch             # tests/ovs_trace.rs: a private ovs-vswitchd (dummy datapath)
)
# The DPDK build of ovs-vswitchd, for the OVS-DPDK benchmarks (benches/r2.sh --ovs).
[[ "${SLUICE_DEPS_OVS:-0}" == 1 ]] && pkgs+=(openvswitch-switch-dpdk)

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "deps.sh: missing packages: ${missing[*]} (run as root to install them)" >&2
    exit 1
  fi
  echo "deps.sh: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # prometheus and openvswitch-switch would start system services; we only
  # want their binaries (the tests start private instances of their own).
  printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
  trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! command -v cargo >/dev/null 2>&1; then
  echo "deps.sh: cargo not found; install a Rust toolchain (rustup) first" >&2
  exit 1
fi
pkg-config --atleast-version=22.11 libdpdk || { echo "deps.sh: libdpdk >= 22.11 required" >&2; exit 1; }
