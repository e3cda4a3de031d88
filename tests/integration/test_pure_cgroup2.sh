#!/usr/bin/env bash
# A pure cgroup v2 host (cgroup2 at /sys/fs/cgroup, no v1 hierarchy), made here in a
# private mount namespace over this machine's hybrid layout: check calls it unified, plan
# puts the VM below the caller's cgroup in that mount, run jails a VMM (EPERM outside the
# plan), setup and teardown work, and nothing is left.
source "$(dirname "$0")/lib.sh"

pure_cgroup2_tests() {
	gpu_host_vm1
	rel=${CG#"$CG2"}
	if [[ "$CG2" != /sys/fs/cgroup ]]; then
		mount -t tmpfs -o mode=0755 tmpfs /sys/fs/cgroup
		mount -t cgroup2 none /sys/fs/cgroup
	fi
	cg=/sys/fs/cgroup$rel
	[[ -d "$cg" ]] || fail "the test cgroup $cg is not seen through the pure mount"
	capture "$VFIOJAIL" check
	assert_contains "$out" "PASS  cgroup2: mounted at /sys/fs/cgroup (unified)" "check on pure cgroup2"
	capture "$VFIOJAIL" plan "${roots[@]}" "${vm[@]}" --json
	assert_eq "$rc" 0 "plan ($err)"
	assert_eq "$(jq -r .cgroup <<<"$out")" "$cg/vfiojail-vm1" "the VM cgroup below the caller's"
	mkdir -m 0755 "$WORK/foreign"
	mknod -m 0666 "$WORK/foreign/loop-control" c 10 237
	capture "$VFIOJAIL" run "${roots[@]}" "${vm[@]}" -- "$WORK/probe" --open "$WORK/foreign/loop-control" --out "$WORK/out/r.json"
	assert_eq "$rc" 0 "run ($err)"
	assert_eq "$(jq -r ".opens[0].error" "$WORK/out/r.json")" EPERM "the filter holds on pure cgroup2"
	capture "$VFIOJAIL" setup "${roots[@]}" "${vm[@]}"
	assert_eq "$rc" 0 "setup ($err)"
	[[ -d "$cg/vfiojail-vm1" ]] || fail "no VM cgroup at $cg/vfiojail-vm1"
	capture "$VFIOJAIL" teardown vm1
	assert_eq "$rc" 0 "teardown ($err)"
	assert_nothing_left "$cg" /run/vfiojail /sys/fs/bpf/vfiojail
	pass "pure cgroup2 at /sys/fs/cgroup: check, plan, run, setup, teardown"
}
in_container gpu-iommufd pure_cgroup2_tests
