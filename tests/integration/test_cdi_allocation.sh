#!/usr/bin/env bash
# One call from a DRA driver's NodePrepareResources to the CDI spec: `vfiojail cdi
# --allocation` reads what the driver has (the claim's namespace, name and uid, the
# pod's user and group, the guest's memory, the PCI addresses it allocated from its
# pool) and prints the CDI spec `cdi SPEC` prints for that VM, named claim-UID, its
# hooks running the vfiojail `meson install` installs; the CDI device id the driver
# returns in cdi_device_ids is noted.  The spec is run with runc as a CDI-aware runtime
# applies it.  Bad allocations (malformed JSON, no device, a device the node lacks,
# hostile claim fields, uid 0) exit 2 (125 for the missing device) naming the field,
# print nothing and leave nothing.
source "$(dirname "$0")/lib.sh"
command -v jq >/dev/null || skip "jq is not installed"

gpu_host_for_runtimes
uid=$(cat /proc/sys/kernel/random/uuid)
name=claim-$uid
on_exit "$VFIOJAIL teardown $name >/dev/null 2>&1"
# As the driver writes it: NodePrepareResourcesRequest.claims[i] as it came, the pod's
# securityContext (runAsUser, runAsGroup: nobody here, without a passwd entry needed),
# the memory of the VM it runs, the device its pool allocated (the fixture's GPU).
gpu='[ { "pci": "0009:06:00.0", "backend": "iommufd" } ]'
allocation() { # CLAIM_UID [HOSTDEVS]
	cat <<EOF
{
  "claim": { "namespace": "vms", "name": "gpu-vm-1", "uid": "$1" },
  "user": 65534,
  "group": 65534,
  "memory": "1GiB",
  "hostdevs": ${2:-$gpu}
}
EOF
}
allocation "$uid" >"$WORK/alloc.json"

# The default: hooks run the vfiojail meson installs.
capture "$VFIOJAIL" cdi --allocation "$WORK/alloc.json" "${roots[@]}" --timeout 30
assert_eq "$rc" 0 "cdi --allocation ($err)"
echo "$out" >"$WORK/cdi-default.json"
noted=$err
cq() { jq -r "$1" "$WORK/cdi-default.json"; }
hook=$(cq '.devices[0].containerEdits.hooks[0].path')
capture meson install -C "$VJ_BUILD_ROOT" --destdir "$WORK/dest" --no-rebuild --quiet
assert_eq "$rc" 0 "meson install --destdir ($err)"
installed=$(cd "$WORK/dest" && find . -name vfiojail -type f -perm -u+x | sed 's/^\.//')
assert_eq "$hook" "$installed" "the hooks' default vfiojail is where meson install puts it"
assert_eq "$(cq '.devices[0].containerEdits.hooks[1].path')" "$installed" "the poststop hook's too"
assert_eq "$("$WORK/dest$hook" version)" "$("$VFIOJAIL" version)" "the installed binary is this build"
help=$("$VFIOJAIL" --help)
assert_contains "$help" "--vfiojail: the vfiojail" "--help names --vfiojail"
assert_contains "$help" "(default $installed)" "--help gives the installed default"
assert_contains "$help" "cdi [SPEC | --allocation FILE]" "--help names --allocation"
pass "cdi's hooks default to the installed vfiojail ($installed), as --help says"

# The spec, as the runtime reads it.
assert_eq "$(cq .cdiVersion)/$(cq .kind)/$(cq '.devices | length')/$(cq '.devices[0].name')" \
	"0.3.0/vfiojail.dev/vm/1/$name" "one device, named claim-UID"
assert_eq "$(cq '.kind + "=" + .devices[0].name')" "vfiojail.dev/vm=$name" "the CDI device id from the spec"
assert_contains "$noted" "note: CDI device vfiojail.dev/vm=$name for claim vms/gpu-vm-1: return it in cdi_device_ids" \
	"cdi notes the id the driver returns"
e='.devices[0].containerEdits'
assert_eq "$(cq "$e.env | join(\" \")")" \
	"VFIOJAIL_VM=$name VFIOJAIL_SOCKET=/run/vfiojail-handoff/handoff.sock VFIOJAIL_MEMLOCK=2147483648" "env"
