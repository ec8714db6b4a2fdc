"""Checks that the JSON schema cannot express, and the plan derived from the config.

Runs when the workflow is parsed, so that a bad config fails before any job is started; imports
nothing heavy (no torch), so that a dry run and every cluster job parse the Snakefile quickly.
Every value a rule needs is computed here once, in the shape the rule passes on (a flat value, or a
complete schedule), so that the rules hold wiring only.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .. import BaseselError
from ..compute.schedule import Schedule
from ..models import archs
from ..models.zoo_specs import ZooEntry, entries

# The analysis group, and the `arch` wildcard, of the zoo's models: one group per target across
# architectures, beside the paper's per-architecture groups.
ZOO_GROUP = "zoo"


class ConfigError(ValueError):
    """A config value the schema accepts but the workflow cannot run with; the message names the key."""


@dataclass
class Plan:
    """Names and values derived from a validated config, for the rules."""

    archs: dict  # name -> architecture config (name, width, input_size, pretrain)
    targets: dict  # name -> target config
    subsets: list  # subset names, e.g. cw20-0, hz4-3
    embedded: dict  # dataset name -> generator settings ("source" and embedded targets)
    folders: dict  # dataset name -> root folder (ImageFolder layout, or torchvision's for torchvision targets)
    torchvision: dict = field(default_factory=dict)  # target name -> torchvision dataset class name (Table 4, standard split)
    # target name -> {dataset, protocol, root}: a target of the field's benchmarks (data.benchmarks)
    benchmark: dict = field(default_factory=dict)
    class_counts: dict = field(default_factory=dict)  # folder datasets: classes in train/
    pretrain_schedules: dict = field(default_factory=dict)  # arch -> its complete pretraining schedule
    finetune_schedule: dict = field(default_factory=dict)  # the complete fine-tuning schedule
    whole_pool_schedules: dict = field(default_factory=dict)  # arch -> its whole-pool model's schedule (curves, layers)
    layer_head_schedule: dict = field(default_factory=dict)  # the schedule of the layer selection's new FC layers
    curves: list = field(default_factory=list)  # architectures of the Figure 1 training curves
    layers: list = field(default_factory=list)  # architectures of the Appendix A.2 layer selection
    zoo: dict = field(default_factory=dict)  # name -> models.zoo_specs.ZooEntry, the models users already have
    demo: dict = field(default_factory=dict)  # name -> a zoo demo model to train here (demo_weights)
    # (zoo model, target) -> accuracy, for the pairs a published table (config ground_truth) covers
    published: dict = field(default_factory=dict)
    ground_truth: dict = field(default_factory=dict)  # the config's ground_truth section, when given
    seed: int = 0
    replicates: int = 1

    @property
    def replicate_folders(self) -> list[str]:
        """The `rep` wildcard of each replicate: "" (the run itself, results/), then replicates/rK/."""
        return ["", *[replicate_folder(k) for k in range(1, self.replicates)]]

    @property
    def base_models(self) -> list[tuple[str, str]]:
        """Every base model as its (arch, subset) wildcards: the pretrained ones, then the zoo's."""
        return [(a, s) for a in self.archs for s in self.subsets] + [(ZOO_GROUP, n) for n in self.zoo]

    def fine_tuned(self, arch: str, subset: str, target: str) -> bool:
        """Whether the workflow fine-tunes this pair (else a published table gives its accuracy)."""
        return arch != ZOO_GROUP or (subset, target) not in self.published

    @property
    def groups(self) -> list[str]:
        """The `arch` values of base models: the pretrained architectures, and the zoo's group."""
        return [*self.archs, *([ZOO_GROUP] if self.zoo else [])]

    @property
    def whole_archs(self) -> list:
        """Architectures that need a model trained on the whole source pool (curves and layers share it)."""
        return list(dict.fromkeys([*self.curves, *self.layers]))

    def arch_spec(self, arch: str) -> dict:
        """What builds the model: architecture name, width, input size (the class count comes from the data)."""
        a = self.archs[arch]
        return {"arch": a["name"], "width": a["width"], "input_size": a["input_size"]}

    def planned_images(self, dataset: str) -> int:
        """Images of a dataset before its index exists: its configured size (embedded), or 1,500
        per class of a folder (the resource estimates read the index once it is written)."""
        if dataset in self.embedded:
            e = self.embedded[dataset]
            return e["classes"] * (e["train_per_class"] + e.get("val_per_class", 0) + e.get("test_per_class", 0))
        return 1500 * self.class_counts[dataset]


