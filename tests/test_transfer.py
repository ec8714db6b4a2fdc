"""Baseline transferability scores: hand values, second implementations, invariances, orderings, degenerate input."""
import numpy as np
import pytest
from sklearn.covariance import ledoit_wolf

from basesel import BaseselError
from basesel.science.transfer import SCORES, gbc, hscore, hscore_shrunk, leep, logme, nce, nleep, sfda, transrate
from basesel.science.transfer.transrate import EPS

FEATURE_SCORES = [name for name, (_, probs) in SCORES.items() if not probs]


def data(n=80, d=6, k=3, sep=2.0, seed=0):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % k
    f = rng.normal(size=(n, d)) + sep * rng.normal(size=(k, d))[y]
    p = rng.dirichlet(np.ones(5), size=n)
    return f, y, p


def call(name, f, y, p=None):
    fn, needs = SCORES[name]
    return fn(f, y, p if needs else None)


def test_leep_by_hand():
    # two images, two source classes, two target classes
    theta = np.array([[0.8, 0.2], [0.4, 0.6]])
    y = np.array([0, 1])
    joint = np.array([[0.4, 0.1], [0.2, 0.3]])  # 1/n sum theta_z [y_i = y]
    cond = joint / joint.sum(axis=0)  # P(y|z): [[2/3, 1/4], [1/3, 3/4]]
    expected = np.mean([np.log(0.8 * cond[0, 0] + 0.2 * cond[0, 1]), np.log(0.4 * cond[1, 0] + 0.6 * cond[1, 1])])
    assert leep(None, y, theta) == pytest.approx(expected)


def test_nce_by_hand():
    theta = np.array([[0.9, 0.1], [0.8, 0.2], [0.1, 0.9], [0.3, 0.7]])  # hard labels z = 0, 0, 1, 1
    y = np.array([0, 1, 1, 1])
    # P(y,z): (0,0)=1/4, (1,0)=1/4, (1,1)=1/2; P(z)=1/2,1/2 -> -H(Y|Z) = 1/4 log 1/2 + 1/4 log 1/2 + 1/2 log 1
    assert nce(None, y, theta) == pytest.approx(0.5 * np.log(0.5))


def test_hscore_matches_closed_form():
    f, y, _ = data()
    c = f - f.mean(0)
    cov = c.T @ c / len(y)
    means = np.stack([c[y == k].mean(0) for k in range(3)])[y]
    between = (means - means.mean(0)).T @ (means - means.mean(0)) / len(y)
    assert hscore(f, y) == pytest.approx(np.trace(np.linalg.inv(cov) @ between))


@pytest.mark.parametrize("n,d", [(12, 40), (30, 30)])
def test_hscore_is_the_pseudo_inverse_formula_when_cov_is_singular(n, d):
    """n <= d: cov(f) has rank n - 1; hscore (one thin SVD of the features) equals the d x d formula
    with numpy's pseudo-inverse at the same cut-off, and a constant feature changes nothing."""
    f, y, _ = data(n=n, d=d)
    c = f - f.mean(0)
    means = np.stack([c[y == k].mean(0) for k in range(3)])[y]
    between = (means - means.mean(0)).T @ (means - means.mean(0)) / n
    expected = np.trace(np.linalg.pinv(c.T @ c / n, rcond=1e-10, hermitian=True) @ between)
    assert hscore(f, y) == pytest.approx(expected, rel=1e-8)
    assert hscore(np.hstack([f, np.full((n, 1), 3.0)]), y) == pytest.approx(expected, rel=1e-8)


@pytest.mark.parametrize("n,d", [(80, 6), (12, 40), (50, 1)])
def test_ledoit_wolf_shrinkage_is_scikit_learns(n, d):
    from sklearn.covariance import ledoit_wolf_shrinkage as sklearn_shrinkage

    from basesel.science.transfer.hscore import ledoit_wolf_shrinkage, spectrum

    f, y, _ = data(n=n, d=d)
    c = f - f.mean(0)
    a, mu = ledoit_wolf_shrinkage(c, spectrum(c)[0])
    assert a == pytest.approx(sklearn_shrinkage(c, assume_centered=True), rel=1e-10, abs=1e-15)
    assert mu == pytest.approx(np.trace(c.T @ c / n) / d, rel=1e-12)