assert_eq "$(cq "[$e.deviceNodes[] | select(.path == \"/dev/vfio/devices/vfio0\" or .path == \"/dev/iommu\")
	| [.path, .type, .fileMode, .permissions, .uid, .gid] | join(\":\")] | join(\" \")")" \
	"/dev/iommu:c:384:rw:65534:65534 /dev/vfio/devices/vfio0:c:384:rw:65534:65534" \
	"the GPU's cdev and /dev/iommu, the pod's user's, mode 0600"
assert_eq "$(cq "$e.mounts | map(.hostPath + \" \" + .containerPath + \" \" + (.options | join(\",\"))) | join(\";\")")" \
	"/run/vfiojail/handoff/$name /run/vfiojail-handoff bind,ro,nosuid,nodev,noexec" "the hand-off mount"
assert_eq "$(cq "$e.hooks | map(.hookName) | join(\" \")")" "createRuntime poststop" "the hooks"
assert_eq "$(cq "$e.hooks[1].args | join(\" \")")" "vfiojail hook poststop --state-dir /run/vfiojail -- $name" \
	"poststop ends the claim's hand-off"
carried=$(cq "$e.hooks[0].args[-1]")
assert_eq "$(jq -c '[.name, .user, .group, .memory, .hostdevs[0].pci]' <<<"$carried")" \
	"[\"$name\",65534,65534,1073741824,\"0009:06:00.0\"]" "createRuntime carries the VM"
[[ -d /run/vfiojail/handoff/$name ]] || fail "no hand-off directory for the claim"

# Exactly what cdi prints from the same VM as a spec; the same claim gives the same VM.
printf '{ "name": "%s", "user": 65534, "group": 65534, "memory": "1GiB",
  "hostdevs": [ { "pci": "0009:06:00.0", "backend": "iommufd" } ] }\n' "$name" >"$WORK/spec.json"
capture "$VFIOJAIL" cdi "$WORK/spec.json" "${roots[@]}" --timeout 30
assert_eq "$rc" 0 "cdi SPEC ($err)"
assert_eq "$out" "$(cat "$WORK/cdi-default.json")" "the allocation's spec is cdi SPEC's"
capture "$VFIOJAIL" cdi --allocation - "${roots[@]}" --timeout 30 < <(allocation "${uid^^}")
assert_eq "$rc/$out" "0/$(cat "$WORK/cdi-default.json")" "the claim again, from stdin, its uid in capitals: the same spec"
pass "cdi --allocation: claim-UID, the nodes, env, mount and hooks of cdi SPEC, stable"

# Bad allocations: exit 2 (the missing device 125), the field named, nothing printed,
# no hand-off directory made.
# (Each names claim-$u2 when it names a claim at all: other runs share /run/vfiojail.)
u2=$(cat /proc/sys/kernel/random/uuid)
bad() { # STATUS WHAT EXPECTED-IN-STDERR  (the allocation on stdin)
	capture "$VFIOJAIL" cdi --allocation - "${roots[@]}"
	assert_eq "$rc" "$1" "$2: status ($err)"
	assert_contains "$err" "$3" "$2: the message"
	assert_eq "$out" "" "$2: nothing on stdout"
	[[ ! -e /run/vfiojail/handoff/claim-$u2 ]] || fail "$2: a hand-off directory was made"
}
on_exit "$VFIOJAIL teardown claim-$u2 >/dev/null 2>&1"
long=$(printf 'a%.0s' $(seq 300))
bad 2 "malformed JSON" "spec: -: line 2: not valid JSON" < <(printf '{ "claim":\n')
bad 2 "not an object" "spec: -: expected a JSON object" <<<'[1]'
bad 2 "no device" "hostdevs: an allocation names at least one PCI device" < <(allocation "$u2" '[]')
bad 2 "no hostdevs" "hostdevs: required" < <(allocation "$u2" | jq 'del(.hostdevs)')
bad 2 "a bad second address" 'hostdevs[1].pci: "0009:6:00.0" is not a PCI address' \
	< <(allocation "$u2" '[ { "pci": "0009:06:00.0" }, { "pci": "0009:6:00.0" } ]')
bad 125 "a device this node lacks" "allocation: hostdevs[1].pci: the allocated device 0000:99:00.0 cannot be given on this node
  caused by: discover: 0000:99:00.0: no such PCI device" \
	< <(allocation "$u2" '[ { "pci": "0009:06:00.0" }, { "pci": "0000:99:00.0" } ]')
bad 2 "a claim name with ../" 'claim.name: "../../etc/passwd" is not a Kubernetes object name' \
	< <(allocation "$u2" | jq '.claim.name = "../../etc/passwd"')
bad 2 "a claim name with a control character" 'claim.name: "vm\x1b[2J" is not a Kubernetes object name' \
	< <(allocation "$u2" | jq '.claim.name = "vm\u001b[2J"')
bad 2 "a claim name of 300 bytes" "claim.name: \"${long:0:64}\"... is 300 bytes, longer than Kubernetes allows (253)" \
	< <(allocation "$u2" | jq --arg n "$long" '.claim.name = $n')
bad 2 "a namespace with /" 'claim.namespace: "vms/../x" is not a Kubernetes namespace' \
	< <(allocation "$u2" | jq '.claim.namespace = "vms/../x"')
bad 2 "a uid that is a path" 'claim.uid: "../../run" is not a Kubernetes uid' \
	< <(allocation "../../run")
bad 2 "no uid" "claim.uid: required" < <(allocation "$u2" | jq 'del(.claim.uid)')
bad 2 "a claim and a name" "claim: give claim (a DRA driver's) or name (a device plugin's), not both" \
	< <(allocation "$u2" | jq '.name = "vm1"')
bad 2 "uid 0" 'user: "0" is uid 0: the VM user must not be root' < <(allocation "$u2" | jq '.user = 0')
bad 2 "an unknown key" 'unknown key "pod"' < <(allocation "$u2" | jq '.pod = { "uid": "x" }')
capture "$VFIOJAIL" cdi --allocation "$WORK/alloc.json" "$WORK/spec.json" "${roots[@]}"
assert_eq "$rc/$out" "2/" "--allocation and a SPEC ($err)"
capture "$VFIOJAIL" plan --allocation "$WORK/alloc.json" "${roots[@]}"
assert_eq "$rc/$out" "2/" "--allocation is cdi's alone ($err)"
[[ ! -e /run/vfiojail/handoff/claim-$u2 ]] || fail "a refused allocation made a hand-off directory"
pass "bad allocations are refused naming the field, print nothing and leave nothing"

# A device plugin's Allocate has no claim: it names the VM.
capture "$VFIOJAIL" cdi --allocation - "${roots[@]}" < <(allocation "$u2" | jq 'del(.claim) | .name = "dp-'"$$"'"')
on_exit "$VFIOJAIL teardown dp-$$ >/dev/null 2>&1"
assert_eq "$rc/$(jq -r .devices[0].name <<<"$out")" "0/dp-$$" "a device plugin's allocation ($err)"
assert_contains "$err" "note: CDI device vfiojail.dev/vm=dp-$$: return it in CDIDevices" "the id for Allocate"
capture "$VFIOJAIL" teardown "dp-$$"
pass "a device plugin's allocation names its VM"

# The spec runs: runc with its edits and hooks, as a CDI-aware runtime applies them.
command -v runc >/dev/null || skip "runc is not installed: the spec from the allocation was not run"
[[ -n "$CG2" ]] || skip "no cgroup2 mount: the spec from the allocation was not run"
# Root here cannot raise a hard RLIMIT_MEMLOCK past 8 MiB: the allocation sets the
# limit (a field of the spec's) where the plan's 2 GiB is what a node would give.
jq '.memlock = { "hard_limit": "4MiB" }' "$WORK/alloc.json" >"$WORK/alloc-run.json"
capture "$VFIOJAIL" cdi --allocation "$WORK/alloc-run.json" "${roots[@]}" --timeout 30 --vfiojail "$VFIOJAIL"
assert_eq "$rc" 0 "cdi --allocation --vfiojail ($err)"
echo "$out" >"$WORK/cdi.json"
assert_eq "$(jq -r '.devices[0].containerEdits.hooks | map(.path) | unique | join(" ")' "$WORK/cdi.json")" \
	"$VFIOJAIL" "--vfiojail names the hooks' vfiojail"
id=vfiojail-alloc-test.$$
runc_bundle_from_cdi "$WORK/cdi.json" "$WORK/bundle" "/$id"
on_exit "runc delete -f $id >/dev/null 2>&1"
capture timeout 120 runc run --bundle "$WORK/bundle" "$id" </dev/null
assert_eq "$rc" 0 "runc run with the allocation's CDI spec ($err; $(cat "$WORK/out/launch.err" 2>/dev/null); $(cat "/run/vfiojail/handoff/$name.log" 2>/dev/null))"
r() { jq -r "$1" "$WORK/out/r.json"; }
assert_eq "$(r '[.uid, .gid] | join(" ")')" "65534 65534" "the VMM runs as the pod's user"
assert_eq "$(r '[.memlock.soft, .memlock.hard] | join(" ")')" "4194304 4194304" \
	"RLIMIT_MEMLOCK from the createRuntime hook (runc gives 8 MiB here)"
assert_eq "$(r '.fds | join(" ")')" "0 1 2 3" "the context from the hand-off on fd 3"
assert_eq "$(r '.opens | map(.error // "ok") | join(" ")')" "ENXIO EPERM" \
	"the allocated GPU's cdev is allowed (the fixture's driver answers ENXIO), an unlisted node is EPERM"
runc delete -f "$id" >/dev/null 2>&1 || true
capture "$VFIOJAIL" teardown "$name"
assert_eq "$rc" 0 "teardown ($err)"
[[ ! -e /run/vfiojail/handoff/$name && ! -e /run/vfiojail/handoff/$name.pid && ! -d $CG2/$id ]] ||
	fail "the claim's VM is left"
pass "runc runs the allocation's spec: the pod's user, memlock, the context on fd 3; teardown leaves nothing"
