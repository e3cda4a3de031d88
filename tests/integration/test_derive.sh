#!/usr/bin/env bash
# vfiojail derive --from libvirt: the spec of a domain XML is one `vfiojail plan`
# accepts, with the domain's memory, host devices and nodes; bad XML exits 2
# naming the element and prints nothing; hostile XML reads no file; a real block
# device named by a symlink is derived as its node.
source "$(dirname "$0")/lib.sh"
command -v jq >/dev/null || fail "jq is needed (tools/install-deps installs it)"

fx="$VJ_FIXTURES/libvirt"
lvhost=(--sysfs-root "$fx/host/sys" --dev-root "$fx/host/dev")

# ---- a domain on the gpu-iommufd fixture host, derived and planned ----------
make_host gpu-iommufd
roots=(--sysfs-root "$HOST/sys" --dev-root "$HOST/dev")
capture "$VFIOJAIL" derive --from libvirt "${roots[@]}" "$fx/derive-gpu.xml"
assert_eq "$rc" 0 "derive derive-gpu.xml ($err)"
printf '%s\n' "$out" >"$WORK/gpu.json"
assert_eq "$(jq -r .name "$WORK/gpu.json")" derived-gpu "name"
assert_eq "$(jq -r .memory "$WORK/gpu.json")" $((16 << 30)) "memory is <maxMemory>"
assert_eq "$(jq -r '[.user, .group] | join(":")' "$WORK/gpu.json")" 64055:107 "user from the DAC label"
assert_eq "$(jq -r '[.hostdevs[] | .pci + "=" + .backend] | join(" ")' "$WORK/gpu.json")" \
	"0009:06:00.0=iommufd 0009:06:00.1=iommufd 0009:07:00.0=legacy" "hostdevs and backends"
assert_eq "$(jq -r .viommu "$WORK/gpu.json")" 1 "viommu"
assert_eq "$(jq -r 'has("memlock")' "$WORK/gpu.json")" false "hugepages set no memlock"
capture "$VFIOJAIL" plan --json "${roots[@]}" "$WORK/gpu.json"
assert_eq "$rc" 0 "plan accepts the derived spec ($err)"
assert_eq "$(jq -r '[.hostdevs[] | .node] | join(" ")' <<<"$out")" \
	"/dev/vfio/devices/vfio0 /dev/vfio/devices/vfio1 /dev/vfio/15" "planned hostdev nodes"
# Three devices behind a vIOMMU: one copy of the 16 GiB each, plus the 1 GiB allowance.
assert_eq "$(jq -r .memlock.bytes <<<"$out")" $((3 * (16 << 30) + (1 << 30))) "planned memlock"
# The same from standard input.
capture "$VFIOJAIL" derive --from libvirt "${roots[@]}" - <"$fx/derive-gpu.xml"
assert_eq "$rc" 0 "derive from stdin ($err)"
assert_eq "$out" "$(cat "$WORK/gpu.json")" "stdin gives the same spec"
pass "derive-gpu.xml: derived, and planned with 3 hostdevs"

# ---- libvirt's own test data -------------------------------------------------
derive_ok() { # FILE JQ EXPECTED
	capture "$VFIOJAIL" derive --from libvirt --user 64055 --group 107 "${lvhost[@]}" "$fx/$1"
	assert_eq "$rc" 0 "derive $1 ($err)"
	assert_eq "$(jq -c "$2" <<<"$out")" "$3" "$1: $2"
	# What derive prints is a spec the spec parser takes back.
	printf '%s\n' "$out" >"$WORK/d.json"
	capture "$VFIOJAIL" plan --sysfs-root "$WORK/none" --dev-root "$WORK/none" "$WORK/d.json"
	[[ "$err" != *"spec:"* ]] || fail "$1: the derived spec is not valid: $err"
}
derive_ok hostdev-vfio.xml '[.memory, [.hostdevs[] | .pci + "=" + .backend], [.devices[] | .path + ":" + .access]]' \
	'[224358400,["0000:06:12.1=legacy","0000:06:12.2=legacy","0000:06:12.3=legacy","0000:06:12.4=legacy"],["/dev/dm-1:rw"]]'
derive_ok disk-nvme.xml '[.nvme, [.hostdevs[] | .pci + "=" + .backend]]' \
	'[4,["0000:01:00.0=legacy","0000:02:00.0=legacy","0001:02:00.0=legacy"]]'
