"""Checks that the JSON schema cannot express, and the plan (names, outputs) derived from config.

Runs when the workflow is parsed, so that a bad config fails before any job is started.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .models import MIN_INPUT_SIZE


class ConfigError(ValueError):
    pass


@dataclass
class Plan:
    archs: dict
    targets: dict
    subsets: list
    embedded: dict
    folders: dict
    final_outputs: list = field(default_factory=list)


def _folder_classes(root: str, split: str, what: str) -> list[str]:
    folder = Path(root) / split
    if not Path(root).is_dir():
        raise ConfigError(f"{what}: dataset folder {root} does not exist")
    if not folder.is_dir():
        raise ConfigError(f"{what}: {root} has no {split}/ folder (expected {root}/{split}/<class>/<image>)")
    classes = sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        raise ConfigError(f"{what}: {folder} holds no class folders")
    return classes


def check_config(config: dict) -> Plan:
    from .data import subset_names

    probe = config["featuremaps"]["probe_per_class"]
    embedded, folders = {}, {}

    src = config["source"]
    if "embedded" in src:
        embedded["source"] = {"role": "source", **src["embedded"]}
        n_source = src["embedded"]["classes"]
    else:
        n_source = len(_folder_classes(src["folder"], "train", "source.folder"))
        _folder_classes(src["folder"], "val", "source.folder")
        folders["source"] = src["folder"]

    targets = {}
    for t in config["targets"]:
        name = t["name"]
        if name in targets or name == "source":
            raise ConfigError(f"targets: name {name!r} is used twice (or is the reserved name 'source')")
        targets[name] = t
        if "embedded" in t:
            e = t["embedded"]
            if e["train_per_class"] < probe:
                raise ConfigError(f"targets[{name}]: train_per_class={e['train_per_class']} is fewer than featuremaps.probe_per_class={probe}")
            if e["kind"] == "digits" and e["classes"] > 10:
                raise ConfigError(f"targets[{name}]: the digits target has at most 10 classes, got {e['classes']}")
            embedded[name] = {"role": "target", **e}
        else:
            classes = _folder_classes(t["folder"], "train", f"targets[{name}].folder")
            if len(classes) < 2:
                raise ConfigError(f"targets[{name}]: {t['folder']}/train has one class; a classification target needs at least 2")
            _folder_classes(t["folder"], "test", f"targets[{name}].folder")
            folders[name] = t["folder"]

    archs = {}
    for a in config["architectures"]:
        if a["name"] in archs:
            raise ConfigError(f"architectures: {a['name']!r} is listed twice")
        if a["input_size"] < MIN_INPUT_SIZE[a["name"]]:
            raise ConfigError(f"architectures[{a['name']}]: input_size {a['input_size']} is below the {MIN_INPUT_SIZE[a['name']]} px "
                              f"this architecture needs for a non-empty last conv featuremap")
        archs[a["name"]] = a

    sub = config["subsets"]
    try:
        subsets = subset_names(n_source, sub["classwise"], sub["horizontal"])
    except Exception as exc:
        raise ConfigError(str(exc)) from None
    if "embedded" in src:
        per = src["embedded"]["train_per_class"]
        for n in sub["horizontal"]:
            if n > per:
                raise ConfigError(f"subsets.horizontal: {n} parts but the source has only {per} training images per class")
    if len(subsets) < 3:
        raise ConfigError(f"subsets: {len(subsets)} base model(s) per architecture; rank correlations need at least 3")

    plan = Plan(archs, targets, subsets, embedded, folders)
    plan.final_outputs = final_outputs(plan)
    return plan


def final_outputs(plan: Plan) -> list[str]:
    out = [
        "results/analysis/table.tsv",
        "results/analysis/correlations.tsv",
        "results/analysis/best_alpha.tsv",
        "results/analysis/c56_summary.tsv",
        "results/plots/data.png",
        "results/plots/subsets.tsv",
        "results/plots/finetune.svg",
        "results/plots/figure2.svg",
        "results/plots/figure3.svg",
        "results/plots/leaderboard.svg",
        "results/analysis/leaderboard.tsv",
    ]
    out += [f"results/plots/pretraining_{a}.svg" for a in plan.archs]
    out += [f"results/plots/scores_{a}.svg" for a in plan.archs]
    return out
