#!/usr/bin/env bash
# One worker forwarding 64-byte frames net_null -> net_null: Sluice vs
# `dpdk-testpmd --forward-mode=io` on the same vdevs and the same core, in
# the same run, repeated; prints Mpps and the ratio (medians).
#   benches/fwd_null.sh [--secs S] [--reps N] [--core C]
# Needs root and the Debian dpdk package (dpdk-testpmd).
set -euo pipefail
cd "$(dirname "$0")/.."
source benches/lib.sh
secs=5 reps=3 core=1
while (($#)); do
  case "$1" in
    --secs) secs=$2; shift 2 ;;
    --reps) reps=$2; shift 2 ;;
    --core) core=$2; shift 2 ;;
    *) sed -n '2,6p' "$0"; exit 2 ;;
  esac
done
admin_core=$(( core == 0 ? 1 : 0 ))
cargo build --release --locked --bin sluice >&2
bin=$PWD/target/release/sluice
work=$(mktemp -d /tmp/sluice-bench.XXXXXX)
trap 'rm -rf "$work" /var/run/dpdk/sluice-bench /var/run/dpdk/tp-bench' EXIT

cat >"$work/fwd.toml" <<TOML
[eal]
file_prefix = "sluice-bench"
memory_mb = 1024
args = ["--no-shconf", "--no-telemetry", "--log-level=*:warning"]
[admin]
listen = "127.0.0.1:0"
core = $admin_core
[workers]
cores = [$core]
[[port]]
name = "in"
device = "net_null0,size=64"
[[port]]
name = "out"
device = "net_null1,size=64,no-rx=1"
[[forward]]
in = "in"
out = "out"
TOML

testpmd_once() {
  timeout -s INT $((secs + 3)) dpdk-testpmd --no-huge -m 1024 --no-pci --no-telemetry --file-prefix tp-bench \
    -l "$admin_core,$core" --main-lcore "$admin_core" \
    --vdev=net_null0,size=64 --vdev=net_null1,size=64,no-rx=1 -- \
    --forward-mode=io --nb-cores=1 --rxq=1 --txq=1 --total-num-mbufs=8191 --stats-period=1 \
    >"$work/tp" 2>&1 </dev/null || true
  testpmd_tx_mpps "$work/tp" 2
}

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
s=() t=()
for r in $(seq "$reps"); do
  s+=("$(sluice_mpps "$bin" "$work/fwd.toml" "$secs" "$work")")
  t+=("$(testpmd_once)")
  echo "rep $r: sluice ${s[-1]} Mpps, testpmd io ${t[-1]} Mpps" >&2
done
sm=$(printf '%s\n' "${s[@]}" | median) tm=$(printf '%s\n' "${t[@]}" | median)
python3 - "$sm" "$tm" "$reps" "$secs" <<'PY'
import sys
s, t, reps, secs = float(sys.argv[1]), float(sys.argv[2]), sys.argv[3], sys.argv[4]
print(f"net_null -> net_null, 64 B, one worker, {reps} reps x {secs} s (medians)")
print(f"  sluice      {s:7.2f} Mpps")
print(f"  testpmd io  {t:7.2f} Mpps")
print(f"  ratio       {s/t:7.3f}  (target >= 0.95)")
PY
