#!/usr/bin/env bash
# The libvirt <emulator> wrapper (tools/libvirt/qemu-wrapper.in), against stand-ins for
# QEMU and vfiojail: libvirt's emulator probes (no -name) run QEMU directly, with
# -daemonize; a VM start becomes "vfiojail launch --socket S --preserve-fds N -- NAME --
# QEMU ARGS" with the domain's name from -name guest=NAME (libvirt doubles "," in it),
# libvirt's fds kept at their numbers up to the highest, the gaps filled with /dev/null;
# with VFIOJAIL_SOCKET set (a pod's hand-off) no --socket, so launch reads the variable.
source "$(dirname "$0")/lib.sh"

WORK=$(mktemp -d /tmp/vfiojail-wrapper.XXXXXX)
on_exit "rm -rf '$WORK'"
# Stand-ins: each prints who it is, its argv (one per line) and its fds 3.. as targets.
for who in qemu vfiojail; do
	cat >"$WORK/$who" <<SH
#!/bin/bash
echo "$who"
printf 'arg %s\n' "\$@"
echo "env VFIOJAIL_SOCKET=\${VFIOJAIL_SOCKET-unset}"
for f in /proc/\$\$/fd/*; do fd=\${f##*/}; ((fd > 2)) || continue
	flags=\$(awk '/^flags:/ { print \$2 }' /proc/\$\$/fdinfo/\$fd 2>/dev/null) || continue
	((8#\$flags & 8#2000000)) && continue
	[[ "\$(readlink \$f)" != pipe:* ]] || continue # this loop's own command substitutions
	echo "fd \$fd \$(readlink \$f)"; done
SH
	chmod 0755 "$WORK/$who"
done
sed -e "s|@QEMU@|$WORK/qemu|" -e "s|@VFIOJAIL@|$WORK/vfiojail|" -e "s|@SOCKET@|/run/test.sock|" \
	"$VJ_SOURCE_ROOT/tools/libvirt/qemu-wrapper.in" >"$WORK/wrapper"
chmod 0755 "$WORK/wrapper"
echo a >"$WORK/mon"; echo b >"$WORK/tap"
# As libvirt runs its emulator: every fd closed but the ones it hands over (FDS, a
# comma-separated list), whatever this test inherited.
as_libvirt() { # FDS CMD...
	local fds=$1; shift
	/usr/bin/python3 -c 'import subprocess, sys
fds = [int(x) for x in sys.argv[1].split(",") if x]
sys.exit(subprocess.call(sys.argv[2:], pass_fds=fds))' "$fds" "$@"
}

# libvirt's capability probe, as measured with libvirt 9.0 (docs/LIBVIRT.md).
capture as_libvirt "" "$WORK/wrapper" -S -no-user-config -nodefaults -nographic -machine none,accel=kvm:tcg \
	-qmp unix:/tmp/x/qmp.monitor,server=on,wait=off -pidfile /tmp/x/qmp.pid -daemonize
assert_eq "$rc" 0 "probe ($err)"
assert_eq "$(head -1 <<<"$out")" qemu "a probe runs QEMU itself"
assert_contains "$out" "arg -daemonize" "with its arguments as given"
capture as_libvirt "" "$WORK/wrapper" -version
assert_eq "$(head -1 <<<"$out")/$(sed -n 2p <<<"$out")" "qemu/arg -version" "-version runs QEMU itself"
pass "probes pass through"

# A VM start: fds 28 (monitor) and 32 (tap) as libvirt passes them.
capture as_libvirt 28,32 "$WORK/wrapper" -name guest=lv-b+x,,y,debug-threads=on -S -chardev socket,id=charmonitor,fd=28 \
	-netdev tap,fd=32,id=hostnet0 28<"$WORK/mon" 32<"$WORK/tap"
assert_eq "$rc" 0 "start ($err)"
assert_eq "$(head -1 <<<"$out")" vfiojail "a start goes through vfiojail"
args=$(grep '^arg ' <<<"$out" | head -10 | sed 's/^arg //' | tr '\n' ' ')
assert_eq "$args" "launch --socket /run/test.sock --preserve-fds 30 -- lv-b+x,y -- $WORK/qemu -name " \
	"launch, the fds up to the highest, the unescaped name, then QEMU and its argv"
assert_contains "$out" "arg guest=lv-b+x,,y,debug-threads=on" "QEMU's argv is untouched"
echo "$out" >&2
assert_eq "$(grep -c '^fd ' <<<"$out")" 30 "fds 3 to 32 are open"
assert_contains "$out" "fd 28 $WORK/mon" "fd 28 is libvirt's monitor"
assert_contains "$out" "fd 32 $WORK/tap" "fd 32 is libvirt's tap"
assert_eq "$(grep '^fd ' <<<"$out" | grep -vc -e "$WORK/mon" -e "$WORK/tap")" 28 "the gaps"
assert_eq "$(grep '^fd ' <<<"$out" | grep -v -e "$WORK/mon" -e "$WORK/tap" | awk '{print $3}' | sort -u)" /dev/null "are /dev/null"
pass "a start: vfiojail launch with libvirt's fds"

# No fds at all; a domain name that starts with "-".
capture as_libvirt "" "$WORK/wrapper" -name guest=-odd,debug-threads=on
args=$(grep '^arg ' <<<"$out" | head -9 | sed 's/^arg //' | tr '\n' ' ')
assert_eq "$args" "launch --socket /run/test.sock --preserve-fds 0 -- -odd -- $WORK/qemu " "a leading - after --"
# The real vfiojail parses that form: no service here, so it says so (125).
capture "$VFIOJAIL" launch --socket "$WORK/none.sock" -- -odd -- /bin/true
assert_eq "$rc" 125 "launch -- -odd -- ... ($err)"
assert_contains "$err" "cannot reach the launch service" "parsed to the connection"
pass "names starting with -"

# VFIOJAIL_SOCKET (libvirt passes it to the emulator from the domain's <qemu:env>):
# no --socket, so vfiojail launch takes the variable's socket; the variable reaches it.
capture as_libvirt 28 env VFIOJAIL_SOCKET=/run/vfiojail-handoff/handoff.sock "$WORK/wrapper" \
	-name guest=pod-vm,debug-threads=on -S -chardev socket,id=charmonitor,fd=28 28<"$WORK/mon"
assert_eq "$rc" 0 "start with VFIOJAIL_SOCKET ($err)"
args=$(grep '^arg ' <<<"$out" | head -8 | sed 's/^arg //' | tr '\n' ' ')
assert_eq "$args" "launch --preserve-fds 26 -- pod-vm -- $WORK/qemu -name " "no --socket: launch reads VFIOJAIL_SOCKET"
assert_contains "$out" "env VFIOJAIL_SOCKET=/run/vfiojail-handoff/handoff.sock" "the variable reaches vfiojail"
# Set but empty: root's service, as when it is not set.
capture as_libvirt "" env VFIOJAIL_SOCKET= "$WORK/wrapper" -name guest=vm2
args=$(grep '^arg ' <<<"$out" | head -6 | sed 's/^arg //' | tr '\n' ' ')
assert_eq "$args" "launch --socket /run/test.sock --preserve-fds 0 -- " "an empty VFIOJAIL_SOCKET is not a socket"
# The real vfiojail takes the variable's socket, and names it as the VM's hand-off.
sed -e "s|@QEMU@|/bin/true|" -e "s|@VFIOJAIL@|$VFIOJAIL|" -e "s|@SOCKET@|$WORK/service.sock|" \
	"$VJ_SOURCE_ROOT/tools/libvirt/qemu-wrapper.in" >"$WORK/wrapper-real"
chmod 0755 "$WORK/wrapper-real"
capture as_libvirt "" env VFIOJAIL_SOCKET="$WORK/elsewhere.sock" "$WORK/wrapper-real" -name guest=pod-vm
assert_eq "$rc" 125 "no hand-off there ($err)"
assert_contains "$err" "$WORK/elsewhere.sock" "launch used VFIOJAIL_SOCKET's path"
assert_contains "$err" "cannot reach the VM's hand-off socket" "as the pod's hand-off"
pass "VFIOJAIL_SOCKET: the wrapper lets launch use it"
