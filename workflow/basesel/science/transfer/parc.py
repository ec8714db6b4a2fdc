"""PARC (Bolya, Mittapalli, Hoffman: "Scalable Diverse Model Selection for Accessible Transfer
Learning", NeurIPS 2021; code dbolya/parc, methods.PARC).

The features are reduced by PCA to DIMS (32) dimensions and each dimension is standardised; the
dissimilarity of two images is 1 - Pearson's r between their standardised feature vectors, that of
their labels 1 where the classes differ and 0 where they agree; PARC is 100 x Spearman's rho between
the two over every pair of images i < j (-100..100, larger is better).

Spearman's rho against a two-valued variable is the point-biserial correlation of the ranks, so
PARC needs only, among all M pairs, the rank sum of the pairs of different classes (a Mann-Whitney
count against the same-class pairs) and the ties among the dissimilarities. They are counted
exactly without holding all M = n(n-1)/2 values at once (60,000 images make 1.8e9 pairs): a first
pass over blocks of rows bins every dissimilarity (BINS equal bins of [0, 2]); then consecutive bins
are taken CHUNK values at a time, recomputed block by block (bit for bit the same values), sorted,
and counted. Below CHUNK pairs that is one sort of all of them. An image with constant features
correlates with no other (dissimilarity 1); with every image's constant, PARC is 0. docs/metrics.md:
departures from the authors' code (the PCA size clamped to the data, exact PCA with fixed signs,
exact 0/1 label dissimilarities).
"""
from __future__ import annotations

import numpy as np

from ... import BaseselError
from ._checks import features_labels, finite

DIMS = 32
ROWS = 256  # rows of the n x n dissimilarities computed at once (256 x 60,000 float64: 123 MB)
BINS = 2**20  # equal bins of [0, 2] for the first pass
CHUNK = 10**8  # dissimilarities sorted at once: 0.8 GB of float64, 1.6 GB while they are gathered
DECIMALS = 12  # dissimilarities (0 to 2) equal to 12 decimals are ties


def principal_components(f: np.ndarray, dims: int) -> np.ndarray:
    """The scores of f's first `dims` principal components, from an exact SVD of the centred
    features, each component's sign fixed so that its largest loading is positive (scikit-learn's
    convention since 1.5): the same scores whatever the order of the images."""
    centred = f - f.mean(axis=0)
    _, s, vt = np.linalg.svd(centred, full_matrices=False)
    vt = vt[:dims]
    signs = np.sign(vt[np.arange(len(vt)), np.abs(vt).argmax(axis=1)])
    return centred @ (vt * signs[:, None]).T


def parc(features, labels, probs=None, dims: int | None = DIMS) -> float:
    """PARC of features (n, d) for labels (n,); `probs` is unused. `dims`: the PCA size (None: no
    PCA), clamped to the n - 1 directions n centred images span and to d."""
    f, y, _ = features_labels("PARC", features, labels)
    n = len(f)
    if n < 3:
        raise BaseselError(f"PARC: needs at least 3 images, got {n}")
    if dims is not None:
        f = principal_components(f, max(1, min(dims, n - 1, f.shape[1])))
    std = f.std(axis=0)
    z = (f - f.mean(axis=0)) / np.where(std > 0, std, 1.0)  # a constant dimension stays 0 (scikit-learn's scaler)
    z = z - z.mean(axis=1, keepdims=True)  # Pearson's r between images: centre each image's vector, unit length
    # An image whose standardised features are constant (a dead network's output) correlates with no
    # other: r = 0, dissimilarity 1 to every image.
    norms = np.linalg.norm(z, axis=1)
    u = np.divide(z, norms[:, None], out=np.zeros_like(z), where=norms[:, None] > 0)
    different, ranks_different, ties = _pair_ranks(u, y)
    m = n * (n - 1) // 2
    same = m - different
    if same == 0 or different == 0:
        raise BaseselError("PARC: every pair of images is of " + ("the same class" if different == 0 else "different classes")
                           + "; the label dissimilarities are constant")
    p = different / m
    var_ranks = (m * m - 1) / 12.0 - ties / (12.0 * m)
    if var_ranks <= 1e-9 * m * m:  # every pair as dissimilar as every other (constant features): no information
        return 0.0
    cov = ranks_different / m - (m + 1) / 2.0 * p
    return finite("PARC", 100.0 * cov / np.sqrt(var_ranks * p * (1 - p)))


