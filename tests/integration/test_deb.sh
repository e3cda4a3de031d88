#!/usr/bin/env bash
# The Debian package (debian/), as a user gets it, on bookworm and on sid: for each
# suite the .deb is built from this tree (its tracked and unignored files, as a clean
# clone has them) with dpkg-buildpackage inside a root holding only build-essential
# and debian/control's Build-Depends, so a missing Build-Depends fails here; it is
# installed with apt into a clean root (mmdebstrap --variant=apt: nothing else
# installed), its Depends coming from the mirror; there vfiojail version, check, plan
# on a fixture host and one run of a VMM (a shell that prints what it sees: /dev, its
# uid, its memlock limit) work; then apt-get purge leaves nothing of the package.
# lintian reports no error on the bookworm .deb.
#
# The roots are made once by tools/deb-root and kept as tarballs in
# /var/cache/vfiojail-deb (VFIOJAIL_DEB_CACHE); VFIOJAIL_DEB_SUITES picks the suites
# (default "bookworm sid").  Everything runs in a throwaway container (lib.sh's
# in_container): the chroots' /proc, /sys, /dev and /run mounts live in its private
# mount namespace and end with it, so none is left on the machine, pass or fail.
source "$(dirname "$0")/lib.sh"
[ "$(id -u)" -eq 0 ] || skip "root is needed (mmdebstrap --mode=root, chroot, mknod)"
command -v mmdebstrap >/dev/null || skip "mmdebstrap is missing (tools/install-deps test installs it)"
command -v git >/dev/null || skip "git is missing: the tree is taken as git sees it"
export SUITES=${VFIOJAIL_DEB_SUITES:-bookworm sid}

# The tree a clean clone has: tracked and untracked-but-not-ignored files (no build dirs).
src=$(mktemp -d /tmp/vfiojail-deb-src.XXXXXX)
on_exit "rm -rf '$src'"
mkdir "$src/vfiojail"
(cd "$VJ_SOURCE_ROOT" && git ls-files -z -co --exclude-standard |
	tar --null -T - --ignore-failed-read -cf - 2>/dev/null) | tar -C "$src/vfiojail" -xf -
[ -f "$src/vfiojail/debian/rules" ] || fail "no debian/rules in the tree taken from $VJ_SOURCE_ROOT"
export SRC_TREE=$src/vfiojail
export VERSION
VERSION=$(cd "$SRC_TREE" && dpkg-parsechangelog -S Version)
meson_version=$(sed -n "s/^  version : '\([^']*\)'.*/\1/p" "$SRC_TREE/meson.build")
assert_eq "$VERSION" "$meson_version" "debian/changelog's version is meson.build's"

# The roots (made once, cached), outside the container: mmdebstrap needs the network
# and its own namespaces.
declare -A tars
for s in $SUITES; do
	tars[$s]=$("$VJ_SOURCE_ROOT/tools/deb-root" "$s") || fail "tools/deb-root $s failed"
	tars[$s-build]=$("$VJ_SOURCE_ROOT/tools/deb-root" "$s" build) || fail "tools/deb-root $s build failed"
done
export TARS
TARS=$(for k in "${!tars[@]}"; do echo "$k=${tars[$k]}"; done)
tar_of() { sed -n "s/^$1=//p" <<<"$TARS"; }

# /proc, /sys (cgroup2 and the container's bpffs below it), /dev and a fresh /run in
# the chroot ROOT; in the container's mount namespace, so they go with it.
# The root is bound onto itself first: a jail makes the mounts below / slaves, and a
# chroot whose / is no mount point refuses that (EINVAL), as no booted system would.
chroot_mounts() { # ROOT
	mount --bind "$1" "$1"
	mount -t proc proc "$1/proc"
	mount --rbind /sys "$1/sys"
	mount --rbind /dev "$1/dev"
	mount -t tmpfs -o mode=0755 tmpfs "$1/run"
	cp -L /etc/resolv.conf "$1/etc/resolv.conf"
}
in_root() { # ROOT CMD... (a clean environment, as a login would have)
	local r=$1
	shift
	env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 \
		DEBIAN_FRONTEND=noninteractive chroot "$r" "$@"
}

