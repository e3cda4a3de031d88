#!/usr/bin/env bash
# vmtest-timeout: 1800
# Hostdev hotplug through libvirt 9.0 (the host root's) into a domain started with
# docs/LIBVIRT.md's recipe: cgroup_controllers = [ ], vfiojail's wrapper as <emulator>,
# its hook in hooks/qemu.d deriving the spec from the domain XML at prepare (no spec of
# root's). The domain boots a real inner guest, so that its unplug is answered: the
# suite's kernel (pciehp) in <os><kernel>, booted with pcie_ports=native, its root a
# static busybox over 9p (<filesystem>: the suite's kernel has no initrd support), whose
# init reports on the console whether the edu device (1234:11e8) is on its PCI bus.
# q35 with one free pcie-root-port (QEMU's ACPI hotplug of root ports off, as in
# case_qmp_hotplug: the guest's pciehp drives the slot).
#
# The steps a user follows, each asserted:
#   vfiojail attach NAME --hostdev BDF,backend=legacy   the filter opens the group node,
#                                          RLIMIT_MEMLOCK raised to the plan
#   virsh attach-device NAME hostdev.xml --live   without a guest address: libvirt 9.0
#                                          refuses ("No more available PCI slots": the edu
#                                          device is conventional PCI, and q35 has no
#                                          hotpluggable conventional slot); with the free
#                                          root port's bus as <address>: QEMU's query-pci
#                                          and the guest list it, VmLck grows by the RAM
#   virsh detach-device NAME hostdev.xml --live   the guest lets it go: gone from QEMU
#                                          and the guest, VmLck back
#   vfiojail detach NAME --hostdev BDF     the group node EPERM again; the memlock put
#                                          back to what QEMU had before vfiojail's raise
#                                          (libvirt left vfiojail's raise in place), and
#                                          the warning says RLIMIT_MEMLOCK changed
# Then the iommufd backend, which libvirt 9.0's <hostdev> cannot name: root's spec with a
# context and no device, handed at launch (<qemu:commandline>), the cdev in libvirt's
# /dev (cgroup_device_acl); vfiojail attach --hostdev BDF,iommufd=iommufd0, device_add
# and device_del through libvirt's monitor (virsh qemu-monitor-command), the guest
# answering, vfiojail detach: VmPin grows by the RAM and falls back, the cdev EPERM again,
# the memlock back to what QEMU started with.
# Figures: "hotplug:" lines (also $OUT/libvirt_hotplug.tsv).
source "$(dirname "$0")/lib.sh"
if [[ $VJ_ARCH == aarch64 ]]; then
	not_here "hostdev hotplug through libvirt" "libvirt runs from x86_64 roots (this machine's, the sid stack's) and the inner guest is the suite's q35 bzImage with pciehp; the arm64 root has no libvirt and the arm64 kernel no pciehp"
	exit 0
fi
source "$VJ_SOURCE_ROOT/tests/integration/libvirt_lib.sh"
source "$VJ_SOURCE_ROOT/tests/vm/libvirt/recipe.sh"
id libvirt-qemu >/dev/null 2>&1 || skip "libvirt is not installed on the host root (no libvirt-qemu)"
bz=$(ls /var/cache/vfiojail-vmtest/kernel-"$(uname -r | cut -d. -f1,2)".*/bzImage 2>/dev/null | head -1 || true)
[[ -d /sys/bus/pci_express/drivers/pciehp && -n "$bz" ]] || skip "the suite's kernel has no pciehp, or no bzImage of it ($bz): no inner guest to answer the unplug"
file -L /bin/busybox | grep -q "statically linked" || skip "no static busybox for the inner guest's root"

