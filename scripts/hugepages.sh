#!/usr/bin/env bash
# Reserves hugepages for production runs (not needed with `hugepages = false`).
#   scripts/hugepages.sh [--pages N] [--size 2M|1G] [--node NODE] [--mount DIR]
# Reserves N pages (default 1024 x 2 MiB = 2 GiB) on one NUMA node or split
# over all nodes, and mounts hugetlbfs at DIR (default /dev/hugepages).
# 1 GiB pages usually need `default_hugepagesz=1G hugepagesz=1G hugepages=N`
# on the kernel command line instead, because memory fragments after boot.
set -euo pipefail
pages=1024 size=2M node="" mnt=/dev/hugepages
while (($#)); do
  case "$1" in
    --pages) pages=$2; shift 2 ;;
    --size) size=$2; shift 2 ;;
    --node) node=$2; shift 2 ;;
    --mount) mnt=$2; shift 2 ;;
    -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
    *) echo "hugepages.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
[[ $pages =~ ^[0-9]+$ ]] || { echo "hugepages.sh: --pages needs a number" >&2; exit 2; }
case "$size" in 2M) kb=2048 ;; 1G) kb=1048576 ;; *) echo "hugepages.sh: --size is 2M or 1G" >&2; exit 2 ;; esac
[[ $(id -u) -eq 0 ]] || { echo "hugepages.sh: run as root" >&2; exit 1; }

if [[ -n $node ]]; then
  targets=("/sys/devices/system/node/node$node/hugepages/hugepages-${kb}kB/nr_hugepages")
else
  targets=(/sys/devices/system/node/node*/hugepages/hugepages-"${kb}"kB/nr_hugepages)
fi
[[ -e ${targets[0]} ]] || { echo "hugepages.sh: this kernel has no ${size} hugepages (${targets[0]} missing)" >&2; exit 1; }
per=$(( (pages + ${#targets[@]} - 1) / ${#targets[@]} ))
for t in "${targets[@]}"; do
  echo "$per" >"$t"
  got=$(cat "$t")
  echo "$(dirname "$(dirname "$(dirname "$t")")" | xargs basename): $got x $size"
  ((got >= per)) || echo "hugepages.sh: warning: asked for $per, got $got (memory fragmented? reserve at boot)" >&2
done
mkdir -p "$mnt"
mountpoint -q "$mnt" || mount -t hugetlbfs -o pagesize="$size" nodev "$mnt"
echo "hugetlbfs mounted at $mnt; set [eal] hugepages = true in the config"
