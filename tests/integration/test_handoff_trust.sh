#!/usr/bin/env bash
# What the hand-off and the CDI hooks trust, attacked on the fixture host (issue 19):
#
# - a client is the process that connected (SO_PEERPIDFD), not whoever has its pid
#   now: a process of the VM's user outside the pod connects, hands the socket to its
#   child and exits, and its pid is given to a process of the pod (ns_last_pid)
#   before the child asks: refused;
# - a client whose ids changed after it connected (it exec'd a setgid program) is
#   refused when the contexts would be sent;
# - poststop signals the hand-off daemon only, never a process that got its pid: the
#   daemon dies, its pid goes to `vfiojail serve` (ns_last_pid), and poststop leaves
#   that alone;
# - the socket is made where no one else can reach it: while its mode is set (held
#   for a second by strace), the VM's user, who may write the socket's directory,
#   turns every other name in it into a symlink to a root-owned file; that file is
#   unchanged;
# - one hand-off per VM: a second container's createRuntime hook is refused, naming
#   the VM and the first container; its poststop leaves the first's daemon and
#   socket alone; the first container's launcher gets the contexts; the OCI state is
#   read whole (a 70 KB one with annotations passes, one over 16 MiB is refused);
# - a createRuntime hook that fails leaves the container's RLIMIT_MEMLOCK as it was:
#   when the hand-off daemon cannot be forked, and when the limit itself cannot be set
#   after the daemon started (the daemon then ends, its socket and record go);
# - a createRuntime hook acts only on a process its runtime started: an OCI state
#   whose pid is another user's daemon (what a reused pid would be) is refused, and
#   that process's RLIMIT_MEMLOCK is left as it was.
source "$(dirname "$0")/lib.sh"
command -v nsenter >/dev/null || skip "nsenter is needed to enter the pod's pid namespace"
command -v unshare >/dev/null || skip "unshare is needed to make the pod's pid namespace"
command -v strace >/dev/null || skip "strace is needed to hold vfiojail while the socket is made"
[[ -x /usr/bin/python3 ]] || skip "python3 is needed for the test's clients"