RAM=128
TSV=$OUT/libvirt_hotplug.tsv
printf 'libvirt\tstep\tVmPin kB\tVmLck kB\tmemlock soft/hard\tnode (group, cdev) from the VM cgroup\tin QEMU (query-pci)\tin the guest\n' >"$TSV"
W=$(mktemp -d /tmp/vjlvh.XXXXXX)
chmod 0755 "$W"
mkdir -m 0755 "$W/bin" "$W/derive"
on_exit "rm -rf '$W'"
SOCK=/run/vjlvh.sock SPECS=/run/vjlvh-specs
mkdir -m 0755 -p "$SPECS"
on_exit "rm -rf '$SOCK' '$SPECS'"
qemu10_bind

# ---- the service, the wrapper and the hook, as meson installs them ---------------------
serve_start "$SOCK" "$SPECS" "$W/serve.log"
wrapper "$W/derive/qemu-system-x86_64" /usr/bin/qemu-system-x86_64 "$VFIOJAIL"
hook "$W/bin/hook" "$VFIOJAIL" "$W/derive" "$SPECS"
on_exit "rm -rf /run/vfiojail/libvirt"

# ---- the inner guest ---------------------------------------------------------------------
install -m 0644 "$bz" "$W/bzImage"
mkdir -m 0755 "$W/groot" "$W/groot/proc" "$W/groot/sys"
install -m 0755 /bin/busybox "$W/groot/busybox"
cat >"$W/groot/init" <<'EOF'
#!/busybox sh
/busybox mount -t proc proc /proc
/busybox mount -t sysfs sys /sys
/busybox echo INNER-GUEST-INIT
seen=
while :; do
	s=absent
	for d in /sys/bus/pci/devices/*; do
		[ "$(/busybox cat "$d/vendor"):$(/busybox cat "$d/device")" = 0x1234:0x11e8 ] && s="present at ${d##*/}"
	done
	[ "$s" != "$seen" ] && /busybox echo "INNER-DEVICE-$s" && seen=$s
	/busybox sleep 1
done
EOF
chmod 0755 "$W/groot/init"
GUESTLOG=$W/guest.log
guest_says() { # TEXT SECONDS [FROM-LINE]: wait until the console, after line FROM, has TEXT
	local i
	for ((i = 0; i < $2; i++)); do
		tail -n +"${3:-1}" "$GUESTLOG" 2>/dev/null | grep -q "$1" && return 0
		((i % 60 == 59)) && echo "waiting for the inner guest to say $1 ($((i + 1)) s)"
		sleep 1
	done
	fail "the inner guest did not say $1 within $2 s: $(tail -c 600 "$GUESTLOG" 2>/dev/null | tr -d '\r')"
}
guest_lines() { wc -l <"$GUESTLOG" 2>/dev/null || echo 0; }

# dom_xml NAME EMULATOR [QEMU-COMMANDLINE-ARGS]: q35, one free pcie-root-port (index 1,
# bus 0x01: nothing else has an address on it), the 9p root on pcie.0, no USB controller.
dom_xml() {
	local a args=''
	for a in -global ICH9-LPC.acpi-pci-hotplug-with-bridge-support=off ${3:-}; do
		args+="<qemu:arg value='$a'/>"
	done
	cat <<EOF
<domain type='qemu' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>
  <name>$1</name>
  <memory unit='MiB'>$RAM</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='q35'>hvm</type>
    <kernel>$W/bzImage</kernel>
    <cmdline>console=ttyS0 root=groot rootfstype=9p rootflags=trans=virtio,version=9p2000.L ro panic=-1 pcie_ports=native init=/init</cmdline>
  </os>
  <features><acpi/></features>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>destroy</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <emulator>$2</emulator>
    <controller type='pci' index='0' model='pcie-root'/>
    <controller type='pci' index='1' model='pcie-root-port'/>
    <controller type='usb' model='none'/>
    <filesystem type='mount' accessmode='passthrough'>
      <source dir='$W/groot'/>
      <target dir='groot'/>
      <readonly/>
      <address type='pci' domain='0x0000' bus='0x00' slot='0x05' function='0x0'/>
    </filesystem>
    <serial type='file'><source path='$GUESTLOG'/><target port='0'/></serial>
    <memballoon model='none'/>
  </devices>
  <qemu:commandline>$args</qemu:commandline>
</domain>
EOF
}
hostdev_xml() { # BDF [GUEST-BUS]: a legacy <hostdev>, at slot 0 of GUEST-BUS when given
	local b=$1
	printf "<hostdev mode='subsystem' type='pci' managed='no'>\n  <source><address domain='0x%s' bus='0x%s' slot='0x%s' function='0x%s'/></source>\n" \
		"${b:0:4}" "${b:5:2}" "${b:8:2}" "${b:11:1}"
	[[ -z "${2:-}" ]] || printf "  <address type='pci' domain='0x0000' bus='%s' slot='0x00' function='0x0'/>\n" "$2"
	printf '</hostdev>\n'
}
to_ns() { cp "$1" "/proc/$LV_NS_PID/root/tmp/$(basename "$1")"; } # into libvirtd's /tmp

