"""Rank and linear correlations, vectorised over rows, and the bootstrap: the statistics that the
analysis, the leaderboard and the Figure 1 / A.2 experiments share.

Conventions (docs/metrics.md): Spearman rho is Pearson r of average ranks (ties share their mean
rank, as scipy.stats.spearmanr); Kendall's tau is tau-b (scipy's default); weighted tau is
scipy.stats.weightedtau with its default hyperbolic weights; a correlation with a constant series
is NaN; +-inf (S3 with zero intra-class scatter) ranks beyond every finite value.
"""
from __future__ import annotations

import numpy as np
from scipy import stats


def finite(x: np.ndarray) -> np.ndarray:
    """+-inf as the largest finite floats, so that it ranks first or last."""
    return np.where(np.isposinf(x), np.finfo(float).max, np.where(np.isneginf(x), -np.finfo(float).max, x))


def spearman_rows(values: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Spearman rho of each row of `values` (R, n) with one `target` (n,): the target is ranked once.

    NaN where a row (or the target) is constant, as scipy.stats.spearmanr gives.
    """
    rx = stats.rankdata(values, axis=1)
    ry = stats.rankdata(target)
    rx = rx - rx.mean(axis=1, keepdims=True)
    ry = ry - ry.mean()
    num = rx @ ry
    den = np.sqrt((rx * rx).sum(axis=1) * (ry @ ry))
    with np.errstate(invalid="ignore", divide="ignore"):
        rho = num / den
    return np.where(den > 1e-12, np.clip(rho, -1, 1), np.nan)


def pearson_rows(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Pearson r of each row pair of x and y (B, n); NaN where a row is constant."""
    xc = x - x.mean(axis=1, keepdims=True)
    yc = y - y.mean(axis=1, keepdims=True)
    den = np.sqrt((xc * xc).sum(1) * (yc * yc).sum(1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 1e-12, (xc * yc).sum(1) / den, np.nan)


def spearman_pairs(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Spearman rho of each row pair of x and y (B, n): Pearson r of average ranks."""
    return pearson_rows(stats.rankdata(x, axis=1), stats.rankdata(y, axis=1))


def kendall_rows(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Kendall's tau-b of each row pair of x and y (B, n) (scipy's default variant, ties included)."""
    i, j = np.triu_indices(x.shape[1], 1)
    dx, dy = np.sign(x[:, i] - x[:, j]), np.sign(y[:, i] - y[:, j])
    n0 = len(i)
    den = np.sqrt((n0 - (dx == 0).sum(1)) * (n0 - (dy == 0).sum(1)))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, (dx * dy).sum(1) / den, np.nan)


def weighted_tau(x, y) -> float:
    """scipy.stats.weightedtau of a score (larger is better) and accuracy; NaN if either is constant."""
    x = finite(np.asarray(x, dtype=np.float64))
    if np.ptp(x) == 0 or np.ptp(y) == 0:
        return np.nan
    return stats.weightedtau(x, y).statistic


def weighted_tau_rows(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """weighted_tau of each row pair of x and y (B, n), as scipy.stats.weightedtau (rank=True, the
    additive hyperbolic weigher) gives it one pair at a time, whose per-call overhead (about 0.3 ms,
    most of it argument checking) made the bootstrap of the analysis cost 20 s. By the pairwise
    definition: the mean over the two rankings (by x then y, by y then x) of
    sum w_ij sgn(dx) sgn(dy) / sqrt(sum over pairs untied in x of w_ij) / sqrt(the same for y),
    w_ij = 1 / (1 + r_i) + 1 / (1 + r_j), r the rank from the top. NaN where a row is constant."""
    x = finite(np.asarray(x, dtype=np.float64))
    y = np.asarray(y, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        tau = (_weighted_tau_ranked(x, y) + _weighted_tau_ranked(y, x)) / 2
    return np.where((np.ptp(x, axis=1) == 0) | (np.ptp(y, axis=1) == 0), np.nan, tau)


def _weighted_tau_ranked(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """scipy's _weightedrankedtau(x, y, rank=None) per row: ranks by x, ties by y, largest first
    (rows of equal x and y are interchangeable, so their order among themselves changes nothing)."""
    rows, n = x.shape
    order = np.argsort(y, axis=1, kind="stable")
    order = np.take_along_axis(order, np.argsort(np.take_along_axis(x, order, 1), axis=1, kind="stable"), 1)
    rank = np.empty_like(order)
    np.put_along_axis(rank, order, np.broadcast_to(np.arange(n - 1, -1, -1), (rows, n)), 1)
    w = 1.0 / (1.0 + rank)
    i, j = np.triu_indices(n, 1)
    pair = w[:, i] + w[:, j]
    dx, dy = np.sign(x[:, i] - x[:, j]), np.sign(y[:, i] - y[:, j])
    total = pair.sum(1)
    tau = (pair * dx * dy).sum(1) / np.sqrt(total - (pair * (dx == 0)).sum(1)) / np.sqrt(total - (pair * (dy == 0)).sum(1))
    return np.clip(tau, -1.0, 1.0)


def correlation(x, y) -> tuple[float, float]:
    """(Spearman rho, Pearson r) of two series; NaN where either is constant (or, for Pearson, not
    finite). +inf ranks above every finite value for Spearman."""
    from .. import BaseselError

    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 1:
        raise BaseselError(f"correlation needs two series of equal length, got shapes {x.shape} and {y.shape}")
    if len(x) < 2 or np.isnan(x).any() or np.isnan(y).any():
        return float("nan"), float("nan")
    rho = float(spearman_rows(finite(x)[None, :], finite(y))[0])
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        return rho, float("nan")
    r = pearson_rows(x[None, :], y[None, :])[0]
    return rho, float(np.clip(r, -1, 1)) if np.isfinite(r) else float("nan")


def resamples(rng: np.random.Generator, n: int, n_boot: int) -> np.ndarray:
    """Bootstrap resamples (n_boot, n) of positions 0..n-1, drawn with replacement."""
    return rng.integers(0, n, size=(n_boot, n))


def interval(values) -> tuple[float, float]:
    """The 95% percentile interval of bootstrap values (NaN ones ignored; NaN if none is finite)."""
    values = np.asarray(values, dtype=np.float64)
    if not np.isfinite(values).any():
        return np.nan, np.nan
    lo, hi = np.nanpercentile(values, [2.5, 97.5])
    return float(lo), float(hi)
