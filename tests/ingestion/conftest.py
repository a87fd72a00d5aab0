"""Fixtures for ingestion tests: fast scraper settings and a local stand-in for Flickr and Imgur."""
import io
import shutil
from pathlib import Path

import pytest
from PIL import Image

from tests.conftest import PETS, pet_photos

PAGES = Path(__file__).resolve().parent / "pages"


@pytest.fixture(autouse=True)
def fast_scraper(settings):
    settings.PETSITE_SCRAPE_DELAY_SECONDS = 0
    settings.PETSITE_SCRAPE_BACKOFF_SECONDS = 0
    settings.PETSITE_SCRAPE_RETRIES = 1
    settings.PETSITE_SCRAPE_TIMEOUT_SECONDS = 5
    settings.PETSITE_SCRAPE_ALLOWED_HOSTS = ["localhost"]
    settings.PETSITE_SCRAPE_MIN_SIDE = 100
    settings.PETSITE_NEAR_DUPLICATE_DISTANCE = 6


def pet(name):
    """Bytes of a real photo, e.g. pet("cat_10")."""
    return (PETS / name.split("_")[0] / f"{name}.jpg").read_bytes()


def make_source(root, per_class=8, classes=("cat", "dog", "hamster"), skip=0):
    """A dataset source folder: <root>/<class>/ with real photos; `skip` leaves out the first photos (to add them later)."""
    for label in classes:
        folder = root / label
        folder.mkdir(parents=True, exist_ok=True)
        for photo in pet_photos(label, per_class)[skip:]:
            shutil.copy(photo, folder / photo.name)
    return root


def reencoded(name, scale=2 / 3, fmt="JPEG", quality=70):
    """The photo resized by `scale` and saved again: a near duplicate, not an exact one."""
    image = Image.open(io.BytesIO(pet(name))).convert("RGB")
    if scale != 1:
        image = image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))))
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **({"quality": quality} if fmt in ("JPEG", "WEBP") else {}))
    return buffer.getvalue()


class FakeSite:
    """pytest-httpserver serving saved result pages (with {{host}} filled in) and photos."""

    def __init__(self, httpserver):
        self.server = httpserver
        # Like a real image host: a size or photo it does not have is a 404 (the plugin resets this per test).
        self.server.no_handler_status_code = 404
        self.host = f"{httpserver.host}:{httpserver.port}"
        self.base_url = httpserver.url_for("").rstrip("/")

    def render(self, template):
        return (PAGES / template).read_text().replace("{{host}}", self.host)

    def page(self, path, template, query_string=None, status=200):
        html = self.render(template)
        self.server.expect_request(path, query_string=query_string).respond_with_data(
            html, status=status, content_type="text/html; charset=utf-8"
        )

    def photo(self, path, data, content_type="image/jpeg"):
        self.server.expect_request(path).respond_with_data(data, content_type=content_type)

    def missing(self, path, status=404):
        self.server.expect_request(path).respond_with_data("Not Found", status=status, content_type="text/plain")

    def handler(self, path, function, query_string=None):
        self.server.expect_request(path, query_string=query_string).respond_with_handler(function)

    def requested(self):
        return [request.path for request, _response in self.server.log]

    def url(self, path):
        return f"{self.base_url}{path}"


@pytest.fixture
def site(httpserver):
    return FakeSite(httpserver)


FLICKR_PHOTOS = {
    "/65535/5100001_aaaa1111_n.jpg": lambda: pet("cat_1"),
    "/65535/5100002_bbbb2222_n.jpg": lambda: pet("cat_10"),
    "/65535/5100003_cccc3333_z.jpg": lambda: pet("cat_100"),
    "/65535/5100011_tiny0000_s.jpg": lambda: reencoded("cat_101", scale=0.25),
    "/65535/5100004_dddd4444_n.jpg": lambda: pet("cat_102"),
    "/65535/5100005_eeee5555_n.jpg": lambda: pet("cat_103"),
    "/65535/5100006_ffff6666_n.jpg": lambda: pet("cat_104"),
    "/65535/5100007_gggg7777_n.jpg": lambda: pet("cat_10"),  # exact duplicate of 5100002
    "/65535/5100008_hhhh8888_n.jpg": lambda: reencoded("cat_100"),  # near duplicate of 5100003
    "/65535/5100009_iiii9999_c.jpg": lambda: pet("cat_105"),
}
FLICKR_STORED = [
    "/65535/5100001_aaaa1111_n.jpg",
    "/65535/5100002_bbbb2222_n.jpg",
    "/65535/5100003_cccc3333_z.jpg",
    "/65535/5100004_dddd4444_n.jpg",
    "/65535/5100005_eeee5555_n.jpg",
    "/65535/5100006_ffff6666_n.jpg",
    "/65535/5100009_iiii9999_c.jpg",
]
FLICKR_DEAD = "/65535/5100010_dead0000_n.jpg"


def serve_flickr(site, page2=None):
    """Three Flickr result pages for "cat"; page 3 repeats page 2 (the end). `page2` may replace page 2."""
    site.page("/search/", "flickr_search_page1.html", {"text": "cat", "page": "1"})
    if page2 is None:
        site.page("/search/", "flickr_search_page2.html", {"text": "cat", "page": "2"})
    else:
        site.handler("/search/", page2, {"text": "cat", "page": "2"})
    site.page("/search/", "flickr_search_page3.html", {"text": "cat", "page": "3"})
    for path, data in FLICKR_PHOTOS.items():
        site.photo(path, data())
    site.missing(FLICKR_DEAD)

