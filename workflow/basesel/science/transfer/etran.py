"""ETran (Gholami, Akbari, Wang, Zhang: "ETran: Energy-Based Transferability Estimation", ICCV
2023; code mgholamikn/ETran, metrics.Energy_Score, metrics.LDA_Score and tw.py), for classification.

Two parts per model:
- energy: the mean of the lowest ENERGY_SHARE (0.5%) of the images' energies, an image's energy
  being log sum_j exp(f_ij) over its penultimate features (the authors' Energy_Score(X, 0.5,
  'bot'): the images that look least in-distribution; larger is better);
- lda: the mean probability of each image's own class under Gaussian classes with the class means,
  the identity covariance and the class frequencies as priors, P(c | x) = softmax_c(-|x - m_c|^2 / 2
  + log pi_c) on the raw features (what the authors' LDA_Score computes: its shrinkage and
  eigenvectors cancel, coef_ = the class means; larger is better).
ETran itself is a combination over the candidate pool: 0.15 min-max(energy) + 0.85 min-max(lda)
(`combine`, as ncti.combine: computed per group in the analysis and over the candidates in
`basesel rank`; a part constant over the pool scales to 0, where the authors' code divides by zero).
The regression part of the paper (an SVD fit to boxes) is for detection and not in the authors'
classification score. docs/metrics.md: the share of images at least one image (the authors' code
takes floor(n / 200) images, none below 200 images, and gives NaN), float64 energies.
"""
from __future__ import annotations

import numpy as np
from scipy.special import logsumexp

from ._checks import features_labels, finite
from .ncti import combine as _combine

ENERGY_SHARE = 0.005
PARTS = ("energy", "lda")
WEIGHTS = {"energy": 0.15, "lda": 0.85}


def etran_parts(features, labels, probs=None) -> dict[str, float]:
    """{energy, lda} of features (n, d) for labels (n,); `probs` is unused."""
    f, y, k = features_labels("ETran", features, labels)
    n = len(f)
    energies = np.sort(logsumexp(f, axis=1))
    energy = energies[: max(1, int(ENERGY_SHARE * 1000) * n // 1000)].mean()
    means = np.stack([f[y == c].mean(axis=0) for c in range(k)])
    priors = np.bincount(y, minlength=k) / n
    sq = (f * f).sum(axis=1)[:, None] - 2.0 * f @ means.T + (means * means).sum(axis=1)[None, :]
    logits = -0.5 * sq + np.log(priors)[None, :]
    own = logits[np.arange(n), y] - logsumexp(logits, axis=1)
    return {"energy": finite("ETran energy", energy), "lda": finite("ETran lda", np.exp(own).mean())}


def combine(parts: dict[str, np.ndarray]) -> np.ndarray:
    """0.15 min-max(energy) + 0.85 min-max(lda) over the models ranked together."""
    return _combine(parts, WEIGHTS)
