#!/usr/bin/env bash
# The OVS-DPDK benchmark workload (../shared/bench/ovs-dpdk, rule set R2:
# VLAN tenant classification -> 1,000-rule ACL -> 10,000 /32 routes) on one
# worker: Sluice and `dpdk-testpmd --forward-mode=io` on the same net_pcap
# input (64-byte frames, 1 / 1,000 / 100,000 distinct 5-tuples) in the same
# run; optionally OVS-DPDK through the anchor's bench.py (--ovs).
#   benches/r2.sh [--secs S] [--variants "1 1k 100k"] [--rules R2|R3hi|R3lo] [--ovs]
#                 [--tenants RATE]   also run with one [[tenant]] limit per VLAN
#                                    tenant (RATE, e.g. 100Gbit: never drops)
#                 [--cache-slots N]  also run with flow_cache_slots = N (e.g.
#                                    1048576: 64 MiB, holds 100,000 flows)
#                 [--one-rule]       also run a one-rule pipeline (table=0,
#                                    actions=output:out) on the same input:
#                                    what the input alone allows
# With variants 1 and 100k, ends with each row's 100k / 1 ratio.
# Needs root and the Debian dpdk package; --ovs needs openvswitch-switch-dpdk.
set -euo pipefail
cd "$(dirname "$0")/.."
source benches/lib.sh
secs=5 variants="1 1k 100k" rules=R2 ovs=0 tenants= slots= one=0
while (($#)); do
  case "$1" in
    --secs) secs=$2; shift 2 ;;
    --variants) variants=$2; shift 2 ;;
    --rules) rules=$2; shift 2 ;;
    --ovs) ovs=1; shift ;;
    --tenants) tenants=$2; shift 2 ;;
    --cache-slots) slots=$2; shift 2 ;;
    --one-rule) one=1; shift ;;
    *) sed -n '2,14p' "$0"; exit 2 ;;
  esac
done
cargo build --release --locked --bin sluice >&2
bin=$PWD/target/release/sluice
work=$(mktemp -d /tmp/sluice-r2bench.XXXXXX)
trap 'rm -rf "$work" /var/run/dpdk/sluice-r2 /var/run/dpdk/tp-r2' EXIT

testpmd_mpps() { # pcap
  timeout -s INT $((secs + 6)) dpdk-testpmd --no-huge -m 1024 --no-pci --no-telemetry --file-prefix tp-r2 \
    -l 0,1 --main-lcore 0 --vdev="net_pcap0,rx_pcap=$1,infinite_rx=1" --vdev=net_null0,no-rx=1 -- \
    --forward-mode=io --nb-cores=1 --rxq=1 --txq=1 --total-num-mbufs=131072 --stats-period=1 \
    >"$work/tp" 2>&1 </dev/null || true
  testpmd_tx_mpps "$work/tp" 3
}

declare -A mpps # "row variant" -> Mpps, for the self-ratios
printf '%-8s %-5s %10s %12s %8s\n' variant rules sluice "testpmd io" ratio
for v in $variants; do
  bash scripts/gen-r2.sh --out "$work/$v" --flows "$v" --rules "$rules" >/dev/null
  s=$(sluice_mpps "$bin" "$work/$v/r2.toml" "$secs" "$work")
  t=$(testpmd_mpps "$work/$v/pcap/flows_$v.pcap")
  r=$(python3 -c "print(f'{$s/$t:.2f}' if '$t' != 'nan' else '-')")
  printf '%-8s %-5s %10s %12s %8s\n' "$v" "$rules" "$s" "$t" "$r"
  mpps["$rules $v"]=$s mpps["testpmd $v"]=$t
  if [[ -n $tenants ]]; then
    bash scripts/gen-r2.sh --out "$work/$v-t" --flows "$v" --rules "$rules" --tenants "$tenants" >/dev/null 2>&1
    st=$(sluice_mpps "$bin" "$work/$v-t/r2.toml" "$secs" "$work")
    printf '%-8s %-5s %10s %12s %8s   (100 tenant limits of %s; on/off %s)\n' "$v" "+lim" "$st" "" "" \
      "$tenants" "$(python3 -c "print(f'{$st/$s:.2f}')")"
    mpps["+lim $v"]=$st
  fi
  if [[ -n $slots ]]; then
    bash scripts/gen-r2.sh --out "$work/$v-c" --flows "$v" --rules "$rules" --cache-slots "$slots" >/dev/null 2>&1
    sc=$(sluice_mpps "$bin" "$work/$v-c/r2.toml" "$secs" "$work")
    printf '%-8s %-5s %10s %12s %8s   (flow_cache_slots = %s; /default %s)\n' "$v" "+fc" "$sc" "" \
      "$(python3 -c "print(f'{$sc/$t:.2f}' if '$t' != 'nan' else '-')")" "$slots" \
      "$(python3 -c "print(f'{$sc/$s:.2f}')")"
    mpps["+fc $v"]=$sc
  fi
  if ((one)); then
    grep -q '^flows_file = ' "$work/$v/r2.toml"
    sed 's|^flows_file = .*|flows = ["table=0,priority=0,actions=output:out"]|' "$work/$v/r2.toml" \
      >"$work/$v/one.toml"
    so=$(sluice_mpps "$bin" "$work/$v/one.toml" "$secs" "$work")
    printf '%-8s %-5s %10s %12s %8s   (one rule: the input alone)\n' "$v" "1rule" "$so" "" \
      "$(python3 -c "print(f'{$so/$t:.2f}' if '$t' != 'nan' else '-')")"
    mpps["1rule $v"]=$so
  fi
done
if [[ " $variants " == *" 1 "* && " $variants " == *" 100k "* ]]; then
  for row in "$rules" +lim +fc 1rule testpmd; do
    [[ -n ${mpps["$row 1"]:-} && -n ${mpps["$row 100k"]:-} ]] || continue
    printf '%-8s 100k / 1 = %s\n' "$row" \
      "$(python3 -c "print(f'{${mpps["$row 100k"]}/${mpps["$row 1"]}:.2f}' if 'nan' not in '${mpps["$row 100k"]}${mpps["$row 1"]}' else '-')")"
  done
fi
if ((ovs)); then
  echo "== OVS-DPDK (anchor bench.py, same traffic and rules)"
  python3 ../shared/bench/ovs-dpdk/bench.py --reps 1 --secs "$secs" --rules "$rules" --no-testpmd \
    --workdir "$work/ovs" 2>&1 | tail -n 8
fi
