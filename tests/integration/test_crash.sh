#!/usr/bin/env bash
# Crashes: vfiojail killed (SIGKILL) at the Nth call of a syscall, for every N that
# is reached, in the middle of setup, run, attach and detach.  The ledger in the
# state says which steps may have begun, and the next command unwinds exactly
# what exists:
#   setup, run: teardown (or the next run of the name) leaves nothing behind;
#   attach, detach: status names the change under way, and the next command that
#   opens the jail (enter; attach or detach for a jail of run) undoes it, so the
#   jail is as it was before.
source "$(dirname "$0")/lib.sh"
: "${FAULTINJECT:?}"
command -v bpftool >/dev/null || skip "bpftool is needed to read the filter's map"
command -v nsenter >/dev/null || skip "nsenter is needed to look into the jail's namespace"

crash_tests() {
	jail_matrix_host
	recovered=0

	# inject with CRASH; bash's own "Killed" notice for the command is not news here.
	crash() { # SYSCALL N -- command...
		{ inject "$1" "$2" CRASH "${@:3}"; } 2>/dev/null
	}
	crashed() { # WHAT: the command died of the injected SIGKILL
		assert_eq "$rc" 137 "$1: killed ($err)"
	}
	nothing_left() { # WHAT
		local left
		left=$(find "$CG" /sys/fs/bpf/vfiojail -mindepth 1 -type d 2>/dev/null; find /run/vfiojail -mindepth 1 -not -name "*.lock" 2>/dev/null || true)
		[[ -z "$left" ]] || fail "$1: left behind: $left ($err)"
		assert_eq "$(wc -l </proc/self/mountinfo)" "$mounts_before" "mounts after $1"
	}
	snapshot() {
		bpftool map dump pinned /sys/fs/bpf/vfiojail/vj/rules | grep -v "^Found"
		nsenter --mount=/run/vfiojail/ns/vj find /dev -xdev -printf "%p %y %U:%G %m\n" | sort
		state_plan /run/vfiojail/vj.json '[.nodes, .rules, .memlock]'
	}
	unchanged() { # WHAT REFERENCE
		snapshot >"$WORK/now"
		diff -u "$2" "$WORK/now" >&2 || fail "$1: the jail changed"
	}
	# The next command after a crashed change: status names it, enter undoes it.
	recover() { # WHAT
		if [[ "$(jq -r '.change != null' /run/vfiojail/vj.json)" == true ]]; then
			capture "$VFIOJAIL" status vj
			assert_eq "$rc" 1 "$1: status reports drift ($out)"
			assert_contains "$out" "change" "$1: status names the change under way"
			capture "$VFIOJAIL" enter vj -- /bin/true
			assert_eq "$rc" 0 "$1: the next enter ($err)"
			assert_contains "$err" "was undone" "$1: the next command says it undid the change"
			assert_eq "$(jq -r '.change' /run/vfiojail/vj.json)" null "$1: no change left in the state"
			recovered=$((recovered + 1))
		fi
	}

	# setup: whatever point it died at, teardown removes everything.
	for c in mkdir bpf mount mknod unshare; do
		for n in $(seq 1 "$max"); do
			crash "$c" "$n" -- "$VFIOJAIL" setup "${roots[@]}" "${vm[@]}"
			hit || { [[ $rc == 0 ]] && "$VFIOJAIL" teardown vj; break; }
			what="setup killed at $c call $n"
			if [[ -e /run/vfiojail/vj.json ]]; then
				assert_eq "$(jq -r '.ledger | join(",")' /run/vfiojail/vj.json)" "cgroup,filter,namespace" \
					"$what: the ledger was written before the first step"
			fi
			capture "$VFIOJAIL" teardown vj
			assert_eq "$rc" 0 "$what: teardown afterwards ($err)"
			nothing_left "$what"
			count setup
		done
	done

	# run --exec: the next run of the name removes what the dead one left.
	for c in mkdir bpf mount mknod write; do
		for n in $(seq 1 "$max"); do
			crash "$c" "$n" -- "$VFIOJAIL" run --exec "${roots[@]}" "${vm[@]}" -- /bin/true
			hit || { [[ $rc == 0 ]] && "$VFIOJAIL" teardown vj; break; }
			what="run killed at $c call $n"
			capture "$VFIOJAIL" run "${roots[@]}" "${vm[@]}" -- /bin/true
			assert_eq "$rc" 0 "$what: the next run of the name ($err)"
			nothing_left "$what: after the next run"
			count run
		done
	done

	"$VFIOJAIL" setup "${roots[@]}" "${vm[@]}" >/dev/null
	snapshot >"$WORK/s0"

	# VERB REFERENCE SYSCALL...: attach or detach killed at any call of each
	# SYSCALL; the next command puts the jail back as REFERENCE has it.
	change_crashes() {
		local verb=$1 ref=$2 other c n what
		[[ $verb == attach ]] && other=detach || other=attach
		shift 2
		for c in "$@"; do
			for n in $(seq 1 "$max"); do
				crash "$c" "$n" -- "$VFIOJAIL" "$verb" vj --device /dev/x --hostdev 0009:06:00.1
				hit || { [[ $rc == 0 ]] && "$VFIOJAIL" "$other" vj --device /dev/x --hostdev 0009:06:00.1; break; }
				what="$verb killed at $c call $n"
				crashed "$what"
				recover "$what"
				unchanged "$what" "$ref"
				count "$verb"
			done
		done
	}
	change_crashes attach "$WORK/s0" mknod bpf setns mkdir
	"$VFIOJAIL" attach vj --device /dev/x --hostdev 0009:06:00.1
	snapshot >"$WORK/s1"
	change_crashes detach "$WORK/s1" mknod bpf setns

	capture "$VFIOJAIL" teardown vj
	assert_eq "$rc" 0 "teardown of the setup jail ($err)"
	nothing_left "the setup jail's end"

	# The same on a jail of run whose VMM runs: the VMM's own /dev (entered through
	# its pidfd) instead of a kept namespace; the next attach or detach (enter is
	# setup's alone) undoes the crashed change first, then refuses what it was asked
	# (the device is not attached, or is already).
	"$VFIOJAIL" run --exec "${roots[@]}" "${vm[@]}" -- "$WORK/probe" --out /dev/null --sleep 600 &
	vmm=$!
	for _ in $(seq 200); do grep -qs "populated 1" "$CG/vfiojail-vj/cgroup.events" && break; sleep 0.05; done
	snapshot() {
		bpftool map dump pinned /sys/fs/bpf/vfiojail/vj/rules | grep -v "^Found"
		nsenter --target "$vmm" --mount find /dev -xdev -printf "%p %y %U:%G %m\n" | sort
		state_plan /run/vfiojail/vj.json '[.nodes, .rules, .memlock]'
	}
	recover() { # WHAT
		local verb
		if [[ "$(jq -r '.change != null' /run/vfiojail/vj.json)" == true ]]; then
			capture "$VFIOJAIL" status vj
			assert_eq "$rc" 1 "$1: status reports drift ($out)"
			assert_contains "$out" "change" "$1: status names the change under way"
			[[ "$1" == attach* ]] && verb=detach || verb=attach
			capture "$VFIOJAIL" "$verb" vj --device /dev/x
			assert_eq "$rc" 2 "$1: the next $verb, refused after the undo ($err)"
			assert_contains "$err" "was undone" "$1: the next command says it undid the change"
			assert_eq "$(jq -r '.change' /run/vfiojail/vj.json)" null "$1: no change left in the state"
			recovered=$((recovered + 1))
		fi
	}
	# The nodes are made by a forked helper, which a crash at mknod, setns or mkdir
	# kills instead: vfiojail then undoes the change itself and says why.
	crashed() { # WHAT
		[[ $rc == 137 || ( $rc == 125 && "$err" == *"the helper died"* ) ]] ||
			fail "$1: killed, or its helper killed ($rc: $err)"
	}
	snapshot >"$WORK/r0"
	recovered_setup=$recovered
	change_crashes attach "$WORK/r0" mknod bpf setns mkdir
	"$VFIOJAIL" attach vj --device /dev/x --hostdev 0009:06:00.1
	snapshot >"$WORK/r1"
	change_crashes detach "$WORK/r1" mknod bpf setns
	kill "$vmm"
	wait "$vmm" || true
	capture "$VFIOJAIL" teardown vj
	assert_eq "$rc" 0 "final teardown ($err)"
	nothing_left "the end"
	echo "crashes (setup, run, attach, detach): $cases (command, syscall, call) cases: $(for k in "${!per[@]}"; do printf "%s=%s " "$k" "${per[$k]}"; done); $recovered crashed changes undone by the next command"
	(( cases > 20 )) || fail "too few cases ran ($cases)"
	(( recovered > 5 )) || fail "too few crashes in the middle of a change ($recovered)"
	echo "of them on the jail of run: $((recovered - recovered_setup)) crashed changes undone"
	(( recovered - recovered_setup > 2 )) || fail "too few crashes in the middle of a change of the run jail"
}
in_container gpu-iommufd crash_tests
