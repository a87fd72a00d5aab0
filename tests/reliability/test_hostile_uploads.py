"""Hostile and broken files: a clear 4xx, never a 500, never a hang; odd-but-valid images are classified correctly."""
import io
import re
import time
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from classifier import services
from classifier.models import Prediction
from tests.reliability import crafted as c

pytestmark = pytest.mark.django_db
API = "/api/predictions/"


def post(client, data, name="photo.jpg", content_type="image/jpeg", url=API):
    started = time.monotonic()
    response = client.post(url, {"image": SimpleUploadedFile(name, data, content_type=content_type)})
    elapsed = time.monotonic() - started
    assert elapsed < 10, f"upload took {elapsed:.1f}s"
    return response


def files_under(root):
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def assert_refused(response, settings, status=400, words=()):
    assert response.status_code == status, response.content[:300]
    message = response.json()["error"]
    assert message and len(message) < 300
    for word in words:
        assert word.lower() in message.lower(), message
    assert Prediction.objects.count() == 0
    assert files_under(settings.MEDIA_ROOT) == [], "a refused upload left files behind"


def truncated(data, fraction):
    return data[: int(len(data) * fraction)]


REFUSED = {
    "text renamed .jpg": (b"hello, I am not a photo\n" * 20, "photo.jpg", "image/jpeg", "not a JPEG"),
    "pdf renamed .png": (c.PDF, "scan.png", "image/png", "not a JPEG"),
    "zip renamed .webp": (c.ZIP, "x.webp", "image/webp", "not a JPEG"),
    "gif renamed .jpg": (c.image_bytes("GIF"), "photo.jpg", "image/jpeg", "not a JPEG"),
    "bmp renamed .png": (c.image_bytes("BMP"), "photo.png", "image/png", "not a JPEG"),
    "tiff renamed .jpg": (c.image_bytes("TIFF"), "photo.jpg", "image/jpeg", "not a JPEG"),
    "html with .jpg": (c.HTML, "cat.jpg", "image/jpeg", "not a JPEG"),
    "svg with .png": (c.SVG, "cat.png", "image/png", "not a JPEG"),
    "svg as image/svg+xml": (c.SVG, "cat.svg", "image/svg+xml", "not a JPEG"),
    "truncated jpeg (60%)": (truncated(c.noisy_jpeg(), 0.6), "cut.jpg", "image/jpeg", "damaged"),
    "truncated jpeg (header only)": (truncated(c.noisy_jpeg(), 0.02), "cut.jpg", "image/jpeg", ""),
    "jpeg cut inside the scan, grey-padded by libjpeg": (c.corrupt_jpeg_scan(), "bad.jpg", "image/jpeg", "damaged"),
    "truncated png": (truncated(c.noisy_png(), 0.5), "cut.png", "image/png", "damaged"),
    "png with bad checksum": (c.corrupt_png_crc(), "bad.png", "image/png", ""),
    "png with garbage image data": (c.corrupt_png_idat(), "bad.png", "image/png", "damaged"),
    "animated gif": (c.animated("GIF"), "anim.gif", "image/gif", ""),
    "animated png (APNG)": (c.animated("PNG"), "anim.png", "image/png", "animated"),
    "animated webp": (c.animated("WEBP"), "anim.webp", "image/webp", "animated"),
    "multi-page tiff": (c.multipage_tiff(), "pages.tif", "image/tiff", ""),
    "png header bomb (10 gigapixels)": (c.png_header_bomb(), "bomb.png", "image/png", "too large; the limit is 40,000,000 pixels. Please upload a smaller copy"),
    "jpeg header bomb (3.6 gigapixels)": (c.jpeg_header_bomb(), "bomb.jpg", "image/jpeg", "the limit is 40,000,000 pixels"),
}


@pytest.mark.parametrize("case", list(REFUSED))
def test_hostile_file_is_refused_with_a_clear_400(client, settings, case):
    data, name, content_type, word = REFUSED[case]
    response = post(client, data, name, content_type)
    assert_refused(response, settings, 400, [word] if word else [])


def test_zero_byte_file_is_refused(client, settings):
    assert_refused(post(client, b"", "empty.jpg"), settings, 400, ["empty"])


def test_no_file_is_refused(client, settings):
    assert_refused(client.post(API, {}), settings, 400, ["no file"])


