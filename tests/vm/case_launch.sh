#!/usr/bin/env bash
# The launch service on the real kernel: root runs `vfiojail serve` with root's specs in a
# root-owned directory; the VM user (nobody) runs `vfiojail launch NAME -- VMM ...`.
#  - the handed iommufd context reads back per-process (IOMMU_OPTION GET, from the VMM);
#  - real QEMU (10 or 11, by stack) launched that way keeps the launcher's pid, runs as nobody in the VM's
#    cgroup (below the caller's own), attaches the edu device through the handed context,
#    answers QMP, and `quit` exits 0; the service then removes the jail;
#  - two VMs of that user, 64 MiB of RAM each under a 96 MiB RLIMIT_MEMLOCK, both run
#    (the per-user accounting of case_two_vms' baseline would fail the second);
#  - QEMU on the legacy backend (no context: the group node, type1's memlock), launched so;
#  - a launch that fails after the service raised the client's RLIMIT_MEMLOCK (its hard
#    limit below the plan) puts the client's limits back as they were;
#  - another uid asking for the VM is refused (status 3) and nothing is made;
#  - SIGTERM stops the service and removes its socket. Nothing is left.
source "$(dirname "$0")/lib.sh"

LIMIT=$((96 << 20))
specs=/run/vjspecs sock=/run/vjlaunch.sock
mkdir -m 0755 "$specs"
on_exit "rm -rf '$specs'"
grant() { # NAME BDF: root's spec granting VM NAME (EDU BDF, one context) to nobody
	printf '{ "name": "%s", "user": "nobody", "memory": "64MiB", "iommufd": [ { "id": "iommufd0" } ],
  "hostdevs": [ { "pci": "%s" } ], "memlock": { "hard_limit": %s } }\n' "$1" "$2" "$LIMIT" >"$specs/$1.json"
	chmod 0644 "$specs/$1.json"
}
grant l1 "$EDU_A"
grant l2 "$EDU_B"

"$VFIOJAIL" serve --socket "$sock" --spec-dir "$specs" 2>"$T/serve.log" &
serve=$!
on_exit "kill $serve 2>/dev/null; wait $serve 2>/dev/null"
for _ in $(seq 100); do [[ -S "$sock" ]] && break; sleep 0.05; done
[[ -S "$sock" ]] || fail "serve did not start: $(cat "$T/serve.log")"
assert_eq "$(stat -c %a "$sock")" 666 "the socket's mode"

# The VM user, with the RLIMIT_MEMLOCK of case_two_vms' baseline; both exec, so the pid
# a launcher gets from starting this is the launch's, and then the VMM's.
as_nobody=(prlimit "--memlock=$LIMIT:$LIMIT" setpriv --reuid=65534 --regid=65534 --clear-groups
	--inh-caps=-all --bounding-set=-all)
gone() { # NAME: the service removed the jail after its VMM exited
	for _ in $(seq 200); do
		[[ -e $STATE/$1.json || -d /sys/fs/cgroup$mycg/vfiojail-$1 || -e $BPFFS/$1 ]] || break
		sleep 0.05
	done
	[[ ! -e $STATE/$1.json ]] || fail "jail $1's state left: $(cat "$T/serve.log")"
	[[ ! -d /sys/fs/cgroup$mycg/vfiojail-$1 ]] || fail "jail $1's cgroup left"
	[[ ! -e $BPFFS/$1 ]] || fail "jail $1's pin left"
}
mycg=$(sed -n 's/^0:://p' /proc/self/cgroup)
mycg=${mycg%/}
log() { cat "$T/serve.log"; }

