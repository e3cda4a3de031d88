#!/usr/bin/env bash
# Failures on the real kernel, each leaving nothing (cgroup, pin, state, mount, process,
# pinned memory):
#  - a QEMU holding pinned guest RAM killed with SIGKILL, supervised (run exits 137) and
#    with --exec (then teardown);
#  - a jail from setup whose entered QEMU is killed: teardown --kill;
#  - the kernel refusing the VM's cgroup (cgroup.max.descendants): 125;
#  - each syscall vfiojail makes failing in turn (tests/faultinject.c), with the real
#    /dev/iommu, VFIO cdev and strict accounting: a documented exit status, a step named.
source "$(dirname "$0")/lib.sh"

s=$(spec fk 64MiB "[ { \"pci\": \"$EDU_A\" } ]")
qargs=(-m 64M -object iommufd,id=iommufd0,fd=@fd:iommufd0@ -device vfio-pci,host="$EDU_A",iommufd=iommufd0)

vm_start fk "$T/fk.log" -- "$VFIOJAIL" run "$s" -- "${QEMU_VM[@]}" $(qmp_args fk) "${qargs[@]}"
vm_wait_qmp fk "$vm_pid" || fail "QEMU did not start: $(cat "$T/fk.log")"
q=$(qemu_pid_of fk)
[[ $(vmpin "$q") -gt 0 ]] || fail "QEMU pins nothing"
kill -9 "$q"
vm_wait "$vm_pid"
assert_eq "$rc" 137 "run's status for a QEMU killed by SIGKILL"
assert_guest_clean
pass "supervised QEMU killed with SIGKILL: 137, its pins released, nothing left"

vm_start fk "$T/fk2.log" -- "$VFIOJAIL" run "$s" --exec -- "${QEMU_VM[@]}" $(qmp_args fk) "${qargs[@]}"
vm_wait_qmp fk "$vm_pid" || fail "QEMU (--exec) did not start: $(cat "$T/fk2.log")"
kill -9 "$vm_pid"
vm_wait "$vm_pid"
assert_eq "$rc" 137 "an --exec QEMU killed by SIGKILL"
capture "$VFIOJAIL" teardown fk
assert_eq "$rc" 0 "teardown after the --exec QEMU died ($err)"
assert_guest_clean
pass "--exec QEMU killed with SIGKILL: teardown leaves nothing"

capture "$VFIOJAIL" setup "$s"
assert_eq "$rc" 0 "setup ($err)"
vm_start fk "$T/fk3.log" -- "$VFIOJAIL" enter fk -- "${QEMU_VM[@]}" $(qmp_args fk) "${qargs[@]}"
vm_wait_qmp fk "$vm_pid" || fail "QEMU (enter) did not start: $(cat "$T/fk3.log")"
capture "$VFIOJAIL" teardown fk
assert_eq "$rc" 1 "teardown while QEMU runs refuses ($err)"
capture "$VFIOJAIL" teardown --kill fk
assert_eq "$rc" 0 "teardown --kill ($err)"
vm_wait "$vm_pid"
assert_eq "$rc" 137 "enter's status for its killed QEMU"
assert_guest_clean
pass "setup + enter: teardown refuses while QEMU runs, --kill ends it, nothing left"

mkdir /sys/fs/cgroup/vmtest-full
on_exit "rmdir /sys/fs/cgroup/vmtest-full"
echo 0 >/sys/fs/cgroup/vmtest-full/cgroup.max.descendants
capture "$VFIOJAIL" run "$s" --cgroup-parent /vmtest-full -- /bin/true
assert_eq "$rc" 125 "run under a cgroup that may have no child ($err)"
assert_contains "$err" "vfiojail-fk" "the error names the cgroup"
assert_guest_clean
pass "the kernel refuses the cgroup: 125, nothing left: $(head -1 <<<"$err")"

# Each call of each syscall failing in turn, on the real kernel.
WORK=$T
mkdir -p "$T/out"
chmod 1777 "$T/out"
cases=0 started=0 refused=0
for c in mkdir:EPERM write:ENOSPC bpf:EPERM mount:ENOMEM mknod:EPERM chown:EPERM \
	setrlimit:EPERM open:ENOMEM ioctl:EPERM ioctl:ENOTTY fork:ENOMEM execve:ENOMEM; do
	name=${c%%:*} errno=${c#*:}
	for n in $(seq 1 30); do
		inject "$name" "$n" "$errno" -- "$VFIOJAIL" run --name fk --user nobody --memory 64MiB --hostdev "$EDU_A" -- \
			"$PROBE" --open "$(cdev_of "$EDU_A")" --out "$T/out/report.json"
		[[ -s "$T/out/hit" ]] || break
		what="run with $name call $n failing $errno"
		cases=$((cases + 1))
		case $rc in
		0)
			[[ -s "$T/out/report.json" ]] || fail "$what: exit 0 but the VMM did not run"
			assert_eq "$(jq -r '.uid, .caps.eff' "$T/out/report.json" | xargs)" "65534 0000000000000000" "$what: privileges"
			started=$((started + 1))
			;;
		125 | 126 | 127)
			grep -q '^vfiojail: [a-z]*: ' <<<"$err" || fail "$what: no step named in [$err]"
			[[ ! -e "$T/out/report.json" ]] || fail "$what: failed, yet the VMM ran"
			refused=$((refused + 1))
			;;
		*) fail "$what: undocumented exit status $rc ($err)" ;;
		esac
		assert_guest_clean
	done
	# Progress for tools/vmtest's stall watch (the matrix takes minutes on arm64).
	echo "fault matrix: $name ($errno) done, $cases cases so far"
done
[[ $refused -gt 10 ]] || fail "only $refused injected failures refused a launch"
pass "fault matrix on the real kernel: $cases cases, $refused refused with a named step, $started started unharmed, nothing left"
