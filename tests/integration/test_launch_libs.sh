#!/usr/bin/env bash
# The launch path loads what it uses (issue 23): plan, run --exec and a supervised run
# load neither libmount nor libxml2 (nor libacl, no node here has an ACL to copy) where
# the cgroup2 mount needs no mount table, on a
# hybrid host (cgroup2 at /sys/fs/cgroup/unified) and on a pure cgroup2 one (at
# /sys/fs/cgroup), and put the VM's cgroup where the mount table says (a proc root of
# /proc/. reads it).  check (hybrid or not is the table's to say), a pod whose cgroup2
# mount was made outside its cgroup namespace, and derive load them, and work.
source "$(dirname "$0")/lib.sh"
command -v jq >/dev/null || fail "jq is needed (tools/install-deps installs it)"

# libs_of OUT -- command...: runs it (rc, out and err as capture sets them) and writes
# the shared objects the vfiojail process loaded (the dynamic linker's list), one a line,
# to OUT.
libs_of() {
	local list=$1 dbg
	shift 2
	dbg=$(mktemp -d)
	LD_DEBUG=files LD_DEBUG_OUTPUT="$dbg/ld" capture "$@"
	cat "$dbg"/ld.* 2>/dev/null | sed -n 's/.*file=\([^ ]*\) .*/\1/p' | sort -u >"$list"
	rm -rf "$dbg"
}

# The table's answer: the VM cgroup of the same plan with /proc/. as the proc root.
table_cgroup() {
	"$VFIOJAIL" plan "${roots[@]}" "${vm[@]}" --proc-root /proc/. --json | jq -r .cgroup
}

launch_loads_nothing_more() { # SHAPE
	local shape=$1 lib expect
	libs_of "$WORK/plan.libs" -- "$VFIOJAIL" plan "${roots[@]}" "${vm[@]}" --json
	assert_eq "$rc" 0 "plan on $shape ($err)"
	expect=$(table_cgroup)
	[[ -n "$expect" && "$expect" != null ]] || fail "no VM cgroup from the mount table on $shape"
	assert_eq "$(jq -r .cgroup <<<"$out")" "$expect" "the VM cgroup on $shape, as the mount table gives it"
	grep -q '^libc\.so\.6$' "$WORK/plan.libs" || fail "LD_DEBUG listed nothing on $shape: $(cat "$WORK/plan.libs")"
	libs_of "$WORK/exec.libs" -- "$VFIOJAIL" run --exec "${roots[@]}" "${vm[@]}" -- "$WORK/probe" --out "$WORK/out/x.json"
	assert_eq "$rc" 0 "run --exec on $shape ($err)"
	capture "$VFIOJAIL" teardown vm1
	assert_eq "$rc" 0 "teardown on $shape ($err)"
	libs_of "$WORK/run.libs" -- "$VFIOJAIL" run "${roots[@]}" "${vm[@]}" -- "$WORK/probe" --out "$WORK/out/r.json"
	assert_eq "$rc" 0 "run on $shape ($err)"
	for lib in libmount.so.1 libxml2.so.2 libacl.so.1 libblkid.so.1 libselinux.so.1 libicuuc.so.72; do
		for cmd in plan exec run; do
			! grep -qxF "$lib" "$WORK/$cmd.libs" || fail "$cmd on $shape loaded $lib"
		done
	done
}

shapes_tests() {
	gpu_host_vm1
	launch_loads_nothing_more "this host ($CG2)"
	libs_of "$WORK/check.libs" -- "$VFIOJAIL" check
	grep -qxF libmount.so.1 "$WORK/check.libs" || fail "check did not read the mount table"
	if [[ "$CG2" != /sys/fs/cgroup ]]; then
		assert_contains "$out" "PASS  cgroup2: mounted at $CG2 (hybrid" "check on this hybrid host"
		rel=${CG#"$CG2"}
		mount -t tmpfs -o mode=0755 tmpfs /sys/fs/cgroup
		mount -t cgroup2 none /sys/fs/cgroup
		CG=/sys/fs/cgroup$rel
		launch_loads_nothing_more "pure cgroup2 at /sys/fs/cgroup"
		capture "$VFIOJAIL" check
		assert_contains "$out" "PASS  cgroup2: mounted at /sys/fs/cgroup (unified)" "check on pure cgroup2"
	fi
	assert_nothing_left "$CG" /run/vfiojail /sys/fs/bpf/vfiojail
	pass "plan, run --exec and run load neither libmount nor libxml2, hybrid and pure cgroup2; check does"

	# A pod: its own cgroup namespace over this mount (root "/.."): the table is read.
	mkdir "$CG/pod"
	libs_of "$WORK/pod.libs" -- bash -c "echo \$\$ >$CG/pod/cgroup.procs; exec unshare --cgroup $VFIOJAIL plan ${roots[*]} ${vm[*]} --json"
	assert_eq "$rc" 0 "plan in a pod ($err)"
	assert_eq "$(jq -r .cgroup <<<"$out")" "$CG/pod/vfiojail-vm1" "the VM cgroup below the pod"
	grep -qxF libmount.so.1 "$WORK/pod.libs" || fail "plan in the pod did not read the mount table"
	rmdir "$CG/pod"
	pass "in a pod whose cgroup2 mount was made outside its namespace, plan reads the mount table"
}
in_container gpu-iommufd shapes_tests

make_host gpu-iommufd
libs_of "$WORK/derive.libs" -- "$VFIOJAIL" derive --from libvirt --sysfs-root "$HOST/sys" \
	--dev-root "$HOST/dev" "$VJ_FIXTURES/libvirt/derive-gpu.xml"
assert_eq "$rc" 0 "derive ($err)"
assert_eq "$(jq -r .name <<<"$out")" derived-gpu "the derived spec"
grep -qxF libxml2.so.2 "$WORK/derive.libs" || fail "derive did not load libxml2"
pass "derive loads libxml2 when it reads the domain XML"
