#!/usr/bin/env bash
# Syscall fault injection: the Nth call of each syscall vfiojail makes fails with a
# chosen errno (tests/faultinject.c, LD_PRELOAD), for every N that is reached.  Each
# case must end in a documented exit status with a message naming the step, and leave
# nothing behind: no cgroup, pin, state, mount or stray process, and no leaked fd in
# the VMM when it did start.
source "$(dirname "$0")/lib.sh"
: "${FAULTINJECT:?}"

faults_tests() {
	iommu_answers_enotty
	mknod -m 0666 "$WORK/loop-control" c 10 237
	roots=(--sysfs-root "$HOST/sys" --dev-root "$HOST/dev" --iommufd-accounting=best-effort)
	vm=(--name vmf --user nobody --memory 1G --hostdev 0009:06:00.0 --device /dev/net/tun --memlock-hard-limit 4MiB)
	max=${VJ_FAULT_MAX_N:-40}
	mounts_before=$(wc -l </proc/self/mountinfo)
	cases=0 started=0 refused=0
	declare -A seen=()


	check_clean() { # WHAT
		local left
		left=$(find "$CG" /run/vfiojail /sys/fs/bpf/vfiojail -mindepth 1 -type d 2>/dev/null; find /run/vfiojail -mindepth 1 2>/dev/null || true)
		[[ -z "$left" ]] || fail "$1: left behind: $left (stderr: $err)"
		assert_eq "$(wc -l </proc/self/mountinfo)" "$mounts_before" "mounts after $1"
		local stray
		stray=$(pgrep -f "$WORK/probe" || true)
		[[ -z "$stray" ]] || fail "stray VMM process after $1: $stray"
	}

	for c in mkdir:EPERM mkdir:ENOSPC write:EBUSY write:ENOSPC bpf:EPERM bpf:ENOMEM \
		mount:EPERM mount:ENOMEM mknod:EPERM mknod:ENOSPC chown:EPERM unshare:EPERM \
		unshare:ENOMEM setrlimit:EPERM open:ENOMEM open:EINTR ioctl:EPERM ioctl:EBUSY \
		fork:ENOMEM execve:ENOMEM; do
		name=${c%%:*} errno=${c#*:}
		for n in $(seq 1 "$max"); do
			inject "$name" "$n" "$errno" -- "$VFIOJAIL" run "${roots[@]}" "${vm[@]}" -- \
				"$WORK/probe" --open "$WORK/loop-control" --open /dev/vfio/devices/vfio0 --out "$WORK/out/report.json"
			[[ -s "$WORK/out/hit" ]] || break # fewer than n calls: this case is done
			what="run with $name call $n failing $errno"
			cases=$((cases + 1))
			case $rc in
			0)
				[[ -s "$WORK/out/report.json" ]] || fail "$what: exit 0 but the VMM did not run"
				# A fault that vfiojail tolerated (a libbpf feature probe, a best-effort
				# downgrade, a fallback) must not weaken the jail.
				assert_eq "$(jq -r ".fds | join(\" \")" "$WORK/out/report.json")" "0 1 2 3" "$what: VMM fds"
				assert_eq "$(jq -r ".opens | map(.error // \"ok\") | join(\" \")" "$WORK/out/report.json")" \
					"EPERM ENXIO" "$what: the filter still refuses an unplanned node"
				assert_eq "$(jq -r ".uid, .caps.eff, .no_new_privs" "$WORK/out/report.json" | tr "\n" " ")" \
					"65534 0000000000000000 1 " "$what: privileges dropped"
				started=$((started + 1))
				;;
			125 | 126 | 127)
				line=$(grep -v "^vfiojail: warning:" <<<"$err" | grep -m1 "^vfiojail: " || true)
				[[ "$line" =~ ^vfiojail:\ ([a-z]+):\  ]] || fail "$what: no step in [$err]"
				seen["${BASH_REMATCH[1]}"]=$(( ${seen["${BASH_REMATCH[1]}"]:-0} + 1 ))
				[[ ! -e "$WORK/out/report.json" ]] || fail "$what: failed, yet the VMM ran"
				refused=$((refused + 1))
				;;
			*) fail "$what: undocumented exit status $rc ($err)" ;;
			esac
			check_clean "$what"
		done
	done

	# teardown of an --exec jail whose VMM has exited, with each fault; a clean teardown
	# afterwards must still remove everything.
	for c in open:ENOMEM open:EINTR bpf:EPERM write:EBUSY mkdir:EPERM; do
		name=${c%%:*} errno=${c#*:}
		for n in $(seq 1 "$max"); do
			"$VFIOJAIL" run "${roots[@]}" "${vm[@]}" --exec -- "$WORK/probe" --out /dev/null 2>/dev/null
			inject "$name" "$n" "$errno" -- "$VFIOJAIL" teardown vmf
			hit=$([[ -s "$WORK/out/hit" ]] && echo 1 || echo 0)
			what="teardown with $name call $n failing $errno"
			if [[ $rc != 0 ]]; then
				[[ $rc == 125 ]] || fail "$what: exit status $rc ($err)"
				[[ "$err" =~ vfiojail:\ ([a-z]+):\  ]] || fail "$what: no step in [$err]"
			fi
			capture "$VFIOJAIL" teardown vmf
			assert_eq "$rc" 0 "clean teardown after $what ($err)"
			check_clean "$what"
			[[ $hit == 1 ]] || break
			cases=$((cases + 1))
		done
	done
	echo "fault injection: $cases (command, step, errno) cases; run started the VMM in $started, refused in $refused; steps named: $(for k in "${!seen[@]}"; do printf "%s=%s " "$k" "${seen[$k]}"; done)"
	(( cases > 50 )) || fail "too few cases ran ($cases)"
}
in_container gpu-iommufd faults_tests
