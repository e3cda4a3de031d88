#!/usr/bin/env bash
# Where /run is read-only (a read-only root filesystem pod) or the state dir does not
# exist (an ExecStopPost= teardown on a host that never ran a VM): list, status, gc and
# teardown of a name with no jail work and write nothing; only the commands that make a
# jail need a writable state dir, and their EROFS error says so. "teardown -- NAME" is
# accepted as getopt's convention has it.
source "$(dirname "$0")/lib.sh"

readonly_run_tests() {
	roots=(--sysfs-root "$HOST/sys" --dev-root "$HOST/dev" --iommufd-accounting=best-effort)
	vm=(--name vm1 --user nobody --memory 1GiB --memlock-hard-limit 4MiB)
	read_only_cmds() { # WHAT
		capture "$VFIOJAIL" list
		assert_eq "$rc" 0 "list ($1) ($err)"
		capture "$VFIOJAIL" list --json
		assert_eq "$out" "{\"jails\": []}" "list --json ($1)"
		capture "$VFIOJAIL" status vm1
		assert_eq "$rc" 2 "status of a name with no jail ($1) ($err)"
		assert_contains "$err" "no jail of this name" "status says there is none ($1)"
		capture "$VFIOJAIL" gc
		assert_eq "$rc" 0 "gc ($1) ($err)"
		capture "$VFIOJAIL" teardown vm1
		assert_eq "$rc" 0 "teardown of a name with no jail ($1) ($err)"
		capture "$VFIOJAIL" teardown -- vm1
		assert_eq "$rc" 0 "teardown -- NAME ($1) ($err)"
	}

	# No state dir: nothing is created.
	read_only_cmds "no state dir"
	[[ ! -e /run/vfiojail ]] || fail "a read-only command created /run/vfiojail"
	pass "list, status, gc, teardown without a state dir create nothing"

	# /run read-only, with and without the state dir.
	mkdir -m 0700 /run/vfiojail
	mount -o remount,ro /run
	read_only_cmds "read-only /run"
	assert_eq "$(ls -A /run/vfiojail)" "" "nothing written in the read-only state dir"
	capture "$VFIOJAIL" run "${roots[@]}" "${vm[@]}" --state-dir /run/other -- "$WORK/probe" --out /dev/null
	assert_eq "$rc" 125 "run with a read-only /run ($err)"
	assert_contains "$err" "Read-only file system" "run names the cause"
	assert_contains "$err" "only the commands that make a jail (run, setup) need a writable state directory" "the hint says which commands need it"
	mount -o remount,rw /run
	rmdir /run/vfiojail
	assert_nothing_left "$CG" /run/vfiojail /sys/fs/bpf/vfiojail
	pass "a read-only /run: list, status, gc, teardown work; run says why it cannot"
}
in_container gpu-iommufd readonly_run_tests
