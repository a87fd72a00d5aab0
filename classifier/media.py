"""Serve stored media with a safe Content-Type and nosniff, so an upload can never run as a page."""

import posixpath

from django.conf import settings
from django.core.exceptions import SuspiciousFileOperation
from django.http import Http404
from django.views.static import serve

from ingestion.images import FORMAT_MIME_TYPES, FORMAT_SUFFIXES, NOT_IN_BROWSERS_SUFFIXES

from .models import Prediction
from .ownership import owner_or_staff

# Every accepted format's suffixes, served as that format's (first) type; nothing else is served.
SAFE_TYPES = {suffix: FORMAT_MIME_TYPES[fmt][0] for fmt, suffixes in FORMAT_SUFFIXES.items() for suffix in suffixes}
# Originals most browsers cannot show (the pages show their JPEG copies): served as a download of the file as sent.
DOWNLOAD_SUFFIXES = NOT_IN_BROWSERS_SUFFIXES


ORIGINALS = "uploads/"  # Prediction.image's folder: photos as sent
PUBLIC = ("display/", "thumbnails/", "heatmaps/")  # what public pages show; the rest (scraped photos, model reports) is staff's


def _may_fetch_original(request, path):
    """An original may carry where and with what it was taken (its EXIF: GPS, camera); the pages show JPEG copies
    made without it, so the file as sent is its uploader's and staff's alone."""
    if request.user.is_staff:
        return True
    prediction = Prediction.objects.filter(image=path).only("pk", "uploader").first()
    return prediction is not None and owner_or_staff(request, prediction)


def serve_media(request, path):
    suffix = "." + path.rsplit(".", 1)[-1].lower() if "." in path else ""
    if suffix not in SAFE_TYPES:
        raise Http404("Not a served media type")
    stored = posixpath.normpath(path).lstrip("/")  # the file `serve` opens ("thumbnails/../uploads/x" is an original)
    original = stored.startswith(ORIGINALS)
    if original and not _may_fetch_original(request, stored):
        raise Http404("Not found")
    if not original and not stored.startswith(PUBLIC) and not request.user.is_staff:
        raise Http404("Not found")
    try:
        response = serve(request, path, document_root=settings.MEDIA_ROOT)
    except SuspiciousFileOperation:  # a path escaping MEDIA_ROOT: nothing to see there
        raise Http404("Not found") from None
    response["Content-Type"] = SAFE_TYPES[suffix]
    response["X-Content-Type-Options"] = "nosniff"
    if suffix in DOWNLOAD_SUFFIXES:
        # The stored (server-made) file name stays; only "inline" becomes "attachment".
        response["Content-Disposition"] = response.get("Content-Disposition", "inline").replace("inline", "attachment", 1)
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response["Cache-Control"] = "public, max-age=86400" if stored.startswith(PUBLIC) else "private, max-age=3600"
    return response
