#!/usr/bin/env bash
# check.sh SOURCE_ROOT BUILD_ROOT - build tests/consumers/consumer.c the
# three ways a project can use pollux, and run each result:
#   1. installed, found with pkg-config (shared and static)
#   2. vendored as a meson subproject
#   3. vendored by copying include/ and src/ and compiling them directly
set -euo pipefail
src=$(cd "$1" && pwd)
build=$(cd "$2" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cc=${CC:-cc}
consumer="$src/tests/consumers/consumer.c"

echo "== pkg-config (installed with DESTDIR)"
meson install -C "$build" --no-rebuild --quiet --destdir "$work/root" >/dev/null
pcdir=$(dirname "$(find "$work/root" -name pollux.pc | head -n1)")
# pollux.pc moved with DESTDIR: its prefix says where it is now. (A
# PKG_CONFIG_SYSROOT_DIR would also move the packages it requires, such
# as libkqueue, which are where they were.) Extend the caller's
# PKG_CONFIG_PATH, which is how those are found.
mkdir "$work/pc"
sed "s|^prefix=|prefix=$work/root|" "$pcdir/pollux.pc" > "$work/pc/pollux.pc"
saved_pkg_config_path=${PKG_CONFIG_PATH-}
export PKG_CONFIG_PATH="$work/pc${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
# Where the linker and the programs find libpollux.so and what it needs.
libdirs=$(pkg-config --static --libs-only-L pollux | sed "s/^ *-L//; s/ *$//; s/ *-L/:/g")
"$cc" "$consumer" -o "$work/shared" $(pkg-config --cflags --libs pollux) -Wl,-rpath-link,"$libdirs"
LD_LIBRARY_PATH="$libdirs" "$work/shared"
"$cc" "$consumer" -o "$work/static" $(pkg-config --cflags pollux) \
    -Wl,-Bstatic $(pkg-config --static --libs-only-L --libs-only-l pollux) -Wl,-Bdynamic
"$work/static"
export PKG_CONFIG_PATH="$saved_pkg_config_path"
[ -n "$PKG_CONFIG_PATH" ] || unset PKG_CONFIG_PATH

echo "== meson subproject"
mkdir -p "$work/app/subprojects"
ln -s "$src" "$work/app/subprojects/pollux"
cp "$consumer" "$work/app/"
cat > "$work/app/meson.build" <<'MESON'
project('app', 'c')
pollux_dep = dependency('pollux', fallback: ['pollux', 'pollux_dep'],
                        default_options: ['default_library=static'])
executable('app', 'consumer.c', dependencies: pollux_dep)
MESON
# Never let a system-wide pollux.pc satisfy the dependency instead.
meson setup "$work/app/build" "$work/app" --wrap-mode=forcefallback >/dev/null
ninja -C "$work/app/build" >/dev/null
"$work/app/build/app"

echo "== copied sources"
"$cc" -std=c11 -I"$src/include" "$src"/src/*.c "$consumer" -o "$work/copied" -lpthread
"$work/copied"
echo "all consumer builds ran"
