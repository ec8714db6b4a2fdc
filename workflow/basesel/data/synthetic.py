"""The embedded default dataset: procedurally drawn images in ImageFolder layout.

Every class is a recipe drawn from one of four families, and every image varies the factors that
do not define its class (nuisances), so that a class is learnt only from its defining factor:

* shape   - the outline of a foreground blob (a radius profile of random harmonics);
* texture - a periodic pattern (stripes, checks, dots or waves) at a frequency and angle;
* colour  - a pair of foreground and background hues;
* glyph   - a pattern of 3-4 thick strokes, a stand-in for handwriting.

The source pool holds families in consecutive class blocks (so that class-wise subsets specialise
in some families), and each target task draws *new* classes of one family, except `digits`, which
is scikit-learn's bundled 8x8 handwritten digits upscaled: a small real dataset, related to glyphs.
Nothing here is tuned to make any score look good; relatedness is by construction only.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
from PIL import Image

FAMILIES = ("shape", "texture", "colour", "glyph")
TARGET_KINDS = ("shape", "texture", "colour", "glyph", "digits")


def _rng(seed: int, *keys) -> np.random.Generator:
    """A generator that depends only on the seed and the keys, never on call order."""
    material = [seed] + [int.from_bytes(str(k).encode(), "little") % (2**63) for k in keys]
    return np.random.default_rng(material)


def _hsv(h, s, v):
    """HSV in [0,1] to an RGB triple in [0,1]."""
    i = int(h * 6) % 6
    f = h * 6 - int(h * 6)
    p, q, t = v * (1 - s), v * (1 - f * s), v * (1 - (1 - f) * s)
    return np.array([(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)][i])


def draw_recipe(family: str, rng: np.random.Generator) -> dict:
    """The defining factor of one class of `family`."""
    if family == "shape":
        return {"harmonics": rng.uniform(-0.28, 0.28, size=4), "phases": rng.uniform(0, 2 * np.pi, size=4)}
    if family == "texture":
        return {"kind": int(rng.integers(4)), "freq": float(rng.uniform(2.0, 7.0)), "angle": float(rng.uniform(0, np.pi))}
    if family == "colour":
        return {"fg": float(rng.uniform()), "bg": float(rng.uniform()), "sat": float(rng.uniform(0.5, 1.0))}
    if family == "glyph":
        return {"strokes": rng.uniform(-0.7, 0.7, size=(int(rng.integers(3, 5)), 4))}
    raise ValueError(f"unknown family {family!r}")


def _grid(size):
    c = (np.arange(size) + 0.5) / size * 2 - 1
    return np.meshgrid(c, c, indexing="xy")


def _shape_mask(x, y, harmonics, phases, scale, rot):
    r = np.hypot(x, y)
    phi = np.arctan2(y, x) - rot
    profile = 1.0 + sum(a * np.cos((h + 2) * phi + p) for h, (a, p) in enumerate(zip(harmonics, phases)))
    return r <= scale * profile


def _texture(x, y, kind, freq, angle, phase):
    u = x * np.cos(angle) + y * np.sin(angle)
    v = -x * np.sin(angle) + y * np.cos(angle)
    w = np.pi * freq
    if kind == 0:  # stripes
        return (np.sin(w * u + phase) > 0).astype(float)
    if kind == 1:  # checks
        return ((np.sin(w * u + phase) > 0) ^ (np.sin(w * v + phase) > 0)).astype(float)
    if kind == 2:  # dots
        return ((np.sin(w * u + phase) * np.sin(w * v + phase)) > 0.45).astype(float)
    return 0.5 + 0.5 * np.sin(w * u + 1.5 * np.sin(w * v * 0.5) + phase)  # waves


def _glyph_mask(x, y, strokes, shift, thickness):
    mask = np.zeros_like(x, dtype=bool)
    for x0, y0, x1, y1 in strokes:
        p0 = np.array([x0, y0]) + shift
        d = np.array([x1 - x0, y1 - y0])
        t = np.clip(((x - p0[0]) * d[0] + (y - p0[1]) * d[1]) / max(d @ d, 1e-9), 0, 1)
        mask |= np.hypot(x - p0[0] - t * d[0], y - p0[1] - t * d[1]) < thickness
    return mask


def render(family: str, recipe: dict, rng: np.random.Generator, size: int) -> np.ndarray:
    """One image (size, size, 3) uint8 of a class; its nuisances drawn from `rng`."""
    x, y = _grid(size)
    # Nuisances: every factor the family does not define is random per image.
    fg = _hsv(rng.uniform(), rng.uniform(0.4, 1.0), rng.uniform(0.6, 1.0))
    bg = _hsv(rng.uniform(), rng.uniform(0.2, 0.8), rng.uniform(0.15, 0.5))
    tex = draw_recipe("texture", rng)
    shape = draw_recipe("shape", rng)
    scale, rot = rng.uniform(0.45, 0.7), rng.uniform(-0.3, 0.3)
    shift = rng.uniform(-0.15, 0.15, size=2)
    xs, ys = x - shift[0], y - shift[1]

    if family == "colour":
        fg = _hsv(recipe["fg"], recipe["sat"], rng.uniform(0.75, 1.0))
        bg = _hsv(recipe["bg"], recipe["sat"] * 0.8, rng.uniform(0.35, 0.55))
    if family == "texture":
        pattern = _texture(x, y, recipe["kind"], recipe["freq"], recipe["angle"] + rng.normal(0, 0.05), rng.uniform(0, 6.3))
    else:
        pattern = _texture(x, y, tex["kind"], tex["freq"], tex["angle"], rng.uniform(0, 6.3))
    if family == "shape":
        mask = _shape_mask(xs, ys, recipe["harmonics"], recipe["phases"], scale, rot)
    elif family == "glyph":
        mask = _glyph_mask(x, y, recipe["strokes"] + rng.normal(0, 0.04, recipe["strokes"].shape), shift, rng.uniform(0.08, 0.13))
    else:
        mask = _shape_mask(xs, ys, shape["harmonics"], shape["phases"], scale, rot)

    # The texture modulates the foreground in the texture family, and only weakly elsewhere.
    contrast = 0.75 if family == "texture" else 0.2
    fg_img = fg[None, None, :] * (1 - contrast + contrast * pattern[..., None])
    if family == "texture":  # the pattern fills the whole image, the blob only shades it
        img = fg_img * np.where(mask, 1.0, 0.7)[..., None] + bg[None, None, :] * 0.15
    else:
        img = np.where(mask[..., None], fg_img, bg[None, None, :] * (0.9 + 0.1 * pattern[..., None]))
    img = img + rng.normal(0, 0.04, img.shape)
    return (np.clip(img, 0, 1) * 255).round().astype(np.uint8)


def _digits(size: int, rng: np.random.Generator):
    """scikit-learn's 8x8 digits (1,797 images, 0..16 grey levels), upscaled, tinted and jittered."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    for img8, label in zip(digits.images, digits.target):
        pad = np.pad(img8 / 16.0, 1)
        big = np.asarray(Image.fromarray((pad * 255).astype(np.uint8)).resize((size, size), Image.BILINEAR)) / 255.0
        dx, dy = rng.integers(-size // 12, size // 12 + 1, size=2)
        big = np.roll(big, (dy, dx), axis=(0, 1))
        fg = _hsv(rng.uniform(), rng.uniform(0.0, 0.6), rng.uniform(0.8, 1.0))
        bg = _hsv(rng.uniform(), rng.uniform(0.0, 0.6), rng.uniform(0.0, 0.3))
        img = big[..., None] * fg + (1 - big[..., None]) * bg + rng.normal(0, 0.03, (size, size, 3))
        yield (np.clip(img, 0, 1) * 255).round().astype(np.uint8), int(label)


def _save(img: np.ndarray, path: Path) -> None:
    # Fixed PNG settings and no metadata, so the same seed gives the same bytes.
    Image.fromarray(img).save(path, format="PNG", optimize=False, compress_level=6)


def source_families(num_classes: int) -> list[str]:
    """Families of the source classes in consecutive blocks of equal size."""
    return [FAMILIES[min(c * len(FAMILIES) // num_classes, len(FAMILIES) - 1)] for c in range(num_classes)]


def generate_source(root, *, seed: int, num_classes: int, train_per_class: int, val_per_class: int, size: int) -> None:
    """Write the source pool to root/{train,val}/cNNN/*.png."""
    families = source_families(num_classes)
    jobs = []
    for c, fam in enumerate(families):
        recipe = draw_recipe(fam, _rng(seed, "source-recipe", c))
        jobs.append((f"c{c:03d}-{fam}", fam, recipe, _rng(seed, "source-images", c)))
    _write_split_tree(root, jobs, {"train": train_per_class, "val": val_per_class}, size)


def generate_target(root, *, kind: str, seed: int, num_classes: int, train_per_class: int, test_per_class: int, size: int) -> None:
    """Write one target task to root/{train,test}/<class>/*.png; its classes are new recipes."""
    if kind not in TARGET_KINDS:
        raise ValueError(f"unknown embedded target kind {kind!r}; expected one of {', '.join(TARGET_KINDS)}")
    splits = {"train": train_per_class, "test": test_per_class}
    if kind == "digits":
        if num_classes > 10:
            raise ValueError("the digits target has at most 10 classes")
        rng = _rng(seed, "digits")
        per_class: dict[int, list] = {k: [] for k in range(num_classes)}
        for img, label in _digits(size, rng):
            if label < num_classes:
                per_class[label].append(img)
        need = train_per_class + test_per_class
        short = {k: len(v) for k, v in per_class.items() if len(v) < need}
        if short:
            raise ValueError(f"digits has too few images per class for {need} (train+test): {short}")
        images = {f"digit{k}": v[:need] for k, v in per_class.items()}
        _write_images(root, images, splits)
        return
    jobs = []
    for c in range(num_classes):
        recipe = draw_recipe(kind, _rng(seed, "target-recipe", kind, c))
        jobs.append((f"{kind}{c:02d}", kind, recipe, _rng(seed, "target-images", kind, c)))
    _write_split_tree(root, jobs, splits, size)


def _write_split_tree(root, jobs, splits: dict[str, int], size: int) -> None:
    need = sum(splits.values())
    images = {name: [render(fam, recipe, rng, size) for _ in range(need)] for name, fam, recipe, rng in jobs}
    _write_images(root, images, splits)


def _write_images(root, images: dict[str, list], splits: dict[str, int]) -> None:
    """Write into a temporary sibling folder and rename it into place when complete."""
    root = Path(root)
    tmp = root.with_name(f".{root.name}.partial")
    shutil.rmtree(tmp, ignore_errors=True)
    for cls, imgs in images.items():
        start = 0
        for split, count in splits.items():
            folder = tmp / split / cls
            folder.mkdir(parents=True, exist_ok=True)
            for i, img in enumerate(imgs[start:start + count]):
                _save(img, folder / f"{i:05d}.png")
            start += count
    shutil.rmtree(root, ignore_errors=True)
    os.replace(tmp, root)