def published_shrunk_hscore(f, y):
    """Ibrahim, Ponomareva and Mazumder (2022): tr(pinv(Sigma_LW) (1 - a) Sigma_g), written from the paper, with
    Sigma_g the (biased) covariance of the features with every sample replaced by its class mean."""
    from sklearn.covariance import LedoitWolf

    f = f - f.mean(0)
    lw = LedoitWolf(assume_centered=False).fit(f)
    g = np.zeros_like(f)
    for k in np.unique(y):
        g[y == k] = f[y == k].mean(0)
    g = g - g.mean(0)
    sigma_g = g.T @ g / len(y)
    return np.trace(np.linalg.pinv(lw.covariance_, rcond=1e-15) @ ((1 - lw.shrinkage_) * sigma_g))


# TLlib's regularized_h_score (thuml/Transfer-Learning-Library at c4aa59eb, tllib/ranking/hscore.py),
# run outside this project on data(n, d): its class-mean covariance uses np.cov, which divides by
# n - 1 where the published formula divides by n.
TLLIB_REGULARIZED_H_SCORE = {(80, 6): 1.6577186026494495, (12, 40): 2.1446676650854504}


@pytest.mark.parametrize("n,d", [(80, 6), (12, 40)])  # n < d too: Sigma_LW is still invertible
def test_shrunk_hscore_is_the_published_formula(n, d):
    f, y, _ = data(n=n, d=d)
    assert hscore_shrunk(f, y) == pytest.approx(published_shrunk_hscore(f, y), rel=1e-9)
    assert hscore_shrunk(f, y) == pytest.approx(TLLIB_REGULARIZED_H_SCORE[n, d] * (n - 1) / n, rel=1e-9)
    # the (1 - a) factor matters: without it the value is that of the covariance shrunk a times more
    c = f - f.mean(0)
    lw, a = ledoit_wolf(c, assume_centered=True)
    assert 0 < a < 1 and hscore_shrunk(f, y) < published_shrunk_hscore(f, y) / (1 - a) * (1 - 1e-9)


def test_logme_against_direct_implementation():
    from helpers import direct_logme

    f, y, _ = data(n=50, d=8)
    assert logme(f, y) == pytest.approx(direct_logme(f, y), rel=1e-6)


@pytest.mark.parametrize("n,d", [(60, 5), (10, 30)])
def test_transrate_matches_direct_logdet(n, d):
    f, y, _ = data(n=n, d=d)
    z = f - f.mean(0)

    def rate(a):
        return 0.5 * np.linalg.slogdet(np.eye(d) + a.T @ a / (len(a) * EPS))[1]

    expected = rate(z) - sum((y == k).mean() * rate(z[y == k]) for k in range(3))
    assert transrate(f, y) == pytest.approx(expected, rel=1e-9)


def test_gbc_matches_explicit_gaussians():
    f, y, _ = data(n=90, d=5)  # d < 64: PCA keeps every dimension, a rotation GBC ignores
    c = f - f.mean(0)
    total = 0.0
    stats = [(c[y == k].mean(0), c[y == k].var(0).mean() + 1e-12) for k in range(3)]
    for i in range(3):
        for j in range(3):
            if i != j:
                (m1, v1), (m2, v2) = stats[i], stats[j]
                s1, s2 = v1 * np.eye(5), v2 * np.eye(5)
                s = (s1 + s2) / 2
                db = (m1 - m2) @ np.linalg.inv(s) @ (m1 - m2) / 8 + 0.5 * np.log(
                    np.linalg.det(s) / np.sqrt(np.linalg.det(s1) * np.linalg.det(s2)))
                total += np.exp(-db)
    assert gbc(f, y) == pytest.approx(-total, rel=1e-8)


