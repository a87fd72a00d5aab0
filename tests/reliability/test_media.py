"""Stored uploads are served as inert images: safe Content-Type, nosniff, sandboxed, nothing else reachable."""
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from classifier import services
from classifier.models import Prediction
from tests.reliability import crafted as c

pytestmark = pytest.mark.django_db


@pytest.fixture
def stored(client):
    response = client.post("/api/predictions/", {"image": SimpleUploadedFile("a.png", c.image_bytes("PNG"), content_type="text/html")})
    assert response.status_code == 202
    return services.classify_prediction(response.json()["id"])  # the worker makes the thumbnail


def test_upload_is_served_with_nosniff_and_a_safe_content_type(client, stored):
    for field in (stored.image, stored.thumbnail):
        response = client.get(field.url)
        assert response.status_code == 200
        assert response["Content-Type"] in {"image/jpeg", "image/png", "image/webp"}
        assert response["X-Content-Type-Options"] == "nosniff"
        assert "sandbox" in response["Content-Security-Policy"]
        assert b"".join(response.streaming_content)[:4] in (b"\x89PNG", b"\xff\xd8\xff\xe0", b"\xff\xd8\xff\xdb", b"\xff\xd8\xff\xe1")


@pytest.mark.parametrize(
    "name, content",
    [("uploads/evil.html", c.HTML), ("uploads/evil.svg", c.SVG), ("uploads/evil.js", b"alert(1)"), ("uploads/noext", c.HTML)],
)
def test_non_image_files_in_media_are_never_served(client, settings, name, content):
    path = settings.MEDIA_ROOT / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    assert client.get(settings.MEDIA_URL + name).status_code == 404


def test_html_saved_under_an_image_name_is_still_served_as_an_image(client, settings):
    """Even if something ever wrote HTML to a .jpg, the browser is told it is a JPEG and not to sniff."""
    path = settings.MEDIA_ROOT / "uploads" / "x.jpg"
    path.parent.mkdir(parents=True)
    path.write_bytes(c.HTML)
    response = client.get(settings.MEDIA_URL + "uploads/x.jpg")
    assert response["Content-Type"] == "image/jpeg" and response["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize("path", ["../petsite/settings.py", "..%2fpetsite%2fsettings.py", "uploads/../../db.sqlite3.jpg", "/etc/passwd.jpg"])
def test_media_path_traversal_is_refused(client, settings, path):
    response = client.get(settings.MEDIA_URL + path)
    assert response.status_code == 404


def test_pages_send_nosniff_and_frame_denial(client):
    response = client.get("/")
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["X-Frame-Options"] == "DENY"
