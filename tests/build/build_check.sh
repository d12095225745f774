#!/bin/sh
# A source file or build part that is missing stops the build instead of
# being left out: configure copies of the tree with one file deleted and
# expect cmake to fail, naming the file.
# Usage: build_check.sh SOURCE_DIR WORK_DIR
set -eu
src=$1
work=$2
rm -rf "$work"
mkdir -p "$work"
for f in src/baselines/hash.c src/baselines/mmap.c src/vm/evict.c tools/common/options.c \
	tests/unit/unit_owner.c tests/unit/CMakeLists.txt tests/lib/testutil.c; do
	copy=$work/tree
	rm -rf "$copy"
	mkdir -p "$copy"
	(cd "$src" && tar cf - --exclude='./build*' --exclude=./.git --exclude=./out .) |
		(cd "$copy" && tar xf -)
	rm "$copy/$f"
	if cmake -S "$copy" -B "$copy/build" >"$work/log" 2>&1; then
		echo "build_check: with $f deleted, cmake succeeded"
		exit 1
	fi
	if ! grep -q "$(basename "$f")" "$work/log"; then
		echo "build_check: with $f deleted, cmake failed without naming it:"
		cat "$work/log"
		exit 1
	fi
	echo "build_check: $f deleted: cmake stops"
done
rm -rf "$work"
