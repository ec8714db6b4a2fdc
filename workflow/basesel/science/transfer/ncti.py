"""NCTI (Wang, Zhao, Fu, Yu, Wang: "How Far Pre-trained Models Are from Neural Collapse on the
Target Dataset Informs their Transferability", ICCV 2023; code BUserName/NCTI, metrics.NCTI_Score
and evaluate_metric_group1_cpu.py).

Three parts per model, measuring how far the target's features are from neural collapse. The
features are reduced by PCA to DIMS (64) dimensions and a linear discriminant analysis is fitted
(scikit-learn's, as the authors': the SVD solver when the first 32 principal variances sum to at
least ln(1e10), else the eigen solver with shrinkage exp(-that sum)):
- seli: the nuclear norm of the centred LDA projection (class separation; larger is better);
- ncc: the mean LDA probability of each image's own class (nearest-class-centre fit; larger);
- vc: log of the sum over classes of the nuclear norm of the class's rows of the LDA probabilities
  (within-class variability collapse; smaller is better).
NCTI itself is a combination over the candidate pool: min-max(ncc) + min-max(seli) - min-max(vc),
each part scaled over the models ranked together (`combine`). Constant features (a dead network's)
have no discriminant: their parts are those of features that say nothing (`_no_information`). So a
pair's job computes the three
parts, and the analysis (per group) and `basesel rank` (over its candidates) combine them; a part on
which every candidate ties scales to 0 (the authors' code divides by zero). docs/metrics.md: the
PCA size clamped to the data.
"""
from __future__ import annotations

import numpy as np

from ... import BaseselError
from ._checks import features_labels, finite
from .nleep import pca

DIMS = 64
PARTS = ("seli", "ncc", "vc")
# +1: larger is better, -1: smaller (the sign each part's min-max scale takes in the combination)
WEIGHTS = {"ncc": 1.0, "seli": 1.0, "vc": -1.0}


def ncti_parts(features, labels, probs=None, dims: int = DIMS) -> dict[str, float]:
    """{seli, ncc, vc} of features (n, d) for labels (n,); `probs` is unused. `dims` is clamped to
    the n - 1 directions n centred images span and to d."""
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

    f, y, k = features_labels("NCTI", features, labels)
    n = len(f)
    if n <= k:
        raise BaseselError(f"NCTI: needs more images ({n}) than classes ({k}) for a discriminant analysis")
    x = pca(f, max(1, min(dims, n - 1, f.shape[1])))
    if not np.abs(x).max() > 1e-12 * max(1.0, np.abs(f).max()):
        return _no_information(y, k)  # constant features (a dead network): no discriminant to fit
    variances = np.sort(x.var(axis=0, ddof=1))[::-1]
    shrinkage = max(np.exp(-variances[:32].sum()), 1e-10)
    lda = (LinearDiscriminantAnalysis(solver="svd") if shrinkage == 1e-10
           else LinearDiscriminantAnalysis(solver="eigen", shrinkage=shrinkage))
    z = lda.fit_transform(x, y)
    seli = np.linalg.norm(z - z.mean(axis=0), ord="nuc")
    p = lda.predict_proba(x)
    ncc = p[np.arange(n), y].mean()
    vc = np.log(sum(np.linalg.norm(p[y == c], ord="nuc") for c in range(k)))
    return {part: finite(f"NCTI {part}", v) for part, v in zip(PARTS, (seli, ncc, vc))}


def _no_information(y: np.ndarray, k: int) -> dict[str, float]:
    """The parts of features that say nothing of the classes (all equal): no separation (seli 0),
    and every image given the class frequencies pi, as a discriminant without a direction predicts
    (ncc = sum pi_c^2; each class's block of probabilities has rank 1, norm sqrt(n_c) |pi|)."""
    counts = np.bincount(y, minlength=k)
    pi = counts / counts.sum()
    return {"seli": 0.0, "ncc": float((pi * pi).sum()),
            "vc": float(np.log(np.linalg.norm(pi) * np.sqrt(counts).sum()))}


def combine(parts: dict[str, np.ndarray], weights=None) -> np.ndarray:
    """The pool's combined score from each part's values over the models ranked together:
    sum of weight x min-max(part); a part constant over the pool scales to 0. NaN where a model
    lacks a part."""
    weights = WEIGHTS if weights is None else weights
    total = 0.0
    for part, w in weights.items():
        v = np.asarray(parts[part], dtype=np.float64)
        lo, hi = np.nanmin(v), np.nanmax(v)
        scaled = (v - lo) / (hi - lo) if hi > lo else np.where(np.isnan(v), np.nan, 0.0)
        total = total + w * scaled
    return total
