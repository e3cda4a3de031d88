#!/usr/bin/env bash
# The libvirt hook as meson generates it (build dir's tools/libvirt-hook, only
# vfiojail's installed path pointed at this build), run as libvirtd runs it: "HOOK NAME
# prepare begin -" with the domain XML on stdin derives and installs the VM's spec
# when the domain's <emulator> is vfiojail's wrapper (nothing for another), and
# refuses an XML of another name; "HOOK NAME release end -" removes that spec, and
# removes only a jail the launch service made whose VMM is gone and
# whose cgroup is empty, and kills nothing:
#   - a jail of the domain's name made by `vfiojail setup`, a process running in it by
#     `vfiojail enter`: left alone, the process runs on (a note says why, status 0);
#   - one made by `vfiojail run --exec`, and an older vfiojail's state that does not say
#     who made it: left alone;
#   - launched jails left by a service killed with SIGKILL: one whose VMM exited is
#     removed; one whose VMM runs is not (1), nor one whose VMM exited but whose cgroup
#     still has a process (1); a recorded VMM pid now held by another process (pid
#     reuse, told by the start time) counts as gone, and that process is not touched.
source "$(dirname "$0")/lib.sh"
: "${VJ_BUILD_ROOT:?}"

hook_tests() {
	iommu_answers_enotty
	roots=(--sysfs-root "$HOST/sys" --dev-root "$HOST/dev" --iommufd-accounting=best-effort)
	# The generated hook, with the path meson installs vfiojail at replaced by this build's.
	installed=$(jq -r --arg f "$VFIOJAIL" '.[$f] // empty' "$VJ_BUILD_ROOT/meson-info/intro-installed.json")
	[[ -n "$installed" ]] || fail "meson-info does not say where $VFIOJAIL is installed"
	hook="$WORK/libvirt-hook"
	sed "s|$installed|$VFIOJAIL|g" "$VJ_BUILD_ROOT/tools/libvirt-hook" >"$hook"
	chmod 0755 "$hook"
	grep -q "$VFIOJAIL" "$hook" || fail "the generated hook does not run $installed: $(cat "$hook")"
	st() { echo "/run/vfiojail/$1.json"; }
	populated() { grep -qs "populated 1" "$CG/vfiojail-$1/cgroup.events"; }
	wait_populated() { for _ in $(seq 100); do populated "$1" && return 0; sleep 0.05; done; fail "nothing runs in $1"; }
	alive() { kill -0 "$1" 2>/dev/null && [[ "$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null)" != Z ]]; }
	jail_whole() { # NAME WHAT
		[[ -f "$(st "$1")" && -d "$CG/vfiojail-$1" && -e "/sys/fs/bpf/vfiojail/$1/link" ]] ||
			fail "$2: the jail of $1 is not whole"
	}
	jail_gone() { # NAME WHAT
		[[ ! -e "$(st "$1")" && ! -e "$CG/vfiojail-$1" && ! -e "/sys/fs/bpf/vfiojail/$1" ]] ||
			fail "$2: the jail of $1 is left: $(ls /run/vfiojail "$CG" /sys/fs/bpf/vfiojail 2>&1 | tr '\n' ' ')"
	}

	# Operations other than release, and a domain vfiojail does not jail: nothing, silently.
	derived=/run/vfiojail/libvirt
	capture "$hook" lv0 prepare begin - </dev/null
	assert_eq "$rc/$out/$err" "0//" "prepare without a domain XML"
	capture "$hook" lv0 prepare begin - <<<"<domain><name>lv0</name><devices><emulator>/usr/bin/qemu-system-x86_64</emulator></devices></domain>"
	assert_eq "$rc/$out/$err" "0//" "prepare of a domain another emulator runs"
	[[ ! -e "$derived" ]] || fail "a spec was derived for a domain vfiojail does not run"
	# A domain vfiojail's wrapper runs: "prepare" derives its spec from the XML on
	# stdin and installs it; another <name> than libvirt's is refused; "release" removes it.
	wrapperdir=$(sed -n "s/^WRAPPERDIR='\(.*\)'$/\1/p" "$hook")
	[[ -n "$wrapperdir" ]] || fail "the hook names no WRAPPERDIR"
	xml="<domain type='kvm'><name>lv0</name><memory unit='MiB'>64</memory>
  <seclabel type='static' model='dac' relabel='no'><label>nobody:nogroup</label></seclabel>
  <devices><emulator>$wrapperdir/qemu-system-x86_64</emulator>
    <disk type='block' device='disk'><source dev='/dev/null'/><target dev='vda'/></disk></devices></domain>"
	capture "$hook" lv0 prepare begin - <<<"$xml"
	assert_eq "$rc/$out/$err" "0//" "prepare of a domain the wrapper runs"
	assert_eq "$(stat -c '%U %a' "$derived" "$derived/lv0.json" | tr '\n' ' ')" "root 700 root 600 " "the derived spec and its directory: root's alone"
	assert_eq "$(jq -c '[.user, .memory, .devices]' "$derived/lv0.json")" "[65534,67108864,[{\"path\":\"/dev/null\",\"access\":\"rw\"}]]" "the spec derived from the XML"
	capture "$hook" lv9 prepare begin - <<<"$xml"
	assert_eq "$rc" 2 "prepare with another domain's XML ($err)"
	assert_contains "$err" "the domain XML's <name> is \"lv0\", not \"lv9\"" "says why"
	[[ ! -e "$derived/lv9.json" ]] || fail "a refused spec was installed"
	capture "$hook" lv0 release end -
	assert_eq "$rc/$out/$err" "0//" "release of a domain without a jail"
	[[ ! -e "$derived/lv0.json" ]] || fail "release left the derived spec"
	rmdir "$derived"
	capture "$hook" lv0 release end -
	assert_eq "$rc/$out/$err" "0//" "release with no derived-spec directory"
	pass "prepare derives and installs the spec of a domain the wrapper runs, release removes it; other domains: nothing"

	# A jail made by setup for the domain's name, a process entered into it.
	"$VFIOJAIL" setup "${roots[@]}" --name lv1 --user nobody --memory 1GiB --hostdev 0009:06:00.0 \
		--memlock-hard-limit 4MiB >/dev/null
	"$VFIOJAIL" enter lv1 -- "$WORK/probe" --out /dev/null --sleep 60 &
	enter=$!
	wait_populated lv1
	probe=$(cat "$CG/vfiojail-lv1/cgroup.procs")
	capture "$hook" lv1 release end -
	alive "$probe" || fail "the hook killed the process entered into lv1 (made by setup): $err"
	populated lv1 || fail "lv1's cgroup lost its process"
	jail_whole lv1 "release of a domain named like a setup jail"
	assert_eq "$rc" 0 "the hook's status for another command's jail ($err)"
	assert_contains "$err" "left alone: made by vfiojail setup, not by the launch service" "the hook says why"
	capture "$VFIOJAIL" status lv1 --json
	assert_eq "$rc/$(jq -r .kind <<<"$out")" "0/setup" "status: lv1 intact, made by setup ($err)"
	assert_eq "$(jq -r .origin "$(st lv1)")" setup "the state records the origin"
	# teardown --if-launched itself, and no --kill with it.
	capture "$VFIOJAIL" teardown --if-launched lv1
	assert_eq "$rc" 0 "teardown --if-launched of a setup jail ($err)"
	capture "$VFIOJAIL" teardown --if-launched --kill lv1
	assert_eq "$rc" 2 "--if-launched with --kill ($err)"
	alive "$probe" || fail "the entered process was killed"
	kill "$enter"; wait "$enter" || true
	# With nothing running in it, a setup jail is still not the hook's.
	capture "$hook" lv1 release end -
	assert_eq "$rc" 0 "the hook on an idle setup jail ($err)"
	jail_whole lv1 "an idle setup jail"
	"$VFIOJAIL" teardown lv1
	jail_gone lv1 "teardown"
	pass "a setup jail and its entered process are left alone"

	# A jail of run --exec (its VMM exited, no supervisor); an older vfiojail's state.
	"$VFIOJAIL" run "${roots[@]}" --exec --name lv4 --user nobody -- "$WORK/probe" --out /dev/null
	assert_eq "$(jq -r .origin "$(st lv4)")" run "run records its origin"
	capture "$hook" lv4 release end -
	assert_eq "$rc" 0 "the hook on a run jail ($err)"
	assert_contains "$err" "made by vfiojail run" "says why"
	jail_whole lv4 "a run --exec jail"
	jq -c 'del(.origin, .vmm_start) | .version = 3' "$(st lv4)" >"$(st lv4).new"
	mv "$(st lv4).new" "$(st lv4)"
	capture "$VFIOJAIL" status lv4 --json
	assert_eq "$(jq -r .kind <<<"$out")" unknown "status: an older state does not say who made it"
	capture "$hook" lv4 release end -
	assert_eq "$rc" 0 "the hook on an older state ($err)"
	assert_contains "$err" "did not record which command" "says why"
	jail_whole lv4 "an older vfiojail's jail"
	"$VFIOJAIL" teardown lv4
	jail_gone lv4 "teardown"
	pass "run jails and older states are left alone"

	# The launch service; root's specs under a root-owned directory that is not sticky.
	specs=$(mktemp -d /run/vfiojail-test-specs.XXXXXX)
	on_exit "rm -rf '$specs'"
	chmod 0755 "$specs"
	for n in lv2 lv3 lv5; do gpu_vm_spec "$n" >"$specs/$n.json"; done
	sock="$WORK/launch.sock"
	serve_start "$sock" "$specs" "${roots[@]}"
	declare -A vmm=()
	for n in lv2 lv3 lv5; do
		setpriv --reuid=nobody --regid=nogroup --init-groups -- "$VFIOJAIL" launch "$n" --socket "$sock" -- \
			"$WORK/probe" --out /dev/null --sleep 60 2>>"$WORK/launch.log" &
		vmm[$n]=$!
		wait_populated "$n"
		assert_eq "$(jq -r '"\(.origin) \(.vmm)"' "$(st "$n")")" "launch ${vmm[$n]}" "the state of $n: launched, its VMM"
	done
	capture "$VFIOJAIL" status lv2 --json
	assert_eq "$rc/$(jq -r .kind <<<"$out")" "0/launch" "status labels a launched VM launch ($err)"
	capture "$VFIOJAIL" list
	assert_eq "$(awk '$1 == "lv2" { print $2 }' <<<"$out")" launch "list labels it launch"
	# The service dies without tearing anything down; the jails stay.
	kill -KILL "$serve"; wait "$serve" || true
	rm -f "$sock"

	# lv2: its VMM exits; the hook removes the jail.
	kill -TERM "${vmm[lv2]}"; wait "${vmm[lv2]}" || true
	jail_whole lv2 "a launched jail whose service was killed"
	capture "$hook" lv2 release end -
	assert_eq "$rc" 0 "the hook on a launched jail whose VMM is gone ($err)"
	jail_gone lv2 "release after the VMM exited"
	pass "a launched jail whose VMM is gone is removed"

	# lv3: its VMM still runs: left alone (1), the VMM untouched.
	capture "$hook" lv3 release end -
	assert_eq "$rc" 1 "the hook on a launched jail whose VMM runs ($err)"
	assert_contains "$err" "its VMM (pid ${vmm[lv3]}) still runs" "says why"
	alive "${vmm[lv3]}" || fail "the hook killed lv3's VMM"
	jail_whole lv3 "a launched jail whose VMM runs"
	# Its VMM exits, but another process is left in its cgroup: still left alone.
	sleep 60 &
	other=$!
	echo "$other" >"$CG/vfiojail-lv3/cgroup.procs"
	kill -TERM "${vmm[lv3]}"; wait "${vmm[lv3]}" || true
	capture "$hook" lv3 release end -
	assert_eq "$rc" 1 "the hook on a launched jail with a process left ($err)"
	assert_contains "$err" "still has processes" "says why"
	alive "$other" || fail "the hook killed a process of lv3's cgroup"
	jail_whole lv3 "a launched jail with a process left"
	kill "$other"; wait "$other" || true
	capture "$hook" lv3 release end -
	assert_eq "$rc" 0 "the hook once the cgroup is empty ($err)"
	jail_gone lv3 "release once the cgroup is empty"
	pass "a launched jail whose VMM or another process runs is left alone"

	# lv5: its VMM exits and its pid is taken by another process (simulated: the state
	# names a live process of the test instead, with the VMM's start time).
	kill -TERM "${vmm[lv5]}"; wait "${vmm[lv5]}" || true
	sleep 60 &
	other=$!
	jq -c --argjson p "$other" '.vmm = $p' "$(st lv5)" >"$(st lv5).new"
	mv "$(st lv5).new" "$(st lv5)"
	capture "$hook" lv5 release end -
	assert_eq "$rc" 0 "the hook when the VMM's pid is another process's ($err)"
	jail_gone lv5 "release after pid reuse"
	alive "$other" || fail "the hook killed the process that took the VMM's pid"
	kill "$other"; wait "$other" || true
	pass "pid reuse: the start time tells the VMM from another process"

	assert_nothing_left "$CG" /run/vfiojail /sys/fs/bpf/vfiojail
	! grep -q " nsfs " /proc/self/mountinfo || fail "nsfs binding left"
	pass "nothing left"
}
in_container gpu-iommufd hook_tests
