"""TransRate (Huang, Huang, Chen, Zhu, Chen, Zhang: "Frustratingly Easy Transferability Estimation",
ICML 2022).

TransRate = R(Z) - sum_y (n_y / n) R(Z_y), with the coding rate R(Z) = 1/2 logdet(I + Z^T Z / (n eps))
on centred features and eps = 1e-4, as docs/metrics.md fixes it. The paper writes
d / (n eps^2) inside the log-determinant and its published code normalises the features
differently; the spec's form is followed here. logdet is taken on the smaller of Z^T Z and Z Z^T.
"""
from __future__ import annotations

import numpy as np

from ._checks import features_labels, finite

EPS = 1e-4


def coding_rate(z: np.ndarray, eps: float = EPS) -> float:
    n = len(z)
    gram = z.T @ z if z.shape[1] <= n else z @ z.T
    sign, logdet = np.linalg.slogdet(np.eye(len(gram)) + gram / (n * eps))
    return 0.5 * logdet


def transrate(features, labels, probs=None) -> float:
    f, y, k = features_labels("TransRate", features, labels)
    z = f - f.mean(axis=0)
    n = len(y)
    rate = coding_rate(z) - sum((y == c).sum() / n * coding_rate(z[y == c]) for c in range(k))
    return finite("TransRate", rate)