@pytest.mark.parametrize("name", list(SCORES))
def test_invariant_to_permuting_samples_and_relabelling_classes(name):
    f, y, p = data()
    base = call(name, f, y, p)
    perm = np.random.default_rng(1).permutation(len(y))
    assert call(name, f[perm], y[perm], p[perm]) == pytest.approx(base, rel=1e-6, abs=1e-9)
    relabel = np.array([2, 0, 1])[y]
    assert call(name, f, relabel, p) == pytest.approx(base, rel=1e-6, abs=1e-9)


@pytest.mark.parametrize("name", ["LogME", "HScore", "HScoreShrunk", "TransRate"])
def test_invariant_to_rotating_features(name):
    f, y, p = data(d=8)
    q, _ = np.linalg.qr(np.random.default_rng(2).normal(size=(8, 8)))
    assert call(name, f @ q, y) == pytest.approx(call(name, f, y), rel=1e-6)


@pytest.mark.parametrize("name", FEATURE_SCORES)
def test_separable_features_beat_noise(name):
    separable, y, _ = data(sep=4.0, seed=3)
    noise = np.random.default_rng(4).normal(size=separable.shape)
    assert call(name, separable, y) > call(name, noise, y)


@pytest.mark.parametrize("name", ["LEEP", "NCE"])
def test_informative_source_head_beats_random(name):
    y = np.arange(90) % 3
    informative = np.eye(3)[y] * 0.9 + 0.1 / 3
    random = np.random.default_rng(0).dirichlet(np.ones(3), size=90)
    assert call(name, None, y, informative) > call(name, None, y, random)


def degenerate_cases():
    rng = np.random.default_rng(5)
    y = np.arange(30) % 3
    f = rng.normal(size=(30, 4))
    single = np.r_[y, 3]
    return {
        "more dimensions than samples": (rng.normal(size=(30, 200)), y),
        "singular covariance": (np.c_[f, f[:, :1] * 2, f[:, 1:2] - f[:, 2:3]], y),
        "a class with one image": (np.r_[f, rng.normal(size=(1, 4))], single),
        "constant features": (np.c_[f, np.ones((30, 3))], y),
        "all-zero features": (np.zeros((30, 4)), y),
        "two classes": (f, y % 2),
    }


# How each score names itself in its error messages.
MESSAGE_NAME = {"HScore": "H-score", "HScoreShrunk": "H-score (shrunk)"}


@pytest.mark.parametrize("case", list(degenerate_cases()))
@pytest.mark.parametrize("name", list(SCORES))
def test_degenerate_input_gives_a_finite_score_or_a_clear_error(name, case):
    f, y = degenerate_cases()[case]
    p = np.random.default_rng(6).dirichlet(np.ones(4), size=len(y))
    try:
        value = call(name, f, y, p)
    except BaseselError as exc:
        assert str(exc).startswith(f"{MESSAGE_NAME.get(name, name)}: "), str(exc)  # the message names the score
        return
    assert np.isfinite(value)


@pytest.mark.parametrize("name", list(SCORES))
def test_bad_shapes_and_nan_are_errors(name):
    f, y, p = data()
    with pytest.raises(BaseselError):
        call(name, f[:-1] if not SCORES[name][1] else f, y[:-2], p[:-1])
    bad = f.copy()
    bad[0, 0] = np.nan
    badp = p.copy()
    badp[0, 0] = np.nan
    with pytest.raises(BaseselError, match="NaN|finite"):
        call(name, bad, y, badp)
    with pytest.raises(BaseselError, match="at least 2 classes"):
        call(name, f, np.zeros_like(y), p)


def test_sfda_self_challenge_keeps_overlapping_classes_below_one():
    # ConfMix pulls uncertain samples towards the *other* classes: with overlapping classes the
    # second fit cannot be certain (pulling them towards their own class would saturate at 1).
    f, y, _ = data(n=300, d=10, k=4, sep=0.6, seed=9)
    value = sfda(f, y)
    assert 0.25 < value < 0.95
    assert sfda(*data(n=300, d=10, k=4, sep=3.0, seed=9)[:2]) > value


