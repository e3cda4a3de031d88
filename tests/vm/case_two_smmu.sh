#!/usr/bin/env bash
# The multi-vSMMU shape on the arm64 stack: one VM, two devices behind two SMMUv3
# instances ($EDU_A behind the guest's first, on pcie.0; $EDU_C behind its second, on a
# pxb-pcie), through one iommufd context. The spec counts two vIOMMUs (one vSMMU per
# host SMMU, as on NVIDIA Grace); its plan, side by side with what the kernel pins:
# one IOAS, so guest RAM is pinned and charged once although each SMMU gets its own
# hardware page table; the plan's vIOMMU rule (RAM per device) is the bound for a guest
# that enables its vSMMUs. The inner VM has no vSMMU itself: QEMU's emulated SMMUv3
# takes no VFIO device and the accelerated one (nested on the host's SMMUv3) needs KVM,
# which a TCG guest on an x86_64 host does not have. Nothing is left.
source "$(dirname "$0")/lib.sh"

if [[ -z $EDU_C ]]; then
	not_here "two SMMUs" "the $VJ_STACK guest has one IOMMU ($(ls /sys/class/iommu | xargs)); the arm64 stack's has two SMMUv3 instances"
	exit 0
fi
smmu_of() { basename "$(readlink "/sys/bus/pci/devices/$1/iommu")"; }
sa=$(smmu_of "$EDU_A") sc=$(smmu_of "$EDU_C")
[[ $sa == smmu3.* && $sc == smmu3.* && $sa != "$sc" ]] || fail "$EDU_A ($sa) and $EDU_C ($sc): not two SMMUv3s"

ram=128
s=$(spec two-smmu "${ram}MiB" "[ { \"pci\": \"$EDU_A\" }, { \"pci\": \"$EDU_C\" } ]" '"arch": "aarch64", "viommu": 2')
capture "$VFIOJAIL" plan "$s" --json
assert_eq "$rc" 0 "plan ($err)"
plan=$out
assert_eq "$(jq -r '.iommufd | length' <<<"$plan")" 1 "one context"
assert_eq "$(jq -r '.iommufd[0].devices' <<<"$plan")" 2 "both devices in it"
bytes=$(jq -r .memlock.bytes <<<"$plan")
assert_eq "$(jq -r '[.memlock.terms[].reason | select(test("vIOMMU"))] | length' <<<"$plan")" 2 "a RAM term per VFIO device (two vIOMMUs)"
assert_eq "$bytes" $(((2 * ram + 1024) << 20)) "the plan: 2 x RAM + 1 GiB"
# The same devices without a vIOMMU: one RAM term for the one address space.
s0=$(spec two-smmu0 "${ram}MiB" "[ { \"pci\": \"$EDU_A\" }, { \"pci\": \"$EDU_C\" } ]")
bytes0=$("$VFIOJAIL" plan "$s0" --json | jq -r .memlock.bytes)
assert_eq "$bytes0" $(((ram + 1024) << 20)) "without vIOMMUs: RAM (one context) + 1 GiB"
capture "$VFIOJAIL" plan "$s"
echo "$out"
pass "plan: 2 vIOMMUs, $(jq -r '[.memlock.terms[] | "\(.bytes / 1048576 | floor) MiB"] | join(" + ")' <<<"$plan") = $bytes bytes"

vm_start two-smmu "$T/two.log" -- "$VFIOJAIL" run "$s" -- "${QEMU_VM[@]}" -m "${ram}M" $(qmp_args two-smmu) \
	-object iommufd,id=iommufd0,fd=@fd:iommufd0@ \
	-device vfio-pci,host="$EDU_A",iommufd=iommufd0,id=hda -device vfio-pci,host="$EDU_C",iommufd=iommufd0,id=hdc
vm_wait_qmp two-smmu "$vm_pid" || fail "QEMU did not start: $(cat "$T/two.log")"
q=$(qemu_pid_of two-smmu) || fail "no QEMU"
assert_eq "$(edus_in_vm two-smmu)" '["hda","hdc"]' "query-pci lists both devices"
fds=$(ls -l "/proc/$q/fd" | awk '{ print $NF }')
assert_eq "$(grep -c '^/dev/iommu$' <<<"$fds")" 1 "QEMU holds one /dev/iommu context"
assert_contains "$fds" "$(cdev_of "$EDU_A")" "QEMU opened $EDU_A's cdev"
assert_contains "$fds" "$(cdev_of "$EDU_C")" "QEMU opened $EDU_C's cdev"
pin=$(vmpin "$q") lck=$(vmlck "$q")
assert_eq "$(awk '/^Max locked memory/ { print $4 }' "/proc/$q/limits")" "$bytes" "the VMM's RLIMIT_MEMLOCK is the plan's"
[[ $lck -ge $((ram * 1024)) ]] || fail "only $lck kB charged for $ram MiB of RAM"
# One IOAS: RAM once, not once per SMMU (less than RAM + 64 MiB).
[[ $lck -lt $(((ram + 64) * 1024)) ]] || fail "$lck kB charged: RAM pinned twice for one context"
[[ $((lck * 1024)) -le $bytes0 ]] || fail "$lck kB charged, above even the plan without vIOMMUs ($bytes0)"
grep -v '^$' "$T/two.log" | sed 's/^/qemu: /' || true
vm_quit two-smmu "$vm_pid"
assert_eq "$rc" 0 "QEMU quits ($(cat "$T/two.log"))"
assert_guest_clean
echo "side by side: planned $((bytes >> 20)) MiB (2 vIOMMUs: 2 x $ram MiB + 1 GiB), $((bytes0 >> 20)) MiB without vIOMMUs; charged VmLck $lck kB, VmPin $pin kB"
pass "$EDU_A ($sa) and $EDU_C ($sc) through one context: RAM charged once ($lck kB), planned $((bytes >> 20)) MiB with 2 vIOMMUs"
