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

Both are computed from the right singular vectors V and squared singular values S^2 of the centred
features F (n x d): cov(f) = F^T F / n has the eigenvectors V and eigenvalues S^2 / n, and Sigma_LW
the same eigenvectors with (1 - a) S^2 / n + a mu (a mu on the rest of R^d), so no d x d matrix is
inverted. With fewer images than features (100 to 400 images, up to 1,024 features in the embedded
default) they come from a thin SVD of F, which costs O(n^2 d) instead of the d x d
eigendecomposition's O(d^3); otherwise from the eigendecomposition of F^T F, as before.
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


def spectrum(f) -> tuple[np.ndarray, np.ndarray]:
    """(S^2, V^T) of `f` (n, d), largest first: by a thin SVD of f when n < d (min(n, d) values),
    else by the eigendecomposition of f^T f (d values; rounding can leave tiny ones negative)."""
    n, d = f.shape
    if n < d:
        _, s, vt = np.linalg.svd(f, full_matrices=False)
        return s ** 2, vt
    lam, v = np.linalg.eigh(f.T @ f)
    return lam[::-1], v[:, ::-1].T


def hscore(features, labels, probs=None) -> float:
    """H-score of features (n, d) for labels (n,); `probs` is unused (the common signature)."""
    f, y, k = features_labels("H-score", features, labels)
    f = f - f.mean(axis=0)
    if not f.any():
        return 0.0  # all features constant: nothing to transfer, and no direction to invert
    lam, vt = spectrum(f)
    # pinv(cov) keeps the eigenvalues lam / n whose size is above RCOND times the largest and
    # inverts them: tr(V diag(n / lam) V^T G^T G / n) = sum of ||G v||^2 / lam over those kept.
    keep = np.abs(lam) > RCOND * np.abs(lam).max()
    proj = class_mean_rows(f, y, k) @ vt[keep].T
    return finite("H-score", ((proj ** 2).sum(axis=0) / lam[keep]).sum())


def ledoit_wolf_shrinkage(f, lam) -> tuple[float, float]:
    """(a, mu) of scikit-learn's ledoit_wolf(f, assume_centered=True) for centred `f` whose f^T f
    has the eigenvalues `lam` (spectrum): its shrinkage intensity and mu = tr(cov) / d, from the
    sums scikit-learn forms (that of the squared entries of f^T f is sum(lam^2); that over samples
    of ||f_i||^4) without its blocks of d x d products."""
    n, d = f.shape
    if d == 1:
        return 0.0, float((f ** 2).mean())  # scikit-learn: one feature, no shrinkage
    sq = f ** 2
    trace = sq.sum(axis=0) / n  # the diagonal of cov(f)
    mu = trace.sum() / d
    beta_ = (sq.sum(axis=1) ** 2).sum()  # sum of the entries of X2^T X2
    delta_ = (lam ** 2).sum() / n ** 2  # sum of the squared entries of X^T X, / n^2
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
    lam, vt = spectrum(f)
    a, mu = ledoit_wolf_shrinkage(f, lam)
    span, rest = (1 - a) * lam / n + a * mu, a * mu  # Sigma_LW's eigenvalues on V, and off it
    cutoff = RCOND_SHRUNK * max(np.abs(span).max(), rest)
    g = class_mean_rows(f, y, k)
    proj = g @ vt.T
    keep = np.abs(span) > cutoff
    total = ((proj[:, keep] ** 2).sum(axis=0) / span[keep]).sum()
    if len(lam) < d and rest > cutoff:  # the part of G off F's row space (rounding: G is in it)
        total += ((g - proj @ vt) ** 2).sum() / rest
    return finite("H-score (shrunk)", (1 - a) * total / n)
