"""Fixtures shared by several test modules."""

from __future__ import annotations

import pytest
from workflow_helpers import copy_repo, snakemake

TINY = "tests/configs/tiny.yaml"


@pytest.fixture(scope="session")
def tiny_bundle(tmp_path_factory):
    """A repository copy where the tiny config's avgzslnet bundle was built by its workflow target (and what it
    needs, nothing more); built once for every module that uses it (the bundle's and `serve`'s tests), which
    only read it."""
    repo = copy_repo(tmp_path_factory.mktemp("bundle") / "repo")
    snakemake(repo, "results/demo/bundles/avgzslnet", "--configfile", TINY, timeout=1500)
    return repo
