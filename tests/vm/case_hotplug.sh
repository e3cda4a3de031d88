#!/usr/bin/env bash
# Hotplug with real devices: setup a jail with one edu device, enter a VMM (tests/opener,
# one process through all of it), attach a second device on the same iommufd context and
# a third on the legacy backend: the VMM can now open them, and its RLIMIT_MEMLOCK rises
# by what plan says for the bigger spec (one more DMA address space: the legacy
# container); detach: EPERM again, the nodes gone, the soft memlock back to the first plan.
source "$(dirname "$0")/lib.sh"

mkdir -m 0755 "$T/foreign"
for b in "$EDU_B" "$EDU_L"; do mknod -m 0666 "$T/foreign/$b" c $(cdev_majmin "$b" | tr : ' '); done
gl=$(group_of "$EDU_L")
mknod -m 0666 "$T/foreign/group-$gl" c $(tr : ' ' <"/sys/class/vfio/$gl/dev")

s1=$(spec hp 128MiB "[ { \"pci\": \"$EDU_A\" } ]")
s2=$(spec hp2 128MiB "[ { \"pci\": \"$EDU_A\" }, { \"pci\": \"$EDU_B\" }, { \"pci\": \"$EDU_L\", \"backend\": \"legacy\" } ]")
m1=$("$VFIOJAIL" plan "$s1" --json | jq -r .memlock.bytes)
m2=$("$VFIOJAIL" plan "$s2" --json | jq -r .memlock.bytes)
assert_eq "$((m2 - m1))" $((128 << 20)) "the bigger plan adds one guest-RAM budget (the legacy container)"

capture "$VFIOJAIL" setup "$s1"
assert_eq "$rc" 0 "setup ($err)"
mkfifo "$T/cmd" "$T/resp"
"$VFIOJAIL" enter hp -- "$OPENER" <"$T/cmd" >"$T/resp" 2>"$T/enter.err" &
enter_pid=$!
_vms+=("$enter_pid")
exec 3>"$T/cmd" 4<"$T/resp"
on_exit "exec 3>&- 4<&-"
ask() { echo "$1" >&3; read -r -t 20 reply <&4 || fail "no answer to $1 ($(cat "$T/enter.err"))"; }
expect() { ask "$1"; assert_eq "$reply" "$2" "$1"; }

expect "open $(cdev_of "$EDU_A")" ok
expect "open $T/foreign/$EDU_B" EPERM
expect "open $(cdev_of "$EDU_B")" ENOENT
expect "open /dev/vfio/$gl" ENOENT
expect "open $T/foreign/group-$gl" EPERM
expect "memlock" "$m1 $m1"
pass "entered: its own device opens, the others are refused (EPERM) or absent; memlock $m1"

capture "$VFIOJAIL" attach hp --hostdev "$EDU_B" --hostdev "$EDU_L,backend=legacy"
assert_eq "$rc" 0 "attach ($err)"
expect "open $(cdev_of "$EDU_B")" ok
expect "open $T/foreign/$EDU_B" ok
expect "open /dev/vfio/$gl" ok
expect "open /dev/vfio/vfio" ok
expect "memlock" "$m2 $m2"
capture "$VFIOJAIL" status hp
assert_eq "$rc" 0 "status after attach: no drift ($out)"
pass "attach: $EDU_B (iommufd) and $EDU_L (legacy) open in the running VMM; memlock raised to $m2 as planned"

capture "$VFIOJAIL" detach hp --hostdev "$EDU_B" --hostdev "$EDU_L"
assert_eq "$rc" 0 "detach ($err)"
expect "open $T/foreign/$EDU_B" EPERM
expect "open $T/foreign/group-$gl" EPERM
expect "open $(cdev_of "$EDU_B")" ENOENT
expect "open /dev/vfio/$gl" ENOENT
expect "open $(cdev_of "$EDU_A")" ok
# The soft limit goes back to the plan; the hard one stays, so that a later attach can
# raise the soft limit again without CAP_SYS_RESOURCE (vfiojail(1), detach step 4).
expect "memlock" "$m1 $m2"
capture "$VFIOJAIL" status hp
assert_eq "$rc" 0 "status after detach: no drift ($out)"
pass "detach: EPERM again, the nodes gone, memlock lowered to $m1 as planned"

echo quit >&3
exec 3>&- 4<&-
vm_wait "$enter_pid"
capture "$VFIOJAIL" teardown hp
assert_eq "$rc" 0 "teardown ($err)"
assert_guest_clean
pass "teardown: nothing left"
