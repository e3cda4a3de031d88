#!/usr/bin/env bash
# vfiojail setup, then enter: the probe, entered into the kept jail, reports what the
# plan says; the jail outlives it; a name in use is refused; a failed setup and
# teardown leave nothing, no nsfs binding included.
source "$(dirname "$0")/lib.sh"

setup_then_enter() {
	iommu_answers_enotty
	mkdir -m 0755 "$WORK/foreign"
	mknod -m 0666 "$WORK/foreign/vfio2" c 240 2
	roots=(--sysfs-root "$HOST/sys" --dev-root "$HOST/dev")
	no_nsfs() { ! grep -q " nsfs " /proc/self/mountinfo || fail "nsfs binding left: $(grep " nsfs " /proc/self/mountinfo)"; }
	spec="$WORK/vm.json"
	cat >"$spec" <<JSON
{ "name": "vm1", "user": "nobody", "memory": "1GiB",
  "hostdevs": [ { "pci": "0009:06:00.0" } ],
  "devices": [ { "path": "/dev/net/tun", "access": "rw" } ],
  "memlock": { "hard_limit": "2MiB" } }
JSON
	"$VFIOJAIL" plan "$spec" --json "${roots[@]}" >"$WORK/plan.json"
	pq() { jq -r "$1" "$WORK/plan.json"; }

	capture "$VFIOJAIL" setup "$spec" "${roots[@]}" --iommufd-accounting=best-effort
	assert_eq "$rc" 0 "setup ($err)"
	assert_eq "$out" vm1 "setup prints the name"
	st=/run/vfiojail/vm1.json
	assert_eq "$(jq -r .kind $st)" setup "state kind"
	assert_eq "$(jq -r .ns $st)" /run/vfiojail/ns/vm1 "state names the binding"
	assert_eq "$(state_plan $st .memlock.bytes)" 2097152 "state keeps the memlock plan"
	assert_eq "$(state_plan $st "[.nodes[].path] | sort | join(\" \")")" "$(pq "[.nodes[].path] | sort | join(\" \")")" "state keeps the planned nodes"
	assert_eq "$(state_plan $st ".rules | length")" "$(pq ".rules | length")" "state keeps the planned rules"
	assert_eq "$(jq -r ".spec.hostdevs[0].pci" $st)" 0009:06:00.0 "state keeps the spec"
	grep -q " /run/vfiojail/ns/vm1 .* - nsfs " /proc/self/mountinfo || fail "no nsfs binding"
	[[ "$(findmnt -no PROPAGATION /run/vfiojail/ns)" == private ]] || fail "ns dir is not private"
	[[ -d "$CG/vfiojail-vm1" && -e /sys/fs/bpf/vfiojail/vm1/link ]] || fail "cgroup or pinned filter missing"
	assert_eq "$(cat "$CG/vfiojail-vm1/cgroup.procs")" "" "setup starts nothing"

	# The same name again: refused, the jail untouched.
	before=$(cat $st)
	capture "$VFIOJAIL" setup "${roots[@]}" --name vm1 --user nobody
	assert_eq "$rc" 2 "setup of an existing name"
	assert_contains "$err" "exists" "says the name exists"
	assert_eq "$(cat $st)" "$before" "the existing state is untouched"
	capture "$VFIOJAIL" run "${roots[@]}" --name vm1 --user nobody -- "$WORK/probe"
	assert_eq "$rc" 2 "run of a name made by setup"
	assert_eq "$(cat $st)" "$before" "run leaves the setup jail alone"
	pass "setup builds the jail and keeps it"

	# enter: the probe runs in the jail as run would run it.
	capture "$VFIOJAIL" enter vm1 -- "$WORK/probe" --open /dev/vfio/devices/vfio0 --open "$WORK/foreign/vfio2" \
		--open /dev/net/tun --env VFIOJAIL_FD_IOMMUFD0 --out "$WORK/out/r.json" -object iommufd,id=iommufd0,fd=@fd:iommufd0@
	assert_eq "$rc" 0 "enter ($err)"
	rq() { jq -r "$1" "$WORK/out/r.json"; }
	assert_eq "$(rq "[.uid, .euid, .suid] | join(\" \")")" "65534 65534 65534" "uids"
	assert_eq "$(rq "[.caps[]] | unique | join(\" \")")" "0000000000000000" "no capabilities"
	assert_eq "$(rq .no_new_privs)" 1 "no_new_privs"
	assert_eq "$(rq .memlock.soft)" 2097152 "RLIMIT_MEMLOCK soft limit as planned"
	# Without CAP_SYS_RESOURCE the hard limit is kept, so a hotplug can raise the soft one.
	assert_eq "$(rq .memlock.hard)" "$(ulimit -H -l | awk "{ print \$1 * 1024 }")" "hard limit kept"
	assert_eq "$CG2$(rq .cgroup)" "$(pq .cgroup)" "in the planned cgroup"
	assert_eq "$(rq ".fds | join(\" \")")" "0 1 2 3" "stdio and the iommufd context"
	assert_eq "$(rq .env.VFIOJAIL_FD_IOMMUFD0)" 3 "VFIOJAIL_FD_IOMMUFD0"
	assert_eq "$(rq ".argv[-1]")" "iommufd,id=iommufd0,fd=3" "@fd:iommufd0@ substituted"
	nodes_plan=$(pq "[.nodes[] | \"\(.path) \(.type) \(.major):\(.minor) \(.uid):\(.gid) \(.mode)\"] | sort | .[]")
	nodes_seen=$(rq "[.dev[] | select(.type == \"c\" or .type == \"b\") | \"\(.path) \(.type) \(.major):\(.minor) \(.uid):\(.gid) \(.mode)\"] | sort | .[]")
	assert_eq "$nodes_seen" "$nodes_plan" "device nodes in the kept namespace"
	assert_eq "$(rq ".opens[0:2] | map(.error // \"ok\") | join(\" \")")" "ENXIO EPERM" "filter: own GPU reaches the driver lookup, the other GPU is refused"
	[[ "$(rq ".opens[2].error")" != EPERM ]] || fail "/dev/net/tun refused although planned"
	# A second enter while nothing runs: the same jail, the namespace survived.
	capture "$VFIOJAIL" enter vm1 "$WORK/probe" --out "$WORK/out/r2.json" --exit 5
	assert_eq "$rc" 5 "enter without -- exits with the command status"
	assert_eq "$(jq -c "[.dev[].path] | sort" "$WORK/out/r2.json")" "$(jq -c "[.dev[].path] | sort" "$WORK/out/r.json")" "the same /dev again"
	capture "$VFIOJAIL" enter --exec vm1 -- "$WORK/probe" --out "$WORK/out/r3.json" --exit 4
	assert_eq "$rc" 4 "enter --exec: the command status"
	assert_eq "$(jq .uid "$WORK/out/r3.json")" 65534 "enter --exec drops privileges"
	capture "$VFIOJAIL" enter vm1 -- /nonexistent/vmm
	assert_eq "$rc" 127 "enter: command not found"
	capture "$VFIOJAIL" enter nosuchvm -- "$WORK/probe"
	assert_eq "$rc" 2 "enter of an unknown name"
	[[ -f $st && -d "$CG/vfiojail-vm1" ]] || fail "the jail stays after its processes left"
	pass "enter runs the command in the kept jail"

	# A jail made by the previous vfiojail: its state of version 4 keeps the plan's
	# lists as objects (as plan --json has them).  status, attach, detach and
	# teardown take it as they take their own; the first write makes it version 5.
	as_v4() {
		jq -c --argjson plan "$(state_plan $st)" '.version = 4 | .plan = $plan' $st >"$WORK/v4.json"
		cat "$WORK/v4.json" >$st
		assert_eq "$(jq -r '[.version, (.plan | .nodes, .rules, .iommufd, .hostdevs[0].bars | type)] | join(" ")' $st)" \
			"4 array array array array" "a state of version 4"
	}
	mknod -m 0666 "$HOST/dev/x" c 242 0
	as_v4
	capture "$VFIOJAIL" status vm1
	assert_eq "$rc" 0 "status of a version 4 state ($out$err)"
	assert_contains "$out" "OK    rules" "the rules of a version 4 state checked"
	capture "$VFIOJAIL" attach vm1 "${roots[@]}" --device /dev/x
	assert_eq "$rc" 0 "attach to a version 4 state ($err)"
	assert_eq "$(jq -r '[.version, (.plan.nodes | type)] | join(" ")' $st)" "5 object" "attach writes version 5"
	assert_eq "$(state_plan $st ".nodes[] | select(.path == \"/dev/x\") | \"\(.major):\(.minor)\"")" 242:0 \
		"the attached node in the state"
	assert_eq "$(state_plan $st "[.nodes[].path] | length")" "$(($(pq ".nodes | length") + 1))" "the nodes of version 4 kept"
	as_v4
	capture "$VFIOJAIL" detach vm1 "${roots[@]}" --device /dev/x
	assert_eq "$rc" 0 "detach from a version 4 state ($err)"
	assert_eq "$(state_plan $st "[.nodes[].path] | sort | join(\" \")")" "$(pq "[.nodes[].path] | sort | join(\" \")")" \
		"detach leaves the planned nodes"
	capture "$VFIOJAIL" status vm1
	assert_eq "$rc" 0 "status after detach ($out$err)"
	as_v4
	pass "a version 4 state (the previous vfiojail's) is read, changed and written as version 5"

	capture "$VFIOJAIL" teardown vm1
	assert_eq "$rc" 0 "teardown ($err)"
	assert_nothing_left "$CG" /run/vfiojail /sys/fs/bpf/vfiojail
	no_nsfs
	capture "$VFIOJAIL" teardown vm1
	assert_eq "$rc" 0 "teardown again"
	pass "teardown removes the jail and its binding"

	# A setup that fails after the cgroup exists (no bpffs where pins go): nothing left.
	mkdir -m 0700 "$WORK/notbpf"
	capture "$VFIOJAIL" setup "${roots[@]}" --name vm2 --user nobody --bpffs "$WORK/notbpf"
	assert_eq "$rc" 125 "setup without bpffs"
	assert_nothing_left "$CG" /run/vfiojail /sys/fs/bpf/vfiojail
	no_nsfs
	# A setup whose /dev cannot be made (a node path that is a kept mount).
	capture "$VFIOJAIL" setup "${roots[@]}" --name vm3 --user nobody --dev-root "$WORK/notbpf"
	assert_eq "$rc" 125 "setup with a dev root lacking the default nodes"
	assert_nothing_left "$CG" /run/vfiojail /sys/fs/bpf/vfiojail
	no_nsfs
	pass "a failed setup leaves nothing"
}
in_container gpu-iommufd setup_then_enter
