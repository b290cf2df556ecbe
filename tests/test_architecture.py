"""The layers of docs/architecture.md hold: no import cycle among the modules of harness/ and
adapters/, no module imports from a higher layer, and no module of harness/ imports a framework
(only adapters/ do). Imports inside functions count too."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("harness", "adapters")
FRAMEWORKS = ("torch", "tensorflow", "keras", "mxnet")


def modules(root: Path = ROOT) -> dict[str, Path]:
    """Every module's dotted name and file (a package is its ``__init__.py``)."""
    found = {}
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def import_graph(root: Path = ROOT) -> dict[str, set[str]]:
    """Module -> the modules of harness/ and adapters/ it imports, anywhere in the file
    (``from harness import identity`` is an import of harness.identity)."""
    mods = modules(root)

    def known(name: str) -> str | None:
        while name and name not in mods:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {}
    for name, path in mods.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets.update(known(alias.name) for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:  # from . import x, from ..schema import y
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*anchor, *([base] if base else [])])
                targets.update(known(f"{base}.{alias.name}") or known(base) for alias in node.names)
        graph[name] = {t for t in targets if t and t != name}
    return graph


def framework_imports(root: Path = ROOT, package: str = "harness") -> list[str]:
    """``module: framework`` for every import of a framework in ``package``, anywhere in a file."""
    found = []
    for name, path in modules(root).items():
        if name.split(".")[0] != package:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else [])
            found += [f"{name}: {n}" for n in names if n.split(".")[0] in FRAMEWORKS]
    return found


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def documented_layers(doc: Path = ROOT / "docs" / "architecture.md") -> dict[str, int]:
    """Each name listed under a ``## N. layer`` heading of the doc, and N."""
    layers: dict[str, int] = {}
    layer = None
    for line in doc.read_text(encoding="utf-8").splitlines():
        heading = re.match(r"## (\d+)\. ", line)
        if heading:
            layer = int(heading.group(1))
        item = re.match(r"- `([\w.]+)`", line)
        if item and layer is not None:
            layers[item.group(1)] = layer
    return layers


def layer_of(module: str, layers: dict[str, int]) -> int | None:
    """The layer of the longest listed name that is the module or a package holding it."""
    holders = [name for name in layers if module == name or module.startswith(f"{name}.")]
    return layers[max(holders, key=len)] if holders else None


def test_the_doc_lists_layers_in_order_and_only_modules_that_exist():
    layers = documented_layers()
    assert sorted(set(layers.values())) == list(range(1, 9))  # the eight layers, numbered in order
    assert set(layers) <= set(modules()), sorted(set(layers) - set(modules()))


def test_every_module_has_a_layer():
    layers = documented_layers()
    assert [m for m in modules() if layer_of(m, layers) is None] == []


def test_no_import_cycle():
    assert cycles(import_graph()) == []


def test_no_module_imports_from_a_higher_layer():
    layers = documented_layers()
    upward = [f"{m} (layer {layer_of(m, layers)}) imports {t} (layer {layer_of(t, layers)})"
              for m, targets in sorted(import_graph().items()) for t in sorted(targets)
              if layer_of(t, layers) > layer_of(m, layers)]
    assert upward == []


def test_no_module_of_harness_imports_a_framework():
    """Tensors belong to adapters/ (the bank's to adapters/torch_bank): harness/ stays framework-free."""
    assert framework_imports() == []


def test_the_checks_see_what_they_are_meant_to(tmp_path):
    """The graph finds function-level, ``from package import module`` and relative imports, and
    the checks fail on a loop and on an upward import (the two ways this test could pass idly)."""
    for package in PACKAGES:
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text("")
    (tmp_path / "harness" / "low.py").write_text("def f():\n    from harness import high\n    import torch.nn\n")
    (tmp_path / "harness" / "high.py").write_text("from .low import f\n")
    (tmp_path / "adapters" / "a.py").write_text("import harness.low\n")
    graph = import_graph(tmp_path)
    assert graph["harness.low"] == {"harness.high"} and graph["harness.high"] == {"harness.low"}
    assert graph["adapters.a"] == {"harness.low"}
    assert cycles(graph) == [["harness.high", "harness.low"]]
    assert framework_imports(tmp_path) == ["harness.low: torch.nn"]
    layers = {"harness": 1, "harness.low": 1, "harness.high": 2, "adapters": 2}
    assert layer_of("harness.low", layers) == 1 and layer_of("harness.high", layers) == 2
    assert layer_of("harness.high.sub", layers) == 2 and layer_of("elsewhere", layers) is None
