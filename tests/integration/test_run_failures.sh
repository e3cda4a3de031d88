#!/usr/bin/env bash
# A failure at each step of run: a clear error naming the step and the object, a
# documented exit status, and nothing left behind (no cgroup, pin, state or mount).
source "$(dirname "$0")/lib.sh"

run_failures_tests() {
	iommu_answers_enotty
	roots=(--sysfs-root "$HOST/sys" --dev-root "$HOST/dev")
	vm=(--name vm1 --user nobody --memory 1G --hostdev 0009:06:00.0 --memlock-hard-limit 4MiB)
	probe=("$WORK/probe" --out /dev/null)
	n=0
	expect_failure() { # STATUS STEP OBJECT -- vfiojail args
		local status=$1 step=$2 object=$3 mounts_before
		shift 4
		mounts_before=$(wc -l </proc/self/mountinfo)
		capture "$VFIOJAIL" run "$@"
		assert_eq "$rc" "$status" "exit status for step $step ($err)"
		assert_contains "$err" "$step: " "error names the step $step"
		assert_contains "$err" "$object" "error names the object for step $step"
		assert_nothing_left "$CG" /run/vfiojail /sys/fs/bpf/vfiojail
		assert_eq "$(wc -l </proc/self/mountinfo)" "$mounts_before" "no mount left after step $step"
		n=$((n + 1))
	}

	# cgroup: the parent does not exist.
	expect_failure 125 cgroup /no/such/parent -- "${roots[@]}" --cgroup-parent /no/such/parent \
		--iommufd-accounting=best-effort "${vm[@]}" -- "${probe[@]}"
	# iommufd: no /dev/iommu to open.
	mv "$HOST/dev/iommu" "$HOST/dev/iommu.away"
	expect_failure 125 iommufd iommufd0 -- "${roots[@]}" "${vm[@]}" -- "${probe[@]}"
	mv "$HOST/dev/iommu.away" "$HOST/dev/iommu"
	# iommufd: a /dev/iommu that is not the device sysfs names (stale or planted) is refused.
	echo "10:120" >"$HOST/sys/class/misc/iommu/dev"
	expect_failure 125 iommufd "not the kernel" -- "${roots[@]}" --iommufd-accounting=best-effort "${vm[@]}" -- "${probe[@]}"
	echo "1:3" >"$HOST/sys/class/misc/iommu/dev"
	# iommufd: strict accounting on a kernel without IOMMU_OPTION.
	expect_failure 125 iommufd iommufd0 -- "${roots[@]}" "${vm[@]}" -- "${probe[@]}"
	# memlock: above the hard limit without CAP_SYS_RESOURCE (this machine: 8 MiB).
	hard=$(ulimit -H -l)
	capeff=$(awk "/^CapEff:/ { print \$2 }" /proc/self/status)
	if [[ "$hard" != unlimited ]] && (( (0x$capeff >> 24 & 1) == 0 )); then
		expect_failure 125 memlock CAP_SYS_RESOURCE -- "${roots[@]}" --iommufd-accounting=best-effort \
			--name vm1 --user nobody --memory 1G --hostdev 0009:06:00.0 \
			--memlock-hard-limit $(( (hard + 8192) / 1024 ))MiB -- "${probe[@]}"
	else
		echo "note: memlock failure case not run: this process may raise RLIMIT_MEMLOCK"
	fi
	# mountns: a kept /dev/shm that is a symlink is refused.
	umount "$HOST/dev/shm"; rmdir "$HOST/dev/shm"; ln -s /run "$HOST/dev/shm"
	expect_failure 125 mountns shm -- "${roots[@]}" --iommufd-accounting=best-effort "${vm[@]}" -- "${probe[@]}"
	rm "$HOST/dev/shm"; mkdir "$HOST/dev/shm"
	# exec: the VMM cannot be executed by the VM user.
	install -m 0700 "$WORK/probe" "$WORK/probe-root-only"
	expect_failure 126 exec probe-root-only -- "${roots[@]}" --iommufd-accounting=best-effort "${vm[@]}" -- "$WORK/probe-root-only"
	expect_failure 127 exec no-such-vmm -- "${roots[@]}" --iommufd-accounting=best-effort "${vm[@]}" -- no-such-vmm
	# devfilter: an explicit --bpffs that is not a bpffs (without --bpffs, a host with no
	# writable bpffs gets an instance of vfiojail: test_bpffs).
	mkdir -m 0700 /run/not-bpffs
	expect_failure 125 devfilter /run/not-bpffs -- --bpffs /run/not-bpffs "${roots[@]}" --iommufd-accounting=best-effort "${vm[@]}" -- "${probe[@]}"
	rmdir /run/not-bpffs
	# state: a state directory others can write, or a symlink, is refused.
	mkdir -m 0777 /run/vj-open
	expect_failure 125 state /run/vj-open -- --state-dir /run/vj-open "${roots[@]}" --iommufd-accounting=best-effort "${vm[@]}" -- "${probe[@]}"
	rmdir /run/vj-open
	ln -s /tmp /run/vj-link
	expect_failure 125 state /run/vj-link -- --state-dir /run/vj-link "${roots[@]}" --iommufd-accounting=best-effort "${vm[@]}" -- "${probe[@]}"
	rm /run/vj-link
	# state: a symlink planted as the lock is refused.
	mkdir -p -m 0700 /run/vfiojail; ln -s /etc/passwd /run/vfiojail/vm1.lock
	capture "$VFIOJAIL" run "${roots[@]}" --iommufd-accounting=best-effort "${vm[@]}" -- "${probe[@]}"
	assert_eq "$rc" 125 "planted lock symlink"
	assert_contains "$err" "symlink" "says a symlink was planted"
	rm /run/vfiojail/vm1.lock
	assert_nothing_left "$CG" /run/vfiojail /sys/fs/bpf/vfiojail
	pass "$n injected failures, each named and leaving nothing behind"
}
in_container gpu-iommufd run_failures_tests
