#!/usr/bin/env bash
# Hotplug past the filter map's initial size: 600 devices in one vfiojail attach
# (the map of a jail with no device holds 512 rules), so attach swaps a bigger
# filter in on the same link.  A process in the jail sees the new devices allowed
# (ENXIO: no driver) and an unlisted one still refused (EPERM); status sees no
# drift; detach of them all takes them away again.
source "$(dirname "$0")/lib.sh"
: "${OPENER:?}"
command -v bpftool >/dev/null || skip "bpftool is needed to read the filter's map and link"

jail_hotplug_grow_tests() {
	cp "$OPENER" "$WORK/opener"
	chmod 0755 "$WORK/opener"
	N=600
	# Stand-in devices of a major with no driver: allowed opens fail ENXIO.
	mkdir -m 0755 "$HOST/dev/grow"
	for ((i = 0; i < N; i++)); do mknod -m 0666 "$HOST/dev/grow/$i" c 243 "$i"; done
	mknod -m 0666 "$WORK/unlisted" c 243 "$N"   # a device no rule names
	st=/run/vfiojail/vm1.json
	pin=/sys/fs/bpf/vfiojail/vm1
	max_entries() { bpftool -j map show pinned "$pin/rules" | jq .max_entries; }
	link_id() { bpftool -j link show pinned "$pin/link" | jq .id; }
	prog_id() { bpftool -j link show pinned "$pin/link" | jq .prog_id; }
	n_rules() { bpftool -j map dump pinned "$pin/rules" | jq length; }
	# Open PATHs from a process entered into the jail: one errno name (or ok) a line.
	opens() {
		local p
		for p in "$@"; do echo "open $p"; done | "$VFIOJAIL" enter vm1 -- "$WORK/opener" | tr "\n" " "
	}

	"$VFIOJAIL" setup --sysfs-root "$HOST/sys" --dev-root "$HOST/dev" --name vm1 --user nobody \
		--memory 1GiB --memlock-hard-limit 4MiB >/dev/null
	link0=$(link_id) prog0=$(prog_id) rules0=$(n_rules)
	assert_eq "$(max_entries)" 512 "the initial map size"
	assert_eq "$(opens /dev/grow/599 "$WORK/unlisted")" "ENOENT EPERM " "before attach"

	args=()
	for ((i = 0; i < N; i++)); do args+=(--device "/dev/grow/$i"); done
	capture "$VFIOJAIL" attach vm1 "${args[@]}"
	assert_eq "$rc" 0 "attach of $N devices in one call ($err)"
	assert_eq "$(max_entries)" 2048 "the map after growing"
	assert_eq "$(n_rules)" $((rules0 + N)) "every rule is in the new map"
	assert_eq "$(link_id)" "$link0" "the pinned link is the same"
	[[ "$(prog_id)" != "$prog0" ]] || fail "the link still runs program $prog0"
	[[ -z "$(find "$pin" -name "rules-*")" ]] || fail "a temporary pin is left: $(ls "$pin")"
	assert_eq "$(jq ".spec.devices | length" "$st")" "$N" "the state keeps every device"
	capture "$VFIOJAIL" status vm1
	assert_eq "$rc" 0 "status after attach: no drift ($out)"
	assert_contains "$out" "exactly the $((rules0 + N)) planned rules" "status checked the new map"
	assert_eq "$(opens /dev/grow/0 /dev/grow/599 "$WORK/unlisted" /dev/null)" "ENXIO ENXIO EPERM ok " \
		"in the jail after attach"
	pass "attach of $N devices grows the filter on the same link: allowed, the rest refused, no drift"

	capture "$VFIOJAIL" detach vm1 "${args[@]}"
	assert_eq "$rc" 0 "detach of all $N devices ($err)"
	assert_eq "$(n_rules)" "$rules0" "the map holds the initial rules again"
	capture "$VFIOJAIL" status vm1
	assert_eq "$rc" 0 "status after detach: no drift ($out)"
	assert_eq "$(opens /dev/grow/0 "$WORK/unlisted" /dev/null)" "ENOENT EPERM ok " "in the jail after detach"
	assert_eq "$(jq ".spec.devices | length" "$st")" 0 "the state keeps no device"
	pass "detach of all of them works on the grown filter"

	"$VFIOJAIL" teardown vm1
	assert_nothing_left "$CG" /run/vfiojail /sys/fs/bpf/vfiojail
	pass "teardown leaves nothing"
}
in_container gpu-iommufd jail_hotplug_grow_tests
