#!/usr/bin/env bash
# iommufd accounting on the real kernel: the context vfiojail hands the VMM reads back
# per-process with IOMMU_OPTION GET from the VMM's side (strict mode, the default); a fresh
# /dev/iommu reads per-user; setting the mode after an object exists gets the kernel's
# EBUSY and vfiojail's documented error.
source "$(dirname "$0")/lib.sh"

assert_eq "$("$VMTOOL" fresh /dev/iommu)" per-user "a fresh /dev/iommu (the kernel's default)"

s=$(spec acct1 64MiB "[ { \"pci\": \"$EDU_A\" } ]")
capture "$VFIOJAIL" run "$s" -- "$VMTOOL" mode @fd:iommufd0@
assert_eq "$rc" 0 "run exit status ($err)"
assert_eq "$out" per-process "the handed context, read by the VMM as nobody"
capture "$VFIOJAIL" run "$s" --exec -- "$VMTOOL" mode @fd:iommufd0@
assert_eq "$out" per-process "the same with run --exec"
"$VFIOJAIL" teardown acct1 >/dev/null
# Two contexts: each per-process, each its own fd.
s2=$(spec acct2 64MiB "[ { \"pci\": \"$EDU_A\", \"iommufd\": \"a\" }, { \"pci\": \"$EDU_B\", \"iommufd\": \"b\" } ]" \
	'"iommufd": [ { "id": "a" }, { "id": "b" } ]')
capture "$VFIOJAIL" run "$s2" -- sh -c "'$VMTOOL' mode \$VFIOJAIL_FD_A; '$VMTOOL' mode \$VFIOJAIL_FD_B; echo \$VFIOJAIL_FD_A \$VFIOJAIL_FD_B"
assert_eq "$rc" 0 "run with two contexts ($err)"
assert_eq "$out" $'per-process\nper-process\n3 4' "two contexts, fds 3 and 4 ($err)"
pass "the VMM's contexts read back per-process"

# The real EBUSY: a context that already holds an IOAS cannot change its mode.
capture "$VMTOOL" busy /dev/iommu
echo "$out"
assert_eq "$rc" 0 "the kernel answered EBUSY ($out)"
assert_contains "$out" "message setting the accounting mode: the iommufd context already holds objects; the mode must be set right after open" "vfiojail's message for EBUSY"
assert_contains "$out" "hint open a fresh context and set the mode before any other ioctl" "vfiojail's hint for EBUSY"
assert_contains "$out" "status 125" "EBUSY is a setup failure (exit 125)"
pass "EBUSY from the kernel gives the documented error"

# Without CAP_SYS_RESOURCE the kernel refuses the mode (EPERM): strict refuses to start
# the VMM (125) and names the capability; best-effort starts it in per-user accounting.
nocap=(prlimit --memlock=unlimited setpriv --inh-caps=-sys_resource --bounding-set=-sys_resource)
capture "${nocap[@]}" "$VFIOJAIL" run "$s" -- "$VMTOOL" mode @fd:iommufd0@
assert_eq "$rc" 125 "strict without CAP_SYS_RESOURCE ($err)"
assert_contains "$err" "needs CAP_SYS_RESOURCE" "the refusal names the capability"
assert_eq "$out" "" "the VMM did not run"
capture "${nocap[@]}" "$VFIOJAIL" run "$s" --iommufd-accounting=best-effort -- "$VMTOOL" mode @fd:iommufd0@
assert_eq "$rc" 0 "best-effort without CAP_SYS_RESOURCE ($err)"
assert_eq "$out" per-user "best-effort hands a per-user context"
assert_contains "$err" "per-user" "best-effort says what it leaves"
pass "strict refuses, best-effort warns, on the kernel's EPERM"
assert_guest_clean
