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


@pytest.fixture
def staff(client, django_user_model):
    client.force_login(django_user_model.objects.create_user("staffer", password="pw-staff-12345", is_staff=True))
    return client


def test_upload_is_served_with_nosniff_and_a_safe_content_type(staff, stored):
    client = staff  # the original is staff's (and its uploader's) alone
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


def test_html_saved_under_an_image_name_is_still_served_as_an_image(staff, settings):
    client = staff
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


def test_an_original_with_its_camera_location_is_its_uploaders_and_staffs_alone(client, settings, django_user_model):
    from io import BytesIO

    from django.test import Client
    from PIL import Image

    exif = Image.Exif()
    exif[0x010F] = "TestPhoneMaker"
    exif.get_ifd(0x8825).update({1: "N", 2: (51.0, 30.0, 12.0)})  # GPS: latitude
    buffer = BytesIO()
    Image.new("RGB", (64, 48), (200, 30, 30)).save(buffer, "JPEG", exif=exif)
    uploader = client
    response = uploader.post("/", {"image": SimpleUploadedFile("me.jpg", buffer.getvalue(), content_type="image/jpeg")},
                             HTTP_ACCEPT="application/json")
    assert response.status_code in (200, 201, 202), response.content[:300]
    prediction = services.classify_prediction(Prediction.objects.get().pk)
    original = prediction.image.url
    assert b"TestPhoneMaker" in b"".join(uploader.get(original).streaming_content)  # the uploader's own file, as sent
    stranger = Client()
    for url in (original, original.replace("/uploads/", "/thumbnails/../uploads/")):
        assert stranger.get(url).status_code == 404
    for copy in (prediction.display_image.url, prediction.thumbnail.url):  # what the pages show: no location in it
        body = b"".join(stranger.get(copy).streaming_content)
        assert b"TestPhoneMaker" not in body and not Image.open(BytesIO(body)).getexif().get_ifd(0x8825)
    api_row = stranger.get(f"/api/predictions/{prediction.pk}/").json()
    assert stranger.get(api_row["display_url"]).status_code == 200
    staff = Client()
    staff.force_login(django_user_model.objects.create_user("staff2", password="pw-staff-12345", is_staff=True))
    assert staff.get(original).status_code == 200


def test_staff_only_media_is_not_served_to_everyone(client, settings, django_user_model):
    from django.test import Client

    for name in ("models/reports/v1-confusion.png", "scraped/cat/flickr-1.jpg"):
        path = settings.MEDIA_ROOT / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(c.image_bytes("PNG"))
        assert client.get(settings.MEDIA_URL + name).status_code == 404
        staff = Client()
        staff.force_login(django_user_model.objects.get_or_create(username="staff3", defaults={"is_staff": True})[0])
        response = staff.get(settings.MEDIA_URL + name)
        assert response.status_code == 200 and response["Cache-Control"].startswith("private")  # no shared cache keeps it
