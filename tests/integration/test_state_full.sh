#!/usr/bin/env bash
# A full state dir: the state is written before anything is made, and the VMM's pid is
# recorded before the VMM may exec. When the second write fails (no room for the new
# copy), run stops before the VMM runs (125, the state step named) and leaves nothing,
# instead of supervising a VMM that status and teardown do not know.
source "$(dirname "$0")/lib.sh"

state_full_tests() {
	gpu_host_vm1
	mkdir -m 0700 /run/small
	mount -t tmpfs -o size=4k,mode=0700 tmpfs /run/small
	capture "$VFIOJAIL" run "${roots[@]}" "${vm[@]}" --state-dir /run/small -- "$WORK/probe" --out "$WORK/out/ran.json"
	assert_eq "$rc" 125 "run with a state dir that has room for one copy of the state ($err)"
	assert_contains "$err" "state" "the state step is named"
	assert_contains "$err" "No space left on device" "the cause is named"
	[[ ! -e "$WORK/out/ran.json" ]] || fail "the VMM ran although its pid could not be recorded"
	assert_eq "$(ls -A /run/small | grep -v "\.lock$" || true)" "" "no state left in the full dir"
	assert_nothing_left "$CG" /run/vfiojail /sys/fs/bpf/vfiojail
	umount /run/small
	rmdir /run/small
	pass "a full state dir stops the launch before the VMM runs: $(grep -v warning <<<"$err" | head -1)"
}
in_container gpu-iommufd state_full_tests
