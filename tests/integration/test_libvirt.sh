#!/usr/bin/env bash
# libvirt end to end: Debian's libvirtd 9.0, private (its own mount and network
# namespaces, private /etc/libvirt, /var/lib/libvirt, /run/libvirt, logs and cache),
# with the documented recipe (docs/LIBVIRT.md): qemu.conf as Debian ships it but for
# the lines in $recipe, vfiojail's launch service, the shipped <emulator> wrapper and
# release hook.  A small TCG domain with a tap NIC and a pty console, named as libvirt
# users do ("lv-b+x"):
#   virsh start -> QEMU runs as libvirt-qemu in its jail (ids, no capabilities, /dev
#   through /proc/PID/root, its cgroup, EPERM on an unlisted node); libvirt tracks
#   QEMU's own pid; the monitor answers; virsh attach-device of a block disk works
#   after vfiojail attach and is refused by the filter without it (and after detach);
#   a libvirtd restart keeps the VM and its jail;
#   virsh destroy, and a QMP quit, each end the VM and its jail; nothing is left.
# The recipe's hook is linked as hooks/qemu.d/vfiojail beside a user's own hooks/qemu,
# and libvirtd runs both; a domain whose <qemu:env> sets VFIOJAIL_SOCKET is launched
# through that socket, not the wrapper's.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/libvirt_lib.sh"
[[ -n "$CG2" ]] || skip "no cgroup2 mount"
id libvirt-qemu >/dev/null 2>&1 || skip "libvirt is not installed (no libvirt-qemu user)"

WORK=$(mktemp -d /tmp/vfiojail-libvirt.XXXXXX)
chmod 0755 "$WORK"
on_exit "rm -rf '$WORK'"
name='lv-b+x'
esc='lv-b\x2bx'
state="$WORK/state"
sock="$WORK/launch.sock"
# Root's specs: every directory above them root's and writable by no one else (not
# below the sticky /tmp).
specs=$(mktemp -d /run/vfiojail-test-specs.XXXXXX)
chmod 0755 "$specs"
on_exit "rm -rf '$specs'"
bin="$WORK/bin"
mkdir -m 0755 "$bin"
# What meson installs, pointed at this build: vfiojail, the wrapper, the hook.
install -m 0755 "$VFIOJAIL" "$bin/vfiojail"
sed -e "s|@QEMU@|/usr/bin/qemu-system-x86_64|" -e "s|@VFIOJAIL@|$bin/vfiojail|" -e "s|@SOCKET@|$sock|" \
	"$VJ_SOURCE_ROOT/tools/libvirt/qemu-wrapper.in" >"$bin/qemu-system-x86_64"
sed -e "s|@VFIOJAIL@|$bin/vfiojail|" -e "s|teardown --if-launched|teardown --state-dir $state --bpffs $WORK/bpffs --if-launched|" \
	"$VJ_SOURCE_ROOT/tools/libvirt/libvirt-hook.in" >"$bin/libvirt-hook"
chmod 0755 "$bin/qemu-system-x86_64" "$bin/libvirt-hook"
# Root grants the domain to libvirt's QEMU user.
cat >"$specs/$esc.json" <<JSON
{ "name": "$name", "user": "libvirt-qemu", "memory": "64MiB" }
JSON
# A bpffs both the service and libvirtd's namespace (where the release hook runs) see,
# as /sys/fs/bpf is on a systemd host; mounted before libvirtd's namespace is made.
mkdir "$WORK/bpffs"
mount -t bpf -o mode=0700 bpf "$WORK/bpffs"
on_exit "umount '$WORK/bpffs'"
"$bin/vfiojail" serve --socket "$sock" --spec-dir "$specs" --state-dir "$state" --bpffs "$WORK/bpffs" \
	2>"$WORK/serve.log" &
serve=$!
on_exit "kill $serve 2>/dev/null; wait $serve 2>/dev/null; find '$state' -name '*.json' -exec cat {} + >&2 2>/dev/null || true"
for _ in $(seq 100); do [[ -S "$sock" ]] && break; sleep 0.05; done
[[ -S "$sock" ]] || fail "serve did not start: $(cat "$WORK/serve.log")"

