#!/usr/bin/env bash
# plan and check agree with run: every host condition run stops at (no cgroup2, a
# read-only cgroup2, a state dir someone else owns, a --bpffs that is not a bpffs, a pin
# directory someone else made) is an error in plan with the exit status (125) and the
# message run gives, and a FAIL in check where check looks. Nothing is left.
source "$(dirname "$0")/lib.sh"

plan_agrees_tests() {
	gpu_host_vm1
	first_error() { grep -v "^vfiojail: warning" <<<"$1" | grep -m1 "^vfiojail: "; }
	agree() { # WHAT NEEDLE -- extra args
		local what=$1 needle=$2 plan_err
		shift 3
		capture "$VFIOJAIL" plan "${roots[@]}" "${vm[@]}" "$@"
		assert_eq "$rc" 125 "plan: $what ($err)"
		assert_contains "$err" "$needle" "plan names the cause: $what"
		plan_err=$(first_error "$err")
		capture "$VFIOJAIL" run "${roots[@]}" "${vm[@]}" "$@" -- "$WORK/probe" --out /dev/null
		assert_eq "$rc" 125 "run: $what ($err)"
		assert_eq "$(first_error "$err")" "$plan_err" "run and plan give the same error: $what"
		assert_nothing_left "$CG" /run/vfiojail /sys/fs/bpf/vfiojail
		pass "$what: plan and run both exit 125 with: $plan_err"
	}
	check_fails() { # LINE NEEDLE -- extra args
		local line=$1 needle=$2
		shift 3
		capture "$VFIOJAIL" check "$@"
		assert_eq "$rc" 1 "check: $line ($out)"
		assert_contains "$(grep "^FAIL  $line:" <<<"$out")" "$needle" "check fails $line"
	}

	# No cgroup2 mount (a proc root whose mountinfo has none).
	mkdir -p "$WORK/proc/self"
	echo "0::/" >"$WORK/proc/self/cgroup"
	echo "23 1 0:22 / /sys rw - sysfs sysfs rw" >"$WORK/proc/self/mountinfo"
	agree "no cgroup2" "no cgroup2 mount" -- --proc-root "$WORK/proc"
	check_fails cgroup2 "no cgroup2" -- --proc-root "$WORK/proc"

	# A read-only cgroup2 mount, as containers often get.
	mkdir -p /run/rocg
	mount --bind "$CG2" /run/rocg
	mount -o remount,bind,ro /run/rocg
	echo "0::${CG#"$CG2"}" >"$WORK/proc/self/cgroup"
	echo "30 1 0:26 / /run/rocg ro - cgroup2 cgroup2 rw" >"$WORK/proc/self/mountinfo"
	agree "read-only cgroup2" "read-only" -- --proc-root "$WORK/proc"
	check_fails cgroup2 "read-only" -- --proc-root "$WORK/proc"
	umount /run/rocg
	rmdir /run/rocg

	# A state dir someone else owns.
	mkdir -m 0700 /run/theirs
	chown 1234 /run/theirs
	agree "a state dir of uid 1234" "owned by uid 1234" -- --state-dir /run/theirs
	rmdir /run/theirs

	# An explicit --bpffs that is not a bpffs.
	mkdir -m 0700 /run/notbpf
	agree "--bpffs not a bpffs" "is not on a BPF filesystem" -- --bpffs /run/notbpf
	rmdir /run/notbpf

	# A pin directory someone else made in the bpffs.
	mkdir -m 0755 /sys/fs/bpf/vfiojail
	chown 1234 /sys/fs/bpf/vfiojail
	agree "a pin directory of uid 1234" "refusing the pin directory" --
	check_fails bpffs "refusing the pin directory" --
	rmdir /sys/fs/bpf/vfiojail
}
in_container gpu-iommufd plan_agrees_tests
