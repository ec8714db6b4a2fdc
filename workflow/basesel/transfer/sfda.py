"""SFDA, self-challenging Fisher discriminant analysis (Shao, Zhao, Xie, Zhou, Zhang, Liu:
"Not All Models Are Equal: Predicting Model Transferability in a Self-challenging Fisher Space",
ECCV 2022).

1. A regularised Fisher discriminant: S_W (prior-weighted class covariances), S_B = S_T - S_W,
   projection from the generalised eigenproblem S_B v = mu (lambda I + (1 - lambda) S_W) v, with
   lambda = exp(-a * largest eigenvalue of S_W), a = 5 (the paper's adaptive regulariser).
2. ConfMix: each sample moves towards its class mean by (1 - p(y_i | x_i)), p from the first fit.
3. A second fit with the same lambda; SFDA = mean_i p(y_i | x_i) on the mixed features.
The class posteriors are the linear discriminant's softmax; the published code applies one more
softmax to the first fit's probabilities before ConfMix ("to soften them"), and so does this.
"""
from __future__ import annotations

import numpy as np
from scipy import linalg

from ._checks import features_labels, finite

A = 5.0


def _softmax(s):
    s = s - s.max(axis=1, keepdims=True)
    e = np.exp(s)
    return e / e.sum(axis=1, keepdims=True)


def _fit_predict(f, y, k, shrinkage=None):
    n, d = f.shape
    counts = np.bincount(y, minlength=k)
    priors = counts / n
    means = np.zeros((k, d))
    np.add.at(means, y, f)
    means /= counts[:, None]
    sw = np.zeros((d, d))
    for c in range(k):
        fc = f[y == c] - means[c]
        sw += priors[c] * (fc.T @ fc) / counts[c]
    if shrinkage is None:
        top = linalg.eigh(sw, eigvals_only=True, subset_by_index=[d - 1, d - 1])[0] if d > 1 else sw[0, 0]
        shrinkage = max(float(np.exp(-A * top)), 1e-10)
    g = f - f.mean(axis=0)
    st = g.T @ g / n
    sb = st - sw
    evals, evecs = linalg.eigh(sb, shrinkage * np.eye(d) + (1 - shrinkage) * sw)
    evecs = evecs[:, np.argsort(evals)[::-1]]
    coef = means @ evecs @ evecs.T
    intercept = -0.5 * np.einsum("kd,kd->k", means, coef) + np.log(priors)
    return _softmax(f @ coef.T + intercept), means, shrinkage


def sfda(features, labels, probs=None) -> float:
    f, y, k = features_labels("SFDA", features, labels)
    n = len(y)
    if not f.std(axis=0).any():
        return finite("SFDA", 1.0 / k)  # no feature varies: every class equally likely
    prob, means, shrinkage = _fit_predict(f, y, k)
    prob = _softmax(prob)  # the published code's extra softening
    p_true = prob[np.arange(n), y][:, None]
    mixed = p_true * f + (1 - p_true) * means[y]
    prob2, _, _ = _fit_predict(mixed, y, k, shrinkage)
    return finite("SFDA", prob2[np.arange(n), y].mean())