# The recipe's one qemu.conf change: libvirt makes no cgroups, so vfiojail's filter is
# the device filter (on cgroup v2 libvirt attaches its own device program whatever
# cgroup_controllers lists, and it admits no other below it; see docs/LIBVIRT.md).
# libvirt keeps its mount namespace: QEMU's /dev is libvirt's.
LV_QEMU_CONF='cgroup_controllers = [ ]'
# The recipe links the hook as hooks/qemu.d/vfiojail; hooks/qemu is a user's own,
# which must keep running (it records what libvirtd ran it with).
LV_QEMU_HOOK_D="$bin/libvirt-hook"
cat >"$WORK/user-hook" <<SH
#!/bin/sh
echo "\$*" >>'$WORK/user-hook.log'
SH
LV_QEMU_HOOK="$WORK/user-hook"
lv_start "$WORK/lv"
# Per-VM directories in qemu.d, as the hook dispatchers passthrough users keep as
# hooks/qemu use (qemu.d/VM/OPERATION/SUB-OPERATION/...): libvirt must skip them.
lv_ns_run mkdir -p "/etc/libvirt/hooks/qemu.d/$name/prepare/begin"
lv_domain_xml "$name" "$bin/qemu-system-x86_64" >"$WORK/dom.xml"
capture lv_virsh define "$WORK/dom.xml"
assert_eq "$rc" 0 "virsh define: libvirt probed the wrapper ($err)"
assert_eq "$(grep -c launched "$WORK/serve.log" || true)" 0 "probes ran QEMU directly, no jail"

qemu_pid() { lv_ns_run cat "/run/libvirt/qemu/$name.pid"; }
jail_gone() { # WHAT
	for _ in $(seq 100); do
		[[ -e "$state/$esc.json" ]] || break
		sleep 0.1
	done
	[[ ! -e "$state/$esc.json" ]] || fail "$1: the jail's state is left: $(cat "$WORK/serve.log")"
	local left
	left=$(find "$CG2" -type d -name "vfiojail-$esc" 2>/dev/null || true)
	[[ -z "$left" ]] || fail "$1: the VM cgroup is left: $left"
	left=$(find "$WORK/bpffs/vfiojail" "$state/bpffs" -mindepth 1 2>/dev/null || true)
	[[ -z "$left" ]] || fail "$1: pins left: $left"
}

start_and_check() {
	capture lv_virsh start "$name"
	assert_eq "$rc" 0 "virsh start ($err; $(cat "$WORK/serve.log"); $(tail -5 "$LV_LOG/qemu/$name.log" 2>/dev/null))"
	pid=$(qemu_pid)
	assert_eq "$(readlink /proc/$pid/exe)" /usr/bin/qemu-system-x86_64 "libvirt's pid is QEMU's own"
	assert_contains "$(cat "$WORK/serve.log")" "VM $name launched for pid $pid (uid $(id -u libvirt-qemu))" "the service jailed that pid"
	pins=$(jq -r .bpf_pin "$state/$esc.json")
	[[ "$pins" == "$WORK/bpffs/vfiojail/"* && -n "$(ls "$pins")" ]] || fail "the filter is pinned in the shared bpffs ($pins)"
}

start_and_check
st() { awk -v k="$1:" '$1 == k { print $2 }' /proc/$pid/status; }
assert_eq "$(awk '/^Uid:/ { print $2, $3, $4 }' /proc/$pid/status)" "$(id -u libvirt-qemu) $(id -u libvirt-qemu) $(id -u libvirt-qemu)" "QEMU runs as libvirt-qemu"
assert_eq "$(st CapEff)$(st CapPrm)$(st CapAmb)" "000000000000000000000000000000000000000000000000" "no capabilities"
assert_eq "$(st NoNewPrivs)" 1 "no_new_privs"
cg=$(awk -F: '$1 == "0" { print $3 }' /proc/$pid/cgroup)
assert_eq "${cg##*/}" "vfiojail-$esc" "QEMU is in the VM's cgroup (escaped name)"
lvcg=$(awk -F: '$1 == "0" { print $3 }' /proc/$LV_PID/cgroup)
assert_eq "$cg" "${lvcg%/}/vfiojail-$esc" "the VM's cgroup is below libvirtd's own (its launcher's)"
devs=$(ls /proc/$pid/root/dev | tr '\n' ' ')
assert_eq "$devs" "full kvm null ptmx pts random shm urandom zero " "QEMU's /dev (libvirt's namespace)"
# A node outside the plan, made where the jail can see it: EPERM by the filter, for a
# process of the VM's cgroup, even root.
mknod -m 0666 "$WORK/loop-control" c 10 237
capture bash -c "echo \$\$ >'$CG2$cg/cgroup.procs' && printf 'open %s\nopen /dev/null\n' '$WORK/loop-control' | exec '$OPENER'"
assert_eq "$(echo $out)" "EPERM ok" "in the VM's cgroup an unlisted node is EPERM, a listed one opens ($err)"
capture "$bin/vfiojail" status "$name" --state-dir "$state" --bpffs "$WORK/bpffs"
assert_eq "$rc" 0 "status: no drift ($out)"
capture lv_virsh qemu-monitor-command "$name" --hmp "info status"
assert_eq "$rc/${out//$'\r'/}" "0/VM status: running" "the monitor answers ($err)"
# libvirt reads QEMU's own CPU time (no cgroup of its own: from /proc/PID/stat).
capture lv_virsh domstats "$name" --cpu-total
cpu=$(sed -n 's/.*cpu.time=\([0-9]*\).*/\1/p' <<<"$out")
[[ -n "$cpu" && "$cpu" -gt 0 ]] || fail "CPU statistics: cpu.time should be above 0 ($out $err)"
assert_contains "$(cat "$WORK/user-hook.log")" "$name prepare begin -" "the user's hooks/qemu runs beside qemu.d/vfiojail"
pass "virsh start: QEMU in its jail, the monitor answers"

