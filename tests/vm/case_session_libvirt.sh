#!/usr/bin/env bash
# Unprivileged libvirt (qemu:///session) on the real kernel, through vfiojail contexts.
# Session libvirt runs QEMU as the user itself and cannot set per-process iommufd
# accounting (IOMMU_OPTION_RLIMIT_MODE needs CAP_SYS_RESOURCE); libvirt 12.2+ takes the
# /dev/iommu fd from its caller instead (<iommufd enabled='yes' fdgroup='G'/>, virsh
# dom-fd-associate).  Root grants each VM with a spec and runs `vfiojail serve`; the user
# (nobody) runs, for each domain,
#     vfiojail contexts NAME -- virsh -c qemu:///session \
#         'dom-fd-associate DOM --name ctx --pass-fds 3; start DOM --paused'
#  - two domains of nobody, each with its own edu device (iommufd cdev), both start
#    under libvirt 12.8 and QEMU 11.1, and each QEMU's /dev/iommu context reads back
#    per-process (IOMMU_OPTION GET on the fd taken from QEMU with pidfd_getfd);
#  - libvirt opened no /dev/iommu of its own: nobody cannot open the namespace's copy;
#  - another uid asking for the contexts is refused (3); the service made no jail;
#  - without vfiojail (<iommufd enabled='yes'/>, nobody given /dev/iommu) session libvirt
#    opens /dev/iommu itself and leaves both QEMUs' contexts per-user, saying nothing;
#  - under a hard RLIMIT_MEMLOCK below guest RAM + 1 GiB, session libvirt cannot set
#    QEMU's limit and the start fails: root must give the user that limit.
# The sid root's libvirtd needs its root to be a mount point and the namespace's real root:
# it runs, as nobody, in a mount namespace pivoted into the sid root (read-only), with a
# private /dev (copies of the pseudo-devices, /dev/vfio and /dev/iommu) in which root gave
# nobody the two edu cdevs, the grant's node step.  vfiojail (built on Debian 12) runs in
# there through Debian 12's loader from /mnt/host.
source "$(dirname "$0")/lib.sh"
if [[ $VJ_ARCH == aarch64 ]]; then
	not_here "session libvirt with iommufd fdgroup" "libvirt 12.8 runs from the sid stack's x86_64 root; the arm64 root has no libvirt"
	exit 0
fi

# libvirt 12 belongs to the sid stack (a run of both stacks in one tools/vmtest also
# hands the bookworm guest the sid root; the case ran and passed there on Linux 6.12).
if [[ $VJ_STACK != sid ]]; then
	echo "not applicable on this stack: session libvirt with iommufd fdgroup needs libvirt 12.2 or later; $VJ_STACK has none (Debian 12 ships libvirt 9.0, without iommufd)"
	exit 0
fi
[[ -n "${VJ_SID_ROOT:-}" && -x "$VJ_SID_ROOT/usr/sbin/libvirtd" ]] || fail "the sid stack's root has no libvirtd (VJ_SID_ROOT=${VJ_SID_ROOT:-})"
LV_VERSION=$("$VJ_SID_ROOT/lib64/ld-linux-x86-64.so.2" --library-path "$VJ_SID_ROOT/usr/lib/x86_64-linux-gnu:$VJ_SID_ROOT/lib/x86_64-linux-gnu" "$VJ_SID_ROOT/usr/sbin/libvirtd" --version 2>&1 | awk '{ print $NF }')
echo "libvirtd $LV_VERSION (sid root), QEMU $QEMU_MAJOR, Linux $(uname -r)"

