#!/usr/bin/env bash
# vfiojail plan on the fixture hosts: the JSON a launcher reads, and every refusal.
source "$(dirname "$0")/lib.sh"

make_host gpu-iommufd
# A proc root of our own, so the cgroup path does not depend on where the test runs.
mkdir -p "$WORK/proc/self"
echo "30 23 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw" >"$WORK/proc/self/mountinfo"
echo "0::/machine.slice" >"$WORK/proc/self/cgroup"
roots=(--sysfs-root "$HOST/sys" --dev-root "$HOST/dev" --proc-root "$WORK/proc")
spec="$VJ_SOURCE_ROOT/docs/examples/gpu-vm-1.json"

capture "$VFIOJAIL" plan "$spec" --json "${roots[@]}"
assert_eq "$rc" 0 "plan exit status ($err)"
plan=$out
q() { jq -r "$1" <<<"$plan"; }
assert_eq "$(q .name)" gpu-vm-1 name
assert_eq "$(q .uid):$(q .gid)" "$(id -u nobody):$(id -g nobody)" "uid:gid"
assert_eq "$(q .cgroup)" /sys/fs/cgroup/machine.slice/vfiojail-gpu-vm-1 cgroup
node() { q ".nodes[] | select(.path == \"$1\") | [.type, .major, .minor, .access, .uid, .gid, .mode] | join(\" \")"; }
u="$(id -u nobody) $(id -g nobody)"
assert_eq "$(node /dev/vfio/devices/vfio0)" "c 240 0 rw $u 0600" "GPU cdev node"
assert_eq "$(node /dev/vfio/devices/vfio1)" "c 240 1 rw $u 0600" "audio function cdev node"
assert_eq "$(node /dev/iommu)" "c 10 120 rw $u 0600" "/dev/iommu node"
assert_eq "$(node /dev/null)" "c 1 3 rw $u 0666" "/dev/null keeps its host mode"
assert_eq "$(node /dev/kvm)" "c 10 232 rw $u 0600" "/dev/kvm"
assert_eq "$(node /dev/net/tun)" "c 10 200 rw $u 0600" "/dev/net/tun"
assert_eq "$(q '.nodes | map(.path) | sort | join(" ")')" \
	"/dev/full /dev/iommu /dev/kvm /dev/net/tun /dev/null /dev/ptmx /dev/random /dev/urandom /dev/vfio/devices/vfio0 /dev/vfio/devices/vfio1 /dev/zero" \
	"exactly the planned nodes"
assert_eq "$(q '[.nodes[] | .reason | length > 0] | all')" true "every node has a reason"
# The filter: one rule per node plus the pty slaves, nothing else.
assert_eq "$(q '.rules | length')" $((11 + 8)) "rule count"
assert_eq "$(q '[.rules[] | select(.major == 136 and .minor == "*")] | length')" 1 "pts wildcard rule"
assert_eq "$(q '[.rules[] | select(.major == 240)] | map(.minor) | sort | join(",")')" "0,1" "vfio rules"
assert_eq "$(q '.iommufd | map([.id, .path, .major, .minor, .accounting] | join(" ")) | join(";")')" \
	"iommufd0 /dev/iommu 10 120 per-process" "iommufd contexts"
# 16 GiB guest, two devices in one iommufd context: one RAM budget + 1 GiB.
assert_eq "$(q .memlock.bytes)" $((17 * 1024 * 1024 * 1024)) "memlock bytes"
assert_eq "$(q '.memlock.terms | map(.bytes) | add')" $((17 * 1024 * 1024 * 1024)) "memlock terms add up"
assert_contains "$(q '.memlock.terms[0].reason')" "iommufd0" "memlock term names the address space"
assert_eq "$(q '.hostdevs[0] | [.pci, .driver, .iommu_group, .node] | join(" ")')" \
	"0009:06:00.0 vfio-pci 14 /dev/vfio/devices/vfio0" "hostdev discovery"
assert_eq "$(q '.hostdevs[0].bars | map("\(.index)=\(.size)") | join(" ")')" \
	"0=16777216 1=68719476736 3=33554432" "GPU BAR sizes"
pass "plan --json on a GPU host in iommufd mode"

# The table says the same, readably.
capture "$VFIOJAIL" plan "$spec" "${roots[@]}"
assert_eq "$rc" 0 "plan table exit status"
assert_contains "$out" "/dev/vfio/devices/vfio0" "table lists the cdev"
assert_contains "$out" "RLIMIT_MEMLOCK: 17GiB" "table shows memlock"
pass "plan table"

# The same spec as flags gives the same plan.
capture "$VFIOJAIL" plan --json "${roots[@]}" --name gpu-vm-1 --user nobody --memory 16GiB \
	--iommufd iommufd0 --hostdev 0009:06:00.0,iommufd=iommufd0 --hostdev 0009:06:00.1 \
	--device /dev/kvm --device /dev/net/tun:rw
assert_eq "$rc" 0 "plan from flags ($err)"
assert_eq "$(jq -S 'del(.warnings)' <<<"$out")" "$(jq -S 'del(.warnings)' <<<"$plan")" "flags and file agree"
pass "flags and file give one plan"

