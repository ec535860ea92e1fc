#!/usr/bin/env bash
# tests/fuzz/run.sh - build the libFuzzer target with clang, ASan and UBSan,
# fuzz each backend for a bounded time, and fail on any finding.
#
# usage: tests/fuzz/run.sh [seconds-per-backend [backend...]]
#   default: 30 seconds on every backend usable here (the emulated kqueue
#   and /dev/poll included). Findings go to build-fuzz/fuzz-findings/;
#   tests/fuzz/README.md says how one becomes a corpus entry and a fix.
#   POLLUX_FUZZ_BUILD names the build directory (default build-fuzz), e.g.
#   one configured over libkqueue: PKG_CONFIG_PATH=<prefix>/lib/pkgconfig
#   POLLUX_FUZZ_BUILD=build-fuzz-libkqueue tests/fuzz/run.sh 60 kqueue
set -euo pipefail
cd "$(dirname "$0")/../.."

seconds=${1:-30}
shift || true
build=${POLLUX_FUZZ_BUILD:-build-fuzz}
if [ ! -d "$build" ]; then
    CC=clang meson setup "$build" -Dfuzzer=true -Db_sanitize=address,undefined \
        -Db_lundef=false --buildtype=debug -Dexamples=false >/dev/null
fi
meson compile -C "$build" tests/fuzz/fuzz_pollux tests/fuzz/fuzz_replay >/dev/null

if [ $# -gt 0 ]; then
    backends=("$@")
else
    mapfile -t backends < <("$build/tests/fuzz/fuzz_replay" --list)
fi

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
findings="$build/fuzz-findings"
mkdir -p "$findings"
failed=()
printf '%-8s %8s %12s  %s\n' backend seconds executions findings
for b in "${backends[@]}"; do
    # libFuzzer adds what it finds to the first directory; the committed
    # corpus is only read.
    work="$build/fuzz-work/$b"
    mkdir -p "$work"
    log="$findings/$b.log"
    start=$(date +%s)
    status=0
    POLLUX_FUZZ_BACKENDS="$b" "$build/tests/fuzz/fuzz_pollux" \
        -max_total_time="$seconds" -max_len=512 -timeout=20 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="$findings/$b-" \
        "$work" tests/fuzz/corpus >"$log" 2>&1 || status=$?
    elapsed=$(( $(date +%s) - start ))
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    if [ "$status" -eq 0 ]; then
        found=none
    else
        found="$(grep -m1 -E '^pollux-fuzz:|^==[0-9]+==ERROR|runtime error' "$log" || echo "exit status $status")"
        failed+=("$b")
    fi
    printf '%-8s %8s %12s  %s\n' "$b" "$elapsed" "${execs:-?}" "$found"
done

if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzzing found defects on: ${failed[*]} (inputs and logs in $findings)"
    exit 1
fi
