# SPDX-License-Identifier: LGPL-2.1-or-later
# shellcheck shell=bash
# What tests/vm/case_libvirt.sh and case_libvirt_hotplug.sh share to run libvirt 9.0 with
# docs/LIBVIRT.md's recipe.  Source it after tests/vm/lib.sh and
# tests/integration/libvirt_lib.sh; each function registers its own cleanup (on_exit).

# libvirt 9.0's QEMU: QEMU 10 (the sid stack's, or the guest's own when it is 10),
# bound over the host root's QEMU 7.2 (binary, firmware, modules) while the case runs.
# Run from its own directory it still loads the 7.2 modules of
# /usr/lib/x86_64-linux-gnu/qemu (QEMU_MODULE_DIR only adds one) and aborts on libvirt's
# qom-list-types probe, and libvirtd probes /usr/bin's QEMU anyway.  Also makes the
# directories libvirt_lib mounts over (the guest's /var/lib, /var/log and /run are
# empty tmpfs).  qemu10_unbind undoes the binds early.
Q10_BINDS="usr/bin/qemu-system-x86_64 usr/share/qemu usr/lib/x86_64-linux-gnu/qemu"
qemu10_bind() {
	local q10=$VJ_QEMU_DIR p
	mkdir -p /var/lib/libvirt /var/log/libvirt /run/libvirt /var/cache/libvirt
	[[ "$QEMU_MAJOR" == 10 ]] || q10=$(ls -d "$(dirname "${VJ_SID_ROOT:-/nonexistent}")"/qemu-10.* 2>/dev/null | tail -1)
	[[ -x "$q10/usr/bin/qemu-system-x86_64" ]] || fail "no QEMU 10 for libvirt 9.0 ($q10)"
	for p in $Q10_BINDS; do mount --bind "$q10/$p" "/$p"; done
	on_exit qemu10_unbind
}
qemu10_unbind() { local p; for p in $Q10_BINDS; do ! mountpoint -q "/$p" || umount "/$p"; done; }

# The launch service on socket SOCK with root's specs in SPECS, its log in LOG; stopped
# at exit.  Sets $serve (its pid).
serve_start() { # SOCK SPECS LOG
	"$VFIOJAIL" serve --socket "$1" --spec-dir "$2" 2>"$3" &
	serve=$!
	on_exit "kill $serve 2>/dev/null; wait $serve 2>/dev/null"
	for _ in $(seq 100); do [[ -S "$1" ]] && break; sleep 0.05; done
	[[ -S "$1" ]] || fail "serve did not start: $(cat "$3")"
}

# The shipped QEMU wrapper, as meson installs it, talking to the service on $SOCK.
wrapper() { # OUT QEMU VFIOJAIL
	sed -e "s|@QEMU@|$2|" -e "s|@VFIOJAIL@|$3|" -e "s|@SOCKET@|$SOCK|" \
		"$VJ_SOURCE_ROOT/tools/libvirt/qemu-wrapper.in" >"$1"
	chmod 0755 "$1"
}

# The shipped hook, as meson installs it: it derives a spec only for a domain whose
# <emulator> is a wrapper in WRAPPERDIR, reading root's specs in SPECS (the service's),
# into /run/vfiojail/libvirt.
hook() { # OUT VFIOJAIL WRAPPERDIR SPECS
	sed -e "s|@VFIOJAIL@|$2|" -e "s|@WRAPPERDIR@|$3|" -e "s|@DERIVEDDIR@|/run/vfiojail/libvirt|" \
		-e "s|derive --from libvirt --install|derive --from libvirt --install --spec-dir $4|" \
		"$VJ_SOURCE_ROOT/tools/libvirt/libvirt-hook.in" >"$1"
	chmod 0755 "$1"
}
