#!/usr/bin/env bash
# podman reads the CDI spec `vfiojail cdi` wrote into /var/run/cdi and starts a
# container with `--device vfiojail.dev/vm=NAME`: the container sees exactly the VM's
# nodes with the plan's owner and mode, an unlisted node is EPERM, its RLIMIT_MEMLOCK
# is the plan's (set by the createRuntime hook), and the VM's user in it gets the
# iommufd context through the hand-off with `vfiojail launch`, through the read-only
# mount of the hand-off directory.  After the container and
# `vfiojail teardown`, nothing is left: no CDI leftovers of vfiojail's, no hand-off
# daemon, socket or directory.
source "$(dirname "$0")/lib.sh"
command -v podman >/dev/null || skip "podman is not installed"
command -v runc >/dev/null || skip "runc is not installed"

gpu_host_for_runtimes
name=vjpod$$
spec="$WORK/$name.json"
gpu_vm_spec "$name" >"$spec"
cdi=/var/run/cdi/vfiojail-$name.json
mkdir -p /var/run/cdi
on_exit "rm -f $cdi; $VFIOJAIL teardown $name >/dev/null 2>&1"
capture "$VFIOJAIL" cdi "$spec" "${roots[@]}" --vfiojail "$VFIOJAIL" --timeout 30
assert_eq "$rc" 0 "cdi ($err)"
echo "$out" >"$cdi"

rootfs=$WORK/rootfs
mkdir -p "$rootfs"/{usr,etc,proc,sys,dev,tmp,run,out}
for d in bin sbin lib lib64; do ln -s "usr/$d" "$rootfs/$d"; done
mknod -m 0666 "$WORK/loop-control" c 10 237
cat >"$WORK/inside.sh" <<'INSIDE'
# As the VM's user (--user), the pod's launcher with its one changed line.
ls -ln /dev/vfio/devices/vfio0 /dev/iommu >/out/nodes.txt 2>&1
find /dev \( -type c -o -type b \) -not -path "/dev/pts/*" | sort >/out/dev.txt
while read -r _ _ _ _ mp opts _; do [[ $mp == /run/vfiojail-handoff ]] && echo "$opts"; done </proc/self/mountinfo >/out/mount.txt
exec "$VFIOJAIL" launch -- "$VFIOJAIL_VM" -- /probe --env VFIOJAIL_FD_IOMMUFD0 \
	--open /dev/vfio/devices/vfio0 --open /loop-control --out /out/r.json \
	-object iommufd,id=iommufd0,fd=@fd:iommufd0@ 2>/out/launch.err
INSIDE
chmod 0755 "$WORK/inside.sh"
cname=vfiojail-podman-test-$$
# podman's cgroupfs manager makes the parent in every hierarchy and leaves it: ours, removed.
cgparent=/vfiojail-podman-test.$$
on_exit "for d in /sys/fs/cgroup/*$cgparent /sys/fs/cgroup$cgparent; do [ -d \$d ] && find \$d -depth -type d -exec rmdir {} + 2>/dev/null; done; true"
on_exit "podman rm -f $cname >/dev/null 2>&1"
capture timeout 180 podman run --rm --name "$cname" --runtime runc --network none \
	--ulimit nofile=20000:20000 --ulimit nproc=32768:32768 --user 65534:65534 \
	--cgroupns private --cgroup-parent "$cgparent" \
	-v /usr:/usr:ro -v "$VJ_BUILD_ROOT:$VJ_BUILD_ROOT:ro" -v "$WORK/probe:/probe:ro" \
	-v "$WORK/inside.sh:/inside.sh:ro" -v "$WORK/out:/out" -v "$WORK/loop-control:/loop-control" \
	-e "VFIOJAIL=$VFIOJAIL" --device "vfiojail.dev/vm=$name" --rootfs "$rootfs" /bin/bash /inside.sh
assert_eq "$rc" 0 "podman run --device vfiojail.dev/vm=$name ($err; $(cat "$WORK/out/launch.err" 2>/dev/null); $(cat "/run/vfiojail/handoff/$name.log" 2>/dev/null))"
r() { jq -r "$1" "$WORK/out/r.json"; }
nodes=$(cat "$WORK/out/nodes.txt")
assert_contains "$nodes" "crw------- 1 65534 65534" "the VM's nodes with the plan's owner and mode ($nodes)"
assert_eq "$(grep -c . <<<"$nodes")" 2 "both planned nodes exist ($nodes)"
want=$( (printf '%s\n' /dev/null /dev/zero /dev/full /dev/random /dev/urandom /dev/tty
	jq -r '.devices[0].containerEdits.deviceNodes[].path' "$cdi") | sort | tr '\n' ' ')
assert_eq "$(tr '\n' ' ' <"$WORK/out/dev.txt")" "$want" \
	"the container's device nodes: exactly the VM's and the runtime's defaults"
assert_eq "$(r '[.uid, .gid] | join(" ")')" "65534 65534" "the VMM runs as the VM's user"
assert_eq "$(r '[.memlock.soft, .memlock.hard] | join(" ")')" "4194304 4194304" \
	"RLIMIT_MEMLOCK from the createRuntime hook"
assert_eq "$(r '.fds | join(" ")')" "0 1 2 3" "the context from the hand-off on fd 3"
assert_eq "$(cut -d, -f1 "$WORK/out/mount.txt")" "ro" \
	"the hand-off directory is mounted read-only, and the socket works through it ($(cat "$WORK/out/mount.txt"))"
assert_eq "$(r '.opens | map(.error // "ok") | join(" ")')" "ENXIO EPERM" \
	"the VFIO cdev is allowed (the fixture's driver answers ENXIO), an unlisted node is EPERM"
assert_contains "$(cat "/run/vfiojail/handoff/$name.log")" "iommufd context(s) handed to pid" "the hand-off is logged"
pass "podman 4.3 with the CDI spec: the VM's nodes and limit, the context on fd 3 through a read-only mount, EPERM elsewhere"

for _ in $(seq 100); do pgrep -f "hook create-runtime.*$name" >/dev/null || break; sleep 0.05; done
pgrep -f "hook create-runtime.*$name" >/dev/null && fail "the hand-off daemon outlived the container" || true
[[ ! -e /run/vfiojail/handoff/$name/handoff.sock ]] || fail "the socket outlived the container"
capture "$VFIOJAIL" teardown "$name"
assert_eq "$rc" 0 "teardown ($err)"
[[ ! -e /run/vfiojail/handoff/$name ]] || fail "the hand-off directory is left"
rm -f "$cdi"
left=$(find /run/vfiojail -mindepth 1 2>/dev/null || true)
[[ -z "$left" ]] || fail "state left: $left"
pass "after the container and teardown nothing of the VM's is left"
