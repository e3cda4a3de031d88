#!/usr/bin/env bash
# Memlock truth: for a set of VM shapes, start real QEMU (10 or 11) through vfiojail and compare
# what the kernel charges against the VMM's RLIMIT_MEMLOCK (VmLck: iommufd's per-process
# accounting and VFIO type1 both charge locked_vm; VmPin shows iommufd's pins in either
# mode) with the plan's limit. The plan must never be below a measured charge. The table
# goes to $OUT/memlock.tsv (docs/MEMLOCK.md).
source "$(dirname "$0")/lib.sh"

tsv=$OUT/memlock.tsv
printf 'shape\tRAM\tVmPin kB\tVmLck kB\tplanned bytes\theadroom bytes\tplanned terms\n' >"$tsv"

# shape NAME RAM_MIB HOSTDEVS-JSON EXTRA-SPEC-JSON -- QEMU device arguments...
shape() {
	local name=$1 ram=$2 hostdevs=$3 extra=$4
	shift 5
	local s plan bytes q pin lck terms
	s=$(spec "ml-$name" "${ram}MiB" "$hostdevs" "$extra")
	plan=$("$VFIOJAIL" plan "$s" --json) || fail "$name: plan refused"
	bytes=$(jq -r .memlock.bytes <<<"$plan")
	terms=$(jq -r '[.memlock.terms[] | "\(.bytes / 1048576 | floor) MiB \(.reason)"] | join("; ")' <<<"$plan")
	vm_start "ml-$name" "$T/$name.log" -- "$VFIOJAIL" run "$s" -- "${QEMU_VM[@]}" -m "${ram}M" \
		$(qmp_args "ml-$name") "$@"
	vm_wait_qmp "ml-$name" "$vm_pid" || fail "$name: QEMU did not start: $(cat "$T/$name.log")"
	q=$(qemu_pid_of "ml-$name") || fail "$name: no QEMU"
	pin=$(vmpin "$q") lck=$(vmlck "$q")
	assert_eq "$(awk '/^Max locked memory/ { print $4 }' "/proc/$q/limits")" "$bytes" "$name: the VMM's RLIMIT_MEMLOCK is the plan's"
	vm_quit "ml-$name" "$vm_pid"
	assert_eq "$rc" 0 "$name: QEMU quits ($(cat "$T/$name.log"))"
	assert_guest_clean
	printf '%s\t%s MiB\t%s\t%s\t%s\t%s\t%s\n' "$name" "$ram" "$pin" "$lck" "$bytes" \
		"$((bytes - lck * 1024))" "$terms" >>"$tsv"
	[[ $((lck * 1024)) -le $bytes ]] || fail "$name: the kernel charged $lck kB, above the plan's $bytes bytes"
	[[ $lck -ge $((ram * 1024)) ]] || fail "$name: only $lck kB charged for $ram MiB of RAM"
	pass "$name: charged $lck kB (VmPin $pin kB), planned $bytes bytes"
}
dev() { echo "-object iommufd,id=$1,fd=@fd:$1@ -device vfio-pci,host=$2,iommufd=$1"; }
# qemu_alone NAME ARGS...: does this QEMU, as root and without vfiojail, start a VM with
# ARGS? 0 if it does (and quits it); else 1, with its first line of complaint in $why.
qemu_alone() {
	local name=$1 pid
	shift
	"${QEMU_VM[@]}" -m 128M $(qmp_args "ml-$name-alone") "$@" >"$T/$name-alone.log" 2>&1 &
	pid=$!
	if vm_wait_qmp "ml-$name-alone" "$pid"; then
		"$QMP" "$(qmp_sock "ml-$name-alone")" quit >/dev/null 2>&1 || true
		wait "$pid" || true
		return 0
	fi
	wait "$pid" || true
	why=$(grep -m1 -v "warning:" "$T/$name-alone.log" || true)
	return 1
}
# not_measured NAME WHY: the shape's row says why it has no figures.
not_measured() {
	not_here "$1" "$2"
	printf '%s\t%s MiB\t%s\t%s\t%s\t%s\t%s\n' "$1" 128 - - - - "not measured: $2" >>"$tsv"
}

for ram in 64 128 256; do
	shape "iommufd-1dev-$ram" "$ram" "[ { \"pci\": \"$EDU_A\" } ]" "" -- $(dev iommufd0 "$EDU_A")
