#!/usr/bin/env bash
# The VM's spec from its libvirt domain XML, end to end with Debian's libvirtd 9.0
# (private, as test_libvirt.sh runs it): vfiojail's hook linked as
# /etc/libvirt/hooks/qemu.d/vfiojail derives the spec at "prepare" and installs it
# for the launch service, which launches QEMU (the shipped <emulator> wrapper) with it:
#   (a) no spec of root's, a <disk type='block'> on a loop device: the domain starts
#       in its jail and QEMU opened the disk (the jail's device filter admits it: a
#       spec written by root without it gave EPERM);
#   (b) the domain changed, no spec rewritten: QEMU's RLIMIT_MEMLOCK follows the XML
#       (<memtune><hard_limit>: this host has no VFIO device, whose memlock would
#       follow <memory>, and no CAP_SYS_RESOURCE to raise a limit past 8 MiB);
#   (c) a spec of root's that does not grant the disk: virsh start fails naming the
#       field, the disk and root's file; nothing is left (no cgroup, derived spec or
#       state).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/libvirt_lib.sh"
[[ -n "$CG2" ]] || skip "no cgroup2 mount"
id libvirt-qemu >/dev/null 2>&1 || skip "libvirt is not installed (no libvirt-qemu user)"
command -v losetup >/dev/null || skip "no losetup"

WORK=$(mktemp -d /tmp/vfiojail-libvirt.XXXXXX)
chmod 0755 "$WORK"
on_exit "rm -rf '$WORK'"
name='lvd-a'
state="$WORK/state"
sock="$WORK/launch.sock"
# Root's specs and the derived ones: every directory above them root's and writable by
# no one else (not below the sticky /tmp).
specs=$(mktemp -d /run/vfiojail-test-specs.XXXXXX)
chmod 0755 "$specs"
on_exit "rm -rf '$specs'"
derived=$(mktemp -d /run/vfiojail-test-derived.XXXXXX)
chmod 0700 "$derived"
on_exit "rm -rf '$derived'"
bin="$WORK/bin"
mkdir -m 0755 "$bin"
# What meson installs, pointed at this build: vfiojail, the wrapper, the hook (its
# vfiojail calls given this test's directories).
install -m 0755 "$VFIOJAIL" "$bin/vfiojail"
sed -e "s|@QEMU@|/usr/bin/qemu-system-x86_64|" -e "s|@VFIOJAIL@|$bin/vfiojail|" -e "s|@SOCKET@|$sock|" \
	"$VJ_SOURCE_ROOT/tools/libvirt/qemu-wrapper.in" >"$bin/qemu-system-x86_64"
sed -e "s|@VFIOJAIL@|$bin/vfiojail|" -e "s|@WRAPPERDIR@|$bin|" -e "s|@DERIVEDDIR@|$derived|" \
	-e "s|derive --from libvirt --install|derive --from libvirt --install --spec-dir $specs --derived-dir $derived|" \
	-e "s|derive --remove|derive --remove --derived-dir $derived|" \
	-e "s|teardown --if-launched|teardown --state-dir $state --bpffs $WORK/bpffs --if-launched|" \
	"$VJ_SOURCE_ROOT/tools/libvirt/libvirt-hook.in" >"$bin/libvirt-hook"
chmod 0755 "$bin/qemu-system-x86_64" "$bin/libvirt-hook"
grep -q -- "--derived-dir $derived" "$bin/libvirt-hook" || fail "the hook's derive calls were not pointed at $derived"

# The block device: a loop device on a file, detached again whatever happens.
truncate -s 16M "$WORK/disk.img"
loop=$(losetup -f --show "$WORK/disk.img") || skip "no loop device could be attached"
on_exit "losetup -d '$loop'"

mkdir "$WORK/bpffs"
mount -t bpf -o mode=0700 bpf "$WORK/bpffs"
on_exit "umount '$WORK/bpffs'"
"$bin/vfiojail" serve --socket "$sock" --spec-dir "$specs" --derived-dir "$derived" --state-dir "$state" \
	--bpffs "$WORK/bpffs" 2>"$WORK/serve.log" &
serve=$!
on_exit "kill $serve 2>/dev/null; wait $serve 2>/dev/null"
for _ in $(seq 100); do [[ -S "$sock" ]] && break; sleep 0.05; done
[[ -S "$sock" ]] || fail "serve did not start: $(cat "$WORK/serve.log")"

LV_QEMU_CONF='cgroup_controllers = [ ]'
LV_QEMU_HOOK_D="$bin/libvirt-hook"
lv_start "$WORK/lv"
# The domain with the loop device as its disk; EXTRA goes in <domain>.
dom() { # EXTRA
	lv_domain_xml "$name" "$bin/qemu-system-x86_64" | sed -e "s|</name>|</name><uuid>6a1c3e0e-8f1b-4f43-9d2a-0c5d7c1b2e11</uuid>|" -e "s|<devices>|$1<devices>\\
    <disk type='block' device='disk'><driver name='qemu' type='raw'/><source dev='$loop'/><target dev='vda' bus='virtio'/></disk>|"
}
define() { # EXTRA
	dom "$1" >"$WORK/dom.xml"
	capture lv_virsh define "$WORK/dom.xml"
	assert_eq "$rc" 0 "virsh define ($err)"
}
qemu_pid() { lv_ns_run cat "/run/libvirt/qemu/$name.pid"; }
memlock() { awk '/^Max locked memory/ { print $4 "/" $5 }' "/proc/$1/limits"; }
# Nothing of the domain's left: jail state, cgroup, pins, derived spec.
nothing_left() { # WHAT
	for _ in $(seq 100); do [[ -e "$state/$name.json" ]] || break; sleep 0.1; done
	[[ ! -e "$state/$name.json" ]] || fail "$1: the jail's state is left: $(cat "$WORK/serve.log")"
	local left
	left=$(find "$CG2" -type d -name "vfiojail-$name" 2>/dev/null || true)
	[[ -z "$left" ]] || fail "$1: the VM cgroup is left: $left"
	left=$(find "$WORK/bpffs/vfiojail" -mindepth 1 2>/dev/null || true)
	[[ -z "$left" ]] || fail "$1: pins left: $left"
	left=$(find "$derived" -mindepth 1)
	[[ -z "$left" ]] || fail "$1: derived specs left: $left"
}

