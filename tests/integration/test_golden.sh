#!/usr/bin/env bash
# The user-visible output of plan (table and --json), derive and cdi over every
# spec in tests/specs and docs/examples and every domain in tests/fixtures/libvirt, on
# each fixture host, byte for byte against tests/golden/ (stdout, stderr and the exit
# status of each command).  A refactor that changes a table column, a JSON key or an
# error's words fails here, naming the case.  (check is left out: what it reports is
# this machine's kernel, not the fixtures.)  After a deliberate change:
#   VJ_GOLDEN_UPDATE=1 meson test -C build test_golden
# writes tests/golden/ anew; review the diff before committing it.
source "$(dirname "$0")/lib.sh"

golden="$VJ_SOURCE_ROOT/tests/golden"
fx="$VJ_FIXTURES/libvirt"
out_dir=$(mktemp -d /tmp/vfiojail-golden.XXXXXX)
on_exit "rm -rf '$out_dir'"

# One case: its stdout, its stderr and its exit status in one file, the temp paths
# and this machine's ids of nobody written as placeholders.  Each runs with an 8 MiB
# memlock hard limit and without CAP_SYS_RESOURCE, so that plan's warning about
# this process's own limit reads the same on every machine.
nobody_ids=("$(id -u nobody)" "$(id -g nobody)")
case_out() { # NAME -- command...
	local name=$1 o e rc
	shift 2
	o=$(mktemp) e=$(mktemp)
	set +e
	(
		ulimit -l 8192 2>/dev/null || true
		exec setpriv --bounding-set -sys_resource --inh-caps -sys_resource -- "$@"
	) >"$o" 2>"$e"
	rc=$?
	set -e
	{
		cat "$o"
		echo "--- stderr"
		cat "$e"
		echo "--- exit $rc"
	} | sed -e "s|$WORK|@WORK@|g" -e "s|$fx|@LIBVIRT@|g" -e "s|$VJ_SOURCE_ROOT|@SRC@|g" \
		-e "s|\\b${nobody_ids[0]}:${nobody_ids[1]}\\b|@NOBODY@|g" \
		-e "s|\"uid\": ${nobody_ids[0]}\\b|\"uid\": @UID@|g" \
		-e "s|\"gid\": ${nobody_ids[1]}\\b|\"gid\": @GID@|g" \
		-e "s|\\b${nobody_ids[0]} ${nobody_ids[1]}\\b|@NOBODY@|g" >"$out_dir/$name"
	rm -f "$o" "$e"
}

