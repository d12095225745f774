#!/bin/sh
# What the installed library holds.
#   symbols_check.sh no-fault-seam LIB...       no I/O fault-injection seam
#   symbols_check.sh exports PTBM_H LIB.so      it exports exactly the
#                                               functions ptbm.h declares
#   symbols_check.sh no-plt LIB.so FUNCTION...  FUNCTION (and its cold part)
#                                               calls nothing through the PLT
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
exports)
	header=$1
	lib=$2
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' EXIT
	# the declarations: "PTBM_API <type> [*]ptbm_name(" at the start of a line
	sed -n 's/^PTBM_API [^(]*[ *]\(ptbm_[a-z_]*\)(.*/\1/p' "$header" | sort -u >"$tmp/declared"
	nm -D --defined-only "$lib" | awk '$2 == "T" || $2 == "W" || $2 == "D" || $2 == "B" ||
		$2 == "R" || $2 == "V" || $2 == "i" { sub(/@.*/, "", $3); print $3 }' |
		sort -u >"$tmp/exported"
	if [ ! -s "$tmp/declared" ]; then
		echo "symbols_check: no declarations found in $header"
		exit 1
	fi
	if ! cmp -s "$tmp/declared" "$tmp/exported"; then
		echo "symbols_check: $lib exports other than what $header declares"
		echo "(< declared only, > exported only):"
		diff "$tmp/declared" "$tmp/exported" || true
		exit 1
	fi
	echo "symbols_check: $lib exports the $(wc -l <"$tmp/declared") functions of $header"
	;;
no-plt)
	lib=$1
	shift
	for fn in "$@"; do
		body=$(objdump -d --no-show-raw-insn "$lib" |
			awk -v a="<$fn>:" -v b="<$fn.cold>:" '$2 == a || $2 == b { on = 1; next }
				/^$/ { on = 0 } on')
		if [ -z "$body" ]; then
			echo "symbols_check: $fn not found in $lib"
			exit 1
		fi
		if echo "$body" | grep -q '@plt>'; then
			echo "symbols_check: $fn goes through the PLT:"
			echo "$body" | grep '@plt>'
			exit 1
		fi
		echo "symbols_check: $fn: $(echo "$body" | wc -l) lines disassembled, no PLT call"
	done
	;;
*)
	echo "symbols_check: unknown check $check" >&2
	exit 2
	;;
esac
