#!/usr/bin/env bash
# attach in a live jail: a VMM polling a new node must never see it half made (ENOENT,
# then EACCES while root still owns it, then OK). Each node is made under a hidden name,
# given its owner, mode and ACL, and renamed into place: strace shows that order, and a
# process of the VM user polling the path across attach and detach cycles sees only
# "absent" or "opens". Nothing is left.
source "$(dirname "$0")/lib.sh"
command -v strace >/dev/null || skip "strace is needed to see the order of the calls"
command -v nsenter >/dev/null || skip "nsenter is needed to poll inside the jail"

hotplug_atomic_tests() {
	iommu_answers_enotty
	roots=(--sysfs-root "$HOST/sys" --dev-root "$HOST/dev" --iommufd-accounting=best-effort)
	mknod -m 0666 "$HOST/dev/x" c 242 0
	setfacl -m u:daemon:rw "$HOST/dev/x"
	"$VFIOJAIL" setup "${roots[@]}" --name vm1 --user nobody --memory 1GiB --memlock-hard-limit 4MiB >/dev/null

	# (LeakSanitizer cannot run under ptrace: the sanitizer build checks leaks elsewhere.)
	ASAN_OPTIONS=detect_leaks=0:verify_asan_link_order=0 \
		strace -f -qq -e trace=mknodat,fchownat,renameat2,setxattr,fsetxattr,lsetxattr -o "$WORK/trace" \
		"$VFIOJAIL" attach vm1 "${roots[@]}" --device /dev/x
	calls=$(grep -E "mknodat|fchownat|renameat2|setxattr" "$WORK/trace" | grep -v "= -1" || true)
	echo "$calls"
	mk=$(grep -n "mknodat" <<<"$calls" | head -1)
	[[ "$mk" == *".vfiojail-new."* ]] || fail "the node was made at its final path: $mk"
	[[ -z "$(grep "mknodat(.*\"x\"" <<<"$calls" || true)" ]] || fail "mknodat on the planned name itself"
	order=$(grep -oE "mknodat|fchownat|setxattr|renameat2" <<<"$calls" | uniq | xargs)
	assert_eq "$order" "mknodat fchownat setxattr renameat2" "made, owned, ACL set, then renamed into place"
	assert_contains "$(grep renameat2 <<<"$calls")" "\"x\", RENAME_NOREPLACE" "the rename does not replace"
	pass "attach makes the node under a hidden name and renames it finished into place"
	"$VFIOJAIL" detach vm1 --device /dev/x >/dev/null

	# A poller as the VM user in the jail: only ENOENT (absent) or ENXIO (opened: the node is
	# ours, no driver behind 242:0), never EACCES or EPERM.
	ns=/run/vfiojail/ns/vm1
	cat >"$WORK/poll.py" <<PY
import errno, os, time
end = time.time() + 6
while time.time() < end:
    try:
        os.close(os.open("/dev/x", os.O_RDWR))
        print("OPEN")
    except OSError as e:
        print(errno.errorcode[e.errno])
PY
	nsenter --mount="$ns" setpriv --reuid=65534 --regid=65534 --clear-groups /usr/bin/python3 "$WORK/poll.py" >"$WORK/poll" 2>&1 &
	poller=$!
	for i in $(seq 15); do
		"$VFIOJAIL" attach vm1 "${roots[@]}" --device /dev/x >/dev/null
		"$VFIOJAIL" detach vm1 --device /dev/x >/dev/null
	done
	wait $poller || true
	seen=$(grep -E "^E[A-Z]+$" "$WORK/poll" | sort | uniq -c | xargs)
	echo "poller saw: $seen"
	bad=$(grep -E "^(EACCES|EPERM)$" "$WORK/poll" | head -1 || true)
	[[ -z "$bad" ]] || fail "the poller saw a half-made node: $bad ($seen)"
	grep -q "^ENXIO$" "$WORK/poll" || fail "the poller never saw the node ($seen)"
	"$VFIOJAIL" teardown vm1 >/dev/null
	assert_nothing_left "$CG" /run/vfiojail /sys/fs/bpf/vfiojail
	pass "a poller as the VM user across 15 attach/detach cycles saw only: $seen"
}
in_container gpu-iommufd hotplug_atomic_tests