specs=("$VJ_SOURCE_ROOT"/tests/specs/*.json "$VJ_SOURCE_ROOT"/docs/examples/*.json)
hosts=(gpu-iommufd group-shared legacy-only no-cdev broken)
for h in "${hosts[@]}"; do
	make_host "$h"
	mkdir -p "$WORK/proc/self"
	echo "30 23 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw" \
		>"$WORK/proc/self/mountinfo"
	echo "0::/machine.slice" >"$WORK/proc/self/cgroup"
	roots=(--sysfs-root "$HOST/sys" --dev-root "$HOST/dev" --proc-root "$WORK/proc")
	for s in "${specs[@]}"; do
		b=$(basename "$s" .json)
		case_out "plan-$h-$b.txt" -- "$VFIOJAIL" plan "$s" "${roots[@]}"
		case_out "plan-$h-$b.json" -- "$VFIOJAIL" plan "$s" --json "${roots[@]}"
	done
	for x in "$fx"/*.xml; do
		b=$(basename "$x" .xml)
		case_out "derive-$h-$b.json" -- "$VFIOJAIL" derive --from libvirt --user 64055 --group 107 \
			--sysfs-root "$HOST/sys" --dev-root "$HOST/dev" "$x"
	done
	# The derived GPU domain, planned: the table shows the legacy group and vIOMMU.
	"$VFIOJAIL" derive --from libvirt --sysfs-root "$HOST/sys" --dev-root "$HOST/dev" \
		"$fx/derive-gpu.xml" >"$WORK/derived.json" 2>/dev/null || true
	case_out "plan-$h-derived-gpu.txt" -- "$VFIOJAIL" plan "$WORK/derived.json" "${roots[@]}"
	case_out "plan-$h-derived-gpu.json" -- "$VFIOJAIL" plan "$WORK/derived.json" --json "${roots[@]}"
done

# Flags instead of a file, on the GPU host: every plan field that a spec file above
# leaves at its default (memlock modes, nvme, vdpa, migration, bridges, groups).
make_host gpu-iommufd
mkdir -p "$WORK/proc/self"
echo "30 23 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw" \
	>"$WORK/proc/self/mountinfo"
echo "0::/machine.slice" >"$WORK/proc/self/cgroup"
roots=(--sysfs-root "$HOST/sys" --dev-root "$HOST/dev" --proc-root "$WORK/proc")
flags_a=(--name flags-a --user nobody --group nogroup --groups nogroup --memory 4GiB --iommufd a
	--iommufd b --hostdev 0009:06:00.0,iommufd=a --hostdev 0009:06:00.1,iommufd=a
	--hostdev 0009:07:00.0,backend=legacy --viommu 1 --nvme 2 --vdpa 1 --pci-host-bridges 2
	--migration --memlock-extra 1GiB --device /dev/kvm --device /dev/net/tun:rw)
flags_b=(--name flags-b --user nobody --memory 1G --hostdev 0009:06:00.0 --memlock-hard-limit 1MiB)
flags_c=(--name flags-c --user nobody --memory 1G --hostdev 0009:07:00.0 --memlock-unlimited)
flags_d=(--name flags-d --user nobody --memory 2G --iommufd ctx --hostdev 0009:06:00.0,iommufd=ctx,fd=gpu
	--hostdev 0009:06:00.1,iommufd=ctx,fd=audio)
for f in a b c d; do
	eval "args=(\"\${flags_$f[@]}\")"
	case_out "plan-flags-$f.txt" -- "$VFIOJAIL" plan "${args[@]}" "${roots[@]}"
	case_out "plan-flags-$f.json" -- "$VFIOJAIL" plan --json "${args[@]}" "${roots[@]}"
done

# cdi: the CDI spec of the example VM, its hand-off directory under a state dir of ours.
cdi_roots=(--sysfs-root "$HOST/sys" --dev-root "$HOST/dev" --state-dir "$WORK/state")
gpu_vm_spec golden-cdi >"$WORK/cdi-spec.json"
case_out "cdi-spec.json" -- "$VFIOJAIL" cdi "$WORK/cdi-spec.json" "${cdi_roots[@]}" \
	--vfiojail /usr/sbin/vfiojail --timeout 30
printf '{ "claim": { "namespace": "vms", "name": "g", "uid": "0f0e0d0c-0b0a-4908-8706-050403020100" },
  "user": 65534, "group": 65534, "memory": "1GiB",
  "hostdevs": [ { "pci": "0009:06:00.0", "backend": "iommufd" } ] }\n' >"$WORK/alloc.json"
case_out "cdi-allocation.json" -- "$VFIOJAIL" cdi --allocation "$WORK/alloc.json" "${cdi_roots[@]}" \
	--vfiojail /usr/sbin/vfiojail --timeout 30

n=$(find "$out_dir" -type f | wc -l)
if [[ -n "${VJ_GOLDEN_UPDATE:-}" ]]; then
	rm -rf "$golden"
	mkdir -p "$golden"
	cp "$out_dir"/* "$golden"/
	pass "wrote $n golden outputs to $golden"
	exit 0
fi
[[ -d "$golden" ]] || fail "no $golden: run with VJ_GOLDEN_UPDATE=1 first"
if ! d=$(diff -r "$golden" "$out_dir"); then
	fail "output differs from tests/golden ($n cases):
$(head -c 6000 <<<"$d")"
fi
pass "$n outputs of plan, derive, cdi and check match tests/golden byte for byte"
