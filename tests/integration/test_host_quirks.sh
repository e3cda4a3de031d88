#!/usr/bin/env bash
# Smaller things real hosts do: a launcher's device program attached to a parent cgroup
# without BPF_F_ALLOW_MULTI (libvirt's is) blocks ours, and the error says so instead of
# blaming capabilities; cgroup.max.descendants reached gets a hint; list keeps its columns
# for long names. Nothing is left.
source "$(dirname "$0")/lib.sh"
command -v bpftool >/dev/null || skip "bpftool is needed to attach an exclusive program"

host_quirks_tests() {
	iommu_answers_enotty
	roots=(--sysfs-root "$HOST/sys" --dev-root "$HOST/dev" --iommufd-accounting=best-effort)
	vm=(--user nobody --memory 1GiB --memlock-hard-limit 4MiB)
	rel=${CG#"$CG2"}

	# A device program of someone else on a parent, attached exclusively (no flags).
	"$VFIOJAIL" setup "${roots[@]}" "${vm[@]}" --name donor >/dev/null
	id=$(bpftool cgroup show "$CG/vfiojail-donor" | awk "/device/ { print \$1; exit }")
	[[ -n "$id" ]] || fail "no program on the donor jail"
	mkdir "$CG/excl"
	bpftool cgroup attach "$CG/excl" device id "$id"
	on_exit "bpftool cgroup detach \"$CG/excl\" device id $id 2>/dev/null; rmdir \"$CG/excl\" 2>/dev/null"
	capture "$VFIOJAIL" run "${roots[@]}" "${vm[@]}" --name vm1 --cgroup-parent "$rel/excl" -- "$WORK/probe" --out /dev/null
	assert_eq "$rc" 125 "run below an exclusive device program ($err)"
	assert_contains "$err" "without BPF_F_ALLOW_MULTI" "the error names the cause"
	assert_contains "$err" "$CG/excl" "the error names the cgroup"
	[[ "$err" != *CAP_SYS_ADMIN* ]] || fail "the error blames capabilities: $err"
	bpftool cgroup detach "$CG/excl" device id "$id"
	rmdir "$CG/excl"
	pass "an exclusive device program above: $(head -1 <<<"$err")"

	# cgroup.max.descendants reached.
	mkdir "$CG/full"
	echo 0 >"$CG/full/cgroup.max.descendants"
	capture "$VFIOJAIL" run "${roots[@]}" "${vm[@]}" --name vm1 --cgroup-parent "$rel/full" -- "$WORK/probe" --out /dev/null
	assert_eq "$rc" 125 "run below a full cgroup ($err)"
	assert_contains "$err" "cgroup.max.descendants" "the hint names the limit"
	rmdir "$CG/full"
	pass "cgroup.max.descendants reached: the hint says so"

	# list: a long name keeps the columns.
	long=vm-with-a-rather-long-name-as-launchers-like-to-make-them-01
	"$VFIOJAIL" setup "${roots[@]}" "${vm[@]}" --name "$long" >/dev/null
	capture "$VFIOJAIL" list
	echo "$out"
	cols=$(awk "{ print index(\$0, \$2) }" <<<"$out" | sort -u | wc -l)
	assert_eq "$cols" 1 "the KIND column starts at one offset on every line"
	assert_contains "$out" "$long setup" "the long name is whole"
	"$VFIOJAIL" teardown "$long" >/dev/null
	"$VFIOJAIL" teardown donor >/dev/null
	assert_nothing_left "$CG" /run/vfiojail /sys/fs/bpf/vfiojail
	pass "list keeps its columns for a long name"
}
in_container gpu-iommufd host_quirks_tests
