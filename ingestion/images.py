"""The one image preprocessing used by the dataset build, training and serving.

open_image()   decodes safely (format allow-list, pixel limit checked from the header before
               decoding, EXIF orientation applied, RGB out)
normalize()    caps the long side at STORED_MAX_SIDE: what a dataset stores (losslessly) and the first
               step of every model input, so a stored photo and the upload it came from give the same pixels
fit_and_pad()  fits a picture into a square frame keeping its aspect ratio and pads the rest
image_to_array()  the model input: normalize, then fit_and_pad at the model's input size
"""
import io
import warnings

from PIL import Image, ImageOps, UnidentifiedImageError
from pillow_heif import register_heif_opener

from .conf import setting

# iPhones save HEIC: pillow-heif (libheif) gives Pillow a "HEIF" decoder. Pillow reads AVIF itself (its own "AVIF"
# plugin, libavif), so pillow-heif's is not needed for that. Registered once, at import, before any open.
register_heif_opener()

# The accepted formats, in the order Image.open tries their decoders (only these are consulted). AVIF before HEIF:
# pillow-heif's HEIF decoder also claims AVIF files whose major brand is the generic "mif1"; Pillow's own AVIF plugin
# checks for AVIF brands, so it takes AVIF files and leaves HEIC to pillow-heif.
ALLOWED_FORMATS = ("JPEG", "PNG", "WEBP", "AVIF", "HEIF")
# Everything below is derived from these tables: the one place the accepted formats are written down.
# How each format is named to people, its MIME types and its file suffixes (the first is the one it is stored under).
FORMAT_NAMES = {"JPEG": "JPEG", "PNG": "PNG", "WEBP": "WebP", "HEIF": "HEIC", "AVIF": "AVIF"}
FORMAT_MIME_TYPES = {"JPEG": ("image/jpeg",), "PNG": ("image/png",), "WEBP": ("image/webp",),
                     "HEIF": ("image/heic", "image/heif"), "AVIF": ("image/avif",)}
FORMAT_SUFFIXES = {"JPEG": (".jpg", ".jpeg"), "PNG": (".png",), "WEBP": (".webp",), "HEIF": (".heic", ".heif"),
                   "AVIF": (".avif",)}
# Formats most browsers cannot show in an <img> (HEIC: Safari only): such an original is only ever shown as its JPEG
# copies, served as a download, and a scraped one is stored as a JPEG.
NOT_IN_BROWSERS = frozenset({"HEIF"})
BROWSER_FORMATS = tuple(fmt for fmt in ALLOWED_FORMATS if fmt not in NOT_IN_BROWSERS)
# The file extension each accepted format is stored under, and the suffixes read back from folders.
FORMAT_EXTENSIONS = {fmt: FORMAT_SUFFIXES[fmt][0].lstrip(".") for fmt in ALLOWED_FORMATS}
IMAGE_SUFFIXES = frozenset(suffix for fmt in ALLOWED_FORMATS for suffix in FORMAT_SUFFIXES[fmt])
BROWSER_SUFFIXES = frozenset(suffix for fmt in BROWSER_FORMATS for suffix in FORMAT_SUFFIXES[fmt])
NOT_IN_BROWSERS_SUFFIXES = IMAGE_SUFFIXES - BROWSER_SUFFIXES
# People read the formats in this order (the common ones first).
_NAMED_ORDER = ("JPEG", "PNG", "WEBP", "HEIF", "AVIF")
# How refusals name the accepted formats, everywhere a person reads them: "JPEG, PNG, WebP, HEIC or AVIF".
ACCEPTED_FORMATS_TEXT = ", ".join(FORMAT_NAMES[fmt] for fmt in _NAMED_ORDER[:-1]) + " or " + FORMAT_NAMES[_NAMED_ORDER[-1]]
# A file input's accept attribute: the MIME types, then the suffixes (some systems give a HEIC file no type, or another).
UPLOAD_ACCEPT = ",".join([mime for fmt in _NAMED_ORDER for mime in FORMAT_MIME_TYPES[fmt]]
                         + [suffix for fmt in _NAMED_ORDER for suffix in FORMAT_SUFFIXES[fmt]])
