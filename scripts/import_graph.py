#!/usr/bin/env python3
"""The import graph of YouLab's top-level packages, and the one rule it keeps: imports run down.

    .venv/bin/python scripts/import_graph.py          # the edges, then any that run down→up
    .venv/bin/python scripts/import_graph.py --dot    # the graph for Graphviz (dot -Tsvg)

The floors, lowest first (README "How the code is laid out"):

    youlab                 settings, urls, Dolt, API plumbing, errors, actors, validators, health,
                           routing, agent keys
    learners               learners' profiles and names
    blocks                 memory blocks and their history
    diffs                  proposals and the review workflow, the agents' tools
    chats                  module chats, learners' OpenWebUI keys
    staff, importing,      the top floor: the staff product (admin), the importers and the
    agents, callbacks      learner export, the MCP server, decision callbacks

A package may import its own modules and anything on a lower floor; nothing else. Every import
counts, also one inside a function (a lazy import that dodges a cycle is code on the wrong
floor). The apps' URL modules are named as strings in youlab/urls.py and youlab/api/urls.py
(`include("blocks.api.urls")`): Django resolves them, nothing is imported, so they are no edge.

Exit status 1 when an edge runs down→up or a package is on no floor; tests/test_architecture.py runs
the same check.
"""

from __future__ import annotations

import argparse
import ast
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

FLOORS: tuple[tuple[str, ...], ...] = (
    ("youlab",),
    ("learners",),
    ("blocks",),
    ("diffs",),
    ("chats",),
    # The top floor: the staff product, the importers, the MCP server, decision callbacks. They
    # use the apps below and nothing uses them.
    ("staff", "importing", "agents", "callbacks"),
)

# Folders at the top of the repository that are not application code.
NOT_APP_CODE = {"tests", "bench", "scripts", "templates", "docs", "var"}


@dataclass(frozen=True)
class Import:
    source: str  # the importing module, e.g. "diffs.services"
    target: str  # the imported module, e.g. "blocks.models"
    path: str  # where, relative to the root
    line: int

    @property
    def where(self) -> str:
        return f"{self.path}:{self.line}"


def packages(root: Path = ROOT) -> list[str]:
    """The top-level packages of the application (folders with an __init__.py)."""
    return sorted(
        p.name for p in root.iterdir()
        if p.is_dir() and (p / "__init__.py").exists() and p.name not in NOT_APP_CODE and not p.name.startswith(".")
    )


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _resolve(node: ast.ImportFrom, module: str, is_package: bool) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)] if node.level > 1 else base
    return ".".join([*base, node.module] if node.module else base)


def imports_of(path: Path, root: Path = ROOT) -> list[Import]:
    """Every import statement of a module, wherever it stands (top level or inside a function),
    and `importlib.import_module("…")` calls with a literal name."""
    module = module_name(path, root)
    is_package = path.name == "__init__.py"
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = []
    rel = str(path.relative_to(root))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [Import(module, alias.name, rel, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            target = _resolve(node, module, is_package)
            # `from blocks import services` imports blocks.services: name the submodule.
            found += [Import(module, f"{target}.{alias.name}" if target else alias.name, rel, node.lineno)
                      for alias in node.names]
        elif (isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) == "import_module"
              and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
            found.append(Import(module, node.args[0].value, rel, node.lineno))
    return found


def package_of(module: str, known: set[str]) -> str | None:
    """The package a module belongs to, or None outside the application."""
    top = module.split(".")[0]
    return top if top in known else None


def floor_of(package: str) -> int | None:
    for n, floor in enumerate(FLOORS):
        if package in floor:
            return n
    return None


@dataclass(frozen=True)
class Graph:
    edges: dict[tuple[str, str], list[Import]]  # (from package, to package) -> the imports
    packages: list[str]

    def upward(self) -> list[tuple[str, str, list[Import]]]:
        """The edges that break the rule: to a higher floor, or sideways to another package."""
        bad = []
        for (a, b), where in sorted(self.edges.items()):
            fa, fb = floor_of(a), floor_of(b)
            if a != b and (fa is None or fb is None or fb >= fa):
                bad.append((a, b, where))
        return bad

    def unplaced(self) -> list[str]:
        return [p for p in self.packages if floor_of(p) is None]


def build(root: Path = ROOT) -> Graph:
    found = packages(root)
    known = set(found) | {p for floor in FLOORS for p in floor}
    edges: dict[tuple[str, str], list[Import]] = defaultdict(list)
    for package in found:
        for path in sorted((root / package).rglob("*.py")):
            for imp in imports_of(path, root):
                a, b = package_of(imp.source, known), package_of(imp.target, known)
                if a is not None and b is not None:
                    edges[(a, b)].append(imp)
    return Graph(dict(edges), sorted(found))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dot", action="store_true", help="print the package graph for Graphviz")
    args = parser.parse_args(argv)
    graph = build()
    if args.dot:
        print("digraph imports {\n  rankdir=BT;")
        for (a, b), where in sorted(graph.edges.items()):
            if a != b:
                print(f'  "{a}" -> "{b}" [label="{len(where)}"];')
        print("}")
        return 0
    for (a, b), where in sorted(graph.edges.items(), key=lambda e: (floor_of(e[0][0]) or 0, e[0])):
        if a != b:
            print(f"{a:>10} -> {b:<10} {len(where):4} import(s), e.g. {where[0].where}")
    problems = 0
    for package in graph.unplaced():
        print(f"NOT ON A FLOOR: {package} (add it to FLOORS in scripts/import_graph.py)")
        problems += 1
    for a, b, where in graph.upward():
        problems += 1
        print(f"UPWARD: {a} -> {b}: " + ", ".join(f"{i.where} ({i.target})" for i in where[:10]))
    print("imports run one way" if not problems else f"{problems} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
