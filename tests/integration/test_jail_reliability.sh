#!/usr/bin/env bash
# setup killed with SIGKILL at every step, then teardown: nothing is left.
# 32 concurrent setups of distinct names all succeed; of 8 concurrent setups of one
# name exactly one wins and the others fail cleanly with status 2.
source "$(dirname "$0")/lib.sh"
command -v strace >/dev/null || skip "strace is needed to stop setup at each step"

jail_reliability_tests() {
	roots=(--sysfs-root "$HOST/sys" --dev-root "$HOST/dev")
	no_nsfs() { ! grep -q " nsfs " /proc/self/mountinfo || fail "nsfs binding left after $1"; }

	# SIGKILL when setup enters its Nth call of each syscall that changes something
	# (strace -e inject, on vfiojail itself; the namespace holder is left to notice).
	kills=0
	for sc in openat mkdir renameat bpf mount clone; do
		for n in $(seq 1 40); do
			set +e
			# LeakSanitizer cannot run under ptrace.
			ASAN_OPTIONS=detect_leaks=0 strace -o /dev/null -e trace=$sc -e inject=$sc:signal=KILL:when=$n \
				"$VFIOJAIL" setup "${roots[@]}" --name vm-k --user nobody --device /dev/net/tun >/dev/null 2>&1
			src=$?
			set -e
			capture "$VFIOJAIL" teardown vm-k
			[[ $src -eq 0 || $src -eq 137 ]] || fail "setup stopped at $sc #$n: status $src"
			assert_nothing_left "$CG" /run/vfiojail /sys/fs/bpf/vfiojail
			no_nsfs "$sc #$n"
			[[ $src -eq 137 ]] || break
			kills=$((kills + 1))
		done
		[[ $n -gt 1 ]] || fail "setup never reached a $sc call"
	done
	[[ $kills -ge 20 ]] || fail "only $kills kill points"
	pass "teardown after setup was killed at each of $kills points leaves nothing"

	# The same at arbitrary times.
	for d in 0 0.002 0.005 0.01 0.02 0.03 0.05; do
		"$VFIOJAIL" setup "${roots[@]}" --name vm-r --user nobody >/dev/null 2>&1 &
		p=$!
		sleep $d
		kill -9 $p 2>/dev/null || true
		wait $p || true
		capture "$VFIOJAIL" teardown vm-r
		assert_nothing_left "$CG" /run/vfiojail /sys/fs/bpf/vfiojail
		no_nsfs "a kill after ${d}s"
	done
	pass "teardown after setup was killed at arbitrary times"

	# 32 distinct names at once.
	pids=()
	for i in $(seq 32); do
		"$VFIOJAIL" setup "${roots[@]}" --name c$i --user nobody >"$WORK/c$i.out" 2>&1 &
		pids+=($!)
	done
	for i in $(seq 32); do wait ${pids[i-1]} || fail "setup c$i: $(cat "$WORK/c$i.out")"; done
	assert_eq "$(ls /run/vfiojail/ns | wc -l)" 32 "32 namespace bindings"
	assert_eq "$(grep -c " nsfs " /proc/self/mountinfo)" 32 "32 nsfs mounts"
	for i in $(seq 32); do "$VFIOJAIL" enter c$i -- "$WORK/probe" --out "$WORK/out/c$i.json" 2>/dev/null ||
		fail "enter c$i"; done
	pass "32 concurrent setups of distinct names"

	# 8 setups of one name at once: one wins.
	pids=()
	for i in $(seq 8); do
		"$VFIOJAIL" setup "${roots[@]}" --name same --user nobody >"$WORK/s$i.out" 2>&1 &
		pids+=($!)
	done
	won=0 lost=0
	for i in $(seq 8); do
		set +e; wait ${pids[i-1]}; rc=$?; set -e
		case $rc in
		0) won=$((won + 1)) ;;
		2) lost=$((lost + 1)) ;;
		*) fail "setup $i of one name: status $rc: $(cat "$WORK/s$i.out")" ;;
		esac
	done
	assert_eq "$won/$lost" 1/7 "one of eight wins, seven fail with status 2"
	"$VFIOJAIL" enter same -- "$WORK/probe" --out /dev/null || fail "the winner is usable"
	for i in $(seq 32); do "$VFIOJAIL" teardown c$i & done
	"$VFIOJAIL" teardown same
	wait
	assert_nothing_left "$CG" /run/vfiojail /sys/fs/bpf/vfiojail
	no_nsfs "concurrent teardowns"
	pass "8 concurrent setups of one name"
}
in_container gpu-iommufd jail_reliability_tests
