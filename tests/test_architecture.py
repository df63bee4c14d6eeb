"""The shape of the engine's imports, read from the source with ``ast`` (nothing is imported).

Every ``import`` counts: at module level, inside functions and under ``TYPE_CHECKING``.
Rules (docs/architecture.md): imports between rooms go one way, lower floors never import
higher ones (data / preprocess / models below experiments below analytics), no two engine
modules import each other, and fer_engine never imports Streamlit.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ENGINE = Path(__file__).resolve().parents[1] / "fer_engine"

#: (module that imports, module it builds on): the second must never import the first.
ONE_WAY = [
    ("fer_engine.experiments.runs", "fer_engine.models"),
    ("fer_engine.analytics.report", "fer_engine.analytics.methods"),
    ("fer_engine.preprocess.detectors", "fer_engine.preprocess.faces"),
]
#: Floors, lowest first: a module may import its own floor and those below it.
FLOORS = [
    ("fer_engine.data", "fer_engine.preprocess", "fer_engine.models", "fer_engine.execution"),
    ("fer_engine.experiments",),
    ("fer_engine.analytics",),
]


def module_name(path: Path, top: Path = ENGINE.parent) -> str:
    parts = list(path.relative_to(top).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path, modules: set[str], top: Path = ENGINE.parent) -> set[str]:
    """Every module ``path`` (under the folder ``top``) imports anywhere in it.
    ``from pkg import name`` counts as ``pkg.name`` when that is one of ``modules``, else
    as ``pkg``."""
    name = module_name(path, top)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            for alias in node.names:
                sub = f"{source}.{alias.name}"
                found.add(sub if sub in modules else source)
    found.discard(name)
    return found


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    files = sorted(ENGINE.rglob("*.py"))
    modules = {module_name(p) for p in files}
    return {module_name(p): imported_modules(p, modules) for p in files}


def within(module: str, room: str) -> bool:
    return module == room or module.startswith(room + ".")


def importers(graph, of: str, room: str) -> list[str]:
    """Modules inside ``room`` (a module or package) that import ``of`` or anything in it."""
    return sorted(m for m, deps in graph.items() if within(m, room)
                  and any(within(d, of) for d in deps))


def test_the_parser_sees_imports_everywhere(graph, tmp_path):
    # the rules below are only as good as this reading: module level, functions, relative
    # imports and TYPE_CHECKING blocks all count
    sample = tmp_path / "fer_engine" / "pkg" / "mod.py"
    sample.parent.mkdir(parents=True)
    sample.write_text(
        "from typing import TYPE_CHECKING\n"
        "from . import sibling\n"
        "if TYPE_CHECKING:\n    from fer_engine.analytics.report import RunSection\n"
        "def f():\n    import streamlit as st\n    from ..models import load_model\n"
    )
    found = imported_modules(sample, {"fer_engine.pkg.sibling", "fer_engine.pkg.mod"}, tmp_path)
    assert found == {"typing", "fer_engine.pkg.sibling", "fer_engine.analytics.report",
                     "streamlit", "fer_engine.models"}
    # and the real graph holds the modules the rules name, with their known imports
    for user, base in ONE_WAY:
        assert user in graph and base in graph
    assert "fer_engine.models" in graph["fer_engine.experiments.runs"]  # inside Run.model


@pytest.mark.parametrize(("user", "base"), ONE_WAY, ids=[b.rpartition(".")[2] for _, b in ONE_WAY])
def test_imports_between_these_modules_go_one_way(graph, user, base):
    assert importers(graph, user, base) == [], f"{base} must not import {user} (it builds on {base})"


def test_no_two_engine_modules_import_each_other(graph):
    # a package's __init__ re-exporting its own submodules is how packages work, not a cycle
    pairs = sorted(
        (a, b) for a, deps in graph.items() for b in deps
        if a < b and b in graph and a in graph[b]
        and not (within(b, a) and a == b.rpartition(".")[0])
        and not (within(a, b) and b == a.rpartition(".")[0])
    )
    assert pairs == []


def test_lower_floors_never_import_higher_ones(graph):
    wrong = []
    for level, rooms in enumerate(FLOORS):
        higher = [r for upper in FLOORS[level + 1:] for r in upper]
        for room in rooms:
            wrong += [(m, r) for r in higher for m in importers(graph, r, room)]
    assert wrong == []


def test_the_engine_never_imports_streamlit(graph):
    wrong = sorted(m for m, deps in graph.items()
                   if any(d.split(".")[0] == "streamlit" or d.startswith("streamlit_")
                          for d in deps))
    assert wrong == []
