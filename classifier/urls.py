from django.urls import path

from . import views

app_name = "classifier"

urlpatterns = [
    path("", views.home, name="home"),
    path("predictions/", views.history, name="history"),
    path("predictions/<int:pk>/", views.prediction_detail, name="prediction"),
    path("predictions/<int:pk>/tile/", views.prediction_tile, name="tile"),
    path("predictions/<int:pk>/retry/", views.retry_prediction, name="retry"),
    path("predictions/<int:pk>/delete/", views.delete_prediction, name="delete"),
]
