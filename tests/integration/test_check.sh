#!/usr/bin/env bash
# vfiojail check: one line per check, exit 0 when nothing fails and 1 otherwise, and
# JSON that says the same.
source "$(dirname "$0")/lib.sh"

status_of() { jq -r ".checks[] | select(.name == \"$1\") | .status" <<<"$out"; }
has_cap() { # BIT
	local eff
	eff=$(awk '/^CapEff:/ { print $2 }' /proc/self/status)
	(( (0x$eff >> $1) & 1 ))
}

# On this very host.
capture "$VFIOJAIL" check --json
[[ "$rc" == 0 || "$rc" == 1 ]] || fail "check exit status $rc ($err)"
assert_eq "$(jq -r '[.checks[] | .status] | map(select(. != "PASS" and . != "WARN" and . != "FAIL")) | length' <<<"$out")" 0 "statuses"
assert_eq "$(jq -r '[.checks[] | select(.status != "PASS" and .hint == null)] | length' <<<"$out")" 0 "every non-PASS has a hint"
fails=$(jq '[.checks[] | select(.status == "FAIL")] | length' <<<"$out")
assert_eq "$rc" "$([[ $fails == 0 ]] && echo 0 || echo 1)" "exit status follows the FAILs"
if [[ -n "$CG2" ]]; then
	assert_eq "$(status_of cgroup2)" PASS "cgroup2 found"
	assert_contains "$(jq -r '.checks[] | select(.name == "cgroup2") | .detail' <<<"$out")" "$CG2" "cgroup2 mount point"
fi
assert_eq "$(status_of "device filter")" PASS "a cgroup device program loads"
assert_eq "$(status_of "mount namespace")" PASS "mount namespaces"
assert_eq "$(status_of CAP_SYS_RESOURCE)" "$(has_cap 24 && echo PASS || echo WARN)" "CAP_SYS_RESOURCE read right"
assert_eq "$(status_of CAP_MKNOD)" "$(has_cap 27 && echo PASS || echo FAIL)" "CAP_MKNOD read right"
if [[ ! -e /sys/class/misc/iommu ]]; then
	assert_eq "$(status_of /dev/iommu)" WARN "no iommufd on this kernel"
fi
if [[ -z "$(ls -A /sys/kernel/iommu_groups 2>/dev/null)" ]]; then
	assert_eq "$(status_of "IOMMU groups")" FAIL "no IOMMU groups here"
	assert_eq "$rc" 1 "check fails on a host without IOMMU groups"
fi
capture "$VFIOJAIL" check
assert_contains "$out" "PASS  mount namespace" "readable table"
pass "check on this host"

# On the bundled GPU host, in a container with its own bpffs.
check_tests() {
	iommu_answers_enotty
	capture "$VFIOJAIL" check --json --sysfs-root "$HOST/sys" --dev-root "$HOST/dev"
	st() { jq -r ".checks[] | select(.name == \"$1\") | .status" <<<"$out"; }
	assert_eq "$(st bpffs)" PASS "bpffs in the container"
	assert_eq "$(st "IOMMU groups")" PASS "fixture IOMMU groups"
	assert_contains "$(jq -r ".checks[] | select(.name == \"IOMMU groups\") | .detail" <<<"$out")" "2 IOMMU groups" "group count"
	assert_eq "$(st "VFIO cdev")" PASS "fixture VFIO cdev"
	assert_eq "$(st "/dev/iommu")" WARN "a /dev/iommu that does not answer IOMMU_OPTION"
	assert_contains "$(jq -r ".checks[] | select(.name == \"/dev/iommu\") | .detail" <<<"$out")" "IOMMU_OPTION" "says what it lacks"
	fails=$(jq "[.checks[] | select(.status == \"FAIL\")] | length" <<<"$out")
	assert_eq "$rc" "$([[ $fails == 0 ]] && echo 0 || echo 1)" "exit status in the container"
}
in_container gpu-iommufd check_tests
pass "check on a fixture host"
