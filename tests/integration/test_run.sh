#!/usr/bin/env bash
# vfiojail run in a throwaway container: the probe, as the VMM, reports what it sees,
# and the report must match the plan in every field.  Nothing is left afterwards.
source "$(dirname "$0")/lib.sh"

run_reports_the_plan() {
	# /dev/iommu stand-in: a node of a real driver (null) that answers ENOTTY to IOMMU_OPTION.
	iommu_answers_enotty
	# Nodes outside the plan, made by root where the jail can see them, mode 0666.
	mkdir -m 0755 "$WORK/foreign"
	mknod -m 0666 "$WORK/foreign/sda" b 8 0
	mknod -m 0666 "$WORK/foreign/loop-control" c 10 237
	mknod -m 0666 "$WORK/foreign/other-vm-vfio2" c 240 2
	mknod -m 0666 "$WORK/foreign/tty0" c 4 0
	# A host ACL on /dev/net/tun is copied; the planned mode 0600 masks its entries.
	setfacl -m u:daemon:rw "$HOST/dev/net/tun"
	roots=(--sysfs-root "$HOST/sys" --dev-root "$HOST/dev")
	spec="$WORK/vm.json"
	cat >"$spec" <<JSON
{ "name": "vm1", "user": "nobody", "memory": "1GiB",
  "iommufd": [ { "id": "iommufd0" } ],
  "hostdevs": [ { "pci": "0009:06:00.0" }, { "pci": "0009:06:00.1" } ],
  "devices": [ { "path": "/dev/net/tun", "access": "rw" } ],
  "memlock": { "hard_limit": "4MiB" } }
JSON
	"$VFIOJAIL" plan "$spec" --json "${roots[@]}" >"$WORK/plan.json"
	opens=()
	for p in $(jq -r ".nodes[].path" "$WORK/plan.json") "$WORK"/foreign/*; do opens+=(--open "$p"); done

	capture "$VFIOJAIL" run "$spec" "${roots[@]}" --iommufd-accounting=best-effort -- \
		"$WORK/probe" "${opens[@]}" --env VFIOJAIL_FD_IOMMUFD0 --out "$WORK/out/report.json" \
		-object iommufd,id=iommufd0,fd=@fd:iommufd0@
	assert_eq "$rc" 0 "run exit status ($err)"
	assert_contains "$err" "per-user" "best-effort says what per-user accounting means"
	r=$(cat "$WORK/out/report.json")
	p=$(cat "$WORK/plan.json")
	rq() { jq -r "$1" <<<"$r"; }
	pq() { jq -r "$1" <<<"$p"; }

	assert_eq "$(rq "[.uid, .euid, .suid] | join(\" \")")" "65534 65534 65534" "uids"
	assert_eq "$(rq "[.gid, .egid, .sgid] | join(\" \")")" "$(pq .gid) $(pq .gid) $(pq .gid)" "gids"
	assert_eq "$(rq ".groups | join(\" \")")" "$(id -G nobody)" "supplementary groups as initgroups"
	assert_eq "$(rq "[.caps[]] | unique | join(\" \")")" "0000000000000000" "every capability set empty"
	assert_eq "$(rq .no_new_privs)" 1 "no_new_privs"
	assert_eq "$(rq ".memlock.soft,.memlock.hard" | sort -u)" 4194304 "RLIMIT_MEMLOCK soft = hard = plan"
	assert_eq "$(rq .memlock.hard)" "$(pq .memlock.bytes)" "memlock as planned"
	assert_eq "$CG2$(rq .cgroup)" "$(pq .cgroup)" "VMM runs in the planned cgroup"
	assert_eq "$(rq ".fds | join(\" \")")" "0 1 2 3" "fds: stdio and the iommufd context only"
	assert_eq "$(rq ".env.VFIOJAIL_FD_IOMMUFD0")" 3 "VFIOJAIL_FD_IOMMUFD0"
	assert_eq "$(rq ".argv[-1]")" "iommufd,id=iommufd0,fd=3" "@fd:iommufd0@ substituted"
	# /dev holds exactly the planned nodes, with the planned numbers, owners and modes.
	nodes_plan=$(pq "[.nodes[] | \"\(.path) \(.type) \(.major):\(.minor) \(.uid):\(.gid) \(.mode)\"] | sort | .[]")
	nodes_seen=$(rq "[.dev[] | select(.type == \"c\" or .type == \"b\") | \"\(.path) \(.type) \(.major):\(.minor) \(.uid):\(.gid) \(.mode)\"] | sort | .[]")
	assert_eq "$nodes_seen" "$nodes_plan" "device nodes in the jail"
	assert_eq "$(rq "[.dev[] | select(.link) | \"\(.path)=\(.link)\"] | sort | join(\" \")")" \
		"/dev/fd=/proc/self/fd /dev/stderr=/proc/self/fd/2 /dev/stdin=/proc/self/fd/0 /dev/stdout=/proc/self/fd/1" "links"
	acl=$(rq ".dev[] | select(.path == \"/dev/net/tun\") | .acl")
	assert_contains "$acl" "user:$(id -u daemon):rw-" "host ACL entry copied"
	assert_contains "$acl" "mask::---" "ACL mask keeps the planned mode"
	assert_eq "$(rq ".dev[] | select(.path == \"/dev/null\") | .acl")" null "no ACL where the host has none"
	# Every planned node passes the filter (no EPERM: stand-ins answer ENXIO, real ones open).
	for path in $(pq ".nodes[].path"); do
		e=$(rq ".opens[] | select(.path == \"$path\") | .error // \"ok\"")
		[[ "$e" != EPERM ]] || fail "$path is refused by the filter although planned"
	done
	assert_eq "$(rq ".opens[] | select(.path == \"/dev/null\") | .errno")" 0 "/dev/null opens"
	assert_eq "$(rq ".opens[] | select(.path == \"/dev/vfio/devices/vfio0\") | .error")" ENXIO "GPU stand-in reaches the driver lookup"
	# Every node outside the plan is refused with EPERM, although its mode allows it.
	# Control: outside the jail, the VM user opens loop-control (its driver lets anyone
	# open it), so the EPERM inside comes from the filter, not from the driver.
	setpriv --reuid=65534 --regid=65534 --clear-groups "$WORK/probe" \
		--open "$WORK/foreign/loop-control" --out "$WORK/out/control.json"
	assert_eq "$(jq -r ".opens[0].errno" "$WORK/out/control.json")" 0 "loop-control opens outside the jail"
	for f in sda loop-control other-vm-vfio2 tty0; do
		assert_eq "$(rq ".opens[] | select(.path == \"$WORK/foreign/$f\") | .error")" EPERM "$f refused by the filter"
	done
	assert_eq "$(rq ".groups | join(\" \")")" "$(pq ".groups | join(\" \")")" "supplementary groups as planned"
	assert_nothing_left "$CG" /run/vfiojail /sys/fs/bpf/vfiojail
	pass "the probe sees exactly its plan"

	# "groups" in the spec: exactly those (sorted, once each), whatever the database says.
	want=$(printf "%s\n" "$(getent group users | cut -d: -f3)" "$(getent group daemon | cut -d: -f3)" | sort -n | xargs)
	capture "$VFIOJAIL" run "${roots[@]}" --name vm3 --user nobody --groups users,daemon,users -- \
		"$WORK/probe" --out "$WORK/out/groups.json"
	assert_eq "$rc" 0 "run with --groups ($err)"
	assert_eq "$(jq -r ".groups | join(\" \")" "$WORK/out/groups.json")" "$want" "exactly the groups of the spec"
	capture "$VFIOJAIL" run --exec "${roots[@]}" --name vm3 --user nobody --groups "" -- \
		"$WORK/probe" --out "$WORK/out/groups.json"
	assert_eq "$rc" 0 "run --exec with --groups \"\" ($err)"
	assert_eq "$(jq -r ".groups | length" "$WORK/out/groups.json")" 0 "--groups \"\": no supplementary group"
	"$VFIOJAIL" teardown vm3 >/dev/null
	assert_nothing_left "$CG" /run/vfiojail /sys/fs/bpf/vfiojail
	pass "the groups of the spec are the groups of the VMM"

	# Strict accounting (the default) on a /dev/iommu that answers ENOTTY: the VM does not start.
	capture "$VFIOJAIL" run "$spec" "${roots[@]}" -- "$WORK/probe"
	assert_eq "$rc" 125 "strict iommufd accounting refuses"
	assert_contains "$err" "IOMMU_OPTION" "says what the kernel lacks"
	assert_contains "$err" "best-effort" "names the way out"
	assert_nothing_left "$CG" /run/vfiojail /sys/fs/bpf/vfiojail
	pass "strict iommufd accounting fails closed"

	# Exit statuses come through; signals are forwarded.
	capture "$VFIOJAIL" run "${roots[@]}" --name vm2 --user nobody -- "$WORK/probe" --exit 7 --out /dev/null
	assert_eq "$rc" 7 "the VMM exit status"
	capture "$VFIOJAIL" run "${roots[@]}" --name vm2 --user nobody -- /nonexistent/qemu
	assert_eq "$rc" 127 "VMM not found"
	capture "$VFIOJAIL" run "${roots[@]}" --name vm2 --user nobody -- no-such-vmm-in-path
	assert_eq "$rc" 127 "VMM not found in PATH"
	capture "$VFIOJAIL" run "${roots[@]}" --name vm2 --user nobody -- /etc/passwd
	assert_eq "$rc" 126 "VMM not executable"
	capture "$VFIOJAIL" run "${roots[@]}" --name vm2 --user nobody -- "$WORK/probe" --out /dev/null -x=@fd:nope@
	assert_eq "$rc" 2 "@fd: of an undeclared context"
	assert_contains "$err" "@fd:nope@" "names the placeholder"
	for sig in TERM INT HUP QUIT; do
		"$VFIOJAIL" run "${roots[@]}" --name vm2 --user nobody -- "$WORK/probe" --out /dev/null --sleep 30 &
		pid=$!
		for i in $(seq 100); do [[ -d "$CG/vfiojail-vm2" ]] && grep -q "populated 1" "$CG/vfiojail-vm2/cgroup.events" && break; sleep 0.05; done
		kill -s $sig $pid
		set +e; wait $pid; rc=$?; set -e
		assert_eq "$rc" $((128 + $(kill -l $sig))) "SIG$sig forwarded, VMM killed by it"
	done
	assert_nothing_left "$CG" /run/vfiojail /sys/fs/bpf/vfiojail
	pass "exit statuses and signal forwarding"
}
in_container gpu-iommufd run_reports_the_plan
