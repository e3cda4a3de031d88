#!/usr/bin/env bash
# vfiojail check on the real kernel: every line passes (iommufd, VFIO cdev, container,
# IOMMU groups, pure cgroup2, bpffs, capabilities), in text and JSON.
source "$(dirname "$0")/lib.sh"

capture "$VFIOJAIL" check
echo "$out"
assert_eq "$rc" 0 "check's exit status ($err)"
n=$(grep -c '^PASS ' <<<"$out")
bad=$(grep -E '^(WARN|FAIL) ' <<<"$out" || true)
[[ -z "$bad" ]] || fail "check lines that did not pass: $bad"
[[ $n -ge 12 ]] || fail "only $n PASS lines"
assert_contains "$out" "/dev/iommu: misc device $(iommu_majmin)," "check reads /dev/iommu's number from sysfs"
assert_contains "$out" "IOMMU groups: $(ls /sys/kernel/iommu_groups | wc -l) IOMMU groups" "the groups counted"
assert_contains "$out" "cgroup2: mounted at /sys/fs/cgroup (unified)" "pure cgroup2"
pass "check: $n lines, all PASS"

capture "$VFIOJAIL" check --json
assert_eq "$rc" 0 "check --json exit status"
assert_eq "$(jq -r '[.checks[] | select(.status != "PASS")] | length' <<<"$out")" 0 "check --json: no line but PASS"
assert_eq "$(jq -r '.checks | length' <<<"$out")" "$n" "check --json has as many lines as the text"
pass "check --json agrees"
assert_guest_clean
