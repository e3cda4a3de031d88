#!/usr/bin/env bash
# A launcher's fds: --preserve-fds N keeps fds 3..3+N-1 at their numbers, the iommufd
# contexts follow them (@fd:ID@, VFIOJAIL_FD_<ID>), systemd's LISTEN_FDS are kept with
# LISTEN_PID made the VMM's, every other fd is closed, a preserved fd that is not open
# is refused by number, the supervisor keeps no copy, and a supervised VMM may not
# -daemonize.  For run and enter; nothing is left afterwards.
source "$(dirname "$0")/lib.sh"

launcher_fds() {
	gpu_host_vm1
	vm+=(--iommufd iommufd0)
	echo launcher-file >"$WORK/in3"
	chmod 0644 "$WORK/in3"
	touch "$WORK/out/w4"
	chmod 0666 "$WORK/out/w4"
	rq() { jq -r "$1" "$WORK/out/r.json"; }
	nothing_left() { assert_nothing_left "$CG" /run/vfiojail /sys/fs/bpf/vfiojail; }

	# fd 3 read, fd 4 written by the VMM, fd 5 an fd the launcher did not hand over.
	capture "$VFIOJAIL" run "${vm[@]}" "${roots[@]}" --preserve-fds 2 -- "$WORK/probe" \
		--env VFIOJAIL_FD_IOMMUFD0 --out "$WORK/out/r.json" -object iommufd,id=iommufd0,fd=@fd:iommufd0@ \
		3<"$WORK/in3" 4>"$WORK/out/w4" 5</dev/null
	assert_eq "$rc" 0 "run --preserve-fds 2 ($err)"
	assert_eq "$(rq ".fds | join(\" \")")" "0 1 2 3 4 5" "fds: stdio, the two preserved, then the context"
	assert_eq "$(rq .env.VFIOJAIL_FD_IOMMUFD0)" 5 "VFIOJAIL_FD_IOMMUFD0 after the preserved fds"
	assert_eq "$(rq ".argv[-1]")" "iommufd,id=iommufd0,fd=5" "@fd:iommufd0@ after the preserved fds"
	pass "contexts follow the preserved fds"

	# The same numbers carry the same open files: read 3, write 4, as the VM user.
	capture "$VFIOJAIL" run "${vm[@]}" "${roots[@]}" --preserve-fds 2 -- /bin/bash -c \
		"read -r l <&3; echo \"vmm read \$l\" >&4; readlink /proc/self/fd/5" 3<"$WORK/in3" 4>"$WORK/out/w4"
	assert_eq "$rc" 0 "run with a shell as the VMM ($err)"
	assert_eq "$(cat "$WORK/out/w4")" "vmm read launcher-file" "fd 3 and fd 4 are the launcher's files"
	assert_eq "$out" "$HOST/dev/iommu" "fd 5 is the iommufd context (opened by vfiojail from the dev root)"
	pass "preserved fds are the launcher's open files"

	# A preserved fd that is not open: refused by number before anything is made.
	capture "$VFIOJAIL" run "${vm[@]}" "${roots[@]}" --preserve-fds 3 -- "$WORK/probe" 3</dev/null 4</dev/null
	assert_eq "$rc" 2 "a closed preserved fd is a usage error ($err)"
	assert_contains "$err" "fd 5 is not open" "the message names the fd"
	assert_contains "$err" "fds 3 to 5" "and the range asked for"
	nothing_left
	capture "$VFIOJAIL" run "${vm[@]}" "${roots[@]}" --preserve-fds x -- "$WORK/probe"
	assert_eq "$rc" 2 "--preserve-fds x ($err)"
	assert_contains "$err" "--preserve-fds" "names the flag"
	capture "$VFIOJAIL" plan "${vm[@]}" "${roots[@]}" --preserve-fds 1
	assert_eq "$rc" 2 "--preserve-fds on plan ($err)"
	pass "bad --preserve-fds refused, nothing left"

	# Without --preserve-fds every launcher fd is closed (the old behaviour).
	capture "$VFIOJAIL" run "${vm[@]}" "${roots[@]}" -- "$WORK/probe" --out "$WORK/out/r.json" 3<"$WORK/in3" 4</dev/null
	assert_eq "$rc" 0 "run ($err)"
	assert_eq "$(rq ".fds | join(\" \")")" "0 1 2 3" "only stdio and the context without --preserve-fds"

	# Socket activation: LISTEN_FDS=2 for our pid, plus one more with --preserve-fds 1.
	capture bash -c "export LISTEN_PID=\$\$ LISTEN_FDS=2 LISTEN_FDNAMES=mon:tap; exec \"\$0\" \"\$@\"" \
		"$VFIOJAIL" run "${vm[@]}" "${roots[@]}" --preserve-fds 1 -- "$WORK/probe" --out "$WORK/out/r.json" \
		--env LISTEN_PID --env LISTEN_FDS --env LISTEN_FDNAMES --env VFIOJAIL_FD_IOMMUFD0 \
		3</dev/null 4</dev/null 5</dev/null
	assert_eq "$rc" 0 "run under socket activation ($err)"
	assert_eq "$(rq ".fds | join(\" \")")" "0 1 2 3 4 5 6" "LISTEN_FDS, then --preserve-fds, then the context"
	assert_eq "$(rq .env.LISTEN_PID)" "$(rq .pid)" "LISTEN_PID is the VMM's pid"
	assert_eq "$(rq .env.LISTEN_FDS)/$(rq .env.LISTEN_FDNAMES)" "2/mon:tap" "LISTEN_FDS and LISTEN_FDNAMES kept"
	assert_eq "$(rq .env.VFIOJAIL_FD_IOMMUFD0)" 6 "context after them"
	# LISTEN_PID of another process: not ours, nothing kept, nothing changed.
	capture env LISTEN_PID=1 LISTEN_FDS=2 "$VFIOJAIL" run "${vm[@]}" "${roots[@]}" -- "$WORK/probe" \
		--out "$WORK/out/r.json" --env LISTEN_PID 3</dev/null 4</dev/null
	assert_eq "$rc" 0 "run with a foreign LISTEN_PID ($err)"
	assert_eq "$(rq ".fds | join(\" \")")/$(rq .env.LISTEN_PID)" "0 1 2 3/1" "a foreign LISTEN_PID is left alone"
	pass "LISTEN_FDS kept, LISTEN_PID moved to the VMM"

	# The supervisor holds no copy of what it handed over.
	"$VFIOJAIL" run "${vm[@]}" "${roots[@]}" --preserve-fds 1 -- "$WORK/probe" --sleep 30 3<"$WORK/in3" &
	sup=$!
	for _ in $(seq 100); do vmm=$(jq -r ".vmm // 0" /run/vfiojail/vm1.json 2>/dev/null || echo 0)
		[[ "$vmm" != 0 && -e /proc/$vmm ]] && grep -q probe /proc/$vmm/comm 2>/dev/null && break; sleep 0.1; done
	assert_eq "$(readlink /proc/$vmm/fd/3)" "$WORK/in3" "the VMM has fd 3"
	held=$(ls -l /proc/$sup/fd | grep -c "$WORK/in3" || true)
	assert_eq "$held" 0 "the supervisor closed its copy"
	kill -TERM $sup
	wait $sup || true
	nothing_left
	pass "the supervisor keeps no preserved fd"

	# -daemonize: refused for a supervised VMM, with the fix in the message.
	capture "$VFIOJAIL" run "${vm[@]}" "${roots[@]}" -- "$WORK/probe" -daemonize
	assert_eq "$rc" 2 "run -- VMM -daemonize ($err)"
	assert_contains "$err" "-daemonize" "names the argument"
	assert_contains "$err" "may not daemonize" "says why"
	nothing_left
	pass "supervised -daemonize refused, nothing left"

	# enter takes the same flags.
	capture "$VFIOJAIL" setup "${vm[@]}" "${roots[@]}"
	assert_eq "$rc" 0 "setup ($err)"
	capture "$VFIOJAIL" enter vm1 --preserve-fds 1 --iommufd-accounting=best-effort -- "$WORK/probe" \
		--out "$WORK/out/r.json" --env VFIOJAIL_FD_IOMMUFD0 3<"$WORK/in3" 4</dev/null
	assert_eq "$rc" 0 "enter --preserve-fds 1 ($err)"
	assert_eq "$(rq ".fds | join(\" \")")/$(rq .env.VFIOJAIL_FD_IOMMUFD0)" "0 1 2 3 4/4" "enter: fd 3 kept, context at 4"
	capture "$VFIOJAIL" enter vm1 --preserve-fds 2 -- "$WORK/probe" 3<"$WORK/in3"
	assert_eq "$rc" 2 "enter with a closed preserved fd ($err)"
	assert_contains "$err" "fd 4 is not open" "enter names the fd"
	"$VFIOJAIL" teardown vm1
	nothing_left
	pass "enter --preserve-fds"
}
in_container gpu-iommufd launcher_fds
