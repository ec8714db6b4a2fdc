"""LinearProbe: cross-validated accuracy of a linear classifier on the target's features, the
proxy task of Renggli et al. ("Which Model to Transfer? Finding the Needle in the Growing
Haystack", CVPR 2022): what fine-tuning the last layer alone reaches, measured rather than predicted.

Stratified k-fold cross-validation (FOLDS folds, seeded): in each fold the features are
standardised with the training part's mean and standard deviation (a constant feature is left
centred), an L2-regularised multinomial logistic regression is fitted on the training part (the
objective scikit-learn's LogisticRegression minimises: C times the summed cross-entropy plus half
the squared norm of the weights, the intercepts not penalised; L-BFGS in float64), and the held-out
images are classified; the score is the share of images classified correctly over all folds (a
tie between classes' probabilities counts 1/m, as in kNN).

Folds are drawn on a canonical order of the images and classes (images sorted by their features,
classes by their first image in that order), so that the score depends neither on the order of the
images nor on the names of the classes. With a class of fewer images than FOLDS, there are as many
folds as the smallest class has images (at least 2); a class of one image is then absent from the
training part of its own fold, and that image counts as misclassified: a class seen once cannot be
learned.
"""
from __future__ import annotations

import warnings

import numpy as np
from scipy.optimize import minimize
from scipy.special import logsumexp

from ... import BaseselError
from ._checks import features_labels, shared_correct

FOLDS = 5
C = 1.0
SEED = 0
MAX_ITER = 300  # L-BFGS iterations a fold at most (scikit-learn's default is 100); the cluster time request counts them all
TOL = 1e-6  # on the gradient of the mean loss (scikit-learn's default: 1e-4)


def linear_probe(features, labels, probs=None, folds: int = FOLDS, c: float = C, seed: int = SEED) -> float:
    """Cross-validated accuracy of a multinomial logistic regression on features (n, d) for labels
    (n,); `probs` is unused."""
    from sklearn.model_selection import StratifiedKFold

    f, y, classes = features_labels("LinearProbe", features, labels)
    if folds < 2 or c <= 0:
        raise BaseselError(f"LinearProbe: needs folds >= 2 and C > 0, got folds={folds}, C={c}")
    order = np.lexsort(f.T[::-1])  # canonical order of the images
    f, y = f[order], y[order]
    first = {label: i for i, label in reversed(list(enumerate(y)))}
    rank = np.argsort(np.argsort([first[k] for k in range(classes)]))  # classes by their first image
    y = rank[y]
    n_folds = max(2, min(folds, np.bincount(y).min()))
    with warnings.catch_warnings():  # a class of one image with 2 folds: the docstring's case, not a surprise
        warnings.filterwarnings("ignore", "The least populated class", UserWarning)
        splits = list(StratifiedKFold(n_folds, shuffle=True, random_state=seed).split(f, y))
    correct = 0.0
    for train, test in splits:
        mean, std = f[train].mean(axis=0), f[train].std(axis=0)
        std[std == 0] = 1.0
        xtr, xte = (f[train] - mean) / std, (f[test] - mean) / std
        w, b = fit_multinomial(xtr, y[train], classes, c)
        correct += shared_correct(xte @ w + b, y[test], atol=1e-12)
    return float(correct / len(y))


def fit_multinomial(x: np.ndarray, y: np.ndarray, classes: int, c: float) -> tuple[np.ndarray, np.ndarray]:
    """Weights (d, K) and intercepts (K,) minimising c * sum_i CE(softmax(x_i W + b), y_i) + |W|^2 / 2,
    divided by c n as scikit-learn divides it (the same minimum; a gradient tolerance that does not
    grow with n). A class absent from y gets the intercept the optimum gives it (driven towards
    -inf, bounded by the tolerance): it is never predicted."""
    n, d = x.shape
    onehot = np.eye(classes)[y]
    penalty = 1.0 / (c * n)

    def objective(theta):
        w, b = theta[: d * classes].reshape(d, classes), theta[d * classes:]
        z = x @ w + b
        lse = logsumexp(z, axis=1)
        loss = (lse.sum() - (z * onehot).sum()) / n + 0.5 * penalty * (w * w).sum()
        g = (np.exp(z - lse[:, None]) - onehot) / n
        return loss, np.concatenate([(x.T @ g + penalty * w).ravel(), g.sum(axis=0)])

    result = minimize(objective, np.zeros(d * classes + classes), jac=True, method="L-BFGS-B",
                      options={"maxiter": MAX_ITER, "gtol": TOL, "ftol": 1e-15})
    theta = result.x
    return theta[: d * classes].reshape(d, classes), theta[d * classes:]
