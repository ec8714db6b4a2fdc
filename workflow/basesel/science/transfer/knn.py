"""kNN: leave-one-out accuracy of a k-nearest-neighbour classifier on the target's features, the
simplest proxy of how well a model's features separate the target's classes (Renggli et al.,
"Which Model to Transfer? Finding the Needle in the Growing Haystack", CVPR 2022, proxy tasks;
Sorkhei et al., TMLR 2025: a plain kNN classifier on the features beats 23 transferability metrics
across 16 datasets, so any score worth computing must beat it).

Each image is classified by the majority class of its k nearest other images, by Euclidean
distance between L2-normalised features (the cosine distance's order). Ties are shared, so that
the score depends neither on the order of the images nor on the names of the classes: images at
the k-th nearest distance share the votes left after the nearer ones (k - nearer, equally), and
an image whose class ties with m - 1 others for the most votes counts 1/m correct. float64; the
n x n distances are computed a block of rows at a time, exactly (memory: ROWS x n).
"""
from __future__ import annotations

import numpy as np

from ... import BaseselError
from ._checks import features_labels, shared_correct

K = 5
TIE = 1e-12  # distances (of unit vectors: 0 to 4) this close are equal
ROWS = 256  # rows of the distance matrix held at once: 256 x 50,000 float64 is 100 MB


def knn(features, labels, probs=None, k: int = K) -> float:
    """Leave-one-out k-NN accuracy of features (n, d) for labels (n,); `probs` is unused."""
    f, y, classes = features_labels("kNN", features, labels)
    n = len(f)
    if not 1 <= k <= n - 1:
        raise BaseselError(f"kNN: k={k} needs between 1 and n - 1 = {n - 1} other images")
    norms = np.linalg.norm(f, axis=1, keepdims=True)
    unit = np.divide(f, norms, out=np.zeros_like(f), where=norms > 0)  # an all-zero feature stays at the origin
    sq = (unit * unit).sum(axis=1)
    onehot = np.eye(classes)[y]
    correct = 0.0
    for start in range(0, n, ROWS):
        rows = np.arange(start, min(start + ROWS, n))
        dist = sq[rows, None] + sq[None, :] - 2.0 * (unit[rows] @ unit.T)
        np.maximum(dist, 0.0, out=dist)
        dist[np.arange(len(rows)), rows] = np.inf  # leave the image itself out
        kth = np.partition(dist, k - 1, axis=1)[:, k - 1:k]
        nearer = dist < kth - TIE  # equal distances computed along two paths differ in the last bits
        at = ~nearer & (dist <= kth + TIE)
        share = (k - nearer.sum(axis=1, keepdims=True)) / at.sum(axis=1, keepdims=True)
        votes = nearer @ onehot + (at * share) @ onehot
        correct += shared_correct(votes, y[rows], atol=1e-9)
    return float(correct / n)
