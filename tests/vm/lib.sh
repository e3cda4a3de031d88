# SPDX-License-Identifier: LGPL-2.1-or-later
# Shared by the VM suite's cases (tests/vm/case_*.sh), run as root inside the guest that
# tools/vmtest boots: a real kernel (6.12 or 7.2) with iommufd, VFIO cdevs and groups, an
# emulated intel-iommu (x86_64) or two SMMUv3 instances (the arm64 stack), and edu
# devices bound to vfio-pci. The assertions and cleanups are the integration suite's
# (tests/integration/lib.sh).
: "${VJ_SOURCE_ROOT:?}" "${VJ_BUILD_ROOT:?}" "${VJ_QEMU_DIR:?}" "${OUT:?}"
export VFIOJAIL=$VJ_BUILD_ROOT/src/vfiojail
export PROBE=$VJ_BUILD_ROOT/tests/probe OPENER=$VJ_BUILD_ROOT/tests/opener
export VMTOOL=$VJ_BUILD_ROOT/tests/vmtool QMP=$VJ_SOURCE_ROOT/tests/vm/qmp
export FAULTINJECT=$VJ_BUILD_ROOT/tests/faultinject.so
export VJ_FIXTURES=$VJ_SOURCE_ROOT/tests/fixtures
# shellcheck source=../integration/lib.sh
source "$VJ_SOURCE_ROOT/tests/integration/lib.sh"

# The guest's architecture (tools/vmtest: x86_64, or aarch64 on the arm64 stack) and its
# QEMU: qemu-system-x86_64 in VJ_QEMU_DIR, or the one VJ_QEMU_BIN names.
VJ_ARCH=${VJ_ARCH:-x86_64}
QEMU=${VJ_QEMU_BIN:-$VJ_QEMU_DIR/usr/bin/qemu-system-x86_64}
# What a running QEMU looks like: its /proc/PID/exe, and a string of its command line
# (the stack's QEMU may be started through a loader: tools/vmtest sets both).
QEMU_EXE=${VJ_QEMU_EXE:-$(readlink -f "$QEMU")}
QEMU_MATCH=${VJ_QEMU_MATCH:-$QEMU}
# The stack (tools/vmtest --stack) and its QEMU's major version, for the cases' lines.
VJ_STACK=${VJ_STACK:-bookworm}
QEMU_MAJOR=$("$QEMU" --version | sed -n 's/^QEMU emulator version \([0-9]*\)\..*/\1/p')
# The inner VM: TCG inside the guest, paused (-S): its devices are realized and its RAM
# is mapped for DMA, which is all that pins memory; no firmware needs to run.
# On arm64, QEMU's virt machine (no firmware: -S never runs it).
if [[ $VJ_ARCH == aarch64 ]]; then
	QEMU_MACHINE=(-machine virt,accel=tcg -cpu max)
else
	QEMU_MACHINE=(-machine q35,accel=tcg)
fi
QEMU_VM=("$QEMU" -L "$VJ_QEMU_DIR/usr/share/qemu" "${QEMU_MACHINE[@]}" -nodefaults
	-display none -S)
# not_here WHAT WHY: a line that tools/vmtest shows under the case's verdict: part of the
# case does not apply to this stack, and why.
not_here() { echo "not applicable on this stack: $1: $2"; }
STATE=/run/vfiojail BPFFS=/sys/fs/bpf/vfiojail
T=$(mktemp -d /tmp/vmcase.XXXXXX)
chmod 1777 "$T"
on_exit "rm -rf '$T'"
on_exit "vm_reap"

# ---- the guest's devices (tools/vmtest's layout) --------------------------------------
edus=()
for d in /sys/bus/pci/devices/*; do
	[[ "$(cat "$d/vendor"):$(cat "$d/device")" == 0x1234:0x11e8 ]] && edus+=("${d##*/}")
