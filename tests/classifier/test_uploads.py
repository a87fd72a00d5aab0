"""Bad uploads: a clear 4xx message on the form and the API, no row and no file stored, never a 500."""
import pytest
from django.urls import reverse

from classifier.models import Prediction
from tests.classifier.conftest import gif_bytes, jpeg_bytes, media_files, png_bomb, png_bytes, upload_file, webp_bytes
from tests.conftest import pet_photos

pytestmark = pytest.mark.django_db

FORM = reverse("classifier:home")
API = reverse("api:predictions")


def truncated_jpeg():
    whole = pet_photos("cat", 1)[0].read_bytes()
    return whole[: len(whole) // 2]


BAD_UPLOADS = {
    "text file named .jpg": ("notes.jpg", b"Dear diary, today I took no photos.\n" * 10, "This file is not a JPEG, PNG, WebP, HEIC or AVIF image."),
    "html named .png": ("page.png", b"<html><script>alert(1)</script></html>", "This file is not a JPEG, PNG, WebP, HEIC or AVIF image."),
    "GIF (not an accepted format)": ("anim.gif", gif_bytes(), "This file is not a JPEG, PNG, WebP, HEIC or AVIF image."),
    "truncated JPEG": ("half.jpg", truncated_jpeg(), "damaged or truncated"),
    "empty file": ("empty.jpg", b"", "The file is empty."),
    "decompression bomb": ("bomb.png", png_bomb(), "too large"),
}


def post(client, endpoint, name, data, content_type="image/jpeg"):
    return client.post(endpoint, {"image": upload_file(name, data, content_type)})


def assert_nothing_stored(settings):
    assert Prediction.objects.count() == 0
    assert media_files(settings) == []


@pytest.mark.parametrize("case", BAD_UPLOADS, ids=list(BAD_UPLOADS))
def test_bad_upload_through_the_form_shows_a_clear_message(client, settings, case):
    name, data, message = BAD_UPLOADS[case]
    response = post(client, FORM, name, data)
    assert response.status_code == 400
    html = response.content.decode()
    assert 'role="alert" id="upload-error">' in html
    assert message in html
    assert f"{name}: " in html  # the message names the file
    assert 'id="upload-form"' in html  # the form is shown again to retry
    assert_nothing_stored(settings)


@pytest.mark.parametrize("case", BAD_UPLOADS, ids=list(BAD_UPLOADS))
def test_bad_upload_through_the_api_answers_a_json_error(client, settings, case):
    name, data, message = BAD_UPLOADS[case]
    response = post(client, API, name, data)
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert message in response.json()["error"]
    assert_nothing_stored(settings)


@pytest.mark.parametrize("endpoint", [FORM, API])
def test_missing_field_is_refused(client, settings, endpoint):
    response = client.post(endpoint, {"picture": upload_file()})
    assert response.status_code == 400
    body = response.json()["error"] if endpoint == API else response.content.decode()
    assert "No file was sent" in body
    assert_nothing_stored(settings)


@pytest.mark.parametrize("endpoint", [FORM, API])
def test_file_over_the_size_limit_is_refused(client, settings, endpoint):
    settings.PETSITE_MAX_UPLOAD_BYTES = 2000
    data = pet_photos("dog", 1)[0].read_bytes()
    assert len(data) > 2000
    response = post(client, endpoint, "big.jpg", data)
    assert response.status_code == 413
    body = response.json()["error"] if endpoint == API else response.content.decode()
    assert "too big" in body and "limit" in body
    assert_nothing_stored(settings)


@pytest.mark.parametrize("endpoint", [FORM, API])
def test_image_over_the_pixel_limit_is_refused(client, settings, endpoint):
    settings.PETSITE_MAX_IMAGE_PIXELS = 1000
    response = post(client, endpoint, "wide.jpg", jpeg_bytes(size=(64, 48)))
    assert response.status_code == 400
    body = response.json()["error"] if endpoint == API else response.content.decode()
    assert "too large (64x48 pixels)" in body
    assert_nothing_stored(settings)


@pytest.mark.parametrize(
    "name, data, content_type, fmt, suffix",
    [
        ("photo.jpg", jpeg_bytes(), "image/jpeg", "JPEG", ".jpg"),
        ("renamed.jpg", png_bytes(), "image/jpeg", "PNG", ".png"),  # a PNG named .jpg: decoded, not judged by name
        ("noext", png_bytes(), "application/octet-stream", "PNG", ".png"),
        ("photo.webp", webp_bytes(), "image/webp", "WEBP", ".webp"),
    ],
)
def test_good_images_are_accepted_whatever_their_name(client, settings, name, data, content_type, fmt, suffix):
    response = post(client, API, name, data, content_type)
    assert response.status_code == 202, response.content
    prediction = Prediction.objects.get(pk=response.json()["id"])
    assert prediction.image_format == fmt
    assert prediction.image.name.endswith(suffix)
    assert (settings.MEDIA_ROOT / prediction.image.name).read_bytes() == data


def test_form_upload_redirects_to_the_prediction_page(client):
    response = post(client, FORM, "photo.jpg", jpeg_bytes())
    prediction = Prediction.objects.get()
    assert response.status_code == 302
    assert response["Location"] == prediction.get_absolute_url()
    page = client.get(response["Location"])
    assert page.status_code == 200
    assert "Classifying…" in page.content.decode()
    assert 'data-status="pending"' in page.content.decode()
