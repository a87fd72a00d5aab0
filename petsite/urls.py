from django.conf import settings
from django.contrib import admin
from django.urls import include, path, re_path

from classifier.media import serve_media

admin.site.site_header = "petsite administration"
admin.site.site_title = "petsite admin"
admin.site.index_title = "Review predictions, scrape photos, train and activate models"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", include("classifier.api_urls")),
    path("", include("classifier.urls")),
    # Uploaded media served by Django with safe headers; behind a real web server, let it serve MEDIA_ROOT instead.
    re_path(r"^%s(?P<path>.*)$" % settings.MEDIA_URL.lstrip("/"), serve_media, name="media"),
]
