"""GBC, Gaussian Bhattacharyya coefficient (Pandy, Agostinelli, Uijlings, Ferrari, Mensink:
"Transferability Estimation using Bhattacharyya Class Separability", CVPR 2022).

Features are reduced by PCA to 64 dimensions; each class is a Gaussian with a spherical covariance
(sigma_c^2 I, sigma_c^2 the mean per-dimension variance); GBC = -sum_{i != j} BC(c_i, c_j) with
BC = exp(-D_B) and D_B the Bhattacharyya distance of two Gaussians. Larger (closer to 0) is better.
"""
from __future__ import annotations

import numpy as np

from ._checks import features_labels, finite
from .nleep import pca

DIMS = 64
VAR_FLOOR = 1e-12  # a class of one image, or of identical images, has zero variance


def gbc(features, labels, probs=None) -> float:
    f, y, k = features_labels("GBC", features, labels)
    z = pca(f, DIMS)
    d = z.shape[1]
    means = np.stack([z[y == c].mean(axis=0) for c in range(k)])
    var = np.array([z[y == c].var(axis=0).mean() for c in range(k)]) + VAR_FLOOR
    total = 0.0
    for i in range(k):
        for j in range(i + 1, k):
            v = (var[i] + var[j]) / 2
            diff = means[i] - means[j]
            db = diff @ diff / (8 * v) + 0.5 * d * (np.log(v) - 0.5 * (np.log(var[i]) + np.log(var[j])))
            total += 2 * np.exp(-db)  # BC is symmetric: (i, j) and (j, i)
    return finite("GBC", -total)