# (a) No spec of root's: the hook derives it; QEMU runs in its jail with the disk.
define ""
capture lv_virsh start "$name"
assert_eq "$rc" 0 "virsh start with no spec of root's ($err; $(cat "$WORK/serve.log"); $(tail -5 "$LV_LOG/qemu/$name.log" 2>/dev/null))"
pid=$(qemu_pid)
assert_contains "$(cat "$WORK/serve.log")" "VM $name launched for pid $pid (uid $(id -u libvirt-qemu)), cgroup" "the service jailed QEMU"
assert_contains "$(cat "$WORK/serve.log")" "spec $derived/$name.json" "from the derived spec"
assert_eq "$(stat -c '%U %a' "$derived/$name.json")" "root 600" "the derived spec: root's, 0600"
assert_eq "$(jq -c --arg d "$loop" '[.devices[] | select(.path == $d) | .access]' "$derived/$name.json")" '["rw"]' \
	"the derived spec grants the disk"
cg=$(awk -F: '$1 == "0" { print $3 }' /proc/$pid/cgroup)
assert_eq "${cg##*/}" "vfiojail-$name" "QEMU is in the VM's cgroup"
opened=$(ls -l /proc/$pid/fd | grep -c -- "-> $loop\$" || true)
[[ "$opened" -ge 1 ]] || fail "QEMU has not opened $loop: $(ls -l /proc/$pid/fd)"
capture lv_virsh qemu-monitor-command "$name" --hmp "info block"
assert_contains "$out" "$loop" "QEMU's block layer has the disk ($err)"
# The filter is what admits it: in the VM's cgroup, the disk opens and another loop
# device's node does not.
mknod -m 0666 "$WORK/loop-other" b 7 250
capture bash -c "echo \$\$ >'$CG2$cg/cgroup.procs' && printf 'open %s\nopen %s\n' '$loop' '$WORK/loop-other' | exec '$OPENER'"
assert_eq "$(echo $out)" "ok EPERM" "in the VM's cgroup the disk opens, an ungranted block node is EPERM ($err)"
capture lv_virsh destroy "$name"
assert_eq "$rc" 0 "virsh destroy ($err)"
nothing_left "destroy"
pass "(a) no spec of root's: the derived spec gives QEMU its block disk"

# (b) The domain changed, no spec rewritten: the VMM's memlock follows it.
for kib in 4096 6144; do
	define "<memtune><hard_limit unit='KiB'>$kib</hard_limit></memtune>"
	capture lv_virsh start "$name"
	assert_eq "$rc" 0 "virsh start, hard_limit $kib KiB ($err; $(tail -3 "$WORK/serve.log"))"
	pid=$(qemu_pid)
	assert_eq "$(memlock "$pid")" "$((kib * 1024))/$((kib * 1024))" "QEMU's RLIMIT_MEMLOCK (soft/hard) for hard_limit $kib KiB"
	assert_eq "$(state_plan "$state/$name.json" .memlock.bytes)" "$((kib * 1024))" "the jail's plan is the derived one"
	lv_virsh destroy "$name" >/dev/null
	nothing_left "destroy"
done
pass "(b) the domain's memlock follows its XML with no spec rewritten"

# (c) Root's spec bounds the derived one: without the disk, the start is refused.
cat >"$specs/$name.json" <<JSON
{ "name": "$name", "user": "libvirt-qemu", "memory": "64MiB" }
JSON
define ""
capture lv_virsh start "$name"
assert_eq "$rc" 1 "virsh start of a domain root's spec does not grant ($err)"
assert_contains "$err" "devices[0].path: \"$loop\": not granted by $specs/$name.json" "libvirt shows the hook's refusal"
assert_eq "$(lv_virsh domstate "$name")" "shut off" "the domain did not start"
assert_eq "$(grep -c "launched" "$WORK/serve.log")" 3 "the service was not asked"
nothing_left "refused"
# Granted: it starts.
cat >"$specs/$name.json" <<JSON
{ "name": "$name", "user": "libvirt-qemu", "memory": "64MiB", "devices": [ { "path": "$loop", "access": "rw" } ] }
JSON
capture lv_virsh start "$name"
assert_eq "$rc" 0 "virsh start once root's spec grants the disk ($err)"
assert_contains "$(cat "$WORK/serve.log")" "spec $derived/$name.json bounded by $specs/$name.json" "bounded by root's"
lv_virsh destroy "$name" >/dev/null
nothing_left "destroy"
pass "(c) root's spec bounds the derived one: a refusal names the field, nothing is left"

lv_virsh undefine "$name" >/dev/null
lv_stop
pass "nothing left"