qemu_pid_lv() { lv_ns_run cat "/run/libvirt/qemu/$1.pid" 2>/dev/null; }
# dom_start NAME: define $W/NAME.xml in libvirtd, start it (gone at exit), and check
# that the service launched it; sets q (QEMU's pid) and t0 (when it started).
dom_start() {
	to_ns "$W/$1.xml"
	capture lv_virsh define "/tmp/$1.xml"
	assert_eq "$rc" 0 "virsh define $1 ($err)"
	on_exit "[[ -z \$LV_NS_PID ]] || { lv_virsh destroy $1; lv_virsh undefine $1; } >/dev/null 2>&1 || true"
	t0=$SECONDS
	capture lv_virsh start "$1"
	assert_eq "$rc" 0 "virsh start $1 ($err; $(tail -5 "$LV_LOG/qemu/$1.log" 2>/dev/null); $(tail -3 "$W/serve.log"))"
	q=$(qemu_pid_lv "$1")
	[[ -n "$q" ]] || fail "no pid file of $1"
	assert_contains "$(cat "$W/serve.log")" "VM $1 launched for pid $q" "the service launched $1"
}
limits() { awk '/^Max locked memory/ { print $4 "/" $5 }' "/proc/$1/limits"; }
mib() { awk -F/ '{ printf "%d/%d MiB", $1 / 1048576, $2 / 1048576 }' <<<"$1"; }
# A root process in QEMU's cgroup opens NODE: "ok", or the errno's name.
from_cgroup() { # PID NODE
	local cg
	cg=$(awk -F: '$1 == "0" { print $3 }' "/proc/$1/cgroup")
	bash -c "echo \$\$ >'/sys/fs/cgroup$cg/cgroup.procs' && printf 'open %s\n' '$2' | exec '$OPENER'" 2>&1 || true
}
# The edu devices QEMU lists (query-pci through libvirt's monitor), as "bus:slot" words.
in_qemu() { # DOMAIN
	lv_virsh qemu-monitor-command "$1" '{"execute":"query-pci"}' |
		jq -r '[.. | objects | select((.id | type) == "object" and .id.vendor == 4660 and .id.device == 4584) |
			"\(.bus):\(.slot) \(.qdev_id)"] | join(", ")'
}
row() { # STEP DOMAIN PID NODE: one figure line
	local lim gs
	lim=$(limits "$3")
	gs=$(grep -a INNER-DEVICE "$GUESTLOG" 2>/dev/null | tail -1 | tr -d '\r' | sed 's/INNER-DEVICE-//')
	printf '9.0\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$(vmpin "$3")" "$(vmlck "$3")" "$(mib "$lim")" "$4" "$(in_qemu "$2")" "$gs" >>"$TSV"
	echo "hotplug: 9.0 | $1 | VmPin $(vmpin "$3") kB | VmLck $(vmlck "$3") kB | memlock $(mib "$lim") | node: $4 | query-pci: $(in_qemu "$2") | guest: $gs"
}