deb_suite() { # SUITE
	local suite=$1 b r deb f
	b=$WORK/build-$suite r=$WORK/root-$suite
	# ---- build the .deb in a root of Build-Depends only ----
	mkdir "$b"
	tar -C "$b" -xf "$(tar_of "$suite-build")"
	mkdir "$b/src"
	cp -a "$SRC_TREE" "$b/src/vfiojail"
	chroot_mounts "$b"
	in_root "$b" sh -c 'cd /src/vfiojail && dpkg-buildpackage -us -uc -b' >"$WORK/build-$suite.log" 2>&1 ||
		fail "$suite: dpkg-buildpackage failed: $(tail -20 "$WORK/build-$suite.log")"
	deb=$(ls "$b"/src/vfiojail_"$VERSION"_*.deb)
	[[ -f "$deb" ]] || fail "$suite: no vfiojail_${VERSION}_ARCH.deb built"
	cp "$deb" "$WORK/$suite-${deb##*/}"
	pass "$suite: dpkg-buildpackage -us -uc -b in a root of Build-Depends only made ${deb##*/}"
	# The library is private: no shared library, header or pkg-config file shipped.
	contents=$(dpkg-deb -c "$deb")
	for f in ./usr/sbin/vfiojail ./usr/libexec/vfiojail/qemu-system-x86_64 ./usr/libexec/vfiojail/libvirt-hook \
		./usr/share/man/man1/vfiojail.1.gz ./usr/share/man/man5/vfiojail-spec.5.gz \
		./usr/share/bash-completion/completions/vfiojail \
		./etc/apparmor.d/abstractions/vfiojail-libvirt-qemu ./etc/apparmor.d/abstractions/vfiojail-libvirtd; do
		grep -q " $f\$" <<<"$contents" || fail "$suite: $f not in the package: $contents"
	done
	grep -qE '/systemd/system/vfiojail\.socket$' <<<"$contents" || fail "$suite: no vfiojail.socket"
	grep -qE '/systemd/system/vfiojail\.service$' <<<"$contents" || fail "$suite: no vfiojail.service"
	! grep -qE 'libvfiojail|\.pc$|/include/' <<<"$contents" || fail "$suite: the library is shipped: $contents"
	pass "$suite: the package holds the binary, wrapper, hook, man pages, units, completion, AppArmor abstractions, no library"

	# ---- install it with apt into a clean root ----
	mkdir "$r"
	tar -C "$r" -xf "$(tar_of "$suite")"
	chroot_mounts "$r"
	before=$(in_root "$r" dpkg-query -W -f '${Package}\n' | sort)
	cp "$deb" "$r/tmp/"
	in_root "$r" apt-get update -q >"$WORK/apt-$suite.log" 2>&1 || fail "$suite: apt-get update: $(tail "$WORK/apt-$suite.log")"
	in_root "$r" apt-get install -y -q --no-install-recommends "/tmp/${deb##*/}" >>"$WORK/apt-$suite.log" 2>&1 ||
		fail "$suite: apt-get install ./${deb##*/}: $(tail -20 "$WORK/apt-$suite.log")"
	pulled=$(comm -13 <(echo "$before") <(in_root "$r" dpkg-query -W -f '${Package}\n' | sort) | paste -sd' ')
	pass "$suite: apt-get install ./${deb##*/} into a clean root; it pulled: $pulled"
	# Installed, not enabled: no systemd link anywhere names the units.
	links=$(find "$r/etc/systemd" -name 'vfiojail*' 2>/dev/null || true)
	[[ -z "$links" ]] || fail "$suite: the units are enabled: $links"
	pass "$suite: vfiojail.socket and vfiojail.service installed, not enabled"

	# ---- version, check, plan ----
	assert_eq "$(in_root "$r" vfiojail version)" "vfiojail $VERSION" "$suite: vfiojail version"
	capture in_root "$r" vfiojail check
	[[ $rc -eq 0 || $rc -eq 1 ]] || fail "$suite: check exited $rc (a report exits 0 or 1): $out $err"
	lines=$(grep -cE '^(PASS|WARN|FAIL)  ' <<<"$out" || true)
	[[ $lines -ge 5 ]] || fail "$suite: check printed no report ($lines items): $out $err"
	assert_contains "$out" "PASS  cgroup2: mounted" "$suite: check sees cgroup2 in the chroot"
	pass "$suite: vfiojail check reports $lines items (status $rc: FAIL items are this host's)"
	cp -a "$HOST" "$r/host"
	capture in_root "$r" vfiojail plan --sysfs-root /host/sys --dev-root /host/dev \
		--name vm1 --user nobody --memory 1GiB --hostdev 0009:06:00.0 --iommufd iommufd0
	assert_eq "$rc" 0 "$suite: plan on the gpu-iommufd fixture ($err)"
	assert_contains "$out" "/dev/vfio/devices/vfio0      c    240:0" "$suite: plan's hostdev node"
	assert_contains "$out" "RLIMIT_MEMLOCK: 2GiB (2147483648 bytes)" "$suite: plan's memlock"
	pass "$suite: vfiojail plan on the gpu-iommufd fixture host"
	# cdi's hooks run the packaged binary, which --help names as the default.
	assert_contains "$(in_root "$r" vfiojail --help)" "(default /usr/sbin/vfiojail)" "$suite: --help names cdi's default"
	capture in_root "$r" vfiojail cdi --sysfs-root /host/sys --dev-root /host/dev \
		--name vm1 --user nobody --memory 1GiB --hostdev 0009:06:00.0 --iommufd iommufd0
	assert_eq "$rc" 0 "$suite: cdi on the fixture ($err)"
	assert_eq "$(jq -r '[.devices[].containerEdits.hooks[].path] | unique | join(" ")' <<<"$out")" \
		/usr/sbin/vfiojail "$suite: the CDI hooks' path"
	[[ -x "$r/usr/sbin/vfiojail" ]] || fail "$suite: the hooks' /usr/sbin/vfiojail is not the package's"
	pass "$suite: vfiojail cdi's hooks run the package's /usr/sbin/vfiojail"

	# ---- one run: the VMM is a shell that prints what it sees ----
	in_root "$r" vfiojail plan --name debvm --user nobody --memlock-hard-limit 4MiB --json >"$WORK/plan-$suite.json"
	capture in_root "$r" vfiojail run --name debvm --user nobody --memlock-hard-limit 4MiB -- \
		/bin/sh -c 'echo "dev: $(cd /dev && ls -A | tr "\n" " ")"; echo "uid: $(id -u) $(id -g)"; echo "memlock: $(ulimit -l)"; cat /dev/null && echo "null: readable"'
	assert_eq "$rc" 0 "$suite: vfiojail run of a shell ($err)"
	echo "$suite: the VMM saw: $out"
	# Its /dev: the planned nodes' top-level names, the std links, pts and shm.
	want=$(jq -r '[.nodes[].path | split("/")[2]] + ["fd", "stdin", "stdout", "stderr", "pts", "shm"] |
		unique | join(" ")' "$WORK/plan-$suite.json")
	seen=$(sed -n 's/^dev: //p' <<<"$out" | tr ' ' '\n' | grep -v '^$' | sort | paste -sd' ')
	for n in $seen; do [[ " $want " == *" $n "* ]] || fail "$suite: /dev/$n in the jail, not planned (planned: $want)"; done
	for n in null zero urandom pts; do [[ " $seen " == *" $n "* ]] || fail "$suite: /dev/$n missing in the jail: $seen"; done
	assert_contains "$out" "uid: 65534 65534" "$suite: the VMM runs as nobody"
	assert_contains "$out" "memlock: 4096" "$suite: RLIMIT_MEMLOCK as planned (4 MiB)"
	assert_contains "$out" "null: readable" "$suite: the filter lets /dev/null through"
	left=$(find "$r/run/vfiojail" -mindepth 1 -name '*.json' 2>/dev/null || true)
	[[ -z "$left" ]] || fail "$suite: jail state left after run: $left"
	pass "$suite: vfiojail run: the VMM sees only the planned /dev, runs as nobody with memlock 4 MiB"

	# ---- purge leaves nothing ----
	mapfile -t files < <(in_root "$r" dpkg -L vfiojail)
	in_root "$r" apt-get purge -y -q vfiojail >>"$WORK/apt-$suite.log" 2>&1 || fail "$suite: apt-get purge: $(tail "$WORK/apt-$suite.log")"
	for f in "${files[@]}"; do
		# Directories (/lib is usrmerge's link to one) are shared; the package's own
		# are checked by name below.
		[[ -d "$r$f" ]] && continue
		[[ ! -e "$r$f" && ! -L "$r$f" ]] || fail "$suite: $f left after purge"
	done
	# Anything named after it, outside the package's own test files (/tmp: the .deb,
	# /host: the fixture) and the jail's runtime state directory (tmpfs /run, empty).
	left=$(find "$r" -xdev \( -path "$r/tmp" -o -path "$r/host" -o -path "$r/run" \) -prune -o -name '*vfiojail*' -print)
	[[ -z "$left" ]] || fail "$suite: left after purge: $left"
	for f in /etc/vfiojail /run/vfiojail.sock /usr/libexec/vfiojail /usr/share/doc/vfiojail; do
		[[ ! -e "$r$f" ]] || fail "$suite: $f left after purge"
	done
	status=$(in_root "$r" dpkg-query -W -f '${db:Status-Abbrev}' vfiojail 2>/dev/null || true)
	[[ -z "$status" || "$status" == "un "* || "$status" == "pn "* ]] || fail "$suite: dpkg still knows vfiojail: $status"
	pass "$suite: apt-get purge -y vfiojail leaves none of its ${#files[@]} paths, no unit state, no /etc/vfiojail"
}

deb_all() {
	for s in $SUITES; do deb_suite "$s"; done
	# The WORK tree holds the roots; the container's end unmounts them first.
	cp "$WORK"/*-vfiojail_*.deb "$DEBS/"
}
export DEBS=$src/debs
mkdir "$DEBS"
in_container gpu-iommufd deb_all

# lintian (this machine's) on the .debs: no error.
if command -v lintian >/dev/null; then
	for deb in "$DEBS"/*.deb; do
		capture lintian --fail-on error "$deb"
		assert_eq "$rc" 0 "lintian ${deb##*/}: $out $err"
		! grep -q '^E: ' <<<"$out" || fail "lintian errors on ${deb##*/}: $out"
		[[ -z "$out" ]] || echo "lintian ${deb##*/} (not errors): $out"
		pass "lintian ${deb##*/}: no error (its overridden tags: debian/vfiojail.lintian-overrides)"
	done
else
	echo "lintian is missing (tools/install-deps test installs it): not run"
fi
