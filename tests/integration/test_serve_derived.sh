#!/usr/bin/env bash
# The launch service with derived specs (written by vfiojail derive --install from a
# libvirt domain at "prepare"; here by hand): a derived spec alone grants its VM; with
# root's spec beside it, root's bounds it (a hostdev root did not grant, a bigger
# memlock: refused, naming the field and root's file) and the VM runs as root's user
# with the derived plan; --require-spec makes root's spec mandatory; the derived-spec
# directory and files are trusted only when root's alone, as the spec directory.
source "$(dirname "$0")/lib.sh"

derived_service() {
	serve_fixture
	gone() { for _ in $(seq 100); do [[ -e /run/vfiojail/$1.json ]] || return 0; sleep 0.05; done; fail "jail $1 not removed: $(cat "$WORK/serve.log")"; }
	refused() { # WHAT STATUS NEEDLE CMD...
		local what=$1 status=$2 needle=$3; shift 3
		capture "$@"
		assert_eq "$rc" "$status" "$what ($err)"
		assert_contains "$err" "$needle" "$what: message"
		nothing_left
	}
	derived=/run/vfiojail/libvirt
	mkdir -p -m 0700 /run/vfiojail "$derived"
	# What a jail leaves; the derived specs are checked on their own.
	nothing_left() {
		assert_nothing_left "$CG" /run/vfiojail/none /sys/fs/bpf/vfiojail
		local left
		left=$(find /run/vfiojail -mindepth 1 -not -path "$derived" -not -path "$derived/*")
		[[ -z "$left" ]] || fail "state left: $left"
	}
	derive_for() { # NAME USER MEMLOCK [PCI] -> a derived spec
		printf '{ "name": "%s", "user": "%s", "memory": "1GiB", "iommufd": [ { "id": "iommufd0" } ],
  "hostdevs": [ { "pci": "%s" } ], "memlock": { "hard_limit": "%s" } }\n' "$1" "$2" "${4:-0009:06:00.0}" "$3"
	}
	launch() { # NAME: as nobody, the probe's report in $WORK/out/r.json
		capture as_nobody "$VFIOJAIL" launch "$1" --socket "$sock" -- "$WORK/probe" --out "$WORK/out/r.json"
	}

	# No root spec: the derived one grants the VM, its plan is the VMM's.
	derive_for d1 nobody 8MiB >"$derived/d1.json"
	chmod 0600 "$derived/d1.json"
	launch d1
	assert_eq "$rc" 0 "a derived spec alone ($err; $(cat "$WORK/serve.log"))"
	assert_eq "$(rq .memlock.soft)/$(rq .memlock.hard)" 8388608/8388608 "the derived plan's memlock"
	assert_contains "$(cat "$WORK/serve.log")" "VM d1 launched for pid $(rq .pid) (uid 65534), cgroup" "launched"
	assert_contains "$(cat "$WORK/serve.log")" "spec $derived/d1.json" "the log says which spec"
	gone d1
	nothing_left
	pass "a derived spec alone grants its VM, with its plan"

	# Root's spec (vm1: the GPU, memlock 4 MiB) bounds the derived one: the derived
	# plan when within it, its user root's (the derived file's is not used).
	derive_for vm1 daemon 2MiB >"$derived/vm1.json"
	launch vm1
	assert_eq "$rc" 0 "a derived spec within root's ($err; $(cat "$WORK/serve.log"))"
	assert_eq "$(rq .memlock.soft)/$(rq .memlock.hard)" 2097152/2097152 "the derived plan's memlock, not root's 4 MiB"
	assert_eq "$(rq .uid)" 65534 "root's user"
	assert_contains "$(cat "$WORK/serve.log")" "spec $derived/vm1.json bounded by $specs/vm1.json" "the log says both"
	gone vm1
	nothing_left
	pass "root's spec bounds the derived one: the derived plan, root's user"

	# Beyond root's: refused (3), naming the field, both values and root's file.
	derive_for vm1 nobody 8MiB >"$derived/vm1.json"
	refused "a memlock above root's" 3 "RLIMIT_MEMLOCK 8388608 bytes (8 MiB), more than the plan of $specs/vm1.json (4194304 bytes (4 MiB))" \
		as_nobody "$VFIOJAIL" launch vm1 --socket "$sock" -- "$WORK/probe"
	derive_for vm1 nobody 2MiB 0009:07:00.0 >"$derived/vm1.json"
	refused "a hostdev root did not grant" 3 "hostdevs[0].pci: 0009:07:00.0: not granted by $specs/vm1.json" \
		as_nobody "$VFIOJAIL" launch vm1 --socket "$sock" -- "$WORK/probe"
	# Root's spec changed after the derived one was written: checked at each launch.
	derive_for vm1 nobody 4MiB >"$derived/vm1.json"
	launch vm1
	assert_eq "$rc" 0 "within root's ($err)"
	gone vm1
	sed -i 's/"4MiB"/"3MiB"/' "$specs/vm1.json"
	refused "root lowered its memlock since" 3 "more than the plan of $specs/vm1.json (3145728 bytes" \
		as_nobody "$VFIOJAIL" launch vm1 --socket "$sock" -- "$WORK/probe"
	pass "beyond root's spec: refused, naming the field and root's file, checked at each launch"

	# The derived files and their directory are trusted as root's spec directory is.
	chown nobody "$derived/d1.json"
	refused "a derived spec owned by the VM user" 3 "owned by uid 65534" \
		as_nobody "$VFIOJAIL" launch d1 --socket "$sock" -- "$WORK/probe"
	chown root "$derived/d1.json"
	ln -s "$derived/d1.json" "$derived/d2.json"
	refused "a symlink as a derived spec" 3 "no spec grants VM d2" \
		as_nobody "$VFIOJAIL" launch d2 --socket "$sock" -- "$WORK/probe"
	rm "$derived/d2.json"
	chmod 0777 "$derived"
	refused "a derived-spec dir others may write" 3 "writable by its group or others" \
		as_nobody "$VFIOJAIL" launch d1 --socket "$sock" -- "$WORK/probe"
	capture "$VFIOJAIL" serve --socket "$WORK/bad.sock" --spec-dir "$specs" "${roots[@]}"
	assert_eq "$rc" 125 "serve with a world-writable derived-spec dir ($err)"
	assert_contains "$err" "$derived: the derived-spec directory is writable by its group or others" "says which"
	chmod 0700 "$derived"
	pass "the derived specs: root's files in a root-only directory, no symlink"

	# vfiojail derive --install, as the libvirt hook runs it at "prepare": the domain
	# XML on stdin.  The VM's memlock follows the domain's <memory> with no spec
	# rewritten (1 GiB + the 1 GiB I/O allowance, then 2 GiB + 1 GiB): read from the
	# installed spec's plan, as the service makes it (a launch would need the service
	# to raise the client's hard limit past 8 MiB, and this sandbox has no
	# CAP_SYS_RESOURCE); a <memtune><hard_limit> of 6 MiB is launched.
	dom() { # NAME MEMORY_MIB [EXTRA]
		printf "<domain type='kvm'><name>%s</name><memory unit='MiB'>%s</memory>%s<devices>
  <hostdev mode='subsystem' type='pci' managed='yes'><driver iommufd='yes'/>
    <source><address domain='0x0009' bus='0x06' slot='0x00' function='0x0'/></source></hostdev>
</devices></domain>\n" "$1" "$2" "${3:-}"
	}
	host=(--sysfs-root "$HOST/sys" --dev-root "$HOST/dev")
	for mib in 1024 2048; do
		capture "$VFIOJAIL" derive --from libvirt --install --spec-dir "$specs" --user nobody "${host[@]}" -- g1 < <(dom g1 $mib)
		assert_eq "$rc/$out/$err" "0//" "derive --install of a $mib MiB domain"
		assert_eq "$(stat -c '%U %a' "$derived/g1.json")" "root 600" "the derived spec: root's, 0600"
		capture "$VFIOJAIL" plan --json "${roots[@]}" "$derived/g1.json"
		assert_eq "$rc/$(jq -r .memlock.bytes <<<"$out")" "0/$(((mib + 1024) << 20))" "memlock for <memory> $mib MiB ($err)"
	done
	capture "$VFIOJAIL" derive --from libvirt --install --spec-dir "$specs" --user nobody "${host[@]}" -- g1 \
		< <(dom g1 2048 "<memtune><hard_limit unit='KiB'>6144</hard_limit></memtune>")
	assert_eq "$rc/$err" "0/" "derive --install with a memtune hard limit"
	launch g1
	assert_eq "$rc" 0 "launch from the derived spec ($err; $(cat "$WORK/serve.log"))"
	assert_eq "$(rq .memlock.soft)/$(rq .memlock.hard)" 6291456/6291456 "the VMM's memlock: the derived plan's"
	gone g1
	# The longest escape a name may have (240 bytes: 60 "+"), written and removed.
	long=$(printf '+%.0s' $(seq 60))
	capture "$VFIOJAIL" derive --from libvirt --install --spec-dir "$specs" --user nobody "${host[@]}" -- "$long" < <(dom "$long" 1024)
	assert_eq "$rc/$err" "0/" "derive --install of a name whose escape is 240 bytes"
	[[ -f "$derived/$(printf '\\x2b%.0s' $(seq 60)).json" ]] || fail "no derived spec for the long name: $(ls "$derived")"
	capture "$VFIOJAIL" derive --remove -- "$long"
	assert_eq "$rc/$err/$(ls "$derived" | grep -c x2b)" "0//0" "derive --remove of the long name"
	capture "$VFIOJAIL" derive --remove -- g1
	assert_eq "$rc/$err" "0/" "derive --remove"
	[[ ! -e "$derived/g1.json" ]] || fail "the derived spec is left"
	capture "$VFIOJAIL" derive --remove -- g1
	assert_eq "$rc/$err" "0/" "derive --remove of a spec that is not there"
	# Bounded at install: vm1's root spec grants 1 GiB.
	capture "$VFIOJAIL" derive --from libvirt --install --spec-dir "$specs" --user nobody "${host[@]}" -- vm1 < <(dom vm1 2048)
	assert_eq "$rc" 2 "a domain bigger than root's spec ($err)"
	assert_contains "$err" "memory: 2147483648 bytes (2048 MiB): more than the 1073741824 bytes (1024 MiB) $specs/vm1.json grants" "names the field, both values and the file"
	[[ ! -e "$derived/vm1.json" ]] || fail "a refused derived spec was written"
	capture "$VFIOJAIL" derive --from libvirt --install --spec-dir "$specs" --user nobody "${host[@]}" -- other < <(dom vm1 1024)
	assert_eq "$rc" 2 "a domain XML of another name ($err)"
	assert_contains "$err" "the domain XML's <name> is \"vm1\", not \"other\"" "says so"
	assert_eq "$(ls "$derived")" d1.json "no derived spec but d1's (hand-written) is left"
	nothing_left
	pass "derive --install: the spec from the domain XML, bounded by root's; memlock follows <memory>; --remove"

	# --require-spec: a derived spec needs root's beside it.
	kill -TERM $serve; wait $serve || true
	serve_start "$sock" "$specs" --require-spec "${roots[@]}"
	# The line comes once the socket listens: wait for it.
	for _ in $(seq 100); do grep -q -- "--require-spec" "$WORK/serve.log" && break; sleep 0.05; done
	assert_contains "$(cat "$WORK/serve.log")" "--require-spec" "the service says it"
	refused "a derived spec alone under --require-spec" 3 "no spec of root's in $specs bounds the derived one" \
		as_nobody "$VFIOJAIL" launch d1 --socket "$sock" -- "$WORK/probe"
	sed -i 's/"3MiB"/"4MiB"/' "$specs/vm1.json"
	derive_for vm1 nobody 4MiB >"$derived/vm1.json"
	launch vm1
	assert_eq "$rc" 0 "bounded under --require-spec ($err)"
	gone vm1
	rm "$derived/vm1.json"
	launch vm1
	assert_eq "$rc" 0 "root's spec alone under --require-spec ($err)"
	assert_eq "$(rq .memlock.soft)" 4194304 "root's plan"
	gone vm1
	nothing_left
	pass "--require-spec: a derived spec needs root's; root's alone still serves"

	capture "$VFIOJAIL" plan --require-spec --name x --user nobody
	assert_eq "$rc" 2 "--require-spec on plan ($err)"
	assert_contains "$err" "--require-spec is for serve and derive --install, not plan" "says where it belongs"
	pass "--require-spec and --derived-dir are refused elsewhere"
}
in_container gpu-iommufd derived_service
