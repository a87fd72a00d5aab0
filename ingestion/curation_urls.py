from django.urls import path

from . import curation_views

app_name = "ingestion_curation"

urlpatterns = [
    path("", curation_views.curate, name="curate"),
    path("decide/", curation_views.decide, name="decide"),
    path("undo/", curation_views.undo, name="undo"),
]
