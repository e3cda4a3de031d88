#!/usr/bin/env bash
# Every bad spec gets exit status 2 and a message naming the field and the value,
# through the CLI, from a file and from flags; nothing is printed on stdout.
source "$(dirname "$0")/lib.sh"

make_host gpu-iommufd
roots=(--sysfs-root "$HOST/sys" --dev-root "$HOST/dev")
n=0
bad_json() { # JSON FIELD VALUE
	printf '%s' "$1" >"$WORK/spec.json"
	capture "$VFIOJAIL" plan "$WORK/spec.json" "${roots[@]}"
	assert_eq "$rc" 2 "exit status for $1 ($err)"
	assert_contains "$err" "$2" "field named for $1"
	assert_contains "$err" "$3" "value named for $1"
	assert_eq "$out" "" "no partial output for $1"
	n=$((n + 1))
}
base='"name":"v","user":"nobody"'
bad_json '{"name":"a/b","user":"nobody"}' name 'a/b'
bad_json "{\"name\":\"$(printf '\300\257')\",\"user\":\"nobody\"}" name 'not valid UTF-8'
bad_json "{\"name\":\"$(printf 'x%.0s' {1..201})\",\"user\":\"nobody\"}" name 201
bad_json '{"name":"v","user":"no-such-user-here"}' user no-such-user-here
bad_json '{"name":"v","user":"root"}' user root
bad_json "{$base,\"group\":\"no-such-group\"}" group no-such-group
bad_json "{$base,\"memory\":\"12XB\"}" memory 12XB
bad_json "{$base,\"memory\":\"16777216TiB\"}" memory 16777216TiB
bad_json "{$base,\"memory\":\"1GB\"}" memory 1GB
bad_json "{$base,\"memory\":-5}" memory -5
bad_json "{$base,\"memory\":\"1G\",\"hostdevs\":[{\"pci\":\"0000:07:20.1\"}]}" 'hostdevs[0].pci' 0000:07:20.1
bad_json "{$base,\"memory\":\"1G\",\"hostdevs\":[{\"pci\":\"0000:07:00.8\"}]}" 'hostdevs[0].pci' 0000:07:00.8
bad_json "{$base,\"memory\":\"1G\",\"hostdevs\":[{\"pci\":\"00000:07:00.0\"}]}" 'hostdevs[0].pci' 00000:07:00.0
bad_json "{$base,\"memory\":\"1G\",\"hostdevs\":[{\"pci\":\"07:00.0\"},{\"pci\":\"0000:07:00.0\"}]}" 'hostdevs[1].pci' 0000:07:00.0
bad_json "{$base,\"memory\":\"1G\",\"hostdevs\":[{\"pci\":\"07:00.0\",\"iommufd\":\"ctx9\"}]}" 'hostdevs[0].iommufd' ctx9
bad_json "{$base,\"memory\":\"1G\",\"hostdevs\":[{\"pci\":\"07:00.0\",\"bakend\":\"legacy\"}]}" 'hostdevs[0].bakend' bakend
bad_json "{$base,\"hostdevs\":[{\"pci\":\"07:00.0\"}]}" memory required
bad_json "{$base,\"iommufd\":[{\"id\":\"a\"},{\"id\":\"a\"}]}" 'iommufd[1].id' '"a"'
bad_json "{$base,\"devices\":[\"/etc/passwd\"]}" 'devices[0]' /etc/passwd
bad_json "{$base,\"devices\":[\"/dev/../etc/shadow\"]}" 'devices[0]' '/dev/../etc/shadow'
bad_json "{$base,\"devices\":[{\"path\":\"/dev/kvm\",\"access\":\"rwx\"}]}" 'devices[0].access' rwx
bad_json "{$base,\"devices\":[\"/dev/kvm\",\"/dev/kvm\"]}" 'devices[1]' /dev/kvm
bad_json "{$base,\"viommu\":\"two\"}" viommu two
bad_json "{$base,\"migration\":1}" migration 1
bad_json "{$base,\"memlock\":{\"hard_limit\":\"1G\",\"extra\":\"1G\"}}" memlock extra
bad_json "{$base,\"colour\":\"blue\"}" colour colour
bad_json "{$base,\"arch\":\"vax\"}" arch vax
bad_json '[1,2]' spec array
bad_json "{$base," spec ''
pass "$n malformed specs refused with status 2"

bad_flag() { # FIELD VALUE ARGS...
	local field=$1 value=$2
	shift 2
	capture "$VFIOJAIL" plan "${roots[@]}" "$@"
	assert_eq "$rc" 2 "exit status for $* ($err)"
	assert_contains "$err" "$field" "field named for $*"
	assert_contains "$err" "$value" "value named for $*"
	n=$((n + 1))
}
bad_flag --hostdev 0000:07:20.1 --name v --user nobody --memory 1G --hostdev 0000:07:20.1
bad_flag --memory 1.5G --name v --user nobody --memory 1.5G
bad_flag --name 'a/b' --name 'a/b' --user nobody
bad_flag --device /tmp/x --name v --user nobody --device /tmp/x
bad_flag --frobnicate frobnicate --name v --user nobody --frobnicate
capture "$VFIOJAIL" plan "$WORK/spec.json" --name v
assert_eq "$rc" 2 "file and flags mixed"
capture "$VFIOJAIL" plan /nonexistent/spec.json
assert_eq "$rc" 2 "missing spec file"
assert_contains "$err" /nonexistent/spec.json "names the file"
capture "$VFIOJAIL" frobnicate
assert_eq "$rc" 2 "unknown command"
pass "$n bad inputs refused with status 2 in all"
