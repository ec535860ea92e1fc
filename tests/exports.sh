#!/usr/bin/env bash
# exports.sh LIBRARY - the shared library exports the public API and
# nothing else: every defined dynamic symbol starts with pollux_.
set -euo pipefail
symbols=$(nm -D --defined-only "$1" | awk '{ print $3 }')
count=$(printf '%s\n' "$symbols" | grep -c '^pollux_' || true)
others=$(printf '%s\n' "$symbols" | grep -v '^pollux_' || true)
if [ -n "$others" ]; then
    echo "exported but not pollux_*:"
    printf '%s\n' "$others"
    exit 1
fi
echo "$count symbols exported, all pollux_*"
[ "$count" -gt 0 ]
