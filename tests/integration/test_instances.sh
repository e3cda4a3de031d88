#!/usr/bin/env bash
# Several launchers on one host share the bpffs, and pins are found by the VM's name:
#  - teardown of the same name from another state dir must not take the filter off a
#    VM that runs (it used to exit 0 and leave the VMM unfiltered), and nothing may enter
#    an idle jail whose pins such a teardown removed;
#  - a jail made inside a container (its own pid and cgroup namespaces, the host's /run
#    and bpffs) whose VMM runs is not abandoned to a gc on the host, which sees neither its
#    launcher nor its cgroup path: the link's cgroup, found by id, still has processes.
# Each time the VMM must still meet its filter (EPERM), and nothing is left at the end.
source "$(dirname "$0")/lib.sh"

instances_tests() {
	gpu_host_vm1
	mkdir -m 0755 "$WORK/foreign"
	mknod -m 0666 "$WORK/foreign/loop-control" c 10 237
	mkdir -m 0700 /run/A /run/B
	filter_holds() { # the jail still refuses an unplanned node, from a fresh process in it
		capture "$VFIOJAIL" enter vm1 --state-dir /run/A -- "$WORK/probe" --open "$WORK/foreign/loop-control" --out "$WORK/out/check.json"
		assert_eq "$rc" 0 "enter for the check ($err)"
		assert_eq "$(jq -r ".opens[0].error" "$WORK/out/check.json")" EPERM "$1: the filter still refuses"
	}

	capture "$VFIOJAIL" setup "${roots[@]}" "${vm[@]}" --state-dir /run/A
	assert_eq "$rc" 0 "setup in state dir A ($err)"
	"$VFIOJAIL" enter vm1 --state-dir /run/A -- "$WORK/probe" --sleep 60 --out /dev/null &
	enter=$!
	on_exit "kill $enter 2>/dev/null"
	for _ in $(seq 100); do [[ -n "$(cat "$CG/vfiojail-vm1/cgroup.procs" 2>/dev/null)" ]] && break; sleep 0.05; done
	capture "$VFIOJAIL" teardown vm1 --state-dir /run/B
	echo "$err"
	assert_eq "$rc" 1 "teardown of vm1 from state dir B while A's VM runs ($err)"
	assert_contains "$err" "still has processes" "the refusal says why"
	capture "$VFIOJAIL" status vm1 --state-dir /run/A
	assert_eq "$rc" 0 "A's jail has no drift ($out)"
	filter_holds "after teardown from B"
	capture "$VFIOJAIL" run "${roots[@]}" "${vm[@]}" --state-dir /run/B -- "$WORK/probe" --out /dev/null
	assert_eq "$rc" 125 "run of the same name from state dir B while A's VM runs ($err)"
	capture "$VFIOJAIL" setup "${roots[@]}" "${vm[@]}" --state-dir /run/B
	assert_eq "$rc" 125 "setup of the same name from state dir B ($err)"
	rm -f /run/B/*.lock
	filter_holds "after run and setup from B"
	capture "$VFIOJAIL" status vm1 --state-dir /run/A
	assert_eq "$rc" 0 "A's jail has no drift after run and setup from B ($out)"
	pass "teardown, run and setup from another state dir leave a running VM's filter"

	# An idle jail (no process in it) of state dir A: a teardown from B may remove its pins,
	# but nothing can then enter it unfiltered.
	capture "$VFIOJAIL" setup "${roots[@]}" --name idle --user nobody --memory 1GiB --memlock-hard-limit 4MiB --state-dir /run/A
	assert_eq "$rc" 0 "setup of an idle jail ($err)"
	capture "$VFIOJAIL" teardown idle --state-dir /run/B
	capture "$VFIOJAIL" enter idle --state-dir /run/A -- "$WORK/probe" --out "$WORK/out/idle.json"
	assert_eq "$rc" 125 "enter into a jail whose filter was removed ($err)"
	assert_contains "$err" "nothing enters it unfiltered" "enter says why"
	[[ ! -e "$WORK/out/idle.json" ]] || fail "a process entered a jail without its filter"
	capture "$VFIOJAIL" teardown idle --state-dir /run/A
	assert_eq "$rc" 0 "teardown of the idle jail in A ($err)"
	pass "enter refuses a jail whose filter is gone (fail closed)"

	# A host-side gc: the launcher is gone from its view, and so is the cgroup path when the
	# jail was made in a cgroup namespace with its own cgroup2 mount.
	capture "$VFIOJAIL" gc --state-dir /run/A
	capture "$VFIOJAIL" status vm1 --state-dir /run/A
	assert_eq "$rc" 0 "after gc, A's jail is still whole ($out)"
	filter_holds "after gc"
	kill "$enter"; wait "$enter" 2>/dev/null || true
	capture "$VFIOJAIL" teardown vm1 --state-dir /run/A
	assert_eq "$rc" 0 "teardown in A once its VM stopped ($err)"
	pass "gc keeps a jail whose VMM runs"

	# Made in a container: its own pid, cgroup and mount namespaces with a cgroup2 mount of
	# its own (so the recorded cgroup path means nothing on the host), sharing /run and bpffs.
	mkdir "$CG/pod"
	cat >"$WORK/pod.sh" <<POD
mount -t tmpfs tmpfs ${CG2%/*}
mkdir -p $CG2
mount -t cgroup2 none $CG2
"$VFIOJAIL" setup ${roots[*]} ${vm[*]} --state-dir /run/A >/dev/null
exec "$VFIOJAIL" enter vm1 --state-dir /run/A -- "$WORK/probe" --sleep 60 --out /dev/null
POD
	bash -c "echo \$\$ >$CG/pod/cgroup.procs; exec unshare --cgroup --pid --fork --mount --mount-proc --propagation slave bash -e $WORK/pod.sh" >"$WORK/pod.log" 2>&1 &
	pod=$!
	on_exit "kill $pod 2>/dev/null"
	for _ in $(seq 100); do [[ -n "$(cat "$CG/pod/vfiojail-vm1/cgroup.procs" 2>/dev/null)" ]] && break; sleep 0.05; done
	[[ -n "$(cat "$CG/pod/vfiojail-vm1/cgroup.procs" 2>/dev/null)" ]] || fail "the pod's VM did not start: $(cat "$WORK/pod.log")"
	jq -r .cgroup /run/A/vm1.json
	capture "$VFIOJAIL" gc --state-dir /run/A
	echo "gc: $rc $out $err"
	[[ -d /sys/fs/bpf/vfiojail/vm1 ]] || fail "a host-side gc removed the pins of a VM that runs in a pod"
	[[ -n "$(bpftool cgroup show "$CG/pod/vfiojail-vm1" 2>/dev/null | grep -i device || true)" ]] || \
		fail "the pod VM's cgroup has lost its device program"
	pass "gc across namespaces keeps a running pod VM's filter"
	echo 1 >"$CG/pod/cgroup.kill"
	wait "$pod" 2>/dev/null || true
	for _ in $(seq 50); do grep -q "populated 0" "$CG/pod/cgroup.events" && break; sleep 0.1; done
	capture "$VFIOJAIL" gc --state-dir /run/A
	capture "$VFIOJAIL" teardown vm1 --state-dir /run/A
	rmdir "$CG/pod/vfiojail-vm1" 2>/dev/null || true
	rmdir "$CG/pod" /run/A /run/B
	assert_nothing_left "$CG" /run/vfiojail /sys/fs/bpf/vfiojail
	pass "once the pod VM stopped, gc and teardown remove everything"
}
in_container gpu-iommufd instances_tests
