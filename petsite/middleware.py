"""Request guards that must run before anything reads the request body."""
from django.conf import settings
from django.http import HttpResponse, JsonResponse
from django.shortcuts import render


def too_large_response(request, limit):
    message = f"The request is too big; uploads are limited to {settings.PETSITE_MAX_UPLOAD_BYTES / 1e6:.0f} MB."
    if request.path.startswith("/api/"):
        return JsonResponse({"error": message}, status=413)
    # Rendered without the session and auth middleware (they come later): the template needs neither.
    from ingestion.images import ACCEPTED_FORMATS_TEXT

    return render(request, "request_too_large.html", {"message": message, "formats": ACCEPTED_FORMATS_TEXT}, status=413)


class RequestSizeLimitMiddleware:
    """Answer 413 to a request that announces a body over PETSITE_MAX_REQUEST_BYTES, without reading it.

    Bodies without a trustworthy Content-Length (chunked) are capped while being read by
    classifier.uploads.SizeLimitUploadHandler, so no path reads an oversized upload whole.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        limit = settings.PETSITE_MAX_REQUEST_BYTES
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return HttpResponse("Invalid Content-Length.", status=400, content_type="text/plain; charset=utf-8")
        if limit and length > limit:
            # No "Connection: close" here: it is a hop-by-hop header, which WSGI forbids applications to set
            # (wsgiref, under runserver, answers 500). The server deals with the unread body: gunicorn
            # discards it or closes the connection, runserver drains it.
            return too_large_response(request, limit)
        return self.get_response(request)


class DatabaseUnavailableMiddleware:
    """A database that is away for a moment (restart, failover) gets a clean 503 with Retry-After, not a 500.

    Nothing half-done is kept: the upload service removes stored files when its row cannot be written.
    Django drops the broken connection at the end of the request, so the next request reconnects.
    """

    RETRY_AFTER_SECONDS = 2

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        from django.db import InterfaceError, OperationalError

        if not isinstance(exception, (OperationalError, InterfaceError)):
            return None
        import logging

        logging.getLogger(__name__).warning("database unavailable for %s %s: %s", request.method, request.path, exception)
        message = "The service is briefly unavailable (database). Nothing was stored; please try again in a few seconds."
        if request.path.startswith("/api/"):
            response = JsonResponse({"error": message}, status=503)
        else:
            response = HttpResponse(message, status=503, content_type="text/plain; charset=utf-8")
        response["Retry-After"] = str(self.RETRY_AFTER_SECONDS)
        return response
