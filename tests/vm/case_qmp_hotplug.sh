#!/usr/bin/env bash
# attach --qmp and detach --qmp into a running QEMU (10 or 11, by stack), iommufd backend.
# A setup jail with an iommufd context and no device; QEMU entered as nobody with the
# context as its iommufd object and a pcie-root-port (rp1, native PCIe hotplug). attach
# --qmp hands QEMU the edu device's cdev by SCM_RIGHTS and device_adds it: query-pci lists
# it, QEMU pins the guest's RAM (VmPin), its memlock rises, the jail has no node or rule
# for it. detach --qmp: device_del, DEVICE_DELETED once the guest let the device go,
# VmPin back to 0, QEMU holds no fd of the device, the state forgets it.
#
# The guest: when the suite's kernel has pciehp (CONFIG_HOTPLUG_PCI_PCIE), the inner VM
# boots it (root: a static busybox over 9p) and the guest's own pciehp answers. Without
# it, the inner VM stays paused (-S) and this case plays the guest's pciehp through a
# second monitor (port I/O to rp1's Slot Control, as the driver writes it: slot on for
# a card present, off after the attention button); the time a nested boot of the
# suite's kernel to its init takes is measured and printed.
source "$(dirname "$0")/lib.sh"
if [[ $VJ_ARCH == aarch64 ]]; then
	not_here "attach --qmp into a q35 guest" "the case drives the inner q35 guest's PCIe slot by x86 port I/O (or boots the suite's bzImage); the arm64 kernel has no pciehp (CONFIG_HOTPLUG_PCI_PCIE is off in tests/vm/kernel-arm64.config) and virt has no port I/O to play it"
	exit 0
fi

bz=$(ls /var/cache/vfiojail-vmtest/kernel-"$(uname -r | cut -d. -f1,2)".*/bzImage 2>/dev/null | head -1 || true)
real_guest=false
[[ -d /sys/bus/pci_express/drivers/pciehp && -n "$bz" ]] && real_guest=true
# The inner guest's root: a static busybox and an init that reports what it sees.
mkdir -p "$T/groot/proc" "$T/groot/sys"
if file -L /bin/busybox | grep -q "statically linked"; then
	cp /bin/busybox "$T/groot/busybox"
else
	real_guest=false
