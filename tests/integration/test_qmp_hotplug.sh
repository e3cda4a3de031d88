#!/usr/bin/env bash
# attach --qmp and detach --qmp against QMP servers that misbehave (a stand-in,
# tests/integration/fakeqmp.py: silent, not QMP, endless lines, wrong ids, a
# QEMU that keeps the device or never lets it go) and against the host's real
# QEMU, whose device_add vfio-pci fails (no VFIO here): every failure exits 125
# with QEMU's words, the memlock raise is undone, the state is byte for byte as
# it was, QEMU holds no fd of the device and still answers.  The fixture's cdev
# of 0009:07:00.0 is pointed at /dev/full (1:7), a device that opens, so a real
# fd travels.
source "$(dirname "$0")/lib.sh"
command -v python3 >/dev/null || skip "python3 is needed for the QMP stand-in"

qmp_hotplug_tests() {
	local fake="$VJ_SOURCE_ROOT/tests/integration/fakeqmp.py" qmp="$VJ_SOURCE_ROOT/tests/vm/qmp"
	local dev=0009:07:00.0 id=vfiojail-0009-07-00.0 st=/run/vfiojail/vm1.json
	echo 1:7 >"$HOST/sys/bus/pci/devices/$dev/vfio-dev/vfio2/dev"
	rm "$HOST/dev/vfio/devices/vfio2"
	mknod -m 0600 "$HOST/dev/vfio/devices/vfio2" c 1 7
	roots=(--sysfs-root "$HOST/sys" --dev-root "$HOST/dev")
	mkdir -m 0777 "$WORK/q"
	# The plan stays at 4 MiB (a hard limit this machine allows); the VM starts
	# at 1 MiB, so a raise is visible.
	# (A fresh jail for each VM: a hostdev leaves its iommufd context in the spec,
	# and enter opens it; this host's /dev/iommu is a stand-in.)
	fresh() {
		"$VFIOJAIL" teardown vm1 2>/dev/null || true
		"$VFIOJAIL" setup "${roots[@]}" --name vm1 --user nobody --memory 1GiB --memlock-hard-limit 4MiB >/dev/null
	}
	fresh
	# Does process $1 hold an fd of the char device 1:7?
	holds_full() {
		local f
		for f in /proc/"$1"/fd/*; do
			[[ "$(stat -L -c "%F %t:%T" "$f" 2>/dev/null)" == "character special file 1:7" ]] && return 0
		done
		return 1
	}
	soft() { awk '/Max locked memory/ { print $4 }' "/proc/$1/limits"; }
	start() { # SOCKET PROGRAM... -> $vm, the VM's pid in the jail
		rm -f "$1"
		local sock=$1
		shift
		"$VFIOJAIL" enter vm1 -- prlimit --memlock=1048576:8388608 "$@" </dev/null >"$WORK/vm.log" 2>&1 &
		for i in $(seq 100); do [[ -S "$sock" ]] && break; sleep 0.1; done
		[[ -S "$sock" ]] || fail "$* made no socket: $(cat "$WORK/vm.log")"
		vm=$(cat "$CG/vfiojail-vm1/cgroup.procs")
	}
	stop() { kill "$vm"; wait || true; }

	# Bad sockets and flags: 2, nothing changed.
	cp "$st" "$WORK/before"
	capture "$VFIOJAIL" attach vm1 --hostdev $dev --qmp "$WORK/q/none"
	assert_eq "$rc" 2 "a socket that is not there ($err)"
	assert_contains "$err" "cannot connect to QEMU's QMP socket" "says so"
	capture "$VFIOJAIL" attach vm1 --hostdev $dev --qmp-iommufd x
	assert_eq "$rc" 2 "--qmp-iommufd without --qmp ($err)"
	capture "$VFIOJAIL" attach vm1 --hostdev $dev --hostdev 0009:06:00.0 --qmp "$WORK/q/none"
	assert_eq "$rc" 2 "two devices at once ($err)"
	cmp -s "$WORK/before" "$st" || fail "a refused attach changed the state"
	pass "bad --qmp input is refused (2) and changes nothing"

	# Servers that do not speak QMP: each ends within the limit, 125, its words.
	for m in "silent:did not answer in time" "garbage:not a JSON object" "notqmp:not a QMP greeting" \
		"long:longer than 1 MiB" "wrongid:another command's id"; do
		start "$WORK/q/s" python3 "$fake" "$WORK/q/s" "${m%%:*}"
		t0=$(date +%s)
		capture "$VFIOJAIL" attach vm1 --hostdev $dev --qmp "$WORK/q/s" --timeout 2
		t=$(($(date +%s) - t0))
		assert_eq "$rc" 125 "${m%%:*} ($err)"
		assert_contains "$err" "${m#*:}" "${m%%:*}: the message"
		((t <= 6)) || fail "${m%%:*}: took ${t}s with --timeout 2"
		assert_eq "$(soft "$vm")" 1048576 "${m%%:*}: memlock"
		stop
	done
	cmp -s "$WORK/before" "$st" || fail "a failed handshake changed the state"
	pass "a silent server times out in 2 s; garbage, a non-QMP greeting, a 2 MiB line, a wrong id are refused (125)"

	# The stand-in QEMU that does what QEMU does: attach records the device as
	# handed by fd, with no node and no rule; memlock is raised in the VM.
	start "$WORK/q/s" python3 "$fake" "$WORK/q/s" qemu 10de 2342
	capture "$VFIOJAIL" attach vm1 --hostdev $dev --qmp "$WORK/q/s" --qmp-iommufd iommufd0
	assert_eq "$rc" 0 "attach --qmp ($err)"
	assert_eq "$(state_plan "$st" ".hostdevs[] | select(.pci == \"$dev\") | .fd")" "$id" "the state records the fd name"
	assert_eq "$(state_plan "$st" '[.nodes, .rules]')" "$(state_plan "$WORK/before" '[.nodes, .rules]')" \
		"the jail's nodes and rules are as before"
	assert_eq "$(state_plan "$st" '[.nodes[].path | select(startswith("/dev/vfio"))] | length')" 0 "no VFIO node in the jail"
	assert_eq "$(soft "$vm")" 4194304 "memlock raised in the VM"
	holds_full "$vm" || fail "the VM does not hold the device's fd"
	holds_full $$ && fail "vfiojail's test shell holds the device"
	capture "$VFIOJAIL" status vm1
	assert_eq "$rc" 0 "status after attach --qmp: no drift ($out$err)"
	capture "$VFIOJAIL" attach vm1 --hostdev $dev --qmp "$WORK/q/s"
	assert_eq "$rc" 2 "a second attach of the same device ($err)"
	capture "$VFIOJAIL" detach vm1 --hostdev $dev
	assert_eq "$rc" 2 "a plain detach of a device QEMU holds by fd ($err)"
	assert_contains "$err" "attached with --qmp" "says why"
	# A plain attach and detach of another device keep the fd device as it is: no node,
	# no rule for it appears, its fd name stays.
	capture "$VFIOJAIL" attach vm1 --device /dev/net/tun
	assert_eq "$rc" 0 "a plain attach beside it ($err)"
	assert_eq "$(state_plan "$st" '[.nodes[].path | select(startswith("/dev/vfio"))] | length')" 0 "still no VFIO node"
	assert_eq "$(state_plan "$st" ".hostdevs[] | select(.pci == \"$dev\") | .fd")" "$id" "the fd name stays"
	capture "$VFIOJAIL" detach vm1 --device /dev/net/tun
	assert_eq "$rc" 0 "a plain detach beside it ($err)"
	assert_eq "$(state_plan "$st" '[.nodes[].path | select(startswith("/dev/vfio") or . == "/dev/net/tun")] | length')" 0 \
		"no VFIO node, tun gone"
	assert_eq "$(state_plan "$st" ".hostdevs[] | select(.pci == \"$dev\") | .fd")" "$id" "the fd name still stays"
	pass "attach --qmp: the VM holds the fd, the jail has no node or rule for it, memlock raised"

	capture "$VFIOJAIL" detach vm1 --hostdev $dev --qmp "$WORK/q/s"
	assert_eq "$rc" 0 "detach --qmp ($err)"
	holds_full "$vm" && fail "the VM still holds the device after detach"
	assert_eq "$(state_plan "$st" '.hostdevs | length')" 0 "the state has no hostdev left"
	capture "$VFIOJAIL" detach vm1 --hostdev $dev --qmp "$WORK/q/s"
	assert_eq "$rc" 2 "a second detach ($err)"
	stop
	pass "detach --qmp: device_del, DEVICE_DELETED through other events, the fd gone, the state without it"

	# QEMU sends DEVICE_DELETED but keeps the fd: checked, not believed.
	fresh
	start "$WORK/q/s" python3 "$fake" "$WORK/q/s" keepfd 10de 2342
	capture "$VFIOJAIL" attach vm1 --hostdev $dev --qmp "$WORK/q/s" --qmp-iommufd iommufd0
	assert_eq "$rc" 0 "attach --qmp ($err)"
	cp "$st" "$WORK/attached"
	capture "$VFIOJAIL" detach vm1 --hostdev $dev --qmp "$WORK/q/s"
	assert_eq "$rc" 125 "detach while the VM keeps the fd ($err)"
	assert_contains "$err" "still holds" "says so"
	assert_contains "$err" "stays attached" "and what stays"
	cmp -s "$WORK/attached" "$st" || fail "a refused detach changed the state"
	stop
	# With the VM gone, device_del finds no device and no process holds it: detach completes.
	# (outside the jail: enter would open the stand-in /dev/iommu of the context)
	rm -f "$WORK/q/s"
	python3 "$fake" "$WORK/q/s" qemu 10de 2342 &
	fake_pid=$!
	for i in $(seq 100); do [[ -S "$WORK/q/s" ]] && break; sleep 0.1; done
	capture "$VFIOJAIL" detach vm1 --hostdev $dev --qmp "$WORK/q/s"
	assert_eq "$rc" 0 "detach once the device is gone from QEMU ($err)"
	kill "$fake_pid"; wait || true
	pass "a QEMU that reports DEVICE_DELETED but keeps the fd is caught; detach again completes once it is gone"

	# A guest that never lets the device go: the wait ends at 3 x --timeout.
	fresh
	start "$WORK/q/s" python3 "$fake" "$WORK/q/s" nodelete 10de 2342
	capture "$VFIOJAIL" attach vm1 --hostdev $dev --qmp "$WORK/q/s" --qmp-iommufd iommufd0
	assert_eq "$rc" 0 "attach --qmp ($err)"
	cp "$st" "$WORK/attached"
	t0=$(date +%s)
	capture "$VFIOJAIL" detach vm1 --hostdev $dev --qmp "$WORK/q/s" --timeout 1
	t=$(($(date +%s) - t0))
	assert_eq "$rc" 125 "detach without DEVICE_DELETED ($err)"
	assert_contains "$err" "no DEVICE_DELETED" "says so"
	assert_contains "$err" "run detach --qmp again" "says what to do"
	((t >= 2 && t <= 6)) || fail "the wait took ${t}s with --timeout 1 (3 s expected)"
	cmp -s "$WORK/attached" "$st" || fail "a timed-out detach changed the state"
	assert_eq "$(soft "$vm")" 4194304 "memlock stays"
	# Again: QEMU says the unplug is under way already; detach waits for it again.
	capture "$VFIOJAIL" detach vm1 --hostdev $dev --qmp "$WORK/q/s" --timeout 1
	assert_eq "$rc" 125 "a second detach without DEVICE_DELETED ($err)"
	assert_contains "$err" "no DEVICE_DELETED" "waits again (QEMU: already in the process of unplug)"
	cmp -s "$WORK/attached" "$st" || fail "a second timed-out detach changed the state"
	stop
	pass "no DEVICE_DELETED within 3 x --timeout: 125, the device stays recorded and memlock stays"

	# The host's QEMU: device_add vfio-pci by fd fails (QEMU 7.2 has no fd or
	# iommufd property; newer QEMUs fail too without VFIO).
	command -v qemu-system-x86_64 >/dev/null || skip "qemu-system-x86_64 is needed for the real QEMU part"
	fresh
	cp "$st" "$WORK/before"
	start "$WORK/q/qemu" qemu-system-x86_64 -machine q35 -m 64 -S -display none -nodefaults \
		-device pcie-root-port,id=rp1,bus=pcie.0,chassis=1 -qmp "unix:$WORK/q/qemu,server=on,wait=off"
	capture "$VFIOJAIL" attach vm1 --hostdev $dev --qmp "$WORK/q/qemu" --qmp-iommufd iommufd0 --qmp-bus rp1
	assert_eq "$rc" 125 "device_add refused by QEMU ($err)"
	assert_contains "$err" "QEMU refused device_add: GenericError" "QEMU's class"
	assert_contains "$err" "nothing was changed" "says so"
	cmp -s "$WORK/before" "$st" || fail "the failed attach changed the state: $(diff "$WORK/before" "$st")"
	assert_eq "$(soft "$vm")" 1048576 "memlock back in QEMU"
	holds_full "$vm" && fail "QEMU still holds the device's fd"
	capture python3 "$qmp" "$WORK/q/qemu" closefd "{\"fdname\": \"$id\"}"
	assert_contains "$err" "not found" "the fd name is gone from QEMU"
	capture python3 "$qmp" "$WORK/q/qemu" query-status
	assert_contains "$out" '"status":"prelaunch"' "QEMU runs on ($err)"
	capture "$VFIOJAIL" attach vm1 --hostdev $dev --qmp "$WORK/q/qemu" --qmp-bus rp1
	assert_eq "$rc" 125 "device_add with the hostdev's context as the iommufd object ($err)"
	assert_contains "$err" "iommufd=iommufd0" "the default iommufd object is the hostdev's context"
	capture "$VFIOJAIL" attach vm1 --hostdev $dev,backend=legacy --qmp "$WORK/q/qemu"
	assert_eq "$rc" 2 "the legacy backend ($err)"
	assert_contains "$err" "needs the iommufd backend" "says why"
	cmp -s "$WORK/before" "$st" || fail "a refused attach changed the state"
	stop
	pass "real QEMU $(qemu-system-x86_64 --version | head -1 | awk '{print $4}'): device_add refused, all undone (memlock, state, fd), QEMU runs on; legacy refused"

	"$VFIOJAIL" teardown vm1
	assert_nothing_left "$CG" /run/vfiojail /sys/fs/bpf/vfiojail
	pass "teardown leaves nothing"
}
in_container gpu-iommufd qmp_hotplug_tests
