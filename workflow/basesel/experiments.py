"""Standardised curves and rank correlations for the Figure 1 and Appendix A.2 experiments.

numpy, scipy and pandas only (no torch), so the aggregate and plot jobs start fast; the
measurements themselves are made by curves.py (scores during training) and layers.py (truncate
fine-tuning).

- Standardised curve (Figure 1): a metric over the epochs minus its mean, divided by its population
  standard deviation (ddof=0), so that it has mean 0 and variance 1, as the paper plots them.
- Correlation of two series: Spearman rho (average ranks for ties, +-inf ranked beyond every finite
  value) and Pearson r (NaN if a value is not finite); both NaN where a series is constant.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .analysis import _finite, spearman_rows
from .io import BaseselError
from .scores import DIRECTION, METRICS

# The columns a curves.ScoreTracker adds to every epoch's log row.
TRACKED = (*METRICS, "feature_norm")


def standardise(values) -> np.ndarray:
    """(x - mean) / std over the finite values (population std, ddof=0): mean 0, variance 1.

    Non-finite entries (S3 = +inf when the intra-class scatter is 0) become NaN; a constant series
    becomes 0.
    """
    x = np.asarray(values, dtype=np.float64)
    out = np.full_like(x, np.nan)
    finite = np.isfinite(x)
    if finite.any():
        mu, sd = x[finite].mean(), x[finite].std()
        out[finite] = (x[finite] - mu) / sd if sd > 0 else 0.0
    return out


def _pearson(x: np.ndarray, y: np.ndarray) -> float:
    if len(x) < 2 or not (np.isfinite(x).all() and np.isfinite(y).all()):
        return float("nan")
    xc, yc = x - x.mean(), y - y.mean()
    den = np.sqrt((xc @ xc) * (yc @ yc))
    return float(np.clip(xc @ yc / den, -1, 1)) if den > 1e-12 else float("nan")


def correlation(x, y) -> tuple[float, float]:
    """(Spearman rho, Pearson r) of two series; NaN where either is constant (or, for Pearson,
    not finite). +inf ranks above every finite value for Spearman."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 1:
        raise BaseselError(f"correlation needs two series of equal length, got shapes {x.shape} and {y.shape}")
    if len(x) < 2 or np.isnan(x).any() or np.isnan(y).any():
        return float("nan"), float("nan")
    rho = float(spearman_rows(_finite(x)[None, :], _finite(y))[0])
    return rho, _pearson(x, y)


def curve_correlations(logs: dict[str, pd.DataFrame], metrics=TRACKED) -> pd.DataFrame:
    """Per (arch, metric): Spearman rho and Pearson r with validation accuracy across epochs."""
    rows = []
    for arch, log in logs.items():
        missing = [m for m in (*metrics, "val_acc", "epoch") if m not in log.columns]
        if missing:
            raise BaseselError(f"{arch}: the training log lacks column(s) {', '.join(missing)}; was it recorded with a ScoreTracker?")
        acc = log.val_acc.to_numpy(np.float64)
        for m in metrics:
            rho, r = correlation(log[m].to_numpy(np.float64), acc)
            rows.append({"arch": arch, "metric": m, "spearman_rho": rho, "pearson_r": r, "epochs": len(log),
                         "first": float(log[m].iloc[0]), "last": float(log[m].iloc[-1]),
                         "final_val_acc": float(acc[-1])})
    return pd.DataFrame(rows, columns=["arch", "metric", "spearman_rho", "pearson_r", "epochs", "first", "last",
                                       "final_val_acc"])


def layer_correlations(table: pd.DataFrame, metrics=METRICS) -> pd.DataFrame:
    """Per (arch, target, metric): Spearman rho and Pearson r between the raw metric and truncate
    fine-tuning accuracy across layers (Figure 5), and the layer the metric would select (the best
    by its direction) beside the most accurate layer."""
    missing = [c for c in ("arch", "target", "layer", "accuracy", *metrics) if c not in table.columns]
    if missing:
        raise BaseselError(f"layer table lacks column(s) {', '.join(missing)}")
    out = []
    for (arch, target), g in table.groupby(["arch", "target"], sort=False):
        g = g.sort_values("layer")
        acc = g.accuracy.to_numpy(np.float64)
        layer = g.layer.to_numpy()
        best = int(np.argmax(acc))
        for m in metrics:
            x = g[m].to_numpy(np.float64)
            rho, r = correlation(x, acc)
            pick = int(np.argmax(DIRECTION.get(m, 1) * _finite(x)))
            out.append({"arch": arch, "target": target, "metric": m, "spearman_rho": rho, "pearson_r": r,
                        "layers": len(g), "picked_layer": int(layer[pick]), "picked_accuracy": float(acc[pick]),
                        "best_layer": int(layer[best]), "best_accuracy": float(acc[best]),
                        "regret": float(acc[best] - acc[pick])})
    return pd.DataFrame(out)
