#!/usr/bin/env bash
# A VM cgroup below a delegated subtree (a unit with Delegate=yes and User=, a user's
# session: the subtree and its cgroup.procs chowned to a user) would let that user, or
# the VMM running as that user, move the VMM to a sibling cgroup outside its filter.
# plan and run refuse such a placement (125), naming the cgroup and who can write it, and
# leave nothing; the same placement under a root-only parent works. status reports a VMM
# found outside its cgroup as drift.
source "$(dirname "$0")/lib.sh"

delegation_tests() {
	gpu_host_vm1
	rel=${CG#"$CG2"}
	mkdir "$CG/deleg" "$CG/deleg/other"
	chown 1234 "$CG/deleg" "$CG/deleg/cgroup.procs" "$CG/deleg/other" "$CG/deleg/other/cgroup.procs"

	capture "$VFIOJAIL" plan "${roots[@]}" "${vm[@]}" --cgroup-parent "$rel/deleg"
	assert_eq "$rc" 125 "plan under a delegated parent ($err)"
	assert_contains "$err" "$CG/deleg" "the refusal names the cgroup"
	assert_contains "$err" "uid 1234" "the refusal names who can write it"
	capture "$VFIOJAIL" run "${roots[@]}" "${vm[@]}" --cgroup-parent "$rel/deleg" -- "$WORK/probe" --out /dev/null
	assert_eq "$rc" 125 "run under a delegated parent ($err)"
	[[ ! -e "$CG/deleg/vfiojail-vm1" ]] || fail "a VM cgroup was made under the delegated parent"
	assert_nothing_left "$CG/deleg/other" /run/vfiojail /sys/fs/bpf/vfiojail
	pass "plan and run refuse a parent whose cgroup.procs uid 1234 can write: $(head -1 <<<"$err")"

	# Deeper: a root-owned cgroup inside the delegated subtree is still below it.
	mkdir "$CG/deleg/sub"
	capture "$VFIOJAIL" plan "${roots[@]}" "${vm[@]}" --cgroup-parent "$rel/deleg/sub"
	assert_eq "$rc" 125 "plan under a root-owned child of a delegated cgroup ($err)"
	assert_contains "$err" "$CG/deleg," "the delegated ancestor is named"
	# By default the VM goes below the caller's own cgroup: a caller inside the subtree.
	capture bash -c "echo \$\$ >$CG/deleg/sub/cgroup.procs; exec \"$VFIOJAIL\" setup ${roots[*]} ${vm[*]}"
	assert_eq "$rc" 125 "setup from inside the delegated subtree ($err)"
	assert_contains "$err" "uid 1234" "setup names who can write it"
	rmdir "$CG/deleg/sub" 2>/dev/null || { echo 1 >"$CG/deleg/sub/cgroup.kill"; sleep 0.2; rmdir "$CG/deleg/sub"; }
	pass "a placement anywhere below the delegated cgroup is refused"

	# Group- and world-writable count too; a root-only parent is fine.
	chown 0 "$CG/deleg" "$CG/deleg/cgroup.procs"
	chgrp 1234 "$CG/deleg/cgroup.procs"
	chmod g+w "$CG/deleg/cgroup.procs"
	capture "$VFIOJAIL" plan "${roots[@]}" "${vm[@]}" --cgroup-parent "$rel/deleg"
	assert_eq "$rc" 125 "a group-writable cgroup.procs ($err)"
	assert_contains "$err" "group 1234" "the group is named"
	chgrp 0 "$CG/deleg/cgroup.procs"
	chmod 0644 "$CG/deleg/cgroup.procs"
	capture "$VFIOJAIL" run "${roots[@]}" "${vm[@]}" --cgroup-parent "$rel/deleg" -- "$WORK/probe" --out /dev/null
	assert_eq "$rc" 0 "run under a root-only parent ($err)"
	rmdir "$CG/deleg/other" "$CG/deleg"
	assert_nothing_left "$CG" /run/vfiojail /sys/fs/bpf/vfiojail
	pass "group-writable refused; root-only accepted"

	# status: a VMM found outside its cgroup (root moved it here; nobody else could) is drift.
	"$VFIOJAIL" run "${roots[@]}" "${vm[@]}" -- "$WORK/probe" --sleep 30 --out /dev/null &
	sup=$!
	for _ in $(seq 100); do [[ -n "$(cat "$CG/vfiojail-vm1/cgroup.procs" 2>/dev/null)" ]] && break; sleep 0.05; done
	vmm=$(head -1 "$CG/vfiojail-vm1/cgroup.procs")
	[[ -n "$vmm" ]] || fail "the VMM did not start"
	capture "$VFIOJAIL" status vm1
	assert_eq "$rc" 0 "status while the VMM is in its cgroup ($out)"
	assert_contains "$out" "pid $vmm is in the VM" "status checks where the VMM is"
	mkdir "$CG/elsewhere"
	echo "$vmm" >"$CG/elsewhere/cgroup.procs"
	capture "$VFIOJAIL" status vm1
	assert_eq "$rc" 1 "status of a VMM moved out of its cgroup ($out)"
	assert_contains "$out" "pid $vmm runs outside" "the drift names the VMM"
	kill "$vmm"
	wait "$sup" || true
	rmdir "$CG/elsewhere"
	assert_nothing_left "$CG" /run/vfiojail /sys/fs/bpf/vfiojail
	pass "status: a VMM outside its cgroup is drift"
}
in_container gpu-iommufd delegation_tests
