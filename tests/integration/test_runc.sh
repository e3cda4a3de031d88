#!/usr/bin/env bash
# vfiojail inside a real container made by Debian's runc, shaped as Docker and Kubernetes
# make them: /dev a tmpfs with ptmx -> pts/ptmx and the container's own devpts, /sys
# read-only with no bpffs, a private /run, a cgroup namespace with the host's cgroup2
# mounted in (its root reads "/.."), cgroup v1 controllers beside it. Inside: check passes
# what matters, plan puts the VM's cgroup below the container's own, run jails a VMM
# (a pseudo-terminal opens, an unplanned node gives EPERM), setup, status and teardown
# work with vfiojail's own bpffs; nothing is left inside or outside.
source "$(dirname "$0")/lib.sh"
command -v runc >/dev/null || skip "runc is not installed"
[[ -n "$CG2" ]] || skip "no cgroup2 mount"

make_host gpu-iommufd
cp "$PROBE" "$WORK/probe"
chmod 0755 "$WORK/probe"
mkdir -m 0777 "$WORK/out"
bundle=$WORK/bundle
id=vfiojail-runc-test.$$
cgpath=/$id
mkdir -p "$bundle/rootfs"
for d in bin sbin lib lib64; do ln -s "usr/$d" "$bundle/rootfs/$d"; done
cat >"$WORK/inside.sh" <<'INSIDE'
set -u
V=$VFIOJAIL
out=/out
vm=(--name c1 --user nobody --memory 64MiB --memlock-hard-limit 4MiB)
[[ -x "$V" ]] || { echo "no $V in the container" >$out/check.txt; exit 1; }
"$V" check >$out/check.txt 2>&1
"$V" plan "${vm[@]}" --json >$out/plan.json 2>$out/plan.err; echo $? >$out/plan.rc
mknod -m 0666 /tmp/loop-control c 10 237
"$V" run "${vm[@]}" -- /probe --open /dev/ptmx --open /dev/null --open /tmp/loop-control \
	--out $out/run.json 2>$out/run.err; echo $? >$out/run.rc
"$V" setup --name c2 --user nobody --memory 64MiB --memlock-hard-limit 4MiB >/dev/null 2>$out/setup.err; echo $? >$out/setup.rc
grep " /run/vfiojail/bpffs " /proc/self/mountinfo >$out/own-bpffs.txt
"$V" status c2 >$out/status.txt 2>&1; echo $? >$out/status.rc
"$V" teardown c2 2>$out/teardown.err; echo $? >$out/teardown.rc
grep -c " /run/vfiojail" /proc/self/mountinfo >$out/mounts-left.txt
ls -A /run/vfiojail >$out/state-left.txt 2>/dev/null
exit 0
INSIDE
chmod 0755 "$WORK/inside.sh"

caps='["CAP_CHOWN","CAP_DAC_OVERRIDE","CAP_DAC_READ_SEARCH","CAP_FOWNER","CAP_FSETID","CAP_KILL","CAP_SETGID","CAP_SETUID","CAP_SETPCAP","CAP_SYS_CHROOT","CAP_SYS_PTRACE","CAP_SYS_ADMIN","CAP_MKNOD","CAP_BPF","CAP_PERFMON"]'
(cd "$bundle" && runc spec)
jq --argjson caps "$caps" --arg src "$VJ_SOURCE_ROOT" --arg build "$VJ_BUILD_ROOT" --arg work "$WORK" \
	--arg cg2 "$CG2" --arg cgpath "$cgpath" --arg vfiojail "$VFIOJAIL" '
	.process.terminal = false
	| .process.args = ["/bin/bash", "/inside.sh"]
	| .process.env += ["VFIOJAIL=" + $vfiojail]
	| .process.capabilities = { bounding: $caps, effective: $caps, permitted: $caps }
	| .root = { path: "rootfs", readonly: true }
	| .mounts += [
		{ destination: "/tmp", type: "tmpfs", source: "tmpfs", options: ["nosuid", "mode=1777"] },
		{ destination: "/usr", type: "bind", source: "/usr", options: ["rbind", "ro"] },
		{ destination: "/etc", type: "bind", source: "/etc", options: ["rbind", "ro"] },
		{ destination: $src, type: "bind", source: $src, options: ["rbind", "ro"] },
		{ destination: $build, type: "bind", source: $build, options: ["rbind", "ro"] },
		{ destination: "/probe", type: "bind", source: ($work + "/probe"), options: ["bind", "ro"] },
		{ destination: "/inside.sh", type: "bind", source: ($work + "/inside.sh"), options: ["bind", "ro"] },
		{ destination: "/out", type: "bind", source: ($work + "/out"), options: ["bind", "rw"] },
		{ destination: "/run", type: "tmpfs", source: "tmpfs", options: ["nosuid", "nodev", "mode=755"] },
		{ destination: $cg2, type: "bind", source: $cg2, options: ["rbind", "rw"] } ]
	| .linux.maskedPaths = [] | .linux.readonlyPaths = []
	| .linux.cgroupsPath = $cgpath
	| .linux.resources = { devices: [ { allow: true, access: "rwm" } ] }
	| .linux.namespaces = [ { type: "pid" }, { type: "ipc" }, { type: "uts" }, { type: "mount" }, { type: "cgroup" } ]
	| del(.linux.seccomp)' "$bundle/config.json" >"$bundle/config.new"
