"""Fail if any two modules of ``pyecs`` import each other, directly or through others.

import-linter's contracts check layers and packages; this checks every module, a package's
``__init__`` included (``pyecs.lb._forwarder`` importing ``pyecs.lb`` counts). Imports inside
functions count; only ``if TYPE_CHECKING:`` imports are left out. Each cycle is printed as a
chain of imports with their line numbers, enough cycles to cover every import inside each knot.

Usage: ``python scripts/check_cycles.py [package]`` (``make lint`` runs it).
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping
from itertools import pairwise

import grimp


def strongly_connected(edges: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(edges):
        if root in index:
            continue
        work: list[tuple[str, list[str]]] = [(root, sorted(edges[root]))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, todo = work[-1]
            if todo:
                nxt = todo.pop()
                if nxt not in index:
                    index[nxt] = low[nxt] = len(index)
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, sorted(edges[nxt])))
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return sorted(found)


def describe(graph: grimp.ImportGraph, importer: str, imported: str) -> str:
    """``importer -> imported (l.N, ...)``: the lines of the importer that import it."""
    details = graph.get_import_details(importer=importer, imported=imported)
    where = ", ".join(f"l.{d['line_number']}" for d in details)
    return f"{importer} -> {imported}" + (f" ({where})" if where else "")


def main(package: str = "pyecs") -> int:
    graph = grimp.build_graph(package, exclude_type_checking_imports=True, cache_dir=None)
    edges = {m: graph.find_modules_directly_imported_by(m) & graph.modules for m in graph.modules}
    knots = strongly_connected(edges)
    if not knots:
        print(f"No import cycles in {package} ({len(graph.modules)} modules).")
        return 0
    for members in knots:
        inside = set(members)
        print(f"Import cycle among {len(members)} modules: {', '.join(members)}")
        covered: set[tuple[str, str]] = set()
        for importer in members:
            for imported in sorted(edges[importer] & inside):
                if (importer, imported) in covered:
                    continue
                back = graph.find_shortest_chain(importer=imported, imported=importer)
                assert back is not None  # both are in one strongly connected component
                chain = (importer, *back)
                hops = list(pairwise(chain))
                covered.update(hops)
                print("  cycle:")
                for a, b in hops:
                    print(f"    {describe(graph, a, b)}")
        print()
    print(f"{len(knots)} import cycle(s) in {package}: move what both need lower down.")
    return 1


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
