#!/usr/bin/env bash
# Helper of test_cgroup_ns.sh: a pod, run by unshare --cgroup in its own cgroup $CG/podN.
# Plans, sets up and enters vm1 from inside the cgroup namespace. POD=N, CG, CG_REL, WORK,
# HOST and VFIOJAIL come from the test.
source "$VJ_SOURCE_ROOT/tests/integration/lib.sh"
: "${POD:?}" "${CG:?}" "${WORK:?}" "${HOST:?}"
roots=(--sysfs-root "$HOST/sys" --dev-root "$HOST/dev" --iommufd-accounting=best-effort)
vm=(--name vm1 --user nobody --memory 1GiB --hostdev 0009:06:00.0 --memlock-hard-limit 4MiB)
mine=(--state-dir "/run/state$POD")
[[ $POD == 2 ]] && mine+=(--bpffs /run/bpf2)

assert_eq "$(grep "^0::" /proc/self/cgroup)" "0::/" "the pod sees its cgroup namespace's root"
root=$(awk '$9 == "cgroup2" { print $4; exit }' /proc/self/mountinfo)
[[ "$root" == /..* ]] || fail "the cgroup2 mount's root in the pod is $root, not above the namespace"
capture "$VFIOJAIL" plan "${roots[@]}" "${vm[@]}" "${mine[@]}" --json
assert_eq "$rc" 0 "plan in pod $POD ($err)"
assert_eq "$(jq -r .cgroup <<<"$out")" "$CG/pod$POD/vfiojail-vm1" "the VM cgroup of pod $POD"
capture "$VFIOJAIL" setup "${roots[@]}" "${vm[@]}" "${mine[@]}"
assert_eq "$rc" 0 "setup in pod $POD ($err)"
[[ -d "$CG/pod$POD/vfiojail-vm1" ]] || fail "no VM cgroup below pod $POD"
capture "$VFIOJAIL" enter vm1 "${mine[@]}" -- /bin/sh -c 'grep "^0::" /proc/self/cgroup'
assert_eq "$rc" 0 "enter in pod $POD ($err)"
assert_eq "$out" "0::/vfiojail-vm1" "the VMM's cgroup, as the pod sees it"
pass "pod $POD: plan, setup and enter put vm1 below the pod's cgroup"
