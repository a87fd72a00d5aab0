from django.urls import path, re_path

from . import api

app_name = "api"

urlpatterns = [
    path("", api.index, name="index"),
    path("predictions/", api.predictions, name="predictions"),
    path("predictions/<int:pk>/", api.get_prediction, name="prediction"),
    path("schema/", api.schema, name="schema"),
    path("docs/", api.docs, name="docs"),
    re_path(r"^(?P<rest>.*)$", api.not_found),  # every other /api/ address answers JSON 404
]
