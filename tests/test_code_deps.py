"""Code inputs of a workflow script: the package modules it imports, transitively, read not run."""

from __future__ import annotations

from pathlib import Path

import pytest

from avgzsl.pipeline.code_deps import code_digest, code_inputs

REPO = Path(__file__).resolve().parents[1]


def _tree(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


@pytest.fixture
def repo(tmp_path):
    return _tree(tmp_path, {
        "avgzsl/__init__.py": "",
        "avgzsl/a.py": "import numpy\nfrom avgzsl import b\n",
        "avgzsl/b.py": "def f():\n    from .sub.c import g  # a lazy, relative import still runs\n",
        "avgzsl/sub/__init__.py": "",
        "avgzsl/sub/c.py": "from ..d import h\n",
        "avgzsl/d.py": "import os\n",
        "avgzsl/unused.py": "",
        "extractors/__init__.py": "",
        "extractors/x.py": "import avgzsl.a\nfrom .y import z  # relative, inside the folder mapped to avgzsl_extractors\n",
        "extractors/y.py": "",
        "tests/helper.py": "",
    })


@pytest.mark.parametrize("script,expected", [
    ("import avgzsl.a\n", ["avgzsl/__init__.py", "avgzsl/a.py", "avgzsl/b.py", "avgzsl/d.py",
                           "avgzsl/sub/__init__.py", "avgzsl/sub/c.py"]),
    ("from avgzsl.d import h\n", ["avgzsl/__init__.py", "avgzsl/d.py"]),
    ("from avgzsl_extractors import x\n", ["avgzsl/__init__.py", "avgzsl/a.py", "avgzsl/b.py", "avgzsl/d.py",
                                           "avgzsl/sub/__init__.py", "avgzsl/sub/c.py",
                                           "extractors/__init__.py", "extractors/x.py", "extractors/y.py"]),
    ("import numpy, tests.helper\n", []),  # third-party and non-package modules are not code inputs
    ("with open('x') as f:\n    import avgzsl.sub\n", ["avgzsl/__init__.py", "avgzsl/sub/__init__.py"]),
])
def test_code_inputs_follow_imports_transitively(repo, tmp_path, script, expected):
    path = tmp_path / "script.py"
    path.write_text(script)
    got = [p.relative_to(repo.resolve()).as_posix() for p in code_inputs(path, repo)]
    assert got == expected


def test_every_workflow_script_imports_only_existing_modules():
    scripts = sorted((REPO / "workflow" / "scripts").glob("*.py"))
    assert scripts
    for script in scripts:
        found = code_inputs(script, REPO)
        assert found and all(p.is_file() for p in found), script
        assert REPO / "avgzsl" / "pipeline" / "rule_log.py" in found, script  # every script logs through it


def test_audio_steps_do_not_depend_on_i3d():
    audio = code_inputs(REPO / "workflow" / "scripts" / "extract_audio_shard.py", REPO)
    video = code_inputs(REPO / "workflow" / "scripts" / "extract_video_shard.py", REPO)
    i3d, steps = REPO / "extractors" / "i3d.py", REPO / "avgzsl" / "pipeline" / "extraction_steps.py"
    assert i3d in video and i3d not in audio
    assert steps in audio and steps in video


def _digest_after(repo: Path, script: Path, rel: str, text: str) -> str:
    (repo / rel).write_text(text)
    return code_digest(script, repo)


def test_code_digest_changes_with_code_not_with_comments_docstrings_or_layout(repo, tmp_path):
    script = tmp_path / "script.py"
    script.write_text("import avgzsl.a\n")
    base = code_digest(script, repo)
    d = "avgzsl/d.py"
    same = [
        "import os  # a comment\n",
        '"""A module docstring."""\n\nimport os\n\n\n',
        "import os\n\n\ndef f():\n    '''doc'''\n    return 1\n",  # a new function: code (checked below)
    ]
    assert _digest_after(repo, script, d, same[0]) == base
    assert _digest_after(repo, script, d, same[1]) == base
    with_function = _digest_after(repo, script, d, same[2])
    assert with_function != base  # a function is code, in a module the script reaches through b -> sub.c -> d
    assert _digest_after(repo, script, d, "import os\n\n\ndef f():\n    '''other words'''\n    return 1\n") == with_function
    assert _digest_after(repo, script, d, "import os\n\n\ndef f():\n    return (\n        1\n    )\n") == with_function
    assert _digest_after(repo, script, d, "import os\n\n\ndef f():\n    return 2\n") != with_function
    assert _digest_after(repo, script, d, "import os\n\n\ndef f():\n    'the only statement'\n") != with_function
    (repo / d).write_text("import os\n")
    assert code_digest(script, repo) == base  # undone: the same digest again
    assert _digest_after(repo, script, "avgzsl/unused.py", "x = 1\n") == base  # a module it does not import
    script.write_text("import avgzsl.a  # the script's own comment\n")
    assert code_digest(script, repo) == base
    script.write_text("import avgzsl.a\nprint(1)\n")
    assert code_digest(script, repo) != base



def test_modules_reached_by_name_count_as_code(repo, tmp_path):
    """A rule that calls into a dataset kind through the registry names the kind's module: its code counts."""
    script = tmp_path / "script.py"
    script.write_text("import avgzsl.a\n")
    plain = code_inputs(script, repo)
    named = code_inputs(script, repo, ("avgzsl.sub.c",))
    assert [p.relative_to(repo.resolve()).as_posix() for p in set(named) - set(plain)] == []  # already imported
    script = tmp_path / "other_script.py"  # imports are read once per file and process
    script.write_text("import os\n")
    got = [p.relative_to(repo.resolve()).as_posix() for p in code_inputs(script, repo, ("avgzsl.sub.c",))]
    assert got == ["avgzsl/__init__.py", "avgzsl/d.py", "avgzsl/sub/__init__.py", "avgzsl/sub/c.py"]
    base = code_digest(script, repo, ("avgzsl.sub.c",))
    assert _digest_after(repo, script, "avgzsl/d.py", "import os\nX = 1\n") != base
    with pytest.raises(ValueError, match="avgzsl.nowhere: not a module"):
        code_inputs(script, repo, ("avgzsl.nowhere",))
