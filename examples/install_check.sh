#!/bin/sh
# Install the build into a fresh prefix given at install time only, and
# build and run examples/hello.c from there with the compile and link lines
# the README gives (pkg-config through the installed ptbm.pc; -rpath, as the
# prefix is outside the linker's search path; and the static line).
# Usage: install_check.sh BUILD_DIR SOURCE_DIR SCRATCH_DIR
set -eu
build=$1 src=$2 scratch=$3
rm -rf "$scratch"
mkdir -p "$scratch"
prefix=$scratch/prefix
cmake --install "$build" --prefix "$prefix" >/dev/null
pc=$(find "$prefix" -name ptbm.pc)
[ -n "$pc" ] || { echo "no ptbm.pc installed under $prefix" >&2; exit 1; }
export PKG_CONFIG_PATH=$(dirname "$pc")
libdir=$(cd "$(pkg-config --variable=libdir ptbm)" && pwd -P)
case $libdir in
"$(cd "$prefix" && pwd -P)"/*) ;;
*) echo "ptbm.pc's libdir $libdir is not under the prefix $prefix" >&2; exit 1 ;;
esac
[ -f "$libdir/libptbm.so" ] || { echo "ptbm.pc's libdir $libdir has no libptbm.so" >&2; exit 1; }
cd "$scratch"
cc "$src/examples/hello.c" $(pkg-config --cflags --libs ptbm) -Wl,-rpath,"$libdir" -o hello
./hello
cc "$src/examples/hello.c" $(pkg-config --cflags ptbm) -Wl,-Bstatic -lptbm -Wl,-Bdynamic \
   -Wl,--as-needed $(pkg-config --static --libs ptbm) -o hello-static
if ldd ./hello-static | grep -q libptbm; then
  echo "hello-static still needs libptbm.so" >&2
  exit 1
fi
./hello-static
echo "install_check: installed in $prefix, hello ran linked shared and static"
