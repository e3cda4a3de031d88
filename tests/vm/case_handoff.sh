#!/usr/bin/env bash
# The Kubernetes path's hand-off on the real kernel: root runs `vfiojail handoff` for a
# VM with a "pod" as the reference (a pid and mount namespace, in a cgroup of its own,
# as a container runtime makes them); the VM user (nobody), inside that pod, runs the
# unprivileged `vfiojail launch` against the hand-off's socket.
#  - the handed context reads back per-process (IOMMU_OPTION GET by the VMM) in the
#    pod's mount namespace;
#  - two VMs of nobody, real QEMU (10 or 11) with 64 MiB of RAM each under a 96 MiB
#    RLIMIT_MEMLOCK, each started through its own hand-off, both run (the per-user
#    accounting of case_two_vms' baseline fails the second);
#  - QEMU on the legacy backend through a hand-off that hands no context;
#  - another uid, and nobody outside the pod, are refused (status 3), and a second
#    client too: the contexts went once. Nothing is left.
source "$(dirname "$0")/lib.sh"

LIMIT=$((96 << 20))
mycg=$(sed -n 's/^0:://p' /proc/self/cgroup)
mycg=${mycg%/}
pod_cg=/sys/fs/cgroup$mycg/pod
mkdir "$pod_cg"
on_exit "rmdir '$pod_cg' 2>/dev/null"
# The pod: its init (sleep) in a pid and mount namespace of its own, in its cgroup.
bash -c 'echo $$ >"$1/cgroup.procs"; exec unshare --pid --fork --mount --propagation private sleep 900' _ "$pod_cg" &
holder=$!
for _ in $(seq 100); do pod=$(pgrep -P "$holder" || true); [[ -n "$pod" ]] && break; sleep 0.05; done
[[ -n "$pod" ]] || fail "the pod did not start"
# unshare --fork ignores SIGTERM; the pod ends with its init.
on_exit "kill -9 $pod 2>/dev/null; wait $holder 2>/dev/null"
spec_for() { # NAME BDF
	printf '{ "name": "%s", "user": "nobody", "memory": "64MiB", "iommufd": [ { "id": "iommufd0" } ],
  "hostdevs": [ { "pci": "%s" } ], "memlock": { "hard_limit": %s } }\n' "$1" "$2" "$LIMIT" >"$T/$1.json"
}
spec_for h1 "$EDU_A"
spec_for h2 "$EDU_B"
handoff() { # NAME TIMEOUT: the node's side, in the background; socket /run/vjho-NAME.sock
	rm -f "/run/vjho-$1.sock"
	"$VFIOJAIL" handoff "$T/$1.json" --pid "$pod" --socket "/run/vjho-$1.sock" --timeout "$2" 2>"$T/$1.handoff.log" &
	eval "ho_$1=\$!"
	for _ in $(seq 200); do [[ -S /run/vjho-$1.sock ]] && break; sleep 0.05; done
	[[ -S /run/vjho-$1.sock ]] || fail "the hand-off of $1 did not start: $(cat "$T/$1.handoff.log")"
}
# in_pod USER -- command: in the pod's cgroup, pid and mount namespace, as USER, under
# the memlock limit the CDI createRuntime hook would have set.
in_pod() {
	local u=$1
	shift 2
	bash -c 'echo $$ >"$1/cgroup.procs"; shift; exec "$@"' _ "$pod_cg" \
		nsenter --target "$pod" --pid --mount -- prlimit "--memlock=$LIMIT:$LIMIT" \
		setpriv --reuid="$u" --regid="$u" --clear-groups --inh-caps=-all --bounding-set=-all -- "$@"
}

# ---- the handed context, read back in the pod -------------------------------------------
handoff h1 30
chmod 0666 /run/vjho-h1.sock # others reach it: the hand-off's checks, not the mode, refuse them
capture in_pod daemon -- "$VFIOJAIL" launch --socket /run/vjho-h1.sock -- h1 -- "$VMTOOL" mode @fd:iommufd0@
assert_eq "$rc" 3 "another uid in the pod is refused ($err)"
capture prlimit "--memlock=$LIMIT:$LIMIT" setpriv --reuid=65534 --regid=65534 --clear-groups -- \
	"$VFIOJAIL" launch --socket /run/vjho-h1.sock -- h1 -- "$VMTOOL" mode @fd:iommufd0@
