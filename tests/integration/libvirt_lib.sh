# SPDX-License-Identifier: LGPL-2.1-or-later
# A private, throwaway libvirtd (Debian's monolithic /usr/sbin/libvirtd) for the
# integration tests.  Source it after lib.sh (it uses on_exit, fail and skip).
#
# Without systemd: an anchor process ("sleep infinity") holds a private mount
# namespace and a fresh network namespace; in them /etc/libvirt, /var/lib/libvirt,
# /run/libvirt and /var/cache/libvirt are private tmpfs copies and /var/log/libvirt
# is WORKDIR/log bind-mounted (so the logs outlive the daemon), /dev/kvm is 0660
# root:kvm as on a Debian host; virtlogd and libvirtd run there, their pid files in
# WORKDIR (not /run, which is shared: two private libvirtds may run at once).  Taps vanish with the network namespace and mounts with the mount
# namespace; lv_stop (registered with on_exit by lv_start) kills every process left in
# the network namespace (libvirtd, virtlogd, QEMU) and removes the cgroups libvirt
# made (the "machine" partitions under /sys/fs/cgroup/*/...).
#
# After lv_start: LV_NS_PID (the anchor), LV_PID (libvirtd), LV_LOGD_PID (virtlogd),
# LV_WORK (WORKDIR), LV_LOG (WORKDIR/log = the private /var/log/libvirt).
# The private /etc/libvirt keeps Debian's qemu.conf and libvirtd.conf unchanged;
# LV_QEMU_CONF (lines appended to qemu.conf), LV_LIBVIRTD_CONF (lines appended to
# libvirtd.conf, e.g. log_filters), LV_QEMU_HOOK (a script installed as
# /etc/libvirt/hooks/qemu) and LV_QEMU_HOOK_D (a script linked as
# /etc/libvirt/hooks/qemu.d/vfiojail, as docs/LIBVIRT.md's recipe does) may be set
# before lv_start: libvirtd looks for hooks only when it starts.

LIBVIRTD=${LIBVIRTD:-/usr/sbin/libvirtd}
VIRTLOGD=${VIRTLOGD:-/usr/sbin/virtlogd}
LV_URI=qemu:///system
LV_NS_PID='' LV_PID='' LV_LOGD_PID='' LV_WORK='' LV_LOG=''
_lv_cg_before=''
_lv_netns='' _lv_left='' _lv_rmdir_run=''

# Directories called machine* under the cgroup mounts (libvirt's partitions and VMs).
_lv_machine_cgroups() {
	find /sys/fs/cgroup -type d -name 'machine*' 2>/dev/null | sort || true
}

# Pids in the private network namespace (every process the daemon started, QEMU too).
_lv_ns_pids() {
	local p
	[[ -n "$_lv_netns" ]] || return 0
	for p in /proc/[0-9]*; do
		[[ "$(readlink "$p/ns/net" 2>/dev/null)" == "$_lv_netns" ]] && echo "${p#/proc/}"
	done
	return 0
}

# Whether PID runs (a zombie, not yet reaped by this shell, does not).
_lv_alive() {
	local st
	st=$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null) || return 1
	[[ -n "$st" && "$st" != Z ]]
}

lv_ns_run() { # CMD... : run in libvirtd's mount and network namespaces
	[[ -n "$LV_NS_PID" ]] || fail "lv_ns_run: no private libvirtd"
	nsenter -t "$LV_NS_PID" -m -n -- "$@"
}

lv_virsh() { # ARGS... : virsh against the private libvirtd
	lv_ns_run virsh -q -c "$LV_URI" "$@"
}

# Start libvirtd in the namespaces (LV_NS_PID must be set); waits for virsh to answer.
lv_start_daemon() {
	local i
	# nsenter without --fork execs, so $! is libvirtd's pid.  The pid file is a path in
	# libvirtd's own mount namespace: LV_WORK for lv_start's (the host's tree is visible
	# there), the private /run for lvsid_start's (pivoted: LV_WORK is not).
	nsenter -t "$LV_NS_PID" -m -n -- "$LIBVIRTD" --pid-file "${LV_PIDFILE:-$LV_WORK/libvirtd.pid}" >>"$LV_WORK/libvirtd.out" 2>&1 &
	LV_PID=$!
	for i in $(seq 300); do
		_lv_alive "$LV_PID" || { tail -20 "$LV_WORK/libvirtd.out" >&2; fail "libvirtd exited"; }
		lv_virsh version >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	fail "libvirtd did not answer in 30s"
}