# ---- the handed context, read by the VMM (vmtool) -------------------------------------
capture "${as_nobody[@]}" "$VFIOJAIL" launch l1 --socket "$sock" -- "$VMTOOL" mode @fd:iommufd0@
assert_eq "$rc" 0 "launch of vmtool ($err; $(log))"
assert_eq "$out" per-process "the handed context's accounting mode (IOMMU_OPTION GET by the VMM)"
gone l1
assert_contains "$(log)" "VM l1 ended; jail removed" "the service removed the jail"
capture "${as_nobody[@]}" "$VFIOJAIL" launch l1 --socket "$sock" -- sh -c "echo \$VFIOJAIL_FD_IOMMUFD0; exec '$VMTOOL' mode \$VFIOJAIL_FD_IOMMUFD0"
assert_eq "$out" $'3\nper-process' "VFIOJAIL_FD_IOMMUFD0 is fd 3, per-process ($err)"
gone l1
pass "launch: the VMM's context reads back per-process; the jail went with it"

# ---- a launch that fails after the client's limit was raised --------------------------
# The client's hard limit is below the plan: the service raises both (it has
# CAP_SYS_RESOURCE); then the client cannot be moved into the VM's cgroup (the service's
# first write to cgroupfs fails, tests/faultinject.c). The raise is a step of the apply
# engine: undone with the rest, the client's limits are as they were, nothing is left.
low=$((2 << 20)) fsock=/run/vjlaunch-fault.sock
ask_low() { prlimit "--memlock=$low:$low" setpriv --reuid=65534 --regid=65534 --clear-groups -- "$VMTOOL" ask "$1" l1; }
VJ_FAULT=write:1:EBUSY VJ_FAULT_HIT="$T/hit" LD_PRELOAD="$FAULTINJECT" \
	"$VFIOJAIL" serve --socket "$fsock" --spec-dir "$specs" 2>"$T/fserve.log" &
fserve=$!
on_exit "kill $fserve 2>/dev/null; wait $fserve 2>/dev/null"
for _ in $(seq 100); do [[ -S "$fsock" ]] && break; sleep 0.05; done
[[ -S "$fsock" ]] || fail "the second service did not start: $(cat "$T/fserve.log")"
res=$(ask_low "$fsock")
kill "$fserve"
wait "$fserve" 2>/dev/null || true
[[ -s "$T/hit" ]] || fail "the fault did not fire ($res; $(cat "$T/fserve.log"))"
assert_contains "$res" "REFUSED" "the launch fails ($(cat "$T/fserve.log"))"
assert_contains "$res" "cannot move process" "at the client's move into the VM's cgroup"
assert_contains "$res" "memlock $low $low" "the client's RLIMIT_MEMLOCK is as it was: the raise was undone"
assert_guest_clean
# Without the fault: raised to the plan; the jail goes when the client exits.
res=$(ask_low "$sock")
assert_contains "$res" "OK" "the launch succeeds ($(log))"
assert_contains "$res" "memlock $LIMIT $LIMIT" "the service raised the client's limits to the plan"
gone l1
assert_guest_clean
pass "launch: a client's raised RLIMIT_MEMLOCK is put back when a later step fails; nothing left"

# ---- real QEMU, launched by nobody ---------------------------------------------------
# QEMU opens the device's cdev itself (launch makes no /dev): the launcher gives the VM
# user its nodes, as libvirt does.
restore=()
for n in "$(cdev_of "$EDU_A")" "$(cdev_of "$EDU_B")"; do
	restore+=("chown $(stat -c %u:%g "$n") $n; chmod $(stat -c %a "$n") $n")
	chown 65534:65534 "$n"
	chmod 0600 "$n"
