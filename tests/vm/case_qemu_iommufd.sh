#!/usr/bin/env bash
# Real QEMU (10 or 11, by stack) through vfiojail on the iommufd backend: -object iommufd,fd=@fd:ID@ and
# -device vfio-pci,iommufd=ID. QEMU, as nobody in its jail, attaches the edu device through
# the handed context; QMP answers, query-pci lists the device, quit ends it, and the exit
# status comes through. Then the same with --exec. Nothing is left.
source "$(dirname "$0")/lib.sh"

s=$(spec qi 64MiB "[ { \"pci\": \"$EDU_A\" } ]")
vm_start qi "$T/qi.log" -- "$VFIOJAIL" run "$s" -- "${QEMU_VM[@]}" -m 64M $(qmp_args qi) \
	-object iommufd,id=iommufd0,fd=@fd:iommufd0@ -device vfio-pci,host="$EDU_A",iommufd=iommufd0,id=hd0
vm_wait_qmp qi "$vm_pid" || fail "QEMU did not answer QMP: $(cat "$T/qi.log")"
q=$(qemu_pid_of qi) || fail "no QEMU under the supervisor"
assert_eq "$(awk '/^Uid:/ { print $2 }' "/proc/$q/status")" 65534 "QEMU runs as nobody"
assert_eq "$(awk '/^CapEff:/ { print $2 }' "/proc/$q/status")" 0000000000000000 "QEMU has no capability"
assert_eq "$(cat "/proc/$q/cgroup")" "0::/vfiojail-qi" "QEMU's cgroup"
# The device as the guest sees it: vendor 1234, device 11e8, the qdev id we gave.
assert_eq "$(edus_in_vm qi)" '["hd0"]' "query-pci lists the edu device"
# QEMU's fds: the handed context and the device's cdev.
fds=$(ls -l "/proc/$q/fd" | awk '{ print $NF }')
assert_contains "$fds" "/dev/iommu" "QEMU holds the /dev/iommu context"
assert_contains "$fds" "$(cdev_of "$EDU_A")" "QEMU opened the VFIO cdev"
[[ $(vmpin "$q") -ge 65536 ]] || fail "QEMU pins $(vmpin "$q") kB, not its 64 MiB of RAM"
pass "QEMU $QEMU_MAJOR attached $EDU_A through the handed iommufd context (VmPin $(vmpin "$q") kB)"
vm_quit qi "$vm_pid"
assert_eq "$rc" 0 "run's exit status after quit ($(cat "$T/qi.log"))"
# Root here has CAP_SYS_RESOURCE: run raised the limit and warned of nothing.
[[ "$(cat "$T/qi.log")" != *"vfiojail: warning"* ]] || fail "run warned: $(cat "$T/qi.log")"
assert_guest_clean
pass "quit: exit 0, nothing left"

# --exec: vfiojail becomes QEMU (the launcher holds QEMU's pid), teardown after.
vm_start qe "$T/qe.log" -- "$VFIOJAIL" run "$s" --exec -- "${QEMU_VM[@]}" -m 64M $(qmp_args qe) \
	-object iommufd,id=iommufd0,fd=@fd:iommufd0@ -device vfio-pci,host="$EDU_A",iommufd=iommufd0,id=hd0
vm_wait_qmp qe "$vm_pid" || fail "QEMU (--exec) did not answer QMP: $(cat "$T/qe.log")"
assert_eq "$(readlink "/proc/$vm_pid/exe")" "$QEMU_EXE" "with --exec the launched pid is QEMU"
assert_eq "$(edus_in_vm qe)" '["hd0"]' "query-pci (--exec)"
vm_quit qe "$vm_pid"
assert_eq "$rc" 0 "QEMU's exit status (--exec)"
capture "$VFIOJAIL" teardown qi
assert_eq "$rc" 0 "teardown after run --exec ($err)"
assert_guest_clean
pass "run --exec: QEMU's pid, query-pci, quit, teardown"

# A failing QEMU's status comes through the supervisor: a vfio-pci device naming a
# context id that does not exist makes QEMU exit 1.
capture timeout 120 "$VFIOJAIL" run "$s" -- "${QEMU_VM[@]}" -m 64M \
	-object iommufd,id=iommufd0,fd=@fd:iommufd0@ -device vfio-pci,host="$EDU_A",iommufd=nosuch
assert_eq "$rc" 1 "QEMU's failure status through run ($err)"
assert_contains "$err" "nosuch" "QEMU's own message reaches the launcher"
assert_guest_clean
pass "QEMU's failure status comes through"
