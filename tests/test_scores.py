"""S1..S6 against hand-computed values, scikit-learn, and the invariances the definitions imply."""
import json
import subprocess
import sys
import warnings

import h5py
import numpy as np
import pytest
from sklearn.metrics import calinski_harabasz_score

from basesel import BaseselError
from basesel.science.featuremap_scores import (
    ScoreAccumulator,
    channel_correlation,
    paper_scores,
    scores_from_h5,
    steepness,
)

# Four images, C=2 channels, H=1, W=2, two classes. Flattened f = [c0w0, c0w1, c1w0, c1w1].
F = np.array([
    [[[1, 0]], [[0, 0]]],   # class 0
    [[[3, 0]], [[0, 2]]],   # class 0
    [[[0, 0]], [[1, 1]]],   # class 1
    [[[0, 4]], [[1, 3]]],   # class 1
], dtype=np.float32)
Y = np.array([0, 0, 1, 1])


def test_hand_computed_values():
    s = paper_scores(F, Y)
    # m0 = [2,0,0,1], m1 = [0,2,1,2], m = [1,1,.5,1.5]; S1 = 2*2.5 + 2*2.5
    assert s["S1"] == pytest.approx(10.0)
    # squared distances to class means: 2, 2, 5, 5
    assert s["S2"] == pytest.approx(14.0)
    assert s["S3"] == pytest.approx((10 / 1) / (14 / 2))
    # image 1 and 3 have a constant channel (0); image 2 corr -1, image 4 corr +1
    assert s["S4"] == pytest.approx(0.5)
    # zero fractions 3/4, 2/4, 2/4, 1/4
    assert s["S5"] == pytest.approx(0.5)
    # near-max counts / zero counts: 1/3, 1/2, 2/2, 1/1
    assert s["S6"] == pytest.approx((1 / 3 + 1 / 2 + 1 + 1) / 4)


def test_s3_equals_calinski_harabasz():
    rng = np.random.default_rng(1)
    fm = rng.normal(size=(40, 5, 3, 3)) + np.repeat(np.arange(4), 10)[:, None, None, None] * 0.3
    y = np.repeat(np.arange(4), 10)
    s = paper_scores(fm, y, batch_size=7)
    assert s["S3"] == pytest.approx(calinski_harabasz_score(fm.reshape(40, -1), y), rel=1e-10)


def test_streaming_matches_one_batch_and_is_permutation_invariant():
    rng = np.random.default_rng(2)
    fm = np.maximum(rng.normal(size=(30, 6, 4, 4)), 0).astype(np.float32) * 3
    y = rng.integers(0, 3, size=30)
    whole = paper_scores(fm, y, batch_size=1000)
    for bs in (1, 4, 7):
        streamed = paper_scores(fm, y, batch_size=bs)
        for k in whole:
            assert streamed[k] == pytest.approx(whole[k], rel=1e-9)
    perm = rng.permutation(30)
    permuted = paper_scores(fm[perm], y[perm], batch_size=4)
    for k in whole:
        assert permuted[k] == pytest.approx(whole[k], rel=1e-9)


def test_s2_stable_with_large_offset():
    # sum(x^2) - n*mean^2 would lose all digits here; the pairwise update must not.
    rng = np.random.default_rng(3)
    fm = 1e6 + rng.normal(size=(20, 2, 2, 2))
    y = np.repeat([0, 1], 10)
    flat = fm.reshape(20, -1)
    direct = sum(((flat[y == k] - flat[y == k].mean(0)) ** 2).sum() for k in (0, 1))
    assert paper_scores(fm, y, batch_size=3)["S2"] == pytest.approx(direct, rel=1e-8)


def test_channel_correlation_against_numpy_corrcoef():
    rng = np.random.default_rng(4)
    fm = rng.normal(size=(3, 5, 4, 4))
    for i in range(3):
        c = np.corrcoef(fm[i].reshape(5, -1))
        expected = np.abs(c[np.triu_indices(5, 1)]).sum()
        assert channel_correlation(fm[i:i + 1])[0] == pytest.approx(expected)


def test_one_by_one_featuremaps_give_s4_zero_with_warning():
    fm = np.arange(12, dtype=float).reshape(6, 2, 1, 1)
    y = np.array([0, 0, 0, 1, 1, 1])
    with pytest.warns(UserWarning, match="1x1"):
        s = paper_scores(fm, y)
    assert s["S4"] == 0.0


def test_s3_infinite_when_within_class_scatter_is_zero():
    fm = np.repeat(np.array([0.0, 5.0]), 3).reshape(6, 1, 1, 1) * np.ones((6, 1, 2, 2))
    y = np.repeat([0, 1], 3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert paper_scores(fm, y)["S3"] == float("inf")


def test_steepness_margin_and_all_zero_image():
    batch = np.array([[0.0, 0.0, 0.0, 0.0], [0.0, 2.0, 2.5, 1.0]]).reshape(2, 1, 2, 2)
    # all-zero image: 4 elements within the margin of max 0, zeros 4 -> 1; second: {2, 2.5} / 1 zero
    np.testing.assert_allclose(steepness(batch, 1.0), [1.0, 2.0])
    np.testing.assert_allclose(steepness(batch, 0.25), [1.0, 1.0])


@pytest.mark.parametrize("fm,y,match", [
    (np.ones((4, 1, 2, 2)), np.zeros(4, int), "at least 2 classes"),
    (np.ones((2, 1, 2, 2)), np.array([0, 1]), "more probe images"),
    (np.full((4, 1, 2, 2), np.nan), np.array([0, 0, 1, 1]), "NaN"),
    (np.ones((4, 2, 2)), np.array([0, 0, 1, 1]), "shape"),
])
def test_degenerate_inputs_have_clear_errors(fm, y, match):
    with pytest.raises(BaseselError, match=match):
        paper_scores(fm, y)


def test_invalid_margin():
    with pytest.raises(ValueError, match="margin"):
        ScoreAccumulator(0)


def test_h5_and_cli(tmp_path):
    path = tmp_path / "fm.h5"
    with h5py.File(path, "w") as f:
        f["featuremaps"] = F
        f["labels"] = Y
    assert scores_from_h5(path, batch_size=3) == pytest.approx(paper_scores(F, Y))
    out = subprocess.run([sys.executable, "-m", "basesel.cli", "scores", str(path)], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout)["S1"] == pytest.approx(10.0)
    with h5py.File(tmp_path / "bad.h5", "w") as f:
        f["labels"] = Y
    bad = subprocess.run([sys.executable, "-m", "basesel.cli", "scores", str(tmp_path / "bad.h5")], capture_output=True, text=True)
    assert bad.returncode == 2 and "neither featuremaps nor features" in bad.stderr
    with pytest.raises(BaseselError, match="no dataset 'featuremaps'"):
        scores_from_h5(tmp_path / "bad.h5")
