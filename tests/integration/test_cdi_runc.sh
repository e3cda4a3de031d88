#!/usr/bin/env bash
# The CDI spec of `vfiojail cdi`, applied by hand to a runc config as a CDI-aware
# runtime (podman, CRI-O) applies it: its device nodes, device cgroup entries,
# environment, hand-off mount and hooks.  runc runs the hooks for real: createRuntime
# (as root on the host, the container's pid in the OCI state on stdin) gives the
# container's process the plan's RLIMIT_MEMLOCK and starts the hand-off; inside, the
# VM's user runs `vfiojail launch` and becomes the VMM with the iommufd context on fd 3;
# an unlisted node is EPERM; the hand-off directory is mounted read-only.  A second
# container with the same device, created while the first's hand-off lives, is refused
# (naming the VM and the first container), and its poststop leaves the first's hand-off
# alone; the first's poststop ends it, teardown removes the rest.
source "$(dirname "$0")/lib.sh"
command -v runc >/dev/null || skip "runc is not installed"
[[ -n "$CG2" ]] || skip "no cgroup2 mount"

gpu_host_for_runtimes
# A name of this run's own: the node's /run/vfiojail is shared with other runs.
name=vjrunc$$
spec="$WORK/$name.json"
gpu_vm_spec "$name" >"$spec"
capture "$VFIOJAIL" cdi "$spec" "${roots[@]}" --vfiojail "$VFIOJAIL" --timeout 30
assert_eq "$rc" 0 "cdi ($err)"
echo "$out" >"$WORK/cdi.json"
on_exit "$VFIOJAIL teardown $name >/dev/null 2>&1"

bundle=$WORK/bundle
bundle2=$WORK/bundle2
id=vfiojail-cdi-test.$$
id2=vfiojail-cdi-test2.$$
cgpath=/$id
mkdir -p "$bundle2"
runc_bundle_from_cdi "$WORK/cdi.json" "$bundle" "$cgpath"
# The second container: the same device, a cgroup of its own.
jq --arg cgpath "/$id2" '.linux.cgroupsPath = $cgpath' "$bundle/config.json" >"$bundle2/config.json"
on_exit "runc delete -f $id >/dev/null 2>&1"
on_exit "runc delete -f $id2 >/dev/null 2>&1"
record=/run/vfiojail/handoff/$name.pid
sock=/run/vfiojail/handoff/$name/handoff.sock

# The first container is created: its createRuntime hook starts the hand-off.
capture timeout 120 runc create --bundle "$bundle" "$id" </dev/null
assert_eq "$rc" 0 "runc create with the CDI edits ($err; $(cat "/run/vfiojail/handoff/$name.log" 2>/dev/null))"
daemon=$(grep -o '[0-9]\+' "$record" | head -1)
[[ -S $sock && -e /proc/$daemon ]] || fail "the hand-off does not listen: $(cat "/run/vfiojail/handoff/$name.log")"
# A second container with the same device, while the first's hand-off lives.
capture timeout 120 runc create --bundle "$bundle2" "$id2" </dev/null
[[ $rc != 0 ]] || fail "a second container with the same VM was created ($err)"
assert_contains "$err" "VM $name is being handed over to container $id" "its createRuntime hook is refused, naming the VM and the first container"
runc delete -f "$id2" >/dev/null 2>&1 || true
# runc ran the second container's poststop: the first's hand-off is untouched.
[[ -e /proc/$daemon ]] || fail "the second container ended the first's hand-off"
[[ -S $sock ]] || fail "the second container removed the first's socket"
# The first container runs.
capture runc start "$id"
assert_eq "$rc" 0 "runc start ($err)"
for _ in $(seq 600); do
	[[ "$(runc state "$id" 2>/dev/null | jq -r .status)" == stopped ]] && break
	sleep 0.1
done
assert_eq "$(runc state "$id" | jq -r .status)" stopped "the container ran to its end ($(cat "$WORK/out/launch.err" 2>/dev/null); $(cat "/run/vfiojail/handoff/$name.log" 2>/dev/null))"
r() { jq -r "$1" "$WORK/out/r.json"; }
[[ -s "$WORK/out/r.json" ]] || fail "the VMM did not run: $(cat "$WORK/out/launch.err" 2>/dev/null); $(cat "/run/vfiojail/handoff/$name.log")"
nodes=$(cat "$WORK/out/nodes.txt")
assert_contains "$nodes" "crw------- 1 65534 65534" "the nodes are the VM user's, mode 0600 ($nodes)"
assert_eq "$(cut -d, -f1 "$WORK/out/mount.txt")" "ro" "the hand-off directory is mounted read-only ($(cat "$WORK/out/mount.txt"))"
assert_eq "$(r '[.uid, .gid] | join(" ")')" "65534 65534" "the VMM runs as the VM's user"
assert_eq "$(r '[.memlock.soft, .memlock.hard] | join(" ")')" "4194304 4194304" \
	"RLIMIT_MEMLOCK from the createRuntime hook (runc gives 8 MiB here)"
assert_eq "$(r '.fds | join(" ")')" "0 1 2 3" "the context from the hand-off on fd 3, through the read-only mount"
assert_eq "$(r .env.VFIOJAIL_FD_IOMMUFD0)/$(r '.argv[-1]')" "3/iommufd,id=iommufd0,fd=3" "@fd:iommufd0@"
assert_eq "$(r '.opens | map(.error // "ok") | join(" ")')" "ENXIO EPERM" \
	"the VFIO cdev is allowed (the fixture's driver answers ENXIO), an unlisted node is EPERM"
log=$(cat "/run/vfiojail/handoff/$name.log")
assert_contains "$log" "iommufd context(s) handed to pid" "the hand-off is logged ($log)"
pass "runc with the CDI spec's edits and hooks: nodes, memlock, the context on fd 3, EPERM elsewhere, a read-only mount"
pass "one hand-off per VM: a second container is refused and its poststop leaves the first's alone"

runc delete -f "$id" >/dev/null 2>&1 || true
[[ ! -e $sock ]] || fail "poststop left the socket"
for _ in $(seq 100); do [[ ! -e /proc/$daemon ]] && break; sleep 0.05; done
[[ ! -e /proc/$daemon ]] || fail "the hand-off daemon outlived poststop"
capture "$VFIOJAIL" teardown "$name"
assert_eq "$rc" 0 "teardown ($err)"
assert_nothing_left "$CG2$cgpath" "/run/vfiojail/handoff/$name" /sys/fs/bpf/vfiojail
[[ ! -e /run/vfiojail/handoff/$name && ! -e $record && ! -e /run/vfiojail/handoff/$name.log ]] || fail "the VM's hand-off is left"
[[ ! -d $CG2$cgpath && ! -d $CG2/$id2 ]] || fail "a container cgroup is left"
pass "poststop ends the hand-off; teardown leaves nothing"
