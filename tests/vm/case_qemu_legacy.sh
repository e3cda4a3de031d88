#!/usr/bin/env bash
# Real QEMU (10 or 11, by stack) through vfiojail on the legacy backend: -device vfio-pci,host=BDF, which QEMU
# opens through /dev/vfio/vfio (the container) and /dev/vfio/G (the group) in its jail.
# QMP answers, query-pci lists the device, type1 locks the RAM, quit, exit status, nothing left.
source "$(dirname "$0")/lib.sh"

g=$(group_of "$EDU_L")
s=$(spec ql 64MiB "[ { \"pci\": \"$EDU_L\", \"backend\": \"legacy\" } ]")
vm_start ql "$T/ql.log" -- "$VFIOJAIL" run "$s" -- "${QEMU_VM[@]}" -m 64M $(qmp_args ql) \
	-device vfio-pci,host="$EDU_L",id=hd0
vm_wait_qmp ql "$vm_pid" || fail "QEMU did not answer QMP: $(cat "$T/ql.log")"
q=$(qemu_pid_of ql) || fail "no QEMU under the supervisor"
assert_eq "$(awk '/^Uid:/ { print $2 }' "/proc/$q/status")" 65534 "QEMU runs as nobody"
assert_eq "$(edus_in_vm ql)" '["hd0"]' "query-pci lists the edu device"
fds=$(ls -l "/proc/$q/fd" | awk '{ print $NF }')
assert_contains "$fds" "/dev/vfio/vfio" "QEMU opened the container"
assert_contains "$fds" "/dev/vfio/$g" "QEMU opened group $g"
[[ "$fds" != *"/dev/iommu"* ]] || fail "a legacy VM got an iommufd context"
[[ $(vmlck "$q") -ge 65536 ]] || fail "type1 locked $(vmlck "$q") kB, not the 64 MiB of RAM"
pass "QEMU $QEMU_MAJOR attached $EDU_L through group $g and the container (VmLck $(vmlck "$q") kB)"
vm_quit ql "$vm_pid"
assert_eq "$rc" 0 "run's exit status after quit ($(cat "$T/ql.log"))"
assert_guest_clean
pass "quit: exit 0, nothing left"