done
on_exit "$(printf '%s; ' "${restore[@]}")"
qemu_launch() { # NAME BDF: QEMU launched by nobody through the service; pid in $vm_pid
	# shellcheck disable=SC2046
	vm_start "$1" "$T/$1.log" -- "${as_nobody[@]}" "$VFIOJAIL" launch "$1" --socket "$sock" -- \
		"${QEMU_VM[@]}" $(edu_vm_args "$1" "$2" @fd:iommufd0@)
}
t0=$(date +%s.%N)
qemu_launch l1 "$EDU_A"
l1=$vm_pid
vm_wait_qmp l1 "$l1" || fail "QEMU did not answer QMP: $(cat "$T/l1.log"); $(log)"
t_qmp=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
assert_eq "$(readlink "/proc/$l1/exe")" "$QEMU_EXE" "the launched pid is QEMU"
assert_contains "$(log)" "VM l1 launched for pid $l1 (uid 65534)" "the service saw the launcher's pid"
assert_eq "$(jq -r .vmm "$STATE/l1.json")" "$l1" "the state records the launched pid as the VMM"
assert_eq "$(cat "/proc/$l1/cgroup")" "0::$mycg/vfiojail-l1" "QEMU in the VM's cgroup"
assert_eq "$(cat "/sys/fs/cgroup$mycg/vfiojail-l1/cgroup.procs")" "$l1" "the cgroup holds QEMU only"
assert_eq "$(awk '/^Uid:/ { print $2 }' "/proc/$l1/status")" 65534 "QEMU runs as nobody"
assert_eq "$(awk '/^CapEff:/ { print $2 }' "/proc/$l1/status")" 0000000000000000 "QEMU has no capability"
assert_eq "$(awk '/^NoNewPrivs:/ { print $2 }' "/proc/$l1/status")" 1 "no_new_privs"
assert_eq "$(edus_in_vm l1)" '["hd0"]' "query-pci lists the edu device"
fds=$(ls -l "/proc/$l1/fd" | awk '{ print $NF }')
assert_contains "$fds" "/dev/iommu" "QEMU holds the handed /dev/iommu context"
assert_contains "$fds" "$(cdev_of "$EDU_A")" "QEMU opened the VFIO cdev"
pin=$(vmpin "$l1") lck=$(vmlck "$l1")
[[ $pin -ge 65536 ]] || fail "QEMU pins $pin kB, less than its 64 MiB of RAM"
capture "$VFIOJAIL" status l1 --json
assert_eq "$rc" 0 "status of the launched VM ($out $err)"
pass "QEMU $QEMU_MAJOR launched by nobody: pid $l1 kept, cgroup $mycg/vfiojail-l1, QMP after ${t_qmp}s, VmPin $pin kB, VmLck $lck kB"
vm_quit l1 "$l1"
assert_eq "$rc" 0 "QEMU's exit status after quit ($(cat "$T/l1.log"))"
gone l1
assert_contains "$(log)" "VM l1 ended; jail removed" "the service removed the jail after quit"
assert_guest_clean
pass "quit: exit 0; the service removed the jail (no state, cgroup or pin)"

# ---- two VMs of the same user ---------------------------------------------------------
qemu_launch l1 "$EDU_A"
l1=$vm_pid
vm_wait_qmp l1 "$l1" || fail "VM 1 did not start: $(cat "$T/l1.log"); $(log)"
qemu_launch l2 "$EDU_B"
l2=$vm_pid
vm_wait_qmp l2 "$l2" || fail "VM 2 did not start: $(cat "$T/l2.log"); $(log)"
for v in l1 l2; do
	p=${!v}
	assert_eq "$(cat "/proc/$p/cgroup")" "0::$mycg/vfiojail-$v" "$v's cgroup"
	assert_eq "$(edus_in_vm "$v")" '["hd0"]' "$v has its device"
	assert_eq "$(awk '/^Max locked memory/ { print $4 }' "/proc/$p/limits")" "$LIMIT" "$v's RLIMIT_MEMLOCK"
	pin=$(vmpin "$p")
	[[ $pin -ge 65536 ]] || fail "$v pins $pin kB, less than its RAM"
	[[ $((pin * 1024)) -le $LIMIT ]] || fail "$v pins $pin kB, above its $LIMIT bytes"
	eval "pin_$v=$pin"
done
# shellcheck disable=SC2154
pass "two VMs of nobody through the service: VmPin $pin_l1 kB and $pin_l2 kB, $((pin_l1 + pin_l2)) kB in all under a $((LIMIT >> 10)) kB limit each"
vm_quit l1 "$l1"
assert_eq "$rc" 0 "VM 1 quits"
vm_quit l2 "$l2"
assert_eq "$rc" 0 "VM 2 quits"
gone l1
gone l2
assert_guest_clean

