#!/bin/sh
# What the installed library holds.
#   symbols_check.sh no-fault-seam LIB...   no I/O fault-injection seam
# Usage: symbols_check.sh CHECK FILES...
set -eu
check=$1
shift
case $check in
no-fault-seam)
	for lib in "$@"; do
		found=$(nm --defined-only "$lib" 2>/dev/null | grep -c 'ptbm_fault_inject' || true)
		if [ "$found" != 0 ]; then
			echo "symbols_check: $lib has the fault-injection seam:"
			nm --defined-only "$lib" | grep 'ptbm_fault_inject'
			exit 1
		fi
		echo "symbols_check: $lib: no fault-injection seam"
	done
	;;
*)
	echo "symbols_check: unknown check $check" >&2
	exit 2
	;;
esac