fi
cat >"$T/groot/init" <<'EOF'
#!/busybox sh
/busybox mount -t proc proc /proc
/busybox mount -t sysfs sys /sys
/busybox echo INNER-GUEST-INIT
[ "$1" = measure ] && /busybox poweroff -f
seen=
while :; do
	s=absent
	for d in /sys/bus/pci/devices/*; do
		[ "$(/busybox cat "$d/vendor"):$(/busybox cat "$d/device")" = 0x1234:0x11e8 ] && s=present
	done
	[ "$s" != "$seen" ] && /busybox echo "INNER-DEVICE-$s" && seen=$s
	/busybox sleep 1
done
EOF
chmod 0755 "$T/groot/init"
# pcie_ports=native: the suite's kernel (no ASPM, no MMCONFIG) does not ask the firmware
# for native PCIe control (_OSC), and so would leave the root port to no hotplug driver.
inner_kernel() { # MODE: QEMU's arguments (in ik) to boot the suite's kernel with that root
	ik=(-kernel "$bz" -fsdev "local,id=r,path=$T/groot,security_model=none,readonly=on"
		-device virtio-9p-pci,fsdev=r,mount_tag=groot -no-reboot
		-append "console=ttyS0 root=groot rootfstype=9p rootflags=trans=virtio,version=9p2000.L ro panic=-1 pcie_ports=native init=/init -- $1")
}

if ! $real_guest; then
	# How long a real guest would take: the suite's kernel under QEMU in this TCG guest.
	if [[ -n "$bz" && -f "$T/groot/busybox" ]]; then
		t0=$SECONDS
		inner_kernel measure
		timeout 240 "$QEMU" -L "$VJ_QEMU_DIR/usr/share/qemu" -machine q35,accel=tcg -m 128M -nodefaults \
			-display none -serial "file:$T/measure.log" "${ik[@]}" </dev/null >/dev/null 2>&1 || true
		t=$((SECONDS - t0))
		if grep -q INNER-GUEST-INIT "$T/measure.log"; then
			echo "measure: a nested TCG guest ($(basename "$(dirname "$bz")")) reached its init in ${t} s; it has no pciehp: the guest's part is played"
		else
			echo "measure: a nested TCG guest did not reach init within ${t} s: $(tail -c 300 "$T/measure.log" | tr -d '\r')"
		fi
	else
		echo "measure: no suite kernel for $(uname -r) or no static busybox: nested boot not measured"
	fi
fi

mem=64
$real_guest && mem=128
# EDU_B on its own context (iommufd1, reached by its node, unused by QEMU) gives the jail
# a memlock plan of one RAM budget; EDU_A on iommufd0 (QEMU's iommufd object) adds one.
s=$(spec qh ${mem}MiB "[ { \"pci\": \"$EDU_B\", \"iommufd\": \"iommufd1\" } ]" \
	'"iommufd": [ { "id": "iommufd0" }, { "id": "iommufd1" } ]')
capture "$VFIOJAIL" setup "$s"
assert_eq "$rc" 0 "setup ($err)"
sock=$(qmp_sock qh)
# Two monitors: vfiojail's (qh) and this case's (qh2): QEMU serves one client per socket.
qemu_args=()
for a in "${QEMU_VM[@]}"; do [[ $a == -S ]] && $real_guest || qemu_args+=("$a"); done
qemu_args+=(-m ${mem}M $(qmp_args qh) $(qmp_args qh2)
	-global ICH9-LPC.acpi-pci-hotplug-with-bridge-support=off
	-object iommufd,id=iommufd0,fd=@fd:iommufd0@ -device pcie-root-port,id=rp1,bus=pcie.0,chassis=1,addr=0x5)
if $real_guest; then
	inner_kernel run
	qemu_args+=(-serial "file:$T/guest.log" "${ik[@]}")
fi
t0=$SECONDS
vm_start qh "$T/qh.log" -- "$VFIOJAIL" enter qh -- "${qemu_args[@]}"
vm_wait_qmp qh "$vm_pid" || fail "QEMU did not answer QMP: $(cat "$T/qh.log")"
q=$(qemu_pid_of qh) || fail "no QEMU in the jail"
guest_says() { # TEXT SECONDS: wait until the inner guest's console has TEXT
	local i
	for ((i = 0; i < $2; i++)); do
		grep -q "$1" "$T/guest.log" 2>/dev/null && return 0
		((i % 60 == 59)) && echo "waiting for the inner guest to say $1 ($((i + 1)) s)"
		sleep 1
	done
	fail "the inner guest did not say $1 within $2 s: $(tail -c 600 "$T/guest.log" | tr -d '\r')"
}
if $real_guest; then
	guest_says INNER-GUEST-INIT 600
	guest_says INNER-DEVICE-absent 60
	echo "the inner guest (the suite's kernel, with pciehp) reached its init in $((SECONDS - t0)) s"
fi
soft() { awk '/Max locked memory/ { print $4 }' "/proc/$1/limits"; }
# Does QEMU hold an fd of EDU_A's cdev?
holds_cdev() {
	local f want
	want=$(cdev_majmin "$EDU_A")
	for f in /proc/"$q"/fd/*; do
		[[ "$(stat -L -c '%F %Hr:%Lr' "$f" 2>/dev/null)" == "character special file $want" ]] && return 0
	done
	return 1
}
# The guest's part, played through the second monitor (port I/O to rp1's configuration
# space, as the guest's pciehp writes it).
hmp() { qmp qh2 human-monitor-command "{\"command-line\": \"$1\"}"; }
cfg() { printf '0x%x' $((0x80000000 | (5 << 11) | $1)); } # bus 0, device 5 (rp1), function 0
cfg_read() { hmp "o /w 0xcf8 $(cfg "$1")" >/dev/null; hmp "i /w 0xcfc" | sed -n 's/.*= *\(0x[0-9a-f]*\).*/\1/p'; }
cfg_write() { hmp "o /w 0xcf8 $(cfg "$1")" >/dev/null; hmp "o /w 0xcfc $(printf '0x%x' "$2")" >/dev/null; }
exp_cap() { # the PCI Express capability of rp1
	local p v
	p=$(($(cfg_read 0x34) & 0xfc))
	while ((p)); do
		v=$(cfg_read "$p")
		(((v & 0xff) == 0x10)) && { echo "$p"; return; }
		p=$(((v >> 8) & 0xfc))
	done
	fail "rp1 has no PCI Express capability"
}
# Slot Control: power controller on (PCC 0) and power indicator on, or both off.
slot_power() {
	local c v
	c=$(exp_cap)
	v=$(($(cfg_read $((c + 0x18))) & 0xffff))
	if [[ $1 == on ]]; then cfg_write $((c + 0x18)) $(((v & 0xf8ff) | 0x100)); else cfg_write $((c + 0x18)) $((v | 0x7c0)); fi
}

