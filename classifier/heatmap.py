"""Where the model looked: a class activation map (training.architectures.with_class_maps) made into a picture that
lies exactly over the photo's display copy on the result page.

The model saw the photo fitted into a square and padded (ingestion.images.fit_and_pad), so the map covers that
square: the part over the padding is cut away, the rest stretched to the display copy's shape. Only positive evidence
counts (ReLU), scaled to the map's peak; the picture is a palette PNG of the "inferno" colour map whose alpha grows
with the evidence (no evidence: transparent). It has the display copy's proportions at up to OVERLAY_SIDE pixels
(the page stretches it over the photo): the map holds a few cells per side, and a smooth picture a quarter the pixels
of a 1024 px copy looks the same, weighs a quarter and takes a fraction of the time to compress (a few ms at 1024).
"""
import io

import numpy as np
from PIL import Image

# matplotlib's "inferno" (perceptually uniform, readable in grey) at 17 even steps, interpolated to 256 below.
INFERNO = (
    (0, 0, 4), (11, 7, 36), (33, 12, 74), (61, 9, 101), (87, 16, 110), (113, 25, 110), (138, 34, 106), (163, 44, 97),
    (188, 55, 84), (210, 70, 68), (228, 90, 49), (241, 115, 29), (249, 142, 9), (252, 172, 17), (249, 203, 53),
    (242, 234, 105), (252, 255, 164),
)
MAX_ALPHA = 230  # the strongest evidence still lets the photo show through
SMOOTH_SIDE = 64  # the map is first resampled to this many pixels on its long side, in floating point
OVERLAY_SIDE = 512  # the overlay's long side at most


def _palette():
    steps = np.linspace(0, 1, len(INFERNO))
    levels = np.linspace(0, 1, 256)
    rgb = np.stack([np.interp(levels, steps, [c[i] for c in INFERNO]) for i in range(3)], axis=1)
    return rgb.round().astype("uint8").tobytes(), bytes(int(round(MAX_ALPHA * level)) for level in levels)


PALETTE, ALPHA = _palette()


def photo_box(photo_size, grid):
    """(left, top, right, bottom) of the photo inside a grid x grid map of its fitted-and-padded square, in map cells."""
    width, height = photo_size
    longest = max(width, height)
    box_width, box_height = grid * width / longest, grid * height / longest
    left, top = (grid - box_width) / 2, (grid - box_height) / 2
    return left, top, left + box_width, top + box_height


def overlay_size(display_size, side=OVERLAY_SIDE):
    """The overlay's (width, height) for a display copy of `display_size`: its proportions, long side at most `side`."""
    width, height = display_size
    scale = min(1.0, side / max(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))


def heatmap_image(class_map, photo_size, size):
    """The overlay for one class's map (S' x S', as the model outputs it) of a photo of `photo_size` (its
    orientation as the model saw it), as a `size` (width, height) palette image with transparency in info."""
    class_map = np.maximum(np.asarray(class_map, dtype="float32"), 0.0)  # evidence for the class, not against it
    grid = class_map.shape[0]
    width, height = size
    scale = min(1.0, SMOOTH_SIDE / max(width, height))
    smooth_size = (max(1, round(width * scale)), max(1, round(height * scale)))
    smooth = np.asarray(Image.fromarray(class_map, "F").resize(smooth_size, Image.Resampling.BILINEAR,
                                                                 box=photo_box(photo_size, grid)))
    peak = float(smooth.max())
    levels = (smooth * (255.0 / peak)).round() if peak > 0 else np.zeros_like(smooth)
    image = Image.fromarray(levels.clip(0, 255).astype("uint8"), "L")
    if image.size != tuple(size):
        image = image.resize(tuple(size), Image.Resampling.BILINEAR)
    image.putpalette(PALETTE)
    image.info["transparency"] = ALPHA
    return image


def heatmap_png(class_map, photo_size, display_size):
    """The overlay (PNG bytes) for one class's map of a photo of `photo_size`, shown over a display copy of `display_size`."""
    image = heatmap_image(class_map, photo_size, overlay_size(display_size))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", transparency=ALPHA, compress_level=1)
    return buffer.getvalue()