# ---- root: the grants and the service ----------------------------------------------
specs=/run/vjctxspecs
mkdir -m 0755 "$specs" "$T/svc"
on_exit "rm -rf '$specs'"
grant() { # NAME BDF
	printf '{ "name": "%s", "user": "nobody", "memory": "64MiB", "iommufd": [ { "id": "iommufd0" } ],
  "hostdevs": [ { "pci": "%s" } ] }\n' "$1" "$2" >"$specs/$1.json"
	chmod 0644 "$specs/$1.json"
}
grant s1 "$EDU_A"
grant s2 "$EDU_B"
sock=$T/svc/serve.sock
"$VFIOJAIL" serve --socket "$sock" --spec-dir "$specs" 2>"$T/serve.log" &
serve=$!
on_exit "kill $serve 2>/dev/null; wait $serve 2>/dev/null"
for _ in $(seq 100); do [[ -S "$sock" ]] && break; sleep 0.05; done
[[ -S "$sock" ]] || fail "serve did not start: $(cat "$T/serve.log")"
log() { cat "$T/serve.log"; }

# ---- the sid namespace ----------------------------------------------------------------
W=$T/lv
mkdir -p "$W/root" "$T/home" "$T/xdg"
chown 65534:65534 "$T/home" "$T/xdg"
chmod 0700 "$T/xdg"
cdev_a=$(cdev_of "$EDU_A") cdev_b=$(cdev_of "$EDU_B")
unshare --mount --propagation private -- bash -euc '
	R=$1 N=$2 T=$3 A=$4 B=$5
	mount --bind "$R" "$N"
	mount -o remount,bind,ro "$N"
	tmp() { mount -t tmpfs -o "mode=$2" lv "$N$1"; }
	tmp /run 0755
	tmp /tmp 1777
	tmp /var/cache/libvirt 0755
	mount -t proc proc "$N/proc"
	mount --rbind /sys "$N/sys"
	tmp /dev 0755
	cp -a /dev/null /dev/zero /dev/full /dev/random /dev/urandom /dev/tty /dev/iommu /dev/vfio "$N/dev/"
	chmod 0600 "$N/dev/iommu"
	chown root:root "$N/dev/iommu"
	# The grant: the VM user may open its devices cdevs (and nothing else of VFIO).
	chown 65534:65534 "$N$A" "$N$B"
	chmod 0600 "$N$A" "$N$B"
	mkdir "$N/dev/pts" "$N/dev/shm" "$N/dev/mqueue"
	mount -t devpts -o newinstance,ptmxmode=0666,mode=0620 devpts "$N/dev/pts"
	ln -s pts/ptmx "$N/dev/ptmx"
	mount -t tmpfs -o mode=1777 shm "$N/dev/shm"
	mount -t mqueue mqueue "$N/dev/mqueue"
	ln -s /proc/self/fd "$N/dev/fd"
	ln -s /proc/self/fd/0 "$N/dev/stdin"
	ln -s /proc/self/fd/1 "$N/dev/stdout"
	ln -s /proc/self/fd/2 "$N/dev/stderr"
	tmp /mnt 0755
	mkdir "$N/mnt/host" "$N/mnt/old"
	mount --bind / "$N/mnt/host"
	mount -o remount,bind,ro "$N/mnt/host"
	mkdir -p "$N$T"
	mount --bind "$T" "$N$T"
	cd "$N"
	pivot_root . mnt/old
	cd /
	umount -l /mnt/old
	exec sleep infinity
' lv-anchor "$VJ_SID_ROOT" "$W/root" "$T" "$cdev_a" "$cdev_b" >"$W/anchor.out" 2>&1 &
NS=$!
on_exit "kill $NS 2>/dev/null; wait $NS 2>/dev/null"
for _ in $(seq 100); do
	[[ "$(readlink "/proc/$NS/exe" 2>/dev/null)" == */sleep ]] && break
	kill -0 "$NS" 2>/dev/null || fail "the sid namespace's setup failed: $(cat "$W/anchor.out")"
	sleep 0.05
