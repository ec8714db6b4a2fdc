"""The one tap: how every base model's layers are read during a forward pass.

`Tap` registers forward hooks that capture, in one forward pass, the outputs of chosen modules
(each through an optional transform applied as the hook runs: the ReLU a conv layer's output is
taken after, a ViT's tokens laid out as a grid) and the input of the head. A capture is kept until
the next pass, or handed to a sink as the hook runs, so that only one layer's output is alive at a
time (Appendix A.2 scores every conv layer of a pass).

`Probed` is a base model as the workflow and `basesel rank` read it: its name, its module, its
preprocessing, and `reading()`, which yields a function from an input batch to `Captured` (the
probed layer's featuremaps (B, C, H, W), the penultimate features (B, D), the model's own logits).
`Hooked` reads through a Tap (the paper's architectures, torchvision's CNNs and ViTs); zoo.py adds
timm's models, read through timm's own feature API.
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn


@dataclass
class Captured:
    """What one forward pass gives the scores: the probed layer, the head's input, the logits."""

    featuremap: torch.Tensor  # (B, C, H, W)
    penultimate: torch.Tensor  # (B, D)
    logits: torch.Tensor | None  # (B, Z), the model's own head; None where it has none


class Tap:
    """Forward hooks on `layers` {key: module name or (module name, transform)} and the input of
    `head` (a module name or module). Per forward pass: `outputs[key]` (detached, float32, a copy
    that no later in-place operation can change) and `head_input`; or, with `sink`, each output
    handed to `sink(key, output)` as its hook runs, and not kept."""

    def __init__(self, model: nn.Module, layers: dict, head=None, sink: Callable | None = None):
        self.outputs: dict = {}
        self.head_input: torch.Tensor | None = None
        self.sink = sink
        self._handles = []
        for key, spec in layers.items():
            name, transform = (spec, None) if isinstance(spec, str) else spec
            self._handles.append(model.get_submodule(name).register_forward_hook(self._grab(key, transform)))
        if head is not None:
            module = model.get_submodule(head) if isinstance(head, str) else head
            self._handles.append(module.register_forward_hook(self._grab_head_input))

    def _grab(self, key, transform):
        def hook(module, inputs, output):
            out = (output if transform is None else transform(output)).detach().float()
            if self.sink is not None:
                self.sink(key, out)
            else:  # the module's own output may be changed in place later in the pass (DenseNet's ReLU)
                self.outputs[key] = out.clone() if transform is None else out
        return hook

    def _grab_head_input(self, module, inputs, output):
        self.head_input = inputs[0].detach()

    def close(self) -> None:
        """Remove the hooks."""
        for h in self._handles:
            h.remove()
        self._handles = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def relu(x: torch.Tensor) -> torch.Tensor:
    return torch.relu(x)


def tokens_to_grid(prefix: int) -> Callable:
    """A transform from a transformer block's tokens (B, prefix + h*w, D) to a (B, D, h, w) grid in
    patch order, its `prefix` tokens (class, register, distillation) dropped; square grids only."""
    def transform(tokens: torch.Tensor) -> torch.Tensor:
        b, n, d = tokens.shape
        patches = n - prefix
        side = int(round(patches ** 0.5))
        if side * side != patches:
            raise ValueError(f"{patches} patch tokens do not form a square grid")
        return tokens[:, prefix:, :].transpose(1, 2).reshape(b, d, side, side)
    return transform


class Probed:
    """A base model as it is read: `name`, `model` (an nn.Module), `preprocess` (data.preprocessing),
    `layer` (the probed layer's name), `attrs` (what every file of its passes records about it:
    architecture, input size, source classes, ...), and `reading()`."""

    def __init__(self, name: str, model: nn.Module, preprocess, layer: str, attrs: dict | None = None):
        self.name, self.model, self.preprocess, self.layer = name, model, preprocess, layer
        self.attrs = dict(attrs or {})

    @contextmanager
    def reading(self):
        """Yields read(x) -> Captured for input batches x (the model in eval mode, no gradients)."""
        raise NotImplementedError
        yield

    def new_head(self, num_classes: int) -> nn.Module:
        """Put a new classifier with `num_classes` outputs (torch's default init) in place of the
        model's own, and return it: fine-tuning's "replace the last FC layer"."""
        raise NotImplementedError


class Hooked(Probed):
    """A model read through a Tap: the probed layer `layer` (through `transform`), the head's input
    (the last linear layer; without one, as SqueezeNet, the probed layer globally average-pooled)
    and the model's output as logits."""

    def __init__(self, name: str, model: nn.Module, preprocess, layer: str, head: str | None,
                 transform: Callable | None = None, attrs: dict | None = None):
        super().__init__(name, model, preprocess, layer, attrs)
        self.head, self.transform = head, transform

    def new_head(self, num_classes: int) -> nn.Module:
        if self.head is None:
            raise ValueError(f"{self.name} has no linear head to replace")
        old = self.model.get_submodule(self.head)
        new = nn.Linear(old.in_features, num_classes)
        parent, _, name = self.head.rpartition(".")
        setattr(self.model.get_submodule(parent) if parent else self.model, name, new)
        return new

    @contextmanager
    def reading(self):
        with Tap(self.model, {"map": (self.layer, self.transform)}, head=self.head) as tap:
            def read(x: torch.Tensor) -> Captured:
                logits = self.model(x)
                fm = tap.outputs["map"]
                pen = tap.head_input if self.head is not None else fm.mean(dim=(2, 3))
                return Captured(fm, pen.reshape(len(x), -1), logits.reshape(len(x), -1))
            yield read
