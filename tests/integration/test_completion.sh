#!/usr/bin/env bash
# The bash completion (tools/completion/vfiojail.bash) against `vfiojail --help`, so
# that neither can drift: it offers every command --help lists, and for each command
# every flag on that command's lines of --help; every flag --help names anywhere is
# offered by some command; and jail names come from `vfiojail list`.
source "$(dirname "$0")/lib.sh"
export COMPLETION=$VJ_SOURCE_ROOT/tools/completion/vfiojail.bash
# shellcheck source=/dev/null
source "$COMPLETION"

complete_line() { # WORD... (the last is the one being completed) -> candidates, one a line
	COMP_WORDS=("$VFIOJAIL" "$@")
	COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
	COMPREPLY=()
	_vfiojail
	printf '%s\n' "${COMPREPLY[@]}" | sed 's/=$//' | sort -u
}

help=$("$VFIOJAIL" --help)
# The commands section: from "Commands:" to the first empty line.
commands_section=$(awk '/^Commands:/ { on = 1; next } on && /^$/ { exit } on' <<<"$help")
help_commands=$(grep -oE '^  [a-z]+' <<<"$commands_section" | tr -d ' ' | sort -u)
[[ $(wc -l <<<"$help_commands") -ge 15 ]] || fail "--help lists too few commands: $help_commands"
assert_eq "$(complete_line "")" "$help_commands" "the commands completed are those of --help"
assert_eq "$(complete_line ch)" "check" "a prefix completes to its command"
pass "commands: $(wc -l <<<"$help_commands"), as --help lists them"

# Each command's lines: its own line(s) and the indented lines below them.
offered_all=""
for c in $help_commands; do
	lines=$(awk -v c="$c" '$1 == c && /^  [a-z]/ { on = 1; print; next }
		/^  [a-z]/ { on = 0 } on && /^                          / { print }' <<<"$commands_section")
	want=$(grep -oE -- '--[a-z][a-z-]*' <<<"$lines" | sort -u || true)
	offered=$(complete_line "$c" --)
	offered_all+=$'\n'"$offered"
	for f in $want; do
		grep -qx -- "$f" <<<"$offered" || fail "vfiojail $c --<TAB> does not offer $f (its --help lines: $lines)"
	done
	grep -qx -- --help <<<"$offered" || fail "vfiojail $c --<TAB> does not offer --help"
done
pass "each command's flags on its --help lines are completed"

for f in $(grep -oE -- '--[a-z][a-z-]*' <<<"$help" | sort -u); do
	grep -qx -- "$f" <<<"$offered_all" || fail "no command completes $f, which --help names"
done
# And nothing completed that --help does not name (a removed flag must leave both),
# but --help itself, which every command takes.
for f in $(sort -u <<<"$offered_all" | grep -- '^--' | grep -vx -- --help); do
	grep -q -- "$f\b" <<<"$help" || fail "the completion offers $f, which --help does not name"
done
pass "every flag of --help is completed, and no other"

assert_eq "$(complete_line run --iommufd-accounting=b)" "best-effort" "--iommufd-accounting= values"
# As bash splits it at "=" (COMP_WORDBREAKS): --iommufd-accounting = b
assert_eq "$(complete_line run --iommufd-accounting = b)" "best-effort" "--iommufd-accounting = b"
assert_eq "$(complete_line run --iommufd-accounting =)" "$(printf 'best-effort\nstrict')" "--iommufd-accounting ="
# A flag's value before the command is no command: jail names still complete after it.
assert_eq "$(complete_line --state-dir /nonexistent st)" "status" "a command after --state-dir DIR"
assert_eq "$(complete_line hook "")" "$(printf 'create-runtime\npoststop')" "hook's phases"
assert_eq "$(complete_line derive --from "")" "libvirt" "derive --from"
pass "flag values"

# Jail names, from a jail made by setup (root and cgroup2 with the device controller).
[ "$(id -u)" -eq 0 ] || skip "jail names need root (setup makes a jail)"
jail_names() {
	roots=(--sysfs-root "$HOST/sys" --dev-root "$HOST/dev")
	"$VFIOJAIL" setup "${roots[@]}" --name compl-vm1 --user nobody >/dev/null
	"$VFIOJAIL" setup "${roots[@]}" --name compl-vm2 --user nobody >/dev/null
	source "$COMPLETION"
	COMP_WORDS=("$VFIOJAIL" status compl-) COMP_CWORD=2
	_vfiojail
	got=$(printf '%s\n' "${COMPREPLY[@]}" | sort | paste -sd' ')
	COMP_WORDS=("$VFIOJAIL" teardown --kill "") COMP_CWORD=3
	_vfiojail
	got2=$(printf '%s\n' "${COMPREPLY[@]}" | grep '^compl-' | sort | paste -sd' ')
	"$VFIOJAIL" teardown compl-vm1
	"$VFIOJAIL" teardown compl-vm2
	assert_eq "$got" "compl-vm1 compl-vm2" "status compl-<TAB>"
	assert_eq "$got2" "compl-vm1 compl-vm2" "teardown --kill <TAB>"
	pass "jail names from vfiojail list"
}
in_container gpu-iommufd jail_names
