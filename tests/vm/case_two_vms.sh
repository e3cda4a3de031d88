#!/usr/bin/env bash
# The libvirt report, reproduced and cured. Two VMs of one user (nobody), 64 MiB of RAM and
# RLIMIT_MEMLOCK 96 MiB each, one edu device each:
#  - QEMU opening /dev/iommu itself (the kernel's per-user accounting): the second VM fails
#    with ENOMEM, as libvirt users saw it;
#  - through vfiojail (per-process contexts): both run, each pinning its own RAM, each within
#    the plan's memlock bytes;
#  - a budget below guest RAM (32 MiB) fails with the same ENOMEM, and vfiojail passes the
#    VMM's exit status on.
source "$(dirname "$0")/lib.sh"

LIMIT=$((96 << 20))

# ---- the baseline: QEMU opens /dev/iommu itself, as libvirt before 12.1 has it do -----
# The nodes are made the VM user's, as a launcher would.
restore=()
for n in /dev/iommu "$(cdev_of "$EDU_A")" "$(cdev_of "$EDU_B")"; do
	restore+=("chown $(stat -c %u:%g "$n") $n; chmod $(stat -c %a "$n") $n")
	chown 65534:65534 "$n"
	chmod 0600 "$n"
done
on_exit "$(printf '%s; ' "${restore[@]}")"
as_user=(prlimit --memlock=$LIMIT:$LIMIT setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all --bounding-set=-all)
# shellcheck disable=SC2046
vm_start b1 "$T/b1.log" -- "${as_user[@]}" "${QEMU_VM[@]}" $(edu_vm_args b1 "$EDU_A")
b1=$vm_pid
vm_wait_qmp b1 "$b1" || fail "baseline VM 1 did not start: $(cat "$T/b1.log")"
assert_eq "$(edus_in_vm b1)" '["hd0"]' "VM 1 has its device"
pin1=$(vmpin "$b1")
# shellcheck disable=SC2046
capture timeout 120 "${as_user[@]}" "${QEMU_VM[@]}" $(edu_vm_args b2 "$EDU_B")
echo "baseline VM 2: exit $rc: $err"
assert_eq "$rc" 1 "the second VM of the same user fails (per-user accounting)"
assert_contains "$err" "Cannot allocate memory" "the second VM's error"
assert_contains "$err" "vfio_container_dma_map" "it fails mapping guest RAM for DMA"
vm_quit b1 "$b1"
assert_eq "$rc" 0 "baseline VM 1 quits"
pass "per-user baseline: VM 1 pins $pin1 kB, VM 2 fails with ENOMEM: $(grep -o 'vfio_container_dma_map.*' <<<"$err" | head -1)"
eval "${restore[@]/%/;}"

# ---- the cure: the same two VMs through vfiojail --------------------------------------
s1=$(spec c1 64MiB "[ { \"pci\": \"$EDU_A\" } ]" "\"memlock\": { \"hard_limit\": $LIMIT }")
s2=$(spec c2 64MiB "[ { \"pci\": \"$EDU_B\" } ]" "\"memlock\": { \"hard_limit\": $LIMIT }")
plan_bytes=$("$VFIOJAIL" plan "$s1" --json | jq -r .memlock.bytes)
assert_eq "$plan_bytes" "$LIMIT" "the plan's memlock bytes (the spec's hard limit)"
# shellcheck disable=SC2046
vm_start c1 "$T/c1.log" -- "$VFIOJAIL" run "$s1" -- "${QEMU_VM[@]}" $(edu_vm_args c1 "$EDU_A" @fd:iommufd0@)
c1=$vm_pid
vm_wait_qmp c1 "$c1" || fail "VM 1 did not start through vfiojail: $(cat "$T/c1.log")"
# shellcheck disable=SC2046
vm_start c2 "$T/c2.log" -- "$VFIOJAIL" run "$s2" -- "${QEMU_VM[@]}" $(edu_vm_args c2 "$EDU_B" @fd:iommufd0@)
c2=$vm_pid
vm_wait_qmp c2 "$c2" || fail "VM 2 did not start through vfiojail: $(cat "$T/c2.log")"
for v in c1 c2; do
	q=$(qemu_pid_of "$v")
	assert_eq "$(awk '/^Uid:/ { print $2 }' "/proc/$q/status")" 65534 "$v runs as nobody"
	assert_eq "$(edus_in_vm "$v")" '["hd0"]' "$v has its device"
	assert_eq "$(awk '/^Max locked memory/ { print $4 }' "/proc/$q/limits")" "$LIMIT" "$v's RLIMIT_MEMLOCK"
	pin=$(vmpin "$q")
	[[ $pin -ge 65536 ]] || fail "$v pins $pin kB, less than its RAM"
	[[ $((pin * 1024)) -le $plan_bytes ]] || fail "$v pins $pin kB, above the plan's $plan_bytes bytes"
	eval "pin_$v=$pin"
done
pass "through vfiojail both VMs run: VmPin $pin_c1 kB and $pin_c2 kB, each within the plan's $((plan_bytes >> 10)) kB"
vm_quit c1 "$c1"
assert_eq "$rc" 0 "VM 1 quits through vfiojail"
vm_quit c2 "$c2"
assert_eq "$rc" 0 "VM 2 quits through vfiojail"
assert_guest_clean

# ---- a budget below guest RAM fails the same way, and the exit status comes through ---
s3=$(spec c3 64MiB "[ { \"pci\": \"$EDU_A\" } ]" "\"memlock\": { \"hard_limit\": \"32MiB\" }")
# shellcheck disable=SC2046
capture timeout 120 "$VFIOJAIL" run "$s3" -- "${QEMU_VM[@]}" $(edu_vm_args c3 "$EDU_A" @fd:iommufd0@)
assert_eq "$rc" 1 "QEMU's exit status through run with 32 MiB for 64 MiB of RAM"
assert_contains "$err" "Cannot allocate memory" "ENOMEM below guest RAM"
assert_guest_clean
pass "a 32 MiB budget: ENOMEM, QEMU's exit status 1 passed on, nothing left"