# Two GPUs in two iommufd contexts: two RAM budgets (libvirt would plan one).
capture "$VFIOJAIL" plan --json "${roots[@]}" --name two --user nobody --memory 4GiB \
	--iommufd a --iommufd b --hostdev 0009:06:00.0,iommufd=a --hostdev 0009:06:00.1,iommufd=a \
	--hostdev 0009:07:00.0,iommufd=b
assert_eq "$rc" 0 "two contexts ($err)"
assert_eq "$(jq .memlock.bytes <<<"$out")" $((9 * 1024 * 1024 * 1024)) "two address spaces"
pass "one RAM budget per DMA address space"

# Half of a group assigned: the other vfio-bound function is named in a warning.
capture "$VFIOJAIL" plan --json "${roots[@]}" --name half --user nobody --memory 1G \
	--hostdev 0009:06:00.0 --memlock-hard-limit 1MiB
assert_eq "$rc" 0 "half a group ($err)"
assert_contains "$(jq -r '.warnings | join("\n")' <<<"$out")" "IOMMU group 14 also holds 0009:06:00.1" "group peer warning"
assert_eq "$(jq -r '[.warnings[] | select(contains("IOMMU group"))] | length' <<<"$plan")" 0 "no group warning when the whole group is assigned"
pass "a vfio-bound group peer left out is warned about"

# Refusals: the host cannot give what the spec asks (status 125), naming the device.
make_host group-shared
capture "$VFIOJAIL" plan --json --sysfs-root "$HOST/sys" --dev-root "$HOST/dev" \
	--name v --user nobody --memory 1G --hostdev 0000:03:00.0
assert_eq "$rc" 125 "non-viable group"
assert_contains "$err" "0000:03:00.1" "names the other device"
assert_contains "$err" "snd_hda_intel" "names its driver"
assert_eq "$out" "" "no partial plan"
pass "a group shared with a host driver is refused"

make_host no-cdev
capture "$VFIOJAIL" plan --json --sysfs-root "$HOST/sys" --dev-root "$HOST/dev" \
	--name v --user nobody --memory 1G --hostdev 0000:05:00.0
assert_eq "$rc" 125 "no cdev"
assert_contains "$err" "no VFIO cdev" "says the kernel has no cdev"
assert_contains "$err" "legacy" "suggests the legacy backend"
capture "$VFIOJAIL" plan --json --sysfs-root "$HOST/sys" --dev-root "$HOST/dev" \
	--name v --user nobody --memory 1G --hostdev 0000:05:00.0,backend=legacy
assert_eq "$rc" 0 "legacy backend on a kernel without cdev ($err)"
assert_eq "$(jq -r '[.nodes[] | select(.path | startswith("/dev/vfio")) | "\(.path)=\(.major):\(.minor)"] | sort | join(" ")' <<<"$out")" \
	"/dev/vfio/3=241:3 /dev/vfio/vfio=10:196" "legacy nodes"
assert_eq "$(jq '.iommufd | length' <<<"$out")" 0 "no iommufd context"
pass "no-cdev host: iommufd refused with a hint, legacy planned"

make_host legacy-only
capture "$VFIOJAIL" plan --json --sysfs-root "$HOST/sys" --dev-root "$HOST/dev" \
	--name v --user nobody --memory 1G --hostdev 07:00.1
assert_eq "$rc" 125 "iommufd backend without /dev/iommu"
assert_contains "$err" "/dev/iommu" "names /dev/iommu"
capture "$VFIOJAIL" plan --json --sysfs-root "$HOST/sys" --dev-root "$HOST/dev" \
	--name v --user nobody --memory 1G --hostdev 07:00.1,backend=legacy
assert_eq "$rc" 0 "legacy-only host ($err)"
assert_eq "$(jq -r '.hostdevs[0].pci' <<<"$out")" 0000:07:00.1 "short PCI form"
capture "$VFIOJAIL" plan --json --sysfs-root "$HOST/sys" --dev-root "$HOST/dev" \
	--name v --user nobody --memory 1G --hostdev 0000:08:00.0,backend=legacy
assert_eq "$rc" 125 "device bound to a host driver"
assert_contains "$err" "e1000e" "names the driver"
capture "$VFIOJAIL" plan --json --sysfs-root "$HOST/sys" --dev-root "$HOST/dev" \
	--name v --user nobody --memory 1G --hostdev 0000:0a:00.0,backend=legacy
assert_eq "$rc" 125 "missing device"
assert_contains "$err" "0000:0a:00.0" "names the address"
capture "$VFIOJAIL" plan --json --sysfs-root "$HOST/sys" --dev-root "$HOST/dev" \
	--name v --user nobody --device /dev/nonexistent
assert_eq "$rc" 125 "missing device node"
assert_contains "$err" "/dev/nonexistent" "names the path"
ln -s null "$HOST/dev/sneaky"
capture "$VFIOJAIL" plan --json --sysfs-root "$HOST/sys" --dev-root "$HOST/dev" \
	--name v --user nobody --device /dev/sneaky
assert_eq "$rc" 125 "symlinked device node"
assert_contains "$err" "symlink" "says why"
pass "legacy-only host and device refusals"