assert_eq "$rc" 3 "nobody outside the pod is refused ($err)"
chmod 0600 /run/vjho-h1.sock
capture in_pod 65534 -- "$VFIOJAIL" launch --socket /run/vjho-h1.sock -- h1 -- "$VMTOOL" mode @fd:iommufd0@
assert_eq "$rc" 0 "the pod's launcher gets the context ($err; $(cat "$T/h1.handoff.log"))"
assert_eq "$out" per-process "the handed context's accounting mode, read in the pod's mount namespace"
capture in_pod 65534 -- "$VFIOJAIL" launch --socket /run/vjho-h1.sock -- h1 -- "$VMTOOL" mode @fd:iommufd0@
assert_eq "$rc" 3 "a second client is refused ($err)"
assert_contains "$err" "one client, once" "says why"
kill -TERM "$ho_h1"
wait "$ho_h1" && hrc=0 || hrc=$?
assert_eq "$hrc" 0 "the hand-off ends, having handed over"
log=$(cat "$T/h1.handoff.log")
assert_eq "$(grep -c "refused pid" <<<"$log")" 3 "each refusal is logged ($log)"
pass "hand-off: the context reads back per-process in the pod; refused: another uid, outside the pod, a second client"

# ---- the CDI createRuntime hook's daemon, strict per-process accounting -----------------
# As a runtime runs it: the OCI state on stdin; the hand-off directory bound into the
# pod's mount namespace where the CDI spec mounts it.
capture "$VFIOJAIL" hook create-runtime --timeout 30 --spec-json "$(jq -c . "$T/h1.json")" \
	<<<"{\"ociVersion\": \"1.0.2\", \"id\": \"pod\", \"pid\": $pod}"
assert_eq "$rc" 0 "hook create-runtime ($err)"
[[ -S $STATE/handoff/h1/handoff.sock ]] || fail "the hook's hand-off does not listen: $(cat "$STATE/handoff/h1.log")"
nsenter --target "$pod" --mount -- sh -c "mkdir -p /run/vfiojail-handoff && mount --bind '$STATE/handoff/h1' /run/vfiojail-handoff"
capture in_pod 65534 -- env VFIOJAIL_SOCKET=/run/vfiojail-handoff/handoff.sock "$VFIOJAIL" launch -- h1 -- "$VMTOOL" mode @fd:iommufd0@
assert_eq "$rc" 0 "the pod's launcher, socket from VFIOJAIL_SOCKET ($err; $(cat "$STATE/handoff/h1.log"))"
assert_eq "$out" per-process "the hook's context reads back per-process"
assert_eq "$(awk '/^Max locked memory/ { print $4 }' "/proc/$pod/limits")" "$LIMIT" "the hook set the pod's RLIMIT_MEMLOCK"
capture "$VFIOJAIL" hook poststop -- h1 <<<'{"ociVersion": "1.0.2", "id": "pod"}'
assert_eq "$rc" 0 "hook poststop ($err)"
[[ ! -e $STATE/handoff/h1/handoff.sock ]] || fail "poststop left the socket"
pgrep -f "hook create-runtime" >/dev/null && fail "the hook's daemon outlived poststop" || true
nsenter --target "$pod" --mount -- umount /run/vfiojail-handoff
capture "$VFIOJAIL" teardown h1
assert_eq "$rc" 0 "teardown removes the hand-off directory ($err)"
[[ ! -e $STATE/handoff ]] || fail "the hand-off directory is left"
pass "CDI hooks on the real kernel: create-runtime's daemon hands a per-process context into the pod; poststop and teardown leave nothing"

# ---- two VMs of nobody, real QEMU, each through its own hand-off ------------------------
restore=()
for n in "$(cdev_of "$EDU_A")" "$(cdev_of "$EDU_B")"; do
	restore+=("chown $(stat -c %u:%g "$n") $n; chmod $(stat -c %a "$n") $n")
	chown 65534:65534 "$n" # as the CDI spec's deviceNodes make them
	chmod 0600 "$n"
