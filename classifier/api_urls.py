from django.urls import path

from . import api

app_name = "api"

urlpatterns = [
    path("predictions/", api.create_prediction, name="predictions"),
    path("predictions/<int:pk>/", api.get_prediction, name="prediction"),
]
