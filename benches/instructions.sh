#!/usr/bin/env bash
# Instructions per packet of the whole worker thread on the R2 workload
# (scripts/gen-r2.sh), counted by valgrind's callgrind: repeatable for the
# same binary and input whatever else the machine does, unlike Mpps on a
# noisy VM. The worker's total (rx, parse, pipeline, tx and its idle polls)
# is divided by the packets sent on port "out"; the top functions follow.
#   benches/instructions.sh [--secs S] [--variants "1 1k 100k"] [--rules R2|R3hi]
#                           [--bin PATH] [--top N]
# Needs valgrind and what scripts/gen-r2.sh needs. Under callgrind Sluice
# runs ~50x slower; S seconds (default 20) give a few million packets.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=20 variants="1 1k 100k" rules=R2 bin= top=12
while (($#)); do
  case "$1" in
    --secs) secs=$2; shift 2 ;;
    --variants) variants=$2; shift 2 ;;
    --rules) rules=$2; shift 2 ;;
    --bin) bin=$2; shift 2 ;;
    --top) top=$2; shift 2 ;;
    *) sed -n '2,10p' "$0"; exit 2 ;;
  esac
done
command -v valgrind >/dev/null || { echo "instructions: valgrind is not installed" >&2; exit 1; }
if [[ -z $bin ]]; then
  cargo build --release --locked --bin sluice >&2
  bin=$PWD/target/release/sluice
fi
work=$(mktemp -d /tmp/sluice-instr.XXXXXX)
trap 'rm -rf "$work" /var/run/dpdk/sluice-r2' EXIT

for v in $variants; do
  bash scripts/gen-r2.sh --out "$work/$v" --flows "$v" --rules "$rules" >/dev/null
  # SIGINT stops Sluice cleanly: it prints its port table and callgrind
  # writes its profile.
  timeout -s INT "$secs" valgrind --tool=callgrind --callgrind-out-file="$work/cg.$v" \
    "$bin" run --config "$work/$v/r2.toml" >"$work/out.$v" 2>"$work/err.$v" || true
  packets=$(awk '$1 == "out" {print $4}' "$work/out.$v")
  [[ -n $packets && $packets != 0 ]] || { echo "instructions: no packets for $v" >&2; tail -5 "$work/err.$v" >&2; exit 1; }
  # The worker thread's inclusive cost: its entry point in runtime.rs.
  total=$(callgrind_annotate --show-percs=no --inclusive=yes "$work/cg.$v" 2>/dev/null |
    awk '/runtime.rs:std::sys::backtrace::__rust_begin_short_backtrace/ && !n++ {gsub(",", "", $1); print $1}')
  printf '%s %s: %.0f instructions per packet (%s packets)\n' "$rules" "$v" \
    "$(python3 -c "print($total / $packets)")" "$packets"
  callgrind_annotate --show-percs=no "$work/cg.$v" 2>/dev/null | sed -n '/file:function/,$p' | sed -n "3,$((top + 2))p" |
    awk -v p="$packets" '{x = $1; gsub(",", "", x); $1 = ""; printf "  %7.1f %s\n", x / p, $0}' |
    sed 's|/rustc/[0-9a-f]*/library/||; s|'"$PWD"'/||'
done
