#!/usr/bin/env bash
# Two VMs of one user side by side, one name at a time, --exec then teardown, and
# leftovers of a dead VM removed by the next command.
source "$(dirname "$0")/lib.sh"

run_lifecycle_tests() {
	iommu_answers_enotty
	roots=(--sysfs-root "$HOST/sys" --dev-root "$HOST/dev" --iommufd-accounting=best-effort)
	# Stand-ins of each GPU node outside the jails, where both VMs can see them.
	mkdir -m 0755 "$WORK/foreign"
	mknod -m 0666 "$WORK/foreign/vfio0" c 240 0
	mknod -m 0666 "$WORK/foreign/vfio2" c 240 2
	wait_populated() { # NAME
		for i in $(seq 200); do
			grep -qs "populated 1" "$CG/vfiojail-$1/cgroup.events" && return 0
			sleep 0.05
		done
		fail "vfiojail-$1 never started"
	}

	# Two VMs of the same user, each with its own GPU, at the same time.
	"$VFIOJAIL" run "${roots[@]}" --name vm-a --user nobody --memory 1G --hostdev 0009:06:00.0 \
		--memlock-hard-limit 4MiB -- "$WORK/probe" --open /dev/vfio/devices/vfio0 \
		--open "$WORK/foreign/vfio2" --out "$WORK/out/a.json" --sleep 2 2>/dev/null &
	a=$!
	"$VFIOJAIL" run "${roots[@]}" --name vm-b --user nobody --memory 1G --hostdev 0009:07:00.0 \
		--memlock-hard-limit 2MiB -- "$WORK/probe" --open "$WORK/foreign/vfio0" \
		--open /dev/vfio/devices/vfio2 --out "$WORK/out/b.json" --sleep 2 2>/dev/null &
	b=$!
	wait_populated vm-a
	wait_populated vm-b
	# The same name again while vm-a runs: refused at once, vm-a untouched.
	capture "$VFIOJAIL" run "${roots[@]}" --name vm-a --user nobody -- "$WORK/probe" --out /dev/null
	assert_eq "$rc" 2 "a second launch of a running name"
	# Refused by the name's lock while vm-a starts, by its running VMM once it runs
	# (the supervisor frees the lock then, for attach and detach).
	[[ "$err" == *"already running (VMM pid"* || "$err" == *"holds this VM's lock"* ]] ||
		fail "says the name is in use: $err"
	wait $a || fail "vm-a failed"
	wait $b || fail "vm-b failed"
	assert_eq "$(jq -r ".opens | map(.error // \"ok\") | join(\" \")" "$WORK/out/a.json")" "ENXIO EPERM" "vm-a reaches its GPU, not vm-b s"
	assert_eq "$(jq -r ".opens | map(.error // \"ok\") | join(\" \")" "$WORK/out/b.json")" "EPERM ENXIO" "vm-b reaches its GPU, not vm-a s"
	assert_eq "$(jq .memlock.hard "$WORK/out/a.json"),$(jq .memlock.hard "$WORK/out/b.json")" "4194304,2097152" "each VM has its own limit"
	assert_nothing_left "$CG" /run/vfiojail /sys/fs/bpf/vfiojail
	pass "two VMs of one user side by side"

	# --exec: vfiojail becomes the VMM; the jail stays until teardown.
	capture "$VFIOJAIL" run "${roots[@]}" --exec --name vm-x --user nobody -- "$WORK/probe" \
		--exit 3 --out "$WORK/out/x.json"
	assert_eq "$rc" 3 "--exec: the status is the VMM own"
	assert_eq "$(jq .uid "$WORK/out/x.json")" 65534 "--exec: the VMM ran as the VM user"
	[[ -f /run/vfiojail/vm-x.json && -d "$CG/vfiojail-vm-x" && -d /sys/fs/bpf/vfiojail/vm-x ]] ||
		fail "--exec: the jail should stay until teardown"
	capture "$VFIOJAIL" teardown vm-x
	assert_eq "$rc" 0 "teardown ($err)"
	assert_nothing_left "$CG" /run/vfiojail /sys/fs/bpf/vfiojail
	capture "$VFIOJAIL" teardown vm-x
	assert_eq "$rc" 0 "teardown is idempotent"
	pass "--exec then teardown"

	# teardown of a VM that still runs: refused, then --kill.
	"$VFIOJAIL" run "${roots[@]}" --exec --name vm-y --user nobody -- "$WORK/probe" --out /dev/null --sleep 60 &
	y=$!
	wait_populated vm-y
	capture "$VFIOJAIL" teardown vm-y
	assert_eq "$rc" 1 "teardown of a running VM without --kill"
	assert_contains "$err" "--kill" "hints at --kill"
	capture "$VFIOJAIL" teardown --kill vm-y
	assert_eq "$rc" 0 "teardown --kill ($err)"
	set +e; wait $y; rc=$?; set -e
	assert_eq "$rc" 137 "the VMM was SIGKILLed"
	assert_nothing_left "$CG" /run/vfiojail /sys/fs/bpf/vfiojail
	pass "teardown --kill"

	# A dead --exec VM is cleaned up by the next launch of its name.
	"$VFIOJAIL" run "${roots[@]}" --exec --name vm-z --user nobody -- "$WORK/probe" --out /dev/null || true
	capture "$VFIOJAIL" run "${roots[@]}" --name vm-z --user nobody -- "$WORK/probe" --out /dev/null
	assert_eq "$rc" 0 "relaunch over leftovers ($err)"
	assert_contains "$err" "previous launch" "says it removed leftovers"
	assert_nothing_left "$CG" /run/vfiojail /sys/fs/bpf/vfiojail
	# A damaged state file: teardown removes what it can find and says what it could not.
	"$VFIOJAIL" run "${roots[@]}" --exec --name vm-d --user nobody -- "$WORK/probe" --out /dev/null || true
	echo "{ not json" >/run/vfiojail/vm-d.json
	capture "$VFIOJAIL" teardown vm-d
	assert_eq "$rc" 0 "teardown of a damaged state finds the jail by name ($err)"
	assert_contains "$err" "damaged" "reports the damaged state"
	[[ ! -e /run/vfiojail/vm-d.json && ! -e /sys/fs/bpf/vfiojail/vm-d && ! -e "$CG/vfiojail-vm-d" ]] ||
		fail "cgroup, pins or state of vm-d remain"
	# A damaged state file while the VM still runs: its filter stays until --kill.
	"$VFIOJAIL" run "${roots[@]}" --exec --name vm-r --user nobody -- "$WORK/probe" --out /dev/null --sleep 60 &
	r=$!
	wait_populated vm-r
	echo "garbage" >/run/vfiojail/vm-r.json
	capture "$VFIOJAIL" teardown vm-r
	assert_eq "$rc" 1 "teardown of a running VM with a damaged state ($err)"
	[[ -e /sys/fs/bpf/vfiojail/vm-r/link && -d "$CG/vfiojail-vm-r" ]] || fail "the running VM lost its filter"
	capture "$VFIOJAIL" teardown --kill vm-r
	assert_eq "$rc" 0 "teardown --kill with a damaged state ($err)"
	set +e; wait $r; set -e
	[[ ! -e /sys/fs/bpf/vfiojail/vm-r && ! -e "$CG/vfiojail-vm-r" && ! -e /run/vfiojail/vm-r.json ]] || fail "vm-r left something"
	# A jail with 1024 devices: its state (the whole plan) is still read back whole.
	mkdir -p "$HOST/dev/many"
	many=()
	for i in $(seq 0 1023); do
		mknod -m 0600 "$HOST/dev/many/n$i" c 243 "$i"
		many+=(--device "/dev/many/n$i")
	done
	capture "$VFIOJAIL" run "${roots[@]}" --exec --name vm-many --user nobody "${many[@]}" -- \
		"$WORK/probe" --out "$WORK/out/many.json"
	assert_eq "$rc" 0 "run --exec with 1024 devices ($err)"
	assert_eq "$(jq "[.dev[] | select(.major == 243)] | length" "$WORK/out/many.json")" 1024 "1024 nodes in the jail"
	capture "$VFIOJAIL" teardown vm-many
	assert_eq "$rc" 0 "teardown with 1024 devices ($err)"
	[[ "$err" != *damaged* ]] || fail "the state of a 1024-device jail was not read back: $err"
	assert_nothing_left "$CG" /run/vfiojail /sys/fs/bpf/vfiojail
	capture "$VFIOJAIL" teardown "../etc"
	assert_eq "$rc" 2 "a hostile name"
	assert_nothing_left "$CG" /run/vfiojail /sys/fs/bpf/vfiojail
	pass "leftovers of dead VMs"

	# The supervisor tears down the state it wrote only while the file is still the
	# one it wrote: a state put in its place while the VM runs (here: the same jail,
	# but naming a VMM started at another time, as a jail made again under the name
	# would) is read back, found not to be this VMM's, and left alone.
	"$VFIOJAIL" run "${roots[@]}" --name vm-s --user nobody -- "$WORK/probe" --out /dev/null \
		--sleep 1 2>"$WORK/vm-s.err" &
	s=$!
	wait_populated vm-s
	for _ in $(seq 200); do
		[[ "$(jq -r .vmm /run/vfiojail/vm-s.json 2>/dev/null)" =~ ^[1-9] ]] && break
		sleep 0.05
	done
	jq -c '.vmm_start += 1' /run/vfiojail/vm-s.json >"$WORK/vm-s.new"
	chmod 0600 "$WORK/vm-s.new"
	mv "$WORK/vm-s.new" /run/vfiojail/vm-s.json
	wait $s || true
	assert_contains "$(cat "$WORK/vm-s.err")" "not the one made for pid" "the supervisor says why it left the jail"
	[[ -f /run/vfiojail/vm-s.json && -d "$CG/vfiojail-vm-s" && -d /sys/fs/bpf/vfiojail/vm-s ]] ||
		fail "the supervisor removed a jail whose state it did not write"
	capture "$VFIOJAIL" teardown vm-s
	assert_eq "$rc" 0 "teardown of the jail left alone ($err)"
	assert_nothing_left "$CG" /run/vfiojail /sys/fs/bpf/vfiojail
	pass "the supervisor leaves alone a state it did not write"
}
in_container gpu-iommufd run_lifecycle_tests
