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
assert_guest_clean
