#!/usr/bin/env bash
# The AppArmor rules meson installs for libvirt (tools/apparmor: abstractions the local
# overrides include, docs/LIBVIRT.md), compiled by apparmor_parser without a kernel
# (-Q -K: parse, resolve includes, build the DFA, load nothing): each alone; then
# included as the recipe says into Debian's own libvirtd profile and into a domain's
# profile made from libvirt's TEMPLATE.qemu, with the paths of this build and of a
# /usr prefix (where /usr/sbin/* already has an exec rule of libvirtd's).  A rule
# that conflicts is an error of the same compile (checked, so the test can fail).
# Nothing is loaded: this host has no LSM (no /sys/kernel/security/lsm).
source "$(dirname "$0")/lib.sh"
command -v apparmor_parser >/dev/null || skip "apparmor_parser is not installed (apt-get install apparmor)"
[[ -f /etc/apparmor.d/tunables/global && -f /etc/apparmor.d/abstractions/base ]] ||
	skip "AppArmor's base policy (tunables/global, abstractions/base) is not installed (apt-get install apparmor)"

WORK=$(mktemp -d /tmp/vfiojail-apparmor.XXXXXX)
on_exit "rm -rf '$WORK'"
built="$VJ_BUILD_ROOT/tools"
[[ -f "$built/vfiojail-libvirt-qemu" && -f "$built/vfiojail-libvirtd" ]] || fail "meson did not generate the AppArmor abstractions"

# A private copy of the policy tree, the abstractions added as meson installs them.
policy() { # DIR QEMU-ABSTRACTION LIBVIRTD-ABSTRACTION
	rm -rf "$1"
	cp -a /etc/apparmor.d "$1"
	install -m 0644 "$2" "$1/abstractions/vfiojail-libvirt-qemu"
	install -m 0644 "$3" "$1/abstractions/vfiojail-libvirtd"
}
parse() { # DIR PROFILE-FILE: apparmor_parser's status, its words but the cache note
	local o r=0
	o=$(apparmor_parser -Q -K -b "$1" -I "$1" "$2" 2>&1) || r=$?
	grep -v '^Cache read/write disabled' <<<"$o" || true
	return $r
}

# 1. Each abstraction in a profile of its own, as written for this build's paths.
policy "$WORK/p" "$built/vfiojail-libvirt-qemu" "$built/vfiojail-libvirtd"
cat >"$WORK/p/vj-test" <<'AA'
#include <tunables/global>
profile vj-test-domain {
  #include <abstractions/base>
  #include <abstractions/vfiojail-libvirt-qemu>
}
profile vj-test-libvirtd {
  #include <abstractions/base>
  #include <abstractions/vfiojail-libvirtd>
}
AA
capture parse "$WORK/p" "$WORK/p/vj-test"
assert_eq "$rc" 0 "the abstractions compile ($out)"
pre=$(apparmor_parser -b "$WORK/p" -I "$WORK/p" --preprocess "$WORK/p/vj-test" 2>/dev/null)
prefix=$(sed -n 's/^  \(.*\)\/libexec\/vfiojail\/qemu-system-x86_64 rmix,$/\1/p' "$built/vfiojail-libvirt-qemu")
[[ -n "$prefix" ]] || fail "the wrapper's rule names this build's libexec path"
for rule in "$prefix/libexec/vfiojail/qemu-system-x86_64 rmix," "$prefix/sbin/vfiojail rmix," "/dev/iommu rw," \
	"$(sed -n "s/^option('socket'.*value : '\([^']*\)'.*/\1/p" "$VJ_SOURCE_ROOT/meson_options.txt") rw," \
	"owner @{PROC}/@{pid}/fdinfo/[0-9]* r," "$prefix/libexec/vfiojail/qemu-system-x86_64 PUx," \
	"$prefix/libexec/vfiojail/libvirt-hook rix," "$prefix/sbin/vfiojail PUx,"; do
	grep -qxF "  $rule" <<<"$pre" || fail "the preprocessed profile has [$rule]"
done
pass "the abstractions compile, with this build's paths"

# 2. In Debian's own libvirt profiles, through the local overrides the recipe edits.
if [[ ! -f /etc/apparmor.d/usr.sbin.libvirtd || ! -f /etc/apparmor.d/libvirt/TEMPLATE.qemu ]]; then
	echo "not checked: Debian's libvirt profiles are not installed (libvirt-daemon-system)"
	exit 0
fi
usr_prefix() { sed -e 's|@WRAPPER@|/usr/libexec/vfiojail/qemu-system-x86_64|' -e 's|@HOOK@|/usr/libexec/vfiojail/libvirt-hook|' \
	-e 's|@VFIOJAIL@|/usr/sbin/vfiojail|' -e 's|@SOCKET@|/run/vfiojail.sock|' "$VJ_SOURCE_ROOT/tools/apparmor/$1.in" >"$WORK/$1.usr"; }
usr_prefix vfiojail-libvirt-qemu
usr_prefix vfiojail-libvirtd
debian() { # DIR QEMU-ABSTRACTION LIBVIRTD-ABSTRACTION: the recipe's two include lines
	policy "$@"
	echo "include <abstractions/vfiojail-libvirt-qemu>" >>"$1/local/abstractions/libvirt-qemu"
	echo "include <abstractions/vfiojail-libvirtd>" >>"$1/local/usr.sbin.libvirtd"
	# A domain's profile as virt-aa-helper makes it from the template.
	sed 's/LIBVIRT_TEMPLATE/libvirt-6f3c1a52-0000-4000-8000-00000000cafe/' "$1/libvirt/TEMPLATE.qemu" >"$1/libvirt/domain"
}
for variant in build usr; do
	if [[ $variant == build ]]; then
		debian "$WORK/d" "$built/vfiojail-libvirt-qemu" "$built/vfiojail-libvirtd"
	else
		debian "$WORK/d" "$WORK/vfiojail-libvirt-qemu.usr" "$WORK/vfiojail-libvirtd.usr"
	fi
	capture parse "$WORK/d" "$WORK/d/usr.sbin.libvirtd"
	assert_eq "$rc" 0 "Debian's libvirtd profile with vfiojail's rules, $variant paths ($out)"
	capture parse "$WORK/d" "$WORK/d/libvirt/domain"
	assert_eq "$rc" 0 "a domain's profile with vfiojail's rules, $variant paths ($out)"
	apparmor_parser -b "$WORK/d" -I "$WORK/d" --preprocess "$WORK/d/libvirt/domain" 2>/dev/null |
		grep -q '^  /dev/iommu rw,$' || fail "the domain's profile includes the rules through local/ ($variant)"
done
pass "Debian's libvirtd and domain profiles compile with the rules, at this build's paths and /usr's"

# The compile catches a conflict: vfiojail given another exec mode in libvirtd's
# profile (with the /usr paths, where Debian's /usr/sbin/* PUx applies too).
echo "/usr/sbin/vfiojail ix," >>"$WORK/d/local/usr.sbin.libvirtd"
capture parse "$WORK/d" "$WORK/d/usr.sbin.libvirtd"
[[ $rc -ne 0 ]] || fail "a conflicting exec rule should not compile"
assert_contains "$out" "conflicting x modifiers" "the compile names the conflict"
pass "a conflicting rule fails the same compile"
