#!/usr/bin/env python3
"""Writes a copy of a C file that clang compiles: an initializer naming a `static const` object
(`.pre = imagenet_pre`, which GCC folds and clang refuses as not a compile-time constant) gets the
object's own braced initializer instead. Only the objects named on the command line are replaced.

usage: clang_initializers.py IN OUT NAME..."""
import re
import sys


def braced(text, start):
    depth = 0
    for i in range(start, len(text)):
        depth += {'{': 1, '}': -1}.get(text[i], 0)
        if depth == 0:
            return text[start:i + 1]
    raise SystemExit(f'{sys.argv[1]}: unbalanced braces in an initializer')


def main():
    src, out, names = sys.argv[1], sys.argv[2], sys.argv[3:]
    text = open(src, encoding='utf-8').read()
    for name in names:
        m = re.search(r'static\s+const\s+\w+\s+' + name + r'\s*=\s*\{', text)
        if not m:
            raise SystemExit(f'{src}: no "static const TYPE {name} = {{...}}" to copy')
        init = ' '.join(braced(text, m.end() - 1).split())
        head, tail = text[:m.end()], text[m.end():]
        tail, n = re.subn(r'(\.\w+\s*=\s*)' + name + r'\b', lambda u: u.group(1) + init, tail)
        if n == 0:
            raise SystemExit(f'{src}: {name} is not used in an initializer')
        # the object itself may be left without a use
        text = head[:m.start()] + '__attribute__((unused)) ' + head[m.start():] + tail
    with open(out, 'w', encoding='utf-8') as f:
        f.write(f'/* generated from {src} by tests/fuzz/clang_initializers.py: do not edit */\n')
        f.write(f'#line 1 "{src}"\n')
        f.write(text)


main()
