"""iPhone (HEIC) and web (AVIF) photos: accepted with the same limits, classified, and shown only as JPEG copies."""
import io

import pytest
from django.urls import reverse
from PIL import Image

from classifier import services
from classifier.models import Prediction
from ingestion.images import open_image
from tests.classifier.conftest import RED, media_files, upload_file

pytestmark = pytest.mark.django_db

FORM = reverse("classifier:home")
API = reverse("api:predictions")
EXIF_ORIENTATION = 0x0112


def encoded(fmt, size=(64, 48), color=RED, orientation=None):
    """A small photo made here (no binary fixtures): fmt "HEIF" (saved by pillow-heif) or "AVIF" (by Pillow)."""
    buffer = io.BytesIO()
    options = {}
    if orientation:
        exif = Image.Exif()
        exif[EXIF_ORIENTATION] = orientation
        options["exif"] = exif.tobytes()
    Image.new("RGB", size, color).save(buffer, format=fmt, **options)
    return buffer.getvalue()


FORMATS = [
    # name, format saved, content type a browser may send, stored format and suffix
    pytest.param("IMG_0001.HEIC", "HEIF", "image/heic", "HEIF", ".heic", id="heic"),
    pytest.param("IMG_0002.heic", "HEIF", "application/octet-stream", "HEIF", ".heic", id="heic-untyped"),
    pytest.param("photo.avif", "AVIF", "image/avif", "AVIF", ".avif", id="avif"),
]


def jpeg_size(field):
    with field.open("rb") as handle, Image.open(handle) as image:
        return image.format, image.size


@pytest.mark.parametrize("name, saved, content_type, fmt, suffix", FORMATS)
def test_upload_is_stored_classified_and_shown_as_jpeg_copies(client, settings, name, saved, content_type, fmt, suffix):
    data = encoded(saved)
    response = client.post(API, {"image": upload_file(name, data, content_type)})
    assert response.status_code == 202, response.content
    prediction = Prediction.objects.get(pk=response.json()["id"])
    assert (prediction.image_format, prediction.width, prediction.height) == (fmt, 64, 48)
    assert prediction.image.name.endswith(suffix)
    assert (settings.MEDIA_ROOT / prediction.image.name).read_bytes() == data  # stored as sent

    prediction = services.classify_prediction(prediction.pk)  # what the worker runs
    assert prediction.status == Prediction.Status.DONE, prediction.error
    assert prediction.label == "cat"  # the tiny model answers "cat" for red

    answer = client.get(reverse("api:prediction", args=[prediction.pk])).json()
    assert answer["display_url"].endswith(".jpg") and answer["thumbnail_url"].endswith(".jpg")
    assert jpeg_size(prediction.display_image) == ("JPEG", (64, 48))
    assert jpeg_size(prediction.thumbnail)[0] == "JPEG"

    page = client.get(prediction.get_absolute_url()).content.decode()
    assert prediction.display_image.url in page
    assert prediction.image.url not in page  # the original never, once copies exist
    history = client.get(reverse("classifier:history")).content.decode()
    assert prediction.thumbnail.url in history and prediction.image.url not in history


def test_form_upload_of_a_heic_photo_lands_on_its_page(client):
    response = client.post(FORM, {"image": upload_file("IMG_0003.HEIC", encoded("HEIF"), "image/heic")})
    prediction = Prediction.objects.get()
    assert response.status_code == 302 and response["Location"] == prediction.get_absolute_url()


def test_pending_heic_page_waits_for_the_jpeg_copy_instead_of_showing_the_original(client):
    heic = services.submit_upload(upload_file("IMG_0004.HEIC", encoded("HEIF"), "image/heic"))
    avif = services.submit_upload(upload_file("photo.avif", encoded("AVIF", color=(20, 230, 20)), "image/avif"))

    from tests.classifier.conftest import own

    own(client, heic, avif)  # the original is shown only to its uploader (or staff) while there is no copy
    heic_page = client.get(heic.get_absolute_url()).content.decode()
    assert heic.image.url not in heic_page  # Chrome and Firefox cannot show HEIC
    assert 'id="photo-waiting">' in heic_page and "will show here once it is processed" in heic_page
    avif_page = client.get(avif.get_absolute_url()).content.decode()
    assert avif.image.url in avif_page  # every current browser shows AVIF, as it does JPEG, PNG and WebP

    services.classify_prediction(heic.pk)
    heic.refresh_from_db()
    heic_page = client.get(heic.get_absolute_url()).content.decode()
    assert heic.display_image.url in heic_page and 'id="photo-waiting" hidden' in heic_page


