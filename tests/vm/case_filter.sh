#!/usr/bin/env bash
# The device filter on real VFIO nodes: from inside a jail, another VM's cdev, group and
# /dev/iommu-like nodes (same numbers, made visible and mode 0666) are refused with EPERM;
# the VM's own cdev, group and container open.
source "$(dirname "$0")/lib.sh"

mkdir -m 0755 "$T/foreign"
mknod -m 0666 "$T/foreign/cdev-b" c $(cdev_majmin "$EDU_B" | tr : ' ')
gb=$(group_of "$EDU_B")
mknod -m 0666 "$T/foreign/group-b" c $(tr : ' ' <"/sys/class/vfio/$gb/dev")
gl=$(group_of "$EDU_L")

s=$(spec f1 64MiB "[ { \"pci\": \"$EDU_A\" }, { \"pci\": \"$EDU_L\", \"backend\": \"legacy\" } ]")
capture "$VFIOJAIL" run "$s" -- "$PROBE" --open "$(cdev_of "$EDU_A")" --open "/dev/vfio/$gl" \
	--open /dev/vfio/vfio --open "$T/foreign/cdev-b" --open "$T/foreign/group-b" --open "$(cdev_of "$EDU_B")"
assert_eq "$rc" 0 "run exit status ($err)"
res() { jq -r --arg p "$1" '.opens[] | select(.path == $p) | .error // "ok"' <<<"$out"; }
jq -c '.opens' <<<"$out"
assert_eq "$(res "$(cdev_of "$EDU_A")")" ok "the VM's own cdev opens"
assert_eq "$(res "/dev/vfio/$gl")" ok "the VM's own group opens"
assert_eq "$(res /dev/vfio/vfio)" ok "the container opens"
assert_eq "$(res "$T/foreign/cdev-b")" EPERM "another VM's cdev ($(cdev_majmin "$EDU_B"))"
assert_eq "$(res "$T/foreign/group-b")" EPERM "another VM's group $gb"
assert_eq "$(res "$(cdev_of "$EDU_B")")" ENOENT "another VM's cdev is not in the jail's /dev"
pass "EPERM on another VM's real cdev and group; the VM's own nodes open"
assert_guest_clean
