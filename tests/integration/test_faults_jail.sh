#!/usr/bin/env bash
# Syscall fault injection for the commands that build and change standalone jails:
# setup, enter, attach and detach (run and teardown are in test_faults.sh).  The Nth
# call of each syscall fails with a chosen errno, for every N that is reached.  Each
# case ends in a documented exit status with a message naming the step, and:
#   setup:  a failure leaves nothing (no cgroup, pin, nsfs binding, state);
#   enter:  the jail is as it was (filter map, /dev, state) and no process is left;
#   attach: a failure leaves the jail as it was; detach: likewise.
source "$(dirname "$0")/lib.sh"
: "${FAULTINJECT:?}"
command -v bpftool >/dev/null || skip "bpftool is needed to read the filter's map"
command -v nsenter >/dev/null || skip "nsenter is needed to look into the jail's namespace"

faults_jail_tests() {
	jail_matrix_host

	named() { # WHAT: a failure names its step
		local line
		[[ $rc == 125 || $rc == 126 || $rc == 127 ]] || fail "$1: exit status $rc ($err)"
		line=$(grep -v "^vfiojail: warning:" <<<"$err" | grep -m1 "^vfiojail: " || true)
		[[ "$line" =~ ^vfiojail:\ [a-z]+:\  ]] || fail "$1: no step in [$err]"
	}
	nothing_left() { # WHAT
		local left
		left=$(find "$CG" /sys/fs/bpf/vfiojail -mindepth 1 -type d 2>/dev/null; find /run/vfiojail -mindepth 1 2>/dev/null || true)
		[[ -z "$left" ]] || fail "$1: left behind: $left ($err)"
		assert_eq "$(wc -l </proc/self/mountinfo)" "$mounts_before" "mounts after $1"
	}
	# The jail as a VMM would meet it: the filter map, /dev, and what runs in it.
	snapshot() {
		bpftool map dump pinned /sys/fs/bpf/vfiojail/vj/rules | grep -v "^Found"
		nsenter --mount=/run/vfiojail/ns/vj find /dev -xdev -printf "%p %y %U:%G %m\n" | sort
		cat "$CG/vfiojail-vj/cgroup.procs"
	}
	unchanged() { # WHAT REFERENCE
		snapshot >"$WORK/now"
		diff -u "$2" "$WORK/now" >&2 || fail "$1: the jail changed"
		pgrep -f "$WORK/probe" >/dev/null && fail "$1: a process was left" || true
	}

	# setup: a failure leaves nothing.
	for c in mkdir:EPERM mkdir:ENOSPC write:EBUSY bpf:EPERM bpf:ENOMEM mount:EPERM mount:ENOMEM \
		mknod:EPERM chown:EPERM unshare:EPERM unshare:ENOMEM open:ENOMEM fork:ENOMEM; do
		name=${c%%:*} errno=${c#*:}
		for n in $(seq 1 "$max"); do
			inject "$name" "$n" "$errno" -- "$VFIOJAIL" setup "${roots[@]}" "${vm[@]}"
			hit || { [[ $rc == 0 ]] && "$VFIOJAIL" teardown vj; break; }
			what="setup with $name call $n failing $errno"
			if [[ $rc == 0 ]]; then
				capture "$VFIOJAIL" status vj
				assert_eq "$rc" 0 "$what: the jail it made has no drift ($out)"
				capture "$VFIOJAIL" teardown vj
				assert_eq "$rc" 0 "$what: teardown"
			else
				named "$what"
			fi
			nothing_left "$what"
			count setup
		done
	done

	"$VFIOJAIL" setup "${roots[@]}" "${vm[@]}" >/dev/null
	snapshot >"$WORK/s0"

	# enter: a failure leaves the jail as it was and nothing running.
	for c in open:ENOMEM open:EINTR setns:EPERM write:EBUSY setrlimit:EPERM fork:ENOMEM \
		execve:ENOMEM ioctl:EPERM; do
		name=${c%%:*} errno=${c#*:}
		for n in $(seq 1 "$max"); do
			inject "$name" "$n" "$errno" -- "$VFIOJAIL" enter vj -- "$WORK/probe" \
				--open /dev/vfio/devices/vfio0 --out "$WORK/out/report.json"
			hit || break
			what="enter with $name call $n failing $errno"
			if [[ $rc == 0 ]]; then
				assert_eq "$(jq -r "[.uid, .caps.eff, .no_new_privs, (.opens[0].error // \"ok\")] | join(\" \")" "$WORK/out/report.json")" \
					"65534 0000000000000000 1 ENXIO" "$what: the command ran jailed"
			else
				named "$what"
				[[ ! -e "$WORK/out/report.json" ]] || fail "$what: failed, yet the command ran"
			fi
			for i in $(seq 100); do grep -q "populated 0" "$CG/vfiojail-vj/cgroup.events" && break; sleep 0.02; done
			unchanged "$what" "$WORK/s0"
			count enter
		done
	done

	# attach: a failure leaves the jail as it was; a success is undone by a clean detach.
	for c in open:ENOMEM mknod:EPERM mknod:ENOSPC chown:EPERM setns:EPERM fork:ENOMEM \
		bpf:EPERM bpf:ENOMEM mkdir:EPERM; do
		name=${c%%:*} errno=${c#*:}
		for n in $(seq 1 "$max"); do
			inject "$name" "$n" "$errno" -- "$VFIOJAIL" attach vj --device /dev/x --hostdev 0009:06:00.1
			hit || { [[ $rc == 0 ]] && "$VFIOJAIL" detach vj --device /dev/x --hostdev 0009:06:00.1; break; }
			what="attach with $name call $n failing $errno"
			if [[ $rc == 0 ]]; then
				nsenter --mount=/run/vfiojail/ns/vj test -c /dev/x || fail "$what: exit 0 but no /dev/x"
				capture "$VFIOJAIL" detach vj --device /dev/x --hostdev 0009:06:00.1
				assert_eq "$rc" 0 "$what: clean detach ($err)"
			else
				named "$what"
			fi
			unchanged "$what" "$WORK/s0"
			count attach
		done
	done

	# detach: a failure leaves the attached jail as it was.
	"$VFIOJAIL" attach vj --device /dev/x --hostdev 0009:06:00.1
	snapshot >"$WORK/s1"
	for c in open:ENOMEM setns:EPERM fork:ENOMEM bpf:EPERM; do
		name=${c%%:*} errno=${c#*:}
		for n in $(seq 1 "$max"); do
			inject "$name" "$n" "$errno" -- "$VFIOJAIL" detach vj --device /dev/x --hostdev 0009:06:00.1
			hit || { [[ $rc == 0 ]] && "$VFIOJAIL" attach vj --device /dev/x --hostdev 0009:06:00.1; break; }
			what="detach with $name call $n failing $errno"
			if [[ $rc == 0 ]]; then
				unchanged "$what" "$WORK/s0"
				capture "$VFIOJAIL" attach vj --device /dev/x --hostdev 0009:06:00.1
				assert_eq "$rc" 0 "$what: clean attach ($err)"
			else
				named "$what"
			fi
			unchanged "$what" "$WORK/s1"
			count detach
		done
	done

	capture "$VFIOJAIL" teardown vj
	assert_eq "$rc" 0 "final teardown ($err)"
	nothing_left "the end"

	# teardown of a setup jail (namespace binding, filter, cgroup, state): a failure is
	# named, and a clean teardown afterwards still removes everything.
	for c in umount2:EBUSY open:ENOMEM bpf:EPERM write:EBUSY; do
		name=${c%%:*} errno=${c#*:}
		for n in $(seq 1 "$max"); do
			"$VFIOJAIL" setup "${roots[@]}" "${vm[@]}" >/dev/null
			inject "$name" "$n" "$errno" -- "$VFIOJAIL" teardown vj
			what="teardown of a setup jail with $name call $n failing $errno"
			wasHit=0; hit && wasHit=1
			[[ $rc == 0 ]] || named "$what"
			capture "$VFIOJAIL" teardown vj
			assert_eq "$rc" 0 "clean teardown after $what ($err)"
			nothing_left "$what"
			[[ $wasHit == 1 ]] || break
			count teardown
		done
	done
	echo "fault injection (setup, enter, attach, detach, teardown of setup jails): $cases (command, step, errno) cases: $(for k in "${!per[@]}"; do printf "%s=%s " "$k" "${per[$k]}"; done)"
	(( cases > 50 )) || fail "too few cases ran ($cases)"
}
in_container gpu-iommufd faults_jail_tests
