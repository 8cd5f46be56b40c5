"""The layout docs/architecture.md states is the layout the code has: every room it names exists, every module is in
exactly one room, no import (those inside functions included) points to a later room, and the import graph has no
circle but the known one. The graph is read from the source (tests/import_graph.py); nothing is imported."""
import re

import pytest

import import_graph

ROOT = import_graph.ROOT
DOC = ROOT / "docs" / "architecture.md"

# the circles that stay, each with the module whose docstring says why
KNOWN_CIRCLES = {
    ("gpunet.models.functional", "gpunet.models.model"): "gpunet/models/model.py",
}


def parse_rooms(text):
    """[(room, [path, ...])] from the ```rooms block, in order."""
    m = re.search(r"```rooms\n(.*?)```", text, re.S)
    assert m, "docs/architecture.md has no ```rooms block"
    rooms = []
    for line in m.group(1).strip().splitlines():
        if line[:1].isspace():  # an indented line continues the room above
            rooms[-1][1].extend(line.split())
            continue
        name, _, paths = line.partition(":")
        rooms.append((name.strip(), paths.split()))
    return rooms


def path_to_prefix(path):
    """gpunet/ops/ -> ("gpunet.ops", package); gpunet/backend.py -> module; gpunet/utils/__init__.py -> that
    __init__ alone (the package's other modules are not in it)."""
    if path.endswith("/"):
        return path.rstrip("/").replace("/", "."), False
    parts = path[:-len(".py")].split("/")
    if parts[-1] == "__init__":
        return ".".join(parts[:-1]), True
    return ".".join(parts), True


def room_index(module, rooms):
    """The index of the room holding module: an exact entry (a module or an __init__) first, else the package
    entry with the longest name that contains it; None if no room does."""
    best, best_len = None, -1
    for i, (_, paths) in enumerate(rooms):
        for path in paths:
            prefix, exact = path_to_prefix(path)
            if module == prefix and exact:
                return i
            if not exact and (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best_len:
                best, best_len = i, len(prefix)
    return best


def upward_edges(graph, rooms):
    out = []
    for module, edges in sorted(graph.items()):
        here = room_index(module, rooms)
        for target, line in sorted(edges):
            there = room_index(target, rooms)
            if there is not None and here is not None and there > here:
                out.append("%s:%d (%s) imports %s (%s)" % (module, line, rooms[here][0], target, rooms[there][0]))
    return out


@pytest.fixture(scope="module")
def rooms():
    return parse_rooms(DOC.read_text())


@pytest.fixture(scope="module")
def graph():
    return import_graph.graph()


def test_every_room_the_map_names_exists(rooms):
    for name, paths in rooms:
        assert paths, "room %s names no path" % name
        for path in paths:
            assert (ROOT / path).exists(), \
                "docs/architecture.md names %s (room %s), which does not exist" % (path, name)
            assert path.endswith("/") == (ROOT / path).is_dir(), "%s: a package ends in /, a module in .py" % path


def test_every_module_is_in_a_room(rooms, graph):
    homeless = [m for m in graph if room_index(m, rooms) is None]
    assert not homeless, "modules in no room of docs/architecture.md (add each where it belongs): %s" % homeless


def test_no_import_points_to_a_later_room(rooms, graph):
    up = upward_edges(graph, rooms)
    assert not up, "imports against the dependency order of docs/architecture.md:\n" + "\n".join(up)


def test_the_import_graph_has_no_new_circle(graph):
    found = {tuple(c) for c in import_graph.circles(graph)}
    new = found - set(KNOWN_CIRCLES)
    assert not new, "new import circles (point the dependency one way): %s" % sorted(new)
    gone = set(KNOWN_CIRCLES) - found
    assert not gone, "a known circle is gone: take it off KNOWN_CIRCLES and docs/architecture.md: %s" % sorted(gone)


def test_each_known_circle_says_why_where_it_lives():
    for circle, path in KNOWN_CIRCLES.items():
        doc = (ROOT / path).read_text().split('"""')[1]
        assert "circle" in doc and all(m.rsplit(".", 1)[1] + ".py" in doc for m in circle), \
            "%s's docstring should say why the circle %s stays, naming its modules" % (path, circle)


def test_every_package_ships_in_the_wheel():
    """pyproject.toml lists the packages setuptools puts in the wheel: a package missing there is missing from
    every install (`pip install .` works from a checkout only by accident of the path)."""
    tomllib = pytest.importorskip("tomllib")
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "gpunet").rglob("__init__.py")}
    assert found <= listed, "packages missing from pyproject.toml's setuptools packages: %s" % sorted(found - listed)


# ---- the checks themselves, on made-up graphs: a check that cannot fail checks nothing ----

def test_the_circle_finder_finds_a_lazy_import_circle(tmp_path):
    pkg = tmp_path / "gpunet"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from . import b\n")
    (pkg / "b.py").write_text("def f():\n    from .sub import c\n")  # lazy: still an edge
    (pkg / "sub" / "c.py").write_text("from ..a import x\n")
    (pkg / "d.py").write_text("import gpunet.a\n")
    g = import_graph.graph(tmp_path)
    assert import_graph.circles(g) == [["gpunet.a", "gpunet.b", "gpunet.sub.c"]]
    assert {t for t, _ in g["gpunet.d"]} == {"gpunet.a"}


def test_the_room_check_catches_an_import_against_the_order():
    rooms = parse_rooms("```rooms\nlow: gpunet/low.py\n  gpunet/pkg/__init__.py\nhigh: gpunet/pkg/\n```")
    graph = {"gpunet.low": {("gpunet.pkg.mod", 3)}, "gpunet.pkg": set(), "gpunet.pkg.mod": {("gpunet.low", 1)}}
    assert room_index("gpunet.pkg", rooms) == 0 and room_index("gpunet.pkg.mod", rooms) == 1
    assert upward_edges(graph, rooms) == ["gpunet.low:3 (low) imports gpunet.pkg.mod (high)"]
