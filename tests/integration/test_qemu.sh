#!/usr/bin/env bash
# The real QEMU (Debian's qemu-system-x86_64, TCG, no KVM) started through vfiojail run as
# nobody in a throwaway container: it answers QMP over stdio, holds the iommufd context
# vfiojail handed it, cannot open a node outside its plan, and its exit status comes back.
# Nothing is left afterwards.
#
# QEMU 7.2 (Debian 12) has no "-object iommufd" (the iommufd backend came in QEMU 8.2), so
# the context is handed over with "-add-fd fd=@fd:iommufd0@,set=1": QEMU checks that the
# number is an open fd, dups it into fd set 1, and query-fdsets shows it; the test then
# checks from outside that this fd of the QEMU process is the /dev/iommu node.
source "$(dirname "$0")/lib.sh"

QEMU=$(command -v qemu-system-x86_64 || true)
[[ -n "$QEMU" ]] || skip "qemu-system-x86_64 not installed"
export QEMU

qemu_tests() {
	# /dev/iommu stand-in: a node of a real driver (null), so it opens; IOMMU_OPTION gets ENOTTY.
	iommu_answers_enotty
	mkdir -m 0755 "$WORK/foreign"
	mknod -m 0666 "$WORK/foreign/sda" b 8 0
	roots=(--sysfs-root "$HOST/sys" --dev-root "$HOST/dev")
	spec="$WORK/qemu.json"
	cat >"$spec" <<JSON
{ "name": "qemu1", "user": "nobody", "memory": "64MiB", "iommufd": [ { "id": "iommufd0" } ] }
JSON
	qemu_args=(-accel tcg -machine none -m 64M -display none -nodefaults -qmp stdio)
	vmcg="$CG/vfiojail-qemu1"

	# Start QEMU through vfiojail in the background, its stdin and stdout on fifos.  timeout
	# bounds the whole VM; every read below is bounded too.
	mkfifo "$WORK/out/qmp.in" "$WORK/out/qmp.out"
	timeout -k 5 60 "$VFIOJAIL" run "$spec" "${roots[@]}" --iommufd-accounting=best-effort -- \
		"$QEMU" "${qemu_args[@]}" -add-fd "fd=@fd:iommufd0@,set=1,opaque=iommufd0" \
		<"$WORK/out/qmp.in" >"$WORK/out/qmp.out" 2>"$WORK/out/run.err" &
	vm=$!
	on_exit "kill $vm 2>/dev/null"
	exec {qin}>"$WORK/out/qmp.in" {qout}<"$WORK/out/qmp.out"

	qmp_line() { # -> $line: the next line from QEMU that is not an event
		while IFS= read -r -t 20 line <&$qout; do
			[[ "$line" == *"\"event\""* ]] || return 0
		done
		fail "no answer from QEMU on QMP ($(cat "$WORK/out/run.err"))"
	}
	qmp() { # COMMAND [ARGUMENTS-JSON] -> $reply: the "return" value, compact JSON
		local msg="{\"execute\": \"$1\"${2:+, \"arguments\": $2}}"
		echo "$msg" >&$qin
		qmp_line
		reply=$(jq -ce ".return" <<<"$line") || fail "$1: $line"
	}

	qmp_line
	greeting=$line
	qver=$(jq -r ".QMP.version.qemu | \"\(.major).\(.minor).\(.micro)\"" <<<"$greeting")
	assert_contains "$("$QEMU" --version | head -1)" "version $qver" "the QMP greeting is from this QEMU"
	qmp qmp_capabilities
	assert_eq "$reply" "{}" "qmp_capabilities"
	qmp query-version
	assert_eq "$(jq -r ".qemu | \"\(.major).\(.minor).\(.micro)\"" <<<"$reply")" "$qver" "query-version"
	qmp query-status
	assert_eq "$(jq -r .status <<<"$reply")" running "query-status"
	pass "QEMU answers QMP through vfiojail"

	# The QEMU process as seen from outside: in the VM cgroup, as nobody, with no capability.
	pid=$(head -1 "$vmcg/cgroup.procs")
	[[ -n "$pid" ]] || fail "no process in $vmcg"
	assert_eq "$(readlink "/proc/$pid/exe")" "$(readlink -f "$QEMU")" "the VM cgroup runs QEMU"
	assert_eq "$(awk "/^Uid:/ { print \$2, \$3, \$4, \$5 }" "/proc/$pid/status")" "65534 65534 65534 65534" "QEMU uids"
	assert_eq "$(awk "/^CapEff:/ { print \$2 }" "/proc/$pid/status")" 0000000000000000 "QEMU effective capabilities"

	# fd passing: fd set 1 holds one valid fd, and it is the /dev/iommu context (the stand-in, 1:3).
	qmp query-fdsets
	assert_eq "$(jq -c "[.[] | {id: .\"fdset-id\", n: (.fds | length), opaque: .fds[0].opaque}]" <<<"$reply")" \
		"[{\"id\":1,\"n\":1,\"opaque\":\"iommufd0\"}]" "query-fdsets"
	fd=$(jq -r ".[0].fds[0].fd" <<<"$reply")
	# vfiojail opened it on the host side, from --dev-root.
	assert_eq "$(readlink "/proc/$pid/fd/$fd")" "$HOST/dev/iommu" "fd $fd in QEMU fd set 1"
	assert_eq "$(stat -L -c "%F %t:%T" "/proc/$pid/fd/$fd")" "character special file 1:3" "fd $fd is the iommu node"
	pass "the iommufd context reached QEMU (-add-fd, query-fdsets)"

	qmp quit
	exec {qin}>&-
	set +e; wait $vm; rc=$?; set -e
	exec {qout}<&-
	assert_eq "$rc" 0 "exit status after quit ($(cat "$WORK/out/run.err"))"
	assert_contains "$(cat "$WORK/out/run.err")" "per-user" "best-effort says what it leaves"
	assert_nothing_left "$CG" /run/vfiojail /sys/fs/bpf/vfiojail
	pass "quit: exit status 0, nothing left"

	# QEMU refuses an fd number that vfiojail did not hand over: no stray fds reach the VMM,
	# and the exit status of a QEMU that fails to start comes through.
	capture timeout -k 5 30 "$VFIOJAIL" run "$spec" "${roots[@]}" --iommufd-accounting=best-effort -- \
		"$QEMU" "${qemu_args[@]}" -add-fd fd=9,set=2 </dev/null
	assert_eq "$rc" 1 "QEMU exit status on a bad -add-fd ($err)"
	assert_contains "$err" "fd is not valid" "QEMU checked fd 9"
	assert_nothing_left "$CG" /run/vfiojail /sys/fs/bpf/vfiojail
	pass "no fd but the planned ones; a failing QEMU status comes through"

	# A node outside the plan, mode 0666 and visible in the jail, is refused by the device
	# filter (EPERM, not the ENXIO of an allowed node without a disk behind it).
	capture timeout -k 5 30 "$VFIOJAIL" run "$spec" "${roots[@]}" --iommufd-accounting=best-effort -- \
		"$QEMU" "${qemu_args[@]}" -chardev "file,id=c0,path=$WORK/foreign/sda" </dev/null
	assert_eq "$rc" 1 "QEMU exit status on a refused node ($err)"
	assert_contains "$err" "$WORK/foreign/sda': Operation not permitted" "the device filter refuses QEMU"
	assert_nothing_left "$CG" /run/vfiojail /sys/fs/bpf/vfiojail
	pass "QEMU cannot open a node outside its plan"
}
in_container gpu-iommufd qemu_tests