# Stop libvirtd only (running domains stay up, as with systemctl restart libvirtd).
lv_stop_daemon() {
	local i
	[[ -n "$LV_PID" ]] || return 0
	kill -TERM "$LV_PID" 2>/dev/null || true
	for i in $(seq 150); do _lv_alive "$LV_PID" || break; sleep 0.1; done
	kill -KILL "$LV_PID" 2>/dev/null || true
	wait "$LV_PID" 2>/dev/null || true
	LV_PID=''
}

lv_start() { # WORKDIR
	local work=$1 i
	[[ -x "$LIBVIRTD" && -x "$VIRTLOGD" ]] && command -v virsh >/dev/null ||
		skip "libvirtd, virtlogd or virsh not installed"
	[[ -z "$LV_NS_PID" ]] || fail "lv_start: already started"
	mkdir -p "$work/log"
	LV_WORK=$(cd "$work" && pwd) LV_LOG=$LV_WORK/log
	_lv_cg_before=$(_lv_machine_cgroups)
	on_exit _lv_cleanup
	# The mount point for the private /run/libvirt (a host without a libvirtd running
	# has none); removed again by the cleanup.
	if [[ ! -e /run/libvirt ]]; then
		mkdir -m 0755 /run/libvirt
		_lv_rmdir_run=1
	fi
	# The anchor: sets up the private mounts, then becomes "sleep infinity" (same pid).
	LV_QEMU_CONF=${LV_QEMU_CONF:-} LV_LIBVIRTD_CONF=${LV_LIBVIRTD_CONF:-} LV_QEMU_HOOK=${LV_QEMU_HOOK:-} LV_QEMU_HOOK_D=${LV_QEMU_HOOK_D:-} unshare --mount --net --propagation private -- bash -euc '
		tmp() { mount -t tmpfs -o "mode=$2" "lv-$1" "$1"; chown "$3" "$1"; }
		# /etc/libvirt: a copy of the real one without autostarted networks.
		cp -a /etc/libvirt "$0/etc"
		rm -f "$0"/etc/qemu/networks/autostart/* "$0"/etc/qemu/autostart/* 2>/dev/null || true
		[[ -z "$LV_QEMU_CONF" ]] || printf "%s\n" "$LV_QEMU_CONF" >>"$0/etc/qemu.conf"
		[[ -z "$LV_LIBVIRTD_CONF" ]] || printf "%s\n" "$LV_LIBVIRTD_CONF" >>"$0/etc/libvirtd.conf"
		[[ -z "$LV_QEMU_HOOK" ]] || install -D -m 0755 "$LV_QEMU_HOOK" "$0/etc/hooks/qemu"
		[[ -z "$LV_QEMU_HOOK_D" ]] || { install -d "$0/etc/hooks/qemu.d"; ln -s "$LV_QEMU_HOOK_D" "$0/etc/hooks/qemu.d/vfiojail"; }
		tmp /etc/libvirt 0755 root:root
		cp -a "$0/etc/." /etc/libvirt/
		rm -rf "$0/etc"
		# /var/lib/libvirt and /var/cache/libvirt: empty, with the ownership the
		# packages give them (copied from the real directories).
		cp -a --attributes-only -r /var/lib/libvirt "$0/lib"
		find "$0/lib" -type f -delete
		tmp /var/lib/libvirt 0755 root:root
		cp -a "$0/lib/." /var/lib/libvirt/
		rm -rf "$0/lib"
		tmp /var/cache/libvirt 0711 root:root
		mkdir -m 0711 /var/cache/libvirt/qemu
		tmp /run/libvirt 0755 root:root
		mount --bind "$0/log" /var/log/libvirt
		mkdir -p /var/log/libvirt/qemu
		# /dev/kvm as Debian'"'"'s udev rule sets it (0660 root:kvm; libvirt-qemu is in
		# group kvm).  Where root alone can open it, libvirt probes QEMU with
		# CAP_DAC_OVERRIDE (KVM works) but then finds KVM unusable for libvirt-qemu,
		# calls its capabilities cache stale and probes the emulator again on every
		# lookup (about 4 s each, dozens of times per define).
		if [[ -c /dev/kvm ]]; then
			mkdir "$0/kvmdir"
			mount -t tmpfs -o mode=0755,size=64k lv-kvm "$0/kvmdir"
			mknod -m 0660 "$0/kvmdir/kvm" c $((0x$(stat -c %t /dev/kvm))) $((0x$(stat -c %T /dev/kvm)))
			chown root:kvm "$0/kvmdir/kvm"
			mount --bind "$0/kvmdir/kvm" /dev/kvm
			umount "$0/kvmdir"
			rmdir "$0/kvmdir"
		fi
		ip link set lo up
		exec sleep infinity
	' "$LV_WORK" >"$LV_WORK/anchor.out" 2>&1 &
	LV_NS_PID=$!
	for i in $(seq 100); do
		[[ "$(readlink "/proc/$LV_NS_PID/exe" 2>/dev/null)" == */sleep ]] && break
		_lv_alive "$LV_NS_PID" || { cat "$LV_WORK/anchor.out" >&2; fail "namespace setup failed"; }
		sleep 0.05
	done
	_lv_netns=$(readlink "/proc/$LV_NS_PID/ns/net")
	[[ "$_lv_netns" != "$(readlink /proc/self/ns/net)" ]] || fail "no private network namespace"
	nsenter -t "$LV_NS_PID" -m -n -- "$VIRTLOGD" --pid-file "$LV_WORK/virtlogd.pid" >>"$LV_WORK/virtlogd.out" 2>&1 &
	LV_LOGD_PID=$!
	for i in $(seq 100); do
		lv_ns_run test -S /run/libvirt/virtlogd-sock && break
		_lv_alive "$LV_LOGD_PID" || { cat "$LV_WORK/virtlogd.out" >&2; fail "virtlogd exited"; }
		sleep 0.05
	done
	lv_start_daemon
}

