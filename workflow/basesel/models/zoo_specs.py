"""What a zoo entry names, checked without torch (the Snakefile reads entries when it is parsed, and
`basesel rank` before it loads any model): a model users already have, as a name, an architecture
and a local weights file, or a local snapshot folder in timm's (and the Hugging Face Hub's) layout.

An entry (config `zoo:`, a zoo file, or rank's `--model`):
- `arch: torchvision:NAME` or `timm:NAME` with `weights: FILE` (`.safetensors`, or a state dict in
  `.pth`/`.pt`/`.bin`, read with torch's weights_only loader: never a pickle that runs code);
- `arch: basesel` with `weights:` a checkpoint this workflow wrote (results/pretrain/.../model.pt);
- `snapshot: FOLDER`: timm's `save_for_hf` layout, as `hf download` or timm's `local-dir:` see it:
  config.json (architecture, model_args, pretrained_cfg) and model.safetensors (or pytorch_model.bin);
- optional `preprocess:` keys of data.preprocessing.Preprocess, for what the model does not say
  itself (docs/metrics.md: a model's own data config comes first), and `gmacs`, the cost of one
  forward pass at 224 px for the cluster's runtime estimates.
Nothing is downloaded: a Hub id where a path belongs is an error that says how to fetch it first.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from .. import BaseselError
from ..data.preprocessing import Preprocess

KINDS = ("torchvision", "timm", "basesel")
WEIGHT_SUFFIXES = (".safetensors", ".pth", ".pt", ".bin")
SNAPSHOT_WEIGHTS = ("model.safetensors", "pytorch_model.bin")  # timm's preferred order
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_]*$")
HUB_ID = re.compile(r"^(hf-hub:|hf_hub:)?[A-Za-z0-9][\w.-]*/[\w.-]+(@[\w.-]+)?$")
# A forward pass of an unknown zoo architecture, for runtime estimates: at least every model of
# configs/anchors.yaml (ResNet-152: 11.5 GMACs at 224 px); an entry's `gmacs` replaces it.
DEFAULT_GMACS_224 = 12.0


@dataclass(frozen=True)
class ZooEntry:
    """A zoo model: `name`; `arch` (kind:NAME, or basesel; a snapshot's is read from its config.json,
    None until the folder exists); `weights` (the file read); `snapshot` (its folder, when it came
    as one); `preprocess` (the entry's own keys); `gmacs` (multiply-accumulates of a forward pass at 224 px, in billions); `raw` (the config entry)."""

    name: str
    arch: str | None
    weights: str | None
    snapshot: str | None = None
    preprocess: dict = field(default_factory=dict)
    gmacs: float = DEFAULT_GMACS_224
    raw: dict = field(default_factory=dict, compare=False)

    @property
    def kind(self) -> str:
        return self.arch.split(":", 1)[0]

    @property
    def model_name(self) -> str:
        """The architecture's name in its library (timm's or torchvision's registry)."""
        return self.arch.split(":", 1)[1] if ":" in self.arch else self.arch

    @property
    def source(self) -> str:
        """What the model is read from: its snapshot folder, or its weights file."""
        return self.snapshot or self.weights

    def as_params(self) -> dict:
        """The entry as given, keys sorted at every level (a config's key order reruns nothing)."""
        return _sorted(self.raw or {"name": self.name, "arch": self.arch, "weights": self.weights,
                                    "preprocess": self.preprocess})


def _sorted(value):
    if isinstance(value, dict):
        return {k: _sorted(value[k]) for k in sorted(value)}
    return [_sorted(v) for v in value] if isinstance(value, list) else value


def _hub_hint(what: str, value: str, name: str) -> BaseselError:
    repo = value.split(":", 1)[1] if value.startswith(("hf-hub:", "hf_hub:")) else value
    return BaseselError(f"{what} {value!r} looks like a Hugging Face Hub id, not a local path: basesel downloads "
                        f"nothing. Fetch it first, e.g. `hf download {repo.split('@')[0]} --local-dir models/{name}` "
                        f"(huggingface_hub's command line), then give snapshot: models/{name}")


def _local(what: str, value: str, name: str, folder: bool) -> Path:
    path = Path(value)
    if path.exists():
        if folder and not path.is_dir():
            raise BaseselError(f"{what} {value} is a file, not a snapshot folder (give it as weights: with arch:)")
        if not folder and path.is_dir():
            raise BaseselError(f"{what} {value} is a folder: give a snapshot folder as snapshot:, a weights file "
                               f"as weights:")
        return path
    if HUB_ID.match(value) and not value.startswith((".", "/")):
        raise _hub_hint(what, value, name)
    raise BaseselError(f"{what} {value}: no such {'folder' if folder else 'file'}")


def snapshot_architecture(folder) -> tuple[str, dict]:
    """(timm architecture name, config.json) of a snapshot folder; errors name what is missing."""
    config = Path(folder) / "config.json"
    if not config.is_file():
        raise BaseselError(f"snapshot {folder}: no config.json (a timm/Hub snapshot holds config.json and "
                           f"model.safetensors, as timm's save_for_hf writes them)")
    try:
        doc = json.loads(config.read_text())
    except ValueError as exc:
        raise BaseselError(f"snapshot {folder}: config.json is not JSON ({exc})") from None
    arch = doc.get("architecture") if isinstance(doc, dict) else None
    if not isinstance(arch, str):
        raise BaseselError(f"snapshot {folder}: config.json names no timm 'architecture' (a transformers "
                           f"checkpoint is not a timm snapshot)")
    return arch, doc


def snapshot_weights(folder) -> Path:
    for name in SNAPSHOT_WEIGHTS:
        if (Path(folder) / name).is_file():
            return Path(folder) / name
    raise BaseselError(f"snapshot {folder}: holds none of {', '.join(SNAPSHOT_WEIGHTS)}")


def entry(doc: dict, where: str = "zoo", later=lambda path: False) -> ZooEntry:
    """A ZooEntry from a config mapping {name, arch + weights | snapshot, preprocess, gmacs},
    checked: a BaseselError naming `where` and the problem. `later(path)`: the path is made by the
    workflow itself (the zoo demo's weights), so it may not exist yet; its checks wait for its job."""
    name = doc.get("name")
    if not isinstance(name, str) or not NAME.match(name):
        raise BaseselError(f"{where}: name {name!r} must be letters, digits and _ (not starting with _)")
    what = f"{where}[{name}]"
    if "gflops" in doc:
        raise BaseselError(f"{what}: `gflops` is now `gmacs`: the same number (torchvision's model cards' \"GFLOPS\" "
                           f"count multiply-accumulates, as timm's GMACs do), named for what it counts")
    unknown = set(doc) - {"name", "arch", "weights", "snapshot", "preprocess", "gmacs"}
    if unknown:
        raise BaseselError(f"{what}: unknown key(s) {', '.join(sorted(unknown))}")
    preprocess = dict(doc.get("preprocess") or {})
    try:
        Preprocess(**{"input_size": 224, **preprocess})
    except (TypeError, ValueError) as exc:
        raise BaseselError(f"{what}.preprocess: {exc}") from None
    gmacs = float(doc.get("gmacs", DEFAULT_GMACS_224))
    if "snapshot" in doc and doc["snapshot"] is not None:
        if doc.get("weights") or doc.get("arch"):
            raise BaseselError(f"{what}: a snapshot folder names its architecture and weights itself: give snapshot: "
                               f"alone, or arch: with weights:")
        if later(str(doc["snapshot"])):  # the workflow makes it: its job checks it
            return ZooEntry(name, None, None, str(doc["snapshot"]), preprocess, gmacs, raw=doc)
        folder = _local(f"{what}.snapshot", str(doc["snapshot"]), name, folder=True)
        arch, _ = snapshot_architecture(folder)
        return ZooEntry(name, f"timm:{arch}", str(snapshot_weights(folder)), str(folder), preprocess, gmacs, raw=doc)
    arch, weights = doc.get("arch"), doc.get("weights")
    if not arch or not weights:
        raise BaseselError(f"{what}: give arch: (torchvision:NAME, timm:NAME or basesel) with weights: FILE, "
                           f"or snapshot: FOLDER")
    kind = str(arch).split(":", 1)[0]
    if kind not in KINDS or (kind != "basesel" and ":" not in str(arch)) or (kind == "basesel" and arch != "basesel"):
        raise BaseselError(f"{what}.arch {arch!r}: expected torchvision:NAME, timm:NAME or basesel")
    path = Path(str(weights)) if later(str(weights)) else _local(f"{what}.weights", str(weights), name, folder=False)
    if path.suffix not in WEIGHT_SUFFIXES:
        raise BaseselError(f"{what}.weights {weights}: expected a {', '.join(WEIGHT_SUFFIXES)} file")
    return ZooEntry(name, str(arch), str(path), None, preprocess, gmacs, raw=doc)


def entries(docs: list, where: str = "zoo", later=lambda path: False) -> list[ZooEntry]:
    """Every entry checked (`later`: entry's), and no two with one name."""
    out, seen = [], set()
    for i, doc in enumerate(docs):
        if not isinstance(doc, dict):
            raise BaseselError(f"{where}[{i}]: expected a mapping with name, arch and weights (or snapshot)")
        e = entry(doc, where, later)
        if e.name in seen:
            raise BaseselError(f"{where}: two entries are named {e.name!r}; every zoo model needs a name of its own")
        seen.add(e.name)
        out.append(e)
    return out


def read_zoo_file(path) -> list[ZooEntry]:
    """The entries of a zoo file: YAML (or JSON), a list of entries or a mapping with `zoo:`; relative
    paths are taken from the file's folder."""
    import yaml

    path = Path(path)
    try:
        doc = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise BaseselError(f"zoo file {path}: {exc}") from None
    docs = doc.get("zoo") if isinstance(doc, dict) else doc
    if not isinstance(docs, list):
        raise BaseselError(f"zoo file {path}: expected a list of entries, or a mapping with a zoo: list")
    resolved = []
    for d in docs:
        d = dict(d) if isinstance(d, dict) else d
        if isinstance(d, dict):
            for key in ("weights", "snapshot"):
                if d.get(key) and not Path(str(d[key])).is_absolute() and (path.parent / str(d[key])).exists():
                    d[key] = str(path.parent / str(d[key]))
        resolved.append(d)
    return entries(resolved, where=str(path))


def from_command_line(spec: str) -> list[ZooEntry] | None:
    """rank's `--model` as zoo entries: `timm:NAME=FILE`, `torchvision:NAME=FILE` (or `NAME=FILE`,
    torchvision's), a snapshot folder, or a zoo file (.yaml, .yml, .json); None for a path that is
    none of these (a basesel checkpoint, read as before)."""
    if "=" in spec:
        arch, weights = spec.split("=", 1)
        arch = arch if ":" in arch or arch == "basesel" else f"torchvision:{arch}"
        stem = Path(weights).stem
        base = arch.split(":", 1)[-1]
        name = re.sub(r"\W", "_", stem if stem and stem != base else base).strip("_") or "model"
        return [entry({"name": name if NAME.match(name) else f"m_{name}", "arch": arch, "weights": weights},
                      where="--model")]
    path = Path(spec)
    if path.is_dir():
        name = re.sub(r"\W", "_", path.resolve().name).strip("_") or "snapshot"
        return [entry({"name": name if NAME.match(name) else f"m_{name}", "snapshot": spec}, where="--model")]
    if path.suffix in (".yaml", ".yml", ".json") and path.is_file():
        return read_zoo_file(path)
    if not path.exists() and HUB_ID.match(spec) and not spec.startswith((".", "/")):
        raise _hub_hint("--model", spec, re.sub(r"\W", "_", spec.split("/")[-1]))
    return None
