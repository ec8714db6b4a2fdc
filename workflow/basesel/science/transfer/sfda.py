"""SFDA, self-challenging Fisher discriminant analysis (Shao, Zhao, Xie, Zhou, Zhang, Liu:
"Not All Models Are Equal: Predicting Model Transferability in a Self-challenging Fisher Space",
ECCV 2022).

1. A regularised Fisher discriminant. S_W is the prior-weighted sum of class covariances; with
   lambda = max(exp(-a * largest eigenvalue of S_W), 1e-10), a = 5 (the adaptive regulariser; the
   eigenvalue is exact here, as the paper defines it, where the authors' code approximates it with
   three power-iteration steps, `power_iteration`: that moves the score in about the fourth digit),
   both S_W and the total scatter S_T are shrunk towards their mean eigenvalue times I, S_B is
   S_T - S_W, and the projection solves S_B v = mu S_W v. Class posteriors are the softmax of the
   resulting linear discriminant.
2. ConfMix, the self-challenge: each sample moves towards the mean of the *other* classes' means by
   (1 - p(y_i | x_i)), so that confidently classified samples stay and uncertain ones get harder.
3. A second fit with the same lambda on the mixed features; SFDA = mean_i p(y_i | x_i).
The scale-aware shrinkage and the extra softmax applied to the first fit's probabilities before
ConfMix ("to soften them") follow the authors' published code, which the paper leaves unspecified.

The published code keeps every eigenvector of S_B v = mu S_W v (coef = means V V^T) and the
eigenvectors are S_W-orthonormal (V^T S_W V = I), so V V^T = S_W^-1 whatever S_T is: each fit is
coef = means S_W^-1, solved here by a Cholesky factorisation of the shrunk S_W (the first step of
scipy's generalised eigh, without the eigenvectors: SFDA 4.4x faster), and the largest eigenvalue
of S_W is the largest squared singular value of R / sqrt(n) (R: each sample minus its class mean).
The same value, up to rounding that the near-singular S_W of lambda = 1e-10 amplifies
(docs/metrics.md), in a fraction of the time at d = 512 to 1,024 features.
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


def _shrunk(cov, shrinkage):
    """`cov` shrunk towards its mean eigenvalue times I."""
    d = len(cov)
    out = (1 - shrinkage) * cov
    out.flat[:: d + 1] += shrinkage * np.trace(cov) / d
    return out


def power_iteration(a, steps: int = 3) -> float:
    """The authors' estimate of the largest eigenvalue of a symmetric matrix (TencentARC/SFDA,
    utils.iterative_A): `steps` rounds of two matrix-vector products from the row sums."""
    x = a.sum(axis=1)
    for _ in range(steps):
        t = a @ x
        y = t / np.linalg.norm(t)
        t = a @ y
        x = t / np.linalg.norm(t)
    return float(x @ a @ y)


def _fit_predict(f, y, k, shrinkage=None, top=None):
    n, d = f.shape
    counts = np.bincount(y, minlength=k)
    priors = counts / n
    means = np.zeros((k, d))
    np.add.at(means, y, f)
    means /= counts[:, None]
    # S_W, the prior-weighted sum of class covariances: R^T R / n, R each sample minus its class mean.
    r = f - means[y]
    sw = r.T @ r / n
    if shrinkage is None:
        # S_W's largest eigenvalue: R's largest singular value squared, / n
        largest = np.linalg.norm(r, 2) ** 2 / n if top is None else top(sw)
        shrinkage = max(float(np.exp(-A * largest)), 1e-10)
    sw = _shrunk(sw, shrinkage)
    if np.trace(sw) <= 0:  # every class is a single point: no within-class direction to whiten
        sw = sw + 1e-12 * np.eye(d)
    # coef = means S_W^-1 by Cholesky: what eigh(S_B, S_W) starts from, without its eigenvectors
    coef = linalg.cho_solve(linalg.cho_factor(sw, lower=True), means.T).T
    intercept = -0.5 * np.einsum("kd,kd->k", means, coef) + np.log(priors)
    return _softmax(f @ coef.T + intercept), means, shrinkage


def sfda(features, labels, probs=None, largest_eigenvalue=None) -> float:
    """SFDA of features (n, d) for labels (n,); `probs` is unused (the common signature).
    `largest_eigenvalue(S_W)` for the regulariser: None for the exact value (R's largest singular
    value squared, / n), or `power_iteration` as the authors' code."""
    f, y, k = features_labels("SFDA", features, labels)
    n = len(y)
    if not f.std(axis=0).any():
        return finite("SFDA", 1.0 / k)  # no feature varies: every class equally likely
    prob, means, shrinkage = _fit_predict(f, y, k, top=largest_eigenvalue)
    prob = _softmax(prob)  # the published code's extra softening
    p_true = prob[np.arange(n), y][:, None]
    others = (means.sum(axis=0) - means) / (k - 1)  # for class c, the mean of the other classes' means
    mixed = p_true * f + (1 - p_true) * others[y]
    prob2, _, _ = _fit_predict(mixed, y, k, shrinkage)
    return finite("SFDA", prob2[np.arange(n), y].mean())
