#!/usr/bin/env bash
# vmtest-timeout: 1200
# libvirt on the real kernel, side by side (issue 20): libvirt 9.0 (the host root's) and,
# on the sid stack, libvirt 12.8 (the sid root's, pivot_root'd: tests/vm/libvirt/lvsid.sh).
# The same work each way: two domains of one user (libvirt-qemu), 64 MiB of guest RAM
# each, one edu device each on vfio-pci, started paused (-S: the devices are realized and
# guest RAM is mapped for DMA, which is what pins), with a memlock of 112 MiB: near the
# RAM, so that per-user accounting (two VMs, 128 MiB pinned in all) fails the second.
#
# Ways ("table:" lines, also $OUT/libvirt.tsv; docs/LIBVIRT.md has the table):
#   9.0 alone          legacy VFIO <hostdev> (9.0 has no iommufd backend), cgroups on
#   9.0 alone iommufd  QEMU opens /dev/iommu itself (<qemu:commandline>), cgroups on,
#                      the nodes in cgroup_device_acl: the original report (per-user)
#   9.0 + vfiojail     the docs recipe: cgroup_controllers = [ ], the wrapper, `launch`
#                      hands a per-process context (@fd:iommufd0@ in <qemu:commandline>)
#   9.0 + vfiojail legacy   the same, with a legacy <hostdev> (the recipe's spec backend)
#   9.0 + vfiojail derived  legacy <hostdev>s and <memtune>, no spec of root's: the hook
#                      (hooks/qemu.d) derives each domain's spec from its XML at prepare
#   12.8 alone         <driver name='vfio' iommufd='yes'/>, cgroups on
#   12.8 + vfiojail    the docs recipe: cgroup_controllers = [ ], the wrapper, `launch`
#   12.8 + vfiojail derived  <driver iommufd='yes'/> <hostdev>s and <memtune>, no spec of
#                      root's: the hook (hooks/qemu.d in the sid namespace) derives each
#                      domain's spec from its XML at prepare
# and the placements of vfiojail's filter with libvirt's cgroups on (part 3):
#   VER launch in cgroup   the wrapper and `launch` with libvirt's cgroups on: vfiojail's
#                      cgroup would be below libvirt's (its device program, flags 0)
#   VER partition      root's `vfiojail setup` jail as the domain's <resource><partition>:
#                      vfiojail's filter (BPF_F_ALLOW_MULTI) above libvirt's cgroup
# Per domain: started or the error, RLIMIT_MODE of every iommufd fd QEMU holds (pidfd_getfd),
# VmPin and VmLck, QEMU's RLIMIT_MEMLOCK (soft/hard), its cgroup, and what a root process
# in QEMU's cgroup gets opening a node outside the plan (the unused edu's VFIO cdev).
# Asserted: with vfiojail both domains start, per-process, memlock as planned, the node
# outside the plan is EPERM. Without vfiojail the outcome is recorded, not asserted.
source "$(dirname "$0")/lib.sh"
if [[ $VJ_ARCH == aarch64 ]]; then
	not_here "libvirt 9.0 and 12.8" "both run from x86_64 roots (this machine's, the sid stack's); the arm64 root has no libvirt, and libvirt's arm64 side is not what this case compares"
	exit 0
fi
source "$VJ_SOURCE_ROOT/tests/integration/libvirt_lib.sh"
source "$VJ_SOURCE_ROOT/tests/vm/libvirt/lvsid.sh"
source "$VJ_SOURCE_ROOT/tests/vm/libvirt/recipe.sh"
id libvirt-qemu >/dev/null 2>&1 || skip "libvirt is not installed on the host root (no libvirt-qemu)"