def test_decompression_bomb_is_refused_from_the_header_before_decoding(client, settings, monkeypatch):
    """A real, valid 9-megapixel PNG of zeros (a few KB) over a 4-megapixel limit: refused without decoding."""
    settings.PETSITE_MAX_IMAGE_PIXELS = 4_000_000
    data = c.zero_png_bomb(3000)
    assert len(data) < 100_000
    decoded = []
    original_load = Image.Image.load

    def spy_load(image):
        if image.size == (3000, 3000):
            decoded.append(image.size)
        return original_load(image)

    monkeypatch.setattr(Image.Image, "load", spy_load)
    from PIL import PngImagePlugin

    monkeypatch.setattr(PngImagePlugin.PngImageFile, "load", spy_load)
    assert_refused(post(client, data, "bomb.png", "image/png"), settings, 400, ["too large", "3000x3000"])
    assert decoded == [], "the bomb was decoded before being refused"


def test_file_over_the_size_limit_is_refused_413(client, settings):
    settings.PETSITE_MAX_UPLOAD_BYTES = 50_000
    settings.PETSITE_MAX_REQUEST_BYTES = 60_000
    big = c.noisy_jpeg((400, 400))
    assert len(big) > 60_000
    response = post(client, big, "big.jpg")
    assert_refused(response, settings, 413, ["too big"])


def _wsgi_post(path, body_stream, content_length, content_type="multipart/form-data; boundary=BOUNDARY"):
    from django.core.handlers.wsgi import WSGIHandler

    environ = {
        "REQUEST_METHOD": "POST", "PATH_INFO": path, "SCRIPT_NAME": "", "QUERY_STRING": "",
        "SERVER_NAME": "testserver", "SERVER_PORT": "80", "SERVER_PROTOCOL": "HTTP/1.1", "REMOTE_ADDR": "127.0.0.1",
        "CONTENT_TYPE": content_type, "CONTENT_LENGTH": str(content_length),
        "wsgi.input": body_stream, "wsgi.url_scheme": "http", "wsgi.errors": io.StringIO(),
        "wsgi.multithread": False, "wsgi.multiprocess": False, "wsgi.run_once": False, "wsgi.version": (1, 0),
    }
    status = []
    body = b"".join(WSGIHandler()(environ, lambda s, headers, exc_info=None: status.append(s)))
    return int(status[0].split()[0]), body


class CountingStream(io.RawIOBase):
    """An endless request body that records how much of it the server read."""

    def __init__(self, prefix=b""):
        self.prefix = prefix
        self.read_bytes = 0

    def readable(self):
        return True

    def read(self, size=-1):
        size = 65536 if size is None or size < 0 else size
        chunk = (self.prefix[self.read_bytes:self.read_bytes + size] or b"")
        chunk += b"\xff" * (size - len(chunk))
        self.read_bytes += len(chunk)
        return chunk

    def readline(self, size=-1):
        return self.read(size if size and size > 0 else 1024)


@pytest.mark.parametrize("path", [API, "/"])
def test_huge_announced_body_is_refused_without_reading_it(settings, path):
    """1 GB announced: the answer is 413 and not one byte of the body is read (before CSRF or the parser touch it)."""
    stream = CountingStream()
    status, body = _wsgi_post(path, stream, 1_000_000_000)
    assert status == 413
    assert b"too big" in body.lower()
    assert stream.read_bytes == 0
    assert Prediction.objects.count() == 0


def test_oversized_upload_is_cut_off_while_streaming(settings):
    """A body the middleware lets through (request limit raised) is still cut off by the upload handler
    just past the file limit, instead of being spooled whole."""
    settings.PETSITE_MAX_UPLOAD_BYTES = 100_000
    settings.PETSITE_MAX_REQUEST_BYTES = 0  # middleware off: only the streaming guard is left
    prefix = (b"--BOUNDARY\r\nContent-Disposition: form-data; name=\"image\"; filename=\"big.jpg\"\r\n"
              b"Content-Type: image/jpeg\r\n\r\n")
    stream = CountingStream(prefix)
    status, body = _wsgi_post(API, stream, 500_000_000)
    assert status == 413, body
    assert b"too big" in body.lower()
    assert stream.read_bytes < 1_000_000, f"read {stream.read_bytes} bytes of an oversized upload"
    assert Prediction.objects.count() == 0
    assert files_under(settings.MEDIA_ROOT) == []


def test_too_many_files_in_one_request_is_refused(client, settings):
    files = [SimpleUploadedFile(f"{i}.jpg", c.image_bytes(), content_type="image/jpeg") for i in range(20)]
    response = client.post(API, {"image": files})
    assert response.status_code == 400 and "one photo per request" in response.json()["error"]
    assert Prediction.objects.count() == 0


def test_a_form_body_that_cannot_be_parsed_gets_a_json_error(client):
    response = client.generic("POST", API, b"--x\r\nnot a form", content_type="multipart/form-data")  # no boundary
    assert response.status_code == 400 and "multipart/form-data" in response.json()["error"]
    assert Prediction.objects.count() == 0


# --- Valid but unusual images are accepted and classified correctly ---------------------------------------------

