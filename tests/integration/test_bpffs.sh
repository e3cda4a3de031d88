#!/usr/bin/env bash
# Hosts without a usable bpffs at /sys/fs/bpf: none mounted (minimal hosts, many
# containers), or a read-only one. run, setup, enter, attach, detach, status and teardown
# all work: vfiojail pins its filters in a bpffs instance of its own at STATE_DIR/bpffs,
# mounted while a jail needs it and unmounted with the last one. The filter holds (EPERM)
# and nothing is left, that mount included.
source "$(dirname "$0")/lib.sh"

bpffs_tests() {
	gpu_host_vm1
	mkdir -m 0755 "$WORK/foreign"
	mknod -m 0666 "$WORK/foreign/loop-control" c 10 237
	own=/run/vfiojail/bpffs
	no_own_mount() { ! grep -q " $own " /proc/self/mountinfo || fail "$1: $own is still mounted"; }

	for env in none read-only; do
		umount /sys/fs/bpf
		if [[ $env == none ]]; then
			mount -t tmpfs -o mode=0700 tmpfs /sys/fs/bpf # hides any bpffs of the host
		else
			mount -t bpf -o ro,mode=0700 bpf /sys/fs/bpf
		fi
		capture "$VFIOJAIL" check
		assert_contains "$out" "PASS  bpffs: /sys/fs/bpf is not a writable bpf filesystem" "check ($env)"

		capture "$VFIOJAIL" run "${roots[@]}" "${vm[@]}" -- "$WORK/probe" --open "$WORK/foreign/loop-control" --out "$WORK/out/r.json"
		assert_eq "$rc" 0 "run with $env bpffs ($err)"
		assert_eq "$(jq -r ".opens[0].error" "$WORK/out/r.json")" EPERM "the filter holds ($env)"
		no_own_mount "after run ($env)"

		capture "$VFIOJAIL" setup "${roots[@]}" "${vm[@]}"
		assert_eq "$rc" 0 "setup with $env bpffs ($err)"
		[[ -d $own/vfiojail/vm1 ]] || fail "no pins in $own ($env)"
		assert_eq "$(jq -r .bpf_pin /run/vfiojail/vm1.json)" "$own/vfiojail/vm1" "the state records where the pins are"
		capture "$VFIOJAIL" attach vm1 --device /dev/net/tun
		assert_eq "$rc" 0 "attach ($env) ($err)"
		capture "$VFIOJAIL" status vm1
		assert_eq "$rc" 0 "status ($env) ($out)"
		capture "$VFIOJAIL" enter vm1 -- "$WORK/probe" --open "$WORK/foreign/loop-control" --out "$WORK/out/e.json"
		assert_eq "$(jq -r ".opens[0].error" "$WORK/out/e.json")" EPERM "the filter holds after attach ($env)"
		capture "$VFIOJAIL" detach vm1 --device /dev/net/tun
		assert_eq "$rc" 0 "detach ($env) ($err)"
		capture "$VFIOJAIL" teardown vm1
		assert_eq "$rc" 0 "teardown ($env) ($err)"
		no_own_mount "after teardown ($env)"
		[[ ! -e $own ]] || fail "$own left ($env)"
		assert_nothing_left "$CG" /run/vfiojail /sys/fs/bpf/vfiojail
		umount /sys/fs/bpf
		mount -t bpf bpf /sys/fs/bpf
		pass "$env bpffs at /sys/fs/bpf: run, setup, attach, status, detach, teardown; nothing left"
	done
}
in_container gpu-iommufd bpffs_tests
