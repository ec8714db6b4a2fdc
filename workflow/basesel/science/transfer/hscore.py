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
"""
from __future__ import annotations

import numpy as np

from ._checks import features_labels, finite


def _between(f, y, k):
    """cov(E[f | y]): every sample replaced by its class mean, then the covariance."""
    means = np.zeros((k, f.shape[1]))
    np.add.at(means, y, f)
    means /= np.bincount(y, minlength=k)[:, None]
    g = means[y]
    g -= g.mean(axis=0)
    return g.T @ g / len(y)


def hscore(features, labels, probs=None) -> float:
    """H-score of features (n, d) for labels (n,); `probs` is unused (the common signature)."""
    f, y, k = features_labels("H-score", features, labels)
    f = f - f.mean(axis=0)
    cov = f.T @ f / len(y)
    if not cov.any():
        return 0.0  # all features constant: nothing to transfer, and no direction to invert
    return finite("H-score", np.trace(np.linalg.pinv(cov, rcond=1e-10, hermitian=True) @ _between(f, y, k)))


def hscore_shrunk(features, labels, probs=None) -> float:
    """The Ledoit-Wolf shrunk H-score of features (n, d) for labels (n,)."""
    from sklearn.covariance import ledoit_wolf

    f, y, k = features_labels("H-score (shrunk)", features, labels)
    f = f - f.mean(axis=0)
    if not f.any():
        return 0.0
    cov, shrinkage = ledoit_wolf(f, assume_centered=True)
    between = (1 - shrinkage) * _between(f, y, k)
    return finite("H-score (shrunk)", np.trace(np.linalg.pinv(cov, rcond=1e-12, hermitian=True) @ between))
