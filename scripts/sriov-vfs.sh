#!/usr/bin/env bash
# Creates SR-IOV virtual functions on a physical function and binds them to
# vfio-pci for DPDK.
#   scripts/sriov-vfs.sh PF_PCI_ADDRESS NUM_VFS     e.g. 0000:3b:00.0 4
# Prints the VF addresses, ready for `device = "0000:3b:02.0"` in [[port]].
# Needs root, the PF's kernel driver loaded (it creates the VFs), IOMMU on
# (intel_iommu=on / amd_iommu=on) and dpdk-devbind.py (Debian package dpdk).
set -euo pipefail
if (($# != 2)) || [[ $1 == -h || $1 == --help ]]; then sed -n '2,7p' "$0"; exit 2; fi
pf=$1 n=$2
[[ $n =~ ^[0-9]+$ ]] || { echo "sriov-vfs.sh: NUM_VFS must be a number" >&2; exit 2; }
[[ $(id -u) -eq 0 ]] || { echo "sriov-vfs.sh: run as root" >&2; exit 1; }
dev=/sys/bus/pci/devices/$pf
[[ -d $dev ]] || { echo "sriov-vfs.sh: no PCI device $pf" >&2; exit 1; }
[[ -e $dev/sriov_totalvfs ]] || { echo "sriov-vfs.sh: $pf does not support SR-IOV (or its driver is not loaded)" >&2; exit 1; }
max=$(cat "$dev/sriov_totalvfs")
((n <= max)) || { echo "sriov-vfs.sh: $pf supports at most $max VFs" >&2; exit 1; }
command -v dpdk-devbind.py >/dev/null || { echo "sriov-vfs.sh: dpdk-devbind.py missing: apt-get install dpdk" >&2; exit 1; }

echo 0 >"$dev/sriov_numvfs"        # the count can only change from 0
echo "$n" >"$dev/sriov_numvfs"
modprobe vfio-pci
vfs=()
for v in "$dev"/virtfn*; do
  [[ -e $v ]] || continue
  vfs+=("$(basename "$(readlink -f "$v")")")
done
((${#vfs[@]})) || { echo "sriov-vfs.sh: no VFs appeared" >&2; exit 1; }
dpdk-devbind.py --bind=vfio-pci "${vfs[@]}"
printf '%s\n' "${vfs[@]}"
