"""The house as drawn: no import circles, and no import that goes the wrong way between the
rooms of the core or between the two processes (docs/architecture.md, "The house").

Imports are read from the source with `ast`, wherever they stand (module level, inside a
function, under TYPE_CHECKING): a function-level import that goes the wrong way is the same
dependency, only hidden.
"""
from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("catalogsync_ops", "runnerd", "webui")
MAX_MODULE_LINES = 500

# The rooms, lowest first. A module belongs to the room of its longest matching prefix.
ROOMS: dict[str, str] = {
    "catalogsync_ops": "foundation",  # the package itself: __version__
    "catalogsync_ops.errors": "foundation",
    "catalogsync_ops.fileio": "foundation",
    "catalogsync_ops.messages": "foundation",  # refusals as codes: their English templates
    "catalogsync_ops.sdnotify": "foundation",
    "catalogsync_ops.store": "store",
    "catalogsync_ops.config": "config",
    "catalogsync_ops.engine": "engine",
    "catalogsync_ops.transfer": "transfer",
    "catalogsync_ops.sources": "sources",
    "catalogsync_ops.library": "library",
    "catalogsync_ops.pipeline": "pipeline",
    "catalogsync_ops.demo": "demo",
    "runnerd": "runnerd",
    "webui": "webui",
}
CORE = {"foundation", "store", "config", "engine", "transfer", "sources", "library", "pipeline", "demo"}

# Which rooms each room may import (itself included). `store/` knows nothing of jobs or songs
# beyond the schema; `library/`, `transfer/` and `sources/` know nothing of jobs; the web
# process never runs work (no pipeline, transfers, sources or demo platform) and the two
# processes never import each other.
ALLOWED: dict[str, set[str]] = {
    "foundation": {"foundation"},
    "store": {"foundation", "store"},
    "config": {"foundation", "store", "config"},
    "engine": {"foundation", "store", "config", "engine"},
    "transfer": {"foundation", "transfer"},
    "sources": {"foundation", "config", "transfer", "sources"},
    "library": {"foundation", "store", "config", "sources", "library"},
    "pipeline": {"foundation", "store", "config", "engine", "transfer", "sources", "library", "pipeline"},
    "demo": {"foundation", "library", "demo"},
    "runnerd": CORE | {"runnerd"},
    "webui": (CORE - {"pipeline", "transfer", "sources", "demo"}) | {"webui"},
}


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def find_modules(root: Path, packages=PACKAGES) -> dict[str, Path]:
    """Every module of our packages, by dotted name."""
    return {module_name(path, root): path for package in packages for path in sorted((root / package).rglob("*.py"))}


