"""The paper's section 4.1 subsets of the source pool, probe sets, and the row order of a target's
files. No torch here: the Snakefile names the subsets when it is parsed."""
from __future__ import annotations

import numpy as np
import pandas as pd

from .. import BaseselError

KINDS = {"cw": "class-wise", "hz": "horizontal"}


def subset_names(num_classes: int, classwise: list[int], horizontal: list[int]) -> list[str]:
    """cw{N}-{i}: the i-th block of N consecutive classes; hz{n}-{i}: the i-th of n parts of every class."""
    names = []
    for n in classwise:
        if n > num_classes:
            raise BaseselError(f"subsets.classwise: {n} classes per block but the source has {num_classes}")
        names += [f"cw{n}-{i}" for i in range(num_classes // n)]
    for n in horizontal:
        names += [f"hz{n}-{i}" for i in range(n)]
    return names


def parse_subset(name: str) -> tuple[str, int, int]:
    """(kind, N or n, i) of a subset name: ("cw", 20, 3) for cw20-3, ("hz", 4, 0) for hz4-0."""
    kind, rest = name[:2], name[2:]
    try:
        n, i = (int(v) for v in rest.split("-"))
    except ValueError:
        raise BaseselError(f"unknown subset name {name!r}") from None
    if kind not in KINDS:
        raise BaseselError(f"unknown subset name {name!r}")
    return kind, n, i


def make_subset(index: pd.DataFrame, name: str, seed: int) -> pd.DataFrame:
    """Rows of the source index (train and val) that form subset `name`, relabelled 0..K-1.

    Class-wise: train and val images of the block's classes. Horizontal: for every class, its
    training images shuffled with `seed` and cut into n near-equal parts; validation is all of val.
    """
    kind, n, i = parse_subset(name)
    classes = list(dict.fromkeys(index.loc[index.split == "train", "class"]))
    if kind == "cw":
        keep = classes[i * n:(i + 1) * n]
        out = index[index["class"].isin(keep)].copy()
    else:  # hz
        parts = []
        train = index[index.split == "train"]
        for cls, rows in train.groupby("class", sort=False):
            order = np.random.default_rng([seed, int(rows.label.iloc[0])]).permutation(len(rows))
            bounds = np.linspace(0, len(rows), n + 1).round().astype(int)
            parts.append(rows.iloc[np.sort(order[bounds[i]:bounds[i + 1]])])
        out = pd.concat(parts + [index[index.split != "train"]])
    relabel = {c: k for k, c in enumerate(dict.fromkeys(out.loc[out.split == "train", "class"]))}
    out = out[out["class"].isin(relabel)].copy()
    out["label"] = out["class"].map(relabel)
    return out.reset_index(drop=True)


def probe_rows(rows: pd.DataFrame, per_class: int, seed: int, *, short: str = "error") -> np.ndarray:
    """Positions in `rows` of a probe set: `per_class` images per class, drawn with `seed`.

    The draw of class `label` depends only on (seed, label) and the class's rows, so adding images
    of other classes changes nothing. A class with fewer than `per_class` rows is an error naming
    it (`short="error"`, a target's probe set: the paper takes 10 per class) or gives all its rows
    (`short="all"`, the source validation probe of Figure 1).
    """
    if per_class < 1:
        raise BaseselError(f"probe_per_class must be >= 1, got {per_class}")
    if short not in ("error", "all"):
        raise ValueError(f"short must be 'error' or 'all', not {short!r}")
    picks = []
    for label, group in rows.reset_index(drop=True).groupby("label"):
        if len(group) < per_class and short == "error":
            raise BaseselError(f"class {group['class'].iloc[0]!r} has {len(group)} training images, "
                               f"fewer than probe_per_class={per_class}")
        rng = np.random.default_rng([seed, int(label)])
        picks.append(np.sort(rng.choice(group.index.to_numpy(), size=min(per_class, len(group)), replace=False)))
    if not picks:
        raise BaseselError("no images to draw a probe set from")
    return np.concatenate(picks)


def target_rows(index: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    """A target's train rows then its test rows (the order of every feature file), and the split
    of each row (0 train, 1 test)."""
    train = index[index.split == "train"]
    test = index[index.split == "test"]
    rows = pd.concat([train, test], ignore_index=True)
    return rows, np.r_[np.zeros(len(train), np.uint8), np.ones(len(test), np.uint8)]


def probe_table(index: pd.DataFrame, per_class: int, seed: int) -> pd.DataFrame:
    """The probe rows of a target (its train split), with `train_position`: the row's position in
    the train split, which is the row's position in the target's feature files too."""
    train = index[index.split == "train"].reset_index(drop=True)
    picks = probe_rows(train, per_class, seed)
    return train.iloc[picks].assign(train_position=picks).reset_index(drop=True)


def subset_summary(name: str, rows: pd.DataFrame) -> dict:
    """One subset's row of the report's subset table: its policy, classes and images."""
    return {"subset": name, "policy": KINDS[parse_subset(name)[0]], "classes": rows["class"].nunique(),
            "train_images": int((rows.split == "train").sum()), "val_images": int((rows.split == "val").sum()),
            "first_class": rows["class"].iloc[0], "last_class": rows["class"].iloc[-1]}
