"""Friedman / Nemenyi on synthetic per-class score tables, and the critical-difference figure."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from avgzsl.evaluation.significance import (
    _friedman_chi_square,
    critical_difference,
    friedman_nemenyi,
    plot_critical_difference,
    studentized_q,
)

# Demsar (2006), Table 5(a): two-tailed Nemenyi q_0.05 for k = 2..6
DEMSAR_Q05 = {2: 1.960, 3: 2.343, 4: 2.569, 5: 2.728, 6: 2.850}


def score_table(seed: int = 0, n_classes: int = 33, lead: float = 0.25) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    base = rng.uniform(0.2, 0.7, size=(n_classes, 1))  # class difficulty, shared by all methods
    noise = 0.05 * rng.normal(size=(n_classes, 4))
    table = pd.DataFrame(
        base + noise, columns=["CJME", "ALE", "DEVISE", "CONSE"], index=[f"class{i}" for i in range(n_classes)]
    )
    table.insert(0, "AVGZSLNet", base[:, 0] + lead + 0.05 * rng.normal(size=n_classes))
    return table


def test_a_clearly_better_method_is_found_and_ranked_first():
    result = friedman_nemenyi(score_table())
    assert result["p_value"] < 0.05
    assert result["average_ranks"].index[0] == "AVGZSLNet"
    assert result["average_ranks"].iloc[0] == pytest.approx(1.0, abs=0.1)
    others = [m for m in result["average_ranks"].index if m != "AVGZSLNet"]
    assert (result["pairwise_p_values"].loc["AVGZSLNet", others] < 0.05).all()
    assert result["significant"].loc["AVGZSLNet", others].all()
    assert result["n_blocks"] == 33 and result["n_methods"] == 5


def test_critical_difference_follows_demsar():
    for k, q in DEMSAR_Q05.items():
        assert studentized_q(k) == pytest.approx(q, abs=1e-3)
        assert critical_difference(k, 20) == pytest.approx(q * np.sqrt(k * (k + 1) / (6 * 20)), abs=1e-3)
    # the paper's Fig. 7: two methods (AVGZSLNet, CJME) over the 33 AudioSetZSL classes
    assert critical_difference(2, 33) == pytest.approx(0.3412, abs=5e-5)
    result = friedman_nemenyi(score_table())
    assert result["critical_difference"] == pytest.approx(critical_difference(5, 33))


def test_nemenyi_significance_agrees_with_the_critical_difference():
    table = score_table(seed=3, lead=0.05)
    result = friedman_nemenyi(table)
    ranks = result["average_ranks"]
    for a in ranks.index:
        for b in ranks.index:
            if a != b and abs(abs(ranks[a] - ranks[b]) - result["critical_difference"]) > 1e-6:
                beyond = abs(ranks[a] - ranks[b]) > result["critical_difference"]
                assert bool(result["significant"].loc[a, b]) == beyond, (a, b)


def test_two_methods_are_supported_like_the_paper():
    table = score_table()[["AVGZSLNet", "CJME"]]
    result = friedman_nemenyi(table)
    assert result["average_ranks"].index.tolist() == ["AVGZSLNet", "CJME"]
    assert result["p_value"] < 0.05
    assert result["critical_difference"] == pytest.approx(0.3412, abs=5e-5)


def test_own_friedman_statistic_matches_scipy_with_ties():
    rng = np.random.default_rng(1)
    scores = rng.integers(0, 4, size=(25, 3)).astype(float)  # coarse scores: many ties
    ranks = pd.DataFrame(-scores).rank(axis=1).to_numpy()
    expected = stats.friedmanchisquare(*scores.T)
    statistic, p_value = _friedman_chi_square(ranks)
    assert statistic == pytest.approx(expected.statistic) and p_value == pytest.approx(expected.pvalue)


def test_lower_is_better_flips_the_ranking():
    table = score_table()
    result = friedman_nemenyi(table, higher_is_better=False)
    assert result["average_ranks"].index[-1] == "AVGZSLNet"


def test_classes_without_test_clips_are_dropped_with_a_note():
    table = score_table()
    table.loc["class3", "CJME"] = np.nan
    table.loc["class7"] = np.nan
    result = friedman_nemenyi(table)
    assert result["n_blocks"] == 31
    assert result["dropped_blocks"] == ["class3", "class7"]
    assert "dropped 2 block(s)" in result["notes"][0]


def test_invalid_tables_are_rejected():
    with pytest.raises(ValueError, match="two methods"):
        friedman_nemenyi(score_table()[["CJME"]])
    with pytest.raises(ValueError, match="two complete blocks"):
        friedman_nemenyi(score_table().iloc[:1])
    with pytest.raises(TypeError):
        friedman_nemenyi(score_table().to_numpy())


def test_the_critical_difference_figure_is_written(tmp_path):
    result = friedman_nemenyi(score_table())
    path = plot_critical_difference(result, tmp_path / "figures" / "cd.png")
    assert path.exists() and path.stat().st_size > 1000
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_figure_does_not_depend_on_the_string_hash_seed(tmp_path):
    """scikit-posthocs joins a bar's methods in a set's order; the written PNG must not follow the hash seed."""
    import os
    import subprocess
    import sys

    code = (
        "import sys, numpy as np, pandas as pd\n"
        "from avgzsl.evaluation.significance import friedman_nemenyi, plot_critical_difference\n"
        "rng = np.random.default_rng(1)\n"
        "base = rng.uniform(0.2, 0.7, size=(30, 1))\n"
        "t = pd.DataFrame(base + 0.02 * rng.normal(size=(30, 9)), columns=[f'method {i}' for i in range(9)])\n"
        "plot_critical_difference(friedman_nemenyi(t), sys.argv[1])\n"
    )
    written = []
    for seed in ("1", "2", "3"):
        out = tmp_path / f"cd{seed}.png"
        subprocess.run([sys.executable, "-c", code, str(out)], check=True, env={**os.environ, "PYTHONHASHSEED": seed})
        written.append(out.read_bytes())
    assert written[0] == written[1] == written[2]