def _classes(root: str, split: str, what: str) -> list[str]:
    from ..data.folders import class_folders

    try:
        return class_folders(root, split)
    except BaseselError as exc:
        raise ConfigError(f"{what}: {exc}") from None


def merge_nulls(config: dict) -> None:
    """Remove `source` keys an overlay set to null; name the fix when both kinds remain."""
    src = config.get("source")
    if not isinstance(src, dict):
        return
    for key in [k for k, v in src.items() if v is None]:
        del src[key]
    if "embedded" in src and "folder" in src:
        raise ConfigError("source: give exactly one of embedded or folder. An overlay given with --configfile merges "
                          "into config.yaml, whose source is embedded: set `embedded: null` beside `folder` in the overlay")


def check_config(config: dict, basedir=None) -> Plan:
    """Check what the schema cannot (folders exist, sizes fit, names are unique) and derive the plan.

    `config` must have been validated against the schema (defaults filled). Raises ConfigError
    naming the first problem found. `basedir`: the workflow's folder, where a relative path of a file
    the workflow ships (data/published/) is found when the working directory has none.
    """
    plan = Plan(archs={}, targets={}, subsets=[], embedded={}, folders={}, seed=config["seed"],
                replicates=config["replicates"])
    _check_targets(config["targets"], config["featuremaps"]["probe_per_class"], plan)
    _check_architectures(config["architectures"], plan)
    plan.demo = _check_demo(config.get("demo_weights", []))
    plan.zoo = _check_zoo(config.get("zoo", []), plan.demo)
    if not plan.archs and not plan.zoo:
        raise ConfigError("architectures and zoo are both empty: no base model to rank")
    if "ground_truth" in config:
        plan.ground_truth, plan.published = _check_ground_truth(config["ground_truth"], plan, basedir)
    if plan.archs or plan.demo:  # no source pool is read (no subset, no pretraining) for a zoo alone
        n_source = _check_source(config["source"], plan)
    if plan.archs:
        plan.subsets = _check_subsets(config["subsets"], config["source"], n_source)
    plan.pretrain_schedules = {a: Schedule.from_config(plan.archs[a].get("pretrain")).as_dict() for a in plan.archs}
    plan.finetune_schedule = Schedule.from_config(config["finetune"].get("schedule")).as_dict()
    plan.curves, plan.layers = _experiment_archs(config, plan.archs)
    plan.whole_pool_schedules = {
        a: Schedule.from_config(plan.archs[a].get("pretrain"), config["curves"].get("schedule")).as_dict()
        for a in plan.whole_archs}
    plan.layer_head_schedule = Schedule.from_config(config["finetune"].get("schedule"),
                                                    config["layers"].get("schedule")).as_dict()
    if plan.curves and "embedded" in config["source"]:
        per = min(config["source"]["embedded"]["val_per_class"], config["curves"]["probe_per_class"])
        if per < 2:
            raise ConfigError("curves: the whole-pool model's probe set (source validation images, at most "
                              f"curves.probe_per_class per class) would hold {per} image per class; S3 needs at least 2")
    return plan


def _check_ground_truth(section: dict, plan: Plan, basedir=None) -> tuple[dict, dict]:
    """The ground_truth section with its column defaults and the file read (`path`: the table as
    given, relative to the working directory, else to the workflow's folder, which ships
    data/published/), and the (zoo model, target) pairs its table covers, checked now: the file, its
    columns and cells, and that every target it has rows for has one for every zoo model."""
    from ..science import published

    if not plan.zoo:
        raise ConfigError("ground_truth: a published table stands in for fine-tuning the zoo's models, and the "
                          "config has no zoo")
    columns = {k: section[k] for k in ("model", "target", "accuracy")}
    path = Path(section["table"])
    if not path.is_absolute() and not path.is_file() and basedir is not None and (Path(basedir) / path).is_file():
        path = Path(basedir) / path
    try:
        table = published.read(path, **columns)
        covered = published.covered_pairs(table, list(plan.zoo), list(plan.targets))
    except BaseselError as exc:
        raise ConfigError(str(exc)) from None
    if not covered:
        raise ConfigError(f"ground_truth.table {section['table']} has no row for any configured target "
                          f"({', '.join(plan.targets)}); its targets: {', '.join(sorted({t for t, _ in table}))}")
    return {"table": section["table"], "path": str(path), **columns}, covered


