"""gpunet's import graph, read from the source (nothing is imported): one node per module, a package's
__init__ a node of its own, one edge per `import` statement naming a gpunet module, those inside functions
included (a lazy import is still a dependency; it only moves the failure to run time).

`from pkg import name` points at the submodule pkg.name when there is one, else at pkg's __init__. Importing
a module also runs the __init__ of each package above it that the importer is not inside, so those are edges
too (`from ..common.naming import x` in ops/ depends on gpunet/common/__init__.py). The root gpunet/__init__.py
is left out of that: every module sits under it, and Python has begun running it before any of them.

    python tests/import_graph.py    prints the circles (-v: every module's dependencies)"""
import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def modules(root=ROOT):
    """{module name: (path, is a package __init__)} for every .py file under gpunet/."""
    out = {}
    for path in sorted((root / "gpunet").rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        is_pkg = parts[-1] == "__init__"
        out[".".join(parts[:-1] if is_pkg else parts)] = (path, is_pkg)
    return out


def _existing(name, mods):
    while name not in mods and "." in name:
        name = name.rsplit(".", 1)[0]
    return name


def _targets(module, is_pkg, node, mods):
    if isinstance(node, ast.Import):
        return [_existing(a.name, mods) for a in node.names if a.name.split(".")[0] == "gpunet"]
    if node.level:
        base = module if is_pkg else module.rsplit(".", 1)[0]
        for _ in range(node.level - 1):
            base = base.rsplit(".", 1)[0]
        source = base + ("." + node.module if node.module else "")
    else:
        source = node.module or ""
    if source.split(".")[0] != "gpunet":
        return []
    return [source + "." + a.name if source + "." + a.name in mods else _existing(source, mods) for a in node.names]


def _with_packages(importer, target):
    """The target and the packages Python runs on the way to it: those above it, below the root, that do not
    hold the importer (their __init__ has run already)."""
    out = [target]
    parts = target.split(".")
    for i in range(2, len(parts)):
        pkg = ".".join(parts[:i])
        if not (importer == pkg or importer.startswith(pkg + ".")):
            out.append(pkg)
    return out


def graph(root=ROOT):
    """{module: {(imported module, line)}} over gpunet's modules."""
    mods = modules(root)
    out = {}
    for name, (path, is_pkg) in mods.items():
        edges = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                for target in _targets(name, is_pkg, node, mods):
                    edges.update((t, node.lineno) for t in _with_packages(name, target) if t != name)
        out[name] = edges
    return out


def circles(g):
    """The strongly connected components of more than one module (Tarjan), each sorted; sorted."""
    succ = {v: sorted({t for t, _ in edges}) for v, edges in g.items()}
    index, low, stack, on_stack, found = {}, {}, [], set(), []
    for start in sorted(succ):
        if start in index:
            continue
        work = [(start, iter(succ[start]))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            v, it = work[-1]
            w = next(it, None)
            if w is not None:
                if w not in index:
                    index[w] = low[w] = len(index)
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(succ[w])))
                elif w in on_stack:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                if len(comp) > 1:
                    found.append(sorted(comp))
    return sorted(found)


def room(module, rooms):
    """The room (an entry of `rooms`: a module or package name) a module belongs to: the longest that
    contains it, or None."""
    best = None
    for r in rooms:
        if (module == r or module.startswith(r + ".")) and (best is None or len(r) > len(best)):
            best = r
    return best


if __name__ == "__main__":
    g = graph()
    found = circles(g)
    print("%d circle(s)" % len(found))
    for c in found:
        print("  %d modules: %s" % (len(c), ", ".join(m[len("gpunet."):] or "gpunet" for m in c)))
    if "-v" in sys.argv:
        for m in sorted(g):
            print(m, "->", ", ".join(sorted({t for t, _ in g[m]})))
