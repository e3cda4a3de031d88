#!/usr/bin/env bash
# plan on the real kernel: the nodes, MAJ:MIN, IOMMU groups and /dev/iommu's minor are what
# the kernel's sysfs and /dev say, for both backends; with CAP_SYS_RESOURCE there is no
# warning that the memlock limit cannot be raised.
source "$(dirname "$0")/lib.sh"

s=$(spec plan1 256MiB "[ { \"pci\": \"$EDU_A\" }, { \"pci\": \"$EDU_B\" }, { \"pci\": \"$EDU_L\", \"backend\": \"legacy\" } ]")
capture "$VFIOJAIL" plan "$s" --json
assert_eq "$rc" 0 "plan's exit status ($err)"
j=$out
node() { jq -r --arg p "$1" '.nodes[] | select(.path == $p) | "\(.type) \(.major):\(.minor) \(.uid):\(.gid) \(.mode)"' <<<"$j"; }

# /dev/iommu: the misc minor the kernel gave it, as sysfs and the node itself say.
assert_eq "$(node /dev/iommu)" "c $(iommu_majmin) 65534:65534 0600" "/dev/iommu in the plan"
assert_eq "$(node_majmin /dev/iommu)" "$(iommu_majmin)" "the host's /dev/iommu"
assert_eq "$(jq -r '.iommufd[0] | "\(.id) \(.major):\(.minor) \(.accounting) \(.devices)"' <<<"$j")" \
	"iommufd0 $(iommu_majmin) per-process 2" "the context"

# iommufd backend: each device's cdev, from vfio-dev/vfioN/dev, equal to the node in /dev.
for bdf in "$EDU_A" "$EDU_B"; do
	cdev=$(cdev_of "$bdf")
	assert_eq "$(node "$cdev")" "c $(cdev_majmin "$bdf") 65534:65534 0600" "$bdf's cdev in the plan"
	assert_eq "$(node_majmin "$cdev")" "$(cdev_majmin "$bdf")" "$cdev on the host"
	assert_eq "$(jq -r --arg b "$bdf" '.hostdevs[] | select(.pci == $b) | "\(.backend) \(.driver) \(.iommu_group) \(.node) \(.iommufd)"' <<<"$j")" \
		"iommufd vfio-pci $(group_of "$bdf") $cdev iommufd0" "hostdev $bdf"
done

# legacy backend: the group node (its number in /sys/class/vfio/G/dev) and the container.
g=$(group_of "$EDU_L")
assert_eq "$(node "/dev/vfio/$g")" "c $(cat "/sys/class/vfio/$g/dev") 65534:65534 0600" "group $g in the plan"
assert_eq "$(node_majmin "/dev/vfio/$g")" "$(cat "/sys/class/vfio/$g/dev")" "/dev/vfio/$g on the host"
assert_eq "$(node /dev/vfio/vfio | cut -d' ' -f2)" "$(node_majmin /dev/vfio/vfio)" "the container node"
assert_eq "$(jq -r --arg b "$EDU_L" '.hostdevs[] | select(.pci == $b) | "\(.backend) \(.iommu_group) \(.node)"' <<<"$j")" \
	"legacy $g /dev/vfio/$g" "hostdev $EDU_L"

# Exactly these VFIO nodes, each with a filter rule for its number.
assert_eq "$(jq -r '[.nodes[].path | select(startswith("/dev/vfio"))] | sort | join(" ")' <<<"$j")" \
	"$(printf '%s\n' "$(cdev_of "$EDU_A")" "$(cdev_of "$EDU_B")" "/dev/vfio/$g" /dev/vfio/vfio | sort | xargs)" "VFIO nodes"
for n in $(jq -r '.nodes[] | "\(.major):\(.minor)"' <<<"$j"); do
	jq -e --arg maj "${n%:*}" --arg min "${n#*:}" \
		'[.rules[] | select((.major|tostring) == $maj and ((.minor|tostring) == $min or .minor == "*"))] | length > 0' \
		<<<"$j" >/dev/null || fail "no filter rule for node $n"
done
pass "plan: nodes, numbers, groups and /dev/iommu equal sysfs and /dev"

