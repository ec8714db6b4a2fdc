"""LogME (You et al., "LogME: Practical Assessment of Pre-trained Models for Transfer Learning", ICML 2021).

For each class k, the evidence of a Bayesian linear model y_k = f w + noise, with prior
w ~ N(0, 1/alpha) and noise precision beta, maximised over (alpha, beta) by MacKay's fixed-point
iteration; LogME is the mean over classes of the log evidence divided by n. float64 throughout;
one thin SVD of F (F = U S V^T, whichever of n and d is smaller) serves every class: the
eigenvalues of F^T F are S^2, and each class's fixed point runs in the basis of V.
"""
from __future__ import annotations

import numpy as np

from ._checks import features_labels


def logme(features, labels, probs=None, max_iter: int = 100, tol: float = 1e-3) -> float:
    """LogME of features (n, d) for labels (n,); `probs` is unused (the common signature)."""
    f, y, k = features_labels("LogME", features, labels)
    n, d = f.shape
    classes = np.arange(k)
    # Work in the basis of F's right singular vectors: F = U S V^T, lam = S^2.
    u, s, _ = np.linalg.svd(f, full_matrices=False)
    lam = s ** 2
    evidences = []
    if not lam.any():
        # F = 0: the model is t ~ N(0, 1/beta) whatever alpha is (its terms cancel); beta = n / ||t||^2.
        for k in classes:
            t2 = float((y == k).sum())
            evidences.append((n / 2 * np.log(n / t2) - n / 2 - n / 2 * np.log(2 * np.pi)) / n)
        return float(np.mean(evidences))
    for k in classes:
        t = (y == k).astype(np.float64)
        proj = u.T @ t  # coordinates of t in F's column space, scaled: (S V^T w) basis
        t_norm2 = t @ t
        alpha, beta = 1.0, 1.0
        for _ in range(max_iter):
            gamma = (beta * lam / (alpha + beta * lam)).sum()
            # posterior mean m = beta (alpha I + beta F^T F)^-1 F^T t; in the SVD basis:
            m_coef = beta * s * proj / (alpha + beta * lam)  # V^T m
            m2 = (m_coef ** 2).sum()
            fit = s * m_coef  # U^T F m
            res2 = t_norm2 - 2 * (proj @ fit) + (fit @ fit)  # ||t - F m||^2
            res2 = max(res2, 1e-12)
            new_alpha = gamma / max(m2, 1e-12)
            new_beta = (n - gamma) / res2
            done = abs(new_alpha / new_beta - alpha / beta) / (alpha / beta) < tol
            alpha, beta = new_alpha, new_beta
            if done:
                break
        m_coef = beta * s * proj / (alpha + beta * lam)
        m2 = (m_coef ** 2).sum()
        fit = s * m_coef
        res2 = max(t_norm2 - 2 * (proj @ fit) + (fit @ fit), 1e-12)
        # log det(alpha I_d + beta F^T F): d - r eigenvalues are alpha alone.
        logdet = np.log(alpha + beta * lam).sum() + (d - len(lam)) * np.log(alpha)
        evidence = (d / 2 * np.log(alpha) + n / 2 * np.log(beta) - 0.5 * logdet
                    - beta / 2 * res2 - alpha / 2 * m2 - n / 2 * np.log(2 * np.pi))
        evidences.append(evidence / n)
    return float(np.mean(evidences))
