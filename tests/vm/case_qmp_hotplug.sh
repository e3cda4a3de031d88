#!/usr/bin/env bash
# attach --qmp and detach --qmp into a running QEMU (10 or 11, by stack), iommufd backend.
# A setup jail with an iommufd context and no device; QEMU entered as nobody with the
# context as its iommufd object and a pcie-root-port (rp1). attach --qmp hands QEMU the
# edu device's cdev by SCM_RIGHTS and device_adds it: query-pci lists it, QEMU pins its
# RAM (VmPin), its memlock rises, and the jail has no node or rule for the device.
# detach --qmp: device_del, DEVICE_DELETED, VmPin back to 0, QEMU holds no fd of the
# device, the state forgets it.
#
# The guest's part of a PCIe hot-unplug (pciehp: power the slot on for a card present;
# on the attention button, power it off) is played by this case through QEMU's monitor
# (port I/O to the root port's Slot Control, as the guest's driver writes it): the
# suite's kernel has no pciehp (CONFIG_HOTPLUG_PCI_PCIE). The first part of this case
# measures how long a nested TCG boot of that kernel to its init takes (printed).
source "$(dirname "$0")/lib.sh"

# ---- 1. How long a real guest would take: the suite's kernel under QEMU inside this
# TCG guest, to its init (a static busybox over 9p), at most 240 s.
bz=$(ls /var/cache/vfiojail-vmtest/kernel-"$(uname -r | cut -d. -f1,2)".*/bzImage 2>/dev/null | head -1 || true)
if [[ -n "$bz" && -x /bin/busybox ]] && file /bin/busybox | grep -q "statically linked"; then
	mkdir -p "$T/groot"
	cp /bin/busybox "$T/groot/busybox"
	printf '#!/busybox sh\n/busybox echo INNER-GUEST-INIT\n/busybox poweroff -f\n' >"$T/groot/init"
	chmod 0755 "$T/groot/init"
	t0=$SECONDS
	timeout 240 "$QEMU" -L "$VJ_QEMU_DIR/usr/share/qemu" -machine q35,accel=tcg -m 128M -nodefaults \
		-display none -no-reboot -serial "file:$T/inner.log" -kernel "$bz" \
		-fsdev "local,id=r,path=$T/groot,security_model=none,readonly=on" \
		-device virtio-9p-pci,fsdev=r,mount_tag=groot \
		-append "console=ttyS0 root=groot rootfstype=9p rootflags=trans=virtio,version=9p2000.L ro panic=-1 init=/init" \
		</dev/null >/dev/null 2>&1 || true
	t=$((SECONDS - t0))
	if grep -q INNER-GUEST-INIT "$T/inner.log"; then
		echo "measure: a nested TCG guest (the suite's kernel, $(basename "$(dirname "$bz")")) reached init in ${t} s"
	else
		echo "measure: a nested TCG guest did not reach init within ${t} s; its console ends: $(tail -c 300 "$T/inner.log" | tr -d '\r')"
	fi
else
	echo "measure: no suite kernel for $(uname -r) or no static busybox: nested boot not measured"
fi

# ---- 2. The hotplug, with the guest's part played through the monitor.
s=$(spec qh 64MiB "[]" '"iommufd": [ { "id": "iommufd0" } ]')
capture "$VFIOJAIL" setup "$s"
assert_eq "$rc" 0 "setup ($err)"
sock=$(qmp_sock qh)
# Two monitors: vfiojail's (qh) and this case's (qh2), as QEMU serves one client per socket.
vm_start qh "$T/qh.log" -- "$VFIOJAIL" enter qh -- "${QEMU_VM[@]}" -m 64M $(qmp_args qh) $(qmp_args qh2) \
	-global ICH9-LPC.acpi-pci-hotplug-with-bridge-support=off \
	-object iommufd,id=iommufd0,fd=@fd:iommufd0@ -device pcie-root-port,id=rp1,bus=pcie.0,chassis=1,addr=0x5
vm_wait_qmp qh "$vm_pid" || fail "QEMU did not answer QMP: $(cat "$T/qh.log")"
q=$(qemu_pid_of qh) || fail "no QEMU in the jail"
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
pin0=$(vmpin "$q")
assert_eq "$pin0" 0 "VmPin before attach"
soft0=$(soft "$q")
holds_cdev && fail "QEMU holds the cdev before attach"

# The guest's part, played through the second monitor (port I/O to rp1's config space,
# as the guest's pciehp driver writes it). Native PCIe hotplug (QEMU's q35 default is
# ACPI hotplug, whose eject a guest does through ACPI): on a card present, power the slot
# on; after the attention button (device_del), power it off: QEMU then unplugs the device.
hmp() { qmp qh2 human-monitor-command "{\"command-line\": \"$1\"}"; }
cfg() { printf '0x%x' $((0x80000000 | (5 << 11) | $1)); } # bus 0, device 5 (rp1), function 0
cfg_read() { hmp "o /w 0xcf8 $(cfg "$1")" >/dev/null; hmp "i /w 0xcfc" | sed -n 's/.*= *\(0x[0-9a-f]*\).*/\1/p'; }
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
# What the firmware does at boot: number rp1's secondary bus (query-pci lists no device
# behind a bridge whose secondary bus is 0, and this VM runs no firmware: -S).
number_bus() {
	hmp "o /w 0xcf8 $(cfg 0x18)" >/dev/null
	hmp "o /w 0xcfc 0x00010100" >/dev/null
}
# The guest's pciehp, on a card present: power the slot on, power indicator on.
slot_power_on() {
	local c v
	c=$(exp_cap)
	v=$(cfg_read $((c + 0x18)))
	hmp "o /w 0xcf8 $(cfg $((c + 0x18)))" >/dev/null
	hmp "o /w 0xcfc $(printf '0x%x' $(((v & 0xf8ff) | 0x100)))" >/dev/null
}
slot_power_off() {
	local c v
	c=$(exp_cap)
	v=$(cfg_read $((c + 0x18)))
	hmp "o /w 0xcf8 $(cfg $((c + 0x18)))" >/dev/null
	hmp "o /w 0xcfc $(printf '0x%x' $(((v & 0xffff) | 0x7c0)))" >/dev/null
}

