#!/usr/bin/env bash
# The Kubernetes path on the fixture host: `vfiojail cdi` writes a CDI spec for a VM;
# `vfiojail handoff` (what the spec's createRuntime hook runs) gives the VM's iommufd
# contexts once to one process of the "pod" (a pid namespace in a cgroup of its own),
# which runs the unprivileged `vfiojail launch` and becomes the VMM with the context on
# fd 3.  Refused, each with its reason in the log: another uid, a process outside the
# pod's pid namespace, one outside its cgroup, a second client, a late client; a
# hand-off nobody takes times out.  The spec mounts the hand-off directory read-only, and
# cdi says the spec belongs in /var/run/cdi.  teardown leaves nothing.
# (test_handoff_trust.sh attacks what the hand-off and the hooks trust.)
source "$(dirname "$0")/lib.sh"
command -v nsenter >/dev/null || skip "nsenter is needed to enter the pod's pid namespace"
command -v unshare >/dev/null || skip "unshare is needed to make the pod's pid namespace"

handoff_tests() {
	gpu_host_vm1
	chmod 0755 "$WORK"
	spec="$WORK/vm1.json"
	gpu_vm_spec "vm1" >"$spec"

	# --- The CDI spec ------------------------------------------------------------
	capture "$VFIOJAIL" cdi "$spec" "${roots[@]}" --vfiojail /usr/bin/vfiojail
	assert_eq "$rc" 0 "cdi ($err)"
	echo "$out" >"$WORK/cdi.json"
	cq() { jq -r "$1" "$WORK/cdi.json"; }
	assert_eq "$(cq .cdiVersion)/$(cq .kind)/$(cq '.devices[0].name')" "0.3.0/vfiojail.dev/vm/vm1" \
		"the lowest CDI version that carries it, the kind, the VM's name"
	node() { cq ".devices[0].containerEdits.deviceNodes[] | select(.path == \"$1\") | \"\(.type) \(.major):\(.minor) \(.uid):\(.gid) \(.fileMode) \(.permissions)\""; }
	pq() { "$VFIOJAIL" plan "$spec" "${roots[@]}" --json | jq -r "$1"; }
	assert_eq "$(node /dev/vfio/devices/vfio0)" "c $(pq '.nodes[] | select(.path == "/dev/vfio/devices/vfio0") | "\(.major):\(.minor)"') 65534:65534 384 rw" \
		"the VFIO cdev as planned: numbers, owner, mode 0600"
	assert_eq "$(node /dev/iommu)" "c 1:3 65534:65534 384 rw" "/dev/iommu as planned"
	assert_eq "$(node /dev/null)" "" "the nodes every OCI runtime makes itself are left to it"
	assert_eq "$(cq '.devices[0].containerEdits.deviceNodes | length')" \
		"$(pq '[.nodes[].path | select(. != "/dev/null" and . != "/dev/zero" and . != "/dev/full" and . != "/dev/random" and . != "/dev/urandom" and . != "/dev/tty" and . != "/dev/ptmx")] | length')" \
		"every other planned node is in the spec"
	assert_eq "$(cq '.devices[0].containerEdits.env | join(" ")')" \
		"VFIOJAIL_VM=vm1 VFIOJAIL_SOCKET=/run/vfiojail-handoff/handoff.sock VFIOJAIL_MEMLOCK=4194304" "the pod's environment"
	assert_eq "$(cq '.devices[0].containerEdits.mounts[0] | "\(.hostPath) \(.containerPath)"')" \
		"/run/vfiojail/handoff/vm1 /run/vfiojail-handoff" "the hand-off directory is mounted"
	assert_eq "$(cq '.devices[0].containerEdits.mounts[0].options | join(",")')" "bind,ro,nosuid,nodev,noexec" \
		"read-only: the pod can change nothing where root's daemon makes the socket"
	# The spec outlives what it mounts when kept in /etc/cdi (a reboot, a teardown).
	assert_contains "$err" "note: install this spec in /var/run/cdi, not /etc/cdi: it mounts /run/vfiojail/handoff/vm1" \
		"cdi says where the spec belongs"
	[[ -d /run/vfiojail/handoff/vm1 ]] || fail "cdi made no hand-off directory"
	assert_eq "$(cq '[.devices[0].containerEdits.hooks[] | "\(.hookName) \(.path) \(.args[1]) \(.args[2])"] | join(", ")')" \
		"createRuntime /usr/bin/vfiojail hook create-runtime, poststop /usr/bin/vfiojail hook poststop" "the hooks"
	assert_eq "$(cq '.devices[0].containerEdits.hooks[0].args[-1]' | jq -r .user)" 65534 "the hook carries the spec"
	capture "$VFIOJAIL" cdi --name 1vm --user nobody "${roots[@]}"
	assert_eq "$(jq -r .cdiVersion <<<"$out")" 0.5.0 "a name that starts with a digit needs CDI 0.5.0 ($err)"
	capture "$VFIOJAIL" cdi --name "vm one" --user nobody "${roots[@]}"
	assert_eq "$rc" 2 "a name CDI cannot carry ($err)"
	assert_contains "$err" "cannot name a CDI device" "says why"
	capture "$VFIOJAIL" cdi --name vm2 --user nobody --memory 1GiB --hostdev 0009:99:00.0 "${roots[@]}"
	assert_eq "$rc" 125 "cdi refuses what plan refuses ($err)"
	"$VFIOJAIL" teardown 1vm
	pass "cdi: the VM's nodes, environment, hand-off mount and hooks, in CDI 0.3.0"

	# --- The hand-off --------------------------------------------------------------
	# The pod: a pid namespace whose init (sleep) is in a cgroup of its own.
	mkdir "$CG/pod"
	bash -c 'echo $$ >"$1/cgroup.procs"; exec unshare --pid --fork sleep 600' _ "$CG/pod" &
	unshare_pid=$!
	for _ in $(seq 100); do cpid=$(pgrep -P "$unshare_pid" || true); [[ -n "$cpid" ]] && break; sleep 0.05; done
	[[ -n "$cpid" ]] || fail "the pod did not start"
	# unshare --fork ignores SIGTERM; the pod ends with its init.
	on_exit "kill -9 $cpid 2>/dev/null"
	sock="$WORK/handoff.sock"
	"$VFIOJAIL" handoff "$spec" "${roots[@]}" --pid "$cpid" --socket "$sock" --timeout 6 2>"$WORK/handoff.log" &
	server=$!
	on_exit "kill $server 2>/dev/null"
	for _ in $(seq 100); do [[ -S "$sock" ]] && break; sleep 0.05; done
	[[ -S "$sock" ]] || fail "handoff did not start: $(cat "$WORK/handoff.log")"
	assert_eq "$(stat -c '%U %a' "$sock")" "nobody 600" "the socket is the VM user's alone"
	# in_pod CGROUP USER -- command: in the pod's pid namespace, in CGROUP, as USER.
	# (LeakSanitizer cannot stop the world in a pid namespace entered with nsenter:
	# the ASan build checks the launch client's leaks in test_serve instead.)
	in_pod() {
		bash -c 'echo $$ >"$1/cgroup.procs"; shift; u=$1; shift; exec nsenter --target "$0" --pid -- setpriv --reuid="$u" --regid="$(id -gn "$u")" --clear-groups -- "$@"' \
			"$cpid" "$1" "$2" env "ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" "${@:4}"
	}
	launch=("$VFIOJAIL" launch --socket "$sock" -- vm1 -- "$WORK/probe" --env VFIOJAIL_FD_IOMMUFD0
		--out "$WORK/out/r.json" -object iommufd,id=iommufd0,fd=@fd:iommufd0@)
	chmod 0755 "$WORK/out"
	chmod 0777 "$WORK/out"
	# Refusals first: each is answered (status 3) and logged with its reason.
	chmod 0666 "$sock"   # so that others reach it at all: the checks, not the mode, refuse them
	capture in_pod "$CG/pod" daemon -- "${launch[@]}"
	assert_eq "$rc" 3 "another uid is refused ($err)"
	assert_contains "$err" "is not the VM's user" "says why"
	capture bash -c 'echo $$ >"$1/cgroup.procs"; shift; exec setpriv --reuid=nobody --regid=nogroup --clear-groups -- "$@"' _ "$CG/pod" "${launch[@]}"
	assert_eq "$rc" 3 "a process outside the pod's pid namespace is refused ($err)"
	assert_contains "$err" "not in the container's pid namespace" "says why"
	capture in_pod "$CG" nobody -- "${launch[@]}"
	assert_eq "$rc" 3 "a process outside the pod's cgroup is refused ($err)"
	assert_contains "$err" "is not the container's" "says why"
	chmod 0600 "$sock"
	# A pod whose vfiojail speaks another protocol (as a newer one would, "VJ9"): the
	# answer says which vfiojail the image needs, and the hand-off goes on.
	capture in_pod "$CG/pod" nobody -- /usr/bin/python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
s.connect(sys.argv[1])
s.send(b"VJ9\0vm1\0")
f = s.recv(4096).split(b"\0")
print("status=%s message=%s hint=%s" % (f[0].decode(), f[4].decode(), f[5].decode()))' "$sock"
	assert_eq "$rc" 0 "the mismatched client got an answer ($err)"
	version=$("$VFIOJAIL" version | cut -d" " -f2)
	assert_contains "$out" "status=2 message=the request is not a vfiojail launch request of protocol VJ1 or VJC1, which vfiojail $version here speaks" \
		"a mismatched pod's vfiojail is told the node's protocol and version"
	assert_contains "$out" "hint=the client's vfiojail must speak this one's protocol: use vfiojail $version in the pod's image" \
		"and what to put in the image"
	[[ ! -e "$WORK/out/r.json" ]] || fail "a refused client ran"
	# The pod's process of the VM's user gets the context and becomes the VMM.
	capture in_pod "$CG/pod" nobody -- "${launch[@]}"
	assert_eq "$rc" 0 "the pod's launcher gets the contexts ($err; $(cat "$WORK/handoff.log"))"
	rq() { jq -r "$1" "$WORK/out/r.json"; }
	assert_eq "$(rq '[.uid, .gid] | join(" ")')" "65534 65534" "the VMM runs as the VM's user"
	assert_eq "$(rq '.fds | join(" ")')" "0 1 2 3" "the context on fd 3"
	assert_eq "$(rq .env.VFIOJAIL_FD_IOMMUFD0)/$(rq '.argv[-1]')" "3/iommufd,id=iommufd0,fd=3" "@fd:iommufd0@ and VFIOJAIL_FD_IOMMUFD0"
	assert_eq "$(rq .memlock.soft)" 4194304 "the soft RLIMIT_MEMLOCK of the plan"
	assert_contains "$(cat "$WORK/handoff.log")" "iommufd context(s) handed to pid" "the hand-off is logged"
	assert_contains "$(cat "$WORK/handoff.log")" "(uid 65534 gid 65534)" "with the peer"
	# Once: a second client of the right kind is refused.
	capture in_pod "$CG/pod" nobody -- "${launch[@]}"
	assert_eq "$rc" 3 "a second client is refused ($err)"
	assert_contains "$err" "one client, once" "says why"
	wait "$server" && hrc=0 || hrc=$?
	assert_eq "$hrc" 0 "the hand-off ends when its time is up, having handed over"
	[[ ! -e "$sock" ]] || fail "the socket outlived the hand-off"
	log=$(cat "$WORK/handoff.log")
	assert_eq "$(grep -c "refused pid" <<<"$log")" 5 "every refusal is logged ($log)"
	assert_contains "$log" "refused pid" "with the peer"
	# Late: nothing listens any more.
	capture in_pod "$CG/pod" nobody -- "${launch[@]}"
	assert_eq "$rc" 125 "a late client finds no hand-off ($err)"
	# Nobody comes: the hand-off says so and ends.
	capture "$VFIOJAIL" handoff "$spec" "${roots[@]}" --pid "$cpid" --socket "$sock" --timeout 1
	assert_eq "$rc" 1 "a hand-off nobody takes times out ($err)"
	assert_contains "$err" "no client took the contexts within 1 s" "says so"
	# Strict accounting by default: this fixture's /dev/iommu cannot do per-process.
	capture "$VFIOJAIL" handoff "$spec" --sysfs-root "$HOST/sys" --dev-root "$HOST/dev" --pid "$cpid" --socket "$sock" --timeout 1
	assert_eq "$rc" 125 "no per-process accounting: no hand-off ($err)"
	[[ ! -e "$sock" ]] || fail "a socket without contexts"
	kill -9 "$cpid" 2>/dev/null || true
	wait "$unshare_pid" 2>/dev/null || true
	for _ in $(seq 100); do grep -q "populated 0" "$CG/pod/cgroup.events" && break; sleep 0.05; done
	rmdir "$CG/pod"
	capture "$VFIOJAIL" teardown vm1
	assert_eq "$rc" 0 "teardown ($err)"
	assert_nothing_left "$CG" /run/vfiojail /sys/fs/bpf/vfiojail
	pass "handoff: the contexts go once, to the pod's process of the VM's user; every refusal is logged"
}
in_container gpu-iommufd handoff_tests