RAM=64 LIMIT_MIB=112
LIMIT=$((LIMIT_MIB << 20))
TSV=$OUT/libvirt.tsv
printf 'libvirt\tway\tdomain\tstarts\tRLIMIT_MODE\tVmPin kB\tVmLck kB\tmemlock soft/hard\tcgroup\tnode outside the plan\n' >"$TSV"
W=$(mktemp -d /tmp/vjlv.XXXXXX)
chmod 0755 "$W"
mkdir -m 0755 "$W/bin"
on_exit "rm -rf '$W'"
SOCKDIR=/run/vjlv
mkdir -m 0755 -p "$SOCKDIR" /run/vjlv-specs
SOCK=$SOCKDIR/launch.sock SPECS=/run/vjlv-specs
on_exit "rm -rf '$SOCKDIR' '$SPECS'"
OUTSIDE=$(cdev_of "$EDU_L") # no domain uses it: a node outside every plan
qemu10_bind

# ---- the launch service and the wrapper ------------------------------------------
serve_start "$SOCK" "$SPECS" "$W/serve.log"
wrapper "$W/bin/wrap9" /usr/bin/qemu-system-x86_64 "$VFIOJAIL"
# The hook, as meson installs it, for the derived way: its domains' <emulator> is the
# wrapper in $W/derive (the hook derives only for a wrapper in its WRAPPERDIR), and its
# derive line reads root's specs where this case's service does.
mkdir -m 0755 "$W/derive"
wrapper "$W/derive/qemu-system-x86_64" /usr/bin/qemu-system-x86_64 "$VFIOJAIL"
hook "$W/bin/hook" "$VFIOJAIL" "$W/derive" "$SPECS"
on_exit "rm -rf /run/vfiojail/libvirt" # the hook's directory (it stays, empty, as on a host)
# In the sid namespace vfiojail (built on Debian 12) runs with the host root's loader and
# libraries, seen at /mnt/host.
printf '#!/bin/sh\nexec /mnt/host/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2 --library-path /mnt/host/usr/lib/x86_64-linux-gnu /mnt/host%s "$@"\n' \
	"$VFIOJAIL" >"$W/bin/vfiojail-host"
chmod 0755 "$W/bin/vfiojail-host"
wrapper "$W/bin/wrap12" /usr/bin/qemu-system-x86_64 "$W/bin/vfiojail-host"

# Root's spec granting domain NAME (edu BDF) to libvirt's QEMU user.
grant() { # NAME BDF BACKEND USER-JSON [DIR]
	local be='' ctx='"iommufd": [ { "id": "iommufd0" } ], '
	[[ $3 == legacy ]] && be=', "backend": "legacy"' ctx=''
	printf '{ "name": "%s", %s, "memory": "%sMiB", %s"hostdevs": [ { "pci": "%s"%s } ], "memlock": { "hard_limit": %s } }\n' \
		"$1" "$4" "$RAM" "$ctx" "$2" "$be" "$LIMIT" >"${5:-$SPECS}/$1.json"
	chmod 0644 "${5:-$SPECS}/$1.json"
}

# The nodes QEMU opens itself when libvirt does not pass them (9.0's iommufd ways), made
# libvirt-qemu's as a udev rule would; restored at the end.
restore=()
for n in /dev/iommu "$(cdev_of "$EDU_A")" "$(cdev_of "$EDU_B")"; do
	restore+=("chown $(stat -c %u:%g "$n") $n; chmod $(stat -c %a "$n") $n")
done
on_exit "$(printf '%s; ' "${restore[@]}")"
nodes_for_qemu() {
	chown libvirt-qemu /dev/iommu "$(cdev_of "$EDU_A")" "$(cdev_of "$EDU_B")"
	chmod 0600 /dev/iommu "$(cdev_of "$EDU_A")" "$(cdev_of "$EDU_B")"
}
nodes_back() { eval "$(printf '%s; ' "${restore[@]}")"; }
ACL='cgroup_device_acl = [ "/dev/null", "/dev/full", "/dev/zero", "/dev/random", "/dev/urandom", "/dev/ptmx", "/dev/kvm", "/dev/userfaultfd", "/dev/iommu", "'$(cdev_of "$EDU_A")'", "'$(cdev_of "$EDU_B")'" ]'

