#!/usr/bin/env python3
"""Fails when two source files of one crate import each other, directly or around a loop.

Usage: scripts/module-cycles.py CRATE_SRC_DIR...

A file's module path comes from where it sits (`events/ingest.rs` is `events::ingest`, `events/mod.rs`
is `events`). Its imports are the `crate::…`, `super::…` and `self::…` paths it names, in `use` trees
and inline; each resolves to the deepest module file it reaches. Names the crate root re-exports
(`pub use error::CoreError;` in lib.rs) resolve to the module they come from, so a file that says
`crate::CoreError` depends on `error.rs`, not on lib.rs. A module declaring its children (`mod x;`) is
not an import: only paths are.
"""
import os
import re
import sys

COMMENT = re.compile(r"//[^\n]*|/\*.*?\*/", re.S)
STRING = re.compile(r'"(?:\\.|[^"\\])*"')
USE = re.compile(r"\buse\s+((?:crate|super|self)\s*::[^;]*);", re.S)
INLINE = re.compile(r"\b(crate|super|self)((?:\s*::\s*[A-Za-z_][A-Za-z0-9_]*)+)")
REEXPORT = re.compile(r"\bpub\s+use\s+([a-z_][a-z0-9_]*)\s*::\s*(?:\{([^}]*)\}|([A-Za-z_][A-Za-z0-9_]*))")


def expand(tree):
    """`a::{b, c::{d, self}}` → [[a, b], [a, c, d], [a, c]]."""
    tree = tree.strip()
    depth, split = 0, None
    for i, ch in enumerate(tree):
        if ch == "{":
            if depth == 0 and split is None:
                split = i
            depth += 1
        elif ch == "}":
            depth -= 1
    if split is None:
        segs = [s.strip() for s in tree.split("::") if s.strip()]
        segs = [s.split(" as ")[0].strip() for s in segs]
        return [segs] if segs else []
    prefix = [s.strip() for s in tree[:split].split("::") if s.strip()]
    inner = tree[split + 1 : tree.rindex("}")]
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(inner):
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(inner[start:i])
            start = i + 1
    parts.append(inner[start:])
    out = []
    for part in parts:
        if not part.strip():
            continue
        for path in expand(part):
            out.append(prefix + [s for s in path if s != "self"])
    return out


def module_of(src, path):
    rel = os.path.relpath(path, src)[:-3].split(os.sep)
    if rel[-1] in ("mod", "lib", "main"):
        rel = rel[:-1]
    return tuple(rel)


def check(src):
    files = {}
    for root, _, names in os.walk(src):
        for name in names:
            if name.endswith(".rs"):
                path = os.path.join(root, name)
                files[module_of(src, path)] = path
    root_file = files.get(())
    reexports = {}
    if root_file:
        text = COMMENT.sub("", open(root_file, encoding="utf-8").read())
        for m in REEXPORT.finditer(text):
            names = m.group(2).split(",") if m.group(2) else [m.group(3)]
            for name in names:
                name = name.strip().split(" as ")[-1].strip()
                if name:
                    reexports[name] = (m.group(1),)

    def resolve(base, segs):
        if not segs:
            return None
        if segs[0] == "crate":
            mod, rest = (), segs[1:]
        elif segs[0] in ("super", "self"):
            mod, rest = base, segs
            while rest and rest[0] in ("super", "self"):
                if rest[0] == "super":
                    mod = mod[:-1]
                rest = rest[1:]
        else:
            return None
        if mod == () and rest and rest[0] in reexports and (rest[0],) not in files:
            mod, rest = reexports[rest[0]], rest[1:]
        best = mod if mod in files else None
        for i in range(len(rest)):
            candidate = mod + tuple(rest[: i + 1])
            if candidate in files:
                best = candidate
            else:
                break
        return best

    edges = {m: set() for m in files}
    for mod, path in files.items():
        text = STRING.sub('""', COMMENT.sub("", open(path, encoding="utf-8").read()))
        # `super` inside an inline `mod tests { … }` names this file; count only what leaves the file.
        base = mod
        paths = []
        for m in USE.finditer(text):
            paths.extend(expand(m.group(1)))
        for m in INLINE.finditer(text):
            paths.append([m.group(1)] + [s.strip() for s in m.group(2).split("::") if s.strip()])
        for segs in paths:
            target = resolve(base, segs)
            if target is not None and target != mod:
                edges[mod].add(target)

    # Tarjan's strongly connected components.
    index, low, stack, on, sccs, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                sccs.append(comp)

    sys.setrecursionlimit(10000)
    for v in sorted(files):
        if v not in index:
            visit(v)
    for comp in sccs:
        names = sorted(os.path.relpath(files[m], src) for m in comp)
        print(f"{src}: these files import each other: {', '.join(names)}")
        for m in sorted(comp):
            back = sorted(os.path.relpath(files[t], src) for t in edges[m] if t in comp)
            print(f"    {os.path.relpath(files[m], src)} -> {', '.join(back)}")
    return not sccs


def main():
    ok = all([check(src) for src in sys.argv[1:]])
    if ok:
        print(f"ok: no import cycle between files in {len(sys.argv) - 1} crates")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