# Stop everything of the private libvirtd and check nothing is left.
lv_stop() {
	_lv_teardown
	[[ -z "$_lv_left" ]] || fail "private libvirtd left: $_lv_left"
}

# The exit cleanup lv_start registers: the same, but only warns (a fail here would
# skip the cleanups registered before it).
_lv_cleanup() {
	_lv_teardown
	[[ -z "$_lv_left" ]] || echo "warning: private libvirtd left: $_lv_left" >&2
}

# Sets _lv_left to what could not be removed.  Safe to call twice and after a
# failure at any point.
_lv_teardown() {
	local i pids left='' d
	_lv_left=''
	[[ -n "$LV_NS_PID" ]] || return 0
	if [[ -n "$LV_PID" ]] && _lv_alive "$LV_PID"; then
		for d in $(lv_virsh list --name 2>/dev/null); do
			timeout 20 nsenter -t "$LV_NS_PID" -m -n -- virsh -q -c "$LV_URI" destroy "$d" >/dev/null 2>&1 || true
		done
	fi
	lv_stop_daemon
	# Whatever is left in the network namespace (QEMU, virtlogd, the anchor).
	for i in $(seq 50); do
		pids=$(_lv_ns_pids)
		[[ -n "$pids" ]] || break
		if ((i < 20)); then kill -TERM $pids 2>/dev/null || true; else kill -KILL $pids 2>/dev/null || true; fi
		sleep 0.1
	done
	pids=$(_lv_ns_pids)
	[[ -z "$pids" ]] || left+="processes: $pids; "
	# The cgroups libvirt made (it leaves the empty machine partitions behind).
	for i in $(seq 20); do
		for d in $(comm -13 <(echo "$_lv_cg_before") <(_lv_machine_cgroups) | sort -r); do
			find "$d" -depth -type d -exec rmdir {} + 2>/dev/null || true
		done
		[[ -z "$(comm -13 <(echo "$_lv_cg_before") <(_lv_machine_cgroups))" ]] && break
		sleep 0.1
	done
	d=$(comm -13 <(echo "$_lv_cg_before") <(_lv_machine_cgroups))
	[[ -z "$d" ]] || left+="cgroups: $d; "
	d=$(grep -E ' (/etc/libvirt|/var/lib/libvirt|/run/libvirt|/var/log/libvirt|/var/cache/libvirt)' /proc/self/mountinfo || true)
	[[ -z "$d" ]] || left+="mounts: $d; "
	if [[ -n "$_lv_rmdir_run" ]]; then
		rmdir /run/libvirt 2>/dev/null || left+="/run/libvirt not empty; "
		_lv_rmdir_run=''
	fi
	wait "$LV_LOGD_PID" "$LV_NS_PID" 2>/dev/null || true
	LV_NS_PID='' LV_PID='' LV_LOGD_PID='' _lv_netns=''
	_lv_left=$left
}

lv_domain_xml() { # NAME EMULATOR : a small TCG domain, no disk, pty serial, unbridged tap
	cat <<EOF
<domain type='qemu'>
  <name>$1</name>
  <memory unit='MiB'>64</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type></os>
  <devices>
    <emulator>$2</emulator>
    <serial type='pty'><target port='0'/></serial>
    <console type='pty'><target type='serial' port='0'/></console>
    <interface type='ethernet'>
      <target dev='vjtap0' managed='yes'/>
      <model type='e1000'/>
    </interface>
    <memballoon model='none'/>
  </devices>
</domain>
EOF
}
