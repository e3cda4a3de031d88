#!/usr/bin/env bash
# tools/demo --real-kernel, inside the guest: the libvirt report's failure and its cure
# on a real iommufd kernel, told step by step. (The same facts are asserted by
# case_two_vms.sh; this script shows them.)
source "$(dirname "$0")/lib.sh"

vfiojail() { "$VFIOJAIL" "$@"; }
step() { printf '\n==> %s\n' "$*"; }
show() { printf '$ %s\n' "$*"; "$@"; }
LIMIT=$((96 << 20))

step "A real kernel: $(uname -r), with iommufd, VFIO cdevs and an emulated Intel IOMMU"
echo "edu PCI devices bound to vfio-pci: $EDU_A -> $(cdev_of "$EDU_A"), $EDU_B -> $(cdev_of "$EDU_B")"
show vfiojail check

step "Two VMs of one user (nobody), 64 MiB of RAM and RLIMIT_MEMLOCK 96 MiB each"
echo "Without vfiojail, QEMU opens /dev/iommu itself: the kernel's default, per-user"
echo "accounting charges both VMs' pinned RAM to one budget of the user."
for n in /dev/iommu "$(cdev_of "$EDU_A")" "$(cdev_of "$EDU_B")"; do
	on_exit "chown $(stat -c %u:%g "$n") $n; chmod $(stat -c %a "$n") $n"
	chown 65534:65534 "$n"
done
as_user=(prlimit --memlock=$LIMIT:$LIMIT setpriv --reuid=65534 --regid=65534 --clear-groups)
vm_start b1 "$T/b1.log" -- "${as_user[@]}" "${QEMU_VM[@]}" $(edu_vm_args b1 "$EDU_A")
b1=$vm_pid
vm_wait_qmp b1 "$b1" || fail "VM 1 did not start: $(cat "$T/b1.log")"
echo "VM 1 runs: pid $b1, VmPin $(vmpin "$b1") kB"
echo "VM 2:"
printf '$ %s\n' "qemu-system-x86_64 -m 64M -object iommufd,id=iommufd0 -device vfio-pci,host=$EDU_B,iommufd=iommufd0 ..."
set +e
timeout 120 "${as_user[@]}" "${QEMU_VM[@]}" $(edu_vm_args b2 "$EDU_B")
echo "(exit status $?: the second VM cannot pin its RAM)"
set -e
vm_quit b1 "$b1"

step "The same two VMs through vfiojail: each gets a per-process iommufd context"
for v in 1 2; do
	bdf=$EDU_A
	[[ $v -eq 2 ]] && bdf=$EDU_B
	spec "vm$v" 64MiB "[ { \"pci\": \"$bdf\" } ]" "\"memlock\": { \"hard_limit\": $LIMIT }" >/dev/null
done
show vfiojail plan "$T/vm1.json"
for v in 1 2; do
	bdf=$EDU_A
	[[ $v -eq 2 ]] && bdf=$EDU_B
	printf '$ %s\n' "vfiojail run vm$v.json -- qemu-system-x86_64 -m 64M -object iommufd,id=iommufd0,fd=@fd:iommufd0@ -device vfio-pci,host=$bdf,iommufd=iommufd0 ... &"
	vm_start "vm$v" "$T/vm$v.log" -- "$VFIOJAIL" run "$T/vm$v.json" -- "${QEMU_VM[@]}" $(edu_vm_args "vm$v" "$bdf" @fd:iommufd0@)
	vm_wait_qmp "vm$v" "$vm_pid" || fail "VM $v did not start: $(cat "$T/vm$v.log")"
	eval "sup$v=$vm_pid"
done
for v in 1 2; do
	q=$(qemu_pid_of "vm$v")
	echo "VM $v runs: QEMU pid $q as uid $(awk '/^Uid:/ { print $2 }' "/proc/$q/status"), VmPin $(vmpin "$q") kB, its own RLIMIT_MEMLOCK $(awk '/^Max locked memory/ { print $4 }' "/proc/$q/limits") bytes"
	echo "  QMP query-pci: $(qmp "vm$v" query-pci | jq -c '[.[].devices[] | select(.id.vendor == 4660) | "\(.bus):\(.slot) edu \(.id.vendor):\(.id.device)"]')"
done
show vfiojail list
for v in 1 2; do
	sup=sup$v
	vm_quit "vm$v" "${!sup}"
	echo "VM $v: QMP quit, vfiojail run exited $rc"
done
show vfiojail list
assert_guest_clean
echo
echo "Both VMs ran through vfiojail where the second failed without it; nothing is left."
