"""The package's import graph: no module imports itself back through others, and dependencies run one way.

avgzsl's subpackages are layers, each importing only from layers below it (or from itself); the extractors
(top-level extractors/, imported as `avgzsl_extractors`) use the core's file formats and settings, and the
core never imports them.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from avgzsl.pipeline.code_deps import _imported_modules, _module_file, _with_parents

REPO = Path(__file__).resolve().parents[1]
PACKAGE, EXTRACTORS = REPO / "avgzsl", REPO / "extractors"

# bottom to top; a module may import its own layer and the layers before it
LAYERS = [
    ("runtime",), ("formats",), ("settings",), ("datasets",), ("models", "baselines"), ("evaluation",),
    ("training",), ("reporting",), ("pipeline", "inference"), ("commands",),
]
ROOT_MODULES = {"__init__.py", "cli.py"}  # entry points only
# what the extractors may use of the core: file formats, the settings dataclasses, device/seed helpers
EXTRACTORS_MAY_USE = {"runtime", "formats", "settings"}
# the workflow's layer runs the extractors; the demo dataset renders its clips from the class word vectors
# (datasets/demo.py, a lazy import of the text extractor); new clips are scored with them (inference/, the
# workflow's layer); nothing else imports them
MAY_IMPORT_EXTRACTORS = {"pipeline", "inference", "datasets"}


def _graph() -> dict[Path, set[Path]]:
    graph = {}
    for path in [*PACKAGE.rglob("*.py"), *EXTRACTORS.rglob("*.py")]:
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


def _layer(path: Path) -> str | None:
    """The subpackage of avgzsl a file belongs to ("" for the package root), None outside the package."""
    if PACKAGE not in path.parents:
        return None
    parts = path.relative_to(PACKAGE).parts
    return parts[0] if len(parts) > 1 else ""


def _rank(layer: str) -> int:
    if layer == "":
        return len(LAYERS)  # the entry points sit on top
    return next(i for i, names in enumerate(LAYERS) if layer in names)


def test_every_subpackage_is_a_known_layer_and_the_root_holds_only_entry_points():
    subpackages = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert subpackages == {name for names in LAYERS for name in names}
    assert {p.name for p in PACKAGE.glob("*.py")} <= ROOT_MODULES


def _upward_imports(graph: dict[Path, set[Path]]) -> list[str]:
    bad = []
    for path, targets in graph.items():
        layer = _layer(path)
        if layer is None:
            continue
        for target in targets:
            other = _layer(target)
            if other is None:  # the extractors
                if layer not in MAY_IMPORT_EXTRACTORS:
                    bad.append(f"{path.relative_to(REPO)} -> {target.relative_to(REPO)}")
            elif _rank(other) > _rank(layer):
                bad.append(f"{path.relative_to(REPO)} ({layer}) -> {target.relative_to(REPO)} ({other})")
    return bad


def test_layers_import_only_downwards_and_the_core_never_imports_the_extractors():
    assert _upward_imports(_graph()) == []


def test_the_layer_check_finds_an_upward_import_and_an_extractor_import():
    graph = {
        PACKAGE / "models" / "m.py": {PACKAGE / "training" / "t.py"},
        PACKAGE / "evaluation" / "e.py": {EXTRACTORS / "text.py"},
        PACKAGE / "training" / "ok.py": {PACKAGE / "models" / "m.py", PACKAGE / "formats" / "f.py"},
    }
    bad = _upward_imports(graph)
    assert len(bad) == 2 and "models/m.py (models)" in bad[0] + bad[1] and "extractors/text.py" in bad[0] + bad[1]


def test_extractors_use_only_the_core_formats_and_settings():
    """Clips -> features -> models: the extractors know the feature format, not what consumes it."""
    for path, targets in _graph().items():
        if EXTRACTORS not in path.parents:
            continue
        bad = [t for t in targets if _layer(t) is not None and _layer(t) not in EXTRACTORS_MAY_USE]
        assert not bad, f"{path.relative_to(REPO)} imports {[str(t.relative_to(REPO)) for t in bad]}"


@pytest.mark.parametrize("kind", ["avgzsl.models", "avgzsl.training.train", "avgzsl.evaluation.saved_scores",
                                  "avgzsl.reporting.tables", "avgzsl.cli"])
def test_the_core_imports_without_the_extract_extra(kind, tmp_path):
    """Installing the core alone trains and evaluates: its modules import with the extractors' heavy
    dependencies (decoders, librosa, gensim) and the extractors themselves made unimportable."""
    import subprocess
    import sys

    blocker = tmp_path / "block.py"
    blocker.write_text(
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in {'decord', 'av', 'librosa', 'gensim', 'avgzsl_extractors'}:\n"
        "            raise ImportError(f'blocked: {name}')\n"
        "sys.meta_path.insert(0, Block())\n"
    )
    code = f"exec(open({str(blocker)!r}).read()); import {kind}"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-2000:]


def test_rule_scripts_call_only_the_pipeline_layer():
    """A workflow script is a thin call into avgzsl.pipeline; what it runs below is the pipeline's business."""
    import ast

    for script in sorted((REPO / "workflow" / "scripts").glob("*.py")):
        tree = ast.parse(script.read_text())
        names = [alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names]
        names += [node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)]
        ours = [n for n in names if n.split(".")[0] in ("avgzsl", "avgzsl_extractors")]
        assert ours and all(n.startswith("avgzsl.pipeline.") for n in ours), (script.name, ours)
