#!/usr/bin/env bash
# vfiojail attach and detach on a jail made by setup, watched by ONE process that
# lives through all of it (tests/opener, entered as the VM user): a device's node
# appears and open() stops failing with EPERM, the memlock limit rises, detach
# brings EPERM back and the node goes; status sees no drift; bad input is refused
# (2) and a failing attach leaves the jail byte for byte as it was.
source "$(dirname "$0")/lib.sh"
: "${OPENER:?}"
command -v bpftool >/dev/null || skip "bpftool is needed to read the filter's map"
command -v nsenter >/dev/null || skip "nsenter is needed to look into the jail's namespace"

jail_hotplug_tests() {
	cp "$OPENER" "$WORK/opener"
	chmod 0755 "$WORK/opener"
	# Stand-in devices of a made-up major with no driver: allowed opens fail ENXIO.
	mknod -m 0666 "$HOST/dev/x" c 242 0
	mknod -m 0666 "$HOST/dev/y" c 242 1
	mkdir -m 0755 "$WORK/foreign"
	mknod -m 0666 "$WORK/foreign/x" c 242 0   # the same device, outside any /dev
	roots=(--sysfs-root "$HOST/sys" --dev-root "$HOST/dev")
	st=/run/vfiojail/vm1.json
	ns=/run/vfiojail/ns/vm1
	no_nsfs() { ! grep -q " nsfs " /proc/self/mountinfo || fail "nsfs binding left: $(grep " nsfs " /proc/self/mountinfo)"; }
	injail() { nsenter --mount="$ns" "$@"; }
	# Every node and directory of the jail's /dev, with numbers, owners and modes.
	jail_dev() { injail find /dev -xdev -printf "%p %y %U:%G %m\n" | sort; }
	map_dump() { bpftool map dump pinned /sys/fs/bpf/vfiojail/vm1/rules; }
	snapshot() { { map_dump; jail_dev; cat "$st"; } >"$WORK/$1"; }

	# An explicit memlock limit: the plan stays at 4 MiB whatever is attached, which
	# fits under this machine's 8 MiB hard limit (raising a hard limit needs
	# CAP_SYS_RESOURCE, which root lacks here).  The opener lowers its own soft
	# limit, so attach's raise step has something to raise, visibly.
	"$VFIOJAIL" setup "${roots[@]}" --name vm1 --user nobody --memory 1GiB --memlock-hard-limit 4MiB >/dev/null

	mkfifo "$WORK/cmd" "$WORK/resp"
	"$VFIOJAIL" enter vm1 -- "$WORK/opener" <"$WORK/cmd" >"$WORK/resp" &
	enter_pid=$!
	exec 3>"$WORK/cmd" 4<"$WORK/resp"
	on_exit "exec 3>&- 4<&-"
	ask() { echo "$1" >&3; read -r -t 10 reply <&4 || fail "no answer to $1"; }
	expect() { ask "$1"; assert_eq "$reply" "$2" "$1"; }
	expect "open $WORK/foreign/x" EPERM  # answered: the opener runs in the jail now
	opener_pid=$(cat "$CG/vfiojail-vm1/cgroup.procs")
	[[ -n "$opener_pid" ]] || fail "the opener is not in the cgroup"
	expect "open /dev/x" ENOENT
	expect "memlock" "4194304 8388608"
	expect "setmemlock 1048576" ok
	expect "memlock" "1048576 8388608"
	[[ -z "$(injail find /dev/vfio -maxdepth 0 2>/dev/null)" ]] || fail "the jail has /dev/vfio before attach"

	capture "$VFIOJAIL" attach vm1 "${roots[@]}" --device /dev/x --hostdev 0009:06:00.0
	assert_eq "$rc" 0 "attach ($err)"
	expect "open /dev/x" ENXIO
	expect "open $WORK/foreign/x" ENXIO
	expect "open /dev/vfio/devices/vfio0" ENXIO
	expect "memlock" "4194304 8388608"
	node() { state_plan "$st" ".nodes[] | select(.path == \"$1\") | \"\(.type) \(.uid):\(.gid) \(.mode)\""; }
	assert_eq "$(node /dev/x)" "c 65534:65534 0600" "the planned node of /dev/x"
	assert_eq "$(injail stat -c "%F %t:%T %u:%g %a" /dev/x)" "character special file f2:0 65534:65534 600" "/dev/x in the jail"
	assert_eq "$(injail stat -c "%t:%T %u:%g %a" /dev/vfio/devices/vfio0)" "f0:0 65534:65534 600" "vfio0 in the jail"
	assert_eq "$(jq -r "[.spec.devices[].path, .spec.hostdevs[].pci] | join(\" \")" "$st")" "/dev/x 0009:06:00.0" "the state keeps the new spec"
	capture "$VFIOJAIL" status vm1
	assert_eq "$rc" 0 "status after attach: no drift ($out)"
	assert_contains "$out" "$opener_pid" "the opener is listed"
	pass "attach: the node appears, open() reaches the driver and memlock rises in the same process"

	# attach and detach run from another cgroup than setup's: the re-plan keeps the
	# jail's own cgroup (the state's), not one worked out from where the caller is.
	mkdir "$CG/elsewhere"
	on_exit "rmdir '$CG/elsewhere' 2>/dev/null"
	from_elsewhere() { capture bash -c 'echo $$ >"$1/cgroup.procs" && exec "${@:2}"' _ "$CG/elsewhere" "$VFIOJAIL" "$@"; }
	from_elsewhere attach vm1 "${roots[@]}" --device /dev/y
	assert_eq "$rc" 0 "attach from another cgroup ($err)"
	assert_eq "$(state_plan "$st" .cgroup)" "$CG/vfiojail-vm1" "the plan's cgroup is still the jail's"
	expect "open /dev/y" ENXIO
	from_elsewhere detach vm1 "${roots[@]}" --device /dev/y
	assert_eq "$rc" 0 "detach from another cgroup ($err)"
	assert_eq "$(state_plan "$st" .cgroup)" "$CG/vfiojail-vm1" "and after the detach"
	expect "open /dev/y" ENOENT
	rmdir "$CG/elsewhere"
	pass "attach and detach from another cgroup re-plan the jail in its own cgroup"

	# Bad input: exit 2, nothing changed.
	snapshot before
	for bad in "--device /dev/x" "--hostdev 0009:06:00.0" "--device /tmp/x" "--hostdev 0009:06:00.9" "--device /dev/x:q" "--name vm2"; do
		capture "$VFIOJAIL" attach vm1 $bad
		assert_eq "$rc" 2 "attach $bad ($err)"
	done
	capture "$VFIOJAIL" attach vm1 --device /dev/x
	assert_contains "$err" "/dev/x" "the error names the device"
	capture "$VFIOJAIL" attach vm1
	assert_eq "$rc" 2 "attach of nothing"
	capture "$VFIOJAIL" attach nosuchvm --device /dev/y
	assert_eq "$rc" 2 "attach to an unknown jail"
	capture "$VFIOJAIL" detach vm1 --device /dev/y
	assert_eq "$rc" 2 "detach of a device that is not attached"
	assert_contains "$err" "not attached" "says so"
	capture "$VFIOJAIL" attach vm1 --device /dev/missing
	assert_eq "$rc" 125 "attach of a device the host lacks"
	assert_contains "$err" "/dev/missing" "names it"
	snapshot after
	cmp -s "$WORK/before" "$WORK/after" || fail "refused attaches changed the jail: $(diff "$WORK/before" "$WORK/after")"
	pass "bad attaches and detaches are refused and change nothing"

	# A failing attach: a stale file sits where /dev/y would go in the jail.  The
	# memlock raise and the node of 06:00.1 (made before /dev/y) are undone.
	injail touch /dev/y
	expect "setmemlock 1048576" ok
	snapshot before
	capture "$VFIOJAIL" attach vm1 --hostdev 0009:06:00.1 --device /dev/y
	assert_eq "$rc" 125 "attach over a stale file ($err)"
	assert_contains "$err" "/dev/y" "the error names the node"
	assert_contains "$err" "mountns" "and the step"
	snapshot after
	cmp -s "$WORK/before" "$WORK/after" || fail "a failed attach changed the jail: $(diff "$WORK/before" "$WORK/after")"
	expect "memlock" "1048576 8388608"
	expect "open /dev/vfio/devices/vfio1" ENOENT
	injail rm /dev/y
	expect "setmemlock 4194304" ok
	pass "a failing attach leaves the jail as it was"

	capture "$VFIOJAIL" detach vm1 --device /dev/x
	assert_eq "$rc" 0 "detach ($err)"
	expect "open $WORK/foreign/x" EPERM
	expect "open /dev/x" ENOENT
	expect "open /dev/vfio/devices/vfio0" ENXIO
	capture "$VFIOJAIL" status vm1
	assert_eq "$rc" 0 "status after detach: no drift ($out)"
	capture "$VFIOJAIL" detach vm1 --hostdev 0009:06:00.0
	assert_eq "$rc" 0 "detach of the hostdev ($err)"
	expect "open /dev/vfio/devices/vfio0" ENOENT
	[[ -z "$(injail find /dev/vfio -maxdepth 0 2>/dev/null)" ]] || fail "emptied directories are left: $(jail_dev)"
	capture "$VFIOJAIL" status vm1
	assert_eq "$rc" 0 "status after the last detach: no drift ($out)"
	assert_eq "$(jq -r "[.spec.devices[], .spec.hostdevs[]] | length" "$st")" 0 "the state spec has no device left"
	expect "memlock" "4194304 8388608"
	pass "detach: EPERM comes back in the same process, the nodes go"

	echo quit >&3
	wait "$enter_pid" || fail "enter of the opener exited with $?"

	# A VM started by run or launch: test_hotplug_kinds.sh.
	"$VFIOJAIL" teardown vm1
	assert_nothing_left "$CG" /run/vfiojail /sys/fs/bpf/vfiojail
	no_nsfs
	pass "teardown leaves nothing"
}
in_container gpu-iommufd jail_hotplug_tests
