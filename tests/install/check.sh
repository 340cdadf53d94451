#!/bin/sh
# Installs the build tree into a temporary prefix, then builds and runs a
# consumer four ways: pkg-config (shared, then --static) and
# find_package(varstore) (varstore::varstore, then
# varstore::varstore_static). Checks that each binary uses the library it
# was meant to, and that the installed CMake files hold no machine path.
# Usage: check.sh BUILD_DIR SOURCE_DIR WORK_DIR
set -eu
build=$1 src=$2 work=$3
rm -rf "$work"
mkdir -p "$work"
prefix="$work/prefix"
cmake --install "$build" --prefix "$prefix" >/dev/null
libdir=$(dirname "$(find "$prefix" -name 'libvarstore.so.*.*' | head -n 1)")
export PKG_CONFIG_PATH="$libdir/pkgconfig"

fail() { echo "install check: $*" >&2; exit 1; }
uses_shared() { ldd "$1" | grep -q "libvarstore\.so\.0 => $libdir/"; }

# 1. The plain pkg-config line: the shared library.
# shellcheck disable=SC2046
cc -std=c11 -Wall -Wextra -Werror -o "$work/pc_shared" "$src/consumer.c" \
    $(pkg-config --cflags --libs varstore)
LD_LIBRARY_PATH="$libdir" "$work/pc_shared" "$work/pc_shared.db"
LD_LIBRARY_PATH="$libdir" uses_shared "$work/pc_shared" ||
    fail "pkg-config consumer does not load $libdir/libvarstore.so.0"

# 2. pkg-config --static: a static executable, no libvarstore.so.
# shellcheck disable=SC2046
cc -std=c11 -Wall -Wextra -Werror -static -o "$work/pc_static" \
    "$src/consumer.c" $(pkg-config --static --cflags --libs varstore) \
    2>"$work/pc_static.log" || { cat "$work/pc_static.log"; fail "static link"; }
"$work/pc_static" "$work/pc_static.db"
if ldd "$work/pc_static" 2>/dev/null | grep -q libvarstore; then
    fail "the --static consumer loads libvarstore.so"
fi

# 3. and 4. find_package: the shared and the static target.
for kind in shared static; do
    on=OFF
    [ "$kind" = static ] && on=ON
    cmake -S "$src" -B "$work/cmake-$kind" -DCMAKE_PREFIX_PATH="$prefix" \
        -DVS_CONSUMER_STATIC=$on >"$work/cmake-$kind.log" 2>&1 ||
        { cat "$work/cmake-$kind.log"; fail "cmake configure ($kind)"; }
    cmake --build "$work/cmake-$kind" >>"$work/cmake-$kind.log" 2>&1 ||
        { cat "$work/cmake-$kind.log"; fail "cmake build ($kind)"; }
    "$work/cmake-$kind/consumer" "$work/cmake-$kind.db"
done
uses_shared "$work/cmake-shared/consumer" ||
    fail "varstore::varstore consumer does not load libvarstore.so.0"
if ldd "$work/cmake-static/consumer" | grep -q libvarstore; then
    fail "varstore::varstore_static consumer loads libvarstore.so"
fi

# The exported targets name no file of this machine and no empty
# generator expression.
if grep -n -e '/usr/lib' -e '/lib/x86_64' -e 'LINK_ONLY:>' \
    "$libdir"/cmake/varstore/*.cmake; then
    fail "machine paths or empty expressions in the exported targets"
fi
echo "install check: ok"
