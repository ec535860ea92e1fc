#!/usr/bin/env bash
# exports.sh LIBRARY... - a shared library exports the public API and
# nothing else (every defined dynamic symbol starts with pollux_); a static
# library defines no global symbol outside the pollux namespace (every one
# starts with pollux), so that a static or copied-source build never
# clashes with a user's own names.
set -euo pipefail
status=0
for lib in "$@"; do
    case "$lib" in
    *.a)
        # A sanitizer build adds its own (__odr_asan.*): not the library's.
        symbols=$(nm --defined-only "$lib" 2>/dev/null \
            | awk 'NF == 3 && $2 ~ /^[A-Z]$/ && $3 !~ /^__(odr_)?asan/ { print $3 }')
        prefix='^pollux' ;;
    *)
        symbols=$(nm -D --defined-only "$lib" | awk '{ print $3 }')
        prefix='^pollux_' ;;
    esac
    count=$(printf '%s\n' "$symbols" | grep -c "$prefix" || true)
    others=$(printf '%s\n' "$symbols" | grep -v "$prefix" | grep -v '^$' || true)
    if [ -n "$others" ]; then
        echo "$lib: global symbols outside $prefix:"
        printf '%s\n' "$others"
        status=1
    fi
    echo "$lib: $count global symbols, all matching $prefix"
    [ "$count" -gt 0 ] || status=1
done
exit $status
