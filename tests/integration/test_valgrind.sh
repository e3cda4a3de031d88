#!/usr/bin/env bash
# valgrind memcheck on the built vfiojail: plan on a fixture host, check, run of the
# probe in a container, setup, status, list, enter, attach, detach and teardown; no memory
# error and no definite or indirect leak (valgrind would exit 99), each command with its
# own exit status.  tests/valgrind.supp lists the false reports of valgrind 3.19 it
# needs (bpf(2) attrs checked past the size given, mount(2) with a NULL type).
# The ASan build skips: valgrind and ASan do not mix (the plain build runs it).
source "$(dirname "$0")/lib.sh"

command -v valgrind >/dev/null || skip "valgrind not installed"
# (grep -q would leave nm to SIGPIPE: with pipefail, a match could read as none)
if [[ "$(nm -D "$VFIOJAIL" 2>/dev/null)" == *__asan_init* ]]; then
	skip "ASan build, valgrind runs on the plain build"
fi

valgrind_tests() {
	iommu_answers_enotty
	roots=(--sysfs-root "$HOST/sys" --dev-root "$HOST/dev" --iommufd-accounting=best-effort)
	vm=(--name vmv --user nobody --memory 1G --hostdev 0009:06:00.0 --device /dev/net/tun --memlock-hard-limit 4MiB)
	n=0
	vg() { # STATUS WHAT -- vfiojail args
		local status=$1 what=$2
		shift 3
		capture valgrind --quiet --error-exitcode=99 --leak-check=full \
			--errors-for-leak-kinds=definite,indirect --trace-children=no \
			--suppressions="$VJ_SOURCE_ROOT/tests/valgrind.supp" \
			--log-file="$WORK/vg.%p.log" "$VFIOJAIL" "$@"
		local logs
		# Exit 99: memcheck found an error or a definite or indirect leak.  Its notes
		# (a syscall or ioctl it does not know: openat2 before 3.21, IOMMU_OPTION) are
		# not errors.
		logs=$(cat "$WORK"/vg.*.log 2>/dev/null || true)
		rm -f "$WORK"/vg.*.log
		[[ $rc != 99 ]] || fail "$what: valgrind found errors: $logs"
		assert_eq "$rc" "$status" "$what: exit status ($err)"
		n=$((n + 1))
	}
	vg 0 "plan" -- plan "${roots[@]}" "${vm[@]}"
	vg 0 "plan --json" -- plan --json "${roots[@]}" "${vm[@]}"
	vg 125 "plan of a device the host lacks" -- plan "${roots[@]}" "${vm[@]}" --device /dev/absent
	vg 2 "a bad spec" -- plan "${roots[@]}" --name "a/b" --user nobody
	capture "$VFIOJAIL" check "${roots[@]}"
	vg "$rc" "check" -- check "${roots[@]}"
	vg 0 "run of the probe" -- run "${roots[@]}" "${vm[@]}" -- "$WORK/probe" --open /dev/vfio/devices/vfio0 --out "$WORK/out/r.json"
	[[ -s "$WORK/out/r.json" ]] || fail "the probe did not run"
	vg 7 "run: the VMM exit status" -- run "${roots[@]}" "${vm[@]}" -- "$WORK/probe" --out /dev/null --exit 7
	vg 127 "run of a missing VMM" -- run "${roots[@]}" "${vm[@]}" -- /no/such/vmm
	vg 0 "setup" -- setup "${roots[@]}" "${vm[@]}"
	vg 0 "status" -- status vmv
	vg 0 "status --json" -- status --json vmv
	vg 0 "list" -- list
	vg 0 "enter" -- enter vmv -- "$WORK/probe" --out /dev/null
	vg 0 "attach" -- attach vmv --hostdev 0009:06:00.1 --device /dev/kvm
	vg 0 "detach" -- detach vmv --hostdev 0009:06:00.1 --device /dev/kvm
	vg 125 "attach of a device the host lacks" -- attach vmv --device /dev/absent
	vg 2 "setup of a name in use" -- setup "${roots[@]}" "${vm[@]}"
	vg 0 "teardown" -- teardown vmv
	assert_nothing_left "$CG" /run/vfiojail /sys/fs/bpf/vfiojail
	pass "valgrind memcheck: $n commands, no error, no definite or indirect leak"
}
in_container gpu-iommufd valgrind_tests
