# SPDX-License-Identifier: LGPL-2.1-or-later
# Shared by the integration tests: assertions, fixture hosts and throwaway containers.
# Each test is a bash script run by meson with VFIOJAIL, PROBE, VJ_FIXTURES and
# VJ_SOURCE_ROOT set.  A test prints "SKIP: reason" and exits 77 only when the kernel
# lacks a feature it needs.
set -euo pipefail

: "${VFIOJAIL:?}" "${VJ_FIXTURES:?}" "${VJ_SOURCE_ROOT:?}"
MKDEVROOT="$VJ_SOURCE_ROOT/tests/mkdevroot"
CG2=$(awk '$9 == "cgroup2" { print $5; exit }' /proc/self/mountinfo)
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:verify_asan_link_order=0}

# The plan a state file keeps (STATE), through a jq FILTER (default "."), with its
# lists of records as objects whatever the file's form: from version 5 the state
# keeps the lists of single-value records (nodes, rules, iommufd, bars) as
# {"columns": [...], "rows": [[...]...]}, `plan --json` and older states as objects.
state_plan() { # STATE [FILTER] (jq -rc)
	jq -rc '.plan | walk(if type == "object" and has("columns") and has("rows")
		then .columns as $c | [.rows[] | [$c, .] | transpose | map({(.[0]): .[1]}) | add] else . end) | '"${2:-.}" "$1"
}

