#!/usr/bin/env bash
# serve without systemd: `vfiojail serve --daemon --pidfile P --log F` returns once its
# socket listens, detached (its own session, stdin /dev/null, stdout and stderr the
# log), its pid in P; a second one on the same pid file is refused; its log lines carry
# the time, as the hand-off's do; a launch goes through it; SIGTERM removes the socket
# and then the pid file.  A service that cannot start says why to the caller (125) and
# leaves nothing.
source "$(dirname "$0")/lib.sh"

daemon_tests() {
	gpu_host_vm1
	specs=/run/vfiojail-specs
	mkdir -m 0755 "$specs"
	chmod 0755 "$WORK"
	printf '{ "name": "vm1", "user": "nobody", "memory": "1GiB", "iommufd": [ { "id": "iommufd0" } ],
  "hostdevs": [ { "pci": "0009:06:00.0" } ], "memlock": { "hard_limit": "4MiB" } }\n' >"$specs/vm1.json"
	sock="$WORK/launch.sock" pidf="$WORK/serve.pid" log="$WORK/serve.log"
	stamp='^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z vfiojail serve: '
	before=$(date -u +%s)

	capture "$VFIOJAIL" serve --daemon --socket "$sock" --spec-dir "$specs" --pidfile "$pidf" --log "$log" "${roots[@]}"
	assert_eq "$rc/$out/$err" "0//" "serve --daemon returns 0, silently"
	[[ -S "$sock" ]] || fail "the socket listens when serve --daemon returns"
	pid=$(cat "$pidf")
	on_exit "kill $pid 2>/dev/null"
	[[ -d /proc/$pid ]] || fail "the pid file names a running process ($pid)"
	assert_eq "$(readlink /proc/$pid/exe)" "$(readlink -f "$VFIOJAIL")" "the pid file names the service"
	assert_eq "$(awk '{ print $6 }' /proc/$pid/stat)" "$pid" "a session of its own"
	assert_eq "$(readlink /proc/$pid/fd/0)" /dev/null "stdin is /dev/null"
	assert_eq "$(readlink /proc/$pid/fd/1) $(readlink /proc/$pid/fd/2)" "$log $log" "stdout and stderr are the log"
	assert_eq "$(readlink /proc/$pid/cwd)" / "its directory is /"
	pass "serve --daemon: detached once it listens, its pid in the pid file"

	# A second service on the same pid file: refused before it listens anywhere.
	capture "$VFIOJAIL" serve --daemon --socket "$WORK/other.sock" --spec-dir "$specs" --pidfile "$pidf" --log "$log"
	assert_eq "$rc" 125 "a second service on the pid file ($err)"
	assert_contains "$err" "a vfiojail serve already runs with this pid file (pid $pid)" "names the running one"
	[[ ! -e "$WORK/other.sock" ]] || fail "the refused service listened"
	assert_eq "$(cat "$pidf")" "$pid" "the pid file is the first service's still"
	pass "a second service on the same pid file is refused"

	# A launch through it, logged with the time.
	capture setpriv --reuid=nobody --regid=nogroup --init-groups -- "$VFIOJAIL" launch vm1 --socket "$sock" -- \
		"$WORK/probe" --out "$WORK/out/r.json"
	assert_eq "$rc" 0 "launch through the daemon ($err; $(cat "$log"))"
	vmm=$(jq -r .pid "$WORK/out/r.json")
	for _ in $(seq 100); do grep -q "VM vm1 ended" "$log" && break; sleep 0.05; done
	grep -Eq "${stamp}serving on $sock, specs from $specs, derived specs from " "$log" || fail "the start, timestamped: $(cat "$log")"
	grep -Eq "${stamp}VM vm1 launched for pid $vmm " "$log" || fail "the launch, timestamped: $(cat "$log")"
	grep -Eq "${stamp}VM vm1 ended; jail removed" "$log" || fail "the end, timestamped: $(cat "$log")"
	bad=$(grep -Ev "$stamp" "$log" || true)
	[[ -z "$bad" ]] || fail "every log line carries the time: $bad"
	# The time is UTC and now.
	t=$(date -u -d "$(head -1 "$log" | cut -d' ' -f1)" +%s)
	((t >= before - 1 && t <= $(date -u +%s))) || fail "the first line's time ($t) is not now ($before..): $(head -1 "$log")"
	pass "the log: every line timestamped (UTC), the launch in it"

	# SIGTERM: the socket goes, then the pid file.
	kill -TERM "$pid"
	for _ in $(seq 100); do [[ -d /proc/$pid ]] || break; sleep 0.05; done
	[[ ! -d /proc/$pid ]] || fail "the service did not stop on SIGTERM"
	[[ ! -e "$sock" ]] || fail "the socket is left"
	[[ ! -e "$pidf" ]] || fail "the pid file is left"
	grep -Eq "${stamp}signal 15 received" "$log" || fail "the stop is logged: $(cat "$log")"
	lines=$(wc -l <"$log")
	pass "SIGTERM: socket and pid file removed"

	# A service that cannot start (a spec directory others may write): the caller hears
	# why, with serve's status; nothing is left; the log gains the reason.
	mkdir -m 0777 "$WORK/open-specs"
	capture "$VFIOJAIL" serve --daemon --socket "$sock" --spec-dir "$WORK/open-specs" --pidfile "$pidf" --log "$log"
	assert_eq "$rc" 125 "serve --daemon with a spec directory others may write ($err)"
	assert_contains "$err" "writable" "the caller hears why"
	[[ ! -e "$sock" && ! -e "$pidf" ]] || fail "a failed start leaves its socket or pid file"
	(($(wc -l <"$log") > lines)) || fail "the log is appended to, with the reason"
	grep -Eq "${stamp}.*writable" "$log" || fail "the reason in the log: $(cat "$log")"
	# Its log where it cannot be opened: the caller hears it, nothing starts.
	capture "$VFIOJAIL" serve --daemon --socket "$sock" --spec-dir "$specs" --pidfile "$pidf" --log "$WORK/no/such/dir/log"
	assert_eq "$rc" 125 "a log that cannot be opened ($err)"
	assert_contains "$err" "cannot open the log" "says so"
	[[ ! -e "$sock" && ! -e "$pidf" ]] || fail "nothing is left"
	# --daemon and socket activation do not mix; the flags are serve's.
	capture bash -c 'export LISTEN_PID=$$ LISTEN_FDS=1; exec "$0" serve --daemon --pidfile "$1" --log "$2"' \
		"$VFIOJAIL" "$pidf" "$log"
	assert_eq "$rc" 2 "--daemon under socket activation ($err)"
	capture "$VFIOJAIL" list --pidfile "$pidf"
	assert_eq "$rc" 2 "--pidfile is serve's ($err)"
	assert_nothing_left "$CG" /run/vfiojail /sys/fs/bpf/vfiojail
	pass "a start that fails: the caller hears why; nothing is left"
}
in_container gpu-iommufd daemon_tests
