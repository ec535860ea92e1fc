#!/usr/bin/env bash
# man.sh HEADER BUILD_ROOT - install the man pages (meson's "man" tag) into
# a scratch directory and check that every public function of HEADER has a
# section 3 page under its own name, that the page's NAME section names
# it, and that man formats every page without a warning.
set -euo pipefail
header=$1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
meson install -C "$2" --no-rebuild --quiet --destdir "$work" --tags man >/dev/null
man3=$(dirname "$(find "$work" -path '*/man3/pollux.3' | head -n1)")
[ -d "$man3" ] || { echo "no pollux.3 installed" >&2; exit 1; }

functions=$(grep -oE '^POLLUX_API [^(]*\bpollux_[a-z_]+\(' "$header" |
            grep -oE 'pollux_[a-z_]+\($' | tr -d '(')
[ -n "$functions" ] || { echo "no function found in $header" >&2; exit 1; }
status=0
for fn in $functions; do
    if [ ! -e "$man3/$fn.3" ]; then
        echo "$fn: no man page" >&2; status=1; continue
    fi
    # The NAME section of the page (or of the page a link points to).
    name=$(sed -n '/^\.SH NAME/,/^\.SH SYNOPSIS/p' "$man3/$fn.3")
    grep -qw "$fn" <<<"$name" || { echo "$fn: its page's NAME does not name it" >&2; status=1; }
done
for page in $(find "$man3" -name '*.3' -type f); do
    warnings=$(man --warnings -l "$page" 2>&1 >/dev/null)
    if [ -n "$warnings" ]; then
        echo "${page##*/}: $warnings" >&2; status=1
    fi
done
echo "$(wc -w <<<"$functions") functions, $(find "$man3" -name '*.3' -type f | wc -l) pages checked"
exit $status
