#!/usr/bin/env bash
# tools/bench --quick --runs 1 completes, prints every table and the targets, makes
# the plot, and leaves nothing behind.  No timing is asserted: timings belong to
# docs/PERFORMANCE.md, not to the test suite.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0:verify_asan_link_order=0}
source "$(dirname "$0")/lib.sh"

[[ $(id -u) -eq 0 ]] || skip "needs root"
[[ -n "$CG2" ]] || skip "no cgroup2 mount"
for p in runc gnuplot bpftool jq; do
	command -v "$p" >/dev/null || [[ -x /usr/sbin/$p ]] || skip "$p is not installed (tools/install-deps installs it)"
done
[[ -x "$VJ_BUILD_ROOT/tools/bench-floor" ]] || fail "the bench helpers were not built in $VJ_BUILD_ROOT/tools"

results=$(mktemp -d /tmp/vfiojail-bench-test.XXXXXX)
on_exit "rm -rf '$results'"
cgroups_before=$(find "$CG2" -maxdepth 1 -name 'vfiojail-bench.*' | sort)
tmp_before=$(find /tmp -maxdepth 1 -name 'vfiojail-bench.*' | sort)

capture "$VJ_SOURCE_ROOT/tools/bench" --quick --runs 1 --no-build --build "$VJ_BUILD_ROOT" --out "$results"
assert_eq "$rc" 0 "tools/bench exit status ($err)"

for title in "## Launch latency" "## Hotplug" "## Throughput" "## Per-open filter cost" \
	"## Peak RSS" "## Kernel memory per jail" "## Targets (issue 5)"; do
	assert_contains "$out" "$title" "the table"
done
for n in 1 8 64 256 1024; do
	grep -qE "^\| $n \| [0-9.]+ \| [0-9.]+ \| [0-9.]+ \| [0-9.]+ \| [0-9.]+ \| [0-9.]+ \| [0-9.]+ \| [0-9.]+ \| [0-9.]+ \|$" <<<"$out" ||
		fail "no complete launch latency row for N=$n in: $out"
done
for n in 1 64 1024 4096; do
	grep -qE "^\| $n \| [0-9.]+ \| [0-9.]+ \| [-+0-9.]+% \| [0-9.]+ \|" <<<"$out" ||
		fail "no per-open row for $n rules"
done
rows=$(sed -n '/^## Targets/,$p' <<<"$out" | grep -cE '\| (MET|MISSED) \|$')
assert_eq "$rows" 14 "every target has a verdict"
grep -qE "^\| run-exec \| [0-9.]+ \| [0-9.]+ \| -?[0-9.]+ \|$" <<<"$out" ||
	fail "no growth row for launches 50 ms apart in: $out"
grep -qE "[0-9.]+ us right after another move, [0-9.]+ us after 50 ms without one" <<<"$out" ||
	fail "no cgroup move cost in: $out"
grep -qE "with \"user\": \"nobody\" .*: [0-9.]+ ms, [0-9.]+x floor --exec" <<<"$(tr '\n' ' ' <<<"$out")" ||
	fail "no run --exec by user name in: $out"
assert_eq "$(cat "$results/results.md")" "$out" "results.md holds what was printed"
[[ "$(head -c 8 "$results/perf-launch.png" | od -An -tx1 | tr -d ' \n')" == 89504e470d0a1a0a ]] ||
	fail "perf-launch.png is not a PNG"
pass "every table, the targets and the plot"

assert_eq "$(find "$CG2" -maxdepth 1 -name 'vfiojail-bench.*' | sort)" "$cgroups_before" "cgroups left"
assert_eq "$(find /tmp -maxdepth 1 -name 'vfiojail-bench.*' | sort)" "$tmp_before" "temp dirs left"
left=$(find /sys/fs/cgroup -maxdepth 6 -type d -name 'vfiojail-bench-runc.*' 2>/dev/null || true)
[[ -z "$left" ]] || fail "runc cgroups left: $left"
pass "nothing left behind"
