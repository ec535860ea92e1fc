#!/usr/bin/env bash
# supervisor_check.sh SUPERVISOR - the supervisor example's smoke test: run
# it over `sleep`, kill the program (it is started again), send SIGHUP (it
# is restarted), then SIGTERM (it is stopped and the supervisor exits 0);
# then over a program that exits at once, stopped with SIGINT. The backend
# comes from POLLUX_BACKEND. Waits are bounded; nothing here is timed.
set -euo pipefail
sup=$1
dir=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null; rm -rf "$dir"' EXIT
out=$dir/out

# wait_for N REGEX: until N lines of the output match REGEX (30 s at most).
wait_for() {
    for _ in $(seq 600); do
        [ "$(grep -c -E "$2" "$out" || true)" -ge "$1" ] && return 0
        sleep 0.05
    done
    echo "supervisor_check: no $1 line(s) matching '$2' in:" >&2
    cat "$out" >&2
    exit 1
}
latest_child() { grep -E '^started ' "$out" | tail -n1 | cut -d' ' -f2; }
# finish SIGNAL: send it, the supervisor must exit 0 having said "stopped".
finish() {
    kill "-$1" "$pid"
    status=0
    wait "$pid" || status=$?
    pid=
    [ "$status" -eq 0 ] || { echo "supervisor_check: exit status $status" >&2; cat "$out" >&2; exit 1; }
    [ "$(tail -n1 "$out")" = stopped ] || { echo "supervisor_check: no 'stopped'" >&2; cat "$out" >&2; exit 1; }
}

"$sup" sleep 1000 >"$out" 2>&1 &
pid=$!
wait_for 1 '^started '
c1=$(latest_child)
kill -KILL "$c1"                               # the program dies ...
wait_for 1 "^killed $c1 signal 9\$"
wait_for 2 '^started '                         # ... and is started again
c2=$(latest_child)
kill -HUP "$pid"                               # reload
wait_for 1 "^reload: stopping $c2\$"
wait_for 1 "^killed $c2 signal 15\$"
wait_for 3 '^started '
c3=$(latest_child)
finish TERM                                    # stop
grep -q -E "^stopping $c3\$" "$out"
grep -q -E "^killed $c3 signal 15\$" "$out"
if kill -0 "$c3" 2>/dev/null; then
    echo "supervisor_check: $c3 still there" >&2
    exit 1
fi

"$sup" sh -c 'exit 3' >"$out" 2>&1 &          # exits at once, again and again
pid=$!
wait_for 2 '^exited [0-9]+ status 3$'
finish INT
echo "supervisor_check: ${POLLUX_BACKEND:-auto}: restart, reload, SIGTERM and SIGINT stop: ok"
