#!/usr/bin/env bash
# vfiojail status and list check a jail's state against the live system and report
# drift per item (exit 1); gc removes jails with no process whose launcher is gone.
source "$(dirname "$0")/lib.sh"
command -v bpftool >/dev/null || skip "bpftool is needed to change the filter's map behind vfiojail's back"

jail_status_tests() {
	roots=(--sysfs-root "$HOST/sys" --dev-root "$HOST/dev")
	"$VFIOJAIL" setup "${roots[@]}" --name vm1 --user nobody --memlock-hard-limit 2MiB --device /dev/net/tun >/dev/null
	"$VFIOJAIL" plan "${roots[@]}" --name vm1 --user nobody --memlock-hard-limit 2MiB --device /dev/net/tun --json >"$WORK/plan.json"
	"$VFIOJAIL" enter vm1 -- "$WORK/probe" --out /dev/null --sleep 30 &
	e=$!
	for i in $(seq 100); do grep -qs "populated 1" "$CG/vfiojail-vm1/cgroup.events" && break; sleep 0.05; done
	probe_pid=$(cat "$CG/vfiojail-vm1/cgroup.procs")

	capture "$VFIOJAIL" status vm1 --json
	assert_eq "$rc" 0 "status of an intact jail ($err)"
	sq() { jq -r "$1" <<<"$out"; }
	assert_eq "$(sq .drift)" false "no drift"
	assert_eq "$(sq ".items | map(select(.ok | not)) | length")" 0 "every item OK"
	assert_eq "$(sq "[.items[].name] | join(\" \")")" "cgroup filter rules memlock namespace" "items checked"
	assert_eq "$(sq ".processes | map(.pid) | join(\" \")")" "$probe_pid" "the entered process is listed"
	assert_eq "$(sq ".processes[0].memlock_soft")" 2097152 "its memlock limit"
	assert_contains "$(sq ".items[] | select(.name == \"rules\") | .detail")" "exactly the $(jq ".rules | length" "$WORK/plan.json") planned rules" "rules counted"
	capture "$VFIOJAIL" list
	assert_eq "$rc" 0 "list"
	assert_contains "$out" "vm1" "list names the jail"
	# The text table: each process's fields start at its header's columns.
	capture "$VFIOJAIL" status vm1
	assert_eq "$rc" 0 "status, text ($err)"
	table=$(sed -n '/^PID /,$p' <<<"$out")
	starts() { awk '{ s = ""; for (i = 1; i <= length($0); i++) if (substr($0, i, 1) != " " && (i == 1 || substr($0, i - 1, 1) == " ")) s = s " " i; print s }'; }
	assert_eq "$(starts <<<"$table" | sort -u | wc -l)" 1 "the rows' fields start at the header's columns: $table"
	assert_eq "$(sed -n 2p <<<"$table" | awk '{ print $1, $2 }')" "$probe_pid 2097152" "the row's pid and soft memlock limit"
	pass "status of an intact jail"

	# Remove the rule of /dev/net/tun from the map behind vfiojail's back.
	read -r maj min < <(jq -r ".nodes[] | select(.path == \"/dev/net/tun\") | \"\(.major) \(.minor)\"" "$WORK/plan.json")
	le32() { printf "%d %d %d %d" $(($1 & 255)) $((($1 >> 8) & 255)) $((($1 >> 16) & 255)) $((($1 >> 24) & 255)); }
	bpftool map delete pinned /sys/fs/bpf/vfiojail/vm1/rules key $(le32 2) $(le32 $maj) $(le32 $min)
	capture "$VFIOJAIL" status vm1
	assert_eq "$rc" 1 "status exit status on drift"
	assert_contains "$out" "DRIFT rules" "the rules item drifts"
	assert_contains "$out" "missing c $maj:$min rw" "names the missing rule"
	assert_contains "$out" "OK    filter" "the filter itself is still attached"
	capture "$VFIOJAIL" list
	assert_eq "$rc" 1 "list exit status on drift"
	assert_contains "$out" "drift" "list shows the drift"
	# And the namespace binding.
	umount /run/vfiojail/ns/vm1
	capture "$VFIOJAIL" status vm1 --json
	assert_eq "$rc" 1 "status exit status"
	assert_eq "$(jq -r ".items[] | select(.ok | not) | .name" <<<"$out" | sort | tr "\n" " ")" "namespace rules " "drift per item"
	pass "status reports drift per item"

	# gc: vm1 still has a process and its launcher (this shell) lives: kept.
	capture "$VFIOJAIL" gc
	assert_eq "$rc" 0 "gc ($err)"
	assert_eq "$out" "" "gc keeps a jail in use"
	kill $e; wait $e || true
	# A jail whose launcher is gone (a subshell that exited) and that runs nothing.
	( "$VFIOJAIL" setup "${roots[@]}" --name orphan --user nobody >/dev/null; true )
	# A --exec VM that exited: no supervisor, no process.
	"$VFIOJAIL" run "${roots[@]}" --exec --name dead --user nobody -- "$WORK/probe" --out /dev/null
	capture "$VFIOJAIL" status orphan
	assert_contains "$out" "abandoned" "status says the jail is abandoned"
	capture "$VFIOJAIL" gc
	assert_eq "$rc" 0 "gc ($err)"
	assert_eq "$out" "$(printf "removed dead\nremoved orphan")" "gc removes the abandoned jails only"
	[[ -f /run/vfiojail/vm1.json ]] || fail "gc removed vm1, whose launcher lives"
	"$VFIOJAIL" teardown vm1
	assert_nothing_left "$CG" /run/vfiojail /sys/fs/bpf/vfiojail
	! grep -q " nsfs " /proc/self/mountinfo || fail "nsfs binding left"
	pass "gc removes abandoned jails"
}
in_container gpu-iommufd jail_status_tests
