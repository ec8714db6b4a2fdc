"""The architecture registry: what the workflow needs to know about each of the paper's three
networks, without importing torch (the Snakefile reads it when it is parsed).

For every architecture it fixes, in one place:
- its conv layers in forward order (Appendix A.2 numbers them; `compute/layers.py` taps them);
- the probed layer, "the last conv layer" of the paper: the last of those conv layers, after its
  ReLU and before any pooling (AlexNet features.11, VGG16 features.29, ResNet18 the output of its
  last block, layer4.1, which is layer4's output);
- the head (the last FC layer, the one fine-tuning replaces);
- the smallest input size that leaves a non-empty probed featuremap, and the FLOPs of one forward
  pass, which the cluster's runtime estimates scale (machinery/resources.py).

Conv layers count the convolutions on the main path from 0, as the paper's Figure 4 does (ResNet18
0..16, where 16 is the whole network's last conv layer):
- AlexNet 0..4 and VGG16 0..12: layer k is the ReLU after the (k+1)-th Conv2d of `features`;
- ResNet18 0..16: 0 is the stem (conv1, bn1, ReLU; before the max-pool), then for each of the 8
  BasicBlocks its conv1 (output relu(bn1(conv1(x))), inside the block) and its conv2 (output: the
  block's output, relu(bn2(conv2(.)) + shortcut)). The 1x1 shortcut convolutions are not counted.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ConvLayer:
    """Conv layer `index`: `conv` names the convolution, `tap` the module whose output (after a
    ReLU when `relu`) is the layer's output."""

    index: int
    conv: str
    tap: str
    relu: bool

    @property
    def output(self) -> str:
        return f"relu({self.tap})" if self.relu else self.tap


@dataclass(frozen=True)
class Architecture:
    name: str
    min_input_size: int  # smallest input with a non-empty probed featuremap
    gmacs_224: float  # torchvision's model card's "GFLOPS", which count multiply-accumulates: GMACs of one 224 px forward pass at width 1.0
    head: str  # the last FC layer
    conv_layers: tuple[ConvLayer, ...]

    @property
    def probe(self) -> ConvLayer:
        """The paper's "last convolutional layer": the last conv layer."""
        return self.conv_layers[-1]

    def layer(self, index: int) -> ConvLayer:
        if not 0 <= index < len(self.conv_layers):
            raise ValueError(f"{self.name} has conv layers 0..{len(self.conv_layers) - 1}; no layer {index}")
        return self.conv_layers[index]


# torchvision's VGG configuration "D" (VGG16): channel counts, "M" a max-pool.
VGG16_CFG = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M")


def _sequential_layers(cfg) -> tuple[ConvLayer, ...]:
    """Conv layers of a `features` Sequential of (Conv2d, ReLU) pairs and max-pools."""
    layers, position = [], 0
    for v in cfg:
        if v == "M":
            position += 1
            continue
        layers.append(ConvLayer(len(layers), f"features.{position}", f"features.{position + 1}", False))
        position += 2
    return tuple(layers)


def _resnet_layers(blocks=(2, 2, 2, 2)) -> tuple[ConvLayer, ...]:
    layers = [ConvLayer(0, "conv1", "bn1", True)]
    for stage, count in enumerate(blocks, 1):
        for b in range(count):
            block = f"layer{stage}.{b}"
            layers.append(ConvLayer(len(layers), f"{block}.conv1", f"{block}.bn1", True))
            layers.append(ConvLayer(len(layers), f"{block}.conv2", block, False))
    return tuple(layers)


# AlexNet's features: conv, ReLU, pool, conv, ReLU, pool, then three (conv, ReLU) and a pool.
ALEXNET_CFG = (64, "M", 192, "M", 384, 256, 256, "M")

ARCHITECTURES: dict[str, Architecture] = {
    # AlexNet's stride-4 11x11 stem and two 3/2 max-pools need 63 px for a 3x3 conv5 map;
    # VGG16 and ResNet18 downsample by 16 and 32 before the probed layer.
    "alexnet": Architecture("alexnet", 63, 0.71, "classifier.6", _sequential_layers(ALEXNET_CFG)),
    "vgg16": Architecture("vgg16", 16, 15.47, "classifier.6", _sequential_layers(VGG16_CFG)),
    "resnet18": Architecture("resnet18", 32, 1.81, "fc", _resnet_layers()),
}


def get(name: str) -> Architecture:
    try:
        return ARCHITECTURES[name]
    except KeyError:
        raise ValueError(f"unknown architecture {name!r}; expected one of {', '.join(ARCHITECTURES)}") from None