VALID = {
    "cmyk jpeg (red)": (c.image_bytes("JPEG", (0, 235, 235, 0), mode="CMYK"), "cat"),
    "16-bit rgb png (green)": (c.png16_rgb((5000, 60000, 5000)), "dog"),
    "palette png (blue)": (c.image_bytes("PNG", c.BLUE, mode="P"), "fish"),
    "rgba png, opaque (red)": (c.image_bytes("PNG", (*c.RED, 255), mode="RGBA"), "cat"),
    "rgba webp (green)": (c.image_bytes("WEBP", (*c.GREEN, 255), mode="RGBA", lossless=True), "dog"),
    "lossy webp (blue)": (c.image_bytes("WEBP", c.BLUE, quality=90), "fish"),
    "progressive jpeg (green)": (c.image_bytes("JPEG", c.GREEN, progressive=True), "dog"),
}


def _palette_with_transparency():
    image = Image.new("P", (64, 48), 1)
    image.putpalette([0, 0, 0, *c.RED] + [0, 0, 0] * 254)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", transparency=0)
    return buffer.getvalue()


VALID["palette png with transparency (red)"] = (_palette_with_transparency(), "cat")


def upload_and_classify(client, data, name="photo.png"):
    response = post(client, data, name, "application/octet-stream")
    assert response.status_code == 202, response.content[:300]
    prediction = services.classify_prediction(response.json()["id"])
    assert prediction.status == Prediction.Status.DONE, prediction.error
    return prediction


@pytest.mark.parametrize("case", list(VALID))
def test_unusual_valid_image_is_classified_correctly(client, case):
    data, expected = VALID[case]
    prediction = upload_and_classify(client, data)
    assert prediction.label == expected, (prediction.label, prediction.probabilities)


@pytest.mark.parametrize(
    "data",
    [c.png16_gray(40000), c.image_bytes("JPEG", 128, mode="L"), c.image_bytes("PNG", (90, 200), mode="LA"), c.image_bytes("PNG", 0, mode="1")],
    ids=["16-bit grayscale png", "grayscale jpeg", "grayscale+alpha png", "1-bit png"],
)
def test_grayscale_images_are_accepted_and_classified(client, data):
    prediction = upload_and_classify(client, data)
    probabilities = prediction.probabilities
    # Grey has no dominant channel: cat, dog and fish are equally likely for the colour-reading test model.
    assert abs(probabilities["cat"] - probabilities["dog"]) < 0.02 and abs(probabilities["dog"] - probabilities["fish"]) < 0.02


