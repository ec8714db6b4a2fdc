"""The proxy scores a transferability score must beat: kNN and the linear probe, against
scikit-learn's own estimators run the same way, ties shared by hand, their invariances, and their
degenerate input (an error naming it or a documented value, never NaN)."""
import importlib

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import LeaveOneOut, StratifiedKFold, cross_val_predict
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from basesel import BaseselError
from basesel.science.transfer.knn import knn

knn_module = importlib.import_module("basesel.science.transfer.knn")  # the package names its function knn
from basesel.science.transfer.linear_probe import linear_probe


def case(seed, counts, d, scale=2.0):
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(len(counts)), counts)
    centers = rng.normal(0.0, scale, size=(len(counts), d))
    return centers[y] + rng.normal(size=(len(y), d)), y


def test_knn_is_scikit_learns_leave_one_out_on_normalised_features(monkeypatch):
    # two classes and an odd k: no vote can tie, so scikit-learn's tie-breaking never applies
    x, y = case(0, (40, 25), 12, scale=0.4)
    unit = x / np.linalg.norm(x, axis=1, keepdims=True)
    for k in (1, 3, 5, 7):
        predicted = cross_val_predict(KNeighborsClassifier(k), unit, y, cv=LeaveOneOut())
        assert knn(x, y, k=k) == pytest.approx((predicted == y).mean(), abs=1e-12)
    monkeypatch.setattr(knn_module, "ROWS", 7)  # the blocked computation: any block size, the same result
    predicted = cross_val_predict(KNeighborsClassifier(5), unit, y, cv=LeaveOneOut())
    assert knn(x, y) == pytest.approx((predicted == y).mean(), abs=1e-12)


def test_knn_shares_ties_by_hand():
    """Four unit vectors 10 degrees apart, classes a a b b: inner images have two neighbours at
    the same distance, one of each class."""
    angles = np.radians([0.0, 10.0, 20.0, 30.0])
    x = np.c_[np.cos(angles), np.sin(angles)]
    y = np.array([0, 0, 1, 1])
    # k = 1: 0 -> 1 (right), 1 -> 0 and 2 tie at 10 degrees: half a vote each, a tie: 1/2;
    # 2 -> 1 and 3 tie: 1/2; 3 -> 2 (right). (1 + 0.5 + 0.5 + 1) / 4
    assert knn(x, y, k=1) == pytest.approx(3 / 4, abs=1e-9)
    # k = 2: 0 -> {1, 2}: 1-1 tie, 1/2; 1 -> {0, 2}: 1/2; 2 -> {1, 3}: 1/2; 3 -> {2, 1}: 1/2
    assert knn(x, y, k=2) == pytest.approx(1 / 2, abs=1e-9)


def test_linear_probe_is_scikit_learns_pipeline_in_stratified_folds():
    x, y = case(1, (30, 12, 5, 20), 16, scale=0.6)
    order = np.lexsort(x.T[::-1])  # the canonical order the score draws its folds on
    xs, ys = x[order], y[order]
    first = [int(np.flatnonzero(ys == k)[0]) for k in range(4)]
    ys = np.argsort(np.argsort(first))[ys]
    for folds, c, seed in ((5, 1.0, 0), (3, 0.1, 7)):
        cv = StratifiedKFold(folds, shuffle=True, random_state=seed)
        pipe = make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=20000, tol=1e-12))
        expected = (cross_val_predict(pipe, xs, ys, cv=cv) == ys).mean()
        assert linear_probe(x, y, folds=folds, c=c, seed=seed) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("score", [knn, linear_probe])
def test_invariant_to_permuting_images_and_relabelling_classes(score):
    x, y = case(2, (20, 9, 14), 10, scale=0.5)
    base = score(x, y)
    perm = np.random.default_rng(5).permutation(len(y))
    assert score(x[perm], y[perm]) == pytest.approx(base, abs=1e-12)
    assert score(x, (y + 1) % 3) == pytest.approx(base, abs=1e-12)
    assert score(x, np.array(["c", "a", "b"])[y]) == pytest.approx(base, abs=1e-12)
    assert 0 <= base <= 1


def test_a_class_with_fewer_images_than_folds():
    """Folds: as many as the smallest class has images (at least 2). A class of one image is absent
    from its own fold's training part: that image is always misclassified."""
    x, y = case(3, (10, 10, 3), 6, scale=3.0)
    assert linear_probe(x, y, folds=5) == pytest.approx(linear_probe(x, y, folds=3), abs=1e-12)
    x1, y1 = case(4, (10, 10, 1), 6, scale=3.0)
    got = linear_probe(x1, y1, folds=5)
    assert np.isfinite(got) and got <= 20 / 21 + 1e-12


def test_degenerate_input_is_named_or_documented():
    x, y = case(5, (5, 5), 4)
    with pytest.raises(BaseselError, match="kNN: k=10 needs between 1 and n - 1 = 9"):
        knn(x, y, k=10)
    with pytest.raises(BaseselError, match="at least 2 classes"):
        knn(x, np.zeros(10))
    with pytest.raises(BaseselError, match="folds >= 2"):
        linear_probe(x, y, folds=1)
    with pytest.raises(BaseselError, match="NaN or inf"):
        linear_probe(np.where(np.eye(10, 4) > 0, np.nan, x), y)
    # constant features: every other image is a tied neighbour; leaving an image out tips the vote to
    # the other class of a balanced pair, so every image is misclassified; the probe fits intercepts
    flat = np.ones((10, 4))
    assert knn(flat, y) == 0.0 and np.isfinite(linear_probe(flat, y))
