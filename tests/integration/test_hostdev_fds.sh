#!/usr/bin/env bash
# A hostdev handed to the VMM as an open fd ("fd": ID, --hostdev BDF,fd=ID): vfiojail
# opens the VFIO cdev sysfs names for the BDF, checks its device number, and the VMM
# gets it after the contexts (@fd:ID@, VFIOJAIL_FD_<ID>); the jail's /dev has no node
# for it and the filter no rule, so an open of the cdev path in the jail fails.  For
# run, enter (on a setup jail), launch (the service sends the fd) and the pod hand-off;
# plan and status say which device is handed as an fd; a node planted with another
# device number is refused with 125 and nothing is left.
#
# The fixture's cdev stand-ins (240:N) have no driver, so the GPU's cdev is made a node
# of a real driver that opens (kmsg, 1:11, which no default node of a jail uses) and
# sysfs says the same number, as a real host's would.
source "$(dirname "$0")/lib.sh"

hostdev_fds() {
	serve_fixture
	cdev="$HOST/dev/vfio/devices/vfio0"
	rm -f "$cdev"
	mknod -m 0600 "$cdev" c 1 11
	echo "1:11" >"$HOST/sys/devices/pci0009:06/0009:06:00.0/vfio-dev/vfio0/dev"
	vm=(--name vm1 --user nobody --memory 1GiB --hostdev 0009:06:00.0,fd=gpu0 --memlock-hard-limit 4MiB)
	# The VMM: the fd @fd:gpu0@ gave and VFIOJAIL_FD_GPU0, the device it is (hex
	# major:minor) and its open mode, the VFIO entries of its /dev, an open of the cdev path.
	vmm=(/bin/bash -c 'fd=${1#fd=}; printf "%s %s %s %s\n" "$fd" "$VFIOJAIL_FD_GPU0" "$(stat -Lc %t:%T /proc/self/fd/$fd)" "$(awk "/^flags:/ { print \$2 }" /proc/self/fdinfo/$fd)"; echo "vfio entries: $(find /dev -path "*vfio*" | wc -l)"; (exec 9<>/dev/vfio/devices/vfio0) 2>&1 || true' vmm "fd=@fd:gpu0@")
	check_vmm() { # WHAT FD
		local fd flags
		read -r fd env dev flags <<<"$(head -1 <<<"$out")"
		assert_eq "$fd/$env" "$2/$2" "$1: @fd:gpu0@ and VFIOJAIL_FD_GPU0 give fd $2, after the context"
		assert_eq "$dev" "1:b" "$1: fd $2 is the cdev sysfs names for 0009:06:00.0 (1:11)"
		assert_eq "$((8#$flags & 3))" 2 "$1: opened read-write ($flags)"
		assert_contains "$out" "vfio entries: 0" "$1: the VMM's /dev has no VFIO node"
		assert_contains "$out" "/dev/vfio/devices/vfio0: No such file or directory" "$1: an open of the cdev path fails"
	}

	# --- plan ---------------------------------------------------------------------
	capture "$VFIOJAIL" plan "${vm[@]}" "${roots[@]}" --json
	assert_eq "$rc" 0 "plan ($err)"
	assert_eq "$(jq -r '.hostdevs[0] | "\(.fd) \(.node) \(.major):\(.minor)"' <<<"$out")" "gpu0 /dev/vfio/devices/vfio0 1:11" \
		"plan --json: the hostdev is handed as fd gpu0, its cdev and device number recorded"
	assert_eq "$(jq -r '[.nodes[].path | select(startswith("/dev/vfio"))] | length' <<<"$out")" 0 "no VFIO node planned"
	assert_eq "$(jq -r '[.rules[] | select(.major == 1 and .minor == 11)] | length' <<<"$out")" 0 "no filter rule for the cdev"
	assert_eq "$(jq -r '[.nodes[].path | select(. == "/dev/iommu")] | length' <<<"$out")" 1 "/dev/iommu stays"
	capture "$VFIOJAIL" plan "${vm[@]/,fd=gpu0/}" "${roots[@]}" --json
	assert_eq "$(jq -r '.hostdevs[0].fd' <<<"$out")/$(jq -r '[.nodes[].path | select(. == "/dev/vfio/devices/vfio0")] | length' <<<"$out")" \
		"null/1" "without fd: \"fd\": null and the node, as before"
	capture "$VFIOJAIL" plan "${vm[@]}" "${roots[@]}"
	assert_contains "$out" "fd gpu0 (/dev/vfio/devices/vfio0 1:11 opened by vfiojail, no node in the jail)" "the table says so"
	pass "plan: no node and no rule for a hostdev handed as an fd"

	# --- run, supervised and --exec ------------------------------------------------
	capture "$VFIOJAIL" run "${vm[@]}" "${roots[@]}" -- "${vmm[@]}"
	assert_eq "$rc" 0 "run ($err)"
	check_vmm run 4
	nothing_left
	capture "$VFIOJAIL" run "${vm[@]}" "${roots[@]}" --exec --preserve-fds 1 -- "${vmm[@]}" 3</dev/null
	assert_eq "$rc" 0 "run --exec ($err)"
	check_vmm "run --exec --preserve-fds 1" 5
	"$VFIOJAIL" teardown vm1
	nothing_left
	pass "run: the VMM holds the cdev at @fd:gpu0@, its /dev has no VFIO node"

	# A node planted with another device number (null's) at the cdev path: refused
	# before the VMM starts, naming the node; nothing is left.
	mv "$cdev" "$cdev.real"
	mknod -m 0600 "$cdev" c 1 3
	capture "$VFIOJAIL" run "${vm[@]}" "${roots[@]}" -- "$WORK/probe" --out "$WORK/out/planted.json"
	assert_eq "$rc" 125 "a planted node ($err)"
	assert_contains "$err" "$cdev is not the VFIO device of 0009:06:00.0: it is char 1:3, sysfs says char 1:11" "names the node"
	[[ ! -e "$WORK/out/planted.json" ]] || fail "the VMM ran with a planted node"
	nothing_left
	rm "$cdev"
	capture "$VFIOJAIL" run "${vm[@]}" "${roots[@]}" -- "$WORK/probe"
	assert_eq "$rc" 125 "no node at all ($err)"
	assert_contains "$err" "cannot open the VFIO device of 0009:06:00.0" "says which"
	nothing_left
	mv "$cdev.real" "$cdev"
	pass "a node that is not the device sysfs names: 125, nothing left"

	# --- setup, status, enter ------------------------------------------------------
	capture "$VFIOJAIL" setup "${vm[@]}" "${roots[@]}"
	assert_eq "$rc" 0 "setup ($err)"
	capture "$VFIOJAIL" status vm1 --json
	assert_eq "$(jq -r '.hostdevs[0] | "\(.pci) \(.fd) \(.node)"' <<<"$out")" "0009:06:00.0 gpu0 /dev/vfio/devices/vfio0" "status --json: handed as fd gpu0"
	capture "$VFIOJAIL" status vm1
	assert_contains "$out" "0009:06:00.0  fd gpu0 (opened by vfiojail from /dev/vfio/devices/vfio0; no node in the jail)" "status says so"
	capture "$VFIOJAIL" enter vm1 -- "${vmm[@]}"
	assert_eq "$rc" 0 "enter ($err)"
	check_vmm enter 4
	"$VFIOJAIL" teardown vm1
	nothing_left
	pass "setup and enter: the fd opened at enter, status shows it"

	# --- launch: the service sends the cdev fd after the context -------------------
	printf '{ "name": "vm1", "user": "nobody", "memory": "1GiB", "hostdevs": [ { "pci": "0009:06:00.0", "fd": "gpu0" } ], "memlock": { "hard_limit": "4MiB" } }\n' >"$specs/vm1.json"
	capture as_nobody "$VFIOJAIL" launch vm1 --socket "$sock" --preserve-fds 1 -- "${vmm[@]}" 3</dev/null
	assert_eq "$rc" 0 "launch ($err; $(cat "$WORK/serve.log"))"
	check_vmm "launch --preserve-fds 1" 5
	for _ in $(seq 100); do [[ -e /run/vfiojail/vm1.json ]] || break; sleep 0.05; done
	nothing_left
	pass "launch: the service hands the cdev fd, the client places it after the context"

	# --- the pod hand-off -------------------------------------------------------------
	mkdir "$CG/pod"
	bash -c 'echo $$ >"$1/cgroup.procs"; exec unshare --pid --fork sleep 600' _ "$CG/pod" &
	pod=$!
	for _ in $(seq 100); do cpid=$(pgrep -P "$pod" || true); [[ -n "$cpid" ]] && break; sleep 0.05; done
	[[ -n "$cpid" ]] || fail "the pod did not start"
	on_exit "kill -9 $cpid 2>/dev/null"
	hsock="$WORK/handoff.sock"
	"$VFIOJAIL" handoff "$specs/vm1.json" "${roots[@]}" --pid "$cpid" --socket "$hsock" --timeout 5 2>"$WORK/handoff.log" &
	server=$!
	on_exit "kill $server 2>/dev/null"
	for _ in $(seq 100); do [[ -S "$hsock" ]] && break; sleep 0.05; done
	[[ -S "$hsock" ]] || fail "handoff did not start: $(cat "$WORK/handoff.log")"
	capture bash -c 'echo $$ >"$1/cgroup.procs"; shift; exec nsenter --target "$0" --pid -- setpriv --reuid=nobody --regid=nogroup --clear-groups -- env "ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" "$@"' \
		"$cpid" "$CG/pod" "$VFIOJAIL" launch --socket "$hsock" -- vm1 -- "${vmm[@]}"
	assert_eq "$rc" 0 "launch from the pod ($err; $(cat "$WORK/handoff.log"))"
	fd=$(head -1 <<<"$out" | cut -d' ' -f1)
	dev=$(head -1 <<<"$out" | cut -d' ' -f3)
	assert_eq "$fd $dev" "4 1:b" "the pod's VMM holds the cdev at @fd:gpu0@, after the context"
	wait $server || fail "the hand-off did not end well: $(cat "$WORK/handoff.log")"
	assert_contains "$(cat "$WORK/handoff.log")" "1 iommufd context(s) handed to pid" "the hand-off is logged"
	assert_contains "$(cat "$WORK/handoff.log")" "and 1 hostdev fd(s)" "with the hostdev fd"
	kill -9 "$cpid" 2>/dev/null || true
	wait $pod 2>/dev/null || true
	rmdir "$CG/pod"
	pass "the hand-off sends the cdev fd with the context"

	# --- spec errors: nothing made --------------------------------------------------
	for bad in "0009:06:00.0,backend=legacy,fd=gpu0|hostdevs[0].fd|backend \"legacy\"" \
		"0009:06:00.0,fd=iommufd0|hostdevs[0].fd|an iommufd context's id already" \
		"0009:06:00.0,fd=0gpu|--hostdev|is not an fd id"; do
		IFS='|' read -r flag field why <<<"$bad"
		capture "$VFIOJAIL" run --name vm1 --user nobody --memory 1GiB --hostdev "$flag" "${roots[@]}" -- "$WORK/probe"
		assert_eq "$rc" 2 "--hostdev $flag ($err)"
		assert_contains "$err" "$field" "names $field"
		assert_contains "$err" "$why" "says why"
	done
	nothing_left
	pass "bad fd ids and fd on legacy: 2, named, nothing made"
}
in_container gpu-iommufd hostdev_fds
