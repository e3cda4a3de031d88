#!/usr/bin/env bash
# Hostdevs handed to real QEMU (10 or 11, by stack) as open fds ("fd": ID): vfiojail opens
# the edu device's VFIO cdev, checks it against sysfs and hands it after the context;
# QEMU takes it with -device vfio-pci,iommufd=iommufd0,fd=@fd:ID@ (QEMU 8.2 and later).
#  - run: the device in query-pci, its RAM pinned, QEMU holding the cdev by that fd only:
#    no VFIO node in its /dev, and even root in the VM's cgroup gets EPERM opening the
#    host's cdev (the filter has no rule for it); the context the VMM gets reads back
#    per-process next to the cdev fd;
#  - launch: nobody launches QEMU through the service with the cdev left root's 0600 (no
#    node is given to the VM user), and QEMU attaches the device through the fd;
#  - a node planted at the cdev path with another device number: 125, nothing left.
source "$(dirname "$0")/lib.sh"

cdev=$(cdev_of "$EDU_A")
majmin=$(cdev_majmin "$EDU_A")
s=$(spec fd1 64MiB "[ { \"pci\": \"$EDU_A\", \"fd\": \"edu0\" } ]")
fd_vm_args() { # NAME
	echo "-m 64M $(qmp_args "$1") -object iommufd,id=iommufd0,fd=@fd:iommufd0@ -device vfio-pci,iommufd=iommufd0,fd=@fd:edu0@,id=hd0"
}
# no_vfio_access NAME PID CGROUP: PID's /dev has no VFIO node, and a root process in the
# VM's cgroup is refused the host's cdev by the filter.
no_vfio_access() {
	local left
	left=$(nsenter --mount --target "$2" -- find /dev -path '*vfio*' 2>&1 || true)
	if [[ "$1" == run ]]; then
		assert_eq "$left" "" "$1: no VFIO node in QEMU's /dev"
	fi
	capture bash -c 'echo $$ >"$1/cgroup.procs" && exec 3<>"$2"' _ "$3" "$cdev"
	assert_eq "$rc" 1 "$1: root in the VM's cgroup opening $cdev ($err)"
	assert_contains "$err" "Operation not permitted" "$1: the filter refuses the cdev"
}