mv "$bundle/config.new" "$bundle/config.json"
on_exit "runc delete -f $id >/dev/null 2>&1"
capture timeout 120 runc run --bundle "$bundle" "$id"
assert_eq "$rc" 0 "runc run ($err)"
o=$WORK/out

check=$(cat "$o/check.txt")
echo "$check"
assert_contains "$check" "PASS  cgroup2: mounted at $CG2" "check in the container: cgroup2"
assert_contains "$check" "PASS  bpffs: /sys/fs/bpf is not a writable bpf filesystem" "check: bpffs (vfiojail's own)"
assert_contains "$check" "PASS  state dir" "check: state dir"
assert_eq "$(cat "$o/plan.rc")" 0 "plan in the container ($(cat "$o/plan.err"))"
assert_eq "$(jq -r .cgroup "$o/plan.json")" "$CG2$cgpath/vfiojail-c1" "the VM's cgroup is below the container's own"
assert_eq "$(jq -r "[.nodes[].path | select(. == \"/dev/ptmx\")] | length" "$o/plan.json")" 0 "no /dev/ptmx node: the container's is a link"
pass "runc container: check, and plan puts the VM below the container's cgroup"

assert_eq "$(cat "$o/run.rc")" 0 "run in the container ($(cat "$o/run.err"))"
r=$(cat "$o/run.json")
assert_eq "$(jq -r ".opens | map(.error // \"ok\") | join(\" \")" <<<"$r")" "ok ok EPERM" "ptmx and null open, the unplanned node is refused"
assert_eq "$(jq -r ".dev[] | select(.path == \"/dev/ptmx\") | .link" <<<"$r")" pts/ptmx "the jail's /dev/ptmx"
assert_eq "$(jq -r .uid <<<"$r")" 65534 "the VMM runs as nobody"
pass "runc container: run jails a VMM; a pseudo-terminal opens, EPERM outside the plan"

assert_eq "$(cat "$o/setup.rc")" 0 "setup in the container ($(cat "$o/setup.err"))"
[[ -s "$o/own-bpffs.txt" ]] || fail "no bpffs of vfiojail's own at /run/vfiojail/bpffs in the container"
assert_eq "$(cat "$o/status.rc")" 0 "status in the container ($(cat "$o/status.txt"))"
assert_eq "$(cat "$o/teardown.rc")" 0 "teardown in the container ($(cat "$o/teardown.err"))"
assert_eq "$(cat "$o/mounts-left.txt")" 0 "no vfiojail mount left in the container"
assert_eq "$(cat "$o/state-left.txt")" "" "no state left in the container"
runc delete -f "$id" >/dev/null 2>&1 || true
[[ ! -d "$CG2$cgpath" ]] || fail "the container's cgroup is left: $CG2$cgpath"
left=$(find /sys/fs/bpf -path "*vfiojail*" 2>/dev/null || true)
[[ -z "$left" ]] || fail "pins left on the host: $left"
pass "runc container: setup, status, teardown with vfiojail's own bpffs; nothing left inside or outside"