derive_ok memory-hotplug-dimm.xml '[.memory, [.devices[].path]]' '[1125899906842624,["/dev/dm-0"]]'
derive_ok hostdev-usb-address-device.xml '[.arch, [.devices[].path]]' '["i686",["/dev/dm-0","/dev/bus/usb/014/006"]]'
derive_ok hostdev-scsi-lsi.xml '[.devices[] | .path + ":" + .access]' '["/dev/dm-1:rw","/dev/sg0:rw","/dev/sg1:r"]'
derive_ok tpm-passthrough.xml '[.memory, [.devices[].path]]' '[2147483648,["/dev/tpm0"]]'
derive_ok input-linux.xml '[.devices[].path]' '["/dev/input/event1234"]'
derive_ok intel-iommu-caching-mode.xml '[.viommu, has("devices")]' '[1,false]'
derive_ok hugepages-default.xml '[.memory, has("memlock")]' '[224395264,false]'
derive_ok derive-devices.xml '[.memlock, .vdpa, [.devices[] | .path + ":" + .access]]' \
	'[{"hard_limit":3221225472},1,["/dev/sda:rw","/dev/sr0:r","/dev/dm-2:rw","/dev/dm-3:r","/dev/bus/usb/003/007:rw","/dev/ttyS0:rw","/dev/input/event1234:rw","/dev/tpm0:rw","/dev/hwrng:r","/dev/dri/renderD128:rw","/dev/dax0.0:rw"]]'
# No --user: the DAC seclabel, else the build's default user.
capture "$VFIOJAIL" derive --from libvirt "${lvhost[@]}" "$fx/seclabel-static.xml"
assert_eq "$rc" 0 "derive seclabel-static.xml ($err)"
[[ "$(jq -r .user <<<"$out")" != 64055 ]] || fail "seclabel-static.xml: user not the default"
pass "libvirt's test data derived as expected"

# ---- bad input: exit 2, the element named, nothing printed or left -----------
before=$(ls -A "$WORK")
bad_xml() { # XML OBJECT NEEDLE
	printf '%s' "$1" >"$WORK/bad.xml"
	capture "$VFIOJAIL" derive --from libvirt "${lvhost[@]}" --user 64055 --group 107 "$WORK/bad.xml"
	assert_eq "$rc" 2 "exit status for $1 ($err)"
	assert_contains "$err" "$2" "element named for $1"
	assert_contains "$err" "$3" "message for $1"
	assert_eq "$out" "" "nothing on stdout for $1"
	rm -f "$WORK/bad.xml"
}
dom() { printf "<domain><name>vm</name><memory unit='GiB'>1</memory>%s</domain>" "$1"; }
bad_xml "$(dom "<devices><disk type='file'/><hostdev mode='subsystem' type='pci'><source><address bus='1'/></source></hostdev><hostdev mode='subsystem' type='pci'><source><address domain='0' bus='0x100' slot='0' function='0'/></source></hostdev></devices>")" \
	'devices/hostdev[2]/source/address' 'bus="0x100"'
bad_xml "$(dom "<devices><hostdev mode='subsystem' type='usb'><source><vendor id='0xdead'/><product id='0xbeef'/></source></hostdev></devices>")" \
	'devices/hostdev[1]/source' 'no USB device dead:beef'
bad_xml "$(dom "<devices><disk type='block' device='disk'><source dev='/dev/HostVG/gone'/></disk></devices>")" \
	'devices/disk[1]/source' 'No such file'
bad_xml "$(dom "<os><type arch='sparc64'>hvm</type></os>")" 'os/type' 'sparc64'
bad_xml "<domain><name>vm</name><memory unit='EiB'>16</memory></domain>" 'memory' 'too large'
bad_xml "<domain><name>vm</name>" 'domain XML' 'not well-formed'
capture "$VFIOJAIL" derive --from xen "$fx/hostdev-vfio.xml"
assert_eq "$rc" 2 "--from xen"
capture "$VFIOJAIL" derive --from libvirt --memory 4G "$fx/hostdev-vfio.xml"
assert_eq "$rc" 2 "derive takes no other spec flag"
capture "$VFIOJAIL" derive --from libvirt "$WORK/no-such.xml"
assert_eq "$rc" 2 "a missing file"
head -c $((4 * 1024 * 1024 + 1)) /dev/zero | tr '\0' ' ' >"$WORK/big.xml"
capture "$VFIOJAIL" derive --from libvirt "$WORK/big.xml"
assert_eq "$rc" 2 "an XML above 4 MiB"
assert_contains "$err" "larger than 4 MiB" "the size cap named"
rm -f "$WORK/big.xml"
assert_eq "$(ls -A "$WORK")" "$before" "nothing left behind in the work dir"
pass "bad domain XML refused with status 2, naming the element"