@pytest.mark.parametrize("saved", ["HEIF", "AVIF"])
def test_orientation_is_applied(saved):
    # A phone held upright: a 64x48 sensor image turned by EXIF orientation 6 (or HEIF's own rotation) is 48x64.
    assert open_image(encoded(saved, orientation=6)).size == (48, 64)


@pytest.mark.parametrize("name, saved", [("IMG_0005.HEIC", "HEIF"), ("photo.avif", "AVIF")])
@pytest.mark.parametrize("keep", [0.3, 0.9])
def test_truncated_photo_is_refused_as_damaged(client, settings, name, saved, keep):
    whole = encoded(saved, size=(96, 64))
    response = client.post(API, {"image": upload_file(name, whole[: int(len(whole) * keep)], "image/heic")})
    assert response.status_code == 400
    assert response.json()["error"] == "The image file is damaged or truncated and cannot be decoded."
    assert Prediction.objects.count() == 0 and media_files(settings) == []


@pytest.mark.parametrize("name, saved", [("IMG_0006.HEIC", "HEIF"), ("photo.avif", "AVIF")])
def test_pixel_limit_holds_for_heic_and_avif(client, settings, name, saved):
    settings.PETSITE_MAX_IMAGE_PIXELS = 1000
    response = client.post(API, {"image": upload_file(name, encoded(saved), "image/heic")})
    assert response.status_code == 400
    assert "too large (64x48 pixels)" in response.json()["error"]
    assert Prediction.objects.count() == 0 and media_files(settings) == []


def test_originals_are_served_inert_and_heic_as_a_download(staff_client):
    client = staff_client  # originals are staff's and their uploader's alone (tests/reliability/test_media.py)
    heic = services.submit_upload(upload_file("IMG_0007.HEIC", encoded("HEIF"), "image/heic"))
    avif = services.submit_upload(upload_file("photo.avif", encoded("AVIF"), "image/avif"))

    response = client.get(heic.image.url)
    assert (response.status_code, response["Content-Type"]) == (200, "image/heic")
    assert response["Content-Disposition"].startswith("attachment")
    assert response["X-Content-Type-Options"] == "nosniff" and "sandbox" in response["Content-Security-Policy"]
    response = client.get(avif.image.url)
    assert (response.status_code, response["Content-Type"]) == (200, "image/avif")
    assert not response.get("Content-Disposition", "").startswith("attachment")


def test_upload_form_offers_heic_and_avif(client):
    html = client.get(FORM).content.decode()
    assert "JPEG, PNG, WebP, HEIC or AVIF" in html
    for accepted in ("image/heic", "image/avif", ".heic", ".heif", ".avif"):
        assert accepted in html


def test_admin_page_shows_the_jpeg_copy_and_links_the_heic_original(staff_client):
    heic = services.submit_upload(upload_file("IMG_0008.HEIC", encoded("HEIF"), "image/heic"))
    services.classify_prediction(heic.pk)
    heic.refresh_from_db()
    html = staff_client.get(reverse("admin:classifier_prediction_change", args=[heic.pk])).content.decode()
    assert f'<img src="{heic.display_image.url}"' in html
    assert f'<a href="{heic.image.url}">Original file (HEIF)</a>' in html


def heic_with_two_images(primary_first=True):
    """A HEIC holding two top-level images, as an iPhone's stereo (spatial) photo or a burst does: the primary one red
    64x48, the other green 32x32 (saved first or second)."""
    import pillow_heif

    primary, other = Image.new("RGB", (64, 48), RED), Image.new("RGB", (32, 32), (20, 230, 20))
    heif = pillow_heif.from_pillow(primary if primary_first else other)
    heif.add_from_pillow(other if primary_first else primary)
    buffer = io.BytesIO()
    heif.save(buffer, primary_index=0 if primary_first else 1)
    return buffer.getvalue()


