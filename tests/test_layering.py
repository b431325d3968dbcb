"""Layering of the package: imports flow one way and never come back (DESIGN.md "Layout", issue 14).

Layers, lowest first; a module imports only from its own layer and the ones below:
  dialects  lstmc.dialects.* (dialects/): xDSL only
  core      CORE below: what both passes and the driver build on (numerics, dense constants, analyses, the
            schedule, the port list, unit names and the QoR model)
  passes    lstmc.passes.* (passes/)
  driver    the rest of lstmc/: frontends, CLI tools, pipelines, interpreter, emitter, project writer
and no module reaches itself again through its imports (no cycle, in any layer).

The graph is read from the sources (ast), so it holds every import wherever it stands: an import inside a
function is as much a dependency as one at the top. Only imports under `if TYPE_CHECKING:` (annotations) are
left out. Importing a submodule is an edge to that submodule, not to the packages above it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# source folder -> the package it installs as (pyproject's package-dir)
SOURCES = {"lstmc": "lstmc", "dialects": "lstmc.dialects", "passes": "lstmc.passes"}

CORE = {
    "lstmc.errors",
    "lstmc.dense",
    "lstmc.numerics",
    "lstmc.analysis",
    "lstmc.entry",
    "lstmc.parts",
    "lstmc.schedule",  # the streamed step and top level: what qrnn-to-hlscpp lowers and lstmc.qor counts
    "lstmc.ports",  # the kernel's port list
    "lstmc.unit_names",  # stable names of the hardware units (folding configs, reports)
    "lstmc.qor",  # the QoR model: qrnn-set-folding searches it, qrnn-legalize-precision costs with it
    "lstmc.chain_sim",  # the cycle-level simulation of the streamed chains: qrnn-size-fifos sizes FIFOs with it
}
LAYERS = ("dialects", "core", "passes", "driver")

# Known exceptions, each to be removed by the change that fixes it; nothing else may be added here.
KNOWN_EDGES: set[tuple[str, str]] = set()
# `from X import _name` across modules, each to be made public where it is defined
KNOWN_PRIVATE_IMPORTS: set[tuple[str, str, str]] = set()


def _modules() -> dict[str, Path]:
    modules = {}
    for folder, package in SOURCES.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            parts = [p for p in path.relative_to(ROOT / folder).with_suffix("").parts if p != "__init__"]
            modules[".".join([package, *parts])] = path
    return modules


MODULES = _modules()


def _type_checking_only(tree: ast.Module) -> set[int]:
    """ids of the import nodes under `if TYPE_CHECKING:`."""
    skipped = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and ast.unparse(node.test) in ("TYPE_CHECKING", "typing.TYPE_CHECKING"):
            skipped |= {id(n) for stmt in node.body for n in ast.walk(stmt)}
    return skipped


def _imports(name: str, path: Path) -> list[tuple[str, str]]:
    """(imported module, imported name or "") for every import of an lstmc module in `path`."""
    tree = ast.parse(path.read_text(), str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    skipped = _type_checking_only(tree)
    found = []
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            found += [(alias.name, "") for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(up + ([base] if base else []))
            found += [(base, alias.name) for alias in node.names]
    return [(m, n) for m, n in found if m == "lstmc" or m.startswith("lstmc.")]


def _target(module: str, name: str) -> str:
    """The module an import lands in: `from P import sub` of a submodule is that submodule."""
    if name and f"{module}.{name}" in MODULES:
        return f"{module}.{name}"
    while module not in MODULES:
        module = module.rpartition(".")[0]
    return module


def _graph() -> dict[str, set[str]]:
    return {name: {_target(m, n) for m, n in _imports(name, path)} - {name} for name, path in MODULES.items()}


GRAPH = _graph()


def _layer(module: str) -> str:
    if module.startswith("lstmc.dialects"):
        return "dialects"
    if module in CORE:
        return "core"
    if module.startswith("lstmc.passes"):
        return "passes"
    return "driver"


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each as one cycle through it."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                components.append(_cycle_through(graph, set(component)))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return components


def _cycle_through(graph: dict[str, set[str]], component: set[str]) -> list[str]:
    """One cycle inside a strongly connected component, for the failure message (breadth-first, shortest)."""
    start = min(component)
    paths = {start: [start]}
    queue = [start]
    while queue:
        v = queue.pop(0)
        for w in sorted(graph[v] & component):
            if w == start:
                return paths[v] + [start]
            if w not in paths:
                paths[w] = paths[v] + [w]
                queue.append(w)
    return sorted(component)


def test_graph_sees_the_package():
    """The walk finds the modules of all three folders under their installed names, and lazy imports."""
    assert {"lstmc.cli", "lstmc.dialects.qrnn", "lstmc.passes.lstm_to_hls", "lstmc.frontend.onnx_import"} <= set(GRAPH)
    assert "lstmc.passes.qrnn_to_hlscpp" in GRAPH["lstmc.passes"]  # get_all_passes imports inside functions
    assert "lstmc.frontend.onnx_import" not in GRAPH["lstmc.frontend.onnx_rnn"]  # under TYPE_CHECKING only


def test_no_import_cycles():
    graph = {v: {w for w in ws if (v, w) not in KNOWN_EDGES} for v, ws in GRAPH.items()}
    cycles = _cycles(graph)
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


@pytest.mark.parametrize("layer", LAYERS[:-1])
def test_no_upward_imports(layer):
    rank = {name: i for i, name in enumerate(LAYERS)}
    upward = sorted(
        f"{v} ({_layer(v)}) imports {w} ({_layer(w)})"
        for v, ws in GRAPH.items()
        if _layer(v) == layer
        for w in ws
        if rank[_layer(w)] > rank[layer] and (v, w) not in KNOWN_EDGES
    )
    assert not upward, "\n".join(upward)


def test_dialects_import_only_xdsl():
    """A dialect file depends on xDSL and the standard library only (not even numpy)."""
    import sys

    allowed = {"xdsl", "__future__", *sys.stdlib_module_names}
    bad = []
    for name, path in MODULES.items():
        if _layer(name) != "dialects":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            roots = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom) and not node.level
                else []
            )
            bad += [
                f"{name}: {r}" for r in roots if r.split(".")[0] not in allowed and not r.startswith("lstmc.dialects")
            ]
    assert not bad, "\n".join(bad)


def test_no_private_names_across_modules():
    """`from lstmc.x import _name` in another module: the name is part of an API, so it is public where defined."""
    found = {
        (name, _target(m, n), n)
        for name, path in MODULES.items()
        for m, n in _imports(name, path)
        if n.startswith("_") and _target(m, n) != name and f"{m}.{n}" not in MODULES
    }
    assert found <= KNOWN_PRIVATE_IMPORTS, sorted(found - KNOWN_PRIVATE_IMPORTS)


def test_no_import_by_name_string():
    """importlib.import_module("lstmc....") hides an edge from this graph (and from readers): import it."""
    calls = []
    for name, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and ast.unparse(node.func).split(".")[-1] in ("import_module", "__import__")
                and node.args
                and not (isinstance(node.args[0], ast.Constant) and not str(node.args[0].value).startswith("lstmc"))
            ):
                calls.append(f"{name}: {ast.unparse(node)}")
    assert not calls, "\n".join(calls)


def test_known_exceptions_are_still_needed():
    """An exception whose import is gone is removed here too, so the lists only shrink."""
    stale = sorted(e for e in KNOWN_EDGES if e[1] not in GRAPH.get(e[0], set()))
    assert not stale, f"no longer imported, remove from KNOWN_EDGES: {stale}"
    private = {(name, _target(m, n), n) for name, path in MODULES.items() for m, n in _imports(name, path)}
    assert not KNOWN_PRIVATE_IMPORTS - private, sorted(KNOWN_PRIVATE_IMPORTS - private)