@pytest.mark.parametrize("orientation", [6, 8, 3])
def test_exif_rotated_photo_is_classified_upright(client, monkeypatch, orientation):
    """Stored sideways with an EXIF Orientation tag; the model (and the thumbnail) must see it upright:
    red on top, blue at the bottom, portrait."""
    seen = []
    real_classify = services.classify_image

    def spy(image, *args, **kwargs):
        seen.append(image.copy())
        return real_classify(image, *args, **kwargs)

    monkeypatch.setattr(services, "classify_image", spy)
    prediction = upload_and_classify(client, c.exif_rotated_jpeg(orientation), "rotated.jpg")
    (image,) = seen
    assert image.size == (60, 90), "the model was given the photo sideways"
    top, bottom = image.getpixel((30, 10)), image.getpixel((30, 80))
    assert top[0] > 150 and top[2] < 80, top
    assert bottom[2] > 150 and bottom[0] < 80, bottom
    with prediction.thumbnail.open("rb") as handle:
        thumb = Image.open(handle)
        thumb.load()
    assert thumb.height > thumb.width
    assert thumb.getpixel((thumb.width // 2, 2))[0] > 150


@pytest.mark.parametrize(
    "name",
    [
        "../../../../etc/passwd.jpg",
        "..\\..\\windows\\win.ini.jpg",
        "/absolute/path/photo.jpg",
        "<script>alert(1)</script>.jpg",
        "photo\u202egpj.exe",
        "sp ace; rm -rf ~ $(id) `x`.jpg",
        "\u540d\u524d-\U0001f408.jpg",
        "x" * 1000 + ".jpg",
        ".htaccess",
        "photo.php.jpg",
    ],
)
def test_uploads_are_stored_under_server_generated_names(client, settings, name):
    response = post(client, c.image_bytes("JPEG", c.RED), name)
    assert response.status_code == 202, response.content
    prediction = services.classify_prediction(response.json()["id"])  # the worker makes the copies
    assert re.fullmatch(r"uploads/\d{4}/\d{2}/\d{2}/[0-9a-f]{32}\.jpg", prediction.image.name), prediction.image.name
    # The copies too: random names (a uuid), nothing guessable like display/display.jpg.
    assert re.fullmatch(r"thumbnails/[0-9a-f]{32}\.jpg", prediction.thumbnail.name), prediction.thumbnail.name
    assert re.fullmatch(r"display/[0-9a-f]{32}\.jpg", prediction.display_image.name), prediction.display_image.name
    # Every file stored (original, thumbnail, display copy) is one of those server-named ones, under MEDIA_ROOT.
    media_root = Path(settings.MEDIA_ROOT)
    stored = files_under(media_root)
    named = [prediction.image.name, prediction.thumbnail.name, prediction.display_image.name]
    assert stored == sorted(media_root / name for name in named), stored
    assert all(p.resolve().is_relative_to(media_root.resolve()) for p in stored)
    shown = prediction.original_filename
    assert "/" not in shown and "\\" not in shown and "<" not in shown and len(shown) <= 200
    assert all(ch.isprintable() for ch in shown)


def test_format_recorded_comes_from_the_decoder_not_the_name(client):
    response = post(client, c.image_bytes("PNG", c.GREEN), "looks-like.jpg", "image/jpeg")
    prediction = Prediction.objects.get(pk=response.json()["id"])
    assert prediction.image_format == "PNG" and prediction.image.name.endswith(".png")


def test_the_upload_form_shows_a_clear_error_not_a_500(client, settings):
    response = client.post("/", {"image": SimpleUploadedFile("cat.jpg", c.HTML, content_type="image/jpeg")})
    assert response.status_code == 400
    assert b"not a JPEG, PNG, WebP, HEIC or AVIF image" in response.content
    assert Prediction.objects.count() == 0


def _mutants(seed=11, count=120):
    """Seeded random corruptions (byte flips, cuts, splices) of small JPEG/PNG/WebP files with EXIF."""
    import random

    rng = random.Random(seed)
    exif = Image.Exif()
    exif[0x0112] = 6
    bases = [
        c.image_bytes("JPEG", c.RED, (40, 30), exif=exif.tobytes()),
        c.image_bytes("JPEG", c.GREEN, (40, 30), progressive=True),
        c.image_bytes("PNG", c.BLUE, (40, 30)),
        c.image_bytes("PNG", (*c.RED, 128), (40, 30), mode="RGBA"),
        c.image_bytes("WEBP", c.GREEN, (40, 30)),
        c.exif_rotated_jpeg(8),
    ]
    for index in range(count):
        data = bytearray(bases[index % len(bases)])
        kind = index % 3
        if kind == 0:
            for _ in range(rng.randint(1, 8)):
                data[rng.randrange(len(data))] = rng.randrange(256)
        elif kind == 1:
            data = data[: rng.randrange(1, len(data))]
        else:
            start = rng.randrange(len(data))
            data[start:start] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 64)))
        yield bytes(data)


def test_randomly_corrupted_images_never_crash_or_hang_validation(settings):
    """Every mutant is either accepted as a decodable image or refused with UploadError: no other exception."""
    from classifier.uploads import UploadError, validate_upload

    accepted = refused = 0
    for data in _mutants():
        started = time.monotonic()
        try:
            upload = validate_upload(SimpleUploadedFile("m.jpg", data))
        except UploadError as exc:
            assert exc.status == 400 and exc.message
            refused += 1
        else:
            assert upload.image.mode == "RGB" and upload.format in ("JPEG", "PNG", "WEBP")
            accepted += 1
        assert time.monotonic() - started < 5
    assert refused > 0 and accepted + refused == 120


def test_a_full_disk_refuses_the_upload_clearly_and_leaves_no_half_written_file(client, settings, monkeypatch):
    import errno

    from django.core.files.storage import FileSystemStorage

    earlier = services.submit_upload(SimpleUploadedFile("first.png", c.image_bytes("PNG"), content_type="image/png"))
    kept = files_under(settings.MEDIA_ROOT)
    save = FileSystemStorage._save

    def disk_fills_midway(self, name, content):
        path = Path(self.path(name))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content.read()[:100])  # what a full disk leaves: part of the file
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(FileSystemStorage, "_save", disk_fills_midway)
    response = client.post(API, {"image": SimpleUploadedFile("a.png", c.image_bytes("PNG"), content_type="image/png")})
    assert response.status_code == 503 and "could not store your photo" in response.json()["error"]
    page = client.post("/", {"image": SimpleUploadedFile("b.png", c.image_bytes("PNG"), content_type="image/png")})
    assert page.status_code == 503 and "could not store your photo" in page.content.decode()
    monkeypatch.setattr(FileSystemStorage, "_save", save)
    assert list(Prediction.objects.values_list("pk", flat=True)) == [earlier.pk]  # nothing stored, nothing lost
    assert files_under(settings.MEDIA_ROOT) == kept