@pytest.mark.parametrize("primary_first", [True, False], ids=["primary-first", "primary-second"])
def test_a_heic_with_several_images_is_accepted_and_its_primary_image_classified(client, primary_first):
    data = heic_with_two_images(primary_first)
    image = open_image(data)
    assert image.size == (64, 48) and image.getpixel((10, 10))[0] > 200  # the primary, red image
    response = client.post(API, {"image": upload_file("IMG_0009.HEIC", data, "image/heic")})
    assert response.status_code == 202, response.content
    prediction = Prediction.objects.get(pk=response.json()["id"])
    assert (prediction.image_format, prediction.width, prediction.height) == ("HEIF", 64, 48)
    prediction = services.classify_prediction(prediction.pk)
    assert prediction.status == Prediction.Status.DONE, prediction.error
    assert prediction.label == "cat"  # red: the primary image (the green one would be "dog")
    assert jpeg_size(prediction.display_image) == ("JPEG", (64, 48))


def test_animated_images_in_other_formats_are_still_refused(client):
    frames = [Image.new("RGB", (32, 32), color) for color in (RED, (20, 230, 20), (20, 20, 230))]
    for fmt, name in (("WEBP", "anim.webp"), ("AVIF", "anim.avif")):
        buffer = io.BytesIO()
        frames[0].save(buffer, format=fmt, save_all=True, append_images=frames[1:], duration=100)
        response = client.post(API, {"image": upload_file(name, buffer.getvalue(), "image/" + fmt.lower())})
        assert response.status_code == 400 and "Animated" in response.json()["error"], (fmt, response.content)
    assert Prediction.objects.count() == 0


def with_major_brand(data, brand):
    """`data` (an ISO-BMFF file) with its ftyp box's major brand replaced by `brand`."""
    assert data[4:8] == b"ftyp"
    return data[:8] + brand + data[12:]


@pytest.mark.parametrize("name, saved, brand, fmt", [
    pytest.param("photo.avif", "AVIF", b"mif1", "AVIF", id="avif-brand-mif1"),  # the generic brand some encoders write
    pytest.param("IMG_0010.HEIC", "HEIF", b"mif1", "HEIF", id="heic-brand-mif1"),
])
def test_a_file_whose_major_brand_is_the_generic_mif1_opens_with_the_right_decoder(client, name, saved, brand, fmt):
    # pillow-heif's HEIF decoder claims any mif1 file, and this libheif has no AV1 decoder: tried first, it called such
    # an AVIF "damaged". Pillow's AVIF plugin is tried first; it passes on a HEIC file.
    data = with_major_brand(encoded(saved), brand)
    response = client.post(API, {"image": upload_file(name, data, "application/octet-stream")})
    assert response.status_code == 202, response.content
    prediction = Prediction.objects.get(pk=response.json()["id"])
    assert (prediction.image_format, prediction.width, prediction.height) == (fmt, 64, 48)
    prediction = services.classify_prediction(prediction.pk)
    assert prediction.status == Prediction.Status.DONE and prediction.label == "cat", prediction.error


def test_the_accepted_formats_are_written_once_in_ingestion_images(client, settings, monkeypatch):
    """Pages, script, media serving and the scraper take the list from ingestion.images, never a copy of their own."""
    from pathlib import Path

    from classifier import media
    from ingestion import images
    from ingestion.scraping import parsing, scraper

    html = client.get(FORM).content.decode()
    assert f'data-accept="{images.UPLOAD_ACCEPT}"' in html and f'data-formats="{images.ACCEPTED_FORMATS_TEXT}"' in html
    assert f'accept="{images.UPLOAD_ACCEPT}"' in html
    script = (Path(settings.BASE_DIR) / "classifier" / "static" / "classifier" / "petsite.js").read_text()
    assert "image/heic" not in script and "HEIC or AVIF" not in script and "heic|" not in script

    assert media.DOWNLOAD_SUFFIXES == images.IMAGE_SUFFIXES - images.BROWSER_SUFFIXES == {".heic", ".heif"}
    assert set(media.SAFE_TYPES) == images.IMAGE_SUFFIXES
    assert scraper.STORED_AS_SERVED == images.BROWSER_FORMATS and "HEIF" not in images.BROWSER_FORMATS
    assert set(parsing.PHOTO_EXTENSIONS) == images.IMAGE_SUFFIXES

    settings.PETSITE_MAX_REQUEST_BYTES = 100  # the "too big" page names the formats from the same place
    monkeypatch.setattr(images, "ACCEPTED_FORMATS_TEXT", "JPEG or PNG (patched)")
    response = client.post(FORM, {"image": upload_file("big.jpg")})
    assert response.status_code == 413
    assert "Choose a smaller JPEG or PNG (patched) photo" in response.content.decode()
