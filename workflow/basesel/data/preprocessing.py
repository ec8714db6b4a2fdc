"""How an image file becomes a model's input, as data (no torch): the paper's plain square resize,
or a model's own data config (a zoo model's: input size, resize and centre crop, interpolation,
mean and std). Rules pass it as a parameter; every features file records it."""
from __future__ import annotations

from dataclasses import asdict, dataclass

# ImageNet statistics: the normalisation torchvision's models (and the paper's) are trained with.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
INTERPOLATIONS = ("bilinear", "bicubic", "nearest", "lanczos", "box", "hamming")


@dataclass(frozen=True)
class Preprocess:
    """`resize`: "square" (the paper's: the whole image resized to input_size x input_size, no crop)
    or "crop" (timm's and torchvision's evaluation transform: the shorter side resized to
    floor(input_size / crop_pct), then the centre input_size x input_size crop)."""

    input_size: int
    resize: str = "square"
    crop_pct: float = 1.0
    interpolation: str = "bilinear"
    mean: tuple = IMAGENET_MEAN
    std: tuple = IMAGENET_STD

    def __post_init__(self):
        if self.input_size < 1:
            raise ValueError(f"input_size must be >= 1, got {self.input_size}")
        if self.resize not in ("square", "crop"):
            raise ValueError(f"resize must be square or crop, not {self.resize!r}")
        if not 0 < self.crop_pct <= 1:
            raise ValueError(f"crop_pct must be in (0, 1], got {self.crop_pct}")
        if self.interpolation not in INTERPOLATIONS:
            raise ValueError(f"interpolation {self.interpolation!r}: expected one of {', '.join(INTERPOLATIONS)}")
        if len(self.mean) != 3 or len(self.std) != 3 or min(self.std) <= 0:
            raise ValueError(f"mean and std need 3 channels (std > 0), got {self.mean} and {self.std}")
        object.__setattr__(self, "mean", tuple(float(m) for m in self.mean))
        object.__setattr__(self, "std", tuple(float(s) for s in self.std))

    @classmethod
    def of(cls, spec) -> "Preprocess":
        """A Preprocess from itself, a square input size (the paper's pipeline) or its dict."""
        if isinstance(spec, Preprocess):
            return spec
        if isinstance(spec, dict):
            return cls(**spec)
        return cls(int(spec))

    def as_dict(self) -> dict:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(self).items()}

    def describe(self) -> str:
        """One line for logs and `basesel rank`: what the model was fed."""
        how = (f"square {self.interpolation} resize" if self.resize == "square" else
               f"{self.interpolation} resize of the shorter side, centre crop {self.crop_pct:g}")
        stats = "ImageNet mean/std" if (self.mean, self.std) == (IMAGENET_MEAN, IMAGENET_STD) else \
            f"mean {list(self.mean)}, std {list(self.std)}"
        return f"{self.input_size} px, {how}, {stats}"