# ---- libvirt 9.0, the recipe ---------------------------------------------------------------
# The iommufd half: QEMU opens EDU_A's cdev itself on device_add, by its path in
# libvirt's /dev (libvirt 9.0 knows no cdevs: cgroup_device_acl puts it there), as
# libvirt-qemu (the node made libvirt-qemu's, as a udev rule would; restored at the end).
CDEV=$(cdev_of "$EDU_A")
on_exit "chown $(stat -c %u:%g "$CDEV") $CDEV; chmod $(stat -c %a "$CDEV") $CDEV"
chown libvirt-qemu "$CDEV"
chmod 0600 "$CDEV"
LV_QEMU_CONF='cgroup_controllers = [ ]
cgroup_device_acl = [ "/dev/null", "/dev/full", "/dev/zero", "/dev/random", "/dev/urandom", "/dev/ptmx", "/dev/kvm", "/dev/userfaultfd", "'$CDEV'" ]'
LV_QEMU_HOOK_D="$W/bin/hook"
lv_start "$W/lv9"
echo "libvirt 9.0: $(lv_virsh version | tr '\n' ' ')"
D=hp
BDF=$EDU_A
GROUP=/dev/vfio/$(group_of "$BDF")
dom_xml $D "$W/derive/qemu-system-x86_64" >"$W/$D.xml"
dom_start $D
assert_contains "$(cat "$W/serve.log")" "spec /run/vfiojail/libvirt/$D.json" "$D from its derived spec"
assert_eq "$(jq -c '.hostdevs // []' "/run/vfiojail/libvirt/$D.json")" "[]" "the derived spec has no hostdev"
capture "$VFIOJAIL" status $D
assert_contains "$out" "launch" "status names the jail's kind ($out$err)"
guest_says INNER-GUEST-INIT 900
guest_says INNER-DEVICE-absent 120
echo "hotplug: the inner guest reached its init in $((SECONDS - t0)) s"
lv_virsh dumpxml $D >"$W/$D.live.xml"
used=$(grep -o "<address type='pci' domain='0x0000' bus='0x01'" "$W/$D.live.xml" || true)
assert_eq "$used" "" "nothing of the domain's is on the free root port's bus 0x01"
row "started (the recipe, spec derived)" $D "$q" "$(from_cgroup "$q" "$GROUP")"
lim0=$(limits "$q") lck0=$(vmlck "$q")
assert_eq "$(from_cgroup "$q" "$GROUP")" EPERM "before vfiojail attach: $GROUP is refused"

