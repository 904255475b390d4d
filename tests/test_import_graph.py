"""The package's shape: no module imports, directly or through others, a module that
imports it; services stay below the edge and small enough to read.

A cycle makes the import order matter (a name is missing when the other module is
half-imported) and ties modules that should be changed on their own. Imports inside
functions count too: they only hide the cycle from Python until the call.
"""

from __future__ import annotations

from pathlib import Path

import grimp
import pytest

import portal.services

PACKAGE = "portal"


def import_cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """Every strongly connected component of more than one module (Tarjan's algorithm,
    iterative so a deep import chain cannot overflow the stack), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(graph.modules):
        if root in index:
            continue
        work = [(root, iter(sorted(graph.find_modules_directly_imported_by(root))))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            module, imported = work[-1]
            for other in imported:
                if other not in index:
                    index[other] = low[other] = len(index)
                    stack.append(other)
                    on_stack.add(other)
                    work.append((other, iter(sorted(graph.find_modules_directly_imported_by(other)))))
                    break
                if other in on_stack:
                    low[module] = min(low[module], index[other])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[module])
                if low[module] == index[module]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == module:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
    return sorted(found)


def area_of(module: str) -> str:
    """portal.pools.views → portal.pools; the package itself is its own area."""
    return ".".join(module.split(".")[:2])


@pytest.fixture(scope="module")
def cycles() -> list[list[str]]:
    return import_cycles(grimp.build_graph(PACKAGE))


def areas() -> list[str]:
    graph = grimp.build_graph(PACKAGE)
    return sorted({PACKAGE} | {area_of(m) for m in graph.find_children(PACKAGE)})


# One test per area (-k pools checks the pools blueprint alone); a cycle fails the test
# of every area it passes through. Together they cover the whole package.
@pytest.mark.parametrize("area", areas())
def test_no_import_cycle_passes_through(area: str, cycles: list[list[str]]):
    mine = [cycle for cycle in cycles if any(area_of(m) == area for m in cycle)]
    assert not mine, "import cycles:\n" + "\n".join(" ↔ ".join(cycle) for cycle in mine)


def test_the_cycle_finder_finds_a_cycle_and_ignores_a_chain():
    graph = grimp.ImportGraph()
    for module in ("a", "a.b", "a.c", "a.d"):
        graph.add_module(module)
    graph.add_import(importer="a.b", imported="a.c")
    graph.add_import(importer="a.c", imported="a.b")
    graph.add_import(importer="a.d", imported="a.b")
    assert import_cycles(graph) == [["a.b", "a.c"]]


SERVICES = f"{PACKAGE}.services"
# What the domain must not reach: templates, requests and the queue live at the edge.
EDGE = ("flask.templating", "flask_login", "flask_wtf", f"{PACKAGE}.queue", f"{PACKAGE}.emails",
        f"{PACKAGE}.web", f"{PACKAGE}.roles")
LONGEST_SERVICE = 400


def test_services_stay_below_the_edge():
    """Services compose no template and import no route, form or queue module; the
    email HTML is drawn at the edge and handed in."""
    graph = grimp.build_graph(PACKAGE, "flask", "flask_login", "flask_wtf")
    services = {SERVICES} | graph.find_descendants(SERVICES)
    reached = {(service, imported) for service in services
               for imported in graph.find_modules_directly_imported_by(service)
               if imported.startswith(EDGE) or imported.split(".")[1:2] in (
                   ["admin"], ["api"], ["auth"], ["cashier"], ["main"], ["pools"], ["voucher"])
               and imported.startswith(PACKAGE + ".")}
    assert not reached, reached
    root = Path(portal.services.__file__).parent
    rendering = [str(path.relative_to(root)) for path in root.rglob("*.py")
                 if "render_template" in path.read_text()]
    assert rendering == []


def test_no_service_module_is_over_the_size_that_asks_for_a_split():
    root = Path(portal.services.__file__).parent
    sizes = {str(path.relative_to(root)): len(path.read_text().splitlines()) for path in root.rglob("*.py")}
    assert {name: n for name, n in sizes.items() if n > LONGEST_SERVICE} == {}