# ---- the legacy backend, launched by nobody --------------------------------------------
# No context: QEMU opens the container and the group node itself, which the launcher
# gives the VM user (libvirt's dynamic ownership does the same); type1 charges its
# RLIMIT_MEMLOCK, which the service raised to the plan.
printf '{ "name": "l3", "user": "nobody", "memory": "64MiB",
  "hostdevs": [ { "pci": "%s", "backend": "legacy" } ], "memlock": { "hard_limit": %s } }\n' "$EDU_L" "$LIMIT" >"$specs/l3.json"
g=$(group_of "$EDU_L")
restore_g="chown $(stat -c %u:%g "/dev/vfio/$g") /dev/vfio/$g; chmod $(stat -c %a "/dev/vfio/$g") /dev/vfio/$g"
on_exit "$restore_g"
chown 65534:65534 "/dev/vfio/$g"
chmod 0600 "/dev/vfio/$g"
vm_start l3 "$T/l3.log" -- "${as_nobody[@]}" "$VFIOJAIL" launch l3 --socket "$sock" -- \
	"${QEMU_VM[@]}" -m 64M $(qmp_args l3) -device vfio-pci,host="$EDU_L",id=hd0
l3=$vm_pid
vm_wait_qmp l3 "$l3" || fail "QEMU on the legacy backend did not start: $(cat "$T/l3.log"); $(log)"
assert_eq "$(readlink "/proc/$l3/exe")" "$QEMU_EXE" "the launched pid is QEMU"
assert_eq "$(cat "/proc/$l3/cgroup")" "0::$mycg/vfiojail-l3" "QEMU in the VM's cgroup"
assert_eq "$(edus_in_vm l3)" '["hd0"]' "query-pci lists the edu device"
fds=$(ls -l "/proc/$l3/fd" | awk '{ print $NF }')
assert_contains "$fds" "/dev/vfio/$g" "QEMU opened group $g"
[[ "$fds" != *"/dev/iommu"* ]] || fail "a legacy VM holds an iommufd context"
lck=$(vmlck "$l3")
[[ $lck -ge 65536 ]] || fail "type1 locked $lck kB, not the 64 MiB of RAM"
[[ $((lck * 1024)) -le $LIMIT ]] || fail "type1 locked $lck kB, above the plan's $LIMIT bytes"
pass "QEMU $QEMU_MAJOR on the legacy backend launched by nobody: group $g, VmLck $lck kB"
vm_quit l3 "$l3"
assert_eq "$rc" 0 "QEMU's exit status after quit ($(cat "$T/l3.log"))"
gone l3
assert_guest_clean

# ---- another uid: refused, nothing made -----------------------------------------------
# shellcheck disable=SC2046
capture timeout 60 setpriv --reuid=daemon --regid=daemon --clear-groups -- "$VFIOJAIL" launch l1 --socket "$sock" -- \
	"${QEMU_VM[@]}" $(edu_vm_args l1 "$EDU_A" @fd:iommufd0@)
assert_eq "$rc" 3 "another uid's launch ($err)"
assert_contains "$err" "uid $(id -u daemon) may not launch it" "the refusal says why"
assert_contains "$(log)" "refused pid" "the service logged the refusal"
[[ ! -e $STATE/l1.json ]] || fail "state made for a refused launch"
assert_guest_clean
pass "uid $(id -u daemon) launching nobody's VM: status 3 ($(head -1 <<<"$err")), nothing made"

# ---- the service stops -----------------------------------------------------------------
kill -TERM "$serve"
set +e
wait "$serve"
src=$?
set -e
[[ ! -e $sock ]] || fail "the socket was left after SIGTERM"
assert_guest_clean
pass "serve stopped by SIGTERM (status $src), its socket removed, nothing left"
