#!/usr/bin/env bash
# Hostile inputs and filesystem: bad names through every command, spec device
# paths that are or go through symlinks, planted entries in the state directory, a
# fixture sysfs with loops, missing files, garbage and huge files, and devices that
# go away or change while vfiojail works.  Each is refused with a documented exit
# status and a message naming what is wrong, and changes nothing: no cgroup, pin,
# state, mount or process of ours, the fixture host and the planted targets as they
# were, a jail that existed byte for byte the same.
source "$(dirname "$0")/lib.sh"

hostile_inputs_tests() {
	iommu_answers_enotty
	roots=(--sysfs-root "$HOST/sys" --dev-root "$HOST/dev" --iommufd-accounting=best-effort)
	gpu=(--memory 1G --hostdev 0009:06:00.0 --memlock-hard-limit 4MiB)
	probe=("$WORK/probe" --out /dev/null)
	G="$HOST/sys/devices/pci0009:06/0009:06:00.0"
	cases=0 section=0
	since() { n_since=$((cases - section)); section=$cases; } # cases since the last call
	mkdir -m 0700 /run/vfiojail

	# What a command could change.  The fixture host: every entry with its type,
	# mode, owner, size and link target, and the content of every file.
	fixture_state() {
		(cd "$HOST" && find . \( -path ./dev/pts -o -path ./dev/shm \) -prune -o \
			-printf "%p %y %m %U:%G %s %l\n" | sort && find sys -type f -exec md5sum {} + | sort)
	}
	# vfiojail: cgroups, state directory, pins, the rules in each pinned map, each kept
	# namespace's /dev, mounts, processes.
	jail_state() {
		local ns
		find "$CG" -mindepth 1 -type d | sort
		find /run/vfiojail /sys/fs/bpf/vfiojail -printf "%p %y %m %U %s %l\n" 2>/dev/null | sort || true
		find /run/vfiojail -maxdepth 1 -type f -exec md5sum {} + 2>/dev/null | sort || true
		for m in /sys/fs/bpf/vfiojail/*/rules; do
			[[ -e "$m" ]] && bpftool map dump pinned "$m" | sort
		done
		for ns in /run/vfiojail/ns/*; do
			[[ -e "$ns" ]] && nsenter --mount="$ns" find /dev \( -path /dev/shm -o -path /dev/pts \) -prune -o -printf "%p %y %m %U\n" | sort
		done
		wc -l </proc/self/mountinfo
		pgrep -f "$WORK/probe" || true
	}

	# refused STATUS NEEDLE -- COMMAND...: exits STATUS, says NEEDLE in a "vfiojail: "
	# message, and changes nothing.
	refused() {
		local status=$1 needle=$2 before_f before_j
		shift 3
		before_f=$(fixture_state)
		before_j=$(jail_state)
		capture "$@"
		local what="${*:2:1} ${*: -3}"
		assert_eq "$rc" "$status" "exit status of [$what] ($err)"
		assert_contains "$err" "vfiojail: " "[$what] says vfiojail failed"
		assert_contains "$err" "$needle" "[$what] names what is wrong"
		# Names and spec values are quoted; sysfs text is the kernel's (trusted).
		[[ ${sysfs_text:-} == 1 ]] || ! tr -d "\n" <<<"$err" | LC_ALL=C grep -q "[[:cntrl:]]" ||
			fail "[$what] prints a raw control character: $(printf %q "$err")"
		assert_eq "$(fixture_state)" "$before_f" "[$what] leaves the fixture host as it was"
		assert_eq "$(jail_state)" "$before_j" "[$what] changes nothing of vfiojail's"
		cases=$((cases + 1))
	}

	# ---------------------------------------------------------------------------
	# Names: slashes, invalid UTF-8 (cut short, overlong, a surrogate), 201 bytes, an
	# escape past 240 bytes, none, through every command that takes one (flag, spec file
	# or argument).  Any other name is valid (test_names.sh); control characters in a
	# refused one are quoted.
	long=$(printf "v%.0s" $(seq 201))
	wide=$(printf "+%.0s" $(seq 61)) # 61 bytes, escaped 244
	bad_names=("a/b" "../x" "/etc" "$(printf "a\nb/")" "$(printf "vm\033[31m/")" "$(printf "\303\050")"
		"$(printf "vm\303")" "$(printf "\300\257")" "$(printf "\355\240\200")" "$(printf "\364\220\200\200")"
		"$long" "$wide" "")
	assert_eq "${#long}" 201 "the long name"
	for name in "${bad_names[@]}"; do
		needle="is not a valid name"
		refused 2 "$needle" -- "$VFIOJAIL" run "${roots[@]}" --name "$name" --user nobody -- "${probe[@]}"
		refused 2 "$needle" -- "$VFIOJAIL" setup "${roots[@]}" --name "$name" --user nobody
		refused 2 "$needle" -- "$VFIOJAIL" plan "${roots[@]}" --name "$name" --user nobody
		# jq would mend invalid UTF-8 (U+FFFD): those bytes go into the file raw.
		if [[ "$(jq -rn --arg n "$name" "\$n")" == "$name" ]]; then
			jq -n --arg n "$name" "{name: \$n, user: \"nobody\"}" >"$WORK/spec.json"
		else
			printf "{\"name\": \"%s\", \"user\": \"nobody\"}" "$name" >"$WORK/spec.json"
		fi
		refused 2 "$needle" -- "$VFIOJAIL" setup "$WORK/spec.json" "${roots[@]}"
		for cmd in teardown status; do
			refused 2 "$needle" -- "$VFIOJAIL" $cmd -- "$name"
		done
		refused 2 "$needle" -- "$VFIOJAIL" enter -- "$name" -- "${probe[@]}"
		refused 2 "$needle" -- "$VFIOJAIL" attach --device /dev/net/tun -- "$name"
		refused 2 "$needle" -- "$VFIOJAIL" detach --device /dev/net/tun -- "$name"
	done
	since
	pass "${#bad_names[@]} bad names refused by run, plan, setup (flag and spec), teardown, status, enter, attach, detach: $n_since cases"

	# Dots are allowed (bpffs refuses names with dots: the pin directory writes them
	# as ":"); the whole life cycle works and leaves nothing.
	capture "$VFIOJAIL" setup "${roots[@]}" --name vm.1 --user nobody "${gpu[@]}"
	assert_eq "$rc" 0 "setup of vm.1 ($err)"
	[[ -e "/sys/fs/bpf/vfiojail/vm:1/link" ]] || fail "vm.1 is pinned as vm:1"
	for c in "status vm.1" "attach vm.1 --device /dev/net/tun" "detach vm.1 --device /dev/net/tun"; do
		capture "$VFIOJAIL" $c
		assert_eq "$rc" 0 "$c ($err)"
	done
	capture "$VFIOJAIL" enter vm.1 -- "$WORK/probe" --open /dev/vfio/devices/vfio0 --out "$WORK/out/dot.json"
	assert_eq "$rc" 0 "enter vm.1 ($err)"
	assert_eq "$(jq -r ".opens[0].error" "$WORK/out/dot.json")" ENXIO "vm.1: its own GPU passes the filter"
	capture "$VFIOJAIL" teardown vm.1
	assert_eq "$rc" 0 "teardown vm.1 ($err)"
	capture "$VFIOJAIL" run "${roots[@]}" --name ... --user nobody -- "${probe[@]}"
	assert_eq "$rc" 0 "run of ... ($err)"
	capture "$VFIOJAIL" teardown no.such.vm
	assert_eq "$rc" 0 "teardown of a dotted name with nothing left ($err)"
	assert_nothing_left "$CG" /run/vfiojail /sys/fs/bpf/vfiojail
	pass "names with dots: setup, status, attach, detach, enter, teardown and run"

	# ---------------------------------------------------------------------------
	# Spec device paths: vfiojail-spec(5) says a device path must name a device node,
	# "a symlink is refused rather than followed": a symlink at the end or anywhere on
	# the way, into /proc magic links included.
	ln -s /proc/self/fd/0 "$HOST/dev/x"
	ln -s /proc/self/root/dev "$HOST/dev/hostdev"
	ln -s null "$HOST/dev/nulllink"
	ln -s /dev/null "$HOST/dev/abslink"
	ln -s net "$HOST/dev/netlink"
	mkdir "$HOST/dev/dd"
	ln -s ../null "$HOST/dev/dd/n"
	symlinked=(/dev/x /dev/hostdev/null /dev/hostdev/kmsg /dev/nulllink /dev/abslink /dev/netlink/tun /dev/dd/n /dev/dd)
	for d in "${symlinked[@]}"; do
		refused 125 "is not a device node" -- "$VFIOJAIL" plan "${roots[@]}" --name vm1 --user nobody --device "$d"
		refused 125 "is not a device node" -- "$VFIOJAIL" run "${roots[@]}" --name vm1 --user nobody --device "$d" -- "${probe[@]}"
		refused 125 "is not a device node" -- "$VFIOJAIL" setup "${roots[@]}" --name vm1 --user nobody --device "$d:rwm"
	done
	for d in /dev/../etc/passwd /dev//null /dev/net/ /dev/./null dev/null /proc/self/fd/0 "$(printf "/dev/a\tb")"; do
		refused 2 "is not a device path" -- "$VFIOJAIL" run "${roots[@]}" --name vm1 --user nobody --device "$d" -- "${probe[@]}"
	done
	"$VFIOJAIL" setup "${roots[@]}" --name vm1 --user nobody "${gpu[@]}" >/dev/null
	for d in "${symlinked[@]}"; do
		refused 125 "is not a device node" -- "$VFIOJAIL" attach vm1 --device "$d"
	done
	since
	pass "device paths through symlinks refused by plan, run, setup and attach, malformed ones by run: $n_since cases"

	# ---------------------------------------------------------------------------
	# A device that disappears between the jail's plan and a hotplug: the host node of
	# a device, the sysfs entries of a GPU.  attach refuses; the jail is as it was.
	mv "$HOST/dev/kvm" "$WORK/kvm.away"
	refused 125 "/dev/kvm" -- "$VFIOJAIL" attach vm1 --device /dev/kvm
	mv "$WORK/kvm.away" "$HOST/dev/kvm"
	mv "$HOST/sys/devices/pci0009:07/0009:07:00.0/vfio-dev" "$WORK/vfio-dev.away"
	refused 125 "0009:07:00.0" -- "$VFIOJAIL" attach vm1 --hostdev 0009:07:00.0
	mv "$WORK/vfio-dev.away" "$HOST/sys/devices/pci0009:07/0009:07:00.0/vfio-dev"
	# The jail still works, and its host node going away does not matter to it.
	mv "$HOST/dev/vfio/devices/vfio0" "$WORK/vfio0.away"
	capture "$VFIOJAIL" enter vm1 -- "$WORK/probe" --open /dev/vfio/devices/vfio0 --out "$WORK/out/after.json"
	assert_eq "$rc" 0 "enter after the refused attaches ($err)"
	assert_eq "$(jq -r ".opens[0].error" "$WORK/out/after.json")" ENXIO "the jail's own node still passes"
	mv "$WORK/vfio0.away" "$HOST/dev/vfio/devices/vfio0"
	since
	pass "attach of a device gone from the host is refused, the jail unchanged: $n_since cases"

	# ---------------------------------------------------------------------------
	# The state directory: entries planted as symlinks, or owned by another user.
	cp -a /run/vfiojail/vm1.json "$WORK/vm1.json.saved"
	"$VFIOJAIL" teardown vm1
	mkdir -p -m 0700 /run/vfiojail
	echo target >"$WORK/target"
	chmod 0640 "$WORK/target"
	passwd_sum=$(md5sum </etc/passwd)
	target_state() { stat -c "%a %U %s %Y" "$WORK/target"; md5sum <"$WORK/target"; md5sum </etc/passwd; ls "$WORK/newfile" 2>&1 || true; }
	targets=$(target_state)
	all_refuse() { # SETUP_STATUS SETUP_NEEDLE STATUS_STATUS NEEDLE
		refused 125 "$4" -- "$VFIOJAIL" run "${roots[@]}" --name vm1 --user nobody -- "${probe[@]}"
		refused "$1" "$2" -- "$VFIOJAIL" setup "${roots[@]}" --name vm1 --user nobody
		refused "$3" "vm1" -- "$VFIOJAIL" status vm1
		set -- "$4"
		refused 125 "$1" -- "$VFIOJAIL" enter vm1 -- "${probe[@]}"
		refused 125 "$1" -- "$VFIOJAIL" attach vm1 --device /dev/net/tun
		refused 125 "$1" -- "$VFIOJAIL" detach vm1 --device /dev/net/tun
		refused 125 "$1" -- "$VFIOJAIL" teardown vm1
		refused 125 "$1" -- "$VFIOJAIL" teardown --kill vm1
	}
	ln -s /etc/passwd /run/vfiojail/vm1.json
	all_refuse 125 "symlink" 125 "symlink"
	refused 1 "symlink" -- "$VFIOJAIL" list
	rm /run/vfiojail/vm1.json
	ln -s "$WORK/target" /run/vfiojail/vm1.lock
	all_refuse 125 "symlink" 2 "symlink"
	rm /run/vfiojail/vm1.lock
	ln -s "$WORK/newfile" /run/vfiojail/vm1.lock
	all_refuse 125 "symlink" 2 "symlink"
	rm /run/vfiojail/vm1.lock
	assert_eq "$(target_state)" "$targets" "the symlinks' targets are untouched, none created"
	assert_eq "$(md5sum </etc/passwd)" "$passwd_sum" "/etc/passwd untouched"
	# A state file of another owner (root made it: the directory is root's 0700): every
	# command but teardown refuses it as damaged and touches nothing.
	"$VFIOJAIL" setup "${roots[@]}" --name vm1 --user nobody "${gpu[@]}" >/dev/null
	chown nobody /run/vfiojail/vm1.json
	refused 125 "damaged" -- "$VFIOJAIL" run "${roots[@]}" --name vm1 --user nobody -- "${probe[@]}"
	refused 2 "exists" -- "$VFIOJAIL" setup "${roots[@]}" --name vm1 --user nobody
	refused 125 "not a regular file owned by" -- "$VFIOJAIL" status vm1
	refused 125 "damaged" -- "$VFIOJAIL" enter vm1 -- "${probe[@]}"
	refused 125 "damaged" -- "$VFIOJAIL" attach vm1 --device /dev/net/tun
	refused 125 "damaged" -- "$VFIOJAIL" detach vm1 --device /dev/net/tun
	refused 1 "damaged" -- "$VFIOJAIL" list
	# teardown treats it as damaged (vfiojail(1)): it finds the jail by name, removes
	# all of it and says so.
	capture "$VFIOJAIL" teardown vm1
	assert_eq "$rc" 0 "teardown of a jail whose state file has another owner ($err)"
	assert_contains "$err" "damaged state file" "teardown says the state was damaged"
	assert_nothing_left "$CG" /run/vfiojail /sys/fs/bpf/vfiojail
	since
	pass "planted state entries (symlinked NAME.json and NAME.lock, a foreign owner) refused, targets untouched: $n_since cases"

	# ---------------------------------------------------------------------------
	# A hostile fixture sysfs: loops, missing files, garbage, huge files.  Each case
	# changes the fixture, then plan and run (and the legacy backend's plan where it
	# reads something else) refuse; the fixture is put back after it.
	cp -a "$HOST/sys" "$WORK/sys.orig"
	sysfs_text=1
	sysfs_case() { # NEEDLE SHELL_CODE [legacy]
		eval "$2"
		refused 125 "$1" -- "$VFIOJAIL" plan "${roots[@]}" --name vm1 --user nobody "${gpu[@]}"
		refused 125 "$1" -- "$VFIOJAIL" run "${roots[@]}" --name vm1 --user nobody "${gpu[@]}" -- "${probe[@]}"
		if [[ ${3:-} == legacy ]]; then
			refused 125 "$1" -- "$VFIOJAIL" plan "${roots[@]}" --name vm1 --user nobody --memory 1G \
				--hostdev 0009:06:00.0,backend=legacy
		fi
		rm -rf "$HOST/sys"
		cp -a "$WORK/sys.orig" "$HOST/sys"
	}
	V="$G/vfio-dev/vfio0/dev"
	M="$HOST/sys/devices/virtual/misc/iommu/dev"
	L="$HOST/sys/devices/virtual/vfio/14/dev"
	# Loops.
	sysfs_case "iommu_group" "rm $G/iommu_group; ln -s iommu_group $G/iommu_group" legacy
	sysfs_case "iommu_group" "rm $G/iommu_group; ln -s loop2 $G/iommu_group; ln -s iommu_group $G/loop2" legacy
	sysfs_case "iommu_group" "rm $G/iommu_group; ln -s . $G/iommu_group" legacy
	sysfs_case "bound to driver driver" "rm $G/driver; ln -s driver $G/driver" legacy
	sysfs_case "0009:06:00.0" "rm $HOST/sys/bus/pci/devices/0009:06:00.0; ln -s 0009:06:00.0 $HOST/sys/bus/pci/devices/0009:06:00.0" legacy
	sysfs_case "vfio0/dev" "rm $V; ln -s dev $V"
	# Missing files.
	sysfs_case "resource" "rm $G/resource" legacy
	sysfs_case "not bound to any driver" "rm $G/driver" legacy
	sysfs_case "has no IOMMU group" "rm $G/iommu_group" legacy
	sysfs_case "vfio0/dev" "rm $V"
	sysfs_case "no VFIO cdev" "rm -r $G/vfio-dev"
	sysfs_case "/dev/iommu" "rm $M"
	sysfs_case "iommu_groups/14/devices" "rm -r $HOST/sys/kernel/iommu_groups/14/devices" legacy
	sysfs_case "0009:06:00.0" "rm -r $HOST/sys/bus/pci/devices/0009:06:00.0" legacy
	# Garbage in dev files (MAJ:MIN: 12-bit major, 20-bit minor).
	put() { printf "%s\n" "$2" >"$1"; }
	for g in abc "10:" ":5" "4096:0" "1:1048576" "" "240:0:1" "-1:0" " 240:0" "240:0x" "0x10:0" \
		"99999999999999999999:0" "$(printf "240:\001")"; do
		sysfs_case "not MAJ:MIN" "put $V $(printf %q "$g")"
		sysfs_case "/dev/iommu" "put $M $(printf %q "$g")"
	done
	put "$L" abc
	refused 125 "holds \"abc\", not MAJ:MIN" -- "$VFIOJAIL" plan "${roots[@]}" --name vm1 --user nobody --memory 1G \
		--hostdev 0009:06:00.0,backend=legacy
	put "$L" 241:0
	# Huge files, and a resource file with garbage.
	sysfs_case "larger than 64 KiB" "for i in \$(seq 2000); do echo 0x0000000000000000 0x0000000000000000 0x0000000000000000; done >$G/resource" legacy
	sysfs_case "not a regular file" "rm $G/resource; ln -s /dev/zero $G/resource" legacy
	sysfs_case "not a regular file" "rm $G/resource; mkfifo $G/resource" legacy
	sysfs_case "File too large" "head -c 100000 /dev/zero | tr \"\\\\0\" 7 >$V"
	sysfs_case "File too large" "head -c 100000 /dev/zero | tr \"\\\\0\" 7 >$M"
	sysfs_case "0xSTART 0xEND 0xFLAGS" "echo garbage >$G/resource" legacy
	sysfs_case "0xSTART 0xEND 0xFLAGS" "echo 0x10 0x1 0x200 >$G/resource" legacy
	sysfs_case "resource" "printf \"0x0 0x0 0x0\\\\0junk\\\\n\" >$G/resource" legacy
	sysfs_case "0xSTART 0xEND 0xFLAGS" "echo 0x0000000000000000 0xffffffffffffffff 0x0 0x0 >$G/resource" legacy
	sysfs_case "cannot record BAR 0" "echo 0x0000000000000000 0xffffffffffffffff 0x0 >$G/resource" legacy
	assert_nothing_left "$CG" /run/vfiojail /sys/fs/bpf/vfiojail
	since
	pass "hostile sysfs (loops, missing files, garbage and huge files) refused: $n_since cases"

	# ---------------------------------------------------------------------------
	# Host numbers that change while run plans and applies: a loop rewrites the GPU's
	# sysfs dev file (with garbage now and then) and swaps /dev/net/tun between two
	# nodes.  Every outcome must be a run whose nodes and filter agree (the VMM reaches
	# both devices' drivers: no EPERM) or a clean refusal at a named step.
	(
		while :; do
			for v in 240:0 240:5 abc 240:0; do
				printf "%s\n" "$v" >"$V"
				mknod "$HOST/dev/net/tun.new" c 10 $((RANDOM % 2 + 200)) && mv -f "$HOST/dev/net/tun.new" "$HOST/dev/net/tun"
			done
		done
	) &
	racer=$!
	on_exit "kill $racer 2>/dev/null; wait $racer 2>/dev/null"
	ok=0 no=0
	declare -A seen=()
	for i in $(seq 60); do
		rm -f "$WORK/out/race.json"
		capture "$VFIOJAIL" run "${roots[@]}" --name vmr --user nobody "${gpu[@]}" --device /dev/net/tun -- \
			"$WORK/probe" --open /dev/vfio/devices/vfio0 --open /dev/net/tun --out "$WORK/out/race.json"
		case $rc in
		0)
			r="$WORK/out/race.json"
			gpu_node=$(jq -r ".dev[] | select(.path == \"/dev/vfio/devices/vfio0\") | \"\(.major):\(.minor)\"" "$r")
			tun_node=$(jq -r ".dev[] | select(.path == \"/dev/net/tun\") | \"\(.major):\(.minor)\"" "$r")
			[[ $gpu_node == 240:0 || $gpu_node == 240:5 ]] || fail "race $i: the GPU node is $gpu_node"
			[[ $tun_node == 10:200 || $tun_node == 10:201 ]] || fail "race $i: the tun node is $tun_node"
			for k in 0 1; do
				e=$(jq -r ".opens[$k].error // \"ok\"" "$r")
				[[ $e != EPERM ]] || fail "race $i: node $k ($gpu_node, $tun_node) refused by the filter: nodes and rules disagree"
			done
			seen["ran $gpu_node"]=1
			ok=$((ok + 1))
			;;
		125)
			[[ "$err" =~ vfiojail:\ (discover|mountns):\  ]] || fail "race $i: refused without a step: $err"
			seen["refused at ${BASH_REMATCH[1]}"]=1
			no=$((no + 1))
			;;
		*) fail "race $i: exit status $rc ($err)" ;;
		esac
		assert_nothing_left "$CG" /run/vfiojail /sys/fs/bpf/vfiojail
	done
	kill $racer; wait $racer 2>/dev/null || true
	cases=$((cases + 60))
	pass "racing host numbers: $ok runs with nodes and filter in agreement, $no clean refusals (${!seen[*]})"
	rm -rf "$HOST/sys"; cp -a "$WORK/sys.orig" "$HOST/sys"
	rm -f "$HOST/dev/net/tun.new"
	assert_nothing_left "$CG" /run/vfiojail /sys/fs/bpf/vfiojail
	echo "hostile inputs: $cases cases, each refused cleanly or (racing) consistent"
}
in_container gpu-iommufd hostile_inputs_tests