# Hotplug of a block disk (docs/LIBVIRT.md, "Hotplug"): a loop device, on USB (whose
# unplug needs no guest: this domain runs none).  libvirt makes the node in QEMU's
# /dev itself; QEMU's open is refused by the filter until vfiojail attach adds the
# device to the jail, and again once vfiojail detach has removed it.
vj() { "$bin/vfiojail" "$@" --state-dir "$state" --bpffs "$WORK/bpffs"; }
truncate -s 8M "$WORK/disk.img"
loop=$(losetup -f --show "$WORK/disk.img")
on_exit "losetup -d '$loop' 2>/dev/null"
cat >"$WORK/disk.xml" <<XML
<disk type='block' device='disk'>
  <driver name='qemu' type='raw'/>
  <source dev='$loop'/>
  <target dev='sdb' bus='usb'/>
</disk>
XML
capture lv_virsh attach-device "$name" "$WORK/disk.xml" --live
[[ "$rc" != 0 ]] || fail "virsh attach-device of $loop before vfiojail attach should fail"
assert_contains "$err" "Operation not permitted" "QEMU's open of $loop is refused by the filter"
assert_eq "$(lv_virsh domblklist "$name" | awk '{ print $1 }' | xargs)" "" "no disk after the refused attach"
capture vj attach "$name" --device "$loop"
assert_eq "$rc" 0 "vfiojail attach --device $loop ($err)"
assert_contains "$err" "launcher's mount namespace" "attach says libvirt makes the node"
capture lv_virsh attach-device "$name" "$WORK/disk.xml" --live
assert_eq "$rc" 0 "virsh attach-device after vfiojail attach ($err; $(tail -3 "$LV_LOG/qemu/$name.log"))"
assert_eq "$(lv_virsh domblklist "$name" | awk '{ print $1 " " $2 }' | xargs)" "sdb $loop" "the disk is the domain's"
capture lv_virsh qemu-monitor-command "$name" --hmp "info block"
assert_contains "$out" "$loop" "QEMU has the disk open"
capture vj status "$name"
assert_eq "$rc" 0 "status after the disk's attach: no drift ($out)"
assert_contains "$out" "(launch)" "status names the kind"
capture lv_virsh detach-device "$name" "$WORK/disk.xml" --live
assert_eq "$rc" 0 "virsh detach-device ($err)"
for _ in $(seq 100); do [[ -z "$(lv_virsh domblklist "$name" | awk '{ print $1 }' | xargs)" ]] && break; sleep 0.1; done
assert_eq "$(lv_virsh domblklist "$name" | awk '{ print $1 }' | xargs)" "" "the disk is gone"
capture vj detach "$name" --device "$loop"
assert_eq "$rc" 0 "vfiojail detach --device $loop ($err)"
capture lv_virsh attach-device "$name" "$WORK/disk.xml" --live
[[ "$rc" != 0 ]] || fail "virsh attach-device after vfiojail detach should fail"
assert_contains "$err" "Operation not permitted" "refused by the filter again"
capture vj status "$name"
assert_eq "$rc" 0 "status after the disk's detach: no drift ($out)"
pass "hotplug of a block disk: refused by the filter without vfiojail attach, works with it, refused again after detach"