_cleanups=()
on_exit() { _cleanups+=("$1"); }
_run_cleanups() {
	local rc=$? i
	for ((i = ${#_cleanups[@]} - 1; i >= 0; i--)); do eval "${_cleanups[i]}" || true; done
	exit $rc
}
trap _run_cleanups EXIT

fail() {
	echo "FAIL: $*" >&2
	exit 1
}
skip() {
	echo "SKIP: $*"
	exit 77
}
pass() { echo "ok - $*"; }

assert_eq() { # ACTUAL EXPECTED WHAT
	[[ "$1" == "$2" ]] || fail "$3: expected [$2], got [$1]"
}
assert_contains() { # HAYSTACK NEEDLE WHAT
	[[ "$1" == *"$2"* ]] || fail "$3: [$2] not found in: $1"
}
# Run "$@", capturing stdout in $out, stderr in $err and the exit status in $rc.
capture() {
	local o e
	o=$(mktemp) e=$(mktemp)
	set +e
	"$@" >"$o" 2>"$e"
	rc=$?
	set -e
	out=$(cat "$o") err=$(cat "$e")
	rm -f "$o" "$e"
}

# A fixture host in a fresh temp dir: $HOST/sys and $HOST/dev (stand-in nodes).
make_host() { # FIXTURE -> sets HOST
	local work
	work=$(mktemp -d /tmp/vfiojail-test.XXXXXX)
	chmod 0755 "$work"
	on_exit "rm -rf '$work'"
	"$MKDEVROOT" "$VJ_FIXTURES/$1" "$work/host"
	HOST="$work/host"
	WORK="$work"
}

# No cgroup, pin, state or mount of ours left.
assert_nothing_left() { # CGROUP_DIR STATE_DIR BPFFS
	local left
	left=$(find "$1" -mindepth 1 -type d 2>/dev/null || true)
	[[ -z "$left" ]] || fail "cgroups left: $left"
	left=$(find "$2" -mindepth 1 2>/dev/null || true)
	[[ -z "$left" ]] || fail "state left: $left"
	left=$(find "$3" -mindepth 1 2>/dev/null || true)
	[[ -z "$left" ]] || fail "bpffs pins left: $left"
}

# in_container FIXTURE FUNCTION [ARG...]
# in_container FIXTURE SCRIPT
# Run FUNCTION ARG... (a bash function the test file defines), or the bash text
# SCRIPT, in a throwaway container: new mount, pid, ipc and uts namespaces, a
# private /run and bpffs, its own cgroup subtree, and the fixture host at $HOST
# (with the real /dev/pts and /dev/shm bound into $HOST/dev).  It runs under
# `set -euo pipefail` with lib.sh sourced; variables exported before the call are
# visible to it, and so is every function defined before the call (the container's
# bash gets them from `declare -f`).  Everything is removed afterwards, whatever it
# did; returns its status.
in_container() {
	local fixture=$1 script=$2 cg rc=0
	shift 2
	if [[ "$script" =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] && declare -F "$script" >/dev/null; then
		# Every function defined so far (lib.sh's again, unchanged), then the call.
		script="$(declare -f)"$'\n'"$(printf '%q ' "$script" "$@")"
	elif (($#)); then
		fail "in_container: arguments are for a function, and $script is none"
	fi
	[[ -n "$CG2" ]] || skip "no cgroup2 mount"
	make_host "$fixture"
	cp "${PROBE:?}" "$WORK/probe"
	chmod 0755 "$WORK/probe"
	mkdir -m 1777 "$WORK/out"  # where the VM user writes its reports
	cg="$CG2/vfiojail-test.$$.$RANDOM"
	mkdir "$cg"
	export HOST WORK CG="$cg"
	set +e
	(
		echo 0 >"$cg/cgroup.procs"
		exec unshare --mount --pid --ipc --uts --fork --mount-proc --propagation private \
			bash -euo pipefail -c '
				mount -t tmpfs -o mode=0755 tmpfs /run
				mount -t bpf bpf /sys/fs/bpf
				for d in pts shm; do
					mkdir -p "$HOST/dev/$d"
					mount --bind "/dev/$d" "$HOST/dev/$d"
				done
				source "$VJ_SOURCE_ROOT/tests/integration/lib.sh"
				'"$script"
	)
	rc=$?
	set -e
	container_cleanup "$cg"
	return $rc
}

# Make the fixture host's /dev/iommu a node of a real driver (null, 1:3) that answers
# ENOTTY to IOMMU_OPTION, as a kernel without it would; sysfs says the same number,
# as it would on a real host.
iommu_answers_enotty() {
	rm -f "$HOST/dev/iommu"
	mknod -m 0660 "$HOST/dev/iommu" c 1 3
	echo "1:3" >"$HOST/sys/class/misc/iommu/dev"
}

# In a container on the bundled GPU host: its /dev/iommu answers ENOTTY, $roots are the
# host-root flags (with best-effort accounting, which that needs) and $vm a small VM vm1
# as nobody with the GPU, under a memlock limit this machine's root can set.
gpu_host_vm1() {
	iommu_answers_enotty
	roots=(--sysfs-root "$HOST/sys" --dev-root "$HOST/dev" --iommufd-accounting=best-effort)
	vm=(--name vm1 --user nobody --memory 1GiB --hostdev 0009:06:00.0 --memlock-hard-limit 4MiB)
}

# The fault and crash matrices' jail (in a container on the bundled GPU host): $roots,
# $vm (jail vj, as nobody, with the GPU), a stand-in node $HOST/dev/x to hotplug, $max
# calls to try per syscall, the mount count before; hit says whether the injected
# fault fired; count KIND tallies a case in $cases and ${per[KIND]}.
jail_matrix_host() {
	iommu_answers_enotty
	mknod -m 0666 "$HOST/dev/x" c 242 0
	roots=(--sysfs-root "$HOST/sys" --dev-root "$HOST/dev" --iommufd-accounting=best-effort)
	vm=(--name vj --user nobody --memory 1G --hostdev 0009:06:00.0 --memlock-hard-limit 4MiB)
	max=${VJ_FAULT_MAX_N:-40}
	mounts_before=$(wc -l </proc/self/mountinfo)
	cases=0
	declare -gA per=()
}
hit() { [[ -s "$WORK/out/hit" ]]; }
count() { cases=$((cases + 1)); per[$1]=$((${per[$1]:-0} + 1)); }

# The bundled GPU host for a real container runtime (outside in_container): its
# /dev/iommu answers ENOTTY, the probe and $WORK/out reachable from a container, and
# $roots as gpu_host_vm1 sets them.
gpu_host_for_runtimes() {
	make_host gpu-iommufd
	iommu_answers_enotty
	cp "$PROBE" "$WORK/probe"
	chmod 0755 "$WORK/probe" "$WORK"
	mkdir -m 0777 "$WORK/out"
	roots=(--sysfs-root "$HOST/sys" --dev-root "$HOST/dev" --iommufd-accounting=best-effort)
}

# The spec of VM NAME on the bundled GPU host, as root installs it for the Kubernetes
# path: nobody, the GPU on iommufd context iommufd0, a memlock limit root can set here.
gpu_vm_spec() { # NAME
	printf '{ "name": "%s", "user": "nobody", "memory": "1GiB", "iommufd": [ { "id": "iommufd0" } ],
  "hostdevs": [ { "pci": "0009:06:00.0" } ], "memlock": { "hard_limit": "4MiB" } }\n' "$1"
}

# Run "$@" with the Nth call of libc entry NAME failing with ERRNO (tests/faultinject.c);
# sets $rc and $err, and $WORK/out/hit says whether the fault fired.
inject() { # NAME N ERRNO -- command...
	local spec="$1:$2:$3"
	shift 4
	rm -f "$WORK/out/hit" "$WORK/out/report.json"
	set +e
	VJ_FAULT=$spec VJ_FAULT_HIT="$WORK/out/hit" LD_PRELOAD="${FAULTINJECT:?}" "$@" \
		>"$WORK/out/stdout" 2>"$WORK/out/stderr"
	rc=$?
	set -e
	err=$(cat "$WORK/out/stderr")
}

# Kill what is left in a test cgroup subtree and remove it, deepest first.
container_cleanup() {
	local cg=$1 d i
	[[ -d "$cg" ]] || return 0
	if [[ -f "$cg/cgroup.kill" ]]; then
		echo 1 >"$cg/cgroup.kill" 2>/dev/null || true
	fi
	for i in $(seq 50); do
		grep -q "populated 0" "$cg/cgroup.events" 2>/dev/null && break
		sleep 0.1
	done
	find "$cg" -mindepth 1 -depth -type d | while read -r d; do
		for i in $(seq 20); do rmdir "$d" 2>/dev/null && break; sleep 0.05; done
	done
	for i in $(seq 20); do rmdir "$cg" 2>/dev/null && break; sleep 0.05; done
	[[ ! -d "$cg" ]] || echo "warning: could not remove $cg" >&2
}

# serve_start SOCKET SPEC_DIR [ARG...]: root's `vfiojail serve` in the background, its log
# in $WORK/serve.log, once its socket listens; $serve is its pid, stopped on exit (and
# continued first, should a test have stopped it).
serve_start() {
	local sock=$1 specs=$2
	shift 2
	"$VFIOJAIL" serve --socket "$sock" --spec-dir "$specs" "$@" 2>"$WORK/serve.log" &
	serve=$!
	on_exit "kill -CONT $serve 2>/dev/null; kill $serve 2>/dev/null; wait $serve 2>/dev/null"
	for _ in $(seq 100); do [[ -S "$sock" ]] && break; sleep 0.05; done
	[[ -S "$sock" ]] || fail "serve did not start: $(cat "$WORK/serve.log")"
}

# The service's fixture (in a container on the bundled GPU host): root's spec
# directory $specs under /run (not /tmp: a sticky directory above it is refused),
# spec_for NAME USER printing a spec for a VM with the GPU and one context, vm1's spec
# for nobody installed, and the service listening on $sock ($serve, $WORK/serve.log).
# as_nobody runs a command as nobody, rq reads $WORK/out/r.json, nothing_left checks.
serve_fixture() {
	gpu_host_vm1
	specs=/run/vfiojail-specs
	mkdir -m 0755 "$specs"
	chmod 0755 "$WORK"
	spec_for() { # NAME USER -> the spec root installs for it
		printf "{ \"name\": \"%s\", \"user\": \"%s\", \"memory\": \"1GiB\", \"iommufd\": [ { \"id\": \"iommufd0\" } ],
  \"hostdevs\": [ { \"pci\": \"0009:06:00.0\" } ], \"memlock\": { \"hard_limit\": \"4MiB\" } }\n" "$1" "$2"
	}
	spec_for vm1 nobody >"$specs/vm1.json"
	sock="$WORK/launch.sock"
	serve_start "$sock" "$specs" "${roots[@]}"
	as_nobody() { setpriv --reuid=nobody --regid=nogroup --init-groups -- "$@"; }
	rq() { jq -r "$1" "$WORK/out/r.json"; }
	nothing_left() { assert_nothing_left "$CG" /run/vfiojail /sys/fs/bpf/vfiojail; }
}

# A runc bundle in BUNDLE that applies CDI_JSON's device (its first) as a CDI-aware
# runtime (podman, CRI-O) does: its device nodes and their device cgroup entries, its
# environment, its mounts and its hooks (runc runs them for real), in cgroup CGPATH.
# The container's process is the pod's launcher as nobody (a pod's runAsUser), one line
# changed: "vfiojail launch -- $VFIOJAIL_VM --" in front of the probe standing for QEMU,
# which writes /out/r.json ($WORK/out); /out/nodes.txt lists the VM's nodes and
# /out/mount.txt the hand-off mount's options.  Needs gpu_host_for_runtimes.
runc_bundle_from_cdi() { # CDI_JSON BUNDLE CGPATH
	local cdi=$1 bundle=$2 cgpath=$3 d
	mkdir -p "$bundle/rootfs"
	for d in bin sbin lib lib64; do ln -s "usr/$d" "$bundle/rootfs/$d"; done
	[[ -e "$WORK/loop-control" ]] || mknod -m 0666 "$WORK/loop-control" c 10 237
	cat >"$WORK/inside.sh" <<'INSIDE'
ls -ln /dev/vfio/devices/vfio0 /dev/iommu >/out/nodes.txt 2>&1
while read -r _ _ _ _ mp opts _; do [[ $mp == /run/vfiojail-handoff ]] && echo "$opts"; done </proc/self/mountinfo >/out/mount.txt
exec "$VFIOJAIL" launch -- "$VFIOJAIL_VM" -- \
	/probe --env VFIOJAIL_FD_IOMMUFD0 --open /dev/vfio/devices/vfio0 --open /loop-control \
	--out /out/r.json -object iommufd,id=iommufd0,fd=@fd:iommufd0@ 2>/out/launch.err
INSIDE
	(cd "$bundle" && runc spec)
	jq --slurpfile cdi "$cdi" --arg work "$WORK" --arg build "$VJ_BUILD_ROOT" \
		--arg vfiojail "$VFIOJAIL" --arg cgpath "$cgpath" --arg rootfs "$bundle/rootfs" '
		$cdi[0].devices[0].containerEdits as $e
		| .process.terminal = false
		| .process.user = { uid: 65534, gid: 65534 }
		| .process.args = ["/bin/bash", "/inside.sh"]
		| .process.env += $e.env + ["VFIOJAIL=" + $vfiojail]
		| .root = { path: $rootfs, readonly: true }
		| .mounts += [
			{ destination: "/usr", type: "bind", source: "/usr", options: ["rbind", "ro"] },
			{ destination: "/etc", type: "bind", source: "/etc", options: ["rbind", "ro"] },
			{ destination: $build, type: "bind", source: $build, options: ["rbind", "ro"] },
			{ destination: "/probe", type: "bind", source: ($work + "/probe"), options: ["bind", "ro"] },
			{ destination: "/loop-control", type: "bind", source: ($work + "/loop-control"), options: ["bind"] },
			{ destination: "/inside.sh", type: "bind", source: ($work + "/inside.sh"), options: ["bind", "ro"] },
			{ destination: "/out", type: "bind", source: ($work + "/out"), options: ["bind", "rw"] } ]
		| .mounts += [ $e.mounts[] | { destination: .containerPath, source: .hostPath, type: "bind", options: .options } ]
		| .linux.devices = [ $e.deviceNodes[] | { path, type, major, minor, fileMode, uid, gid } ]
		| .linux.resources.devices = [ { allow: false, access: "rwm" } ]
			+ [ $e.deviceNodes[] | { allow: true, type, major, minor, access: .permissions } ]
		| .linux.cgroupsPath = $cgpath
		| .hooks = reduce $e.hooks[] as $h ({}; .[$h.hookName] += [ { path: $h.path, args: $h.args, env: $h.env } ])
		| del(.linux.seccomp)' "$bundle/config.json" >"$bundle/config.new"
	mv "$bundle/config.new" "$bundle/config.json"
}