# make_pod NAME: a pid namespace whose init (sleep) is in cgroup $CG/NAME; sets
# $cpid (the init, as this namespace sees it).  end_pod NAME kills and removes it.
make_pod() {
	local u
	mkdir "$CG/$1"
	bash -c 'echo $$ >"$1/cgroup.procs"; exec unshare --pid --fork sleep 600' _ "$CG/$1" &
	u=$!
	disown "$u" # killed at the end: no word of it
	cpid=
	for _ in $(seq 100); do cpid=$(pgrep -P "$u" || true); [[ -n "$cpid" ]] && break; sleep 0.05; done
	[[ -n "$cpid" ]] || fail "the pod $1 did not start"
	on_exit "end_pod $1"
}
end_pod() {
	[[ -d "$CG/$1" ]] || return 0
	echo 1 >"$CG/$1/cgroup.kill"
	for _ in $(seq 100); do grep -q "populated 0" "$CG/$1/cgroup.events" && break; sleep 0.05; done
	rmdir "$CG/$1"
}
# in_pod PID CGROUP USER -- command: in PID's pid namespace, in CGROUP, as USER.
in_pod() {
	bash -c 'echo $$ >"$1/cgroup.procs"; shift; u=$1; shift; exec nsenter --target "$0" --pid -- setpriv --reuid="$u" --regid="$(id -gn "$u")" --clear-groups -- "$@"' \
		"$1" "$2" "$3" env "ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" "${@:5}"
}
# The OCI state a runtime writes on a hook's stdin: ID PID [ANNOTATIONS].
oci_state() {
	printf '{"ociVersion": "1.0.2", "id": "%s", "pid": %s, "status": "creating", "bundle": "/nonexistent", "annotations": {%s}}\n' \
		"$1" "$2" "${3:-}"
}
# A hand-off of vm1 for pod $cpid on SOCKET, in the background: $server.
start_handoff() { # SOCKET LOG [strace...]
	local sock=$1 log=$2
	shift 2
	"$@" "$VFIOJAIL" handoff "$spec" "${roots[@]}" --pid "$cpid" --socket "$sock" --timeout 20 2>"$log" &
	server=$!
	on_exit "kill $server 2>/dev/null"
}
wait_socket() { # PATH
	for _ in $(seq 200); do [[ -S "$1" ]] && return 0; sleep 0.05; done
	return 1
}
stop_handoff() { # (under strace, the traced hand-off first)
	for c in $(pgrep -P "$server" || true); do kill "$c" 2>/dev/null || true; done
	kill "$server" 2>/dev/null || true
	wait "$server" 2>/dev/null || true
}
setup() {
	gpu_host_vm1
	chmod 0755 "$WORK"
	spec="$WORK/vm1.json"
	gpu_vm_spec "vm1" >"$spec"
	# The test's client: connect to the socket, then act as MODE says, then ask
	# for vm1 and write what came back (OK and the number of fds, or REFUSED and
	# the message) to RESULT.
	cat >"$WORK/client.py" <<'PY'
import os, socket, sys, time
mode, path, result = sys.argv[1:4]

def ask(s):
    s.send(b"VJ1\0vm1\0")
    msg, anc, _, _ = s.recvmsg(8192, socket.CMSG_SPACE(64 * 4))
    fds = sum(len(d) // 4 for (lvl, typ, d) in anc if lvl == socket.SOL_SOCKET and typ == socket.SCM_RIGHTS)
    with open(result, "w") as f:
        if msg.startswith(b"OK\0"):
            f.write("OK %d\n" % fds)
        else:
            f.write("REFUSED " + msg.replace(b"\0", b" ").decode(errors="replace") + "\n")

if mode == "asked":  # exec'd with the connected socket's fd
    ask(socket.socket(fileno=int(path)))
    sys.exit(0)
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
s.connect(path)
if mode == "fork":  # the connecting process exits; its child asks once told to
    print(os.getpid(), flush=True)
    if os.fork() != 0:
        os._exit(0)
    null = os.open("/dev/null", os.O_RDWR)
    os.dup2(null, 1)
    os.dup2(null, 2)
    while not os.path.exists(result + ".go"):
        time.sleep(0.02)
    ask(s)
elif mode == "exec":  # exec a setgid program, which asks
    os.set_inheritable(s.fileno(), True)
    prog = sys.argv[4]
    os.execv(prog, [prog, sys.argv[0], "asked", str(s.fileno()), result])
PY
	# Give pid LAST to a new process of the pod: NS_PID_FILE CGROUP LAST.  The
	# namespace is entered first, then the pid is asked for and the process forked,
	# with nothing else of this namespace forking in between.  Prints the pid.
	cat >"$WORK/reuse.py" <<'PY'
import ctypes, os, sys
pidns, cgroup, last = sys.argv[1:4]
with open(cgroup + "/cgroup.procs", "w") as f:
    f.write(str(os.getpid()))
libc = ctypes.CDLL(None, use_errno=True)
if libc.setns(os.open(pidns, os.O_RDONLY), 0x20000000) != 0:  # CLONE_NEWPID: for children
    raise OSError(ctypes.get_errno(), "setns")
with open("/proc/sys/kernel/ns_last_pid", "w") as f:
    f.write(str(int(last) - 1))
pid = os.fork()
if pid == 0:
    null = os.open("/dev/null", os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.execvp("sleep", ["sleep", "600"])
print(pid)
PY
	chmod 0644 "$WORK/client.py" "$WORK/reuse.py"
}
# The pid of the hand-off daemon, from its record.
daemon_of() {
	grep -o '[0-9]\+' /run/vfiojail/handoff/vm1.pid | head -1
}
gone() { # PID
	for _ in $(seq 250); do [[ ! -e /proc/$1 ]] && return 0; sleep 0.02; done
	return 1
}

# ---- A client is the process that connected, not its pid ------------------------------
pid_reuse() {
	setup
	make_pod pod
	local sock="$WORK/handoff.sock" p reused other_ns
	start_handoff "$sock" "$WORK/handoff.log"
	wait_socket "$sock" || fail "handoff did not start: $(cat "$WORK/handoff.log")"
	# A process of the VM's user outside the pod (its pid namespace and cgroup) connects,
	# passes the connection to its child and exits.
	p=$(bash -c 'echo $$ >"$1/cgroup.procs"; shift; exec setpriv --reuid=nobody --regid=nogroup --clear-groups -- "$@"' \
		_ "$CG" /usr/bin/python3 "$WORK/client.py" fork "$sock" "$WORK/out/fork")
	[[ "$p" =~ ^[0-9]+$ ]] || fail "the client did not connect: $p"
	gone "$p" || fail "the connecting process $p is still there"
	# Its pid goes to a process of the pod.
	assert_eq "$(/usr/bin/python3 "$WORK/reuse.py" "/proc/$cpid/ns/pid" "$CG/pod" "$p")" "$p" "the pod's new process has pid $p"
	reused=$(readlink "/proc/$p/ns/pid" 2>/dev/null || true)
	other_ns=$(readlink "/proc/$cpid/ns/pid")
	assert_eq "$reused" "$other_ns" "pid $p now belongs to a process of the pod"
	touch "$WORK/out/fork.go"
	for _ in $(seq 200); do [[ -s "$WORK/out/fork" ]] && break; sleep 0.05; done
	local res
	res=$(cat "$WORK/out/fork" 2>/dev/null || true)
	assert_contains "$res" "REFUSED" "the connection of an exited process outside the pod is refused, though its pid is a pod process's now ($(cat "$WORK/handoff.log"))"
	assert_contains "$res" "the process that connected has exited" "says why"
	assert_contains "$(cat "$WORK/handoff.log")" "refused pid $p (uid 65534 gid 65534): the process that connected has exited" \
		"the refusal is logged with the pid that connected"
	stop_handoff
	end_pod pod
	capture "$VFIOJAIL" teardown vm1
	assert_nothing_left "$CG" /run/vfiojail /sys/fs/bpf/vfiojail
	pass "hand-off: a client is the process that connected (SO_PEERPIDFD), never a process that got its pid"
}

# ---- All the client's ids, when the contexts are sent ---------------------------------
ids_changed() {
	setup
	make_pod pod
	local sock="$WORK/handoff.sock"
	# A setgid-root program the VM's user can run (a copy of python3).
	cp /usr/bin/python3 "$WORK/python-setgid"
	chown root:root "$WORK/python-setgid"
	chmod 2755 "$WORK/python-setgid"
	start_handoff "$sock" "$WORK/handoff.log"
	wait_socket "$sock" || fail "handoff did not start: $(cat "$WORK/handoff.log")"
	# In the pod, as the VM's user: connect, then exec the setgid program, which asks.
	capture in_pod "$cpid" "$CG/pod" nobody -- /usr/bin/python3 "$WORK/client.py" exec "$sock" "$WORK/out/exec" "$WORK/python-setgid"
	res=$(cat "$WORK/out/exec" 2>/dev/null || true)
	assert_contains "$res" "REFUSED" "a client whose gid changed after connect() is refused ($rc $err; $(cat "$WORK/handoff.log"))"
	assert_contains "$res" "the client's ids are not all the VM's" "says why"
	assert_contains "$res" "gid 65534 0 0 0" "with the ids (real, effective, saved, filesystem)"
	# The pod's launcher, unchanged, still gets them.
	capture in_pod "$cpid" "$CG/pod" nobody -- "$VFIOJAIL" launch --socket "$sock" -- vm1 -- "$WORK/probe" --out "$WORK/out/r.json"
	assert_eq "$rc" 0 "the pod's launcher gets the contexts ($err; $(cat "$WORK/handoff.log"))"
	assert_eq "$(jq -r '.fds | join(" ")' "$WORK/out/r.json")" "0 1 2 3" "the context on fd 3"
	stop_handoff
	end_pod pod
	capture "$VFIOJAIL" teardown vm1
	assert_nothing_left "$CG" /run/vfiojail /sys/fs/bpf/vfiojail
	pass "hand-off: every id of the client is the VM's when the contexts are sent"
}

# ---- poststop signals the daemon, never a process that got its pid ------------------------
poststop_pid_reuse() {
	setup
	make_pod pod
	local d other
	capture "$VFIOJAIL" hook create-runtime --timeout 60 "${roots[@]}" --spec-json "$(jq -c . "$spec")" <<<"$(oci_state c1 "$cpid")"
	assert_eq "$rc" 0 "hook create-runtime ($err)"
	d=$(daemon_of)
	[[ "$d" =~ ^[0-9]+$ && -e /proc/$d ]] || fail "no hand-off daemon: $d"
	# The daemon dies without a word (its record stays), and its pid goes to the launch
	# service, another vfiojail process.
	kill -9 "$d"
	gone "$d" || fail "the daemon $d is still there"
	mkdir -m 0755 /run/vfiojail-specs
	on_exit "rmdir /run/vfiojail-specs"
	echo $((d - 1)) >/proc/sys/kernel/ns_last_pid
	"$VFIOJAIL" serve --socket "$WORK/serve.sock" --spec-dir /run/vfiojail-specs 2>"$WORK/serve.log" &
	other=$!
	on_exit "kill $other 2>/dev/null"
	assert_eq "$other" "$d" "the launch service has the daemon's old pid"
	wait_socket "$WORK/serve.sock" || fail "serve did not start: $(cat "$WORK/serve.log")"
	capture "$VFIOJAIL" hook poststop -- vm1 <<<"$(oci_state c1 "$cpid")"
	assert_eq "$rc" 0 "hook poststop ($err)"
	sleep 0.2
	kill -0 "$other" 2>/dev/null || fail "poststop signalled the process that got the daemon's pid ($(cat "$WORK/serve.log"))"
	[[ -S "$WORK/serve.sock" ]] || fail "the launch service's socket is gone"
	[[ ! -e /run/vfiojail/handoff/vm1/handoff.sock ]] || fail "poststop left the dead daemon's socket"
	kill "$other"
	wait "$other" || fail "the launch service did not end cleanly ($(cat "$WORK/serve.log"))"
	end_pod pod
	capture "$VFIOJAIL" teardown vm1
	assert_eq "$rc" 0 "teardown ($err)"
	assert_nothing_left "$CG" /run/vfiojail /sys/fs/bpf/vfiojail
	pass "poststop: a process that got the dead daemon's pid is left alone"
}

# ---- The socket is made where no one else can reach it --------------------------------------
listen_race() {
	setup
	make_pod pod
	local dir="$WORK/sockdir" target="$WORK/root-file" att
	# A directory the VM's user may write (as the pod's read-write mount of the hand-off
	# directory was), and a file of root's elsewhere.
	mkdir -m 0777 "$dir"
	echo "root's" >"$target"
	chmod 0644 "$target"
	# The attacker, as the VM's user: every name in the directory but the socket's and its
	# own becomes a symlink to root's file (a directory is moved away first).
	cat >"$WORK/attack.sh" <<'SH'
d=$1 t=$2
shopt -s nullglob dotglob
while :; do
	for e in "$d"/*; do
		n=${e##*/}
		[[ $n == handoff.sock || $n == .atk || $n == *.moved || -L $e ]] && continue
		if [[ -d $e ]]; then
			mv -T "$e" "$e.moved" 2>/dev/null && ln -s "$t" "$e" 2>/dev/null
		else
			ln -sfn "$t" "$d/.atk" && mv -T "$d/.atk" "$e" 2>/dev/null
		fi
	done
done
SH
	setpriv --reuid=nobody --regid=nogroup --clear-groups -- bash "$WORK/attack.sh" "$dir" "$target" &
	att=$!
	on_exit "kill $att 2>/dev/null"
	# The daemon, held for a second as it sets the socket's mode.
	start_handoff "$dir/handoff.sock" "$WORK/handoff.log" env ASAN_OPTIONS=detect_leaks=0 strace -f -qq -o /dev/null \
		-e trace=chmod,fchmodat -e inject=chmod,fchmodat:delay_enter=1000000
	wait_socket "$dir/handoff.sock" || true
	kill "$att"
	wait "$att" 2>/dev/null || true
	assert_eq "$(stat -c '%U %a' "$target")" "root 644" \
		"root's file is unchanged: the socket's mode and owner were set on the socket only ($(ls -la "$dir"); $(cat "$WORK/handoff.log"))"
	assert_eq "$(stat -c '%U %a %F' "$dir/handoff.sock")" "nobody 600 socket" "the socket is in place, the VM user's"
	capture in_pod "$cpid" "$CG/pod" nobody -- "$VFIOJAIL" launch --socket "$dir/handoff.sock" -- vm1 -- "$WORK/probe" --out "$WORK/out/r.json"
	assert_eq "$rc" 0 "the pod's launcher gets the contexts ($err; $(cat "$WORK/handoff.log"))"
	stop_handoff
	end_pod pod
	capture "$VFIOJAIL" teardown vm1
	assert_nothing_left "$CG" /run/vfiojail /sys/fs/bpf/vfiojail
	pass "the socket is made in a directory of root's own: a symlink swapped in changes nothing of root's"
}

# ---- One hand-off per VM; the OCI state read whole -------------------------------------------
two_containers() {
	setup
	make_pod pod1
	local cpid1=$cpid cpid2 big d1 d2
	local hook=("$VFIOJAIL" hook create-runtime --timeout 60 "${roots[@]}" --spec-json "$(jq -c . "$spec")")
	make_pod pod2
	cpid2=$cpid
	# Pod annotations pass through the OCI state (CRI-O): 70 KB of them.
	big=$(/usr/bin/python3 -c 'print(", ".join("\"io.kubernetes.note%d\": \"%s\"" % (i, "x" * 1000) for i in range(70)))')
	capture "${hook[@]}" <<<"$(oci_state c1 "$cpid1" "$big")"
	assert_eq "$rc" 0 "a 70 KB OCI state is read whole ($err)"
	[[ -S /run/vfiojail/handoff/vm1/handoff.sock ]] || fail "the hand-off does not listen: $(cat /run/vfiojail/handoff/vm1.log)"
	d1=$(daemon_of)
	# A second container with the same device while the first's hand-off lives.
	capture "${hook[@]}" <<<"$(oci_state c2 "$cpid2")"
	assert_eq "$rc" 125 "the second container's createRuntime hook is refused ($err)"
	assert_contains "$err" "VM vm1 is being handed over to container c1" "naming the VM and the first container"
	assert_contains "$err" "container c2 does not start" "and the second"
	assert_eq "$(daemon_of)" "$d1" "the first container's hand-off is the one recorded"
	# The runtime runs the second container's poststop: the first's hand-off stays.
	capture "$VFIOJAIL" hook poststop -- vm1 <<<"$(oci_state c2 "$cpid2")"
	assert_eq "$rc" 0 "the second container's poststop ($err)"
	kill -0 "$d1" 2>/dev/null || fail "the second container's poststop ended the first's hand-off"
	[[ -S /run/vfiojail/handoff/vm1/handoff.sock ]] || fail "the second container's poststop removed the first's socket"
	# The hand-off directory where the CDI spec mounts it, read-only as the spec says:
	# connect() works through it.
	mkdir "$WORK/mnt"
	mount --bind /run/vfiojail/handoff/vm1 "$WORK/mnt"
	on_exit "umount $WORK/mnt 2>/dev/null"
	mount -o remount,bind,ro "$WORK/mnt"
	capture in_pod "$cpid1" "$CG/pod1" nobody -- env VFIOJAIL_SOCKET="$WORK/mnt/handoff.sock" \
		"$VFIOJAIL" launch -- vm1 -- "$WORK/probe" --out "$WORK/out/r.json"
	assert_eq "$rc" 0 "the first container's launcher gets the contexts ($err; $(cat /run/vfiojail/handoff/vm1.log))"
	assert_eq "$(jq -r '.fds | join(" ")' "$WORK/out/r.json")" "0 1 2 3" "the context on fd 3"
	umount "$WORK/mnt"
	# Its own poststop ends it.
	capture "$VFIOJAIL" hook poststop -- vm1 <<<"$(oci_state c1 "$cpid1")"
	assert_eq "$rc" 0 "the first container's poststop ($err)"
	gone "$d1" || fail "the first container's poststop left its hand-off"
	[[ ! -e /run/vfiojail/handoff/vm1/handoff.sock ]] || fail "poststop left the socket"
	[[ ! -e /run/vfiojail/handoff/vm1.pid ]] || fail "poststop left the record"
	# Then the second may have its own.
	capture "${hook[@]}" <<<"$(oci_state c2 "$cpid2")"
	assert_eq "$rc" 0 "once the first's hand-off ended, another container's starts ($err)"
	d2=$(daemon_of)
	capture "$VFIOJAIL" hook poststop -- vm1 <<<"$(oci_state c2 "$cpid2")"
	assert_eq "$rc" 0 "its poststop ($err)"
	gone "$d2" || fail "a hand-off outlived its poststop"
	# Beyond the bound, and no state at all.
	head -c $((17 << 20)) /dev/zero | tr '\0' ' ' >"$WORK/huge"
	capture "${hook[@]}" <"$WORK/huge"
	assert_eq "$rc" 2 "an OCI state over 16 MiB is refused ($err)"
	assert_contains "$err" "the OCI state on standard input is over 16 MiB" "says so, naming stdin"
	capture "$VFIOJAIL" hook poststop -- vm1 </dev/null
	assert_eq "$rc" 2 "poststop without the OCI state ($err)"
	assert_contains "$err" "no OCI state with the container's id on standard input" "says so"
	end_pod pod1
	end_pod pod2
	capture "$VFIOJAIL" teardown vm1
	assert_eq "$rc" 0 "teardown ($err)"
	assert_nothing_left "$CG" /run/vfiojail /sys/fs/bpf/vfiojail
	pass "one hand-off per VM: the second container is refused, its poststop leaves the first's alone"
}

# ---- A hook that fails leaves the container's memlock as it was ---------------------------
memlock_of() { # PID: "soft hard" RLIMIT_MEMLOCK, as /proc/PID/limits says
	awk '/^Max locked memory/ { print $4, $5 }' "/proc/$1/limits"
}
hook_memlock() {
	setup
	make_pod pod
	local hook=("$VFIOJAIL" hook create-runtime --timeout 60 "${roots[@]}" --spec-json "$(jq -c . "$spec")")
	local before
	# Soft below hard, both above the spec's 4 MiB: the hook would lower both.
	prlimit --pid "$cpid" --memlock=6291456:8388608
	before=$(memlock_of "$cpid")
	assert_eq "$before" "6291456 8388608" "the container's limits before"
	inject fork 1 EAGAIN -- "${hook[@]}" <<<"$(oci_state c1 "$cpid")"
	[[ -s "$WORK/out/hit" ]] || fail "the fault did not fire ($err)"
	assert_eq "$rc" 125 "the hook fails when its daemon cannot be forked ($err)"
	assert_contains "$err" "cannot fork the hand-off" "says why"
	assert_eq "$(memlock_of "$cpid")" "$before" "the container's RLIMIT_MEMLOCK is as it was"
	[[ ! -e /run/vfiojail/handoff/vm1.pid && ! -e /run/vfiojail/handoff/vm1/handoff.sock ]] ||
		fail "the failed hook left its record or socket"
	# The limit itself refused once the daemon listens: the daemon goes too.
	inject prlimit 1 EIO -- "${hook[@]}" <<<"$(oci_state c1 "$cpid")"
	[[ -s "$WORK/out/hit" ]] || fail "the fault did not fire ($err)"
	assert_eq "$rc" 125 "the hook fails when the limit cannot be set ($err)"
	assert_contains "$err" "RLIMIT_MEMLOCK of pid $cpid" "naming the container's process"
	assert_eq "$(memlock_of "$cpid")" "$before" "the container's RLIMIT_MEMLOCK is as it was"
	[[ ! -e /run/vfiojail/handoff/vm1.pid && ! -e /run/vfiojail/handoff/vm1/handoff.sock ]] ||
		fail "the failed hook left its record or socket ($(cat /run/vfiojail/handoff/vm1.log))"
	# (this test's own pid namespace: any vfiojail here is the failed hook's)
	pgrep -x vfiojail >/dev/null && fail "the hand-off daemon outlived its failed hook: $(pgrep -ax vfiojail)" || true
	# And one that succeeds sets the plan's limit, soft and hard.
	capture "${hook[@]}" <<<"$(oci_state c1 "$cpid")"
	assert_eq "$rc" 0 "hook create-runtime ($err)"
	assert_eq "$(memlock_of "$cpid")" "4194304 4194304" "the plan's RLIMIT_MEMLOCK"
	capture "$VFIOJAIL" hook poststop -- vm1 <<<"$(oci_state c1 "$cpid")"
	assert_eq "$rc" 0 "hook poststop ($err)"
	end_pod pod
	capture "$VFIOJAIL" teardown vm1
	assert_eq "$rc" 0 "teardown ($err)"
	assert_nothing_left "$CG" /run/vfiojail /sys/fs/bpf/vfiojail
	pass "a createRuntime hook that fails leaves the container's RLIMIT_MEMLOCK as it was, and no hand-off"
}

# ---- The OCI state's pid must be the runtime's -----------------------------------------------
hook_foreign_pid() {
	setup
	make_pod pod
	local hook=("$VFIOJAIL" hook create-runtime --timeout 60 "${roots[@]}" --spec-json "$(jq -c . "$spec")")
	# The runtime: a shell that runs the hook as its child (not pid 1: this test's
	# shell is its namespace's init, so everything here descends from it).
	local runtime=(bash -c '"$@"; exit $?' _)
	local victim before
	# Another user's daemon, which the runtime did not start: what the container's
	# pid names once the container's process died and the pid went to someone else.
	setsid -f bash -c 'echo $$ >"$1"; exec setpriv --reuid=nobody --regid=nogroup --clear-groups -- sleep 600' \
		_ "$WORK/victim.pid"
	for _ in $(seq 100); do [[ -s "$WORK/victim.pid" ]] && break; sleep 0.05; done
	victim=$(cat "$WORK/victim.pid")
	on_exit "kill $victim 2>/dev/null"
	before=$(memlock_of "$victim")
	capture "${runtime[@]}" "${hook[@]}" <<<"$(oci_state c1 "$victim")"
	assert_eq "$rc" 125 "the hook refuses a pid its runtime did not start ($err)"
	assert_contains "$err" "process $victim was not started by this hook's runtime" "naming the process"
	assert_eq "$(memlock_of "$victim")" "$before" "the other process's RLIMIT_MEMLOCK is as it was"
	[[ ! -e /run/vfiojail/handoff/vm1.pid && ! -e /run/vfiojail/handoff/vm1/handoff.sock ]] ||
		fail "the refused hook left its record or socket"
	# The pod's process, which this runtime did not start either: refused.
	before=$(memlock_of "$cpid")
	capture "${runtime[@]}" "${hook[@]}" <<<"$(oci_state c1 "$cpid")"
	assert_eq "$rc" 125 "a hook whose runtime did not start the pod's process is refused ($err)"
	assert_contains "$err" "process $cpid was not started by this hook's runtime" "naming the pod's process"
	assert_eq "$(memlock_of "$cpid")" "$before" "the pod's RLIMIT_MEMLOCK is as it was"
	# The pod's own runtime (this shell started it): accepted.
	capture "${hook[@]}" <<<"$(oci_state c1 "$cpid")"
	assert_eq "$rc" 0 "hook create-runtime from the pod's runtime ($err)"
	capture "$VFIOJAIL" hook poststop -- vm1 <<<"$(oci_state c1 "$cpid")"
	assert_eq "$rc" 0 "hook poststop ($err)"
	kill "$victim"
	end_pod pod
	capture "$VFIOJAIL" teardown vm1
	assert_eq "$rc" 0 "teardown ($err)"
	assert_nothing_left "$CG" /run/vfiojail /sys/fs/bpf/vfiojail
	pass "a createRuntime hook acts only on a process its runtime started; another's is left alone"
}

for t in ${VJ_TRUST_CASES:-pid_reuse ids_changed poststop_pid_reuse listen_race two_containers hook_memlock hook_foreign_pid}; do
	in_container gpu-iommufd "$t"
done