done
shape iommufd-2dev-1ctx 128 "[ { \"pci\": \"$EDU_A\" }, { \"pci\": \"$EDU_B\" } ]" "" -- \
	$(dev iommufd0 "$EDU_A") -device vfio-pci,host="$EDU_B",iommufd=iommufd0
shape iommufd-2dev-2ctx 128 "[ { \"pci\": \"$EDU_A\", \"iommufd\": \"a\" }, { \"pci\": \"$EDU_B\", \"iommufd\": \"b\" } ]" \
	'"iommufd": [ { "id": "a" }, { "id": "b" } ]' -- $(dev a "$EDU_A") $(dev b "$EDU_B")
shape legacy-1dev 128 "[ { \"pci\": \"$EDU_L\", \"backend\": \"legacy\" } ]" "" -- -device vfio-pci,host="$EDU_L"
# One VM on both backends.  QEMU 11.1 aborts on it by itself (a QOM cast in its VFIO
# container code): shown here by starting that QEMU as root without vfiojail; the shape
# is then said not to apply, and it is measured wherever QEMU runs it.
mixed=(-object iommufd,id=iommufd0 -device vfio-pci,host="$EDU_A",iommufd=iommufd0 -device vfio-pci,host="$EDU_L")
if qemu_alone mixed "${mixed[@]}"; then
	shape iommufd-and-legacy 128 "[ { \"pci\": \"$EDU_A\" }, { \"pci\": \"$EDU_L\", \"backend\": \"legacy\" } ]" "" -- \
		$(dev iommufd0 "$EDU_A") -device vfio-pci,host="$EDU_L"
else
	not_measured iommufd-and-legacy "QEMU $QEMU_MAJOR without vfiojail, as root, does not start one VM on both backends: $why"
fi
# A vIOMMU in the VM: before the guest enables it, QEMU maps all of RAM (the "no DMA
# remapping" address space), so the charge is the same as without one. On arm64 the
# vIOMMU is an SMMUv3 on the virt machine's pcie.0; QEMU's emulated one (accel=off)
# takes no VFIO device, and the accelerated one (accel=on, nested on the host's
# SMMUv3) needs KVM, which a TCG guest on an x86_64 host does not have.
if [[ $VJ_ARCH == aarch64 ]]; then
	viommu=(-device arm-smmuv3,primary-bus=pcie.0,id=vsmmu0)
else
	viommu=(-device intel-iommu,caching-mode=on)
fi
for b in iommufd legacy; do
	if [[ $b == iommufd ]]; then
		hd="[ { \"pci\": \"$EDU_A\" } ]" args=($(dev iommufd0 "$EDU_A"))
		alone=(-object iommufd,id=iommufd0 -device vfio-pci,host="$EDU_A",iommufd=iommufd0)
	else
		hd="[ { \"pci\": \"$EDU_L\", \"backend\": \"legacy\" } ]" args=(-device vfio-pci,host="$EDU_L")
		alone=("${args[@]}")
	fi
	if [[ $VJ_ARCH != aarch64 ]] || qemu_alone "viommu-$b" "${viommu[@]}" "${alone[@]}"; then
		shape "viommu-$b" 128 "$hd" '"viommu": 1' -- "${viommu[@]}" "${args[@]}"
	else
		not_measured "viommu-$b" "QEMU $QEMU_MAJOR's emulated SMMUv3 with a VFIO device: $why (the accelerated SMMUv3 needs KVM)"
	fi
done
# arm64: two devices behind the guest's two SMMUv3 instances ($EDU_A on pcie.0, $EDU_C
# on the pxb-pcie), one iommufd context: one IOAS, a hardware page table per SMMU.
# The spec's vIOMMU count (one vSMMU per host SMMU, the multi-vSMMU shape) plans RAM per
# device; the inner VM itself has no vSMMU here (see above).
if [[ -n $EDU_C ]]; then
	two="[ { \"pci\": \"$EDU_A\" }, { \"pci\": \"$EDU_C\" } ]"
	shape 2smmu-1ctx 128 "$two" "" -- $(dev iommufd0 "$EDU_A") -device vfio-pci,host="$EDU_C",iommufd=iommufd0
	shape 2smmu-1ctx-viommu2 128 "$two" '"viommu": 2' -- $(dev iommufd0 "$EDU_A") -device vfio-pci,host="$EDU_C",iommufd=iommufd0
fi
cat "$tsv"
