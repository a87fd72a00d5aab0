from django.urls import path

from . import review_views

app_name = "review"

urlpatterns = [
    path("", review_views.queue, name="queue"),
    path("<int:pk>/decide/", review_views.decide, name="decide"),
    path("undo/", review_views.undo, name="undo"),
]