# Root here has CAP_SYS_RESOURCE and a hard memlock limit of 8 MiB: run raises it itself,
# so plan warns of nothing (it used to say "run needs CAP_SYS_RESOURCE").
assert_eq "$(ulimit -H -l)" 8192 "the guest's hard memlock limit (KiB)"
assert_eq "$(jq -c '.warnings // []' <<<"$j")" "[]" "plan's warnings"
capture "$VFIOJAIL" plan "$s"
assert_eq "$rc" 0 "plan (text)"
[[ "$out$err" != *"CAP_SYS_RESOURCE"* ]] || fail "plan warns about CAP_SYS_RESOURCE although it is present: $out$err"
pass "no memlock warning with CAP_SYS_RESOURCE"

# Without it (capsh drops it), the warning is back: it was not simply removed.
capture setpriv --inh-caps=-sys_resource --bounding-set=-sys_resource "$VFIOJAIL" plan "$s" --json
assert_eq "$rc" 0 "plan without CAP_SYS_RESOURCE ($err)"
assert_contains "$(jq -r '.warnings[]' <<<"$out")" "run needs CAP_SYS_RESOURCE" "the warning without the capability"
pass "the warning stays where it is true"

# The architecture: plan's default is the machine's (uname -m); the spec's arch field and
# plan --arch say the same; on this kernel the plan's nodes do not depend on it.
arch=$(uname -m)
assert_eq "$(jq -r .arch <<<"$j")" "$arch" "plan's arch, by default the machine's"
sa=$(spec plan-arch 256MiB "[ { \"pci\": \"$EDU_A\" } ]" "\"arch\": \"$arch\"")
capture "$VFIOJAIL" plan "$sa" --json
assert_eq "$rc" 0 "plan of a spec with arch $arch ($err)"
assert_eq "$(jq -r .arch <<<"$out")" "$arch" "the spec's arch"
fromspec=$(jq -c '[.nodes, .memlock.bytes]' <<<"$out")
capture "$VFIOJAIL" plan --name plan-flags --user nobody --memory 256MiB --arch "$arch" --hostdev "$EDU_A" --json
assert_eq "$rc" 0 "plan --arch $arch ($err)"
assert_eq "$(jq -r .arch <<<"$out")" "$arch" "plan --arch"
assert_eq "$(jq -c '[.nodes, .memlock.bytes]' <<<"$out")" "$fromspec" "plan --arch and the spec's arch plan the same"
capture "$VFIOJAIL" plan "$sa"
assert_contains "$out" "arch $arch" "the text plan names the arch"
pass "arch $arch: the default, the spec's field and --arch agree"

# arm64: every device sits behind an SMMUv3, each in a group of its own but the
# multifunction edu + e1000; the fifth edu is behind the second SMMUv3.
if [[ $VJ_ARCH == aarch64 ]]; then
	assert_eq "$arch" aarch64 "the arm64 guest's uname -m"
	smmu_of() { basename "$(readlink "/sys/bus/pci/devices/$1/iommu")"; }
	for bdf in "$EDU_A" "$EDU_B" "$EDU_L" "$EDU_S" "$EDU_C"; do
		[[ $(smmu_of "$bdf") == smmu3.* ]] || fail "$bdf is not behind an SMMUv3: $(smmu_of "$bdf")"
	done
	assert_eq "$(ls /sys/class/iommu | grep -c '^smmu3\.')" 2 "two SMMUv3 instances"
	[[ $(smmu_of "$EDU_A") != "$(smmu_of "$EDU_C")" ]] || fail "$EDU_A and $EDU_C are behind the same SMMUv3"
	assert_eq "$(group_of "$EDU_S")" "$(group_of "$NIC")" "the multifunction edu and e1000 share a group"
	sc=$(spec plan-2smmu 256MiB "[ { \"pci\": \"$EDU_A\" }, { \"pci\": \"$EDU_C\" } ]")
	capture "$VFIOJAIL" plan "$sc" --json
	assert_eq "$rc" 0 "plan of $EDU_A and $EDU_C ($err)"
	for bdf in "$EDU_A" "$EDU_C"; do
		assert_eq "$(jq -r --arg b "$bdf" '.hostdevs[] | select(.pci == $b) | "\(.iommu_group) \(.node)"' <<<"$out")" \
			"$(group_of "$bdf") $(cdev_of "$bdf")" "hostdev $bdf behind $(smmu_of "$bdf")"
	done
	assert_eq "$(jq -r '.iommufd | length' <<<"$out")" 1 "one context for both SMMUs"
	pass "SMMUv3: $EDU_A behind $(smmu_of "$EDU_A") (group $(group_of "$EDU_A")), $EDU_C behind $(smmu_of "$EDU_C") (group $(group_of "$EDU_C")), one context"
fi
assert_guest_clean
