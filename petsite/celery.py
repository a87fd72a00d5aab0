import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "petsite.settings")

app = Celery("petsite")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
