#!/usr/bin/env bash
# docs/ARCHITECTURE.md against the tree, so that neither drifts: every source file,
# folder and C name the page gives exists; every source file under src/ is on the
# page; the layers are the page's, in its order, and no file includes a header of
# a layer above its own or beside it (cmd/ and service/ stand side by side: the build
# enforces that through each layer's include path: this names the file and the
# header when it breaks).
source "$(dirname "$0")/lib.sh"
cd "$VJ_SOURCE_ROOT"
doc=docs/ARCHITECTURE.md
[[ -f $doc ]] || fail "$doc is missing"
# The tree as it stands: git's files (tracked and new) that exist, or every file.
tracked=$( (git ls-files --cached --others --exclude-standard 2>/dev/null ||
	find . -path ./.git -prune -o -type f -print | sed 's|^\./||') | sort -u |
	while read -r f; do [[ -f $f ]] && echo "$f"; done)

# 1. Every file the page names: a path is looked up as written, a bare name
#    anywhere in the tree.  X, NAME and ESC stand for any name; build outputs are
#    named as such.
generated='devfilter.insns.h|config.h'
bad=""
for f in $(grep -oE '[A-Za-z0-9_./-]*[A-Za-z0-9_-]+\.(c|h|sh|md|py|bpf\.c|[15])\b' "$doc" | sort -u); do
	[[ $f =~ (^|/)(X|test_X|NAME|ESC)\. || $f =~ ^($generated)$ || $f == *.json ]] && continue
	f=${f#./}
	if [[ $f == */* ]]; then
		grep -qxF "$f" <<<"$tracked" || grep -qxF "src/$f" <<<"$tracked" || bad+=" $f"
	else
		grep -qE "(^|/)${f//./\\.}\$" <<<"$tracked" || bad+=" $f"
	fi
done
[[ -z $bad ]] || fail "$doc names files the tree does not have:$bad"
for d in $(grep -oE '`src/[a-z]+/`' "$doc" | tr -d '`' | sort -u); do
	[[ -d $d ]] || fail "$doc names the folder $d, which is gone"
done
pass "every file and folder the page names exists"

# 2. Every C name in backquotes (vj_*, VJ_*, and snake_case names) is defined or
#    used somewhere in the sources, the tests' scripts or the build files.
names=$(grep -oE '`[A-Za-z_][A-Za-z0-9_]*(\(\))?`' "$doc" | tr -d '`()' | grep -E '^(vj_|VJ_)|^[a-z][a-z0-9]*(_[a-z0-9]+)+$' | sort -u)
sources=$(grep -E '^(src|include|bpf|tests|tools)/.*\.([ch]|sh)$|(^|/)meson\.build$' <<<"$tracked")
bad=""
for n in $names; do
	case $n in x_* | *_x | *_X) continue ;; esac # a template: x_do, VJ_STEP_X
	# shellcheck disable=SC2086
	grep -qw -- "$n" $sources || bad+=" $n"
done
[[ -z $bad ]] || fail "$doc names what no source file has:$bad"
pass "every C name the page gives is in the sources ($(wc -w <<<"$names") names)"

# 3. Every source file of src/ is on the page, and every folder of src/ is a layer.
bad=""
for f in $(grep -E '^src/.*\.c$' <<<"$tracked"); do
	grep -qF "$(basename "$f")" "$doc" || bad+=" $f"
done
[[ -z $bad ]] || fail "$doc does not describe:$bad"
layers=$(grep -oE '^\| [0-9]+ \| `src/[a-z]+/`' "$doc" | grep -oE 'src/[a-z]+' | sed 's|src/||')
[[ $(wc -l <<<"$layers") -ge 6 ]] || fail "$doc's layer table has too few rows: $layers"
for d in src/*/; do
	d=$(basename "$d")
	grep -qx "$d" <<<"$layers" || fail "src/$d/ is no layer of $doc's table"
done
build_layers=$(awk '/^layers = \[/ { on = 1 } on && /^  \[\x27[a-z]+\x27/ { gsub(/[^a-z]/, "", $1); print $1 } on && /^\]/ { exit }' src/meson.build)
assert_eq "$(tr '\n' ' ' <<<"$build_layers")" "$(tr '\n' ' ' <<<"$layers")" "the layers of src/meson.build, in order, are the page's"
pass "every source file is on the page; layers: $(tr '\n' ' ' <<<"$layers")"

# 4. No file includes a header of a layer above its own, or of a layer beside it:
#    the page's rank (its first column) orders the layers, and two layers of one
#    rank (cmd/ and service/) stand side by side, neither on the other's path.
declare -A rank
while read -r n d; do
	rank[$d]=$n
done < <(grep -oE '^\| [0-9]+ \| `src/[a-z]+/`' "$doc" | sed -E 's@^[|] ([0-9]+) [|] `src/([a-z]+)/`@\1 \2@')
side=$(for l in $layers; do echo "${rank[$l]}"; done | sort | uniq -d | while read -r n; do
	for l in $layers; do [[ ${rank[$l]} == "$n" ]] && echo "$l"; done
done | sort | tr '\n' ' ')
build_side=$(sed -n "s/^side_by_side = \[\(.*\)\]/\1/p" src/meson.build | grep -oE "[a-z]+" | sort | tr '\n' ' ')
assert_eq "$build_side" "$side" "the layers side by side in src/meson.build are the page's (one rank)"
[[ -n $side ]] || fail "$doc has no layers side by side: cmd/ and service/ share a rank"
bad=""
for l in $layers; do
	for f in src/"$l"/*.[ch]; do
		for h in $(grep -oE '^#include "[^"]+"' "$f" | cut -d'"' -f2); do
			[[ -f include/$h || $h =~ ^($generated|devfilter_key\.h)$ ]] && continue
			hl=""
			for m in $layers; do [[ -f src/$m/$h ]] && hl=$m; done
			[[ -n $hl ]] || { bad+=" $f:$h(unknown)"; continue; }
			[[ $hl == "$l" ]] && continue
			((rank[$hl] < rank[$l])) || bad+=" $f:$h(layer $hl)"
		done
	done
done
[[ -z $bad ]] || fail "includes of a layer above or beside:$bad"
pass "no file includes a header of a layer above its own or beside it (${side% } side by side)"

# 5. The walls are in the build: cmd/ is compiled without service/'s include path
#    and service/ without cmd/'s (and no layer with a path above its own).
cc_json=${VJ_BUILD_ROOT:-}/compile_commands.json
if [[ -n ${VJ_BUILD_ROOT:-} && -f $cc_json ]]; then
	bad=""
	while read -r file cmd; do
		[[ $file =~ src/([a-z]+)/[^/]+\.c$ ]] || continue
		own=${BASH_REMATCH[1]}
		[[ -n ${rank[$own]:-} ]] || continue
		for inc in $(grep -oE -- '-I[^ ]*src/[a-z]+( |$)' <<<"$cmd" | sed -E 's|.*src/([a-z]+) ?$|\1|'); do
			[[ -n ${rank[$inc]:-} && $inc != "$own" ]] || continue
			((rank[$inc] < rank[$own])) || bad+=" $file:-I$inc"
		done
	done < <(jq -r '.[] | "\(.file) \(.command // (.arguments | join(" ")))"' "$cc_json")
	[[ -z $bad ]] || fail "a layer is compiled with the include path of a layer above or beside it: $bad"
	pass "each layer compiles with the include paths of the layers below it only"
else
	pass "each layer's include path: no compile_commands.json here (VJ_BUILD_ROOT unset), not checked"
fi