def _check_source(src: dict, plan: Plan) -> int:
    """Record the source pool in the plan; its class count."""
    if "embedded" in src:
        plan.embedded["source"] = _canonical({"role": "source", **src["embedded"]})
        return src["embedded"]["classes"]
    n_source = len(_classes(src["folder"], "train", "source.folder"))
    plan.class_counts["source"] = n_source
    _classes(src["folder"], "val", "source.folder")
    plan.folders["source"] = src["folder"]
    return n_source


def _check_targets(targets: list, probe: int, plan: Plan) -> None:
    for t in targets:
        name = t["name"]
        if name in plan.targets or name == "source":
            raise ConfigError(f"targets: name {name!r} is used twice (or is the reserved name 'source')")
        plan.targets[name] = t
        if "embedded" in t:
            e = t["embedded"]
            # A folder target's class sizes are known once it is indexed: the probe rule checks them.
            if e["train_per_class"] < probe:
                raise ConfigError(f"targets[{name}]: train_per_class={e['train_per_class']} is fewer than "
                                  f"featuremaps.probe_per_class={probe}")
            if e["kind"] == "digits" and e["classes"] > 10:
                raise ConfigError(f"targets[{name}]: the digits target has at most 10 classes, got {e['classes']}")
            plan.embedded[name] = _canonical({"role": "target", **e})
        elif "torchvision" in t:
            from ..data import benchmarks

            tv = t["torchvision"]
            protocol = tv.get("protocol", "standard")
            try:
                benchmarks.check(tv["dataset"], protocol)
            except BaseselError as exc:
                raise ConfigError(f"targets[{name}].torchvision: {exc}") from None
            if not benchmarks.base_folder(tv["dataset"], tv["root"]).is_dir():
                raise ConfigError(f"targets[{name}].torchvision: {benchmarks.base_folder(tv['dataset'], tv['root'])} does "
                                  f"not exist (root is the folder you would pass to torchvision.datasets.{tv['dataset']})")
            plan.folders[name] = tv["root"]
            plan.class_counts[name] = benchmarks.CLASSES[tv["dataset"]]
            if benchmarks.is_standard(tv["dataset"], protocol):
                plan.torchvision[name] = tv["dataset"]
            else:
                unpack = tv["dataset"] in benchmarks.ARRAYS  # indexed from its images unpacked to files
                plan.benchmark[name] = {"dataset": tv["dataset"], "protocol": protocol, "root": tv["root"], "unpack": unpack}
                if unpack:
                    plan.folders[name] = f"results/data/unpacked/{name}"
        else:
            classes = _classes(t["folder"], "train", f"targets[{name}].folder")
            if len(classes) < 2:
                raise ConfigError(f"targets[{name}]: {t['folder']}/train has one class; a classification target "
                                  f"needs at least 2")
            _classes(t["folder"], "test", f"targets[{name}].folder")
            plan.folders[name] = t["folder"]
            plan.class_counts[name] = len(classes)


def replicate_folder(k: int) -> str:
    """Where replicate k >= 1 writes, under results/ (and logs/)."""
    return f"replicates/r{k}/"


def replicate_index(folder: str) -> int:
    """k of a `rep` wildcard: 0 for "", k for replicates/rK/."""
    return int(folder.rstrip("/").rsplit("r", 1)[1]) if folder else 0


def replicate_seed(seed: int, k: int) -> int:
    """The seed of replicate k's training and probe draws: the config's seed for replicate 0 (the
    run itself), an independent draw of numpy's SeedSequence((seed, k)) for the others."""
    if k == 0:
        return seed
    import numpy as np

    return int(np.random.SeedSequence((seed, k)).generate_state(1)[0] % 2**31)


def made_by_workflow(path: str) -> bool:
    """A path under results/: made by a job of this workflow (the zoo demo's weights), so it may not
    exist yet when the config is checked; its own checks wait for the job that reads it."""
    parts = [p for p in str(path).split("/") if p not in ("", ".")]
    return bool(parts) and parts[0] == "results"


