from django.conf import settings
from django.contrib import admin
from django.urls import include, path, re_path

from classifier.media import serve_media

admin.site.site_header = "petsite administration"
admin.site.site_title = "petsite admin"
admin.site.index_title = "Review predictions, scrape photos, train and activate models"

urlpatterns = [
    # Staff pages beside the admin (under /admin/: outside it, only uploads accept a POST).
    path("admin/review-queue/", include("classifier.review_urls")),  # the review queue
    path("admin/curate/", include("ingestion.curation_urls")),  # curating scraped photos
    path("admin/", admin.site.urls),
    path("api/", include("classifier.api_urls")),
    path("", include("classifier.urls")),
    # Media served by Django with safe headers and who may fetch what (classifier/media.py); a web server in front may
    # serve display/, thumbnails/ and heatmaps/ itself, never the rest (originals, scraped photos, model reports).
    re_path(r"^%s(?P<path>.*)$" % settings.MEDIA_URL.lstrip("/"), serve_media, name="media"),
]


def server_error(request, *args, **kwargs):
    """500: JSON under /api/ (programs never have to parse an HTML page), Django's plain page elsewhere."""
    from django.http import JsonResponse
    from django.views.defaults import server_error as html_server_error

    if request.path.startswith("/api/"):
        return JsonResponse({"error": "Something went wrong on our side; please try again later."}, status=500)
    return html_server_error(request, *args, **kwargs)


handler500 = server_error
