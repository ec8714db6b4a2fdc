"""Standardised curves and rank correlations for the Figure 1 and Appendix A.2 experiments.

numpy, scipy and pandas only (no torch), so the aggregate and plot jobs start fast; the
measurements themselves are made by compute/curves.py (scores during training) and compute/layers.py (truncate
fine-tuning).

- Standardised curve (Figure 1): a metric over the epochs minus its mean, divided by its population
  standard deviation (ddof=0), so that it has mean 0 and variance 1, as the paper plots them.
- Correlation of two series: stats.correlation (Spearman rho and Pearson r).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .. import BaseselError
from .featuremap_scores import DIRECTION, METRICS
from .stats import correlation, finite

# The columns of a whole-pool model's per-epoch scores (curves.epoch_scores).
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


def read_curves(epochs_path, scores_path) -> pd.DataFrame:
    """A whole-pool model's training log (epochs.tsv) joined with its per-epoch scores (scores.tsv)."""
    from ..io import read_tsv

    epochs, scores = read_tsv(epochs_path), read_tsv(scores_path)
    if sorted(epochs.epoch) != sorted(scores.epoch):
        raise BaseselError(f"{scores_path} scores epochs {sorted(scores.epoch)}, but {epochs_path} logs {sorted(epochs.epoch)}")
    return epochs.merge(scores, on="epoch", validate="one_to_one")


def curve_correlations(logs: dict[str, pd.DataFrame], metrics=TRACKED) -> pd.DataFrame:
    """Per (arch, metric): Spearman rho and Pearson r with validation accuracy across epochs."""
    rows = []
    for arch, log in logs.items():
        missing = [m for m in (*metrics, "val_acc", "epoch") if m not in log.columns]
        if missing:
            raise BaseselError(f"{arch}: the per-epoch table lacks column(s) {', '.join(missing)}")
        acc = log.val_acc.to_numpy(np.float64)
        for m in metrics:
            rho, r = correlation(log[m].to_numpy(np.float64), acc)
            rows.append({"arch": arch, "metric": m, "rho": rho, "pearson_r": r, "epochs": len(log),
                         "first": float(log[m].iloc[0]), "last": float(log[m].iloc[-1]),
                         "final_val_acc": float(acc[-1])})
    return pd.DataFrame(rows, columns=["arch", "metric", "rho", "pearson_r", "epochs", "first", "last",
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
            pick = int(np.argmax(DIRECTION.get(m, 1) * finite(x)))
            out.append({"arch": arch, "target": target, "metric": m, "rho": rho, "pearson_r": r,
                        "layers": len(g), "picked_layer": int(layer[pick]), "picked_accuracy": float(acc[pick]),
                        "best_layer": int(layer[best]), "best_accuracy": float(acc[best]),
                        "regret": float(acc[best] - acc[pick])})
    return pd.DataFrame(out)


# What layers.layer_scores writes about each conv layer, before its S1..S6.
LAYER_COLUMNS = ["layer", "conv", "output", "channels", "height", "width"]


def layer_table(scores: dict[str, pd.DataFrame], heads: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """A row per (target, layer): the layer's description, S1..S6 and the truncate fine-tuning accuracy."""
    frames = []
    for target, s in scores.items():
        merged = s.merge(heads[target], on="layer", how="inner", validate="one_to_one")
        if len(merged) != len(s):
            raise BaseselError(f"{target}: the layer scores and the layer heads cover different layers")
        frames.append(merged.assign(target=target))
    table = pd.concat(frames, ignore_index=True)
    return table[["target", *LAYER_COLUMNS, *METRICS, *[c for c in table.columns
                                                       if c not in ("target", *LAYER_COLUMNS, *METRICS)]]]
