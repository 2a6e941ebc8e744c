"""The house's picture holds: imports point down between packages and between experiments/' wings, and no two
modules import each other, directly or in a circle (lazy imports and TYPE_CHECKING imports included)."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = {"trader": 0, "analysis": 1, "agents": 2, "experiments": 3}
"""Top-level packages, lowest first: each may import only those below it."""

WINGS = {"spec": 1, "runs": 2, "ideas": 3, "promotion": 4, "optimizer": 5, "paper": 5, "web": 6, "cli": 7}
"""experiments/ wings, lowest first; files.py and home.py at the root are below them all (rank 0). Wings of equal
rank (optimizer, paper) may not import each other."""


def _modules() -> dict[str, Path]:
    out = {}
    for pkg in PACKAGES:
        for path in (ROOT / pkg).rglob("*.py"):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join(parts)] = path
    return out


MODULES = _modules()


def _imports(name: str, path: Path) -> set[str]:
    """Every module of ours that `name` imports, anywhere in the file."""
    is_pkg = path.name == "__init__.py"
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = name.split(".") if is_pkg else name.split(".")[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names]
        else:
            continue
        for t in targets:
            while t and t not in MODULES:
                t = t.rpartition(".")[0]
            if t and t != name:
                found.add(t)
    return found


GRAPH = {name: _imports(name, path) for name, path in MODULES.items()}


def _package(mod: str) -> str:
    return mod.split(".")[0]


def _wing(mod: str) -> str | None:
    parts = mod.split(".")
    if parts[0] != "experiments" or len(parts) < 2 or parts[1] not in WINGS:
        return None
    return parts[1]


def test_the_walk_sees_the_house() -> None:
    assert len(MODULES) > 100
    assert "experiments.runs.ledger" in GRAPH["experiments.optimizer.loop"]
    assert "trader.engine" in GRAPH["experiments.runs.backtest"]


@pytest.mark.parametrize("mod", sorted(GRAPH))
def test_imports_point_down(mod: str) -> None:
    bad = []
    for dep in sorted(GRAPH[mod]):
        if PACKAGES[_package(dep)] > PACKAGES[_package(mod)]:
            bad.append(f"{dep} (package {_package(dep)} sits above {_package(mod)})")
            continue
        a, b = _wing(mod), _wing(dep)
        if _package(mod) == "experiments" == _package(dep) and mod != "experiments" and a != b:
            ra, rb = WINGS.get(a or "", 0), WINGS.get(b or "", 0)
            if rb >= ra:
                bad.append(f"{dep} (wing {b or 'root'} is not below wing {a or 'root'})")
    assert not bad, f"{mod} imports upward: " + "; ".join(bad)


def _cycles() -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in GRAPH[v]:
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
                out.append(sorted(comp))

    for v in sorted(GRAPH):
        if v not in index:
            visit(v)
    return out


def test_no_import_circles() -> None:
    assert _cycles() == []


def test_the_cycle_finder_finds_a_circle(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(GRAPH, "trader.errors", GRAPH["trader.errors"] | {"trader.engine"})
    assert any("trader.errors" in c and "trader.engine" in c for c in _cycles())


def test_upward_import_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(GRAPH, "experiments.runs.child", GRAPH["experiments.runs.child"] | {"experiments.ideas.queue"})
    with pytest.raises(AssertionError, match="wing ideas is not below wing runs"):
        test_imports_point_down("experiments.runs.child")
