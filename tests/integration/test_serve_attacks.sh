#!/usr/bin/env bash
# The launch service against a local user (docs/SECURITY.md): it acts only on the
# process that connected, named by the pidfd the kernel took at connect(), never on
# a pid looked up later; a caller that exec'd a setuid program since it connected
# is refused; idle connections of another user do not delay a launch; a failed
# answer kills nothing; launch has a time limit; the spec directory's path holds no
# symlink and no sticky directory.  Each case failed on the service that served one
# client at a time and trusted the SO_PEERCRED pid.
source "$(dirname "$0")/lib.sh"
[[ -x /usr/bin/python3 ]] || skip "python3 is needed for the hostile clients"

attacks() {
	gpu_host_vm1
	specs=/run/vfiojail-specs
	mkdir -m 0755 "$specs"
	chmod 0755 "$WORK"
	printf '{ "name": "vm1", "user": "nobody", "memory": "1GiB", "iommufd": [ { "id": "iommufd0" } ],
  "hostdevs": [ { "pci": "0009:06:00.0" } ], "memlock": { "hard_limit": "4MiB" } }\n' >"$specs/vm1.json"
	sock="$WORK/launch.sock"
	serve_start "$sock" "$specs" "${roots[@]}"
	as_nobody() { setpriv --reuid=nobody --regid=nogroup --clear-groups -- "$@"; }
	as_daemon() { setpriv --reuid=daemon --regid=daemon --clear-groups -- "$@"; }
	nothing_left() { assert_nothing_left "$CG" /run/vfiojail /sys/fs/bpf/vfiojail; }
	gone() { for _ in $(seq 200); do [[ -e /run/vfiojail/vm1.json ]] || return 0; sleep 0.05; done; fail "jail vm1 not removed: $(cat "$WORK/serve.log")"; }
	# IDLE N USER: N connections that never send a request, held until killed.
	idle() {
		"as_$2" /usr/bin/python3 -c '
import socket, sys, time
held = []
for _ in range(int(sys.argv[2])):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.connect(sys.argv[1])
    held.append(s)
print("ready", flush=True)
time.sleep(120)
' "$sock" "$1" >"$WORK/idle.out" &
		idler=$!
		for _ in $(seq 200); do [[ -s "$WORK/idle.out" ]] && break; sleep 0.05; done
		[[ -s "$WORK/idle.out" ]] || fail "the idle connections did not connect"
	}
	# The wall time of one launch of vm1 (a VMM that exits at once), in ms.
	launch_ms() {
		local t0 t1
		t0=$(date +%s%N)
		as_nobody "$VFIOJAIL" launch vm1 --socket "$sock" -- "$WORK/probe" >/dev/null 2>"$WORK/l.err" ||
			fail "launch: $(cat "$WORK/l.err")"
		t1=$(date +%s%N)
		gone
		echo $(((t1 - t0) / 1000000))
	}
	best_of_3() { local b=999999 t; for _ in 1 2 3; do t=$(launch_ms); ((t < b)) && b=$t; done; echo "$b"; }

	# --- Idle connections of another user delay no launch ---------------------------
	base=$(best_of_3)
	idle 100 daemon
	loaded=$(best_of_3)
	kill "$idler"; wait "$idler" 2>/dev/null || true
	echo "launch: ${base} ms alone, ${loaded} ms with 100 idle connections of another user"
	((loaded - base < 100)) || fail "100 idle connections delayed a launch by $((loaded - base)) ms"
	assert_contains "$(cat "$WORK/serve.log")" "dropped" "the connections past the per-user cap are dropped, and logged"
	nothing_left
	pass "100 idle connections of another user delay a launch by under 100 ms (${base} -> ${loaded} ms)"

	# --- The pid of a caller that left is someone else's: that process is untouched --
	# A root daemon's worker lives in a cgroup of its own.  The attacker (nobody) asks
	# for vm1 and exits at once; the test then makes the kernel give its pid to the
	# root worker (ns_last_pid), as a wrapped pid counter would.  A service that looked
	# the pid up later moved that worker into the VM's cgroup or, with the answer
	# undeliverable, SIGKILLed it.
	mkdir "$CG/rootd"
	idle 8 daemon # the old service was one client at a time: these held it for 40 s
	reused=
	for try in 1 2 3 4 5; do
		victim=$(as_nobody /usr/bin/python3 -c '
import socket, sys, os
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
s.connect(sys.argv[1])
s.send(b"VJ1\0vm1\0")
print(os.getpid(), flush=True)
os._exit(0)
' "$sock")
		echo $((victim - 1)) >/proc/sys/kernel/ns_last_pid
		bash -c 'echo $$ >"$1/cgroup.procs"; exec sleep 120' _ "$CG/rootd" &
		worker=$!
		[[ "$worker" == "$victim" ]] && { reused=1; break; }
		kill "$worker"; wait "$worker" 2>/dev/null || true
	done
	[[ -n "$reused" ]] || fail "could not make pid $victim be reused (got $worker)"
	on_exit "kill $worker 2>/dev/null"
	# The service has seen the request once the jail is gone and the log names the pid.
	for _ in $(seq 900); do
		grep -q "pid $victim\b" "$WORK/serve.log" && [[ ! -e /run/vfiojail/vm1.json ]] && break
		sleep 0.05
	done
	grep -q "pid $victim\b" "$WORK/serve.log" || fail "the service never answered the attacker: $(cat "$WORK/serve.log")"
	kill -0 "$worker" 2>/dev/null || fail "the service killed root's process that got the caller's pid"
	assert_eq "$(grep -c "vfiojail-vm1" "/proc/$worker/cgroup" || true)" 0 \
		"root's process that got the caller's pid is in no VM cgroup ($(cat /proc/$worker/cgroup))"
	assert_eq "$(awk '/Max locked memory/ { print $4 }' "/proc/$worker/limits")" "$(awk '/Max locked memory/ { print $4 }' /proc/self/limits)" \
		"its memlock is untouched"
	kill "$worker" "$idler"; wait "$worker" "$idler" 2>/dev/null || true
	rmdir "$CG/rootd"
	gone
	nothing_left
	pass "a caller's pid reused by a root process: that process is neither moved, limited nor killed"

	# --- A caller that exec'd a setuid program after connecting ---------------------
	# It connects as nobody, a child keeps the socket, the caller execs a setuid-root
	# program (euid 0); then the child sends the request.  The socket's credentials
	# still say nobody; the process's ids now do not.
	cp /bin/sleep "$WORK/suid-sleep"
	chown root:root "$WORK/suid-sleep"
	chmod 4755 "$WORK/suid-sleep"
	as_nobody /usr/bin/python3 -c '
import socket, sys, os, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
s.connect(sys.argv[1])
caller = os.getpid()
if os.fork() == 0:
    for _ in range(500):
        uid = [l for l in open("/proc/%d/status" % caller) if l.startswith("Uid:")][0].split()
        if uid[2] == "0":
            break
        time.sleep(0.01)
    s.send(b"VJ1\0vm1\0")
    answer = s.recv(4096).split(b"\0")
    with open(sys.argv[3], "w") as f:
        f.write("%d %s %s\n" % (caller, answer[0].decode(), answer[4].decode() if len(answer) > 4 else ""))
    os._exit(0)
os.execv(sys.argv[2], [sys.argv[2], "3"])
' "$sock" "$WORK/suid-sleep" "$WORK/out/suid.txt"
	for _ in $(seq 100); do [[ -s "$WORK/out/suid.txt" ]] && break; sleep 0.05; done
	read -r caller status msg <"$WORK/out/suid.txt"
	assert_eq "$status" 3 "a caller now running as euid 0 is refused ($msg)"
	assert_contains "$msg" "not as the VM's uid 65534" "says why"
	assert_contains "$(cat "$WORK/serve.log")" "refused pid $caller" "the refusal is logged with the pid"
	nothing_left
	pass "a caller that exec'd a setuid program after connecting is refused"

	# --- A VMM's end removes its own jail, not a later one of the same name --------------
	# The service is paused while the launched VMM exits; root removes that jail and
	# makes another under the same name (setup, enter).  When the service resumes it
	# sees its VMM's end: the new jail and what runs in it stay.
	as_nobody "$VFIOJAIL" launch vm1 --socket "$sock" -- "$WORK/probe" --sleep 30 --out "$WORK/out/l.json" &
	launcher=$!
	for _ in $(seq 100); do [[ -s "$WORK/out/l.json" ]] && break; sleep 0.05; done
	vmm=$(jq -r .pid "$WORK/out/l.json")
	assert_eq "$(jq -r .vmm /run/vfiojail/vm1.json)" "$vmm" "the launched VMM"
	kill -STOP "$serve"
	kill -KILL "$vmm"; wait "$launcher" 2>/dev/null || true
	for _ in $(seq 100); do grep -q "populated 0" "$CG/vfiojail-vm1/cgroup.events" && break; sleep 0.05; done
	"$VFIOJAIL" teardown vm1
	"$VFIOJAIL" setup "$specs/vm1.json" "${roots[@]}" >/dev/null
	"$VFIOJAIL" enter vm1 -- "$WORK/probe" --sleep 30 --out "$WORK/out/e.json" &
	entered=$!
	on_exit "kill $entered 2>/dev/null; $VFIOJAIL teardown --kill vm1 >/dev/null 2>&1"
	for _ in $(seq 100); do [[ -n "$(cat "$CG/vfiojail-vm1/cgroup.procs" 2>/dev/null)" ]] && break; sleep 0.05; done
	kill -CONT "$serve"
	for _ in $(seq 100); do grep -q "is not the one made for pid $vmm" "$WORK/serve.log" && break; sleep 0.05; done
	assert_contains "$(cat "$WORK/serve.log")" "left alone: the jail of that name now is not the one made for pid $vmm" "the service says so"
	kill -0 "$entered" 2>/dev/null || fail "the service killed a process entered into a later jail of the same name"
	[[ -e /run/vfiojail/vm1.json ]] || fail "the service removed a later jail of the same name"
	"$VFIOJAIL" teardown --kill vm1
	wait "$entered" 2>/dev/null || true
	nothing_left
	pass "a launched VMM's end removes its own jail, never a later one of the same name"

	# --- launch is bounded ------------------------------------------------------------
	/usr/bin/python3 -c '
import socket, sys, time
l = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
l.bind(sys.argv[1]); l.listen(1)
c, _ = l.accept()
time.sleep(30)
' "$WORK/mute.sock" &
	mute=$!
	on_exit "kill $mute 2>/dev/null"
	for _ in $(seq 100); do [[ -S "$WORK/mute.sock" ]] && break; sleep 0.05; done
	chmod 0666 "$WORK/mute.sock"
	t0=$(date +%s%N)
	capture as_nobody "$VFIOJAIL" launch vm1 --socket "$WORK/mute.sock" --timeout 1 -- "$WORK/probe"
	t1=$(date +%s%N)
	kill "$mute"; wait "$mute" 2>/dev/null || true
	assert_eq "$rc" 125 "a service that never answers ($err)"
	assert_contains "$err" "the launch service did not answer within 1 s" "says so"
	(((t1 - t0) / 1000000 < 3000)) || fail "launch --timeout 1 took $(((t1 - t0) / 1000000)) ms"
	pass "launch gives up after its --timeout, saying so"

	# --- In a pod: the hand-off, not the service, is named ------------------------------
	capture as_nobody env VFIOJAIL_SOCKET=/run/vfiojail-handoff/handoff.sock "$VFIOJAIL" launch vm1 -- "$WORK/probe"
	assert_eq "$rc" 125 "no hand-off socket ($err)"
	assert_contains "$err" "cannot reach the VM's hand-off socket" "names the hand-off"
	assert_contains "$err" "VFIOJAIL_SOCKET" "names the variable"
	[[ "$err" != *"vfiojail serve"* ]] || fail "a pod's launch points at the launch service: $err"
	pass "in a pod, launch names the hand-off and VFIOJAIL_SOCKET"

	# --- The spec directory: no symlink, no sticky directory on its path ----------------
	mkdir -m 0755 /run/etc
	ln -s "$specs" /run/etc/vm
	capture "$VFIOJAIL" serve --socket "$WORK/s2.sock" --spec-dir /run/etc/vm "${roots[@]}"
	assert_eq "$rc" 125 "a symlink as the spec directory ($err)"
	assert_contains "$err" "a symlink is on the spec directory's path" "says why"
	rm /run/etc/vm
	ln -s /run /run/etc/up
	capture "$VFIOJAIL" serve --socket "$WORK/s2.sock" --spec-dir /run/etc/up/vfiojail-specs "${roots[@]}"
	assert_eq "$rc" 125 "a symlink above the spec directory ($err)"
	assert_contains "$err" "/run/etc/up: a symlink is on the spec directory's path" "names it"
	# The reported attack: --spec-dir /tmp/specs, not made yet; nobody plants a symlink
	# there to a directory of root's that holds a spec.
	mkdir -m 1777 /run/tmp
	as_nobody ln -s "$specs" /run/tmp/specs
	capture "$VFIOJAIL" serve --socket "$WORK/s2.sock" --spec-dir /run/tmp/specs "${roots[@]}"
	assert_eq "$rc" 125 "a spec directory below a sticky directory ($err)"
	assert_contains "$err" "writable by its group or others" "says why"
	[[ ! -e "$WORK/s2.sock" ]] || fail "a refused service left its socket"
	rm -rf /run/etc /run/tmp
	pass "the spec directory: a symlink anywhere on its path, or a sticky directory above it, is refused"

	kill -TERM "$serve"; wait "$serve" || true
	nothing_left

	# --- Root's --cgroup-parent: VMs go there, not below the caller ----------------------
	mkdir "$CG/vms"
	serve_start "$sock" "$specs" "${roots[@]}" --cgroup-parent "${CG#"$CG2"}/vms"
	capture as_nobody "$VFIOJAIL" launch vm1 --socket "$sock" -- "$WORK/probe" --out "$WORK/out/p.json"
	assert_eq "$rc" 0 "launch under root's cgroup parent ($err; $(cat "$WORK/serve.log"))"
	assert_eq "$CG2$(jq -r .cgroup "$WORK/out/p.json")" "$CG/vms/vfiojail-vm1" "the VM's cgroup is below root's parent"
	gone
	kill -TERM "$serve"; wait "$serve" || true
	rmdir "$CG/vms"
	nothing_left
	pass "serve --cgroup-parent: the VM's cgroup goes below root's parent"
}
in_container gpu-iommufd attacks
