"""NLEEP (Li, Jia, Chen, Ghassemi, Zhang, Xie, Anandkumar, Xu, Wang: "Ranking Neural Checkpoints",
CVPR 2021).

The penultimate features are reduced by PCA to the components that keep 80% of the variance, a
Gaussian mixture with 5 components per target class (diagonal covariances, as the paper's code)
is fitted (on the samples in a canonical order, so that their order does not matter), and its posteriors take the place of the source softmax in LEEP.
"""
from __future__ import annotations

import numpy as np

from ._checks import features_labels
from .leep import leep_from_probs

COMPONENTS_PER_CLASS = 5
VARIANCE_KEPT = 0.8


def pca(f: np.ndarray, keep) -> np.ndarray:
    """Project centred f on its principal axes: `keep` < 1 is a variance fraction, >= 1 a dimension."""
    f = f - f.mean(axis=0)
    _, s, vt = np.linalg.svd(f, full_matrices=False)
    var = s ** 2
    if var.sum() == 0:
        return np.zeros((len(f), 1))
    if keep < 1:
        dims = int(np.searchsorted(np.cumsum(var) / var.sum(), keep) + 1)
    else:
        dims = int(min(keep, len(s)))
    return f @ vt[:dims].T


def nleep(features, labels, probs=None, seed: int = 0) -> float:
    from sklearn.mixture import GaussianMixture

    f, y, k = features_labels("NLEEP", features, labels)
    z = pca(f, VARIANCE_KEPT)
    components = max(1, min(COMPONENTS_PER_CLASS * k, len(z) // 2))
    gmm = GaussianMixture(components, covariance_type="diag", reg_covar=1e-6 * max(z.var(), 1e-12) + 1e-12,
                          max_iter=100, random_state=seed)
    # k-means initialisation depends on sample order; fitting on a canonical order makes the score
    # invariant to permuting images, as every other score is.
    gmm.fit(z[np.lexsort(z.T[::-1])])
    return leep_from_probs(gmm.predict_proba(z), y)
