"""Which of the project's own modules a workflow script runs: its code inputs, derived from imports.

The workflow makes these files inputs of the rule, so editing a module re-runs exactly the rules whose
scripts import it (directly or through other modules). Imports are read with `ast`, never executed, so
this is cheap enough for every parse of the Snakefile. Every import statement counts, including those
inside functions: a lazy import still runs when the step does.
"""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

PACKAGES = ("avgzsl",)


def _module_file(repo: Path, module: str) -> Path | None:
    """The file of a dotted module name inside the repository, or None when it is not one of ours."""
    parts = module.split(".")
    if parts[0] not in PACKAGES:
        return None
    base = repo.joinpath(*parts)
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _with_parents(module: str) -> list[str]:
    """Importing a.b.c runs a/__init__.py and a/b/__init__.py first."""
    parts = module.split(".")
    return [".".join(parts[: i + 1]) for i in range(len(parts))]


def _package_of(repo: Path, path: Path) -> str:
    # a/b/c.py and a/b/__init__.py both belong to package a.b
    return ".".join(path.relative_to(repo).parts[:-1])


@cache
def _imported_modules(repo: Path, path: Path) -> tuple[str, ...]:
    """Dotted names a file imports (and, for `from x import y`, x.y in case y is a submodule)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    inside_repo = repo in path.parents
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                if not inside_repo:
                    continue  # a relative import outside the packages cannot reach them
                package = _package_of(repo, path).split(".")
                package = package[: len(package) - (node.level - 1)]
                base = ".".join(package + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            names.append(base)
            names.extend(f"{base}.{alias.name}" for alias in node.names if alias.name != "*")
    return tuple(names)


def code_inputs(script: str | Path, repo: str | Path) -> list[Path]:
    """Every module of `PACKAGES` that `script` imports, transitively, as sorted absolute paths."""
    repo = Path(repo).resolve()
    seen: set[Path] = set()
    todo = [Path(script).resolve()]
    while todo:
        path = todo.pop()
        for name in _imported_modules(repo, path):
            for module in _with_parents(name):
                found = _module_file(repo, module)
                if found is not None and found not in seen:
                    seen.add(found)
                    todo.append(found)
    return sorted(seen)