done
on_exit "$(printf '%s; ' "${restore[@]}")"
qemu_in_pod() { # NAME BDF
	# shellcheck disable=SC2046
	vm_start "$1" "$T/$1.log" -- in_pod 65534 -- "$VFIOJAIL" launch --socket "/run/vjho-$1.sock" -- "$1" -- \
		"${QEMU_VM[@]}" $(edu_vm_args "$1" "$2" @fd:iommufd0@)
}
handoff h1 120
handoff h2 120
qemu_in_pod h1 "$EDU_A"
p1=$vm_pid
vm_wait_qmp h1 "$p1" || fail "VM 1 did not start: $(cat "$T/h1.log"); $(cat "$T/h1.handoff.log")"
qemu_in_pod h2 "$EDU_B"
p2=$vm_pid
vm_wait_qmp h2 "$p2" || fail "VM 2 did not start: $(cat "$T/h2.log"); $(cat "$T/h2.handoff.log")"
for v in h1 h2; do
	q=
	for c in $(pgrep -f "$(qmp_sock "$v")"); do
		[[ "$(readlink "/proc/$c/exe")" == "$QEMU_EXE" ]] && q=$c
	done
	assert_eq "$(edus_in_vm "$v")" '["hd0"]' "$v has its device"
	[[ -n "$q" ]] || fail "no QEMU process of $v"
	assert_eq "$(awk '/^Uid:/ { print $2 }' "/proc/$q/status")" 65534 "$v's QEMU runs as nobody"
	pin=$(vmpin "$q")
	[[ $pin -ge 65536 ]] || fail "$v pins $pin kB, less than its RAM"
	[[ $((pin * 1024)) -le $LIMIT ]] || fail "$v pins $pin kB, above its $LIMIT bytes"
	eval "pin_$v=$pin"
done
# shellcheck disable=SC2154
pass "two VMs of nobody through hand-offs: VmPin $pin_h1 kB and $pin_h2 kB, $((pin_h1 + pin_h2)) kB in all under a $((LIMIT >> 10)) kB limit each"
vm_quit h1 "$p1"
assert_eq "$rc" 0 "VM 1 quits"
vm_quit h2 "$p2"
assert_eq "$rc" 0 "VM 2 quits"
kill -TERM "$ho_h1" "$ho_h2" 2>/dev/null || true
wait "$ho_h1" "$ho_h2" 2>/dev/null || true

# ---- the legacy backend through a hand-off --------------------------------------------
# No context to hand over: the hand-off gives the plan's memlock and no fd; QEMU in the
# pod opens the group node (the CDI spec's deviceNodes make it the VM user's).
printf '{ "name": "h3", "user": "nobody", "memory": "64MiB",
  "hostdevs": [ { "pci": "%s", "backend": "legacy" } ], "memlock": { "hard_limit": %s } }\n' "$EDU_L" "$LIMIT" >"$T/h3.json"
g=$(group_of "$EDU_L")
on_exit "chown $(stat -c %u:%g "/dev/vfio/$g") /dev/vfio/$g; chmod $(stat -c %a "/dev/vfio/$g") /dev/vfio/$g"
chown 65534:65534 "/dev/vfio/$g"
chmod 0600 "/dev/vfio/$g"
handoff h3 120
vm_start h3 "$T/h3.log" -- in_pod 65534 -- "$VFIOJAIL" launch --socket /run/vjho-h3.sock -- h3 -- \
	"${QEMU_VM[@]}" -m 64M $(qmp_args h3) -device vfio-pci,host="$EDU_L",id=hd0
p3=$vm_pid
vm_wait_qmp h3 "$p3" || fail "the legacy VM did not start: $(cat "$T/h3.log"); $(cat "$T/h3.handoff.log")"
q=
for c in $(pgrep -f "$(qmp_sock h3)"); do
	[[ "$(readlink "/proc/$c/exe")" == "$QEMU_EXE" ]] && q=$c
done
[[ -n "$q" ]] || fail "no QEMU process of h3"
assert_eq "$(edus_in_vm h3)" '["hd0"]' "h3 has its device"
fds=$(ls -l "/proc/$q/fd" | awk '{ print $NF }')
assert_contains "$fds" "/dev/vfio/$g" "QEMU opened group $g"
[[ "$fds" != *"/dev/iommu"* ]] || fail "a legacy VM holds an iommufd context"
lck=$(vmlck "$q")
[[ $lck -ge 65536 && $((lck * 1024)) -le $LIMIT ]] || fail "type1 locked $lck kB: not between the RAM and the plan's $LIMIT bytes"
assert_contains "$(cat "$T/h3.handoff.log")" "0 iommufd context(s) handed to pid" "the hand-off handed no context, once"
pass "QEMU $QEMU_MAJOR on the legacy backend through a hand-off: group $g, VmLck $lck kB"
vm_quit h3 "$p3"
assert_eq "$rc" 0 "the legacy VM quits"
kill -TERM "$ho_h3" 2>/dev/null || true
wait "$ho_h3" 2>/dev/null || true
kill -9 "$pod" 2>/dev/null || true
wait "$holder" 2>/dev/null || true
for _ in $(seq 100); do grep -q "populated 0" "$pod_cg/cgroup.events" && break; sleep 0.05; done
rmdir "$pod_cg"
rm -rf "$STATE/handoff"
assert_guest_clean
pass "both quit; the hand-offs ended; nothing left"
