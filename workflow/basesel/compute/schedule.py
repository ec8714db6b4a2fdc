"""Training schedules: the paper's Table 3 as defaults, in one place (torch-free, so the Snakefile
can resolve every rule's schedule when it is parsed)."""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields


@dataclass(frozen=True)
class Schedule:
    """Cross-entropy, `optimizer`, learning rate `lr` multiplied by `gamma` every `step_size` epochs.

    The defaults are Table 3 of the paper (30 epochs, SGD, lr 0.01, x0.1 every 7 epochs); the paper
    gives no momentum, weight decay or batch size, so these three are the usual ImageNet values.
    """

    epochs: int = 30
    lr: float = 0.01
    step_size: int = 7
    gamma: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 0.0005
    batch_size: int = 64
    optimizer: str = "sgd"

    @classmethod
    def from_config(cls, cfg: dict | None, *overrides: dict | None) -> "Schedule":
        """Table 3 with the keys of `cfg`, then of each override, replaced."""
        merged = {}
        for part in (cfg, *overrides):
            merged.update(part or {})
        unknown = set(merged) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"unknown schedule key(s): {', '.join(sorted(unknown))}")
        return cls(**merged)

    def as_dict(self) -> dict:
        return asdict(self)
