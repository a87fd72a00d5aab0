"""Helpers for the site tests (embedded mode: no broker; classification is run directly where needed)."""
import contextlib
import struct
import zlib

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from tests.conftest import color_image_bytes

RED, GREEN, BLUE = (230, 20, 20), (20, 230, 20), (20, 20, 230)


def upload_file(name="photo.jpg", data=None, content_type="image/jpeg"):
    return SimpleUploadedFile(name, color_image_bytes(RED) if data is None else data, content_type=content_type)


def media_files(settings):
    return sorted(p for p in settings.MEDIA_ROOT.rglob("*") if p.is_file())


def png_bomb(width=20000, height=20000):
    """A valid 1-bit PNG of width x height black pixels: a few tens of KB on disk, hundreds of megapixels decoded."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    row = b"\x00" * (1 + (width + 7) // 8)
    compressor = zlib.compressobj(9)
    parts = []
    for start in range(0, height, 1000):
        parts.append(compressor.compress(row * min(1000, height - start)))
    parts.append(compressor.flush())
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", b"".join(parts)) + chunk(b"IEND", b"")


@pytest.fixture
def make_prediction(db):
    """Store an upload of a solid colour and (by default) classify it with the tiny model."""
    from classifier import services

    def make(color=RED, classify=True, name="photo.jpg"):
        prediction = services.submit_upload(upload_file(name, color_image_bytes(color)))
        if classify:
            prediction = services.classify_prediction(prediction.pk)
        return prediction

    return make


@pytest.fixture
def staff_user(db, django_user_model):
    return django_user_model.objects.create_user("reviewer", password="pw-reviewer-123", is_staff=True, is_superuser=True)


@pytest.fixture
def staff_client(client, staff_user):
    client.force_login(staff_user)
    return client


def jpeg_bytes(size=(64, 48), color=RED):
    return color_image_bytes(color, size=size)


def png_bytes(color=RED, size=(64, 48)):
    return color_image_bytes(color, size=size, fmt="PNG")


def webp_bytes(color=RED):
    return color_image_bytes(color, fmt="WEBP")


def gif_bytes():
    return color_image_bytes(RED, fmt="GIF", mode="P")




def own(client, *predictions):
    """Make `client`'s browser the uploader of `predictions` (as the upload view records it: its token's hash on the row)."""
    import hashlib

    from classifier.models import Prediction
    from classifier.ownership import UPLOADER

    session = client.session
    token = session.get(UPLOADER) or "test-browser-token"
    session[UPLOADER] = token
    session.save()
    Prediction.objects.filter(pk__in=[p.pk for p in predictions]).update(uploader=hashlib.sha256(token.encode()).hexdigest())


@contextlib.contextmanager
def chromium(monkeypatch, **context):
    """A page of Debian's headless Chromium (Playwright) with `context` (viewport, is_mobile ...), for tests against
    Django's live server; the test may read and write rows while Playwright's event loop runs."""
    from playwright.sync_api import sync_playwright

    from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS

    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_context(**context).new_page()
            page.set_default_timeout(15_000)
            yield page
        finally:
            browser.close()