def _blocks(u: np.ndarray, y: np.ndarray):
    """(dissimilarities, whether the classes differ) of every pair i < j, a block of rows at a time."""
    n = len(u)
    for start in range(0, n - 1, ROWS):
        rows = np.arange(start, min(start + ROWS, n - 1))
        cols = slice(start + 1, n)
        # 12 decimals: the same pair of vectors gives the same value wherever the product puts it
        # (two copies of an image must tie), and distinct dissimilarities are far apart
        block = np.round(1.0 - u[rows] @ u[cols].T, DECIMALS)
        upper = np.arange(start + 1, n)[None, :] > rows[:, None]
        yield block[upper], (y[rows][:, None] != y[cols][None, :])[upper]


def _bin(values: np.ndarray) -> np.ndarray:
    return np.clip((values * (BINS / 2.0)).astype(np.int64), 0, BINS - 1)


def _pair_ranks(u: np.ndarray, y: np.ndarray) -> tuple[int, float, float]:
    """(pairs of different classes, the sum of their average ranks among all pairs, sum of t^3 - t
    over groups of t equal dissimilarities), counted exactly in chunks of bins (module docstring)."""
    counts = np.zeros((2, BINS), np.int64)  # same-class, different-class pairs per bin
    for values, differ in _blocks(u, y):
        counts += np.stack([np.bincount(_bin(values[~differ]), minlength=BINS),
                            np.bincount(_bin(values[differ]), minlength=BINS)])
    total = counts.sum(axis=0)
    different = int(counts[1].sum())
    u_stat, ties, same_below = 0.0, 0.0, 0
    start = 0
    while start < BINS:  # consecutive bins up to CHUNK values (a bin larger than CHUNK alone)
        stop = start + 1
        held = int(total[start])
        while stop < BINS and held + total[stop] <= CHUNK:
            held += int(total[stop])
            stop += 1
        if held:
            same, diff = [], []
            for v, dif in _blocks(u, y):
                b = _bin(v)
                keep = (b >= start) & (b < stop)
                same.append(v[keep & ~dif])
                diff.append(v[keep & dif])
            same, diff = np.sort(np.concatenate(same)), np.sort(np.concatenate(diff))
            u_stat += _outranked(same, diff, same_below)
            ties += _ties(same, diff)
            same_below += len(same)
        start = stop
    return different, different * (different + 1) / 2.0 + u_stat, ties


SLICE = 10**7  # different-class values looked up at once


def _outranked(same: np.ndarray, diff: np.ndarray, same_below: int) -> float:
    """Over the different-class pairs of a chunk (sorted), the same-class pairs each outranks:
    those of lower bins (`same_below`), those below it in the chunk, and half those equal to it."""
    total = 0
    halves = 0
    for start in range(0, len(diff), SLICE):
        d = diff[start:start + SLICE]
        lo, hi = np.searchsorted(same, d, "left"), np.searchsorted(same, d, "right")
        total += int(lo.sum()) + same_below * len(d)
        halves += int((hi - lo).sum())
    return float(total) + 0.5 * halves


def _ties(same: np.ndarray, diff: np.ndarray) -> float:
    """Sum of t^3 - t over the groups of t equal values among both sorted arrays: only values that
    repeat within one or appear in both contribute (a value alone has t = 1)."""
    tied = [same[1:][same[1:] == same[:-1]], diff[1:][diff[1:] == diff[:-1]]]
    for start in range(0, len(diff), SLICE):
        d = diff[start:start + SLICE]
        tied.append(d[np.searchsorted(same, d, "right") > np.searchsorted(same, d, "left")])
    values = np.unique(np.concatenate(tied))
    if not len(values):
        return 0.0
    t = (np.searchsorted(same, values, "right") - np.searchsorted(same, values, "left")
         + np.searchsorted(diff, values, "right") - np.searchsorted(diff, values, "left")).astype(np.float64)
    return float((t ** 3 - t).sum())
