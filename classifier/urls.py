from django.urls import path

from . import views

app_name = "classifier"

urlpatterns = [
    path("", views.home, name="home"),
    path("predictions/", views.history, name="history"),
    path("predictions/<int:pk>/", views.prediction_detail, name="prediction"),
]
