#!/usr/bin/env bash
# A hostile VMM: the probe with --attack, run through vfiojail run as the VM user,
# tries to get out of its jail in every way listed below; each attempt must fail
# with the specific errno of the defense that stops it (docs/SECURITY.md says
# which).  Controls outside the jail show that each target is reachable there,
# so a refusal inside comes from the jail.  Nothing is left afterwards.
source "$(dirname "$0")/lib.sh"

escape_attempts() {
	iommu_answers_enotty
	roots=(--sysfs-root "$HOST/sys" --dev-root "$HOST/dev" --iommufd-accounting=best-effort)
	nobody() { setpriv --reuid=nobody --regid=nogroup --clear-groups "$@"; }
	wait_populated() { # NAME
		for i in $(seq 200); do
			grep -qs "populated 1" "$CG/vfiojail-$1/cgroup.events" && return 0
			sleep 0.05
		done
		fail "vfiojail-$1 never started: $(cat "$WORK/$1.err" 2>/dev/null)"
	}

	# A pin directory planted in the world-writable bpffs root (mode 1777 on a fresh
	# mount) by another user: its owner could unlink the pins and so detach the
	# filter of a jail whose pin is the last reference (--exec).  Refused, at either
	# level, and nothing is made.
	assert_eq "$(stat -c %a /sys/fs/bpf)" 1777 "a fresh bpffs root is world-writable"
	nobody mkdir -m 0777 /sys/fs/bpf/vfiojail
	capture "$VFIOJAIL" run "${roots[@]}" --exec --name vm0 --user nobody -- "$WORK/probe" --out /dev/null
	assert_eq "$rc" 125 "a planted vfiojail/ pin directory is refused ($err)"
	assert_contains "$err" "refusing the pin directory /sys/fs/bpf/vfiojail " "names the directory"
	assert_eq "$(ls -A /sys/fs/bpf/vfiojail)" "" "nothing pinned in it"
	nobody mkdir -m 0777 /sys/fs/bpf/vfiojail/vm0
	chown root:root /sys/fs/bpf/vfiojail; chmod 0700 /sys/fs/bpf/vfiojail
	capture "$VFIOJAIL" run "${roots[@]}" --exec --name vm0 --user nobody -- "$WORK/probe" --out /dev/null
	assert_eq "$rc" 125 "a planted vfiojail/NAME pin directory is refused ($err)"
	assert_contains "$err" "refusing the pin directory /sys/fs/bpf/vfiojail/vm0 " "names the directory"
	assert_eq "$(ls -A /sys/fs/bpf/vfiojail/vm0)" "" "nothing pinned in it"
	rmdir /sys/fs/bpf/vfiojail/vm0 /sys/fs/bpf/vfiojail
	assert_nothing_left "$CG" /run/vfiojail /sys/fs/bpf/vfiojail
	pass "pin directories planted by another user are refused"

	# Nodes outside the plan, made by root where the jail can see them, mode 0666, of
	# drivers that would let the VM user in: only the device filter can refuse them.
	# (Not /dev/mem or /dev/kmsg: their drivers answer EPERM themselves.)
	mkdir -m 0755 "$WORK/foreign"
	mknod -m 0666 "$WORK/foreign/loop0" b 7 0
	mknod -m 0666 "$WORK/foreign/loop-control" c 10 237
	mknod -m 0666 "$WORK/foreign/vfio2" c 240 2
	# A setuid-root copy of id(1).
	install -o root -g root -m 4755 /usr/bin/id "$WORK/suid-id"
	# Host /dev entries that exist here but are not in the plan.
	absent=()
	for p in /dev/vda /dev/sda /dev/kmsg /dev/loop-control /dev/mem /dev/console; do
		[[ -e "$p" ]] && absent+=(--attack-absent "$p")
	done
	[[ ${#absent[@]} -gt 0 ]] || fail "no host /dev entry to look for"

	# Another VM of the same user holds its GPU (vfio2) in its own jail.
	"$VFIOJAIL" run "${roots[@]}" --name vm2 --user nobody --memory 1G --hostdev 0009:07:00.0 \
		--memlock-hard-limit 2MiB -- "$WORK/probe" --out /dev/null --sleep 60 2>"$WORK/vm2.err" &
	vm2_sup=$!
	on_exit "kill $vm2_sup 2>/dev/null; wait $vm2_sup 2>/dev/null"
	wait_populated vm2
	vm2_pid=$(head -1 "$CG/vfiojail-vm2/cgroup.procs")
	vm2_node="/proc/$vm2_pid/root/dev/vfio/devices/vfio2"
	[[ -c "$vm2_node" ]] || fail "vm2 has no $vm2_node"
	nodes=("$WORK/foreign/loop0" "$WORK/foreign/loop-control" "$WORK/foreign/vfio2" "$vm2_node")

	# Controls, as the VM user outside any jail: every node is reachable (no EPERM;
	# the VFIO stand-ins have no driver: ENXIO), the setuid bit works.
	opens=(); for n in "${nodes[@]}"; do opens+=(--open "$n"); done
	nobody "$WORK/probe" "${opens[@]}" --out "$WORK/out/control.json"
	assert_eq "$(jq -r "[.opens[] | .error // \"ok\"] | join(\" \")" "$WORK/out/control.json")" \
		"ok ok ENXIO ENXIO" "control: the nodes open (or reach their driver) outside the jail"
	assert_eq "$(nobody "$WORK/suid-id" -u)" 0 "control: the setuid bit works on this filesystem"

	attack=(--attack --attack-suid "$WORK/suid-id" --attack-pin /sys/fs/bpf/vfiojail/vm1 "${absent[@]}")
	for n in "${nodes[@]}"; do attack+=(--attack-node "$n"); done
	capture "$VFIOJAIL" run "${roots[@]}" --name vm1 --user nobody --memory 1G \
		--hostdev 0009:06:00.0 --memlock-hard-limit 4MiB -- "$WORK/probe" "${attack[@]}" \
		--out "$WORK/out/attack.json"
	assert_eq "$rc" 0 "run exit status ($err)"
	r=$(cat "$WORK/out/attack.json")
	# The errno of every attempt of one kind, in order, space-separated.
	errs() { jq -r "[.attacks[] | select(.attack == \"$1\") | .error // \"OK\"] | join(\" \")" <<<"$r"; }
	# The supervisor is the one attacked.
	assert_eq "$(jq -r "[.attacks[] | select(.attack == \"kill_supervisor\") | .comm] | .[0]" <<<"$r")" \
		vfiojail "the attacked pid is vfiojail"
	# mknod of a node: the VM user lacks CAP_MKNOD (EPERM), and in the jail /dev
	# (root 0755) it cannot even create a name (EACCES comes first).
	assert_eq "$(errs mknod)" "EACCES EPERM" "mknod in /dev, in /tmp"
	assert_eq "$(errs open_node)" "EPERM EPERM EPERM EPERM" \
		"nodes outside the plan, another VM s node through /proc/PID/root: the filter"
	assert_eq "$(errs host_dev_visible)" "$(printf "ENOENT %.0s" $(seq $((${#absent[@]} / 2))) | sed "s/ $//")" \
		"host /dev entries are not in the jail"
	assert_eq "$(errs host_root_via_proc)" EACCES "the host /dev through /proc/1/root"
	assert_eq "$(errs setuid_exec)" OK "the setuid program runs"
	assert_eq "$(jq "[.attacks[] | select(.attack == \"setuid_exec\") | .euid] | .[0]" <<<"$r")" 65534 \
		"no_new_privs: the setuid program keeps the VM user s euid"
	assert_eq "$(errs raise_memlock)" EPERM "RLIMIT_MEMLOCK above the hard limit"
	assert_eq "$(errs bpf_prog_load)" EPERM "loading a device program"
	assert_eq "$(errs bpf_prog_detach)" EINVAL "detaching the multi-attached filter without its program"
	assert_eq "$(errs bpf_link_get_next_id)" EPERM "enumerating BPF links"
	assert_eq "$(errs bpf_obj_get_link) $(errs bpf_obj_get_rules)" "EACCES EACCES" \
		"opening the pinned link and map"
	assert_eq "$(errs cgroup_escape_parent) $(errs cgroup_escape_root)" "EACCES EACCES" \
		"moving out of the cgroup (parent, root)"
	assert_eq "$(errs cgroup_mkdir)" EACCES "making a child cgroup"
	assert_eq "$(errs use_fd_not_given)" EBADF "fds 4..20 are closed"
	assert_eq "$(errs ptrace_supervisor)" EPERM "ptrace of the supervisor"
	assert_eq "$(errs supervisor_mem)" EACCES "the supervisor s memory"
	assert_eq "$(errs steal_supervisor_fd)" EPERM "pidfd_getfd on the supervisor"
	assert_eq "$(errs kill_supervisor)" EPERM "SIGKILL to the supervisor"
	n=$(jq ".attacks | length" <<<"$r")
	ok=$(jq "[.attacks[] | select(.errno == 0)] | length" <<<"$r")
	assert_eq "$ok" 1 "only the setuid run succeeds (and gains nothing)"
	echo "escape attempts: $n, all stopped"
	# The filter is still attached and vm2 still runs.
	[[ -d /proc/$vm2_pid ]] || fail "vm2 was harmed"
	pass "a hostile VMM gets nowhere ($n attempts)"

	kill "$vm2_sup"
	set +e; wait "$vm2_sup"; set -e
	assert_nothing_left "$CG" /run/vfiojail /sys/fs/bpf/vfiojail
}
in_container gpu-iommufd escape_attempts