def imports_of(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The modules of ours that `name` imports, anywhere in its source."""
    is_package = path.name == "__init__.py"
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = name.split(".")
                anchor = anchor if is_package else anchor[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            # `from pkg import mod` depends on pkg.mod when that is a module, else on pkg.
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in node.names]
        else:
            continue
        for target in targets:
            # `import a.b.c` depends on the deepest of a.b.c, a.b, a that is ours.
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def import_graph(root: Path, packages=PACKAGES) -> dict[str, set[str]]:
    modules = find_modules(root, packages)
    return {name: imports_of(name, path, modules) for name, path in modules.items()}


def room_of(name: str) -> str | None:
    best = max((prefix for prefix in ROOMS if name == prefix or name.startswith(prefix + ".")), key=len, default=None)
    return ROOMS[best] if best else None


def wrong_way_imports(graph: dict[str, set[str]]) -> list[str]:
    out = []
    for name, targets in sorted(graph.items()):
        room = room_of(name)
        for target in sorted(targets):
            if room_of(target) not in ALLOWED.get(room, set()):
                out.append(f"{name} ({room}) imports {target} ({room_of(target)}); "
                           f"{room} may import only {', '.join(sorted(ALLOWED.get(room, ())))}")
    return out


def import_circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    circles: list[list[str]] = []
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in graph:
                    continue
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    circles.append(sorted(component))
    return circles


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    return import_graph(ROOT)


def test_every_module_of_the_core_has_a_room(graph):
    homeless = [name for name in graph if room_of(name) is None]
    assert not homeless, f"modules outside every room: {homeless}; add them to ROOMS and docs/architecture.md"


def test_no_import_goes_the_wrong_way(graph):
    wrong = wrong_way_imports(graph)
    assert not wrong, "imports that go the wrong way:\n" + "\n".join(wrong)


def test_the_web_process_and_the_daemon_never_import_each_other(graph):
    crossing = [f"{name} imports {target}" for name, targets in graph.items() for target in targets
                if {room_of(name), room_of(target)} == {"runnerd", "webui"}]
    assert not crossing, crossing


def test_there_is_no_import_circle(graph):
    circles = import_circles(graph)
    assert not circles, "import circles:\n" + "\n".join(" -> ".join(c) for c in circles)


def test_no_module_passes_the_size_the_style_asks_for():
    too_long = {name: n for name, path in find_modules(ROOT).items()
                if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES}
    assert not too_long, f"split these modules along a seam (STYLE: ~400–500 lines): {too_long}"


def write_tree(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def test_the_checks_catch_a_wrong_way_import_a_hidden_one_and_a_circle(tmp_path):
    write_tree(tmp_path, {
        "catalogsync_ops/__init__.py": "",
        "catalogsync_ops/errors.py": "",
        "catalogsync_ops/store/__init__.py": "",
        "catalogsync_ops/store/connection.py": "from catalogsync_ops.store import backup\n",
        "catalogsync_ops/store/backup.py": "def f():\n    from catalogsync_ops.store.connection import x\n",
        "catalogsync_ops/engine/__init__.py": "",
        "catalogsync_ops/engine/jobs.py": "from catalogsync_ops.errors import E\n",
        "catalogsync_ops/transfer/__init__.py": "",
        "catalogsync_ops/transfer/downloader.py": "def f():\n    from ..engine import jobs\n",
        "runnerd/__init__.py": "",
        "runnerd/daemon.py": "import catalogsync_ops.engine.jobs\n",
        "webui/__init__.py": "",
        "webui/pages.py": "from runnerd.daemon import Runner\n",
    })
    graph = import_graph(tmp_path)
    assert graph["catalogsync_ops.transfer.downloader"] == {"catalogsync_ops.engine.jobs"}
    assert graph["runnerd.daemon"] == {"catalogsync_ops.engine.jobs"}
    wrong = wrong_way_imports(graph)
    assert [line.split(" (")[0] for line in wrong] == ["catalogsync_ops.transfer.downloader", "webui.pages"]
    assert import_circles(graph) == [["catalogsync_ops.store.backup", "catalogsync_ops.store.connection"]]


def test_every_module_is_named_in_the_house_map():
    """docs/architecture.md's house names each module (a migration's file is its folder's):
    a module nobody can find on the map is a room nobody knows of."""
    house = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    unnamed = [str(path.relative_to(ROOT)) for package in PACKAGES for path in sorted((ROOT / package).rglob("*.py"))
               if path.name != "__init__.py" and "migrations" not in path.parts and path.name not in house]
    assert not unnamed, f"name these in docs/architecture.md's house: {unnamed}"


def test_the_console_reads_through_the_read_model_only():
    """No SQL in webui/: its pages and their JSON twins read through the core's read model
    (engine/queries.py and the library's reads), so a page and its API answer alike."""
    found = []
    for path in sorted((ROOT / "webui").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr in ("execute", "executemany", "executescript")):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not found, f"SQL run in the console, outside the read model: {found}"


def test_every_reviewed_mutation_survivor_still_names_a_line_that_is_there(monkeypatch):
    """tools/mutation.py keeps the survivors a person judged harmless by a piece of their line's
    text; a piece no line holds any more is a review lost to an edit, found here, not a run later."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("mutation_tool", ROOT / "tools" / "mutation.py")
    tool = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, tool)  # its dataclasses look their module up
    spec.loader.exec_module(tool)
    assert tool.stale_reviews(ROOT) == []
    # A piece that is gone is caught: the check can fail.
    tool.EQUIVALENT[(tool.CMD, "a line no file holds", tool.NUMBER)] = "x"
    assert tool.stale_reviews(ROOT) == [(tool.CMD, "a line no file holds", tool.NUMBER)]