done
# The arm64 guest has a fifth, behind its second SMMUv3 (EDU_C).
want_edus=4
[[ $VJ_ARCH == aarch64 ]] && want_edus=5
[[ ${#edus[@]} -eq $want_edus ]] || fail "expected $want_edus edu devices, found ${#edus[@]}: ${edus[*]}"
EDU_A=${edus[0]} EDU_B=${edus[1]} EDU_L=${edus[2]} EDU_S=${edus[3]} EDU_C=${edus[4]:-}
NIC=$(basename "$(dirname "$(grep -l 0x100e /sys/bus/pci/devices/*/device)")")

sysfs_dev() { cat "/sys/bus/pci/devices/$1/$2"; }
cdev_of() { echo "/dev/vfio/devices/$(ls "/sys/bus/pci/devices/$1/vfio-dev")"; }
cdev_majmin() { cat "/sys/bus/pci/devices/$1/vfio-dev/$(ls "/sys/bus/pci/devices/$1/vfio-dev")/dev"; }
group_of() { basename "$(readlink "/sys/bus/pci/devices/$1/iommu_group")"; }
node_majmin() { stat -c '%Hr:%Lr' "$1"; } # of a device node, as ls -l shows it
iommu_majmin() { cat /sys/class/misc/iommu/dev; }

# ---- VMs -------------------------------------------------------------------------------
# spec NAME MEMORY HOSTDEV-JSON [EXTRA-JSON-MEMBERS]: a spec file for user nobody; prints its path.
spec() {
	local f=$T/$1.json
	printf '{ "name": "%s", "user": "nobody", "memory": "%s", "hostdevs": %s%s }\n' \
		"$1" "$2" "$3" "${4:+, $4}" >"$f"
	echo "$f"
}

_vms=()
# vm_start NAME LOG -- COMMAND...: start COMMAND (vfiojail run ..., or QEMU itself) in the
# background; its pid in $vm_pid, its QMP socket is $T/NAME.qmp (the caller passes it).
vm_start() {
	local name=$1 log=$2
	shift 3
	"$@" </dev/null >"$log" 2>&1 &
	vm_pid=$!
	_vms+=("$vm_pid")
}
qmp_sock() { echo "$T/$1.qmp"; }
qmp_args() { echo "-qmp" "unix:$(qmp_sock "$1"),server=on,wait=off"; }
# vm_wait_qmp NAME PID: wait until QEMU answers on its socket (or PID exits): 0 or 1.
vm_wait_qmp() {
	local i
	for i in $(seq 600); do
		[[ -S "$(qmp_sock "$1")" ]] && "$QMP" "$(qmp_sock "$1")" query-status >/dev/null 2>&1 && return 0
		kill -0 "$2" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}
qmp() { "$QMP" "$(qmp_sock "$1")" "${@:2}"; }
# edu_vm_args NAME BDF [FD]: QEMU's arguments for a 64 MiB VM NAME with BDF on an iommufd
# context: QEMU opens /dev/iommu itself, or is handed FD ("@fd:iommufd0@" through vfiojail).
edu_vm_args() {
	echo "-m 64M $(qmp_args "$1") -object iommufd,id=iommufd0${3:+,fd=$3} -device vfio-pci,host=$2,iommufd=iommufd0,id=hd0"
}
# The qdev ids of the edu devices (1234:11e8) VM NAME's query-pci lists, as a JSON array.
edus_in_vm() { qmp "$1" query-pci | jq -c '[.[].devices[] | select(.id.vendor == 4660 and .id.device == 4584) | .qdev_id]'; }
# The QEMU process of VM NAME: the one in its cgroup (run, enter), or PID when that is QEMU.
qemu_pid_of() { # NAME [PID]
	local p
	if [[ -n "${2:-}" && "$(readlink "/proc/$2/exe")" == "$QEMU_EXE" ]]; then
		echo "$2"
		return
	fi
	for p in $(cat "/sys/fs/cgroup/vfiojail-$1/cgroup.procs" 2>/dev/null); do
		[[ "$(readlink "/proc/$p/exe")" == "$QEMU_EXE" ]] && { echo "$p"; return; }
	done
	return 1
}
# Pinned memory of a process in KiB: iommufd charges pinned_vm (VmPin), type1 locked_vm (VmLck).
vmpin() { awk '/^VmPin:/ { print $2 }' "/proc/$1/status"; }
vmlck() { awk '/^VmLck:/ { print $2 }' "/proc/$1/status"; }
# vm_quit NAME PID: QMP quit, then the exit status of PID in $rc.
vm_quit() {
	qmp "$1" quit >/dev/null 2>&1 || true
	vm_wait "$2"
}
vm_wait() {
	local i
	for i in $(seq 300); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
	set +e
	wait "$1"
	rc=$?
	set -e
}
# After a failed case: QEMU killed first (its supervisor then cleans up and exits), then
# whatever jail is still listed is torn down.
vm_reap() {
	local p n rc # rc: vm_wait's, not the exit status _run_cleanups keeps
	pkill -9 -f "$QEMU" 2>/dev/null || true
	for p in "${_vms[@]}"; do
		for _ in $(seq 30); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$p" 2>/dev/null || true # not QEMU, or a supervisor that did not end
		wait "$p" 2>/dev/null || true
	done
	for n in $("$VFIOJAIL" list --json 2>/dev/null | jq -r '.jails[].name' 2>/dev/null); do
		"$VFIOJAIL" teardown --kill "$n" >/dev/null 2>&1 || true
	done
}

# Nothing of vfiojail's left in the guest: no VM cgroup, pin, state, mount or VMM process,
# and no memory still pinned by anyone.
assert_guest_clean() {
	local left
	left=$(find /sys/fs/cgroup -mindepth 1 -maxdepth 3 -type d -name 'vfiojail*' 2>/dev/null || true)
	[[ -z "$left" ]] || fail "cgroups left: $left"
	left=$(find "$BPFFS" -mindepth 1 2>/dev/null || true)
	[[ -z "$left" ]] || fail "bpffs pins left: $left"
	left=$(find "$STATE" -mindepth 1 2>/dev/null || true)
	[[ -z "$left" ]] || fail "state left: $left"
	left=$(grep vfiojail /proc/self/mountinfo || true)
	[[ -z "$left" ]] || fail "mounts left: $left"
	left=$(pgrep -f "$QEMU_MATCH" || true)
	[[ -z "$left" ]] || fail "QEMU processes left: $left"
	left=$(grep -l '^VmPin:[[:space:]]*[1-9]' /proc/[0-9]*/status 2>/dev/null || true)
	[[ -z "$left" ]] || fail "pinned memory left in: $left"
}
