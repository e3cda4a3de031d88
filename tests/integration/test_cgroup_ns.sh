#!/usr/bin/env bash
# Kubernetes-like pods: each its own cgroup namespace over the host's cgroup2 mount (its
# mountinfo root reads "/../..": the mount was made outside the namespace). The VM's cgroup
# is made below the pod's own cgroup, as seen through that mount, never at the host's
# cgroup root; two pods may use the same VM name. Nothing is left.
source "$(dirname "$0")/lib.sh"

cgroup_ns_tests() {
	iommu_answers_enotty
	mkdir -m 0700 /run/bpf2
	mount -t bpf bpf /run/bpf2
	for n in 1 2; do
		mkdir "$CG/pod$n"
		mkdir -m 0700 "/run/state$n"
		POD=$n bash -c "echo \$\$ >$CG/pod$n/cgroup.procs; exec unshare --cgroup bash $VJ_SOURCE_ROOT/tests/integration/pod_in_cgroup_ns.sh"
	done
	[[ -z "$(find "$CG2" -maxdepth 1 -name vfiojail-vm1)" ]] || fail "a VM cgroup at the host cgroup root"
	pass "two pods with their own cgroup namespaces: each VM cgroup below its pod, one name twice"
	for n in 1 2; do
		extra=(--state-dir /run/state$n)
		[[ $n == 2 ]] && extra+=(--bpffs /run/bpf2)
		capture "$VFIOJAIL" teardown vm1 "${extra[@]}"
		assert_eq "$rc" 0 "teardown of vm1 of pod $n ($err)"
		[[ ! -d "$CG/pod$n/vfiojail-vm1" ]] || fail "the VM cgroup of pod $n is left"
		rmdir "$CG/pod$n" /run/state$n
	done
	umount /run/bpf2
	assert_nothing_left "$CG" /run/vfiojail /sys/fs/bpf/vfiojail
	pass "teardown from outside the pods removes both; nothing left"
}
in_container gpu-iommufd cgroup_ns_tests