# ---- domains ------------------------------------------------------------------------
addr_xml() { # BDF -> <address .../>
	local b=$1
	printf "<address domain='0x%s' bus='0x%s' slot='0x%s' function='0x%s'/>" "${b:0:4}" "${b:5:2}" "${b:8:2}" "${b:11:1}"
}
# dom_xml NAME EMULATOR KIND BDF [EXTRA-XML]: KIND legacy (a <hostdev>), iommufd12 (a
# <hostdev> on 12.x's iommufd backend), self (QEMU opens /dev/iommu: <qemu:commandline>),
# handed (vfiojail's context @fd:iommufd0@: <qemu:commandline>).
dom_xml() {
	local hd='' cmd=''
	case $3 in
	legacy) hd="<hostdev mode='subsystem' type='pci' managed='no'><source>$(addr_xml "$4")</source></hostdev>" ;;
	iommufd12) hd="<hostdev mode='subsystem' type='pci' managed='no'><driver name='vfio' iommufd='yes'/><source>$(addr_xml "$4")</source></hostdev>" ;;
	self | handed)
		local fd=''
		[[ $3 == handed ]] && fd=',fd=@fd:iommufd0@'
		cmd="<qemu:commandline><qemu:arg value='-object'/><qemu:arg value='iommufd,id=iommufd0$fd'/><qemu:arg value='-device'/><qemu:arg value='vfio-pci,host=$4,iommufd=iommufd0,id=hd0,bus=pcie.0,addr=0x10'/></qemu:commandline>"
		;;
	esac
	cat <<EOF
<domain type='qemu' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>
  <name>$1</name>
  <memory unit='MiB'>$RAM</memory>
  <vcpu>1</vcpu>
  ${5:-}
  <os><type arch='x86_64' machine='q35'>hvm</type></os>
  <features><acpi/></features>
  <devices>
    <emulator>$2</emulator>
    $hd
    <memballoon model='none'/>
  </devices>
  $cmd
</domain>
EOF
}
TUNE="<memtune><hard_limit unit='MiB'>$LIMIT_MIB</hard_limit></memtune>"

