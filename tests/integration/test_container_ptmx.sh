#!/usr/bin/env bash
# A host shaped like a container (Docker, Podman, LXC, a Kubernetes pod): /dev/ptmx is a
# symlink to pts/ptmx, /dev/pts is the container's own devpts instance (ptmxmode=0666),
# and /sys is read-only. plan, run and setup work there; the jail's /dev/ptmx leads into
# its kept /dev/pts as the host's does; the filter allows the multiplexer (5:2), and a
# pseudo-terminal opens in the jail. Nothing is left.
source "$(dirname "$0")/lib.sh"

container_ptmx_tests() {
	iommu_answers_enotty
	umount "$HOST/dev/pts"
	mount -t devpts -o newinstance,ptmxmode=0666,mode=0620 devpts "$HOST/dev/pts"
	rm "$HOST/dev/ptmx"
	ln -s pts/ptmx "$HOST/dev/ptmx"
	mount --bind "$HOST/sys" "$HOST/sys"
	mount -o remount,bind,ro "$HOST/sys"
	roots=(--sysfs-root "$HOST/sys" --dev-root "$HOST/dev" --iommufd-accounting=best-effort)
	vm=(--name vm1 --user nobody --memory 1GiB --hostdev 0009:06:00.0 --memlock-hard-limit 4MiB)

	capture "$VFIOJAIL" plan "${roots[@]}" "${vm[@]}" --json
	assert_eq "$rc" 0 "plan with /dev/ptmx a symlink ($err)"
	assert_eq "$(jq -r "[.nodes[].path | select(. == \"/dev/ptmx\")] | length" <<<"$out")" 0 "no /dev/ptmx node is planned"
	assert_contains "$(jq -r ".rules[] | select(.major == 5 and .minor == 2) | .reason" <<<"$out")" "pts/ptmx" "the multiplexer's rule"
	pass "plan: /dev/ptmx -> pts/ptmx, rule c 5:2"

	capture "$VFIOJAIL" run "${roots[@]}" "${vm[@]}" -- "$WORK/probe" --open /dev/ptmx --open /dev/pts/ptmx \
		--out "$WORK/out/report.json"
	assert_eq "$rc" 0 "run with /dev/ptmx a symlink ($err)"
	r=$(cat "$WORK/out/report.json")
	assert_eq "$(jq -r ".dev[] | select(.path == \"/dev/ptmx\") | .link" <<<"$r")" pts/ptmx "the jail's /dev/ptmx"
	assert_eq "$(jq -r ".opens | map(.error // \"ok\") | join(\" \")" <<<"$r")" "ok ok" "a pseudo-terminal opens in the jail"
	assert_nothing_left "$CG" /run/vfiojail /sys/fs/bpf/vfiojail
	pass "run: a pseudo-terminal opens through /dev/ptmx in the jail"

	capture "$VFIOJAIL" setup "${roots[@]}" "${vm[@]}"
	assert_eq "$rc" 0 "setup with /dev/ptmx a symlink ($err)"
	capture "$VFIOJAIL" enter vm1 -- "$WORK/probe" --open /dev/ptmx --out "$WORK/out/enter.json"
	assert_eq "$rc" 0 "enter ($err)"
	assert_eq "$(jq -r ".opens[0].error // \"ok\"" "$WORK/out/enter.json")" ok "ptmx opens after enter"
	capture "$VFIOJAIL" teardown vm1
	assert_eq "$rc" 0 "teardown ($err)"
	assert_nothing_left "$CG" /run/vfiojail /sys/fs/bpf/vfiojail
	pass "setup, enter, teardown with /dev/ptmx a symlink"
}
in_container gpu-iommufd container_ptmx_tests
