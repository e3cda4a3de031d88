# SPDX-License-Identifier: LGPL-2.1-or-later
# bash completion for vfiojail(1): its commands, each command's flags, the values of
# the flags that take a fixed set, spec files, and jail names (from `vfiojail list`).
# Self-contained: it needs none of bash-completion's helpers, so it also works when
# sourced by hand (`source tools/completion/vfiojail.bash`).
# tests/integration/test_completion.sh checks it against `vfiojail --help`: every
# command, and every flag on each command's usage lines, must be completed.

_vfiojail_commands='plan check run setup enter attach detach teardown status list serve
launch contexts cdi handoff hook derive gc version'

_vfiojail_spec_flags='--name --user --group --groups --memory --arch --hostdev --device
--iommufd --viommu --nvme --vdpa --pci-host-bridges --migration --memlock-hard-limit
--memlock-extra --memlock-unlimited'
_vfiojail_host_flags='--sysfs-root --proc-root --dev-root --cgroup-parent --state-dir --bpffs'
_vfiojail_launch_flags='--exec --preserve-fds --iommufd-accounting='

_vfiojail_flags() { # COMMAND -> its flags on stdout
	local s=$_vfiojail_spec_flags h=$_vfiojail_host_flags l=$_vfiojail_launch_flags
	case $1 in
	plan) echo "$s $h --json" ;;
	check | status | list) echo "$h --json" ;;
	run) echo "$s $h $l" ;;
	setup) echo "$s $h" ;;
	enter) echo "$h $l" ;;
	attach) echo "--hostdev --device --qmp --qmp-iommufd --qmp-bus --timeout $h" ;;
	detach) echo "--hostdev --device --qmp --timeout $h" ;;
	teardown) echo "--kill --if-launched $h" ;;
	serve) echo "--socket --spec-dir --derived-dir --require-spec --daemon --pidfile --log $h" ;;
	launch | contexts) echo "--socket --preserve-fds --timeout" ;;
	cdi) echo "$s $h --allocation --vfiojail --timeout" ;;
	handoff) echo "$s $h --pid --socket --timeout" ;;
	derive) echo "--from --install --remove --spec-dir --derived-dir --require-spec --user --group --sysfs-root --dev-root" ;;
	gc) echo "$h" ;;
	esac
	echo --help
}

# Jail names: the first column of `vfiojail list` below its header (as root; a user
# who may not read the state directory gets none).
_vfiojail_jails() {
	"${COMP_WORDS[0]}" list "$@" 2>/dev/null | awk 'NR > 1 { print $1 }'
}

_vfiojail() {
	local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD - 1]}
	local cmd="" i w state=()
	for ((i = 1; i < COMP_CWORD; i++)); do
		w=${COMP_WORDS[i]}
		case $w in
		--) # the VMM or command and its arguments (or a NAME that starts with "-")
			COMPREPLY=()
			if [ $((i + 1)) -eq "$COMP_CWORD" ] && [[ $cur != -* ]]; then
				mapfile -t COMPREPLY < <(compgen -c -- "$cur")
			else
				mapfile -t COMPREPLY < <(compgen -f -- "$cur")
			fi
			return 0 ;;
		--state-dir) state=(--state-dir "${COMP_WORDS[i + 1]}"); i=$((i + 1)) ;;
		--state-dir=*) state=("$w") ;;
		--sysfs-root | --proc-root | --dev-root | --bpffs | --spec-dir | --socket | --pidfile | \
			--log | --vfiojail | --allocation | --device | --from | --user | --group | --name | \
			--groups | --memory | --arch | --hostdev | --iommufd | --viommu | --nvme | --vdpa | \
			--pci-host-bridges | --memlock-hard-limit | --memlock-extra | --cgroup-parent | \
			--preserve-fds | --timeout | --pid)
			i=$((i + 1)) ;; # its value is no command
		-*) ;;
		*) [ -z "$cmd" ] && cmd=$w ;;
		esac
	done
	COMPREPLY=()
	if [ -z "$cmd" ]; then
		if [[ $cur == -* ]]; then
			mapfile -t COMPREPLY < <(compgen -W "--help" -- "$cur")
		else
			mapfile -t COMPREPLY < <(compgen -W "$_vfiojail_commands" -- "$cur")
		fi
		return 0
	fi

	# The value of the flag before the cursor.
	case $prev in
	--sysfs-root | --proc-root | --dev-root | --state-dir | --bpffs | --spec-dir | --derived-dir)
		mapfile -t COMPREPLY < <(compgen -d -- "$cur"); return 0 ;;
	--socket | --pidfile | --log | --vfiojail | --allocation | --device | --qmp)
		mapfile -t COMPREPLY < <(compgen -f -- "$cur"); return 0 ;;
	--from) mapfile -t COMPREPLY < <(compgen -W libvirt -- "$cur"); return 0 ;;
	--user) mapfile -t COMPREPLY < <(compgen -u -- "$cur"); return 0 ;;
	--group) mapfile -t COMPREPLY < <(compgen -g -- "$cur"); return 0 ;;
	--name | --groups | --memory | --arch | --hostdev | --iommufd | --viommu | --nvme | \
		--vdpa | --pci-host-bridges | --memlock-hard-limit | --memlock-extra | \
		--cgroup-parent | --preserve-fds | --timeout | --pid | --qmp-iommufd | --qmp-bus)
		return 0 ;;
	esac
	# --iommufd-accounting=VALUE: one word, or three where COMP_WORDBREAKS holds "=".
	if [[ $cur == --iommufd-accounting=* ]]; then
		mapfile -t COMPREPLY < <(compgen -W "strict best-effort" -- "${cur#*=}")
		return 0
	elif [[ $cur == = && $prev == --iommufd-accounting ]]; then
		mapfile -t COMPREPLY < <(compgen -W "strict best-effort")
		return 0
	elif [[ $prev == = && ${COMP_WORDS[COMP_CWORD - 2]} == --iommufd-accounting ]]; then
		mapfile -t COMPREPLY < <(compgen -W "strict best-effort" -- "$cur")
		return 0
	fi
	if [[ $cur == -* ]]; then
		mapfile -t COMPREPLY < <(compgen -W "$(_vfiojail_flags "$cmd")" -- "$cur")
		[[ ${COMPREPLY[0]:-} == *= ]] && compopt -o nospace 2>/dev/null
		return 0
	fi
	case $cmd in
	enter | attach | detach | teardown | status | launch | contexts)
		mapfile -t COMPREPLY < <(compgen -W "$(_vfiojail_jails "${state[@]}")" -- "$cur") ;;
	hook) mapfile -t COMPREPLY < <(compgen -W "create-runtime poststop" -- "$cur") ;;
	plan | run | setup | cdi | handoff | derive)
		mapfile -t COMPREPLY < <(compgen -f -- "$cur") ;;
	esac
	return 0
}
complete -F _vfiojail vfiojail