define() { # NAME EMULATOR KIND BDF [EXTRA]
	dom_xml "$@" >"$W/$1.xml"
	cp "$W/$1.xml" "/proc/$LV_NS_PID/root/tmp/$1.xml"
	capture lv_virsh define "/tmp/$1.xml"
	assert_eq "$rc" 0 "virsh define $1 ($err)"
}
qemu_pid_lv() { lv_ns_run cat "/run/libvirt/qemu/$1.pid" 2>/dev/null; }
# A root process joins QEMU's cgroup (or the nearest ancestor that takes a process) and
# opens the node outside the plan: "ok", or the errno's name.
outside() { # PID
	local cg o
	cg=$(awk -F: '$1 == "0" { print $3 }' "/proc/$1/cgroup")
	while [[ -n "$cg" ]]; do
		o=$(bash -c "echo \$\$ >'/sys/fs/cgroup$cg/cgroup.procs' && printf 'open %s\n' '$OUTSIDE' | exec '$OPENER'" 2>/dev/null || true)
		[[ -n "$o" ]] && { echo "$o"; return; }
		cg=${cg%/*}
	done
	echo "could not join a cgroup of QEMU's"
}
# measure LIBVIRT WAY NAME: one row; sets m_started, m_mode, m_pin, m_soft, m_open.
measure() {
	local lv=$1 way=$2 d=$3 p err1 cg limits lck
	m_started=no m_mode=- m_pin=- m_soft=- m_open=- lck=- limits=- cg=-
	capture lv_virsh start --paused "$d"
	err1=$(tr '\n' ' ' <<<"$err" | sed 's/^error: //; s/  */ /g' | cut -c1-200)
	[[ $rc -eq 0 ]] || err1+=" [QEMU: $(grep -h -E 'Cannot allocate|vfio|vfiojail|iommufd|Operation not permitted|Permission denied' "$LV_LOG/qemu/$d.log" 2>/dev/null | grep -v '^-' | tail -2 | tr '\n' ' ' | cut -c1-400 || true)]"
	if [[ $rc -eq 0 ]] && p=$(qemu_pid_lv "$d") && [[ -n "$p" ]]; then
		m_started=yes
		m_mode=$({ "$VMTOOL" held "$p" || true; } | awk '/^[0-9]/ { print "fd " $1 " " $2 }' | paste -sd, -)
		[[ -n "$m_mode" ]] || m_mode="no iommufd fd"
		m_pin=$(vmpin "$p") lck=$(vmlck "$p")
		m_soft=$(awk '/^Max locked memory/ { print $4 }' "/proc/$p/limits")
		limits="$(awk '/^Max locked memory/ { printf "%d/%d MiB", $4 / 1048576, $5 / 1048576 }' "/proc/$p/limits")"
		cg=$(awk -F: '$1 == "0" { print $3 }' "/proc/$p/cgroup")
		m_open=$(outside "$p")
		echo "$lv $way $d: pid $p, uid/gid $(awk '/^Uid:/ { u = $2 } /^Gid:/ { g = $2 } END { print u "/" g }' "/proc/$p/status"), fds: $(ls -l "/proc/$p/fd" | awk '/->/ { print $NF }' | grep -E 'iommu|vfio' | paste -sd' ' - || true)"
	fi
	local started=$m_started
	[[ $m_started == yes ]] || started="no: $err1"
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$lv" "$way" "$d" "$started" "$m_mode" "$m_pin" "$lck" "$limits" "$cg" "$m_open" >>"$TSV"
	echo "table: $lv | $way | $d | starts: $started | RLIMIT_MODE: $m_mode | VmPin $m_pin kB | VmLck $lck kB | memlock $limits | cgroup $cg | node outside the plan: $m_open"
}
stop_all() { # NAMES: destroy and undefine
	local d
	for d in "$@"; do
		lv_virsh destroy "$d" >/dev/null 2>&1 || true
		lv_virsh undefine "$d" >/dev/null 2>&1 || true
	done
}
# A row of two domains; with vfiojail (ASSERT=1) what must hold is asserted.
pair() { # LIBVIRT WAY ASSERT
	local d
	for d in d1 d2; do
		measure "$1" "$2" "$d"
		if [[ $3 == 1 ]]; then
			assert_eq "$m_started" yes "$1 $2: $d starts ($(tail -3 "$LV_LOG/qemu/$d.log" 2>/dev/null); $(tail -3 "$W/serve.log"))"
			[[ "$m_mode" == *per-process* && "$m_mode" != *per-user* ]] || fail "$1 $2: $d's contexts: $m_mode"
			assert_eq "$m_soft" "$LIMIT" "$1 $2: $d's soft RLIMIT_MEMLOCK is the plan's"
			[[ $((m_pin * 1024)) -le $LIMIT ]] || fail "$1 $2: $d pins $m_pin kB, above the plan"
			assert_eq "$m_open" EPERM "$1 $2: $d: a node outside the plan"
		fi
	done
}
bpf_tree() { bpftool cgroup tree /sys/fs/cgroup 2>/dev/null | grep -B1 -A1 -E "device" | sed 's/^/    bpf: /' || true; }

# ---- libvirt 9.0 ---------------------------------------------------------------------
nodes_for_qemu
LV_QEMU_CONF=$ACL
lv_start "$W/lv9a"
echo "libvirt 9.0: $(lv_virsh version | tr '\n' ' ')"
define d1 /usr/bin/qemu-system-x86_64 legacy "$EDU_A" "$TUNE"
define d2 /usr/bin/qemu-system-x86_64 legacy "$EDU_B" "$TUNE"
pair 9.0 alone 0
bpf_tree
stop_all d1 d2
define d1 /usr/bin/qemu-system-x86_64 self "$EDU_A" "$TUNE"
define d2 /usr/bin/qemu-system-x86_64 self "$EDU_B" "$TUNE"
pair 9.0 "alone iommufd (QEMU opens /dev/iommu)" 0
stop_all d1 d2
# Part 3, placement 1: vfiojail's launch with libvirt's cgroups on.
grant d1 "$EDU_A" iommufd '"user": "libvirt-qemu"'
grant d2 "$EDU_B" iommufd '"user": "libvirt-qemu"'
define d1 "$W/bin/wrap9" handed "$EDU_A" "$TUNE"
measure 9.0 "+ vfiojail launch, libvirt cgroups on" d1
echo "serve: $(tail -2 "$W/serve.log" | tr '\n' ' ')"
stop_all d1
# Part 3, placement 2: root's setup jail as the domain's partition (filter above libvirt's).
mkdir -p /sys/fs/cgroup/machine
part_setup() { # NAME BDF BACKEND USER-JSON
	grant "$1.partition" "$2" "$3" "$4" "$W"
	capture "$VFIOJAIL" setup "$W/$1.partition.json" --cgroup-parent /machine
	assert_eq "$rc" 0 "vfiojail setup $1.partition ($err)"
}
part_setup d1 "$EDU_A" legacy '"user": "libvirt-qemu"'
part_setup d2 "$EDU_B" legacy '"user": "libvirt-qemu"'
PART() { echo "$TUNE<resource><partition>/machine/vfiojail-$1</partition></resource>"; }
define d1 /usr/bin/qemu-system-x86_64 legacy "$EDU_A" "$(PART d1)"
define d2 /usr/bin/qemu-system-x86_64 legacy "$EDU_B" "$(PART d2)"
pair 9.0 "+ vfiojail setup jail as partition (legacy)" 0
for d in d1 d2; do
	p=$(qemu_pid_lv $d) && [[ -n "$p" ]] && cg=$(awk -F: '$1 == "0" { print $3 }' "/proc/$p/cgroup") &&
		echo "9.0 partition $d: cgroup $cg; memory.max $(cat /sys/fs/cgroup/machine/vfiojail-$d.partition/*/memory.max 2>/dev/null | paste -sd' ' -)"
done
bpf_tree
stop_all d1 d2
"$VFIOJAIL" teardown d1.partition || true
"$VFIOJAIL" teardown d2.partition || true
lv_stop

# The recipe: cgroup_controllers = [ ] (the ACL puts the cdevs in libvirt's /dev).
LV_QEMU_CONF="$ACL"$'\ncgroup_controllers = [ ]'
LV_QEMU_HOOK_D="$W/bin/hook"
lv_start "$W/lv9b"
define d1 "$W/bin/wrap9" handed "$EDU_A"
define d2 "$W/bin/wrap9" handed "$EDU_B"
pair 9.0 "+ vfiojail (recipe, iommufd context handed)" 1
stop_all d1 d2
nodes_back
grant d1 "$EDU_A" legacy '"user": "libvirt-qemu"'
grant d2 "$EDU_B" legacy '"user": "libvirt-qemu"'
define d1 "$W/bin/wrap9" legacy "$EDU_A"
define d2 "$W/bin/wrap9" legacy "$EDU_B"
for d in d1 d2; do measure 9.0 "+ vfiojail (recipe, legacy hostdev)" $d; done
stop_all d1 d2
# The spec from the domain XML alone: no spec of root's; the hook derives it at prepare
# (the hostdev, its legacy backend, <memtune>'s memlock), the service launches from it.
rm -f "$SPECS/d1.json" "$SPECS/d2.json"
define d1 "$W/derive/qemu-system-x86_64" legacy "$EDU_A" "$TUNE"
define d2 "$W/derive/qemu-system-x86_64" legacy "$EDU_B" "$TUNE"
for d in d1 d2; do
	measure 9.0 "+ vfiojail (derived from the XML, legacy hostdev)" $d
	assert_eq "$m_started" yes "derived: $d starts ($(tail -3 "$LV_LOG/qemu/$d.log" 2>/dev/null); $(tail -3 "$W/serve.log"))"
	assert_contains "$(cat "$W/serve.log")" "VM $d launched for pid $(qemu_pid_lv $d) (uid $(id -u libvirt-qemu)), cgroup" "derived: the service launched $d"
	assert_contains "$(cat "$W/serve.log")" "spec /run/vfiojail/libvirt/$d.json" "derived: $d from its derived spec"
	assert_eq "$(jq -c '[.hostdevs[] | [.pci, .backend]]' "/run/vfiojail/libvirt/$d.json")" \
		"[[\"$(if [[ $d == d1 ]]; then echo "$EDU_A"; else echo "$EDU_B"; fi)\",\"legacy\"]]" "derived: $d's hostdev from the XML"
	assert_eq "$m_soft" "$LIMIT" "derived: $d's soft RLIMIT_MEMLOCK is <memtune>'s"
	assert_eq "$m_open" EPERM "derived: $d: a node outside the plan"
done
stop_all d1 d2
for _ in $(seq 50); do [[ -z "$(ls /run/vfiojail/libvirt 2>/dev/null)" ]] && break; sleep 0.1; done
assert_eq "$(ls /run/vfiojail/libvirt)" "" "derived: the release hook removed the derived specs"
rmdir /run/vfiojail/libvirt
dom_xml dt /usr/bin/qemu-system-x86_64 none "" "$TUNE" >"/proc/$LV_NS_PID/root/tmp/dt.xml"
capture lv_virsh define /tmp/dt.xml
capture lv_virsh start --paused dt
echo "table-note: 9.0 with cgroup_controllers = [ ] and <memtune> (not applied: no cgroup): start: rc $rc: $(tr '\n' ' ' <<<"$err")"
stop_all dt
lv_stop
qemu10_unbind
assert_guest_clean

# ---- libvirt 12.8 --------------------------------------------------------------------
if [[ -z "${VJ_SID_ROOT:-}" ]]; then
	echo "not applicable on this stack: libvirt 12.8 (alone, + vfiojail, the placements with its cgroups): the $VJ_STACK stack has no sid root; libvirt 12.8 runs from the sid root on the sid stack"
	column -t -s $'\t' "$TSV"
	pass "libvirt 9.0 matrix recorded ($(($(wc -l <"$TSV") - 1)) rows)"
	exit 0
fi
S12='"user": 64055, "group": 64055, "groups": [ 64055 ]'
LVSID_BINDS="$W/bin $SOCKDIR"
LV_QEMU_CONF=''
lvsid_start "$W/lv12a"
echo "libvirt 12.8: $(lv_virsh version | tr '\n' ' ')"
define d1 /usr/bin/qemu-system-x86_64 iommufd12 "$EDU_A" "$TUNE"
define d2 /usr/bin/qemu-system-x86_64 iommufd12 "$EDU_B" "$TUNE"
pair 12.8 alone 0
bpf_tree
stop_all d1 d2
grant d1 "$EDU_A" iommufd "$S12"
grant d2 "$EDU_B" iommufd "$S12"
define d1 "$W/bin/wrap12" iommufd12 "$EDU_A" "$TUNE"
measure 12.8 "+ vfiojail launch, libvirt cgroups on" d1
echo "serve: $(tail -2 "$W/serve.log" | tr '\n' ' ')"
stop_all d1
mkdir -p /sys/fs/cgroup/machine
part_setup d1 "$EDU_A" iommufd "$S12"
part_setup d2 "$EDU_B" iommufd "$S12"
define d1 /usr/bin/qemu-system-x86_64 iommufd12 "$EDU_A" "$(PART d1)"
define d2 /usr/bin/qemu-system-x86_64 iommufd12 "$EDU_B" "$(PART d2)"
pair 12.8 "+ vfiojail setup jail as partition" 0
for d in d1 d2; do
	p=$(qemu_pid_lv $d) && [[ -n "$p" ]] && cg=$(awk -F: '$1 == "0" { print $3 }' "/proc/$p/cgroup") &&
		echo "12.8 partition $d: cgroup $cg; memory.max $(cat /sys/fs/cgroup/machine/vfiojail-$d.partition/*/memory.max 2>/dev/null | paste -sd' ' -)"
done
bpf_tree
stop_all d1 d2
"$VFIOJAIL" teardown d1.partition || true
"$VFIOJAIL" teardown d2.partition || true
lv_stop

LV_QEMU_CONF='cgroup_controllers = [ ]'
lvsid_start "$W/lv12b"
define d1 "$W/bin/wrap12" iommufd12 "$EDU_A"
define d2 "$W/bin/wrap12" iommufd12 "$EDU_B"
pair 12.8 "+ vfiojail (recipe)" 1
stop_all d1 d2
lv_stop

# The spec from the domain XML alone on 12.8: no spec of root's; the hook, linked as
# hooks/qemu.d/vfiojail in the sid namespace, derives it at prepare (the hostdev on
# iommufd, <memtune>'s memlock) into /run/vfiojail/libvirt, which the namespace shares
# with the host's service (bound in, as is root's spec directory the hook reads).
mkdir -m 0755 "$W/derive12"
wrapper "$W/derive12/qemu-system-x86_64" /usr/bin/qemu-system-x86_64 "$W/bin/vfiojail-host"
hook "$W/bin/hook12" "$W/bin/vfiojail-host" "$W/derive12" "$SPECS"
mkdir -p -m 0700 /run/vfiojail/libvirt
on_exit "rm -rf /run/vfiojail/libvirt"
rm -f "$SPECS/d1.json" "$SPECS/d2.json"
LVSID_BINDS="$W/bin $SOCKDIR $W/derive12 $SPECS /run/vfiojail/libvirt"
LV_QEMU_CONF='cgroup_controllers = [ ]'
LV_QEMU_HOOK_D="$W/bin/hook12"
lvsid_start "$W/lv12c"
define d1 "$W/derive12/qemu-system-x86_64" iommufd12 "$EDU_A" "$TUNE"
define d2 "$W/derive12/qemu-system-x86_64" iommufd12 "$EDU_B" "$TUNE"
for d in d1 d2; do
	measure 12.8 "+ vfiojail (derived from the XML, iommufd hostdev)" $d
	assert_eq "$m_started" yes "12.8 derived: $d starts ($(tail -3 "$LV_LOG/qemu/$d.log" 2>/dev/null); $(tail -3 "$W/serve.log"))"
	assert_contains "$(cat "$W/serve.log")" "VM $d launched for pid $(qemu_pid_lv $d) (uid $(id -u libvirt-qemu)), cgroup" "12.8 derived: the service launched $d"
	assert_contains "$(cat "$W/serve.log")" "spec /run/vfiojail/libvirt/$d.json" "12.8 derived: $d from its derived spec"
	assert_eq "$(jq -c '[.hostdevs[] | [.pci, .backend]]' "/run/vfiojail/libvirt/$d.json")" \
		"[[\"$(if [[ $d == d1 ]]; then echo "$EDU_A"; else echo "$EDU_B"; fi)\",\"iommufd\"]]" "12.8 derived: $d's hostdev from the XML"
	[[ "$m_mode" == *per-process* && "$m_mode" != *per-user* ]] || fail "12.8 derived: $d's contexts: $m_mode"
	assert_eq "$m_soft" "$LIMIT" "12.8 derived: $d's soft RLIMIT_MEMLOCK is <memtune>'s"
	[[ $((m_pin * 1024)) -le $LIMIT ]] || fail "12.8 derived: $d pins $m_pin kB, above the plan"
	assert_eq "$m_open" EPERM "12.8 derived: $d: a node outside the plan"
done
stop_all d1 d2
for _ in $(seq 50); do [[ -z "$(ls /run/vfiojail/libvirt 2>/dev/null)" ]] && break; sleep 0.1; done
assert_eq "$(ls /run/vfiojail/libvirt)" "" "12.8 derived: the release hook removed the derived specs"
lv_stop
rmdir /run/vfiojail/libvirt
assert_guest_clean
column -t -s $'\t' "$TSV"
pass "libvirt matrix recorded ($(($(wc -l <"$TSV") - 1)) rows)"