# A libvirtd restart: libvirt reconnects to the same QEMU; the jail stays.
lv_stop_daemon
lv_start_daemon
assert_eq "$(lv_virsh domstate "$name")" running "the domain survives a libvirtd restart"
assert_eq "$(qemu_pid)" "$pid" "same QEMU"
capture "$bin/vfiojail" status "$name" --state-dir "$state" --bpffs "$WORK/bpffs"
assert_eq "$rc" 0 "status after the restart ($out)"
capture lv_virsh qemu-monitor-command "$name" --hmp "info status"
assert_eq "$rc/${out//$'\r'/}" "0/VM status: running" "the monitor answers after the restart ($err)"
pass "libvirtd restart"

# virsh destroy: QEMU is killed, the service removes the jail, the hook finds nothing.
capture lv_virsh destroy "$name"
assert_eq "$rc" 0 "virsh destroy ($err)"
assert_eq "$(lv_virsh domstate "$name")" "shut off" "destroyed"
jail_gone "destroy"
assert_contains "$(cat "$WORK/serve.log")" "VM $name ended; jail removed" "the service saw QEMU exit"
pass "virsh destroy"

# QMP quit from inside: QEMU exits by itself.
start_and_check
lv_virsh qemu-monitor-command "$name" '{"execute":"quit"}' >/dev/null 2>&1 || true
for _ in $(seq 100); do [[ "$(lv_virsh domstate "$name")" == "shut off" ]] && break; sleep 0.1; done
assert_eq "$(lv_virsh domstate "$name")" "shut off" "QMP quit shuts the domain off"
jail_gone "QMP quit"
pass "QMP quit"

# VFIOJAIL_SOCKET from the domain's <qemu:env> (libvirt passes QEMU no variable of
# libvirtd's own): a wrapper whose built-in socket has no service launches through it.
sed -e "s|@QEMU@|/usr/bin/qemu-system-x86_64|" -e "s|@VFIOJAIL@|$bin/vfiojail|" -e "s|@SOCKET@|$WORK/none.sock|" \
	"$VJ_SOURCE_ROOT/tools/libvirt/qemu-wrapper.in" >"$bin/qemu-env-wrapper"
chmod 0755 "$bin/qemu-env-wrapper"
cat >"$specs/lv-env.json" <<JSON
{ "name": "lv-env", "user": "libvirt-qemu", "memory": "64MiB" }
JSON
lv_domain_xml lv-env "$bin/qemu-env-wrapper" |
	sed -e "s|<domain type='qemu'>|<domain type='qemu' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>|" \
		-e "s|vjtap0|vjtap1|" \
		-e "s|</devices>|</devices><qemu:commandline><qemu:env name='VFIOJAIL_SOCKET' value='$sock'/></qemu:commandline>|" \
		>"$WORK/env.xml"
capture lv_virsh define "$WORK/env.xml"
assert_eq "$rc" 0 "virsh define lv-env ($err)"
capture lv_virsh start lv-env
assert_eq "$rc" 0 "virsh start lv-env ($err; $(tail -5 "$LV_LOG/qemu/lv-env.log" 2>/dev/null))"
envpid=$(lv_ns_run cat /run/libvirt/qemu/lv-env.pid)
assert_contains "$(cat "$WORK/serve.log")" "VM lv-env launched for pid $envpid" "launched through VFIOJAIL_SOCKET"
capture lv_virsh destroy lv-env
assert_eq "$rc" 0 "virsh destroy lv-env ($err)"
for _ in $(seq 100); do [[ -e "$state/lv-env.json" ]] || break; sleep 0.1; done
[[ ! -e "$state/lv-env.json" ]] || fail "lv-env's jail is left"
lv_virsh undefine lv-env >/dev/null
pass "VFIOJAIL_SOCKET from <qemu:env>"

# The release hook: with the service down (restarted, say), a VM that ends leaves its
# jail to the hook libvirt runs as root.
start_and_check
kill -TERM $serve; wait $serve || true
assert_contains "$(cat "$WORK/serve.log")" "1 running VM(s) keep their jails" "the service stops, the VM runs on"
[[ -e "$state/$esc.json" ]] || fail "the jail should outlive the service"
capture lv_virsh destroy "$name"
assert_eq "$rc" 0 "virsh destroy with the service down ($err)"
jail_gone "release hook"
assert_contains "$(cat "$WORK/user-hook.log")" "$name release end -" "the user's hook saw the release too"
pass "the release hook removes a jail the service no longer watches"

lv_virsh undefine "$name" >/dev/null
lv_stop
[[ -z "$(find "$state" -name '*.json' 2>/dev/null)" ]] || fail "state left"
pass "nothing left"
