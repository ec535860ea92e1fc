#!/usr/bin/env python3
"""snippets.py SOURCE_ROOT CC [CC ARGS...] - compile every C snippet of the docs.

Every ```c block in README.md and docs/*.md is compiled with
-std=c11 -Wall -Wextra -Werror against include/, so that code a user copies
from the documentation builds as shown.

A block is a complete translation unit unless an HTML comment (invisible on
a rendered page) right before it says otherwise; blank lines may separate
the two:

    <!-- snippet: fragment
    #include <pollux.h>
    extern pollux *p;
    -->

  fragment   the block is a function body: it is compiled inside
             `int pollux_snippet(void) { ... return 0; }`, after the
             comment's other lines (the prelude: includes and the
             declarations of the names the fragment uses, at file scope);
  top-level  the block is file-scope code compiled after the prelude.

The prelude holds everything the snippet needs, includes too (feature-test
macros such as _POSIX_C_SOURCE must come before any header). Compiler
messages point at the Markdown file's own lines.
"""
import glob
import os
import re
import subprocess
import sys
import tempfile

FLAGS = ['-std=c11', '-Wall', '-Wextra', '-Werror']
MARK = re.compile(r'^<!-- snippet: (\S+)(.*)$')


def parse(path):
    """Yields (line of the block, mode, prelude, prelude line, code lines)."""
    lines = open(path, encoding='utf-8').read().split('\n')
    i, pending = 0, None
    while i < len(lines):
        line = lines[i]
        m = MARK.match(line)
        if m:
            mode, rest = m.group(1), m.group(2).strip()
            if mode not in ('fragment', 'top-level'):
                raise SyntaxError(f'{path}:{i + 1}: unknown snippet mode {mode!r}')
            start, prelude = i + 2, []
            if rest != '-->':
                if rest:
                    raise SyntaxError(f'{path}:{i + 1}: the prelude starts on the next line')
                i += 1
                while i < len(lines) and lines[i].strip() != '-->':
                    prelude.append(lines[i])
                    i += 1
                if i == len(lines):
                    raise SyntaxError(f'{path}:{start - 1}: snippet comment without -->')
            pending = (mode, prelude, start)
        elif line == '```c':
            end = lines.index('```', i + 1)
            mode, prelude, pstart = pending or ('unit', [], 0)
            yield i + 2, mode, prelude, pstart, lines[i + 1:end]
            pending, i = None, end
        elif line.strip() and pending:
            raise SyntaxError(f'{path}:{i + 1}: a snippet comment must come right before a ```c block')
        i += 1
    if pending:
        raise SyntaxError(f'{path}: a snippet comment without a ```c block after it')


def source(md, first, mode, prelude, pstart, code):
    out = []
    if prelude:
        out += [f'#line {pstart} "{md}"'] + prelude
    if mode == 'fragment':
        out += ['int pollux_snippet(void);', 'int pollux_snippet(void)', '{']
    out += [f'#line {first} "{md}"'] + code
    if mode == 'fragment':
        out += ['return 0;', '}']
    return '\n'.join(out) + '\n'


def main():
    root, cc = sys.argv[1], sys.argv[2:]
    docs = [os.path.join(root, 'README.md')] + sorted(glob.glob(os.path.join(root, 'docs', '*.md')))
    count = failed = 0
    with tempfile.TemporaryDirectory() as work:
        for path in docs:
            md = os.path.relpath(path, root)
            for first, mode, prelude, pstart, code in parse(path):
                count += 1
                name = os.path.join(work, f'{md.replace("/", "_")}-{first}.c')
                with open(name, 'w', encoding='utf-8') as f:
                    f.write(source(md, first, mode, prelude, pstart, code))
                cmd = cc + FLAGS + ['-I', os.path.join(root, 'include'), '-c', name,
                                    '-o', name + '.o']
                run = subprocess.run(cmd, capture_output=True, text=True)
                status = 'ok' if run.returncode == 0 else 'FAILED'
                print(f'{md}:{first - 1}: {mode}: {status}')
                if run.returncode != 0:
                    failed += 1
                    sys.stdout.write(run.stdout + run.stderr)
    print(f'{count} snippets, {failed} failed')
    # No snippet found means the extractor is broken, not that all is well.
    return 1 if failed or count == 0 else 0


if __name__ == '__main__':
    sys.exit(main())