# 1. The grant.
capture "$VFIOJAIL" attach $D --hostdev "$BDF,backend=legacy"
assert_eq "$rc" 0 "vfiojail attach $D --hostdev $BDF,backend=legacy ($err)"
assert_contains "$err" "launcher's mount namespace" "attach says libvirt makes the node"
lim1=$(limits "$q")
((${lim1%/*} > ${lim0%/*})) || fail "memlock not raised by vfiojail attach: $lim0 -> $lim1"
assert_eq "$(from_cgroup "$q" "$GROUP")" ok "after vfiojail attach: $GROUP opens from QEMU's cgroup"
row "vfiojail attach --hostdev $BDF,backend=legacy" $D "$q" ok

# 2. libvirt's own slot choice: 9.0 finds no slot for a conventional PCI device.
hostdev_xml "$BDF" >"$W/hostdev-auto.xml"
to_ns "$W/hostdev-auto.xml"
capture lv_virsh attach-device $D /tmp/hostdev-auto.xml --live
auto_err=$(tr '\n' ' ' <<<"$err" | sed 's/  */ /g')
echo "hotplug: 9.0 attach-device without a guest <address>: rc $rc: $auto_err"
[[ $rc -ne 0 ]] || fail "libvirt 9.0 placed the edu device itself (it refused before): test the XML without <address>"
assert_contains "$err" "No more available PCI slots" "libvirt 9.0's refusal"
assert_eq "$(in_qemu $D)" "" "QEMU was not asked"

# 3. The hotplug, at the free root port's slot.
hostdev_xml "$BDF" 0x01 >"$W/hostdev.xml"
to_ns "$W/hostdev.xml"
from=$(guest_lines)
capture lv_virsh attach-device $D /tmp/hostdev.xml --live
assert_eq "$rc" 0 "virsh attach-device $D hostdev.xml --live ($err; $(tail -3 "$LV_LOG/qemu/$D.log"))"
guest_says "INNER-DEVICE-present" 180 "$from"
inq=$(in_qemu $D)
[[ "$inq" == 1:0\ hostdev0 ]] || fail "query-pci: the edu device at bus 1 slot 0 as hostdev0, not: $inq"
lck1=$(vmlck "$q") lim2=$(limits "$q")
((lck1 - lck0 >= RAM * 1024)) || fail "VmLck $lck0 -> $lck1 kB: not grown by the guest's $RAM MiB"
((${lim2%/*} >= ${lim1%/*})) || fail "memlock lowered by libvirt's attach: $lim1 -> $lim2"
assert_eq "$(grep -c "<hostdev " < <(lv_virsh dumpxml $D))" 1 "libvirt's live XML has the hostdev"
assert_eq "$(nsenter -t "$q" -m stat -c %t:%T "$GROUP" 2>&1)" "$(stat -c %t:%T "$GROUP")" "libvirt made $GROUP in QEMU's /dev"
row "virsh attach-device --live (address bus 0x01)" $D "$q" "(held by QEMU)"
capture "$VFIOJAIL" status $D
assert_eq "$rc" 0 "status after the hotplug: no drift ($out$err)"
pass "libvirt 9.0 hostdev hotplug: vfiojail attach, then virsh attach-device: the guest sees the device, VmLck $lck0 -> $lck1 kB, memlock $(mib "$lim0") -> $(mib "$lim1") (vfiojail) -> $(mib "$lim2") (libvirt)"

# 4. The unplug: libvirt asks, the guest's pciehp answers, then the grant goes.
from=$(guest_lines)
t1=$SECONDS
capture lv_virsh detach-device $D /tmp/hostdev.xml --live
assert_eq "$rc" 0 "virsh detach-device $D hostdev.xml --live ($err)"
echo "hotplug: virsh detach-device: $(tr '\n' ' ' <<<"$out")"
guest_says "INNER-DEVICE-absent" 180 "$from"
for _ in $(seq 120); do
	[[ -z "$(in_qemu $D)" && "$(lv_virsh dumpxml $D | grep -c '<hostdev ')" == 0 ]] && break
	sleep 1
done
assert_eq "$(in_qemu $D)" "" "query-pci no longer lists the device"
assert_eq "$(lv_virsh dumpxml $D | grep -c '<hostdev ' || true)" 0 "libvirt's live XML no longer has the hostdev"
echo "hotplug: the unplug took $((SECONDS - t1)) s (virsh detach-device to QEMU's DEVICE_DELETED)"
assert_eq "$(vmlck "$q")" "$lck0" "VmLck back after the unplug"
lim3=$(limits "$q")
row "virsh detach-device --live, guest answered" $D "$q" "$(from_cgroup "$q" "$GROUP")"
capture "$VFIOJAIL" detach $D --hostdev "$BDF"
assert_eq "$rc" 0 "vfiojail detach $D --hostdev $BDF ($err)"
echo "hotplug: vfiojail detach said: $(tr '\n' ' ' <<<"$err")"
lim4=$(limits "$q")
# libvirt put back what it found at its attach (vfiojail's raise); vfiojail's detach,
# the last device that needed the raise gone, puts back what QEMU had before it.
assert_eq "$lim3" "$lim1" "memlock after virsh detach-device: vfiojail's raise, as libvirt found it"
assert_eq "$lim4" "$lim0" "memlock after vfiojail detach: back to what QEMU started with"
assert_contains "$err" "changed the device filter and RLIMIT_MEMLOCK only" "detach says it changed the memlock"
assert_eq "$(from_cgroup "$q" "$GROUP")" EPERM "after vfiojail detach: $GROUP is refused again"
row "vfiojail detach --hostdev $BDF" $D "$q" EPERM
capture "$VFIOJAIL" status $D
assert_eq "$rc" 0 "status after the unplug: no drift ($out$err)"
pass "libvirt 9.0 hostdev unplug: virsh detach-device (the guest answered), then vfiojail detach: VmLck back to $lck0 kB, memlock $(mib "$lim2") -> $(mib "$lim3") (libvirt) -> $(mib "$lim4") (vfiojail; $(mib "$lim0") at start), $GROUP EPERM"

capture lv_virsh destroy $D
assert_eq "$rc" 0 "virsh destroy ($err)"
lv_virsh undefine $D >/dev/null
for _ in $(seq 50); do [[ ! -e "$STATE/$D.json" && -z "$(ls /run/vfiojail/libvirt)" ]] && break; sleep 0.1; done
assert_eq "$(ls /run/vfiojail/libvirt)" "" "the release hook removed the derived spec"

# ---- the iommufd backend: libvirt 9.0 has no <hostdev> for it -----------------------------
# The recipe's iommufd way: root's spec with a context (no device yet), handed to QEMU at
# launch (-object iommufd,fd=@fd:iommufd0@ in <qemu:commandline>; the plain wrapper, so
# the hook derives nothing). The hotplug: vfiojail attach --hostdev BDF,iommufd=iommufd0
# (the filter opens the cdev), then QEMU's device_add through libvirt's monitor
# (virsh qemu-monitor-command: libvirt 9.0's attach-device cannot name an iommufd object),
# device_del the same way, the guest answers, vfiojail detach.
D=hpi
wrapper "$W/bin/qemu-system-x86_64" /usr/bin/qemu-system-x86_64 "$VFIOJAIL"
printf '{ "name": "%s", "user": "libvirt-qemu", "memory": "%sMiB", "iommufd": [ { "id": "iommufd0" } ], "hostdevs": [ ] }\n' \
	$D $RAM >"$SPECS/$D.json"
: >"$GUESTLOG"
dom_xml $D "$W/bin/qemu-system-x86_64" "-object iommufd,id=iommufd0,fd=@fd:iommufd0@" >"$W/$D.xml"
dom_start $D
guest_says INNER-GUEST-INIT 900
guest_says INNER-DEVICE-absent 120
echo "hotplug: the inner guest ($D) reached its init in $((SECONDS - t0)) s"
mode0=$({ "$VMTOOL" held "$q" || true; } | awk '/^[0-9]/ { print "fd " $1 " " $2 }' | paste -sd, -)
[[ "$mode0" == *per-process* && "$mode0" != *per-user* ]] || fail "$D's iommufd contexts: $mode0"
assert_eq "$(nsenter -t "$q" -m stat -c %U "$CDEV" 2>&1)" libvirt-qemu "$CDEV in QEMU's /dev (libvirt's), libvirt-qemu's"
row "started (root's spec: a context, no device)" $D "$q" "$(from_cgroup "$q" "$CDEV")"
lim0=$(limits "$q") pin0=$(vmpin "$q")
assert_eq "$(from_cgroup "$q" "$CDEV")" EPERM "before vfiojail attach: $CDEV is refused"
capture "$VFIOJAIL" attach $D --hostdev "$EDU_A,iommufd=iommufd0"
assert_eq "$rc" 0 "vfiojail attach $D --hostdev $EDU_A,iommufd=iommufd0 ($err)"
lim1=$(limits "$q")
((${lim1%/*} > ${lim0%/*})) || fail "memlock not raised by vfiojail attach: $lim0 -> $lim1"
assert_eq "$(from_cgroup "$q" "$CDEV")" ok "after vfiojail attach: $CDEV opens from QEMU's cgroup"
row "vfiojail attach --hostdev $EDU_A,iommufd=iommufd0" $D "$q" ok
from=$(guest_lines)
capture lv_virsh qemu-monitor-command $D "{\"execute\":\"device_add\",\"arguments\":{\"driver\":\"vfio-pci\",\"host\":\"$EDU_A\",\"iommufd\":\"iommufd0\",\"bus\":\"pci.1\",\"addr\":\"0\",\"id\":\"hd0\"}}"
assert_eq "$rc" 0 "device_add through virsh qemu-monitor-command ($out $err; $(tail -3 "$LV_LOG/qemu/$D.log"))"
[[ "$out" != *'"error"'* ]] || fail "QEMU refused device_add: $out"
guest_says "INNER-DEVICE-present" 180 "$from"
assert_eq "$(in_qemu $D)" "1:0 hd0" "query-pci: the edu device at bus 1 slot 0 as hd0"
pin1=$(vmpin "$q") lim2=$(limits "$q")
((pin1 - pin0 >= RAM * 1024)) || fail "VmPin $pin0 -> $pin1 kB: not grown by the guest's $RAM MiB"
mode1=$({ "$VMTOOL" held "$q" || true; } | awk '/^[0-9]/ { print "fd " $1 " " $2 }' | paste -sd, -)
[[ "$mode1" == *per-process* && "$mode1" != *per-user* ]] || fail "$D's iommufd contexts after device_add: $mode1"
row "device_add (virsh qemu-monitor-command)" $D "$q" "(held by QEMU)"
capture "$VFIOJAIL" status $D
assert_eq "$rc" 0 "status after the hotplug: no drift ($out$err)"
pass "libvirt 9.0, iommufd: vfiojail attach, then device_add through libvirt's monitor: the guest sees the device, VmPin $pin0 -> $pin1 kB on the per-process context, memlock $(mib "$lim0") -> $(mib "$lim1")"
from=$(guest_lines)
t1=$SECONDS
capture lv_virsh qemu-monitor-command $D '{"execute":"device_del","arguments":{"id":"hd0"}}'
assert_eq "$rc" 0 "device_del ($out $err)"
guest_says "INNER-DEVICE-absent" 180 "$from"
for _ in $(seq 120); do [[ -z "$(in_qemu $D)" ]] && break; sleep 1; done
assert_eq "$(in_qemu $D)" "" "query-pci no longer lists the device"
echo "hotplug: the unplug ($D) took $((SECONDS - t1)) s"
assert_eq "$(vmpin "$q")" "$pin0" "VmPin back after the unplug"
row "device_del, guest answered" $D "$q" "$(from_cgroup "$q" "$CDEV")"
capture "$VFIOJAIL" detach $D --hostdev "$EDU_A"
assert_eq "$rc" 0 "vfiojail detach $D --hostdev $EDU_A ($err)"
lim3=$(limits "$q")
assert_eq "$lim3" "$lim0" "memlock after vfiojail detach: back to what QEMU started with"
assert_eq "$(from_cgroup "$q" "$CDEV")" EPERM "after vfiojail detach: $CDEV is refused again"
row "vfiojail detach --hostdev $EDU_A" $D "$q" EPERM
pass "libvirt 9.0, iommufd: device_del (the guest answered), then vfiojail detach: VmPin back to $pin0 kB, memlock $(mib "$lim2") -> $(mib "$lim3") ($(mib "$lim0") at start), $CDEV EPERM"
capture lv_virsh destroy $D
assert_eq "$rc" 0 "virsh destroy ($err)"
lv_virsh undefine $D >/dev/null
rm -f "$SPECS/$D.json"
for _ in $(seq 50); do [[ ! -e "$STATE/$D.json" ]] && break; sleep 0.1; done
lv_stop
rmdir /run/vfiojail/libvirt # the hook's directory (it stays, empty, as on a host)
qemu10_unbind
column -t -s $'\t' "$TSV"
assert_guest_clean
pass "libvirt 9.0 hostdev hotplug with the recipe: nothing left"
