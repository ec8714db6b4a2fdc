"""H-score (Bao, Li, Huang, Zheng, Tan, Cheng: "An Information-Theoretic Approach to Transferability
in Task Transfer Learning", ICIP 2019), and its Ledoit-Wolf shrunk variant (Ibrahim, Ponomareva,
Mazumder: "Newer is not always better: Rethinking transferability metrics", 2022).

H(f) = tr(cov(f)^-1 cov(E[f | y])). cov(f) is singular whenever d >= n or a feature is constant;
the paper's inverse is then taken as the Moore-Penrose pseudo-inverse (with a relative cut-off),
which is what "without regularisation" can mean at all. The shrunk variant, as Ibrahim et al.
publish it, is tr(pinv(Sigma_LW) (1 - a) cov(E[f | y])): Sigma_LW the Ledoit-Wolf estimate of cov(f),
always invertible for non-constant data, and a its shrinkage intensity. Covariances divide by n;
TLlib's code divides cov(E[f | y]) by n - 1, a constant factor for a target that changes no
ranking (docs/metrics.md).

Both are computed from one thin SVD of the centred features F = U S V^T (n x d): cov(f) = F^T F / n
has the eigenvectors V and eigenvalues S^2 / n, and Sigma_LW the same eigenvectors with (1 - a)
S^2 / n + a mu (a mu on the rest of R^d), so neither d x d matrix is formed or inverted. With
n = 100 to 400 images and d up to 1,024 features that is the same value, up to rounding, at a
fraction of the cost of a d x d eigendecomposition.
"""
from __future__ import annotations

import numpy as np

from ._checks import features_labels, finite

RCOND = 1e-10  # pinv's relative cut-off on the eigenvalues of cov(f)
RCOND_SHRUNK = 1e-12  # and of Sigma_LW


def class_mean_rows(f, y, k):
    """Every sample of centred features `f` replaced by its class mean, centred: cov(E[f | y]) is
    its G^T G / n."""
    means = np.zeros((k, f.shape[1]))
    np.add.at(means, y, f)
    means /= np.bincount(y, minlength=k)[:, None]
    g = means[y]
    g -= g.mean(axis=0)
    return g


def hscore(features, labels, probs=None) -> float:
    """H-score of features (n, d) for labels (n,); `probs` is unused (the common signature)."""
    f, y, k = features_labels("H-score", features, labels)
    f = f - f.mean(axis=0)
    if not f.any():
        return 0.0  # all features constant: nothing to transfer, and no direction to invert
    _, s, vt = np.linalg.svd(f, full_matrices=False)
    # pinv(cov) keeps the eigenvalues s^2 / n above RCOND times the largest and inverts them;
    # tr(V diag(n / s^2) V^T G^T G / n) = ||G V / s||^2 over the directions kept.
    keep = s ** 2 > RCOND * s[0] ** 2
    proj = class_mean_rows(f, y, k) @ vt[keep].T
    return finite("H-score", ((proj / s[keep]) ** 2).sum())


def ledoit_wolf_shrinkage(f, s) -> tuple[float, float]:
    """(a, mu) of scikit-learn's ledoit_wolf(f, assume_centered=True) for centred `f` with singular
    values `s`: its shrinkage intensity and mu = tr(cov) / d, from the same sums scikit-learn forms
    (sum of the squared entries of F^T F, which is sum(s^4); sum over samples of ||f_i||^4) without
    the d x d products."""
    n, d = f.shape
    if d == 1:
        return 0.0, float((f ** 2).mean())  # scikit-learn: one feature, no shrinkage
    sq = f ** 2
    trace = sq.sum(axis=0) / n  # the diagonal of cov(f)
    mu = trace.sum() / d
    beta_ = (sq.sum(axis=1) ** 2).sum()  # sum of the entries of X2^T X2
    delta_ = (s ** 4).sum() / n ** 2  # sum of the squared entries of X^T X, / n^2
    beta = (beta_ / n - delta_) / (d * n)
    delta = (delta_ - 2.0 * mu * trace.sum() + d * mu ** 2) / d
    beta = min(beta, delta)
    return (0.0 if beta == 0 else beta / delta), mu


def hscore_shrunk(features, labels, probs=None) -> float:
    """The Ledoit-Wolf shrunk H-score of features (n, d) for labels (n,)."""
    f, y, k = features_labels("H-score (shrunk)", features, labels)
    f = f - f.mean(axis=0)
    if not f.any():
        return 0.0
    n, d = f.shape
    _, s, vt = np.linalg.svd(f, full_matrices=False)
    a, mu = ledoit_wolf_shrinkage(f, s)
    span, rest = (1 - a) * s ** 2 / n + a * mu, a * mu  # Sigma_LW's eigenvalues on V, and off it
    cutoff = RCOND_SHRUNK * max(span.max(), rest)
    g = class_mean_rows(f, y, k)
    proj = g @ vt.T
    total = (proj[:, span > cutoff] ** 2 / span[span > cutoff]).sum()
    if len(s) < d and rest > cutoff:  # the part of G off F's row space (rounding: G is in it)
        total += ((g - proj @ vt) ** 2).sum() / rest
    return finite("H-score (shrunk)", (1 - a) * total / n)
