"""Validate an uploaded file by decoding it; never trust its name or Content-Type."""
import hashlib
import io

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.core.files.uploadhandler import FileUploadHandler, StopUpload
from django.http.multipartparser import MultiPartParserError

from ingestion.images import ACCEPTED_FORMATS_TEXT, VALIDATION_DRAFT_BOX, ImageError, decode_image



class UploadError(ValueError):
    """A refused upload; `message` is the API's answer, `status` the HTTP status to answer and `page_message` the words
    for a person on the site's pages (the same unless the API's names a developer detail, such as the form field)."""

    def __init__(self, message, status=400, page_message=None):
        super().__init__(message)
        self.message = message
        self.status = status
        self.page_message = page_message or message


class ValidatedUpload:
    """The upload's bytes, format and pixel size (as the file stores them), and `image`: the validation decode (RGB, a
    JPEG at 1/8 scale). Its pixels are decoded once more, in full, by the worker that classifies it."""

    def __init__(self, data, image, width, height, image_format, filename):
        self.data = data
        self.image = image
        self.width, self.height = width, height
        self.format = image_format
        self.filename = filename
        self.sha256 = hashlib.sha256(data).hexdigest()


def too_big_message():
    return f"The file is too big; the limit is {settings.PETSITE_MAX_UPLOAD_BYTES / 1e6:.0f} MB."


class SizeLimitUploadHandler(FileUploadHandler):
    """First upload handler: stops reading the body as soon as the uploaded bytes pass the limit.

    RequestSizeLimitMiddleware already refuses an honest oversized Content-Length; this catches bodies
    whose length is not known up front. The request is marked so the entry point answers 413.
    """

    def handle_raw_input(self, input_data, META, content_length, boundary, encoding=None):
        # An honest oversized Content-Length never gets here (the middleware answered 413); count from zero.
        self.received = 0

    def receive_data_chunk(self, raw_data, start):
        self.received = getattr(self, "received", 0) + len(raw_data)
        if self.received > settings.PETSITE_MAX_UPLOAD_BYTES:
            self._refuse()
        return raw_data

    def file_complete(self, file_size):
        return None  # the next handler builds the file

    def _refuse(self):
        if self.request is not None:
            self.request.upload_too_large = True
        raise StopUpload(connection_reset=True)


def uploaded_image(request, field="image"):
    """The uploaded file of `request` (or None); raises UploadError(413) when the body was cut off for size."""
    try:
        files = request.FILES  # parses the body (if nothing did yet); the size handler marks an oversized one
    except (TooManyFilesSent, TooManyFieldsSent) as exc:
        raise UploadError(f"Too many files or fields in one request; send one photo per request (form field '{field}').",
                          page_message="Too many files in one request; send one photo at a time.") from exc
    except RequestDataTooBig as exc:
        raise UploadError(too_big_message(), status=413) from exc
    except MultiPartParserError as exc:
        raise UploadError(f"The request body could not be read as a form; send the photo as multipart/form-data "
                          f"in the form field '{field}'.", page_message="The upload could not be read; please try again.") from exc
    if getattr(request, "upload_too_large", False):
        raise UploadError(too_big_message(), status=413)
    return files.get(field)


def clean_filename(name):
    """The sender's file name as harmless display text: no path, no control characters, bounded."""
    name = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if ch.isprintable() and ch not in "<>\"'`")
    return name.strip()[:200] or "upload"


def validate_upload(uploaded_file):
    """Return a ValidatedUpload for a Django UploadedFile, or raise UploadError."""
    if uploaded_file is None:
        raise UploadError(f"No file was sent. Choose a {ACCEPTED_FORMATS_TEXT} photo (form field 'image').",
                          page_message=f"No file was sent. Choose a {ACCEPTED_FORMATS_TEXT} photo.")
    limit = settings.PETSITE_MAX_UPLOAD_BYTES
    if uploaded_file.size is not None and uploaded_file.size > limit:
        raise UploadError(f"The file is too big ({uploaded_file.size / 1e6:.1f} MB); the limit is {limit / 1e6:.0f} MB.", status=413)
    if not uploaded_file.size:
        raise UploadError("The file is empty.")
    uploaded_file.seek(0)
    data = uploaded_file.read(limit + 1)
    if len(data) > limit:
        raise UploadError(too_big_message(), status=413)
    try:
        # The whole file is decoded (a damaged or truncated one is refused here, nothing stored), a JPEG at 1/8 scale:
        # the request only needs to know it decodes. The worker decodes it in full once, for every copy and the model.
        image, image_format, (width, height) = decode_image(io.BytesIO(data), draft=VALIDATION_DRAFT_BOX)
    except ImageError as exc:
        raise UploadError(str(exc)) from exc
    except Exception as exc:  # a decoder failure open_image did not classify: still the sender's file, never a 500
        raise UploadError("The image file is damaged or cannot be decoded.") from exc
    if image_format == "JPEG" and not _jpeg_has_end(data):
        # libjpeg pads a cut-off scan with grey instead of failing; a photo without its end marker is damaged.
        raise UploadError("The image file is damaged or truncated and cannot be decoded.")
    return ValidatedUpload(data, image, width, height, image_format, clean_filename(uploaded_file.name))


def _jpeg_has_end(data):
    """Whether a JPEG has an End-Of-Image marker after its last Start-Of-Scan (trailing metadata is allowed)."""
    last_scan = data.rfind(b"\xff\xda")
    return last_scan != -1 and data.find(b"\xff\xd9", last_scan) != -1