# ISO-BMFF brands of HEIF-family stills (HEIC, HEIF, AVIF): a file that starts with one but does not open is damaged.
HEIF_FAMILY_BRANDS = frozenset({b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1", b"avif", b"avis"})
# Formats whose extra "frames" are further still images beside a primary one, never an animation (HEIF: see decode_image).
STILLS_WITH_MANY_IMAGES = frozenset({"HEIF"})
DEFAULT_MAX_PIXELS = 40_000_000
PAD_COLOR = (0, 0, 0)
# Above every model input size the project trains (at most 352 px), so nothing a model sees is lost;
# datasets store photos at this size, so they serve every model without a rebuild.
STORED_MAX_SIDE = 512


class ImageError(ValueError):
    """A file that is not an acceptable image; the message is meant for the person who sent it."""


def _max_pixels(max_pixels):
    return max_pixels if max_pixels is not None else setting("PETSITE_MAX_IMAGE_PIXELS", DEFAULT_MAX_PIXELS)


# The JPEG decoder's draft box for serving: large photos decode at a reduced DCT scale, still above every copy made from
# them (the 1024 px display copy, the 512 px model input).
DRAFT_BOX = (1024, 1024)
# The smallest box: a JPEG decodes at 1/8 scale (every coefficient is still entropy-decoded, so damage and truncation
# still fail), several times cheaper than a full decode. What validating an upload needs.
VALIDATION_DRAFT_BOX = (1, 1)


SMALLER_COPY = "Please upload a smaller copy of the photo (a phone's share or export option usually makes one)."


def open_image(source, max_pixels=None, allow_animated=False, draft=DRAFT_BOX):
    """Decode `source` (path, bytes or file object) into an upright RGB PIL image, or raise ImageError."""
    return decode_image(source, max_pixels=max_pixels, allow_animated=allow_animated, draft=draft)[0]


def decode_image(source, max_pixels=None, allow_animated=False, draft=DRAFT_BOX):
    """(upright RGB PIL image, file format, (width, height) as the file stores it) of `source`, or raise ImageError.

    `draft`: the box a JPEG may be decoded down to (at most 1/8 scale), or None for full size.
    """
    if isinstance(source, (bytes, bytearray)):
        source = io.BytesIO(source)
    start = _position(source)
    limit = _max_pixels(max_pixels)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(source, formats=ALLOWED_FORMATS)
            width, height = image.size
            if width * height > limit:
                raise ImageError(f"The image is too large ({width}x{height} pixels); the limit is {limit:,} pixels. {SMALLER_COPY}")
            if width < 1 or height < 1:
                raise ImageError("The image has no pixels.")
            # pillow-heif counts every top-level image of a HEIF file as a frame (an iPhone's stereo pair, a burst) and
            # opens positioned on the primary image, the photo itself: that one is decoded, the others ignored.
            # Other formats' frames are an animation (GIF-like WebP, AVIF sequences): refused.
            if image.format not in STILLS_WITH_MANY_IMAGES and getattr(image, "n_frames", 1) > 1 and not allow_animated:
                raise ImageError("Animated or multi-frame images are not accepted; please upload a single photo.")
            image_format = image.format
            if image_format == "JPEG" and draft:
                # Draft mode lets libjpeg decode large photos at a reduced scale, much faster.
                image.draft("RGB", draft)
            image.load()
            image = ImageOps.exif_transpose(image)
    except (ImageError, FileNotFoundError, IsADirectoryError, PermissionError):
        raise  # not a damaged image: the caller reports a missing or unreadable file
    except (UnidentifiedImageError, Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        if isinstance(exc, UnidentifiedImageError):
            # libheif refuses a cut-off or damaged HEIC/AVIF already when opening it: say damaged, not "not an image".
            if _heif_family_brand(source, start):
                raise ImageError("The image file is damaged or truncated and cannot be decoded.") from exc
            raise ImageError(f"This file is not a {ACCEPTED_FORMATS_TEXT} image.") from exc
        # Pillow's own decompression-bomb guard spoke first (its limit is far above ours): the same words as ours.
        raise ImageError(f"The image is too large; the limit is {limit:,} pixels. {SMALLER_COPY}") from exc
    except Exception as exc:  # damaged data can surface as any error inside a decoder or the EXIF parser
        raise ImageError("The image file is damaged or truncated and cannot be decoded.") from exc
    return to_rgb(image), image_format, (width, height)


def _position(source):
    """Where a file object's reading starts (0 for a path or a stream that cannot tell)."""
    try:
        return source.tell() if hasattr(source, "tell") else 0
    except (OSError, ValueError):
        return 0


def _heif_family_brand(source, start=0):
    """Whether `source` (path or file object at `start`) begins with an ISO-BMFF `ftyp` box naming a HEIF-family brand."""
    try:
        if hasattr(source, "read"):
            source.seek(start)
            head = source.read(64)
        else:
            with open(source, "rb") as handle:
                head = handle.read(64)
    except (OSError, ValueError):
        return False
    if len(head) < 16 or head[4:8] != b"ftyp":
        return False
    box_end = min(len(head), int.from_bytes(head[:4], "big"))
    # The major brand (bytes 8-12), then the compatible brands after the minor version (from byte 16).
    brands = [head[8:12]] + [head[i:i + 4] for i in range(16, box_end - 3, 4)]
    return any(brand in HEIF_FAMILY_BRANDS for brand in brands)


def to_rgb(image):
    """Convert any mode (palette, grayscale, CMYK, 16-bit, alpha) to 8-bit RGB; transparency becomes white."""
    if image.mode == "RGB":
        return image
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16/32-bit grayscale: scale to 8 bits rather than clipping.
        import numpy as np

        array = np.asarray(image, dtype="float64")
        peak = array.max() or 1.0
        scale = 255.0 / (65535.0 if peak > 255 else 255.0)
        return Image.fromarray((array * scale).clip(0, 255).astype("uint8")).convert("RGB")
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA"):
        image = image.convert("RGBA")
        background = Image.new("RGB", image.size, (255, 255, 255))
        background.paste(image, mask=image.getchannel("A"))
        return background
    return image.convert("RGB")


def fit_and_pad(image, size, fill=PAD_COLOR):
    """Fit `image` into a size x size frame keeping its aspect ratio, centred, padded with `fill`."""
    return ImageOps.pad(image, (size, size), method=Image.Resampling.BILINEAR, color=fill, centering=(0.5, 0.5))


def normalize(image, max_side=STORED_MAX_SIDE):
    """RGB, long side at most `max_side` (downscaled with the aspect ratio kept, never enlarged).

    Idempotent: a normalized picture saved losslessly and read back normalizes to itself.
    """
    image = to_rgb(image)
    width, height = image.size
    if max(width, height) <= max_side:
        return image
    scale = max_side / max(width, height)
    target = (max(1, round(width * scale)), max(1, round(height * scale)))
    return image.resize(target, Image.Resampling.BILINEAR, reducing_gap=3.0)


def image_to_array(image, size):
    """The model input for one image: uint8 array (size, size, 3) of the normalized, fitted, padded picture.

    Training, evaluation and serving all call this, so a model sees the same pixels everywhere.
    """
    import numpy as np

    return np.asarray(fit_and_pad(normalize(image), size), dtype="uint8")
