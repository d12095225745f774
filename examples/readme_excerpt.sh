#!/bin/sh
# Description: the C excerpt under "## A first program" in README.md is
# taken from examples/hello.c as it stands: every line of it is a line of
# the file, so the README cannot drift from the program the suite runs.
# usage: readme_excerpt.sh README.md examples/hello.c
set -eu
readme=$1
src=$2
excerpt=$(awk '/^## A first program/ { s = 1 }
	s && /^```c$/ { c = 1; next }
	c && /^```$/ { exit }
	c' "$readme")
if [ -z "$excerpt" ]; then
	echo "readme_excerpt: no C block under \"## A first program\" in $readme" >&2
	exit 1
fi
status=0
n=0
while IFS= read -r line; do
	[ -n "$line" ] || continue
	n=$((n + 1))
	if ! grep -qxF -e "$line" "$src"; then
		echo "readme_excerpt: not in $src: $line" >&2
		status=1
	fi
done <<END
$excerpt
END
[ $status -eq 0 ] && echo "readme_excerpt: $n lines, all in $src"
exit $status