def test_sfda_in_one_dimension_by_hand():
    # In 1-D the Fisher projection is v = 1/sqrt(S_W) and shrinkage towards trace/d is a no-op, so
    # each fit is the Gaussian LDA posterior with a pooled variance: softmax(x m_c / s - m_c^2 / 2s + log pi_c).
    rng = np.random.default_rng(3)
    y = np.repeat([0, 1, 2], [30, 40, 50])
    x = rng.normal(size=len(y)) + np.array([0.0, 1.0, 2.5])[y]

    def lda(v):
        pri = np.bincount(y) / len(y)
        m = np.array([v[y == c].mean() for c in range(3)])
        s = sum(pri[c] * v[y == c].var() for c in range(3))
        logits = v[:, None] * m[None, :] / s - m[None, :] ** 2 / (2 * s) + np.log(pri)[None, :]
        e = np.exp(logits - logits.max(1, keepdims=True))
        return e / e.sum(1, keepdims=True), m

    p1, m = lda(x)
    soft = np.exp(p1) / np.exp(p1).sum(1, keepdims=True)
    pt = soft[np.arange(len(y)), y]
    others = (m.sum() - m) / 2
    p2, _ = lda(pt * x + (1 - pt) * others[y])
    assert sfda(x[:, None], y) == pytest.approx(p2[np.arange(len(y)), y].mean(), rel=1e-9)


def test_nleep_pca_matches_sklearn_and_pure_components_give_zero():
    from sklearn.decomposition import PCA

    from basesel.science.transfer.nleep import pca

    f, y, _ = data(n=120, d=12, sep=1.0)
    ours = pca(f, 0.8)
    ref = PCA(n_components=0.8, svd_solver="full").fit_transform(f)
    assert ours.shape == ref.shape
    np.testing.assert_allclose(np.abs(ours), np.abs(ref), atol=1e-8)  # equal up to each axis's sign
    # Classes far apart: every mixture component holds one class, P(y|z) is 0 or 1, LEEP -> log 1 = 0.
    far, y2, _ = data(n=150, d=4, sep=60.0, seed=1)
    assert nleep(far, y2) == pytest.approx(0.0, abs=1e-6)


# SFDA_Score of the authors' code (TencentARC/SFDA at 3b7edf76, metrics.py, with utils.iterative_A's
# three-step power iteration), run outside this project on the arrays of the two tests below.
AUTHORS_SFDA = {"unbalanced": 0.9139575263292156, "more features than images": 0.9992023817483279}


def test_sfda_is_the_authors_algorithm_but_for_the_exact_eigenvalue():
    """With the authors' three-step power iteration substituted for the exact largest eigenvalue,
    sfda reproduces their code on unbalanced classes; the exact value moves the score a little."""
    from basesel.science.transfer.sfda import power_iteration

    rng = np.random.default_rng(5)
    y = np.repeat([0, 1, 2, 3], [60, 25, 10, 5])  # unbalanced
    f = rng.normal(size=(len(y), 12)) * rng.uniform(0.05, 0.3, size=12) + 0.25 * rng.normal(size=(4, 12))[y]
    approx = sfda(f, y, largest_eigenvalue=power_iteration)
    assert approx == pytest.approx(AUTHORS_SFDA["unbalanced"], rel=1e-10)
    exact = sfda(f, y)
    assert exact != approx and exact == pytest.approx(approx, rel=1e-2)


def test_sfda_with_more_features_than_images_is_the_authors_algorithm():
    """d > n, as for the probe sets (100 images, 128 to 1,024 features): S_W is singular before its
    shrinkage, and the Cholesky solve still equals the authors' generalised eigenproblem."""
    from basesel.science.transfer.sfda import power_iteration

    rng = np.random.default_rng(11)
    y = np.repeat([0, 1, 2, 3, 4], [12, 10, 8, 6, 4])
    f = rng.normal(size=(len(y), 90)) * 0.1 + 0.05 * rng.normal(size=(5, 90))[y]
    assert sfda(f, y, largest_eigenvalue=power_iteration) == pytest.approx(AUTHORS_SFDA["more features than images"],
                                                                           rel=1e-8)