number_bus
capture "$VFIOJAIL" attach qh --hostdev "$EDU_A" --qmp "$sock" --qmp-bus rp1
assert_eq "$rc" 0 "attach --qmp ($err)"
id=vfiojail-${EDU_A//:/-}
assert_eq "$(qmp qh2 query-pci | jq -c "[.. | objects | select(.qdev_id? == \"$id\") | [.id.vendor, .id.device]]")" \
	"[[4660,4584]]" "query-pci lists $id (1234:11e8)"
slot_power_on
pin1=$(vmpin "$q")
((pin1 >= 65536)) || fail "QEMU pins $pin1 kB after attach, not its 64 MiB of RAM"
soft1=$(soft "$q")
((soft1 > soft0)) || fail "memlock not raised: $soft0 -> $soft1"
holds_cdev || fail "QEMU does not hold the cdev after attach"
assert_eq "$(jq -r ".plan.hostdevs[] | select(.pci == \"$EDU_A\") | .fd" "$STATE/qh.json")" "$id" "the state records the fd name"
[[ -z "$(nsenter --mount="$STATE/ns/qh" ls /dev/vfio/devices 2>/dev/null)" ]] ||
	fail "the jail has a VFIO cdev node: $(nsenter --mount="$STATE/ns/qh" ls -l /dev/vfio/devices)"
capture "$VFIOJAIL" status qh
assert_eq "$rc" 0 "status after attach --qmp: no drift ($out$err)"
pass "attach --qmp on QEMU $QEMU_MAJOR: query-pci lists $id, VmPin 0 -> $pin1 kB, memlock $soft0 -> $soft1, no node in the jail"

# A guest that does not answer: detach gives up after 3 x --timeout, nothing changes.
cp "$STATE/qh.json" "$T/attached.json"
capture "$VFIOJAIL" detach qh --hostdev "$EDU_A" --qmp "$sock" --timeout 2
assert_eq "$rc" 125 "detach with no answer from the guest ($err)"
assert_contains "$err" "no DEVICE_DELETED" "says so"
cmp -s "$T/attached.json" "$STATE/qh.json" || fail "a timed-out detach changed the state"
assert_eq "$(vmpin "$q")" "$pin1" "VmPin stays"
pass "detach --qmp without the guest's answer: 125 after 6 s, the device stays recorded and pinned"

# Now the guest answers: detach (device_del again) in the background, the slot powered off.
"$VFIOJAIL" detach qh --hostdev "$EDU_A" --qmp "$sock" >"$T/detach.out" 2>"$T/detach.err" &
dpid=$!
sleep 2
slot_power_off
set +e
wait "$dpid"
rc=$?
set -e
assert_eq "$rc" 0 "detach --qmp ($(cat "$T/detach.err"))"
assert_eq "$(qmp qh2 query-pci | jq -c "[.. | objects | select(.qdev_id? == \"$id\")] | length")" 0 "query-pci no longer lists it"
pin2=$(vmpin "$q")
assert_eq "$pin2" 0 "VmPin after detach"
holds_cdev && fail "QEMU still holds the cdev after detach"
assert_eq "$(jq -r '.plan.hostdevs | length' "$STATE/qh.json")" 0 "the state forgets the device"
assert_eq "$(qmp qh2 query-status | jq -r .status)" prelaunch "QEMU runs on"
pass "detach --qmp: DEVICE_DELETED, VmPin $pin1 -> $pin2 kB, QEMU holds no fd of the device, memlock $(soft "$q")"

# A device_add that QEMU refuses (no such bus): all undone, QEMU runs on.
cp "$STATE/qh.json" "$T/before.json"
soft2=$(soft "$q")
capture "$VFIOJAIL" attach qh --hostdev "$EDU_A" --qmp "$sock" --qmp-bus nosuch
assert_eq "$rc" 125 "device_add on a bus QEMU lacks ($err)"
assert_contains "$err" "QEMU refused device_add" "QEMU's answer"
cmp -s "$T/before.json" "$STATE/qh.json" || fail "a failed attach changed the state"
assert_eq "$(vmpin "$q")" 0 "nothing pinned"
holds_cdev && fail "QEMU kept the cdev of a refused device_add"
assert_eq "$(soft "$q")" "$soft2" "memlock as before the refused attach"
assert_eq "$(qmp qh2 query-status | jq -r .status)" prelaunch "QEMU runs on after the refused attach"
pass "a refused device_add: the fd closed in QEMU, the state as before, QEMU runs on"

vm_quit qh "$vm_pid"
capture "$VFIOJAIL" teardown --kill qh
assert_eq "$rc" 0 "teardown ($err)"
assert_guest_clean
pass "teardown: nothing left"
