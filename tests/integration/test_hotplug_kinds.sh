#!/usr/bin/env bash
# vfiojail attach and detach on the jails of run (supervised and --exec) and of the
# launch service, each watched by ONE VMM that lives through it all (tests/opener):
# open() of the device reaches its driver after attach and is refused after detach;
# the VMM's RLIMIT_MEMLOCK (/proc/PID/limits) is raised back to the plan by attach; a
# run VMM's node appears in its own /dev and goes (its mount namespace entered through
# its pidfd), a launched VMM's /dev is its launcher's and is left alone (and attach
# says so); a state whose VMM start time is not the process's (a reused pid) is
# refused with nothing changed; status and list name each kind.
source "$(dirname "$0")/lib.sh"
: "${OPENER:?}"
command -v bpftool >/dev/null || skip "bpftool is needed to read the filter's map"

hotplug_kinds_tests() {
	serve_fixture # gpu_host_vm1's roots, the service on $sock with spec dir $specs
	cp "$OPENER" "$WORK/opener"
	chmod 0755 "$WORK/opener"
	# A stand-in device of a made-up major with no driver: allowed opens fail ENXIO.
	mknod -m 0666 "$HOST/dev/x" c 242 0
	mkdir -m 0755 "$WORK/foreign"
	mknod -m 0666 "$WORK/foreign/x" c 242 0 # the same device, outside any /dev
	limits() { awk '/^Max locked memory/ { print $4 " " $5 }' "/proc/$1/limits"; }
	map_dump() { bpftool map dump pinned "/sys/fs/bpf/vfiojail/$1/rules"; }
	started() { # NAME: the state names a VMM that is in the cgroup
		for _ in $(seq 200); do
			[[ -s /run/vfiojail/$1.json && "$(jq -r .vmm "/run/vfiojail/$1.json")" != 0 ]] &&
				grep -qs "populated 1" "$CG"/vfiojail-"$1"/cgroup.events && return 0
			sleep 0.05
		done
		fail "$1 never started"
	}
	# The VMM's pipes: commands on fd 3, answers on fd 4.
	pipes() { # TAG
		rm -f "$WORK/cmd.$1" "$WORK/resp.$1"
		mkfifo -m 0666 "$WORK/cmd.$1" "$WORK/resp.$1"
	}
	ask() { echo "$1" >&3; read -r -t 10 reply <&4 || fail "no answer to $1"; }
	expect() { ask "$1"; assert_eq "$reply" "$2" "$1"; }
	# A state whose vmm_start is not the VMM's (as after the VMM exited and another
	# process took its pid): attach and detach refuse, nothing changes.
	reused_pid_refused() { # NAME ATTACHED_DEVICE
		local st=/run/vfiojail/$1.json before after
		cp -p "$st" "$WORK/state.saved"
		jq -c '.vmm_start += 1' "$WORK/state.saved" >"$WORK/state.new"
		chmod 0600 "$WORK/state.new"
		mv "$WORK/state.new" "$st"
		before=$(map_dump "$1"; cat "$st")
		capture "$VFIOJAIL" attach "$1" --device /dev/null
		assert_eq "$rc" 2 "attach with a reused pid ($err)"
		assert_contains "$err" "is not that process: nothing was changed" "says why"
		capture "$VFIOJAIL" detach "$1" --device "$2"
		assert_eq "$rc" 2 "detach with a reused pid ($err)"
		after=$(map_dump "$1"; cat "$st")
		assert_eq "$after" "$before" "the filter and state after the refusals"
		mv "$WORK/state.saved" "$st"
	}

	# ---- run, supervised: the VMM in its own mount namespace ----------------------
	pipes r
	"$VFIOJAIL" run "${roots[@]}" --name r1 --user nobody --memory 1GiB --memlock-hard-limit 4MiB \
		-- "$WORK/opener" <"$WORK/cmd.r" >"$WORK/resp.r" 2>"$WORK/r1.err" &
	run_pid=$!
	exec 3>"$WORK/cmd.r" 4<"$WORK/resp.r"
	started r1
	vmm=$(jq -r .vmm /run/vfiojail/r1.json)
	expect "open /dev/x" ENOENT
	expect "open $WORK/foreign/x" EPERM
	assert_eq "$(limits "$vmm")" "4194304 4194304" "the VMM's limits as run set them"
	expect "setmemlock 1048576" ok # so that attach has something to raise
	assert_eq "$(limits "$vmm")" "1048576 4194304" "the VMM lowered its soft limit"
	capture "$VFIOJAIL" status r1
	assert_contains "$out" "r1 (run)" "status names the kind"
	capture "$VFIOJAIL" list
	grep -qE "^r1 +run +" <<<"$out" || fail "list names the kind: $out"
	capture "$VFIOJAIL" list --json
	assert_eq "$(jq -r '.jails[] | select(.name == "r1") | .kind' <<<"$out")" run "list --json names the kind"

	capture "$VFIOJAIL" attach r1 --device /dev/x --hostdev 0009:06:00.0
	assert_eq "$rc" 0 "attach to a run jail ($err)"
	expect "open /dev/x" ENXIO
	expect "open $WORK/foreign/x" ENXIO
	expect "open /dev/vfio/devices/vfio0" ENXIO
	assert_eq "$(limits "$vmm")" "4194304 4194304" "attach raised the VMM's soft limit to the plan"
	assert_eq "$(nsenter --target "$vmm" --mount stat -c "%t:%T %u:%g %a" /dev/x)" "f2:0 65534:65534 600" \
		"/dev/x in the VMM's own /dev"
	[[ ! -e /dev/x ]] || fail "attach made /dev/x in the host's /dev"
	capture "$VFIOJAIL" status r1
	assert_eq "$rc" 0 "status after attach: no drift ($out)"
	pass "run: attach makes the node in the VMM's /dev, opens it in the filter, raises memlock"

	reused_pid_refused r1 /dev/x
	expect "open /dev/x" ENXIO
	pass "run: a state whose VMM start time is another process's is refused, nothing changed"

	capture "$VFIOJAIL" detach r1 --device /dev/x
	assert_eq "$rc" 0 "detach from a run jail ($err)"
	expect "open /dev/x" ENOENT
	expect "open $WORK/foreign/x" EPERM
	expect "open /dev/vfio/devices/vfio0" ENXIO
	# The plan's limit did not change (memlock.hard_limit): nothing is lowered.
	assert_eq "$(limits "$vmm")" "4194304 4194304" "detach kept the plan's limit"
	capture "$VFIOJAIL" detach r1 --hostdev 0009:06:00.0
	assert_eq "$rc" 0 "detach of the hostdev ($err)"
	expect "open /dev/vfio/devices/vfio0" ENOENT
	capture "$VFIOJAIL" status r1
	assert_eq "$rc" 0 "status after detach: no drift ($out)"
	pass "run: detach refuses the device again and removes its node"

	# A device attached while the VM runs and still attached when it ends: the
	# attach replaced the state file the supervisor wrote (a new inode), so the
	# supervisor reads it back rather than tear down what it kept, and the jail
	# goes with everything in it.
	ino=$(stat -c %i /run/vfiojail/r1.json)
	capture "$VFIOJAIL" attach r1 --device /dev/x
	assert_eq "$rc" 0 "attach before the VMM ends ($err)"
	expect "open /dev/x" ENXIO
	[[ "$(stat -c %i /run/vfiojail/r1.json)" != "$ino" ]] || fail "attach replaced the state file in place"
	grep -q '"/dev/x"' /run/vfiojail/r1.json || fail "the state does not name the attached node"

	# The supervisor, once its VMM ends, removes the jail (under the name's lock).
	echo quit >&3
	exec 3>&- 4<&-
	wait "$run_pid" || fail "run exited with $?: $(cat "$WORK/r1.err")"
	assert_nothing_left "$CG" /run/vfiojail /sys/fs/bpf/vfiojail
	! grep -q "cleanup after the VMM exited" "$WORK/r1.err" || fail "the supervisor's teardown: $(cat "$WORK/r1.err")"
	pass "run: the jail goes with its VMM after hotplug, a device attached at its end included"

	# ---- run --exec: vfiojail becomes the VMM -------------------------------------
	pipes x
	"$VFIOJAIL" run "${roots[@]}" --exec --name x1 --user nobody --memory 1GiB --memlock-hard-limit 4MiB \
		-- "$WORK/opener" <"$WORK/cmd.x" >"$WORK/resp.x" 2>"$WORK/x1.err" &
	exec_pid=$!
	exec 3>"$WORK/cmd.x" 4<"$WORK/resp.x"
	started x1
	assert_eq "$(jq -r .vmm /run/vfiojail/x1.json)" "$exec_pid" "--exec: vfiojail's pid is the VMM's"
	expect "open /dev/x" ENOENT
	capture "$VFIOJAIL" attach x1 --device /dev/x
	assert_eq "$rc" 0 "attach to a run --exec jail ($err)"
	expect "open /dev/x" ENXIO
	capture "$VFIOJAIL" detach x1 --device /dev/x
	assert_eq "$rc" 0 "detach from a run --exec jail ($err)"
	expect "open /dev/x" ENOENT
	expect "open $WORK/foreign/x" EPERM
	echo quit >&3
	exec 3>&- 4<&-
	wait "$exec_pid" || fail "run --exec exited with $?: $(cat "$WORK/x1.err")"
	capture "$VFIOJAIL" attach x1 --device /dev/x
	assert_eq "$rc" 2 "attach once the VMM is gone ($err)"
	assert_contains "$err" "is gone" "says why"
	"$VFIOJAIL" teardown x1
	assert_nothing_left "$CG" /run/vfiojail /sys/fs/bpf/vfiojail
	pass "run --exec: attach and detach in the VMM's /dev; refused once it has exited"

	# ---- launch: the VMM in its launcher's namespace ------------------------------
	printf '{ "name": "l1", "user": "nobody", "memory": "1GiB", "memlock": { "hard_limit": "4MiB" } }\n' \
		>"$specs/l1.json"
	pipes l
	as_nobody "$VFIOJAIL" launch l1 --socket "$sock" -- "$WORK/opener" \
		<"$WORK/cmd.l" >"$WORK/resp.l" 2>"$WORK/l1.err" &
	launch_pid=$!
	exec 3>"$WORK/cmd.l" 4<"$WORK/resp.l"
	started l1
	vmm=$(jq -r .vmm /run/vfiojail/l1.json)
	expect "open $HOST/dev/x" EPERM
	expect "setmemlock 1048576" ok
	capture "$VFIOJAIL" status l1
	assert_contains "$out" "l1 (launch)" "status names the kind"
	capture "$VFIOJAIL" status l1 --json
	assert_eq "$(jq -r .kind <<<"$out")" launch "status --json names the kind"
	capture "$VFIOJAIL" list --json
	assert_eq "$(jq -r '.jails[] | select(.name == "l1") | .kind' <<<"$out")" launch "list --json names the kind"

	capture "$VFIOJAIL" attach l1 --device /dev/x
	assert_eq "$rc" 0 "attach to a launch jail ($err)"
	assert_contains "$err" "launcher's mount namespace" "says the nodes are the launcher's"
	expect "open $HOST/dev/x" ENXIO
	assert_eq "$(limits "$vmm")" "4194304 4194304" "attach raised the VMM's soft limit to the plan"
	[[ ! -e /dev/x ]] || fail "attach made a node in the launcher's /dev"
	capture "$VFIOJAIL" status l1
	assert_eq "$rc" 0 "status after attach: no drift ($out)"
	pass "launch: attach opens the device in the filter and raises memlock; the nodes stay the launcher's"

	reused_pid_refused l1 /dev/x
	expect "open $HOST/dev/x" ENXIO
	pass "launch: a state whose VMM start time is another process's is refused, nothing changed"

	capture "$VFIOJAIL" detach l1 --device /dev/x
	assert_eq "$rc" 0 "detach from a launch jail ($err)"
	assert_contains "$err" "launcher's mount namespace" "says the nodes are the launcher's"
	expect "open $HOST/dev/x" EPERM
	capture "$VFIOJAIL" status l1
	assert_eq "$rc" 0 "status after detach: no drift ($out)"
	echo quit >&3
	exec 3>&- 4<&-
	wait "$launch_pid" || fail "launch exited with $?: $(cat "$WORK/l1.err")"
	for _ in $(seq 100); do [[ -e /run/vfiojail/l1.json ]] || break; sleep 0.05; done
	nothing_left
	pass "launch: detach refuses the device again; the service removes the jail when the VMM exits"
}
in_container gpu-iommufd hotplug_kinds_tests
