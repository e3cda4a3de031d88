#!/usr/bin/env bash
# The contexts alone: root's `vfiojail serve`, an unprivileged `vfiojail contexts NAME --
# CMD` (for a launcher that starts the VMM itself and takes the /dev/iommu fd from its
# caller: session libvirt's fdgroup).  The VM's user gets the spec's iommufd contexts at
# fds 3.. (after its preserved fds; @fd:ID@ and VFIOJAIL_FD_<ID>) and CMD runs as it
# would without vfiojail: same pid, its own cgroup, memlock limits and privileges (no
# no_new_privs); the service makes no state, cgroup or pin, and logs the grant.  Every
# refusal of launch applies, plus a VM with no iommufd context; contexts work while the
# VM's launched jail runs, and a client that dies before its answer leaves nothing.
source "$(dirname "$0")/lib.sh"

contexts_service() {
	serve_fixture
	log() { cat "$WORK/serve.log"; }
	echo launcher >"$WORK/in3"
	mkdir "$CG/caller"

	# The VM user asks for vm1's contexts and runs the probe with them, after its one
	# preserved fd, from a cgroup of its own and under memlock limits of its own.
	capture bash -c "echo \$\$ >\"\$1/cgroup.procs\" && exec prlimit --memlock=1048576:2097152 setpriv --reuid=nobody --regid=nogroup --init-groups -- \"\$0\" contexts vm1 --socket \"\$2\" --preserve-fds 1 -- \"\$3\" --out \"\$4\" --env VFIOJAIL_FD_IOMMUFD0 --open /dev/null -object iommufd,id=iommufd0,fd=@fd:iommufd0@ 3<\"\$5\"" \
		"$VFIOJAIL" "$CG/caller" "$sock" "$WORK/probe" "$WORK/out/r.json" "$WORK/in3"
	assert_eq "$rc" 0 "contexts ($err; $(log))"
	assert_eq "$(rq "[.uid, .euid, .suid] | join(\" \")")" "65534 65534 65534" "the command runs as the caller"
	assert_eq "$(rq ".fds | join(\" \")")" "0 1 2 3 4" "fds: stdio, the preserved one, the context"
	assert_eq "$(rq .env.VFIOJAIL_FD_IOMMUFD0)/$(rq ".argv[-1]")" "4/iommufd,id=iommufd0,fd=4" "the context after the preserved fd"
	assert_eq "$CG2$(rq .cgroup)" "$CG/caller" "the command stays in the caller's cgroup"
	assert_eq "$(rq .memlock.soft)/$(rq .memlock.hard)" 1048576/2097152 "the caller's RLIMIT_MEMLOCK, unchanged (the plan's is 4 MiB)"
	assert_eq "$(rq .no_new_privs)" 0 "no no_new_privs: the command runs as it would without vfiojail"
	rmdir "$CG/caller"
	assert_contains "$(log)" "VM vm1: 1 iommufd context(s) (per-user, best effort accounting) given to pid $(rq .pid) (uid 65534), no jail" \
		"the service logged the grant to the command's pid (exec keeps it)"
	nothing_left
	pass "contexts: the command gets the context at fd 4, in its own cgroup, with its own limits; no jail is made"

	# The fd is root's open of the host's /dev/iommu (the fixture's stand-in, 1:3), read
	# and writable; VFIOJAIL_FD_<ID> names it without @fd:ID@.
	capture as_nobody "$VFIOJAIL" contexts vm1 --socket "$sock" -- sh -c 'fd=$VFIOJAIL_FD_IOMMUFD0; echo "$fd $(stat -Lc "%t:%T" /proc/self/fd/$fd) $(awk "/^flags:/ { print \$2 }" /proc/self/fdinfo/$fd)"'
	assert_eq "$rc" 0 "contexts with VFIOJAIL_FD_IOMMUFD0 ($err)"
	read -r fd node flags <<<"$out"
	assert_eq "$fd $node" "3 1:3" "fd 3 is the (fixture's) /dev/iommu"
	assert_eq "$((8#$flags & 3))/$((8#$flags & 8#2000000))" "2/0" "opened read-write, not close-on-exec ($flags)"
	pass "the context is the host's /dev/iommu, at fd 3 without preserved fds"

	# While vm1 runs in a jail the service launched, contexts of vm1 are still given: they
	# claim no name and touch no jail.
	setpriv --reuid=nobody --regid=nogroup --init-groups -- "$VFIOJAIL" launch vm1 --socket "$sock" -- "$WORK/probe" --sleep 30 &
	vmm=$!
	for _ in $(seq 100); do [[ -e /run/vfiojail/vm1.json ]] && break; sleep 0.05; done
	[[ -e /run/vfiojail/vm1.json ]] || fail "launch of vm1 did not run: $(log)"
	before=$(cat /run/vfiojail/vm1.json "$CG/vfiojail-vm1/cgroup.procs")
	capture as_nobody "$VFIOJAIL" contexts vm1 --socket "$sock" -- true
	assert_eq "$rc" 0 "contexts of a running VM ($err)"
	assert_eq "$(cat /run/vfiojail/vm1.json "$CG/vfiojail-vm1/cgroup.procs")" "$before" "the launched jail is untouched"
	kill -TERM $vmm; wait $vmm || true
	for _ in $(seq 100); do [[ -e /run/vfiojail/vm1.json ]] || break; sleep 0.05; done
	nothing_left
	pass "contexts while the VM's launched jail runs: given, the jail untouched"

	refused() { # WHAT STATUS NEEDLE CMD...
		local what=$1 status=$2 needle=$3; shift 3
		capture "$@"
		assert_eq "$rc" "$status" "$what ($err)"
		assert_contains "$err" "$needle" "$what: message"
		[[ "$out" != *ran* ]] || fail "$what: the command ran"
		nothing_left
	}
	ran=(sh -c 'echo ran')
	refused "another user" 3 "uid 1 may not launch it" \
		setpriv --reuid=daemon --regid=daemon --clear-groups -- "$VFIOJAIL" contexts vm1 --socket "$sock" -- "${ran[@]}"
	printf '{ "name": "vm6", "user": "nobody", "group": "daemon", "memory": "1GiB", "iommufd": [ { "id": "iommufd0" } ], "hostdevs": [ { "pci": "0009:06:00.0" } ] }\n' >"$specs/vm6.json"
	refused "another group than the spec's" 3 "VM vm6 runs as gid 1; gid 65534 may not launch it" \
		as_nobody "$VFIOJAIL" contexts vm6 --socket "$sock" -- "${ran[@]}"
	spec_for vm2 nobody >"$specs/vm2.json"; chown nobody "$specs/vm2.json"
	refused "a spec owned by the VM user" 3 "owned by uid 65534" as_nobody "$VFIOJAIL" contexts vm2 --socket "$sock" -- "${ran[@]}"
	chown root "$specs/vm2.json"; chmod 0666 "$specs/vm2.json"
	refused "a spec writable by others" 3 "writable by its group or others" as_nobody "$VFIOJAIL" contexts vm2 --socket "$sock" -- "${ran[@]}"
	refused "a name no spec grants" 3 "no spec grants VM vm9" as_nobody "$VFIOJAIL" contexts vm9 --socket "$sock" -- "${ran[@]}"
	ln -s "$specs/vm1.json" "$specs/vm4.json"
	refused "a symlink" 3 "no spec grants VM vm4" as_nobody "$VFIOJAIL" contexts vm4 --socket "$sock" -- "${ran[@]}"
	cp "$specs/vm1.json" "$specs/vm3.json"
	refused "a spec for another name" 3 "the spec grants VM \"vm1\", not the one asked for" \
		as_nobody "$VFIOJAIL" contexts vm3 --socket "$sock" -- "${ran[@]}"
	printf '{ "name": "vm7", "user": "nobody", "memory": "1GiB" }\n' >"$specs/vm7.json"
	refused "a VM with no iommufd context" 3 "VM vm7 has no iommufd context to give" \
		as_nobody "$VFIOJAIL" contexts vm7 --socket "$sock" -- "${ran[@]}"
	refused "a name with a slash" 2 "\"/\" is not allowed" as_nobody "$VFIOJAIL" contexts ../vm1 --socket "$sock" -- "${ran[@]}"
	refused "contexts --state-dir" 2 "contexts takes --socket, --preserve-fds and --timeout only" \
		as_nobody "$VFIOJAIL" contexts vm1 --socket "$sock" --state-dir /tmp/x -- "${ran[@]}"
	refused "contexts --iommufd-accounting" 2 "contexts takes --socket, --preserve-fds and --timeout only" \
		as_nobody "$VFIOJAIL" contexts vm1 --socket "$sock" --iommufd-accounting=best-effort -- "${ran[@]}"
	refused "no command" 2 "contexts needs a command" as_nobody "$VFIOJAIL" contexts vm1 --socket "$sock"
	refused "an unknown @fd:ID@" 2 "names no iommufd context of this VM" \
		as_nobody "$VFIOJAIL" contexts vm1 --socket "$sock" -- sh -c 'echo ran' @fd:nope@
	assert_contains "$(log)" "refused pid" "refusals are logged"
	assert_contains "$(log)" "(uid 1) contexts: vm1: VM vm1 runs as uid 65534; uid 1 may not launch it" "a refusal's log line names the request"
	pass "refusals: another user or group, a spec not root's or writable by others, an ungranted name, a symlink, a spec for another name, no context, host flags"

	# A caller that asks and dies at once: the kernel closes the fds in flight; nothing
	# is left and the service goes on.
	for _ in 1 2 3; do
		as_nobody /usr/bin/python3 -c "
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
s.connect(sys.argv[1])
s.send(b\"VJC1\0vm1\0\")
" "$sock" || true
	done
	capture as_nobody /usr/bin/python3 -c "
import socket, sys, array
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
s.connect(sys.argv[1])
s.send(b\"VJC1\0vm1\0\")
msg, anc, flags, addr = s.recvmsg(4096, socket.CMSG_SPACE(64 * 4))
fds = array.array(\"i\")
for level, kind, data in anc:
    fds.frombytes(data[:len(data) - len(data) % 4])
print(msg.split(b\"\0\")[:3], len(fds))
" "$sock"
	assert_eq "$out" "[b'OK', b'unchanged', b'iommufd0'] 1" "the raw answer: OK, memlock unchanged, one id, one fd ($err)"
	nothing_left
	pass "callers that die before their answer leave nothing; the answer is OK, unchanged, the ids and their fds"

	# A pod's hand-off gives launch only: a contexts request is refused there.
	"$VFIOJAIL" handoff "$specs/vm1.json" "${roots[@]}" --pid $$ --socket "$WORK/ho.sock" --timeout 5 2>"$WORK/ho.log" &
	ho=$!
	on_exit "kill $ho 2>/dev/null"
	for _ in $(seq 100); do [[ -S "$WORK/ho.sock" ]] && break; sleep 0.05; done
	[[ -S "$WORK/ho.sock" ]] || fail "handoff did not start: $(cat "$WORK/ho.log")"
	refused "contexts from a hand-off" 2 "this socket serves vfiojail launch only" \
		as_nobody "$VFIOJAIL" contexts vm1 --socket "$WORK/ho.sock" -- "${ran[@]}"
	kill $ho; wait $ho || true
	nothing_left
	pass "a hand-off refuses a contexts request"

	# A service that takes the connection and never answers: bounded by --timeout.
	/usr/bin/python3 -c "
import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
s.bind(sys.argv[1]); s.listen(4)
import os; os.chmod(sys.argv[1], 0o666)
time.sleep(30)
" "$WORK/mute.sock" &
mute=$!
	on_exit "kill $mute 2>/dev/null"
	for _ in $(seq 100); do [[ -S "$WORK/mute.sock" ]] && break; sleep 0.05; done
	capture as_nobody "$VFIOJAIL" contexts vm1 --socket "$WORK/mute.sock" --timeout 1 -- "${ran[@]}"
	assert_eq "$rc" 125 "a mute service ($err)"
	assert_contains "$err" "the launch service did not answer within 1 s" "says which"
	kill $mute
	pass "a service that does not answer: 125 after --timeout"

	# A service older than contexts answers its request as a malformed launch request.
	/usr/bin/python3 -c "
import socket, sys, os
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
s.bind(sys.argv[1]); s.listen(4)
os.chmod(sys.argv[1], 0o666)
c, _ = s.accept()
c.recv(4096)
c.send(b'2\\x0071\\x00launch\\x00\\x00the request is not a vfiojail launch request\\x00use vfiojail launch of the same version')
" "$WORK/old.sock" &
	old=$!
	on_exit "kill $old 2>/dev/null"
	for _ in $(seq 100); do [[ -S "$WORK/old.sock" ]] && break; sleep 0.05; done
	capture as_nobody "$VFIOJAIL" contexts vm1 --socket "$WORK/old.sock" -- "${ran[@]}"
	assert_eq "$rc" 2 "an older service ($err)"
	assert_contains "$err" "does not know contexts requests: is it older than this vfiojail?" "says so"
	wait $old || true
	pass "an older service's refusal is named"
	nothing_left
}
in_container gpu-iommufd contexts_service
