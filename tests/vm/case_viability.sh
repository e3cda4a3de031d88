#!/usr/bin/env bash
# Group viability on the real kernel: the edu device behind the pci-bridge shares its IOMMU
# group with an e1000 still bound to e1000. plan and run refuse it (exit 125), naming the
# mate and its driver, and leave nothing; the e1000 itself is refused as not bound to vfio.
source "$(dirname "$0")/lib.sh"

g=$(group_of "$EDU_S")
assert_eq "$(group_of "$NIC")" "$g" "the e1000 shares group $g with $EDU_S"
assert_eq "$(basename "$(readlink "/sys/bus/pci/devices/$NIC/driver")")" e1000 "the e1000's driver"

for backend in iommufd legacy; do
	s=$(spec via 64MiB "[ { \"pci\": \"$EDU_S\", \"backend\": \"$backend\" } ]")
	capture "$VFIOJAIL" plan "$s"
	echo "$err"
	assert_eq "$rc" 125 "plan of $EDU_S ($backend)"
	assert_contains "$err" "$NIC" "the refusal names the group mate"
	assert_contains "$err" "e1000" "the refusal names the mate's driver"
	assert_contains "$err" "$EDU_S" "the refusal names the device"
	capture "$VFIOJAIL" run "$s" -- /bin/true
	assert_eq "$rc" 125 "run of $EDU_S ($backend) ($err)"
	assert_contains "$err" "$NIC" "run gives the same reason"
	assert_guest_clean
done
pass "group $g is refused: $(grep -m1 "$NIC" <<<"$err")"

s=$(spec via2 64MiB "[ { \"pci\": \"$NIC\" } ]")
capture "$VFIOJAIL" plan "$s"
assert_eq "$rc" 125 "plan of the e1000 itself ($err)"
assert_contains "$err" "e1000" "the e1000 is refused naming its driver"
assert_guest_clean
pass "a device on its host driver is refused: $(head -1 <<<"$err")"