done
# The user's environment in there; its RLIMIT_MEMLOCK is root's choice (session libvirt
# cannot raise it): libvirt sets QEMU's to guest RAM + 1 GiB per VFIO device.
MEMLOCK=$((2 << 30))
as_user() {
	timeout 300 prlimit "--memlock=$MEMLOCK:$MEMLOCK" nsenter -t "$NS" -m -S 65534 -G 65534 -- \
		env -i PATH=/usr/bin:/usr/sbin:/bin "HOME=$T/home" "XDG_RUNTIME_DIR=$T/xdg" LANG=C "$@"
}
in_ns() { nsenter -t "$NS" -m -- "$@"; }
virsh_u() { as_user virsh -q -c qemu:///session "$@"; }
# vfiojail and vmtool, built on Debian 12, run in the sid namespace by Debian 12's loader.
H=/mnt/host
DEB12=("$H$(readlink -f /lib64/ld-linux-x86-64.so.2)" --library-path "$H/usr/lib/x86_64-linux-gnu:$H/lib/x86_64-linux-gnu")
VJ_IN_NS=("${DEB12[@]}" "$H$VFIOJAIL")
qemus=()
on_exit 'for p in "${qemus[@]}"; do kill -9 "$p" 2>/dev/null || true; done'

start_libvirtd() { # session libvirtd as nobody, under RLIMIT_MEMLOCK $MEMLOCK; pid in $LVD
	rm -f "$T/xdg/libvirt/libvirt-sock"
	as_user libvirtd >>"$W/libvirtd.log" 2>&1 &
	LVD=$!
	_vms+=("$LVD")
	for _ in $(seq 600); do
		[[ -S $T/xdg/libvirt/libvirt-sock ]] && break
		kill -0 "$LVD" 2>/dev/null || fail "session libvirtd exited: $(cat "$W/libvirtd.log")"
		sleep 0.1
	done
	[[ -S $T/xdg/libvirt/libvirt-sock ]] || fail "session libvirtd made no socket: $(cat "$W/libvirtd.log")"
}
stop_libvirtd() { # and wait until the daemon itself (its pid file's pid) is gone
	local d
	d=$(cat "$T/xdg/libvirt/libvirtd.pid" 2>/dev/null || true)
	kill "$LVD" 2>/dev/null || true
	wait "$LVD" 2>/dev/null || true
	[[ -z "$d" ]] || kill "$d" 2>/dev/null || true
	for _ in $(seq 200); do [[ -n "$d" ]] && kill -0 "$d" 2>/dev/null || break; sleep 0.05; done
}
start_libvirtd
on_exit "stop_libvirtd; kill \$(cat '$T/xdg/libvirt/virtlogd.pid' 2>/dev/null) 2>/dev/null || true"
capture virsh_u version
echo "virsh version: $out $err"
capture virsh_u uri
assert_eq "$out" "qemu:///session" "virsh talks to session libvirt ($err)"

domain_xml() { # NAME BDF IOMMUFD-ELEMENT [EXTRA]
	local bus=${2#*:} slot fn
	slot=${bus#*:}
	bus=${bus%%:*}
	fn=${slot#*.}
	slot=${slot%.*}
	cat <<EOF
<domain type='qemu'>
  <name>$1</name>
  <memory unit='MiB'>64</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='q35'>hvm</type></os>
  $3
  ${4:-}
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <controller type='usb' model='none'/>
    <memballoon model='none'/>
    <hostdev mode='subsystem' type='pci' managed='no'>
      <driver name='vfio' iommufd='yes'/>
      <source><address domain='0x0000' bus='0x$bus' slot='0x$slot' function='0x$fn'/></source>
    </hostdev>
  </devices>
</domain>
EOF
}
qemu_of() { # DOMAIN: QEMU's pid, from session libvirt's pid file
	cat "$T/xdg/libvirt/qemu/run/$1.pid" 2>/dev/null
}

# ---- two domains of nobody, contexts from vfiojail ------------------------------------------
for d in s1 s2; do
	bdf=$EDU_A
	[[ $d == s2 ]] && bdf=$EDU_B
	domain_xml "$d" "$bdf" "<iommufd enabled='yes' fdgroup='ctx'/>" >"$T/$d.xml"
	chmod 0644 "$T/$d.xml"
	capture virsh_u define "$T/$d.xml"
	assert_eq "$rc" 0 "define $d ($out $err)"
	capture as_user "${VJ_IN_NS[@]}" contexts "$d" --socket "$sock" -- \
		virsh -q -c qemu:///session "dom-fd-associate $d --name ctx --pass-fds 3; start $d --paused"
	echo "contexts $d -> virsh: rc $rc: $out $err"
	if [[ $rc != 0 ]]; then
		echo "--- libvirtd log"; grep -v ' info : ' "$W/libvirtd.log" | tail -30 || true
		echo "--- QEMU log"; tail -20 "$T/home/.cache/libvirt/qemu/log/$d.log" 2>/dev/null || true
		echo "--- serve log"; log
		fail "session libvirt did not start $d through vfiojail contexts"
	fi
	p=$(qemu_of "$d")
	[[ -n "$p" ]] || fail "no pid file for $d"
	qemus+=("$p")
	eval "pid_$d=$p"
	echo "$d: QEMU pid $p: $(tr '\0' '\n' <"/proc/$p/cmdline" | grep -e iommufd -e vfio-pci | tr '\n' ' ')"
done
assert_contains "$(log)" "VM s1: 1 iommufd context(s) (per-process accounting) given to pid" "the service logged the contexts"
for d in s1 s2; do
	eval "p=\$pid_$d"
	assert_eq "$(awk '/^Uid:/ { print $2 }' "/proc/$p/status")" 65534 "$d's QEMU runs as nobody"
	capture "$VMTOOL" held "$p"
	assert_eq "$rc" 0 "$d's QEMU holds an iommufd context ($out)"
	assert_eq "$(awk '{ print $2 }' <<<"$out" | sort -u)" per-process "$d's QEMU's contexts read back per-process ($out)"
	held=$out
	ml=$(awk '/^Max locked memory/ { print $4 }' "/proc/$p/limits")
	pin=$(vmpin "$p")
	# The paused VM's bridges are not numbered yet, so query-pci does not reach the
	# device behind its root port: QOM says QEMU realized it, the fds say which node.
	capture virsh_u qemu-monitor-command "$d" '{"execute":"qom-list","arguments":{"path":"/machine/peripheral"}}'
	dev=$(jq -r '.return[] | select(.name == "hostdev0") | .type' <<<"$out")
	assert_eq "$dev" "child<vfio-pci>" "$d's QEMU realized the vfio-pci device ($out $err)"
	bdf=$EDU_A cdev=$cdev_a
	[[ $d == s2 ]] && bdf=$EDU_B cdev=$cdev_b
	assert_contains "$(ls -l "/proc/$p/fd")" "$cdev" "$d's QEMU holds $bdf's cdev"
	echo "$d: QEMU $p, contexts (fd mode): $(tr '\n' ' ' <<<"$held"), RLIMIT_MEMLOCK $ml, VmPin $pin kB, hostdev0 $dev ($bdf, $cdev)"
	[[ $pin -ge 65536 ]] || fail "$d pins $pin kB, less than its 64 MiB of RAM"
	eval "pin_$d=$pin ml_$d=$ml"
done
# shellcheck disable=SC2154
pass "session libvirt $LV_VERSION: two domains of nobody started through vfiojail contexts and fdgroup, each QEMU's context per-process (VmPin $pin_s1 kB and $pin_s2 kB, RLIMIT_MEMLOCK $ml_s1 and $ml_s2 set by libvirt)"

# libvirt opened no /dev/iommu itself: nobody cannot open the namespace's copy.
capture as_user "${DEB12[@]}" "$H$VMTOOL" fresh /dev/iommu
assert_eq "$out" "error open EACCES" "nobody cannot open the namespace's /dev/iommu ($err)"
[[ -z "$(find "$STATE" -mindepth 1 2>/dev/null)" ]] || fail "the service made a jail for contexts: $(ls -R "$STATE")"
[[ -z "$(find /sys/fs/cgroup -name 'vfiojail*' 2>/dev/null)" ]] || fail "a vfiojail cgroup was made"
pass "no jail, cgroup or pin was made for the contexts"

# ---- refusals ---------------------------------------------------------------------
capture prlimit "--memlock=$MEMLOCK:$MEMLOCK" setpriv --reuid=daemon --regid=daemon --clear-groups -- \
	"$VFIOJAIL" contexts s1 --socket "$sock" -- true
assert_eq "$rc" 3 "another uid asking for s1's contexts ($err)"
assert_contains "$err" "may not launch it" "the refusal says why"
assert_contains "$(log)" "refused pid" "the service logged the refusal"
pass "uid $(id -u daemon) asking for nobody's contexts: status 3"

# ---- the domains end ------------------------------------------------------------------
for d in s1 s2; do
	capture virsh_u destroy "$d"
	assert_eq "$rc" 0 "destroy $d ($err)"
	eval "p=\$pid_$d"
	for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
	kill -0 "$p" 2>/dev/null && fail "$d's QEMU still runs after destroy"
done

# ---- without vfiojail: what session libvirt answers itself -------------------------------
in_ns chmod 0666 /dev/iommu
for d in s3 s4; do
	bdf=$EDU_A
	[[ $d == s4 ]] && bdf=$EDU_B
	domain_xml "$d" "$bdf" "<iommufd enabled='yes'/>" >"$T/$d.xml"
	chmod 0644 "$T/$d.xml"
	capture virsh_u define "$T/$d.xml"
	capture virsh_u start "$d" --paused
	assert_eq "$rc" 0 "session libvirt starts $d, opening /dev/iommu itself ($out $err)"
	p=$(qemu_of "$d")
	qemus+=("$p")
	capture "$VMTOOL" held "$p"
	assert_eq "$(awk '{ print $2 }' <<<"$out" | sort -u)" per-user "$d's QEMU's context, opened by session libvirt ($out)"
	echo "without vfiojail, $d: QEMU $p context (fd mode) $out, RLIMIT_MEMLOCK $(awk '/^Max locked memory/ { print $4 }' "/proc/$p/limits"), VmPin $(vmpin "$p") kB"
done
pass "without vfiojail (<iommufd enabled='yes'/>, nobody given /dev/iommu) session libvirt opens /dev/iommu itself and leaves both contexts per-user, saying nothing"
for d in s3 s4; do virsh_u destroy "$d" >/dev/null 2>&1 || true; done
in_ns chmod 0600 /dev/iommu

# ---- the user's RLIMIT_MEMLOCK below what libvirt sets for QEMU -----------------------
stop_libvirtd
MEMLOCK=$((96 << 20))
start_libvirtd
capture as_user "${VJ_IN_NS[@]}" contexts s1 --socket "$sock" -- \
	virsh -q -c qemu:///session "dom-fd-associate s1 --name ctx --pass-fds 3; start s1 --paused"
[[ $rc != 0 ]] || { qemus+=("$(qemu_of s1)"); fail "session libvirt started s1 under a 96 MiB hard RLIMIT_MEMLOCK"; }
assert_contains "$err" "cannot limit locked memory of process" "session libvirt's answer"
assert_contains "$(log)" "VM s1: 1 iommufd context(s) (per-process accounting) given to pid" "the contexts were given"
pass "the user's hard RLIMIT_MEMLOCK at 96 MiB: session libvirt cannot set QEMU's ($(grep -o 'cannot limit locked memory[^"]*' <<<"$err" | head -1)): root sets the user's limit"
for d in s1 s2 s3 s4; do virsh_u undefine "$d" >/dev/null 2>&1 || true; done
stop_libvirtd
assert_guest_clean
pass "the domains destroyed, libvirtd stopped: nothing left"
