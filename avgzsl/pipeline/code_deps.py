"""Which of the project's own modules a workflow script runs, and a digest of that code for the rule's params.

A rule's code is its script and every module of the package the script imports (directly or through other
modules). Imports are read with `ast`, never executed, so this is cheap enough for every parse of the
Snakefile. Every import statement counts, including those inside functions: a lazy import still runs when the
step does.

The workflow puts `code_digest` of a rule's script into the rule's params, so editing code re-runs exactly the
rules whose scripts run it. The digest is over syntax trees without docstrings: comments, docstrings, blank
lines and line breaks are not code, and editing them re-runs nothing (a checksum of the files would re-run,
say, every extraction after a comment fix in a module they import).
"""

from __future__ import annotations

import ast
import hashlib
import importlib.util
from functools import cache
from importlib.metadata import entry_points
from pathlib import Path

from avgzsl.settings.experiment import METHOD_ENTRY_POINTS, is_class_path

# import name -> folder in the repository (the extractors install as `avgzsl_extractors` from extractors/)
PACKAGES = {"avgzsl": "avgzsl", "avgzsl_extractors": "extractors"}


def _module_file(repo: Path, module: str) -> Path | None:
    """The file of a dotted module name inside the repository, or None when it is not one of ours."""
    parts = module.split(".")
    if parts[0] not in PACKAGES:
        return None
    base = repo.joinpath(PACKAGES[parts[0]], *parts[1:])
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _with_parents(module: str) -> list[str]:
    """Importing a.b.c runs a/__init__.py and a/b/__init__.py first."""
    parts = module.split(".")
    return [".".join(parts[: i + 1]) for i in range(len(parts))]


def _package_of(repo: Path, path: Path) -> str:
    # a/b/c.py and a/b/__init__.py both belong to package a.b (its folder mapped back to its import name)
    parts = list(path.relative_to(repo).parts[:-1])
    folders = {folder: name for name, folder in PACKAGES.items()}
    if parts and parts[0] in folders:
        parts[0] = folders[parts[0]]
    return ".".join(parts)


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


def code_inputs(script: str | Path, repo: str | Path, modules: tuple[str, ...] = ()) -> list[Path]:
    """Every module of `PACKAGES` that `script` imports, transitively, as sorted absolute paths; `modules`
    (dotted names the script reaches by name, e.g. through a registry) count as imported too."""
    repo = Path(repo).resolve()
    for name in modules:  # named by the caller, so a typo is an error rather than a module silently left out
        if _module_file(repo, name) is None:
            raise ValueError(f"{name}: not a module of {', '.join(PACKAGES)} in {repo}")
    seen: set[Path] = set()
    todo: list[Path] = []

    def visit(names) -> None:
        for name in names:
            for module in _with_parents(name):
                found = _module_file(repo, module)
                if found is not None and found not in seen:
                    seen.add(found)
                    todo.append(found)

    visit(modules)
    visit(_imported_modules(repo, Path(script).resolve()))
    while todo:
        visit(_imported_modules(repo, todo.pop()))
    return sorted(seen)


_DOCUMENTED = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)


@cache
def _syntax(path: Path, mtime_ns: int, size: int) -> str:
    """The file's syntax tree without docstrings, as text (no line or column numbers: `ast.dump`'s default)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (isinstance(node, _DOCUMENTED) and body and isinstance(body[0], ast.Expr)
                and isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str)):
            node.body = body[1:] or [ast.Pass()]
    return ast.dump(tree)


def code_digest(script: str | Path, repo: str | Path, modules: tuple[str, ...] = (), method: str | None = None,
                method_group: str = METHOD_ENTRY_POINTS) -> str:
    """SHA-256 over the repository-relative path and docstring-free syntax tree of `script` and of every module
    it imports (`code_inputs`): it changes with the code that runs, not with comments, docstrings or layout.

    `method`: a `model.kind` (or, with `method_group="avgzsl.baselines"`, a baseline) the script builds; a
    method outside the package adds its module and the modules of its own package that it imports (by dotted
    name, so a moved checkout keeps the record), and the package modules they import."""
    repo, script = Path(repo).resolve(), Path(script).resolve()
    outside = method_files(method, method_group) if method else []
    ours = tuple(name for _, path in outside for name in _imported_modules(repo, path)
                 if _module_file(repo, name) is not None)
    digest = hashlib.sha256()
    for path in [script, *code_inputs(script, repo, tuple(modules) + ours)]:
        stat = path.stat()
        digest.update(path.relative_to(repo).as_posix().encode() + b"\0")
        digest.update(_syntax(path, stat.st_mtime_ns, stat.st_size).encode() + b"\0")
    for name, path in outside:
        stat = path.stat()
        digest.update(f"method module {name}".encode() + b"\0")
        digest.update(_syntax(path, stat.st_mtime_ns, stat.st_size).encode() + b"\0")
    return digest.hexdigest()


def method_files(kind: str, group: str = METHOD_ENTRY_POINTS) -> list[tuple[str, Path]]:
    """(dotted name, file) of a method outside the package (an installed entry point of `group`, or a
    `package.module:Class`): its module and, transitively, the modules of its own top-level package it imports.
    Found without importing the module itself; none for a built-in name."""
    installed = {ep.name: ep for ep in entry_points(group=group)}
    if kind in installed:
        module = installed[kind].module
    elif is_class_path(kind):
        module = kind.partition(":")[0]
    else:
        return []
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.origin or not spec.origin.endswith(".py"):
        raise ValueError(f"model.kind {kind!r}: no Python source file for {module!r} on the path")
    path = Path(spec.origin).resolve()
    depth = module.count(".") + (path.name == "__init__.py")
    root, top = path.parents[depth], module.split(".")[0]
    found: dict[str, Path] = {}
    todo = [(module, path)]
    while todo:
        name, file = todo.pop()
        if name in found:
            continue
        found[name] = file
        for imported in _imported_modules(root, file):
            if imported.split(".")[0] != top:
                continue
            base = root.joinpath(*imported.split("."))
            for candidate in (base.with_suffix(".py"), base / "__init__.py"):
                if candidate.is_file():
                    todo.append((imported, candidate.resolve()))
    return sorted(found.items())