# ---- hostile XML: refused quickly, no local file read ------------------------
secret="$WORK/secret"
echo "top-secret-$$" >"$secret"
cat >"$WORK/xxe.xml" <<EOF
<?xml version="1.0"?>
<!DOCTYPE domain [ <!ENTITY x SYSTEM "file://$secret"> ]>
<domain><name>&x;</name><memory>1024</memory></domain>
EOF
cat >"$WORK/dtd.xml" <<EOF
<?xml version="1.0"?>
<!DOCTYPE domain SYSTEM "file://$secret">
<domain><name>vm</name><memory>1024</memory></domain>
EOF
{
	echo '<?xml version="1.0"?><!DOCTYPE domain [<!ENTITY a "aaaaaaaaaaaaaaaa">'
	prev=a
	for e in b c d e f g h i j k; do
		printf '<!ENTITY %s "%s">' "$e" "$(printf "&$prev;%.0s" {1..16})"
		prev=$e
	done
	echo "]><domain><name>&$prev;</name><memory>1024</memory></domain>"
} >"$WORK/laughs.xml"
for f in xxe dtd laughs; do
	if command -v strace >/dev/null; then
		# LeakSanitizer cannot run under ptrace (an ASan build): leaks are checked below.
		capture env ASAN_OPTIONS="${ASAN_OPTIONS}:detect_leaks=0" timeout 20 \
			strace -f -qq -e trace=open,openat,openat2 -o "$WORK/$f.trace" \
			"$VFIOJAIL" derive --from libvirt "$WORK/$f.xml"
		assert_eq "$rc" 2 "$f.xml refused ($err)"
		! grep -q "$secret" "$WORK/$f.trace" || fail "$f.xml: $secret was opened"
		rm -f "$WORK/$f.trace"
	else
		capture timeout 20 "$VFIOJAIL" derive --from libvirt "$WORK/$f.xml"
		assert_eq "$rc" 2 "$f.xml refused ($err)"
	fi
	assert_eq "$out" "" "$f.xml: nothing printed"
	capture timeout 20 "$VFIOJAIL" derive --from libvirt "$WORK/$f.xml"
	assert_eq "$rc" 2 "$f.xml refused without strace ($err)"
	[[ "$err" != *top-secret* ]] || fail "$f.xml: the secret reached the message"
done
command -v strace >/dev/null || echo "note: no strace: the opens of the hostile XML were not traced"
pass "billion laughs, external entity and external DTD refused; the secret file never opened"

# ---- a real block device named by a symlink ------------------------------------
[[ $(id -u) -eq 0 ]] || skip "losetup needs root"
img="$WORK/disk.img"
truncate -s 8M "$img"
loop=$(losetup -f --show "$img" 2>/dev/null) || skip "no loop device (losetup -f failed)"
on_exit "losetup -d '$loop'"
link="/dev/vfiojail-derive-test-$$"
ln -s "${loop#/dev/}" "$link"
on_exit "rm -f '$link'"
cat >"$WORK/loop.xml" <<EOF
<domain type='kvm'>
  <name>derived-loop</name>
  <memory unit='MiB'>256</memory>
  <devices>
    <disk type='block' device='disk'>
      <source dev='$link'/>
      <target dev='vda' bus='virtio'/>
    </disk>
  </devices>
  <seclabel type='static' model='dac'><label>+64055:+107</label></seclabel>
</domain>
EOF
capture "$VFIOJAIL" derive --from libvirt "$WORK/loop.xml"
assert_eq "$rc" 0 "derive with a loop device ($err)"
assert_eq "$(jq -c '.devices' <<<"$out")" "[{\"path\":\"$loop\",\"access\":\"rw\"}]" "the node, not the symlink"
printf '%s\n' "$out" >"$WORK/loop.json"
capture "$VFIOJAIL" plan --json "$WORK/loop.json"
assert_eq "$rc" 0 "plan accepts the loop device ($err)"
want=$(printf '%d:%d' "0x$(stat -c %t "$loop")" "0x$(stat -c %T "$loop")")
assert_eq "$(jq -r --arg p "$loop" '.nodes[] | select(.path == $p) | "\(.type) \(.major):\(.minor)"' <<<"$out")" \
	"b $want" "planned node of $loop"
# Without the derivation the symlink itself is refused by plan.
jq --arg l "$link" '.devices[0].path = $l' "$WORK/loop.json" >"$WORK/link.json"
capture "$VFIOJAIL" plan "$WORK/link.json"
assert_eq "$rc" 125 "plan refuses the symlink itself"
pass "a loop device behind $link derived as $loop (b $want)"