# ---- the plan on the real kernel ---------------------------------------------------------
capture "$VFIOJAIL" plan "$s" --json
assert_eq "$rc" 0 "plan ($err)"
assert_eq "$(jq -r '.hostdevs[0] | "\(.fd) \(.node) \(.major):\(.minor)"' <<<"$out")" "edu0 $cdev $majmin" "plan: handed as fd edu0, the cdev sysfs names"
assert_eq "$(jq -r "[.nodes[].path | select(startswith(\"/dev/vfio\"))] | length" <<<"$out")" 0 "plan: no VFIO node"
assert_eq "$(jq -r "[.rules[] | select(\"\(.major):\(.minor)\" == \"$majmin\")] | length" <<<"$out")" 0 "plan: no rule for the cdev"

# ---- the context per-process beside the cdev fd (vmtool, as nobody) --------------------
capture "$VFIOJAIL" run "$s" -- sh -c "'$VMTOOL' mode @fd:iommufd0@; echo @fd:edu0@ \$VFIOJAIL_FD_EDU0 \$(stat -Lc '%Hr:%Lr' /proc/self/fd/@fd:edu0@)"
assert_eq "$rc" 0 "run of vmtool ($err)"
assert_eq "$out" $'per-process\n4 4 '"$majmin" "the context reads per-process (fd 3), the cdev is fd 4 ($majmin)"
pass "the VMM gets the context per-process and the cdev at @fd:edu0@"

# ---- run: real QEMU attaches the device through the fd ------------------------------------
# shellcheck disable=SC2046
vm_start fd1 "$T/fd1.log" -- "$VFIOJAIL" run "$s" -- "${QEMU_VM[@]}" $(fd_vm_args fd1)
vm_wait_qmp fd1 "$vm_pid" || fail "QEMU did not answer QMP: $(cat "$T/fd1.log")"
q=$(qemu_pid_of fd1) || fail "no QEMU under the supervisor"
assert_eq "$(awk '/^Uid:/ { print $2 }' "/proc/$q/status")" 65534 "QEMU runs as nobody"
assert_eq "$(edus_in_vm fd1)" '["hd0"]' "query-pci lists the edu device"
assert_eq "$(readlink "/proc/$q/fd/4")" "$cdev" "QEMU's fd 4 is the cdev vfiojail opened"
assert_eq "$(stat -Lc '%Hr:%Lr' "/proc/$q/fd/4")" "$majmin" "of the device sysfs names"
pin=$(vmpin "$q")
[[ $pin -ge 65536 ]] || fail "QEMU pins $pin kB, not its 64 MiB of RAM"
no_vfio_access run "$q" /sys/fs/cgroup/vfiojail-fd1
capture "$VFIOJAIL" status fd1 --json
assert_eq "$(jq -r '.hostdevs[0].fd' <<<"$out")" edu0 "status: handed as fd edu0"
pass "run: QEMU $QEMU_MAJOR attached $EDU_A through fd 4 (VmPin $pin kB); no VFIO node in its /dev, EPERM by the filter"
vm_quit fd1 "$vm_pid"
assert_eq "$rc" 0 "run's exit status after quit ($(cat "$T/fd1.log"))"
assert_guest_clean

# ---- launch: the service sends the cdev fd -------------------------------------------------
specs=/run/vjspecs-fds sock=/run/vjlaunch-fds.sock
mkdir -m 0755 "$specs"
on_exit "rm -rf '$specs'"
printf '{ "name": "fl", "user": "nobody", "memory": "64MiB", "hostdevs": [ { "pci": "%s", "fd": "edu0" } ],
  "memlock": { "hard_limit": %s } }\n' "$EDU_A" $((96 << 20)) >"$specs/fl.json"
"$VFIOJAIL" serve --socket "$sock" --spec-dir "$specs" 2>"$T/serve.log" &
serve=$!
on_exit "kill $serve 2>/dev/null; wait $serve 2>/dev/null"
for _ in $(seq 100); do [[ -S "$sock" ]] && break; sleep 0.05; done
[[ -S "$sock" ]] || fail "serve did not start: $(cat "$T/serve.log")"
assert_eq "$(stat -c '%u %a' "$cdev")" "0 600" "the cdev stays root's 0600: nothing is given to the VM user"
mycg=$(sed -n 's/^0:://p' /proc/self/cgroup)
mycg=${mycg%/}
# shellcheck disable=SC2046
vm_start fl "$T/fl.log" -- prlimit --memlock=$((96 << 20)) setpriv --reuid=65534 --regid=65534 --clear-groups \
	--inh-caps=-all --bounding-set=-all "$VFIOJAIL" launch fl --socket "$sock" -- "${QEMU_VM[@]}" $(fd_vm_args fl)
l=$vm_pid
vm_wait_qmp fl "$l" || fail "QEMU did not answer QMP: $(cat "$T/fl.log"); $(cat "$T/serve.log")"
assert_eq "$(readlink "/proc/$l/exe")" "$QEMU_EXE" "the launched pid is QEMU"
assert_eq "$(edus_in_vm fl)" '["hd0"]' "query-pci lists the edu device"
assert_eq "$(readlink "/proc/$l/fd/4")/$(stat -Lc '%Hr:%Lr' "/proc/$l/fd/4")" "$cdev/$majmin" "QEMU's fd 4 is the cdev the service opened"
no_vfio_access launch "$l" "/sys/fs/cgroup$mycg/vfiojail-fl"
pin=$(vmpin "$l")
[[ $pin -ge 65536 ]] || fail "QEMU pins $pin kB, not its 64 MiB of RAM"
pass "launch: QEMU $QEMU_MAJOR as nobody attached $EDU_A through the service's fd 4 (VmPin $pin kB), the cdev left root's 0600"
vm_quit fl "$l"
assert_eq "$rc" 0 "QEMU's exit status after quit ($(cat "$T/fl.log"))"
for _ in $(seq 200); do [[ -e $STATE/fl.json ]] || break; sleep 0.05; done
kill -TERM "$serve"
wait "$serve" || true
assert_guest_clean

# ---- a planted node: 125, nothing left ----------------------------------------------------
mv "$cdev" "$cdev.real"
on_exit "[[ -e '$cdev.real' ]] && rm -f '$cdev' && mv '$cdev.real' '$cdev'"
mknod -m 0600 "$cdev" c 1 3
capture "$VFIOJAIL" run "$s" -- "$VMTOOL" mode @fd:iommufd0@
assert_eq "$rc" 125 "a node with another device number ($err)"
assert_contains "$err" "$cdev is not the VFIO device of $EDU_A: it is char 1:3, sysfs says char $majmin" "names the node"
rm -f "$cdev"
mv "$cdev.real" "$cdev"
assert_guest_clean
pass "a planted node at the cdev path: 125, nothing left"
