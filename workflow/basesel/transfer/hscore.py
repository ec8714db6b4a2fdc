"""H-score (Bao, Li, Huang, Zheng, Tan, Cheng: "An Information-Theoretic Approach to Transferability
in Task Transfer Learning", ICIP 2019), and its Ledoit-Wolf shrunk variant (Ibrahim, Ponomareva,
Mazumder: "Newer is not always better: Rethinking transferability metrics", 2022).

H(f) = tr(cov(f)^-1 cov(E[f | y])). cov(f) is singular whenever d >= n or a feature is constant;
the paper's inverse is then taken as the Moore-Penrose pseudo-inverse (with a relative cut-off),
which is what "without regularisation" can mean at all. The shrunk variant replaces cov(f) by the
Ledoit-Wolf estimate, which is always invertible for non-constant data.
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
    f, y, k = features_labels("H-score", features, labels)
    f = f - f.mean(axis=0)
    cov = f.T @ f / len(y)
    if not cov.any():
        return 0.0  # all features constant: nothing to transfer, and no direction to invert
    return finite("H-score", np.trace(np.linalg.pinv(cov, rcond=1e-10, hermitian=True) @ _between(f, y, k)))


def hscore_shrunk(features, labels, probs=None) -> float:
    from sklearn.covariance import ledoit_wolf

    f, y, k = features_labels("H-score (shrunk)", features, labels)
    f = f - f.mean(axis=0)
    if not f.any():
        return 0.0
    cov, _ = ledoit_wolf(f, assume_centered=True)
    return finite("H-score (shrunk)", np.trace(np.linalg.pinv(cov, rcond=1e-12, hermitian=True) @ _between(f, y, k)))
