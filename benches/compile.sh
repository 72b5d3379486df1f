#!/usr/bin/env bash
# Time to load 100,000 OpenFlow flows: `sluice check` (read, parse, validate
# and compile the R2 rule set scaled to 100,000 flows) next to
# `ovs-ofctl -O OpenFlow13 add-flows` of the same file into a private
# ovs-vswitchd (dummy datapath, private run directory), best of REPS.
#   benches/compile.sh [--reps N] [--routes N]
# Needs openvswitch-switch (scripts/deps.sh installs it) for the OVS column.
set -euo pipefail
cd "$(dirname "$0")/.."
reps=3 routes=98897
while (($#)); do
  case "$1" in
    --reps) reps=$2; shift 2 ;;
    --routes) routes=$2; shift 2 ;;
    *) sed -n '2,8p' "$0"; exit 2 ;;
  esac
done
cargo build --release --locked --bin sluice >&2
bin=$PWD/target/release/sluice
work=$(mktemp -d /tmp/sluice-compile.XXXXXX)
ovs_pids=()
cleanup() {
  for p in "${ovs_pids[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
bash scripts/gen-r2.sh --out "$work/r2" --flows 1 --routes "$routes" >/dev/null 2>&1
flows=$work/r2/rules/R2.flows
n=$(grep -c . "$flows")

best() { sort -n | head -1; }
now() { date +%s.%N; }

s=$(for _ in $(seq "$reps"); do
  t0=$(now); "$bin" check --config "$work/r2/r2.toml" >/dev/null; t1=$(now)
  python3 -c "print($t1 - $t0)"
done | best)

o=nan
if command -v ovs-vswitchd >/dev/null && command -v ovsdb-server >/dev/null; then
  export OVS_RUNDIR=$work/ovs OVS_DBDIR=$work/ovs OVS_LOGDIR=$work/ovs OVS_SYSCONFDIR=$work/ovs
  mkdir -p "$work/ovs"
  schema=/usr/share/openvswitch/vswitch.ovsschema
  ovsdb-tool create "$work/ovs/conf.db" "$schema"
  ovsdb-server "$work/ovs/conf.db" --remote="punix:$work/ovs/db.sock" \
    --unixctl="$work/ovs/ovsdb-server.ctl" --log-file="$work/ovs/ovsdb.log" --no-chdir -vconsole:off &
  ovs_pids+=($!)
  for _ in $(seq 100); do [[ -S $work/ovs/db.sock ]] && break; sleep 0.05; done
  vsctl() { ovs-vsctl --db="unix:$work/ovs/db.sock" --timeout=30 "$@"; }
  vsctl --no-wait init
  ovs-vswitchd "unix:$work/ovs/db.sock" --enable-dummy --disable-system --disable-system-route \
    --unixctl="$work/ovs/ovs-vswitchd.ctl" --log-file="$work/ovs/vswitchd.log" --no-chdir -vconsole:off &
  ovs_pids+=($!)
  for _ in $(seq 100); do [[ -S $work/ovs/ovs-vswitchd.ctl ]] && break; sleep 0.05; done
  vsctl add-br br0 -- set bridge br0 datapath_type=dummy fail_mode=secure protocols=OpenFlow13 \
    -- add-port br0 in -- set interface in type=dummy ofport_request=1 \
    -- add-port br0 out -- set interface out type=dummy ofport_request=2
  o=$(for _ in $(seq "$reps"); do
    ovs-ofctl -O OpenFlow13 del-flows br0
    t0=$(now); ovs-ofctl -O OpenFlow13 add-flows br0 "$flows"; t1=$(now)
    got=$(ovs-ofctl -O OpenFlow13 dump-aggregate br0 | grep -o 'flow_count=[0-9]*' | cut -d= -f2)
    [[ $got == "$n" ]] || echo "ovs-ofctl loaded $got of $n flows" >&2
    python3 -c "print($t1 - $t0)"
  done | best)
fi
printf '%-8s %22s %26s %8s\n' flows "sluice check (s)" "ovs-ofctl add-flows (s)" ratio
python3 -c "
n, s, o = $n, $s, float('$o')
print(f'{n:<8} {s:22.3f} {o:26.3f} {o / s if o == o else float(\"nan\"):8.1f}')"
