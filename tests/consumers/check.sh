#!/usr/bin/env bash
# check.sh SOURCE_ROOT BUILD_ROOT - build tests/consumers/consumer.c the
# ways a project can use pollux, and run each result:
#   1. installed, found with pkg-config (shared and static)
#   2. installed, found with CMake's find_package (shared and static)
#   3. vendored as a meson subproject, whose install must not ship pollux
#      unless asked
#   4. vendored by copying include/ and src/ and compiling them directly,
#      which must make the same platform decisions as meson's probes
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

echo "== CMake find_package (same install)"
prefix=$(sed -n 's/^prefix=//p' "$pcdir/pollux.pc")
mkdir -p "$work/cmake-app"
cp "$consumer" "$work/cmake-app/"
cat > "$work/cmake-app/CMakeLists.txt" <<'CMAKE'
cmake_minimum_required(VERSION 3.13)
project(consumer C)
find_package(pollux 99.0 QUIET)
if(pollux_FOUND)
  message(FATAL_ERROR "pollux ${pollux_VERSION} was accepted for 99.0")
endif()
# 0.2 broke 0.1's ABI (CHANGELOG.md): before 1.0 a minor is a major.
find_package(pollux 0.1 QUIET)
if(pollux_FOUND)
  message(FATAL_ERROR "pollux ${pollux_VERSION} was accepted for 0.1")
endif()
find_package(pollux 0.2 REQUIRED)
add_executable(consumer consumer.c)
target_link_libraries(consumer PRIVATE pollux::pollux)
CMAKE
for kind in shared static; do
    flag=OFF
    [ "$kind" = static ] && flag=ON
    cmake -S "$work/cmake-app" -B "$work/cmake-$kind" -DCMAKE_C_COMPILER="$cc" \
        -DCMAKE_PREFIX_PATH="$work/root$prefix" -DPOLLUX_USE_STATIC_LIBS=$flag >/dev/null
    cmake --build "$work/cmake-$kind" >/dev/null
    needed=$(objdump -p "$work/cmake-$kind/consumer" | awk '$1 == "NEEDED" && $2 ~ /pollux/ {print $2}')
    case "$kind:$needed" in
        shared:libpollux.so.1 | static:) ;;
        *) echo "CMake $kind build: the program needs [$needed]" >&2; exit 1 ;;
    esac
    LD_LIBRARY_PATH="$libdirs" "$work/cmake-$kind/consumer"
done

echo "== meson subproject"
mkdir -p "$work/app/subprojects"
ln -s "$src" "$work/app/subprojects/pollux"
cp "$consumer" "$work/app/"
cat > "$work/app/meson.build" <<'MESON'
project('app', 'c')
pollux_dep = dependency('pollux', fallback: ['pollux', 'pollux_dep'],
                        default_options: ['default_library=static'])
executable('app', 'consumer.c', dependencies: pollux_dep, install: true)
MESON
# Never let a system-wide pollux.pc satisfy the dependency instead.
meson setup "$work/app/build" "$work/app" --wrap-mode=forcefallback >/dev/null
ninja -C "$work/app/build" >/dev/null
"$work/app/build/app"
# The parent's install ships its program and nothing of pollux; with
# -Dpollux:install=true it ships pollux too.
meson install -C "$work/app/build" --quiet --destdir "$work/app-root" >/dev/null
[ -n "$(find "$work/app-root" -name app -type f)" ]
leaked=$(find "$work/app-root" -iname '*pollux*')
if [ -n "$leaked" ]; then
    echo "the parent project's install holds pollux files:" $leaked >&2
    exit 1
fi
meson configure "$work/app/build" -Dpollux:install=true >/dev/null
meson install -C "$work/app/build" --quiet --destdir "$work/app-root-asked" >/dev/null
for f in pollux.h libpollux.a pollux.pc; do
    [ -n "$(find "$work/app-root-asked" -name "$f")" ] || { echo "-Dpollux:install=true did not install $f" >&2; exit 1; }
done

echo "== copied sources"
# Without meson, src/platform.h deduces what meson's probes find (on Linux,
# where that deduction covers every probe): the files as compiled by a
# copied-source build must see the same HAVE_* decisions as config.h, or
# such builds silently lose features (epoll_pwait2's nanosecond waits).
if [ "$(uname -s)" = Linux ]; then
    probes='HAVE_(EVENTFD|TIMERFD|PPOLL|EPOLL_PWAIT2)'
    want=$(grep -oE "^#define $probes\b" "$build/config.h" | awk '{print $2}' | sort | xargs)
    for f in $(grep -l '#include "platform.h"' "$src"/src/*.c); do
        got=$("$cc" -std=c11 -I"$src/include" -dM -E "$f" | grep -oE "^#define $probes\b" |
              awk '{print $2}' | sort | xargs)
        if [ "$got" != "$want" ]; then
            echo "copied-source build of ${f##*/} decides [$got], meson's probes [$want]" >&2
            exit 1
        fi
    done
fi
"$cc" -std=c11 -I"$src/include" "$src"/src/*.c "$consumer" -o "$work/copied"
"$work/copied"
echo "all consumer builds ran"
