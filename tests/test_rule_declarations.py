"""Every rule (whichever dataset defines it) says where it logs, where it records its benchmark and how
many threads it uses, so cluster jobs are sized from the rule, not guessed."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
RULE = re.compile(r"^(\s*)rule (\w+):\s*$")


def _rules() -> dict[str, str]:
    """rule name -> its text, read from the rule files (rules inside `if DATASET ...` blocks included)."""
    rules = {}
    for path in sorted((REPO / "workflow" / "rules").glob("*.smk")):
        lines = path.read_text().splitlines()
        starts = [(i, RULE.match(line)) for i, line in enumerate(lines) if RULE.match(line)]
        for n, (i, match) in enumerate(starts):
            end = starts[n + 1][0] if n + 1 < len(starts) else len(lines)
            indent = len(match.group(1))
            body = []
            for line in lines[i + 1:end]:
                if line.strip() and len(line) - len(line.lstrip()) <= indent:
                    break  # back at the rule's own level: the block ended
                body.append(line)
            rules[match.group(2)] = "\n".join(body)
    return rules


def test_the_rule_files_were_read():
    assert {"manifest", "train_seed", "extract_video_shard", "tables", "figures"} <= set(_rules())


@pytest.mark.parametrize("name", sorted(_rules()))
def test_rule_declares_log_benchmark_and_threads(name):
    body = _rules()[name]
    for directive in ("log", "benchmark", "threads"):
        assert re.search(rf"^\s+{directive}:", body, re.M), f"rule {name} has no {directive}:"
