"""A seed's folder appears whole or not at all, whatever happened to earlier attempts."""

from __future__ import annotations

import pytest

from avgzsl.pipeline.run_folders import publish_dir


def test_published_folder_appears_whole(tmp_path):
    out = tmp_path / "runs" / "exp" / "seed0"
    with publish_dir(out) as tmp:
        (tmp / "metrics.json").write_text("{}")
        assert not out.exists()  # nothing visible under the final name while writing
    assert sorted(p.name for p in out.iterdir()) == ["metrics.json"]
    assert [p.name for p in out.parent.iterdir()] == ["seed0"]


def test_a_failed_attempt_leaves_nothing(tmp_path):
    out = tmp_path / "seed0"
    with pytest.raises(RuntimeError, match="killed mid-way"):
        with publish_dir(out) as tmp:
            (tmp / "config.json").write_text("{}")
            raise RuntimeError("killed mid-way")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("leftover", ["stale temporary folder", "empty output folder"])
def test_leftovers_of_a_killed_attempt_are_replaced(tmp_path, leftover):
    out = tmp_path / "seed0"
    if leftover == "stale temporary folder":  # what a SIGKILL leaves: it never reaches the cleanup
        stale = tmp_path / ".seed0.0123456789ab.tmp"
        stale.mkdir()
        (stale / "config.json").write_text("old")
    else:  # the workflow empties and recreates output folders before a job
        out.mkdir()
    with publish_dir(out) as tmp:
        (tmp / "metrics.json").write_text("new")
    assert [p.name for p in tmp_path.iterdir()] == ["seed0"]
    assert [p.name for p in out.iterdir()] == ["metrics.json"]
