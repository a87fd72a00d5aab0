"""Abstract pictures with nothing in them: flat colours, gradients, blurred colour blobs, noise.

No photo folder shows the model such pictures, and before it learned them as one more kind of "not a pet" it answered
a blurred blob of colour "fish, 99%" (the base fish photos are soft reef-video crops). The training recipe writes them
once into a folder and treats them like any other non-pet kind (training.recipes.TrainingOptions.with_abstract_folder).
"""
import os
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

ABSTRACT_KIND = "abstract"
STYLES = ("flat", "gradient", "radial", "blobs", "noise", "blurred noise")


def _colour(rng):
    return rng.randint(0, 256, 3).astype("float32")


def abstract_image(rng, style=None):
    """One abstract RGB picture (PIL), 128-640 px a side; `style` one of STYLES or None for a random one."""
    style = style or STYLES[rng.randint(len(STYLES))]
    width, height = (int(v) for v in rng.randint(128, 641, 2))
    if style == "flat":
        pixels = np.broadcast_to(_colour(rng), (height, width, 3)) + rng.normal(0, rng.uniform(0, 4), (height, width, 3))
    elif style in ("gradient", "radial"):
        y, x = np.mgrid[0:height, 0:width] / max(width, height)
        if style == "gradient":
            angle = rng.uniform(0, 2 * np.pi)
            t = x * np.cos(angle) + y * np.sin(angle)
        else:
            cx, cy = rng.uniform(0, width / max(width, height)), rng.uniform(0, height / max(width, height))
            t = np.hypot(x - cx, y - cy)
        t = (t - t.min()) / max(float(np.ptp(t)), 1e-6)
        pixels = _colour(rng) * (1 - t[..., None]) + _colour(rng) * t[..., None]
    elif style == "blobs":
        cells = rng.randint(2, 9)
        small = Image.fromarray(rng.randint(0, 256, (cells, cells, 3)).astype("uint8"))
        picture = small.resize((width, height), Image.Resampling.BICUBIC)
        return picture.filter(ImageFilter.GaussianBlur(rng.uniform(2, 20)))
    else:  # noise, blurred noise
        pixels = _colour(rng) + rng.normal(0, rng.uniform(10, 80), (height, width, 3))
        if style == "blurred noise":
            picture = Image.fromarray(np.clip(pixels, 0, 255).astype("uint8"))
            return picture.filter(ImageFilter.GaussianBlur(rng.uniform(1, 6)))
    return Image.fromarray(np.clip(pixels, 0, 255).astype("uint8"))


def write_abstract_folder(folder, count, seed=0):
    """`count` abstract pictures as folder/abstract/abstract<n>.png (the styles in turn), written once: a folder
    written with the same seed holds the same first `count` pictures whatever count it had before. Returns the folder
    (a non-pet folder of one kind)."""
    kind_dir = Path(folder) / ABSTRACT_KIND
    kind_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.RandomState(seed)
    for n in range(count):
        picture = abstract_image(rng, STYLES[n % len(STYLES)])  # drawn even when the file exists: same pictures
        path = kind_dir / f"{ABSTRACT_KIND}{n}.png"
        if not path.exists():
            tmp = path.with_suffix(f".{os.getpid()}.tmp")  # another process may be writing the same folder
            picture.save(tmp, format="PNG")
            tmp.replace(path)
    for path in kind_dir.glob(f"{ABSTRACT_KIND}*.png"):  # left by a larger count
        if not path.stem[len(ABSTRACT_KIND):].isdigit() or int(path.stem[len(ABSTRACT_KIND):]) >= count:
            path.unlink()
    return Path(folder)