def _check_zoo(docs: list, demo: dict) -> dict[str, ZooEntry]:
    try:
        zoo = {e.name: e for e in entries(docs, "zoo", later=made_by_workflow)}
    except BaseselError as exc:
        raise ConfigError(str(exc)) from None
    if zoo and len(zoo) < 3:
        raise ConfigError(f"zoo: {len(zoo)} model(s); rank correlations across the zoo need at least 3")
    made = {d["output"] for d in demo.values()}
    for e in zoo.values():
        if made_by_workflow(e.source) and str(Path(e.source)) not in made:
            raise ConfigError(f"zoo[{e.name}]: {e.source} is under results/ but no demo_weights entry makes it "
                              f"(they make {', '.join(sorted(made)) or 'nothing'})")
    return zoo


DEMO_FOLDER = "results/zoo-demo"
DEMO_SUFFIX = {"snapshot": "", "safetensors": ".safetensors", "state_dict": ".pth"}


def _check_demo(docs: list) -> dict:
    """The zoo demo's models to train here, each with the path it writes (`output`)."""
    out = {}
    for d in docs:
        name, kind = d["name"], d["arch"].split(":", 1)[0]
        if name in out:
            raise ConfigError(f"demo_weights: {name!r} is listed twice")
        fmt = d.get("format", "snapshot" if kind == "timm" else "safetensors")
        if fmt == "snapshot" and kind != "timm":
            raise ConfigError(f"demo_weights[{name}]: a snapshot folder is timm's layout; give format: safetensors "
                              f"or state_dict for {d['arch']}")
        out[name] = _canonical({**d, "format": fmt, "output": f"{DEMO_FOLDER}/{name}{DEMO_SUFFIX[fmt]}"})
    return out


def _check_architectures(architectures: list, plan: Plan) -> None:
    for a in architectures:
        if a["name"] in plan.archs:
            raise ConfigError(f"architectures: {a['name']!r} is listed twice")
        need = archs.get(a["name"]).min_input_size
        if a["input_size"] < need:
            raise ConfigError(f"architectures[{a['name']}]: input_size {a['input_size']} is below the {need} px "
                              f"this architecture needs for a non-empty last conv featuremap")
        plan.archs[a["name"]] = a


def _check_subsets(sub: dict, src: dict, n_source: int) -> list[str]:
    from ..data.subsets import subset_names

    try:
        subsets = subset_names(n_source, sub["classwise"], sub["horizontal"])
    except BaseselError as exc:
        raise ConfigError(str(exc)) from None
    if "embedded" in src:
        per = src["embedded"]["train_per_class"]
        for n in sub["horizontal"]:
            if n > per:
                raise ConfigError(f"subsets.horizontal: {n} parts but the source has only {per} training images per class")
    if len(subsets) < 3:
        raise ConfigError(f"subsets: {len(subsets)} base model(s) per architecture; rank correlations need at least 3")
    return subsets


def _experiment_archs(config: dict, configured: dict) -> tuple[list, list]:
    """Architectures of the curves and layers sections (empty when a section is disabled).

    curves.architectures defaults to every configured architecture; layers.architectures to
    resnet18, the paper's choice, where it is configured. Both must name configured architectures,
    whose width and input size the whole-pool model takes. With none configured (a zoo alone) both
    sections are off: there is no model of the paper's to train on the whole pool.
    """
    if not configured:
        return [], []
    out = []
    for section, default in (("curves", list(configured)), ("layers", [a for a in configured if a == "resnet18"])):
        cfg = config.get(section, {})
        names = cfg.get("architectures", default)
        unknown = [a for a in names if a not in configured]
        if unknown:
            raise ConfigError(f"{section}.architectures: {', '.join(unknown)} not among the configured architectures "
                              f"({', '.join(configured)}); the whole-pool model takes its width and input size from there")
        if len(set(names)) != len(names):
            raise ConfigError(f"{section}.architectures lists an architecture twice")
        out.append(list(names) if cfg.get("enabled", True) else [])
    return out[0], out[1]


def _canonical(settings):
    """Settings in sorted key order, at every level: a rule parameter Snakemake compares with the
    last run's, so the order a config file happens to write keys in must not rerun a job."""
    if isinstance(settings, dict):
        return {k: _canonical(settings[k]) for k in sorted(settings)}
    return [_canonical(v) for v in settings] if isinstance(settings, list) else settings
