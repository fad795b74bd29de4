"""The package's import graph: no module imports itself back through others, and dependencies run one way."""

from __future__ import annotations

from pathlib import Path

from avgzsl.code_deps import _imported_modules, _module_file, _with_parents

REPO = Path(__file__).resolve().parents[1]


def _graph() -> dict[Path, set[Path]]:
    graph = {}
    for path in (REPO / "avgzsl").rglob("*.py"):
        targets = set()
        for name in _imported_modules(REPO, path):
            for module in _with_parents(name):
                found = _module_file(REPO, module)
                if found is not None and found != path and found.name != "__init__.py":
                    targets.add(found)
        graph[path] = targets
    return graph


def _cycles(graph: dict[Path, set[Path]]) -> list[list[Path]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index, low, on_stack, stack, out, counter = {}, {}, set(), [], [], 0
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
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
                    out.append(component)
    return out


def test_no_import_cycles():
    cycles = [sorted(str(p.relative_to(REPO)) for p in c) for c in _cycles(_graph())]
    assert cycles == []


def test_cycle_finder_finds_a_cycle():
    a, b, c = Path("a"), Path("b"), Path("c")
    assert {frozenset(x) for x in _cycles({a: {b}, b: {a}, c: {a}})} == {frozenset({a, b})}


def test_extractors_never_import_the_datasets_or_the_models():
    """Clips -> features -> models: the extractors know the feature format, not what consumes it."""
    extractors = REPO / "avgzsl" / "extractors"
    forbidden = [REPO / "avgzsl" / "datasets", REPO / "avgzsl" / "model.py", REPO / "avgzsl" / "train.py",
                 REPO / "avgzsl" / "baselines"]
    for path, targets in _graph().items():
        if extractors in path.parents:
            bad = [t for t in targets if any(t == f or f in t.parents for f in forbidden)]
            assert not bad, f"{path.relative_to(REPO)} imports {[str(t.relative_to(REPO)) for t in bad]}"
