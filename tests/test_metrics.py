"""Metrics agree with scikit-learn on random inputs."""

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, balanced_accuracy_score

from avgzsl.evaluation.metrics import choose_beta, gzsl_classification, harmonic_mean, retrieval_map


@pytest.mark.parametrize("seed", range(5))
def test_classification_matches_balanced_accuracy(seed):
    rng = np.random.default_rng(seed)
    n, c = 400, 12
    seen = np.arange(c) < 8
    labels = rng.integers(0, c, n)
    d = rng.random((n, c))
    d[np.arange(n), labels] -= rng.random(n) * 0.5  # some skill, so accuracies are not all near zero
    got = gzsl_classification(d, labels, seen)
    pred = d.argmin(1)
    s_rows, u_rows = seen[labels], ~seen[labels]
    assert got["S"] == pytest.approx(balanced_accuracy_score(labels[s_rows], pred[s_rows]))
    assert got["U"] == pytest.approx(balanced_accuracy_score(labels[u_rows], pred[u_rows]))
    assert got["HM"] == pytest.approx(harmonic_mean(got["S"], got["U"]))
    unseen_ids = np.flatnonzero(~seen)
    zsl_pred = unseen_ids[d[u_rows][:, unseen_ids].argmin(1)]
    assert got["ZSL"] == pytest.approx(balanced_accuracy_score(labels[u_rows], zsl_pred))


@pytest.mark.parametrize("seed", range(5))
def test_retrieval_matches_average_precision(seed):
    rng = np.random.default_rng(seed)
    n, c = 300, 10
    seen = np.arange(c) < 6
    labels = rng.integers(0, c, n)
    d = rng.random((n, c))
    got = retrieval_map(d, labels, seen)
    ap = np.array([average_precision_score(labels == k, -d[:, k]) for k in range(c)])
    assert got["S"] == pytest.approx(ap[seen].mean())
    assert got["U"] == pytest.approx(ap[~seen].mean())
    assert np.allclose(got["per_class_ap"], ap)


def test_calibration_moves_predictions_to_unseen():
    labels = np.array([0, 1, 2, 3])
    seen = np.array([True, True, False, False])
    d = np.array([[0.0, 1, 1, 1], [1, 0.0, 1, 1], [0.0, 1, 0.3, 1], [1, 0.0, 1, 0.4]])
    assert gzsl_classification(d, labels, seen)["U"] == 0.0
    beta = choose_beta(d, labels, seen)
    cal = gzsl_classification(d, labels, seen, beta=beta)
    assert cal["U"] == 1.0 and cal["S"] == 1.0 and 0.4 < beta <= 1.0


def test_harmonic_mean_zero_safe():
    assert harmonic_mean(0.0, 0.0) == 0.0
    assert harmonic_mean(0.5, 0.25) == pytest.approx(1 / 3)


def test_average_precision_with_ties_follows_scikit_learn():
    """Ties count as one threshold, whatever the clip order (a stable sort would favour the first clip)."""
    from avgzsl.evaluation.metrics import average_precision

    relevant = np.array([False, True, False, True, False, False])
    distances = np.array([0.1, 0.1, 0.2, 0.3, 0.3, 0.3])  # a relevant clip tied behind an irrelevant one
    want = average_precision_score(relevant, -distances)
    assert average_precision(relevant, distances) == pytest.approx(want, abs=1e-15)
    flipped = np.array([1, 0, 2, 5, 4, 3])  # reorder inside the ties: same AP
    assert average_precision(relevant[flipped], distances[flipped]) == pytest.approx(want, abs=1e-15)
    # the order-breaking rule this replaces gave a different number on the same case
    order = np.argsort(distances, kind="stable")
    hits = relevant[order]
    stable = (np.cumsum(hits) / np.arange(1, 7))[hits].mean()
    assert abs(stable - want) > 0.01


def test_retrieval_map_with_tied_distances_matches_scikit_learn():
    rng = np.random.default_rng(7)
    labels = rng.integers(0, 5, 200)
    d = rng.integers(0, 4, (200, 5)).astype(float)  # four distinct values: ties everywhere
    seen = np.arange(5) < 3
    ap = np.array([average_precision_score(labels == k, -d[:, k]) for k in range(5)])
    assert np.allclose(retrieval_map(d, labels, seen)["per_class_ap"], ap, rtol=0, atol=1e-15)
