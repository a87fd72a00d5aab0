"""open_image: damaged EXIF data is a damaged image (ImageError), never another exception."""
import io
import random

import pytest
from PIL import Image

from ingestion.images import ImageError, open_image


def jpeg_with_exif():
    image = Image.new("RGB", (60, 40), (200, 30, 30))
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90
    exif[0x010F] = "camera maker"
    exif[0x0132] = "2026:11:24 12:00:00"
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", exif=exif.tobytes())
    return buffer.getvalue()


def test_exif_orientation_is_applied():
    assert open_image(jpeg_with_exif()).size == (40, 60)


@pytest.mark.filterwarnings("ignore::UserWarning")  # Pillow warns about each damaged tag it skips
def test_corrupted_exif_never_escapes_as_another_error():
    data = jpeg_with_exif()
    start = data.index(b"Exif\x00\x00")
    end = start + int.from_bytes(data[start - 2:start], "big")
    rng = random.Random(7)
    for _ in range(400):
        damaged = bytearray(data)
        for _ in range(rng.randint(1, 6)):
            damaged[rng.randrange(start + 6, end - 2)] = rng.randrange(256)
        try:
            image = open_image(bytes(damaged))
        except ImageError:
            continue
        assert image.mode == "RGB"


def test_an_exif_parser_crash_becomes_image_error(monkeypatch):
    import struct

    from PIL import ImageOps

    def crash(image):
        raise struct.error("unpack requires a buffer of 4 bytes")

    monkeypatch.setattr(ImageOps, "exif_transpose", crash)
    with pytest.raises(ImageError, match="damaged"):
        open_image(jpeg_with_exif())


def test_a_normalized_photo_stored_losslessly_gives_the_same_model_input_as_the_upload(tmp_path):
    """One preprocessing: what a dataset stores (normalize, PNG) and the upload itself give identical arrays."""
    import io

    import numpy as np
    from PIL import Image

    from ingestion.images import STORED_MAX_SIDE, image_to_array, normalize, open_image

    rng = np.random.default_rng(0)
    upload = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (900, 1400, 3), dtype="uint8")).save(upload, format="JPEG")
    stored = normalize(open_image(upload.getvalue()))
    assert max(stored.size) == STORED_MAX_SIDE
    stored.save(tmp_path / "cat1.png")
    for size in (224, 260, 288, 352):
        np.testing.assert_array_equal(image_to_array(open_image(upload.getvalue()), size), image_to_array(open_image(tmp_path / "cat1.png"), size))
