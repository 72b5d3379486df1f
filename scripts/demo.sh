#!/usr/bin/env bash
# The demo (README's first command): installs what is missing, builds, starts
# `sluice run` on its embedded default config (two tap ports, a<->b), puts
# each tap into its own network namespace, pings across the appliance both
# ways, shows /metrics, and keeps forwarding until Ctrl-C. Needs root.
#   scripts/demo.sh [--no-wait]      --no-wait: stop after the checks
set -euo pipefail
cd "$(dirname "$0")/.."
wait_for_ctrl_c=1
[[ ${1:-} == --no-wait ]] && wait_for_ctrl_c=0

bash scripts/deps.sh
cargo build --release --locked --bin sluice
bin=target/release/sluice

nsa=sl-ns-a nsb=sl-ns-b
pid=""
cleanup() {
  if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then
    kill -INT "$pid"; wait "$pid" || true
  fi
  ip netns del "$nsa" 2>/dev/null || true
  ip netns del "$nsb" 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM
ip netns del "$nsa" 2>/dev/null || true
ip netns del "$nsb" 2>/dev/null || true

echo "== starting sluice (embedded config/demo.toml)"
"$bin" run &
pid=$!
# The admin endpoint answers only once every port is started: moving a tap
# into its namespace before that makes the tap PMD's setup fail (ENODEV).
for _ in $(seq 100); do
  curl -fsS -o /dev/null http://127.0.0.1:9091/status 2>/dev/null && break
  kill -0 "$pid" 2>/dev/null || { echo "sluice exited early" >&2; exit 1; }
  sleep 0.1
done
curl -fsS -o /dev/null http://127.0.0.1:9091/status || { echo "sluice did not come up" >&2; exit 1; }

ip netns add "$nsa"; ip netns add "$nsb"
ip link set sl-a netns "$nsa"; ip link set sl-b netns "$nsb"
ip -n "$nsa" addr add 10.99.0.1/24 dev sl-a; ip -n "$nsa" link set sl-a up; ip -n "$nsa" link set lo up
ip -n "$nsb" addr add 10.99.0.2/24 dev sl-b; ip -n "$nsb" link set sl-b up; ip -n "$nsb" link set lo up

echo "== ping $nsa -> $nsb through sluice"
ip netns exec "$nsa" ping -c 3 -i 0.2 -W 2 10.99.0.2
echo "== ping $nsb -> $nsa through sluice"
ip netns exec "$nsb" ping -c 3 -i 0.2 -W 2 10.99.0.1

echo "== http://127.0.0.1:9091/metrics (port counters)"
curl -fsS http://127.0.0.1:9091/metrics | grep -E '^sluice_(port_(rx|tx)_packets_total|drops_total)'

if ((wait_for_ctrl_c)); then
  echo "== sluice is forwarding between $nsa (10.99.0.1) and $nsb (10.99.0.2)."
  echo "   try: ip netns exec $nsa ping 10.99.0.2    curl 127.0.0.1:9091/metrics"
  echo "   Ctrl-C stops it and prints the final counters."
  wait "$pid" || true
fi
