# SPDX-License-Identifier: LGPL-2.1-or-later
# libvirt 12.x from the sid root (tools/vmtest's VJ_SID_ROOT), private and throwaway, for
# tests/vm/case_libvirt.sh.  Source it after tests/integration/libvirt_lib.sh: it sets the
# same variables (LV_NS_PID, LV_PID, LV_WORK, LV_LOG), so lv_virsh, lv_ns_run, lv_stop and
# the exit cleanup work on it unchanged.
#
# libvirtd 12.8 does not run under a plain chroot (it needs its root to be a mount point
# and the namespace's real root), so the anchor process, in a new mount and network
# namespace:
#   - binds the sid root on WORK/root and makes the bind read-only;
#   - mounts private tmpfs copies of /etc/libvirt (LV_QEMU_CONF, LV_LIBVIRTD_CONF appended,
#     LV_QEMU_HOOK as hooks/qemu, LV_QEMU_HOOK_D linked as hooks/qemu.d/vfiojail: its
#     path must be in a directory of LVSID_BINDS), /var/lib/libvirt, /var/cache/libvirt (without the
#     capability cache: one probed on another kernel makes QEMU fail on -sandbox), /run,
#     /tmp; /var/log/libvirt is WORK/log;
#   - gives it a private /dev (tmpfs): the pseudo-devices, a devpts of its own, and copies
#     of /dev/iommu, /dev/vfio and /dev/kvm (with the host's /dev bound in, libvirt chowns
#     the host's own nodes, /dev/userfaultfd for one);
#   - a fresh /proc, /sys bound recursively (cgroup2, bpffs);
#   - the guest's root read-only at /mnt/host (vfiojail's build, the wrapper) and each
#     directory of LVSID_BINDS (space separated) at its own path;
#   - pivot_root into it, the old root unmounted.
lvsid_start() { # WORKDIR
	local work=$1 i
	[[ -n "${VJ_SID_ROOT:-}" && -x "$VJ_SID_ROOT/usr/sbin/libvirtd" ]] || skip "no sid root with libvirtd (VJ_SID_ROOT=${VJ_SID_ROOT:-})"
	[[ -z "$LV_NS_PID" ]] || fail "lvsid_start: already started"
	mkdir -p "$work/log" "$work/root"
	LV_WORK=$(cd "$work" && pwd) LV_LOG=$LV_WORK/log
	_lv_cg_before=$(_lv_machine_cgroups)
	on_exit _lv_cleanup
	LV_QEMU_CONF=${LV_QEMU_CONF:-} LV_LIBVIRTD_CONF=${LV_LIBVIRTD_CONF:-} LV_QEMU_HOOK=${LV_QEMU_HOOK:-} \
		LV_QEMU_HOOK_D=${LV_QEMU_HOOK_D:-} LVSID_BINDS=${LVSID_BINDS:-} unshare --mount --net --propagation private -- bash -euc '
		R=$1 W=$2 N=$2/root
		mount --bind "$R" "$N"
		mount -o remount,bind,ro "$N"
		tmp() { mount -t tmpfs -o "mode=$2" "lv-${1//\//-}" "$N$1"; }
		cp -a "$R/etc/libvirt" "$W/etc"
		rm -f "$W"/etc/qemu/networks/autostart/* "$W"/etc/qemu/autostart/* 2>/dev/null || true
		[[ -z "$LV_QEMU_CONF" ]] || printf "%s\n" "$LV_QEMU_CONF" >>"$W/etc/qemu.conf"
		[[ -z "$LV_LIBVIRTD_CONF" ]] || printf "%s\n" "$LV_LIBVIRTD_CONF" >>"$W/etc/libvirtd.conf"
		[[ -z "$LV_QEMU_HOOK" ]] || { mkdir -p "$W/etc/hooks"; install -m 0755 "$LV_QEMU_HOOK" "$W/etc/hooks/qemu"; }
		[[ -z "$LV_QEMU_HOOK_D" ]] || { mkdir -p "$W/etc/hooks/qemu.d"; ln -s "$LV_QEMU_HOOK_D" "$W/etc/hooks/qemu.d/vfiojail"; }
		tmp /etc/libvirt 0755
		cp -a "$W/etc/." "$N/etc/libvirt/"
		rm -rf "$W/etc"
		for d in /var/lib/libvirt /var/cache/libvirt; do
			cp -a --attributes-only -r "$R$d" "$W/copy"
			find "$W/copy" -type f -delete
			tmp "$d" "$(stat -c %a "$R$d")"
			cp -a "$W/copy/." "$N$d/"
			rm -rf "$W/copy"
		done
		rm -f "$N"/var/cache/libvirt/qemu/capabilities/*.xml
		mount --bind "$W/log" "$N/var/log/libvirt"
		mkdir -p "$W/log/qemu"
		tmp /run 0755
		mkdir -m 0755 "$N/run/libvirt" "$N/run/lock"
		tmp /tmp 1777
		mount -t proc proc "$N/proc"
		mount --rbind /sys "$N/sys"
		tmp /dev 0755
		cp -a /dev/null /dev/zero /dev/full /dev/random /dev/urandom /dev/tty "$N/dev/"
		for n in /dev/iommu /dev/vfio /dev/kvm; do [[ ! -e $n ]] || cp -a "$n" "$N/dev/"; done
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
		for b in $LVSID_BINDS; do
			mkdir -p "$N$b"
			mount --bind "$b" "$N$b"
		done
		cd "$N"
		pivot_root . mnt/old
		cd /
		umount -l /mnt/old
		ip link set lo up
		exec sleep infinity
	' lvsid-anchor "$VJ_SID_ROOT" "$LV_WORK" >"$LV_WORK/anchor.out" 2>&1 &
	LV_NS_PID=$!
	for i in $(seq 100); do
		[[ "$(readlink "/proc/$LV_NS_PID/exe" 2>/dev/null)" == */sleep ]] && break
		_lv_alive "$LV_NS_PID" || { cat "$LV_WORK/anchor.out" >&2; fail "the sid namespace's setup failed"; }
		sleep 0.05
	done
	_lv_netns=$(readlink "/proc/$LV_NS_PID/ns/net")
	[[ "$_lv_netns" != "$(readlink /proc/self/ns/net)" ]] || fail "no private network namespace"
	LIBVIRTD=/usr/sbin/libvirtd VIRTLOGD=/usr/sbin/virtlogd
	nsenter -t "$LV_NS_PID" -m -n -- "$VIRTLOGD" >>"$LV_WORK/virtlogd.out" 2>&1 &
	LV_LOGD_PID=$!
	for i in $(seq 100); do
		lv_ns_run test -S /run/libvirt/virtlogd-sock && break
		_lv_alive "$LV_LOGD_PID" || { cat "$LV_WORK/virtlogd.out" >&2; fail "virtlogd (sid) exited"; }
		sleep 0.05
	done
	LV_PIDFILE=/run/libvirtd.pid lv_start_daemon
}
