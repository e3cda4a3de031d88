#!/usr/bin/env bash
# Any name a launcher uses (libvirt's "lv-b+x", spaces, non-ASCII, a leading "-" or
# ".", control characters): setup, run, enter, attach, detach, status, list, gc and
# teardown work; the cgroup, pins, state file and namespace binding use the name's
# escape (vfiojail-spec(5)); JSON shows the name as given, text output quotes one
# with control characters; nothing is left.
source "$(dirname "$0")/lib.sh"

any_name() {
	iommu_answers_enotty
	roots=(--sysfs-root "$HOST/sys" --dev-root "$HOST/dev" --iommufd-accounting=best-effort)
	gpu=(--memory 1G --hostdev 0009:06:00.0 --memlock-hard-limit 4MiB)
	P=/sys/fs/bpf/vfiojail S=/run/vfiojail
	no_raw_controls() { # TEXT WHAT
		! tr -d "\n" <<<"$1" | LC_ALL=C grep -q "[[:cntrl:]]" || fail "$2 prints a raw control character: $(printf %q "$1")"
	}

	# NAME, its escape, and the pin directory (each "." of the escape written ":").
	names=("lv-b+x" "my vm" "vm-ü-東京" "-x" "." ".." "a\\b")
	escs=("lv-b\\x2bx" "my\\x20vm" "vm-ü-東京" "-x" "\\x2e" "\\x2e." "a\\x5cb")
	pins=("lv-b\\x2bx" "my\\x20vm" "vm-ü-東京" "-x" "\\x2e" "\\x2e:" "a\\x5cb")
	for i in "${!names[@]}"; do
		name=${names[i]} esc=${escs[i]} pin=${pins[i]}
		capture "$VFIOJAIL" setup "${roots[@]}" --name "$name" --user nobody "${gpu[@]}"
		assert_eq "$rc" 0 "setup of [$name] ($err)"
		assert_eq "$out" "$name" "setup prints [$name] as given"
		[[ -d "$CG/vfiojail-$esc" ]] || fail "[$name]: no cgroup vfiojail-$esc: $(ls "$CG")"
		[[ -e "$P/$pin/link" && -e "$P/$pin/rules" ]] || fail "[$name]: not pinned at $P/$pin: $(ls "$P")"
		[[ -f "$S/$esc.json" ]] || fail "[$name]: no state file $esc.json: $(ls "$S")"
		mountpoint -q "$S/ns/$esc" || fail "[$name]: no namespace binding ns/$esc"
		assert_eq "$(jq -r .name "$S/$esc.json")" "$name" "[$name]: the state file keeps the name"
		assert_eq "$(jq -r .cgroup "$S/$esc.json")" "$CG/vfiojail-$esc" "[$name]: the state names the cgroup"
		assert_eq "$(jq -r .bpf_pin "$S/$esc.json")" "$P/$pin" "[$name]: the state names the pins"
		assert_eq "$(jq -r .ns "$S/$esc.json")" "$S/ns/$esc" "[$name]: the state names the binding"
		# Every command that takes the name: a leading "-" goes after "--".
		dd=(); [[ "$name" == -* ]] && dd=(--)
		capture "$VFIOJAIL" status --json "${dd[@]}" "$name"
		assert_eq "$rc" 0 "status of [$name] ($err)"
		assert_eq "$(jq -r .name <<<"$out")" "$name" "status --json shows [$name] as given"
		assert_eq "$(jq -r .cgroup <<<"$out")" "$CG/vfiojail-$esc" "status --json: [$name]'s cgroup"
		assert_eq "$(jq -r .drift <<<"$out")" false "[$name]: no drift"
		capture "$VFIOJAIL" status "${dd[@]}" "$name"
		assert_eq "$(head -n1 <<<"$out")" "$name (setup)" "status shows [$name] as given"
		capture "$VFIOJAIL" attach --device /dev/net/tun "${dd[@]}" "$name"
		assert_eq "$rc" 0 "attach to [$name] ($err)"
		capture "$VFIOJAIL" enter "${dd[@]}" "$name" -- "$WORK/probe" --open /dev/vfio/devices/vfio0 \
			--open /dev/net/tun --out "$WORK/out/$i.json"
		assert_eq "$rc" 0 "enter [$name] ($err)"
		assert_eq "$CG2$(jq -r .cgroup "$WORK/out/$i.json")" "$CG/vfiojail-$esc" "[$name]: entered into vfiojail-$esc"
		assert_eq "$(jq -r "[.opens[] | .error // \"ok\"] | join(\" \")" "$WORK/out/$i.json")" "ENXIO ok" \
			"[$name]: its GPU and the attached tun pass the filter"
		capture "$VFIOJAIL" detach --device /dev/net/tun "${dd[@]}" "$name"
		assert_eq "$rc" 0 "detach from [$name] ($err)"
	done
	# enter without "--" after the name takes the rest as the command.
	capture "$VFIOJAIL" enter -- -x "$WORK/probe" --out "$WORK/out/nodd.json"
	assert_eq "$rc" 0 "enter -- -x CMD ($err)"
	[[ -s "$WORK/out/nodd.json" ]] || fail "enter -- -x CMD ran nothing"
	# The CLI: a leading "-" without "--" is an option, refused.
	capture "$VFIOJAIL" status -x
	assert_eq "$rc" 2 "status -x"
	assert_contains "$err" "-x" "names the unknown option"
	pass "setup, status, attach, enter, detach of ${#names[@]} names: escaped cgroup, pins, state and binding"

	capture "$VFIOJAIL" list --json
	assert_eq "$rc" 0 "list --json ($err)"
	assert_eq "$(jq -r "[.jails[].name] | sort | .[]" <<<"$out")" "$(printf "%s\n" "${names[@]}" | LC_ALL=C sort)" "list --json shows every name as given"
	capture "$VFIOJAIL" list
	assert_eq "$rc" 0 "list ($err)"
	for name in "${names[@]}"; do
		found=0
		while IFS= read -r line; do
			[[ "$line" == "$name "*" setup "* ]] && found=1
		done <<<"$out"
		assert_eq "$found" 1 "list shows [$name]: $out"
	done
	pass "list shows the names as given"

	# A state file whose name is not the canonical escape of a name is not a jail:
	# "\x61.json" is not "a", "my vm.json" not "my vm".
	for f in "\\x61" "my vm" ".x" "\\x2E"; do
		cp "$S/lv-b\\x2bx.json" "$S/$f.json"
	done
	capture "$VFIOJAIL" list --json
	assert_eq "$(jq -r "[.jails[].name] | length" <<<"$out")" "${#names[@]}" "list skips non-canonical file names ($out)"
	capture "$VFIOJAIL" status a
	assert_eq "$rc" 2 "status a: \\x61.json is not a"
	assert_contains "$err" "no jail of this name" "status a"
	rm -f "$S/\\x61.json" "$S/my vm.json" "$S/.x.json" "$S/\\x2E.json"
	pass "non-canonical state file names are skipped"

	for name in "${names[@]}"; do
		capture "$VFIOJAIL" teardown -- "$name"
		assert_eq "$rc" 0 "teardown of [$name] ($err)"
	done
	assert_nothing_left "$CG" "$S" "$P"
	! grep -q " nsfs " /proc/self/mountinfo || fail "nsfs binding left"
	pass "teardown removes every escaped entry"

	# run: the VMM in vfiojail-ESC, everything gone after it exits.
	capture "$VFIOJAIL" run "${roots[@]}" --name "run b+x" --user nobody -- "$WORK/probe" --out "$WORK/out/run.json"
	assert_eq "$rc" 0 "run of [run b+x] ($err)"
	assert_eq "$CG2$(jq -r .cgroup "$WORK/out/run.json")" "$CG/vfiojail-run\\x20b\\x2bx" "run: the VMM in vfiojail-run\\x20b\\x2bx"
	assert_nothing_left "$CG" "$S" "$P"
	# --exec: the state stays until teardown.
	capture "$VFIOJAIL" run "${roots[@]}" --exec --name "ex:ü" --user nobody -- "$WORK/probe" --out /dev/null
	assert_eq "$rc" 0 "run --exec of [ex:ü] ($err)"
	[[ -f "$S/ex\\x3aü.json" && -e "$P/ex\\x3aü/link" ]] || fail "run --exec: state or pins of ex\\x3aü missing"
	capture "$VFIOJAIL" teardown "ex:ü"
	assert_eq "$rc" 0 "teardown of [ex:ü] ($err)"
	assert_nothing_left "$CG" "$S" "$P"
	pass "run and run --exec with escaped names"

	# Control characters: JSON has the exact name, text output quotes it.
	evil=$(printf "vm\033[31m\a")
	capture "$VFIOJAIL" setup "${roots[@]}" --name "$evil" --user nobody
	assert_eq "$rc" 0 "setup of a name with control characters ($err)"
	assert_eq "$out" "\"vm\\x1b[31m\\x07\"" "setup prints the name quoted"
	[[ -d "$CG/vfiojail-vm\\x1b\\x5b31m\\x07" ]] || fail "no cgroup vfiojail-vm\\x1b\\x5b31m\\x07: $(ls "$CG")"
	capture "$VFIOJAIL" status "$evil" --json
	assert_eq "$(jq -r .name <<<"$out")" "$evil" "status --json: the exact name"
	capture "$VFIOJAIL" status "$evil"
	no_raw_controls "$out" "status"
	assert_contains "$out" "\"vm\\x1b[31m\\x07\" (setup)" "status quotes the name"
	capture "$VFIOJAIL" list
	no_raw_controls "$out" "list"
	assert_contains "$out" "\"vm\\x1b[31m\\x07\"" "list quotes the name"
	capture "$VFIOJAIL" list --json
	assert_eq "$(jq -r ".jails[0].name" <<<"$out")" "$evil" "list --json: the exact name"
	capture "$VFIOJAIL" setup "${roots[@]}" --name "$evil" --user nobody
	assert_eq "$rc" 2 "the same name again"
	no_raw_controls "$err" "the error"
	assert_contains "$err" "state: \"vm\\x1b[31m\\x07\": " "the error quotes the name"
	capture "$VFIOJAIL" status "${evil}2"
	assert_eq "$rc" 2 "status of an unknown name"
	no_raw_controls "$err" "the error"
	capture "$VFIOJAIL" teardown "$evil"
	assert_eq "$rc" 0 "teardown ($err)"
	# gc prints what it removed quoted: a jail whose launcher is gone.
	( "$VFIOJAIL" setup "${roots[@]}" --name "$evil" --user nobody >/dev/null; true )
	capture "$VFIOJAIL" gc
	assert_eq "$rc" 0 "gc ($err)"
	assert_eq "$out" "removed \"vm\\x1b[31m\\x07\"" "gc quotes the name"
	assert_nothing_left "$CG" "$S" "$P"
	pass "control characters: exact in JSON, quoted in text"
}
in_container gpu-iommufd any_name
