"""Validate an uploaded file by decoding it; never trust its name or Content-Type."""
import hashlib
import io

from django.conf import settings

from ingestion.images import ImageError, open_image

MIME_TYPES = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}


class UploadError(ValueError):
    """A refused upload; `message` is shown to the person, `status` is the HTTP status to answer."""

    def __init__(self, message, status=400):
        super().__init__(message)
        self.message = message
        self.status = status


class ValidatedUpload:
    def __init__(self, data, image, image_format, filename):
        self.data = data
        self.image = image
        self.format = image_format
        self.filename = filename
        self.sha256 = hashlib.sha256(data).hexdigest()


def clean_filename(name):
    """The sender's file name as harmless display text: no path, no control characters, bounded."""
    name = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if ch.isprintable() and ch not in "<>\"'`")
    return name.strip()[:200] or "upload"


def validate_upload(uploaded_file):
    """Return a ValidatedUpload for a Django UploadedFile, or raise UploadError."""
    if uploaded_file is None:
        raise UploadError("No file was sent. Choose a JPEG, PNG or WebP photo (form field 'image').")
    limit = settings.PETSITE_MAX_UPLOAD_BYTES
    if uploaded_file.size is not None and uploaded_file.size > limit:
        raise UploadError(f"The file is too big ({uploaded_file.size / 1e6:.1f} MB); the limit is {limit / 1e6:.0f} MB.", status=413)
    if not uploaded_file.size:
        raise UploadError("The file is empty.")
    uploaded_file.seek(0)
    data = uploaded_file.read(limit + 1)
    if len(data) > limit:
        raise UploadError(f"The file is too big; the limit is {limit / 1e6:.0f} MB.", status=413)
    try:
        image = open_image(io.BytesIO(data))
        # open_image returns an RGB copy; the format comes from decoding the header again cheaply.
        from PIL import Image

        image_format = Image.open(io.BytesIO(data)).format
    except ImageError as exc:
        raise UploadError(str(exc)) from exc
    return ValidatedUpload(data, image, image_format, clean_filename(uploaded_file.name))