pin0=$(vmpin "$q")
assert_eq "$pin0" 0 "VmPin before attach"
soft0=$(soft "$q")
holds_cdev && fail "QEMU holds the cdev before attach"
# Without firmware (-S), rp1's secondary bus is numbered as firmware would: query-pci
# lists no device behind a bridge whose secondary bus is 0.
$real_guest || cfg_write 0x18 0x00010100
capture "$VFIOJAIL" attach qh --hostdev "$EDU_A,iommufd=iommufd0" --qmp "$sock" --qmp-bus rp1
assert_eq "$rc" 0 "attach --qmp ($err)"
if $real_guest; then guest_says INNER-DEVICE-present 180; else slot_power on; fi
id=vfiojail-${EDU_A//:/-}
assert_eq "$(qmp qh2 query-pci | jq -c "[.. | objects | select(.qdev_id? == \"$id\") | [.id.vendor, .id.device]]")" \
	"[[4660,4584]]" "query-pci lists $id (1234:11e8)"
pin1=$(vmpin "$q")
((pin1 >= mem * 1024)) || fail "QEMU pins $pin1 kB after attach, not its $mem MiB of RAM"
soft1=$(soft "$q")
((soft1 > soft0)) || fail "memlock not raised: $soft0 -> $soft1"
holds_cdev || fail "QEMU does not hold the cdev after attach"
assert_eq "$(jq -r ".plan.hostdevs[] | select(.pci == \"$EDU_A\") | .fd" "$STATE/qh.json")" "$id" "the state records the fd name"
[[ "$(nsenter --mount="$STATE/ns/qh" ls /dev/vfio/devices 2>/dev/null)" != *"$(basename "$(cdev_of "$EDU_A")")"* ]] ||
	fail "the jail has $EDU_A's cdev: $(nsenter --mount="$STATE/ns/qh" ls -l /dev/vfio/devices)"
capture "$VFIOJAIL" status qh
assert_eq "$rc" 0 "status after attach --qmp: no drift ($out$err)"
guest=$($real_guest && echo "the guest sees it" || echo "the guest's part played")
pass "attach --qmp on QEMU $QEMU_MAJOR ($guest): query-pci lists $id, VmPin 0 -> $pin1 kB, memlock $soft0 -> $soft1, no node in the jail"

if ! $real_guest; then
	# A guest that does not answer: detach gives up after 3 x --timeout, nothing changes.
	cp "$STATE/qh.json" "$T/attached.json"
	capture "$VFIOJAIL" detach qh --hostdev "$EDU_A" --qmp "$sock" --timeout 2
	assert_eq "$rc" 125 "detach with no answer from the guest ($err)"
	assert_contains "$err" "no DEVICE_DELETED" "says so"
	cmp -s "$T/attached.json" "$STATE/qh.json" || fail "a timed-out detach changed the state"
	assert_eq "$(vmpin "$q")" "$pin1" "VmPin stays"
	holds_cdev || fail "QEMU let the cdev go without an unplug"
	pass "detach --qmp without the guest's answer: 125 after 6 s, the device stays recorded and pinned"
fi

# The guest answers: detach waits (QEMU: the unplug is under way, or a new device_del)
# until the slot is powered off and QEMU unplugs the device.
"$VFIOJAIL" detach qh --hostdev "$EDU_A" --qmp "$sock" --timeout 60 >"$T/detach.out" 2>"$T/detach.err" &
dpid=$!
if ! $real_guest; then
	sleep 3
	slot_power off
fi
set +e
wait "$dpid"
rc=$?
set -e
assert_eq "$rc" 0 "detach --qmp ($(cat "$T/detach.err"))"
$real_guest && guest_says INNER-DEVICE-absent 120
assert_eq "$(qmp qh2 query-pci | jq -c "[.. | objects | select(.qdev_id? == \"$id\")] | length")" 0 "query-pci no longer lists it"
pin2=$(vmpin "$q")
assert_eq "$pin2" 0 "VmPin after detach"
holds_cdev && fail "QEMU still holds the cdev after detach"
assert_eq "$(jq -r '[.plan.hostdevs[].pci] | join(" ")' "$STATE/qh.json")" "$EDU_B" "the state forgets the device"
assert_eq "$(soft "$q")" "$soft0" "memlock lowered back to the plan without it"
status=$(qmp qh2 query-status | jq -r .status)
[[ $status == running || $status == prelaunch ]] || fail "QEMU's status after detach: $status"
pass "detach --qmp: DEVICE_DELETED, VmPin $pin1 -> $pin2 kB, QEMU holds no fd of the device, memlock $soft1 -> $(soft "$q"), QEMU $status"

# A device_add that QEMU refuses (no such bus): all undone, QEMU runs on.
cp "$STATE/qh.json" "$T/before.json"
soft2=$(soft "$q")
capture "$VFIOJAIL" attach qh --hostdev "$EDU_A,iommufd=iommufd0" --qmp "$sock" --qmp-bus nosuch
assert_eq "$rc" 125 "device_add on a bus QEMU lacks ($err)"
assert_contains "$err" "QEMU refused device_add" "QEMU's answer"
cmp -s "$T/before.json" "$STATE/qh.json" || fail "a failed attach changed the state"
assert_eq "$(vmpin "$q")" 0 "nothing pinned"
holds_cdev && fail "QEMU kept the cdev of a refused device_add"
assert_eq "$(soft "$q")" "$soft2" "memlock as before the refused attach"
assert_eq "$(qmp qh2 query-status | jq -r .status)" "$status" "QEMU runs on after the refused attach"
pass "a refused device_add: the fd closed in QEMU, the state as before, QEMU runs on"

vm_quit qh "$vm_pid"
capture "$VFIOJAIL" teardown --kill qh
assert_eq "$rc" 0 "teardown ($err)"
assert_guest_clean
pass "teardown: nothing left"
